/*
 * images.c - init spec without containers: images.conf maps a container
 * image to a local command line. The table is read at each init (it is tiny
 * and an operator may edit it without a restart). The pod's own command is
 * ignored (it names paths inside the image); its args are passed only where
 * the table line says {args}. Format: see the header of etl/images.conf.
 */
#include "etl/etl_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void etl_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* "docker.io/aistorage/x:tag" -> repo "aistorage/x", tag "tag" (or NULL). */
static void split_image(const char *image, char *repo, size_t repolen, const char **tag)
{
    if (strncmp(image, "docker.io/", 10) == 0)
        image += 10;
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(slash ? slash : image, ':');
    size_t n = colon ? (size_t)(colon - image) : strlen(image);
    snprintf(repo, repolen, "%.*s", (int)(n < repolen ? n : repolen - 1), image);
    *tag = colon ? colon + 1 : NULL;
}

/* Replaces every {var} of tok into *out; {venv:REQ} asks vars->venv. where:
 * "CONF:LINE", for the message about an unknown placeholder. */
static int expand(const char *tok, const etl_image_vars *v, const char *where, char **out, char *err,
                  size_t errlen)
{
    cmn_buf b;
    cmn_buf_init(&b);
    char port[16];
    snprintf(port, sizeof port, "%d", v->port);
    for (const char *p = tok; *p;) {
        if (*p != '{') {
            cmn_buf_append(&b, p++, 1);
            continue;
        }
        const char *end = strchr(p, '}');
        size_t n = end ? (size_t)(end - p - 1) : 0;
        if (end && n > 5 && !strncmp(p + 1, "venv:", 5)) {
            char *req = cmn_xasprintf("%.*s", (int)(n - 5), p + 6), *python = NULL;
            int rc = v->venv ? v->venv(v->venv_ctx, req, &python, err, errlen) : -EIO;
            if (!v->venv)
                snprintf(err, errlen, "{venv:%s} is not available here", req);
            free(req);
            if (rc) {
                cmn_buf_free(&b);
                return rc;
            }
            cmn_buf_puts(&b, python);
            free(python);
            p = end + 1;
            continue;
        }
        const char *val = !end                                ? NULL
                          : n == 7 && !strncmp(p + 1, "install", 7) ? v->install
                          : n == 6 && !strncmp(p + 1, "bindir", 6)  ? v->bindir
                          : n == 6 && !strncmp(p + 1, "python", 6)  ? v->python
                          : n == 4 && !strncmp(p + 1, "port", 4)    ? port
                                                                    : NULL;
        if (!val) {
            cmn_buf_free(&b);
            snprintf(err, errlen, "%s: unknown placeholder in \"%.64s\"", where, tok);
            return -EIO;
        }
        cmn_buf_puts(&b, val);
        p = end + 1;
    }
    if (!b.data)
        cmn_buf_puts(&b, "");
    *out = cmn_buf_steal(&b);
    return 0;
}

static void push(char ***v, size_t *n, char *s)
{
    *v = cmn_xrealloc(*v, (*n + 2) * sizeof **v);
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

static int build(char *line, const etl_pod *pod, const etl_image_vars *vars, char ***argv_out, char *err,
                 size_t errlen, const char *conf_path, int lineno)
{
    char **v = NULL, where[4200];
    size_t n = 0;
    char *save = NULL;
    snprintf(where, sizeof where, "%s:%d", conf_path, lineno);
    for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (strcmp(tok, "{args}") == 0) {
            for (size_t i = 0; i < pod->nargs; i++)
                push(&v, &n, cmn_xstrdup(pod->args[i]));
            continue;
        }
        char *e = NULL;
        int rc = expand(tok, vars, where, &e, err, errlen);
        if (rc) {
            etl_strv_free(v);
            return rc;
        }
        push(&v, &n, e);
    }
    if (n == 0) {
        snprintf(err, errlen, "%s:%d: image \"%s\" has no command", conf_path, lineno, pod->image);
        return -EIO;
    }
    *argv_out = v;
    return 0;
}

int etl_image_argv(const char *conf_path, const etl_pod *pod, const etl_image_vars *vars, char ***argv_out,
                   char *err, size_t errlen)
{
    FILE *f = fopen(conf_path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read the image table %s: %s", conf_path, strerror(errno));
        return -EIO;
    }
    char repo[256];
    const char *tag;
    split_image(pod->image, repo, sizeof repo, &tag);

    /* An entry with the exact tag wins over an untagged one. */
    char *best = NULL;
    int best_line = 0;
    bool best_exact = false;
    char *line = NULL;
    size_t cap = 0;
    for (int lineno = 1; getline(&line, &cap, f) >= 0; lineno++) {
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line + strspn(line, " \t");
        if (!*p || *p == '#')
            continue;
        size_t klen = strcspn(p, " \t");
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(klen < sizeof key ? klen : sizeof key - 1), p);
        char krepo[256];
        const char *ktag;
        split_image(key, krepo, sizeof krepo, &ktag);
        if (strcmp(krepo, repo) != 0)
            continue;
        bool exact = ktag && tag && strcmp(ktag, tag) == 0;
        if (ktag && !exact)
            continue;
        if (!best || (exact && !best_exact)) {
            free(best);
            best = cmn_xstrdup(p + klen);
            best_line = lineno;
            best_exact = exact;
        }
    }
    free(line);
    fclose(f);
    if (!best) {
        snprintf(err, errlen,
                 "image \"%.200s\" has no local equivalent (known images are listed in %s)",
                 pod->image, conf_path);
        return -ENOENT; /* the user's spec names it: a bad request, unless a command is given (launch.c) */
    }
    int rc = build(best, pod, vars, argv_out, err, errlen, conf_path, best_line);
    free(best);
    return rc;
}

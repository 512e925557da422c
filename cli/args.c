/*
 * args.c - command-line parsing shared by every command: flags anywhere among
 * the arguments (as AIStore's CLI accepts them), "--name value" and
 * "--name=value", bundled short booleans (-ry), plus bucket/object URIs.
 * Anything malformed is a one-line usage error and exit status 2.
 */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cli_flag cli_flag_json = {"json", 'j', false, "json input/output"};

int cli_usage_err(const cli_args *a, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *path = a && a->path ? a->path : "ais";
    fprintf(stderr, "Incorrect usage of \"%s\": %s. See '%s --help'.\n", path, msg, path);
    return CLI_EXIT_USAGE;
}

int cli_npos(const cli_args *a, int min, int max, const char *missing)
{
    if (a->npos < min)
        return cli_usage_err(a, "%s", missing);
    if (a->npos > max)
        return cli_usage_err(a, "too many arguments or unrecognized (misplaced?) option '%s'", a->pos[max]);
    return 0;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = cmn_xvasprintf(fmt, ap);
    va_end(ap);
    /* One line, whatever the server put in its message (e.g. the tail of a
     * pip log): a line break and the blanks around it become one space. */
    size_t w = 0;
    for (size_t r = 0; msg[r];) {
        if (msg[r] == '\n' || msg[r] == '\r') {
            while (w && (msg[w - 1] == ' ' || msg[w - 1] == '\t'))
                w--;
            while (msg[r] && strchr("\r\n \t", msg[r]))
                r++;
            if (w && msg[r])
                msg[w++] = ' ';
        } else {
            msg[w++] = msg[r++];
        }
    }
    while (w && (msg[w - 1] == ' ' || msg[w - 1] == '\t'))
        w--;
    msg[w] = '\0';
    fprintf(stderr, "%s\n", msg);
    free(msg);
    return CLI_EXIT_ERR;
}

static const cli_flag *find_flag(const cli_cmd *cmd, const char *name, size_t len, char short_name)
{
    for (const cli_flag *f = cmd->flags; f && f->name; f++) {
        if (short_name ? f->short_name == short_name : (strlen(f->name) == len && strncmp(f->name, name, len) == 0))
            return f;
    }
    return NULL;
}

static int set_flag(cli_args *a, const cli_flag *f, const char *val)
{
    for (int i = 0; i < a->nflags; i++) {
        if (a->flags[i] == f) {
            a->val[i] = val; /* the last one wins, as in urfave/cli */
            return CLI_EXIT_OK;
        }
    }
    if (a->nflags == CLI_MAX_FLAGS)
        return cli_usage_err(a, "too many flags");
    a->flags[a->nflags] = f;
    a->val[a->nflags++] = val;
    return CLI_EXIT_OK;
}

int cli_parse(const cli_cmd *cmd, const char *path, int argc, char **argv, cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->path = path;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == '\0') {
            if (a->npos == CLI_MAX_POS)
                return cli_usage_err(a, "too many arguments");
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            cli_print_help(cmd, path);
            return -1;
        }
        if (s[1] == '-') { /* --name or --name=value */
            const char *name = s + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const cli_flag *f = find_flag(cmd, name, len, 0);
            if (!f)
                return cli_usage_err(a, "flag provided but not defined: -%.*s", (int)len, name);
            const char *val = NULL;
            if (f->has_value) {
                if (eq)
                    val = eq + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else
                    return cli_usage_err(a, "flag needs an argument: --%s", f->name);
            } else if (eq) {
                if (strcmp(eq + 1, "true") == 0)
                    val = "true";
                else if (strcmp(eq + 1, "false") == 0)
                    continue;
                else
                    return cli_usage_err(a, "invalid boolean value \"%s\" for --%s", eq + 1, f->name);
            } else {
                val = "true";
            }
            int rc = set_flag(a, f, val);
            if (rc)
                return rc;
            continue;
        }
        /* -x, -xyz (booleans), -n value */
        for (const char *p = s + 1; *p; p++) {
            const cli_flag *f = find_flag(cmd, NULL, 0, *p);
            if (!f)
                return cli_usage_err(a, "flag provided but not defined: -%c", *p);
            const char *val = "true";
            if (f->has_value) {
                if (p[1]) {
                    val = p[1] == '=' ? p + 2 : p + 1;
                } else if (i + 1 < argc) {
                    val = argv[++i];
                } else {
                    return cli_usage_err(a, "flag needs an argument: -%c", *p);
                }
                int rc = set_flag(a, f, val);
                if (rc)
                    return rc;
                break;
            }
            int rc = set_flag(a, f, val);
            if (rc)
                return rc;
        }
    }
    return CLI_EXIT_OK;
}

const char *cli_flag_str(const cli_args *a, const char *name)
{
    for (int i = 0; i < a->nflags; i++)
        if (strcmp(a->flags[i]->name, name) == 0)
            return a->val[i];
    return NULL;
}

bool cli_flag_set(const cli_args *a, const char *name) { return cli_flag_str(a, name) != NULL; }

void cli_print_help(const cli_cmd *cmd, const char *path)
{
    printf("NAME:\n   %s - %s\n\n", path, cmd->usage ? cmd->usage : "");
    printf("USAGE:\n   %s%s%s%s%s\n", path, cmd->subs ? " command" : "",
           cmd->run ? " [command options]" : "", cmd->args_usage ? " " : "",
           cmd->args_usage ? cmd->args_usage : "");
    if (cmd->subs) {
        printf("\nCOMMANDS:\n");
        for (const cli_cmd *s = cmd->subs; s->name; s++) {
            char names[64];
            snprintf(names, sizeof names, "%s%s%s", s->name, s->alias ? ", " : "", s->alias ? s->alias : "");
            printf("   %-14s %s\n", names, s->usage ? s->usage : "");
        }
    }
    printf("\nOPTIONS:\n");
    for (const cli_flag *f = cmd->flags; f && f->name; f++) {
        char spec[64];
        if (f->short_name)
            snprintf(spec, sizeof spec, "--%s%s, -%c", f->name, f->has_value ? " value" : "", f->short_name);
        else
            snprintf(spec, sizeof spec, "--%s%s", f->name, f->has_value ? " value" : "");
        printf("   %-24s %s\n", spec, f->usage ? f->usage : "");
    }
    printf("   %-24s %s\n", "--help, -h", "show help");
}

/* ---- URIs */

static const struct {
    const char *scheme, *provider, *display;
} schemes[] = {
    {"ais", "ais", "ais"}, {"s3", "aws", "s3"}, {"aws", "aws", "s3"}, {"gs", "gcp", "gs"},
    {"gcp", "gcp", "gs"},  {"az", "azure", "az"}, {"azure", "azure", "az"},
};

int cli_parse_uri(const cli_args *a, const char *s, cli_uri *u, bool want_object, bool object_ok)
{
    memset(u, 0, sizeof *u);
    const char *rest = s, *sep = strstr(s, "://");
    snprintf(u->provider, sizeof u->provider, "ais");
    snprintf(u->scheme, sizeof u->scheme, "ais");
    if (sep) {
        size_t n = (size_t)(sep - s);
        bool found = false;
        for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
            if (strlen(schemes[i].scheme) == n && strncmp(schemes[i].scheme, s, n) == 0) {
                snprintf(u->provider, sizeof u->provider, "%s", schemes[i].provider);
                snprintf(u->scheme, sizeof u->scheme, "%s", schemes[i].display);
                found = true;
            }
        }
        if (!found)
            return cli_usage_err(a, "invalid backend provider %.*s in %s", (int)n, s, s);
        rest = sep + 3;
    } else if (strstr(s, ":/")) {
        return cli_usage_err(a, "invalid bucket URI %s (expecting e.g. ais://bucket)", s);
    }
    const char *slash = strchr(rest, '/');
    size_t blen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (blen == 0 || blen >= sizeof u->bucket)
        return cli_usage_err(a, "invalid bucket name in %s", s);
    memcpy(u->bucket, rest, blen);
    u->bucket[blen] = '\0';
    if (!cmn_bucket_name_valid(u->bucket))
        return cli_usage_err(a, "bucket name %s is invalid: may only contain letters, numbers, dashes (-), "
                                "underscores (_), and dots (.)", u->bucket);
    const char *obj = slash ? slash + 1 : "";
    if (*obj && !object_ok)
        return cli_usage_err(a, "expecting a bucket, got an object name in %s", s);
    if (!*obj && want_object)
        return cli_usage_err(a, "object name is missing in %s (expecting %s://BUCKET/OBJECT)", s, u->scheme);
    u->object = cmn_xstrdup(obj);
    return CLI_EXIT_OK;
}

void cli_uri_free(cli_uri *u)
{
    free(u->object);
    u->object = NULL;
}

void cli_uri_cname(const cli_uri *u, const char *obj, char *out, size_t outlen)
{
    if (obj && *obj)
        snprintf(out, outlen, "%s://%s/%s", u->scheme, u->bucket, obj);
    else
        snprintf(out, outlen, "%s://%s", u->scheme, u->bucket);
}

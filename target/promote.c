/*
 * promote.c - turning local files into objects (POST /v1/objects/B
 * {"action":"promote"}): a file becomes one object, a directory its files
 * (with "rcr", recursively) named "obj" + their relative path. Done before
 * the reply, so a client listing the bucket next sees every object; the
 * reply still carries the id of a (finished) job with the counts and errors.
 *
 * The target runs as root, so a source must lie under a --promote-root
 * directory once resolved (realpath: no symlink leads out), the walk never
 * follows links (FTW_PHYS), and without any root promote is refused.
 *
 * In a cluster the node asked reads the files and sends each one that
 * another target owns to that owner (the files need only be on its disks).
 */
#include "target/target.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROMOTE_WAIT_NS (24 * 3600 * 1000000000LL)

typedef struct prom {
    tgt_job *job;
    char bck[256];
    char src[PATH_MAX];  /* resolved */
    char *base;          /* the base name the client gave (a file's default object name) */
    char *prefix;
    bool rcr, ovw, dls, is_dir;
} prom;

static __thread prom *cur; /* nftw has no context argument */

/* 0 when path became bck/name on this target's disks; 1 when that exists
 * and overwriting was not asked for; else -errno, the job's error said. */
static int promote_here(prom *p, const char *path, const char *name)
{
    int fd;
    int64_t old;
    if (!p->ovw && tgt_object_open(&tgt->store, p->bck, name, &fd, &old) == 0) {
        close(fd); /* exists, and overwriting was not asked for */
        return 1;
    }
    int rc = tgt_store_copy_file(&tgt->store, path, p->bck, name, NULL, NULL);
    if (rc)
        tgt_job_error(p->job, "promote %s to ais://%s/%s: %s", path, p->bck, name, strerror(-rc));
    return rc;
}

/* path as bck/name: on this target, or (in a cluster) sent to the name's owner. */
static void promote_file(prom *p, const char *path, const char *name, int64_t size)
{
    char why[128];
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        /* replaced by a link (or removed) since the walk saw it */
        tgt_job_error(p->job, "promote %s: no longer a regular file", path);
        return;
    }
    if (!cmn_object_name_valid(name, why, sizeof why)) {
        tgt_job_error(p->job, "%s: invalid object name \"%s\": %s", path, name, why);
        return;
    }
    tgt_member owner;
    if (tgt_cluster_on() && tgt_cmap_owner(p->bck, name, &owner)) { /* sent to its owner */
        bool sent;
        cmn_err err = {0};
        if (tgt_cluster_send_file(&owner, "promote", path, p->bck, name, !p->ovw, &sent, &err) != 0) {
            tgt_job_error(p->job, "promote %s: %s", path, err.msg);
            return;
        }
        if (!sent)
            return; /* exists there, and overwriting was not asked for */
    } else if (promote_here(p, path, name) != 0) {
        return;
    }
    tgt_job_count(p->job, 1, size);
    if (p->dls && unlink(path) != 0)
        tgt_job_error(p->job, "promote %s: cannot delete the source: %s", path, strerror(errno));
}

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (tgt_job_aborted(cur->job))
        return FTW_STOP;
    if (flag == FTW_D && ftw->level > 0 && !cur->rcr)
        return FTW_SKIP_SUBTREE;
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return FTW_CONTINUE;
    cmn_buf name;
    cmn_buf_init(&name);
    cmn_buf_printf(&name, "%s%s", cur->prefix, path + strlen(cur->src) + 1);
    promote_file(cur, path, name.data, st->st_size);
    cmn_buf_free(&name);
    return FTW_CONTINUE;
}

static void promote_job(tgt_job *job, void *arg)
{
    prom *p = arg;
    p->job = job;
    if (p->is_dir) {
        cur = p;
        nftw(p->src, visit, 32, FTW_PHYS | FTW_ACTIONRETVAL);
        return;
    }
    /* a file: "obj" names it, unless it is empty or ends with '/' (a prefix for the base name) */
    struct stat st;
    if (lstat(p->src, &st) != 0) {
        tgt_job_error(job, "promote %s: %s", p->src, strerror(errno));
        return;
    }
    cmn_buf name;
    cmn_buf_init(&name);
    size_t pl = strlen(p->prefix);
    if (pl && p->prefix[pl - 1] != '/')
        cmn_buf_puts(&name, p->prefix);
    else
        cmn_buf_printf(&name, "%s%s", p->prefix, p->base);
    promote_file(p, p->src, name.data, st.st_size);
    cmn_buf_free(&name);
}

static void prom_free(void *arg)
{
    prom *p = arg;
    free(p->prefix);
    free(p->base);
    free(p);
}

static const char *str_field(const cJSON *v, const char *key)
{
    const cJSON *f = v ? cJSON_GetObjectItem(v, key) : NULL;
    return cJSON_IsString(f) ? f->valuestring : "";
}

static bool under_root(const char *path)
{
    for (int i = 0; i < tgt->cfg.npromote_roots; i++) {
        const char *root = tgt->cfg.promote_roots[i];
        size_t n = strlen(root);
        if (!strncmp(path, root, n) && (path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

/* Resolves src into real (a PATH_MAX buffer) and checks it lies under a
 * --promote-root: 0, or -EACCES (promote off, or outside every root),
 * -ENOENT / -errno (cannot resolve) with err saying which. A source outside
 * the roots is refused the same whether it exists or not. */
static int promote_source(const char *src, char *real, cmn_err *err)
{
    if (!tgt->cfg.npromote_roots)
        return cmn_err_set(err, EACCES,
                           "promote is disabled on this target: start it with --promote-root DIR to allow "
                           "promoting files under DIR");
    bool resolved = realpath(src, real) != NULL;
    int code = errno;
    if (resolved ? !under_root(real) : !under_root(src))
        return cmn_err_set(err, EACCES, "promote: source \"%s\" is outside every --promote-root directory", src);
    if (!resolved)
        return cmn_err_set(err, code, "promote: source \"%s\": %s", src, strerror(code));
    return 0;
}

int tgt_act_promote(tgt_req *r, const char *bck)
{
    /* TODO(auth): admin-only once requests carry an authenticated user */
    cJSON *value = tgt_msg_value(r);
    const char *src = str_field(value, "src");
    if (!*src)
        src = str_field(r->msg, "name");
    const char *prefix = str_field(value, "obj");
    if (!*src)
        return tgt_reply_err(r, 400, "promote: missing source path");
    if (src[0] != '/')
        return tgt_reply_err(r, 400, "promote: source \"%s\" is not an absolute path", src);
    if (strstr(prefix, "../") || strstr(prefix, "~/"))
        return tgt_reply_err(r, 400, "promote: invalid object name or prefix \"%s\"", prefix);
    char real[PATH_MAX];
    cmn_err err;
    if (promote_source(src, real, &err) != 0)
        return tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
    struct stat st;
    if (stat(real, &st) != 0)
        return tgt_reply_err(r, errno == ENOENT ? 404 : 400, "promote: source \"%s\": %s", src, strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return tgt_reply_err(r, 400, "promote: source \"%s\" is neither a file nor a directory", src);
    prom *p = cmn_xcalloc(1, sizeof *p);
    snprintf(p->bck, sizeof p->bck, "%s", bck);
    snprintf(p->src, sizeof p->src, "%s", real);
    p->prefix = cmn_xstrdup(prefix);
    size_t n = strlen(src);
    while (n > 1 && src[n - 1] == '/')
        n--;
    const char *b = src + n;
    while (b > src && b[-1] != '/')
        b--;
    p->base = cmn_xstrndup(b, (size_t)(src + n - b));
    p->is_dir = S_ISDIR(st.st_mode);
    p->rcr = cJSON_IsTrue(cJSON_GetObjectItem(value, "rcr"));
    p->ovw = cJSON_IsTrue(cJSON_GetObjectItem(value, "ovw"));
    p->dls = cJSON_IsTrue(cJSON_GetObjectItem(value, "dls"));
    tgt_job *job = tgt_job_start("promote", bck, NULL, promote_job, p, prom_free);
    if (!job) {
        prom_free(p);
        return tgt_reply_err(r, 500, "promote: cannot start the job");
    }
    char id[CMN_UUID_LEN + 1];
    snprintf(id, sizeof id, "%s", tgt_job_id(job));
    tgt_job_wait(id, PROMOTE_WAIT_NS);
    return tgt_reply_text(r, 200, id);
}

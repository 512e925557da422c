/*
 * jobstart.c - jobs a client starts by kind (PUT /v1/cluster
 * {"action":"start","value":{"Kind":...}}). etlfs has ais buckets only:
 * LRU never evicts them and cleanup finds no misplaced replicas, so both
 * walk the buckets (counting what they visit) and cleanup also removes
 * work files of writes that died long ago. Other kinds are refused.
 */
#include "target/target.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STALE_WORK_NS (3600 * 1000000000LL) /* a work file untouched this long has no writer */

typedef struct start_ctx {
    tgt_job *job;
    char kind[32];
    char bck[256]; /* "" = every bucket */
} start_ctx;

static bool visit(void *ctx, const char *name, const char *fqn, bool is_dir)
{
    (void)name;
    start_ctx *c = ctx;
    if (tgt_job_aborted(c->job))
        return false;
    struct stat st;
    if (!is_dir && stat(fqn, &st) == 0)
        tgt_job_count(c->job, 1, st.st_size);
    return true;
}

static void remove_stale_work_files(start_ctx *c)
{
    int64_t now = cmn_now_ns();
    for (int i = 0; i < tgt->store.nmpaths; i++) {
        char dir[PATH_MAX], path[PATH_MAX + 256];
        snprintf(dir, sizeof dir, "%s/.etlfs/tmp", tgt->store.mpaths[i]);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            if (de->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
            if (now - mtime > STALE_WORK_NS && unlink(path) == 0)
                cmn_info("%s: removed stale work file %s", c->kind, path);
        }
        if (d)
            closedir(d);
    }
}

static void start_job(tgt_job *job, void *arg)
{
    start_ctx *c = arg;
    c->job = job;
    if (*c->bck) {
        tgt_walk(&tgt->store, c->bck, "", "", false, visit, c);
    } else {
        char **names;
        int n;
        tgt_bucket_names(&tgt->store, &names, &n);
        for (int i = 0; i < n && !tgt_job_aborted(job); i++)
            tgt_walk(&tgt->store, names[i], "", "", false, visit, c);
        tgt_free_names(names, n);
    }
    if (!strcmp(c->kind, "cleanup-store") && !tgt_job_aborted(job))
        remove_stale_work_files(c);
}

int tgt_h_job_start(tgt_req *r)
{
    cJSON *value = tgt_msg_value(r);
    const cJSON *k = value ? cJSON_GetObjectItem(value, "Kind") : NULL;
    const char *kind = cJSON_IsString(k) ? k->valuestring : "";
    if (!strcmp(kind, "lru") || !strcmp(kind, "lru-eviction"))
        kind = "lru";
    else if (!strcmp(kind, "cleanup") || !strcmp(kind, "cleanup-store"))
        kind = "cleanup-store";
    else if (!*kind)
        return tgt_reply_err(r, 400, "start: missing job kind");
    else
        return tgt_reply_err(r, 400, "start: unknown job kind \"%s\" (etlfs starts: lru, cleanup)", kind);
    start_ctx *c = cmn_xcalloc(1, sizeof *c);
    snprintf(c->kind, sizeof c->kind, "%s", kind);
    const cJSON *b = cJSON_GetObjectItem(value, "Bck");
    const cJSON *bn = cJSON_IsObject(b) ? cJSON_GetObjectItem(b, "name") : NULL;
    if (cJSON_IsString(bn) && *bn->valuestring) {
        const cJSON *bp = cJSON_GetObjectItem(b, "provider");
        if (cJSON_IsString(bp) && *bp->valuestring && strcmp(bp->valuestring, "ais")) {
            free(c);
            return tgt_reply_err(r, 400, "start %s: provider \"%s\" is not supported (ais only)", kind,
                                 bp->valuestring);
        }
        if (!tgt_check_bucket(r, bn->valuestring, true)) {
            free(c);
            return MHD_YES;
        }
        snprintf(c->bck, sizeof c->bck, "%s", bn->valuestring);
    }
    tgt_job *job = tgt_job_start(kind, *c->bck ? c->bck : NULL, NULL, start_job, c, free);
    if (!job) {
        free(c);
        return tgt_reply_err(r, 500, "start %s: cannot start the job", kind);
    }
    return tgt_reply_text(r, 200, tgt_job_id(job));
}

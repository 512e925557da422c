/*
 * movebck.c - renaming a bucket (move-bck). The bucket's directories are
 * renamed on every mountpath at once (the request returns with the new name
 * in place); then a job moves each object whose owning mountpath changes
 * (placement hashes bucket + name) with rename(2), or by copy when the
 * mountpaths are different file systems.
 */
#include "target/target.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct move_ctx {
    tgt_job *job;
    char src[256], dst[256];
} move_ctx;

/* nftw has no context argument: the walk's state is per thread. */
static __thread move_ctx *cur;
static __thread const char *cur_root;
static __thread int cur_mp;

static int relocate(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    if (tgt_job_aborted(cur->job))
        return 1;
    if (flag == FTW_DP) {
        if (ftw->level > 0)
            rmdir(path); /* emptied virtual directory; fails harmlessly when not empty */
        return 0;
    }
    if (flag != FTW_F)
        return 0;
    const char *name = path + strlen(cur_root) + 1;
    if (tgt_store_mpath_of(&tgt->store, cur->dst, name) == cur_mp)
        return 0;
    char to[PATH_MAX], dir[PATH_MAX];
    if (tgt_store_fqn(&tgt->store, cur->dst, name, to, sizeof to) != 0) {
        tgt_job_error(cur->job, "ais://%s/%s: name too long", cur->dst, name);
        return 0;
    }
    snprintf(dir, sizeof dir, "%s", to);
    *strrchr(dir, '/') = '\0';
    cmn_mkdir_p(dir);
    if (rename(path, to) == 0) {
        tgt_job_count(cur->job, 1, st->st_size);
        return 0;
    }
    int rc = -errno;
    if (rc == -EXDEV) {
        rc = tgt_store_copy_file(&tgt->store, path, cur->dst, name, NULL, NULL);
        if (rc == 0)
            unlink(path);
    }
    if (rc)
        tgt_job_error(cur->job, "ais://%s/%s: cannot move to its mountpath: %s", cur->dst, name, strerror(-rc));
    else
        tgt_job_count(cur->job, 1, st->st_size);
    return 0;
}

static void move_job(tgt_job *job, void *arg)
{
    move_ctx *m = arg;
    m->job = job;
    tgt_journal_add(job, "move-bck", m->src, m->dst);
    char root[PATH_MAX];
    for (int i = 0; i < tgt->store.nmpaths && tgt->store.nmpaths > 1; i++) {
        tgt_store_bdir(&tgt->store, i, m->dst, root, sizeof root);
        cur = m;
        cur_root = root;
        cur_mp = i;
        nftw(root, relocate, 32, FTW_DEPTH | FTW_PHYS);
    }
    if (!tgt_job_aborted(job))
        tgt_journal_remove(job);
}

/* POST /v1/buckets/FROM?bck_to=ais/@#/TO/ {"action":"move-bck"} */
int tgt_act_move_bck(tgt_req *r, const char *src)
{
    const char *to = tgt_query(r, "bck_to");
    if (!to || !*to)
        return tgt_reply_err(r, 400, "missing \"bck_to\" query parameter");
    move_ctx *m = cmn_xcalloc(1, sizeof *m);
    snprintf(m->src, sizeof m->src, "%s", src);
    int status = 0;
    if (!tgt_parse_uname_bucket(to, m->dst, sizeof m->dst) || !cmn_bucket_name_valid(m->dst))
        status = tgt_reply_err(r, 400, "move-bck: invalid \"bck_to\" \"%s\"", to);
    else if (!strcmp(src, m->dst))
        status = tgt_reply_err(r, 400, "move-bck: cannot rename bucket \"ais://%s\" onto itself", src);
    else {
        int rc = tgt_bucket_rename(&tgt->store, src, m->dst);
        if (rc == -EEXIST)
            status = tgt_reply_err(r, 409, "bucket \"ais://%s\" already exists", m->dst);
        else if (rc == -ENOENT)
            status = tgt_reply_err(r, 404, "bucket \"ais://%s\" does not exist", src);
        else if (rc)
            status = tgt_reply_err(r, 500, "move-bck ais://%s to ais://%s: %s", src, m->dst, strerror(-rc));
        else {
            cmn_info("renamed bucket ais://%s to ais://%s", src, m->dst);
            tgt_job *job = tgt_job_start("move-bck", src, m->dst, move_job, m, free);
            if (!job) {
                free(m);
                return tgt_reply_err(r, 500, "move-bck: cannot start the job");
            }
            return tgt_reply_text(r, 200, tgt_job_id(job));
        }
    }
    free(m);
    return status;
}

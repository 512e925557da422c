/*
 * tcbstart.c - the request side of a copy or transform job (copy-bck,
 * etl-bck, their list/range variants): what must fail before the reply
 * (same bucket, unknown ETL, an invalid share id), the destination bucket,
 * then a new job, or the request added to a running one of the same kind,
 * buckets and ETL; in a cluster, the job's shares sent to the other targets.
 * The job itself is offline.c's: this file starts it through the registry
 * (jobs.c), which runs it, so the engine never calls back here or there.
 */
#include "target/target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new run of t and the job that runs it, under the id of share when given
 * (a cluster job's share); *job is NULL when its thread could not start. */
static tcb_run *run_start(const char *kind, tgt_tcb *t, etl_chain *h, bool demand, bool cluster, const char *share,
                          const char *auth, tgt_job **job)
{
    tcb_run *run = tgt_tcb_run_new(kind, t, h, demand, cluster, cluster && !share, auth);
    *job = share ? tgt_job_start_as(share, kind, t->src, t->dst, tgt_tcb_job, run, tgt_tcb_run_free)
                 : tgt_job_start(kind, t->src, t->dst, tgt_tcb_job, run, tgt_tcb_run_free);
    return run;
}

/* The destination bucket, made if missing: in a cluster by the node asked,
 * for every node (a share's target finds it made). 0 or -errno with e. */
static int make_dst(const char *kind, const char *dst, bool cluster_wide, cmn_err *e)
{
    if (cluster_wide && !tgt_bucket_exists(&tgt->store, dst)) { /* one here is the cluster's (mirrored) */
        int rc = tgt_cluster_bucket_create(dst, e);
        if (!rc)
            cmn_info("%s: created destination bucket ais://%s (cluster)", kind, dst);
        if (rc != -EEXIST)
            return rc;
    }
    int rc = tgt_bucket_create(&tgt->store, dst);
    if (!rc)
        cmn_info("%s: created destination bucket ais://%s", kind, dst);
    if (rc && rc != -EEXIST) /* this node's disk: a 500, whatever the cause */
        return cmn_err_set(e, EIO, "create bucket \"ais://%s\": %s", dst, strerror(-rc));
    return 0;
}

int tgt_tcb_start(tgt_req *r, const char *kind, tgt_tcb *t, bool demand)
{
    bool cluster = tgt_cluster_on();
    const char *share = cluster ? tgt_query(r, TGT_Q_JOB_SHARE) : NULL; /* the id of a job another target started */
    if (share && (!*share || strlen(share) > CMN_UUID_LEN)) {
        tgt_tcb_free(t);
        return tgt_reply_err(r, 400, "invalid job id \"%s\"", share);
    }
    if (!cmn_bucket_name_valid(t->dst)) {
        tgt_tcb_free(t);
        return tgt_reply_err(r, 400, "bucket name \"%s\" is invalid", t->dst);
    }
    if (!strcmp(t->src, t->dst) && !t->dry_run) { /* a dry run onto itself is 5.0's inspect */
        int ret = tgt_reply_err(r, 400, "%s: cannot %s bucket \"ais://%s\" onto itself", kind,
                                *t->etl ? "transform" : "copy", t->src);
        tgt_tcb_free(t);
        return ret;
    }
    etl_chain *h = NULL;
    if (*t->etl) {
        etl_request q = {.name = t->etl, .npipeline = t->npipeline, .args = t->etl_args};
        memcpy(q.pipeline, t->pipeline, sizeof q.pipeline);
        cmn_err e = {0};
        if (!(h = etl_get(tgt->etl, &q, &e))) {
            int ret = share ? tgt_reply_err(r, cmn_err_http_status(e.code), "on target %s: %s", tgt_cluster_self(), e.msg)
                            : tgt_reply_err(r, cmn_err_http_status(e.code), "%s", e.msg);
            tgt_tcb_free(t);
            return ret;
        }
    }
    if (!t->dry_run) {
        cmn_err e = {0};
        if (make_dst(kind, t->dst, cluster && !share, &e) != 0) {
            int ret = tgt_reply_err(r, cmn_err_http_status(e.code), "%s", e.msg);
            if (h)
                etl_put(h);
            tgt_tcb_free(t);
            return ret;
        }
    }
    const char *auth = tgt_header(r, "Authorization");
    char id[CMN_UUID_LEN + 1];
    if (!demand) {
        tgt_job *job;
        tcb_run *run = run_start(kind, t, h, false, cluster, share, auth, &job);
        if (!job) {
            tgt_tcb_run_put(run, false);
            return tgt_reply_err(r, 500, "%s: cannot start the job", kind);
        }
        if (share)
            tgt_job_set_targets(job, tgt_header(r, TGT_HDR_JOB_TARGETS));
        snprintf(id, sizeof id, "%s", tgt_job_id(job));
        return cluster && !share ? tgt_cjob_spread(r, kind, id, t->dst, job) : tgt_reply_text(r, 200, id);
    }
    char dst[256];
    snprintf(dst, sizeof dst, "%s", t->dst);
    tgt_tcb_runs_lock();
    bool added;
    /* a share whose run here is ending: once it has ended its job goes on
     * under the same id (tgt_job_start_as), so wait for that (an ending run
     * has no work left: a moment); its thread takes runs_mu to end */
    for (int tries = 0; !(added = tgt_tcb_add_to_running(kind, t, h, share, id)) && share && tries < 3 &&
                        !tgt_job_wait(share, 0);
         tries++) {
        tgt_tcb_runs_unlock();
        tgt_job_wait(share, 10 * 1000000000LL);
        tgt_tcb_runs_lock();
    }
    if (added) {
        tgt_tcb_runs_unlock();
        if (h)
            etl_put(h); /* the job holds its own reference to the same ETL */
        return cluster && !share ? tgt_cjob_spread(r, kind, id, dst, NULL) : tgt_reply_text(r, 200, id);
    }
    /* the runs' lock is held until the run is listed: the job's thread takes it
     * before it ends, so it cannot end (and free the run) before that */
    tgt_job *job;
    tcb_run *run = run_start(kind, t, h, true, cluster, share, auth, &job);
    if (!job) {
        tgt_tcb_runs_unlock();
        tgt_tcb_run_put(run, true);
        return tgt_reply_err(r, 500, "%s: cannot start the job", kind);
    }
    snprintf(id, sizeof id, "%s", tgt_job_id(job));
    if (share)
        tgt_job_set_targets(job, tgt_header(r, TGT_HDR_JOB_TARGETS));
    tgt_tcb_run_list(run, job, id);
    tgt_tcb_runs_unlock();
    tgt_tcb_run_put(run, false);
    return cluster && !share ? tgt_cjob_spread(r, kind, id, dst, job) : tgt_reply_text(r, 200, id);
}

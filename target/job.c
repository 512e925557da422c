/*
 * job.c - what a running job does to its own record: count what it did,
 * record an error, see whether it was aborted, say it is idle. The record
 * is the one the registry (jobs.c) handed the job's function; these write
 * into it and never call back into the registry, so a job's code and the
 * registry that runs it do not call each other.
 */
#include "target/target.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

const char *tgt_job_id(const tgt_job *job) { return job->id; }

void tgt_job_count(tgt_job *job, int64_t objs, int64_t bytes)
{
    atomic_fetch_add(&job->objs, objs);
    atomic_fetch_add(&job->bytes, bytes);
}

void tgt_job_error(tgt_job *job, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cmn_warn("job %s[%s]: %s", job->kind, job->id, msg);
    pthread_mutex_lock(&job->errs_mu);
    if (job->nerrs < TGT_JOB_ERRS_KEPT)
        job->errs[job->nerrs] = cmn_xstrdup(msg);
    job->nerrs++;
    pthread_mutex_unlock(&job->errs_mu);
}

bool tgt_job_aborted(const tgt_job *job) { return atomic_load(&job->abort); }

void tgt_job_set_idle(tgt_job *job, bool idle) { atomic_store(&job->idle, idle); }

void tgt_job_linger(tgt_job *job)
{
    tgt_job_set_idle(job, true);
    int64_t until = cmn_mono_ns() + TGT_JOB_LINGER_NS;
    while (!tgt_job_aborted(job) && cmn_mono_ns() < until) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
}

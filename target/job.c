/*
 * job.c - what a running job does to its own record beyond a field (those,
 * counting, the abort and idle flags, are inline in target.h): record an
 * error, linger idle. The record is the one the registry (jobs.c) handed the
 * job's function; these write into it and never call back into the
 * registry, so a job's code and the registry that runs it do not call each
 * other.
 */
#include "target/target.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

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

void tgt_job_linger(tgt_job *job)
{
    tgt_job_set_idle(job, true);
    int64_t until = cmn_mono_ns() + TGT_JOB_LINGER_NS;
    while (!tgt_job_aborted(job) && cmn_mono_ns() < until) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
}

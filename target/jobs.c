/*
 * jobs.c - every long operation is a job ("xaction" in AIStore): an id, a
 * kind, buckets, counters, errors, start and end time, a thread. The
 * registry keeps finished jobs (until restart, up to a bound) so clients can
 * poll them after the fact, and answers AIStore's job queries from one table.
 * A running job writes its own record (job.c) and never calls back here.
 */
#include "target/target.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOBS_KEPT 1024 /* finished jobs remembered; the oldest are forgotten first */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ended = PTHREAD_COND_INITIALIZER;
static tgt_job *jobs; /* newest first */
static int njobs;

static void job_free(tgt_job *j)
{
    for (int i = 0; i < j->nerrs && i < TGT_JOB_ERRS_KEPT; i++)
        free(j->errs[i]);
    pthread_mutex_destroy(&j->errs_mu);
    free(j->bck);
    free(j->dst);
    free(j->targets);
    free(j);
}

/* Joins the threads of jobs that have ended, so that a finished job kept for
 * its status does not also keep its thread's stack; called with mu held (an
 * ended job's thread only logs after end_ns: the join returns at once). */
static void reap_ended(void)
{
    for (tgt_job *j = jobs; j; j = j->next)
        if (j->end_ns && !j->joined) {
            pthread_join(j->thread, NULL);
            j->joined = true;
        }
}

/* Drops the oldest finished jobs past the bound; called with mu held. */
static void forget_old(void)
{
    if (njobs <= JOBS_KEPT)
        return;
    tgt_job **pp = &jobs;
    int seen = 0;
    while (*pp) {
        tgt_job *j = *pp;
        if (++seen > JOBS_KEPT && j->end_ns && j->joined) {
            *pp = j->next;
            job_free(j);
            njobs--;
            continue;
        }
        pp = &j->next;
    }
}

/* A new job into the list, the ended ones' housekeeping with it; mu held. */
static void add_locked(tgt_job *j)
{
    j->next = jobs;
    jobs = j;
    njobs++;
    reap_ended();
    forget_old();
}

static void *job_main(void *p)
{
    tgt_job *j = p;
    j->fn(j, j->arg);
    if (j->free_arg)
        j->free_arg(j->arg);
    pthread_mutex_lock(&mu);
    j->end_ns = cmn_now_ns();
    pthread_cond_broadcast(&ended);
    pthread_mutex_unlock(&mu);
    pthread_mutex_lock(&j->errs_mu);
    int nerrs = j->nerrs;
    pthread_mutex_unlock(&j->errs_mu);
    cmn_info("job %s[%s] %s: %lld objects, %lld bytes, %d errors", j->kind, j->id,
             atomic_load(&j->abort) ? "aborted" : "finished", (long long)atomic_load(&j->objs),
             (long long)atomic_load(&j->bytes), nerrs);
    return NULL;
}

tgt_job *tgt_job_start(const char *kind, const char *bck, const char *dst, tgt_job_fn fn, void *arg,
                       void (*free_arg)(void *))
{
    char id[CMN_UUID_LEN + 1];
    cmn_gen_uuid(id);
    return tgt_job_start_as(id, kind, bck, dst, fn, arg, free_arg);
}

/* Unlinks an ended job of this id, so that one going on under it (a
 * cluster job's share given more work) keeps its counters; with mu held. */
static tgt_job *take_ended(const char *id)
{
    for (tgt_job **pp = &jobs; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->id, id) && (*pp)->end_ns) {
            tgt_job *j = *pp;
            *pp = j->next;
            njobs--;
            if (!j->joined)
                pthread_join(j->thread, NULL); /* it has ended: returns at once */
            return j;
        }
    return NULL;
}

/* Counters, errors and targets of old into j, which goes on under its id. */
static void carry(tgt_job *j, tgt_job *old)
{
    j->start_ns = old->start_ns;
    atomic_store(&j->objs, atomic_load(&old->objs));
    atomic_store(&j->bytes, atomic_load(&old->bytes));
    for (int i = 0; i < old->nerrs && i < TGT_JOB_ERRS_KEPT; i++) {
        j->errs[i] = old->errs[i];
        old->errs[i] = NULL;
    }
    j->nerrs = old->nerrs;
    j->targets = old->targets;
    old->targets = NULL;
    job_free(old);
}

tgt_job *tgt_job_start_as(const char *id, const char *kind, const char *bck, const char *dst, tgt_job_fn fn,
                          void *arg, void (*free_arg)(void *))
{
    tgt_job *j = cmn_xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->errs_mu, NULL);
    tgt_metric_add(TGT_M_JOBS_N, 1);
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->kind, sizeof j->kind, "%s", kind);
    j->bck = bck ? cmn_xstrdup(bck) : NULL;
    j->dst = dst ? cmn_xstrdup(dst) : NULL;
    j->start_ns = cmn_now_ns();
    j->fn = fn;
    j->arg = arg;
    j->free_arg = free_arg;
    pthread_mutex_lock(&mu);
    tgt_job *old = take_ended(id);
    if (old)
        carry(j, old);
    add_locked(j);
    if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
        j->end_ns = cmn_now_ns();
        j->joined = true;
        pthread_mutex_lock(&j->errs_mu);
        if (j->nerrs < TGT_JOB_ERRS_KEPT)
            j->errs[j->nerrs] = cmn_xstrdup("cannot start a thread");
        j->nerrs++;
        pthread_mutex_unlock(&j->errs_mu);
        pthread_mutex_unlock(&mu);
        if (free_arg)
            free_arg(arg);
        return j;
    }
    pthread_mutex_unlock(&mu);
    return j;
}

static tgt_job *find(const char *id);

void tgt_job_set_targets(tgt_job *job, const char *targets)
{
    pthread_mutex_lock(&mu);
    free(job->targets);
    job->targets = targets ? cmn_xstrdup(targets) : NULL;
    pthread_mutex_unlock(&mu);
}

char *tgt_job_targets(const char *id)
{
    pthread_mutex_lock(&mu);
    tgt_job *j = find(id);
    char *t = j && j->targets ? cmn_xstrdup(j->targets) : NULL;
    pthread_mutex_unlock(&mu);
    return t;
}

void tgt_job_add_ended(const char *id, const char *kind, const char *bck, const char *dst, int64_t start_ns,
                       bool aborted, const char *err)
{
    tgt_job *j = cmn_xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->errs_mu, NULL);
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->kind, sizeof j->kind, "%s", kind);
    j->bck = bck ? cmn_xstrdup(bck) : NULL;
    j->dst = dst ? cmn_xstrdup(dst) : NULL;
    j->start_ns = start_ns;
    j->end_ns = cmn_now_ns();
    atomic_store(&j->abort, aborted);
    j->joined = true; /* no thread */
    if (err && *err)
        j->errs[j->nerrs++] = cmn_xstrdup(err);
    pthread_mutex_lock(&mu);
    add_locked(j);
    pthread_mutex_unlock(&mu);
}

static tgt_job *find(const char *id)
{
    for (tgt_job *j = jobs; j; j = j->next)
        if (!strcmp(j->id, id))
            return j;
    return NULL;
}

int tgt_job_abort(const char *id)
{
    pthread_mutex_lock(&mu);
    tgt_job *j = find(id);
    if (j)
        atomic_store(&j->abort, true);
    pthread_mutex_unlock(&mu);
    return j ? 0 : -ENOENT;
}

bool tgt_job_wait(const char *id, int64_t timeout_ns)
{
    int64_t deadline = cmn_now_ns() + timeout_ns;
    pthread_mutex_lock(&mu);
    tgt_job *j;
    while ((j = find(id)) && !j->end_ns) {
        int64_t left = deadline - cmn_now_ns();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + (left < 100000000 ? left : 100000000);
        ts.tv_sec = t / 1000000000LL;
        ts.tv_nsec = t % 1000000000LL;
        pthread_cond_timedwait(&ended, &mu, &ts);
    }
    bool done = !j || j->end_ns;
    pthread_mutex_unlock(&mu);
    return done;
}

/* Same kind, accepting AIStore's display names. */
static bool kind_matches(const char *want, const char *kind)
{
    if (!want || !*want)
        return true;
    static const char *aliases[][2] = {{"lru", "lru"},           {"lru-eviction", "lru"},
                                       {"cleanup", "cleanup-store"}, {"copy-objects", "copy-listrange"},
                                       {"etl-bucket", "etl-bck"},   {"copy-bucket", "copy-bck"},
                                       {"etl-objects", "etl-listrange"}, {"delete-objects", "delete-listrange"},
                                       {"rename-bucket", "move-bck"}, {"archive-objects", "archive"}};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(want, aliases[i][0]))
            want = aliases[i][1];
    return !strcmp(want, kind);
}

/* Under the job's errs_mu. */
static char *errs_joined(const tgt_job *j)
{
    cmn_buf b;
    cmn_buf_init(&b);
    for (int i = 0; i < j->nerrs && i < TGT_JOB_ERRS_KEPT; i++)
        cmn_buf_printf(&b, "%s%s", i ? "; " : "", j->errs[i]);
    if (j->nerrs > TGT_JOB_ERRS_KEPT)
        cmn_buf_printf(&b, "; (%d errors in all)", j->nerrs);
    return cmn_buf_steal(&b);
}

/* Status (nl/listener.go) plus etlfs's counters and error list. */
static cJSON *status_json(tgt_job *j)
{
    pthread_mutex_lock(&j->errs_mu);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "uuid", j->id);
    cJSON_AddStringToObject(s, "kind", j->kind);
    char *err = errs_joined(j);
    cJSON_AddStringToObject(s, "err", err);
    free(err);
    cJSON_AddItemToObject(s, "end_time", tgt_json_int(j->end_ns));
    cJSON_AddItemToObject(s, "start_time", tgt_json_int(j->start_ns));
    cJSON_AddBoolToObject(s, "aborted", atomic_load(&j->abort));
    cJSON_AddItemToObject(s, "objects", tgt_json_int(atomic_load(&j->objs)));
    cJSON_AddItemToObject(s, "bytes", tgt_json_int(atomic_load(&j->bytes)));
    cJSON_AddItemToObject(s, "errors", tgt_json_int(j->nerrs));
    cJSON *list = cJSON_AddArrayToObject(s, "error_list");
    for (int i = 0; i < j->nerrs && i < TGT_JOB_ERRS_KEPT; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(j->errs[i]));
    pthread_mutex_unlock(&j->errs_mu);
    return s;
}

static cJSON *bck_json(const char *name)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "name", name ? name : "");
    cJSON_AddStringToObject(b, "provider", name ? "ais" : "");
    return b;
}

/* Snap (core/xaction.go): counters as strings, times in RFC 3339. */
static cJSON *snap_json(tgt_job *j)
{
    char t[48];
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "id", j->id);
    cJSON_AddStringToObject(s, "kind", j->kind);
    cJSON_AddItemToObject(s, "bck", bck_json(j->bck));
    cJSON_AddItemToObject(s, "src-bck", bck_json(j->bck));
    cJSON_AddItemToObject(s, "dst-bck", bck_json(j->dst));
    cmn_format_rfc3339(j->start_ns, t, sizeof t);
    cJSON_AddStringToObject(s, "start-time", t);
    cmn_format_rfc3339(j->end_ns, t, sizeof t);
    cJSON_AddStringToObject(s, "end-time", t);
    cJSON_AddStringToObject(s, "abort-err", atomic_load(&j->abort) ? "aborted" : "");
    pthread_mutex_lock(&j->errs_mu);
    char *err = errs_joined(j);
    pthread_mutex_unlock(&j->errs_mu);
    cJSON_AddStringToObject(s, "err", err);
    free(err);
    cJSON *st = cJSON_AddObjectToObject(s, "stats");
    int64_t objs = atomic_load(&j->objs), bytes = atomic_load(&j->bytes);
    cJSON_AddItemToObject(st, "loc-objs", tgt_json_str_int(objs));
    cJSON_AddItemToObject(st, "loc-bytes", tgt_json_str_int(bytes));
    cJSON_AddItemToObject(st, "out-objs", tgt_json_str_int(objs));
    cJSON_AddItemToObject(st, "out-bytes", tgt_json_str_int(bytes));
    cJSON_AddItemToObject(st, "in-objs", tgt_json_str_int(0));
    cJSON_AddItemToObject(st, "in-bytes", tgt_json_str_int(0));
    cJSON_AddBoolToObject(s, "aborted", atomic_load(&j->abort));
    cJSON_AddBoolToObject(s, "is_idle", j->end_ns != 0 || atomic_load(&j->idle));
    cJSON_AddNullToObject(s, "ext");
    cJSON_AddStringToObject(s, "glob.id", "0");
    return s;
}

cJSON *tgt_jobs_status(const char *id, const char *kind)
{
    cJSON *res = NULL;
    pthread_mutex_lock(&mu);
    for (tgt_job *j = jobs; j && !res; j = j->next)
        if ((id && *id) ? !strcmp(j->id, id) : kind_matches(kind, j->kind))
            res = status_json(j);
    pthread_mutex_unlock(&mu);
    return res;
}

cJSON *tgt_jobs_status_all(const char *kind, bool only_running)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&mu);
    for (tgt_job *j = jobs; j; j = j->next)
        if (kind_matches(kind, j->kind) && (!only_running || !j->end_ns))
            cJSON_AddItemToArray(arr, status_json(j));
    pthread_mutex_unlock(&mu);
    return arr;
}

int tgt_jobs_running_count(void)
{
    int n = 0;
    pthread_mutex_lock(&mu);
    for (tgt_job *j = jobs; j; j = j->next)
        n += !j->end_ns;
    pthread_mutex_unlock(&mu);
    return n;
}

cJSON *tgt_jobs_running(const char *kind)
{
    cJSON *arr = cJSON_CreateArray();
    char s[64];
    pthread_mutex_lock(&mu);
    for (tgt_job *j = jobs; j; j = j->next)
        if (kind_matches(kind, j->kind) && !j->end_ns) {
            snprintf(s, sizeof s, "%s[%s]", j->kind, j->id);
            cJSON_AddItemToArray(arr, cJSON_CreateString(s));
        }
    pthread_mutex_unlock(&mu);
    return arr;
}

cJSON *tgt_jobs_snaps(const char *id, const char *kind)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&mu);
    for (tgt_job *j = jobs; j; j = j->next)
        if ((id && *id) ? !strcmp(j->id, id) : kind_matches(kind, j->kind))
            cJSON_AddItemToArray(arr, snap_json(j));
    pthread_mutex_unlock(&mu);
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON *res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, tgt_cluster_on() ? tgt_cluster_self() : TGT_NODE_ID, arr);
    return res;
}

void tgt_jobs_shutdown(void)
{
    pthread_mutex_lock(&mu);
    for (tgt_job *j = jobs; j; j = j->next)
        if (!j->end_ns)
            atomic_store(&j->abort, true);
    pthread_mutex_unlock(&mu);
    for (;;) {
        pthread_mutex_lock(&mu);
        tgt_job *todo = NULL;
        for (tgt_job *j = jobs; j && !todo; j = j->next)
            if (!j->joined)
                todo = j;
        if (todo)
            todo->joined = true;
        pthread_mutex_unlock(&mu);
        if (!todo)
            break;
        pthread_join(todo->thread, NULL);
    }
    pthread_mutex_lock(&mu);
    while (jobs) {
        tgt_job *j = jobs;
        jobs = j->next;
        job_free(j);
    }
    njobs = 0;
    pthread_mutex_unlock(&mu);
}

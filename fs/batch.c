/*
 * batch.c - server-side copies queued and sent many at a time. `cp -r`
 * through the mount makes one copy_file_range per file; each becomes a queued
 * copy, and a sender thread hands the copies of one (source bucket, ETL,
 * destination bucket) to the target as one copy-listrange/etl-listrange
 * request, which the target adds to its running job: a directory copy is one
 * job whose progress the job API shows, and cp does not wait for each file.
 *
 * cp is told "copied" before the object exists, so everything that could see
 * or change a queued object first waits for it (the fs_batch_wait_* barrier,
 * called by ops.c): every process on the node keeps close-to-open
 * consistency. A copy that fails is logged, counted in `errors`, and listed
 * in the job's errors; its destination is simply absent (or unchanged).
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FEW 4                    /* fewer copies go one by one (copy-obj): no job for them */
#define FILL 64                  /* a batch this big is sent at once... */
#define IDLE_NS (5 * 1000000LL)  /* ...or when it has not grown for this long */
#define POLL_MIN_NS 1000000LL    /* job polling backs off from 1 ms... */
#define POLL_MAX_NS 20000000LL   /* ...to 20 ms */
#define GIVE_UP_NS (30 * 1000000000LL) /* a target that stays unreachable this long fails the batch */

typedef struct fs_batch {
    struct fs_batch *next;
    char sbck[256], etl[256], dbck[256];
    fs_copy_pair *v;
    size_t n, cap;
    int64_t last_ns; /* when the last copy joined */
} batch;


static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].src);
        free(b->v[i].dst);
    }
    free(b->v);
    free(b);
}

/* ---------------------------------------------------------------- sending */

#define GIVE_UP_AFTER 3 /* failures in a row: the target is gone, not one object bad */

static bool send_one_by_one(const batch *b)
{
    int failed = 0;
    for (size_t i = 0; i < b->n; i++) {
        int64_t size;
        fs_stat_add(FS_ST_SINGLE_COPIES, 1);
        if (fs_api_copy_obj(b->sbck, b->v[i].src, b->dbck, b->v[i].dst, b->etl, &size) == 0) {
            failed = 0;
        } else if (++failed == GIVE_UP_AFTER && i + 1 < b->n) { /* each failure is logged */
            cmn_warn("etlfs: giving up on %zu more copies from %s to %s", b->n - i - 1, b->sbck, b->dbck);
            return false;
        }
    }
    return failed == 0;
}

/* Logs what the job reports beyond what was logged after the previous batch;
 * false when there was something. */
static bool report_errors(const char *id, const fs_job_snap *s, const batch *b)
{
    bool same_job = strcmp(id, fs_st.batch.last_job) == 0;
    size_t seen = same_job ? strlen(fs_st.batch.last_err) : 0;
    bool fresh_errors = strlen(s->err) > seen && (!seen || strncmp(s->err, fs_st.batch.last_err, seen) == 0);
    if (fresh_errors) {
        const char *fresh = s->err + seen;
        while (*fresh == ';' || *fresh == ' ')
            fresh++;
        fs_stat_add(FS_ST_ERRORS, 1);
        cmn_warn("etlfs: copies from %s to %s%s%s (job %s): %s", b->sbck, b->dbck, *b->etl ? " through ETL " : "",
                 b->etl, id, fresh);
    }
    snprintf(fs_st.batch.last_job, sizeof fs_st.batch.last_job, "%s", id);
    snprintf(fs_st.batch.last_err, sizeof fs_st.batch.last_err, "%s", s->err);
    return !fresh_errors;
}

/* Sends b as one job and waits until the job says everything it was given is
 * done and published; false when some copy may have failed. */
static bool send_as_job(const batch *b)
{
    char id[64];
    int rc = fs_api_copy_list(b->sbck, b->etl, b->dbck, b->v, b->n, id, sizeof id);
    if (rc < 0)
        return send_one_by_one(b); /* refused (logged): nothing was copied, so copy them singly */
    fs_stat_add(FS_ST_COPY_JOBS, 1);
    fs_stat_set_copy_job(id);
    int64_t pause = POLL_MIN_NS, failing_since = 0;
    for (;;) {
        struct timespec ts = {0, pause};
        nanosleep(&ts, NULL);
        pause = pause * 2 > POLL_MAX_NS ? POLL_MAX_NS : pause * 2;
        fs_job_snap s;
        rc = fs_api_job_snap(id, &s);
        if (rc == -ENOENT) { /* a restarted target forgets jobs; it may have been cut short */
            cmn_warn("etlfs: job %s (copies from %s to %s) is unknown to the target (restarted?): "
                     "some copies may be missing",
                     id, b->sbck, b->dbck);
            fs_stat_add(FS_ST_ERRORS, 1);
            return false;
        }
        if (rc < 0) {
            int64_t now = cmn_mono_ns();
            if (!failing_since)
                failing_since = now;
            if (now - failing_since > GIVE_UP_NS) {
                cmn_warn("etlfs: job %s (copies from %s to %s) cannot be followed: giving up on it", id, b->sbck,
                         b->dbck);
                return false;
            }
            continue;
        }
        failing_since = 0;
        if (s.idle || s.aborted) {
            bool ok = report_errors(id, &s, b);
            if (s.aborted)
                cmn_warn("etlfs: job %s (copies from %s to %s) was aborted", id, b->sbck, b->dbck);
            return ok && !s.aborted;
        }
    }
}

/* A batch to send now, or NULL and how long until one may be (-1: none). */
static batch *take_ready(int64_t now, int64_t *sleep_ns)
{
    *sleep_ns = -1;
    for (batch **pp = &fs_st.batch.open_list; *pp; pp = &(*pp)->next) {
        batch *b = *pp;
        int64_t left = b->last_ns + IDLE_NS - now;
        if (fs_st.batch.urgent || fs_st.batch.stopping || b->n >= FILL || left <= 0) {
            *pp = b->next;
            return b;
        }
        if (*sleep_ns < 0 || left < *sleep_ns)
            *sleep_ns = left;
    }
    return NULL;
}

/* Forgets what the cache knew of the destinations. The directories cp made
 * for them are remembered no longer once they hold objects, unless a copy
 * failed: then one may have none, and cp may still be filling it. */
static void landed_in_cache(const batch *b, bool ok)
{
    cmn_buf path;
    cmn_buf_init(&path);
    for (size_t i = 0; i < b->n; i++) {
        cmn_buf_reset(&path);
        cmn_buf_printf(&path, "/%s/%s", b->dbck, b->v[i].dst);
        fs_cache_forget(path.data);
        if (ok)
            fs_vdir_del_parents(path.data);
    }
    cmn_buf_free(&path);
}

static void *sender_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&fs_st.batch.mu);
    for (;;) {
        int64_t sleep_ns;
        batch *b = take_ready(cmn_mono_ns(), &sleep_ns);
        if (!b) {
            fs_st.batch.urgent = false; /* nothing is left to send */
            if (fs_st.batch.stopping)
                break;
            if (sleep_ns < 0) {
                pthread_cond_wait(&fs_st.batch.wake, &fs_st.batch.mu);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + sleep_ns;
                ts.tv_sec = t / 1000000000LL;
                ts.tv_nsec = t % 1000000000LL;
                pthread_cond_timedwait(&fs_st.batch.wake, &fs_st.batch.mu, &ts);
            }
            continue;
        }
        pthread_mutex_unlock(&fs_st.batch.mu);
        bool ok = b->n < FEW ? send_one_by_one(b) : send_as_job(b);
        landed_in_cache(b, ok); /* before the waiters wake: they must not see old attributes */
        pthread_mutex_lock(&fs_st.batch.mu);
        for (size_t i = 0; i < b->n; i++) {
            fs_pending_del(FS_PEND_SRC, b->sbck, b->v[i].src);
            fs_pending_del(FS_PEND_DST, b->dbck, b->v[i].dst);
        }
        __atomic_sub_fetch(&fs_st.batch.queued, b->n, __ATOMIC_RELAXED);
        fs_stat_add(FS_ST_COPIES_QUEUED, -(int64_t)b->n);
        pthread_cond_broadcast(&fs_st.batch.landed);
        batch_free(b);
    }
    pthread_mutex_unlock(&fs_st.batch.mu);
    return NULL;
}

void fs_batch_start(void)
{
    if (fs_cfg.copy_batch <= 0)
        return;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fs_st.batch.wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&fs_st.batch.mu);
    fs_st.batch.started = pthread_create(&fs_st.batch.sender, NULL, sender_main, NULL) == 0;
    pthread_mutex_unlock(&fs_st.batch.mu);
    if (!fs_st.batch.started)
        cmn_warn("etlfs: cannot start the copy sender: copies go one at a time");
}

void fs_batch_stop(void)
{
    pthread_mutex_lock(&fs_st.batch.mu);
    bool was = fs_st.batch.started;
    fs_st.batch.stopping = true;
    if (was)
        pthread_cond_signal(&fs_st.batch.wake);
    pthread_mutex_unlock(&fs_st.batch.mu);
    if (!was)
        return;
    pthread_join(fs_st.batch.sender, NULL);
    pthread_mutex_lock(&fs_st.batch.mu);
    fs_st.batch.started = false;
    pthread_mutex_unlock(&fs_st.batch.mu);
    pthread_cond_destroy(&fs_st.batch.wake);
}

/* ---------------------------------------------------------------- queueing and the barrier */

/* Waits (mu held) until no queued copy has name in role r1 or r2 (0: none). */
static void wait_locked(char r1, char r2, const char *bck, const char *name)
{
    while (fs_pending_has(r1, bck, name) || (r2 && fs_pending_has(r2, bck, name))) {
        fs_st.batch.urgent = true;
        pthread_cond_signal(&fs_st.batch.wake);
        fs_loop_blocking();
        pthread_cond_wait(&fs_st.batch.landed, &fs_st.batch.mu);
    }
}

static void wait_none(char r1, char r2, const char *bck, const char *name)
{
    if (!fs_batch_queued())
        return; /* the common case: one load, no lock */
    pthread_mutex_lock(&fs_st.batch.mu);
    wait_locked(r1, r2, bck, name);
    pthread_mutex_unlock(&fs_st.batch.mu);
}

void fs_batch_wait_dst(const char *bck, const char *obj) { wait_none(FS_PEND_DST, 0, bck, obj); }

void fs_batch_wait_obj(const char *bck, const char *obj) { wait_none(FS_PEND_DST, FS_PEND_SRC, bck, obj); }

void fs_batch_wait_dir(const char *bck, const char *prefix, bool any_role)
{
    wait_none(FS_PEND_DST_DIR, any_role ? FS_PEND_SRC_DIR : 0, bck, prefix);
}

void fs_batch_wait_all(void)
{
    pthread_mutex_lock(&fs_st.batch.mu);
    while (fs_st.batch.queued) {
        fs_st.batch.urgent = true;
        pthread_cond_signal(&fs_st.batch.wake);
        fs_loop_blocking();
        pthread_cond_wait(&fs_st.batch.landed, &fs_st.batch.mu);
    }
    pthread_mutex_unlock(&fs_st.batch.mu);
}

static batch *open_batch(const char *sbck, const char *etl, const char *dbck)
{
    batch **pp = &fs_st.batch.open_list;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->n < (size_t)fs_cfg.copy_batch && !strcmp((*pp)->sbck, sbck) && !strcmp((*pp)->etl, etl) &&
            !strcmp((*pp)->dbck, dbck))
            return *pp;
    batch *b = cmn_xcalloc(1, sizeof *b);
    snprintf(b->sbck, sizeof b->sbck, "%s", sbck);
    snprintf(b->etl, sizeof b->etl, "%s", etl);
    snprintf(b->dbck, sizeof b->dbck, "%s", dbck);
    *pp = b;
    return b;
}

int fs_batch_copy(const char *sbck, const char *sobj, const char *etl, const char *dbck, const char *dobj)
{
    if (!strcmp(sbck, dbck))
        return -EAGAIN; /* a job never copies a bucket onto itself: copy-obj does it */
    pthread_mutex_lock(&fs_st.batch.mu);
    if (!fs_st.batch.started || fs_st.batch.stopping) {
        pthread_mutex_unlock(&fs_st.batch.mu);
        return -EAGAIN;
    }
    /* Copies in one job run in any order: one that writes what an earlier one
     * reads or writes, or reads what an earlier one writes, waits for it. */
    wait_locked(FS_PEND_DST, FS_PEND_SRC, dbck, dobj);
    wait_locked(FS_PEND_DST, 0, sbck, sobj);
    while (fs_st.batch.queued >= 2 * (size_t)fs_cfg.copy_batch && !fs_st.batch.stopping) { /* bounded memory: cp waits */
        pthread_cond_signal(&fs_st.batch.wake);
        fs_loop_blocking();
        pthread_cond_wait(&fs_st.batch.landed, &fs_st.batch.mu);
    }
    batch *b = fs_st.batch.stopping ? NULL : open_batch(sbck, etl, dbck);
    if (!b) {
        pthread_mutex_unlock(&fs_st.batch.mu);
        return -EAGAIN; /* stopping: the caller copies now */
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->v = cmn_xrealloc(b->v, b->cap * sizeof *b->v);
    }
    b->v[b->n++] = (fs_copy_pair){cmn_xstrdup(sobj), cmn_xstrdup(dobj)};
    b->last_ns = cmn_mono_ns();
    fs_pending_add(FS_PEND_SRC, sbck, sobj);
    fs_pending_add(FS_PEND_DST, dbck, dobj);
    __atomic_add_fetch(&fs_st.batch.queued, 1, __ATOMIC_RELAXED);
    fs_stat_add(FS_ST_COPIES_QUEUED, 1);
    if (b->n == 1 || b->n >= FILL)
        pthread_cond_signal(&fs_st.batch.wake);
    pthread_mutex_unlock(&fs_st.batch.mu);
    return 0;
}

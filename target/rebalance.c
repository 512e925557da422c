/*
 * rebalance.c - after every change of the cluster map (a join, a leave, a
 * lease that expired) each target moves the objects it holds but no longer
 * owns to their owners, as AIStore's rebalance does: a job of kind
 * "rebalance" whose id is "g" + the map's version (nodes that saw the same
 * changes name it alike), counted objects and bytes, visible in the job API.
 * A target in maintenance owns nothing, so its run moves everything it
 * holds; one being decommissioned leaves the cluster once a run of it has
 * moved everything (tgt_cluster_decommissioned).
 *
 * One thread waits for the map's kicks; a kick is followed by a short
 * settling time (a restarted etcd or several joins give several at once),
 * then one job runs over the map as it is then. A kick while a job runs
 * aborts it and starts the next over the newer map. A job that ended with
 * errors (an owner unreachable) is tried again a few times.
 *
 * Each object: the owner is asked whether it has it (its copy, from a
 * client's PUT since the change or got from us as a neighbour, is at least
 * as new and stays); if not, it is PUT there with its checksum, verified
 * there, and custom metadata; only once the owner acknowledged is the local
 * copy deleted, and the copy keeps its version, checksum and custom
 * metadata. Objects are taken in batches of names (a walk does not run
 * while files vanish under it) and sent WORKERS at a time.
 */
#include "target/target.h"

#include "common/http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SETTLE_MS 1000    /* no further kick for this long: the map is taken */
#define WORKERS 4         /* objects in flight */
#define BATCH 512         /* names walked at a time */
#define RETRY_MS 5000     /* a job that ended with errors runs again after this */
#define RETRIES 10        /* ... at most this many times per map version */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kicks;
    bool stop, started;
    pthread_t thread;
    atomic_bool running;
} rb = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* One run: the map it follows and what it moves. */
typedef struct run {
    tgt_job *job;
    tgt_member *m;
    int n;
    uint64_t *digests;
    int self;
    /* the batch being sent */
    const char *bck;
    char **names;
    int *owner;
    int nnames;
    atomic_int next;
    atomic_int errors;
} run;

void tgt_rebalance_kick(void)
{
    pthread_mutex_lock(&rb.mu);
    rb.kicks++;
    pthread_cond_broadcast(&rb.cv);
    pthread_mutex_unlock(&rb.mu);
}

bool tgt_rebalance_running(void) { return atomic_load(&rb.running); }

static bool present(const char *bck, const char *name)
{
    int fd;
    int64_t size;
    if (tgt_object_open(&tgt->store, bck, name, &fd, &size) != 0)
        return false;
    close(fd);
    return true;
}

static void *sender(void *arg)
{
    run *ru = arg;
    cmn_http_pool *pool = cmn_http_pool_new(1); /* this thread's: kept alive from object to object */
    int i;
    while (!tgt_job_aborted(ru->job) && (i = atomic_fetch_add(&ru->next, 1)) < ru->nnames) {
        const tgt_member *to = &ru->m[ru->owner[i]];
        const char *name = ru->names[i];
        int64_t bytes;
        cmn_err err;
        int rc = tgt_cluster_send(to, NULL, "rebalance", ru->bck, name, ru->bck, name, true, &bytes, pool, &err);
        if (rc == -ENOENT && !present(ru->bck, name))
            continue; /* deleted meanwhile */
        if (rc) {
            atomic_fetch_add(&ru->errors, 1);
            tgt_job_error(ru->job, "%s", err.msg);
            continue;
        }
        rc = tgt_object_remove(&tgt->store, ru->bck, name);
        if (rc && rc != -ENOENT)
            tgt_job_error(ru->job, "ais://%s/%s: moved to %s but not removed here: %s", ru->bck, name, to->id,
                          strerror(-rc));
        tgt_job_count(ru->job, 1, bytes);
    }
    cmn_http_pool_free(pool);
    return NULL;
}

typedef struct walked {
    char **names;
    int n;
    char last[4096];
} walked;

static bool collect(void *ctx, const char *name, const char *fqn, bool is_dir)
{
    (void)fqn;
    walked *w = ctx;
    snprintf(w->last, sizeof w->last, "%s", name);
    if (!is_dir)
        w->names[w->n++] = cmn_xstrdup(name);
    return w->n < BATCH;
}

/* Moves the objects of one bucket that another target owns. */
static void move_bucket(run *ru, const char *bck)
{
    walked w = {.names = cmn_xcalloc(BATCH, sizeof(char *))};
    ru->names = cmn_xcalloc(BATCH, sizeof(char *));
    ru->owner = cmn_xcalloc(BATCH, sizeof(int));
    ru->bck = bck;
    char after[4096] = "";
    while (!tgt_job_aborted(ru->job)) {
        w.n = 0;
        w.last[0] = '\0';
        int rc = tgt_walk(&tgt->store, bck, "", after, false, collect, &w);
        if (rc && rc != -ENOENT) {
            tgt_job_error(ru->job, "ais://%s: cannot walk: %s", bck, strerror(-rc));
            atomic_fetch_add(&ru->errors, 1);
        }
        ru->nnames = 0;
        for (int i = 0; i < w.n; i++) {
            int o = tgt_hrw_owner(ru->digests, ru->n, tgt_hrw_obj_digest(bck, w.names[i]));
            if (o >= 0 && o != ru->self) {
                ru->owner[ru->nnames] = o;
                ru->names[ru->nnames++] = w.names[i];
            } else {
                free(w.names[i]);
            }
        }
        atomic_store(&ru->next, 0);
        pthread_t th[WORKERS];
        int nth = ru->nnames < WORKERS ? ru->nnames : WORKERS;
        for (int t = 0; t < nth; t++)
            if (pthread_create(&th[t], NULL, sender, ru) != 0)
                nth = t;
        for (int t = 0; t < nth; t++)
            pthread_join(th[t], NULL);
        for (int i = 0; i < ru->nnames; i++)
            free(ru->names[i]);
        if (w.n < BATCH || !w.last[0])
            break;
        snprintf(after, sizeof after, "%s", w.last);
    }
    free(ru->names);
    free(ru->owner);
    free(w.names);
}

static void rebalance_job(tgt_job *job, void *arg)
{
    run *ru = arg;
    ru->job = job;
    char **bcks;
    int nb;
    if (tgt_bucket_names(&tgt->store, &bcks, &nb) != 0) {
        tgt_job_error(job, "cannot list the buckets on this target's disks");
        atomic_fetch_add(&ru->errors, 1);
        return;
    }
    for (int i = 0; i < nb && !tgt_job_aborted(job); i++)
        move_bucket(ru, bcks[i]);
    tgt_free_names(bcks, nb);
}

/* Runs one job over the map as it is now; true when it moved everything
 * it had to (false: errors, or aborted by a newer kick or the stop). */
static bool run_once(void)
{
    run ru = {0};
    int64_t version;
    tgt_member *all;
    int nall = tgt_cmap_members(&all, &version), nactive = 0, self_flags = 0;
    bool in_map = false;
    for (int i = 0; i < nall; i++)
        nactive += !all[i].flags;
    /* the owners: the members out of maintenance (all, if none is) */
    ru.m = cmn_xcalloc((size_t)(nall ? nall : 1), sizeof *ru.m);
    ru.self = -1;
    for (int i = 0; i < nall; i++) {
        bool self = !strcmp(all[i].id, tgt_cluster_self());
        if (self) {
            in_map = true;
            self_flags = all[i].flags;
        }
        if (nactive && all[i].flags)
            continue;
        if (self)
            ru.self = ru.n;
        ru.m[ru.n++] = all[i];
    }
    free(all);
    ru.digests = cmn_xcalloc((size_t)(ru.n ? ru.n : 1), sizeof *ru.digests);
    for (int i = 0; i < ru.n; i++)
        ru.digests[i] = ru.m[i].digest;
    bool done = true;
    /* a map without this node (etcd lost its keys, we are leaving) is no
     * map to move objects by */
    if (in_map && nall > 1) {
        char id[32];
        snprintf(id, sizeof id, "g%lld", (long long)version);
        atomic_store(&rb.running, true);
        tgt_job *job = tgt_job_start_as(id, "rebalance", NULL, NULL, rebalance_job, &ru, NULL);
        cmn_info("rebalance %s: map v%lld, %d targets (%d owning)%s", id, (long long)version, nall, ru.n,
                 self_flags ? ", this one in maintenance" : "");
        bool aborted = false;
        while (!tgt_job_wait(id, 200 * 1000000LL)) {
            pthread_mutex_lock(&rb.mu);
            bool newer = rb.kicks || rb.stop;
            pthread_mutex_unlock(&rb.mu);
            if (newer && !aborted) {
                tgt_job_abort(id); /* the senders stop after the object in hand */
                aborted = true;
            }
        }
        done = !aborted && !tgt_job_aborted(job) && atomic_load(&ru.errors) == 0;
        atomic_store(&rb.running, false);
        if (done && (self_flags & TGT_SNODE_DECOMM))
            tgt_cluster_decommissioned(); /* everything moved: leave for good */
    }
    free(ru.digests);
    free(ru.m);
    return done;
}

/* Waits ms on the condition; false when stopping. Called with the lock. */
static bool wait_locked(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + (int64_t)ms * 1000000LL;
    ts.tv_sec = t / 1000000000LL;
    ts.tv_nsec = t % 1000000000LL;
    pthread_cond_timedwait(&rb.cv, &rb.mu, &ts);
    return !rb.stop;
}

static void *rebalance_main(void *arg)
{
    (void)arg;
    int tries = 0;
    pthread_mutex_lock(&rb.mu);
    while (!rb.stop) {
        if (!rb.kicks) {
            pthread_cond_wait(&rb.cv, &rb.mu);
            continue;
        }
        /* settle: wait until the kicks stop coming */
        int seen;
        do {
            seen = rb.kicks;
        } while (wait_locked(SETTLE_MS) && rb.kicks != seen);
        if (rb.stop)
            break;
        rb.kicks = 0;
        pthread_mutex_unlock(&rb.mu);
        bool done = run_once();
        pthread_mutex_lock(&rb.mu);
        if (done || rb.kicks) {
            tries = 0;
            continue;
        }
        /* errors (an owner unreachable): again after a while, a few times */
        if (++tries <= RETRIES && wait_locked(RETRY_MS) && !rb.kicks)
            rb.kicks = 1;
    }
    pthread_mutex_unlock(&rb.mu);
    return NULL;
}

void tgt_rebalance_start(void)
{
    pthread_mutex_lock(&rb.mu);
    rb.stop = false;
    rb.kicks++; /* objects left by a change made while this node was away */
    rb.started = pthread_create(&rb.thread, NULL, rebalance_main, NULL) == 0;
    pthread_mutex_unlock(&rb.mu);
}

void tgt_rebalance_stop(void)
{
    pthread_mutex_lock(&rb.mu);
    rb.stop = true;
    pthread_cond_broadcast(&rb.cv);
    bool started = rb.started;
    rb.started = false;
    pthread_mutex_unlock(&rb.mu);
    if (started)
        pthread_join(rb.thread, NULL);
}

/*
 * offline.c - the job engine that copies or transforms many objects into
 * another bucket (copy-bck, etl-bck: copybck.c; the list/range variants:
 * multiobj.c; the request read by tcb.c and started by tcbstart.c; one ETL
 * output: etl_store.c). The job's
 * thread produces names from the selection into a small bounded queue; a
 * pool of workers takes them one at a time, so a bucket of millions is
 * never held in memory and a slow ETL call does not stall the others.
 * Where the ETL's communicator pipelines objects (ws://, the ETL reads the
 * file), a worker does not wait for each answer: it keeps up to TCB_WINDOW
 * objects in flight, and each answer is written, committed and counted on
 * the ETL connection's reader thread (etl_store.c); any other ETL, a
 * pipeline, a dry run or another target's output is one object at a time.
 * A list/range job takes later requests for the same buckets and ETL as
 * more work ("parts", each with its own options) on the same workers, as
 * AIStore's tcobjs xactions do.
 *
 * In a cluster a job is every target's (cluster_jobs.c): each takes only
 * the objects it owns, and an output another target owns is sent to it.
 *
 * Each output goes through the atomic writer: an abort or a crash leaves
 * only whole objects. An object that fails is a job error naming it and the
 * job goes on; a failed output is never stored. Dry runs do everything but
 * the write (a transform still runs, so the output byte count is exact).
 */
#include "target/target.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TCB_QUEUE 64
/* Objects an ETL job's worker keeps in flight where the communicator
 * pipelines them (ws:// with fqn): the ETL finds its next object waiting
 * instead of idling for a round trip per object, and no more threads (and
 * their wake-ups) are needed for it. */
#define TCB_WINDOW 8

/* One request's share of a job: its options and its selection. A demand
 * job takes more of them while it runs; each is freed once its last object
 * is done, so a job fed names for hours holds only the requests in progress. */
typedef struct tcb_part {
    tgt_tcb *t;
    int refs;              /* items queued or in a worker, +1 while being fed; under run->mu */
    struct tcb_part *next; /* in run->pending */
} tcb_part;

typedef struct qitem {
    char *name;
    const char *dname; /* the request's dst_names entry (owned by the part), or NULL: mapped */
    bool listed;
    tcb_part *part;
} qitem;

struct tcb_run {
    tgt_job *job;       /* set by the job's thread */
    tgt_job *jobref;    /* the same, set by the starter, for additions (under runs_mu) */
    char id[CMN_UUID_LEN + 1];
    const char *kind;
    /* what a request must share with the job to be added to it */
    char src[256], dst[256];
    bool dry_run;
    bool demand;
    int nworkers;
    etl_chain *h;       /* referenced for the job's life, so the ETL cannot go away under it */
    bool cluster;       /* a share of a cluster job: only owned objects, outputs to their owners */
    bool coordinator;   /* ... the share of the node asked, which made the id */
    char *auth;         /* "Authorization: ..." for those outputs, or NULL */
    tgt_batch *batch;   /* outputs are group-committed */
    pthread_mutex_t mu;
    pthread_cond_t not_full, not_empty;
    pthread_cond_t changed; /* to the job's thread: a part was added or finished (CLOCK_MONOTONIC) */
    pthread_cond_t room;    /* to workers: the window has drained to half */
    int inflight, window;   /* objects taken from the queue and not finished, and their bound */
    int room_waiters;
    struct inflight *spare; /* finished window slots, kept for the next objects (mu) */
    qitem q[TCB_QUEUE];
    int head, n;
    tcb_part *pending, **pending_tail; /* added, not fed yet */
    int outstanding;    /* parts not finished */
    bool closed;        /* workers leave once the queue is empty */
    bool ending;        /* the job decided to end: it takes no more parts */
    atomic_int refs;    /* the job, and the starter until the run is listed */
    atomic_bool released; /* the job has let go (its thread ended, or never started) */
    struct tcb_run *next; /* in runs */
};

/* Demand jobs that take additions. Lock order: runs_mu, then a run's mu. */
static pthread_mutex_t runs_mu = PTHREAD_MUTEX_INITIALIZER;
static tcb_run *runs;

static tcb_part *item_release(tcb_run *run, tcb_part *p);
static void part_free(tcb_part *p);

/* ------------------------------------------------------------ one object */
/* What an object's transform came to (rc, the output's bytes, err) goes
 * into the job. */
static void transform_end(tcb_run *run, const tgt_tcb *t, const char *name, const char *fqn, bool listed, int rc,
                          int64_t bytes, const cmn_err *err, int64_t t0)
{
    int64_t size;
    int src = rc ? tgt_object_stat(fqn, &size) : 0;
    if (src) { /* the source went (or never was): as do_one says it for a copy */
        if (src != -ENOENT || listed)
            tgt_job_error(run->job, "ais://%s/%s: %s", t->src, name, src == -ENOENT ? "does not exist" : strerror(-src));
    } else if (rc) { /* the message names the ETL and the object, or the output */
        tgt_job_error(run->job, "%s (%d)", err->msg, cmn_err_http_status(rc));
        tgt_metric_add(TGT_M_ETL_OFFLINE_ERR_N, 1);
    } else {
        tgt_job_count(run->job, 1, bytes);
        tgt_metric_add(TGT_M_ETL_OFFLINE_N, 1);
        tgt_metric_add(TGT_M_ETL_OFFLINE_SIZE, bytes);
        tgt_metric_add(TGT_M_ETL_OFFLINE_NS, cmn_mono_ns() - t0);
    }
}

static void transform_one(tcb_run *run, const tgt_tcb *t, const char *name, const char *fqn, bool listed,
                          const char *dname, const char *owner)
{
    etl_object obj = {t->src, name, fqn, -1, tgt_job_id(run->job)};
    cmn_err e = {0};
    int64_t bytes = 0, t0 = cmn_mono_ns();
    int rc = owner && !t->dry_run
                 ? tgt_etl_store_to(run->h, &obj, owner, run->auth, t->dst, dname, t->timeout_ns, &bytes, &e)
                 : tgt_etl_store(run->h, &obj, t->dst, dname, t->timeout_ns, t->dry_run, &bytes, NULL, run->batch, &e);
    transform_end(run, t, name, fqn, listed, rc, bytes, &e, t0);
}

/* An object of the window: what its answer needs once the worker has gone
 * on (the queue item's name and part reference are its own now). One
 * allocation per slot of the window, reused object after object (taken and
 * given back under run->mu, where the worker and the answer are anyway):
 * it is made on a worker and finished on the ETL's reader thread, where
 * malloc's per-thread cache would not recycle it. The store's state for
 * the object (tgt_etl_store_start's mem) follows it. */
typedef struct inflight {
    tcb_run *run;
    tcb_part *part;
    char *name, *dname;
    bool listed;
    int64_t t0;
    etl_object obj;
    struct inflight *next_spare; /* in run->spare */
    char fqn[PATH_MAX];          /* not zeroed: written up to its length */
} inflight;

#define SLOT_HEAD ((sizeof(inflight) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * _Alignof(max_align_t))

static void *slot_store(inflight *f)
{
    return (char *)f + SLOT_HEAD;
}

/* A spare slot, or NULL (mu held). */
static inflight *slot_take(tcb_run *run)
{
    inflight *f = run->spare;
    if (f)
        run->spare = f->next_spare;
    return f;
}

/* Gives a slot back (mu held). */
static void slot_give(tcb_run *run, inflight *f)
{
    if (!f)
        return;
    f->next_spare = run->spare;
    run->spare = f;
}

/* On the ETL connection's reader thread: the object is finished. */
static void transform_done(void *ctx, int rc, int64_t bytes, const cmn_err *err)
{
    inflight *f = ctx;
    tcb_run *run = f->run;
    tcb_part *part = f->part;
    transform_end(run, part->t, f->name, f->fqn, f->listed, rc, bytes, err, f->t0);
    free(f->name);
    free(f->dname);
    pthread_mutex_lock(&run->mu);
    slot_give(run, f);
    tcb_part *done = item_release(run, part);
    pthread_mutex_unlock(&run->mu); /* run may be gone from here on */
    part_free(done);
}

/* Starts it->name's transform into dst/dname with no thread held, in the
 * slot *slot (a spare one, or NULL: one is made); true when started
 * (it->name, dname and the slot are then the answer's, *slot NULL). */
static bool transform_start(tcb_run *run, const qitem *it, const char *fqn, char *dname, inflight **slot)
{
    const tgt_tcb *t = it->part->t;
    if (!etl_chain_starts(run->h))
        return false;
    size_t flen = strlen(fqn) + 1;
    if (flen > PATH_MAX)
        return false;
    if (!*slot)
        *slot = cmn_xmalloc(SLOT_HEAD + tgt_etl_store_op_size());
    inflight *f = *slot;
    f->run = run;
    f->part = it->part;
    f->name = it->name;
    f->dname = dname;
    f->listed = it->listed;
    f->t0 = cmn_mono_ns();
    memcpy(f->fqn, fqn, flen);
    f->obj = (etl_object){t->src, f->name, f->fqn, -1, tgt_job_id(run->job)};
    if (tgt_etl_store_start(run->h, &f->obj, t->dst, dname, t->timeout_ns, run->batch, slot_store(f), transform_done,
                            f) == 0) {
        *slot = NULL; /* f may be given back already */
        return true;
    }
    return false;
}

/* One queue item; true when its transform was started and will end on
 * another thread (which then owns it->name and the part's reference). */
static bool do_one(tcb_run *run, const qitem *it, inflight **slot)
{
    const tgt_tcb *t = it->part->t;
    const char *name = it->name;
    size_t nl = strlen(name), sl = t->suffix ? strlen(t->suffix) : 0;
    if (sl && (nl < sl || strcmp(name + nl - sl, t->suffix)))
        return false; /* not selected */
    int64_t size = 0;
    char fqn[PATH_MAX], why[128];
    /* the copy and the ETL open the file by its path: a copy stats it for
     * its size, and a name a request gave may not exist (the ETL is not
     * asked for it); a name the walk just read goes to the ETL unchecked,
     * a syscall fewer per object, and if it went since, the ETL's failure
     * is where that shows (transform_one looks then) */
    int rc = tgt_store_fqn(&tgt->store, t->src, name, fqn, sizeof fqn);
    if (!rc && (!run->h || it->listed))
        rc = tgt_object_stat(fqn, &size);
    if (rc) {
        if (rc != -ENOENT || it->listed)
            tgt_job_error(run->job, "ais://%s/%s: %s", t->src, name,
                          rc == -ENOENT ? "does not exist" : strerror(-rc));
        return false;
    }
    char *dname = it->dname ? cmn_xstrdup(it->dname) : tgt_tcb_dst_name(t, name); /* a given name was checked when parsed */
    char owner_url[512];
    const char *owner = run->cluster && tgt_cmap_owner_elsewhere(t->dst, dname, owner_url, sizeof owner_url)
                            ? owner_url : NULL;
    cmn_err e = {0};
    if (!it->dname && !cmn_object_name_valid(dname, why, sizeof why)) {
        tgt_job_error(run->job, "ais://%s/%s: invalid destination name \"%s\": %s", t->src, name, dname, why);
    } else if (run->h && !owner && !t->dry_run && transform_start(run, it, fqn, dname, slot)) {
        return true;
    } else if (run->h) {
        transform_one(run, t, name, fqn, it->listed, dname, owner);
    } else if (t->dry_run) {
        tgt_job_count(run->job, 1, size);
    } else if (owner) { /* another target's output */
        if ((rc = tgt_rput_file(owner, t->dst, dname, fqn, run->auth, NULL, &e)) != 0)
            tgt_job_error(run->job, "ais://%s/%s: %s", t->src, name, e.msg);
        else
            tgt_job_count(run->job, 1, size);
    } else if ((rc = tgt_store_copy_file(&tgt->store, fqn, t->dst, dname, NULL, run->batch)) != 0) {
        tgt_job_error(run->job, "ais://%s/%s: cannot copy to ais://%s/%s: %s", t->src, name, t->dst, dname,
                      strerror(-rc));
    } else {
        tgt_job_count(run->job, 1, size);
    }
    free(dname);
    return false;
}

/* ------------------------------------------------------------ the pool */
static void part_free(tcb_part *p)
{
    if (!p)
        return;
    tgt_tcb_free(p->t);
    free(p);
}

/* Drops one reference to p; called with run->mu held. Returns p when it is
 * finished (the caller frees it after unlocking), else NULL. */
static tcb_part *part_release(tcb_run *run, tcb_part *p)
{
    if (--p->refs > 0)
        return NULL;
    run->outstanding--;
    pthread_cond_signal(&run->changed);
    return p;
}

/* An item is finished (run->mu held): its window slot and its reference
 * to p go; returns p when p is finished (the caller frees it unlocked). */
static tcb_part *item_release(tcb_run *run, tcb_part *p)
{
    run->inflight--;
    /* below half a window a worker is woken per finished object, one at a
     * time: the first refills the window while it finds room, and waking
     * them all at once only had them queue for run->mu */
    if (run->room_waiters && run->inflight == 0)
        pthread_cond_broadcast(&run->room); /* drained: no waiter is left behind */
    else if (run->room_waiters && run->inflight <= run->window / 2)
        pthread_cond_signal(&run->room);
    return part_release(run, p);
}

/* Waits on c until woken or the monotonic deadline. */
static void wait_until(pthread_cond_t *c, pthread_mutex_t *mu, int64_t deadline_ns)
{
    struct timespec ts = {deadline_ns / 1000000000LL, deadline_ns % 1000000000LL};
    pthread_cond_timedwait(c, mu, &ts);
}

/* The abort flag is the job registry's, with no condition to wait on: waits
 * that an abort must cut short wake up this often to look at it. */
#define ABORT_POLL_NS 100000000LL

typedef struct feed_ctx {
    tcb_run *run;
    tcb_part *part;
} feed_ctx;

static bool enqueue(tcb_run *run, tcb_part *part, const char *name, const char *dname, bool listed)
{
    if (run->cluster && tgt_cmap_owner_elsewhere(part->t->src, name, NULL, 0))
        return !tgt_job_aborted(run->job); /* its owner's share */
    pthread_mutex_lock(&run->mu);
    while (run->n == TCB_QUEUE && !tgt_job_aborted(run->job))
        wait_until(&run->not_full, &run->mu, cmn_mono_ns() + ABORT_POLL_NS);
    bool go = !tgt_job_aborted(run->job);
    if (go) {
        run->q[(run->head + run->n) % TCB_QUEUE] = (qitem){cmn_xstrdup(name), dname, listed, part};
        run->n++;
        part->refs++;
        pthread_cond_signal(&run->not_empty);
    }
    pthread_mutex_unlock(&run->mu);
    return go;
}

static bool enqueue_selected(void *ctx, const char *name, bool listed)
{
    feed_ctx *f = ctx;
    return enqueue(f->run, f->part, name, NULL, listed);
}

/* Puts a part's names in the queue (blocking while it is full). */
static void feed(tcb_run *run, tcb_part *p)
{
    const tgt_sel *sel = &p->t->sel;
    if (sel->dsts) {
        for (int i = 0; i < sel->nnames; i++)
            if (!enqueue(run, p, sel->names[i], sel->dsts[i], true))
                return;
        return;
    }
    feed_ctx f = {run, p};
    tgt_sel_each(sel, p->t->src, enqueue_selected, &f);
}

/* A worker takes items while the window has room; an item whose transform
 * was started ends on another thread (transform_done), any other here. */
static void *worker_main(void *p)
{
    tcb_run *run = p;
    pthread_mutex_lock(&run->mu);
    for (;;) {
        if (run->n == 0 && run->closed)
            break;
        if (run->n == 0) {
            pthread_cond_wait(&run->not_empty, &run->mu);
            continue;
        }
        if (run->inflight >= run->window) { /* bounded: each object in flight has its deadline */
            run->room_waiters++;
            pthread_cond_wait(&run->room, &run->mu);
            run->room_waiters--;
            continue;
        }
        qitem it = run->q[run->head];
        run->head = (run->head + 1) % TCB_QUEUE;
        run->n--;
        run->inflight++;
        inflight *slot = run->h ? slot_take(run) : NULL;
        if (run->n == TCB_QUEUE / 2) /* a full queue's feeder refills half at a time: one wake, not one per item */
            pthread_cond_signal(&run->not_full);
        pthread_mutex_unlock(&run->mu);
        /* after an abort the queue only drains */
        bool started = !tgt_job_aborted(run->job) && do_one(run, &it, &slot);
        if (started) {
            pthread_mutex_lock(&run->mu);
            slot_give(run, slot); /* a spare one the object did not need */
            continue;
        }
        free(it.name);
        pthread_mutex_lock(&run->mu);
        slot_give(run, slot);
        tcb_part *done = item_release(run, it.part);
        if (done) {
            pthread_mutex_unlock(&run->mu);
            part_free(done);
            pthread_mutex_lock(&run->mu);
        }
    }
    pthread_mutex_unlock(&run->mu);
    return NULL;
}

static void run_put(tcb_run *run)
{
    if (atomic_fetch_sub(&run->refs, 1) != 1)
        return;
    while (run->pending) { /* only when the job never ran */
        tcb_part *p = run->pending;
        run->pending = p->next;
        part_free(p);
    }
    for (inflight *f; (f = slot_take(run)) != NULL;)
        free(f);
    if (run->h)
        etl_put(run->h);
    free(run->auth);
    tgt_batch_free(run->batch);
    pthread_mutex_destroy(&run->mu);
    pthread_cond_destroy(&run->not_full);
    pthread_cond_destroy(&run->not_empty);
    pthread_cond_destroy(&run->changed);
    pthread_cond_destroy(&run->room);
    free(run);
}

/* The job's free_arg: the job lets go of the run. */
void tgt_tcb_run_free(void *p)
{
    tcb_run *run = p;
    atomic_store(&run->released, true);
    run_put(run);
}

/* Publishes what the workers wrote; called with no work in flight. */
static void publish(tcb_run *run, tgt_job *job)
{
    /* whole outputs are published even after an abort: each is complete */
    int failed = tgt_batch_flush(run->batch);
    if (failed)
        tgt_job_error(job, "%d outputs could not be published (see the target's log)", failed);
}

/*
 * The job's thread feeds the parts to the workers one after the other, as
 * they come. When no part is left and every output is published it says so
 * (is_idle) and, for a demand job, waits TGT_JOB_LINGER_NS for more: a part added
 * meanwhile sets it working again. Deciding to end (ending) and adding a
 * part (tgt_tcb_start) both happen under run->mu, so no request is lost:
 * one that comes after the decision starts a new job.
 */
void tgt_tcb_job(tgt_job *job, void *arg)
{
    tcb_run *run = arg;
    run->job = job;
    pthread_t th[TGT_TCB_MAX_WORKERS];
    int nth = 0;
    for (; nth < run->nworkers; nth++)
        if (pthread_create(&th[nth], NULL, worker_main, run) != 0)
            break;
    bool journaled = false;
    pthread_mutex_lock(&run->mu);
    if (nth == 0) {
        tgt_job_error(job, "cannot start worker threads");
        run->ending = true; /* the parts already given are dropped below */
    }
    for (;;) {
        if (run->pending) {
            tcb_part *p = run->pending;
            if (!(run->pending = p->next))
                run->pending_tail = &run->pending;
            bool go = nth > 0 && !tgt_job_aborted(job);
            pthread_mutex_unlock(&run->mu);
            if (go && !journaled) {
                tgt_journal_add(job, run->kind, run->src, run->dst);
                journaled = true;
            }
            if (go)
                feed(run, p);
            pthread_mutex_lock(&run->mu);
            tcb_part *done = part_release(run, p);
            if (done) {
                pthread_mutex_unlock(&run->mu);
                part_free(done);
                pthread_mutex_lock(&run->mu);
            }
            continue;
        }
        if (run->outstanding > 0) { /* workers always drain the queue, aborted or not */
            pthread_cond_wait(&run->changed, &run->mu);
            continue;
        }
        pthread_mutex_unlock(&run->mu);
        publish(run, job);
        bool aborted = tgt_job_aborted(job);
        if (journaled && !aborted) { /* an aborted job keeps its journal entry */
            tgt_journal_remove(job);
            journaled = false;
        }
        pthread_mutex_lock(&run->mu);
        if (run->pending || run->outstanding > 0)
            continue; /* added while publishing */
        if (aborted || !run->demand || run->ending)
            break;
        tgt_job_set_idle(job, true); /* under mu: an addition sets it back before its reply */
        int64_t until = cmn_mono_ns() + TGT_JOB_LINGER_NS;
        while (!run->pending && !tgt_job_aborted(job)) {
            int64_t now = cmn_mono_ns();
            if (now >= until && run->coordinator) {
                /* the node asked ends its job only once every share is idle:
                 * more work (the mount's next batch) comes after that, and
                 * must find the job to go on with the same id */
                pthread_mutex_unlock(&run->mu);
                bool busy = tgt_cjob_busy(tgt_job_id(job), run->auth);
                pthread_mutex_lock(&run->mu);
                if (busy) {
                    until = cmn_mono_ns() + TGT_JOB_LINGER_NS;
                    continue;
                }
            }
            if (now >= until)
                break;
            wait_until(&run->changed, &run->mu, now + (until - now < ABORT_POLL_NS ? until - now : ABORT_POLL_NS));
        }
        if (!run->pending)
            break;
    }
    run->ending = true;
    run->closed = true;
    pthread_cond_broadcast(&run->not_empty);
    pthread_cond_broadcast(&run->room);
    pthread_mutex_unlock(&run->mu);
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    /* the last renames durable before the job says it ended (a demand
     * job's idle moments do not sync them: its next group or end does) */
    tgt_batch_sync(run->batch);
    if (run->demand) {
        pthread_mutex_lock(&runs_mu);
        for (tcb_run **pp = &runs; *pp; pp = &(*pp)->next)
            if (*pp == run) {
                *pp = run->next;
                break;
            }
        pthread_mutex_unlock(&runs_mu);
    }
}

static tcb_part *part_new(tgt_tcb *t)
{
    tcb_part *p = cmn_xcalloc(1, sizeof *p);
    p->t = t;
    p->refs = 1; /* the feed's */
    return p;
}

/* Adds t to run if it still takes work; called with runs_mu held. */
static bool add_to(tcb_run *run, tgt_tcb *t, char *id)
{
    pthread_mutex_lock(&run->mu);
    bool ok = !run->ending && !tgt_job_aborted(run->jobref);
    if (ok) {
        tcb_part *p = part_new(t);
        *run->pending_tail = p;
        run->pending_tail = &p->next;
        run->outstanding++;
        tgt_job_set_idle(run->jobref, false);
        pthread_cond_signal(&run->changed);
        memcpy(id, run->id, sizeof run->id);
    }
    pthread_mutex_unlock(&run->mu);
    return ok;
}

/* Adds t to a running demand job: a client's request to one of the same
 * kind, buckets, ETL and dry_run; a cluster job's share to the one of its
 * id. false when there is none that still takes work. Called with runs_mu held. */
static bool add_to_running(const char *kind, tgt_tcb *t, etl_chain *h, const char *share, char *id)
{
    for (tcb_run *run = runs; run; run = run->next) {
        bool same = share ? !strcmp(run->id, share)
                          : !strcmp(run->kind, kind) && !strcmp(run->src, t->src) && !strcmp(run->dst, t->dst) &&
                                etl_chain_same(run->h, h) && run->dry_run == t->dry_run;
        if (same && add_to(run, t, id))
            return true;
    }
    return false;
}

static tcb_run *run_new(const char *kind, tgt_tcb *t, etl_chain *h, bool demand)
{
    tcb_run *run = cmn_xcalloc(1, sizeof *run);
    run->kind = kind; /* a string literal */
    snprintf(run->src, sizeof run->src, "%s", t->src);
    snprintf(run->dst, sizeof run->dst, "%s", t->dst);
    run->dry_run = t->dry_run;
    run->demand = demand;
    run->nworkers = t->workers > 0 ? t->workers : 1;
    run->h = h;
    run->window = run->nworkers * (h && etl_chain_starts(h) ? TCB_WINDOW : 1);
    run->batch = tgt_batch_new(&tgt->store);
    pthread_mutex_init(&run->mu, NULL);
    pthread_cond_init(&run->not_empty, NULL);
    pthread_cond_init(&run->room, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wait_until takes cmn_mono_ns deadlines */
    pthread_cond_init(&run->changed, &ca);
    pthread_cond_init(&run->not_full, &ca);
    pthread_condattr_destroy(&ca);
    run->pending = part_new(t);
    run->pending_tail = &run->pending->next;
    run->outstanding = 1;
    atomic_init(&run->refs, demand ? 2 : 1);
    return run;
}

/* ------------------------------------------- for the starter (tcbstart.c) */

tcb_run *tgt_tcb_run_new(const char *kind, tgt_tcb *t, etl_chain *h, bool demand, bool cluster, bool coordinator,
                         const char *auth)
{
    tcb_run *run = run_new(kind, t, h, demand);
    run->cluster = cluster;
    run->coordinator = coordinator;
    run->auth = cluster && auth ? cmn_xasprintf("Authorization: %s", auth) : NULL;
    return run;
}

void tgt_tcb_run_put(tcb_run *run, bool job_never_ran)
{
    if (job_never_ran) /* the job's reference went with its thread */
        atomic_store(&run->refs, 1);
    run_put(run);
}

void tgt_tcb_runs_lock(void) { pthread_mutex_lock(&runs_mu); }

void tgt_tcb_runs_unlock(void) { pthread_mutex_unlock(&runs_mu); }

bool tgt_tcb_add_to_running(const char *kind, tgt_tcb *t, etl_chain *h, const char *share, char *id)
{
    return add_to_running(kind, t, h, share, id);
}

void tgt_tcb_run_list(tcb_run *run, tgt_job *job, const char *id)
{
    if (atomic_load(&run->released)) /* its thread could not start: nothing to add to */
        return;
    snprintf(run->id, sizeof run->id, "%s", id);
    run->jobref = job;
    run->next = runs;
    runs = run;
}

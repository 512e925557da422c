/*
 * loop.c - the FUSE request loop: leader and followers.
 *
 * libfuse's multi-threaded loop keeps every idle thread waiting in read() on
 * /dev/fuse, and the kernel hands each request to the thread that has waited
 * longest: with `cp`, one request at a time, every request wakes the other
 * thread while the one that just replied goes to sleep (two context switches
 * and a cross-CPU wake per request, 7.4 sleeps per copied file).
 *
 * Here one thread reads /dev/fuse (the leader) and runs the request it read
 * itself. It stays the leader as long as its requests do not wait: the next
 * request is often queued by the time it reads again, and then nobody sleeps.
 * Before a request waits (an HTTP call, a queued copy, an output being made
 * ahead), fs_loop_blocking hands the lead to an idle thread, started if none
 * is idle and fewer than max_threads run: blocking requests still run in
 * parallel, as before. A thread whose waiting request is done reads too (the
 * leader may be stalled: waiting for a CPU, or behind a lock), and whichever
 * of two readers next finishes a request without waiting steps back and
 * sleeps as a follower, so the loop returns to one reader. Threads never end
 * before the mount does (libfuse's loop starts and ends threads when idle ones
 * exceed a count).
 */
#include "fs/fs.h"

#include <fuse3/fuse_lowlevel.h>

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t follow; /* followers wait here for the lead */
    int readers;           /* threads that read (or run what they read without waiting) */
    int idle;              /* followers waiting */
    int n, max;            /* threads started, at most */
    pthread_t *tids;       /* [max] */
    struct fuse_buf *bufs; /* [max]: each thread's request buffer */
    sem_t finish;          /* posted when a thread sees the session end */
    int error;             /* a receive's error, or 0 */
    struct fuse_session *se;
} LP = {.mu = PTHREAD_MUTEX_INITIALIZER, .follow = PTHREAD_COND_INITIALIZER};

static __thread bool leading; /* this thread counts among the readers */
static __thread bool waited;  /* this thread's request handed the lead on */

static void *worker(void *arg);

/* (mu held) a thread more, with no signal of the process's: those go to main */
static void start_locked(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int i = LP.n;
    if (pthread_create(&LP.tids[i], NULL, worker, &LP.bufs[i]) == 0)
        LP.n++;
    else
        cmn_warn("etlfs: cannot start a FUSE thread (%d run)", LP.n);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void fs_loop_blocking(void)
{
    if (!leading)
        return; /* not a FUSE thread, or it handed the lead on already */
    leading = false;
    waited = true;
    pthread_mutex_lock(&LP.mu);
    bool none = __atomic_sub_fetch(&LP.readers, 1, __ATOMIC_RELAXED) == 0;
    if (none && LP.idle > 0)
        pthread_cond_signal(&LP.follow);
    else if (none && LP.n < LP.max)
        start_locked();
    pthread_mutex_unlock(&LP.mu);
}

static void *worker(void *arg)
{
    struct fuse_buf *buf = arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL); /* only while waiting in read() */
    pthread_mutex_lock(&LP.mu);
    while (!fuse_session_exited(LP.se)) {
        if (LP.readers > 0 && !waited) {
            LP.idle++;
            pthread_cond_wait(&LP.follow, &LP.mu);
            LP.idle--;
            continue;
        }
        waited = false;
        __atomic_add_fetch(&LP.readers, 1, __ATOMIC_RELAXED); /* written under mu, read without */
        leading = true;
        pthread_mutex_unlock(&LP.mu);
        int rc = 0;
        while (leading && !fuse_session_exited(LP.se)) {
            pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
            rc = fuse_session_receive_buf(LP.se, buf);
            pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
            if (rc == -EINTR || rc == -EAGAIN)
                continue;
            if (rc <= 0)
                break; /* 0: unmounted */
            fuse_session_process_buf(LP.se, buf);
            if (leading && __atomic_load_n(&LP.readers, __ATOMIC_RELAXED) > 1)
                break; /* done without waiting, and another reads too: one reader is enough */
        }
        pthread_mutex_lock(&LP.mu);
        if (leading) {
            __atomic_sub_fetch(&LP.readers, 1, __ATOMIC_RELAXED);
            leading = false;
        }
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
            LP.error = rc;
            fuse_session_exit(LP.se);
        }
    }
    pthread_cond_broadcast(&LP.follow);
    pthread_mutex_unlock(&LP.mu);
    sem_post(&LP.finish);
    return NULL;
}

int fs_loop(struct fuse *f, int max_threads)
{
    LP.se = fuse_get_session(f);
    LP.max = max_threads > 0 ? max_threads : 1;
    LP.tids = cmn_xcalloc((size_t)LP.max, sizeof *LP.tids);
    LP.bufs = cmn_xcalloc((size_t)LP.max, sizeof *LP.bufs);
    sem_init(&LP.finish, 0, 0);
    pthread_mutex_lock(&LP.mu);
    start_locked();
    int n = LP.n;
    pthread_mutex_unlock(&LP.mu);
    /* a signal (fuse_set_signal_handlers) ends the session and this wait */
    while (n && !fuse_session_exited(LP.se))
        sem_wait(&LP.finish);
    pthread_mutex_lock(&LP.mu);
    pthread_cond_broadcast(&LP.follow);
    n = LP.n;
    pthread_mutex_unlock(&LP.mu);
    for (int i = 0; i < n; i++)
        pthread_cancel(LP.tids[i]); /* the reader, if it waits in read(); the others end by themselves */
    for (int i = 0; i < n; i++) {
        pthread_join(LP.tids[i], NULL);
        free(LP.bufs[i].mem);
    }
    sem_destroy(&LP.finish);
    free(LP.tids);
    free(LP.bufs);
    return n && !LP.error ? 0 : -1;
}

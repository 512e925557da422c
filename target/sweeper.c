/*
 * sweeper.c - drops appends never flushed and multipart uploads never
 * completed once idle for cfg.upload_idle_ns, so a client that went away
 * does not keep work files (and, for appends, open files) for ever. One
 * thread, woken a few times per timeout; stopping drops what is left.
 */
#include "target/target.h"

#include <signal.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static bool running, stopping;
static pthread_t thread;

static void *sweeper(void *arg)
{
    (void)arg;
    /* a quarter of the timeout between sweeps: a work file outlives it by at most that */
    int64_t period = tgt->cfg.upload_idle_ns / 4;
    if (period < 100000000LL)
        period = 100000000LL;
    if (period > 60000000000LL)
        period = 60000000000LL;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t ns = (int64_t)until.tv_nsec + period;
        until.tv_sec += (time_t)(ns / 1000000000LL);
        until.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&cv, &mu, &until);
        if (stopping)
            break;
        pthread_mutex_unlock(&mu);
        int64_t before = cmn_mono_ns() - tgt->cfg.upload_idle_ns;
        tgt_append_sweep(before);
        tgt_mpt_sweep(before);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

void tgt_sweeper_start(void)
{
    cmn_cond_init_mono(&cv);
    stopping = false;
    /* the thread inherits a mask without SIGTERM/SIGINT: they stay the main thread's */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    running = pthread_create(&thread, NULL, sweeper, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!running)
        cmn_warn("cannot start the sweeper of idle appends and multipart uploads: they stay until restart");
}

void tgt_sweeper_stop(void)
{
    if (running) {
        pthread_mutex_lock(&mu);
        stopping = true;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
        pthread_join(thread, NULL);
        running = false;
        pthread_cond_destroy(&cv);
    }
    tgt_append_sweep(INT64_MAX);
    tgt_mpt_sweep(INT64_MAX);
}

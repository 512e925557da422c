/*
 * state.c - the daemon's one state struct (fs_st, described in fs.h), with the
 * static initializers of its locks. Unit tests include it beside the file
 * they test.
 */
#include "fs/fs.h"

fs_state fs_st = {
    .etls.mu = PTHREAD_MUTEX_INITIALIZER,
    .cache.mu = PTHREAD_MUTEX_INITIALIZER,
    .batch.mu = PTHREAD_MUTEX_INITIALIZER,
    .batch.landed = PTHREAD_COND_INITIALIZER,
    .stats.job_mu = PTHREAD_MUTEX_INITIALIZER,
    .writers.mu = PTHREAD_MUTEX_INITIALIZER,
    .prefetch.mu = PTHREAD_MUTEX_INITIALIZER,
    .notify.mu = PTHREAD_MUTEX_INITIALIZER,
    .known.mu = PTHREAD_MUTEX_INITIALIZER,
    .notify.wake = PTHREAD_COND_INITIALIZER,
    .prefetch.work = PTHREAD_COND_INITIALIZER,
    .prefetch.done = PTHREAD_COND_INITIALIZER,
};

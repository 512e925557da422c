/*
 * test_metrics.c - the node's counters (target/metrics.c): each thread counts
 * into a block of its own, so a read must sum every block, keep what threads
 * that ended counted, and never see a counter go back while others count.
 */
#include "target/target.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "tests/unit/check.h"

enum { THREADS = 6, ADDS = 20000 };

static atomic_int running;

static void *counter(void *arg)
{
    int64_t v = (int64_t)(intptr_t)arg;
    for (int i = 0; i < ADDS; i++) {
        tgt_metric_add(TGT_M_GET_N, 1);
        tgt_metric_add(TGT_M_GET_SIZE, v);
    }
    atomic_fetch_sub(&running, 1);
    return NULL;
}

/* A wave of threads that count and end; while they run, a reader's sums
 * only grow. */
static void wave(int64_t base)
{
    pthread_t th[THREADS];
    atomic_store(&running, THREADS);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, counter, (void *)(intptr_t)(base + i));
    int64_t last = tgt_metric_get(TGT_M_GET_N), reads = 0;
    while (atomic_load(&running) > 0 && reads < 1000000) {
        int64_t now = tgt_metric_get(TGT_M_GET_N);
        CHECK(now >= last, "a sum went back: %lld after %lld", (long long)now, (long long)last);
        last = now;
        reads++;
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
}

int main(void)
{
    tgt_metric_add(TGT_M_PUT_N, 5); /* this thread's block */
    wave(1);
    int64_t size = 0;
    for (int i = 0; i < THREADS; i++)
        size += (int64_t)ADDS * (1 + i);
    CHECK(tgt_metric_get(TGT_M_GET_N) == (int64_t)THREADS * ADDS, "%lld", (long long)tgt_metric_get(TGT_M_GET_N));
    CHECK(tgt_metric_get(TGT_M_GET_SIZE) == size, "%lld != %lld", (long long)tgt_metric_get(TGT_M_GET_SIZE),
          (long long)size);
    /* the second wave takes over the first one's blocks, counts and all */
    wave(100);
    for (int i = 0; i < THREADS; i++)
        size += (int64_t)ADDS * (100 + i);
    CHECK(tgt_metric_get(TGT_M_GET_N) == 2LL * THREADS * ADDS, "%lld", (long long)tgt_metric_get(TGT_M_GET_N));
    CHECK(tgt_metric_get(TGT_M_GET_SIZE) == size, "%lld != %lld", (long long)tgt_metric_get(TGT_M_GET_SIZE),
          (long long)size);
    CHECK(tgt_metric_get(TGT_M_PUT_N) == 5, "%lld", (long long)tgt_metric_get(TGT_M_PUT_N));
    CHECK(tgt_metric_get(TGT_M_DEL_N) == 0, "%lld", (long long)tgt_metric_get(TGT_M_DEL_N));
    return CHECK_RESULT();
}

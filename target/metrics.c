/*
 * metrics.c - the node's counters, and GET /metrics: Prometheus' text format
 * with AIStore's metric names (its stats package: "get.n" is exported as
 * ais_target_get_count, "get.size" as ais_target_get_bytes, "get.ns.total" as
 * ais_target_get_ns_total, errors as ais_target_err_get_count), labelled with
 * the node's id. Each thread counts into a block of its own (a request
 * bumps four counters: on one shared array the two event threads took its
 * cache line from each other every time); a read sums the blocks. A block
 * outlives its thread: when the thread ends, the next thread to count takes
 * it over, counts and all. Relaxed atomics: a counter orders nothing else.
 *
 * Requests are counted once, when they complete (server.c calls
 * tgt_metrics_request): by method and resource, with the status the reply
 * carried and the bytes the handler said it moved (r->bytes).
 */
#include "target/target.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

typedef struct block {
    char pad[64]; /* no cache line shared with the block allocated before it */
    int64_t c[TGT_M__N]; /* written by its owner only */
    struct block *next;  /* every block, never removed */
    struct block *spare; /* blocks whose threads ended */
} block;

static pthread_mutex_t blocks_mu = PTHREAD_MUTEX_INITIALIZER;
static block *blocks, *spares;
static pthread_key_t owner_key; /* its destructor hands a thread's block on */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local block *mine;

static void block_retire(void *p)
{
    block *b = p;
    mine = NULL; /* a count made later in this thread's exit takes a block again */
    pthread_mutex_lock(&blocks_mu);
    b->spare = spares;
    spares = b;
    pthread_mutex_unlock(&blocks_mu);
}

static void key_make(void) { pthread_key_create(&owner_key, block_retire); }

static block *block_take(void)
{
    pthread_once(&key_once, key_make);
    pthread_mutex_lock(&blocks_mu);
    block *b = spares;
    if (b) {
        spares = b->spare;
    } else {
        b = cmn_xcalloc(1, sizeof *b);
        b->next = blocks;
        blocks = b;
    }
    pthread_mutex_unlock(&blocks_mu);
    pthread_setspecific(owner_key, b);
    return b;
}

static const struct {
    const char *name; /* after "ais_target_" */
    const char *type;
    const char *help;
} meta[TGT_M__N] = {
    [TGT_M_GET_N] = {"get_count", "counter", "GET(object) requests"},
    [TGT_M_GET_SIZE] = {"get_bytes", "counter", "bytes of objects read by GET"},
    [TGT_M_GET_NS] = {"get_ns_total", "counter", "total time of GET(object) requests, ns"},
    [TGT_M_PUT_N] = {"put_count", "counter", "PUT(object) requests"},
    [TGT_M_PUT_SIZE] = {"put_bytes", "counter", "bytes of objects stored by PUT"},
    [TGT_M_PUT_NS] = {"put_ns_total", "counter", "total time of PUT(object) requests, ns"},
    [TGT_M_HEAD_N] = {"head_count", "counter", "HEAD(object) requests"},
    [TGT_M_DEL_N] = {"del_count", "counter", "DELETE(object) requests"},
    [TGT_M_LST_N] = {"lst_count", "counter", "list-objects requests"},
    [TGT_M_ERR_GET_N] = {"err_get_count", "counter", "GET(object) requests that failed"},
    [TGT_M_ERR_PUT_N] = {"err_put_count", "counter", "PUT(object) requests that failed"},
    [TGT_M_ERR_HEAD_N] = {"err_head_count", "counter", "HEAD(object) requests that failed"},
    [TGT_M_ERR_DEL_N] = {"err_del_count", "counter", "DELETE(object) requests that failed"},
    [TGT_M_ERR_LST_N] = {"err_lst_count", "counter", "list-objects requests that failed"},
    [TGT_M_ERR_HTTP_N] = {"err_http_count", "counter", "requests answered with a 4xx or 5xx"},
    [TGT_M_HTTP_N] = {"http_count", "counter", "requests of any kind"},
    [TGT_M_ETL_INLINE_N] = {"etl_inline_count", "counter", "objects transformed inline"},
    [TGT_M_ETL_INLINE_SIZE] = {"etl_inline_bytes", "counter", "bytes of inline transforms' outputs"},
    [TGT_M_ETL_INLINE_NS] = {"etl_inline_ns_total", "counter", "total time of inline transforms, ns"},
    [TGT_M_ETL_INLINE_ERR_N] = {"err_etl_inline_count", "counter", "inline transforms that failed"},
    [TGT_M_ETL_OFFLINE_N] = {"etl_offline_count", "counter", "objects transformed by jobs"},
    [TGT_M_ETL_OFFLINE_SIZE] = {"etl_offline_bytes", "counter", "bytes of offline transforms' outputs"},
    [TGT_M_ETL_OFFLINE_NS] = {"etl_offline_ns_total", "counter", "total time of offline transforms, ns"},
    [TGT_M_ETL_OFFLINE_ERR_N] = {"err_etl_offline_count", "counter", "offline transforms that failed"},
    [TGT_M_JOBS_N] = {"jobs_started_count", "counter", "jobs (xactions) started"},
};

void tgt_metric_add(enum tgt_metric m, int64_t v)
{
    block *b = mine ? mine : (mine = block_take());
    /* a plain add, stored atomically for the readers: only this thread writes it */
    __atomic_store_n(&b->c[m], b->c[m] + v, __ATOMIC_RELAXED);
}

int64_t tgt_metric_get(enum tgt_metric m)
{
    int64_t sum = 0;
    pthread_mutex_lock(&blocks_mu);
    for (const block *b = blocks; b; b = b->next)
        sum += __atomic_load_n(&b->c[m], __ATOMIC_RELAXED);
    pthread_mutex_unlock(&blocks_mu);
    return sum;
}

/* A request of one kind: its count or its error count; size and time when it succeeded. */
static void count(bool failed, enum tgt_metric n, enum tgt_metric err, int size, int ns, int64_t bytes, int64_t t)
{
    tgt_metric_add(failed ? err : n, 1);
    if (failed)
        return;
    if (size >= 0)
        tgt_metric_add(size, bytes);
    if (ns >= 0)
        tgt_metric_add(ns, t);
}

void tgt_metrics_request(tgt_req *r)
{
    tgt_metric_add(TGT_M_HTTP_N, 1);
    bool failed = r->status >= 400;
    if (failed)
        tgt_metric_add(TGT_M_ERR_HTTP_N, 1);
    if (r->from_etl || r->nitems < 2 || strcmp(r->items[0], "v1"))
        return;
    int64_t ns = cmn_mono_ns() - r->started_ns;
    bool object = !strcmp(r->items[1], "objects") && r->nitems == 4;
    bool listing = !strcmp(r->items[1], "buckets") && r->nitems == 3 && !strcmp(r->method, "GET");
    const char *m = r->method;
    if (object && !strcmp(m, "GET") && tgt_query(r, "etl_name")) /* a streamed transform adds its bytes as they go */
        count(failed, TGT_M_ETL_INLINE_N, TGT_M_ETL_INLINE_ERR_N, TGT_M_ETL_INLINE_SIZE, TGT_M_ETL_INLINE_NS, r->bytes, ns);
    else if (object && !strcmp(m, "GET"))
        count(failed, TGT_M_GET_N, TGT_M_ERR_GET_N, TGT_M_GET_SIZE, TGT_M_GET_NS, r->bytes, ns);
    else if (object && !strcmp(m, "PUT") && !tgt_query(r, "object_to"))
        count(failed, TGT_M_PUT_N, TGT_M_ERR_PUT_N, TGT_M_PUT_SIZE, TGT_M_PUT_NS, r->bytes, ns);
    else if (object && !strcmp(m, "HEAD"))
        count(failed, TGT_M_HEAD_N, TGT_M_ERR_HEAD_N, -1, -1, 0, 0);
    else if (object && !strcmp(m, "DELETE"))
        count(failed, TGT_M_DEL_N, TGT_M_ERR_DEL_N, -1, -1, 0, 0);
    else if (listing)
        count(failed, TGT_M_LST_N, TGT_M_ERR_LST_N, -1, -1, 0, 0);
}

/* Each mountpath's capacity, as gauges labelled with the path. */
static void disk_gauge(cmn_buf *b, const char *node, const char *name, const char *help, bool used)
{
    cmn_buf_printf(b, "# HELP ais_target_%s %s\n# TYPE ais_target_%s gauge\n", name, help, name);
    for (int i = 0; i < tgt->store.nmpaths; i++) {
        struct statvfs vs;
        if (statvfs(tgt->store.mpaths[i], &vs) != 0)
            continue;
        unsigned long long blocks = used ? vs.f_blocks - vs.f_bfree : vs.f_blocks;
        cmn_buf_printf(b, "ais_target_%s{node_id=\"%s\",mountpath=\"%s\"} %llu\n", name, node, tgt->store.mpaths[i],
                       blocks * vs.f_frsize);
    }
}

int tgt_h_metrics_get(tgt_req *r)
{
    cmn_buf b;
    cmn_buf_init(&b);
    const char *node = TGT_NODE_ID;
    for (int i = 0; i < TGT_M__N; i++)
        cmn_buf_printf(&b, "# HELP ais_target_%s %s\n# TYPE ais_target_%s %s\nais_target_%s{node_id=\"%s\"} %lld\n",
                       meta[i].name, meta[i].help, meta[i].name, meta[i].type, meta[i].name, node,
                       (long long)tgt_metric_get(i));
    cmn_buf_printf(&b, "# HELP ais_target_jobs_running jobs (xactions) running now\n"
                       "# TYPE ais_target_jobs_running gauge\nais_target_jobs_running{node_id=\"%s\"} %d\n",
                   node, tgt_jobs_running_count());
    disk_gauge(&b, node, "disk_used_bytes", "bytes used on the mountpath's filesystem", true);
    disk_gauge(&b, node, "disk_total_bytes", "size of the mountpath's filesystem", false);
    int ret = tgt_reply_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    cmn_buf_free(&b);
    return ret;
}

/*
 * routes.c - the whole REST API in one table, read top to bottom: method,
 * path pattern, the action (ActMsg "action") or ?what= it selects on, and
 * the handler that does that one thing, and what the caller's token must
 * allow (acc, and dst for the bucket a copy writes into; auth.c).
 *
 * The rule every handler keeps: it replies exactly once (tgt_reply_*) and
 * returns what the reply returned (MHD_YES/MHD_NO); checks it cannot pass
 * (bucket missing, bad name) are replies too.
 *
 * Matching: rows are tried in order; a path segment in capitals (B, O, N, T)
 * or "*" matches any item. A row with sel NULL matches any action / what and
 * comes last for its method and path: it answers an unknown one as AIStore
 * does. A known path with no row for the method answers 405 in plain text.
 *
 * Where a row's handler runs (server.c): on a worker thread unless its
 * handler is in the short list of those that never wait (after the table).
 * A handler that may wait on an ETL, another server, etcd, a job or a long
 * walk stays on the workers: an event thread serves many connections, and
 * one that waits stalls them all.
 */
#include "target/target.h"

#include <ctype.h>
#include <microhttpd.h>
#include <pthread.h>
#include <string.h>

enum route_on { ON_PATH, ON_ACTION, ON_WHAT, ON_QUERY /* sel: a query parameter that is present */ };

/* the ?what= of a request that has none (absent is not the same as "") */
static const char WHAT_ABSENT[] = "";

/* Short names for the acc column (what the caller's token must allow;
 * auth.c): AIStore's access bits, checked on the path's bucket or the cluster. */
#define PUBLIC TGT_ACC_PUBLIC
#define TOKEN 0ull /* any valid token: the row answers 400 or 405 anyway */
#define ADMIN CMN_ACE_ADMIN
#define SHOW CMN_ACE_SHOW_CLUSTER
#define LIST CMN_ACE_OBJ_LIST
#define GET CMN_ACE_GET
#define READ (CMN_ACE_GET | CMN_ACE_OBJ_LIST)
#define DST_NONE TGT_DST_NONE
#define BCK_TO TGT_DST_BCK_TO
#define BCK_TO_OR_NAME TGT_DST_BCK_TO_OR_NAME
#define TOBCK TGT_DST_TOBCK
#define OBJECT_TO TGT_DST_OBJECT_TO

static const struct route {
    const char *method;
    const char *path;
    enum route_on on;
    const char *sel; /* the action or what; NULL = any */
    tgt_handler handler;
    uint64_t acc;     /* what the token must allow (with --auth-secret) */
    enum tgt_dst dst; /* where a copy writes: that bucket needs PUT */
} routes[] = {
    /* cluster: one node that is proxy and target */
    {"GET", "/v1/health", ON_PATH, NULL, tgt_h_health_get, PUBLIC, DST_NONE},
    {"GET", "/metrics", ON_PATH, NULL, tgt_h_metrics_get, SHOW, DST_NONE}, /* Prometheus */
    {"GET", "/v1/daemon", ON_WHAT, WHAT_ABSENT, tgt_h_smap_get, SHOW, DST_NONE},
    {"GET", "/v1/daemon", ON_WHAT, "smap", tgt_h_smap_get, SHOW, DST_NONE},
    {"GET", "/v1/daemon", ON_WHAT, "sysinfo", tgt_h_sysinfo_get, SHOW, DST_NONE}, /* capacity: the mount refuses what cannot fit */
    {"GET", "/v1/daemon", ON_WHAT, NULL, tgt_h_daemon_what_invalid, TOKEN, DST_NONE},
    {"GET", "/v1/cluster", ON_WHAT, "smap", tgt_h_smap_get, SHOW, DST_NONE},
    {"GET", "/v1/cluster", ON_WHAT, "status", tgt_h_job_status, SHOW, DST_NONE},
    {"GET", "/v1/cluster", ON_WHAT, "status_all", tgt_h_jobs_status_all, SHOW, DST_NONE},
    {"GET", "/v1/cluster", ON_WHAT, "running_all", tgt_h_jobs_running, SHOW, DST_NONE},
    {"GET", "/v1/cluster", ON_WHAT, "qryxstats", tgt_h_jobs_snaps, SHOW, DST_NONE},
    {"GET", "/v1/cluster", ON_WHAT, NULL, tgt_h_what_invalid, TOKEN, DST_NONE},
    {"PUT", "/v1/cluster", ON_ACTION, "start", tgt_h_job_start, ADMIN, DST_NONE},
    {"PUT", "/v1/cluster", ON_ACTION, "stop", tgt_h_job_stop, ADMIN, DST_NONE},
    {"PUT", "/v1/cluster", ON_ACTION, "start-maintenance", tgt_h_cluster_node, ADMIN, DST_NONE},
    {"PUT", "/v1/cluster", ON_ACTION, "stop-maintenance", tgt_h_cluster_node, ADMIN, DST_NONE},
    {"PUT", "/v1/cluster", ON_ACTION, "decommission-node", tgt_h_cluster_node, ADMIN, DST_NONE},
    {"PUT", "/v1/cluster", ON_ACTION, "shutdown-node", tgt_h_cluster_node, ADMIN, DST_NONE},
    {"PUT", "/v1/cluster", ON_ACTION, NULL, tgt_h_action_invalid, ADMIN, DST_NONE},

    /* buckets */
    {"GET", "/v1/buckets", ON_ACTION, "", tgt_h_buckets_list, CMN_ACE_LIST_BUCKETS, DST_NONE},
    {"GET", "/v1/buckets", ON_ACTION, "list", tgt_h_buckets_list, CMN_ACE_LIST_BUCKETS, DST_NONE},
    {"GET", "/v1/buckets", ON_ACTION, NULL, tgt_h_action_invalid, TOKEN, DST_NONE},
    {"GET", "/v1/buckets/B", ON_ACTION, "", tgt_h_objects_list, LIST, DST_NONE},
    {"GET", "/v1/buckets/B", ON_ACTION, "list", tgt_h_objects_list, LIST, DST_NONE},
    {"GET", "/v1/buckets/B", ON_ACTION, "summary-bck", tgt_h_bucket_summary, CMN_ACE_BCK_HEAD, DST_NONE},
    {"GET", "/v1/buckets/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid, TOKEN, DST_NONE},
    {"HEAD", "/v1/buckets/B", ON_PATH, NULL, tgt_h_bucket_head, CMN_ACE_BCK_HEAD, DST_NONE}, /* props; with ?bsumm_remote the summary */
    {"HEAD", "/v1/buckets/B/O", ON_PATH, NULL, tgt_h_bucket_head, CMN_ACE_BCK_HEAD, DST_NONE}, /* 5.0: the summary of prefix O */
    /* a target's share of a cluster job another target started (cluster_jobs.c) */
    {"POST", "/v1/buckets/B", ON_QUERY, TGT_Q_JOB_SHARE, tgt_h_job_share, READ, TOBCK},
    {"POST", "/v1/buckets/B", ON_ACTION, "create-bck", tgt_h_bucket_create, TGT_ACC_CREATE_BUCKET, DST_NONE},
    {"POST", "/v1/buckets/B", ON_ACTION, "copy-bck", tgt_h_bucket_copy, READ, BCK_TO_OR_NAME},
    {"POST", "/v1/buckets/B", ON_ACTION, "etl-bck", tgt_h_bucket_transform, READ, BCK_TO_OR_NAME},
    {"POST", "/v1/buckets/B", ON_ACTION, "move-bck", tgt_h_bucket_move, CMN_ACE_MOVE_BUCKET, DST_NONE},
    {"POST", "/v1/buckets/B", ON_ACTION, "copy-listrange", tgt_h_objects_copy, READ, TOBCK},
    {"POST", "/v1/buckets/B", ON_ACTION, "etl-listrange", tgt_h_objects_transform, READ, TOBCK},
    {"POST", "/v1/buckets/B", ON_ACTION, "prefetch-listrange", tgt_h_objects_evict, GET, DST_NONE},
    {"POST", "/v1/buckets/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid, TOKEN, DST_NONE},
    /* a target's share of a cluster's delete-listrange (cluster_jobs.c) */
    {"DELETE", "/v1/buckets/B", ON_QUERY, TGT_Q_JOB_SHARE, tgt_h_job_share, CMN_ACE_OBJ_DELETE, DST_NONE},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "", tgt_h_bucket_destroy, TGT_ACC_DESTROY_BUCKET, DST_NONE},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "destroy-bck", tgt_h_bucket_destroy, TGT_ACC_DESTROY_BUCKET, DST_NONE},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "delete-listrange", tgt_h_objects_delete, CMN_ACE_OBJ_DELETE, DST_NONE},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "evict-listrange", tgt_h_objects_evict, CMN_ACE_OBJ_DELETE, DST_NONE},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "evict-remote-bck", tgt_h_bucket_evict, TGT_ACC_DESTROY_BUCKET, DST_NONE},
    {"DELETE", "/v1/buckets/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid, TOKEN, DST_NONE},
    {"PUT", "/v1/buckets/B", ON_QUERY, TGT_Q_JOB_SHARE, tgt_h_job_share, GET, TOBCK}, /* archive's share */
    {"PUT", "/v1/buckets/B", ON_ACTION, "archive", tgt_h_bucket_archive, GET, TOBCK},
    {"PUT", "/v1/buckets/B", ON_ACTION, "set-bprops", tgt_h_bucket_props_set, CMN_ACE_PATCH, DST_NONE},
    {"PUT", "/v1/buckets/B", ON_ACTION, "reset-bprops", tgt_h_bucket_props_set, CMN_ACE_PATCH, DST_NONE},
    {"PUT", "/v1/buckets/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid, TOKEN, DST_NONE},

    /* objects (a PUT is routed on its first call and streamed: server.c) */
    {"GET", "/v1/objects/B/O", ON_PATH, NULL, tgt_h_object_get, GET, DST_NONE}, /* with ?etl_name= transformed */
    {"HEAD", "/v1/objects/B/O", ON_PATH, NULL, tgt_h_object_head, CMN_ACE_OBJ_HEAD, DST_NONE},
    {"PUT", "/v1/objects/B/O", ON_QUERY, "object_to", tgt_h_object_copy_to, GET, OBJECT_TO}, /* 5.0: copy or transform, not streamed */
    {"PUT", "/v1/objects/B/O", ON_QUERY, "uploadId", tgt_h_mpt_part_put, CMN_ACE_PUT, DST_NONE}, /* 5.0: a part (&partNumber=) */
    {"PUT", "/v1/objects/B/O", ON_QUERY, "append_type", tgt_h_object_append, CMN_ACE_APPEND, DST_NONE}, /* append, flush */
    {"PUT", "/v1/objects/B/O", ON_PATH, NULL, tgt_h_object_put, CMN_ACE_PUT, DST_NONE},
    {"DELETE", "/v1/objects/B/O", ON_ACTION, "mpt-abort", tgt_h_mpt_abort, CMN_ACC_RW, DST_NONE}, /* ?uploadId= */
    {"DELETE", "/v1/objects/B/O", ON_PATH, NULL, tgt_h_object_delete, CMN_ACE_OBJ_DELETE, DST_NONE},
    {"PATCH", "/v1/objects/B/O", ON_PATH, NULL, tgt_h_object_patch, CMN_ACE_OBJ_UPDATE, DST_NONE}, /* custom metadata */
    {"POST", "/v1/objects/B/O", ON_ACTION, "rename-obj", tgt_h_object_rename, CMN_ACE_OBJ_MOVE, DST_NONE},
    {"POST", "/v1/objects/B/O", ON_ACTION, "copy-obj", tgt_h_object_copy, GET, BCK_TO},
    {"POST", "/v1/objects/B/O", ON_ACTION, "mpt-upload", tgt_h_mpt_create, CMN_ACC_RW, DST_NONE}, /* 5.0 multipart upload */
    {"POST", "/v1/objects/B/O", ON_ACTION, "mpt-complete", tgt_h_mpt_complete, CMN_ACC_RW, DST_NONE}, /* ?uploadId= */
    {"POST", "/v1/objects/B/O", ON_ACTION, NULL, tgt_h_object_action_invalid, TOKEN, DST_NONE},
    {"POST", "/v1/objects/B", ON_ACTION, "promote", tgt_h_objects_promote, TGT_ACC_PROMOTE, DST_NONE},
    {"POST", "/v1/objects/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid, TOKEN, DST_NONE},

    /* ETL callbacks: an ETL reads its input here (the ETL listener's only rows) */
    {"GET", "/v1/etl/_object/SECRET/O", ON_PATH, NULL, tgt_h_etl_object_get, TGT_ACC_ETL, DST_NONE},
    {"HEAD", "/v1/etl/_object/SECRET/O", ON_PATH, NULL, tgt_h_etl_object_head, TGT_ACC_ETL, DST_NONE},

    /* ETLs: all of /v1/etl is for admins (as AIStore's gateway) */
    {"PUT", "/v1/etl", ON_PATH, NULL, tgt_h_etl_init, ADMIN, DST_NONE},
    {"GET", "/v1/etl", ON_PATH, NULL, tgt_h_etl_list, ADMIN, DST_NONE},
    {"GET", "/v1/etl/N", ON_PATH, NULL, tgt_h_etl_show, ADMIN, DST_NONE},
    {"GET", "/v1/etl/N/details", ON_PATH, NULL, tgt_h_etl_details, ADMIN, DST_NONE}, /* AIStore 5.0 */
    {"GET", "/v1/etl/N/logs", ON_PATH, NULL, tgt_h_etl_logs, ADMIN, DST_NONE},
    {"GET", "/v1/etl/N/logs/T", ON_PATH, NULL, tgt_h_etl_logs, ADMIN, DST_NONE},
    {"GET", "/v1/etl/N/health", ON_PATH, NULL, tgt_h_etl_health, ADMIN, DST_NONE},
    {"GET", "/v1/etl/N/metrics", ON_PATH, NULL, tgt_h_etl_metrics, ADMIN, DST_NONE},
    {"POST", "/v1/etl/N/start", ON_PATH, NULL, tgt_h_etl_start, ADMIN, DST_NONE},
    {"POST", "/v1/etl/N/stop", ON_PATH, NULL, tgt_h_etl_stop, ADMIN, DST_NONE},
    {"DELETE", "/v1/etl/N/stop", ON_PATH, NULL, tgt_h_etl_stop, ADMIN, DST_NONE}, /* as the seed's table writes it */
    {"DELETE", "/v1/etl/N", ON_PATH, NULL, tgt_h_etl_delete, ADMIN, DST_NONE},
    {"GET", "/v1/etl/N/*", ON_PATH, NULL, tgt_h_etl_invalid, ADMIN, DST_NONE},
    {"GET", "/v1/etl/N/*/*", ON_PATH, NULL, tgt_h_etl_invalid, ADMIN, DST_NONE},
    {"HEAD", "/v1/etl/N/*/*", ON_PATH, NULL, tgt_h_etl_invalid, ADMIN, DST_NONE},
    {"POST", "/v1/etl/N/*", ON_PATH, NULL, tgt_h_etl_invalid, ADMIN, DST_NONE},
    {"DELETE", "/v1/etl/N/*", ON_PATH, NULL, tgt_h_etl_invalid, ADMIN, DST_NONE},
};

/* The answers to an action or what no row names. */
int tgt_h_action_invalid(tgt_req *r) { return tgt_reply_err(r, 400, "invalid action \"%s\"", tgt_msg_action(r)); }

int tgt_h_what_invalid(tgt_req *r)
{
    const char *what = tgt_query(r, "what");
    return tgt_reply_err(r, 400, "invalid what=\"%s\"", what ? what : "");
}

/* The end of a streamed PUT (server.c started it on the first call, after
 * this row's check). */
int tgt_h_object_put(tgt_req *r)
{
    if (r->streaming)
        return tgt_h_object_put_done(r);
    return tgt_reply_err(r, 500, "PUT %s: the body was not streamed", r->url);
}

static const char *const known_methods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"};

static bool is_param(const char *seg, size_t n)
{
    if (n == 1 && *seg == '*')
        return true;
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)seg[i]))
            return false;
    return n > 0;
}

/* The rows' patterns split once (every request is matched against many):
 * their segments, and which of them match any item. */
#define NROUTES (sizeof routes / sizeof routes[0])
#define MAX_SEGS 8 /* as many as a request's items (tgt_req) */
static struct pattern {
    int n;
    struct {
        const char *s;
        size_t len;
        bool param;
    } seg[MAX_SEGS];
} patterns[NROUTES];
static pthread_once_t patterns_once = PTHREAD_ONCE_INIT;

/* The rows of each number of segments, in the table's order (first, then
 * next; -1 ends): a request is tried only against rows as long as its path. */
static int len_first[MAX_SEGS + 1], len_next[NROUTES];

static void split_patterns(void)
{
    for (int n = 0; n <= MAX_SEGS; n++)
        len_first[n] = -1;
    for (size_t i = 0; i < NROUTES; i++) {
        struct pattern *pt = &patterns[i];
        const char *p = routes[i].path;
        while (*p && pt->n < (int)(sizeof pt->seg / sizeof pt->seg[0])) {
            p++; /* the '/' */
            size_t n = strcspn(p, "/");
            pt->seg[pt->n].s = p;
            pt->seg[pt->n].len = n;
            pt->seg[pt->n].param = is_param(p, n);
            pt->n++;
            p += n;
        }
    }
    for (int i = (int)NROUTES - 1; i >= 0; i--) {
        len_next[i] = len_first[patterns[i].n];
        len_first[patterns[i].n] = i;
    }
}

/* The first row as long as r's path, or -1. */
static int rows_of(const tgt_req *r)
{
    return r->nitems >= 0 && r->nitems <= MAX_SEGS ? len_first[r->nitems] : -1;
}

static bool path_matches(size_t row, const tgt_req *r)
{
    const struct pattern *pt = &patterns[row];
    if (pt->n != r->nitems)
        return false;
    for (int i = 0; i < pt->n; i++) {
        const char *item = r->items[i];
        size_t n = pt->seg[i].len;
        if (!pt->seg[i].param && (strncmp(item, pt->seg[i].s, n) || item[n]))
            return false;
    }
    return true;
}

static bool sel_matches(const struct route *rt, tgt_req *r)
{
    if (!rt->sel || rt->on == ON_PATH)
        return true;
    if (rt->on == ON_ACTION)
        return !strcmp(rt->sel, tgt_msg_action(r));
    if (rt->on == ON_QUERY)
        return tgt_query(r, rt->sel) != NULL;
    const char *what = tgt_query(r, "what");
    if (rt->sel == WHAT_ABSENT)
        return !what;
    return what && !strcmp(rt->sel, what);
}

/* A plain read of an object: no transform, no archive, no checksum pass
 * over the bytes. Anything else may take long. (In a cluster an owner that
 * lacks the object moves to a worker itself before asking a neighbour:
 * tgt_defer.) */
static bool plain_read(tgt_req *r)
{
    static const char *const slow[] = {"etl_name", "etl_pipeline", "archpath", "archregx", "archmode", "validate"};
    for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++)
        if (tgt_query(r, slow[i]))
            return false;
    return true;
}

/* An inline transform starts on the event thread too: over ws:// it holds
 * no thread while the ETL works, and anything else moves itself to a
 * worker (etl_inline.c). */
static bool plain_or_inline_read(tgt_req *r)
{
    static const char *const slow[] = {"etl_pipeline", "archpath", "archregx", "archmode", "validate"};
    for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++)
        if (tgt_query(r, slow[i]))
            return false;
    return true;
}

/* The handlers that run on the event thread: they answer from memory or
 * from one local file. Every other row's runs on a worker. */
static const struct {
    tgt_handler handler;
    bool (*only_if)(tgt_req *r); /* NULL: always */
} never_waits[] = {
    {tgt_h_health_get, NULL},
    {tgt_h_metrics_get, NULL},
    {tgt_h_smap_get, NULL},
    {tgt_h_object_get, plain_or_inline_read},
    {tgt_h_object_head, plain_read},
};

static bool may_wait(tgt_handler h, tgt_req *r)
{
    for (size_t i = 0; i < sizeof never_waits / sizeof never_waits[0]; i++)
        if (never_waits[i].handler == h)
            return never_waits[i].only_if && !never_waits[i].only_if(r);
    return true;
}

/* /v1/... and Prometheus' /metrics */
static bool api_path(const tgt_req *r)
{
    return (r->nitems >= 2 && !strcmp(r->items[0], "v1")) || (r->nitems == 1 && !strcmp(r->items[0], "metrics"));
}

bool tgt_route_open(tgt_req *r)
{
    if (!api_path(r))
        return false;
    pthread_once(&patterns_once, split_patterns);
    for (int i = rows_of(r); i >= 0; i = len_next[i]) {
        const struct route *rt = &routes[i];
        if (strcmp(rt->method, r->method) || !path_matches((size_t)i, r))
            continue;
        if ((rt->acc & TGT_ACC_PUBLIC) || ((rt->acc & TGT_ACC_ETL) && r->from_etl))
            return true;
    }
    return false;
}

tgt_handler tgt_route(tgt_req *r)
{
    if (!api_path(r))
        return NULL;
    bool path_known = false;
    pthread_once(&patterns_once, split_patterns);
    for (int i = rows_of(r); i >= 0; i = len_next[i]) {
        const struct route *rt = &routes[i];
        if (!path_matches((size_t)i, r))
            continue;
        path_known = true;
        if (!strcmp(rt->method, r->method) && sel_matches(rt, r)) {
            r->may_wait = may_wait(rt->handler, r);
            return !tgt_auth_on() || tgt_auth_allow(r, rt->acc, rt->dst) ? rt->handler : NULL;
        }
    }
    bool method_known = false;
    for (size_t i = 0; i < sizeof known_methods / sizeof known_methods[0]; i++)
        method_known |= !strcmp(known_methods[i], r->method);
    if (path_known || !method_known) {
        /* AIStore answers 405 in plain text */
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(strlen("Method Not Allowed\n"), "Method Not Allowed\n", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        tgt_reply(r, 405, resp);
    }
    return NULL;
}

/*
 * routes.c - the whole REST API in one table, read top to bottom: method,
 * path pattern, the action (ActMsg "action") or ?what= it selects on, and
 * the handler that does that one thing.
 *
 * The rule every handler keeps: it replies exactly once (tgt_reply_*) and
 * returns what the reply returned (MHD_YES/MHD_NO); checks it cannot pass
 * (bucket missing, bad name) are replies too.
 *
 * Matching: rows are tried in order; a path segment in capitals (B, O, N, T)
 * or "*" matches any item. A row with sel NULL matches any action / what and
 * comes last for its method and path: it answers an unknown one as AIStore
 * does. A known path with no row for the method answers 405 in plain text.
 */
#include "target/target.h"

#include <ctype.h>
#include <microhttpd.h>
#include <string.h>

enum route_on { ON_PATH, ON_ACTION, ON_WHAT, ON_QUERY /* sel: a query parameter that is present */ };

/* the ?what= of a request that has none (absent is not the same as "") */
static const char WHAT_ABSENT[] = "";

static const struct route {
    const char *method;
    const char *path;
    enum route_on on;
    const char *sel; /* the action or what; NULL = any */
    tgt_handler handler;
} routes[] = {
    /* cluster: one node that is proxy and target */
    {"GET", "/v1/health", ON_PATH, NULL, tgt_h_health_get},
    {"GET", "/v1/daemon", ON_WHAT, WHAT_ABSENT, tgt_h_smap_get},
    {"GET", "/v1/daemon", ON_WHAT, "smap", tgt_h_smap_get},
    {"GET", "/v1/daemon", ON_WHAT, "sysinfo", tgt_h_sysinfo_get}, /* capacity: the mount refuses what cannot fit */
    {"GET", "/v1/daemon", ON_WHAT, NULL, tgt_h_daemon_what_invalid},
    {"GET", "/v1/cluster", ON_WHAT, "smap", tgt_h_smap_get},
    {"GET", "/v1/cluster", ON_WHAT, "status", tgt_h_job_status},
    {"GET", "/v1/cluster", ON_WHAT, "status_all", tgt_h_jobs_status_all},
    {"GET", "/v1/cluster", ON_WHAT, "running_all", tgt_h_jobs_running},
    {"GET", "/v1/cluster", ON_WHAT, "qryxstats", tgt_h_jobs_snaps},
    {"GET", "/v1/cluster", ON_WHAT, NULL, tgt_h_what_invalid},
    {"PUT", "/v1/cluster", ON_ACTION, "start", tgt_h_job_start},
    {"PUT", "/v1/cluster", ON_ACTION, "stop", tgt_h_job_stop},
    {"PUT", "/v1/cluster", ON_ACTION, NULL, tgt_h_action_invalid},

    /* buckets */
    {"GET", "/v1/buckets", ON_ACTION, "", tgt_h_buckets_list},
    {"GET", "/v1/buckets", ON_ACTION, "list", tgt_h_buckets_list},
    {"GET", "/v1/buckets", ON_ACTION, NULL, tgt_h_action_invalid},
    {"GET", "/v1/buckets/B", ON_ACTION, "", tgt_h_objects_list},
    {"GET", "/v1/buckets/B", ON_ACTION, "list", tgt_h_objects_list},
    {"GET", "/v1/buckets/B", ON_ACTION, "summary-bck", tgt_h_bucket_summary},
    {"GET", "/v1/buckets/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid},
    {"HEAD", "/v1/buckets/B", ON_PATH, NULL, tgt_h_bucket_head}, /* props; with ?bsumm_remote the summary */
    {"HEAD", "/v1/buckets/B/O", ON_PATH, NULL, tgt_h_bucket_head}, /* 5.0: the summary of prefix O */
    {"POST", "/v1/buckets/B", ON_ACTION, "create-bck", tgt_h_bucket_create},
    {"POST", "/v1/buckets/B", ON_ACTION, "copy-bck", tgt_h_bucket_copy},
    {"POST", "/v1/buckets/B", ON_ACTION, "etl-bck", tgt_h_bucket_transform},
    {"POST", "/v1/buckets/B", ON_ACTION, "move-bck", tgt_h_bucket_move},
    {"POST", "/v1/buckets/B", ON_ACTION, "copy-listrange", tgt_h_objects_copy},
    {"POST", "/v1/buckets/B", ON_ACTION, "etl-listrange", tgt_h_objects_transform},
    {"POST", "/v1/buckets/B", ON_ACTION, "prefetch-listrange", tgt_h_objects_evict},
    {"POST", "/v1/buckets/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "", tgt_h_bucket_destroy},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "destroy-bck", tgt_h_bucket_destroy},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "delete-listrange", tgt_h_objects_delete},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "evict-listrange", tgt_h_objects_evict},
    {"DELETE", "/v1/buckets/B", ON_ACTION, "evict-remote-bck", tgt_h_bucket_evict},
    {"DELETE", "/v1/buckets/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid},
    {"PUT", "/v1/buckets/B", ON_ACTION, "archive", tgt_h_bucket_archive},
    {"PUT", "/v1/buckets/B", ON_ACTION, "set-bprops", tgt_h_bucket_props_set},
    {"PUT", "/v1/buckets/B", ON_ACTION, "reset-bprops", tgt_h_bucket_props_set},
    {"PUT", "/v1/buckets/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid},

    /* objects (a PUT of an object is streamed: server.c, tgt_h_object_put_done) */
    {"GET", "/v1/objects/B/O", ON_PATH, NULL, tgt_h_object_get}, /* with ?etl_name= transformed */
    {"PUT", "/v1/objects/B/O", ON_QUERY, "object_to", tgt_h_object_copy_to}, /* copy or transform, not streamed */
    {"HEAD", "/v1/objects/B/O", ON_PATH, NULL, tgt_h_object_head},
    {"DELETE", "/v1/objects/B/O", ON_PATH, NULL, tgt_h_object_delete},
    {"PATCH", "/v1/objects/B/O", ON_PATH, NULL, tgt_h_object_patch}, /* custom metadata */
    {"POST", "/v1/objects/B/O", ON_ACTION, "rename-obj", tgt_h_object_rename},
    {"POST", "/v1/objects/B/O", ON_ACTION, "copy-obj", tgt_h_object_copy},
    {"POST", "/v1/objects/B/O", ON_ACTION, NULL, tgt_h_object_action_invalid},
    {"POST", "/v1/objects/B", ON_ACTION, "promote", tgt_h_objects_promote},
    {"POST", "/v1/objects/B", ON_ACTION, NULL, tgt_h_bucket_action_invalid},

    /* ETL callbacks: an ETL reads its input here (the ETL listener's only rows) */
    {"GET", "/v1/etl/_object/SECRET/O", ON_PATH, NULL, tgt_h_etl_object_get},
    {"HEAD", "/v1/etl/_object/SECRET/O", ON_PATH, NULL, tgt_h_etl_object_head},

    /* ETLs */
    {"PUT", "/v1/etl", ON_PATH, NULL, tgt_h_etl_init},
    {"GET", "/v1/etl", ON_PATH, NULL, tgt_h_etl_list},
    {"GET", "/v1/etl/N", ON_PATH, NULL, tgt_h_etl_show},
    {"GET", "/v1/etl/N/details", ON_PATH, NULL, tgt_h_etl_details}, /* AIStore 5.0 */
    {"GET", "/v1/etl/N/logs", ON_PATH, NULL, tgt_h_etl_logs},
    {"GET", "/v1/etl/N/logs/T", ON_PATH, NULL, tgt_h_etl_logs},
    {"GET", "/v1/etl/N/health", ON_PATH, NULL, tgt_h_etl_health},
    {"GET", "/v1/etl/N/metrics", ON_PATH, NULL, tgt_h_etl_metrics},
    {"POST", "/v1/etl/N/start", ON_PATH, NULL, tgt_h_etl_start},
    {"POST", "/v1/etl/N/stop", ON_PATH, NULL, tgt_h_etl_stop},
    {"DELETE", "/v1/etl/N/stop", ON_PATH, NULL, tgt_h_etl_stop}, /* as the seed's table writes it */
    {"DELETE", "/v1/etl/N", ON_PATH, NULL, tgt_h_etl_delete},
    {"GET", "/v1/etl/N/*", ON_PATH, NULL, tgt_h_etl_invalid},
    {"GET", "/v1/etl/N/*/*", ON_PATH, NULL, tgt_h_etl_invalid},
    {"HEAD", "/v1/etl/N/*/*", ON_PATH, NULL, tgt_h_etl_invalid},
    {"POST", "/v1/etl/N/*", ON_PATH, NULL, tgt_h_etl_invalid},
    {"DELETE", "/v1/etl/N/*", ON_PATH, NULL, tgt_h_etl_invalid},
};

/* The answers to an action or what no row names. */
int tgt_h_action_invalid(tgt_req *r) { return tgt_reply_err(r, 400, "invalid action \"%s\"", tgt_msg_action(r)); }

int tgt_h_what_invalid(tgt_req *r)
{
    const char *what = tgt_query(r, "what");
    return tgt_reply_err(r, 400, "invalid what=\"%s\"", what ? what : "");
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

static bool path_matches(const char *pattern, const tgt_req *r)
{
    const char *p = pattern;
    int i = 0;
    while (*p) {
        p++; /* the '/' */
        size_t n = strcspn(p, "/");
        if (i >= r->nitems)
            return false;
        if (!is_param(p, n) && (strlen(r->items[i]) != n || strncmp(r->items[i], p, n)))
            return false;
        i++;
        p += n;
    }
    return i == r->nitems;
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

tgt_handler tgt_route(tgt_req *r)
{
    if (r->nitems < 2 || strcmp(r->items[0], "v1"))
        return NULL;
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *rt = &routes[i];
        if (!path_matches(rt->path, r))
            continue;
        path_known = true;
        if (!strcmp(rt->method, r->method) && sel_matches(rt, r))
            return rt->handler;
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

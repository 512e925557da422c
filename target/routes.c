/*
 * routes.c - the whole REST API in one table: method, the path item after
 * "/v1/", how many items the path may have, and the handler.
 */
#include "target/target.h"

#include <microhttpd.h>
#include <string.h>

static const struct route {
    const char *method;
    const char *what; /* items[1] */
    int min_items, max_items;
    tgt_handler handler;
} routes[] = {
    {"GET", "health", 2, 2, tgt_h_health},
    {"GET", "daemon", 2, 2, tgt_h_daemon_get},
    {"GET", "cluster", 2, 2, tgt_h_cluster_get},
    {"PUT", "cluster", 2, 2, tgt_h_cluster_put},
    {"GET", "buckets", 2, 3, tgt_h_buckets_get},      /* list buckets, list objects, summary */
    {"POST", "buckets", 3, 3, tgt_h_bucket_post},     /* create, copy, etl, move, list/range */
    {"DELETE", "buckets", 3, 3, tgt_h_bucket_delete}, /* destroy, delete-listrange */
    {"HEAD", "buckets", 3, 3, tgt_h_bucket_head},     /* props, info */
    {"PUT", "buckets", 3, 3, tgt_h_bucket_put},       /* archive */
    {"GET", "objects", 4, 4, tgt_h_object_get},
    {"HEAD", "objects", 4, 4, tgt_h_object_head},
    {"DELETE", "objects", 4, 4, tgt_h_object_delete},
    {"POST", "objects", 4, 4, tgt_h_object_post},     /* rename, copy-obj */
    {"POST", "objects", 3, 3, tgt_h_objects_post},    /* promote */
    {"GET", "etl", 2, 5, tgt_h_etl},
    {"HEAD", "etl", 5, 5, tgt_h_etl},
    {"PUT", "etl", 2, 2, tgt_h_etl},
    {"POST", "etl", 4, 4, tgt_h_etl},
    {"DELETE", "etl", 3, 4, tgt_h_etl},
};

static const char *const known_methods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"};

tgt_handler tgt_route(tgt_req *r)
{
    if (r->nitems < 2 || strcmp(r->items[0], "v1"))
        return NULL;
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *rt = &routes[i];
        if (strcmp(rt->what, r->items[1]) || r->nitems < rt->min_items || r->nitems > rt->max_items)
            continue;
        path_known = true;
        if (!strcmp(rt->method, r->method))
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

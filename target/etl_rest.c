/*
 * etl_rest.c - /v1/etl: the ETL service's REST API (init, list, show, logs,
 * health, metrics, start, stop, delete). Each handler is one call into the
 * ETL registry, whose etl_reply (errno code, type, body) becomes our answer.
 * In a cluster each handler hands the request to cluster_etl.c first, which
 * answers for every target (a target asking about this node's instances
 * alone is answered here, as by one node).
 */
#include "target/target.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

static int reply_etl(tgt_req *r, etl_reply *er)
{
    int ret;
    if (!er->err)
        ret = tgt_reply_buf(r, 200, er->content_type ? er->content_type : "text/plain; charset=utf-8",
                            er->body.data ? er->body.data : "", er->body.len);
    else
        ret = tgt_reply_err(r, cmn_err_http_status(er->err), "%s", er->body.data ? er->body.data : "ETL error");
    etl_reply_free(er);
    return ret;
}

/* The ETL service's REST API: each call fills an etl_reply that becomes ours. */
#define ETL_API(call)                                                                                                  \
    etl_reply er;                                                                                                      \
    etl_reply_init(&er);                                                                                               \
    call;                                                                                                              \
    return reply_etl(r, &er)

/* the cluster's answer, when it is the cluster's to give */
#define CLUSTER(call)                                                                                                  \
    if (tgt_cluster_on() && tgt_cluster_etl_here(r))                                                                   \
    return call

int tgt_h_etl_init(tgt_req *r)
{
    CLUSTER(tgt_cluster_etl_init(r));
    ETL_API(etl_api_init(tgt->etl, r->body.data ? r->body.data : "", r->body.len, &er));
}
/* Which ETLs GET /v1/etl lists: v3.22's SDK (1.4.x) and older clients count
 * the answer as the running ETLs; AIStore 5.0's SDK lists every ETL and
 * filters by "stage" itself. Nothing else in the request tells them apart:
 * the SDK's User-Agent (ais/python/VERSION) does, and ?all=true asks for
 * every ETL from anywhere. */
static bool list_all(tgt_req *r)
{
    if (tgt_query(r, "all"))
        return tgt_query_true(r, "all");
    const char *ua = tgt_header(r, "User-Agent");
    int major, minor;
    if (!ua || sscanf(ua, "ais/python/%d.%d", &major, &minor) != 2)
        return false;
    return major > 1 || (major == 1 && minor >= 5);
}

int tgt_h_etl_list(tgt_req *r)
{
    CLUSTER(tgt_cluster_etl_list(r, list_all(r)));
    if (tgt_cluster_on()) /* another target asking: this node's instances, with their errors */
        return tgt_cluster_etl_node_view(r);
    ETL_API(etl_api_list(tgt->etl, list_all(r), &er));
}
/* v3.22's SDK asks for the init message; 5.0's always sends ?uuid= (maybe
 * empty) and reads the details ({"init_msg", "obj_errors"}) */
int tgt_h_etl_show(tgt_req *r)
{
    if (tgt_query(r, "uuid"))
        return tgt_h_etl_details(r);
    CLUSTER(tgt_cluster_etl_show(r, r->items[2]));
    ETL_API(etl_api_show(tgt->etl, r->items[2], &er));
}
int tgt_h_etl_details(tgt_req *r)
{
    CLUSTER(tgt_cluster_etl_details(r, r->items[2], tgt_query(r, "uuid")));
    ETL_API(etl_api_details(tgt->etl, r->items[2], tgt_query(r, "uuid"), &er));
}
int tgt_h_etl_logs(tgt_req *r)
{
    CLUSTER(tgt_cluster_etl_logs(r, r->items[2], r->nitems > 4 ? r->items[4] : NULL));
    ETL_API(etl_api_logs(tgt->etl, r->items[2], &er));
}
int tgt_h_etl_health(tgt_req *r)
{
    CLUSTER(tgt_cluster_etl_health(r, r->items[2]));
    ETL_API(etl_api_health(tgt->etl, r->items[2], &er));
}
int tgt_h_etl_metrics(tgt_req *r)
{
    CLUSTER(tgt_cluster_etl_metrics(r, r->items[2]));
    ETL_API(etl_api_metrics(tgt->etl, r->items[2], &er));
}
int tgt_h_etl_start(tgt_req *r)
{
    CLUSTER(tgt_cluster_etl_set(r, r->items[2], "start"));
    ETL_API(etl_api_start(tgt->etl, r->items[2], &er));
}
int tgt_h_etl_stop(tgt_req *r)
{
    CLUSTER(tgt_cluster_etl_set(r, r->items[2], "stop"));
    ETL_API(etl_api_stop(tgt->etl, r->items[2], &er));
}
int tgt_h_etl_delete(tgt_req *r)
{
    CLUSTER(tgt_cluster_etl_set(r, r->items[2], "delete"));
    ETL_API(etl_api_delete(tgt->etl, r->items[2], &er));
}

int tgt_h_etl_invalid(tgt_req *r) { return tgt_reply_err(r, 400, "invalid ETL request %s %s", r->method, r->url); }

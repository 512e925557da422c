/*
 * cluster_route.c - any node accepts every object request; one for an
 * object that another target owns (HRW over the map: cluster_map.c) is
 * answered 307 to the owner with the same path and query, as AIStore's
 * gateways do. The owner serves it locally, ETL transforms included, so no
 * object's bytes cross a node on their way to a client that follows.
 */
#include "target/target.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result add_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    cmn_buf *b = cls;
    char *k = cmn_query_escape(key);
    cmn_buf_printf(b, "%c%s", strchr(b->data, '?') ? '&' : '?', k);
    free(k);
    if (value) {
        char *v = cmn_query_escape(value);
        cmn_buf_printf(b, "=%s", v);
        free(v);
    }
    return MHD_YES;
}

/* owner's URL + /v1/objects/BUCKET/OBJECT (each name segment escaped) + query */
static char *location(tgt_req *r, const char *owner)
{
    cmn_buf b;
    cmn_buf_init(&b);
    char *bck = cmn_path_escape(r->items[2]);
    cmn_buf_printf(&b, "%s/v1/objects/%s/", owner, bck);
    free(bck);
    const char *p = r->obj;
    while (true) {
        size_t n = strcspn(p, "/");
        char *seg = cmn_xstrndup(p, n), *esc = cmn_path_escape(seg);
        cmn_buf_puts(&b, esc);
        free(seg);
        free(esc);
        if (!p[n])
            break;
        cmn_buf_puts(&b, "/");
        p += n + 1;
    }
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_param, &b);
    return cmn_buf_steal(&b);
}

bool tgt_cluster_redirect(tgt_req *r)
{
    if (!tgt_cluster_on() || r->from_etl || r->nitems != 4 || strcmp(r->items[0], "v1") ||
        strcmp(r->items[1], "objects") || !r->obj)
        return false;
    /* the object's own requests (appends and multipart uploads included:
     * their state lives on the owner), and its copies (copy-obj, 5.0's
     * object_to), which read it there and send the copy to the copy's owner;
     * POST rename is served by the node asked */
    static const char *const methods[] = {"GET", "HEAD", "PUT", "DELETE", "PATCH"};
    bool object_method = false;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        object_method |= !strcmp(r->method, methods[i]);
    const char *act = tgt_msg_action(r);
    object_method |= !strcmp(r->method, "POST") &&
                     (!strcmp(act, "mpt-upload") || !strcmp(act, "mpt-complete") || !strcmp(act, "copy-obj"));
    char owner[512];
    if (!object_method || !tgt_cmap_owner_elsewhere(r->items[2], r->obj, owner, sizeof owner))
        return false;
    char *loc = location(r, owner);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
    cmn_debug("%s %s -> %s", r->method, r->url, loc);
    free(loc);
    tgt_reply(r, 307, resp);
    return true;
}

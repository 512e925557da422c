/*
 * etl_callback.c - /v1/etl/_object/SECRET/UNAME: an ETL process reads the
 * object it transforms from us (hpull, or an ETL that fetches its input).
 * The secret proves the caller is an ETL we started; the read itself is an
 * ordinary object GET or HEAD.
 */
#include "target/target.h"

#include <stdio.h>
#include <string.h>

/* Serves an object to an ETL process: "ais/@#/B/O" after the secret. */
static int serve_to_etl(tgt_req *r, bool head)
{
    if (strcmp(r->items[3], etl_registry_secret(tgt->etl)))
        return tgt_reply_err(r, 400, "unrecognized request source");
    char bck[256];
    const char *u = r->obj;
    if (strncmp(u, "ais/", 4))
        return tgt_reply_err(r, 400, "invalid object uname \"%s\"", u);
    const char *p = u + 4;
    if (*p == '@') {
        p = strchr(p, '/');
        if (!p)
            return tgt_reply_err(r, 400, "invalid object uname \"%s\"", u);
        p++;
    }
    const char *slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= sizeof bck)
        return tgt_reply_err(r, 400, "invalid object uname \"%s\"", u);
    snprintf(bck, sizeof bck, "%.*s", (int)(slash - p), p);
    r->items[2] = bck;
    r->obj = slash + 1;
    r->nitems = 4;
    /* never recurse into another transform */
    if (head)
        return tgt_h_object_head(r);
    return tgt_h_object_get(r);
}

int tgt_h_etl_object_get(tgt_req *r) { return serve_to_etl(r, false); }
int tgt_h_etl_object_head(tgt_req *r) { return serve_to_etl(r, true); }

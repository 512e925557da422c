/*
 * auth.c - who is calling and whether they may, when the target runs with
 * --auth-secret: AIStore AuthN's bearer token (HS256, common/jwt.c) is
 * verified once, on a request's first call, before any body is read; what
 * the request needs is the acc/dst columns of its row in routes.c, checked
 * once in tgt_route. No secret: every request is let through, as before.
 *
 * 401 (no token, or one that does not verify or has expired) and 403 (a
 * valid token that does not allow it) carry AIStore's JSON error body.
 */
#include "target/target.h"

#include "common/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool tgt_auth_on(void) { return tgt->cfg.auth_secret != NULL; }

static int reply_auth_err(tgt_req *r, const cmn_err *e)
{
    int status = cmn_err_http_status(e->code);
    if (status == 401)
        return tgt_reply_err_hdr(r, 401, "WWW-Authenticate", "Bearer realm=\"etlfs\"", "%s", e->msg);
    return tgt_reply_err(r, status, "%s", e->msg);
}

/* "Bearer <token>", exactly as AIStore reads it (one space, a non-empty token). */
static const char *bearer(tgt_req *r)
{
    const char *h = tgt_header(r, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) || !h[7])
        return NULL;
    return h + 7;
}

bool tgt_auth_identify(tgt_req *r, bool open)
{
    if (!tgt_auth_on() || open)
        return true;
    cmn_err e = {0};
    const char *token = bearer(r);
    if (!token)
        cmn_err_set(&e, EKEYREJECTED, "token required: send \"Authorization: Bearer <token>\" (AIStore AuthN's JWT; "
                                      "the clients read AIS_AUTHN_TOKEN)");
    else {
        r->claims = cmn_xcalloc(1, sizeof *r->claims);
        if (cmn_jwt_verify(token, tgt->cfg.auth_secret, tgt->cfg.auth_secret_len, (double)cmn_now_ns() / 1e9,
                           r->claims, &e) != 0) {
            free(r->claims);
            r->claims = NULL;
        }
    }
    if (r->claims)
        return true;
    cmn_info("%s %s: %s", r->method, r->url, e.msg);
    reply_auth_err(r, &e);
    return false;
}

/* The bucket a request's path names (/v1/buckets/B, /v1/objects/B/O), or NULL. */
static const char *path_bucket(const tgt_req *r)
{
    if (r->nitems >= 3 && (!strcmp(r->items[1], "buckets") || !strcmp(r->items[1], "objects")))
        return r->items[2];
    return NULL;
}

/* Where a copy writes, named as the handlers read it (copybck.c, multiobj.c,
 * archive.c, copyobj.c): *out "" when the request names none (the path's
 * bucket then); false when it is malformed (the handler answers 400). */
static bool dst_bucket(tgt_req *r, enum tgt_dst how, char *out, size_t len)
{
    *out = '\0';
    const char *q = tgt_query(r, "bck_to");
    if (how == TGT_DST_TOBCK) {
        const cJSON *v = tgt_msg_value(r);
        const cJSON *to = v ? cJSON_GetObjectItem(v, "tobck") : NULL;
        if (cJSON_IsObject(to)) {
            const cJSON *n = cJSON_GetObjectItem(to, "name");
            if (!cJSON_IsString(n) || strlen(n->valuestring) >= len)
                return false;
            snprintf(out, len, "%s", n->valuestring);
            return true;
        }
    }
    if (how == TGT_DST_OBJECT_TO)
        return tgt_parse_uname_object(tgt_query(r, "object_to"), out, len) != NULL;
    if (q && *q)
        return tgt_parse_uname_bucket(q, out, len);
    if (how == TGT_DST_BCK_TO_OR_NAME) {
        const cJSON *n = r->msg ? cJSON_GetObjectItem(r->msg, "name") : NULL;
        if (cJSON_IsString(n) && strlen(n->valuestring) < len)
            snprintf(out, len, "%s", n->valuestring);
    }
    return true;
}

bool tgt_auth_allow(tgt_req *r, uint64_t acc, enum tgt_dst dst)
{
    if (!tgt_auth_on() || (acc & TGT_ACC_PUBLIC) || ((acc & TGT_ACC_ETL) && r->from_etl))
        return true;
    if (!r->claims) /* identify answered already */
        return false;
    if (acc & TGT_ACC_ETL) /* a callback path reached from outside: only an admin */
        acc = CMN_ACE_ADMIN;
    cmn_err e = {0};
    const char *bck = path_bucket(r);
    int rc = acc ? cmn_acc_check(r->claims, tgt->smap_uuid, bck, acc, &e) : 0;
    if (!rc && dst != TGT_DST_NONE) {
        char to[256];
        if (dst_bucket(r, dst, to, sizeof to)) {
            const char *b = *to ? to : bck;
            rc = cmn_acc_check(r->claims, tgt->smap_uuid, b, CMN_ACE_PUT, &e);
            /* a copy creates a missing destination: as creating a bucket */
            if (!rc && b && !tgt_bucket_exists(&tgt->store, b))
                rc = cmn_acc_check(r->claims, tgt->smap_uuid, NULL, TGT_ACC_CREATE_BUCKET, &e);
        }
    }
    if (!rc)
        return true;
    cmn_info("%s %s: %s", r->method, r->url, e.msg);
    reply_auth_err(r, &e);
    return false;
}

void tgt_auth_free(tgt_req *r)
{
    if (r->claims) {
        cmn_claims_free(r->claims);
        free(r->claims);
        r->claims = NULL;
    }
}

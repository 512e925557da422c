/*
 * auth.c - who is calling and whether they may, when the target runs with
 * --auth-secret: AIStore AuthN's bearer token (HS256, common/jwt.c) is
 * verified once, on a request's first call, before any body is read; what
 * the request needs is the acc/dst columns of its row in routes.c, checked
 * once in tgt_route. No secret: every request is let through, as before.
 *
 * 401 (no token, or one that does not verify or has expired) and 403 (a
 * valid token that does not allow it) carry AIStore's JSON error body.
 *
 * A redirect (cluster_route.c) carries the caller's claims in a token of
 * its own in the Location's query, since clients drop the Authorization
 * header on their way to another host: a JWT signed with a key derived from
 * the secret (so it is never taken as a bearer token, nor a bearer token as
 * it), expiring within REDIRECT_TTL_SEC, whose REDIRECT_CLAIM names the one
 * method, object and query it is good for.
 */
#include "target/target.h"

#include "common/jwt.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REDIRECT_TTL_SEC 5 /* the client follows at once; clocks of a cluster's nodes agree within this */
#define REDIRECT_CLAIM "etlfs_redirect"
#define REDIRECT_KEY_LEN 32

static void redirect_key(unsigned char key[REDIRECT_KEY_LEN])
{
    static const char label[] = "etlfs redirect token";
    unsigned int n = REDIRECT_KEY_LEN;
    HMAC(EVP_sha256(), tgt->cfg.auth_secret, (int)tgt->cfg.auth_secret_len, (const unsigned char *)label,
         sizeof label - 1, key, &n);
}

/* The claims of a compact JWT as JSON (not verified: the caller has), or NULL. */
static cJSON *token_claims(const char *tok)
{
    const char *p = strchr(tok, '.');
    const char *e = p ? strchr(p + 1, '.') : NULL;
    if (!e)
        return NULL;
    size_t n;
    unsigned char *raw = cmn_base64url_decode(p + 1, (size_t)(e - p - 1), &n);
    if (!raw)
        return NULL;
    cJSON *c = cJSON_ParseWithLength((const char *)raw, n);
    free(raw);
    if (c && !cJSON_IsObject(c)) {
        cJSON_Delete(c);
        c = NULL;
    }
    return c;
}

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

/* Fills r->claims from a redirect token good for this very request. */
static void verify_redirect(tgt_req *r, const char *rtok, cmn_err *e)
{
    unsigned char key[REDIRECT_KEY_LEN];
    redirect_key(key);
    cmn_claims *c = cmn_xcalloc(1, sizeof *c);
    cmn_err ve = {0};
    if (cmn_jwt_verify(rtok, key, sizeof key, (double)cmn_now_ns() / 1e9, c, &ve) != 0) {
        cmn_err_set(e, EKEYREJECTED, "redirect token (%s): %s", TGT_QUERY_REDIRECT_TOKEN, ve.msg);
        free(c);
        return;
    }
    cJSON *j = token_claims(rtok);
    const cJSON *b = j ? cJSON_GetObjectItemCaseSensitive(j, REDIRECT_CLAIM) : NULL;
    char *want = tgt_cluster_redirect_bind(r);
    if (cJSON_IsString(b) && want && !strcmp(b->valuestring, want)) {
        r->claims = c;
    } else {
        cmn_err_set(e, EKEYREJECTED, "redirect token (%s) is for another request", TGT_QUERY_REDIRECT_TOKEN);
        cmn_claims_free(c);
        free(c);
    }
    free(want);
    cJSON_Delete(j);
}

char *tgt_auth_redirect_token(tgt_req *r, const char *bind)
{
    if (!tgt_auth_on() || !r->claims)
        return NULL;
    /* the claims as the caller's token holds them, AIStore's and any other */
    const char *tok = bearer(r);
    cJSON *c = token_claims(tok ? tok : tgt_query(r, TGT_QUERY_REDIRECT_TOKEN));
    if (!c)
        return NULL;
    long long exp = cmn_now_ns() / 1000000000LL + REDIRECT_TTL_SEC;
    if (r->claims->exp < (double)exp)
        exp = (long long)r->claims->exp;
    cJSON_DeleteItemFromObjectCaseSensitive(c, "exp");
    cJSON_AddNumberToObject(c, "exp", (double)exp);
    cJSON_DeleteItemFromObjectCaseSensitive(c, REDIRECT_CLAIM);
    cJSON_AddStringToObject(c, REDIRECT_CLAIM, bind);
    char *json = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    unsigned char key[REDIRECT_KEY_LEN];
    redirect_key(key);
    char *out = cmn_jwt_sign(json, key, sizeof key);
    cJSON_free(json);
    return out;
}

bool tgt_auth_identify(tgt_req *r, bool open)
{
    if (!tgt_auth_on() || open)
        return true;
    cmn_err e = {0};
    const char *token = bearer(r);
    const char *rtok = token ? NULL : tgt_query(r, TGT_QUERY_REDIRECT_TOKEN);
    if (rtok)
        verify_redirect(r, rtok, &e);
    else if (!token)
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

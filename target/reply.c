/*
 * reply.c - how every answer leaves the target: plain, text, JSON, and
 * AIStore's JSON error body (in the Hdr-Error header for HEAD, which has no
 * body), plus the small request helpers every handler uses.
 */
#include "target/target.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *tgt_query(tgt_req *r, const char *key)
{
    return r->no_query ? NULL : MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *tgt_header(tgt_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

int tgt_reply(tgt_req *r, int status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    if (r->on_worker) { /* the connection is suspended: its event thread queues this (server.c) */
        if (r->held)
            MHD_destroy_response(r->held);
        r->held = resp;
        r->responded = true;
        r->status = status;
        return MHD_YES;
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    r->responded = true;
    r->status = status;
    return ret;
}

int tgt_reply_buf(tgt_req *r, int status, const char *ctype, const void *data, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (resp && ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    return tgt_reply(r, status, resp);
}

int tgt_reply_empty(tgt_req *r, int status) { return tgt_reply_buf(r, status, NULL, "", 0); }

int tgt_reply_text(tgt_req *r, int status, const char *text)
{
    return tgt_reply_buf(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

int tgt_reply_json(tgt_req *r, int status, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text)
        return tgt_reply_err(r, 500, "out of memory");
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    else
        free(text);
    return tgt_reply(r, status, resp);
}

/* AIStore's error body (cmn.ErrHTTP); HEAD answers carry it in Hdr-Error. */
static int reply_errv(tgt_req *r, int status, const char *hdr, const char *hval, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    cmn_utf8_scrub(msg); /* JSON is UTF-8; messages carry ETL output and cut text */
    if (status >= 500)
        cmn_error("%s %s: %d %s", r->method, r->url, status, msg);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "method", r->method);
    cJSON_AddStringToObject(e, "url_path", r->url);
    cJSON_AddStringToObject(e, "remote_addr", "");
    cJSON_AddStringToObject(e, "caller", "");
    cJSON_AddStringToObject(e, "node", "t[" TGT_NODE_ID "]");
    cJSON_AddNumberToObject(e, "status", status);
    char *text = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    struct MHD_Response *resp;
    if (!strcmp(r->method, "HEAD")) {
        resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (resp)
            MHD_add_response_header(resp, "Hdr-Error", text);
        free(text);
    } else {
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(text);
    }
    if (resp) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (hdr)
            MHD_add_response_header(resp, hdr, hval);
    }
    return tgt_reply(r, status, resp);
}

int tgt_reply_err(tgt_req *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = reply_errv(r, status, NULL, NULL, fmt, ap);
    va_end(ap);
    return ret;
}

int tgt_reply_err_hdr(tgt_req *r, int status, const char *hdr, const char *value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ret = reply_errv(r, status, hdr, value, fmt, ap);
    va_end(ap);
    return ret;
}

const char *tgt_msg_action(tgt_req *r)
{
    cJSON *a = r->msg ? cJSON_GetObjectItem(r->msg, "action") : NULL;
    return cJSON_IsString(a) ? a->valuestring : "";
}

cJSON *tgt_msg_value(tgt_req *r)
{
    cJSON *v = r->msg ? cJSON_GetObjectItem(r->msg, "value") : NULL;
    return v && !cJSON_IsNull(v) ? v : NULL;
}

bool tgt_check_bucket(tgt_req *r, const char *bck, bool must_exist)
{
    const char *prov = tgt_query(r, "provider");
    if (prov && *prov && strcmp(prov, "ais")) {
        tgt_reply_err(r, 501, "provider \"%s\": only ais:// buckets are stored by etlfs (no cloud backends)", prov);
        return false;
    }
    if (!cmn_bucket_name_valid(bck)) {
        tgt_reply_err(r, 400,
                      "bucket name \"%s\" is invalid: may only contain letters, numbers, dashes (-), "
                      "underscores (_), and dots (.)",
                      bck);
        return false;
    }
    /* in a cluster, one made on another node may not have reached us yet */
    if (must_exist && !tgt_bucket_exists(&tgt->store, bck) && !tgt_cluster_bucket_fetch(bck)) {
        tgt_reply_err(r, 404, "bucket \"ais://%s\" does not exist", bck);
        return false;
    }
    return true;
}

bool tgt_parse_uname_bucket(const char *uname, char *name, size_t len)
{
    /* "ais/@#/NAME/" (also "ais/@#/NAME", "/ais/@#/NAME/", or a plain "ais://NAME") */
    const char *p = uname;
    if (!strncmp(p, "ais://", 6))
        p += 6;
    else {
        if (*p == '/')
            p++;
        if (strncmp(p, "ais/", 4))
            return false;
        p += 4;
        if (*p == '@') {
            const char *slash = strchr(p, '/');
            if (!slash)
                return false;
            p = slash + 1;
        }
    }
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= len || (p[n] == '/' && p[n + 1]))
        return false;
    memcpy(name, p, n);
    name[n] = '\0';
    return true;
}

cJSON *tgt_json_int(int64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)v);
    return cJSON_CreateRaw(s);
}

cJSON *tgt_json_str_int(int64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)v);
    return cJSON_CreateString(s);
}

/* AIStore's object uname "ais/@#/BUCKET/OBJECT" (Bck.MakeUname): the bucket
 * into bck and the object's name returned; NULL when it is not one. */
const char *tgt_parse_uname_object(const char *uname, char *bck, size_t len)
{
    const char *p = uname;
    if (!p || strncmp(p, "ais/", 4))
        return NULL;
    p += 4;
    if (*p == '@') { /* the namespace: "@#" is the global one */
        if (strncmp(p, "@#/", 3))
            return NULL;
        p += 3;
    }
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= len || p[n] != '/' || !p[n + 1])
        return NULL;
    memcpy(bck, p, n);
    bck[n] = '\0';
    return p + n + 1;
}

bool tgt_check_object(tgt_req *r, const char *bck, const char *obj)
{
    char why[128];
    if (!tgt_check_bucket(r, bck, true))
        return false;
    if (!cmn_object_name_valid(obj, why, sizeof why)) {
        tgt_reply_err(r, 400, "invalid object name \"%s\": %s", obj, why);
        return false;
    }
    return true;
}

bool tgt_check_names(tgt_req *r, const char *bck, const char *obj)
{
    const char *prov = tgt_query(r, "provider");
    if ((!prov || !*prov || !strcmp(prov, "ais")) && cmn_bucket_name_valid(bck) &&
        cmn_object_name_valid(obj, NULL, 0))
        return true;
    return tgt_check_object(r, bck, obj); /* the answer its checks give */
}

bool tgt_query_true(tgt_req *r, const char *name)
{
    const char *v = tgt_query(r, name);
    return v && (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "t"));
}


/*
 * ais_client.c - the AIStore REST client: URL building with AIStore's (Go's)
 * escaping, requests over the one libcurl wrapper, and the one place where
 * an HTTP status and AIStore's JSON error body become an errno and a message.
 */
#include "common/ais_client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmn_ais_url(cmn_buf *u, const cmn_ais *c, const char *path)
{
    size_t n = strlen(c->endpoint);
    while (n && c->endpoint[n - 1] == '/')
        n--;
    cmn_buf_append(u, c->endpoint, n);
    cmn_buf_puts(u, "/v1/");
    cmn_buf_puts(u, path);
}

void cmn_ais_url_path(cmn_buf *u, const char *s)
{
    for (const char *seg = s;;) {
        const char *end = strchr(seg, '/');
        char *one = cmn_xstrndup(seg, end ? (size_t)(end - seg) : strlen(seg));
        char *esc = cmn_path_escape(one);
        cmn_buf_puts(u, esc);
        free(esc);
        free(one);
        if (!end)
            break;
        cmn_buf_puts(u, "/");
        seg = end + 1;
    }
}

void cmn_ais_url_bucket(cmn_buf *u, const cmn_ais *c, const char *bck)
{
    cmn_ais_url(u, c, "buckets");
    if (bck && *bck) {
        cmn_buf_puts(u, "/");
        cmn_ais_url_path(u, bck);
    }
}

void cmn_ais_url_object(cmn_buf *u, const cmn_ais *c, const char *bck, const char *obj)
{
    cmn_ais_url(u, c, "objects/");
    cmn_ais_url_path(u, bck);
    cmn_buf_puts(u, "/");
    cmn_ais_url_path(u, obj);
}

void cmn_ais_url_etl(cmn_buf *u, const cmn_ais *c, const char *name)
{
    cmn_ais_url(u, c, "etl");
    if (name && *name) {
        char *esc = cmn_path_escape(name); /* one segment, '/' and all */
        cmn_buf_puts(u, "/");
        cmn_buf_puts(u, esc);
        free(esc);
    }
}

void cmn_ais_url_query(cmn_buf *u, const char *k, const char *v)
{
    cmn_buf_puts(u, u->data && strchr(u->data, '?') ? "&" : "?");
    cmn_buf_puts(u, k);
    cmn_buf_puts(u, "=");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (isalnum(*p) || strchr("-_.~", *p))
            cmn_buf_append(u, p, 1);
        else
            cmn_buf_printf(u, "%%%02X", *p);
    }
}

char *cmn_ais_action(const char *action, const char *name, cJSON *value)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "action", action);
    cJSON_AddStringToObject(m, "name", name ? name : "");
    cJSON_AddItemToObject(m, "value", value ? value : cJSON_CreateNull());
    char *s = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return s;
}

int cmn_ais_status_errno(long status)
{
    if (status >= 200 && status < 300)
        return 0;
    switch (status) {
    case 400: return -EINVAL;
    case 403: return -EACCES;
    case 404: return -ENOENT;
    case 409: return -EEXIST;
    case 413: return -E2BIG;
    case 416: return -ERANGE;
    case 501: return -EOPNOTSUPP;
    case 503: return -EAGAIN;
    case 504: return -ETIMEDOUT;
    case 507: return -ENOSPC;
    default: return -EIO;
    }
}

void cmn_ais_err_message(const cmn_http_resp *r, cmn_buf *out)
{
    if (r->body.len) {
        cJSON *j = cJSON_ParseWithLength(r->body.data, r->body.len);
        cJSON *m = cJSON_GetObjectItem(j, "message");
        if (cJSON_IsString(m) && m->valuestring[0]) {
            cmn_buf_puts(out, m->valuestring);
            cJSON_Delete(j);
            return;
        }
        cJSON_Delete(j);
        /* plain-text errors (405 and friends): the first line only */
        size_t n = strcspn(r->body.data, "\r\n");
        if (n) {
            cmn_buf_append(out, r->body.data, n);
            return;
        }
    }
    cmn_buf_printf(out, "HTTP error %ld", r->status);
}

int cmn_ais_do(const cmn_ais *c, const cmn_http_req *req, cmn_http_resp *resp, cmn_err *err)
{
    cmn_http_req r = *req;
    r.connect_timeout_ms = req->connect_timeout_ms ? req->connect_timeout_ms : c->connect_timeout_ms;
    r.stall_sec = req->stall_sec ? req->stall_sec : c->stall_sec;
    if (!r.user_agent)
        r.user_agent = c->user_agent;
    if (r.body && !r.body_len)
        r.body_len = strlen(r.body);
    int rc = cmn_http_do(c->pool, &r, resp);
    if (rc < 0) {
        if (err)
            *err = resp->err;
        return rc;
    }
    rc = cmn_ais_status_errno(resp->status);
    if (rc < 0 && err) {
        cmn_buf m;
        cmn_buf_init(&m);
        cmn_ais_err_message(resp, &m);
        cmn_err_set(err, rc, "%s", m.data);
        cmn_buf_free(&m);
    }
    return rc;
}

int cmn_ais_json(const cmn_http_resp *r, cJSON_bool (*want)(const cJSON *), cJSON **out)
{
    cJSON *j = r->body.len ? cJSON_ParseWithLength(r->body.data, r->body.len)
               : want == cJSON_IsArray ? cJSON_CreateArray() : NULL;
    if (!want(j)) {
        cJSON_Delete(j);
        *out = NULL;
        return -EBADMSG;
    }
    *out = j;
    return 0;
}

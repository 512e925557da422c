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
#include <unistd.h>

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
    case 401: case 403: return -EACCES;
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
    /* in a cluster, a node that does not own an object answers 307 with its
     * owner's URL (as AIStore's gateways): followed, the body sent again */
    if (strstr(r.url, "/v1/objects/"))
        r.follow_redirects = true;
    /* the caller's headers and, with a token, AIStore's bearer header */
    const char *hdrs[CMN_AIS_MAX_HEADERS + 2];
    char *bearer = NULL;
    if (c->token && *c->token) {
        size_t n = 0;
        for (const char *const *h = req->headers; h && *h && n < CMN_AIS_MAX_HEADERS; h++)
            hdrs[n++] = *h;
        bearer = cmn_xasprintf("Authorization: Bearer %s", c->token);
        hdrs[n++] = bearer;
        hdrs[n] = NULL;
        r.headers = hdrs;
    }
    int rc = cmn_http_do(c->pool, &r, resp);
    free(bearer);
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

/* A token file: AIStore's JSON {"token": "..."}, or the bare token. */
static int token_from_file(const char *path, char **token, cmn_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cmn_err_set(err, errno, "token file %s: %s", path, strerror(errno));
    cmn_buf b;
    cmn_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1u << 20))
        cmn_buf_append(&b, chunk, n);
    fclose(f);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    const cJSON *t = cJSON_IsObject(j) ? cJSON_GetObjectItem(j, "token") : NULL;
    char *s = cmn_xstrdup(cJSON_IsString(t) ? t->valuestring : j ? "" : b.data);
    cJSON_Delete(j);
    cmn_buf_free(&b);
    /* the bare form: the first word */
    char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    size_t len = 0;
    while (p[len] && !isspace((unsigned char)p[len]))
        len++;
    if (!len) {
        free(s);
        return cmn_err_set(err, EINVAL, "token file %s holds no token", path);
    }
    *token = cmn_xstrndup(p, len);
    free(s);
    return 0;
}

int cmn_ais_token_load(const char *file, char **token, cmn_err *err)
{
    *token = NULL;
    if (file && *file)
        return token_from_file(file, token, err);
    const char *env = getenv("AIS_AUTHN_TOKEN");
    if (env && *env) {
        *token = cmn_xstrdup(env);
        return 0;
    }
    env = getenv("AIS_AUTHN_TOKEN_FILE");
    if (env && *env)
        return token_from_file(env, token, err);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return 0;
    char *path = cmn_xasprintf("%s/.config/ais/cli/auth.token", home);
    int rc = access(path, F_OK) == 0 ? token_from_file(path, token, err) : 0;
    free(path);
    return rc;
}

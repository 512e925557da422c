/*
 * etcd.c - etcd v3 over its JSON gateway (see etcd.h). Why the gateway: it
 * is part of every etcd server, so a cluster node needs no gRPC and
 * protobuf stack in C, only the HTTP client and cJSON it already has.
 * Unary calls are short POSTs; a watch is one long POST whose answer is a
 * stream of newline-separated JSON messages.
 */
#include "common/etcd.h"

#include "common/http_client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENDPOINTS 8
#define CALL_TIMEOUT_MS 5000L
#define CONNECT_TIMEOUT_MS 1000L
#define GRPC_NOT_FOUND 5 /* the gateway's "code" of an unknown lease */

struct cmn_etcd {
    char *urls[MAX_ENDPOINTS];
    int n;
    int cur; /* the endpoint that answered last; tried first */
};

cmn_etcd *cmn_etcd_new(const char *urls, cmn_err *err)
{
    cmn_etcd *e = cmn_xcalloc(1, sizeof *e);
    const char *p = urls;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        if (len) {
            if (e->n == MAX_ENDPOINTS || (strncmp(p, "http://", 7) && strncmp(p, "https://", 8))) {
                cmn_err_set(err, EINVAL, "--etcd \"%s\": want at most %d http(s)://HOST:PORT endpoints, "
                            "comma-separated", urls, MAX_ENDPOINTS);
                cmn_etcd_free(e);
                return NULL;
            }
            while (len && p[len - 1] == '/')
                len--;
            e->urls[e->n++] = cmn_xstrndup(p, len);
        }
        p += strcspn(p, ",");
        if (*p)
            p++;
    }
    if (!e->n) {
        cmn_err_set(err, EINVAL, "--etcd: no endpoint given");
        cmn_etcd_free(e);
        return NULL;
    }
    return e;
}

void cmn_etcd_free(cmn_etcd *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n; i++)
        free(e->urls[i]);
    free(e);
}

/* ---------------------------------------------------------------- encoding */

char *cmn_etcd_prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = cmn_xstrdup(prefix);
    /* the smallest key greater than every key with this prefix */
    while (n && (unsigned char)end[n - 1] == 0xff)
        end[--n] = '\0';
    if (!n) {
        free(end);
        return cmn_xstrdup("\0"); /* "\0": every key (etcd's convention) */
    }
    end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
    return end;
}

static void add_b64(cJSON *o, const char *name, const void *data, size_t len)
{
    char *b = cmn_base64_encode(data, len);
    cJSON_AddStringToObject(o, name, b);
    free(b);
}

static void add_int(cJSON *o, const char *name, int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    cJSON_AddStringToObject(o, name, s);
}

cJSON *cmn_etcd_range_msg(const char *key, bool prefix)
{
    cJSON *m = cJSON_CreateObject();
    add_b64(m, "key", key, strlen(key));
    if (prefix) {
        char *end = cmn_etcd_prefix_end(key);
        add_b64(m, "range_end", end, *end ? strlen(end) : 1);
        free(end);
    }
    return m;
}

cJSON *cmn_etcd_put_msg(const char *key, const char *value, int64_t lease)
{
    cJSON *m = cJSON_CreateObject();
    add_b64(m, "key", key, strlen(key));
    add_b64(m, "value", value, strlen(value));
    if (lease)
        add_int(m, "lease", lease);
    return m;
}

int64_t cmn_etcd_int(const cJSON *obj, const char *name)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    if (cJSON_IsString(v))
        return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v))
        return (int64_t)v->valuedouble;
    return 0;
}

static char *b64_field(const cJSON *obj, const char *name, size_t *len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    *len = 0;
    if (!v)
        return cmn_xstrdup(""); /* the gateway omits empty values */
    if (!cJSON_IsString(v))
        return NULL;
    unsigned char *d = cmn_base64_decode(v->valuestring, len);
    if (!d)
        return NULL;
    char *s = cmn_xmalloc(*len + 1);
    memcpy(s, d, *len);
    s[*len] = '\0';
    free(d);
    return s;
}

int cmn_etcd_kv_parse(const cJSON *obj, cmn_etcd_kv *kv)
{
    memset(kv, 0, sizeof *kv);
    size_t klen;
    if (!cJSON_IsObject(obj) || !(kv->key = b64_field(obj, "key", &klen)) || !klen ||
        !(kv->value = b64_field(obj, "value", &kv->value_len))) {
        cmn_etcd_kv_free(kv);
        return -EINVAL;
    }
    kv->create_rev = cmn_etcd_int(obj, "create_revision");
    kv->mod_rev = cmn_etcd_int(obj, "mod_revision");
    kv->lease = cmn_etcd_int(obj, "lease");
    return 0;
}

void cmn_etcd_kv_free(cmn_etcd_kv *kv)
{
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof *kv);
}

void cmn_etcd_kvs_free(cmn_etcd_kv *kvs, int n)
{
    for (int i = 0; i < n; i++)
        cmn_etcd_kv_free(&kvs[i]);
    free(kvs);
}

/* ------------------------------------------------------------------ calls */

/* The gateway's error body {"error","message","code"} into err. */
static int call_error(const char *url, const cmn_http_resp *resp, cmn_err *err)
{
    cJSON *j = NULL;
    cmn_err perr;
    const char *msg = "";
    int code = 0;
    if (cmn_json_parse(resp->body.data ? resp->body.data : "", resp->body.len, &j, &perr) == 0) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        msg = cJSON_IsString(m) ? m->valuestring : "";
        code = (int)cmn_etcd_int(j, "code");
    }
    int rc = cmn_err_set(err, code == GRPC_NOT_FOUND ? ENOENT : EIO, "etcd %s: HTTP %ld: %s", url, resp->status,
                         *msg ? msg : "(no message)");
    cJSON_Delete(j);
    return rc;
}

/* POSTs msg (consumed) to path on the first endpoint that answers; *out the
 * answer's JSON. */
static int call(cmn_etcd *e, const char *path, cJSON *msg, cJSON **out, cmn_err *err)
{
    char *body = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    *out = NULL;
    int rc = -EIO;
    int start = __atomic_load_n(&e->cur, __ATOMIC_RELAXED);
    for (int k = 0; k < e->n; k++) {
        int i = (start + k) % e->n;
        char *url = cmn_xasprintf("%s%s", e->urls[i], path);
        const char *const hdrs[] = {"Content-Type: application/json", NULL};
        cmn_http_req req = {.method = "POST", .url = url, .headers = hdrs, .body = body, .body_len = strlen(body),
                            .connect_timeout_ms = CONNECT_TIMEOUT_MS, .timeout_ms = CALL_TIMEOUT_MS};
        cmn_http_resp resp;
        cmn_http_resp_init(&resp);
        rc = cmn_http_do(NULL, &req, &resp);
        bool unreachable = rc < 0;
        if (rc < 0) {
            cmn_err_set(err, -rc, "etcd %s: %s", url, resp.err.msg);
        } else if (resp.status != 200) {
            rc = call_error(url, &resp, err);
        } else {
            __atomic_store_n(&e->cur, i, __ATOMIC_RELAXED);
            cmn_err perr;
            rc = cmn_json_parse(resp.body.data ? resp.body.data : "", resp.body.len, out, &perr);
            if (rc)
                rc = cmn_err_set(err, EIO, "etcd %s: %s", url, perr.msg);
        }
        cmn_http_resp_free(&resp);
        free(url);
        if (!unreachable)
            break; /* an answer (good or bad) from etcd: no other endpoint would differ */
    }
    free(body);
    return rc;
}

int cmn_etcd_put(cmn_etcd *e, const char *key, const char *value, int64_t lease, cmn_err *err)
{
    cJSON *out;
    int rc = call(e, "/v3/kv/put", cmn_etcd_put_msg(key, value, lease), &out, err);
    cJSON_Delete(out);
    return rc;
}

static int parse_kvs(const cJSON *arr, cmn_etcd_kv **kvs, int *n)
{
    int cap = cJSON_GetArraySize(arr);
    *kvs = cmn_xcalloc(cap ? (size_t)cap : 1, sizeof **kvs);
    *n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cmn_etcd_kv_parse(it, &(*kvs)[*n]) == 0)
            (*n)++;
    }
    return 0;
}

int cmn_etcd_get(cmn_etcd *e, const char *key, bool prefix, cmn_etcd_kv **kvs, int *n, int64_t *rev, cmn_err *err)
{
    cJSON *out;
    *kvs = NULL;
    *n = 0;
    int rc = call(e, "/v3/kv/range", cmn_etcd_range_msg(key, prefix), &out, err);
    if (rc == 0) {
        parse_kvs(cJSON_GetObjectItemCaseSensitive(out, "kvs"), kvs, n);
        if (rev)
            *rev = cmn_etcd_int(cJSON_GetObjectItemCaseSensitive(out, "header"), "revision");
    }
    cJSON_Delete(out);
    return rc;
}

/* put key if its `target` revision ("CREATE", "MOD") equals rev: one transaction */
static int put_if(cmn_etcd *e, const char *key, const char *value, int64_t lease, const char *target, int64_t rev,
                  cmn_err *err, int *done)
{
    cJSON *txn = cJSON_CreateObject();
    cJSON *cmp = cJSON_CreateObject();
    add_b64(cmp, "key", key, strlen(key));
    cJSON_AddStringToObject(cmp, "target", target);
    cJSON_AddStringToObject(cmp, "result", "EQUAL");
    add_int(cmp, !strcmp(target, "CREATE") ? "create_revision" : "mod_revision", rev);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(txn, "compare"), cmp);
    cJSON *op = cJSON_CreateObject();
    cJSON_AddItemToObject(op, "request_put", cmn_etcd_put_msg(key, value, lease));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(txn, "success"), op);
    cJSON *out;
    int rc = call(e, "/v3/kv/txn", txn, &out, err);
    *done = rc == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "succeeded"));
    cJSON_Delete(out);
    return rc;
}

int cmn_etcd_create(cmn_etcd *e, const char *key, const char *value, int64_t lease, cmn_err *err)
{
    int done, rc = put_if(e, key, value, lease, "CREATE", 0, err, &done);
    if (rc == 0 && !done)
        rc = cmn_err_set(err, EEXIST, "etcd: %s exists", key);
    return rc;
}

int cmn_etcd_update(cmn_etcd *e, const char *key, const char *value, int64_t mod_rev, cmn_err *err)
{
    int done, rc = put_if(e, key, value, 0, "MOD", mod_rev, err, &done);
    if (rc == 0 && !done)
        rc = cmn_err_set(err, ESTALE, "etcd: %s changed", key);
    return rc;
}

int cmn_etcd_delete(cmn_etcd *e, const char *key, cmn_err *err)
{
    cJSON *out;
    int rc = call(e, "/v3/kv/deleterange", cmn_etcd_range_msg(key, false), &out, err);
    if (rc == 0 && cmn_etcd_int(out, "deleted") == 0)
        rc = cmn_err_set(err, ENOENT, "etcd: no key %s", key);
    cJSON_Delete(out);
    return rc;
}

static cJSON *lease_msg(int64_t id)
{
    cJSON *m = cJSON_CreateObject();
    add_int(m, "ID", id);
    return m;
}

int cmn_etcd_lease_grant(cmn_etcd *e, int ttl_sec, int64_t *id, cmn_err *err)
{
    cJSON *m = cJSON_CreateObject(), *out;
    add_int(m, "TTL", ttl_sec);
    int rc = call(e, "/v3/lease/grant", m, &out, err);
    if (rc == 0 && !(*id = cmn_etcd_int(out, "ID")))
        rc = cmn_err_set(err, EIO, "etcd: lease grant answered no ID");
    cJSON_Delete(out);
    return rc;
}

int cmn_etcd_lease_keepalive(cmn_etcd *e, int64_t id, cmn_err *err)
{
    cJSON *out;
    int rc = call(e, "/v3/lease/keepalive", lease_msg(id), &out, err);
    /* the answer of an expired lease has no TTL */
    if (rc == 0 && cmn_etcd_int(cJSON_GetObjectItemCaseSensitive(out, "result"), "TTL") <= 0)
        rc = cmn_err_set(err, ENOENT, "etcd: lease %" PRId64 " expired", id);
    cJSON_Delete(out);
    return rc;
}

int cmn_etcd_lease_revoke(cmn_etcd *e, int64_t id, cmn_err *err)
{
    cJSON *out;
    int rc = call(e, "/v3/lease/revoke", lease_msg(id), &out, err);
    cJSON_Delete(out);
    return rc;
}

/* ------------------------------------------------------------------ watch */

int cmn_etcd_watch_msg(const char *json, size_t len, cmn_etcd_watch_fn fn, void *ctx, int64_t *next_rev, cmn_err *err)
{
    cJSON *j;
    cmn_err perr;
    if (cmn_json_parse(json, len, &j, &perr) != 0)
        return cmn_err_set(err, EIO, "etcd watch: %s", perr.msg);
    int rc = 0;
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "result");
    if (!cJSON_IsObject(res)) {
        char *text = cJSON_PrintUnformatted(j);
        rc = cmn_err_set(err, EIO, "etcd watch: %.200s", text);
        free(text);
        goto out;
    }
    if (cmn_etcd_int(res, "compact_revision") > 0) {
        rc = cmn_err_set(err, ERANGE, "etcd watch: revision %" PRId64 " was compacted", *next_rev);
        goto out;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "canceled"))) {
        rc = cmn_err_set(err, EIO, "etcd watch canceled");
        goto out;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "events"))
    {
        cmn_etcd_event ev = {0};
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        ev.deleted = cJSON_IsString(type) && !strcmp(type->valuestring, "DELETE");
        if (cmn_etcd_kv_parse(cJSON_GetObjectItemCaseSensitive(it, "kv"), &ev.kv) != 0)
            continue;
        if (ev.kv.mod_rev >= *next_rev)
            *next_rev = ev.kv.mod_rev + 1;
        int stop = fn(ctx, &ev);
        cmn_etcd_kv_free(&ev.kv);
        if (stop) {
            rc = 1;
            goto out;
        }
    }
    /* a progress message: nothing before its revision is left to see */
    int64_t hrev = cmn_etcd_int(cJSON_GetObjectItemCaseSensitive(res, "header"), "revision");
    if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "events")) && hrev >= *next_rev &&
        !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "created")))
        *next_rev = hrev + 1;
out:
    cJSON_Delete(j);
    return rc;
}

typedef struct stream {
    cmn_buf line;
    cmn_etcd_watch_fn fn;
    void *ctx;
    int64_t *next_rev;
    int rc;
    cmn_err *err;
} stream;

/* Bytes of the answer: split into messages at newlines. */
static int stream_write(void *ctx, const char *data, size_t len)
{
    stream *s = ctx;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n') {
            cmn_buf_append(&s->line, &data[i], 1);
            continue;
        }
        if (!s->line.len)
            continue;
        s->rc = cmn_etcd_watch_msg(s->line.data, s->line.len, s->fn, s->ctx, s->next_rev, s->err);
        cmn_buf_reset(&s->line);
        if (s->rc)
            return -ECANCELED;
    }
    return 0;
}

int cmn_etcd_watch(cmn_etcd *e, const char *prefix, int64_t start_rev, cmn_etcd_watch_fn fn, void *ctx,
                   const int *cancel, int64_t *next_rev, cmn_err *err)
{
    cJSON *cr = cmn_etcd_range_msg(prefix, true), *m = cJSON_CreateObject();
    add_int(cr, "start_revision", start_rev);
    cJSON_AddItemToObject(m, "create_request", cr);
    char *body = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    *next_rev = start_rev;
    int i = __atomic_load_n(&e->cur, __ATOMIC_RELAXED);
    char *url = cmn_xasprintf("%s/v3/watch", e->urls[i]);
    stream s = {.fn = fn, .ctx = ctx, .next_rev = next_rev, .err = err};
    cmn_buf_init(&s.line);
    cmn_http_sink sink = {.ctx = &s, .write = stream_write};
    const char *const hdrs[] = {"Content-Type: application/json", NULL};
    cmn_http_req req = {.method = "POST", .url = url, .headers = hdrs, .body = body, .body_len = strlen(body),
                        .sink = &sink, .connect_timeout_ms = CONNECT_TIMEOUT_MS, .stall_sec = -1, .cancel = cancel};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    int rc = cmn_http_do(NULL, &req, &resp);
    if (s.rc == 1 || (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)))
        rc = 0; /* stopped as asked */
    else if (s.rc < 0)
        rc = s.rc; /* err filled by the message */
    else if (rc < 0)
        cmn_err_set(err, -rc, "etcd watch %s: %s", url, resp.err.msg);
    else if (resp.status != 200)
        rc = call_error(url, &resp, err);
    else
        rc = cmn_err_set(err, EIO, "etcd watch %s: the stream ended", url);
    if (rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EIO)
        __atomic_store_n(&e->cur, (i + 1) % e->n, __ATOMIC_RELAXED); /* next time, the next endpoint */
    cmn_http_resp_free(&resp);
    cmn_buf_free(&s.line);
    free(url);
    free(body);
    return rc;
}

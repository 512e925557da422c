/*
 * api.c - the AIStore v3.22 calls the mount needs, each a thin wrapper over
 * fs_http, and the one place where HTTP answers become errno values.
 *
 * Listing uses JSON (not msgpack) with LsNoRecursion so one page holds only the
 * immediate children of a virtual directory: readdir never walks a whole bucket.
 */
#include "fs/fs.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LS_NO_RECURSION 2048
#define ENTRY_IS_DIR 256

/* ---------------------------------------------------------------- URLs */

/* Escapes each '/'-separated segment, keeping the slashes. */
static int append_path(cmn_buf *b, const char *s)
{
    char *copy = strdup(s);
    if (!copy)
        return CMN_ERR;
    int rc = CMN_OK;
    char *save = NULL;
    bool first = true;
    /* strtok_r would drop empty segments; object names have none (validated) */
    for (char *seg = strtok_r(copy, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        char *e = cmn_path_escape(seg);
        if (!e) {
            rc = CMN_ERR;
        } else {
            if (!first)
                cmn_buf_puts(b, "/");
            cmn_buf_puts(b, e);
        }
        free(e);
        first = false;
    }
    free(copy);
    return rc;
}

static char *obj_url(const char *bck, const char *obj, const char *query)
{
    cmn_buf b;
    cmn_buf_init(&b);
    cmn_buf_printf(&b, "%s/v1/objects/", fs_cfg.endpoint);
    append_path(&b, bck);
    cmn_buf_puts(&b, "/");
    append_path(&b, obj);
    if (query)
        cmn_buf_puts(&b, query);
    return cmn_buf_steal(&b);
}

/* endpoint + path, e.g. "/v1/etl" */
static char *api_url(const char *path)
{
    cmn_buf b;
    cmn_buf_init(&b);
    cmn_buf_printf(&b, "%s%s", fs_cfg.endpoint, path);
    return cmn_buf_steal(&b);
}

static char *bck_url(const char *bck, const char *query)
{
    cmn_buf b;
    cmn_buf_init(&b);
    cmn_buf_printf(&b, "%s/v1/buckets", fs_cfg.endpoint);
    if (bck && *bck) {
        cmn_buf_puts(&b, "/");
        append_path(&b, bck);
    }
    if (query)
        cmn_buf_puts(&b, query);
    return cmn_buf_steal(&b);
}

/* ---------------------------------------------------------------- errors */

int fs_status_errno(long status, const char *what, const fs_resp *resp)
{
    if (status >= 200 && status < 300)
        return 0;
    int err;
    switch (status) {
    case 0: err = EIO; break;
    case 404: err = ENOENT; break;
    case 409: err = EEXIST; break;
    case 403: err = EACCES; break;
    case 416: err = EINVAL; break;
    case 507: err = ENOSPC; break;
    case 501: err = EOPNOTSUPP; break;
    default: err = EIO; break;
    }
    if (err == ENOENT)
        return -err; /* an answer, not a failure */
    const char *msg = resp ? resp->curl_err : "";
    cJSON *j = NULL;
    if (resp && resp->body.len) {
        j = cJSON_Parse(resp->body.data);
        cJSON *m = j ? cJSON_GetObjectItem(j, "message") : NULL;
        msg = cJSON_IsString(m) ? m->valuestring : resp->body.data;
    }
    if (err != EEXIST) {
        fs_stat_add(FS_ST_ERRORS, 1);
        cmn_warn("etlfs: %s: HTTP %ld: %s", what, status, msg);
    }
    cJSON_Delete(j);
    return -err;
}

/* Runs req and maps the answer; a transport failure is logged here. */
static int call(fs_req *req, fs_resp *resp, const char *what)
{
    int rc = fs_http(req, resp);
    if (rc < 0) {
        fs_stat_add(FS_ST_ERRORS, 1);
        cmn_warn("etlfs: %s: %s (%s)", what, resp->curl_err, fs_cfg.endpoint);
        return -EIO;
    }
    return fs_status_errno(resp->status, what, resp);
}

static int simple(const char *method, char *url, const char *json, const char *what)
{
    fs_req req = {.method = method, .url = url, .json = json};
    fs_resp resp;
    fs_resp_init(&resp);
    int rc = call(&req, &resp, what);
    fs_resp_free(&resp);
    free(url);
    return rc;
}

/* ---------------------------------------------------------------- buckets and ETLs */

void fs_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* GETs a JSON array and collects the string member key of each element. */
static int get_names(char *url, const char *json, const char *key, char ***names, size_t *n)
{
    fs_req req = {.method = "GET", .url = url, .json = json};
    fs_resp resp;
    fs_resp_init(&resp);
    *names = NULL;
    *n = 0;
    int rc = call(&req, &resp, url);
    if (rc == 0) {
        cJSON *arr = cJSON_Parse(resp.body.data ? resp.body.data : "[]");
        size_t cnt = (size_t)cJSON_GetArraySize(arr);
        *names = calloc(cnt + 1, sizeof **names);
        cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            cJSON *v = cJSON_GetObjectItem(it, key);
            if (cJSON_IsString(v) && *names)
                (*names)[(*n)++] = strdup(v->valuestring);
        }
        if (!arr || !*names) {
            cmn_warn("etlfs: %s: unparsable reply", url);
            fs_free_names(*names, *n);
            *names = NULL;
            *n = 0;
            rc = -EIO;
        }
        cJSON_Delete(arr);
    }
    fs_resp_free(&resp);
    free(url);
    return rc;
}

int fs_api_list_buckets(char ***names, size_t *n)
{
    return get_names(bck_url(NULL, "?provider=ais"), "{\"action\":\"list\",\"name\":\"\",\"value\":null}", "name",
                     names, n);
}

int fs_api_list_etls(char ***names, size_t *n)
{
    return get_names(api_url("/v1/etl"), NULL, "id", names, n);
}

int fs_api_bucket_exists(const char *bck)
{
    return simple("HEAD", bck_url(bck, NULL), NULL, bck);
}

int fs_api_create_bucket(const char *bck)
{
    return simple("POST", bck_url(bck, NULL), "{\"action\":\"create-bck\",\"name\":\"\",\"value\":null}", bck);
}

int fs_api_destroy_bucket(const char *bck)
{
    return simple("DELETE", bck_url(bck, NULL), "{\"action\":\"destroy-bck\",\"name\":\"\",\"value\":null}", bck);
}

/* ---------------------------------------------------------------- list objects */

void fs_page_free(fs_page *pg)
{
    for (size_t i = 0; i < pg->n; i++) {
        free(pg->v[i].name);
        free(pg->v[i].fqn);
    }
    free(pg->v);
    memset(pg, 0, sizeof *pg);
}

static int64_t json_int(cJSON *v)
{
    if (cJSON_IsString(v))
        return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v))
        return (int64_t)v->valuedouble;
    return 0;
}

/* Go's RFC822 "02 Jan 06 15:04 UTC" or RFC3339; 0 when neither parses. */
static int64_t parse_atime(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%d %b %y %H:%M", &tm);
    if (!end) {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    }
    if (!end)
        return 0;
    return (int64_t)timegm(&tm) * 1000000000LL;
}

int fs_api_list_page(const char *bck, const char *prefix, const char *token, unsigned pagesize, fs_page *pg)
{
    memset(pg, 0, sizeof *pg);
    cJSON *msg = cJSON_CreateObject(), *val = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "action", "list");
    cJSON_AddStringToObject(msg, "name", "");
    cJSON_AddStringToObject(val, "prefix", prefix);
    cJSON_AddNumberToObject(val, "pagesize", pagesize);
    cJSON_AddStringToObject(val, "continuation_token", token ? token : "");
    /* location: a target may then name each object's node-local file (etlfs_fqn) */
    cJSON_AddStringToObject(val, "props", fs_cfg.fqn ? "name,size,version,atime,location" : "name,size,version,atime");
    char flags[16];
    snprintf(flags, sizeof flags, "%d", LS_NO_RECURSION);
    cJSON_AddStringToObject(val, "flags", flags);
    cJSON_AddItemToObject(msg, "value", val);
    char *json = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);

    char *url = bck_url(bck, NULL);
    fs_req req = {.method = "GET", .url = url, .json = json};
    fs_resp resp;
    fs_resp_init(&resp);
    int rc = call(&req, &resp, bck);
    if (rc == 0) {
        cJSON *j = cJSON_Parse(resp.body.data ? resp.body.data : "");
        cJSON *entries = cJSON_GetObjectItem(j, "entries"), *tok = cJSON_GetObjectItem(j, "continuation_token");
        if (!j) {
            cmn_warn("etlfs: list %s/%s: unparsable reply", bck, prefix);
            rc = -EIO;
        }
        if (cJSON_IsString(tok))
            snprintf(pg->token, sizeof pg->token, "%s", tok->valuestring);
        size_t plen = strlen(prefix);
        cJSON *e;
        cJSON_ArrayForEach(e, entries)
        {
            cJSON *name = cJSON_GetObjectItem(e, "name");
            if (!cJSON_IsString(name) || strncmp(name->valuestring, prefix, plen) != 0)
                continue;
            const char *base = name->valuestring + plen;
            bool is_dir = (json_int(cJSON_GetObjectItem(e, "flags")) & ENTRY_IS_DIR) != 0;
            size_t blen = strlen(base);
            if (blen && base[blen - 1] == '/')
                blen--, is_dir = true;
            /* a recursive listing (target without LsNoRecursion) still yields the right tree */
            const char *slash = memchr(base, '/', blen);
            if (slash) {
                blen = (size_t)(slash - base);
                is_dir = true;
                if (pg->n && pg->v[pg->n - 1].is_dir && strlen(pg->v[pg->n - 1].name) == blen &&
                    strncmp(pg->v[pg->n - 1].name, base, blen) == 0)
                    continue;
            }
            if (!blen)
                continue;
            if (pg->n == pg->cap) {
                size_t cap = pg->cap ? pg->cap * 2 : 64;
                fs_entry *v = realloc(pg->v, cap * sizeof *v);
                if (!v) {
                    rc = -ENOMEM;
                    break;
                }
                pg->v = v;
                pg->cap = cap;
            }
            fs_entry *out = &pg->v[pg->n++];
            memset(out, 0, sizeof *out);
            out->name = strndup(base, blen);
            out->is_dir = is_dir;
            if (!is_dir) {
                out->size = json_int(cJSON_GetObjectItem(e, "size"));
                cJSON *v = cJSON_GetObjectItem(e, "version"), *at = cJSON_GetObjectItem(e, "atime");
                if (cJSON_IsString(v))
                    snprintf(out->version, sizeof out->version, "%s", v->valuestring);
                if (cJSON_IsString(at))
                    out->mtime_ns = parse_atime(at->valuestring);
                cJSON *f = cJSON_GetObjectItem(e, "etlfs_fqn");
                if (cJSON_IsString(f) && *f->valuestring)
                    out->fqn = strdup(f->valuestring);
            }
        }
        cJSON_Delete(j);
    }
    if (rc < 0)
        fs_page_free(pg);
    fs_resp_free(&resp);
    free(url);
    free(json);
    return rc;
}

/* ---------------------------------------------------------------- objects */

int fs_api_head(const char *bck, const char *obj, fs_objattr *a)
{
    char *url = obj_url(bck, obj, NULL);
    fs_req req = {.method = "HEAD", .url = url};
    fs_resp resp;
    fs_resp_init(&resp);
    char what[1400];
    snprintf(what, sizeof what, "HEAD %s/%s", bck, obj);
    int rc = call(&req, &resp, what);
    if (rc == 0) {
        a->size = resp.content_length > 0 ? resp.content_length : 0;
        snprintf(a->version, sizeof a->version, "%s", resp.version);
        a->mtime_ns = resp.atime_ns;
        snprintf(a->fqn, sizeof a->fqn, "%s", resp.fqn);
    }
    a->not_dir = rc == -ENOENT && resp.is_dir == 0;
    fs_resp_free(&resp);
    free(url);
    return rc;
}

typedef struct memsink {
    char *buf;
    size_t cap, len;
} memsink;

static size_t to_mem(void *ctx, const char *data, size_t len)
{
    memsink *m = ctx;
    size_t n = len;
    if (n > m->cap - m->len)
        n = m->cap - m->len; /* a server ignoring Range: keep what fits */
    memcpy(m->buf + m->len, data, n);
    m->len += n;
    return len;
}

ssize_t fs_api_get_range(const char *bck, const char *obj, char *buf, size_t len, int64_t off)
{
    if (!len)
        return 0;
    char *url = obj_url(bck, obj, NULL);
    memsink m = {.buf = buf, .cap = len};
    fs_req req = {.method = "GET",
                  .url = url,
                  .ranged = true,
                  .range_from = off,
                  .range_to = off + (int64_t)len - 1,
                  .sink = to_mem,
                  .sink_ctx = &m};
    fs_resp resp;
    fs_resp_init(&resp);
    char what[1400];
    snprintf(what, sizeof what, "GET %s/%s", bck, obj);
    int rc = call(&req, &resp, what);
    if (rc == -EINVAL && resp.status == 416)
        rc = 0; /* reading at or past the end */
    fs_resp_free(&resp);
    free(url);
    if (rc < 0)
        return rc;
    if (resp.status == 200 && off > 0) {
        cmn_warn("etlfs: GET %s/%s: target ignored Range", bck, obj);
        return -EIO;
    }
    return (ssize_t)m.len;
}

typedef struct countsink {
    fs_sink_fn fn;
    void *ctx;
    int64_t n;
} countsink;

static size_t counting(void *ctx, const char *data, size_t len)
{
    countsink *c = ctx;
    size_t r = c->fn(c->ctx, data, len);
    c->n += (int64_t)r;
    return r;
}

int fs_api_get_all(const char *bck, const char *obj, const char *etl, fs_sink_fn sink, void *ctx, int64_t *got)
{
    char *q = NULL;
    if (etl && *etl) {
        char *e = cmn_path_escape(etl);
        q = malloc(strlen(e) + 16);
        sprintf(q, "?etl_name=%s", e);
        free(e);
    }
    char *url = obj_url(bck, obj, q);
    free(q);
    countsink cs = {.fn = sink, .ctx = ctx};
    fs_req req = {.method = "GET", .url = url, .sink = counting, .sink_ctx = &cs, .follow = true};
    fs_resp resp;
    fs_resp_init(&resp);
    char what[1700];
    snprintf(what, sizeof what, "GET %s/%s%s%s", bck, obj, etl && *etl ? " through ETL " : "", etl ? etl : "");
    int rc = call(&req, &resp, what);
    if (rc == -ENOENT)
        cmn_warn("etlfs: %s: %s", what, resp.body.data ? resp.body.data : "not found");
    *got = cs.n;
    fs_resp_free(&resp);
    free(url);
    return rc;
}

int fs_api_put_fd(const char *bck, const char *obj, int fd, int64_t len)
{
    char *url = obj_url(bck, obj, NULL);
    fs_req req = {.method = "PUT", .url = url, .upload = true, .upload_fd = fd, .upload_len = len};
    fs_resp resp;
    fs_resp_init(&resp);
    char what[1400];
    snprintf(what, sizeof what, "PUT %s/%s", bck, obj);
    int rc = call(&req, &resp, what);
    fs_resp_free(&resp);
    free(url);
    if (rc == 0) {
        fs_stat_add(FS_ST_PUTS, 1);
        fs_stat_add(FS_ST_WRITE_BYTES, len);
    }
    return rc;
}

int fs_api_delete(const char *bck, const char *obj)
{
    char what[1400];
    snprintf(what, sizeof what, "DELETE %s/%s", bck, obj);
    return simple("DELETE", obj_url(bck, obj, NULL), NULL, what);
}

static char *act_json(const char *action, const char *name, cJSON *value)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "action", action);
    cJSON_AddStringToObject(msg, "name", name);
    if (value)
        cJSON_AddItemToObject(msg, "value", value);
    else
        cJSON_AddNullToObject(msg, "value");
    char *s = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    return s;
}

int fs_api_rename(const char *bck, const char *obj, const char *newname)
{
    char what[2500];
    snprintf(what, sizeof what, "rename %s/%s to %s", bck, obj, newname);
    char *json = act_json("rename-obj", newname, NULL);
    int rc = simple("POST", obj_url(bck, obj, NULL), json, what);
    free(json);
    return rc;
}

int fs_api_copy_obj(const char *sbck, const char *sobj, const char *dbck, const char *dobj, const char *etl,
                    int64_t *size)
{
    /* bck_to is the uname "ais/@#/DST/" escaped as one query value */
    char *e = cmn_path_escape(dbck);
    char q[800];
    snprintf(q, sizeof q, "?bck_to=ais%%2F%%40%%23%%2F%s%%2F", e);
    free(e);
    cJSON *val = cJSON_CreateObject();
    cJSON_AddStringToObject(val, "id", etl ? etl : "");
    char *json = act_json("copy-obj", dobj, val);
    char *url = obj_url(sbck, sobj, q);
    fs_req req = {.method = "POST", .url = url, .json = json};
    fs_resp resp;
    fs_resp_init(&resp);
    char what[3000];
    snprintf(what, sizeof what, "copy %s/%s to %s/%s%s%s", sbck, sobj, dbck, dobj, etl && *etl ? " through ETL " : "",
             etl ? etl : "");
    int rc = call(&req, &resp, what);
    if (rc == 0)
        *size = resp.ais_size;
    fs_resp_free(&resp);
    free(url);
    free(json);
    return rc;
}

int fs_api_copy_list(const char *sbck, const char *etl, const char *dbck, const fs_copy_pair *v, size_t n, char *id,
                     size_t idlen)
{
    bool transform = etl && *etl;
    cJSON *val = cJSON_CreateObject();
    cJSON *src = cJSON_AddArrayToObject(val, "objnames"), *dst = cJSON_AddArrayToObject(val, "dst_names");
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(src, cJSON_CreateString(v[i].src));
        cJSON_AddItemToArray(dst, cJSON_CreateString(v[i].dst));
    }
    cJSON *to = cJSON_AddObjectToObject(val, "tobck");
    cJSON_AddStringToObject(to, "name", dbck);
    cJSON_AddStringToObject(to, "provider", "ais");
    if (transform)
        cJSON_AddStringToObject(val, "id", etl);
    char *json = act_json(transform ? "etl-listrange" : "copy-listrange", "", val);
    char *url = bck_url(sbck, NULL);
    fs_req req = {.method = "POST", .url = url, .json = json};
    fs_resp resp;
    fs_resp_init(&resp);
    char what[1000];
    snprintf(what, sizeof what, "copy %zu objects from %s to %s%s%s", n, sbck, dbck, transform ? " through ETL " : "",
             transform ? etl : "");
    int rc = call(&req, &resp, what);
    if (rc == 0) {
        const char *body = resp.body.data ? resp.body.data : "";
        if (!*body || strlen(body) >= idlen)
            rc = -EIO;
        else
            snprintf(id, idlen, "%s", body);
    }
    fs_resp_free(&resp);
    free(url);
    free(json);
    return rc;
}

int fs_api_job_snap(const char *id, fs_job_snap *s)
{
    memset(s, 0, sizeof *s);
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "id", id);
    char *json = cJSON_PrintUnformatted(q);
    cJSON_Delete(q);
    char *url = api_url("/v1/cluster?what=qryxstats");
    fs_req req = {.method = "GET", .url = url, .json = json};
    fs_resp resp;
    fs_resp_init(&resp);
    char what[200];
    snprintf(what, sizeof what, "query job %s", id);
    int rc = call(&req, &resp, what);
    cJSON *j = rc == 0 ? cJSON_Parse(resp.body.data ? resp.body.data : "") : NULL;
    /* {"t[ID]": [snap]}: one node, one snap */
    cJSON *node = j ? cJSON_GetArrayItem(j, 0) : NULL;
    cJSON *snap = cJSON_GetArrayItem(node, 0);
    if (rc == 0 && !cJSON_IsObject(snap))
        rc = -EIO;
    if (rc == 0) {
        s->idle = cJSON_IsTrue(cJSON_GetObjectItem(snap, "is_idle"));
        s->aborted = cJSON_IsTrue(cJSON_GetObjectItem(snap, "aborted"));
        cJSON *st = cJSON_GetObjectItem(snap, "stats");
        cJSON *objs = st ? cJSON_GetObjectItem(st, "out-objs") : NULL;
        if (cJSON_IsString(objs))
            s->objs = strtoll(objs->valuestring, NULL, 10);
        cJSON *err = cJSON_GetObjectItem(snap, "err");
        if (cJSON_IsString(err))
            snprintf(s->err, sizeof s->err, "%s", err->valuestring);
    }
    cJSON_Delete(j);
    fs_resp_free(&resp);
    free(url);
    free(json);
    return rc;
}

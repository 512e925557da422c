/*
 * api.c - the AIStore v3.22 calls the mount needs, each a thin layer over
 * the shared AIStore client (common/ais_client.h), and the one place where
 * its errors become the errno values FUSE callers expect.
 *
 * Listing uses JSON (not msgpack) with LsNoRecursion so one page holds only the
 * immediate children of a virtual directory: readdir never walks a whole bucket.
 */
#include "fs/fs.h"
#include "common/ais_client.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LS_NO_RECURSION 2048
#define ENTRY_IS_DIR 256

/* The answer headers the mount reads, by index into resp.hdr. */
enum { H_FQN, H_DIR, H_VERSION, H_ATIME, H_SIZE, H_LENGTH };
static const char *const want_headers[] = {"etlfs-fqn", "etlfs-dir", "ais-version", "ais-atime",
                                           "ais-size",  "content-length", NULL};
static const char *const json_headers[] = {"Content-Type: application/json", NULL};

/* ---------------------------------------------------------------- requests */

int fs_client_init(void)
{
    cmn_http_global_init();
    return 0;
}

void fs_client_cleanup(void) { cmn_http_global_cleanup(); }

/* The target's endpoint; bounded connect and stall timeouts (the wrapper's
 * defaults) turn a dead target into EIO instead of a hung file operation. */
static cmn_ais target(void) { return (cmn_ais){.endpoint = fs_cfg.endpoint, .token = fs_cfg.token}; }

/* What the file operations and their tests expect from an error answer:
 * the few errnos with a meaning for a file, EIO for the rest. */
static int fuse_errno(int rc)
{
    switch (-rc) {
    case ENOENT: case EEXIST: case EACCES: case ENOSPC: case EOPNOTSUPP: return rc;
    case ERANGE: return -EINVAL; /* 416 */
    default: return -EIO;
    }
}

/* Runs req (a JSON body when json is given) and maps the answer; a failure
 * is logged here, once. A missing object is an answer, not a failure. */
static int call(cmn_http_req *req, const char *json, cmn_http_resp *resp, const char *what)
{
    fs_stat_add(FS_ST_HTTP_REQS, 1);
    fs_loop_blocking();
    cmn_ais c = target();
    req->want_headers = want_headers;
    if (json) {
        req->body = json;
        req->body_len = strlen(json);
        req->headers = json_headers;
    }
    cmn_err err;
    cmn_err_clear(&err);
    int rc = cmn_ais_do(&c, req, resp, &err);
    if (rc == 0)
        return 0;
    if (resp->err.code) { /* no answer, or its body could not be stored */
        fs_stat_add(FS_ST_ERRORS, 1);
        cmn_warn("etlfs: %s: %s (%s)", what, err.msg, fs_cfg.endpoint);
        return -EIO;
    }
    rc = fuse_errno(rc);
    if (rc != -ENOENT && rc != -EEXIST) {
        fs_stat_add(FS_ST_ERRORS, 1);
        cmn_warn("etlfs: %s: HTTP %ld: %s", what, resp->status, err.msg);
    }
    return rc;
}

/* A request whose answer only says yes or no; frees url. */
static int simple(const char *method, char *url, const char *json, const char *what)
{
    cmn_http_req req = {.method = method, .url = url};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    int rc = call(&req, json, &resp, what);
    cmn_http_resp_free(&resp);
    free(url);
    return rc;
}

static char *bck_url(const char *bck, const char *k, const char *v)
{
    cmn_ais c = target();
    cmn_buf u;
    cmn_buf_init(&u);
    cmn_ais_url_bucket(&u, &c, bck);
    if (k)
        cmn_ais_url_query(&u, k, v);
    return cmn_buf_steal(&u);
}

static char *obj_url(const char *bck, const char *obj, const char *k, const char *v)
{
    cmn_ais c = target();
    cmn_buf u;
    cmn_buf_init(&u);
    cmn_ais_url_object(&u, &c, bck, obj);
    if (k)
        cmn_ais_url_query(&u, k, v);
    return cmn_buf_steal(&u);
}

/* ---------------------------------------------------------------- buckets and ETLs */

void fs_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* GETs url (with a JSON body, if given) and parses a JSON answer of the kind
 * is_kind accepts into *out (the caller deletes it); what names it in logs. */
static int get_json(const char *url, const char *json, const char *what, cJSON_bool (*is_kind)(const cJSON *),
                    cJSON **out)
{
    cmn_http_req req = {.method = "GET", .url = url};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    *out = NULL;
    int rc = call(&req, json, &resp, what);
    if (rc == 0 && cmn_ais_json(&resp, is_kind, out) != 0) {
        cmn_warn("etlfs: %s: unparsable reply", what);
        rc = -EIO;
    }
    cmn_http_resp_free(&resp);
    return rc;
}

/* GETs a JSON array and collects the string member key of each element. */
static int get_names(char *url, const char *json, const char *key, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    cJSON *arr;
    int rc = get_json(url, json, url, cJSON_IsArray, &arr);
    if (rc == 0) {
        *names = cmn_xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof **names);
        cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            cJSON *v = cJSON_GetObjectItem(it, key);
            if (cJSON_IsString(v))
                (*names)[(*n)++] = cmn_xstrdup(v->valuestring);
        }
    }
    cJSON_Delete(arr);
    free(url);
    return rc;
}

/* A bucket request whose JSON body is an action without a value. */
static int bck_action(const char *method, const char *bck, const char *action)
{
    char *json = cmn_ais_action(action, "", NULL);
    int rc = simple(method, bck_url(bck, NULL, NULL), json, bck);
    free(json);
    return rc;
}

int fs_api_list_buckets(char ***names, size_t *n)
{
    char *json = cmn_ais_action("list", "", NULL);
    int rc = get_names(bck_url(NULL, "provider", "ais"), json, "name", names, n);
    free(json);
    return rc;
}

int fs_api_list_etls(char ***names, size_t *n)
{
    cmn_ais c = target();
    cmn_buf u;
    cmn_buf_init(&u);
    cmn_ais_url_etl(&u, &c, NULL);
    return get_names(cmn_buf_steal(&u), NULL, "id", names, n);
}

int fs_api_bucket_exists(const char *bck) { return simple("HEAD", bck_url(bck, NULL, NULL), NULL, bck); }


int fs_api_create_bucket(const char *bck) { return bck_action("POST", bck, "create-bck"); }

int fs_api_destroy_bucket(const char *bck) { return bck_action("DELETE", bck, "destroy-bck"); }

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

int fs_api_free_space(int64_t *avail)
{
    char *url = cmn_xasprintf("%s/v1/daemon?what=sysinfo", fs_cfg.endpoint);
    cJSON *j;
    int rc = get_json(url, NULL, "sysinfo", cJSON_IsObject, &j);
    if (rc == 0) {
        int64_t cap = json_int(cJSON_GetObjectItem(j, "fs_capacity")), used = json_int(cJSON_GetObjectItem(j, "fs_used"));
        *avail = cap > used ? cap - used : 0;
    }
    cJSON_Delete(j);
    free(url);
    return rc;
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

static int list_page(const char *bck, const char *prefix, const char *token, unsigned pagesize, const char *props,
                     fs_page *pg)
{
    memset(pg, 0, sizeof *pg);
    cJSON *val = cJSON_CreateObject();
    cJSON_AddStringToObject(val, "prefix", prefix);
    cJSON_AddNumberToObject(val, "pagesize", pagesize);
    cJSON_AddStringToObject(val, "continuation_token", token ? token : "");
    cJSON_AddStringToObject(val, "props", props);
    char flags[16];
    snprintf(flags, sizeof flags, "%d", LS_NO_RECURSION);
    cJSON_AddStringToObject(val, "flags", flags);
    char *json = cmn_ais_action("list", "", val);

    char *url = bck_url(bck, NULL, NULL);
    char *what = cmn_xasprintf("list %s/%s", bck, prefix);
    cJSON *j;
    int rc = get_json(url, json, what, cJSON_IsObject, &j);
    free(what);
    cJSON *entries = cJSON_GetObjectItem(j, "entries"), *tok = cJSON_GetObjectItem(j, "continuation_token");
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
            pg->cap = pg->cap ? pg->cap * 2 : 64;
            pg->v = cmn_xrealloc(pg->v, pg->cap * sizeof *pg->v);
        }
        fs_entry *out = &pg->v[pg->n++];
        memset(out, 0, sizeof *out);
        out->name = cmn_xstrndup(base, blen);
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
                out->fqn = cmn_xstrdup(f->valuestring);
        }
    }
    cJSON_Delete(j);
    if (rc < 0)
        fs_page_free(pg);
    free(url);
    free(json);
    return rc;
}

int fs_api_list_page(const char *bck, const char *prefix, const char *token, unsigned pagesize, fs_page *pg)
{
    /* location: a target may then name each object's node-local file (etlfs_fqn) */
    return list_page(bck, prefix, token, pagesize,
                     fs_cfg.fqn ? "name,size,version,atime,location" : "name,size,version,atime", pg);
}

/* Names only: the target lists them from the directory alone, without
 * opening each object for its size and version (read-ahead's look ahead). */
int fs_api_list_names(const char *bck, const char *prefix, const char *token, unsigned pagesize, fs_page *pg)
{
    return list_page(bck, prefix, token, pagesize, "name", pg);
}

/* ---------------------------------------------------------------- objects */

/* resp's header h as text ("" when absent) or as a number (-1 when absent). */
static const char *hdr_str(const cmn_http_resp *r, int h) { return r->hdr[h] ? r->hdr[h] : ""; }
static int64_t hdr_num(const cmn_http_resp *r, int h) { return r->hdr[h] ? strtoll(r->hdr[h], NULL, 10) : -1; }

int fs_api_head(const char *bck, const char *obj, fs_objattr *a)
{
    char *url = obj_url(bck, obj, NULL, NULL);
    cmn_http_req req = {.method = "HEAD", .url = url};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    char what[1400];
    snprintf(what, sizeof what, "HEAD %s/%s", bck, obj);
    int rc = call(&req, NULL, &resp, what);
    if (rc == 0) {
        int64_t len = hdr_num(&resp, H_LENGTH);
        a->size = len > 0 ? len : 0;
        snprintf(a->version, sizeof a->version, "%s", hdr_str(&resp, H_VERSION));
        a->mtime_ns = resp.hdr[H_ATIME] ? hdr_num(&resp, H_ATIME) : 0;
        snprintf(a->fqn, sizeof a->fqn, "%s", hdr_str(&resp, H_FQN));
    }
    a->not_dir = rc == -ENOENT && resp.hdr[H_DIR] && resp.hdr[H_DIR][0] != '1';
    cmn_http_resp_free(&resp);
    free(url);
    return rc;
}

typedef struct memsink {
    char *buf;
    size_t cap, len;
} memsink;

static int to_mem(void *ctx, const char *data, size_t len)
{
    memsink *m = ctx;
    size_t n = len;
    if (n > m->cap - m->len)
        n = m->cap - m->len; /* a server ignoring Range: keep what fits */
    memcpy(m->buf + m->len, data, n);
    m->len += n;
    return 0;
}

ssize_t fs_api_get_range(const char *bck, const char *obj, char *buf, size_t len, int64_t off)
{
    if (!len)
        return 0;
    char *url = obj_url(bck, obj, NULL, NULL);
    memsink m = {.buf = buf, .cap = len};
    cmn_http_sink sink = {.ctx = &m, .write = to_mem};
    char range[80];
    snprintf(range, sizeof range, "Range: bytes=%lld-%lld", (long long)off, (long long)(off + (int64_t)len - 1));
    const char *const headers[] = {range, NULL};
    cmn_http_req req = {.method = "GET", .url = url, .headers = headers, .sink = &sink};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    char what[1400];
    snprintf(what, sizeof what, "GET %s/%s", bck, obj);
    int rc = call(&req, NULL, &resp, what);
    if (rc == -EINVAL && resp.status == 416)
        rc = 0; /* reading at or past the end */
    long status = resp.status;
    cmn_http_resp_free(&resp);
    free(url);
    if (rc < 0)
        return rc;
    if (status == 200 && off > 0) {
        cmn_warn("etlfs: GET %s/%s: target ignored Range", bck, obj);
        return -EIO;
    }
    return (ssize_t)m.len;
}

#define CHAIN_SEP ">>"

size_t fs_chain_names(const char *etl, char names[][256], size_t max)
{
    size_t n = 0;
    for (const char *p = etl;;) {
        const char *sep = strstr(p, CHAIN_SEP);
        size_t len = sep ? (size_t)(sep - p) : strlen(p);
        if (len == 0 || len >= 256 || n == max)
            return 0;
        memcpy(names[n], p, len);
        names[n++][len] = '\0';
        if (!sep)
            return n;
        p = sep + strlen(CHAIN_SEP);
    }
}

/* ?etl_name=A&etl_pipeline=B,C (AIStore 5.0's names) */
static void chain_query(cmn_buf *u, const char *etl)
{
    char names[FS_CHAIN_MAX][256];
    size_t n = fs_chain_names(etl, names, FS_CHAIN_MAX);
    cmn_ais_url_query(u, "etl_name", n ? names[0] : etl);
    if (n < 2)
        return;
    cmn_buf csv;
    cmn_buf_init(&csv);
    for (size_t i = 1; i < n; i++)
        cmn_buf_printf(&csv, "%s%s", i > 1 ? "," : "", names[i]);
    cmn_ais_url_query(u, "etl_pipeline", csv.data);
    cmn_buf_free(&csv);
}

/* "id": "A", "pipeline": ["B", "C"] in a job's value */
static void chain_value(cJSON *val, const char *etl)
{
    char names[FS_CHAIN_MAX][256];
    size_t n = fs_chain_names(etl, names, FS_CHAIN_MAX);
    cJSON_AddStringToObject(val, "id", n ? names[0] : etl);
    cJSON *pl = n > 1 ? cJSON_AddArrayToObject(val, "pipeline") : NULL;
    for (size_t i = 1; i < n; i++)
        cJSON_AddItemToArray(pl, cJSON_CreateString(names[i]));
}

int fs_api_get_all(const char *bck, const char *obj, const char *etl, cmn_spool *spool, int fd, int64_t *got)
{
    bool via = etl && *etl;
    cmn_ais c = target();
    cmn_buf u;
    cmn_buf_init(&u);
    cmn_ais_url_object(&u, &c, bck, obj);
    if (via)
        chain_query(&u, etl);
    char *url = cmn_buf_steal(&u);
    cmn_http_req req = {
        .method = "GET", .url = url, .to_spool = spool, .to_fd = !spool, .out_fd = fd, .follow_redirects = true};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    char what[1700];
    snprintf(what, sizeof what, "GET %s/%s%s%s", bck, obj, via ? " through ETL " : "", via ? etl : "");
    int rc = call(&req, NULL, &resp, what);
    if (rc == -ENOENT)
        cmn_warn("etlfs: %s: %s", what, resp.body.data ? resp.body.data : "not found");
    *got = resp.streamed;
    cmn_http_resp_free(&resp);
    free(url);
    return rc;
}

int fs_api_put_fd(const char *bck, const char *obj, int fd, int64_t len)
{
    char *url = obj_url(bck, obj, NULL, NULL);
    cmn_http_req req = {.method = "PUT", .url = url, .body_from_fd = true, .body_fd = fd, .body_fd_len = len};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    char what[1400];
    snprintf(what, sizeof what, "PUT %s/%s", bck, obj);
    int rc = call(&req, NULL, &resp, what);
    cmn_http_resp_free(&resp);
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
    return simple("DELETE", obj_url(bck, obj, NULL, NULL), NULL, what);
}

int fs_api_rename(const char *bck, const char *obj, const char *newname)
{
    char what[2500];
    snprintf(what, sizeof what, "rename %s/%s to %s", bck, obj, newname);
    char *json = cmn_ais_action("rename-obj", newname, NULL);
    int rc = simple("POST", obj_url(bck, obj, NULL, NULL), json, what);
    free(json);
    return rc;
}

/* The uname "ais/@#/B/" AIStore names a destination bucket with. */
static char *uname(const char *bck) { return cmn_xasprintf("ais/@#/%s/", bck); }

int fs_api_copy_obj(const char *sbck, const char *sobj, const char *dbck, const char *dobj, const char *etl,
                    int64_t *size)
{
    cJSON *val = cJSON_CreateObject();
    if (etl && *etl)
        chain_value(val, etl);
    else
        cJSON_AddStringToObject(val, "id", "");
    char *json = cmn_ais_action("copy-obj", dobj, val);
    char *to = uname(dbck);
    char *url = obj_url(sbck, sobj, "bck_to", to);
    free(to);
    cmn_http_req req = {.method = "POST", .url = url};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    char what[3000];
    snprintf(what, sizeof what, "copy %s/%s to %s/%s%s%s", sbck, sobj, dbck, dobj, etl && *etl ? " through ETL " : "",
             etl ? etl : "");
    int rc = call(&req, json, &resp, what);
    if (rc == 0)
        *size = hdr_num(&resp, H_SIZE);
    cmn_http_resp_free(&resp);
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
        chain_value(val, etl);
    char *json = cmn_ais_action(transform ? "etl-listrange" : "copy-listrange", "", val);
    char *url = bck_url(sbck, NULL, NULL);
    cmn_http_req req = {.method = "POST", .url = url};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    char what[1000];
    snprintf(what, sizeof what, "copy %zu objects from %s to %s%s%s", n, sbck, dbck, transform ? " through ETL " : "",
             transform ? etl : "");
    int rc = call(&req, json, &resp, what);
    if (rc == 0) {
        const char *body = resp.body.data ? resp.body.data : "";
        if (!*body || strlen(body) >= idlen)
            rc = -EIO;
        else
            snprintf(id, idlen, "%s", body);
    }
    cmn_http_resp_free(&resp);
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
    cmn_ais c = target();
    cmn_buf u;
    cmn_buf_init(&u);
    cmn_ais_url(&u, &c, "cluster");
    cmn_ais_url_query(&u, "what", "qryxstats");
    cmn_http_req req = {.method = "GET", .url = u.data};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    char what[200];
    snprintf(what, sizeof what, "query job %s", id);
    int rc = call(&req, json, &resp, what);
    cJSON *j = NULL;
    if (rc == 0)
        cmn_ais_json(&resp, cJSON_IsObject, &j);
    /* {"NODE": [snap], ...}: one snap per target (a cluster's job runs on
     * every one): idle when all are, aborted when any is */
    int nsnaps = 0;
    s->idle = true;
    for (cJSON *node = j ? j->child : NULL; rc == 0 && node; node = node->next) {
        cJSON *snap = cJSON_GetArrayItem(node, 0);
        if (!cJSON_IsObject(snap))
            continue;
        nsnaps++;
        s->idle &= cJSON_IsTrue(cJSON_GetObjectItem(snap, "is_idle"));
        s->aborted |= cJSON_IsTrue(cJSON_GetObjectItem(snap, "aborted"));
        cJSON *objs = cJSON_GetObjectItem(cJSON_GetObjectItem(snap, "stats"), "out-objs");
        if (cJSON_IsString(objs))
            s->objs += strtoll(objs->valuestring, NULL, 10);
        cJSON *err = cJSON_GetObjectItem(snap, "err");
        size_t len = strlen(s->err);
        if (cJSON_IsString(err) && *err->valuestring)
            snprintf(s->err + len, sizeof s->err - len, "%s%s", len ? "; " : "", err->valuestring);
    }
    if (rc == 0 && !nsnaps)
        rc = -EIO;
    if (rc)
        s->idle = false;
    cJSON_Delete(j);
    cmn_http_resp_free(&resp);
    cmn_buf_free(&u);
    free(json);
    return rc;
}

/*
 * object.c - the object data path: PUT (streamed in server.c, published
 * here), GET (ranges), HEAD, DELETE and the single-object actions. A GET
 * of a large object sends straight from the file descriptor (sendfile); a
 * small one is read into the reply, to leave in one write with its head.
 */
#include "target/target.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* v in decimal, into out (21 bytes hold any int64); returns out. By hand:
 * two snprintf calls were a tenth of a GET's own instructions. */
static const char *dec(int64_t v, char out[21])
{
    char *p = out + 20;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    *p = '\0';
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    return p;
}

static void add_meta_headers(struct MHD_Response *resp, const tgt_objmeta *m)
{
    char v[21];
    MHD_add_response_header(resp, "ais-checksum-type", m->cksum_type);
    MHD_add_response_header(resp, "ais-checksum-value", m->cksum);
    MHD_add_response_header(resp, "ais-atime", dec(m->atime_ns, v));
    MHD_add_response_header(resp, "ais-version", dec(m->version, v));
    /* custom metadata: one "ais-custom-md: key=value" per pair, as AIStore */
    cJSON *custom = m->custom && *m->custom ? cJSON_Parse(m->custom) : NULL, *kv;
    cJSON_ArrayForEach(kv, custom)
    {
        if (!cJSON_IsString(kv))
            continue;
        char *pair = cmn_xasprintf("%s=%s", kv->string, kv->valuestring);
        MHD_add_response_header(resp, "ais-custom-md", pair);
        free(pair);
    }
    cJSON_Delete(custom);
}


static int reply_open_error(tgt_req *r, const char *bck, const char *obj, int rc)
{
    if (rc == -ENOENT)
        return tgt_reply_err(r, 404, "t[%s]: ais://%s/%s does not exist", TGT_NODE_ID, bck, obj);
    return tgt_reply_err(r, 500, "ais://%s/%s: %s", bck, obj, strerror(-rc));
}

/* bck/obj open with its metadata loaded; false once the 404/500 is replied */
static bool open_with_meta(tgt_req *r, const char *bck, const char *obj, int *fd, int64_t *size, tgt_objmeta *m)
{
    int rc = tgt_object_open(&tgt->store, bck, obj, fd, size);
    if (rc) {
        reply_open_error(r, bck, obj, rc);
        return false;
    }
    tgt_objmeta_load(*fd, m);
    return true;
}

/* Parses "bytes=A-B", "bytes=A-", "bytes=-N" against size. 1 ok, 0 none, -1 bad. */
int tgt_parse_range(const char *h, int64_t size, int64_t *off, int64_t *len)
{
    if (!h)
        return 0;
    if (strncmp(h, "bytes=", 6) || strchr(h, ','))
        return -1;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        long long n = strtoll(p + 1, &end, 10);
        if (*end || n <= 0)
            return -1;
        if (n > size)
            n = size;
        *off = size - n;
        *len = n;
        return size > 0 ? 1 : -1;
    }
    long long a = strtoll(p, &end, 10);
    if (end == p || *end != '-' || a < 0 || a >= size)
        return -1;
    p = end + 1;
    long long b = size - 1;
    if (*p) {
        b = strtoll(p, &end, 10);
        if (*end || b < a)
            return -1;
        if (b >= size)
            b = size - 1;
    }
    *off = a;
    *len = b - a + 1;
    return 1;
}

/* 416 for a Range that size cannot satisfy */
int tgt_reply_range_bad(tgt_req *r, int64_t size)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    char cr[64];
    snprintf(cr, sizeof cr, "bytes */%lld", (long long)size);
    MHD_add_response_header(resp, "Content-Range", cr);
    return tgt_reply(r, 416, resp);
}

/* resp whole (200) or as tgt_parse_range's range rr (206 with Content-Range) */
int tgt_reply_range(tgt_req *r, struct MHD_Response *resp, int rr, int64_t off, int64_t len, int64_t size)
{
    if (rr == 1) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)off, (long long)(off + len - 1), (long long)size);
        MHD_add_response_header(resp, "Content-Range", cr);
        return tgt_reply(r, 206, resp);
    }
    return tgt_reply(r, 200, resp);
}

static void add_fqn_header(tgt_req *r, struct MHD_Response *resp, const char *bck, const char *obj)
{
    char fqn[PATH_MAX];
    if (r->loopback && tgt_store_fqn(&tgt->store, bck, obj, fqn, sizeof fqn) == 0)
        MHD_add_response_header(resp, "etlfs-fqn", fqn);
}

/* Whether a GET asks for files inside the object (archpath, archregx,
 * archmode): decided here, so a plain read never enters archread.c. */
static bool arch_wanted(tgt_req *r)
{
    const char *path = tgt_query(r, "archpath"), *regx = tgt_query(r, "archregx");
    return (path && *path) || (regx && *regx) || tgt_query(r, "archmode");
}

/* A read's object: its name checked and, in a cluster, fetched from a
 * neighbour when this owner lacks it; false once the error is replied. */
static bool object_here(tgt_req *r, const char *bck, const char *obj)
{
    if (!tgt_check_object(r, bck, obj))
        return false;
    cmn_err gerr;
    if (tgt_cluster_on() && tgt_cluster_gfn(r, bck, obj, &gerr) != 0) {
        tgt_reply_err(r, cmn_err_http_status(gerr.code), "%s", gerr.msg);
        return false;
    }
    return true;
}

/* Is bck/obj a directory (a prefix of other names) on some mountpath? */
static bool is_dir_on_disk(const char *bck, const char *obj)
{
    char dir[PATH_MAX], path[PATH_MAX + 1100];
    struct stat st;
    for (int i = 0; i < tgt->store.nmpaths; i++) {
        if (tgt_store_bdir(&tgt->store, i, bck, dir, sizeof dir) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, obj);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return true;
    }
    return false;
}

/* GET and HEAD open the object before asking whether its bucket exists: a
 * file found answers that too (no stat of the bucket's directory per read);
 * only a failed open looks for the bucket, to say which one is missing. The
 * names are checked first, without the disk; an invalid one takes the usual
 * checks so that the answer is the one they give. In a cluster an object
 * this owner lacks may come from a neighbour (asked only when the open finds
 * nothing, so a hit costs what it costs on one node). 0 with fd, st and m;
 * otherwise 1: the reply saying why is queued (with dir_hint, HEAD's
 * etlfs-dir on a missing name, below). */
static int open_for_read(tgt_req *r, const char *bck, const char *obj, int *fd, struct stat *st, tgt_objmeta *m,
                         bool dir_hint)
{
    if (!tgt_check_names(r, bck, obj))
        return 1;
    int rc = tgt_object_open_meta(&tgt->store, bck, obj, fd, st, m);
    if (rc == -ENOENT && tgt_cluster_on()) {
        if (tgt_defer(r)) /* a neighbour may hold it: ask from a worker */
            return 1;
        if (!object_here(r, bck, obj))
            return 1;
        rc = tgt_object_open_meta(&tgt->store, bck, obj, fd, st, m);
    }
    if (rc == 0)
        return 0;
    if (!tgt_check_bucket(r, bck, true))
        return 1;
    if (rc == -ENOENT && dir_hint && r->loopback && !tgt_cluster_on())
        /* etlfs-dir tells the node's mount whether the name is a directory, so a
         * lookup of a new file's name costs this one request, not a listing too
         * (1 may be a directory left empty: the mount then lists to be sure);
         * in a cluster the name's children may be on any target: no hint */
        tgt_reply_err_hdr(r, 404, "etlfs-dir", is_dir_on_disk(bck, obj) ? "1" : "0",
                          "t[%s]: ais://%s/%s does not exist", TGT_NODE_ID, bck, obj);
    else
        reply_open_error(r, bck, obj, rc);
    return 1;
}

/* Up to this size a GET reads the object into its reply, and libmicrohttpd
 * sends the head and the body in one writev: one segment on the wire where
 * a send and a sendfile made two, and a read error is a 500 before the
 * status rather than a reply cut short. Larger objects go by sendfile. */
#define GET_INLINE_MAX TGT_BODY_BUF

static struct MHD_Response *body_from_file(int fd, int64_t off, int64_t len)
{
    if (len > GET_INLINE_MAX)
        return MHD_create_response_from_fd_at_offset64((uint64_t)len, fd, (uint64_t)off);
    char *buf = tgt_body_buf_new(); /* a thread's spare (reuse.c): no large malloc per GET */
    int64_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, (size_t)(len - got), off + got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    if (got < len) {
        tgt_body_buf_drop(buf);
        return NULL;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback((size_t)len, buf,
                                                                                    tgt_body_buf_drop);
    if (!resp)
        tgt_body_buf_drop(buf);
    return resp;
}

int tgt_h_object_get(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj;
    const char *etl_name = tgt_query(r, "etl_name");
    if (arch_wanted(r)) {
        if (!object_here(r, bck, obj))
            return MHD_YES;
        return tgt_arch_get(r, bck, obj);
    }
    if (etl_name && *etl_name) /* checks the object itself: one stat when it is there */
        return tgt_etl_inline(r, bck, obj);
    int fd;
    struct stat st;
    tgt_objmeta m;
    if (open_for_read(r, bck, obj, &fd, &st, &m, false))
        return MHD_YES;
    int64_t size = st.st_size;
    /* ?validate=true: the bytes are checked before the reply starts, since
     * a read that fails once the reply is under way can only cut it short */
    if (tgt_query_true(r, "validate")) {
        cmn_err err;
        if (tgt_object_verify(fd, size, &m, bck, obj, &err) != 0) {
            close(fd);
            tgt_objmeta_free(&m);
            return tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
        }
    }
    int64_t off = 0, len = size;
    int rr = tgt_parse_range(tgt_header(r, "Range"), size, &off, &len);
    if (rr < 0) {
        close(fd);
        tgt_objmeta_free(&m);
        return tgt_reply_range_bad(r, size);
    }
    r->bytes = len;
    struct MHD_Response *resp = body_from_file(fd, off, len);
    if (!resp) {
        if (len > GET_INLINE_MAX)
            close(fd);
        tgt_objmeta_free(&m);
        return tgt_reply_err(r, 500, "ais://%s/%s: cannot read the object", bck, obj);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    add_meta_headers(resp, &m);
    add_fqn_header(r, resp, bck, obj);
    if (m.custom && *m.custom && tgt_cluster_local_obj(r))
        MHD_add_response_header(resp, TGT_HDR_CUSTOM, m.custom); /* whole, for a neighbour to keep */
    tgt_objmeta_free(&m);
    return tgt_reply_range(r, resp, rr, off, len, size);
}

/* Whether the comma-separated list has item. */
static bool list_has(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
        while (*p == ' ')
            p++;
        if (!strncmp(p, item, n) && (p[n] == ',' || p[n] == '\0' || p[n] == ' '))
            return true;
    }
    return false;
}

/* AIStore 5.0's HEAD ?props=: Last-Modified and ETag only when asked for,
 * and a multipart-made object's part count and largest part ("chunked"). */
static void add_v2_headers(tgt_req *r, struct MHD_Response *resp, const struct stat *st, const tgt_objmeta *m)
{
    const char *props = tgt_query(r, "props");
    if (!props)
        return;
    if (list_has(props, "last-modified")) {
        char date[64];
        struct tm tm;
        gmtime_r(&st->st_mtime, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        MHD_add_response_header(resp, "Last-Modified", date);
    }
    if (list_has(props, "etag")) {
        char etag[96];
        snprintf(etag, sizeof etag, "\"%s\"", m->cksum[0] ? m->cksum : "0");
        MHD_add_response_header(resp, "ETag", etag);
    }
    if (list_has(props, "chunked") && m->chunks > 0) { /* assembled by a multipart upload */
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)m->chunks);
        MHD_add_response_header(resp, "ais-chunks-count", v);
        snprintf(v, sizeof v, "%lld", (long long)m->chunk_max);
        MHD_add_response_header(resp, "ais-chunks-max-chunk-size", v);
    }
}

int tgt_h_object_head(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj;
    int fd;
    struct stat st;
    tgt_objmeta m;
    if (open_for_read(r, bck, obj, &fd, &st, &m, true))
        return MHD_YES;
    /* a response "from" the file gives HEAD its Content-Length; no byte is read */
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    char v[PATH_MAX + 16];
    add_meta_headers(resp, &m);
    add_v2_headers(r, resp, &st, &m);
    tgt_objmeta_free(&m);
    MHD_add_response_header(resp, "ais-bucket-name", bck);
    MHD_add_response_header(resp, "ais-bucket-provider", "ais");
    MHD_add_response_header(resp, "ais-name", obj);
    MHD_add_response_header(resp, "ais-present", "true");
    MHD_add_response_header(resp, "ais-mirror-copies", "1");
    int mp = tgt_store_mpath_of(&tgt->store, bck, obj);
    snprintf(v, sizeof v, "t[%s]:mp[%s]", TGT_NODE_ID, tgt->store.mpaths[mp]);
    MHD_add_response_header(resp, "ais-location", v);
    snprintf(v, sizeof v, "[%s]", tgt->store.mpaths[mp]);
    MHD_add_response_header(resp, "ais-mirror-paths", v);
    add_fqn_header(r, resp, bck, obj);
    return tgt_reply(r, 200, resp);
}

int tgt_h_object_put_done(tgt_req *r)
{
    const char *bck = r->put_bck, *obj = r->put_obj;
    r->streaming = false;
    if (r->stream_why) /* refused before its first byte, replied once drained */
        return tgt_reply_err(r, cmn_err_http_status(r->stream_err), "%s", r->stream_why);
    if (r->stream_err) /* the work file went with the first failed write */
        return tgt_reply_err(r, cmn_err_http_status(r->stream_err), "ais://%s/%s: write failed: %s", bck, obj,
                             strerror(r->stream_err));
    const char *want = tgt_header(r, "ais-checksum-value");
    const char *want_type = tgt_header(r, "ais-checksum-type");
    tgt_objmeta m;
    if (want && *want && (!want_type || !strcmp(want_type, "xxhash"))) {
        char got[17];
        if (!tgt_writer_matches(&r->writer, want, got)) {
            tgt_writer_abort(&r->writer);
            return tgt_reply_err(r, 400, "ais://%s/%s: BAD DATA CHECKSUM: xxhash(%s != %s)", bck, obj, want, got);
        }
    }
    tgt_cluster_put_custom(r);
    int rc = tgt_writer_commit(&r->writer, &m);
    r->bytes = rc ? 0 : m.size;
    if (rc == -ENOTDIR)
        return tgt_reply_err(r, 409, "ais://%s/%s: a prefix of the name is an existing object", bck, obj);
    if (rc == -EISDIR)
        return tgt_reply_err(r, 409, "ais://%s/%s: the name is a prefix of existing objects", bck, obj);
    if (rc)
        return tgt_reply_err(r, rc == -ENOSPC ? 507 : 500, "ais://%s/%s: cannot store: %s", bck, obj, strerror(-rc));
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    add_meta_headers(resp, &m);
    tgt_objmeta_free(&m);
    return tgt_reply(r, 200, resp);
}

int tgt_h_object_delete(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj;
    if (!tgt_check_object(r, bck, obj))
        return MHD_YES;
    int rc = tgt_object_remove(&tgt->store, bck, obj);
    if (rc == -ENOENT || rc == -ENOTDIR)
        return tgt_reply_err(r, 404, "t[%s]: ais://%s/%s doesn't exist", TGT_NODE_ID, bck, obj);
    if (rc)
        return tgt_reply_err(r, 500, "ais://%s/%s: cannot delete: %s", bck, obj, strerror(-rc));
    return tgt_reply_empty(r, 200);
}

static int rename_object(tgt_req *r, const char *bck, const char *obj)
{
    cJSON *name = cJSON_GetObjectItem(r->msg, "name");
    char why[128];
    if (!cJSON_IsString(name) || !cmn_object_name_valid(name->valuestring, why, sizeof why))
        return tgt_reply_err(r, 400, "rename-obj: invalid new name: %s", cJSON_IsString(name) ? why : "missing");
    int fd;
    int64_t size;
    int rc = tgt_object_open(&tgt->store, bck, obj, &fd, &size);
    if (rc)
        return reply_open_error(r, bck, obj, rc);
    close(fd);
    /* the new name's owner may be another target: sent there, then deleted here */
    cmn_err cerr;
    int64_t sent;
    if ((rc = tgt_cluster_place(r, "rename", bck, obj, bck, name->valuestring, &sent, &cerr)) <= 0) {
        if (rc)
            return tgt_reply_err(r, cmn_err_http_status(cerr.code), "%s", cerr.msg);
        tgt_object_remove(&tgt->store, bck, obj);
        return tgt_reply_empty(r, 200);
    }
    char src[PATH_MAX];
    tgt_store_fqn(&tgt->store, bck, obj, src, sizeof src);
    /* copy then delete: the new name may live on another mountpath */
    tgt_objmeta m;
    rc = tgt_store_copy_file(&tgt->store, src, bck, name->valuestring, &m, NULL);
    if (rc)
        return tgt_reply_err(r, rc == -ENOTDIR ? 409 : 500, "rename ais://%s/%s to %s: %s", bck, obj,
                             name->valuestring, strerror(-rc));
    tgt_objmeta_free(&m);
    tgt_object_remove(&tgt->store, bck, obj);
    return tgt_reply_empty(r, 200);
}

int tgt_h_object_rename(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj;
    return tgt_check_object(r, bck, obj) ? rename_object(r, bck, obj) : MHD_YES;
}

int tgt_h_object_copy(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj;
    return tgt_check_object(r, bck, obj) ? tgt_act_copy_obj(r, bck, obj) : MHD_YES;
}

/* Custom metadata goes out in a GET's head (twice to a neighbour target),
 * which must fit libmicrohttpd's per-connection pool (server.c); AIStore
 * itself keeps all of an object's metadata in 4 KiB. */
#define MAX_CUSTOM_LEN (8 * 1024)

/* PATCH /v1/objects/B/O {"value": {k: v...}}: custom metadata merged into the
 * object's (replacing it with ?set-new-custom=true). The record is one
 * xattr, so the update is atomic; the bytes are untouched. */
int tgt_h_object_patch(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj;
    if (!tgt_check_object(r, bck, obj))
        return MHD_YES;
    const cJSON *value = tgt_msg_value(r), *kv;
    if (!cJSON_IsObject(value))
        return tgt_reply_err(r, 400, "ais://%s/%s: expected {\"value\": {\"key\": \"value\", ...}}", bck, obj);
    cJSON_ArrayForEach(kv, value)
    {
        if (!cJSON_IsString(kv))
            return tgt_reply_err(r, 400, "ais://%s/%s: custom metadata \"%s\": the value must be a string", bck, obj,
                                 kv->string);
    }
    int fd;
    int64_t size;
    tgt_objmeta m;
    if (!open_with_meta(r, bck, obj, &fd, &size, &m))
        return MHD_YES;
    bool replace = tgt_query_true(r, "set-new-custom");
    cJSON *custom = !replace && m.custom && *m.custom ? cJSON_Parse(m.custom) : NULL;
    if (!cJSON_IsObject(custom)) {
        cJSON_Delete(custom);
        custom = cJSON_CreateObject();
    }
    cJSON_ArrayForEach(kv, value)
    {
        cJSON_DeleteItemFromObjectCaseSensitive(custom, kv->string);
        cJSON_AddStringToObject(custom, kv->string, kv->valuestring);
    }
    free(m.custom);
    m.custom = cJSON_PrintUnformatted(custom);
    cJSON_Delete(custom);
    size_t len = strlen(m.custom);
    int rc = len > MAX_CUSTOM_LEN ? -E2BIG : tgt_objmeta_store(fd, &m);
    tgt_objmeta_free(&m);
    close(fd);
    if (rc == -E2BIG && len > MAX_CUSTOM_LEN)
        return tgt_reply_err(r, 413, "ais://%s/%s: custom metadata of %zu bytes as JSON (at most %d)", bck, obj, len,
                             MAX_CUSTOM_LEN);
    if (rc)
        return tgt_reply_err(r, rc == -ERANGE || rc == -E2BIG ? 413 : 500, "ais://%s/%s: cannot store custom metadata: %s",
                             bck, obj, strerror(-rc));
    return tgt_reply_text(r, 200, "");
}

int tgt_h_object_action_invalid(tgt_req *r)
{
    return tgt_check_object(r, r->items[2], r->obj) ? tgt_h_action_invalid(r) : MHD_YES;
}

int tgt_h_objects_promote(tgt_req *r)
{
    const char *bck = r->items[2];
    return tgt_check_bucket(r, bck, true) ? tgt_act_promote(r, bck) : MHD_YES;
}

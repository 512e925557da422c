/*
 * multipart.c - AIStore 5.0's multipart upload (S3's, on ais:// buckets).
 *
 *   POST   /v1/objects/B/O {"action":"mpt-upload"}            -> the upload id (text)
 *   PUT    /v1/objects/B/O?uploadId=ID&partNumber=N  body      part N, streamed
 *   POST   /v1/objects/B/O?uploadId=ID {"action":"mpt-complete",
 *                          "value":[{"part-number":N,"etag":""}...]}
 *   DELETE /v1/objects/B/O?uploadId=ID {"action":"mpt-abort"}
 *
 * Parts arrive in any order; a part put again replaces it. Complete checks
 * the list against the parts stored (all of them, each once: AIStore allows
 * no partial completion), then writes them in number order into the object
 * through the atomic writer, which records their count and largest size
 * (HEAD ?props=chunked answers them). Until then the object is unchanged.
 *
 * A part is a file MP/.etlfs/tmp/mpt-ID.N on the object's mountpath, itself
 * published by the atomic writer. Uploads live in a table in memory: a
 * restart drops them with the rest of .etlfs/tmp, and one idle for
 * cfg.upload_idle_ns is dropped by the sweeper (sweeper.c).
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct upload {
    char id[CMN_UUID_LEN + 1];
    char bck[256];
    char *obj;
    int mp;          /* the object's mountpath: its parts live there */
    int *parts;      /* the part numbers stored, ascending */
    int nparts, cap;
    int inflight;    /* part PUTs streaming */
    bool completing; /* a complete is writing the object */
    int64_t used_ns; /* cmn_mono_ns of its last request */
    struct upload *next;
} upload;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static upload *uploads; /* guarded by mu, with every field of every upload */
static int nuploads;

static void part_path(const upload *u, int num, char *out, size_t len)
{
    snprintf(out, len, "%s/.etlfs/tmp/mpt-%s.%d", tgt->store.mpaths[u->mp], u->id, num);
}

static upload *find_locked(const char *id)
{
    for (upload *u = uploads; u; u = u->next)
        if (!strcmp(u->id, id))
            return u;
    return NULL;
}

static void unlink_locked(upload *u)
{
    for (upload **p = &uploads; *p; p = &(*p)->next)
        if (*p == u) {
            *p = u->next;
            nuploads--;
            return;
        }
}

/* Removes an upload's parts and frees it (out of the table already). */
static void upload_free(upload *u)
{
    char path[PATH_MAX];
    for (int i = 0; i < u->nparts; i++) {
        part_path(u, u->parts[i], path, sizeof path);
        unlink(path);
    }
    free(u->parts);
    free(u->obj);
    free(u);
}

static bool has_part(const upload *u, int num)
{
    for (int i = 0; i < u->nparts; i++)
        if (u->parts[i] == num)
            return true;
    return false;
}

static void add_part_locked(upload *u, int num)
{
    if (has_part(u, num))
        return;
    if (u->nparts == u->cap) {
        u->cap = u->cap ? 2 * u->cap : 16;
        int *grown = cmn_xmalloc((size_t)u->cap * sizeof *grown);
        if (u->nparts)
            memcpy(grown, u->parts, (size_t)u->nparts * sizeof *grown);
        free(u->parts);
        u->parts = grown;
    }
    int i = u->nparts++;
    while (i > 0 && u->parts[i - 1] > num) {
        u->parts[i] = u->parts[i - 1];
        i--;
    }
    u->parts[i] = num;
}

/* The upload a request names, for bck/obj and free to use; NULL with err
 * (404 unknown, 400 another object's, 409 being completed). */
static upload *lookup_locked(const char *bck, const char *obj, const char *id, cmn_err *err)
{
    upload *u = find_locked(id);
    if (!u)
        cmn_err_set(err, ENOENT, "ais://%s/%s: multipart upload %s does not exist", bck, obj, id);
    else if (strcmp(u->bck, bck) || strcmp(u->obj, obj))
        cmn_err_set(err, EINVAL, "ais://%s/%s: multipart upload %s is of ais://%s/%s", bck, obj, id, u->bck, u->obj);
    else if (u->completing)
        cmn_err_set(err, EBUSY, "ais://%s/%s: multipart upload %s is being completed", bck, obj, id);
    else
        return u;
    return NULL;
}


/* The request's object, checked, and its ?uploadId=; NULL once the 400/404 is replied. */
static const char *upload_id(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj;
    if (!tgt_check_object(r, bck, obj))
        return NULL;
    const char *id = tgt_query(r, "uploadId");
    if (id && *id && strlen(id) <= CMN_UUID_LEN)
        return id;
    if (!id || !*id)
        tgt_reply_err(r, 400, "ais://%s/%s: missing uploadId (the id mpt-upload answered)", bck, obj);
    else
        tgt_reply_err(r, 404, "ais://%s/%s: multipart upload %.80s does not exist", bck, obj, id);
    return NULL;
}

int tgt_h_mpt_create(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj;
    if (!tgt_check_object(r, bck, obj))
        return MHD_YES;
    pthread_mutex_lock(&mu);
    if (nuploads >= TGT_MPT_MAX_UPLOADS) {
        pthread_mutex_unlock(&mu);
        return tgt_reply_err(r, 503, "ais://%s/%s: %d multipart uploads are in progress (the most this target "
                                     "keeps); complete or abort one",
                             bck, obj, TGT_MPT_MAX_UPLOADS);
    }
    upload *u = cmn_xcalloc(1, sizeof *u);
    do
        cmn_gen_uuid(u->id);
    while (find_locked(u->id));
    snprintf(u->bck, sizeof u->bck, "%s", bck);
    u->obj = cmn_xstrdup(obj);
    u->mp = tgt_store_mpath_of(&tgt->store, bck, obj);
    u->used_ns = cmn_mono_ns();
    u->next = uploads;
    uploads = u;
    nuploads++;
    char id[sizeof u->id];
    memcpy(id, u->id, sizeof id);
    pthread_mutex_unlock(&mu);
    return tgt_reply_text(r, 200, id);
}

/* ------------------------------------------------------------------ parts */

/* partNumber: 1..TGT_MPT_MAX_PARTS, else 0. */
static int part_number(const char *s)
{
    char *end;
    long n = s && *s ? strtol(s, &end, 10) : 0;
    return n >= 1 && n <= TGT_MPT_MAX_PARTS && *end == '\0' && *s != '+' ? (int)n : 0;
}

bool tgt_mpt_part_start(tgt_req *r, int *ret)
{
    const char *bck = r->items[2], *obj = r->obj;
    *ret = MHD_YES;
    const char *id = upload_id(r);
    if (!id)
        return false;
    const char *pn = tgt_query(r, "partNumber");
    int num = part_number(pn);
    if (!num) {
        *ret = tgt_reply_err(r, 400, "ais://%s/%s: multipart upload %s: invalid part number \"%.32s\" (expecting 1 "
                                     "to %d)",
                             bck, obj, id, pn ? pn : "", TGT_MPT_MAX_PARTS);
        return false;
    }
    const char *len = tgt_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len && strtoll(len, NULL, 10) == 0) {
        *ret = tgt_reply_err(r, 400, "ais://%s/%s: multipart upload %s: put-part invalid size (0) of part %d", bck, obj,
                             id, num);
        return false;
    }
    cmn_err err = {0};
    if (len && tgt_store_check_space(&tgt->store, bck, obj, strtoll(len, NULL, 10), &err) != 0) {
        *ret = tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
        return false;
    }
    char path[PATH_MAX];
    pthread_mutex_lock(&mu);
    upload *u = lookup_locked(bck, obj, id, &err);
    if (u) {
        u->inflight++;
        part_path(u, num, path, sizeof path);
    }
    int mp = u ? u->mp : 0;
    pthread_mutex_unlock(&mu);
    if (!u) {
        *ret = tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
        return false;
    }
    snprintf(r->put_ref, sizeof r->put_ref, "%s", id);
    r->put_part = num;
    int rc = tgt_writer_open_at(&r->writer, &tgt->store, mp, path);
    if (rc) {
        tgt_mpt_part_cancel(r);
        *ret = tgt_reply_err(r, cmn_err_http_status(rc), "ais://%s/%s: multipart upload %s: cannot create part %d: %s",
                             bck, obj, id, num, strerror(-rc));
        return false;
    }
    snprintf(r->put_bck, sizeof r->put_bck, "%s", bck);
    r->put_obj = cmn_xstrdup(obj);
    r->streaming = true;
    return true;
}

void tgt_mpt_part_cancel(tgt_req *r)
{
    pthread_mutex_lock(&mu);
    upload *u = find_locked(r->put_ref);
    if (u) {
        u->inflight--;
        u->used_ns = cmn_mono_ns();
    }
    pthread_mutex_unlock(&mu);
}

int tgt_h_mpt_part_put(tgt_req *r)
{
    const char *bck = r->put_bck, *obj = r->put_obj, *id = r->put_ref;
    int num = r->put_part;
    if (!r->streaming)
        return tgt_reply_err(r, 500, "PUT %s: the part was not streamed", r->url);
    r->streaming = false;
    int rc = 0;
    if (r->stream_err) {
        rc = -r->stream_err;
    } else if (r->writer.bytes == 0) {
        tgt_writer_abort(&r->writer);
        tgt_mpt_part_cancel(r);
        return tgt_reply_err(r, 400, "ais://%s/%s: multipart upload %s: put-part invalid size (0) of part %d", bck, obj,
                             id, num);
    } else {
        rc = tgt_writer_commit(&r->writer, NULL); /* replaces the part if it was put before */
    }
    if (rc) {
        tgt_mpt_part_cancel(r);
        return tgt_reply_err(r, cmn_err_http_status(rc), "ais://%s/%s: multipart upload %s: cannot store part %d: %s",
                             bck, obj, id, num, strerror(-rc));
    }
    pthread_mutex_lock(&mu);
    upload *u = find_locked(id);
    char path[PATH_MAX];
    if (u) {
        add_part_locked(u, num);
        u->inflight--;
        u->used_ns = cmn_mono_ns();
    } else {
        /* aborted (or dropped) while the part arrived: the part must not stay */
        upload gone = {.mp = tgt_store_mpath_of(&tgt->store, bck, obj)};
        snprintf(gone.id, sizeof gone.id, "%s", id);
        part_path(&gone, num, path, sizeof path);
        unlink(path);
    }
    pthread_mutex_unlock(&mu);
    if (!u)
        return tgt_reply_err(r, 404, "ais://%s/%s: multipart upload %s does not exist (aborted while part %d arrived)",
                             bck, obj, id, num);
    return tgt_reply_empty(r, 200);
}

/* --------------------------------------------------------------- complete */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The part numbers of mpt-complete's value, sorted: 0, or -EINVAL with err. */
static int parse_parts(const cJSON *value, const char *what, int **out, int *n, cmn_err *err)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(value))
        return cmn_err_set(err, EINVAL, "%s: mpt-complete needs \"value\": the parts [{\"part-number\": N}, ...]",
                           what);
    int count = cJSON_GetArraySize(value), i = 0;
    int *nums = cmn_xmalloc((size_t)(count ? count : 1) * sizeof *nums);
    const cJSON *p;
    cJSON_ArrayForEach(p, value)
    {
        const cJSON *num = cJSON_IsObject(p) ? cJSON_GetObjectItem(p, "part-number") : NULL;
        double v = cJSON_IsNumber(num) ? num->valuedouble : 0;
        if (v < 1 || v > TGT_MPT_MAX_PARTS || v != (double)(int)v) {
            free(nums);
            return cmn_err_set(err, EINVAL, "%s: mpt-complete: part %d of the list has no \"part-number\" from 1 to %d",
                               what, i + 1, TGT_MPT_MAX_PARTS);
        }
        nums[i++] = (int)v;
    }
    qsort(nums, (size_t)count, sizeof *nums, cmp_int);
    *out = nums;
    *n = count;
    return 0;
}

/* Whether the list names exactly the parts stored, each once; else err. */
static int check_list(const upload *u, const int *nums, int n, const char *what, cmn_err *err)
{
    if (!u->nparts)
        return cmn_err_set(err, EINVAL, "%s: no chunks: no part was uploaded", what);
    if (n != u->nparts)
        return cmn_err_set(err, EINVAL, "%s: partial completion is not allowed: requested %d parts, have %d", what, n,
                           u->nparts);
    for (int i = 0; i < n; i++) {
        if (i && nums[i] == nums[i - 1])
            return cmn_err_set(err, EINVAL, "%s: part %d is listed twice", what, nums[i]);
        if (!has_part(u, nums[i]))
            return cmn_err_set(err, EINVAL, "%s: part %d was not uploaded", what, nums[i]);
    }
    return 0;
}

/* Writes the parts in order into bck/obj through the atomic writer. */
static int assemble(const upload *u, const int *nums, int n, cmn_err *err)
{
    char path[PATH_MAX];
    int64_t total = 0;
    struct stat st;
    for (int i = 0; i < n; i++) {
        part_path(u, nums[i], path, sizeof path);
        if (stat(path, &st) != 0)
            return cmn_err_set(err, errno, "ais://%s/%s: multipart upload %s: part %d: %s", u->bck, u->obj, u->id,
                               nums[i], strerror(errno));
        total += st.st_size;
    }
    int rc = tgt_store_check_space(&tgt->store, u->bck, u->obj, total, err);
    if (rc)
        return rc;
    tgt_writer w;
    if ((rc = tgt_writer_open(&w, &tgt->store, u->bck, u->obj)) != 0)
        return cmn_err_set(err, rc, "ais://%s/%s: cannot create work file: %s", u->bck, u->obj, strerror(-rc));
    char *buf = cmn_xmalloc(1 << 20);
    for (int i = 0; i < n && !rc; i++) {
        part_path(u, nums[i], path, sizeof path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            break;
        }
        int64_t size = 0;
        ssize_t got;
        while ((got = cmn_pread_full(fd, buf, 1 << 20, (off_t)size)) > 0 && (rc = tgt_writer_write(&w, buf, (size_t)got)) == 0)
            size += got;
        if (got < 0 && !rc)
            rc = (int)got;
        close(fd);
        w.chunk_max = size > w.chunk_max ? size : w.chunk_max;
    }
    free(buf);
    w.chunks = n;
    if (rc) {
        tgt_writer_abort(&w);
        return cmn_err_set(err, rc, "ais://%s/%s: multipart upload %s: cannot assemble the parts: %s", u->bck, u->obj,
                           u->id, strerror(-rc));
    }
    rc = tgt_writer_commit(&w, NULL);
    if (rc == -ENOTDIR || rc == -EISDIR)
        return cmn_err_set(err, EBUSY, "ais://%s/%s: %s", u->bck, u->obj,
                           rc == -ENOTDIR ? "a prefix of the name is an existing object"
                                          : "the name is a prefix of existing objects");
    if (rc)
        return cmn_err_set(err, rc, "ais://%s/%s: cannot store: %s", u->bck, u->obj, strerror(-rc));
    return 0;
}

int tgt_h_mpt_complete(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj, *id = upload_id(r);
    if (!id)
        return MHD_YES;
    char what[1500];
    snprintf(what, sizeof what, "ais://%s/%s: multipart upload %s", bck, obj, id);
    cmn_err err = {0};
    int *nums, n;
    if (parse_parts(tgt_msg_value(r), what, &nums, &n, &err) != 0)
        return tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
    pthread_mutex_lock(&mu);
    upload *u = lookup_locked(bck, obj, id, &err);
    int rc = u ? 0 : -err.code;
    if (u && u->inflight)
        rc = cmn_err_set(&err, EBUSY, "%s: %d part(s) are still arriving; complete once they are stored", what,
                         u->inflight);
    if (u && !rc)
        rc = check_list(u, nums, n, what, &err);
    if (!rc)
        u->completing = true; /* parts and aborts wait (409) until it is done */
    pthread_mutex_unlock(&mu);
    if (!rc)
        rc = assemble(u, nums, n, &err); /* u is not freed while completing */
    free(nums);
    if (rc) {
        pthread_mutex_lock(&mu);
        if (u && u->completing) {
            u->completing = false; /* the upload stays: the client may try again */
            u->used_ns = cmn_mono_ns();
        }
        pthread_mutex_unlock(&mu);
        return tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
    }
    pthread_mutex_lock(&mu);
    unlink_locked(u);
    pthread_mutex_unlock(&mu);
    upload_free(u);
    return tgt_reply_empty(r, 200);
}

int tgt_h_mpt_abort(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj, *id = upload_id(r);
    if (!id)
        return MHD_YES;
    cmn_err err = {0};
    pthread_mutex_lock(&mu);
    upload *u = lookup_locked(bck, obj, id, &err);
    if (u)
        unlink_locked(u); /* parts still arriving find it gone and remove themselves */
    pthread_mutex_unlock(&mu);
    if (!u)
        return tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
    upload_free(u);
    return tgt_reply_empty(r, 200);
}

void tgt_mpt_sweep(int64_t idle_before_ns)
{
    upload *drop = NULL;
    pthread_mutex_lock(&mu);
    for (upload **p = &uploads; *p;) {
        upload *u = *p;
        if (!u->inflight && !u->completing && u->used_ns < idle_before_ns) {
            *p = u->next;
            nuploads--;
            u->next = drop;
            drop = u;
        } else {
            p = &u->next;
        }
    }
    pthread_mutex_unlock(&mu);
    while (drop) {
        upload *u = drop;
        drop = u->next;
        if (idle_before_ns != INT64_MAX)
            cmn_info("multipart upload %s of ais://%s/%s dropped: idle for %lld s", u->id, u->bck, u->obj,
                     (long long)(tgt->cfg.upload_idle_ns / 1000000000LL));
        upload_free(u);
    }
}

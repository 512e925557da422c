/*
 * comm.c - talking HTTP to a running ETL: the handle the target holds while
 * it transforms (with a pool of kept-alive connections: keep-alive servers,
 * many target threads), the readiness probe, and etl_transform, all over the
 * one HTTP client (common/http_client.c). The ETL's status is known before
 * the sink sees any byte, so a failing ETL becomes a 502 instead of a
 * "transformed" error page; a hang becomes a 504 at the object timeout.
 * Which method, URL and body each communicator uses lives in its own file
 * (see comm_table.c); this file does the HTTP, with the parts of the URL
 * every communicator shares (an arg type that names the file, etl_args),
 * and hands a communicator with its own transfer (ws://, comm_ws.c) the
 * object instead. The client writes an answer straight into the caller's
 * spool or file (an object writer's work file, hashed as it goes); only a
 * sink of callbacks is called back.
 */
#include "etl/etl_int.h"
#include "common/http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 16
#define ERRBODY_MAX 1024
#define RETRY_REASON_HDR "Ais-Etl-Retry-Reason"
#define RETRY_REASON "direct-put-transient"
#define RETRY_MAX 3 /* replays after the first attempt: 50, 100, 200 ms apart */

etl_handle *etl_handle_new(const char *name, const etl_comm *comm, const char *arg, const char *io_command,
                           int port, int64_t object_timeout_ns)
{
    etl_handle *h = cmn_xcalloc(1, sizeof *h);
    h->refs = 1;
    h->name = cmn_xstrdup(name);
    h->comm = comm;
    h->arg = cmn_xstrdup(arg);
    h->io_command = cmn_xstrdup(io_command ? io_command : "");
    snprintf(h->base_url, sizeof h->base_url, "http://127.0.0.1:%d", port);
    h->object_timeout_ns = object_timeout_ns;
    h->port = port;
    h->pool = cmn_http_pool_new(POOL_MAX);
    if (comm->state_new)
        h->comm_state = comm->state_new(h);
    pthread_mutex_init(&h->errs_mu, NULL);
    return h;
}

void etl_handle_free(etl_handle *h)
{
    if (!h)
        return;
    cmn_http_pool_free(h->pool);
    if (h->comm->state_free)
        h->comm->state_free(h->comm_state);
    for (size_t i = 0; i < ETL_OBJ_ERRORS; i++) {
        free(h->errs[i].obj);
        free(h->errs[i].job);
        free(h->errs[i].msg);
    }
    pthread_mutex_destroy(&h->errs_mu);
    free(h->name);
    free(h->arg);
    free(h->io_command);
    free(h->sock_path);
    free(h);
}

void etl_handle_put(etl_handle *h)
{
    if (h && __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0)
        etl_handle_free(h);
}

/* The etl_sink behind the client's sink: any refusal is -ECANCELED. */
static int sink_begin(void *ctx, const char *ctype, int64_t len)
{
    const etl_sink *s = ctx;
    return s->begin(s->ctx, ctype, len) ? -ECANCELED : 0;
}

static int sink_write(void *ctx, const char *data, size_t len)
{
    const etl_sink *s = ctx;
    return s->write(s->ctx, data, len) ? -ECANCELED : 0;
}

/* A spool or file sink as callbacks, for a communicator with its own
 * transfer (ws://); the HTTP ones hand the spool or file to the client. */
static int spool_begin(void *ctx, const char *ctype, int64_t len)
{
    (void)len;
    const etl_sink *s = ctx;
    if (s->ctype)
        snprintf(s->ctype, s->ctype_size, "%s", ctype);
    return 0;
}

static int spool_write(void *ctx, const void *buf, size_t len)
{
    const etl_sink *s = ctx;
    return cmn_spool_write(s->spool, buf, len);
}

/* The same for a file sink. */
static int fd_write(void *ctx, const void *buf, size_t len)
{
    etl_fd_out *o = ((const etl_sink *)ctx)->fd_out;
    int rc = cmn_write_all(o->fd, buf, len);
    if (rc) {
        o->err = rc < -1 ? -rc : errno; /* -errno, or -1 with errno set */
        return rc;
    }
    if (o->hash)
        XXH64_update(o->hash, buf, len);
    o->bytes += (int64_t)len;
    return 0;
}

/* An error page as one short line for a message. */
static void one_line(cmn_buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] == '\n' || b->data[i] == '\r')
            b->data[i] = ' ';
    while (b->len && b->data[b->len - 1] == ' ')
        b->data[--b->len] = '\0';
}

void etl_handle_record_error(etl_handle *h, const etl_object *obj, const cmn_err *err)
{
    pthread_mutex_lock(&h->errs_mu);
    struct etl_obj_error *e = &h->errs[h->nerrs++ % ETL_OBJ_ERRORS];
    free(e->obj);
    free(e->job);
    free(e->msg);
    e->obj = cmn_xasprintf("ais://%s/%s", obj->bucket, obj->name);
    e->job = obj->job ? cmn_xstrdup(obj->job) : NULL;
    e->msg = cmn_xstrdup(err->msg);
    e->ecode = cmn_err_http_status(err->code);
    pthread_mutex_unlock(&h->errs_mu);
}

cJSON *etl_handle_errors_json(etl_handle *h, const char *job)
{
    cJSON *a = cJSON_CreateArray();
    pthread_mutex_lock(&h->errs_mu);
    size_t first = h->nerrs > ETL_OBJ_ERRORS ? h->nerrs - ETL_OBJ_ERRORS : 0;
    for (size_t i = first; i < h->nerrs; i++) {
        const struct etl_obj_error *e = &h->errs[i % ETL_OBJ_ERRORS];
        if (job && (!e->job || strcmp(e->job, job)))
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "obj_name", e->obj);
        cJSON_AddStringToObject(o, "msg", e->msg);
        cJSON_AddNumberToObject(o, "ecode", e->ecode);
        cJSON_AddItemToArray(a, o);
    }
    pthread_mutex_unlock(&h->errs_mu);
    return a;
}

/* ---- the URL of an object's request: the communicator's (its row in
 * comm_table.c), unless the arg type names the file; then etl_args. */

/* url with ?etl_args= (or &etl_args=) appended when args are given. */
static char *with_args(char *url, const char *args)
{
    if (!args || !*args)
        return url;
    char *e = cmn_query_escape(args);
    char *out = cmn_xasprintf("%s%cetl_args=%s", url, strchr(url, '?') ? '&' : '?', e);
    free(e);
    free(url);
    return out;
}

/* arg type fqn, whatever the communicator: the object's path is the URL. */
static char *fqn_url(const etl_handle *h, const etl_object *obj)
{
    char *e = cmn_path_escape(obj->fqn);
    char *url = cmn_xasprintf("%s/%s", h->base_url, e);
    free(e);
    return url;
}

/* AIStore 5.0's etl_fqn: the communicator's URL, the file named in the query
 * as its target does (path-escaped, then query-escaped: the SDK webserver
 * unquotes the value once more). */
static char *fqn_query_url(const etl_handle *h, const etl_object *obj)
{
    char *url = h->comm->object_url(h, obj), *p = cmn_path_escape(obj->fqn), *q = cmn_query_escape(p);
    char *out = cmn_xasprintf("%s%cetl_fqn=%s", url, strchr(url, '?') ? '&' : '?', q);
    free(url);
    free(p);
    free(q);
    return out;
}

char *etl_object_url(const etl_handle *h, const etl_object *obj, const char *args)
{
    char *url = strcmp(h->arg, "fqn") == 0 ? fqn_url(h, obj)
                : h->direct_fqn            ? fqn_query_url(h, obj)
                                           : h->comm->object_url(h, obj);
    return with_args(url, args);
}

/* The URL of a PUT that carries obj's bytes in its body (a pipeline's later
 * stage): hpush's unless the communicator has its own. */
static char *body_url(const etl_handle *h, const etl_object *obj, const char *args)
{
    return with_args(h->comm->body_url ? h->comm->body_url(h, obj) : etl_push_url(h, obj), args);
}

/* The HTTP communicators: one request per object, as comm_table.c's row says. */
static int http_transfer(etl_handle *h, const etl_object *obj, const char *args, const cmn_spool *input,
                         const etl_sink *sink, int64_t timeout_ns, cmn_err *err)
{
    bool put = input || h->comm->puts_object;
    bool names_file = strcmp(h->arg, "fqn") == 0 || h->direct_fqn; /* the URL names the file */
    bool from_file = !input && put && !names_file;
    int64_t tmo = timeout_ns > 0 ? timeout_ns : h->object_timeout_ns;
    char *url = input ? body_url(h, obj, args) : etl_object_url(h, obj, args);
    int fd = -1;
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    int rc = 0;

    struct stat st = {0};
    if (from_file) {
        fd = open(obj->fqn, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) {
            int e = errno;
            ETL_FAIL(e == ENOENT ? ENOENT : EIO, "cannot open %s: %s", obj->fqn, strerror(e));
        }
    }
    /* fqn, etl_fqn: the ETL opens the file itself, the PUT has an empty body */
    static const char *const put_hdrs[] = {"Content-Type: application/octet-stream", NULL};
    cmn_http_sink out = {(void *)sink, sink_begin, sink_write};
    bool to_fd = !sink->spool && sink->fd_out;
    cmn_http_req req = {
        .method = put ? "PUT" : "GET",
        .url = url,
        .headers = put ? put_hdrs : NULL,
        .body_from_fd = from_file,
        .body_fd = fd,
        .body_fd_len = st.st_size,
        .to_spool = sink->spool,
        .to_fd = to_fd,
        .out_fd = to_fd ? sink->fd_out->fd : -1,
        .out_hash = to_fd ? sink->fd_out->hash : NULL,
        .sink = sink->spool || to_fd ? NULL : &out,
        .err_body_max = ERRBODY_MAX,
        .stall_sec = -1,
        .timeout_ms = (long)(tmo / 1000000),
    };
    if (input && input->fd >= 0) { /* a previous stage's output, spilled to a file */
        req.body_from_fd = true;
        req.body_fd = input->fd;
        req.body_fd_len = input->len;
    } else if (input) {
        req.body = input->mem.data ? input->mem.data : "";
        req.body_len = input->mem.len;
    }
    /* AIStore 5.0's retry contract: 503 + Ais-Etl-Retry-Reason: direct-put-transient
     * means the ETL bailed before transforming; our source (a file or a
     * spool) replays, so the request is sent again, a few times */
    static const char *const want[] = {RETRY_REASON_HDR, NULL};
    req.want_headers = want;
    int hrc;
    for (int attempt = 0;; attempt++) {
        hrc = cmn_http_do(h->pool, &req, &resp);
        __atomic_add_fetch(&h->in_bytes, resp.sent, __ATOMIC_RELAXED);
        __atomic_add_fetch(&h->out_bytes, resp.streamed, __ATOMIC_RELAXED);
        bool bailed = hrc == 0 && resp.status == 503 && resp.hdr[0] && !strcmp(resp.hdr[0], RETRY_REASON);
        if (!bailed || attempt == RETRY_MAX)
            break;
        cmn_debug("etl[%s]: object ais://%s/%s: the ETL asked for a retry (%s)", h->name, obj->bucket, obj->name,
                  RETRY_REASON);
        cmn_http_resp_free(&resp);
        cmn_http_resp_init(&resp);
        struct timespec ts = {0, (50L << attempt) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (to_fd) {
        sink->fd_out->bytes = resp.streamed;
        if (resp.out_err)
            sink->fd_out->err = resp.out_err;
    }
    if (resp.out_err)
        ETL_FAIL(ECANCELED, "the receiver stopped reading");
    if (resp.in_err)
        ETL_FAIL(EIO, "cannot read %s: %s", input ? "the previous stage's output" : obj->fqn, strerror(resp.in_err));
    if (hrc == -ETIMEDOUT) {
        char d[32];
        cmn_format_duration(tmo, d, sizeof d);
        ETL_FAIL(ETIMEDOUT, "no complete answer within %s", d);
    }
    if (hrc)
        ETL_FAIL(EPROTO, "%s%s%s", resp.err.msg, resp.detail[0] ? ": " : "", resp.detail);
    if (resp.status < 200 || resp.status >= 300) {
        one_line(&resp.body);
        ETL_FAIL(EPROTO, "the ETL answered %ld%s%s", resp.status, resp.body.len ? ": " : "",
             resp.body.len ? resp.body.data : "");
    }
    if (sink->spool && sink->ctype)
        snprintf(sink->ctype, sink->ctype_size, "%s", resp.content_type[0] ? resp.content_type : "application/octet-stream");
    __atomic_add_fetch(&h->obj_count, 1, __ATOMIC_RELAXED);
out:
    if (fd >= 0)
        close(fd);
    cmn_http_resp_free(&resp);
    free(url);
    return rc;
}

int etl_handle_transform(etl_handle *h, const etl_object *obj, const char *args, const cmn_spool *input,
                         const etl_sink *sink, int64_t timeout_ns, cmn_err *err)
{
    etl_sink via = {.ctx = (void *)sink, .begin = spool_begin, .write = sink->spool ? spool_write : fd_write};
    bool wrap = sink->spool || sink->fd_out;
    int rc = h->comm->transfer ? h->comm->transfer(h, obj, args, input, wrap ? &via : sink, timeout_ns, err)
                               : http_transfer(h, obj, args, input, sink, timeout_ns, err);
    if (rc && err) {
        cmn_debug("%s", err->msg);
        if (rc != -ECANCELED) /* a receiver that stopped reading is not the object's failure */
            etl_handle_record_error(h, obj, err);
    }
    return rc;
}

int etl_wait_ready(const char *url, int64_t deadline_ns, bool (*alive)(void *), void *ctx, char *err,
                   size_t errlen)
{
    cmn_http_req req = {.url = url, .timeout_ms = 2000, .stall_sec = -1};
    for (;;) {
        if (!alive(ctx)) {
            snprintf(err, errlen, "stopped before it was ready");
            return -EIO;
        }
        cmn_http_resp resp;
        cmn_http_resp_init(&resp);
        int rc = cmn_http_do(NULL, &req, &resp);
        long status = resp.status;
        if (rc == 0 && status == 200) {
            cmn_http_resp_free(&resp);
            return 0;
        }
        if (cmn_mono_ns() >= deadline_ns) {
            if (rc == 0)
                snprintf(err, errlen, "not ready in time: %s answered %ld", url, status);
            else
                snprintf(err, errlen, "not ready in time: %s", resp.err.msg);
            cmn_http_resp_free(&resp);
            return -EIO;
        }
        cmn_http_resp_free(&resp);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

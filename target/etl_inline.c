/*
 * etl_inline.c - inline transforms (GET /v1/objects/B/O?etl_name=): the
 * object goes through the ETL on its way to the client.
 *
 * An inline transform of a small object (up to INLINE_MEM) runs on the
 * request's worker thread, or over ws:// on no thread at all (started from
 * the event thread, answered by that thread's loop or the ETL connection's
 * reader), and is
 * answered once complete (status and length known).
 * A larger one runs on its own thread and streams into a pipe that the HTTP
 * response reads, so the client gets bytes as the ETL produces them. Either
 * way the ETL's status is known before we answer: a failing ETL gives a 5xx,
 * and one that dies mid-stream aborts the connection instead of ending the
 * body cleanly (a client never takes a truncated body for a whole one).
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct bridge {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int rfd, wfd;
    bool begun, ended;
    int rc;
    char ctype[128];
    int64_t clen;
    char msg[1024];
    /* the reader runs on an event thread and never blocks: with the pipe
     * empty it suspends the connection, and the next write resumes it */
    struct MHD_Connection *conn;
    bool parked;
    uint64_t writes; /* writes and the end so far: a reader parks only if none came since it looked */
    etl_chain *h;
    etl_object obj;
    char bck[256], *name, fqn[PATH_MAX];
    pthread_t thread;
} bridge;

static int sink_begin(void *ctx, const char *ctype, int64_t clen)
{
    bridge *b = ctx;
    pthread_mutex_lock(&b->mu);
    snprintf(b->ctype, sizeof b->ctype, "%s", ctype && *ctype ? ctype : "application/octet-stream");
    b->clen = clen;
    b->begun = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

/* With b->mu held: something new for the reader; wake it if it parked. */
static void bridge_wake(bridge *b)
{
    b->writes++;
    if (b->parked) {
        b->parked = false;
        tgt_unpark(b->conn);
    }
}

static int sink_write(void *ctx, const void *buf, size_t len)
{
    bridge *b = ctx;
    int rc = cmn_write_all(b->wfd, buf, len); /* EPIPE when the client went away */
    pthread_mutex_lock(&b->mu);
    bridge_wake(b);
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static void *bridge_main(void *p)
{
    bridge *b = p;
    etl_sink sink = {.ctx = b, .begin = sink_begin, .write = sink_write};
    cmn_err e = {0};
    int rc = etl_transform(b->h, &b->obj, &sink, 0, &e);
    snprintf(b->msg, sizeof b->msg, "%s", e.msg);
    rc = rc ? cmn_err_http_status(rc) : 0;
    pthread_mutex_lock(&b->mu);
    b->rc = rc;
    b->ended = true;
    close(b->wfd); /* the reader sees EOF only after rc is set */
    b->wfd = -1;
    bridge_wake(b);
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void bridge_free(bridge *b)
{
    if (b->rfd >= 0)
        close(b->rfd);
    pthread_join(b->thread, NULL);
    etl_put(b->h);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b->name);
    free(b);
}

static ssize_t bridge_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    bridge *b = cls;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        uint64_t seen = b->writes;
        pthread_mutex_unlock(&b->mu);
        ssize_t n = read(b->rfd, buf, max);
        if (n > 0) {
            tgt_metric_add(TGT_M_ETL_INLINE_SIZE, n);
            return n;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            pthread_mutex_lock(&b->mu);
            bool park = b->writes == seen;
            if (park) {
                b->parked = true;
                tgt_park(b->conn);
            }
            pthread_mutex_unlock(&b->mu);
            if (park)
                return 0; /* libmicrohttpd asks again once resumed */
            continue;
        }
        if (n < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        pthread_mutex_lock(&b->mu);
        while (!b->ended)
            pthread_cond_wait(&b->cv, &b->mu);
        int rc = b->rc;
        pthread_mutex_unlock(&b->mu);
        if (rc) {
            cmn_error("inline transform ais://%s/%s aborted mid-stream: %s", b->bck, b->name, b->msg);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
}

static void bridge_done(void *cls) { bridge_free(cls); }

/* ------------------------------------------------------------ buffered inline
 * The transform runs on the request's own worker thread; its output collects
 * in memory (up to INLINE_MEM) and spills to an unlinked file in the object's
 * mountpath beyond that. The reply goes out after the ETL has finished, so its
 * status and length are always known: no thread, pipe or hand-off per object.
 * Used for objects up to INLINE_MEM; larger ones stream through the bridge. */
#define INLINE_MEM (4u << 20)

typedef struct spool {
    cmn_spool out;
    char ctype[128];
} spool;

/* The output in out as the reply (which owns its memory or file from here). */
static int reply_spool(tgt_req *r, cmn_spool *out, const char *ctype)
{
    struct MHD_Response *resp;
    if (out->fd >= 0) {
        resp = MHD_create_response_from_fd64((uint64_t)out->len, out->fd);
        if (!resp)
            close(out->fd);
    } else {
        size_t n = out->mem.len;
        char *data = cmn_buf_steal(&out->mem);
        resp = MHD_create_response_from_buffer(n, data, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(data);
    }
    if (!resp)
        return tgt_reply_err(r, 500, "inline transform: cannot create response");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    r->bytes = out->len;
    return tgt_reply(r, 200, resp);
}

static int inline_buffered(tgt_req *r, etl_chain *h, etl_object *o, int mp)
{
    spool s;
    cmn_spool_init(&s.out, tgt->store.mpaths[mp], INLINE_MEM);
    etl_sink sink = {.spool = &s.out, .ctype = s.ctype, .ctype_size = sizeof s.ctype};
    cmn_err e = {0};
    int rc = etl_transform(h, o, &sink, 0, &e);
    etl_put(h);
    if (rc) {
        cmn_spool_free(&s.out);
        return tgt_reply_err(r, cmn_err_http_status(rc), "%s", e.msg);
    }
    return reply_spool(r, &s.out, s.ctype);
}

/* hpull: the client is sent to the ETL, which fetches the object itself. */
static int inline_redirect(tgt_req *r, etl_chain *h, char *url)
{
    etl_put(h);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, url);
    free(url);
    return tgt_reply(r, 307, resp);
}

etl_chain *tgt_etl_from_query(tgt_req *r, cmn_err *err)
{
    etl_request q = {.name = tgt_query(r, "etl_name"), .args = tgt_query(r, "etl_args")};
    const char *pl = tgt_query(r, "etl_pipeline");
    char *csv = cmn_xstrdup(pl ? pl : "");
    etl_chain *c = NULL;
    if (etl_request_pipeline(&q, csv, err) == 0)
        c = etl_get(tgt->etl, &q, err);
    free(csv);
    return c;
}

/* The object's file and size with one stat: a file found answers for its
 * bucket too, so only a missing one takes the bucket's checks (a 404 naming
 * the bucket) and, in a cluster, a neighbour's copy, as a plain GET does
 * (object.c). 0, the stat's -errno, or 1 when a reply was queued. */
static int inline_source(tgt_req *r, const char *bck, const char *obj, char *fqn, size_t fqnlen, int64_t *size)
{
    if (!tgt_check_names(r, bck, obj))
        return 1;
    if (tgt_store_fqn(&tgt->store, bck, obj, fqn, fqnlen) != 0)
        return -ENAMETOOLONG;
    int rc = tgt_object_stat(fqn, size);
    if (rc != -ENOENT)
        return rc;
    if (!tgt_check_object(r, bck, obj))
        return 1;
    if (!tgt_cluster_on())
        return rc;
    cmn_err gerr;
    if (tgt_cluster_gfn(r, bck, obj, &gerr) != 0) {
        tgt_reply_err(r, cmn_err_http_status(gerr.code), "%s", gerr.msg);
        return 1;
    }
    return tgt_object_stat(fqn, size);
}

/* ------------------------------------------------------------ no thread held
 * On an event thread a small object's transform that holds no thread
 * (etl_transform_start: ws://, the ETL reads the file) is started here with
 * the request suspended; the ETL connection's reader fills the spool and
 * replies (inline_done). Anything else (another communicator, a pipeline, a
 * large object, a cluster, no room on a connection now) runs again from the
 * start on a worker, as before. */
typedef struct pending {
    tgt_req *r;
    etl_chain *h;
    etl_object o;
    cmn_spool out;
    char fqn[PATH_MAX];
} pending;

/* On a worker: the transform that could not start or whose connection
 * broke before an answer, the blocking way (which dials or waits for room,
 * and tries another connection once). */
static int inline_retry(tgt_req *r)
{
    pending *p = r->pend;
    r->pend = NULL;
    cmn_spool_free(&p->out);
    int rc = inline_buffered(r, p->h, &p->o, tgt_store_mpath_of(&tgt->store, p->o.bucket, p->o.name));
    free(p);
    return rc;
}

/* p goes to a worker; or, when the workers stop, is answered with 503. */
static void to_retry(tgt_req *r, pending *p)
{
    r->pend = p;
    if (tgt_resume_on_worker(r, inline_retry))
        return;
    r->pend = NULL;
    etl_put(p->h);
    cmn_spool_free(&p->out);
    free(p);
    tgt_reply_err(r, 503, "%s %s: the target is stopping", r->method, r->url);
    tgt_resume(r);
}

static void inline_done(void *ctx, int rc, const cmn_err *e)
{
    pending *p = ctx;
    tgt_req *r = p->r;
    if (rc == -EAGAIN) { /* the connection broke before an answer */
        to_retry(r, p);
        return;
    }
    etl_put(p->h);
    if (rc == 0)
        reply_spool(r, &p->out, "application/octet-stream");
    else
        cmn_spool_free(&p->out);
    if (rc)
        tgt_reply_err(r, cmn_err_http_status(rc), "%s", e->msg);
    free(p);
    tgt_resume(r);
}

/* No chain for the request's query: a request this ETL cannot take names
 * the object too; a missing ETL is a 404 as AIStore's. */
static int reply_no_chain(tgt_req *r, const cmn_err *e, const char *bck, const char *obj)
{
    if (e->code == EINVAL)
        return tgt_reply_err(r, 400, "%s (ais://%s/%s)", e->msg, bck, obj);
    return tgt_reply_err(r, cmn_err_http_status(e->code), "%s", e->msg);
}

static int inline_start(tgt_req *r, const char *bck, const char *obj)
{
    if (tgt_cluster_on() || tgt_query(r, "etl_pipeline")) { /* a neighbour's copy, stages: may wait */
        tgt_defer(r);
        return MHD_YES;
    }
    pending *p = cmn_xmalloc(sizeof *p);
    int64_t size = 0;
    int rc = inline_source(r, bck, obj, p->fqn, sizeof p->fqn, &size);
    cmn_err e = {0};
    etl_chain *h = rc || size > INLINE_MEM ? NULL : tgt_etl_from_query(r, &e);
    if (!h) {
        free(p);
        if (rc == 0 && size <= INLINE_MEM) /* no such ETL, bad etl_args: as the worker's path says it */
            return reply_no_chain(r, &e, bck, obj);
        if (rc != 1) /* not replied: a large object streams, a failed stat is answered there */
            tgt_defer(r);
        return MHD_YES;
    }
    p->r = r;
    p->h = h;
    p->o = (etl_object){bck, obj, p->fqn, size, NULL};
    char *url = etl_redirect_url(h, &p->o); /* hpull: a 307 from here */
    if (url) {
        free(p);
        return inline_redirect(r, h, url);
    }
    if (!etl_chain_starts(h)) { /* hpush, hrev, io, bytes over ws://: a thread that may wait sends them */
        etl_put(h);
        free(p);
        tgt_defer(r);
        return MHD_YES;
    }
    cmn_spool_init(&p->out, tgt->store.mpaths[tgt_store_mpath_of(&tgt->store, bck, obj)], INLINE_MEM);
    tgt_suspend(r); /* before the start: the reply may come at once */
    etl_async a = {.spool = &p->out, .done = inline_done, .ctx = p};
    if (etl_transform_start(h, &p->o, &a) != 0)
        to_retry(r, p);
    return MHD_YES;
}

int tgt_etl_inline(tgt_req *r, const char *bck, const char *obj)
{
    if (!r->on_worker && !r->from_etl)
        return inline_start(r, bck, obj);
    char fqn[PATH_MAX];
    int64_t size = 0;
    int rc = inline_source(r, bck, obj, fqn, sizeof fqn, &size);
    if (rc == 1)
        return MHD_YES;
    cmn_err e = {0};
    etl_chain *h = tgt_etl_from_query(r, &e);
    if (!h)
        return reply_no_chain(r, &e, bck, obj);
    if (rc) {
        etl_put(h);
        if (rc == -ENOENT)
            return tgt_reply_err(r, 404, "t[%s]: ais://%s/%s does not exist", TGT_NODE_ID, bck, obj);
        return tgt_reply_err(r, 500, "ais://%s/%s: %s", bck, obj, strerror(-rc));
    }
    etl_object o = {bck, obj, fqn, size, NULL};
    char *url = etl_redirect_url(h, &o);
    if (url)
        return inline_redirect(r, h, url);
    if (size <= INLINE_MEM) /* small objects: no thread, pipe or hand-off; large ones stream */
        return inline_buffered(r, h, &o, tgt_store_mpath_of(&tgt->store, bck, obj));
    bridge *b = cmn_xcalloc(1, sizeof *b);
    b->h = h;
    snprintf(b->bck, sizeof b->bck, "%s", bck);
    b->name = cmn_xstrdup(obj);
    snprintf(b->fqn, sizeof b->fqn, "%s", fqn);
    b->obj = (etl_object){b->bck, b->name, b->fqn, size, NULL};
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        etl_put(h);
        free(b->name);
        free(b);
        return tgt_reply_err(r, 500, "inline transform: pipe: %s", strerror(errno));
    }
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    fcntl(p[0], F_SETFL, O_NONBLOCK); /* the read end only: the ETL's writes may block */
    b->conn = r->conn;
    b->rfd = p[0];
    b->wfd = p[1];
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    if (pthread_create(&b->thread, NULL, bridge_main, b) != 0) {
        close(p[0]);
        close(p[1]);
        etl_put(h);
        free(b->name);
        free(b);
        return tgt_reply_err(r, 500, "inline transform: cannot start a thread");
    }
    pthread_mutex_lock(&b->mu);
    while (!b->begun && !b->ended)
        pthread_cond_wait(&b->cv, &b->mu);
    bool begun = b->begun;
    pthread_mutex_unlock(&b->mu);
    if (!begun) {
        int status = b->rc ? b->rc : 502;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", b->msg);
        bridge_free(b);
        return tgt_reply_err(r, status, "%s", msg);
    }
    uint64_t total = b->clen >= 0 ? (uint64_t)b->clen : MHD_SIZE_UNKNOWN;
    struct MHD_Response *resp = MHD_create_response_from_callback(total, 256 * 1024, bridge_read, b, bridge_done);
    if (!resp) {
        bridge_free(b);
        return tgt_reply_err(r, 500, "inline transform: cannot create response");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, b->ctype);
    return tgt_reply(r, 200, resp);
}

/*
 * server.c - the HTTP front: libmicrohttpd with a few event threads and a
 * pool of workers.
 *
 * The event threads (--threads, one per core by default) read every request
 * and serve what never waits: a plain object GET or HEAD, health, metrics.
 * Any other handler (routes.c says which never wait), such as an inline
 * transform, anything that asks another server or etcd, jobs, listings or a
 * PUT's fsync, runs on a worker (--workers) while its connection is
 * suspended; the event thread queues the worker's reply once the connection
 * resumes. So a slow ETL holds one worker, never the connections beside it.
 * An inline GET over ws:// holds not even a worker: its handler suspends the
 * request (tgt_suspend, suspend.c) and the same event thread's loop reads
 * the ETL's answer on a stream it owns, replies and resumes it (tgt_resume).
 *
 * A request arrives in several calls of on_request: the first parses the path
 * and decides whether the body is an object (streamed to its work file as it
 * arrives, never held in memory) or a control message (collected, bounded).
 * The last call dispatches through the route table. Errors found while a
 * body is still arriving are remembered and answered after it ends, because
 * libmicrohttpd can only queue a response before or after the upload.
 */
#include "target/target.h"
#include "common/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

tgt_server *tgt;

/* "/v1/objects/B/O..." -> items; the object name is the remainder after the
 * 3rd item, slashes and all (AIStore's parsing), so "/v1/objects/B//tmp/x"
 * names "/tmp/x" (refused as absolute), never "tmp/x". Returns false for an
 * empty segment elsewhere ("/v1/buckets//tmp", a %2F bucket): a name that
 * would otherwise be silently made relative. A trailing '/' is tolerated. */
static bool split_path(tgt_req *r)
{
    char *p = r->path;
    while (*p == '/')
        p++;
    r->nitems = 0;
    while (*p && r->nitems < (int)(sizeof r->items / sizeof r->items[0])) {
        /* objects: the name; buckets (5.0's HEAD /v1/buckets/B/PREFIX): the prefix */
        if (r->nitems == 3 && !strcmp(r->items[0], "v1") &&
            (!strcmp(r->items[1], "objects") || !strcmp(r->items[1], "buckets"))) {
            r->obj = p;
            r->items[r->nitems++] = p;
            return true;
        }
        if (r->nitems == 4 && !strcmp(r->items[0], "v1") && !strcmp(r->items[1], "etl") &&
            !strcmp(r->items[2], "_object")) {
            r->obj = p; /* the uname, slashes and all */
            r->items[r->nitems++] = p;
            return true;
        }
        r->items[r->nitems++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
        bool objname_next = r->nitems == 3 && !strcmp(r->items[0], "v1") && !strcmp(r->items[1], "objects");
        if (*p == '/' && !objname_next && p[strspn(p, "/")])
            return false;
    }
    return true;
}

/* AIStore's "easy URL" (proxy.go easyURLHandler): /ais/B/O is /v1/objects/B/O,
 * /ais/B is /v1/buckets/B and /ais is /v1/buckets. NULL for any other path;
 * *remote set for another provider's easy URL (etlfs stores ais:// only). */
static char *easy_path(const char *url, bool *remote)
{
    static const char *const remotes[] = {"gs", "gcp", "az", "azure", "aws"};
    *remote = false;
    const char *p = url;
    while (*p == '/')
        p++;
    size_t n = strcspn(p, "/");
    for (size_t i = 0; i < sizeof remotes / sizeof remotes[0]; i++)
        *remote |= strlen(remotes[i]) == n && !strncmp(p, remotes[i], n);
    if (n != 3 || strncmp(p, "ais", 3))
        return NULL;
    p += 3;
    if (*p == '/')
        p++; /* one separator: more is an empty bucket or an absolute object name */
    cmn_buf b;
    cmn_buf_init(&b);
    size_t bl = strcspn(p, "/");
    const char *obj = p + bl;
    if (*obj == '/')
        obj++;
    if (!*p)
        cmn_buf_puts(&b, "/v1/buckets");
    else if (!*obj)
        cmn_buf_printf(&b, "/v1/buckets/%.*s", (int)bl, p);
    else
        cmn_buf_printf(&b, "/v1/objects/%.*s/%s", (int)bl, p, obj);
    return cmn_buf_steal(&b);
}

static bool is_loopback(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

/* A PUT of an object's bytes is streamed: the object, an append to it or a
 * part of its multipart upload; a copy (object_to) has no body. */
static bool is_object_put(tgt_req *r)
{
    return !strcmp(r->method, "PUT") && r->nitems == 4 && !strcmp(r->items[0], "v1") &&
           !strcmp(r->items[1], "objects") && !tgt_query(r, "object_to");
}

/* Whether a refused body is read and dropped before the refusal is sent.
 * libmicrohttpd closes a connection whose reply was queued before the body
 * was read, and a client still sending it (one that did not ask for "100
 * Continue") then meets a reset instead of the answer; a body up to this size
 * costs less to drain than the client's retry. A larger one, or a client
 * waiting for 100 Continue, is answered at once. */
#define DRAIN_REFUSED_MAX (64 << 20)

static bool drain_first(tgt_req *r, int64_t size)
{
    const char *expect = tgt_header(r, "Expect");
    return size <= DRAIN_REFUSED_MAX && !(expect && !strcasecmp(expect, "100-continue"));
}

/* First call of a streamed PUT: check everything we can before any byte
 * arrives, and open the work file. Returns false if a reply was queued. */
static bool start_put(tgt_req *r, int *ret)
{
    const char *bck = r->items[2];
    char why[128];
    if (!tgt_check_bucket(r, bck, true)) {
        *ret = MHD_YES;
        return false;
    }
    if (!cmn_object_name_valid(r->obj, why, sizeof why)) {
        *ret = tgt_reply_err(r, 400, "invalid object name \"%s\": %s", r->obj, why);
        return false;
    }
    /* a body that cannot fit is refused before its first byte is stored */
    const char *len = tgt_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t size = len ? strtoll(len, NULL, 10) : 0;
    cmn_err err;
    if (len && tgt_store_check_space(&tgt->store, bck, r->obj, size, &err) != 0) {
        if (drain_first(r, size)) {
            r->writer.fd = -1;
            r->stream_err = err.code ? err.code : ENOSPC;
            r->stream_why = cmn_xstrdup(err.msg);
            r->put_obj = cmn_xstrdup(r->obj);
            r->streaming = true;
            return true;
        }
        *ret = tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
        return false;
    }
    int rc = tgt_writer_open(&r->writer, &tgt->store, bck, r->obj);
    if (rc) {
        *ret = tgt_reply_err(r, rc == -ENOSPC ? 507 : 500, "ais://%s/%s: cannot create work file: %s", bck, r->obj,
                             strerror(-rc));
        return false;
    }
    snprintf(r->put_bck, sizeof r->put_bck, "%s", bck);
    r->put_obj = cmn_xstrdup(r->obj);
    r->streaming = true;
    return true;
}

/* The kinds of streamed PUT, in the order of their rows (routes.c): the
 * first whose query parameter is present. A kind without cancel leaves only
 * its work file behind when its request is cut short. */
static const struct tgt_stream {
    const char *query;
    bool (*start)(tgt_req *r, int *ret);
    void (*cancel)(tgt_req *r);
} streams[] = {
    {"uploadId", tgt_mpt_part_start, tgt_mpt_part_cancel},
    {"append_type", tgt_append_start, tgt_append_cancel},
    {NULL, start_put, NULL},
};

/* A client that goes away mid-upload: libmicrohttpd 0.9.75's epoll mode
 * may miss its close while request bytes were still buffered, and would
 * wait for the rest until the connection's timeout, keeping the PUT's work
 * file. Each connection's socket is watched for the peer's FIN alone
 * (EPOLLRDHUP: no wake-up for data), and a connection whose body is still
 * arriving is shut, which libmicrohttpd sees at once. */
typedef struct conn_watch {
    cmn_watch w;
    cmn_loop *loop;  /* NULL once the loop ended */
    bool uploading;  /* a streamed body is still arriving */
} conn_watch;

static void on_conn_fin(cmn_watch *w, uint32_t events)
{
    conn_watch *cw = (conn_watch *)w;
    if (events & CMN_LOOP_CLOSE)
        cw->loop = NULL;
    else if (cw->uploading)
        shutdown(w->fd, SHUT_RDWR);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    conn_watch *cw = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        cmn_loop *l = cmn_loop_self();
        const union MHD_ConnectionInfo *ci = l ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD) : NULL;
        if (!ci)
            return;
        cw = cmn_xcalloc(1, sizeof *cw);
        cw->w.fn = on_conn_fin;
        cw->loop = l;
        if (cmn_loop_add(l, &cw->w, ci->connect_fd, EPOLLRDHUP | EPOLLET) != 0) {
            free(cw);
            return;
        }
        *socket_context = cw;
    } else if (cw) { /* closed: before libmicrohttpd closes the socket */
        if (cw->loop)
            cmn_loop_del(cw->loop, &cw->w);
        free(cw);
        *socket_context = NULL;
    }
}

static void set_uploading(tgt_req *r, bool on)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_watch *cw = ci ? ci->socket_context : NULL;
    if (cw)
        cw->uploading = on;
}

static bool start_stream(tgt_req *r, tgt_handler end, int *ret)
{
    const struct tgt_stream *k = streams;
    while (k->query && !tgt_query(r, k->query))
        k++;
    r->put_kind = k;
    r->put_end = end;
    return k->start(r, ret);
}

/* Limits on a request's head. libmicrohttpd keeps the whole head (request
 * line, headers, 64 bytes per header and per query parameter) and then our
 * reply's head in one per-connection pool; when they do not fit, it closes
 * the connection or answers in HTML. These limits sit well inside the pool,
 * so a request past them gets our JSON error instead, until the head and
 * its entries reach about 31.5 KiB (docs/target.md, Limits, has the edges).
 * The longest object name (1023 bytes, 3 KiB percent-encoded) is far below
 * the URI limit. The pool is kept small: libmicrohttpd 0.9.75 zeroes all of
 * it after every request that another may follow, and the unused part of
 * the read buffer (half the pool) as each reply starts, and no option
 * changes that; at 64 KiB this was four fifths of a 16 KiB GET's counted
 * instructions (bench/RESULTS.md). */
#define MAX_URI_LEN (16 * 1024)   /* path and query, as sent */
#define MAX_QUERY_PARAMS 128      /* 128 entries of 64 bytes: 8 KiB of the pool */
#define CONN_MEMORY (32 * 1024)   /* libmicrohttpd's pool per connection */

/* Marks set by on_uri, before on_request sees the request: libmicrohttpd
 * hands handlers the percent-decoded path as a C string, so a %00 would
 * silently cut a name short; spot it (and an overlong URI) in the raw URI. */
static char nul_in_path, uri_too_long;
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    if (strlen(uri) > MAX_URI_LEN)
        return &uri_too_long;
    size_t n = strcspn(uri, "?");
    for (size_t i = 0; i + 2 < n; i++)
        if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0')
            return &nul_in_path;
    return NULL;
}

/* Header checks libmicrohttpd leaves to us. */
typedef struct head_scan {
    int lengths;
    bool conflict, chunked;
    const char *first;
} head_scan;

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    head_scan *h = cls;
    h->chunked |= !strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        return MHD_YES;
    if (h->lengths++ && strcmp(h->first, value))
        h->conflict = true; /* which one frames the body? (request smuggling) */
    h->first = h->lengths == 1 ? value : h->first;
    return MHD_YES;
}

/* Replies (and returns false) when the request's head cannot be served. */
static bool check_head(tgt_req *r, const char *version, enum MHD_Result *ret)
{
    head_scan h = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_header, &h);
    if (h.conflict || (h.lengths && h.chunked)) {
        *ret = (enum MHD_Result)tgt_reply_err(r, 400, h.conflict ? "conflicting Content-Length headers"
                                                                 : "both Content-Length and Transfer-Encoding");
        return false;
    }
    /* HTTP/1.0 has no chunked bodies: without a length, the body's end is unknowable */
    if (!h.lengths && version && !strcmp(version, MHD_HTTP_VERSION_1_0) &&
        (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST"))) {
        *ret = (enum MHD_Result)tgt_reply_err(r, 411, "%s over HTTP/1.0 needs a Content-Length", r->method);
        return false;
    }
    int nparams = MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
    r->no_query = nparams == 0; /* a plain GET asks for a dozen it does not have */
    if (nparams > MAX_QUERY_PARAMS) {
        *ret = (enum MHD_Result)tgt_reply_err(r, 400, "too many query parameters: %d (at most %d)", nparams,
                                              MAX_QUERY_PARAMS);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- workers
 * A queue of suspended requests and the threads that run their handlers.
 * Bounded by the connections: each has at most one request here. Once
 * stopping, a request that still arrives runs on its event thread (the
 * daemon must not stop with a connection suspended). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tgt_req *head, *tail;
    pthread_t *threads;
    int n;
    bool stop;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (!pool.head && !pool.stop)
            pthread_cond_wait(&pool.cv, &pool.mu);
        tgt_req *r = pool.head;
        if (!r)
            break; /* stopping, and nothing left */
        pool.head = r->next;
        if (!pool.head)
            pool.tail = NULL;
        pthread_mutex_unlock(&pool.mu);
        r->run(r); /* its reply lands in r->held (tgt_reply) */
        if (!r->responded)
            tgt_reply_err(r, 500, "%s %s: handler gave no reply", r->method, r->url);
        r->on_worker = false;
        tgt_resume_conn(r->conn); /* r belongs to the event thread again */
        pthread_mutex_lock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

static int pool_start(int n)
{
    pool.stop = false;
    pool.threads = cmn_xcalloc((size_t)n, sizeof *pool.threads);
    for (pool.n = 0; pool.n < n; pool.n++)
        if (pthread_create(&pool.threads[pool.n], NULL, worker_main, NULL) != 0)
            break;
    if (pool.n)
        return 0;
    free(pool.threads);
    pool.threads = NULL;
    return -EAGAIN;
}

/* Lets the workers finish every queued request (resuming its connection)
 * and joins them. */
static void pool_stop(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.stop = true;
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < pool.n; i++)
        pthread_join(pool.threads[i], NULL);
    free(pool.threads);
    pool.threads = NULL;
    pthread_mutex_lock(&pool.mu);
    pool.n = 0;
    pthread_mutex_unlock(&pool.mu);
}

/* The ETL callback listener (tgt_server_start_etl) runs a thread per
 * connection: it serves only reads, so no ETL is ever started from a thread
 * that ends with its connection (ETL processes die with the thread that
 * forked them: runtime_local.c). */
static char etl_listener;

/* Suspends r's connection and queues h for a worker; false when stopping. */
static bool to_worker(tgt_req *r, tgt_handler h)
{
    pthread_mutex_lock(&pool.mu);
    bool queued = !pool.stop && pool.n;
    if (queued) {
        r->run = h;
        r->on_worker = true;
        r->next = NULL;
        MHD_suspend_connection(r->conn);
        if (pool.tail)
            pool.tail->next = r;
        else
            pool.head = r;
        pool.tail = r;
        pthread_cond_signal(&pool.cv);
    }
    pthread_mutex_unlock(&pool.mu);
    return queued;
}

/* Runs h for r: on a worker when it may wait (routes.c), else here, and
 * again on a worker when it found it must wait (tgt_defer). A thread per
 * connection (the ETL listener) may wait: nobody shares it. */
static enum MHD_Result dispatch(void *cls, tgt_req *r, tgt_handler h)
{
    if (r->may_wait && cls != &etl_listener && to_worker(r, h))
        return MHD_YES;
    int ret = h(r);
    if (r->suspended) /* its reply comes from another thread (tgt_suspend) */
        return MHD_YES;
    if (r->deferred && !r->responded) {
        if (to_worker(r, h))
            return MHD_YES;
        ret = h(r); /* stopping: here after all (it asks only once) */
    }
    if (!r->responded)
        ret = tgt_reply_err(r, 500, "%s %s: handler gave no reply", r->method, r->url);
    return (enum MHD_Result)ret;
}

bool tgt_resume_on_worker(tgt_req *r, tgt_handler h)
{
    pthread_mutex_lock(&pool.mu);
    bool queued = !pool.stop && pool.n;
    if (queued) {
        r->run = h;
        r->next = NULL;
        if (pool.tail)
            pool.tail->next = r;
        else
            pool.head = r;
        pool.tail = r;
        tgt_parked_add(-1); /* the worker resumes it */
        pthread_cond_signal(&pool.cv);
    }
    pthread_mutex_unlock(&pool.mu);
    return queued;
}

/* The connection of a request a worker (or tgt_resume) ran is back: queue
 * its reply. */
static enum MHD_Result queue_held(tgt_req *r)
{
    struct MHD_Response *resp = r->held;
    r->held = NULL;
    r->run = NULL;
    r->suspended = false;
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    tgt_req *r = *con_cls;
    bool bad_path = r == (void *)&nul_in_path, too_long = r == (void *)&uri_too_long;
    if (bad_path || too_long)
        r = *con_cls = NULL;
    if (!r) {
        r = tgt_req_new();
        memset(r, 0, offsetof(tgt_req, writer.tmp)); /* not its paths: 8 KiB per GET */
        *con_cls = r;
        r->conn = conn;
        r->method = method;
        r->url = cmn_xstrdup(url);
        bool remote;
        r->path = easy_path(url, &remote);
        bool easy = r->path != NULL;
        if (!easy)
            r->path = cmn_xstrdup(url);
        r->loopback = is_loopback(conn);
        r->from_etl = cls == &etl_listener;
        r->started_ns = cmn_mono_ns();
        cmn_buf_init(&r->body);
        bool path_ok = split_path(r);
        if (too_long)
            return (enum MHD_Result)tgt_reply_err(r, 414, "request URI is longer than %d bytes", MAX_URI_LEN);
        enum MHD_Result ret;
        if (!check_head(r, version, &ret))
            return ret;
        if (remote)
            return (enum MHD_Result)tgt_reply_err(r, 501, "\"%s\": etlfs stores ais:// buckets only (no cloud backends)",
                                                  url);
        if (easy && !strcmp(method, "PUT") && r->nitems == 3 && !strcmp(r->items[1], "buckets"))
            return (enum MHD_Result)tgt_reply_err(r, 400, "missing destination object name in the \"easy URL\"");
        if (cls == &etl_listener && strcmp(method, "GET") && strcmp(method, "HEAD"))
            return (enum MHD_Result)tgt_reply_err(r, 405, "the ETL callback listener serves object reads (GET, HEAD) "
                                                          "only; send %s to the target's address",
                                                  method);
        /* an ETL reaches nothing else of the API here (its sandbox lets it
         * connect to this port only) */
        if (cls == &etl_listener && strncmp(url, "/v1/etl/_object/", 16))
            return (enum MHD_Result)tgt_reply_err(r, 403, "the ETL callback listener serves %s only",
                                                  "/v1/etl/_object/SECRET/UNAME");
        if (bad_path)
            return (enum MHD_Result)tgt_reply_err(r, 400, "invalid request path \"%s\": contains %%00", url);
        if (!path_ok)
            return (enum MHD_Result)tgt_reply_err(r, 400,
                                                  "invalid request path \"%s\": empty path segment (a bucket or "
                                                  "object name may not be empty or absolute)",
                                                  url);
        /* who is calling is known before any body arrives (a 401 is never
         * preceded by a whole upload) */
        if (tgt_auth_on() && !tgt_auth_identify(r, tgt_route_open(r)))
            return MHD_YES;
        /* another target owns the object: 307 (cluster_route.c); a PUT's
         * before its body arrives, the others' once it is read (keep-alive) */
        if (!strcmp(method, "PUT") && tgt_cluster_on() && tgt_cluster_redirect(r))
            return MHD_YES;
        if (is_object_put(r)) {
            /* its row is checked now: the body goes to disk as it arrives */
            tgt_handler end = tgt_route(r);
            if (!end)
                return MHD_YES;
            int started;
            if (!start_stream(r, end, &started))
                return (enum MHD_Result)started;
            if (!r->from_etl)
                set_uploading(r, true);
        }
        return MHD_YES;
    }
    if (r->run)
        return queue_held(r);
    if (r->responded)
        return MHD_YES; /* an early reply was queued; drain */
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->streaming) {
            int rc = r->stream_err ? 0 : tgt_writer_write(&r->writer, upload_data, n);
            if (rc) {
                /* the rest is drained and dropped: free the disk now, not when the client is done */
                r->stream_err = -rc;
                tgt_writer_abort(&r->writer);
            }
        } else if (r->body.len + n <= tgt->cfg.max_body) {
            cmn_buf_append(&r->body, upload_data, n);
        } else {
            r->body.len = tgt->cfg.max_body + 1; /* marks "too large"; keep draining */
        }
        return MHD_YES;
    }
    if (r->streaming) {
        if (!r->from_etl)
            set_uploading(r, false); /* whole: a half-closed client still gets its answer */
        return dispatch(cls, r, r->put_end);
    }
    if (r->body.len > tgt->cfg.max_body)
        return (enum MHD_Result)tgt_reply_err(r, 413, "request body is larger than %zu bytes", tgt->cfg.max_body);
    cmn_err err;
    if (r->body.len && tgt_msg_parse(r, &err) != 0) /* no body: r->msg stays NULL */
        return (enum MHD_Result)tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
    if (tgt_cluster_on() && tgt_cluster_redirect(r))
        return MHD_YES;
    tgt_handler h = tgt_route(r);
    if (!h) {
        if (r->responded)
            return MHD_YES;
        return (enum MHD_Result)tgt_reply_err(r, 404, "no such endpoint: %s %s", method, url);
    }
    return dispatch(cls, r, h);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    tgt_req *r = *con_cls;
    if (!r || r == (void *)&nul_in_path || r == (void *)&uri_too_long) /* ended before on_request ran */
        return;
    tgt_metrics_request(r);
    /* a GET's bytes come from the file once the status is sent: a read that
     * fails then (EIO) can only cut the reply short; say which object */
    if (toe == MHD_REQUEST_TERMINATED_WITH_ERROR && r->obj && r->nitems >= 3 && !strcmp(r->method, "GET"))
        cmn_warn("GET ais://%s/%s: reply cut short after its status %d (a read of the object failed)",
                 r->items[2], r->obj, r->status);
    if (r->streaming) {
        if (!r->from_etl)
            set_uploading(r, false);
        /* the client went away (or we shut down) mid-PUT: the old object stays */
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            cmn_warn("PUT ais://%s/%s interrupted; nothing stored", r->put_bck, r->put_obj);
        tgt_writer_abort(&r->writer);
        if (r->put_kind->cancel)
            r->put_kind->cancel(r);
    }
    if (r->held)
        MHD_destroy_response(r->held);
    free(r->put_obj);
    free(r->stream_why);
    if (r->claims)
        tgt_auth_free(r);
    cJSON_Delete(r->msg);
    cmn_buf_free(&r->body);
    free(r->path);
    free(r->url);
    tgt_req_drop(r);
    *con_cls = NULL;
}

/* ----------------------------------------------------------- event threads
 * Each event thread runs a libmicrohttpd daemon of its own in external
 * epoll mode, all on the one listening socket (each daemon a dup of it:
 * whichever thread wakes first accepts), inside its own loop (common/loop.c)
 * that also watches the ETL streams the thread owns (etl/comm_ws.c). An
 * inline GET over ws:// is answered on that same thread: the loop reads the
 * ETL's answer, the request resumes, and the MHD_run right after sends it:
 * no reader thread, no wake-up of another thread per object. */
typedef struct evthread {
    struct MHD_Daemon *mhd;
    cmn_loop *loop;
    cmn_watch mhd_watch; /* the daemon's epoll fd: MHD_run follows every wake anyway */
    pthread_t th;
    bool started;
    _Atomic bool stop;
} evthread;

static evthread *evs;
static int nevs;

/* libmicrohttpd in external mode learns of a resume at its next MHD_run:
 * a resume from another thread (a worker, a stream's writer) wakes the loop
 * of the connection's daemon; on that loop's own thread the MHD_run after
 * the wake's work comes anyway. */
void tgt_resume_conn(struct MHD_Connection *conn)
{
    MHD_resume_connection(conn);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
    struct MHD_Daemon *d = ci ? ci->daemon : NULL;
    for (int i = 0; d && i < nevs; i++)
        if (evs[i].mhd == d) {
            if (evs[i].loop != cmn_loop_self())
                cmn_loop_wake(evs[i].loop);
            return;
        }
}

static void on_mhd(cmn_watch *w, uint32_t events)
{
    (void)w;
    (void)events;
}

static void *event_main(void *arg)
{
    evthread *t = arg;
    cmn_loop_enter(t->loop);
    int zero_runs = 0;
    while (!t->stop) {
        /* at most a second: libmicrohttpd 0.9.75 in epoll mode leaves a
         * connection it closed itself (a client gone mid-PUT, a head past
         * its pool) for the next MHD_run, and its timeout does not say so */
        MHD_UNSIGNED_LONG_LONG to = 0;
        int ms = 1000;
        if (MHD_get_timeout(t->mhd, &to) == MHD_YES && to < 1000)
            ms = (int)to;
        /* libmicrohttpd has work ready now (a connection still readable or
         * writable): run it without a wait of ours first, a few times in a
         * row at most, so the loop's own streams are looked at too */
        if (ms == 0 && zero_runs++ < 4) {
            MHD_run(t->mhd);
            continue;
        }
        zero_runs = 0;
        cmn_loop_run_once(t->loop, ms);
        MHD_run(t->mhd); /* after a wake of any kind: an ETL's answer resumed a request here */
    }
    cmn_loop_enter(NULL);
    return NULL;
}

static int listen_socket(const struct sockaddr_in *sin)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)sin, sizeof *sin) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void events_stop(void)
{
    for (int i = 0; i < nevs; i++) {
        evs[i].stop = true;
        if (evs[i].loop)
            cmn_loop_wake(evs[i].loop);
    }
    for (int i = 0; i < nevs; i++) {
        if (evs[i].started)
            pthread_join(evs[i].th, NULL);
        /* the ETL streams it owned let go first: the daemon's requests are all answered */
        cmn_loop_free(evs[i].loop);
        if (evs[i].mhd)
            MHD_stop_daemon(evs[i].mhd);
    }
    free(evs);
    evs = NULL;
    nevs = 0;
}

int tgt_server_start(tgt_server *s)
{
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)s->cfg.port);
    if (inet_pton(AF_INET, s->cfg.listen_host, &sin.sin_addr) != 1) {
        cmn_error("--listen: '%s' is not an IPv4 address", s->cfg.listen_host);
        return -EINVAL;
    }
    /* TLS (libmicrohttpd over GnuTLS) when a certificate and key are given */
    bool tls = s->cfg.tls_cert && s->cfg.tls_key;
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->cfg.tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->cfg.tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        cmn_error("--tls-cert: this libmicrohttpd is built without TLS");
        return -EOPNOTSUPP;
    }
    int lfd = listen_socket(&sin);
    if (lfd < 0) {
        cmn_error("cannot listen on %s:%d: %s", s->cfg.listen_host, s->cfg.port, strerror(-lfd));
        return lfd;
    }
    if (pool_start(s->cfg.workers) != 0) {
        close(lfd);
        cmn_error("cannot start the HTTP worker threads");
        return -EAGAIN;
    }
    nevs = s->cfg.threads > 0 ? s->cfg.threads : 1;
    evs = cmn_xcalloc((size_t)nevs, sizeof *evs);
    unsigned int limit = 4096 / (unsigned int)nevs;
    int rc = 0;
    for (int i = 0; i < nevs && !rc; i++) {
        evthread *t = &evs[i];
        int fd = dup(lfd);
        t->loop = cmn_loop_new();
        t->mhd = fd < 0 || !t->loop ? NULL
                 : MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                                        (tls ? MHD_USE_TLS : 0),
                                    0, NULL, NULL, on_request, NULL,
                                    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                    MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                                    MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)600,
                                    MHD_OPTION_CONNECTION_LIMIT, limit,
                                    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
                                    MHD_OPTION_ARRAY, tls_opts,
                                    MHD_OPTION_END);
        const union MHD_DaemonInfo *di = t->mhd ? MHD_get_daemon_info(t->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
        if (!di) {
            rc = errno ? -errno : -EIO;
            if (fd >= 0 && !t->mhd)
                close(fd);
            break;
        }
        t->mhd_watch.fn = on_mhd;
        if ((rc = cmn_loop_add(t->loop, &t->mhd_watch, di->epoll_fd, EPOLLIN)) != 0)
            break;
        if (pthread_create(&t->th, NULL, event_main, t) != 0)
            rc = -EAGAIN;
        t->started = rc == 0;
    }
    close(lfd);
    if (rc) {
        cmn_error("cannot start the HTTP event threads on %s:%d: %s", s->cfg.listen_host, s->cfg.port,
                  strerror(-rc));
        events_stop();
        pool_stop();
        return rc;
    }
    s->mhd = evs[0].mhd;
    return 0;
}

int tgt_server_start_etl(tgt_server *s)
{
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = 0;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->mhd_etl = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                                      MHD_USE_ERROR_LOG,
                                  0, NULL, NULL, on_request, &etl_listener, MHD_OPTION_SOCK_ADDR,
                                  (struct sockaddr *)&sin,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                  MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)600,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024, MHD_OPTION_END);
    const union MHD_DaemonInfo *di = s->mhd_etl ? MHD_get_daemon_info(s->mhd_etl, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!di || !di->port) {
        cmn_error("cannot listen on 127.0.0.1 for ETL callbacks: %s", strerror(errno));
        if (s->mhd_etl)
            MHD_stop_daemon(s->mhd_etl);
        s->mhd_etl = NULL;
        return errno ? -errno : -EIO;
    }
    snprintf(s->etl_url, sizeof s->etl_url, "http://127.0.0.1:%u", (unsigned)di->port);
    return 0;
}

void tgt_server_stop(tgt_server *s)
{
    /* the workers first: each resumes its connection, which the event
     * threads then close (libmicrohttpd must not stop with one suspended) */
    if (pool.n)
        pool_stop();
    if (tgt_parked_add(0))
        cmn_info("waiting for %d inline transform(s) to send their output", tgt_parked_add(0));
    while (tgt_parked_add(0)) /* each resumes with its transform's next write or end */
        usleep(10 * 1000);
    if (nevs)
        events_stop();
    s->mhd = NULL;
    if (s->mhd_etl) {
        MHD_stop_daemon(s->mhd_etl);
        s->mhd_etl = NULL;
    }
}

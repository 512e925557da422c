/*
 * server.c - the HTTP front: libmicrohttpd with a pool of epoll threads.
 *
 * A request arrives in several calls of on_request: the first parses the path
 * and decides whether the body is an object (streamed to its work file as it
 * arrives, never held in memory) or a control message (collected, bounded).
 * The last call dispatches through the route table. Errors found while a
 * body is still arriving are remembered and answered after it ends, because
 * libmicrohttpd can only queue a response before or after the upload.
 */
#include "target/target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tgt_server *tgt;

static void split_path(tgt_req *r)
{
    /* "/v1/objects/B/O..." -> items; the object name is the remainder after
     * the 3rd item, slashes and all (AIStore's parsing). */
    char *p = r->path;
    while (*p == '/')
        p++;
    r->nitems = 0;
    while (*p && r->nitems < (int)(sizeof r->items / sizeof r->items[0])) {
        if (r->nitems == 3 && !strcmp(r->items[0], "v1") && !strcmp(r->items[1], "objects")) {
            r->obj = p;
            r->items[r->nitems++] = p;
            return;
        }
        if (r->nitems == 4 && !strcmp(r->items[0], "v1") && !strcmp(r->items[1], "etl") &&
            !strcmp(r->items[2], "_object")) {
            r->obj = p; /* the uname, slashes and all */
            r->items[r->nitems++] = p;
            return;
        }
        r->items[r->nitems++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
        while (*p == '/')
            p++;
    }
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
    while (*p == '/')
        p++;
    cmn_buf b;
    cmn_buf_init(&b);
    size_t bl = strcspn(p, "/");
    const char *obj = p + bl;
    while (*obj == '/')
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

/* An object PUT is streamed unless it is an append or carries an action. */
static bool is_object_put(tgt_req *r)
{
    return !strcmp(r->method, "PUT") && r->nitems == 4 && !strcmp(r->items[0], "v1") &&
           !strcmp(r->items[1], "objects") && !tgt_query(r, "append_type");
}

/* First call of a streamed PUT: check everything we can before any byte
 * arrives, and open the work file. Returns false if a reply was queued. */
static bool start_put(tgt_req *r, enum MHD_Result *ret)
{
    const char *bck = r->items[2];
    char why[128];
    if (!tgt_check_bucket(r, bck, true)) {
        *ret = MHD_YES;
        return false;
    }
    if (!cmn_object_name_valid(r->obj, why, sizeof why)) {
        *ret = (enum MHD_Result)tgt_reply_err(r, 400, "invalid object name \"%s\": %s", r->obj, why);
        return false;
    }
    int rc = tgt_writer_open(&r->writer, &tgt->store, bck, r->obj);
    if (rc) {
        *ret = (enum MHD_Result)tgt_reply_err(r, rc == -ENOSPC ? 507 : 500, "ais://%s/%s: cannot create work file: %s",
                                              bck, r->obj, strerror(-rc));
        return false;
    }
    snprintf(r->put_bck, sizeof r->put_bck, "%s", bck);
    r->put_obj = cmn_xstrdup(r->obj);
    r->streaming = true;
    return true;
}

/* libmicrohttpd hands handlers the percent-decoded path as a C string, so a
 * %00 would silently cut a name short: spot it in the raw URI first. */
static char nul_in_path;
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    size_t n = strcspn(uri, "?");
    for (size_t i = 0; i + 2 < n; i++)
        if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0')
            return &nul_in_path;
    return NULL;
}

/* The ETL callback listener (tgt_server_start_etl) runs a thread per
 * connection: it serves only reads, so no ETL is ever started from a thread
 * that ends with its connection (ETL processes die with the thread that
 * forked them: runtime_local.c). */
static char etl_listener;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    tgt_req *r = *con_cls;
    bool bad_path = r == (void *)&nul_in_path;
    if (bad_path)
        r = *con_cls = NULL;
    if (!r) {
        r = cmn_xcalloc(1, sizeof *r);
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
        split_path(r);
        if (remote)
            return (enum MHD_Result)tgt_reply_err(r, 501, "\"%s\": etlfs stores ais:// buckets only (no cloud backends)",
                                                  url);
        if (easy && !strcmp(method, "PUT") && r->nitems == 3 && !strcmp(r->items[1], "buckets"))
            return (enum MHD_Result)tgt_reply_err(r, 400, "missing destination object name in the \"easy URL\"");
        if (cls == &etl_listener && strcmp(method, "GET") && strcmp(method, "HEAD"))
            return (enum MHD_Result)tgt_reply_err(r, 405, "the ETL callback listener serves object reads (GET, HEAD) "
                                                          "only; send %s to the target's address",
                                                  method);
        if (bad_path)
            return (enum MHD_Result)tgt_reply_err(r, 400, "invalid request path \"%s\": contains %%00", url);
        /* who is calling is known before any body arrives (a 401 is never
         * preceded by a whole upload) */
        if (!tgt_auth_identify(r, tgt_route_open(r)))
            return MHD_YES;
        if (is_object_put(r)) {
            /* its row is checked now: the body goes to disk as it arrives */
            if (!tgt_route(r))
                return MHD_YES;
            enum MHD_Result ret;
            if (!start_put(r, &ret))
                return ret;
        }
        return MHD_YES;
    }
    if (r->responded)
        return MHD_YES; /* an early reply was queued; drain */
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->streaming) {
            if (!r->stream_failed && tgt_writer_write(&r->writer, upload_data, n) != 0)
                r->stream_failed = true;
        } else if (r->body.len + n <= tgt->cfg.max_body) {
            cmn_buf_append(&r->body, upload_data, n);
        } else {
            r->body.len = tgt->cfg.max_body + 1; /* marks "too large"; keep draining */
        }
        return MHD_YES;
    }
    if (r->streaming)
        return (enum MHD_Result)tgt_h_object_put_done(r);
    if (r->body.len > tgt->cfg.max_body)
        return (enum MHD_Result)tgt_reply_err(r, 413, "request body is larger than %zu bytes", tgt->cfg.max_body);
    if (r->body.len) {
        r->msg = cJSON_ParseWithLength(r->body.data, r->body.len);
    }
    tgt_handler h = tgt_route(r);
    if (!h) {
        if (r->responded)
            return MHD_YES;
        return (enum MHD_Result)tgt_reply_err(r, 404, "no such endpoint: %s %s", method, url);
    }
    int ret = h(r);
    if (!r->responded)
        ret = tgt_reply_err(r, 500, "%s %s: handler gave no reply", method, url);
    return (enum MHD_Result)ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    tgt_req *r = *con_cls;
    if (!r || r == (void *)&nul_in_path) /* ended before on_request ran */
        return;
    if (r->streaming) {
        /* the client went away (or we shut down) mid-PUT: the old object stays */
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            cmn_warn("PUT ais://%s/%s interrupted; nothing stored", r->put_bck, r->put_obj);
        tgt_writer_abort(&r->writer);
    }
    free(r->put_obj);
    tgt_auth_free(r);
    cJSON_Delete(r->msg);
    cmn_buf_free(&r->body);
    free(r->path);
    free(r->url);
    free(r);
    *con_cls = NULL;
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
    s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_TURBO |
                                  MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0),
                              (uint16_t)s->cfg.port, NULL, NULL, on_request, NULL,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                              MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->cfg.threads,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                              MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)600,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
                              MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
                              MHD_OPTION_ARRAY, tls_opts,
                              MHD_OPTION_END);
    if (!s->mhd) {
        cmn_error("cannot listen on %s:%d: %s", s->cfg.listen_host, s->cfg.port, strerror(errno));
        return errno ? -errno : -EIO;
    }
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
    if (s->mhd) {
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
    }
    if (s->mhd_etl) {
        MHD_stop_daemon(s->mhd_etl);
        s->mhd_etl = NULL;
    }
}

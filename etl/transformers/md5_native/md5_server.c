/*
 * md5_server.c - etlfs-md5, a native md5 ETL transformer: answers an object's
 * lowercase hex MD5 like AIStore's transformer_md5, for hpush/hpull/hrev,
 * ws:// and ARG_TYPE=fqn, without a Python interpreter on the data path.
 *
 * Design: a libmicrohttpd thread pool; hpush bodies stream into the digest as
 * they arrive (never buffered whole); hpull/hrev fetch AIS_TARGET_URL + the raw
 * request path with one keep-alive curl handle per server thread. GET /ws
 * upgrades to a WebSocket (AIStore 5.0's ws://) served by a thread of its
 * own: a control message, then the bytes unless it names the file (fqn); the
 * digest as a binary message, or a text message with the error. When the
 * launcher names a Unix socket (ETLFS_SOCKET), a second daemon serves there
 * too, for one peer only (ETLFS_SOCKET_PEER, the target): its ws:// streams
 * then skip the loopback TCP stack (common/ws_unix.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "common/cmn.h"
#include "common/ws.h"

#define MD5_POOL_THREADS 4
#define MD5_ERR_KEEP 4096 /* bytes of a failed target reply passed back */
#define MD5_CTRL_MAX (64 * 1024) /* a ws:// control message */
#define MD5_NO_PEER MHD_NO /* a connection to the Unix socket from another process: dropped */

struct md5_cfg {
    const char *target_url; /* AIS_TARGET_URL without a trailing '/' */
    bool fqn;               /* ARG_TYPE=fqn: the path names the object's file */
};

static struct md5_cfg g_cfg;
static pid_t g_peer; /* the only process the Unix socket serves */
/* MD5 fetched once: EVP_md5() in a digest's init makes OpenSSL 3 look the
 * algorithm up again (a lock and a search of its store) for every object */
static EVP_MD *g_md5;
static pthread_key_t g_curl_key; /* one curl handle per MHD pool thread */

/* Per-request state, created by the URI log callback (which sees the raw URI). */
struct md5_req {
    char *uri;       /* raw path + query as sent */
    EVP_MD_CTX *ctx; /* hpush digest, fed as the body arrives */
    bool failed;
};

/* A digest being filled by curl, keeping the first bytes for error replies. */
struct md5_fetch {
    EVP_MD_CTX *ctx;
    cmn_buf head;
};

static void *md5_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct md5_req *req = calloc(1, sizeof(*req));
    if (req)
        req->uri = strdup(uri);
    return req;
}

static void md5_req_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct md5_req *req = *con_cls;
    if (!req)
        return;
    EVP_MD_CTX_free(req->ctx);
    free(req->uri);
    free(req);
    *con_cls = NULL;
}

static enum MHD_Result md5_reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                                 const void *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result md5_reply_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    return md5_reply(conn, status, "text/plain", msg, strlen(msg));
}

static void md5_hex(EVP_MD_CTX *ctx, char hex[2 * EVP_MAX_MD_SIZE + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    hex[0] = '\0';
    if (EVP_DigestFinal_ex(ctx, md, &n) != 1)
        return;
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) { /* a table, not 16 snprintf calls per object */
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* Finishes ctx and answers its digest as 32 lowercase hex digits. */
static enum MHD_Result md5_reply_digest(struct MHD_Connection *conn, EVP_MD_CTX *ctx)
{
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    md5_hex(ctx, hex);
    if (!hex[0])
        return md5_reply_text(conn, 500, "md5: digest failed");
    return md5_reply(conn, 200, "text/plain", hex, strlen(hex));
}

static EVP_MD_CTX *md5_new_ctx(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, g_md5, NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* The digest of a file into hex: 200, or 404/500 with msg. ctx, when
 * given, is the caller's to reuse (a ws:// stream's, object after object);
 * else one is made. */
static unsigned md5_file(const char *path, EVP_MD_CTX *reuse, char hex[2 * EVP_MAX_MD_SIZE + 1], char *msg,
                         size_t msglen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(msg, msglen, "md5: open %s: %s", path, strerror(e));
        return e == ENOENT ? 404 : 500;
    }
    EVP_MD_CTX *ctx = reuse;
    if (ctx && EVP_DigestInit_ex(ctx, g_md5, NULL) != 1)
        ctx = NULL;
    else if (!ctx)
        ctx = md5_new_ctx();
    char buf[64 * 1024];
    ssize_t n = 0;
    while (ctx && (n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        /* a regular file reads short only at its end (an object's file is
         * whole once named: the target renames it into place), so a small
         * object costs one read, not a second that returns 0 */
        if ((size_t)n < sizeof(buf))
            n = 0;
        if (n == 0)
            break;
    }
    unsigned status = 200;
    if (!ctx || n < 0) {
        snprintf(msg, msglen, "md5: read %s: %s", path, ctx ? strerror(errno) : "no memory");
        status = 500;
    } else {
        md5_hex(ctx, hex);
    }
    if (ctx != reuse)
        EVP_MD_CTX_free(ctx);
    close(fd);
    return status;
}

/* An escaped file path (the URL path after '/', ws://'s "fqn") decoded and
 * made absolute (malloc'd); NULL on a bad escape. */
static char *md5_fqn_path(const char *p, size_t plen)
{
    bool rel = !(plen > 0 && (p[0] == '/' || strncmp(p, "%2F", 3) == 0 || strncmp(p, "%2f", 3) == 0));
    char *path = cmn_xasprintf("%s%.*s", rel ? "/" : "", (int)plen, p);
    if (cmn_url_decode(path) != 0) {
        free(path);
        return NULL;
    }
    return path;
}

/* ARG_TYPE=fqn: the path after '/' is the escaped file path. */
static enum MHD_Result md5_serve_fqn(struct MHD_Connection *conn, const char *uri)
{
    const char *p = uri[0] == '/' ? uri + 1 : uri;
    char *path = md5_fqn_path(p, strcspn(p, "?"));
    if (!path)
        return md5_reply_text(conn, 400, "md5: bad escape in file path");
    char hex[2 * EVP_MAX_MD_SIZE + 1], msg[512];
    unsigned status = md5_file(path, NULL, hex, msg, sizeof msg);
    free(path);
    if (status != 200)
        return md5_reply_text(conn, status, msg);
    return md5_reply(conn, 200, "text/plain", hex, strlen(hex));
}

static size_t md5_fetch_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct md5_fetch *f = arg;
    size_t len = size * nmemb;
    EVP_DigestUpdate(f->ctx, data, len);
    if (f->head.len < MD5_ERR_KEEP) {
        size_t keep = MD5_ERR_KEEP - f->head.len;
        cmn_buf_append(&f->head, data, len < keep ? len : keep);
    }
    return len;
}

static void md5_curl_free(void *h)
{
    curl_easy_cleanup(h);
}

static CURL *md5_thread_curl(void)
{
    CURL *h = pthread_getspecific(g_curl_key);
    if (!h) {
        h = curl_easy_init();
        if (h)
            pthread_setspecific(g_curl_key, h);
    }
    return h;
}

/* hpull/hrev: GET AIS_TARGET_URL + raw path, hash the body as it arrives. */
static enum MHD_Result md5_serve_pull(struct MHD_Connection *conn, const char *uri)
{
    CURL *h = md5_thread_curl();
    if (!h)
        return md5_reply_text(conn, 500, "md5: curl init failed");
    cmn_buf url;
    cmn_buf_init(&url);
    struct md5_fetch f = {.ctx = md5_new_ctx()};
    cmn_buf_init(&f.head);
    enum MHD_Result ret;
    cmn_buf_printf(&url, "%s%s", g_cfg.target_url, uri);
    if (!f.ctx) {
        ret = md5_reply_text(conn, 500, "md5: out of memory");
        goto out;
    }
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, md5_fetch_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "md5: GET %s: %s", url.data, curl_easy_strerror(rc));
        cmn_warn("%s", msg);
        ret = md5_reply_text(conn, 502, msg);
    } else if (status >= 400) {
        /* the object's own error (e.g. 404 JSON) is more useful than a digest of it */
        char *ctype = NULL;
        curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
        ret = md5_reply(conn, (unsigned)status, ctype ? ctype : "text/plain", f.head.data, f.head.len);
    } else {
        ret = md5_reply_digest(conn, f.ctx);
    }
out:
    EVP_MD_CTX_free(f.ctx);
    cmn_buf_free(&f.head);
    cmn_buf_free(&url);
    return ret;
}

/* ---- ws:// (AIStore 5.0): one thread per upgraded connection */
struct md5_ws {
    int fd;                               /* our dup of MHD's socket */
    struct MHD_UpgradeResponseHandle *urh;
    char *pre;                            /* bytes MHD read past the request */
    size_t prelen;
    struct md5_ws *next;                  /* in g_ws.live */
};

/* The streams being served: a stop shuts their sockets and waits for their
 * threads, which hand their handles back to the daemon, before it goes
 * (a handle used after MHD_stop_daemon is freed memory). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t gone;
    struct md5_ws *live;
    bool stopping; /* a stream upgraded from here on is closed at once */
} g_ws = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, false};

static void md5_ws_forget(struct md5_ws *w)
{
    pthread_mutex_lock(&g_ws.mu);
    for (struct md5_ws **pp = &g_ws.live; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    pthread_cond_broadcast(&g_ws.gone);
    pthread_mutex_unlock(&g_ws.mu);
}

/* Ends every stream (their threads see the socket shut) and waits for
 * their threads, at most a few seconds. */
static void md5_ws_stop_all(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&g_ws.mu);
    g_ws.stopping = true;
    for (struct md5_ws *w = g_ws.live; w; w = w->next)
        shutdown(w->fd, SHUT_RDWR);
    while (g_ws.live && pthread_cond_timedwait(&g_ws.gone, &g_ws.mu, &until) == 0)
        ;
    pthread_mutex_unlock(&g_ws.mu);
}

static int md5_ws_begin(void *ctx, int opcode, int64_t len)
{
    return 0;
}

static int md5_ws_data(void *ctx, const void *buf, size_t len)
{
    EVP_DigestUpdate(ctx, buf, len);
    return 0;
}

/* One object's answer: the digest, or "Transform error: ..." (the target
 * reports it for that object; the connection goes on). */
static int md5_ws_object(cmn_ws *ws, const cmn_buf *ctrl, EVP_MD_CTX *fctx)
{
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "", msg[600] = "";
    int rc = 0;
    cJSON *c = cJSON_ParseWithLength(ctrl->data, ctrl->len);
    const cJSON *fqn = cJSON_GetObjectItem(c, "fqn");
    if (!cJSON_IsObject(c)) {
        snprintf(msg, sizeof msg, "md5: the control message is not a JSON object");
    } else if (cJSON_IsString(fqn) && fqn->valuestring[0]) {
        char *path = md5_fqn_path(fqn->valuestring, strlen(fqn->valuestring));
        if (!path)
            snprintf(msg, sizeof msg, "md5: bad escape in fqn");
        else if (md5_file(path, fctx, hex, msg, sizeof msg) != 200)
            hex[0] = '\0';
        free(path);
    } else {
        EVP_MD_CTX *ctx = md5_new_ctx();
        cmn_ws_reader r = {ctx, md5_ws_begin, md5_ws_data};
        rc = ctx ? cmn_ws_recv(ws, &r) : -ENOMEM; /* the bytes: the stream is lost without them */
        if (rc == 0)
            md5_hex(ctx, hex);
        EVP_MD_CTX_free(ctx);
    }
    cJSON_Delete(c);
    if (rc)
        return rc;
    if (hex[0])
        return cmn_ws_send(ws, CMN_WS_BINARY, hex, strlen(hex));
    char *text = cmn_xasprintf("Transform error: %s", msg[0] ? msg : "md5: digest failed");
    rc = cmn_ws_send(ws, CMN_WS_TEXT, text, strlen(text));
    free(text);
    return rc;
}

static void *md5_ws_serve(void *arg)
{
    struct md5_ws *w = arg;
    cmn_ws *ws = cmn_ws_new(w->fd, false, w->pre, w->prelen);
    cmn_buf ctrl;
    cmn_buf_init(&ctrl);
    EVP_MD_CTX *fctx = EVP_MD_CTX_new(); /* the stream's, for every file it names */
    for (int op; cmn_ws_recv_buf(ws, &op, &ctrl, MD5_CTRL_MAX) == 0 && md5_ws_object(ws, &ctrl, fctx) == 0;)
        ;
    EVP_MD_CTX_free(fctx);
    if (!cmn_ws_usable(ws) && !strstr(cmn_ws_why(ws), "closed"))
        cmn_warn("etlfs-md5: ws: %s", cmn_ws_why(ws));
    cmn_buf_free(&ctrl);
    cmn_ws_free(ws);
    MHD_upgrade_action(w->urh, MHD_UPGRADE_ACTION_CLOSE);
    md5_ws_forget(w);
    free(w->pre);
    free(w);
    return NULL;
}

static void md5_ws_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                            size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct md5_ws *w = cmn_xcalloc(1, sizeof *w);
    w->urh = urh;
    w->fd = fcntl(sock, F_DUPFD_CLOEXEC, 0); /* MHD closes sock itself, at MHD_UPGRADE_ACTION_CLOSE */
    w->pre = cmn_xmalloc(extra_in_size + 1);
    memcpy(w->pre, extra_in, extra_in_size);
    w->prelen = extra_in_size;
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    /* listed before its thread can end, or closed now when a stop has
     * begun (the stop shuts only the streams listed before it) */
    pthread_mutex_lock(&g_ws.mu);
    bool stopping = g_ws.stopping;
    if (!stopping) {
        w->next = g_ws.live;
        g_ws.live = w;
    }
    pthread_mutex_unlock(&g_ws.mu);
    if (stopping || w->fd < 0 || pthread_create(&th, &at, md5_ws_serve, w) != 0) {
        if (!stopping)
            cmn_warn("etlfs-md5: ws: cannot serve a connection: %s", strerror(errno));
        md5_ws_forget(w);
        if (w->fd >= 0)
            close(w->fd);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        free(w->pre);
        free(w);
    }
    pthread_attr_destroy(&at);
}

/* GET /ws with RFC 6455's Upgrade: a 101 whose socket md5_ws_upgraded takes. */
static enum MHD_Result md5_ws_accept(struct MHD_Connection *conn)
{
    const char *up = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *ver = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    if (!up || strcasecmp(up, "websocket") != 0 || !key || !ver || strcmp(ver, "13") != 0)
        return md5_reply_text(conn, 400, "md5: /ws needs a WebSocket upgrade (RFC 6455, version 13)");
    char accept[CMN_WS_ACCEPT_LEN + 1];
    cmn_ws_accept_key(key, accept);
    struct MHD_Response *resp = MHD_create_response_for_upgrade(md5_ws_upgraded, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "Upgrade");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    /* process 0 of 1, a thread per stream: the target queues several inline
     * objects on one stream rather than spreading them over idle ones */
    MHD_add_response_header(resp, "Etlfs-Worker", "0/1");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result md5_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct md5_req *req = *con_cls;
    if (!req || !req->uri)
        return MHD_NO;
    if (cls) { /* the Unix socket's daemon: the target's streams only */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !cmn_ws_peer_is(ci->connect_fd, g_peer))
            return MD5_NO_PEER;
    }
    bool is_put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0 || strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    if (is_put) {
        if (!req->ctx && !req->failed) { /* first call: headers only */
            req->ctx = md5_new_ctx();
            req->failed = req->ctx == NULL;
            return MHD_YES;
        }
        if (*upload_size) {
            /* fqn requests carry no meaningful body: drain it */
            if (!g_cfg.fqn && !req->failed)
                EVP_DigestUpdate(req->ctx, upload, *upload_size);
            *upload_size = 0;
            return MHD_YES;
        }
        if (req->failed)
            return md5_reply_text(conn, 500, "md5: out of memory");
        if (g_cfg.fqn)
            return md5_serve_fqn(conn, req->uri);
        return md5_reply_digest(conn, req->ctx);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return md5_reply_text(conn, 405, "md5: method not allowed");
    if (strcmp(url, "/health") == 0)
        return md5_reply_text(conn, 200, "Running");
    if (strcmp(url, "/ws") == 0)
        return md5_ws_accept(conn);
    if (g_cfg.fqn)
        return md5_serve_fqn(conn, req->uri);
    if (!g_cfg.target_url[0])
        return md5_reply_text(conn, 500, "md5: AIS_TARGET_URL is not set");
    return md5_serve_pull(conn, req->uri);
}

/* libmicrohttpd would percent-decode the path; keep it raw (the uname is
 * forwarded as received, and fqn paths are decoded here). */
static size_t md5_keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

/* ETLFS_SOCKET's daemon (GET /ws from the target), or NULL: not asked for,
 * or it cannot be made (the target then dials the port). */
static struct MHD_Daemon *md5_unix_daemon(void)
{
    const char *path = getenv("ETLFS_SOCKET"), *peer = getenv("ETLFS_SOCKET_PEER");
    char *end = NULL;
    long pid = peer ? strtol(peer, &end, 10) : 0;
    if (!path || !*path || !peer || *end || pid <= 0)
        return NULL;
    g_peer = (pid_t)pid;
    int fd = cmn_ws_listen_unix(path, 128);
    if (fd < 0) {
        cmn_warn("etlfs-md5: unix socket %s: %s; serving TCP only", path, strerror(-fd));
        return NULL;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_UPGRADE, 0, NULL, NULL, md5_handle, (void *)1,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_URI_LOG_CALLBACK, md5_uri_log, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, md5_req_done, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, md5_keep_escaped, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
        MHD_OPTION_END);
    if (!d) {
        cmn_warn("etlfs-md5: cannot serve the unix socket %s; serving TCP only", path);
        close(fd);
        unlink(path);
        return NULL;
    }
    cmn_info("etlfs-md5: and on %s", path);
    return d;
}

static void md5_usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--listen|-l HOST] --port|-p PORT\n"
                    "env: AIS_TARGET_URL (hpull/hrev), ARG_TYPE (\"\" or fqn), PORT (default port)\n",
            prog);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    const char *port_s = getenv("PORT");
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "l:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': host = optarg; break;
        case 'p': port_s = optarg; break;
        default: md5_usage(argv[0]); return c == 'h' ? 0 : 2;
        }
    }
    char *end = NULL;
    long port = port_s ? strtol(port_s, &end, 10) : 0;
    if (!port_s || *end || port <= 0 || port > 65535) {
        md5_usage(argv[0]);
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        cmn_error("etlfs-md5: --listen %s is not an IPv4 address", host);
        return 2;
    }

    static char target[2048];
    snprintf(target, sizeof(target), "%s", getenv("AIS_TARGET_URL") ? getenv("AIS_TARGET_URL") : "");
    size_t tl = strlen(target);
    while (tl && target[tl - 1] == '/')
        target[--tl] = '\0';
    g_cfg.target_url = target;
    const char *arg = getenv("ARG_TYPE");
    g_cfg.fqn = arg && strcasecmp(arg, "fqn") == 0;

    /* stop on SIGINT/SIGTERM via sigwait, so the pool threads never see them */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    g_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    if (!g_md5 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || pthread_key_create(&g_curl_key, md5_curl_free) != 0) {
        cmn_error("etlfs-md5: library init failed");
        return 1;
    }
    /* a 256 KiB connection pool lets large bodies arrive in large pieces */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_UPGRADE, (uint16_t)port, NULL, NULL, md5_handle, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)MD5_POOL_THREADS,
        MHD_OPTION_URI_LOG_CALLBACK, md5_uri_log, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, md5_req_done, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, md5_keep_escaped, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 << 10),
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        MHD_OPTION_END);
    if (!d) {
        cmn_error("etlfs-md5: cannot listen on %s:%ld: %s", host, port, strerror(errno));
        curl_global_cleanup();
        return 1;
    }
    cmn_info("etlfs-md5: listening on %s:%ld (target %s, arg %s)", host, port,
             target[0] ? target : "-", g_cfg.fqn ? "fqn" : "bytes");
    struct MHD_Daemon *ud = md5_unix_daemon();
    int sig = 0;
    sigwait(&sigs, &sig);
    cmn_info("etlfs-md5: signal %d, stopping", sig);
    md5_ws_stop_all();
    if (ud)
        MHD_stop_daemon(ud);
    MHD_stop_daemon(d);
    pthread_key_delete(g_curl_key);
    curl_global_cleanup();
    EVP_MD_free(g_md5);
    return 0;
}

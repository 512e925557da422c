/*
 * md5_server.c - etlfs-md5, a native md5 ETL transformer: answers an object's
 * lowercase hex MD5 like AIStore's transformer_md5, for hpush/hpull/hrev and
 * ARG_TYPE=fqn, without a Python interpreter on the data path.
 *
 * Design: a libmicrohttpd thread pool; hpush bodies stream into the digest as
 * they arrive (never buffered whole); hpull/hrev fetch AIS_TARGET_URL + the raw
 * request path with one keep-alive curl handle per server thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "common/cmn.h"

#define MD5_POOL_THREADS 4
#define MD5_ERR_KEEP 4096 /* bytes of a failed target reply passed back */

struct md5_cfg {
    const char *target_url; /* AIS_TARGET_URL without a trailing '/' */
    bool fqn;               /* ARG_TYPE=fqn: the path names the object's file */
};

static struct md5_cfg g_cfg;
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

/* Finishes ctx and answers its digest as 32 lowercase hex digits. */
static enum MHD_Result md5_reply_digest(struct MHD_Connection *conn, EVP_MD_CTX *ctx)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (EVP_DigestFinal_ex(ctx, md, &n) != 1)
        return md5_reply_text(conn, 500, "md5: digest failed");
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return md5_reply(conn, 200, "text/plain", hex, 2 * n);
}

static EVP_MD_CTX *md5_new_ctx(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* ARG_TYPE=fqn: the path after '/' is the escaped file path. */
static enum MHD_Result md5_serve_fqn(struct MHD_Connection *conn, const char *uri)
{
    char *path = malloc(strlen(uri) + 2);
    if (!path)
        return MHD_NO;
    const char *p = uri[0] == '/' ? uri + 1 : uri;
    size_t plen = strcspn(p, "?");
    bool rel = !(plen > 0 && (p[0] == '/' || strncmp(p, "%2F", 3) == 0 || strncmp(p, "%2f", 3) == 0));
    snprintf(path, strlen(uri) + 2, "%s%.*s", rel ? "/" : "", (int)plen, p);
    if (cmn_url_decode(path) != 0) {
        free(path);
        return md5_reply_text(conn, 400, "md5: bad escape in file path");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "md5: open %s: %s", path, strerror(errno));
        free(path);
        return md5_reply_text(conn, errno == ENOENT ? 404 : 500, msg);
    }
    EVP_MD_CTX *ctx = md5_new_ctx();
    enum MHD_Result ret;
    char buf[64 * 1024];
    ssize_t n = 0;
    while (ctx && (n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    }
    if (!ctx || n < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "md5: read %s: %s", path, ctx ? strerror(errno) : "no memory");
        ret = md5_reply_text(conn, 500, msg);
    } else {
        ret = md5_reply_digest(conn, ctx);
    }
    EVP_MD_CTX_free(ctx);
    close(fd);
    free(path);
    return ret;
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

static enum MHD_Result md5_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct md5_req *req = *con_cls;
    if (!req || !req->uri)
        return MHD_NO;
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

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || pthread_key_create(&g_curl_key, md5_curl_free) != 0) {
        cmn_error("etlfs-md5: library init failed");
        return 1;
    }
    /* a 256 KiB connection pool lets large bodies arrive in large pieces */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, (uint16_t)port, NULL, NULL, md5_handle, NULL,
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
    int sig = 0;
    sigwait(&sigs, &sig);
    cmn_info("etlfs-md5: signal %d, stopping", sig);
    MHD_stop_daemon(d);
    pthread_key_delete(g_curl_key);
    curl_global_cleanup();
    return 0;
}

/*
 * http_client.c - blocking libcurl requests for every etlfs program (mount,
 * command line, ETL communicators). Easy handles come from a pool so a
 * thread reuses a kept-alive connection; bodies stream both ways without a
 * full copy in memory; a 2xx body reaches its sink only after the status is
 * known, so an error page is never mistaken for data.
 */
#include "common/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHARED_POOL_MAX 64
#define MAX_REDIRS 8L
#define RECV_BUFFER (128L << 10) /* libcurl's receive buffer per handle */

struct cmn_http_pool {
    pthread_mutex_t mu;
    CURL **idle;
    size_t n, max;
};

/* The pool of requests that name none, made on first use. */
static cmn_http_pool *shared;
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;

static cmn_http_pool *shared_pool(void)
{
    cmn_http_pool *p = __atomic_load_n(&shared, __ATOMIC_ACQUIRE);
    if (p)
        return p;
    pthread_mutex_lock(&shared_mu);
    if (!shared)
        __atomic_store_n(&shared, cmn_http_pool_new(SHARED_POOL_MAX), __ATOMIC_RELEASE);
    p = shared;
    pthread_mutex_unlock(&shared_mu);
    return p;
}

void cmn_http_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    shared_pool();
}

void cmn_http_global_cleanup(void)
{
    pthread_mutex_lock(&shared_mu);
    cmn_http_pool_free(shared);
    __atomic_store_n(&shared, NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&shared_mu);
    curl_global_cleanup();
}

cmn_http_pool *cmn_http_pool_new(size_t max)
{
    cmn_http_pool *p = cmn_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->max = max ? max : 1;
    p->idle = cmn_xcalloc(p->max, sizeof *p->idle);
    return p;
}

void cmn_http_pool_free(cmn_http_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        curl_easy_cleanup(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    free(p->idle);
    free(p);
}

static CURL *pool_get(cmn_http_pool *p)
{
    CURL *c = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->n)
        c = p->idle[--p->n];
    pthread_mutex_unlock(&p->mu);
    if (c) {
        curl_easy_reset(c); /* keeps the connection cache */
        return c;
    }
    c = curl_easy_init();
    if (!c) { /* libcurl fails here only when it cannot allocate */
        cmn_error("out of memory creating an HTTP handle");
        abort();
    }
    return c;
}

/* A handle whose transfer failed may hold a half-read connection: dropped. */
static void pool_put(cmn_http_pool *p, CURL *c, bool broken)
{
    if (!broken) {
        pthread_mutex_lock(&p->mu);
        if (p->n < p->max) {
            p->idle[p->n++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (c)
        curl_easy_cleanup(c);
}

void cmn_http_resp_init(cmn_http_resp *r)
{
    memset(r, 0, sizeof *r);
    cmn_buf_init(&r->body);
}

void cmn_http_resp_free(cmn_http_resp *r)
{
    cmn_buf_free(&r->body);
    for (int i = 0; i < CMN_HTTP_MAX_WANT; i++) {
        free(r->hdr[i]);
        r->hdr[i] = NULL;
    }
}

typedef struct xfer {
    CURL *c;
    const cmn_http_req *req;
    cmn_http_resp *resp;
    long status;        /* of the answer whose body is arriving */
    bool ok, begun;     /* 2xx; the sink's begin was called */
    int in_fd;          /* request body from an fd (or body_path), else -1 */
    int64_t in_off, in_len;
} xfer;

static bool streams(const cmn_http_req *req) { return req->to_fd || req->to_spool || req->sink; }

static void note_content_type(xfer *x)
{
    char *ct = NULL;
    curl_easy_getinfo(x->c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(x->resp->content_type, sizeof x->resp->content_type, "%s", ct ? ct : "");
}

/* Called before the first byte of a 2xx body (and once for an empty one). */
static int begin(xfer *x)
{
    x->begun = true;
    note_content_type(x);
    curl_off_t cl = -1;
    curl_easy_getinfo(x->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (x->req->to_spool)
        cmn_spool_expect(x->req->to_spool, (int64_t)cl); /* one allocation of the answer's size */
    const cmn_http_sink *s = x->req->sink;
    if (!s || !s->begin)
        return 0;
    const char *ct = x->resp->content_type[0] ? x->resp->content_type : "application/octet-stream";
    int rc = s->begin(s->ctx, ct, (int64_t)cl);
    if (rc != 0)
        x->resp->out_err = rc < 0 ? -rc : ECANCELED;
    return rc;
}

static int deliver(xfer *x, const char *data, size_t len)
{
    int rc;
    if (x->req->to_fd) {
        rc = cmn_write_all(x->req->out_fd, data, len);
        if (rc != 0)
            x->resp->out_err = rc < -1 ? -rc : errno; /* -errno, or -1 with errno set */
        else if (x->req->out_hash)
            XXH64_update(x->req->out_hash, data, len);
    } else if (x->req->to_spool) {
        rc = cmn_spool_write(x->req->to_spool, data, len);
        if (rc != 0)
            x->resp->out_err = rc < -1 ? -rc : errno; /* cmn_write_all's -1 leaves errno */
    } else {
        rc = x->req->sink->write(x->req->sink->ctx, data, len);
        if (rc != 0)
            x->resp->out_err = rc < 0 ? -rc : ECANCELED;
    }
    if (rc == 0)
        x->resp->streamed += (int64_t)len;
    return rc;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
    if (status != x->status) { /* the first byte of this answer */
        x->status = status;
        x->ok = status >= 200 && status < 300;
        if (x->ok && streams(x->req) && !x->begun && begin(x) != 0)
            return 0;
    }
    if (x->ok && streams(x->req))
        return deliver(x, data, len) == 0 ? len : 0;
    cmn_buf *b = &x->resp->body;
    size_t max = x->ok ? 0 : x->req->err_body_max;
    if (!max)
        cmn_buf_append(b, data, len);
    else if (b->len < max)
        cmn_buf_append(b, data, len < max - b->len ? len : max - b->len);
    return len;
}

/* Header lines of every answer in a redirect chain arrive here; a new status
 * line resets what was captured so only the final answer counts. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    cmn_http_resp *r = x->resp;
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        for (int i = 0; i < CMN_HTTP_MAX_WANT; i++) {
            free(r->hdr[i]);
            r->hdr[i] = NULL;
        }
        cmn_buf_reset(&r->body);
        return n;
    }
    const char *const *want = x->req->want_headers;
    const char *colon = want ? memchr(ptr, ':', n) : NULL;
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - ptr);
    for (int i = 0; i < CMN_HTTP_MAX_WANT && want[i]; i++) {
        if (strlen(want[i]) != klen || strncasecmp(want[i], ptr, klen) != 0)
            continue;
        const char *v = colon + 1, *end = ptr + n;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        free(r->hdr[i]);
        r->hdr[i] = cmn_xstrndup(v, (size_t)(end - v));
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t want = size * nmemb;
    ssize_t n;
    if (x->req->body_read) {
        n = x->req->body_read(x->req->body_read_ctx, buf, want);
        if (n < 0) {
            x->resp->in_err = (int)-n;
            return CURL_READFUNC_ABORT;
        }
    } else {
        if ((int64_t)want > x->in_len - x->in_off)
            want = (size_t)(x->in_len - x->in_off);
        if (!want)
            return 0;
        do
            n = pread(x->in_fd, buf, want, x->in_off);
        while (n < 0 && errno == EINTR);
        if (n <= 0) { /* an error, or the file shrank under us */
            x->resp->in_err = n < 0 ? errno : EIO;
            return CURL_READFUNC_ABORT;
        }
        x->in_off += n;
    }
    x->resp->sent += n;
    return (size_t)n;
}

/* A redirected or retried upload starts over. */
static int on_seek(void *ud, curl_off_t off, int origin)
{
    xfer *x = ud;
    if (x->req->body_read || origin != SEEK_SET || off < 0 || off > x->in_len)
        return CURL_SEEKFUNC_CANTSEEK;
    x->in_off = (int64_t)off;
    x->resp->sent = (int64_t)off;
    return CURL_SEEKFUNC_OK;
}

/* Called by libcurl at least once a second: a long stream (an etcd watch)
 * ends when its owner asks, even when no byte arrives. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const xfer *x = ud;
    return __atomic_load_n(x->req->cancel, __ATOMIC_ACQUIRE) ? 1 : 0;
}

static int curl_errno(CURLcode cc)
{
    switch (cc) {
    case CURLE_ABORTED_BY_CALLBACK: return -ECANCELED;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    default: return -EIO;
    }
}

static void set_body(CURL *c, xfer *x, const char *method)
{
    const cmn_http_req *req = x->req;
    if (x->in_fd >= 0 || req->body_read) {
        int64_t len = req->body_read ? req->body_read_len : x->in_len;
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, x);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (req->body) {
        /* GET with a body is what the AIStore API wants for listings */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        /* an empty body still needs Content-Length: 0 */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
}

/* TLS as AIStore's clients: certificates are verified unless
 * AIS_SKIP_VERIFY_CRT is true; AIS_CLIENT_CA names a CA bundle to trust. */
static struct {
    pthread_once_t once;
    bool skip_verify;
    const char *ca;
} tls = {PTHREAD_ONCE_INIT, false, NULL};

static void tls_env(void)
{
    const char *v = getenv("AIS_SKIP_VERIFY_CRT");
    tls.skip_verify = v && (!strcasecmp(v, "true") || !strcasecmp(v, "t") || !strcmp(v, "1") || !strcasecmp(v, "yes"));
    const char *ca = getenv("AIS_CLIENT_CA");
    tls.ca = ca && *ca ? ca : NULL;
}

static void set_tls(CURL *c)
{
    pthread_once(&tls.once, tls_env);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, tls.skip_verify ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, tls.skip_verify ? 0L : 2L);
    if (tls.ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, tls.ca);
}

static void set_timeouts(CURL *c, const cmn_http_req *req)
{
    long connect = req->connect_timeout_ms ? req->connect_timeout_ms : CMN_HTTP_CONNECT_TIMEOUT_MS;
    long stall = req->stall_sec ? req->stall_sec : CMN_HTTP_STALL_SEC;
    if (connect > 0)
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect);
    if (stall > 0) {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall);
    }
    if (req->timeout_ms > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
}

/* Opens body_path as the fd to send; 0 or -errno (in resp->err). */
static int open_body(xfer *x)
{
    const cmn_http_req *req = x->req;
    if (req->body_from_fd) {
        x->in_fd = req->body_fd;
        x->in_len = req->body_fd_len;
        return 0;
    }
    if (!req->body_path)
        return 0;
    struct stat st;
    x->in_fd = open(req->body_path, O_RDONLY | O_CLOEXEC);
    if (x->in_fd < 0 || fstat(x->in_fd, &st) != 0)
        return cmn_err_set(&x->resp->err, errno, "open %s: %s", req->body_path, strerror(errno));
    x->in_len = st.st_size;
    return 0;
}

int cmn_http_do(cmn_http_pool *pool, const cmn_http_req *req, cmn_http_resp *resp)
{
    if (!pool)
        pool = shared_pool();
    const char *method = req->method ? req->method : "GET";
    xfer x = {.req = req, .resp = resp, .in_fd = -1};
    int rc = open_body(&x);
    if (rc < 0) {
        if (x.in_fd >= 0)
            close(x.in_fd);
        return rc;
    }
    CURL *c = x.c = pool_get(pool);
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    for (const char *const *p = req->headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    /* a large answer (a view's output) arrives in a few big reads rather
     * than libcurl's default 16 KiB ones, each with its poll; one size for
     * every request, so that a pooled handle's buffer is never resized */
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, RECV_BUFFER);
    if (req->user_agent)
        curl_easy_setopt(c, CURLOPT_USERAGENT, req->user_agent);
    if (req->follow_redirects) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, MAX_REDIRS);
        curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
    }
    if (req->cancel) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    set_timeouts(c, req);
    set_tls(c);
    set_body(c, &x, method);

    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc == CURLE_OK) {
        x.status = resp->status;
        x.ok = resp->status >= 200 && resp->status < 300;
        if (!x.begun && x.ok && streams(req) && begin(&x) != 0)
            cc = CURLE_WRITE_ERROR; /* an empty body the sink refused */
        else if (!x.begun)
            note_content_type(&x);
    }
    if (resp->out_err)
        rc = cmn_err_set(&resp->err, resp->out_err, "write: %s", strerror(resp->out_err));
    else if (resp->in_err)
        rc = cmn_err_set(&resp->err, resp->in_err, "read the body of %s %s: %s", method, req->url,
                         strerror(resp->in_err));
    else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE)
        rc = cmn_err_set(&resp->err, -curl_errno(cc), "%s %s: %s (%s; AIS_CLIENT_CA names a CA to trust, "
                         "AIS_SKIP_VERIFY_CRT=true skips the check)", method, req->url, curl_easy_strerror(cc), cerr);
    else if (cc != CURLE_OK)
        rc = cmn_err_set(&resp->err, -curl_errno(cc), "%s %s: %s", method, req->url, curl_easy_strerror(cc));
    snprintf(resp->detail, sizeof resp->detail, "%s", cerr);
    curl_slist_free_all(hl);
    pool_put(pool, c, cc != CURLE_OK);
    if (x.in_fd >= 0 && !req->body_from_fd)
        close(x.in_fd);
    return rc;
}

/*
 * comm.c - talking HTTP to a running ETL (libcurl): the handle the target
 * holds while it transforms, a small pool of curl easy handles per ETL (kept
 * connections for keep-alive servers; the target calls in from many threads),
 * the readiness probe, and etl_transform. The ETL's status is checked before
 * the sink sees any byte, so a failing ETL becomes a 502 instead of a
 * "transformed" error page; a hang becomes a 504 at the object timeout.
 * Which method, URL and body each communicator uses lives in its own file
 * (see comm_table.c); this file only does the HTTP.
 */
#include "etl/etl_int.h"

#include <curl/curl.h>
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
#define CONNECT_TIMEOUT_MS 5000L

etl_handle *etl_handle_new(const char *name, const etl_comm *comm, const char *arg, const char *io_command,
                           int port, int64_t object_timeout_ns)
{
    etl_handle *h = cmn_xcalloc(1, sizeof *h);
    h->refs = 1;
    pthread_mutex_init(&h->mu, NULL);
    h->name = cmn_xstrdup(name);
    h->comm = comm;
    h->arg = cmn_xstrdup(arg);
    h->io_command = cmn_xstrdup(io_command ? io_command : "");
    snprintf(h->base_url, sizeof h->base_url, "http://127.0.0.1:%d", port);
    h->object_timeout_ns = object_timeout_ns;
    h->pool = cmn_xcalloc(POOL_MAX, sizeof *h->pool);
    return h;
}

void etl_handle_free(etl_handle *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    free(h->pool);
    pthread_mutex_destroy(&h->mu);
    free(h->name);
    free(h->arg);
    free(h->io_command);
    free(h);
}

void etl_put(etl_handle *h)
{
    if (h && __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0)
        etl_handle_free(h);
}

char *etl_redirect_url(const etl_handle *h, const etl_object *obj)
{
    return h->comm->redirects ? etl_object_url(h, obj) : NULL;
}

static CURL *pool_get(etl_handle *h)
{
    CURL *c = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->npool)
        c = h->pool[--h->npool];
    pthread_mutex_unlock(&h->mu);
    return c ? c : curl_easy_init();
}

static void pool_put(etl_handle *h, CURL *c)
{
    curl_easy_reset(c); /* keeps the connection cache */
    pthread_mutex_lock(&h->mu);
    if (h->npool < POOL_MAX) {
        h->pool[h->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    if (c)
        curl_easy_cleanup(c);
}

typedef struct xfer {
    CURL *c;
    const etl_sink *sink;
    int fd;
    bool checked, ok_status, begun, sink_failed, read_failed;
    long status;
    int64_t sent, out;
    cmn_buf errbody;
} xfer;

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    ssize_t got;
    while ((got = read(x->fd, buf, size * n)) < 0 && errno == EINTR)
        ;
    if (got < 0) {
        x->read_failed = true;
        return CURL_READFUNC_ABORT;
    }
    x->sent += got;
    return (size_t)got;
}

static int begin(xfer *x)
{
    char *ct = NULL;
    curl_off_t cl = -1;
    curl_easy_getinfo(x->c, CURLINFO_CONTENT_TYPE, &ct);
    curl_easy_getinfo(x->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    x->begun = true;
    if (x->sink->begin(x->sink->ctx, ct ? ct : "application/octet-stream", (int64_t)cl) != 0) {
        x->sink_failed = true;
        return -EIO;
    }
    return 0;
}

static size_t on_write(char *buf, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (!x->checked) {
        x->checked = true;
        curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->status);
        x->ok_status = x->status >= 200 && x->status < 300;
        if (x->ok_status && begin(x) != 0)
            return 0;
    }
    if (!x->ok_status) {
        if (x->errbody.len < ERRBODY_MAX)
            cmn_buf_append(&x->errbody, buf, len < ERRBODY_MAX - x->errbody.len ? len : ERRBODY_MAX - x->errbody.len);
        return len;
    }
    if (x->sink->write(x->sink->ctx, buf, len) != 0) {
        x->sink_failed = true;
        return 0;
    }
    x->out += (int64_t)len;
    return len;
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

int etl_transform(etl_handle *h, const etl_object *obj, const etl_sink *sink, int64_t timeout_ns, cmn_err *err)
{
    bool put = h->comm->puts_object;
    bool body = put && strcmp(h->arg, "fqn") != 0;
    int64_t tmo = timeout_ns > 0 ? timeout_ns : h->object_timeout_ns;
    char *url = etl_object_url(h, obj);
    xfer x = {.sink = sink, .fd = -1};
    cmn_buf_init(&x.errbody);
    int rc = 0;
/* Every failure names the ETL and the object; the code becomes the status. */
#define FAIL(code, fmt, ...)                                                                                   \
    do {                                                                                                      \
        rc = cmn_err_set(err, (code), "etl[%s]: object ais://%s/%s: " fmt, h->name, obj->bucket, obj->name, \
                         ##__VA_ARGS__);                                                                      \
        goto out;                                                                                             \
    } while (0)

    struct stat st;
    if (body) {
        x.fd = open(obj->fqn, O_RDONLY | O_CLOEXEC);
        if (x.fd < 0 || fstat(x.fd, &st) != 0) {
            int e = errno;
            FAIL(e == ENOENT ? ENOENT : EIO, "cannot open %s: %s", obj->fqn, strerror(e));
        }
    }
    x.c = pool_get(h);
    if (!x.c)
        FAIL(EIO, "cannot create an HTTP client");
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    if (put)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
    curl_easy_setopt(x.c, CURLOPT_URL, url);
    curl_easy_setopt(x.c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x.c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(x.c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(x.c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(x.c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(x.c, CURLOPT_TIMEOUT_MS, (long)(tmo / 1000000));
    curl_easy_setopt(x.c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(x.c, CURLOPT_WRITEDATA, &x);
    if (put) {
        curl_easy_setopt(x.c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(x.c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(x.c, CURLOPT_READDATA, &x);
        curl_easy_setopt(x.c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(body ? st.st_size : 0));
        if (!body) /* fqn: the ETL opens the file itself; an empty body */
            x.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    } else {
        curl_easy_setopt(x.c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode cc = curl_easy_perform(x.c);
    curl_slist_free_all(hdrs);
    if (cc == CURLE_OK && !x.checked) { /* empty body */
        curl_easy_getinfo(x.c, CURLINFO_RESPONSE_CODE, &x.status);
        x.checked = true;
        x.ok_status = x.status >= 200 && x.status < 300;
        if (x.ok_status && begin(&x) != 0)
            cc = CURLE_WRITE_ERROR;
    }
    __atomic_add_fetch(&h->in_bytes, x.sent, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->out_bytes, x.out, __ATOMIC_RELAXED);
    if (x.sink_failed)
        FAIL(ECANCELED, "the receiver stopped reading");
    if (x.read_failed)
        FAIL(EIO, "cannot read %s", obj->fqn);
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        char d[32];
        cmn_format_duration(tmo, d, sizeof d);
        FAIL(ETIMEDOUT, "no complete answer within %s", d);
    }
    if (cc != CURLE_OK)
        FAIL(EPROTO, "%s%s%s", curl_easy_strerror(cc), cerr[0] ? ": " : "", cerr);
    if (!x.ok_status) {
        one_line(&x.errbody);
        FAIL(EPROTO, "the ETL answered %ld%s%s", x.status, x.errbody.len ? ": " : "",
             x.errbody.len ? x.errbody.data : "");
    }
    __atomic_add_fetch(&h->obj_count, 1, __ATOMIC_RELAXED);
out:
#undef FAIL
    if (x.c)
        pool_put(h, x.c);
    if (x.fd >= 0)
        close(x.fd);
    cmn_buf_free(&x.errbody);
    free(url);
    if (rc && err)
        cmn_debug("%s", err->msg);
    return rc;
}

static size_t discard(char *buf, size_t size, size_t n, void *ud)
{
    (void)buf, (void)ud;
    return size * n;
}

int etl_wait_ready(const char *url, int64_t deadline_ns, bool (*alive)(void *), void *ctx, char *err,
                   size_t errlen)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot create an HTTP client");
        return -EIO;
    }
    int rc = -EIO;
    long status = 0;
    CURLcode cc = CURLE_OK;
    for (;;) {
        if (!alive(ctx)) {
            snprintf(err, errlen, "stopped before it was ready");
            break;
        }
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        cc = curl_easy_perform(c);
        status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200) {
            rc = 0;
            break;
        }
        if (cmn_mono_ns() >= deadline_ns) {
            if (cc == CURLE_OK)
                snprintf(err, errlen, "not ready in time: %s answered %ld", url, status);
            else
                snprintf(err, errlen, "not ready in time: %s: %s", url, curl_easy_strerror(cc));
            break;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    curl_easy_cleanup(c);
    return rc;
}

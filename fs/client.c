/*
 * client.c - HTTP to the node-local target: a pool of libcurl easy handles
 * that keep their connections alive across FUSE calls, and one request
 * primitive. A handle belongs to one thread for the length of a request.
 *
 * Timeouts are bounded (connect 5 s, stall 30 s) so a dead target turns into
 * EIO on the calling file operation instead of a hung process.
 */
#include "fs/fs.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define POOL_MAX 64

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[POOL_MAX];
static size_t pool_n;

int fs_client_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void fs_client_cleanup(void)
{
    pthread_mutex_lock(&pool_mu);
    for (size_t i = 0; i < pool_n; i++)
        curl_easy_cleanup(pool[i]);
    pool_n = 0;
    pthread_mutex_unlock(&pool_mu);
    curl_global_cleanup();
}

static CURL *pool_get(void)
{
    CURL *c = NULL;
    pthread_mutex_lock(&pool_mu);
    if (pool_n)
        c = pool[--pool_n];
    pthread_mutex_unlock(&pool_mu);
    if (!c)
        c = curl_easy_init();
    else
        curl_easy_reset(c); /* keeps the connection cache */
    return c;
}

static void pool_put(CURL *c, bool broken)
{
    if (!broken) {
        pthread_mutex_lock(&pool_mu);
        if (pool_n < POOL_MAX) {
            pool[pool_n++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&pool_mu);
    }
    if (c)
        curl_easy_cleanup(c);
}

void fs_resp_init(fs_resp *r)
{
    memset(r, 0, sizeof *r);
    cmn_buf_init(&r->body);
    r->content_length = -1;
    r->ais_size = -1;
    r->is_dir = -1;
}

void fs_resp_free(fs_resp *r) { cmn_buf_free(&r->body); }

typedef struct xfer {
    CURL *c;
    const fs_req *req;
    fs_resp *resp;
    bool sink_failed;
} xfer;

static size_t on_body(char *data, size_t sz, size_t nm, void *ud)
{
    xfer *x = ud;
    size_t len = sz * nm;
    long status = 0;
    curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
    /* error bodies stay in resp->body for the message, never in the sink */
    if (x->req->sink && status < 300) {
        if (x->req->sink(x->req->sink_ctx, data, len) == len)
            return len;
        x->sink_failed = true;
        return 0;
    }
    cmn_buf_append(&x->resp->body, data, len);
    return len;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    while (n && *v == ' ')
        v++, n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *data, size_t sz, size_t nm, void *ud)
{
    xfer *x = ud;
    size_t len = sz * nm;
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t klen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = len - klen - 1;
    char tmp[64];
#define IS(k) (klen == sizeof(k) - 1 && strncasecmp(data, k, klen) == 0)
    if (IS("etlfs-fqn")) {
        copy_value(x->resp->fqn, sizeof x->resp->fqn, v, vlen);
    } else if (IS("etlfs-dir")) {
        copy_value(tmp, sizeof tmp, v, vlen);
        x->resp->is_dir = tmp[0] == '1';
    } else if (IS("ais-version")) {
        copy_value(x->resp->version, sizeof x->resp->version, v, vlen);
    } else if (IS("ais-atime")) {
        copy_value(tmp, sizeof tmp, v, vlen);
        x->resp->atime_ns = strtoll(tmp, NULL, 10);
    } else if (IS("ais-size")) {
        copy_value(tmp, sizeof tmp, v, vlen);
        x->resp->ais_size = strtoll(tmp, NULL, 10);
    } else if (IS("content-length")) {
        copy_value(tmp, sizeof tmp, v, vlen);
        x->resp->content_length = strtoll(tmp, NULL, 10);
    }
#undef IS
    return len;
}

typedef struct upload {
    int fd;
    int64_t off, len;
} upload;

static size_t on_read(char *buf, size_t sz, size_t nm, void *ud)
{
    upload *u = ud;
    size_t want = sz * nm;
    if ((int64_t)want > u->len - u->off)
        want = (size_t)(u->len - u->off);
    if (!want)
        return 0;
    ssize_t n;
    do
        n = pread(u->fd, buf, want, u->off);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return CURL_READFUNC_ABORT;
    u->off += n;
    return (size_t)n;
}

static int curl_errno(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    default: return -EIO;
    }
}

int fs_http(const fs_req *req, fs_resp *resp)
{
    CURL *c = pool_get();
    if (!c)
        return -ENOMEM;
    fs_stat_add(FS_ST_HTTP_REQS, 1);
    xfer x = {.c = c, .req = req, .resp = resp};
    upload up = {.fd = req->upload_fd, .len = req->upload_len};
    struct curl_slist *hdrs = NULL;
    char range[80];

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    if (req->follow) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    }
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "PUT") == 0 && req->upload) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->upload_len);
        hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    if (req->json) {
        /* GET with a body is what the AIStore API wants for listings */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->json);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(req->json));
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    } else if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "DELETE") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    if (req->ranged) {
        snprintf(range, sizeof range, "%lld-%lld", (long long)req->range_from, (long long)req->range_to);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    CURLcode rc = curl_easy_perform(c);
    int ret = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    } else if (x.sink_failed) {
        ret = -EIO;
        snprintf(resp->curl_err, sizeof resp->curl_err, "could not store the response body");
    } else {
        ret = curl_errno(rc);
        snprintf(resp->curl_err, sizeof resp->curl_err, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdrs);
    pool_put(c, rc != CURLE_OK);
    return ret;
}

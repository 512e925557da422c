/*
 * http_client.c - blocking libcurl requests for the command line and tools.
 * Bodies go out from memory or straight from a file (no full read into RAM);
 * a successful body can stream to a file descriptor, while error bodies are
 * always kept in memory so the caller can show the server's message.
 */
#include "common/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct cmn_http {
    CURL *curl;
};

struct xfer {
    CURL *curl;
    const cmn_http_req *req;
    cmn_http_resp *resp;
    FILE *in;
    bool write_failed;
};

void cmn_http_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }
void cmn_http_global_cleanup(void) { curl_global_cleanup(); }

cmn_http *cmn_http_new(void)
{
    cmn_http *h = cmn_xcalloc(1, sizeof *h);
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return NULL;
    }
    return h;
}

void cmn_http_free(cmn_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
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

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    if (x->req->out_fd >= 0 && code >= 200 && code < 300) {
        if (cmn_write_all(x->req->out_fd, ptr, n) != CMN_OK) {
            x->resp->out_errno = errno;
            x->write_failed = true;
            return 0;
        }
        x->resp->streamed += (int64_t)n;
        return n;
    }
    cmn_buf_append(&x->resp->body, ptr, n);
    return n;
}

/* Header lines of every response in a redirect chain arrive here; a new
 * status line resets what was captured so only the final answer counts. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    const char *const *want = x->req->want_headers;
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        for (int i = 0; i < CMN_HTTP_MAX_WANT; i++) {
            free(x->resp->hdr[i]);
            x->resp->hdr[i] = NULL;
        }
        return n;
    }
    if (!want)
        return n;
    const char *colon = memchr(ptr, ':', n);
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
        free(x->resp->hdr[i]);
        x->resp->hdr[i] = strndup(v, (size_t)(end - v));
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = fread(buf, 1, size * nmemb, x->in);
    if (n == 0 && ferror(x->in))
        return CURL_READFUNC_ABORT;
    return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct xfer *x = ud;
    return fseeko(x->in, (off_t)off, origin) == 0 ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
}

int cmn_http_do(cmn_http *h, const cmn_http_req *req, cmn_http_resp *resp)
{
    cmn_http *own = NULL;
    if (!h) {
        own = h = cmn_http_new();
        if (!h) {
            snprintf(resp->err, sizeof resp->err, "cannot create an HTTP handle");
            return CMN_ERR;
        }
    }
    CURL *c = h->curl;
    curl_easy_reset(c);
    struct xfer x = {.curl = c, .req = req, .resp = resp};
    const char *method = req->method ? req->method : "GET";
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    for (const char *const *p = req->headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    int rc = CMN_ERR;

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ais/etlfs");
    if (req->follow_redirects) {
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 8L);
        curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
    }
    if (req->timeout_sec > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT, req->timeout_sec);

    if (req->body_path) {
        struct stat st;
        x.in = fopen(req->body_path, "rb");
        if (!x.in || fstat(fileno(x.in), &st) != 0) {
            snprintf(resp->err, sizeof resp->err, "open %s: %s", req->body_path, strerror(errno));
            goto out;
        }
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &x);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, &x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (req->body) {
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
    }

    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc != CURLE_OK) {
        if (x.write_failed)
            snprintf(resp->err, sizeof resp->err, "write: %s", strerror(resp->out_errno));
        else
            snprintf(resp->err, sizeof resp->err, "%s %s: %s", method, req->url, curl_easy_strerror(cc));
        goto out;
    }
    rc = CMN_OK;
out:
    if (x.in)
        fclose(x.in);
    curl_slist_free_all(hl);
    cmn_http_free(own);
    return rc;
}

/*
 * http_client.h - a small blocking HTTP client over libcurl: one request in,
 * status + body + the few response headers the caller asked for out.
 *
 * A cmn_http handle keeps one libcurl easy handle so a thread reuses its
 * connection across requests; handles are not shared between threads.
 */
#ifndef ETLFS_HTTP_CLIENT_H
#define ETLFS_HTTP_CLIENT_H

#include "common/cmn.h"

#include <stdint.h>

#define CMN_HTTP_MAX_WANT 8

typedef struct cmn_http cmn_http;

typedef struct cmn_http_req {
    const char *method;              /* "GET", "PUT", ...; NULL = GET */
    const char *url;
    const void *body;                /* optional in-memory body */
    size_t body_len;
    const char *body_path;           /* optional file to send instead of body */
    const char *const *headers;      /* optional NULL-terminated "Name: value" list */
    const char *const *want_headers; /* optional NULL-terminated names to capture */
    bool follow_redirects;
    int out_fd;       /* >= 0: a 2xx body is streamed here instead of resp->body */
    long timeout_sec; /* 0 = none */
} cmn_http_req;

typedef struct cmn_http_resp {
    long status;                         /* 0 when the request never got an answer */
    cmn_buf body;                        /* body (or the error body when out_fd is used) */
    char *hdr[CMN_HTTP_MAX_WANT];        /* values of want_headers, NULL when absent */
    int64_t streamed;                    /* bytes written to out_fd */
    int out_errno;                       /* errno of a failed write to out_fd (EPIPE...) */
    char err[256];                       /* transport error text when CMN_ERR */
} cmn_http_resp;

/* Once per process, before any thread starts. */
void cmn_http_global_init(void);
void cmn_http_global_cleanup(void);

cmn_http *cmn_http_new(void);
void cmn_http_free(cmn_http *h);

void cmn_http_resp_init(cmn_http_resp *r);
void cmn_http_resp_free(cmn_http_resp *r);

/* Runs one request. CMN_OK when an HTTP answer arrived (any status); CMN_ERR
 * on a transport, file or output error, described in resp->err. h may be NULL
 * for a one-off request. */
int cmn_http_do(cmn_http *h, const cmn_http_req *req, cmn_http_resp *resp);

#endif

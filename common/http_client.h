/*
 * http_client.h - the one libcurl wrapper of etlfs: blocking requests on a
 * thread-safe pool of keep-alive easy handles, bodies from memory, a file,
 * an fd or a callback, answers into memory, an fd, a cmn_spool or a sink that
 * learns the status before its first byte. Prefix cmn_http_. HTTPS certificates are
 * verified, as AIStore's clients do: AIS_CLIENT_CA names a CA file to trust,
 * AIS_SKIP_VERIFY_CRT=true turns the check off (read once per process).
 *
 * Everything above HTTP (AIStore URLs, error bodies) is in ais_client.h.
 */
#ifndef ETLFS_HTTP_CLIENT_H
#define ETLFS_HTTP_CLIENT_H

#include "common/cmn.h"

#include <stdint.h>
#include <sys/types.h>
#include <xxhash.h>

#define CMN_HTTP_MAX_WANT 8
/* Request defaults when a timeout field is 0; -1 turns a bound off. */
#define CMN_HTTP_CONNECT_TIMEOUT_MS 5000L
#define CMN_HTTP_STALL_SEC 30L /* no byte either way for this long: give up */

/* Easy handles whose connections outlive a request; any thread may get one. */
typedef struct cmn_http_pool cmn_http_pool;

/* Where a 2xx body goes when it is not kept in memory. begin (optional) is
 * called once, after the status is known and before the first byte, even
 * for an empty body; content_type is never NULL, length is -1 when unknown.
 * Both return 0 or a negative errno, which ends the transfer. */
typedef struct cmn_http_sink {
    void *ctx;
    int (*begin)(void *ctx, const char *content_type, int64_t length);
    int (*write)(void *ctx, const char *data, size_t len);
} cmn_http_sink;

/* Request body from a callback: bytes read (0 at the end) or a negative errno. */
typedef ssize_t (*cmn_http_read_fn)(void *ctx, char *buf, size_t len);

typedef struct cmn_http_req {
    const char *method;              /* "GET", "PUT", ...; NULL = GET */
    const char *url;
    const char *const *headers;      /* optional NULL-terminated "Name: value" list */
    const char *user_agent;          /* optional */
    /* request body: at most one source; none sends no body (PUT/POST: empty) */
    const void *body;                /* from memory, body_len bytes */
    size_t body_len;
    const char *body_path;           /* a whole file, read as it is sent */
    bool body_from_fd;               /* body_fd_len bytes of body_fd from offset 0 */
    int body_fd;
    int64_t body_fd_len;
    cmn_http_read_fn body_read;      /* a callback; body_read_len bytes, -1 = chunked */
    void *body_read_ctx;
    int64_t body_read_len;
    /* response body: resp->body, unless a 2xx one goes to out_fd, to_spool or sink */
    bool to_fd;
    int out_fd;
    XXH64_state_t *out_hash;         /* with to_fd: each byte written is hashed into it too
                                      * (an object writer's checksum, kept as it writes) */
    cmn_spool *to_spool;             /* memory, then its file (content type in resp) */
    const cmn_http_sink *sink;
    size_t err_body_max;             /* keep at most this much of a non-2xx body; 0 = all */
    const char *const *want_headers; /* optional NULL-terminated names to capture */
    bool follow_redirects;
    long connect_timeout_ms;         /* 0 = CMN_HTTP_CONNECT_TIMEOUT_MS, -1 = libcurl's */
    long stall_sec;                  /* 0 = CMN_HTTP_STALL_SEC, -1 = none */
    long timeout_ms;                 /* the whole request; 0 = none */
    const int *cancel;               /* optional: once *cancel is nonzero the transfer ends
                                      * (-ECANCELED) within about a second; for long streams */
} cmn_http_req;

typedef struct cmn_http_resp {
    long status;                  /* 0 when no answer arrived */
    cmn_buf body;                 /* the body, or a non-2xx body when out_fd/to_spool/sink took 2xx ones */
    char *hdr[CMN_HTTP_MAX_WANT]; /* values of want_headers, NULL when absent */
    char content_type[128];       /* "" when absent */
    int64_t sent;                 /* request body bytes read from the source */
    int64_t streamed;             /* response bytes given to out_fd, to_spool or the sink */
    int out_err;                  /* errno of a failed write to out_fd, to_spool or sink (EPIPE...) */
    int in_err;                   /* errno of a failed read of the request body */
    cmn_err err;                  /* why cmn_http_do failed: "GET URL: Timeout was reached" */
    char detail[256];             /* libcurl's own words on a transport failure, or "" */
} cmn_http_resp;

/* Once per process, before any thread starts. */
void cmn_http_global_init(void);
void cmn_http_global_cleanup(void);

/* A pool keeping at most max idle handles. */
cmn_http_pool *cmn_http_pool_new(size_t max);
void cmn_http_pool_free(cmn_http_pool *p);

void cmn_http_resp_init(cmn_http_resp *r);
void cmn_http_resp_free(cmn_http_resp *r);

/* Runs one request on a handle of pool (NULL: the process's shared pool).
 * 0 when an HTTP answer arrived, whatever its status. Otherwise a negative
 * errno, described in resp->err: the sink's or out_fd's error (resp->out_err),
 * the body source's (resp->in_err), -ETIMEDOUT, -ECONNREFUSED (nothing
 * listens), -EIO (any other transport failure). */
int cmn_http_do(cmn_http_pool *pool, const cmn_http_req *req, cmn_http_resp *resp);

#endif

/*
 * test_http_client.c - the libcurl wrapper (common/http_client.c) against a
 * small HTTP server on a thread: bodies each way, a sink that sees the status
 * before any byte, kept error bodies, headers, redirects and timeouts, and
 * the AIStore client's error mapping on top (common/ais_client.c).
 */
#include "common/ais_client.h"
#include "common/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "tests/unit/check.h"

static int port;

static void reply(int fd, const char *status, const char *extra, const char *body, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     len, extra);
    cmn_write_all(fd, head, (size_t)n);
    cmn_write_all(fd, body, len);
}

/* One request per connection: the request line, headers, a Content-Length body. */
static void serve(int fd)
{
    static char req[1 << 20]; /* one connection at a time */
    size_t got = 0;
    char *end = NULL;
    while (!end && got < sizeof req - 1) {
        ssize_t n = read(fd, req + got, sizeof req - 1 - got);
        if (n <= 0)
            return;
        got += (size_t)n;
        req[got] = '\0';
        end = strstr(req, "\r\n\r\n");
    }
    if (!end)
        return;
    const char *cl = strcasestr(req, "Content-Length:");
    size_t want = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0, have = got - (size_t)(end + 4 - req);
    while (have < want && got < sizeof req - 1) {
        ssize_t n = read(fd, req + got, sizeof req - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        have += (size_t)n;
    }
    char method[16], path[256];
    if (sscanf(req, "%15s %255s", method, path) != 2)
        return;
    if (!strcmp(path, "/ok"))
        reply(fd, "200 OK", "Content-Type: text/plain\r\nAis-Version: 7\r\n", "hello", 5);
    else if (!strcmp(path, "/empty"))
        reply(fd, "200 OK", "", "", 0);
    else if (!strcmp(path, "/err"))
        reply(fd, "404 Not Found", "Content-Type: application/json\r\n", "{\"message\":\"no such thing\",\"status\":404}",
              41);
    else if (!strcmp(path, "/text500"))
        reply(fd, "500 Internal Server Error", "", "boom\nmore", 9);
    else if (!strcmp(path, "/redirect"))
        reply(fd, "307 Temporary Redirect", "Location: /ok\r\n", "", 0);
    else if (!strcmp(path, "/echo"))
        reply(fd, "200 OK", "", end + 4, want);
    else if (!strcmp(path, "/slow")) {
        sleep(2);
        reply(fd, "200 OK", "", "late", 4);
    } else
        reply(fd, "400 Bad Request", "", "", 0);
}

static void *server(void *arg)
{
    int ls = *(int *)arg;
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        serve(fd);
        close(fd);
    }
    return NULL;
}

static void start_server(void)
{
    static int ls;
    ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    bind(ls, (struct sockaddr *)&a, sizeof a);
    listen(ls, 16);
    getsockname(ls, (struct sockaddr *)&a, &alen);
    port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, server, &ls);
    pthread_detach(t);
}

static char *url(const char *path) { return cmn_xasprintf("http://127.0.0.1:%d%s", port, path); }

/* A sink that records the order of calls. */
typedef struct rec {
    int begins;
    bool wrote_before_begin;
    char ct[64];
    int64_t length;
    cmn_buf data;
    int fail_begin; /* errno to refuse with */
} rec;

static int rec_begin(void *ctx, const char *ct, int64_t length)
{
    rec *r = ctx;
    r->begins++;
    snprintf(r->ct, sizeof r->ct, "%s", ct);
    r->length = length;
    return -r->fail_begin;
}

static int rec_write(void *ctx, const char *data, size_t len)
{
    rec *r = ctx;
    if (!r->begins)
        r->wrote_before_begin = true;
    cmn_buf_append(&r->data, data, len);
    return 0;
}

static int get(const char *path, const cmn_http_req *base, cmn_http_resp *resp)
{
    char *u = url(path);
    cmn_http_req req = *base;
    req.url = u;
    cmn_http_resp_init(resp);
    int rc = cmn_http_do(NULL, &req, resp);
    free(u);
    return rc;
}

static void test_memory_and_headers(void)
{
    const char *const want[] = {"ais-version", "x-absent", NULL};
    cmn_http_req req = {.want_headers = want};
    cmn_http_resp r;
    int rc = get("/ok", &req, &r);
    CHECK(rc == 0 && r.status == 200, "GET /ok: rc %d status %ld", rc, r.status);
    CHECK(r.body.len == 5 && !memcmp(r.body.data, "hello", 5), "body %s", r.body.data);
    CHECK(!strcmp(r.content_type, "text/plain"), "content type %s", r.content_type);
    CHECK(r.hdr[0] && !strcmp(r.hdr[0], "7") && !r.hdr[1], "captured headers");
    cmn_http_resp_free(&r);
}

static void test_sink(void)
{
    rec k = {0};
    cmn_buf_init(&k.data);
    cmn_http_sink s = {.ctx = &k, .begin = rec_begin, .write = rec_write};
    cmn_http_req req = {.sink = &s, .err_body_max = 4};
    cmn_http_resp r;
    int rc = get("/ok", &req, &r);
    CHECK(rc == 0 && k.begins == 1 && !k.wrote_before_begin, "sink order: begins %d", k.begins);
    CHECK(k.length == 5 && !strcmp(k.ct, "text/plain") && k.data.len == 5 && r.streamed == 5, "sink got %zu", k.data.len);
    CHECK(r.body.len == 0, "a streamed body is not kept");
    cmn_http_resp_free(&r);

    /* an error answer never reaches the sink; its body is kept, capped */
    cmn_buf_reset(&k.data);
    k.begins = 0;
    rc = get("/err", &req, &r);
    CHECK(rc == 0 && r.status == 404 && k.begins == 0 && k.data.len == 0, "404 reached the sink");
    CHECK(r.body.len == 4 && !memcmp(r.body.data, "{\"me", 4), "error body kept: %s", r.body.data);
    cmn_http_resp_free(&r);

    /* an empty 2xx body still begins, once */
    rc = get("/empty", &req, &r);
    CHECK(rc == 0 && k.begins == 1 && k.length == 0, "empty body: begins %d length %lld", k.begins,
          (long long)k.length);
    cmn_http_resp_free(&r);

    /* a sink that refuses ends the transfer with its errno */
    k.begins = 0;
    k.fail_begin = EPIPE;
    rc = get("/ok", &req, &r);
    CHECK(rc == -EPIPE && r.out_err == EPIPE && k.data.len == 0, "refusing sink: rc %d", rc);
    cmn_http_resp_free(&r);
    cmn_buf_free(&k.data);
}

/* a 2xx answer into a cmn_spool: in memory, then (past its limit) in its file;
 * an error answer never reaches it; a spool that cannot write ends the transfer */
static void test_spool(void)
{
    cmn_spool sp;
    cmn_spool_init(&sp, "/tmp", 1024);
    cmn_http_req req = {.to_spool = &sp};
    cmn_http_resp r;
    int rc = get("/ok", &req, &r);
    CHECK(rc == 0 && sp.len == 5 && sp.fd < 0 && !memcmp(sp.mem.data, "hello", 5) && r.streamed == 5,
          "spool got %lld bytes", (long long)sp.len);
    CHECK(!strcmp(r.content_type, "text/plain") && r.body.len == 0, "content type %s", r.content_type);
    cmn_http_resp_free(&r);
    rc = get("/err", &req, &r);
    CHECK(rc == 0 && r.status == 404 && sp.len == 5 && r.body.len == 41, "404 reached the spool");
    cmn_http_resp_free(&r);
    cmn_spool_free(&sp);

    cmn_spool_init(&sp, "/tmp", 2); /* spills at once */
    rc = get("/ok", &req, &r);
    char got[8] = "";
    CHECK(rc == 0 && sp.fd >= 0 && sp.len == 5 && cmn_spool_pread(&sp, got, 5, 0) == 5 && !memcmp(got, "hello", 5),
          "spilled spool: fd %d len %lld", sp.fd, (long long)sp.len);
    cmn_http_resp_free(&r);
    cmn_spool_free(&sp);

    cmn_spool_init(&sp, "/nonexistent-dir", 2); /* cannot spill */
    rc = get("/ok", &req, &r);
    CHECK(rc < 0 && r.out_err == ENOENT, "unwritable spool: rc %d out_err %d", rc, r.out_err);
    cmn_http_resp_free(&r);
    cmn_spool_free(&sp);
}

struct src {
    const char *data;
    size_t len, off;
};

static ssize_t from_mem(void *ctx, char *buf, size_t len)
{
    struct src *s = ctx;
    if (len > s->len - s->off)
        len = s->len - s->off;
    memcpy(buf, s->data + s->off, len);
    s->off += len;
    return (ssize_t)len;
}

static void test_upload(void)
{
    char path[] = "/tmp/test_http_client.XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    char data[100000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    cmn_write_all(fd, data, sizeof data);
    cmn_http_req req = {.method = "PUT", .body_from_fd = true, .body_fd = fd, .body_fd_len = sizeof data};
    cmn_http_resp r;
    int rc = get("/echo", &req, &r);
    CHECK(rc == 0 && r.status == 200 && r.sent == (int64_t)sizeof data, "upload from fd: rc %d sent %lld", rc,
          (long long)r.sent);
    CHECK(r.body.len == sizeof data && !memcmp(r.body.data, data, sizeof data), "echoed %zu bytes", r.body.len);
    cmn_http_resp_free(&r);
    close(fd);

    /* the same bytes from a file by name, from a callback, and back into an fd */
    char *file = cmn_xasprintf("/tmp/test_http_client.%d", (int)getpid());
    int wfd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cmn_write_all(wfd, data, sizeof data);
    close(wfd);
    char outpath[] = "/tmp/test_http_client.out.XXXXXX";
    int out = mkstemp(outpath);
    unlink(outpath);
    cmn_http_req by_name = {.method = "PUT", .body_path = file, .to_fd = true, .out_fd = out};
    rc = get("/echo", &by_name, &r);
    CHECK(rc == 0 && r.streamed == (int64_t)sizeof data && lseek(out, 0, SEEK_CUR) == (off_t)sizeof data,
          "file to fd: rc %d streamed %lld", rc, (long long)r.streamed);
    cmn_http_resp_free(&r);
    close(out);
    unlink(file);
    by_name.to_fd = false;
    rc = get("/echo", &by_name, &r);
    CHECK(rc == -ENOENT && r.status == 0 && strstr(r.err.msg, file), "missing file: rc %d %s", rc, r.err.msg);
    cmn_http_resp_free(&r);
    free(file);
    struct src s = {.data = data, .len = sizeof data};
    cmn_http_req cb = {.method = "PUT", .body_read = from_mem, .body_read_ctx = &s, .body_read_len = sizeof data};
    rc = get("/echo", &cb, &r);
    CHECK(rc == 0 && r.body.len == sizeof data && !memcmp(r.body.data, data, sizeof data), "callback body: rc %d", rc);
    cmn_http_resp_free(&r);

    cmn_http_req mem = {.method = "POST", .body = "{\"a\":1}", .body_len = 7};
    rc = get("/echo", &mem, &r);
    CHECK(rc == 0 && r.body.len == 7 && !strcmp(r.body.data, "{\"a\":1}"), "body from memory: %s", r.body.data);
    cmn_http_resp_free(&r);
}

static void test_redirect_timeout_refused(void)
{
    cmn_http_req follow = {.follow_redirects = true}, stay = {0};
    cmn_http_resp r;
    int rc = get("/redirect", &follow, &r);
    CHECK(rc == 0 && r.status == 200 && !strcmp(r.body.data, "hello"), "followed: %ld", r.status);
    cmn_http_resp_free(&r);
    rc = get("/redirect", &stay, &r);
    CHECK(rc == 0 && r.status == 307, "not followed: %ld", r.status);
    cmn_http_resp_free(&r);

    cmn_http_req quick = {.timeout_ms = 300};
    rc = get("/slow", &quick, &r);
    CHECK(rc == -ETIMEDOUT && r.err.code == ETIMEDOUT && strstr(r.err.msg, "/slow"), "timeout: rc %d %s", rc,
          r.err.msg);
    cmn_http_resp_free(&r);

    cmn_http_req none = {.url = "http://127.0.0.1:1/x"};
    cmn_http_resp_init(&r);
    rc = cmn_http_do(NULL, &none, &r);
    CHECK(rc == -ECONNREFUSED && r.status == 0, "refused: rc %d", rc);
    cmn_http_resp_free(&r);
}

static void test_ais(void)
{
    char *ep = url("/");
    cmn_ais c = {.endpoint = ep};
    cmn_buf u; /* the stand-in serves plain paths, not /v1/... */
    cmn_buf_init(&u);
    cmn_buf_printf(&u, "http://127.0.0.1:%d/err", port);
    cmn_http_req req = {.url = u.data};
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    cmn_err e;
    int rc = cmn_ais_do(&c, &req, &r, &e);
    CHECK(rc == -ENOENT && e.code == ENOENT && !strcmp(e.msg, "no such thing"), "404: rc %d %s", rc, e.msg);
    cmn_http_resp_free(&r);

    cmn_buf_reset(&u);
    cmn_buf_printf(&u, "http://127.0.0.1:%d/text500", port);
    req.url = u.data;
    cmn_http_resp_init(&r);
    rc = cmn_ais_do(&c, &req, &r, &e);
    CHECK(rc == -EIO && !strcmp(e.msg, "boom"), "500: rc %d %s", rc, e.msg);
    cmn_http_resp_free(&r);
    cmn_buf_free(&u);
    free(ep);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* the server answers clients that gave up */
    cmn_mem_init();
    cmn_http_global_init();
    start_server();
    test_memory_and_headers();
    test_sink();
    test_spool();
    test_upload();
    test_redirect_timeout_refused();
    test_ais();
    cmn_http_global_cleanup();
    return CHECK_RESULT();
}

/*
 * loadgen.c - a small HTTP load generator for the benchmarks where wrk falls
 * short: it follows redirects (inline hpull answers 307 to the ETL), checks
 * every answer against an expected MD5, and PUTs a different file per object.
 * One thread and one keep-alive connection (a pool of one handle of the
 * project's HTTP client, common/http_client.c) per connection; each thread
 * walks its own stride of the path list, so threads never share state.
 *
 *   cmake --build BUILD --target loadgen    (BUILD/bin/loadgen)
 *   loadgen [-c CONNS] [-d SECONDS] [-1] [-L] [-m GET|PUT] BASE_URL LIST
 *
 * LIST: one request per line, "PATH [FILE] [MD5]" separated by blanks.
 *   PATH   appended to BASE_URL (path and query, already escaped)
 *   FILE   PUT: the body to send ("-" for none)
 *   MD5    GET: the body must be this 32-digit hex string (an md5 ETL's answer)
 * -1 walks the list once (each line exactly once), else it cycles for -d
 * seconds (default 10). -L follows redirects. Prints one line:
 *   requests N errors E seconds S req/s R MB/s M
 * and the first few failures on stderr. Exit status 1 when any request failed.
 */
#include "common/http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct line {
    char *path, *file, *md5;
} line;

static line *lines;
static size_t nlines;
static const char *base;
static int conns = 8, once, follow, put;
static double duration = 10;
static atomic_long done_reqs, failed_reqs, body_bytes;
static atomic_int stop_flag, reported;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *what, const char *path, const char *why)
{
    atomic_fetch_add(&failed_reqs, 1);
    if (atomic_fetch_add(&reported, 1) < 5)
        fprintf(stderr, "loadgen: %s %s: %s\n", what, path, why);
}

typedef struct sink {
    char head[64];
    size_t len, total;
} sink;

/* A 2xx body: its first bytes kept (an md5 ETL's answer), the rest counted. */
static int on_body(void *ud, const char *buf, size_t len)
{
    sink *s = ud;
    if (s->len < sizeof s->head) {
        size_t k = len < sizeof s->head - s->len ? len : sizeof s->head - s->len;
        memcpy(s->head + s->len, buf, k);
        s->len += k;
    }
    s->total += len;
    return 0;
}

static char *slurp(const char *file, size_t *len)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char *b = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (b && got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
        if (r <= 0) {
            free(b);
            b = NULL;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return b;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    cmn_http_pool *pool = cmn_http_pool_new(1); /* this connection's keep-alive handle */
    char url[8192];
    size_t i = once ? (size_t)id : (size_t)id * (nlines / (size_t)conns);
    for (;;) {
        if (once && i >= nlines)
            break;
        if (!once && atomic_load(&stop_flag))
            break;
        line *l = &lines[i % nlines];
        i = once ? i + (size_t)conns : i + 1;
        snprintf(url, sizeof url, "%s%s", base, l->path);
        sink s = {.len = 0};
        cmn_http_sink out = {.ctx = &s, .write = on_body};
        size_t up_len = 0;
        char *body = NULL;
        if (put && l->file && strcmp(l->file, "-")) {
            body = slurp(l->file, &up_len);
            if (!body) {
                fail("read", l->file, strerror(errno));
                continue;
            }
        }
        cmn_http_req req = {
            .method = put ? "PUT" : "GET",
            .url = url,
            .body = body,
            .body_len = up_len,
            .sink = &out,
            .err_body_max = sizeof s.head,
            .follow_redirects = follow,
            .timeout_ms = 30000,
        };
        cmn_http_resp resp;
        cmn_http_resp_init(&resp);
        int rc = cmn_http_do(pool, &req, &resp);
        free(body);
        if (rc != 0) {
            fail(req.method, l->path, resp.err.msg);
        } else if (resp.status != 200) {
            char why[128];
            snprintf(why, sizeof why, "status %ld: %.*s", resp.status, (int)resp.body.len,
                     resp.body.data ? resp.body.data : "");
            fail(req.method, l->path, why);
        } else if (!put && l->md5 && (s.total != 32 || memcmp(s.head, l->md5, 32))) {
            char why[160];
            snprintf(why, sizeof why, "got %zu bytes \"%.*s\", want %s", s.total, (int)(s.len < 40 ? s.len : 40),
                     s.head, l->md5);
            fail("GET", l->path, why);
        } else {
            atomic_fetch_add(&done_reqs, 1);
            atomic_fetch_add(&body_bytes, (long)(put ? up_len : s.total));
        }
        cmn_http_resp_free(&resp);
    }
    cmn_http_pool_free(pool);
    return NULL;
}

static int load_list(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    size_t cap = 0;
    char *buf = NULL;
    size_t bl = 0;
    while (getline(&buf, &bl, f) > 0) {
        char *save = NULL, *p = strtok_r(buf, " \t\r\n", &save);
        if (!p)
            continue;
        if (nlines == cap) {
            cap = cap ? cap * 2 : 1024;
            lines = realloc(lines, cap * sizeof *lines);
        }
        line *l = &lines[nlines++];
        l->path = strdup(p);
        char *a = strtok_r(NULL, " \t\r\n", &save), *b = strtok_r(NULL, " \t\r\n", &save);
        l->file = put && a ? strdup(a) : NULL;
        l->md5 = !put && a ? strdup(b ? b : a) : NULL; /* GET: "PATH MD5" or "PATH - MD5" */
    }
    free(buf);
    fclose(f);
    return nlines ? 0 : -1;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "c:d:1Lm:")) != -1) {
        switch (opt) {
        case 'c': conns = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case '1': once = 1; break;
        case 'L': follow = 1; break;
        case 'm': put = !strcmp(optarg, "PUT"); break;
        default:
            fprintf(stderr, "usage: loadgen [-c CONNS] [-d SECONDS] [-1] [-L] [-m GET|PUT] BASE_URL LIST\n");
            return 2;
        }
    }
    if (argc - optind != 2 || conns < 1 || conns > 1024) {
        fprintf(stderr, "usage: loadgen [-c CONNS] [-d SECONDS] [-1] [-L] [-m GET|PUT] BASE_URL LIST\n");
        return 2;
    }
    base = argv[optind];
    if (load_list(argv[optind + 1]) != 0) {
        fprintf(stderr, "loadgen: cannot read a non-empty list from %s\n", argv[optind + 1]);
        return 2;
    }
    cmn_http_global_init();
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    double t0 = now();
    for (long i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    if (!once) {
        while (now() - t0 < duration) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        atomic_store(&stop_flag, 1);
    }
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double dt = now() - t0;
    long n = atomic_load(&done_reqs), e = atomic_load(&failed_reqs);
    printf("requests %ld errors %ld seconds %.2f req/s %.0f MB/s %.1f\n", n, e, dt, n / dt,
           atomic_load(&body_bytes) / dt / 1e6);
    free(th);
    for (size_t i = 0; i < nlines; i++) {
        free(lines[i].path);
        free(lines[i].file);
        free(lines[i].md5);
    }
    free(lines);
    cmn_http_global_cleanup();
    return e ? 1 : 0;
}

/*
 * loadgen.c - a small HTTP load generator for the benchmarks where wrk falls
 * short: it follows redirects (inline hpull answers 307 to the ETL), checks
 * every answer against an expected MD5, and PUTs a different file per object.
 * One thread and one keep-alive libcurl handle per connection; each thread
 * walks its own stride of the path list, so threads never share state.
 *
 *   cc -O2 -o loadgen bench/loadgen.c -lcurl -lpthread
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
#define _GNU_SOURCE
#include <curl/curl.h>
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

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t len = size * n;
    if (s->len < sizeof s->head) {
        size_t k = len < sizeof s->head - s->len ? len : sizeof s->head - s->len;
        memcpy(s->head + s->len, buf, k);
        s->len += k;
    }
    s->total += len;
    return len;
}

typedef struct src {
    const char *data;
    size_t len, off;
} src;

static size_t on_upload(char *buf, size_t size, size_t n, void *ud)
{
    src *s = ud;
    size_t k = size * n < s->len - s->off ? size * n : s->len - s->off;
    memcpy(buf, s->data + s->off, k);
    s->off += k;
    return k;
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
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    char url[8192], cerr[CURL_ERROR_SIZE];
    size_t i = once ? (size_t)id : (size_t)id * (nlines / (size_t)conns);
    for (;;) {
        if (once && i >= nlines)
            break;
        if (!once && atomic_load(&stop_flag))
            break;
        line *l = &lines[i % nlines];
        i = once ? i + (size_t)conns : i + 1;
        snprintf(url, sizeof url, "%s%s", base, l->path);
        curl_easy_reset(c); /* keeps the connection */
        sink s = {.len = 0};
        src up = {0};
        char *body = NULL;
        cerr[0] = '\0';
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        if (follow)
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        if (put) {
            if (l->file && strcmp(l->file, "-")) {
                body = slurp(l->file, &up.len);
                if (!body) {
                    fail("read", l->file, strerror(errno));
                    continue;
                }
                up.data = body;
            }
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
            curl_easy_setopt(c, CURLOPT_READDATA, &up);
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.len);
        }
        CURLcode cc = curl_easy_perform(c);
        free(body);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK) {
            fail(put ? "PUT" : "GET", l->path, cerr[0] ? cerr : curl_easy_strerror(cc));
            continue;
        }
        if (status != 200) {
            char why[128];
            snprintf(why, sizeof why, "status %ld: %.*s", status, (int)s.len, s.head);
            fail(put ? "PUT" : "GET", l->path, why);
            continue;
        }
        if (!put && l->md5 && (s.total != 32 || memcmp(s.head, l->md5, 32))) {
            char why[160];
            snprintf(why, sizeof why, "got %zu bytes \"%.*s\", want %s", s.total, (int)(s.len < 40 ? s.len : 40),
                     s.head, l->md5);
            fail("GET", l->path, why);
            continue;
        }
        atomic_fetch_add(&done_reqs, 1);
        atomic_fetch_add(&body_bytes, (long)(put ? up.len : s.total));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
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
    curl_global_init(CURL_GLOBAL_DEFAULT);
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
    curl_global_cleanup();
    return e ? 1 : 0;
}

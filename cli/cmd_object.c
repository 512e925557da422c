/*
 * cmd_object.c - `ais put`, `ais get`, `ais object rm`. A directory PUT walks
 * the tree once, then a few worker threads (each with its own connection)
 * upload files straight from disk; a progress line is drawn only on a
 * terminal. GET writes to a temporary file renamed into place on success,
 * so a failed GET never leaves a truncated file behind.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- PUT */

typedef struct put_file {
    char *path; /* local */
    char *name; /* object name */
    int64_t size;
} put_file;

typedef struct put_job {
    cli_uri *u;
    put_file *files;
    size_t n, cap;
    int ndirs;
    atomic_size_t next;
    atomic_size_t done;
    atomic_size_t failed;
    atomic_llong bytes;
    atomic_bool unreachable; /* no answer from the cluster: stop, don't repeat it per file */
    pthread_mutex_t err_mu; /* one error line at a time */
    bool progress;
} put_job;

static void add_file(put_job *j, const char *path, const char *name, int64_t size)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 256;
        j->files = cmn_xrealloc(j->files, j->cap * sizeof *j->files);
    }
    j->files[j->n++] = (put_file){cmn_xstrdup(path), cmn_xstrdup(name), size};
}

/* Collects regular files under dir; rel is the object-name prefix. */
static int walk(put_job *j, const char *dir, const char *rel, bool recursive)
{
    DIR *d = opendir(dir);
    if (!d)
        return cli_fail("open directory %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = CLI_EXIT_OK;
    while ((e = readdir(d)) && rc == CLI_EXIT_OK) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4096], name[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(name, sizeof name, "%s%s", rel, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue; /* dangling link or raced delete: nothing to upload */
        if (S_ISDIR(st.st_mode)) {
            if (recursive) {
                char sub[2048];
                snprintf(sub, sizeof sub, "%s/", name);
                rc = walk(j, path, sub, true);
            }
        } else if (S_ISREG(st.st_mode)) {
            add_file(j, path, name, st.st_size);
        }
    }
    closedir(d);
    return rc;
}

static int put_one(cli_uri *u, const char *path, const char *name, char *err, size_t errlen, bool *no_answer)
{
    cmn_buf url;
    cmn_buf_init(&url);
    cmn_ais_url_object(&url, &cli_ais, u->bucket, name);
    cmn_ais_url_query(&url, "provider", u->provider);
    cmn_http_req req = {.method = "PUT", .url = url.data, .body_path = path, .follow_redirects = true};
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = CLI_EXIT_OK;
    cmn_err e;
    if (cmn_ais_do(&cli_ais, &req, &r, &e) != 0) {
        snprintf(err, errlen, "%s", e.msg);
        if (no_answer)
            *no_answer = r.status == 0;
        rc = CLI_EXIT_ERR;
    }
    cmn_http_resp_free(&r);
    cmn_buf_free(&url);
    return rc;
}

static void *put_worker(void *arg)
{
    put_job *j = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        if (atomic_load(&j->unreachable)) {
            atomic_fetch_add(&j->failed, 1);
            atomic_fetch_add(&j->done, 1);
            continue;
        }
        char err[512];
        bool no_answer = false;
        if (put_one(j->u, j->files[i].path, j->files[i].name, err, sizeof err, &no_answer) != CLI_EXIT_OK) {
            atomic_fetch_add(&j->failed, 1);
            if (no_answer && atomic_exchange(&j->unreachable, true)) {
                atomic_fetch_add(&j->done, 1);
                continue; /* another worker already said so */
            }
            pthread_mutex_lock(&j->err_mu);
            fprintf(stderr, "%sfailed to PUT %s: %s\n", j->progress ? "\n" : "", j->files[i].path, err);
            pthread_mutex_unlock(&j->err_mu);
        } else {
            atomic_fetch_add(&j->bytes, j->files[i].size);
        }
        atomic_fetch_add(&j->done, 1);
    }
    return NULL;
}

static const char *file_ext(const char *name)
{
    const char *slash = strrchr(name, '/'), *dot = strrchr(name, '.');
    if (!dot || (slash && dot < slash))
        return "";
    return dot;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "Files to upload:" table: extensions sorted, as Go's template ranges a map. */
static void print_ext_table(put_job *j)
{
    const char **exts = cmn_xmalloc(j->n * sizeof *exts);
    for (size_t i = 0; i < j->n; i++)
        exts[i] = file_ext(j->files[i].name);
    qsort(exts, j->n, sizeof *exts, cmp_str);
    cli_table t;
    cli_table_init(&t, 3);
    cli_table_row(&t, "EXTENSION", " COUNT", " SIZE");
    int64_t total = 0;
    for (size_t i = 0; i < j->n;) {
        size_t k = i;
        int64_t sz = 0;
        while (k < j->n && !strcmp(exts[k], exts[i]))
            k++;
        for (size_t f = 0; f < j->n; f++)
            if (!strcmp(file_ext(j->files[f].name), exts[i]))
                sz += j->files[f].size;
        char cnt[32], szs[32], c1[40], c2[40];
        snprintf(cnt, sizeof cnt, "%zu", k - i);
        cli_fmt_size(sz, szs, sizeof szs);
        snprintf(c1, sizeof c1, " %s", cnt);
        snprintf(c2, sizeof c2, " %s", szs);
        cli_table_row(&t, exts[i], c1, c2);
        total += sz;
        i = k;
    }
    char cnt[40], szs[32], c2[40];
    snprintf(cnt, sizeof cnt, " %zu", j->n);
    cli_fmt_size(total, szs, sizeof szs);
    snprintf(c2, sizeof c2, " %s", szs);
    cli_table_row(&t, "TOTAL", cnt, c2);
    printf("Files to upload:\n");
    cli_table_print(&t);
    cli_table_free(&t);
    free(exts);
}

static int put_dir(cli_args *a, const char *src, cli_uri *u)
{
    put_job j = {.u = u};
    pthread_mutex_init(&j.err_mu, NULL);
    const char *prefix = u->object;
    char rel[1024];
    snprintf(rel, sizeof rel, "%s%s", prefix, *prefix && prefix[strlen(prefix) - 1] != '/' ? "/" : "");
    bool recursive = cli_flag_set(a, "recursive");
    j.ndirs = 1; /* AIStore counts directory arguments, not subdirectories */
    int rc = walk(&j, src, rel, recursive);
    long conc = 4;
    if (cli_flag_str(a, "conc")) {
        conc = strtol(cli_flag_str(a, "conc"), NULL, 10);
        if (conc < 1 || conc > 64)
            rc = cli_usage_err(a, "invalid --conc %s (expecting 1..64)", cli_flag_str(a, "conc"));
    }
    if (rc == CLI_EXIT_OK && j.n == 0)
        rc = cli_fail("no files to PUT (check source name and formatting, see examples)");
    char dest[600], cptn[800];
    cli_uri_cname(u, prefix, dest, sizeof dest);
    if (rc == CLI_EXIT_OK) {
        int64_t total = 0;
        for (size_t i = 0; i < j.n; i++)
            total += j.files[i].size;
        char tag[64] = "";
        if (j.ndirs == 1)
            snprintf(tag, sizeof tag, " (one directory, %s)", recursive ? "recursively" : "non-recursive");
        else if (j.ndirs > 1)
            snprintf(tag, sizeof tag, " (%d directories, %s)", j.ndirs, recursive ? "recursively" : "non-recursive");
        snprintf(cptn, sizeof cptn, "PUT %zu file%s%s => %s", j.n, j.n == 1 ? "" : "s", tag, dest);
        print_ext_table(&j);
        fflush(stdout);

        j.progress = cli_flag_set(a, "progress") || cli_stdout_tty();
        if ((size_t)conc > j.n)
            conc = (long)j.n;
        pthread_t th[64];
        for (long t = 0; t < conc; t++)
            pthread_create(&th[t], NULL, put_worker, &j);
        if (j.progress) {
            char tsz[32], dsz[32];
            cli_fmt_size(total, tsz, sizeof tsz);
            while (atomic_load(&j.done) < j.n) {
                cli_fmt_size(atomic_load(&j.bytes), dsz, sizeof dsz);
                pthread_mutex_lock(&j.err_mu);
                printf("\rUploaded files: %zu/%zu  Total size: %s/%s ", atomic_load(&j.done), j.n, dsz, tsz);
                fflush(stdout);
                pthread_mutex_unlock(&j.err_mu);
                struct timespec ts = {0, 200 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        for (long t = 0; t < conc; t++)
            pthread_join(th[t], NULL);
        if (j.progress) {
            char dsz[32], tsz[32];
            cli_fmt_size(atomic_load(&j.bytes), dsz, sizeof dsz);
            cli_fmt_size(total, tsz, sizeof tsz);
            printf("\rUploaded files: %zu/%zu  Total size: %s/%s \n", atomic_load(&j.done), j.n, dsz, tsz);
        }
        size_t failed = atomic_load(&j.failed);
        if (failed)
            rc = cli_fail("failed to PUT %zu file%s", failed, failed == 1 ? "" : "s");
        else
            printf("%s\n", cptn);
    }
    for (size_t i = 0; i < j.n; i++) {
        free(j.files[i].path);
        free(j.files[i].name);
    }
    free(j.files);
    pthread_mutex_destroy(&j.err_mu);
    return rc;
}

int cli_object_put(cli_args *a)
{
    int bad = cli_npos(a, 2, 2, "missing arguments \"FILE|DIRECTORY, BUCKET[/OBJECT_NAME]\"");
    if (bad)
        return bad;
    const char *src = a->pos[0];
    cli_uri u;
    int rc = cli_parse_uri(a, a->pos[1], &u, false, true);
    if (rc)
        return rc;
    struct stat st;
    if (stat(src, &st) != 0) {
        rc = cli_fail("%s: %s", src, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = put_dir(a, src, &u);
    } else {
        char *dup = cmn_xstrdup(src), name[2048];
        const char *base = basename(dup);
        if (!*u.object)
            snprintf(name, sizeof name, "%s", base);
        else if (u.object[strlen(u.object) - 1] == '/')
            snprintf(name, sizeof name, "%s%s", u.object, base);
        else
            snprintf(name, sizeof name, "%s", u.object);
        free(dup);
        char err[512], cname[2400];
        if (put_one(&u, src, name, err, sizeof err, NULL) != CLI_EXIT_OK) {
            rc = cli_fail("%s", err);
        } else {
            cli_uri_cname(&u, name, cname, sizeof cname);
            printf("PUT \"%s\" => %s\n\n", src, cname);
        }
    }
    cli_uri_free(&u);
    return rc;
}

/* ---- GET */

/* A closed stdout ends quietly with CLI_EXIT_OK. */
int cli_fetch_to(cli_call *c, const char *dest, int64_t *size)
{
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc;
    c->follow = true;
    if (strcmp(dest, "-") == 0) {
        fflush(stdout);
        c->out_fd = STDOUT_FILENO;
        rc = cli_send(c, &r, false);
        if (rc != CLI_EXIT_OK && r.out_err && cli_stdout_gone(r.out_err))
            rc = CLI_EXIT_OK;
    } else {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.ais-get.%d", dest, (int)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            cmn_http_resp_free(&r);
            return cli_fail("create %s: %s", dest, strerror(errno));
        }
        c->out_fd = fd;
        rc = cli_send(c, &r, false);
        if (close(fd) != 0 && rc == CLI_EXIT_OK)
            rc = cli_fail("write %s: %s", dest, strerror(errno));
        if (rc == CLI_EXIT_OK && rename(tmp, dest) != 0)
            rc = cli_fail("rename to %s: %s", dest, strerror(errno));
        if (rc != CLI_EXIT_OK)
            unlink(tmp);
    }
    *size = r.streamed;
    cmn_http_resp_free(&r);
    return rc;
}

int cli_object_get(cli_args *a)
{
    int bad = cli_npos(a, 1, 2, "missing \"BUCKET/OBJECT_NAME\" argument");
    if (bad)
        return bad;
    cli_uri u;
    int rc = cli_parse_uri(a, a->pos[0], &u, true, true);
    if (rc)
        return rc;
    char dest[4096];
    const char *base = strrchr(u.object, '/') ? strrchr(u.object, '/') + 1 : u.object;
    if (a->npos < 2) {
        snprintf(dest, sizeof dest, "%s", base);
    } else {
        struct stat st;
        if (strcmp(a->pos[1], "-") != 0 && stat(a->pos[1], &st) == 0 && S_ISDIR(st.st_mode))
            snprintf(dest, sizeof dest, "%s/%s", a->pos[1], base);
        else
            snprintf(dest, sizeof dest, "%s", a->pos[1]);
    }
    cli_call c;
    cli_call_init(&c, "GET");
    cmn_ais_url_object(&c.url, &cli_ais, u.bucket, u.object);
    cmn_ais_url_query(&c.url, "provider", u.provider);
    if (cli_flag_set(a, "silent"))
        cmn_ais_url_query(&c.url, "sln", "true");
    int64_t size = 0;
    rc = cli_fetch_to(&c, dest, &size);
    if (rc == CLI_EXIT_OK && strcmp(dest, "-") != 0) {
        char sz[32], bn[300];
        cli_fmt_size(size, sz, sizeof sz);
        cli_uri_cname(&u, NULL, bn, sizeof bn);
        const char *out = a->npos < 2 ? dest : a->pos[1];
        printf("GET %s from %s as %s (%s)\n", u.object, bn, out, sz);
    }
    cli_call_free(&c);
    cli_uri_free(&u);
    return rc;
}

/* ---- rm */

int cli_object_rm(cli_args *a)
{
    if (a->npos < 1)
        return cli_usage_err(a, "missing \"BUCKET/OBJECT_NAME\" argument");
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < a->npos && rc == CLI_EXIT_OK; i++) {
        cli_uri u;
        if ((rc = cli_parse_uri(a, a->pos[i], &u, true, true)))
            break;
        cli_call c;
        cli_call_init(&c, "DELETE");
        cmn_ais_url_object(&c.url, &cli_ais, u.bucket, u.object);
        cmn_ais_url_query(&c.url, "provider", u.provider);
        c.follow = true;
        cmn_http_resp r;
        cmn_http_resp_init(&r);
        if ((rc = cli_send(&c, &r, false)) == CLI_EXIT_OK) {
            char bn[300];
            cli_uri_cname(&u, NULL, bn, sizeof bn);
            printf("deleted \"%s\" from %s\n", u.object, bn);
        }
        cmn_http_resp_free(&r);
        cli_call_free(&c);
        cli_uri_free(&u);
    }
    return rc;
}

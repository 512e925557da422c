/*
 * archive.c - archiving selected objects into one archive object (PUT
 * /v1/buckets/SRC {"action":"archive"}). libarchive writes the TAR (or
 * .tgz/.tar.gz, .zip, by the name's extension or "mime") straight into the
 * atomic writer, so the archive appears whole or not at all. Member names
 * are the object names ("isbn" prefixes the bucket name); "aate" appends to
 * an existing archive by copying its members first; with "coer" a missing
 * object is an error that does not stop the job, else no archive is made.
 *
 * In a cluster the archive is one job over every target (cluster_jobs.c):
 * the share of the archive's owner writes it, reading each member from its
 * disks or, for a member another target owns, from that owner's; the other
 * shares have nothing to do. A selection by prefix (no names, no template)
 * takes the owner's own objects, then each other target's (its listing).
 */
#include "target/target.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum arch_fmt { FMT_TAR, FMT_TGZ, FMT_ZIP };

typedef struct arch_job {
    tgt_job *job;
    char src[256], dst[256];
    char *archname;
    enum arch_fmt fmt;
    bool isbn, aate, coer;
    bool cluster;
    char *auth; /* the request's "Authorization: ..." (NULL: none), for listing the other targets */
    tgt_sel sel;
    /* while writing */
    struct archive *a;
    tgt_writer w;
    int werr;
    bool failed;
    char *buf;
} arch_job;

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* The format from "mime" if given, else from the name's extension. */
static int pick_format(const char *mime, const char *name, enum arch_fmt *fmt)
{
    const char *m = mime;
    if (*m == '.')
        m++;
    if (*m) {
        if (!strcmp(m, "tar") || !strcmp(m, "application/x-tar"))
            *fmt = FMT_TAR;
        else if (!strcmp(m, "tgz") || !strcmp(m, "tar.gz") || !strcmp(m, "application/x-gzip") ||
                 !strcmp(m, "application/gzip") || !strcmp(m, "application/x-tgz"))
            *fmt = FMT_TGZ;
        else if (!strcmp(m, "zip") || !strcmp(m, "application/zip"))
            *fmt = FMT_ZIP;
        else
            return -EINVAL;
        return 0;
    }
    if (ends_with(name, ".tar"))
        *fmt = FMT_TAR;
    else if (ends_with(name, ".tgz") || ends_with(name, ".tar.gz"))
        *fmt = FMT_TGZ;
    else if (ends_with(name, ".zip"))
        *fmt = FMT_ZIP;
    else
        return -EINVAL;
    return 0;
}

static la_ssize_t to_writer(struct archive *a, void *ctx, const void *buf, size_t len)
{
    (void)a;
    arch_job *j = ctx;
    if (j->w.fd < 0)
        return -1; /* discarded: freeing an unclosed archive flushes into nothing */
    int rc = tgt_writer_write(&j->w, buf, len);
    if (rc) {
        j->werr = rc;
        return -1;
    }
    return (la_ssize_t)len;
}

static int open_archive(arch_job *j)
{
    j->a = archive_write_new();
    if (j->fmt == FMT_ZIP)
        archive_write_set_format_zip(j->a);
    else
        archive_write_set_format_pax_restricted(j->a); /* ustar, with pax headers only for long names */
    if (j->fmt == FMT_TGZ)
        archive_write_add_filter_gzip(j->a);
    archive_write_set_bytes_in_last_block(j->a, 1); /* no padding past the end-of-archive blocks */
    if (archive_write_open2(j->a, j, NULL, to_writer, NULL, NULL) != ARCHIVE_OK) {
        tgt_job_error(j->job, "ais://%s/%s: %s", j->dst, j->archname, archive_error_string(j->a));
        return -EIO;
    }
    return 0;
}

struct archive *tgt_archive_reader_new(void)
{
    /* Only what pick_format writes: "all" would also parse formats nobody
     * appends to, and some of libarchive's filters (lrzip, lzop, grzip) run
     * an outside program to decompress. */
    struct archive *in = archive_read_new();
    archive_read_support_format_tar(in);
    archive_read_support_format_zip(in);
    archive_read_support_filter_gzip(in);
    return in;
}

int tgt_archive_copy_members(struct archive *in, struct archive *out, char *buf, size_t buflen)
{
    int rc = 0;
    struct archive_entry *e;
    while (rc == 0 && archive_read_next_header(in, &e) == ARCHIVE_OK) {
        if (archive_write_header(out, e) != ARCHIVE_OK) {
            rc = -EIO;
            break;
        }
        la_ssize_t n;
        while ((n = archive_read_data(in, buf, buflen)) > 0)
            if (archive_write_data(out, buf, (size_t)n) != n) {
                rc = -EIO;
                break;
            }
        if (n < 0)
            rc = -EIO;
    }
    return rc;
}

/* aate: copies the members of the existing archive into the new one. */
static int copy_existing(arch_job *j)
{
    int fd;
    int64_t size;
    if (tgt_object_open(&tgt->store, j->dst, j->archname, &fd, &size) != 0)
        return 0; /* nothing to append to: a new archive */
    struct archive *in = tgt_archive_reader_new();
    int rc = 0;
    if (archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK) {
        tgt_job_error(j->job, "ais://%s/%s: cannot append to it: %s", j->dst, j->archname, archive_error_string(in));
        rc = -EIO;
    }
    if (rc == 0)
        rc = tgt_archive_copy_members(in, j->a, j->buf, 1 << 20);
    if (rc != 0)
        tgt_job_error(j->job, "ais://%s/%s: cannot append to it: %s", j->dst, j->archname,
                      archive_error_string(in) ? archive_error_string(in) : archive_error_string(j->a));
    archive_read_free(in);
    close(fd);
    return rc;
}

/* Writes one member of size bytes, read from fd or (fd < 0) from sp. */
static bool write_member(arch_job *j, const char *name, int64_t size, const struct timespec *mtime, int fd,
                         const cmn_spool *sp)
{
    struct archive_entry *e = archive_entry_new();
    cmn_buf path;
    cmn_buf_init(&path);
    if (j->isbn)
        cmn_buf_printf(&path, "%s/", j->src);
    cmn_buf_puts(&path, name);
    archive_entry_set_pathname(e, path.data);
    archive_entry_set_size(e, size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, mtime->tv_sec, mtime->tv_nsec);
    bool ok = archive_write_header(j->a, e) == ARCHIVE_OK;
    ssize_t n = 0;
    int64_t left = size;
    while (ok && left > 0 &&
           (n = fd >= 0 ? read(fd, j->buf, 1 << 20) : cmn_spool_pread(sp, j->buf, 1 << 20, size - left)) > 0) {
        ok = archive_write_data(j->a, j->buf, (size_t)n) == n;
        left -= n;
    }
    if (ok && (n < 0 || left != 0)) {
        tgt_job_error(j->job, "ais://%s/%s: read failed (changed while archiving?)", j->src, name);
        ok = false;
    } else if (!ok) {
        tgt_job_error(j->job, "ais://%s/%s: cannot add to ais://%s/%s: %s", j->src, name, j->dst, j->archname,
                      j->werr ? strerror(-j->werr) : archive_error_string(j->a));
    }
    archive_entry_free(e);
    cmn_buf_free(&path);
    if (!ok) {
        j->failed = true; /* the stream is broken: no archive */
        return false;
    }
    tgt_job_count(j->job, 1, size);
    return true;
}

/* A member that cannot be read: an error; with coer the job goes on. */
static bool member_missing(arch_job *j, const char *name, bool listed, int rc, const char *why)
{
    if (rc == -ENOENT && !listed)
        return true;
    tgt_job_error(j->job, "ais://%s/%s: %s", j->src, name, why);
    j->failed = !j->coer;
    return j->coer;
}

/* A member another target owns, read from its disks. */
static bool add_remote_member(arch_job *j, const tgt_member *owner, const char *name, bool listed)
{
    cmn_spool sp;
    cmn_spool_init(&sp, tgt->store.mpaths[0], 1 << 20);
    cmn_err err = {0};
    int rc = tgt_cluster_fetch(owner, "archive", j->src, name, &sp, &err);
    bool ok;
    if (rc) {
        ok = member_missing(j, name, listed, rc, rc == -ENOENT ? "does not exist" : err.msg);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        ok = write_member(j, name, sp.len, &now, -1, &sp);
    }
    cmn_spool_free(&sp);
    return ok;
}

static bool add_member(void *ctx, const char *name, bool listed)
{
    arch_job *j = ctx;
    if (tgt_job_aborted(j->job))
        return false;
    if (!strcmp(j->src, j->dst) && !strcmp(name, j->archname))
        return true; /* never archive the archive into itself */
    tgt_member owner;
    if (j->cluster && (j->sel.names || j->sel.tmpl) && tgt_cmap_owner(j->src, name, &owner))
        return add_remote_member(j, &owner, name, listed);
    int fd;
    int64_t size;
    int rc = tgt_object_open(&tgt->store, j->src, name, &fd, &size);
    if (rc)
        return member_missing(j, name, listed, rc, rc == -ENOENT ? "does not exist" : strerror(-rc));
    struct stat st;
    fstat(fd, &st);
    bool ok = write_member(j, name, size, &st.st_mtim, fd, NULL);
    close(fd);
    return ok;
}

typedef struct remote_walk {
    arch_job *j;
    const tgt_member *m;
} remote_walk;

static bool add_walked_remote(void *ctx, const char *name)
{
    remote_walk *w = ctx;
    if (tgt_job_aborted(w->j->job))
        return false;
    if (!strcmp(w->j->src, w->j->dst) && !strcmp(name, w->j->archname))
        return true;
    return add_remote_member(w->j, w->m, name, false);
}

/* A prefix in a cluster: after this target's own objects, every other
 * target's, read from it. */
static void add_others(arch_job *j)
{
    tgt_member *ms;
    int n = tgt_cmap_members(&ms, NULL);
    for (int i = 0; i < n && !j->failed && !tgt_job_aborted(j->job); i++) {
        if (!strcmp(ms[i].id, tgt_cluster_self()))
            continue;
        remote_walk w = {j, &ms[i]};
        cmn_err err = {0};
        if (tgt_cluster_names(&ms[i], j->src, j->sel.prefix ? j->sel.prefix : "", j->sel.non_recurs, j->auth,
                              add_walked_remote, &w, &err) != 0) {
            tgt_job_error(j->job, "ais://%s: cannot list the objects of %s: %s", j->src, ms[i].id, err.msg);
            j->failed = !j->coer;
        }
    }
    free(ms);
}

static void archive_job_utf8(tgt_job *job, void *arg)
{
    arch_job *j = arg;
    j->job = job;
    tgt_member owner;
    if (j->cluster && tgt_cmap_owner(j->dst, j->archname, &owner))
        return; /* the archive's owner writes it: this share has nothing to do */
    tgt_journal_add(job, "archive", j->src, j->dst);
    j->buf = cmn_xmalloc(1 << 20);
    int rc = tgt_writer_open(&j->w, &tgt->store, j->dst, j->archname);
    if (rc) {
        tgt_job_error(job, "ais://%s/%s: cannot write: %s", j->dst, j->archname, strerror(-rc));
        tgt_journal_remove(job);
        return;
    }
    if (open_archive(j) != 0 || (j->aate && copy_existing(j) != 0))
        j->failed = true;
    if (!j->failed)
        tgt_sel_each(&j->sel, j->src, add_member, j);
    if (!j->failed && j->cluster && !j->sel.names && !j->sel.tmpl)
        add_others(j);
    if (!j->failed && !tgt_job_aborted(job) && archive_write_close(j->a) != ARCHIVE_OK) {
        tgt_job_error(job, "ais://%s/%s: %s", j->dst, j->archname, archive_error_string(j->a));
        j->failed = true;
    }
    if (j->failed || tgt_job_aborted(job)) {
        tgt_writer_abort(&j->w);
    } else if ((rc = tgt_writer_commit(&j->w, NULL)) != 0) {
        tgt_job_error(job, "ais://%s/%s: cannot store: %s", j->dst, j->archname, strerror(-rc));
    } else {
        cmn_info("archived into ais://%s/%s", j->dst, j->archname);
    }
    if (tgt_job_aborted(job))
        return;
    tgt_journal_remove(job);
    tgt_job_linger(job);
}

/* Object names are UTF-8: libarchive converts them only under a UTF-8 locale. */
static void archive_job(tgt_job *job, void *arg)
{
    locale_t old = tgt_utf8_on();
    archive_job_utf8(job, arg);
    tgt_utf8_off(old);
}

static void arch_free(void *p)
{
    arch_job *j = p;
    if (j->a)
        archive_write_free(j->a); /* after close, or to discard a broken one */
    tgt_sel_free(&j->sel);
    free(j->auth);
    free(j->archname);
    free(j->buf);
    free(j);
}

/* PUT /v1/buckets/SRC {"action":"archive","value":{objnames|template, archname, mime, isbn, aate, coer, tobck}} */
int tgt_act_archive(tgt_req *r, const char *src, cJSON *value)
{
    const cJSON *an = value ? cJSON_GetObjectItem(value, "archname") : NULL;
    const cJSON *mime = value ? cJSON_GetObjectItem(value, "mime") : NULL;
    const cJSON *to = value ? cJSON_GetObjectItem(value, "tobck") : NULL;
    char why[512];
    if (!cJSON_IsString(an) || !cmn_object_name_valid(an->valuestring, why, sizeof why))
        return tgt_reply_err(r, 400, "archive: invalid or missing \"archname\"");
    arch_job *j = cmn_xcalloc(1, sizeof *j);
    snprintf(j->src, sizeof j->src, "%s", src);
    snprintf(j->dst, sizeof j->dst, "%s", src);
    if (cJSON_IsObject(to)) {
        const cJSON *n = cJSON_GetObjectItem(to, "name"), *p = cJSON_GetObjectItem(to, "provider");
        if (cJSON_IsString(p) && *p->valuestring && strcmp(p->valuestring, "ais")) {
            free(j);
            return tgt_reply_err(r, 400, "archive: destination provider \"%s\" is not supported (ais only)",
                                 p->valuestring);
        }
        if (cJSON_IsString(n) && *n->valuestring)
            snprintf(j->dst, sizeof j->dst, "%s", n->valuestring);
    }
    if (!cmn_bucket_name_valid(j->dst)) {
        int ret = tgt_reply_err(r, 400, "archive: bucket name \"%s\" is invalid", j->dst);
        free(j);
        return ret;
    }
    if (pick_format(cJSON_IsString(mime) ? mime->valuestring : "", an->valuestring, &j->fmt) != 0) {
        free(j);
        return tgt_reply_err(r, 400, "archive \"%s\": unsupported format (want .tar, .tgz, .tar.gz or .zip)",
                             an->valuestring);
    }
    if (tgt_sel_parse(value, &j->sel, why, sizeof why) != 0) {
        free(j);
        return tgt_reply_err(r, 400, "archive: %s", why);
    }
    j->archname = cmn_xstrdup(an->valuestring);
    j->isbn = cJSON_IsTrue(cJSON_GetObjectItem(value, "isbn"));
    j->aate = cJSON_IsTrue(cJSON_GetObjectItem(value, "aate"));
    j->coer = cJSON_IsTrue(cJSON_GetObjectItem(value, "coer"));
    bool cluster = j->cluster = tgt_cluster_on(); /* j is the job's once it starts */
    const char *share = cluster ? tgt_query(r, TGT_Q_JOB_SHARE) : NULL; /* of a job another target started */
    if (share && (!*share || strlen(share) > CMN_UUID_LEN)) {
        arch_free(j);
        return tgt_reply_err(r, 400, "invalid job id \"%s\"", share);
    }
    const char *auth = tgt_header(r, "Authorization");
    j->auth = cluster && auth ? cmn_xasprintf("Authorization: %s", auth) : NULL;
    cmn_err e = {0};
    int rc = 0;
    if (cluster && !share && !tgt_bucket_exists(&tgt->store, j->dst) &&
        (rc = tgt_cluster_bucket_create(j->dst, &e)) != 0 && rc != -EEXIST) { /* for every target */
        arch_free(j);
        return tgt_reply_err(r, cmn_err_http_status(e.code), "archive: %s", e.msg);
    }
    rc = tgt_bucket_create(&tgt->store, j->dst);
    if (rc && rc != -EEXIST) {
        arch_free(j);
        return tgt_reply_err(r, 500, "create bucket \"ais://%s\": %s", j->dst, strerror(-rc));
    }
    return tgt_cjob_start(r, "archive", src, j->dst, archive_job, j, arch_free);
}

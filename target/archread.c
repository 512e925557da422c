/*
 * archread.c - reading inside archived objects, as AIStore serves sharded
 * datasets: GET ?archpath=F streams one archived file, GET ?archregx=E
 * &archmode=M streams a new TAR of the matching files (even of one, as
 * upstream), and list-objects with the ARCH_DIR flag lists every archive's
 * files right after it (the listing half is the tgt_arch_ls queue below).
 *
 * libarchive reads .tar, .tgz/.tar.gz, .zip and .tar.lz4, told apart by
 * their bytes for a GET; a listing goes by the object's name, as upstream,
 * so it never opens objects that are not shards. Nothing is extracted to
 * disk: a GET pulls the archive through libarchive as the client reads, so
 * its memory is one buffer whatever the archive's size.
 *
 * An archived file is named as listed and matched without a leading '/' or
 * "./" and without empty or "." segments (archives made by "tar -P" or
 * "tar c ."); directories are not files: never listed, matched or served.
 */
#include "target/target.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <microhttpd.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RD_BLOCK (64 * 1024)

static const char *const arch_exts[] = {".tar", ".tgz", ".tar.gz", ".zip", ".tar.lz4"};
static const char MODES[] = "regexp, prefix, suffix, substr, wdskey";

static bool ends_with(const char *s, size_t n, const char *suf)
{
    size_t m = strlen(suf);
    return n >= m && !memcmp(s + n - m, suf, m);
}

static bool named_archive(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof arch_exts / sizeof arch_exts[0]; i++)
        if (ends_with(name, n, arch_exts[i]))
            return true;
    return false;
}

bool tgt_arch_named(const char *name) { return named_archive(name, strlen(name)); }

/* In "C" a UTF-8 name cannot be converted (a listing would lose it, a TAR
 * could not hold it): every entry point here that calls libarchive runs
 * between tgt_utf8_on and tgt_utf8_off. */
static locale_t utf8;
static void make_utf8(void) { utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0); }

locale_t tgt_utf8_on(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_utf8);
    return utf8 ? uselocale(utf8) : (locale_t)0;
}

void tgt_utf8_off(locale_t old)
{
    if (old)
        uselocale(old);
}

/* A reader of fd for the formats shards come in; NULL with err (EINVAL)
 * when the bytes are none of them. fd stays the caller's. */
static struct archive *reader_open(int fd, const char *bck, const char *obj, cmn_err *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_lz4(a);
    if (archive_read_open_fd(a, fd, RD_BLOCK) != ARCHIVE_OK) {
        cmn_err_set(err, EINVAL, "ais://%s/%s is not an archive of a known format (.tar, .tgz, .tar.gz, .zip, .tar.lz4): %s",
                    bck, obj, archive_error_string(a) ? archive_error_string(a) : "unreadable");
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* A name as listed and matched (see the top): raw without a leading '/',
 * empty or "." segments; "" for none. */
static void clean_name(const char *raw, cmn_buf *out)
{
    cmn_buf_reset(out);
    cmn_buf_append(out, "", 0); /* data is never NULL */
    for (const char *p = raw ? raw : ""; *p;) {
        size_t n = strcspn(p, "/");
        if (n && !(n == 1 && *p == '.')) {
            if (out->len)
                cmn_buf_append(out, "/", 1);
            cmn_buf_append(out, p, n);
        }
        p += n + (p[n] == '/');
    }
}

static void member_name(struct archive_entry *e, cmn_buf *out)
{
    const char *raw = archive_entry_pathname(e);
    clean_name(raw ? raw : archive_entry_pathname_utf8(e), out);
}

static bool is_dir(struct archive_entry *e) { return archive_entry_filetype(e) == AE_IFDIR; }

/* ------------------------------------------------------------ the matcher
 * AIStore's match modes (cmn/archive/read.go): a Go regexp (PCRE2 here,
 * which reads RE2's syntax), or a plain prefix, suffix, substring or
 * WebDataset key (the name without its extension). "" and "*" match all. */
enum { M_REGEXP, M_PREFIX, M_SUFFIX, M_SUBSTR, M_WDSKEY };

typedef struct matcher {
    int mode;
    const char *pat;
    pcre2_code *re;
    pcre2_match_data *md;
} matcher;

static int matcher_init(matcher *m, const char *mode, const char *pat, cmn_err *err)
{
    static const char *const names[] = {"regexp", "prefix", "suffix", "substr", "wdskey"};
    memset(m, 0, sizeof *m);
    m->pat = pat;
    m->mode = -1;
    if (!*mode || !strcmp(mode, "*"))
        m->mode = M_PREFIX;
    for (int i = 0; m->mode < 0 && i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(mode, names[i]))
            m->mode = i;
    if (m->mode < 0)
        return cmn_err_set(err, EINVAL, "invalid archmode \"%s\", expecting one of: %s", mode, MODES);
    if (!*pat || !strcmp(pat, "*")) {
        m->mode = M_PREFIX;
        m->pat = "";
    }
    if (m->mode != M_REGEXP)
        return 0;
    int code;
    PCRE2_SIZE off;
    m->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!m->re) {
        PCRE2_UCHAR why[256];
        pcre2_get_error_message(code, why, sizeof why);
        return cmn_err_set(err, EINVAL, "invalid archregx \"%s\": %s at offset %zu", pat, (const char *)why, (size_t)off);
    }
    m->md = pcre2_match_data_create_from_pattern(m->re, NULL);
    return 0;
}

static void matcher_free(matcher *m)
{
    pcre2_match_data_free(m->md);
    pcre2_code_free(m->re);
}

static bool matches(const matcher *m, const char *name, size_t n)
{
    size_t k = strlen(m->pat);
    switch (m->mode) {
    case M_REGEXP:
        return pcre2_match(m->re, (PCRE2_SPTR)name, n, 0, 0, m->md, NULL) >= 0;
    case M_PREFIX:
        return n >= k && !memcmp(name, m->pat, k);
    case M_SUFFIX:
        return ends_with(name, n, m->pat);
    case M_SUBSTR:
        return memmem(name, n, m->pat, k) != NULL;
    default: { /* wdskey: the extension is the last element's, from its last '.' */
        const char *slash = memrchr(name, '/', n), *base = slash ? slash + 1 : name;
        const char *dot = memrchr(base, '.', n - (size_t)(base - name));
        size_t key = dot ? (size_t)(dot - name) : n;
        return key == k && !memcmp(name, m->pat, k);
    }
    }
}

/* ---------------------------------------------------------------- the GET */
typedef struct arch_rd {
    int fd;
    struct archive *in;
    char *cname;       /* "ais://B/O", for the log */
    char *buf;
    /* one file */
    int64_t left;      /* bytes still to send; -1: until the file ends */
    /* matches: a TAR written by out into pend */
    matcher m;
    struct archive *out;
    cmn_buf pend, name;
    size_t pend_off;
    bool in_data, done, discard;
    int nmatch;
} arch_rd;

static void rd_free(void *cls)
{
    arch_rd *c = cls;
    locale_t old = tgt_utf8_on();
    if (c->out) {
        c->discard = true; /* an unclosed TAR flushes into nothing */
        archive_write_free(c->out);
    }
    if (c->in)
        archive_read_free(c->in);
    if (c->fd >= 0)
        close(c->fd);
    matcher_free(&c->m);
    cmn_buf_free(&c->pend);
    cmn_buf_free(&c->name);
    free(c->buf);
    free(c->cname);
    free(c);
    tgt_utf8_off(old);
}

static ssize_t one_read_utf8(void *cls, char *buf, size_t max)
{
    arch_rd *c = cls;
    if (c->left == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (c->left > 0 && (int64_t)max > c->left)
        max = (size_t)c->left;
    la_ssize_t n = archive_read_data(c->in, buf, max);
    if (n > 0) {
        if (c->left > 0)
            c->left -= n;
        return n;
    }
    if (n == 0 && c->left < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* never end a short body cleanly: the client must not take it for whole */
    cmn_error("%s: archived file cut short: %s", c->cname, n < 0 ? archive_error_string(c->in) : "unexpected end");
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Finds the archived file named path; 0, or -ENOENT / -EIO with err. */
static int find_member(arch_rd *c, const char *path, struct archive_entry **found, cmn_err *err)
{
    cmn_buf want;
    cmn_buf_init(&want);
    clean_name(path, &want);
    struct archive_entry *e;
    int rc;
    while ((rc = archive_read_next_header(c->in, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
        member_name(e, &c->name);
        if (!is_dir(e) && !strcmp(c->name.data, want.data)) {
            *found = e;
            cmn_buf_free(&want);
            return 0;
        }
    }
    cmn_buf_free(&want);
    if (rc == ARCHIVE_EOF)
        return cmn_err_set(err, ENOENT, "t[%s]: %s in %s does not exist", TGT_NODE_ID, path, c->cname);
    return cmn_err_set(err, EIO, "%s: cannot read the archive: %s", c->cname, archive_error_string(c->in));
}

/* AIStore's archpath: no trailing '/', no "." or ".." segment, no "~/". */
static bool archpath_valid(const char *p)
{
    size_t n = strlen(p);
    if (!n || p[n - 1] == '/' || !strncmp(p, "~/", 2))
        return false;
    for (const char *s = p; *s; s += strcspn(s, "/") + (s[strcspn(s, "/")] == '/')) {
        size_t k = strcspn(s, "/");
        if ((k == 1 && s[0] == '.') || (k == 2 && s[0] == '.' && s[1] == '.'))
            return false;
    }
    return true;
}

/* A response's reader: fn under C.UTF-8, as every entry point here runs. */
static ssize_t read_utf8(ssize_t (*fn)(void *, char *, size_t), void *cls, char *buf, size_t max)
{
    locale_t old = tgt_utf8_on();
    ssize_t n = fn(cls, buf, max);
    tgt_utf8_off(old);
    return n;
}

static ssize_t one_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    return read_utf8(one_read_utf8, cls, buf, max);
}

static int reply_one(tgt_req *r, arch_rd *c, const char *path)
{
    struct archive_entry *e = NULL;
    cmn_err err = {0};
    int rc = find_member(c, path, &e, &err);
    if (rc) {
        rd_free(c);
        return tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
    }
    bool sized = archive_entry_size_is_set(e);
    int64_t size = sized ? archive_entry_size(e) : -1, off = 0, len = size;
    int rr = sized ? tgt_parse_range(tgt_header(r, "Range"), size, &off, &len) : 0;
    if (rr < 0) {
        rd_free(c);
        return tgt_reply_range_bad(r, size);
    }
    /* the file's bytes before the range are read and dropped: a compressed
     * stream cannot be entered in the middle */
    for (int64_t skip = off; skip > 0;) {
        la_ssize_t n = archive_read_data(c->in, c->buf, skip < RD_BLOCK ? (size_t)skip : RD_BLOCK);
        if (n <= 0) {
            int ret = tgt_reply_err(r, 500, "%s: cannot read %s: %s", c->cname, path,
                                    n < 0 ? archive_error_string(c->in) : "unexpected end");
            rd_free(c);
            return ret;
        }
        skip -= n;
    }
    c->left = len;
    r->bytes = len > 0 ? len : 0;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(sized ? (uint64_t)len : MHD_SIZE_UNKNOWN, RD_BLOCK, one_read, c, rd_free);
    if (!resp) {
        rd_free(c);
        return tgt_reply_err(r, 500, "%s: cannot create response", path);
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    if (sized)
        MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    return tgt_reply_range(r, resp, rr, off, len, size);
}

static la_ssize_t to_pend(struct archive *a, void *cls, const void *buf, size_t len)
{
    (void)a;
    arch_rd *c = cls;
    if (!c->discard)
        cmn_buf_append(&c->pend, buf, len);
    return (la_ssize_t)len;
}

static int open_tar(arch_rd *c)
{
    c->out = archive_write_new();
    archive_write_set_format_pax_restricted(c->out); /* ustar, pax headers only for long names */
    archive_write_set_bytes_in_last_block(c->out, 1);
    return archive_write_open2(c->out, c, NULL, to_pend, NULL, NULL) == ARCHIVE_OK ? 0 : -EIO;
}

/* One header or one block of data further through the archive; at its end
 * the TAR is closed (c->done). 0 or -EIO. */
static int step(arch_rd *c)
{
    if (c->in_data) {
        la_ssize_t n = archive_read_data(c->in, c->buf, RD_BLOCK);
        if (n < 0)
            return -EIO;
        if (n == 0)
            c->in_data = false;
        else if (archive_write_data(c->out, c->buf, (size_t)n) != n)
            return -EIO;
        return 0;
    }
    struct archive_entry *e;
    int rc = archive_read_next_header(c->in, &e);
    if (rc == ARCHIVE_EOF) {
        c->done = true;
        return c->out && archive_write_close(c->out) != ARCHIVE_OK ? -EIO : 0;
    }
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
        return -EIO;
    member_name(e, &c->name);
    if (is_dir(e) || !c->name.len || !matches(&c->m, c->name.data, c->name.len))
        return 0;
    if (!c->out && open_tar(c) != 0)
        return -EIO;
    c->nmatch++;
    if (!archive_entry_size_is_set(e)) {
        /* a streamed zip entry: its size comes after its bytes; TAR needs it first */
        cmn_buf data;
        cmn_buf_init(&data);
        la_ssize_t n;
        while ((n = archive_read_data(c->in, c->buf, RD_BLOCK)) > 0)
            cmn_buf_append(&data, c->buf, (size_t)n);
        archive_entry_set_size(e, (la_int64_t)data.len);
        bool ok = n == 0 && archive_write_header(c->out, e) == ARCHIVE_OK &&
                  (!data.len || archive_write_data(c->out, data.data, data.len) == (la_ssize_t)data.len);
        cmn_buf_free(&data);
        return ok ? 0 : -EIO;
    }
    if (archive_write_header(c->out, e) != ARCHIVE_OK)
        return -EIO;
    c->in_data = archive_entry_size(e) > 0;
    return 0;
}

static const char *step_error(arch_rd *c)
{
    const char *why = archive_error_string(c->in);
    if (!why && c->out)
        why = archive_error_string(c->out);
    return why ? why : "read failed";
}

static ssize_t tar_read_utf8(void *cls, char *buf, size_t max)
{
    arch_rd *c = cls;
    while (c->pend_off == c->pend.len && !c->done) {
        cmn_buf_reset(&c->pend);
        c->pend_off = 0;
        if (step(c) != 0) {
            cmn_error("%s: matching archived files cut short: %s", c->cname, step_error(c));
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = c->pend.len - c->pend_off;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n > max)
        n = max;
    memcpy(buf, c->pend.data + c->pend_off, n);
    c->pend_off += n;
    return (ssize_t)n;
}

static ssize_t tar_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    return read_utf8(tar_read_utf8, cls, buf, max);
}

static int reply_matches(tgt_req *r, arch_rd *c, const char *regx, const char *mode)
{
    /* the status must be known before the first byte: run to the first match */
    while (!c->nmatch && !c->done)
        if (step(c) != 0) {
            int ret = tgt_reply_err(r, 500, "%s: cannot extract the files that match (archregx=%s, archmode=%s): %s",
                                    c->cname, regx, mode, step_error(c));
            rd_free(c);
            return ret;
        }
    if (!c->nmatch) {
        int ret = tgt_reply_err(r, 404, "t[%s]: (archregx=%s, archmode=%s) in %s does not exist", TGT_NODE_ID, regx,
                                mode, c->cname);
        rd_free(c);
        return ret;
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, RD_BLOCK, tar_read, c, rd_free);
    if (!resp) {
        rd_free(c);
        return tgt_reply_err(r, 500, "cannot create response");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-tar");
    return tgt_reply(r, 200, resp);
}

/* The known "archmime" values: a format's extension or a MIME type naming it. */
static bool mime_known(const char *mime)
{
    static const char *const known[] = {"tar", "tgz", "gz", "zip", "lz4", "gzip"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strstr(mime, known[i]))
            return true;
    return false;
}

static int arch_get(tgt_req *r, const char *bck, const char *obj)
{
    const char *path = tgt_query(r, "archpath"), *regx = tgt_query(r, "archregx");
    const char *mode = tgt_query(r, "archmode"), *mime = tgt_query(r, "archmime");
    path = path ? path + (*path == '/') : "";
    regx = regx ? regx : "";
    size_t on = strlen(obj);
    if (!strncmp(path, obj, on) && path[on] == '/')
        path += on + 1; /* the name as listed, "O/F", as upstream */
    const char *etl = tgt_query(r, "etl_name");
    if (etl && *etl)
        return tgt_reply_err(r, 400, "ais://%s/%s: etl_name with archpath or archregx is not supported", bck, obj);
    if (*path && mode)
        return tgt_reply_err(r, 400, "ais://%s/%s: archpath=\"%s\" (match one) and archregx=\"%s\" (match many) are "
                             "mutually exclusive", bck, obj, path, regx);
    if (*path && !archpath_valid(path))
        return tgt_reply_err(r, 400, "ais://%s/%s: invalid archpath \"%s\" (a \".\" or \"..\" segment, a trailing '/' "
                             "or a leading \"~/\")", bck, obj, path);
    if (!*path && !mode)
        return tgt_reply_err(r, 400, "ais://%s/%s: archregx=\"%s\" needs archmode (%s)", bck, obj, regx, MODES);
    if (mime && *mime && !mime_known(mime))
        return tgt_reply_err(r, 400, "ais://%s/%s: unknown archmime \"%s\" (want .tar, .tgz, .tar.gz, .zip or .tar.lz4)",
                             bck, obj, mime);
    arch_rd *c = cmn_xcalloc(1, sizeof *c);
    c->fd = -1;
    cmn_err err = {0};
    if (!*path && matcher_init(&c->m, mode, regx, &err) != 0) {
        rd_free(c);
        return tgt_reply_err(r, 400, "ais://%s/%s: %s", bck, obj, err.msg);
    }
    int64_t size;
    int rc = tgt_object_open(&tgt->store, bck, obj, &c->fd, &size);
    if (rc) {
        rd_free(c);
        if (rc == -ENOENT)
            return tgt_reply_err(r, 404, "t[%s]: ais://%s/%s does not exist", TGT_NODE_ID, bck, obj);
        return tgt_reply_err(r, 500, "ais://%s/%s: %s", bck, obj, strerror(-rc));
    }
    c->cname = cmn_xasprintf("ais://%s/%s", bck, obj);
    c->buf = cmn_xmalloc(RD_BLOCK);
    cmn_buf_init(&c->pend);
    cmn_buf_init(&c->name);
    if (!(c->in = reader_open(c->fd, bck, obj, &err))) {
        rd_free(c);
        return tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
    }
    return *path ? reply_one(r, c, path) : reply_matches(r, c, regx, mode);
}

int tgt_arch_get(tgt_req *r, const char *bck, const char *obj)
{
    locale_t old = tgt_utf8_on();
    int ret = arch_get(r, bck, obj);
    tgt_utf8_off(old);
    return ret;
}

/* --------------------------------------------------------- the listing
 * A queue of archived files waiting to be listed, in name order. Names
 * "ARCHIVE/FILE" sort after ARCHIVE but not always right after it ("a.tar-x"
 * sorts between "a.tar" and "a.tar/f"), so list-objects takes from the queue
 * the names that sort before each object it walks: the listing stays in byte
 * order and its continuation token stays the last name returned. A page that
 * ends inside an archive, or a prefix that reaches into one, is taken up by
 * reading again the archives whose names begin the token or the prefix. */
static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const tgt_arch_entry *)a)->name, ((const tgt_arch_entry *)b)->name);
}

static int ls_add(tgt_arch_ls *ls, const char *fqn, const char *name)
{
    if (!tgt_arch_named(name))
        return -EINVAL;
    int fd = open(fqn, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -ENOENT;
    }
    struct archive *a = reader_open(fd, "", name, NULL);
    if (!a) {
        close(fd);
        cmn_warn("list: %s is named as an archive but is not one: its files are not listed", name);
        return -EINVAL;
    }
    /* the queue keeps only what is still to list */
    if (ls->next) {
        for (int i = 0; i < ls->next; i++)
            free(ls->ents[i].name);
        memmove(ls->ents, ls->ents + ls->next, sizeof *ls->ents * (size_t)(ls->n - ls->next));
        ls->n -= ls->next;
        ls->next = 0;
    }
    int n0 = ls->n, rc;
    cmn_buf m, full;
    cmn_buf_init(&m);
    cmn_buf_init(&full);
    struct archive_entry *e;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
        member_name(e, &m);
        if (is_dir(e) || !m.len || !cmn_utf8_valid(m.data, m.len))
            continue;
        cmn_buf_reset(&full);
        cmn_buf_printf(&full, "%s/%s", name, m.data);
        if (strncmp(full.data, ls->prefix, strlen(ls->prefix)) || strcmp(full.data, ls->after) <= 0)
            continue;
        if (ls->n == ls->cap) {
            ls->cap = ls->cap ? ls->cap * 2 : 64;
            ls->ents = cmn_xrealloc(ls->ents, sizeof *ls->ents * (size_t)ls->cap);
        }
        ls->ents[ls->n].name = cmn_buf_steal(&full);
        ls->ents[ls->n].size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
        ls->n++;
    }
    if (rc != ARCHIVE_EOF) {
        cmn_warn("list: %s: cannot read the archive: %s; its files are not listed", name, archive_error_string(a));
        while (ls->n > n0)
            free(ls->ents[--ls->n].name);
    }
    archive_read_free(a);
    close(fd);
    cmn_buf_free(&m);
    cmn_buf_free(&full);
    if (ls->n > 1)
        qsort(ls->ents, (size_t)ls->n, sizeof *ls->ents, ent_cmp);
    return rc == ARCHIVE_EOF ? 0 : -EIO;
}

int tgt_arch_ls_add(tgt_arch_ls *ls, const char *fqn, const char *name)
{
    locale_t old = tgt_utf8_on();
    int rc = ls_add(ls, fqn, name);
    tgt_utf8_off(old);
    return rc;
}

/* Queues the archives whose names begin s (each at most once): those the
 * walk will not visit because they sort at or before the token, or because
 * the prefix reaches into them. */
static void take_up(tgt_arch_ls *ls, const tgt_store *st, const char *bck, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 1; i <= n; i++) {
        if (!named_archive(s, i))
            continue;
        char *name = cmn_xstrndup(s, i), fqn[PATH_MAX];
        bool walked = strcmp(name, ls->after) > 0 && !strncmp(name, ls->prefix, strlen(ls->prefix));
        bool seen = false;
        for (int k = 0; k < ls->ntaken; k++)
            seen |= !strcmp(ls->taken[k], name);
        if (!walked && !seen && ls->ntaken < (int)(sizeof ls->taken / sizeof ls->taken[0]) &&
            cmn_object_name_valid(name, NULL, 0) && tgt_store_fqn(st, bck, name, fqn, sizeof fqn) == 0) {
            ls->taken[ls->ntaken++] = name;
            tgt_arch_ls_add(ls, fqn, name);
            continue;
        }
        free(name);
    }
}

void tgt_arch_ls_init(tgt_arch_ls *ls, const tgt_store *s, const char *bck, const char *prefix, const char *after)
{
    memset(ls, 0, sizeof *ls);
    ls->prefix = cmn_xstrdup(prefix ? prefix : "");
    ls->after = cmn_xstrdup(after ? after : "");
    take_up(ls, s, bck, ls->after);
    take_up(ls, s, bck, ls->prefix);
}

const tgt_arch_entry *tgt_arch_ls_next(tgt_arch_ls *ls, const char *before)
{
    if (ls->next == ls->n || (before && strcmp(ls->ents[ls->next].name, before) >= 0))
        return NULL;
    return &ls->ents[ls->next++];
}

void tgt_arch_ls_free(tgt_arch_ls *ls)
{
    for (int i = 0; i < ls->n; i++)
        free(ls->ents[i].name);
    for (int i = 0; i < ls->ntaken; i++)
        free(ls->taken[i]);
    free(ls->ents);
    free(ls->prefix);
    free(ls->after);
}

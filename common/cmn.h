/*
 * cmn.h - the map of code shared by every etlfs program: logging, growable
 * buffers, AIStore's naming rules, ids, durations, base64 and checksums.
 * Beside it: http_client.h, ais_client.h (the REST client) and jwt.h (AuthN
 * tokens and access bits).
 *
 * Errors (err.c): a function that can fail returns 0 or a negative errno;
 * where a user must be told why, it also fills a cmn_err (the same code and
 * a message naming the object and the cause). Codes become HTTP statuses
 * once, at the reply (cmn_err_http_status). Memory (mem.c): allocation
 * failure aborts, so nothing checks for it.
 */
#ifndef ETLFS_CMN_H
#define ETLFS_CMN_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>


/* ---- errors (err.c) */
typedef struct cmn_err {
    int code;       /* positive errno; 0 = none */
    char msg[2048]; /* names the object and the cause */
} cmn_err;
/* Fills e (may be NULL) and returns -code, so "return cmn_err_set(...)". */
int cmn_err_set(cmn_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* No error: a field reset, inline so that clearing costs no call. */
static inline void cmn_err_clear(cmn_err *e)
{
    e->code = 0;
    e->msg[0] = '\0';
}
/* The HTTP status a reply carries for an errno code (500 for unknown ones). */
int cmn_err_http_status(int code);

/* ---- memory (mem.c): allocate or abort (Redis's policy) */
void *cmn_xmalloc(size_t n);
void *cmn_xcalloc(size_t count, size_t size);
void *cmn_xrealloc(void *p, size_t n);
char *cmn_xstrdup(const char *s);
char *cmn_xstrndup(const char *s, size_t n);
/* Once per process, first thing in main: cJSON allocates with cmn_xmalloc. */
void cmn_mem_init(void);

/* ---- logging (log.c): one line per event on stderr, with a level and time */
enum cmn_log_level { CMN_LOG_DEBUG, CMN_LOG_INFO, CMN_LOG_WARN, CMN_LOG_ERROR };
void cmn_log_set_level(enum cmn_log_level lvl);
void cmn_log(enum cmn_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define cmn_debug(...) cmn_log(CMN_LOG_DEBUG, __VA_ARGS__)
#define cmn_info(...) cmn_log(CMN_LOG_INFO, __VA_ARGS__)
#define cmn_warn(...) cmn_log(CMN_LOG_WARN, __VA_ARGS__)
#define cmn_error(...) cmn_log(CMN_LOG_ERROR, __VA_ARGS__)

/* ---- growable byte buffer (buf.c); always NUL-terminated for convenience */
typedef struct cmn_buf {
    char *data;
    size_t len;
    size_t cap;
} cmn_buf;
void cmn_buf_init(cmn_buf *b);
void cmn_buf_free(cmn_buf *b);
void cmn_buf_reset(cmn_buf *b);
void cmn_buf_append(cmn_buf *b, const void *data, size_t len);
/* Room for extra more bytes at once (an answer of known length: no regrowth). */
void cmn_buf_reserve(cmn_buf *b, size_t extra);
void cmn_buf_puts(cmn_buf *b, const char *s);
void cmn_buf_printf(cmn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cmn_buf_vprintf(cmn_buf *b, const char *fmt, va_list ap);
/* Hands the bytes to the caller (who frees them) and leaves b empty. */
char *cmn_buf_steal(cmn_buf *b);
/* A new formatted string (allocate-or-abort, as every cmn_x* call). */
char *cmn_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cmn_xvasprintf(const char *fmt, va_list ap);

/* ---- names (names.c): AIStore's rules, see docs/api.md */
/* Bucket: non-empty, [A-Za-z0-9_.-], not "." and no "..", at most 255 bytes. */
bool cmn_bucket_name_valid(const char *name);
/* Object: non-empty, < 1024 bytes, valid UTF-8, no NUL, not absolute, no
 * "." or ".." path segment, no empty segment ("a//b"), not ending in '/'.
 * Fills why (if given) with the broken rule. */
bool cmn_object_name_valid(const char *name, char *why, size_t whylen);

/* ---- ids and time (util.c) */
#define CMN_UUID_LEN 12
/* A job/list-session id: [A-Za-z][A-Za-z0-9]{11}, NUL-terminated. */
void cmn_gen_uuid(char out[CMN_UUID_LEN + 1]);
/* The clocks in ns: one system call each (a vDSO read), inline like it. */
static inline int64_t cmn_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static inline int64_t cmn_now_ns(void) { return cmn_clock_ns(CLOCK_REALTIME); }
static inline int64_t cmn_mono_ns(void) { return cmn_clock_ns(CLOCK_MONOTONIC); }
/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines
 * (cmn_mono_ns), so a change of the wall clock moves none. */
void cmn_cond_init_mono(pthread_cond_t *cv);
/* Go duration strings ("45s", "5m", "1h30m", "250ms"); 0 ns for "" and "0".
 * 0 or -EINVAL (also for a sum past 2^63 ns, as Go). */
int cmn_parse_duration(const char *s, int64_t *ns_out);
/* Formats as Go does ("5m", "45s", "1h30m", "1.5s", "250ms", "0s"), to the
 * nanosecond, so cmn_parse_duration reads back the same; out >= 32 bytes. */
void cmn_format_duration(int64_t ns, char *out, size_t outlen);
/* RFC 3339 with nanoseconds, UTC; out >= 40 bytes. 0 -> "0001-01-01T00:00:00Z". */
void cmn_format_rfc3339(int64_t ns, char *out, size_t outlen);
/* Go's RFC822 "02 Jan 06 15:04 UTC" (list-objects atime). */
void cmn_format_rfc822(int64_t ns, char *out, size_t outlen);

/* ---- encodings (codec.c) */
/* Standard base64 with padding. Returns malloc'd NUL-terminated strings. */
char *cmn_base64_encode(const void *data, size_t len);
/* Strict decode; NULL if s is not valid padded base64. *outlen set on success. */
unsigned char *cmn_base64_decode(const char *s, size_t *outlen);
/* base64url without padding (JWT). Decoding is strict: NULL on '=', the
 * standard alphabet's '+' or '/', a bad length or non-zero spare bits. */
char *cmn_base64url_encode(const void *data, size_t len);
unsigned char *cmn_base64url_decode(const char *s, size_t len, size_t *outlen);
/* XXH64 seed 0 as 16 lowercase hex digits (AIStore's "xxhash"). */
void cmn_xxhash_hex(uint64_t h, char out[17]);
/* Percent-decodes in place (for URL path segments); -EINVAL on bad escapes. */
int cmn_url_decode(char *s);
/* Whether s[0..len) is well-formed UTF-8 (RFC 3629). */
bool cmn_utf8_valid(const char *s, size_t len);
/* Replaces, in place, each byte that is not part of well-formed UTF-8 with
 * '?': text from outside (an ETL's log, a truncated tail) becomes safe to
 * put into JSON, which must be UTF-8. */
void cmn_utf8_scrub(char *s);
/* Go url.PathEscape of s as one path segment ('/' -> %2F, '@' kept). malloc'd. */
char *cmn_path_escape(const char *s);
/* The same into out (room for 3 * strlen(s) + 1, NUL-terminated): its length. */
size_t cmn_path_escape_to(char *out, const char *s);
/* A query value escaped as Go's url.QueryEscape (malloc'd). */
char *cmn_query_escape(const char *s);

/* ---- spool (spool.c): an output of unknown length, kept in memory up to
 * mem_limit bytes, then in an unnamed file in dir (which must outlive it) */
typedef struct cmn_spool {
    cmn_buf mem;       /* the bytes while they fit */
    int fd;            /* the file once they did not, else -1 */
    int64_t len;       /* bytes written */
    size_t mem_limit;
    const char *dir;
} cmn_spool;
void cmn_spool_init(cmn_spool *s, const char *dir, size_t mem_limit);
/* 0 or -errno (the file could not be made or written). */
int cmn_spool_write(cmn_spool *s, const void *data, size_t len);
/* len more bytes are coming (an answer's Content-Length): memory for them at
 * once if they will fit, instead of growing by doubling (each a copy). */
void cmn_spool_expect(cmn_spool *s, int64_t len);
/* Up to len bytes from off: the count (0 at the end) or -errno. */
ssize_t cmn_spool_pread(const cmn_spool *s, void *buf, size_t len, int64_t off);
/* Frees the bytes and the file; s is empty again, ready for writes. */
void cmn_spool_free(cmn_spool *s);

/* ---- JSON from outside (json.c) */
struct cJSON;
/* Parses data[0..len) strictly: one JSON value and nothing after it but
 * white space, UTF-8, no NUL byte and no \u0000. 0 and *out set (free with
 * cJSON_Delete), or -EINVAL with err saying what is wrong and where. */
int cmn_json_parse(const char *data, size_t len, struct cJSON **out, cmn_err *err);

/* ---- files (file.c) */
/* mkdir -p with mode 0755; 0 or -errno. */
int cmn_mkdir_p(const char *path);
/* Writes all of buf; retries on EINTR/short writes; 0 or -errno. */
int cmn_write_all(int fd, const void *buf, size_t len);
/* Appends a small file (a secret, a certificate) to out, stopping past max
 * bytes; 0 or -errno. */
int cmn_read_small_file(const char *path, size_t max, cmn_buf *out);
/* Reads len bytes at off unless the file ends first; the count or -errno. */
ssize_t cmn_pread_full(int fd, void *buf, size_t len, off_t off);
/* The names in directory path that do not begin with '.', sorted, as a
 * NULL-terminated array (free with cmn_names_free); NULL when it cannot be
 * read. For directories of records kept one per file (ETLs, jobs' journal). */
char **cmn_dir_names(const char *path);
void cmn_names_free(char **names);

#endif

/*
 * fs.h - the map of the etlfs FUSE daemon: buckets as directories, @etl views,
 * buffered atomic writes and server-side copy_file_range, all over HTTP to the
 * node-local etlfs-target.
 *
 * Layers, bottom up (one file each):
 *   api.c      AIStore calls (buckets, objects, ETLs) over common/ais_client.h,
 *              and its errors -> the errno a file operation returns
 *   path.c     MNT path -> {etl view, bucket, object name}
 *   cache.c    attribute cache (TTL, or revalidated by the node-local file's
 *              identity), remembered versions, virtual directories
 *   stats.c    counters, served as JSON in xattr user.etlfs.stats of "/"
 *   handle.c   what every open file has; anonymous spool files
 *   reader.c   read handles: fqn fast path, ranged GETs with readahead, ETL output
 *   writer.c   write handles: local spool file, PUT on flush/fsync/release
 *   pending.c  counted set of the names queued copies touch (the barrier's index)
 *   batch.c    queued server-side copies, sent many at a time; the copy barrier
 *   copy.c     copy_file_range as a server-side copy
 *   known.c    directories whose every name the daemon knows: a lookup of a
 *              name not there costs no request
 *   notify.c   the kernel's negative entries under views, dropped when the
 *              daemon makes a name in a bucket
 *   prefetch.c read-ahead through views: the next files of a directory read
 *              in order, transformed in the background
 *   conn.c     FUSE_HANDLE_KILLPRIV_V2 in the INIT reply (libfuse 3.14 cannot
 *              ask for it): no security.capability lookup before each write
 *   loop.c     the request loop: one thread reads and runs requests until one
 *              must wait (fs_loop_blocking), then another reads meanwhile
 *   ops.c      the FUSE operations (high-level API, multi-threaded) and the table;
 *              each enters through one protocol per kind (op_enter_read/_write):
 *              parse, refuse writes under @views, wait on the copy barrier,
 *              forget changed names' cached attributes
 *   state.c    the daemon's one state struct, fs_st (end of this file)
 *   main.c     options and start-up
 *
 * Errors travel as 0 or negative errno values; the layer that gives up logs one
 * line naming the object and the target's message. Allocation aborts on OOM.
 */
#ifndef ETLFS_FS_H
#define ETLFS_FS_H

#define FUSE_USE_VERSION 31
#include <fuse3/fuse.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/cmn.h"

/* ------------------------------------------------------------------ config */
typedef struct fs_config {
    char *endpoint;       /* http://127.0.0.1:8080, no trailing slash */
    double attr_timeout;  /* seconds the kernel and our cache trust attributes */
    double entry_timeout; /* seconds the kernel trusts a name lookup */
    int fqn;              /* 1: pread node-local object files when the target names them */
    char *spool_dir;      /* temp files for writes and large ETL outputs */
    size_t mem_limit;     /* ETL output kept in memory up to this, then spilled */
    int copy_batch;       /* server-side copies sent as one job, at most; 0 = one at a time */
    int64_t max_object_size; /* a file may not grow past this (EFBIG); 0 = only the target's free space */
    char *metrics_file;      /* Prometheus text of the counters, rewritten every few seconds, or NULL */
    char *token;          /* AuthN token sent with every request, or NULL */
    int etl_readahead;    /* view files transformed ahead of a sequential reader, at most; 0 = off */
    unsigned read_ahead_kb; /* the kernel's read-ahead window for the mount; 0 = the kernel's own */
    int etl_keep_cache;   /* 1: a view file's pages stay in the kernel while its source is unchanged */
    double negative_timeout; /* seconds the kernel trusts that a name does not exist */
    int max_threads;      /* FUSE threads, at most (loop.c) */
} fs_config;

extern fs_config fs_cfg;

/* ------------------------------------------------------------------ api.c */
typedef struct fs_entry {
    char *name;       /* base name (no prefix, no trailing slash) */
    bool is_dir;
    int64_t size;
    char version[32];
    int64_t mtime_ns;
    char *fqn;        /* node-local file, when the target names it (loopback), else NULL */
} fs_entry;

typedef struct fs_page {
    fs_entry *v;
    size_t n, cap;
    char token[1100]; /* continuation token, "" when this was the last page */
} fs_page;

typedef struct fs_objattr {
    int64_t size;
    char version[64];
    int64_t mtime_ns;
    char fqn[4096];
    bool not_dir; /* after -ENOENT: the target says no name starts with obj + "/" */
} fs_objattr;

/* Once at start-up and at exit: the HTTP client (common/ais_client.h) the
 * calls below share, keep-alive connections with bounded timeouts. */
int fs_client_init(void);
void fs_client_cleanup(void);

int fs_api_list_buckets(char ***names, size_t *n);
int fs_api_list_etls(char ***names, size_t *n);
void fs_free_names(char **names, size_t n);
int fs_api_bucket_exists(const char *bck);
/* Bytes the target's mountpaths can still take (its sysinfo capacity). */
int fs_api_free_space(int64_t *avail);
int fs_api_create_bucket(const char *bck);
int fs_api_destroy_bucket(const char *bck);
/* One page of the immediate children of prefix (which is "" or ends in '/'). */
int fs_api_list_page(const char *bck, const char *prefix, const char *token, unsigned pagesize, fs_page *pg);
/* The same with the entries' names and kinds only (no size, version or file). */
int fs_api_list_names(const char *bck, const char *prefix, const char *token, unsigned pagesize, fs_page *pg);
void fs_page_free(fs_page *pg);
int fs_api_head(const char *bck, const char *obj, fs_objattr *a);
/* Ranged GET into buf; returns bytes read or -errno. */
ssize_t fs_api_get_range(const char *bck, const char *obj, char *buf, size_t len, int64_t off);
/* Whole GET (optionally through an ETL) into spool, or into fd when spool is
 * NULL; total bytes in *got. */
int fs_api_get_all(const char *bck, const char *obj, const char *etl, cmn_spool *spool, int fd, int64_t *got);
/* A view's ETL name, "A" or the pipeline "A>>B>>C", into its stages (at most
 * max, each < 256 bytes); the count, 0 when a stage is empty or too many. */
#define FS_CHAIN_MAX 9
size_t fs_chain_names(const char *etl, char names[][256], size_t max);
int fs_api_put_fd(const char *bck, const char *obj, int fd, int64_t len);
int fs_api_delete(const char *bck, const char *obj);
int fs_api_rename(const char *bck, const char *obj, const char *newname);
/* Server-side copy (through etl when not NULL/empty); output size in *size. */
int fs_api_copy_obj(const char *sbck, const char *sobj, const char *dbck, const char *dobj, const char *etl,
                    int64_t *size);

typedef struct fs_copy_pair {
    char *src, *dst; /* object names in the source and destination buckets */
} fs_copy_pair;

/* Many server-side copies as one copy-listrange/etl-listrange request (the
 * target adds it to its running job of the same buckets and ETL); the job's
 * id in id. */
int fs_api_copy_list(const char *sbck, const char *etl, const char *dbck, const fs_copy_pair *v, size_t n, char *id,
                     size_t idlen);

typedef struct fs_job_snap {
    bool idle;        /* everything the job was given is done and visible */
    bool aborted;
    int64_t objs;
    char err[2048];   /* the job's errors so far, joined */
} fs_job_snap;

int fs_api_job_snap(const char *id, fs_job_snap *s);

/* ------------------------------------------------------------------ path.c */
typedef struct fs_path {
    char etl[256];    /* "" outside @views */
    char bck[256];    /* "" for the root (and for "/@etl" itself) */
    const char *obj;  /* points into the parsed path; "" for a bucket root */
    bool is_view_root; /* "/@etl" */
} fs_path;

/* Parses an absolute FUSE path. Returns 0 or -ENOENT (malformed / bad names). */
int fs_path_parse(const char *path, fs_path *p);

/* ------------------------------------------------------------------ cache.c */
typedef struct fs_attr {
    bool is_dir;
    int64_t size;
    int64_t mtime_ns;
    char version[32];
} fs_attr;

void fs_cache_init(void);
void fs_cache_destroy(void);
/* Fresh attributes of a path (within attr_timeout): true and *a filled. */
bool fs_cache_get(const char *path, fs_attr *a);
void fs_cache_put(const char *path, const fs_attr *a);
/* The same with the object's node-local file (from HEAD), so an open right
 * after a lookup needs no second HEAD. */
void fs_cache_put_obj(const char *path, const fs_attr *a, const char *fqn);
bool fs_cache_get_obj(const char *path, fs_attr *a, char *fqn, size_t cap);
/* fs_cache_put_obj after a HEAD; keeps the time the kernel has for an object
 * whose version and size did not change (a->mtime_ns is updated to match). */
void fs_cache_refresh_obj(const char *path, fs_attr *a, const char *fqn);
/* Records the identity of the object's file, opened by a reader at fqn. */
void fs_cache_set_fileid(const char *path, const char *fqn, const struct stat *st);
/* An expired entry whose file still has the recorded identity: fresh again,
 * true and *a filled (one stat instead of a HEAD). */
bool fs_cache_revalidate(const char *path, fs_attr *a);
/* Learns the directory holding bck's files from an fqn the target named. */
void fs_fqn_learn(const char *bck, const char *obj, const char *fqn);
/* Finds obj in a learned directory of bck when a regular file of the listed
 * size is there: true, fqn and *st filled (stat, not opened). */
bool fs_fqn_guess(const char *bck, const char *obj, int64_t size, char *fqn, size_t cap, struct stat *st);
/* Forgets what is known of path: attributes, output size, "missing". */
void fs_cache_forget(const char *path);
/* The target said path is no object and no directory: answered so within
 * attr_timeout without asking (cp looks a new destination up twice: its
 * stat, then the kernel's lookup before O_EXCL's create). Every change the
 * daemon makes to a name forgets it (fs_cache_forget). */
void fs_cache_put_missing(const char *path);
bool fs_cache_missing(const char *path);
/* Remembers the version a reader saw and says whether it matches the last one
 * (so the kernel may keep its page cache). */
bool fs_cache_same_version(const char *path, const char *version, int64_t mtime_ns, int64_t size);
/* Directories made by mkdir below a bucket that hold no object yet. */
void fs_vdir_add(const char *path);
/* path was made by mkdir, or a directory below it was: it exists */
bool fs_vdir_has(const char *path);
/* Forgets path (and, with below, everything remembered under it). */
void fs_vdir_del(const char *path, bool below);
/* An object now exists at path: the directories above it need no memory. */
void fs_vdir_del_parents(const char *path);
/* Calls fn once for each name in dir that a remembered directory (or one
 * below it) has: the directories dir holds for mkdir's sake. */
void fs_vdir_children(const char *dir, void (*fn)(void *ctx, const char *name), void *ctx);
/* Largest ETL output seen for a view path (its st_size once known), -1 if none. */
void fs_cache_set_outsize(const char *path, int64_t size);
int64_t fs_cache_outsize(const char *path);
/* The kernel was told that view path is size bytes long (a lookup, a listing). */
void fs_cache_told_size(const char *path, int64_t size);
/* May an output of len bytes go through the kernel's page cache? Only when no
 * size the kernel may hold for path is shorter (it stops reading at its size;
 * a longer one is cut to len by the short read). Then len is what it holds. */
bool fs_cache_fits_told(const char *path, int64_t len);
/* Attributes of path once learned, however old. */
bool fs_cache_get_known(const char *path, fs_attr *a);
/* Changes of path through the mount so far (fs_cache_forget), a number that
 * differs after any change (or after the table was dropped). */
uint64_t fs_cache_gen(const char *path);
/* etl_keep_cache: the kernel holds view path's output of len bytes, made
 * from the source as src describes it, at the source's gen. */
void fs_cache_keep_set(const char *path, const fs_attr *src, uint64_t gen, int64_t len);
/* ... and may keep it: the source is still src at gen, and the kernel's size is len. */
bool fs_cache_keep_match(const char *path, const fs_attr *src, uint64_t gen);

/* ------------------------------------------------------------------ pending.c */
/* Roles of a name in the set of queued copies (batch.c). */
#define FS_PEND_SRC 's'     /* an object a queued copy reads */
#define FS_PEND_DST 'd'     /* an object a queued copy writes */
#define FS_PEND_SRC_DIR 'S' /* a directory ("" or "a/b/") above such an object */
#define FS_PEND_DST_DIR 'D'

/* Counts obj in role and each directory above it in the matching _DIR role. */
void fs_pending_add(char role, const char *bck, const char *obj);
void fs_pending_del(char role, const char *bck, const char *obj);
bool fs_pending_has(char role, const char *bck, const char *name);

/* ------------------------------------------------------------------ batch.c */
void fs_batch_start(void);
/* Sends everything queued, waits for it, and stops batching. */
void fs_batch_stop(void);
/* Queues a server-side copy of sbck/sobj (through etl unless "") to
 * dbck/dobj. 0, or -EAGAIN when batching is off: copy now instead. */
int fs_batch_copy(const char *sbck, const char *sobj, const char *etl, const char *dbck, const char *dobj);
/* The barrier: each returns once no queued copy writes bck/obj (dst), reads
 * or writes it (obj), or writes below the directory prefix "" or "a/b/"
 * (dir; with any_role, or reads there). */
void fs_batch_wait_dst(const char *bck, const char *obj);
void fs_batch_wait_obj(const char *bck, const char *obj);
void fs_batch_wait_dir(const char *bck, const char *prefix, bool any_role);
void fs_batch_wait_all(void);
/* fs_batch_queued(), the copy barrier's one load, is inline at the end (a
 * field of fs_st): an op tests it before it waits, so without queued copies
 * it does not enter batch.c. */

/* ------------------------------------------------------------------ stats.c */
enum fs_stat {
    FS_ST_READ_BYTES,   /* bytes returned by read() through FUSE */
    FS_ST_OBJ_READS,    /* files opened for reading */
    FS_ST_FQN_READS,    /* of those, served by the node-local fast path */
    FS_ST_ETL_READS,    /* of those, read through an @etl view */
    FS_ST_WRITE_BYTES,
    FS_ST_PUTS,
    FS_ST_SERVER_COPIES, /* copy_file_range turned into copy-obj */
    FS_ST_SERVER_COPY_BYTES,
    FS_ST_COPY_JOBS,     /* requests that carried many copies as one job */
    FS_ST_SINGLE_COPIES, /* copies sent one by one (copy-obj) */
    FS_ST_COPIES_QUEUED, /* copies waiting to be sent or done (a gauge) */
    FS_ST_CACHE_HITS,    /* opens that kept the kernel page cache */
    FS_ST_ATTR_HITS,     /* getattr served from our attribute cache */
    FS_ST_HTTP_REQS,
    FS_ST_ERRORS,
    FS_ST_FUSE_OPS,      /* operations the kernel asked for (every op_enter_*) */
    FS_ST_RA_FETCHES,    /* view files transformed ahead of a sequential reader */
    FS_ST_RA_HITS,       /* first reads served from such an output */
    FS_ST_RA_DROPPED,    /* outputs dropped unread: pattern broken, source changed, too old */
    FS_ST_RA_WAITS,      /* opens and first reads that waited for an output being made */
    FS_ST_VIEW_CACHED,   /* opens of a view file whose output goes through the page cache */
    FS_ST_VIEW_KEPT,     /* ... and of one whose pages the kernel kept (etl_keep_cache): no transform */
    FS_ST__N
};
/* fs_stat_add(s, v), one relaxed add to a field of fs_st, is inline at the end. */
/* The last job the mount's copies went to, shown with the counters. */
void fs_stat_set_copy_job(const char *id);
/* malloc'd JSON of every counter. */
char *fs_stats_json(void);
/* The counters as Prometheus text (etlfs_mount_<name>), malloc'd. */
char *fs_stats_prometheus(void);
/* With fs_cfg.metrics_file: a thread rewrites it (atomically) every few
 * seconds and once more at stop, for a textfile collector to scrape. */
void fs_metrics_start(void);
void fs_metrics_stop(void);

/* ------------------------------------------------------------------ reader.c / writer.c */
/* One open file. Readers: a node-local fd (fqn), a readahead window of ranged
 * GETs, or the whole ETL output (memory, spilled to a spool file when large).
 * Writers: a spool file PUT as one object. The mutex orders a handle's calls
 * (the kernel may issue several reads on one handle at once). */
typedef struct fs_handle {
    pthread_mutex_t mu;
    char *path;            /* the FUSE path, for the writer table and the cache */
    char bck[256];
    char *obj;
    char etl[256];
    bool writer;
    int fd;                /* fqn file, ETL spill file or write spool; -1 if none */
    int64_t size;
    char version[64];
    /* ranged GETs */
    char *ra;
    size_t ra_len, ra_cap;
    int64_t ra_off;        /* object offset of ra[0] */
    int64_t next_off;      /* where a sequential reader goes next */
    /* ETL output */
    bool etl_loaded;
    bool etl_noted;        /* its first read told read-ahead (prefetch.c) */
    bool out_src_ok;       /* etl_keep_cache: what was known of the source when read-ahead's */
    fs_attr out_src;       /* transform of out began, and its changes through the mount then */
    uint64_t out_gen;
    cmn_spool out;
    /* writer */
    bool dirty, created, server_copied;
    bool wrote;            /* write() put bytes in the spool */
    bool noflush;          /* opened without FLUSH on close (copy.c, fs_copy_expect): release publishes */
    pid_t pid;             /* the process that created it */
    int64_t copied_size;
    struct fs_handle *next_writer; /* writer table list */
} fs_handle;

fs_handle *fs_handle_new(const fs_path *p, const char *path);
void fs_handle_free(fs_handle *h);
/* An unlinked temp file in spool_dir, or -errno. */
int fs_spool_file(void);

/* *page_cache: the kernel may cache the file's pages for this open (a view's
 * output made ahead that fits the size the kernel was told); *keep_cache: and
 * keep those of the previous open. */
int fs_reader_open(const fs_path *p, const char *path, fs_handle **out, bool *page_cache, bool *keep_cache);
/* Bytes of h from off on (a view's output is made first), or -errno. */
int64_t fs_reader_left(fs_handle *h, off_t off);
ssize_t fs_reader_read(fs_handle *h, char *buf, size_t len, off_t off);
/* The node-local file a reader serves from (fixed at open), or -1. */
int fs_reader_fd(const fs_handle *h);
/* A view's output made and spilled to its spool file: that file (kept until
 * the release), else -1. */
int fs_reader_spool_fd(fs_handle *h);
/* A view's output made and held in memory: its bytes (kept, unchanged, until
 * the release) and *len their count, else NULL. */
const char *fs_reader_mem(fs_handle *h, int64_t *len);
/* vsplice.c: mem[0..len) as a pipe of the calling thread for libfuse to
 * splice into the reply (the bytes must stay until it is sent): 0 and bv
 * set, or -1 (too short or too long, no pipe): copy it instead. */
int fs_vsplice(const char *mem, size_t len, struct fuse_bufvec *bv);
/* bdi.c: the mount's read-ahead window set to kb KiB (root; else left). */
void fs_bdi_readahead(const char *mountpoint, unsigned kb);

int fs_writer_open(const fs_path *p, const char *path, bool create, bool trunc, fs_handle **out);
ssize_t fs_writer_write(fs_handle *h, const char *buf, size_t len, off_t off);
int fs_writer_truncate(fs_handle *h, off_t size);
int fs_writer_flush(fs_handle *h);
/* Size of a file open for writing under path, -1 if none is. */
int64_t fs_writer_size_of(const char *path);
int fs_truncate_path(const fs_path *p, const char *path, off_t size);

/* Closes (a writer is PUT first if dirty); returns the PUT's result. */
int fs_handle_release(fs_handle *h);

/* copy_file_range between two open handles, done server-side (ops.c doc). */
ssize_t fs_copy_range(fs_handle *in, off_t off_in, fs_handle *out, off_t off_out, size_t len);
/* A new file h that process pid created: true when it will most likely be
 * filled by a server-side copy too (pid's last new file was), so its close
 * needs no FLUSH. */
bool fs_copy_expect(fs_handle *h, pid_t pid);
/* h, opened without FLUSH, is written after all: stop expecting copies. */
void fs_copy_unexpect(fs_handle *h);

/* ------------------------------------------------------------------ prefetch.c */
/* Workers start (fs_init, after daemonizing) when etl_readahead > 0. */
void fs_prefetch_start(void);
void fs_prefetch_stop(void);
/* The open of view file h: moves the output made ahead of h's file into
 * h->out (true), waiting for one being made; notes no read (cp opens files
 * it never reads). */
bool fs_prefetch_take(fs_handle *h);
/* The first read of view file h (its lock held): notes the reader's order,
 * schedules the files after it when the reader goes in directory order, and,
 * unless h's output is loaded, moves a ready one into h->out (true). */
bool fs_prefetch_read(fs_handle *h, pid_t reader);
/* bck/obj changed: what was transformed ahead from it is dropped. */
void fs_prefetch_forget(const char *bck, const char *obj);

/* ------------------------------------------------------------------ known.c */
/* Learning all the names of dir (a plain path: "/b" or "/b/a"): begin before
 * asking the target, so names the daemon makes meanwhile are kept; end with
 * since_ns, when the asking began, and whether dir was found empty (false:
 * nothing is known). The id is 0 when attr_timeout is 0 (nothing is kept). */
uint64_t fs_known_begin(const char *dir);
void fs_known_end(uint64_t id, int64_t since_ns, bool empty);
/* path's directory is known and holds no such name: answer ENOENT without a
 * request. A directory known longer than attr_timeout is listed again here. */
bool fs_known_missing(const char *path);
/* The target said path is missing and its directory is not known: after a
 * few such names within attr_timeout, learn the directory from one listing
 * page, so the next missing names cost nothing (cp -r into a bucket made over
 * REST). A bigger one is left unknown for attr_timeout. */
void fs_known_learn(const char *path);
/* The daemon made or changed path: the name below each known directory may
 * exist from now on (called by fs_cache_forget). */
void fs_known_touch(const char *path);
void fs_known_destroy(void);

/* ------------------------------------------------------------------ notify.c */
/* In fs_init (the thread that sends notifications) and fs_destroy. */
void fs_notify_start(struct fuse *f);
void fs_notify_stop(void);
/* A name under MNT/@etl/ answered "no such name" (the kernel keeps that). */
void fs_notify_view_miss(const char *etl);
/* A name was made in a bucket: views that answered "no such name" lately
 * are dropped from the kernel's cache. */
void fs_notify_name_made(void);
/* Whether the kernel keeps "no such name" answers (-o negative_timeout), so
 * that the two above have anything to do: callers test it first. */
static inline bool fs_notify_on(void) { return fs_cfg.negative_timeout > 0; }

/* ------------------------------------------------------------------ conn.c */
/* In fs_init, before libfuse sends the INIT reply: the reply says the daemon
 * clears suid/sgid/capabilities itself (it has none to clear). */
void fs_conn_killpriv_v2(struct fuse *f);

/* ------------------------------------------------------------------ loop.c */
/* The request loop (leader and followers) until the session ends; 0 or -1. */
int fs_loop(struct fuse *f, int max_threads);
/* Before a FUSE request waits (HTTP, a queued copy, another thread's work):
 * another thread reads the next requests meanwhile. A no-op elsewhere. */
void fs_loop_blocking(void);

/* ------------------------------------------------------------------ ops.c */
extern const struct fuse_operations fs_ops;

/* ------------------------------------------------------------------ the daemon's state (state.c)
 * Everything the daemon keeps between FUSE calls, in one place, each field
 * with what protects it. The config (fs_cfg) is set once at start, before
 * any thread; the HTTP client keeps its own pool. Each part belongs to the
 * file named in its comment: no other file touches its fields. */
#define FS_FQN_ROOTS 16        /* target directories remembered, all buckets together */
#define FS_PENDING_SLOTS 4096  /* chains stay short: the queue holds at most a few thousand copies */

struct fs_centry;
struct fs_batch;
struct fs_pkey;
struct fs_pf_entry;
struct fs_known;

#define FS_NOTIFY_VIEWS 32 /* views whose "no such name" answers are remembered */
#define FS_PF_STREAMS 8 /* readers whose order read-ahead follows at once */
#define FS_PF_WORKERS 2
#define FS_KNOWN_DIRS 8 /* directories whose names are all known, at most */
#define FS_PF_RECENT 256 /* files read lately, not transformed ahead again */

typedef struct fs_pf_stream {
    pid_t pid;           /* the reading thread (a DataLoader worker, md5sum); 0 = free */
    char etl[256], bck[256];
    char *dir;           /* object-name prefix of the directory: "" or "a/b/" */
    char *last;          /* the object it read last */
    char **names;        /* the directory's files after some point, in listing order */
    size_t n, pos;       /* names[pos] is what an in-order reader reads next */
    bool more;           /* the listing goes on after names[n - 1] */
    bool seq;            /* it read in order at least once: schedule ahead */
    uint64_t id;         /* entries it scheduled carry it; 0 never */
    int64_t used_ns;     /* monotonic; the least recently used stream is replaced */
    int64_t run_ns;      /* monotonic; when its current run in order began */
    int64_t seen_ns;     /* files others read since then are not transformed ahead for it */
} fs_pf_stream;

typedef struct fs_fqn_root {
    char bck[256];
    char *dir; /* the target's directory for the bucket on one mountpath, ending in '/' */
} fs_fqn_root;

typedef struct fs_state {
    int64_t mount_ns;  /* ops.c: directories' time; set once in fs_init */
    uid_t uid;         /* ops.c: every file's owner (the daemon's); set once in fs_init */
    gid_t gid;         /* ops.c: set once in fs_init */
    bool target_remote; /* ops.c: a HEAD answered without etlfs-fqn; atomic */
    pid_t copier;       /* copy.c: the process whose last new file was a server-side copy; atomic */
    struct {           /* ops.c: running ETLs, refreshed at most once per attr_timeout */
        pthread_mutex_t mu;
        char **names;    /* mu */
        size_t n;        /* mu */
        int64_t expires; /* mu; monotonic ns */
    } etls;
    struct { /* cache.c */
        pthread_mutex_t mu;
        struct fs_centry **slots;        /* mu; the attribute hash table */
        size_t count;                    /* mu; entries in slots */
        uint64_t drops;                  /* mu; times the table was dropped whole */
        char **vdirs;                    /* mu; directories made by mkdir, no object yet */
        size_t nvdirs;                   /* mu */
        fs_fqn_root roots[FS_FQN_ROOTS]; /* mu; where the target keeps buckets' files */
        size_t nroots;                   /* mu */
    } cache;
    struct { /* batch.c: queued server-side copies */
        pthread_mutex_t mu;
        pthread_cond_t wake;        /* the sender: a batch may be ready (monotonic clock); init in fs_batch_start */
        pthread_cond_t landed;      /* waiters: a batch is done */
        struct fs_batch *open_list; /* mu; batches being filled, oldest first */
        size_t queued;              /* mu to change, atomic to peek: copies in open batches and in the one being sent */
        bool urgent;                /* mu; someone waits for a queued copy: send everything now */
        bool started, stopping;     /* mu */
        pthread_t sender;           /* set by fs_batch_start, joined by fs_batch_stop */
        char last_job[64];          /* sender thread only: the job whose errors are already logged */
        char last_err[2048];        /* sender thread only */
    } batch;
    struct fs_pkey *pending[FS_PENDING_SLOTS]; /* pending.c: batch.mu (callers hold it) */
    struct {                                   /* stats.c */
        int64_t counters[FS_ST__N];            /* atomic (relaxed) */
        pthread_mutex_t job_mu;
        char copy_job[64]; /* job_mu; the last copy job started */
    } stats;
    struct { /* prefetch.c: view outputs transformed ahead */
        pthread_mutex_t mu;
        pthread_cond_t work;            /* workers: an entry is queued, or stop */
        pthread_cond_t done;            /* readers: a running entry finished */
        struct fs_pf_entry *list;       /* mu; oldest first */
        size_t n;                       /* mu; entries, at most fs_cfg.etl_readahead */
        fs_pf_stream streams[FS_PF_STREAMS]; /* mu */
        uint64_t next_id;               /* mu */
        struct { uint64_t key; int64_t ns; } recent[FS_PF_RECENT]; /* mu; the last files read first, a ring */
        size_t recent_at;               /* mu; the next slot of recent */
        pthread_t workers[FS_PF_WORKERS]; /* started by fs_prefetch_start */
        int nworkers;                   /* mu */
        bool stopping;                  /* mu */
    } prefetch;
    struct { /* notify.c */
        pthread_mutex_t mu;
        pthread_cond_t wake; /* the thread: names to send, or stop */
        struct fuse *fuse;   /* set by fs_notify_start, before the thread */
        struct {
            char etl[256];
            int64_t until_ns; /* monotonic: the kernel may hold a "no such name" below @etl until then */
        } miss[FS_NOTIFY_VIEWS];            /* mu */
        size_t nmiss;                       /* mu */
        int64_t overflow_until_ns;          /* mu; more views missed than slots: all of them */
        char send[FS_NOTIFY_VIEWS][256];    /* mu; ETL names whose "@name" the thread drops */
        size_t nsend;                       /* mu */
        bool running, stopping;             /* mu */
        pthread_t thread;
    } notify;
    struct { /* known.c */
        pthread_mutex_t mu;
        struct fs_known *dirs[FS_KNOWN_DIRS]; /* mu; NULL = free */
        uint64_t next_id;                     /* mu */
    } known;
    struct { /* writer.c: files open for writing, for getattr's size */
        pthread_mutex_t mu;
        fs_handle *list; /* mu */
    } writers;
} fs_state;

extern fs_state fs_st;

/* Fields of fs_st read or counted on every op: inline, beside the state. */
static inline void fs_stat_add(enum fs_stat s, int64_t v)
{
    __atomic_add_fetch(&fs_st.stats.counters[s], v, __ATOMIC_RELAXED);
}
/* Copies queued or being sent (a relaxed load: a hint, for skipping work). */
static inline size_t fs_batch_queued(void) { return __atomic_load_n(&fs_st.batch.queued, __ATOMIC_RELAXED); }

#endif

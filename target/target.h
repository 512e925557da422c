/*
 * target.h - the map of etlfs-target: one process that answers as AIStore's
 * gateway and target on a single node. Layers, bottom up:
 *
 *   store.c, bucketdir.c, objmeta.c,         objects and buckets on mountpaths
 *   objread.c, objwrite.c, walk.c
 *   jobs.c                                   long operations ("xactions")
 *   server.c, reply.c, msg.c, routes.c       HTTP (libmicrohttpd, TLS), JSON bodies, the route table
 *   auth.c                                   tokens and what each route needs of them
 *   etl_inline.c                             an object read through an ETL
 *   archread.c                               files inside archived objects (GET, listing)
 *   bucket.c, object.c, lso.c, cluster.c,    one file per group of REST handlers
 *   etl_rest.c, etl_callback.c, ...
 *   append.c, multipart.c, sweeper.c         object bodies over several requests
 */
#ifndef ETLFS_TARGET_H
#define ETLFS_TARGET_H

#include "common/cmn.h"
#include "common/jwt.h"
#include "etl/etl.h"

#include <cjson/cJSON.h>
#include <locale.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <xxhash.h>

#define TGT_MAX_MPATHS 64
#define TGT_NODE_ID "t1etlfs"   /* this node's id, as target and as proxy */
#define TGT_PROXY_ID "p1etlfs"

/* ------------------------------------------------------------------ store */
/* Layout per mountpath MP:
 *   MP/@ais/<bucket>/<object name>   the object (name's '/' are directories)
 *   MP/.etlfs/tmp/                   work files of PUTs in flight
 *   MP/.etlfs/trash/ID-BUCKET        destroyed buckets being removed
 * An object lives on the mountpath chosen by a hash of bucket+name. */
typedef struct tgt_store {
    int nmpaths;
    char *mpaths[TGT_MAX_MPATHS];
} tgt_store;

int tgt_store_open(tgt_store *s, char **dirs, int n);
void tgt_store_close(tgt_store *s);
/* Index of the mountpath that owns bucket/obj. */
int tgt_store_mpath_of(const tgt_store *s, const char *bck, const char *obj);
/* Path of an object's file. 0, or -ENAMETOOLONG if it does not fit. */
int tgt_store_fqn(const tgt_store *s, const char *bck, const char *obj, char *out, size_t outlen);
/* Path of a bucket's directory on mountpath i. */
int tgt_store_bdir(const tgt_store *s, int i, const char *bck, char *out, size_t outlen);
/* rm -rf path (a missing one is no error); 0 or -errno. */
int tgt_store_remove_tree(const char *path);

/* Buckets on disk (bucketdir.c). */

bool tgt_bucket_exists(const tgt_store *s, const char *bck);
/* 0, or -EEXIST / -errno. */
int tgt_bucket_create(const tgt_store *s, const char *bck);
/* 0, or -ENOENT / -errno. Removes every object; atomic (one rename), even
 * across a crash. */
int tgt_bucket_destroy(const tgt_store *s, const char *bck);
/* At start-up, before the trash is emptied: completes destroys a crash cut
 * short after their commit (see bucketdir.c). */
void tgt_bucket_finish_destroys(const tgt_store *s);
/* 0, or -ENOENT (from missing) / -EEXIST (to exists) / -errno. */
int tgt_bucket_rename(const tgt_store *s, const char *from, const char *to);
/* Sorted names of all buckets; free with tgt_free_names. */
int tgt_bucket_names(const tgt_store *s, char ***names, int *n);
void tgt_free_names(char **names, int n);
int64_t tgt_bucket_created(const tgt_store *s, const char *bck);

/* ---------------------------------------------------------------- objmeta */
/* Metadata stored with an object's file (xattr "user.etlfs.meta"), written
 * to the work file before the rename, so data and metadata appear together. */
typedef struct tgt_objmeta {
    int64_t size;
    char cksum_type[16]; /* "xxhash" */
    char cksum[17];      /* 16 hex digits */
    int64_t version;
    int64_t atime_ns;
    char *custom;        /* JSON object text, or NULL; owned */
    int64_t chunks;      /* assembled by a multipart upload: its part count, else 0 */
    int64_t chunk_max;   /* ... and its largest part's size */
} tgt_objmeta;

/* Encodes m as text into out; returns its length or -ERANGE (no room).
 * Decode: 0, or -EINVAL when text is not our record. */
int tgt_objmeta_encode(const tgt_objmeta *m, char *out, size_t outlen);
int tgt_objmeta_decode(const char *text, size_t len, tgt_objmeta *m);
int tgt_objmeta_load(int fd, tgt_objmeta *m);   /* from an open object file */
struct stat;
int tgt_objmeta_load_st(int fd, const struct stat *st, tgt_objmeta *m); /* ... whose fstat the caller has */
int tgt_objmeta_store(int fd, const tgt_objmeta *m);
/* The version of the object file at path, 1 for a file without a record,
 * 0 for none: what a new version follows. One getxattr, no open. */
int64_t tgt_objmeta_version_at(const char *path);
void tgt_objmeta_free(tgt_objmeta *m);

/* --------------------------------------------------------------- objwrite */
/* An atomic object write: work file in the owning mountpath, fsync, xattr,
 * rename over the object. Abort (or a crash) leaves the old object. */
typedef struct tgt_batch tgt_batch;
typedef struct tgt_writer {
    int fd;
    XXH64_state_t *xx;
    int64_t bytes;
    char *custom;       /* custom metadata JSON to store, owned */
    char cksum[17];     /* when set, the content's known XXH64 (a copy): not recomputed */
    tgt_batch *batch;   /* when set, commit joins this group commit (see below) */
    int64_t chunks, chunk_max; /* recorded in the metadata (a multipart upload's parts) */
    int64_t version;    /* when set, the version to record (an object moved between targets), else the next */
    bool unnamed;       /* a group's work file without a name (O_TMPFILE), linked to fqn by the group
                           (to tmp first when fqn is taken: tmp names no file until then) */
    /* last: opening zeroes the fields above only, not these 8 KiB (a job opens one per object) */
    char tmp[4096];
    char fqn[4096];
} tgt_writer;

/* Group commit for jobs that write many objects: committed writers hand
 * their work files to the batch; a flush syncs each mountpath's file system
 * once (syncfs) and then renames them all, on the batch's own thread (a
 * committer waits only past 4,096 pending). One sync per batch instead of one
 * fsync per object, and still no object is visible before its bytes are
 * durable. A crash before the flush leaves only work files, removed at start
 * (unnamed ones: the file system frees them).
 * A group's work files are unnamed where the file system allows it and
 * file descriptors are plenty (tgt_writer_open_batch): each is linked to its
 * name after the sync, so no work file is named, looked up or removed. */
tgt_batch *tgt_batch_new(const tgt_store *s);
/* Publishes what is pending; returns how many could not be published (logged). */
int tgt_batch_flush(tgt_batch *b);
/* Syncs the renames no sync has covered yet: a job's end, after which
 * every name it published is durable (as a tool's closing sync(1)). */
void tgt_batch_sync(tgt_batch *b);
void tgt_batch_free(tgt_batch *b); /* flushes first */

int tgt_writer_open(tgt_writer *w, const tgt_store *s, const char *bck, const char *obj);
/* The same for an object whose commit joins group b (w->batch set). */
int tgt_writer_open_batch(tgt_writer *w, const tgt_store *s, const char *bck, const char *obj, tgt_batch *b);
/* The same for a file that is no object: commit publishes it at path, which
 * must be on mountpath mp (a part of a multipart upload). */
int tgt_writer_open_at(tgt_writer *w, const tgt_store *s, int mp, const char *path);
/* Whether size more bytes fit on the mountpath that would hold bck/obj:
 * 0, or -ENOSPC with err saying how much is free. */
int tgt_store_check_space(const tgt_store *s, const char *bck, const char *obj, int64_t size, cmn_err *err);
int tgt_writer_write(tgt_writer *w, const void *data, size_t len);
/* Whether the bytes written so far have the xxhash want (hex); got, their own. */
bool tgt_writer_matches(const tgt_writer *w, const char *want, char got[17]);
/* Publishes the object; fills *out (if given). On failure the work file is gone. */
int tgt_writer_commit(tgt_writer *w, tgt_objmeta *out);
void tgt_writer_abort(tgt_writer *w);
/* Copies a local file into bucket/obj atomically (copy-bck, promote). */
int tgt_store_copy_file(const tgt_store *s, const char *src_fqn, const char *bck, const char *obj,
                        tgt_objmeta *out, tgt_batch *batch);
/* Deletes an object file and its empty parent directories. 0 or -errno. */
int tgt_object_remove(const tgt_store *s, const char *bck, const char *obj);

/* ---------------------------------------------------------------- objread */
/* Opens an object for reading: fd and stat; 0 or -errno (-ENOENT if absent). */
int tgt_object_open(const tgt_store *s, const char *bck, const char *obj, int *fd, int64_t *size);
/* An object's size by its path, for a caller that hands the path on (a job
 * whose ETL or copy opens the file itself, an inline read): one stat. 0 or
 * -errno (-ENOENT). */
int tgt_object_stat(const char *fqn, int64_t *size);
/* ... with the whole stat and the metadata (GET, HEAD): one fstat, and no
 * xattr read for an object read before whose file has not changed since
 * (a cache keyed by the file's identity and ctime). m is the caller's to free. */
int tgt_object_open_meta(const tgt_store *s, const char *bck, const char *obj, int *fd, struct stat *st,
                         tgt_objmeta *m);
/* Reads the whole open object and compares its XXH64 with the stored one:
 * -EIO when the disk fails a read, -EUCLEAN when the bytes differ (a file
 * without our metadata has nothing to compare: 0). err names the object. */
int tgt_object_verify(int fd, int64_t size, const tgt_objmeta *m, const char *bck, const char *obj, cmn_err *err);

/* ----------------------------------------------------------------- object */
/* Parses a Range header, "bytes=A-B", "bytes=A-" or "bytes=-N", against an
 * object of size bytes: 1 with off and len set, 0 when h is NULL, -1 when it
 * is malformed or not satisfiable (object.c). */
int tgt_parse_range(const char *h, int64_t size, int64_t *off, int64_t *len);

/* -------------------------------------------------------------------- lso */
/* A list-objects request (AIStore's LsoMsg, the ActMsg value); the strings
 * point into the JSON it was parsed from. */
typedef struct tgt_lso_msg {
    const char *prefix, *token, *start_after, *uuid;
    uint64_t flags;    /* LsoMsg flag bits */
    int pagesize;      /* 1..10000 */
    unsigned props;    /* the properties to report, as bits */
} tgt_lso_msg;

/* 0, or -EINVAL with why filled (lso.c). */
int tgt_lso_msg_parse(const cJSON *v, tgt_lso_msg *m, char *why, size_t whylen);

/* ------------------------------------------------------------------- walk */
/* A bucket's objects in name order (merged over mountpaths), names
 * > start_after and starting with prefix. With no_recursion, only the
 * prefix's immediate children: sub-directories come once with is_dir set.
 * The caller pulls: open, next until false, close (always, also after an
 * error). Open returns 0, or -EIO when a mountpath's top could not be read
 * (the others are still walked). An entry's strings last until the next
 * call. */
typedef struct tgt_walk_it tgt_walk_it;
typedef struct tgt_walk_entry {
    const char *name, *fqn;
    bool is_dir;
} tgt_walk_entry;
int tgt_walk_open(const tgt_store *s, const char *bck, const char *prefix, const char *start_after,
                  bool no_recursion, tgt_walk_it **out);
bool tgt_walk_next(tgt_walk_it *it, tgt_walk_entry *e);
void tgt_walk_close(tgt_walk_it *it);
/* The same as a loop calling fn for each entry (false stops it). */
typedef bool (*tgt_walk_fn)(void *ctx, const char *name, const char *fqn, bool is_dir);
int tgt_walk(const tgt_store *s, const char *bck, const char *prefix, const char *start_after,
             bool no_recursion, tgt_walk_fn fn, void *ctx);

/* ------------------------------------------------------------------- jobs */
/* A job's record. The registry (jobs.c) makes it, runs the job's function
 * on a thread with it and answers queries from it; the running job writes
 * its own counters and errors (job.c) without calling back into the
 * registry. */
#define TGT_JOB_ERRS_KEPT 16
typedef struct tgt_job {
    char id[CMN_UUID_LEN + 1];
    char kind[32];
    char *bck, *dst;
    int64_t start_ns, end_ns;   /* end 0 while running; under the registry's lock */
    _Atomic long long objs, bytes;
    _Atomic bool abort;
    _Atomic bool idle;
    pthread_mutex_t errs_mu;    /* nerrs, errs */
    int nerrs;
    char *errs[TGT_JOB_ERRS_KEPT];
    /* the registry's own, under its lock */
    pthread_t thread;
    bool joined;
    char *targets;              /* a cluster job: every target with a share, comma-separated; else NULL */
    void (*fn)(struct tgt_job *job, void *arg);
    void *arg;
    void (*free_arg)(void *);
    struct tgt_job *next;
} tgt_job;
typedef void (*tgt_job_fn)(tgt_job *job, void *arg);

/* Registers a job (visible to every job query at once) and runs fn(job, arg)
 * on its own thread; free_arg(arg) afterwards. Returns the job (owned by the
 * registry) or NULL. bck/dst may be NULL. */
tgt_job *tgt_job_start(const char *kind, const char *bck, const char *dst, tgt_job_fn fn, void *arg,
                       void (*free_arg)(void *));
/* The same with the id given (one every node derives alike: rebalance's; a
 * cluster job's share runs under the id the node asked made); an ended job
 * of that id is continued (its counters and errors kept). */
tgt_job *tgt_job_start_as(const char *id, const char *kind, const char *bck, const char *dst, tgt_job_fn fn,
                          void *arg, void (*free_arg)(void *));
/* A cluster job's targets (ids, comma-separated), kept with its share here so
 * that any node can ask each of them; tgt_job_targets: a copy, or NULL when
 * the job is unknown here or no cluster job. */
void tgt_job_set_targets(tgt_job *job, const char *targets);
char *tgt_job_targets(const char *id);
/* 0, or -ENOENT for an unknown id. */
int tgt_job_abort(const char *id);
/* JSON queries of /v1/cluster (see jobs.c for the shapes). NULL when nothing matches. */
cJSON *tgt_jobs_status(const char *id, const char *kind);          /* one Status */
cJSON *tgt_jobs_status_all(const char *kind, bool only_running);   /* [Status] */
cJSON *tgt_jobs_running(const char *kind);                         /* ["kind[id]"] */
int tgt_jobs_running_count(void);
cJSON *tgt_jobs_snaps(const char *id, const char *kind);           /* {node:[Snap]} */
/* Blocks until the job ends; returns false on timeout. */
bool tgt_job_wait(const char *id, int64_t timeout_ns);
/* Aborts every running job and joins their threads. */
void tgt_jobs_shutdown(void);
/* Registers a job that already ended (one found in the journal at start-up). */
void tgt_job_add_ended(const char *id, const char *kind, const char *bck, const char *dst, int64_t start_ns,
                       bool aborted, const char *err);

/* What a running job does to its own record: reads and counts are a field
 * each (inline, beside the record they touch); an error and lingering are
 * job.c's. */
static inline const char *tgt_job_id(const tgt_job *job) { return job->id; }
static inline void tgt_job_count(tgt_job *job, int64_t objs, int64_t bytes)
{
    atomic_fetch_add(&job->objs, objs);
    atomic_fetch_add(&job->bytes, bytes);
}
static inline bool tgt_job_aborted(const tgt_job *job) { return atomic_load(&job->abort); }
/* Demand jobs (copy/etl-listrange, archive) linger after their work: idle
 * ones are still listed as running but their snaps say is_idle. */
static inline void tgt_job_set_idle(tgt_job *job, bool idle) { atomic_store(&job->idle, idle); }
/* Records one error (the first few are kept, all are counted). */
void tgt_job_error(tgt_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keeps a demand job listed as running, idle, for a while after its work. */
#define TGT_JOB_LINGER_NS (2 * 1000000000LL)
void tgt_job_linger(tgt_job *job);

/* -------------------------------------------------------------------- hrw */
/* Placement as AIStore's (hrw.c): the digest of a target id, of an object's
 * uname, the weight of a (target, object) pair, and the index of the owner
 * among n target digests (-1 for none). */
uint64_t tgt_hrw_digest(const char *id);
uint64_t tgt_hrw_obj_digest(const char *bck, const char *obj);
uint64_t tgt_hrw_weight(uint64_t seed);
int tgt_hrw_owner(const uint64_t *node_digests, int n, uint64_t obj_digest);

/* ---------------------------------------------------------------- cluster */
/* Many targets as one cluster (docs/cluster.md): membership, buckets and ETLs
 * in etcd, every node keeps a versioned map of the targets and answers an
 * object request for an object another target owns with a 307 to it.
 * Without --etcd none of this runs (tgt_cluster_on() is false).
 *   cluster_map.c     the map: members, version, owner of an object, smap JSON
 *   cluster_member.c  registration under a lease, keep-alive, the watch
 *   cluster_route.c   the redirect of object requests
 *   cluster_bucket.c  buckets as etcd keys, mirrored into local directories
 *   cluster_lso.c     list-objects over every target, merged in name order
 *   cluster_etl.c     ETLs as etcd keys, each node running its own instance
 *   cluster_xfer.c    objects between targets: send one to another, fetch
 *                     one a neighbour holds ("get from neighbour")
 *   rebalance.c       on every new map version, each object moved to its owner
 *   cluster_jobs.c    offline jobs over every target: shares, outputs to owners, merged queries
 *   cluster_call.c    one request to each of several targets, in parallel
 *   cluster_summ.c    the bucket summary of every target, summed
 *   cluster_maint.c   maintenance, decommission and shutdown of a node */
typedef struct tgt_member {
    char id[64];
    char url[512];
    uint64_t digest; /* tgt_hrw_digest(id) */
    int flags;       /* TGT_SNODE_*: a target in maintenance owns nothing */
} tgt_member;
/* AIStore's Snode.Flags (core/meta/smap.go): in maintenance, and being
 * decommissioned (both set then) */
#define TGT_SNODE_MAINT (1 << 2)
#define TGT_SNODE_DECOMM (1 << 3)

/* Whether this node is one of a cluster: a flag the cluster's start sets and
 * its stop clears, read inline, so that a single node's requests ask it
 * without entering the cluster's files (callers test it before calling a
 * tgt_cluster_* check that would answer "no"). */
extern bool tgt_in_cluster;
static inline bool tgt_cluster_on(void) { return tgt_in_cluster; }
bool tgt_cluster_joined(void);      /* on, registered and the map read */
const char *tgt_cluster_self(void); /* this node's target id */
/* Registers this node, reads the map and starts the keep-alive and watch
 * threads (main.c); 0 or -errno with err saying why. */
int tgt_cluster_start(cmn_err *err);
/* Leaves the cluster (the lease revoked: everyone drops this node at once). */
void tgt_cluster_stop(void);
/* Leaves the map for good (decommission): the lease revoked and never
 * renewed again; the process stops after. 0 or -errno with err. */
int tgt_cluster_leave(cmn_err *err);
struct cmn_etcd *tgt_cluster_etcd(void);
/* The etcd key of kind ("meta", "targets/", "buckets/") and name; malloc'd. */
char *tgt_cluster_key(const char *kind, const char *name);

/* Buckets (cluster_bucket.c): the watch reports each bucket key change and,
 * after a fresh read, every bucket etcd holds. */
void tgt_cluster_bucket_seen(const char *name, bool deleted);
void tgt_cluster_buckets_sync(char **names, int n);
/* Create / destroy in etcd (CAS), then here: 0, or -EEXIST / -ENOENT, or
 * -EAGAIN when etcd cannot be reached, err saying why. */
int tgt_cluster_bucket_create(const char *bck, cmn_err *err);
int tgt_cluster_bucket_destroy(const char *bck, cmn_err *err);
/* A bucket missing here that etcd has: made here, true. */
bool tgt_cluster_bucket_fetch(const char *bck);
/* Every bucket of the cluster, sorted; 0 or -errno (etcd unreachable). */
int tgt_cluster_bucket_names(char ***names, int *n);

/* The map (cluster_map.c): a read-mostly snapshot, swapped whole on a change
 * (a request takes no lock); members sorted by id. */
void tgt_cmap_init(const char *uuid, const char *created);
void tgt_cmap_put(const char *id, const char *url, int64_t rev);
void tgt_cmap_del(const char *id, int64_t rev);
/* Replaces every member (a fresh read of etcd); takes the array. */
void tgt_cmap_reset(tgt_member *members, int n, int64_t rev);
/* The flags of node id (its maint/ID key: TGT_SNODE_*, 0 when deleted),
 * kept whether or not it is a member now; a change of a member's is a new
 * version of the map. reset: every key of a fresh read (ids, flags; n). */
void tgt_cmap_flags(const char *id, int flags, int64_t rev);
void tgt_cmap_flags_reset(char **ids, const int *flags, int n);
/* A copy of the members (free it) and the map's version. */
int tgt_cmap_members(tgt_member **out, int64_t *version);
int64_t tgt_cmap_version(void);
/* Whether another target owns bck/obj; then its URL into url (or the
 * whole member into out). */
bool tgt_cmap_owner_elsewhere(const char *bck, const char *obj, char *url, size_t len);
bool tgt_cmap_owner(const char *bck, const char *obj, tgt_member *out);
/* The targets to ask for bck/obj when this node lacks it: its owner under
 * the previous map first (unless this node), then every other member; a
 * malloc'd array (free it), and their number. */
int tgt_cmap_neighbours(const char *bck, const char *obj, tgt_member **out);
/* cmn_mono_ns of the map's last change; 0 before any. */
int64_t tgt_cmap_changed_ns(void);
/* The member id (its flags), false when not in the map. */
bool tgt_cmap_member(const char *id, tgt_member *out);

/* Objects between targets (cluster_xfer.c). A request with TGT_HDR_LOCAL_OBJ
 * is one target asking another about an object on its own disks: it is
 * never redirected and never fetched from a neighbour (the value says why:
 * "gfn", "rebalance", "rename", "copy"). A PUT with it may carry the
 * object's custom metadata as JSON in TGT_HDR_CUSTOM; a GET's answer does. */
#define TGT_HDR_LOCAL_OBJ "Ais-Etlfs-Local-Obj"
#define TGT_HDR_CUSTOM "Ais-Etlfs-Custom"
#define TGT_HDR_VERSION "Ais-Etlfs-Version" /* a rebalance's PUT: the object's version, kept */
struct tgt_req;
struct cmn_http_pool;
bool tgt_cluster_local_obj(struct tgt_req *r); /* the request has TGT_HDR_LOCAL_OBJ */
/* PUTs this node's bck/obj to target `to` as dbck/dobj, with its checksum
 * (verified there) and custom metadata. keep_theirs: a copy `to` already
 * holds is kept (rebalance: the owner's copy is at least as new) and
 * *bytes is 0. r (may be NULL) lends its client's token; without one, and
 * with --auth-secret, the node signs its own. 0, or -errno with err naming
 * both ends and the cause. */
int tgt_cluster_send(const tgt_member *to, struct tgt_req *r, const char *why, const char *bck, const char *obj,
                     const char *dbck, const char *dobj, bool keep_theirs, int64_t *bytes, struct cmn_http_pool *pool,
                     cmn_err *err);
/* A PUT between targets: its TGT_HDR_CUSTOM becomes the object's custom
 * metadata and its TGT_HDR_VERSION its version (object.c, before the
 * commit). */
void tgt_cluster_put_custom(struct tgt_req *r);
/* Rename and copy: when another target owns dbck/dobj, sends this node's
 * bck/obj there (0, *bytes sent, or -errno with err); 1 when the
 * destination is this node's to write. */
int tgt_cluster_place(struct tgt_req *r, const char *why, const char *bck, const char *obj, const char *dbck,
                      const char *dobj, int64_t *bytes, cmn_err *err);
/* Reads bck/obj from the disks of target `from` into a spool (an archive
 * gathering its members from their owners); 0, or -ENOENT when it has
 * none, or -errno, with err naming both. */
int tgt_cluster_fetch(const tgt_member *from, const char *why, const char *bck, const char *obj, cmn_spool *into,
                      cmn_err *err);
/* PUTs the local file path to target `to` as dbck/dobj (promote); with
 * keep_theirs an object `to` already holds is kept (*sent false). 0, or
 * -errno with err naming both. */
int tgt_cluster_send_file(const tgt_member *to, const char *why, const char *path, const char *dbck,
                          const char *dobj, bool keep_theirs, bool *sent, cmn_err *err);
/* Get from neighbour, at the top of an object read this node serves: when
 * it lacks bck/obj (the map changed and rebalance has not brought it yet),
 * asks the targets of tgt_cmap_neighbours in order and stores the first
 * copy found here. 0 (present now, or nowhere: the read answers 404), or
 * -errno with err when a neighbour that may hold it could not answer. */
int tgt_cluster_gfn(struct tgt_req *r, const char *bck, const char *obj, cmn_err *err);
/* Whether the target at url accepts connections: answered from a
 * recent probe, else a TCP connect bounded by a fraction of a second. 0, or
 * -errno with err saying it is unreachable (cluster_route.c). */
int tgt_cluster_reachable(const char *id, const char *url, cmn_err *err);

/* Rebalance (rebalance.c): the map tells it of every change (kick); after
 * a short settling time it runs one "rebalance" job per map version, id
 * "g" + the version (AIStore's form), which moves every object this node
 * holds but no longer owns to its owner, a few at a time; a change while
 * it runs aborts it and starts the next. start/stop: with the cluster. */
void tgt_rebalance_kick(void);
bool tgt_rebalance_running(void);
void tgt_rebalance_start(void);
void tgt_rebalance_stop(void);
cJSON *tgt_cluster_smap_json(void);
cJSON *tgt_snode_json(const char *id, const char *type, const char *url, int flags); /* cluster.c */
/* Decommission's end (rebalance.c, once this node moved everything): the
 * node leaves the map for good and stops (cluster_maint.c). */
void tgt_cluster_decommissioned(void);
int tgt_h_cluster_node(struct tgt_req *r); /* PUT /v1/cluster start-maintenance ... */

/* ETLs of a cluster (cluster_etl.c): one etcd key each (etl/NAME: the init
 * message and the state every target follows); each node runs its own
 * instance as the key says. A request with TGT_HDR_ETL_LOCAL is another
 * target asking about this node's instances alone; the node asked to init,
 * start, stop or delete names every target's state in TGT_HDR_ETL_TARGETS. */
#define TGT_HDR_ETL_LOCAL "Ais-Etlfs-Etl-Local"
#define TGT_HDR_ETL_TARGETS "Ais-Etlfs-Etl-Targets"
/* Whether the cluster answers r (on, and not another target asking). */
bool tgt_cluster_etl_here(struct tgt_req *r);
/* Reads the ETL keys, acts on them and follows them (after
 * tgt_cluster_start); end: before tgt_cluster_stop. */
int tgt_cluster_etl_begin(cmn_err *err);
void tgt_cluster_etl_end(void);
int tgt_cluster_etl_init(struct tgt_req *r);
int tgt_cluster_etl_set(struct tgt_req *r, const char *name, const char *action); /* "start", "stop", "delete" */
int tgt_cluster_etl_list(struct tgt_req *r, bool all);
int tgt_cluster_etl_node_view(struct tgt_req *r); /* the answer to TGT_HDR_ETL_LOCAL's list */
int tgt_cluster_etl_show(struct tgt_req *r, const char *name);
int tgt_cluster_etl_details(struct tgt_req *r, const char *name, const char *job);
int tgt_cluster_etl_logs(struct tgt_req *r, const char *name, const char *tid); /* tid NULL: every target */
int tgt_cluster_etl_health(struct tgt_req *r, const char *name);
int tgt_cluster_etl_metrics(struct tgt_req *r, const char *name);

/* list-objects of every target, merged (cluster_lso.c); a request with
 * this header is one of its parts: the target lists only its own objects. */
#define TGT_HDR_LSO_LOCAL "Ais-Etlfs-Lso-Local"
struct tgt_req;
int tgt_cluster_lso(struct tgt_req *r, const char *bck);
/* Calls fn (until it returns false) with the name of each object on target
 * m's own disks in bck under prefix, in name order, page by page (auth:
 * "Authorization: ..." or NULL); 0, or -errno with err naming m. */
int tgt_cluster_names(const tgt_member *m, const char *bck, const char *prefix, bool non_recurs, const char *auth,
                      bool (*fn)(void *ctx, const char *name), void *ctx, cmn_err *err);

/* One request to each of several targets, in parallel, each bounded
 * (cluster_call.c): fill m, known, method, url (malloc'd), body, hdrs
 * (NULL-terminated); tgt_pcall_all fills the rest; tgt_pcalls_free frees
 * url, json, text and the array. */
typedef struct tgt_pcall {
    tgt_member m;
    bool known;        /* in the map (a job's target may have left it) */
    const char *method;
    char *url;
    const char *body;
    size_t body_len;
    const char *hdrs[6];
    long status;       /* 0: no answer */
    cJSON *json;       /* a 2xx JSON answer */
    cmn_buf text;      /* a 2xx answer that is no JSON (a job id); cmn_buf_init it */
    cmn_err err;       /* why it failed, naming the target */
} tgt_pcall;
void tgt_pcall_all(tgt_pcall *cs, int n);
void tgt_pcalls_free(tgt_pcall *cs, int n);

/* The bucket summary of every target (cluster_summ.c): adds the others'
 * summaries of bck (under prefix) into this node's summ; 0, or -errno with
 * err naming a target that did not answer. A request with the header is
 * one of its parts: the target answers with its own summary only. */
#define TGT_HDR_SUMM_LOCAL "Ais-Etlfs-Summ-Local"
int tgt_cluster_summary(struct tgt_req *r, const char *bck, const char *prefix, cJSON *summ, cmn_err *err);

/* Offline jobs across the cluster (cluster_jobs.c). The node asked makes
 * the id, runs its share, and sends the same request with ?etlfs_job=ID (a
 * row of routes.c) and the job's targets to every other target, which runs
 * its share under that id. Queries and stop through any node ask every
 * target of the job with TGT_HDR_JOB_LOCAL (this node's share only) and
 * merge the answers. */
#define TGT_Q_JOB_SHARE "etlfs_job"
#define TGT_HDR_JOB_TARGETS "Ais-Etlfs-Job-Targets"
#define TGT_HDR_JOB_LOCAL "Ais-Etlfs-Job-Local"
int tgt_h_job_share(struct tgt_req *r);
/* Every member's id, comma-separated (the targets of a job starting now). */
char *tgt_cjob_members(void);
/* Sends r (a copy/transform request) as job id's share to every other
 * target of targets; 0, or -errno with err when one refused it (one that
 * did not answer is only logged: its share is reported failed). */
int tgt_cjob_share(struct tgt_req *r, const char *id, const char *targets, const char *dst, cmn_err *err);
/* The node asked, in a cluster: job id's share goes to every other target of
 * it, with dst (the destination bucket, or NULL when the shares need none).
 * job is the job just started here (every member becomes its target), or
 * NULL when the request was added to a running job (its targets). Replies
 * with the id, or with the refusal (a new job then aborted everywhere). */
int tgt_cjob_spread(struct tgt_req *r, const char *kind, const char *id, const char *dst, tgt_job *job);
/* A job whose shares need no destination in their query (delete-listrange,
 * archive: in the body) started and replied to: the share of a cluster job
 * when r names one (?etlfs_job, checked before), else a new job, spread in
 * a cluster. arg is freed with free_arg when the job cannot start. */
int tgt_cjob_start(struct tgt_req *r, const char *kind, const char *bck, const char *dst, tgt_job_fn fn, void *arg,
                   void (*free_arg)(void *));
/* GET /v1/cluster?what= status, status_all, running_all, qryxstats of
 * every target, merged; PUT stop to every target. Reply. */
int tgt_cjob_query(struct tgt_req *r, const char *what);
int tgt_cjob_stop(struct tgt_req *r);
/* Whether another target's share of job id is still working (not idle). */
bool tgt_cjob_busy(const char *id, const char *auth);
/* Aborts job id on every one of its targets (auth: "Authorization: ..." or NULL). */
void tgt_cjob_abort_all(const char *id, const char *auth);
/* An output PUT to the target that owns it, its body written as it is made
 * (open NULL: no pipe or thread); commit sends the end and reports the
 * owner's answer (0 or -errno, err naming the object and the owner); abort
 * makes the request fail, so the owner stores nothing. Frees p. */
typedef struct tgt_rput tgt_rput;
tgt_rput *tgt_rput_open(const char *owner, const char *bck, const char *obj, const char *auth);
int tgt_rput_write(tgt_rput *p, const void *buf, size_t len);
int tgt_rput_commit(tgt_rput *p, const char *bck, const char *obj, cmn_err *err);
void tgt_rput_abort(tgt_rput *p);
/* A local file PUT as bck/obj on owner; 0 or -errno with err; out (if
 * given): the size, version and checksum the owner stored. */
int tgt_rput_file(const char *owner, const char *bck, const char *obj, const char *fqn, const char *auth,
                  tgt_objmeta *out, cmn_err *err);

/* server.c, on a request's first call: an object request for an object this
 * node does not own is answered 307 to its owner (true: replied). */
struct tgt_req;
bool tgt_cluster_redirect(struct tgt_req *r);
/* What a redirect token is bound to: "METHOD /v1/objects/B/O?QUERY" as the
 * redirect's Location names it, the token's own parameter left out; NULL
 * when r is not an object request. malloc'd. */
char *tgt_cluster_redirect_bind(struct tgt_req *r);
/* Appends r's query to b ('?' or '&' as b needs), escaped, leaving out the parameter skip. */
void tgt_query_copy(struct tgt_req *r, cmn_buf *b, const char *skip);

/* ------------------------------------------------------------------ server */
typedef struct tgt_config {
    char listen_host[256];
    int port;
    char public_url[512];   /* what the smap advertises */
    int threads;            /* event threads: parse requests, serve what never waits (server.c) */
    int workers;            /* worker threads: handlers that may wait (ETLs, other servers, long work) */
    size_t max_body;        /* bodies of control messages */
    char etl_dir[4096];     /* etl install dir (runtimes, transformers, images.conf) */
    char *promote_roots[16]; /* --promote-root: resolved (realpath) dirs promote may read; none = off */
    int npromote_roots;
    char *auth_secret;      /* HS256 key of AuthN tokens; NULL = no authentication */
    size_t auth_secret_len;
    char *tls_cert;         /* PEM contents; both NULL = plain HTTP */
    char *tls_key;
    char *etcd;             /* --etcd endpoints; NULL = one node, no cluster */
    char cluster[128];      /* --cluster NAME: the key prefix in etcd */
    char node_id[64];       /* --id, else kept in the first mountpath */
    int64_t upload_idle_ns; /* an unflushed append or unfinished multipart upload idle this long is dropped */
} tgt_config;

typedef struct tgt_server {
    tgt_config cfg;
    tgt_store store;
    etl_registry *etl;
    struct MHD_Daemon *mhd;
    struct MHD_Daemon *mhd_etl; /* ETL callbacks (/v1/etl/_object/), see tgt_server_start_etl */
    char etl_url[64];           /* its URL, the base of AIS_TARGET_URL */
    int64_t started_ns;
    char smap_uuid[CMN_UUID_LEN + 1];
} tgt_server;

extern tgt_server *tgt; /* the one server of this process */

/* The loopback listener ETL processes call back on (AIS_TARGET_URL): one
 * thread per connection, so an ETL fetching an object is never queued behind
 * the inline transform that waits for it on a busy worker of the main pool.
 * Started before the ETL registry, which needs its URL (s->etl_url). */
int tgt_server_start_etl(tgt_server *s);

/* One HTTP request, as the handlers see it. */
typedef int (*tgt_handler)(struct tgt_req *r);
typedef struct tgt_req {
    struct MHD_Connection *conn;
    const char *method;
    char *url;         /* decoded path as received, for messages */
    char *path;        /* decoded path, split in place into items */
    char *items[8];    /* path items after "/v1/", empty items dropped */
    int nitems;
    const char *obj;   /* object name: decoded remainder after /v1/objects/B/ */
    cmn_buf body;      /* request body (not for streamed PUTs) */
    cJSON *msg;        /* body parsed as JSON when it is JSON, else NULL */
    bool responded;
    bool loopback;     /* client is on this node */
    bool from_etl;     /* arrived on the ETL callback listener */
    bool no_query;     /* counted no query parameters: tgt_query looks for none (server.c) */
    cmn_claims *claims; /* the verified token, with --auth-secret (auth.c) */
    /* streamed PUT: an object, an append, a part of a multipart upload (server.c
     * starts it; the handler of its row ends it) */
    bool streaming;
    int stream_err;    /* errno of the first failed write; the work file is gone then */
    char *stream_why;  /* the refusal to reply once a refused body is drained (server.c) */
    char put_bck[256];
    char *put_obj;
    char put_ref[64];  /* the append handle or upload id the body belongs to */
    int put_part;      /* a multipart upload's part number */
    int (*put_end)(struct tgt_req *r);            /* its row's handler: ends it */
    const struct tgt_stream *put_kind;            /* its start and cancel (server.c) */
    int64_t started_ns;
    int status;        /* the reply's status, once queued (metrics) */
    int64_t bytes;     /* object bytes the handler moved (metrics) */
    /* where its handler runs (server.c): may_wait is set by its row (routes.c);
     * a handler on a worker leaves its reply in held for the event thread */
    bool may_wait;
    bool on_worker;
    bool deferred;     /* its handler asked to run on a worker (tgt_defer) */
    bool suspended;    /* its handler suspended it for another thread's reply (tgt_suspend) */
    void *pend;        /* what a suspended request's handler on a worker takes over (its file's type) */
    struct MHD_Response *held;
    tgt_handler run;
    struct tgt_req *next; /* the workers' queue */
    /* last: a new request zeroes everything before the writer's 8 KiB of
     * paths (server.c), which only a streamed PUT's open fills */
    tgt_writer writer;
} tgt_req;

/* A thread's spares (reuse.c): a request's struct (uninitialised; the caller
 * zeroes it) and a buffer of TGT_BODY_BUF bytes for a small reply's body;
 * dropping either may happen on any thread. tgt_body_buf_drop fits
 * libmicrohttpd's free callback. */
#define TGT_BODY_BUF (64 * 1024)
tgt_req *tgt_req_new(void);
void tgt_req_drop(tgt_req *r);
void *tgt_body_buf_new(void);
void tgt_body_buf_drop(void *buf);

/* ---------------------------------------------------------------- metrics */
/* Counters with AIStore's names (metrics.c); GET /metrics shows them. */
enum tgt_metric {
    TGT_M_GET_N, TGT_M_GET_SIZE, TGT_M_GET_NS, TGT_M_PUT_N, TGT_M_PUT_SIZE, TGT_M_PUT_NS,
    TGT_M_HEAD_N, TGT_M_DEL_N, TGT_M_LST_N,
    TGT_M_ERR_GET_N, TGT_M_ERR_PUT_N, TGT_M_ERR_HEAD_N, TGT_M_ERR_DEL_N, TGT_M_ERR_LST_N,
    TGT_M_ERR_HTTP_N, TGT_M_HTTP_N,
    TGT_M_ETL_INLINE_N, TGT_M_ETL_INLINE_SIZE, TGT_M_ETL_INLINE_NS, TGT_M_ETL_INLINE_ERR_N,
    TGT_M_ETL_OFFLINE_N, TGT_M_ETL_OFFLINE_SIZE, TGT_M_ETL_OFFLINE_NS, TGT_M_ETL_OFFLINE_ERR_N,
    TGT_M_JOBS_N,
    TGT_M__N
};
void tgt_metric_add(enum tgt_metric m, int64_t v);
int64_t tgt_metric_get(enum tgt_metric m);
/* One completed request, counted by method, resource and status. */
void tgt_metrics_request(tgt_req *r);
int tgt_h_metrics_get(tgt_req *r); /* GET /metrics */

int tgt_server_start(tgt_server *s);
/* For a handler that finds it must wait (a neighbour's object, etcd) while on
 * an event thread: true when it should return MHD_YES at once without a
 * reply, to be run again from the start on a worker (server.c's dispatch
 * sees the flag). Only a flag: the handler's file never calls the server. */
static inline bool tgt_defer(tgt_req *r)
{
    if (r->on_worker || r->from_etl || r->deferred || r->responded)
        return false;
    r->deferred = true;
    return true;
}
/* A response's content reader runs on an event thread and must not block:
 * with nothing to send it parks its connection and returns 0; whoever makes
 * the next bytes unparks it (at most once per park). The server's stop waits
 * for every parked connection. */
void tgt_park(struct MHD_Connection *conn);
void tgt_unpark(struct MHD_Connection *conn);
/* A handler on an event thread that starts work another thread finishes
 * (an inline transform over ws://) suspends its request and returns
 * MHD_YES; the other thread replies (tgt_reply holds the reply) and calls
 * tgt_resume, or hands it to a worker that runs h (which replies), false
 * when the workers stop (then reply and resume). The server's stop waits
 * for suspended requests, as for parked ones. r->pend carries what h needs. */
void tgt_suspend(tgt_req *r);
/* MHD_resume_connection, and a wake of the event thread that runs the
 * connection's daemon when called from another thread (server.c). */
void tgt_resume_conn(struct MHD_Connection *conn);
void tgt_resume(tgt_req *r);
bool tgt_resume_on_worker(tgt_req *r, tgt_handler h);
/* Adds d to the count of parked and suspended connections and returns it
 * (suspend.c; d = 0 reads it). */
int tgt_parked_add(int d);
void tgt_server_stop(tgt_server *s);

/* ------------------------------------------------------ append, multipart */
/* Object bodies that arrive over several requests (append.c, multipart.c):
 * their work files live in MP/.etlfs/tmp (dropped at start-up) and between
 * requests in a table; one idle for longer than cfg.upload_idle_ns is
 * dropped by the sweeper (sweeper.c), and all are at shutdown.
 *
 * Their PUTs stream like an object's (server.c): start checks what it can
 * before the body, points r->writer at the work file and returns true, or
 * replies and returns false (the reply's result in *ret); the row's handler
 * ends the request; cancel releases what start took when the request ends
 * before that (the client went away). */
bool tgt_append_start(tgt_req *r, int *ret);
void tgt_append_cancel(tgt_req *r);
bool tgt_mpt_part_start(tgt_req *r, int *ret);
void tgt_mpt_part_cancel(tgt_req *r);
#define TGT_APPEND_MAX 256        /* appends in progress (each holds an open work file) */
#define TGT_MPT_MAX_UPLOADS 1024  /* multipart uploads in progress */
#define TGT_MPT_MAX_PARTS 10000   /* part numbers 1..this (S3's limit) */
/* Drops the appends / uploads no request has used since idle_before_ns
 * (cmn_mono_ns clock; INT64_MAX: every one not in use). */
void tgt_append_sweep(int64_t idle_before_ns);
void tgt_mpt_sweep(int64_t idle_before_ns);
/* The thread that sweeps both; stop joins it and drops what is left. */
void tgt_sweeper_start(void);
void tgt_sweeper_stop(void);

/* -------------------------------------------------------------------- auth */
/* What a route needs (the acc column of routes.c): AIStore's access bits
 * (common/jwt.h) on the bucket of the path, or on the cluster when it names
 * none; 0 = any valid token. Two flags that are no access bits: */
#define TGT_ACC_PUBLIC (1ull << 62) /* no token at all (health) */
#define TGT_ACC_ETL (1ull << 63)    /* an ETL's callback: on the ETL listener its secret is the
                                     * credential; on the main one only an admin may */
/* etlfs keeps these to admins (AIStore lets a cluster ACL grant them). */
#define TGT_ACC_CREATE_BUCKET CMN_ACE_ADMIN
#define TGT_ACC_DESTROY_BUCKET CMN_ACE_ADMIN
#define TGT_ACC_PROMOTE CMN_ACE_ADMIN
/* Where a request names the bucket it writes into (the dst column); that
 * bucket needs PUT, and creating it if it is missing. */
enum tgt_dst {
    TGT_DST_NONE,
    TGT_DST_BCK_TO,         /* ?bck_to=, else the path's bucket */
    TGT_DST_BCK_TO_OR_NAME, /* ?bck_to=, else the message's "name" */
    TGT_DST_TOBCK,          /* the value's "tobck", else ?bck_to=, else the path's bucket */
    TGT_DST_OBJECT_TO,      /* the bucket of ?object_to= (an object's uname) */
};
/* Whether tokens are checked (--auth-secret); inline for the same reason as
 * tgt_cluster_on: without it a request never enters auth.c. */
static inline bool tgt_auth_on(void) { return tgt->cfg.auth_secret != NULL; }
/* First call of a request: verifies its bearer token unless auth is off or
 * the route is open (tgt_route_open). false when a 401 was queued. */
bool tgt_auth_identify(tgt_req *r, bool open);
/* Whether the token allows acc (and the destination's PUT); false when a
 * 401/403 was queued. Called by tgt_route for the row it found. */
bool tgt_auth_allow(tgt_req *r, uint64_t acc, enum tgt_dst dst);
void tgt_auth_free(tgt_req *r);
/* A client following a 307 to another host drops its Authorization header
 * (libcurl, requests): the redirecting node adds a token to the Location's
 * query that holds the caller's claims, expires within seconds and is good
 * for bind (tgt_cluster_redirect_bind) only; the owner takes it in place of
 * the bearer token. NULL when authentication is off. malloc'd. */
#define TGT_QUERY_REDIRECT_TOKEN "etlfs_rtoken"
char *tgt_auth_redirect_token(tgt_req *r, const char *bind);

/* ------------------------------------------------------------------- reply */
const char *tgt_query(tgt_req *r, const char *key);  /* NULL when absent */
const char *tgt_header(tgt_req *r, const char *key);
/* Queue responses; each returns MHD_YES/MHD_NO as an int. */
int tgt_reply_empty(tgt_req *r, int status);
int tgt_reply_text(tgt_req *r, int status, const char *text);
int tgt_reply_json(tgt_req *r, int status, cJSON *json); /* consumes json */
int tgt_reply_buf(tgt_req *r, int status, const char *ctype, const void *data, size_t len);
/* AIStore's JSON error body (Hdr-Error for HEAD). */
int tgt_reply_err(tgt_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with one more header. */
int tgt_reply_err_hdr(tgt_req *r, int status, const char *hdr, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Queues a response the handler built (headers and all) and releases it. */
struct MHD_Response;
int tgt_reply(tgt_req *r, int status, struct MHD_Response *resp);
/* The replies of a ranged read (object.c): 416 for a bad range; resp as 206 for rr 1, else 200. */
int tgt_reply_range_bad(tgt_req *r, int64_t size);
int tgt_reply_range(tgt_req *r, struct MHD_Response *resp, int rr, int64_t off, int64_t len, int64_t size);

/* The body as JSON (msg.c): parsed strictly into r->msg, and every field a
 * handler reads checked for its type. 0 (r->msg NULL for no body), or
 * -EINVAL with err naming what is malformed or which field has which wrong type. */
int tgt_msg_parse(tgt_req *r, cmn_err *err);

/* Helpers for JSON bodies and bucket args. */
const char *tgt_msg_action(tgt_req *r);  /* ActMsg "action", or "" */
cJSON *tgt_msg_value(tgt_req *r);        /* ActMsg "value", or NULL */
/* Validates bucket name, provider (ais only) and existence; replies the error
 * and returns false when the request cannot go on. */
bool tgt_check_bucket(tgt_req *r, const char *bck, bool must_exist);
/* The bucket exists and the object's name is valid; else replies and false. */
bool tgt_check_object(tgt_req *r, const char *bck, const char *obj);
/* The names alone, without the disk (a read whose open answers for the
 * bucket): true when they are valid; an invalid one takes tgt_check_object's
 * checks, so the answer is theirs. False when a reply was queued. */
bool tgt_check_names(tgt_req *r, const char *bck, const char *obj);
/* A query flag as Go's strconv.ParseBool reads it: "true", "1", "t" (any case). */
bool tgt_query_true(tgt_req *r, const char *name);
/* Parses a "bck_to" uname (ais/@#/NAME/) into name; false when malformed. */
bool tgt_parse_uname_bucket(const char *uname, char *name, size_t len);
/* AIStore's object uname "ais/@#/BUCKET/OBJECT": the bucket into name, and
 * the object's name returned (a pointer into uname); NULL when it is not one. */
const char *tgt_parse_uname_object(const char *uname, char *name, size_t len);
/* Prints an int64 as a raw JSON number (cJSON doubles lose digits past 2^53). */
cJSON *tgt_json_int(int64_t v);
cJSON *tgt_json_str_int(int64_t v); /* as a JSON string */

/* ---------------------------------------------------------------- offline */
/* The job layer's shared parts (selection.c, tcb.c, offline.c, etl_store.c,
 * journal.c); the actions built on them are the tgt_act_* functions below. */

/* Which objects a multi-object request names (AIStore's ListRange): a list
 * of names, a bash-brace template ("a-{0..9..2}-b", ranges expanded in
 * order), or a prefix (a template without ranges; "" = every object). */
#define TGT_SEL_MAX_NAMES 1000000 /* the most names a template may generate */
typedef struct tgt_sel {
    char **names; /* objnames, or NULL */
    int nnames;
    char **dsts;  /* with names: the destination name of each (dst_names), or NULL */
    char *tmpl;   /* template with at least one range, or NULL */
    char *prefix; /* walk mode when names and tmpl are NULL */
    bool non_recurs; /* walk mode: only the prefix's own objects, not its sub-directories' (5.0 "non-recurs") */
} tgt_sel;

/* Parses "objnames"/"template" of value; -EINVAL with why filled. */
int tgt_sel_parse(const cJSON *value, tgt_sel *sel, char *why, size_t whylen);
/* etlfs extension: "dst_names", the destination name of each of "objnames"
 * (same length, only with objnames); -EINVAL with why filled. Absent or
 * null: sel->dsts stays NULL. */
int tgt_sel_parse_dsts(const cJSON *value, tgt_sel *sel, char *why, size_t whylen);
void tgt_sel_prefix(tgt_sel *sel, const char *prefix); /* walk mode */
void tgt_sel_free(tgt_sel *sel);
/* Calls fn for each selected name in order. listed is true when the name
 * was given by the client (a missing object is then an error) rather than
 * found by a walk or generated by a range (missing ones are skipped).
 * fn returns false to stop. */
typedef bool (*tgt_sel_fn)(void *ctx, const char *name, bool listed);
void tgt_sel_each(const tgt_sel *sel, const char *bck, tgt_sel_fn fn, void *ctx);

#define TGT_TCB_MAX_WORKERS 64
/* A copy or transform of objects into another bucket (copy-bck, etl-bck,
 * copy-listrange, etl-listrange), parsed from a TCBMsg value; malloc'd. */
typedef struct tgt_tcb {
    char src[256], dst[256];
    char etl[256];          /* "" for a plain copy */
    char *pipeline[ETL_PIPELINE_MAX]; /* later stages (AIStore 5.0 "pipeline") */
    size_t npipeline;
    char *etl_args;         /* forwarded to every stage; NULL: none */
    int64_t timeout_ns;     /* per-object ETL call, 0 = the ETL's default */
    char *prepend;
    int next;
    char *ext_old[16], *ext_new[16];
    char *ext_all;          /* a string "ext": the new extension of every output */
    char *suffix;           /* only sources whose names end with it */
    bool dry_run;
    bool coer;              /* 5.0's continue-on-error: recorded; a failed object never stops a job here */
    int workers;
    tgt_sel sel;
} tgt_tcb;

/* Parses value into a zeroed t (sel is left to the caller); 0, or -EINVAL
 * with why filled. */
int tgt_tcb_parse(const cJSON *value, bool etl, tgt_tcb *t, char *why, size_t whylen); /* tcb.c */
void tgt_tcb_free(tgt_tcb *t); /* and t itself */
/* The value of copy-listrange / etl-listrange into a zeroed t: tgt_tcb_parse,
 * the selection and its dst_names; 0, or -EINVAL with why filled
 * (multiobj.c). The destination bucket is the caller's. */
int tgt_listrange_parse(const cJSON *value, bool etl, tgt_tcb *t, char *why, size_t whylen);
/* The destination name of source object name: prepend + the name with its
 * extension mapped; malloc'd. */
char *tgt_tcb_dst_name(const tgt_tcb *t, const char *name);
cJSON *tgt_etl_name_filled(tgt_req *r, const cJSON *value, char *why, size_t whylen);
/* Checks what must fail synchronously (same bucket, unknown ETL), creates
 * the destination, starts the job and replies with its id (or the error).
 * Takes t (freed once its work is done). demand: the job lingers idle (see
 * jobs), and a request with the same kind, buckets, ETL and dry_run that
 * comes before it has ended is added to it (the reply is its id). */
int tgt_tcb_start(tgt_req *r, const char *kind, tgt_tcb *t, bool demand); /* tcbstart.c */
/* The engine (offline.c) as its starter (tcbstart.c) sees it. A run is one
 * job's work: made with the request's first part, run by tgt_tcb_job on the
 * job's thread (tgt_tcb_run_free its free_arg). The starter holds a
 * reference until it lets go (tgt_tcb_run_put; job_never_ran: the job's
 * thread could not start, its reference is gone too). Demand runs take more
 * parts while they run: under the runs' lock, a request is added to a
 * running one (tgt_tcb_add_to_running: true with id set) or a new one is
 * listed for the next (tgt_tcb_run_list). */
typedef struct tcb_run tcb_run;
tcb_run *tgt_tcb_run_new(const char *kind, tgt_tcb *t, etl_chain *h, bool demand, bool cluster, bool coordinator,
                         const char *auth);
void tgt_tcb_job(tgt_job *job, void *run);
void tgt_tcb_run_free(void *run);
void tgt_tcb_run_put(tcb_run *run, bool job_never_ran);
void tgt_tcb_runs_lock(void);
void tgt_tcb_runs_unlock(void);
bool tgt_tcb_add_to_running(const char *kind, tgt_tcb *t, etl_chain *h, const char *share, char *id);
void tgt_tcb_run_list(tcb_run *run, tgt_job *job, const char *id);
/* Runs obj through ETL h into dst/dname with the atomic writer (dry_run:
 * only counts); *bytes = output size. 0, or -errno with err saying which ETL
 * and object (the ETL's failures) or which output (a failed write); a failed
 * output is never stored. */
int tgt_etl_store(const etl_chain *h, const etl_object *obj, const char *dst, const char *dname, int64_t timeout_ns,
                  bool dry_run, int64_t *bytes, tgt_objmeta *out, tgt_batch *batch, cmn_err *err);
/* tgt_etl_store (here, not a dry run) with no thread held while the ETL
 * works: 0 when started, and done(ctx, rc, bytes, err) is then called once,
 * on another thread, with what tgt_etl_store would have returned; -EAGAIN
 * when the chain or its connections cannot take it now (nothing started:
 * call tgt_etl_store). obj's strings and dname must live until done. mem:
 * tgt_etl_store_op_size() bytes (aligned as malloc's) that the caller keeps
 * until done and may reuse after it (a job's object after object: its
 * state is made on one thread and ends on another, where malloc would not
 * recycle it), or NULL: allocated here. */
typedef void (*tgt_etl_store_done)(void *ctx, int rc, int64_t bytes, const cmn_err *err);
size_t tgt_etl_store_op_size(void);
int tgt_etl_store_start(const etl_chain *h, const etl_object *obj, const char *dst, const char *dname,
                        int64_t timeout_ns, tgt_batch *batch, void *mem, tgt_etl_store_done done, void *ctx);
/* The same into dst/dname on owner, another target of the cluster (a
 * streamed PUT; auth: "Authorization: ..." or NULL). */
int tgt_etl_store_to(const etl_chain *h, const etl_object *obj, const char *owner, const char *auth, const char *dst,
                     const char *dname, int64_t timeout_ns, int64_t *bytes, cmn_err *err);

/* Journal of running jobs (MP0/.etlfs/jobs/ID): a job found there at
 * start-up was cut short by a crash and is registered as aborted. */
void tgt_journal_add(tgt_job *job, const char *kind, const char *bck, const char *dst);
void tgt_journal_remove(tgt_job *job);
void tgt_journal_recover(const tgt_store *s);

/* ------------------------------------------------------------------ routes */
/* The handler of r's row once the token allows what the row needs; NULL
 * when none (a 405 or the 401/403 may have been queued: r->responded). */
tgt_handler tgt_route(tgt_req *r);
/* Whether r's path and method are open without a token (health; an ETL's
 * callback on the ETL listener): decided on a request's first call. */
bool tgt_route_open(tgt_req *r);

/* Handlers, by file, in the table's order (routes.c); each replies once and
 * returns what the reply returned. */
int tgt_h_action_invalid(tgt_req *r);         /* routes.c */
int tgt_h_what_invalid(tgt_req *r);
int tgt_h_object_put(tgt_req *r);             /* the end of a streamed object PUT */
int tgt_h_health_get(tgt_req *r);             /* cluster.c */
int tgt_h_smap_get(tgt_req *r);
int tgt_h_sysinfo_get(tgt_req *r);
int tgt_h_daemon_what_invalid(tgt_req *r);
int tgt_h_job_status(tgt_req *r);
int tgt_h_jobs_status_all(tgt_req *r);
int tgt_h_jobs_running(tgt_req *r);
int tgt_h_jobs_snaps(tgt_req *r);
int tgt_h_job_stop(tgt_req *r);
int tgt_h_job_start(tgt_req *r);              /* jobstart.c */
int tgt_h_buckets_list(tgt_req *r);           /* bucket.c */
int tgt_h_bucket_summary(tgt_req *r);
int tgt_h_bucket_action_invalid(tgt_req *r);
int tgt_h_bucket_head(tgt_req *r);
int tgt_h_bucket_create(tgt_req *r);
int tgt_h_bucket_copy(tgt_req *r);
int tgt_h_bucket_transform(tgt_req *r);
int tgt_h_bucket_move(tgt_req *r);
int tgt_h_bucket_destroy(tgt_req *r);
int tgt_h_bucket_evict(tgt_req *r);
int tgt_h_bucket_archive(tgt_req *r);
int tgt_h_bucket_props_set(tgt_req *r);
int tgt_h_objects_list(tgt_req *r);           /* lso.c */
int tgt_h_objects_copy(tgt_req *r);           /* multiobj.c: list/range */
int tgt_h_objects_transform(tgt_req *r);
int tgt_h_objects_delete(tgt_req *r);
int tgt_h_objects_evict(tgt_req *r);
int tgt_h_object_get(tgt_req *r);             /* object.c */
int tgt_h_object_head(tgt_req *r);
int tgt_h_object_delete(tgt_req *r);
int tgt_h_object_put_done(tgt_req *r);        /* end of a streamed PUT (server.c) */
int tgt_h_object_rename(tgt_req *r);
int tgt_h_object_copy(tgt_req *r);
int tgt_h_object_patch(tgt_req *r);
int tgt_h_object_copy_to(tgt_req *r); /* copyobj.c: PUT ?object_to= (AIStore 5.0) */
int tgt_h_object_append(tgt_req *r);  /* append.c: the end of PUT ?append_type= (append, flush) */
int tgt_h_mpt_create(tgt_req *r);     /* multipart.c: POST mpt-upload */
int tgt_h_mpt_part_put(tgt_req *r);   /* the end of PUT ?uploadId=&partNumber= */
int tgt_h_mpt_complete(tgt_req *r);   /* POST mpt-complete ?uploadId= */
int tgt_h_mpt_abort(tgt_req *r);      /* DELETE mpt-abort ?uploadId= */
int tgt_h_object_action_invalid(tgt_req *r);
int tgt_h_objects_promote(tgt_req *r);
int tgt_h_etl_object_get(tgt_req *r);         /* etl_callback.c: /v1/etl/_object/SECRET/UNAME */
int tgt_h_etl_object_head(tgt_req *r);
int tgt_h_etl_init(tgt_req *r);               /* etl_rest.c: /v1/etl */
int tgt_h_etl_list(tgt_req *r);
int tgt_h_etl_show(tgt_req *r);
int tgt_h_etl_logs(tgt_req *r);
int tgt_h_etl_details(tgt_req *r);
int tgt_h_etl_health(tgt_req *r);
int tgt_h_etl_metrics(tgt_req *r);
int tgt_h_etl_start(tgt_req *r);
int tgt_h_etl_stop(tgt_req *r);
int tgt_h_etl_delete(tgt_req *r);
int tgt_h_etl_invalid(tgt_req *r);
/* Inline transform of an object (GET ?etl_name=; etl_inline.c). */
int tgt_etl_inline(tgt_req *r, const char *bck, const char *obj); /* ?etl_name=[&etl_pipeline=&etl_args=] */
/* The ETL chain a request names in its query (etl_name, etl_pipeline,
 * etl_args), referenced; NULL with err (404 unknown, 400 bad). */
etl_chain *tgt_etl_from_query(tgt_req *r, cmn_err *err);

/* Files inside archived objects (archread.c): .tar, .tgz/.tar.gz, .zip, .tar.lz4. */
bool tgt_arch_named(const char *name); /* by the name's extension, as AIStore lists */
/* libarchive converts names through the thread's locale, and the target runs
 * in "C": code that hands libarchive UTF-8 names runs between these (the
 * thread under C.UTF-8, then its locale back). */
locale_t tgt_utf8_on(void);
void tgt_utf8_off(locale_t old);
/* GET ?archpath=F (that file's bytes) or ?archregx=E&archmode=M (a TAR of the
 * matching files); replies. */
int tgt_arch_get(tgt_req *r, const char *bck, const char *obj);
/* list-objects' ARCH_DIR: archived files ("ARCHIVE/FILE") queued in name
 * order, each starting with prefix and sorting after after; init also
 * queues those of the archives the walk will not visit (the token or the
 * prefix reaches into them). */
typedef struct tgt_arch_entry {
    char *name;
    int64_t size;
} tgt_arch_entry;
typedef struct tgt_arch_ls {
    tgt_arch_entry *ents;
    int n, cap, next;
    char *prefix, *after;
    char *taken[8]; /* archives queued by init */
    int ntaken;
} tgt_arch_ls;
void tgt_arch_ls_init(tgt_arch_ls *ls, const tgt_store *s, const char *bck, const char *prefix, const char *after);
/* Queues the files of archive object name (its file fqn): 0, -EINVAL when
 * it is not named as an archive or is none, -errno/-EIO when unreadable. */
int tgt_arch_ls_add(tgt_arch_ls *ls, const char *fqn, const char *name);
/* The next queued file if its name sorts before before (NULL: any), or NULL. */
const tgt_arch_entry *tgt_arch_ls_next(tgt_arch_ls *ls, const char *before);
void tgt_arch_ls_free(tgt_arch_ls *ls);

/* Bucket actions implemented by the offline/multi-object layer (copybck.c,
 * multiobj.c), called by the handlers once the bucket is checked. Each
 * replies itself. */
int tgt_act_copy_bck(tgt_req *r, const char *src, cJSON *value, bool etl);
int tgt_act_move_bck(tgt_req *r, const char *src);
int tgt_act_archive(tgt_req *r, const char *src, cJSON *value);
/* Reading an archive to append to it (archive.c): a libarchive reader of the
 * formats etlfs writes, and the copy of every member of in into out (buf is
 * scratch of buflen bytes); 0 or -EIO (the archives' error strings say why). */
struct archive;
struct archive *tgt_archive_reader_new(void);
int tgt_archive_copy_members(struct archive *in, struct archive *out, char *buf, size_t buflen);
int tgt_act_promote(tgt_req *r, const char *bck);
int tgt_act_copy_obj(tgt_req *r, const char *bck, const char *obj);

#endif

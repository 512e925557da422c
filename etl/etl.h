/*
 * etl.h - the map of the ETL service, the library the target links.
 *
 * The registry owns every ETL defined on this node: its init message, its
 * processes (local runtime) and its counters. The target calls into it for
 * the /v1/etl REST API and to run objects through a transform; it never sees
 * processes, ports or communicators.
 */
#ifndef ETLFS_ETL_H
#define ETLFS_ETL_H

#include "common/cmn.h"

#include <stdint.h>
#include <xxhash.h>

typedef struct etl_registry etl_registry;

typedef struct etl_config {
    const char *node_id;      /* this node's id, shown as target_id in logs/health/metrics */
    const char *target_url;   /* this target's public URL, e.g. "http://127.0.0.1:8080" */
    const char *state_dir;    /* per-ETL state (init message, code, venv, logs) lives here */
    const char *install_dir;  /* folder holding runtimes/, transformers/ and images.conf
                                 (the source tree's etl/ or an installed copy) */
    const char *run_as_user;  /* ETL processes drop to this user when we are root; NULL = "nobody" */
    const char *const *mountpaths; /* NULL-terminated: what an ETL may read (fqn) */
    int64_t memory_limit;     /* bytes per ETL (its whole process tree), 0: the default */
    int pids_limit;           /* processes and threads per ETL, 0: the default */
} etl_config;

/* A communicator as a user may name it ("hpull", "hpull://", "": the
 * default) in the form init messages carry ("hpull://"), malloc'd; whether
 * it exists is etl_msg_parse's to say (comm_table.c, also used by ais). */
char *etl_comm_norm(const char *given);

/* The value of key in a YAML mapping node of doc (libyaml's document API),
 * or NULL when map is no mapping or lacks the key; any_case: keys compared
 * as Kubernetes' decoding does (spec.c's pods), else exactly (ais's spec
 * files). */
struct yaml_document_s;
struct yaml_node_s;
struct yaml_node_s *etl_yaml_get(struct yaml_document_s *doc, struct yaml_node_s *map, const char *key, bool any_case);

/* "512Mi", "2G", "1073741824": Kubernetes quantities and plain bytes
 * (--etl-memory); -EINVAL. */
int etl_parse_memory(const char *s, int64_t *out);

/* Creates the registry; ETLs defined before a restart come back stopped
 * (start them with POST /v1/etl/N/start). NULL on failure (logged). */
etl_registry *etl_registry_new(const etl_config *cfg);
/* Stops every ETL process (whole process groups: no orphans) and frees. */
void etl_registry_free(etl_registry *r);
/* The random secret in AIS_TARGET_URL (/v1/etl/_object/SECRET/...). */
const char *etl_registry_secret(const etl_registry *r);

/* ---- REST API: one call per endpoint of /v1/etl (see docs/api.md).
 * Each fills an etl_reply: on success (err 0) body holds the reply (JSON or
 * text, as content_type says); on failure err is the errno code and body
 * only the message, which the target wraps in AIStore's JSON error. */
typedef struct etl_reply {
    int err;                  /* 0, or the errno code of the failure (cmn_err_http_status) */
    cmn_buf body;
    const char *content_type; /* static string */
} etl_reply;

void etl_reply_init(etl_reply *r);
void etl_reply_free(etl_reply *r);

void etl_api_init(etl_registry *r, const char *body, size_t len, etl_reply *out);  /* PUT /v1/etl */
/* The name a PUT /v1/etl body defines, the whole message checked as init
 * checks it (a cluster checks before it registers the ETL). 0, or -EINVAL
 * with err saying why. */
int etl_api_check_init(const char *body, size_t len, char *name, size_t namelen, cmn_err *err);
/* GET /v1/etl: the running ETLs (v3.22), or with all every ETL with its 5.0
 * "stage" (Running, Initializing, Aborted: stopped or failed) */
void etl_api_list(etl_registry *r, bool all, etl_reply *out);
void etl_api_show(etl_registry *r, const char *name, etl_reply *out);              /* GET /v1/etl/N */
void etl_api_stop(etl_registry *r, const char *name, etl_reply *out);              /* POST /v1/etl/N/stop */
void etl_api_start(etl_registry *r, const char *name, etl_reply *out);             /* POST /v1/etl/N/start */
void etl_api_delete(etl_registry *r, const char *name, etl_reply *out);            /* DELETE /v1/etl/N */
/* GET /v1/etl/N?uuid= and /v1/etl/N/details: {"init_msg", "obj_errors":
 * [{obj_name, msg, ecode}]} (AIStore 5.0), the objects that failed in the
 * current run (the last 128), those of job only when job is not NULL/"" */
void etl_api_details(etl_registry *r, const char *name, const char *job, etl_reply *out);
void etl_api_logs(etl_registry *r, const char *name, etl_reply *out);              /* GET /v1/etl/N/logs */
void etl_api_health(etl_registry *r, const char *name, etl_reply *out);            /* GET /v1/etl/N/health */
void etl_api_metrics(etl_registry *r, const char *name, etl_reply *out);           /* GET /v1/etl/N/metrics */

/* ---- running objects through an ETL, or a pipeline of them */
typedef struct etl_object {
    const char *bucket; /* bucket name (ais provider, global namespace) */
    const char *name;   /* object name */
    const char *fqn;    /* absolute path of the object's file on this node */
    int64_t size;       /* object size in bytes */
    const char *job;    /* the offline job's id, NULL inline: kept with a failure (details) */
} etl_object;

/* What to run (AIStore 5.0's etl_name, etl_pipeline and etl_args; v3.22's
 * etl_name alone): the first ETL, the later stages in order, and the
 * arguments every stage receives (?etl_args= on its request). */
#define ETL_PIPELINE_MAX 8 /* later stages */
#define ETL_ARGS_MAX 4096  /* bytes of etl_args */
typedef struct etl_request {
    const char *name;
    const char *pipeline[ETL_PIPELINE_MAX];
    size_t npipeline;
    const char *args; /* NULL or "": none */
} etl_request;

/* Splits "B,C" (AIStore's separator) into q->pipeline; the names point into
 * csv, which is modified. 0, or -EINVAL (empty name, too many) with err. */
int etl_request_pipeline(etl_request *q, char *csv, cmn_err *err);

/* The ETLs of q, each referenced and running: an ETL cannot go away while a
 * transform holds it. NULL with err: -ENOENT (one is unknown or not running;
 * the message names it), -EINVAL (bad args, too many stages, a later stage
 * that cannot take its input in a request body). */
typedef struct etl_chain etl_chain;
etl_chain *etl_get(etl_registry *r, const etl_request *q, cmn_err *err);
void etl_put(etl_chain *c);
/* "A", or "A>>B>>C" for a pipeline: for messages and for telling jobs apart
 * (args included: "A>>B?args"). */
const char *etl_chain_label(const etl_chain *c);
/* Whether a and b run the same processes with the same args (NULL: none). */
bool etl_chain_same(const etl_chain *a, const etl_chain *b);
/* Where an inline read of obj redirects the client (malloc'd), or NULL when
 * the target proxies (the communicator does not redirect, or a pipeline). */
char *etl_redirect_url(const etl_chain *c, const etl_object *obj);

/* An open file a transform's output is written to, each byte also into
 * hash (when set): an object writer's work file and checksum. err: the
 * errno of a failed write, 0 when none; bytes: what the transform wrote
 * (its caller need not ask the file). */
typedef struct etl_fd_out {
    int fd;
    XXH64_state_t *hash;
    int err;
    int64_t bytes;
} etl_fd_out;

/* Where a transform's output goes: into spool when it is set (the content
 * type, when ctype is set, into its ctype_size bytes), else into fd_out
 * when set, else to the callbacks. begin() is called once, before the first
 * write(), when the (last) ETL has answered 2xx. A spool or file that cannot
 * keep the output, or a nonzero return from a callback, stops the transform
 * (it then returns -ECANCELED). */
typedef struct etl_sink {
    void *ctx;
    int (*begin)(void *ctx, const char *content_type, int64_t content_length /* -1: unknown */);
    int (*write)(void *ctx, const void *buf, size_t len);
    cmn_spool *spool;
    char *ctype;
    size_t ctype_size;
    etl_fd_out *fd_out;
} etl_sink;

/* Runs obj through the chain and streams the last output to sink. The first
 * ETL gets the object as its communicator and arg type say (hpull and hrev
 * fetch it themselves); each later one gets the previous output as a PUT
 * body. timeout_ns bounds each stage's call (0: that ETL's default).
 * Returns 0 when the whole output was delivered; otherwise -errno (-EPROTO:
 * transport error, crash or non-2xx answer; -ETIMEDOUT: object timeout;
 * -ECANCELED: the sink refused; -ENOENT: no object file; -EIO: anything
 * else) and err says which ETL, which object and why. Counters are updated. */
int etl_transform(const etl_chain *c, const etl_object *obj, const etl_sink *sink, int64_t timeout_ns,
                  cmn_err *err);

/* A transform that holds no thread while the ETL works (an inline GET, an
 * offline job's window): the output goes into spool when it is set, else to
 * sink's begin() and write() (called on the connection's reader thread), and
 * done(ctx, rc, err) is called once, on another thread,
 * when the answer is complete or failed (rc as etl_transform's, counters
 * updated; -EAGAIN: it broke before any answer and etl_transform should be
 * called instead, which tries another connection). It never waits, so an
 * event thread may call it: only a one-stage chain whose communicator
 * pipelines objects (ws://) to an ETL that reads the file itself (fqn) starts
 * this way, and only when a connection has room now; otherwise -EAGAIN at
 * once and done is never called. obj's strings must live until done. */
typedef struct etl_async {
    cmn_spool *spool;
    const etl_sink *sink; /* without spool: its callbacks (not its spool or fd_out) */
    int64_t timeout_ns;   /* the object's, 0: the ETL's default */
    void (*done)(void *ctx, int rc, const cmn_err *err);
    void *ctx;
    bool fill; /* a window of objects (an offline job's): few connections kept deep rather than a
                * spread over idle ones, so the ETL finds its next object queued; the caller may
                * wait for a connection's send side */
} etl_async;
int etl_transform_start(const etl_chain *c, const etl_object *obj, const etl_async *a);
/* Whether etl_transform_start may start c's objects at all (one stage whose
 * communicator pipelines objects to an ETL that reads the file itself):
 * a cheap look before making what the start needs. */
bool etl_chain_starts(const etl_chain *c);

#endif

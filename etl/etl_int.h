/*
 * etl_int.h - the map of the ETL library's insides: names, init messages,
 * Pod specs, the image table, local processes and communicators. Only etl/
 * and its unit tests include it; the target sees etl.h alone.
 */
#ifndef ETLFS_ETL_INT_H
#define ETLFS_ETL_INT_H

#include "etl/etl.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct etl_handle etl_handle; /* one running ETL (comm.c) */
#define ETL_OBJ_ERRORS 128 /* failed objects remembered per run for GET /v1/etl/N/details */

#define ETL_NAME_MIN 6
#define ETL_NAME_MAX 20
#define ETL_CHUNK_MAX (1024 * 1024)
#define ETL_SEC_NS INT64_C(1000000000)
#define ETL_DEFAULT_TIMEOUT_NS (45 * ETL_SEC_NS)  /* init: wait for readiness */
#define ETL_DEFAULT_RUNTIME "python3.11v2"           /* what "python3" means: the host's Debian 12 Python */
#define ETL_OBJECT_TIMEOUT_NS (60 * ETL_SEC_NS)   /* one object, unless the message set timeout */
#define ETL_ERRLEN 2048
#define ETL_SOCKET_NAME "etlfs.sock" /* in the ETL's work folder: ETLFS_SOCKET (launch.c) */

/* ---- names.c: the seed document's rule (letter first, [A-Za-z0-9_-], 6..20) */
bool etl_name_valid(const char *name, char *why, size_t whylen);

/* ---- spec.c: a Pod YAML reduced to what a local process needs */
typedef struct etl_kv {
    char *key;
    char *val;
} etl_kv;

typedef struct etl_pod {
    char *image;
    char **command; size_t ncommand;
    char **args; size_t nargs;
    etl_kv *env; size_t nenv;
    int container_port;
    char *probe_path;
    char *ann_comm;         /* metadata.annotations.communication_type, NULL if absent */
    char *ann_wait_timeout; /* metadata.annotations.wait_timeout, NULL if absent */
} etl_pod;

/* Parses and validates; -EINVAL with err naming the field on failure. */
int etl_pod_parse(const char *yaml, size_t len, etl_pod *pod, char *err, size_t errlen);
void etl_pod_free(etl_pod *pod);

/* ---- msg.c: InitCodeMsg / InitSpecMsg */
/* v3.22's init code and init spec; AIStore 5.0's runtime spec (ETLSpecMsg:
 * an image, a command and env instead of a Pod YAML; kept in pod too) */
typedef enum { ETL_INIT_CODE, ETL_INIT_SPEC, ETL_INIT_RUNTIME } etl_init_kind;

typedef struct etl_msg {
    etl_init_kind kind;
    char *name;
    char *comm;          /* after defaults: a name etl_comm_lookup knows */
    char *arg;           /* "", "url", "fqn" */
    int64_t timeout_ns;  /* after defaults (45s) */
    bool timeout_set;    /* the user gave a timeout: it also bounds each object */
    int64_t obj_timeout_ns; /* 5.0's obj_timeout; 0: as timeout_set says */
    bool direct_put;     /* 5.0's support_direct_put: recorded (outputs are written locally anyway) */
    bool direct_fqn;     /* env ETL_DIRECT_FQN (the SDK's direct_file_access): send ?etl_fqn=, no body */
    bool fqn_off;        /* env ETL_DIRECT_FQN false: ws:// sends the bytes even to an ETL of ours */
    char *resources;     /* 5.0's "resources" as given (JSON), or NULL: shown as given */
    int64_t memory_limit; /* resources.limits.memory in bytes, 0: the node's --etl-memory */
    /* init code */
    char *code_b64, *deps_b64, *runtime, *func;
    int64_t chunk_size, flags;
    unsigned char *code; size_t code_len;
    unsigned char *deps; size_t deps_len;
    /* init spec (and the runtime spec's image, command and env) */
    char *spec_b64;
    etl_pod pod;
} etl_msg;

/* Parses, applies defaults and validates everything that needs no process.
 * -EINVAL (a 400) with err naming the field. */
int etl_msg_parse(const char *body, size_t len, etl_msg *m, char *err, size_t errlen);
/* The stored form (what GET /v1/etl/N shows and what is persisted). */
cJSON *etl_msg_to_json(const etl_msg *m);
void etl_msg_free(etl_msg *m);

/* ---- images.c: images.conf, container image -> local command */
typedef struct etl_image_vars {
    const char *install; /* install_dir */
    const char *bindir;  /* folder of the running executable (native transformers) */
    const char *python;  /* /usr/bin/python3 */
    int port;
    /* {venv:REQ}: the interpreter of a venv holding REQ (malloc'd into
     * *python), or -errno with err; NULL: the placeholder is refused */
    int (*venv)(void *ctx, const char *req, char **python, char *err, size_t errlen);
    void *venv_ctx;
} etl_image_vars;

/* Builds a NULL-terminated argv (free with etl_strv_free); 0, -ENOENT when
 * the image is unknown, -EIO when the table is unreadable, or what vars->venv
 * returned; err says which. */
int etl_image_argv(const char *conf_path, const etl_pod *pod, const etl_image_vars *vars,
                   char ***argv_out, char *err, size_t errlen);
void etl_strv_free(char **v);

/* ---- runtime_local.c, sandbox.c, cgroup.c: processes in their own group,
 * confined (docs/etl.md, "Sandbox") */
typedef struct etl_user {
    bool drop;   /* we are root: switch to uid/gid in the child */
    uid_t uid;
    gid_t gid;
} etl_user;

#define ETL_DEFAULT_MEMORY (INT64_C(4) << 30) /* per ETL: torch maps ~1 GiB before any work */
#define ETL_DEFAULT_PIDS 1024                  /* processes and threads per ETL */
#define ETL_NOFILE_LIMIT 4096

/* cgroup.c: where this target's per-ETL groups go and which limits hold. */
typedef struct etl_cgroups {
    char *v2;                  /* cgroup2 base folder, NULL: none writable */
    bool v2_memory, v2_pids, v2_kill;
    char *v1_memory, *v1_pids; /* v1 base folders, when v2 lacks the controller */
    bool memory, pids, kill_all; /* held by some hierarchy */
} etl_cgroups;

#define ETL_CG_MAX 3
typedef struct etl_cgroup {
    char *dir[ETL_CG_MAX];
    int procs[ETL_CG_MAX];     /* cgroup.procs, open until the child joined */
    int n;
    char *kill_file;           /* v2 cgroup.kill, NULL without */
} etl_cgroup;

/* Finds or creates the bases; never fails (what is missing stays NULL). */
int etl_cgroups_probe(etl_cgroups *c);
void etl_cgroups_free(etl_cgroups *c);
/* A new group with its limits; NULL with err on failure. */
etl_cgroup *etl_cgroup_new(const etl_cgroups *c, const char *name, int64_t memory, int pids, char *err,
                           size_t errlen);
int etl_cgroup_join(const etl_cgroup *cg);   /* the child, before exec: async-signal-safe */
void etl_cgroup_close_fds(etl_cgroup *cg);
void etl_cgroup_kill(etl_cgroup *cg);        /* SIGKILL to every process in it */
bool etl_cgroup_oom(const etl_cgroup *cg);   /* the memory limit killed something */
void etl_cgroup_free(etl_cgroup *cg);        /* kills, removes, frees; NULL is fine */

/* sandbox.c: the registry's policy and what the host supports. */
typedef struct etl_sandbox {
    char **mountpaths;  /* read-only (fqn) */
    char **rx;          /* read-execute besides the system's: install dir, bindir */
    int64_t memory;     /* bytes per ETL */
    int pids;           /* processes per ETL */
    int landlock_abi;   /* 0: none */
    etl_cgroups cg;
} etl_sandbox;

/* One process tree's paths and ports. */
typedef struct etl_jail {
    const char *name;   /* names its cgroup */
    const char *work;   /* read-write, its cwd */
    const char *dir;    /* STATE/NAME, root's: code, requirements (read-only), or NULL */
    const char *runtime; /* a shared runtime venv, root's (read-only), or NULL */
    int bind_port;      /* the one TCP port it may bind, 0: none */
    int connect_port;   /* the one TCP port it may connect to, 0: none */
    bool any_net;       /* no TCP rules (pip fetching requirements) */
    int64_t memory;     /* bytes for this tree, 0: the sandbox's default */
} etl_jail;

/* Prepared before fork: everything that allocates. */
typedef struct etl_confine {
    const etl_sandbox *sb;
    const etl_user *user;
    int ruleset;                /* Landlock, -1: none */
    bool filter_sockets;        /* seccomp: TCP and unix sockets only, no io_uring */
    char **cover; size_t ncover; /* folders covered by a tmpfs in the child's mount namespace */
    char **mkdir; size_t nmkdir; /* made in those tmpfs */
    char **bind; int *bind_fd; size_t nbind; /* bound back from an O_PATH fd */
    char **detach; size_t ndetach; /* mounts the child does not need */
    etl_cgroup *cg;             /* the caller's once spawned */
    int64_t memory;             /* the limit of this tree (the jail's, else the sandbox's) */
} etl_confine;

enum { ETL_STAGE_SETUP = 1, ETL_STAGE_MOUNTS, ETL_STAGE_CGROUP, ETL_STAGE_CHDIR, ETL_STAGE_USER,
       ETL_STAGE_LANDLOCK, ETL_STAGE_SECCOMP, ETL_STAGE_EXEC };

void etl_sandbox_init(etl_sandbox *sb, const etl_config *cfg, const char *install_dir, const char *bindir);
void etl_sandbox_free(etl_sandbox *sb);
int etl_confine_prepare(const etl_sandbox *sb, const etl_user *u, const etl_jail *j, etl_confine *cf, char *err,
                        size_t errlen);
void etl_confine_release(etl_confine *cf); /* closes what the child needed; leaves cf->cg */
/* The child, as root, before exec: 0, or -1 with errno and *stage. */
int etl_confine_enter(const etl_confine *cf, const char *cwd, int *stage);
/* "4 GiB", "512 MiB", "1000 bytes". */
void etl_format_bytes(int64_t n, char *out, size_t len);

typedef struct etl_spawn {
    char *const *argv;
    char *const *envp;
    const char *cwd;
    const char *log_path; /* stdout and stderr, appended */
    const etl_user *user;
    const etl_sandbox *sb;
    const etl_jail *jail;
} etl_spawn;

/* fork/exec, confined, in a new process group (pgid == pid) and cgroup
 * (*cg_out, NULL when the host has none). */
int etl_proc_spawn(const etl_spawn *s, pid_t *pid_out, etl_cgroup **cg_out, char *err, size_t errlen);
/* SIGTERM to the group, up to 3 s, then SIGKILL to the group and to the
 * whole cgroup (what left the group too); reaps the leader, frees cg. */
void etl_proc_stop(pid_t pgid, etl_cgroup *cg);
/* Runs to completion within timeout_ns; *status is the waitpid status.
 * -EIO when it could not start or timed out (then killed). */
int etl_proc_run(const etl_spawn *s, int64_t timeout_ns, int *status, char *err, size_t errlen);
/* "exited with status 1" / "killed by signal 9". */
void etl_proc_describe(int status, char *out, size_t outlen);
/* A free loopback TCP port, 0 on failure. */
int etl_free_port(void);
/* The last max bytes of a file, from a UTF-8 character boundary (for error
 * messages and logs). malloc'd. */
char *etl_file_tail(const char *path, size_t max);
/* Removes a tree (never following links). */
int etl_rm_tree(const char *path);

/* ---- deps.c: a per-ETL venv; requirements the system already satisfies count */
/* Prepares WORK/venv when deps has requirements (requirements.txt, the
 * checker and deps.log are root's, in etl_dir; WORK is the ETL user's). On success *python_out
 * is the interpreter to run (venv's or base, malloc'd) and warnings may get a
 * line. -EIO (a 400 at launch) with pip's message otherwise. */
int etl_deps_prepare(const char *etl_dir, const char *work, const char *base_python, const unsigned char *deps,
                     size_t deps_len, const etl_user *user, const etl_sandbox *sb, const char *name, int64_t timeout_ns, char **python_out,
                     cmn_buf *warnings, char *err, size_t errlen);

/* Runs an install step (venv, pip) to completion within timeout_ns, as the
 * ETL user confined to work (read-write, its cwd) and runtime (read-only, or
 * NULL), output appended to log; the one kind of child that may fetch from a
 * package index. 0, the exit status, or -EIO with err. */
int etl_deps_run(const etl_user *user, const etl_sandbox *sb, const char *name, const char *work,
                 const char *runtime, const char *log, char *const *argv, int64_t timeout_ns, char *err,
                 size_t errlen);

/* ---- comm_table.c: communicators, one file each (comm_hpush.c, comm_hpull.c,
 * comm_hrev.c, comm_io.c, comm_ws.c) and one row each in comm_table.c's table. */
typedef struct etl_comm {
    const char *name;     /* "hpush://", as in the init message */
    bool puts_object;     /* PUT with the object as the body (unless arg fqn); else GET, the ETL fetches it */
    bool arg_url;         /* accepts arg type "url" (bytes, "", always) */
    bool arg_fqn;         /* accepts arg type "fqn" (then the URL is the object's path, no body) */
    bool redirects;       /* inline reads send the client to the ETL (307) instead of proxying */
    const char *runner_arg; /* what the init-code runner is started with for it (io://: its warm
                               process pool), or NULL */
    char *(*object_url)(const etl_handle *h, const etl_object *obj); /* arg types ""/url */
    char *(*body_url)(const etl_handle *h, const etl_object *obj);   /* a PUT with the bytes in the body
                                                                        (later pipeline stages); NULL:
                                                                        URI/<bucket>/<object> */
    /* Not one HTTP request per object (ws://): the communicator's own
     * transfer, with etl_handle_transform's contract (it records nothing:
     * the caller does); what it keeps per handle (connections) is made by
     * state_new into h->comm_state and freed by state_free. NULL: HTTP. */
    int (*transfer)(etl_handle *h, const etl_object *obj, const char *args, const cmn_spool *input,
                    const etl_sink *sink, int64_t timeout_ns, cmn_err *err);
    void *(*state_new)(const etl_handle *h);
    void (*state_free)(void *state);
    /* etl_transform_start for one object (args "" = none), or NULL: that
     * communicator has no transfer that holds no thread. */
    int (*start)(etl_handle *h, const etl_object *obj, const char *args, const etl_async *a);
    /* Whether start may take h's objects at all (NULL: whenever it is set). */
    bool (*starts)(const etl_handle *h);
} etl_comm;

extern const etl_comm etl_comm_hpush, etl_comm_hpull, etl_comm_hrev, etl_comm_io, etl_comm_ws;
/* NULL when no communicator has that name. */
const etl_comm *etl_comm_lookup(const char *name);
/* "a, b, c or d": every name, for error messages (malloc'd). */
char *etl_comm_names(void);
/* Helpers the communicators share: URI/<bucket>/<object> (appended to b, or
 * malloc'd: hpush's URL, and any body PUT's), and URI/<uname>. */
void etl_push_path(cmn_buf *b, const etl_handle *h, const etl_object *obj);
char *etl_push_url(const etl_handle *h, const etl_object *obj);
char *etl_uname_url(const etl_handle *h, const etl_object *obj);

/* ---- comm.c: a running ETL as communicators see it (the etl_handle) and
 * the one HTTP transfer (common/http_client.c) every HTTP communicator goes
 * through; comm_ws.c: ws://'s own */
struct cmn_http_pool;
struct etl_handle {
    int refs;                /* atomic: the registry holds one while running */
    struct cmn_http_pool *pool; /* kept-alive connections to the ETL (thread-safe) */
    char *name;
    const etl_comm *comm;
    char *arg;
    char *io_command;        /* io://: the command sent with each request */
    char base_url[64];       /* http://127.0.0.1:PORT */
    int port;
    void *comm_state;        /* the communicator's own (comm->state_new), or NULL */
    int64_t object_timeout_ns;
    bool direct_fqn;         /* name the object's file in ?etl_fqn= (5.0), send no body */
    bool fqn_default;        /* ws://: the ETL is ours and reads the file a control message names */
    char *sock_path;         /* ws://: ETLFS_SOCKET, dialled before the port when the ETL listens there
                              * (NULL: an ETL not started here) */
    pid_t pgid;              /* the ETL's process group: who must listen on sock_path */
    int64_t obj_count, in_bytes, out_bytes; /* atomics */
    /* the last ETL_OBJ_ERRORS failed objects (5.0's obj_errors), a ring under errs_mu */
    pthread_mutex_t errs_mu;
    struct etl_obj_error {
        char *obj;  /* "ais://B/O" */
        char *job;  /* the offline job, NULL inline */
        char *msg;
        int ecode;  /* the HTTP status the failure is answered with */
    } errs[ETL_OBJ_ERRORS];
    size_t nerrs;   /* ever recorded; errs[i % ETL_OBJ_ERRORS] */
};
/* The recorded object errors as 5.0's [{obj_name, msg, ecode}], oldest first. */
cJSON *etl_handle_errors_json(etl_handle *h, const char *job /* NULL: all */);
/* Keeps obj's failure in h's details (etl_handle_transform does for its own). */
void etl_handle_record_error(etl_handle *h, const etl_object *obj, const cmn_err *err);

/* In a transfer of obj through h (with rc, err and an out: label in scope):
 * fail naming the ETL and the object; the code becomes the status. */
#define ETL_FAIL(code, fmt, ...)                                                                               \
    do {                                                                                                      \
        rc = cmn_err_set(err, (code), "etl[%s]: object ais://%s/%s: " fmt, h->name, obj->bucket, obj->name, \
                         ##__VA_ARGS__);                                                                      \
        goto out;                                                                                             \
    } while (0)

etl_handle *etl_handle_new(const char *name, const etl_comm *comm, const char *arg, const char *io_command,
                           int port, int64_t object_timeout_ns);
void etl_handle_free(etl_handle *h);
void etl_handle_put(etl_handle *h); /* drops a reference; frees with the last */
/* The URL a request for obj goes to (malloc'd): the communicator's, or the
 * file's when the arg type names it, with ?etl_args= when args are given
 * (also a redirect's Location, etl_redirect_url). */
char *etl_object_url(const etl_handle *h, const etl_object *obj, const char *args);
/* One ETL's call for obj (etl_transform's contract, one stage): with input
 * NULL the object goes as the communicator says; otherwise input's bytes go
 * as a PUT body (a later pipeline stage). args: etl_args, NULL or "" none. */
int etl_handle_transform(etl_handle *h, const etl_object *obj, const char *args, const cmn_spool *input,
                         const etl_sink *sink, int64_t timeout_ns, cmn_err *err);
/* GET url until 200 or the deadline (mono ns); alive() says whether to keep trying. */
int etl_wait_ready(const char *url, int64_t deadline_ns, bool (*alive)(void *), void *ctx, char *err,
                   size_t errlen);

/* ---- registry.c: the table of ETLs; one mutex guards the table and every
 * entry's fields. Slow work (venv, spawn, readiness, stop) runs unlocked on
 * an entry marked busy, so nothing else changes it meanwhile. */
typedef enum { ETL_STOPPED, ETL_RUNNING, ETL_ERROR } etl_state;

typedef struct etl_entry {
    etl_msg msg;
    char *raw; size_t rawlen;   /* the init message as received: persisted */
    etl_state state;
    bool busy;
    char last_error[ETL_ERRLEN];
    char xid[32];               /* "etl-" + uuid of the current run */
    pid_t pid;                  /* process group of the current run, 0 if none */
    etl_cgroup *cg;             /* its cgroup, NULL if none */
    char *interpreter;          /* init code: the python that runs it */
    bool venv;
    cmn_buf warnings;           /* lines */
    etl_handle *run;            /* the registry's reference while running */
    /* dir (root's: msg.json, code/, log, deps.log) holds work (the ETL
     * user's: its cwd, HOME, venv); root never writes below work */
    char dir[4096], log[4200], work[4200];
} etl_entry;

struct etl_registry {
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* busy entries settled; the watcher's sleep */
    etl_entry **v;
    size_t n;
    char *node_id, *target_url, *state_dir, *install_dir, *bindir;
    etl_user user;
    etl_sandbox sb;
    int callback_port;          /* target_url's: the ETL callback listener */
    char secret[16];
    bool closing;
    pthread_t watcher;
};

etl_entry *etl_registry_find(etl_registry *r, const char *name); /* locked */
etl_entry *etl_entry_new(etl_registry *r, const char *raw, size_t rawlen, etl_msg *msg); /* takes msg */
void etl_entry_free(etl_entry *e);
void etl_registry_remove(etl_registry *r, etl_entry *e); /* locked; frees */
int etl_entry_persist(const etl_entry *e);
pid_t etl_registry_pid(etl_registry *r, const char *name); /* 0 when not running */
/* A new reference to N's handle when it runs, else NULL; *defined says
 * whether N is defined at all. */
etl_handle *etl_registry_running(etl_registry *r, const char *name, bool *defined);

/* ---- launch.c: one entry's processes (called unlocked, entry busy) */
/* Starts the ETL and waits for readiness; 0 or -errno (-EINVAL: the user's
 * code, deps or image; -ETIMEDOUT: not ready in time; -EAGAIN: shutting
 * down; -EIO: the node) with err naming the ETL and the cause (and the log
 * tail, longer than a cmn_err holds). */
int etl_launch(etl_registry *r, etl_entry *e, char *err, size_t errlen);
/* Takes the run away from e (locked) and stops its processes (unlocked). */
void etl_halt(etl_registry *r, etl_entry *e, etl_state to);

/* ---- runtime_venv.c: the Python of images.conf's {venv:REQ} (the SDK's
 * runtime_python image: init_class and the ETL webserver framework) */
/* The interpreter for e: a venv holding req shared by every ETL that asks
 * for it (STATE/_runtimes/KEY/venv, root's once built: in a temporary folder
 * renamed when complete, one builder at a time) and, when e's env lists
 * PACKAGES, a per-ETL venv STATE/NAME/work/venv layered on it; OS_PACKAGES
 * must already be installed. Everything ends by deadline_ns (mono). 0 with
 * *python_out and *runtime_out (STATE/_runtimes/KEY, which the ETL reads;
 * both malloc'd); -EINVAL (pip failed, bad PACKAGES, missing OS packages),
 * -ETIMEDOUT or -EIO with err naming the cause and pip's last lines. */
int etl_runtime_venv(etl_registry *r, etl_entry *e, const char *req, int64_t deadline_ns, char **python_out,
                     char **runtime_out, cmn_buf *warnings, char *err, size_t errlen);

#endif

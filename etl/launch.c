/*
 * launch.c - turning an init message into a ready local process, and back.
 * Init code runs the python runner (etl/runtimes/python/runner.py) with the
 * user's module in STATE/NAME/code; init spec runs the images.conf command
 * for the pod's image. Either listens on a free loopback port and counts as
 * started only when its readiness path answers 200 within the ETL's timeout;
 * otherwise its process group is killed and the error carries its log tail.
 */
#include "etl/etl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_TAIL 1500

typedef struct strv {
    char **v;
    size_t n;
} strv;

__attribute__((format(printf, 2, 3))) static void strv_add(strv *s, const char *fmt, ...)
{
    cmn_buf b;
    cmn_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    cmn_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (!b.data)
        cmn_buf_puts(&b, "");
    s->v = cmn_xrealloc(s->v, (s->n + 2) * sizeof *s->v);
    s->v[s->n++] = cmn_buf_steal(&b);
    s->v[s->n] = NULL;
}

static void base_env(strv *env, const etl_entry *e)
{
    strv_add(env, "PATH=/usr/local/bin:/usr/bin:/bin");
    strv_add(env, "HOME=%s", e->work);
    strv_add(env, "TMPDIR=%s", e->work);
    strv_add(env, "LANG=C.UTF-8");
    strv_add(env, "PYTHONUNBUFFERED=1");
}

/* STATE/NAME is root's (0755): what root writes there (msg.json, code/,
 * log) cannot be a link the ETL planted. Its work folder is the ETL user's
 * and root never writes below it. A folder left by an older version (all of
 * it the ETL user's) is taken back: code/ and log are made afresh. */
static int prepare_dirs(etl_registry *r, const etl_entry *e, char *err, size_t errlen)
{
    const char *name = e->msg.name;
    int fd = -1, wfd = -1;
    if (cmn_mkdir_p(e->dir) != 0 || (fd = open(e->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        goto fail;
    if ((r->user.drop && fchown(fd, 0, 0) != 0) || fchmod(fd, 0755) != 0)
        goto fail;
    char code[4200], env[4200];
    snprintf(code, sizeof code, "%s/code", e->dir);
    snprintf(env, sizeof env, "%s/env", e->dir);
    if (etl_rm_tree(code) != 0 || etl_rm_tree(env) != 0 || (unlinkat(fd, "log", 0) != 0 && errno != ENOENT))
        goto fail;
    if (mkdirat(fd, "work", 0700) != 0 && errno != EEXIST)
        goto fail;
    wfd = openat(fd, "work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (wfd < 0 || (r->user.drop && fchown(wfd, r->user.uid, r->user.gid) != 0) || fchmod(wfd, 0700) != 0)
        goto fail;
    close(wfd);
    close(fd);
    return 0;
fail:
    snprintf(err, errlen, "etl[%s]: cannot prepare %s: %s", name, e->dir, strerror(errno));
    if (wfd >= 0)
        close(wfd);
    if (fd >= 0)
        close(fd);
    return -EIO;
}

/* STATE/NAME/code/code.py, a new file in a new root-owned folder. */
static int write_code(const etl_entry *e, const char *codedir, char *err, size_t errlen)
{
    int dfd = -1, fd = -1;
    if (mkdir(codedir, 0755) == 0)
        dfd = open(codedir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0)
        fd = openat(dfd, "code.py", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || cmn_write_all(fd, e->msg.code, e->msg.code_len) != 0) {
        snprintf(err, errlen, "etl[%s]: cannot write %s/code.py: %s", e->msg.name, codedir, strerror(errno));
        if (fd >= 0)
            close(fd);
        if (dfd >= 0)
            close(dfd);
        return -EIO;
    }
    close(fd);
    close(dfd);
    return 0;
}

/* One environment string may not exceed the kernel's MAX_ARG_STRLEN (32
 * pages: 128 KiB), and the SDK's init_class sends its pickled class in one.
 * A variable of this table longer than ENV_INLINE_MAX goes to the process as
 * a file, STATE/NAME/env/KEY (new, root's, readable by the ETL like code/),
 * named by KEY_FILE, which the program reads instead; a short one stays as
 * it came. Any other variable too long for the kernel is refused. */
#define ENV_INLINE_MAX (64 * 1024)
#define ENV_KERNEL_MAX (128 * 1024 - 1)
static const char *const env_as_file[] = {"ETL_CLASS_PAYLOAD", NULL};

static bool env_goes_in_file(const char *key, const char *val)
{
    for (const char *const *k = env_as_file; *k; k++)
        if (!strcmp(*k, key))
            return strlen(val) > ENV_INLINE_MAX;
    return false;
}

static int write_env_file(const etl_entry *e, const char *key, const char *val, char *path, size_t pathlen,
                          char *err, size_t errlen)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/env", e->dir);
    snprintf(path, pathlen, "%s/%s", dir, key);
    int dfd = -1, fd = -1;
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0)
        fd = openat(dfd, key, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int rc = fd >= 0 ? cmn_write_all(fd, val, strlen(val)) : -1;
    if (rc != 0)
        snprintf(err, errlen, "etl[%s]: cannot write %s: %s", e->msg.name, path, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    return rc != 0 ? -EIO : 0;
}

/* 5.0's resources: a local ETL enforces limits.memory (its cgroup, else
 * RLIMIT_AS); every other entry is recorded and said to be not enforced. */
static void warn_resources(const etl_msg *m, cmn_buf *warnings)
{
    cJSON *res = m->resources ? cJSON_Parse(m->resources) : NULL;
    cmn_buf names;
    cmn_buf_init(&names);
    const char *groups[] = {"limits", "requests"};
    for (size_t g = 0; g < 2; g++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(res, groups[g]))
        {
            if (it->string && !(g == 0 && !strcmp(it->string, "memory")))
                cmn_buf_printf(&names, "%sresources.%s.%s", names.len ? ", " : "", groups[g], it->string);
        }
    }
    if (names.len)
        cmn_buf_printf(warnings, "%s: recorded, not enforced (a local ETL enforces resources.limits.memory only)\n",
                       names.data);
    cmn_buf_free(&names);
    cJSON_Delete(res);
}

/* python3.10v2 -> /usr/bin/python3.10 when installed, else the system's. */
static char *pick_python(const char *runtime, cmn_buf *warnings)
{
    char exact[64];
    const char *v = runtime + strlen("python");
    size_t n = strcspn(v, "v");
    snprintf(exact, sizeof exact, "/usr/bin/python%.*s", (int)n, v);
    if (access(exact, X_OK) == 0)
        return cmn_xstrdup(exact);
    cmn_buf_printf(warnings, "runtime %s: %s is not installed; running /usr/bin/python3 instead\n", runtime, exact);
    return cmn_xstrdup("/usr/bin/python3");
}

typedef struct probe_ctx {
    etl_registry *r;
    pid_t pid;
    bool exited;
    int status;
} probe_ctx;

static bool alive(void *arg)
{
    probe_ctx *p = arg;
    if (__atomic_load_n(&p->r->closing, __ATOMIC_ACQUIRE))
        return false;
    if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
        p->exited = true;
        return false;
    }
    return true;
}

static char *join(char **a, size_t n, char **b, size_t m)
{
    cmn_buf buf;
    cmn_buf_init(&buf);
    for (size_t i = 0; i < n + m; i++)
        cmn_buf_printf(&buf, "%s%s", i ? " " : "", i < n ? a[i] : b[i - n]);
    if (!buf.data)
        cmn_buf_puts(&buf, "");
    return cmn_buf_steal(&buf);
}

/* What a launch runs: filled by one of the two builders below. */
typedef struct launch_plan {
    strv argv, env;
    const char *probe;   /* readiness path */
    char *io_command;    /* io://: the command sent with each request */
    char *python;        /* init code: the interpreter (a venv's when deps were given) */
    char *interp;        /* init code: the runtime's system interpreter */
    int64_t deadline;    /* mono ns: the init timeout bounds installs and readiness together */
    char *runtime;       /* {venv:}: the shared runtime venv the process reads, or NULL */
    bool ours;           /* the runner or an images.conf program, not a command as given */
    cmn_buf warnings;
} launch_plan;

/* Init code: the python runner with the user's module in STATE/NAME/code. */
static int plan_code(etl_registry *r, etl_entry *e, launch_plan *p, char *err, size_t errlen)
{
    const etl_msg *m = &e->msg;
    char codedir[4200], why[ETL_ERRLEN];
    snprintf(codedir, sizeof codedir, "%s/code", e->dir);
    if (write_code(e, codedir, err, errlen) != 0)
        return -EIO;
    p->interp = pick_python(m->runtime, &p->warnings);
    if (etl_deps_prepare(e->dir, e->work, p->interp, m->deps, m->deps_len, &r->user, &r->sb, m->name, m->timeout_ns, &p->python,
                         &p->warnings, why, sizeof why) != 0) {
        snprintf(err, errlen, "etl[%s]: %s", m->name, why);
        return -EINVAL; /* the user's dependencies do not install */
    }
    char runner[4200];
    snprintf(runner, sizeof runner, "%s/runtimes/python/runner.py", r->install_dir);
    if (access(runner, R_OK) != 0) {
        snprintf(err, errlen, "etl[%s]: the python runner %s is not installed", m->name, runner);
        return -EIO;
    }
    strv_add(&p->argv, "%s", p->python);
    strv_add(&p->argv, "%s", runner);
    const etl_comm *cm = etl_comm_lookup(m->comm);
    if (cm && cm->runner_arg)
        strv_add(&p->argv, "%s", cm->runner_arg);
    p->ours = true;
    strv_add(&p->env, "MOD_NAME=code");
    strv_add(&p->env, "FUNC_TRANSFORM=%s", m->func);
    strv_add(&p->env, "COMM_TYPE=%s", m->comm);
    strv_add(&p->env, "ARG_TYPE=%s", m->arg);
    if (m->chunk_size > 0)
        strv_add(&p->env, "CHUNK_SIZE=%lld", (long long)m->chunk_size);
    else
        strv_add(&p->env, "CHUNK_SIZE=");
    if (m->flags)
        strv_add(&p->env, "FLAGS=%lld", (long long)m->flags);
    else
        strv_add(&p->env, "FLAGS=");
    strv_add(&p->env, "ETLFS_CODE_DIR=%s", codedir);
    strv_add(&p->env, "ETLFS_PYTHON=%s", p->python);
    /* the runner's processes (default: one per core), from the message's env */
    const char *workers = NULL;
    for (size_t i = 0; i < m->pod.nenv; i++)
        if (strcmp(m->pod.env[i].key, "NUM_WORKERS") == 0)
            workers = m->pod.env[i].val; /* the last one wins, as in a process's env */
    if (workers)
        strv_add(&p->env, "NUM_WORKERS=%s", workers);
    p->io_command = cmn_xasprintf("%s %s/code.py", p->python, codedir);
    return 0;
}

/* images.conf's {venv:REQ} for this launch (runtime_venv.c). */
typedef struct venv_ctx {
    etl_registry *r;
    etl_entry *e;
    launch_plan *p;
} venv_ctx;

static int venv_python(void *arg, const char *req, char **python, char *err, size_t errlen)
{
    venv_ctx *c = arg;
    free(c->p->runtime);
    c->p->runtime = NULL;
    int rc = etl_runtime_venv(c->r, c->e, req, c->p->deadline, python, &c->p->runtime, &c->p->warnings, err, errlen);
    if (rc == 0) {
        free(c->p->python);
        c->p->python = cmn_xstrdup(*python);
    }
    return rc;
}

/* Init spec: the images.conf command for the Pod's image, with its env. */
static int plan_spec(etl_registry *r, etl_entry *e, int port, launch_plan *p, char *err, size_t errlen)
{
    const etl_msg *m = &e->msg;
    char conf[4200], why[ETL_ERRLEN];
    snprintf(conf, sizeof conf, "%s/images.conf", r->install_dir);
    venv_ctx vc = {r, e, p};
    etl_image_vars vars = {.install = r->install_dir, .bindir = r->bindir, .python = "/usr/bin/python3", .port = port,
                           .venv = venv_python, .venv_ctx = &vc};
    char **img_argv = NULL;
    int rc = etl_image_argv(conf, &m->pod, &vars, &img_argv, why, sizeof why);
    if (rc == -ENOENT && m->kind == ETL_INIT_RUNTIME && m->pod.ncommand) {
        /* 5.0's runtime.command for an image without a local equivalent: it
         * runs as given (in the sandbox, on PORT), the image only names it */
        for (size_t i = 0; i < m->pod.ncommand; i++)
            strv_add(&p->argv, "%s", m->pod.command[i]);
    } else if (rc) {
        snprintf(err, errlen, "etl[%s]: %s", m->name, why);
        return rc == -ENOENT ? -EINVAL : rc;
    } else {
        for (char **a = img_argv; *a; a++)
            strv_add(&p->argv, "%s", *a);
        etl_strv_free(img_argv);
        p->ours = true;
    }
    for (size_t i = 0; i < m->pod.nenv; i++) {
        const char *key = m->pod.env[i].key, *val = m->pod.env[i].val;
        if (!strcmp(key, "ARG_TYPE"))
            continue;
        if (env_goes_in_file(key, val)) {
            char path[4300];
            if ((rc = write_env_file(e, key, val, path, sizeof path, err, errlen)))
                return rc;
            strv_add(&p->env, "%s_FILE=%s", key, path);
        } else if (strlen(key) + 1 + strlen(val) > ENV_KERNEL_MAX) {
            snprintf(err, errlen, "etl[%s]: env %s is %zu bytes: more than one environment variable can hold (%d)",
                     m->name, key, strlen(val), ENV_KERNEL_MAX);
            return -EINVAL;
        } else {
            strv_add(&p->env, "%s=%s", key, val);
        }
    }
    warn_resources(m, &p->warnings);
    strv_add(&p->env, "PORT=%d", port); /* after the pod's env: the port is ours to choose */
    /* The message's argument decides what we send (an object body or an
     * empty PUT/GET naming its file); the program must read the same. */
    strv_add(&p->env, "ARG_TYPE=%s", m->arg);
    p->io_command = join(m->pod.command, m->pod.ncommand, m->pod.args, m->pod.nargs);
    p->probe = m->pod.probe_path;
    return 0;
}

/* The sequence: prepare (a port, the env, a plan), spawn, wait until ready,
 * publish the running handle. */
int etl_launch(etl_registry *r, etl_entry *e, char *err, size_t errlen)
{
    const etl_msg *m = &e->msg;
    launch_plan p = {.probe = "/health", .deadline = cmn_mono_ns() + m->timeout_ns};
    cmn_buf_init(&p.warnings);
    int rc = -EIO;
    char why[ETL_ERRLEN];
    char *sock = NULL;

    int port = etl_free_port();
    if (port == 0) {
        snprintf(err, errlen, "etl[%s]: cannot find a free port: %s", m->name, strerror(errno));
        goto out;
    }
    if (prepare_dirs(r, e, err, errlen) != 0)
        goto out;
    base_env(&p.env, e);
    strv_add(&p.env, "AIS_TARGET_URL=%s/v1/etl/_object/%s", r->target_url, r->secret);
    strv_add(&p.env, "ETLFS_PORT=%d", port);
    /* ws:// without TCP: a socket the ETL may make in its work folder (the
     * only folder where Landlock lets it make one); its streams go there
     * when it listens, to the port otherwise (an ETL that ignores this) */
    sock = cmn_xasprintf("%s/%s", e->work, ETL_SOCKET_NAME);
    strv_add(&p.env, "ETLFS_SOCKET=%s", sock);
    strv_add(&p.env, "ETLFS_SOCKET_PEER=%d", (int)getpid());
    rc = m->kind == ETL_INIT_CODE ? plan_code(r, e, &p, err, errlen) : plan_spec(r, e, port, &p, err, errlen);
    if (rc)
        goto out;
    rc = -EIO;

    pid_t pid;
    etl_cgroup *cg;
    etl_jail jail = {.name = m->name, .work = e->work, .dir = e->dir, .runtime = p.runtime,
                     .bind_port = port, .connect_port = r->callback_port, .memory = m->memory_limit};
    etl_spawn s = {.argv = p.argv.v, .envp = p.env.v, .cwd = e->work, .log_path = e->log, .user = &r->user,
                   .sb = &r->sb, .jail = &jail};
    if (etl_proc_spawn(&s, &pid, &cg, why, sizeof why) != 0) {
        snprintf(err, errlen, "etl[%s]: %s", m->name, why);
        goto out;
    }
    cmn_info("etl[%s]: started %s (pid %d, port %d)", m->name, p.argv.v[0], (int)pid, port);
    char url[4300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, p.probe);
    probe_ctx pc = {.r = r, .pid = pid};
    if (etl_wait_ready(url, p.deadline, alive, &pc, why, sizeof why) != 0) {
        if (pc.exited)
            kill(-pid, SIGKILL);
        etl_proc_stop(pc.exited ? 0 : pid, cg);
        char *tail = etl_file_tail(e->log, LOG_TAIL);
        char how[128] = "";
        if (pc.exited)
            etl_proc_describe(pc.status, how, sizeof how);
        /* exited: the user's code or image is broken; closing: the node is going down */
        rc = pc.exited ? -EINVAL : __atomic_load_n(&r->closing, __ATOMIC_ACQUIRE) ? -EAGAIN : -ETIMEDOUT;
        snprintf(err, errlen, "etl[%s]: %s%s%s; log: %s", m->name, pc.exited ? "the process " : "",
                 pc.exited ? how : why, pc.exited ? " before it was ready" : "", *tail ? tail : "(empty)");
        free(tail);
        goto out;
    }
    int64_t obj_tmo = m->obj_timeout_ns ? m->obj_timeout_ns : m->timeout_set ? m->timeout_ns : ETL_OBJECT_TIMEOUT_NS;
    etl_handle *h = etl_handle_new(m->name, etl_comm_lookup(m->comm), m->arg, p.io_command, port, obj_tmo);
    h->direct_fqn = m->direct_fqn;
    /* ours (the runner, an images.conf program): it reads the file a ws://
     * control message names, so no object bytes travel to it */
    h->fqn_default = p.ours && !m->fqn_off;
    h->sock_path = sock;
    sock = NULL;
    h->pgid = pid;
    char uuid[CMN_UUID_LEN + 1];
    cmn_gen_uuid(uuid);
    pthread_mutex_lock(&r->mu);
    e->run = h;
    e->pid = pid;
    e->cg = cg;
    e->state = ETL_RUNNING;
    e->last_error[0] = '\0';
    snprintf(e->xid, sizeof e->xid, "etl-%s", uuid);
    free(e->interpreter);
    e->interpreter = p.interp;
    p.interp = NULL;
    e->venv = p.python && strstr(p.python, "/venv/") != NULL;
    cmn_buf_free(&e->warnings);
    e->warnings = p.warnings;
    cmn_buf_init(&p.warnings);
    pthread_mutex_unlock(&r->mu);
    cmn_info("etl[%s]: ready (%s)", m->name, e->xid);
    rc = 0;
out:
    free(sock);
    etl_strv_free(p.argv.v);
    etl_strv_free(p.env.v);
    free(p.python);
    free(p.interp);
    free(p.io_command);
    free(p.runtime);
    cmn_buf_free(&p.warnings);
    return rc;
}

void etl_halt(etl_registry *r, etl_entry *e, etl_state to)
{
    pthread_mutex_lock(&r->mu);
    pid_t pid = e->pid;
    etl_cgroup *cg = e->cg;
    etl_handle *run = e->run;
    e->pid = 0;
    e->cg = NULL;
    e->run = NULL;
    e->state = to;
    pthread_mutex_unlock(&r->mu);
    etl_proc_stop(pid, cg);
    if (pid > 0)
        cmn_info("etl[%s]: stopped", e->msg.name);
    etl_handle_put(run);
}

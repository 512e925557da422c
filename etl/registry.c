/*
 * registry.c - the ETLs defined on this node: the table, its persistence
 * (STATE/NAME/msg.json, the init message as received, so a restart brings
 * every ETL back stopped) and a watcher that notices an ETL process that died
 * and marks it "error" with the reason and the tail of its log.
 * Handles given to the target are reference counted: a stop or delete never
 * frees one that a transform is still using.
 */
#include "etl/etl_int.h"
#include "common/http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WATCH_PERIOD_MS 200

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

etl_entry *etl_registry_find(etl_registry *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i]->msg.name, name) == 0)
            return r->v[i];
    return NULL;
}

etl_entry *etl_entry_new(etl_registry *r, const char *raw, size_t rawlen, etl_msg *msg)
{
    etl_entry *e = cmn_xcalloc(1, sizeof *e);
    e->raw = cmn_xmalloc(rawlen + 1);
    memcpy(e->raw, raw, rawlen);
    e->raw[rawlen] = '\0';
    e->rawlen = rawlen;
    e->msg = *msg;
    memset(msg, 0, sizeof *msg);
    cmn_buf_init(&e->warnings);
    snprintf(e->dir, sizeof e->dir, "%s/%s", r->state_dir, e->msg.name);
    snprintf(e->log, sizeof e->log, "%s/log", e->dir);
    snprintf(e->work, sizeof e->work, "%s/work", e->dir);
    e->state = ETL_STOPPED;
    return e;
}

void etl_entry_free(etl_entry *e)
{
    if (!e)
        return;
    etl_handle_put(e->run);
    etl_msg_free(&e->msg);
    free(e->raw);
    free(e->interpreter);
    cmn_buf_free(&e->warnings);
    free(e);
}

void etl_registry_remove(etl_registry *r, etl_entry *e)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i] == e) {
            r->v[i] = r->v[--r->n];
            break;
        }
    }
    etl_entry_free(e);
}

int etl_entry_persist(const etl_entry *e)
{
    char tmp[4300], path[4300];
    snprintf(tmp, sizeof tmp, "%s/msg.json.tmp", e->dir);
    snprintf(path, sizeof path, "%s/msg.json", e->dir);
    /* a fresh file, never through a link: root writes here */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -EIO;
    int rc = cmn_write_all(fd, e->raw, e->rawlen);
    if (rc == 0 && fsync(fd) != 0)
        rc = -EIO;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -EIO;
    if (rc != 0) {
        cmn_error("etl[%s]: cannot persist %s: %s", e->msg.name, path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

pid_t etl_registry_pid(etl_registry *r, const char *name)
{
    pthread_mutex_lock(&r->mu);
    etl_entry *e = etl_registry_find(r, name);
    pid_t pid = e && e->state == ETL_RUNNING ? e->pid : 0;
    pthread_mutex_unlock(&r->mu);
    return pid;
}

static void add(etl_registry *r, etl_entry *e)
{
    r->v = cmn_xrealloc(r->v, (r->n + 1) * sizeof *r->v);
    r->v[r->n++] = e;
}

/* ETLs defined before a restart come back stopped. */
static void load(etl_registry *r)
{
    char **names = cmn_dir_names(r->state_dir);
    for (char **name = names; name && *name; name++) {
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s/msg.json", r->state_dir, *name);
        cmn_buf b;
        cmn_buf_init(&b);
        if (cmn_read_small_file(path, SIZE_MAX, &b) != 0) { /* a name without its message: not an ETL */
            cmn_buf_free(&b);
            continue;
        }
        etl_msg m;
        char err[ETL_ERRLEN];
        if (etl_msg_parse(b.data ? b.data : "", b.len, &m, err, sizeof err) != 0) {
            cmn_warn("etl: ignoring %s: %s", path, err);
        } else if (strcmp(m.name, *name) != 0 || etl_registry_find(r, m.name)) {
            cmn_warn("etl: ignoring %s: it defines \"%s\"", path, m.name);
            etl_msg_free(&m);
        } else {
            etl_entry *e = etl_entry_new(r, b.data, b.len, &m);
            add(r, e);
            cmn_info("etl[%s]: defined, stopped (start it with POST /v1/etl/%s/start)", e->msg.name,
                     e->msg.name);
        }
        cmn_buf_free(&b);
    }
    cmn_names_free(names);
}

/* Reaps processes that died on their own; runs with the lock held. */
static void watch_once(etl_registry *r)
{
    for (size_t i = 0; i < r->n; i++) {
        etl_entry *e = r->v[i];
        int st;
        if (e->state != ETL_RUNNING || e->pid <= 0 || waitpid(e->pid, &st, WNOHANG) != e->pid)
            continue;
        kill(-e->pid, SIGKILL); /* whatever is left of its group */
        char how[160];
        etl_proc_describe(st, how, sizeof how);
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && etl_cgroup_oom(e->cg)) {
            char mem[32];
            etl_format_bytes(r->sb.memory, mem, sizeof mem);
            snprintf(how, sizeof how, "was killed: out of memory (its limit is %s)", mem);
        }
        etl_cgroup_free(e->cg); /* and whatever left the group */
        e->cg = NULL;
        char *tail = etl_file_tail(e->log, 600);
        snprintf(e->last_error, sizeof e->last_error, "etl[%s]: process %d %s; log: %s", e->msg.name, (int)e->pid,
                 how, tail);
        free(tail);
        cmn_error("%s", e->last_error);
        e->state = ETL_ERROR;
        e->pid = 0;
        etl_handle_put(e->run);
        e->run = NULL;
    }
}

static void *watcher(void *arg)
{
    etl_registry *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->closing) {
        watch_once(r);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* The port of the ETL callback listener: the one an ETL may connect to. */
static int callback_port(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, ':') : NULL;
    return p ? atoi(p + 1) : 0;
}

static char *exe_dir(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return cmn_xstrdup(".");
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    return cmn_xstrdup(buf);
}

static int resolve_user(etl_registry *r, const char *name)
{
    r->user.drop = geteuid() == 0;
    if (!r->user.drop)
        return 0;
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || !res) {
        cmn_error("etl: user \"%s\" (for ETL processes) does not exist", name);
        return -EIO;
    }
    r->user.uid = pw.pw_uid;
    r->user.gid = pw.pw_gid;
    if (pw.pw_uid == 0)
        r->user.drop = false;
    return 0;
}

/* Frees the table and everything the registry owns (processes are gone). */
static void registry_destroy(etl_registry *r)
{
    for (size_t i = 0; i < r->n; i++)
        etl_entry_free(r->v[i]);
    free(r->v);
    free(r->node_id);
    free(r->target_url);
    free(r->state_dir);
    free(r->install_dir);
    free(r->bindir);
    etl_sandbox_free(&r->sb);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

etl_registry *etl_registry_new(const etl_config *cfg)
{
    if (!cfg || !cfg->node_id || !cfg->state_dir || !cfg->install_dir || !cfg->target_url) {
        cmn_error("etl: node_id, target_url, state_dir and install_dir are required");
        return NULL;
    }
    pthread_once(&http_once, cmn_http_global_init);
    etl_registry *r = cmn_xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    cmn_cond_init_mono(&r->cv);
    r->node_id = cmn_xstrdup(cfg->node_id);
    r->target_url = cmn_xstrdup(cfg->target_url);
    r->state_dir = cmn_xstrdup(cfg->state_dir);
    r->install_dir = cmn_xstrdup(cfg->install_dir);
    r->bindir = exe_dir();
    char uuid[CMN_UUID_LEN + 1];
    cmn_gen_uuid(uuid);
    snprintf(r->secret, sizeof r->secret, "%.10s", uuid);
    if (!r->bindir || resolve_user(r, cfg->run_as_user ? cfg->run_as_user : "nobody") != 0) {
        goto fail;
    }
    if (cmn_mkdir_p(r->state_dir) != 0) {
        cmn_error("etl: cannot create the state folder %s: %s", r->state_dir, strerror(errno));
        goto fail;
    }
    etl_sandbox_init(&r->sb, cfg, r->install_dir, r->bindir);
    r->callback_port = callback_port(r->target_url);
    load(r);
    if (pthread_create(&r->watcher, NULL, watcher, r) != 0) {
        cmn_error("etl: cannot start the process watcher");
        goto fail;
    }
    return r;
fail:
    registry_destroy(r);
    return NULL;
}

static bool any_busy(etl_registry *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i]->busy)
            return true;
    return false;
}

void etl_registry_free(etl_registry *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    __atomic_store_n(&r->closing, true, __ATOMIC_RELEASE); /* an init in progress gives up at its next readiness poll */
    pthread_cond_broadcast(&r->cv);
    while (any_busy(r))
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->watcher, NULL);
    for (size_t i = 0; i < r->n; i++) {
        etl_entry *e = r->v[i];
        if (e->pid > 0) {
            cmn_info("etl[%s]: stopping (shutdown)", e->msg.name);
            etl_proc_stop(e->pid, e->cg);
            e->cg = NULL;
        }
    }
    registry_destroy(r);
}

const char *etl_registry_secret(const etl_registry *r)
{
    return r->secret;
}

etl_handle *etl_registry_running(etl_registry *r, const char *name, bool *defined)
{
    pthread_mutex_lock(&r->mu);
    etl_entry *e = etl_registry_find(r, name);
    etl_handle *h = e && e->state == ETL_RUNNING ? e->run : NULL;
    if (h)
        __atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
    *defined = e != NULL;
    pthread_mutex_unlock(&r->mu);
    return h;
}

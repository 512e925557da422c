/*
 * api.c - the /v1/etl endpoints with AIStore's semantics: init answers only
 * once the ETL is ready, list shows running ETLs only, stop keeps the
 * definition, start re-runs the stored init, delete stops and forgets.
 * Error messages keep the words the SDK maps ("etl[N] already exists",
 * "etl job N does not exist"). Operations on one ETL never overlap: an entry
 * being started or stopped is busy and others get 409.
 */
#include "etl/etl_int.h"

#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOGS_MAX (1024 * 1024)

void etl_reply_init(etl_reply *r)
{
    memset(r, 0, sizeof *r);
    cmn_buf_init(&r->body);
}

void etl_reply_free(etl_reply *r)
{
    cmn_buf_free(&r->body);
}

__attribute__((format(printf, 3, 4))) static void reply_err(etl_reply *out, int code, const char *fmt, ...)
{
    cmn_buf_reset(&out->body);
    va_list ap;
    va_start(ap, fmt);
    cmn_buf_vprintf(&out->body, fmt, ap);
    va_end(ap);
    out->err = code < 0 ? -code : code;
    out->content_type = "text/plain";
    if (cmn_err_http_status(code) >= 500)
        cmn_error("%s", out->body.data ? out->body.data : "");
}

static void reply_text(etl_reply *out, const char *text)
{
    cmn_buf_reset(&out->body);
    cmn_buf_puts(&out->body, text);
    out->err = 0;
    out->content_type = "text/plain";
}

static void reply_json(etl_reply *out, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    cmn_buf_reset(&out->body);
    cmn_buf_puts(&out->body, s);
    free(s);
    out->err = 0;
    out->content_type = "application/json";
}

static const char *state_name(etl_state s)
{
    return s == ETL_RUNNING ? "running" : s == ETL_ERROR ? "error" : "stopped";
}

/* N's entry with r->mu held, or NULL (unlocked) with out the 400/404. */
static etl_entry *find_locked(etl_registry *r, const char *name, etl_reply *out)
{
    char why[256];
    if (!etl_name_valid(name, why, sizeof why)) {
        reply_err(out, EINVAL, "%s", why);
        return NULL;
    }
    pthread_mutex_lock(&r->mu);
    etl_entry *e = etl_registry_find(r, name);
    if (!e) {
        pthread_mutex_unlock(&r->mu);
        reply_err(out, ENOENT, "etl job %s does not exist", name);
    }
    return e;
}

/* Looks name up and marks it busy (locked). NULL with out filled otherwise. */
static etl_entry *claim(etl_registry *r, const char *name, etl_reply *out)
{
    etl_entry *e = find_locked(r, name, out);
    if (!e)
        return NULL;
    if (e->busy) {
        reply_err(out, EBUSY, "etl[%s] is being started or stopped; try again", name);
        e = NULL;
    } else {
        e->busy = true;
    }
    pthread_mutex_unlock(&r->mu);
    return e;
}

static void release(etl_registry *r, etl_entry *e)
{
    pthread_mutex_lock(&r->mu);
    e->busy = false;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void launch_reply(etl_registry *r, etl_entry *e, etl_reply *out)
{
    char err[ETL_ERRLEN];
    int rc = etl_launch(r, e, err, sizeof err);
    if (rc != 0) {
        pthread_mutex_lock(&r->mu);
        e->state = ETL_ERROR;
        snprintf(e->last_error, sizeof e->last_error, "%s", err);
        pthread_mutex_unlock(&r->mu);
        reply_err(out, rc, "%s", err);
        return;
    }
    pthread_mutex_lock(&r->mu);
    reply_text(out, e->xid);
    pthread_mutex_unlock(&r->mu);
}

void etl_api_init(etl_registry *r, const char *body, size_t len, etl_reply *out)
{
    etl_msg m;
    char err[ETL_ERRLEN];
    if (etl_msg_parse(body, len, &m, err, sizeof err) != 0) {
        reply_err(out, EINVAL, "%s", err);
        return;
    }
    pthread_mutex_lock(&r->mu);
    if (etl_registry_find(r, m.name)) {
        pthread_mutex_unlock(&r->mu);
        reply_err(out, EINVAL, "etl[%s] already exists", m.name); /* AIStore answers 400, not 409 */
        etl_msg_free(&m);
        return;
    }
    if (__atomic_load_n(&r->closing, __ATOMIC_ACQUIRE)) {
        pthread_mutex_unlock(&r->mu);
        reply_err(out, EAGAIN, "etl[%s]: shutting down", m.name);
        etl_msg_free(&m);
        return;
    }
    etl_entry *e = etl_entry_new(r, body, len, &m);
    r->v = cmn_xrealloc(r->v, (r->n + 1) * sizeof *r->v);
    r->v[r->n++] = e;
    e->busy = true;
    pthread_mutex_unlock(&r->mu);

    etl_rm_tree(e->dir); /* leftovers of an earlier definition of the name */
    launch_reply(r, e, out);
    bool ok = out->err == 0;
    if (ok && (etl_entry_persist(e) != 0)) {
        etl_halt(r, e, ETL_STOPPED);
        reply_err(out, EIO, "etl[%s]: cannot save its definition under %s", e->msg.name, e->dir);
        ok = false;
    }
    if (!ok) {
        /* A failed init leaves nothing behind: no process, no definition. */
        etl_rm_tree(e->dir);
        pthread_mutex_lock(&r->mu);
        etl_registry_remove(r, e);
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        return;
    }
    release(r, e);
}

int etl_api_check_init(const char *body, size_t len, char *name, size_t namelen, cmn_err *err)
{
    etl_msg m;
    char why[ETL_ERRLEN];
    if (etl_msg_parse(body, len, &m, why, sizeof why) != 0)
        return cmn_err_set(err, EINVAL, "%s", why);
    snprintf(name, namelen, "%s", m.name);
    etl_msg_free(&m);
    return 0;
}

void etl_api_list(etl_registry *r, bool all, etl_reply *out)
{
    cJSON *a = cJSON_CreateArray();
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        etl_entry *e = r->v[i];
        bool running = e->state == ETL_RUNNING && e->run;
        if (!running && !all)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", e->msg.name);
        cJSON_AddStringToObject(o, "xaction_id", e->xid);
        cJSON_AddStringToObject(o, "stage", running ? "Running" : e->busy ? "Initializing" : "Aborted");
        cJSON_AddNumberToObject(o, "obj_count", running ? (double)__atomic_load_n(&e->run->obj_count, __ATOMIC_RELAXED) : 0);
        cJSON_AddNumberToObject(o, "in_bytes", running ? (double)__atomic_load_n(&e->run->in_bytes, __ATOMIC_RELAXED) : 0);
        cJSON_AddNumberToObject(o, "out_bytes", running ? (double)__atomic_load_n(&e->run->out_bytes, __ATOMIC_RELAXED) : 0);
        cJSON_AddItemToArray(a, o);
    }
    pthread_mutex_unlock(&r->mu);
    reply_json(out, a);
}

void etl_api_show(etl_registry *r, const char *name, etl_reply *out)
{
    etl_entry *e = find_locked(r, name, out);
    if (!e)
        return;
    cJSON *o = etl_msg_to_json(&e->msg);
    cJSON_AddStringToObject(o, "status", state_name(e->state));
    cJSON_AddStringToObject(o, "last_error", e->last_error);
    if (e->msg.kind == ETL_INIT_CODE)
        cJSON_AddStringToObject(o, "interpreter", e->interpreter ? e->interpreter : "");
    cJSON *w = cJSON_AddArrayToObject(o, "warnings");
    if (e->warnings.data) {
        char *copy = cmn_xstrdup(e->warnings.data), *save = NULL;
        for (char *l = copy ? strtok_r(copy, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
            cJSON_AddItemToArray(w, cJSON_CreateString(l));
        free(copy);
    }
    pthread_mutex_unlock(&r->mu);
    reply_json(out, o);
}

void etl_api_details(etl_registry *r, const char *name, const char *job, etl_reply *out)
{
    etl_entry *e = find_locked(r, name, out);
    if (!e)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "init_msg", etl_msg_to_json(&e->msg));
    cJSON_AddItemToObject(o, "obj_errors", e->run ? etl_handle_errors_json(e->run, job && *job ? job : NULL) : cJSON_CreateArray());
    pthread_mutex_unlock(&r->mu);
    reply_json(out, o);
}

static etl_state state_of(etl_registry *r, const etl_entry *e)
{
    pthread_mutex_lock(&r->mu);
    etl_state st = e->state;
    pthread_mutex_unlock(&r->mu);
    return st;
}

void etl_api_stop(etl_registry *r, const char *name, etl_reply *out)
{
    etl_entry *e = claim(r, name, out);
    if (!e)
        return;
    etl_state st = state_of(r, e);
    if (st == ETL_STOPPED) {
        reply_err(out, EINVAL, "etl[%s] is not running", name);
    } else {
        etl_halt(r, e, ETL_STOPPED);
        cmn_buf_reset(&out->body);
        out->err = 0;
        out->content_type = "text/plain";
    }
    release(r, e);
}

void etl_api_start(etl_registry *r, const char *name, etl_reply *out)
{
    etl_entry *e = claim(r, name, out);
    if (!e)
        return;
    etl_state st = state_of(r, e);
    if (st == ETL_RUNNING)
        reply_err(out, EINVAL, "etl[%s] is already running", name);
    else
        launch_reply(r, e, out);
    release(r, e);
}

void etl_api_delete(etl_registry *r, const char *name, etl_reply *out)
{
    etl_entry *e = claim(r, name, out);
    if (!e)
        return;
    etl_halt(r, e, ETL_STOPPED);
    if (etl_rm_tree(e->dir) != 0)
        cmn_warn("etl[%s]: cannot remove %s", name, e->dir);
    pthread_mutex_lock(&r->mu);
    etl_registry_remove(r, e);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    cmn_info("etl[%s]: deleted", name);
    cmn_buf_reset(&out->body);
    out->err = 0;
    out->content_type = "text/plain";
}

/* The entry for logs/health/metrics: known, copying what is needed under
 * the lock (pid 0 unless it is running). */
static bool known(etl_registry *r, const char *name, etl_reply *out, pid_t *pid, char *log, size_t loglen)
{
    etl_entry *e = find_locked(r, name, out);
    if (!e)
        return false;
    *pid = e->state == ETL_RUNNING ? e->pid : 0;
    snprintf(log, loglen, "%s", e->log);
    pthread_mutex_unlock(&r->mu);
    return true;
}

/* The same, for what only a running process can answer. */
static bool running(etl_registry *r, const char *name, etl_reply *out, pid_t *pid)
{
    char log[4200];
    if (!known(r, name, out, pid, log, sizeof log))
        return false;
    if (!*pid)
        reply_err(out, ENOENT, "etl job %s is not running", name);
    return *pid != 0;
}

/* AIStore answers these per target: [{"target_id": ..., ...}]; the row to fill. */
static cJSON *target_row(const etl_registry *r, cJSON *arr)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "target_id", r->node_id);
    cJSON_AddItemToArray(arr, o);
    return o;
}

void etl_api_logs(etl_registry *r, const char *name, etl_reply *out)
{
    pid_t pid;
    char log[4200];
    if (!known(r, name, out, &pid, log, sizeof log))
        return;
    char *tail = etl_file_tail(log, LOGS_MAX);
    char *b64 = cmn_base64_encode(tail, strlen(tail));
    free(tail);
    cJSON *a = cJSON_CreateArray(), *o = target_row(r, a);
    cJSON_AddStringToObject(o, "logs", b64 ? b64 : "");
    free(b64);
    reply_json(out, a);
}

void etl_api_health(etl_registry *r, const char *name, etl_reply *out)
{
    pid_t pid;
    if (!running(r, name, out, &pid))
        return;
    cJSON *a = cJSON_CreateArray();
    cJSON_AddStringToObject(target_row(r, a), "health_status", "Running");
    reply_json(out, a);
}

/* CPU seconds used so far and resident bytes of the group leader (/proc). */
static void proc_usage(pid_t pid, double *cpu, double *mem)
{
    char path[64], buf[1024];
    *cpu = *mem = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(buf, sizeof buf, f)) {
            char *p = strrchr(buf, ')');
            unsigned long ut = 0, st = 0;
            /* after "pid (comm)": state and 10 fields, then utime stime */
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
                *cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    f = fopen(path, "r");
    if (f) {
        unsigned long size = 0, rss = 0;
        if (fscanf(f, "%lu %lu", &size, &rss) == 2)
            *mem = (double)rss * (double)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
}

void etl_api_metrics(etl_registry *r, const char *name, etl_reply *out)
{
    pid_t pid;
    if (!running(r, name, out, &pid))
        return;
    double cpu, mem;
    proc_usage(pid, &cpu, &mem);
    cJSON *a = cJSON_CreateArray(), *o = target_row(r, a);
    cJSON_AddNumberToObject(o, "cpu", cpu);
    cJSON_AddNumberToObject(o, "mem", mem);
    reply_json(out, a);
}

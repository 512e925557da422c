/*
 * cluster_etl.c - ETLs of a cluster. Each ETL is one etcd key, etl/NAME:
 * {"state": "running" | "stopped", "msg": its init message}. Init makes the
 * key by compare-and-swap (a second init of the name is refused, as on one
 * node), start and stop change its state (compare-and-swap on its revision),
 * delete removes it. Every node watches etl/ and brings its own registry to
 * what the keys say (a few long-lived workers, one ETL each at a time): an
 * instance made from the message, started, stopped, deleted. A node that
 * joins or restarts reads the keys and does the same: it runs the running
 * ETLs and drops the ones the cluster no longer has.
 *
 * The node asked writes the key, applies it to itself at once (without
 * waiting for its watch) and answers with its own instance's outcome; an
 * init that fails here removes it everywhere. It then
 * waits a bounded time for the others and names their states in the
 * Ais-Etlfs-Etl-Targets header. Reads (list, details, logs, health,
 * metrics) ask every target (TGT_HDR_ETL_LOCAL: answer for yourself) and
 * say per target, as AIStore's gateways do.
 */
#include "target/target.h"

#include "common/ais_client.h"
#include "common/etcd.h"
#include "common/http_client.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAME_LEN 64
#define PEERS_WAIT_MS 10000  /* how long the node asked waits for the others */
#define LOCAL_WAIT_S 1800    /* its own instance: the launch bounds itself; this guards a lost wake-up */
#define ASK_TIMEOUT_MS 10000 /* one question to another target */
#define RETRY_MS 1000
#define UPDATE_TRIES 5
#define WORKERS 4 /* ETLs acted on at once */

/* One ETL as the cluster wants it, and what this node made of it. */
typedef struct want {
    char name[NAME_LEN];
    char *msg; /* the init message */
    size_t msg_len;
    bool run, gone;      /* the key says running; the key is gone */
    int64_t rev;         /* etcd's revision of the last change applied */
    int64_t create_rev;  /* of the definition */
    int64_t made_from;   /* create_rev of the local instance, 0: unknown (made before a restart) */
    uint64_t gen, done;  /* changes applied, changes this node has acted on */
    bool working;        /* a worker acts on it */
    int err;             /* the last action's outcome: 0 or an errno */
    char out[1024];      /* its xid, or why it failed */
} want;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    want **v;
    size_t n;
    int stop;
    pthread_t workers[WORKERS];
    int nworkers;
    pthread_t watcher;
    bool watching;
} ce = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

bool tgt_cluster_etl_here(tgt_req *r) { return tgt_cluster_on() && !tgt_header(r, TGT_HDR_ETL_LOCAL); }

static bool stopping(void) { return __atomic_load_n(&ce.stop, __ATOMIC_ACQUIRE); }

/* ---------------------------------------------------------------- the table (ce.mu held) */

static want *find(const char *name)
{
    for (size_t i = 0; i < ce.n; i++)
        if (!strcmp(ce.v[i]->name, name))
            return ce.v[i];
    return NULL;
}

static want *find_or_add(const char *name)
{
    want *w = find(name);
    if (!w) {
        w = cmn_xcalloc(1, sizeof *w);
        snprintf(w->name, sizeof w->name, "%s", name);
        w->gone = true;
        ce.v = cmn_xrealloc(ce.v, (ce.n + 1) * sizeof *ce.v);
        ce.v[ce.n++] = w;
    }
    return w;
}

/* a change to act on: a worker takes it */
static void kick(want *w)
{
    w->gen++;
    pthread_cond_broadcast(&ce.cv);
}

/* The key's value: {"state", "msg"}. */
static char *value_of(const char *msg, size_t len, bool run)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "state", run ? "running" : "stopped");
    char *m = cmn_xmalloc(len + 1);
    memcpy(m, msg, len);
    m[len] = '\0';
    cJSON_AddStringToObject(j, "msg", m);
    free(m);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* The key's value parsed: its state and message (malloc'd); -EINVAL. */
static int parse_value(const cmn_etcd_kv *kv, bool *run, char **msg)
{
    cJSON *j = NULL;
    cmn_err perr;
    if (cmn_json_parse(kv->value, kv->value_len, &j, &perr) != 0)
        return -EINVAL;
    const cJSON *st = cJSON_GetObjectItem(j, "state"), *m = cJSON_GetObjectItem(j, "msg");
    int rc = cJSON_IsString(st) && cJSON_IsString(m) ? 0 : -EINVAL;
    if (rc == 0) {
        *run = !strcmp(st->valuestring, "running");
        *msg = cmn_xstrdup(m->valuestring);
    }
    cJSON_Delete(j);
    return rc;
}

static const char *name_of(const char *key)
{
    char *prefix = tgt_cluster_key("etl/", NULL);
    size_t pl = strlen(prefix);
    bool ours = !strncmp(key, prefix, pl) && key[pl] && strlen(key + pl) < NAME_LEN && !strchr(key + pl, '/');
    free(prefix);
    return ours ? key + pl : NULL;
}

static void apply_put(const cmn_etcd_kv *kv)
{
    const char *name = name_of(kv->key);
    bool run;
    char *msg;
    if (!name)
        return;
    if (parse_value(kv, &run, &msg) != 0) {
        cmn_warn("etl[%s]: the cluster's key %s is not an ETL's: ignored", name, kv->key);
        return;
    }
    want *w = find_or_add(name);
    if (kv->mod_rev <= w->rev) { /* seen already (our own write, then the watch's news of it) */
        free(msg);
        return;
    }
    free(w->msg);
    w->msg = msg;
    w->msg_len = strlen(msg);
    w->run = run;
    w->gone = false;
    w->rev = kv->mod_rev;
    w->create_rev = kv->create_rev;
    kick(w);
}

/* rev: the deletion's revision, or a lower bound of it (above the last put) */
static void apply_gone(const char *name, int64_t rev)
{
    want *w = find_or_add(name);
    if (rev <= w->rev || (w->gone && w->done == w->gen && !w->working && w->rev))
        return;
    w->gone = true;
    w->rev = rev;
    kick(w);
}

/* ---------------------------------------------------------------- this node's registry */

static cJSON *local_list(void)
{
    etl_reply er;
    etl_reply_init(&er);
    etl_api_list(tgt->etl, true, &er);
    cJSON *a = NULL;
    cmn_err perr;
    if (er.err || cmn_json_parse(er.body.data ? er.body.data : "", er.body.len, &a, &perr) != 0 || !cJSON_IsArray(a)) {
        cJSON_Delete(a);
        a = cJSON_CreateArray();
    }
    etl_reply_free(&er);
    return a;
}

static cJSON *row_of(const cJSON *arr, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const cJSON *id = cJSON_GetObjectItem(e, "id");
        if (cJSON_IsString(id) && !strcmp(id->valuestring, name))
            return (cJSON *)e;
    }
    return NULL;
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *s = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(s) ? s->valuestring : "";
}

/* -1: no instance here; 0: one that is not running; 1: running (xid into xid). */
static int local_stage(const char *name, char *xid, size_t len)
{
    cJSON *a = local_list(), *row = row_of(a, name);
    int st = !row ? -1 : !strcmp(str_of(row, "stage"), "Running");
    snprintf(xid, len, "%s", row ? str_of(row, "xaction_id") : "");
    cJSON_Delete(a);
    return st;
}

/* Which definition (its key's create revision) this node's instance of
 * name was made from, kept on disk beside the node id so that a restarted
 * node knows an ETL defined again while it was down; 0: unknown. */
static char *made_path(const char *name)
{
    return cmn_xasprintf("%s/.etlfs/etl-made/%s", tgt->store.mpaths[0], name);
}

static int64_t made_load(const char *name)
{
    char *path = made_path(name);
    FILE *f = fopen(path, "r");
    long long rev = 0;
    if (f) {
        if (fscanf(f, "%lld", &rev) != 1)
            rev = 0;
        fclose(f);
    }
    free(path);
    return rev;
}

static void made_save(const char *name, int64_t rev)
{
    char *path = made_path(name);
    if (!rev) {
        unlink(path);
    } else {
        char *dir = cmn_xasprintf("%s/.etlfs/etl-made", tgt->store.mpaths[0]);
        FILE *f = cmn_mkdir_p(dir) == 0 ? fopen(path, "w") : NULL;
        if (!f || fprintf(f, "%lld\n", (long long)rev) < 0 || fclose(f) != 0)
            cmn_warn("etl[%s]: cannot keep %s: %s", name, path, strerror(errno));
        free(dir);
    }
    free(path);
}

static void outcome(etl_reply *er, int *err, char *out, size_t len)
{
    *err = er->err;
    snprintf(out, len, "%s", er->body.data ? er->body.data : "");
    etl_reply_free(er);
    etl_reply_init(er);
}

/* Brings this node's instance of w to what the cluster wants, until no
 * change is left (ce.mu held; released while it acts). */
static void reconcile(want *w)
{
    while (!stopping() && w->done != w->gen) {
        uint64_t gen = w->gen;
        bool gone = w->gone, run = w->run;
        int64_t crev = w->create_rev, made = w->made_from;
        char *msg = w->msg && !gone ? cmn_xstrdup(w->msg) : NULL;
        size_t len = msg ? w->msg_len : 0;
        char name[NAME_LEN], xid[256], out[sizeof w->out] = "";
        snprintf(name, sizeof name, "%s", w->name);
        pthread_mutex_unlock(&ce.mu);

        etl_reply er;
        etl_reply_init(&er);
        int64_t was = made = made ? made : made_load(name);
        int err = 0, here = local_stage(name, xid, sizeof xid);
        if (here >= 0 && (gone || (run && made && made != crev))) { /* gone, or made from another definition */
            etl_api_delete(tgt->etl, name, &er);
            outcome(&er, &err, out, sizeof out);
            cmn_info("etl[%s]: deleted here (cluster)%s%s", name, err ? ": " : "", err ? out : "");
            here = err ? here : -1;
            made = err ? made : 0;
        }
        if (!gone && run && here < 0) {
            etl_api_init(tgt->etl, msg, len, &er);
            outcome(&er, &err, out, sizeof out);
            made = err ? 0 : crev;
            cmn_info("etl[%s]: %s here (cluster)%s%s", name, err ? "failed to start" : "started", err ? ": " : "",
                     err ? out : "");
        } else if (!gone && run && here == 0) {
            etl_api_start(tgt->etl, name, &er);
            outcome(&er, &err, out, sizeof out);
        } else if (!gone && run) {
            snprintf(out, sizeof out, "%s", xid);
        } else if (!gone && here == 1) {
            etl_api_stop(tgt->etl, name, &er);
            outcome(&er, &err, out, sizeof out);
        }
        etl_reply_free(&er);
        free(msg);
        if (made != was)
            made_save(name, made);

        pthread_mutex_lock(&ce.mu);
        w->done = gen;
        w->err = err;
        w->made_from = made;
        snprintf(w->out, sizeof w->out, "%s", out);
        pthread_cond_broadcast(&ce.cv);
    }
}

/* The workers: long-lived threads, because an ETL process dies with the
 * thread that started it (PR_SET_PDEATHSIG follows the forking thread:
 * etl/runtime_local.c). Each takes an ETL with a change to act on; one
 * worker per ETL at a time. */
static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ce.mu);
    while (!stopping()) {
        want *w = NULL;
        for (size_t i = 0; i < ce.n && !w; i++)
            if (!ce.v[i]->working && ce.v[i]->done != ce.v[i]->gen)
                w = ce.v[i];
        if (!w) {
            pthread_cond_wait(&ce.cv, &ce.mu);
            continue;
        }
        w->working = true;
        reconcile(w);
        w->working = false;
        pthread_cond_broadcast(&ce.cv);
    }
    pthread_mutex_unlock(&ce.mu);
    return NULL;
}

/* ---------------------------------------------------------------- following etcd */

/* Reads every ETL key and applies it; a name this node has that the
 * cluster does not is gone (deleted while this node was away). */
static int read_all(int64_t *rev, cmn_err *err)
{
    char *prefix = tgt_cluster_key("etl/", NULL);
    cmn_etcd_kv *kvs;
    int n, rc = cmn_etcd_get(tgt_cluster_etcd(), prefix, true, &kvs, &n, rev, err);
    free(prefix);
    if (rc)
        return rc;
    cJSON *local = local_list();
    pthread_mutex_lock(&ce.mu);
    for (int i = 0; i < n; i++)
        apply_put(&kvs[i]);
    bool *listed = cmn_xcalloc(ce.n + 1, sizeof *listed);
    for (int i = 0; i < n; i++) {
        const char *name = name_of(kvs[i].key);
        want *w = name ? find(name) : NULL;
        for (size_t j = 0; w && j < ce.n; j++)
            listed[j] |= ce.v[j] == w;
    }
    size_t had = ce.n;
    for (size_t j = 0; j < had; j++)
        if (!listed[j] && !ce.v[j]->gone)
            apply_gone(ce.v[j]->name, *rev);
    free(listed);
    const cJSON *e;
    cJSON_ArrayForEach(e, local)
    {
        const char *name = str_of(e, "id");
        want *w = find(name);
        if (*name && (!w || w->gone))
            apply_gone(name, *rev); /* a no-op for one already dropped */
    }
    pthread_mutex_unlock(&ce.mu);
    cJSON_Delete(local);
    cmn_etcd_kvs_free(kvs, n);
    return 0;
}

static int on_event(void *ctx, const cmn_etcd_event *ev)
{
    (void)ctx;
    pthread_mutex_lock(&ce.mu);
    const char *name = name_of(ev->kv.key);
    if (ev->deleted && name)
        apply_gone(name, ev->kv.mod_rev);
    else if (name)
        apply_put(&ev->kv);
    pthread_mutex_unlock(&ce.mu);
    return stopping();
}

static bool nap(int ms)
{
    for (int t = 0; t < ms && !stopping(); t += 100)
        usleep(100 * 1000);
    return !stopping();
}

static void *watcher_main(void *arg)
{
    int64_t rev = *(int64_t *)arg;
    free(arg);
    char *prefix = tgt_cluster_key("etl/", NULL);
    bool down = false;
    while (!stopping()) {
        cmn_err err;
        int rc = 0;
        if (rev) {
            int64_t next;
            rc = cmn_etcd_watch(tgt_cluster_etcd(), prefix, rev + 1, on_event, NULL, &ce.stop, &next, &err);
            if (stopping() || !nap(rc ? RETRY_MS : 0))
                break;
        }
        /* whatever ended the stream, a fresh read makes the table true again */
        rev = 0;
        rc = read_all(&rev, &err);
        if (rc && !down)
            cmn_warn("cluster %s: cannot read the ETLs: %s (retrying)", tgt->cfg.cluster, err.msg);
        down = rc != 0;
        if (rc && !nap(RETRY_MS))
            break;
    }
    free(prefix);
    return NULL;
}

int tgt_cluster_etl_begin(cmn_err *err)
{
    for (; ce.nworkers < WORKERS; ce.nworkers++)
        if (pthread_create(&ce.workers[ce.nworkers], NULL, worker_main, NULL) != 0)
            break;
    if (!ce.nworkers)
        return cmn_err_set(err, EAGAIN, "cannot start the threads that follow the cluster's ETLs");
    int64_t *rev = cmn_xcalloc(1, sizeof *rev);
    int rc = read_all(rev, err);
    if (rc)
        cmn_warn("cluster %s: cannot read the ETLs: %s (retrying)", tgt->cfg.cluster, err->msg);
    if (pthread_create(&ce.watcher, NULL, watcher_main, rev) != 0) {
        free(rev);
        return cmn_err_set(err, EAGAIN, "cannot start the thread that follows the cluster's ETLs");
    }
    ce.watching = true;
    return 0;
}

void tgt_cluster_etl_end(void)
{
    __atomic_store_n(&ce.stop, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&ce.mu);
    pthread_cond_broadcast(&ce.cv); /* requests waiting for this node give up */
    pthread_mutex_unlock(&ce.mu);
    if (ce.watching)
        pthread_join(ce.watcher, NULL);
    ce.watching = false;
    for (int i = 0; i < ce.nworkers; i++) /* each ends after the action in hand */
        pthread_join(ce.workers[i], NULL);
    ce.nworkers = 0;
    pthread_mutex_lock(&ce.mu);
    for (size_t i = 0; i < ce.n; i++) {
        free(ce.v[i]->msg);
        free(ce.v[i]);
    }
    free(ce.v);
    ce.v = NULL;
    ce.n = 0;
    pthread_mutex_unlock(&ce.mu);
}

/* ---------------------------------------------------------------- the node asked */

/* Reads the key back and applies it here at once; the generation to wait
 * for. A key that is gone is applied as gone. */
static uint64_t refresh(const char *name)
{
    char *key = tgt_cluster_key("etl/", name);
    cmn_etcd_kv *kvs = NULL;
    int n = 0;
    int rc = cmn_etcd_get(tgt_cluster_etcd(), key, false, &kvs, &n, NULL, NULL);
    free(key);
    pthread_mutex_lock(&ce.mu);
    if (rc == 0 && n == 1)
        apply_put(&kvs[0]);
    else if (rc == 0)
        apply_gone(name, find_or_add(name)->rev + 1);
    want *w = find_or_add(name);
    uint64_t gen = w->gen;
    pthread_mutex_unlock(&ce.mu);
    cmn_etcd_kvs_free(kvs, n);
    return gen;
}

/* Waits until this node acted on change gen of name: its outcome. */
static int wait_here(const char *name, uint64_t gen, char *out, size_t len)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += LOCAL_WAIT_S;
    pthread_mutex_lock(&ce.mu);
    want *w = find_or_add(name);
    int rc = 0;
    while (w->done < gen && !stopping() && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&ce.cv, &ce.mu, &until);
    int err = w->done >= gen ? w->err : EAGAIN;
    snprintf(out, len, "%s", w->done >= gen ? w->out : "this target is shutting down or did not act in time");
    pthread_mutex_unlock(&ce.mu);
    return err;
}

/* One question to every target (this one answers for itself directly). */
typedef enum { Q_LIST, Q_SHOW, Q_DETAILS, Q_LOGS, Q_HEALTH, Q_METRICS } query;

typedef struct peer {
    tgt_member m;
    bool self;
    query q;
    const char *name, *job, *auth;
    long status;  /* 200, another status, or 0: no answer */
    cJSON *json;  /* a 200's body */
    cmn_err err;  /* why not */
} peer;

static cJSON *node_view(void);

static void ask_self(peer *p)
{
    if (p->q == Q_LIST) {
        p->json = node_view();
        p->status = 200;
        return;
    }
    etl_reply er;
    etl_reply_init(&er);
    switch (p->q) {
    case Q_SHOW: etl_api_show(tgt->etl, p->name, &er); break;
    case Q_DETAILS: etl_api_details(tgt->etl, p->name, p->job, &er); break;
    case Q_LOGS: etl_api_logs(tgt->etl, p->name, &er); break;
    case Q_HEALTH: etl_api_health(tgt->etl, p->name, &er); break;
    default: etl_api_metrics(tgt->etl, p->name, &er); break;
    }
    if (er.err) {
        p->status = cmn_err_http_status(er.err);
        cmn_err_set(&p->err, er.err, "%s", er.body.data ? er.body.data : "");
    } else if (cmn_json_parse(er.body.data ? er.body.data : "", er.body.len, &p->json, &p->err) == 0) {
        p->status = 200;
    }
    etl_reply_free(&er);
}

static const char *const q_paths[] = {"", "", "/details", "/logs", "/health", "/metrics"};

static void *ask(void *arg)
{
    peer *p = arg;
    if (p->self) {
        ask_self(p);
        return NULL;
    }
    char *n = p->name ? cmn_path_escape(p->name) : NULL, *j = p->job ? cmn_query_escape(p->job) : NULL;
    char *url = cmn_xasprintf("%s/v1/etl%s%s%s%s%s", p->m.url, n ? "/" : "", n ? n : "", q_paths[p->q],
                              j ? "?uuid=" : "", j ? j : "");
    free(n);
    free(j);
    const char *hdrs[] = {"Accept: application/json", TGT_HDR_ETL_LOCAL ": true", p->auth, NULL};
    cmn_http_req req = {.method = "GET", .url = url, .headers = hdrs, .connect_timeout_ms = 2000,
                        .timeout_ms = ASK_TIMEOUT_MS};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    cmn_http_pool *pool = cmn_http_pool_new(1); /* a new connection: see cluster_lso.c */
    int rc = cmn_http_do(pool, &req, &resp);
    cmn_http_pool_free(pool);
    if (rc < 0) {
        cmn_err_set(&p->err, EAGAIN, "target %s (%s) did not answer: %s", p->m.id, p->m.url, resp.err.msg);
    } else if ((p->status = resp.status) != 200) {
        cmn_buf why;
        cmn_buf_init(&why);
        cmn_ais_err_message(&resp, &why);
        cmn_err_set(&p->err, -cmn_ais_status_errno(resp.status), "%s", why.data ? why.data : "");
        cmn_buf_free(&why);
    } else if (cmn_json_parse(resp.body.data ? resp.body.data : "", resp.body.len, &p->json, &p->err) != 0) {
        p->status = 0;
    }
    cmn_http_resp_free(&resp);
    free(url);
    return NULL;
}

/* Asks every target of the map in parallel; *n answers (free with peers_free). */
static peer *ask_all(tgt_req *r, query q, const char *name, const char *job, char **auth, int *n)
{
    tgt_member *ms;
    *n = tgt_cmap_members(&ms, NULL);
    const char *a = r ? tgt_header(r, "Authorization") : NULL;
    *auth = a ? cmn_xasprintf("Authorization: %s", a) : NULL;
    peer *ps = cmn_xcalloc((size_t)*n + 1, sizeof *ps);
    pthread_t *th = cmn_xcalloc((size_t)*n + 1, sizeof *th);
    for (int i = 0; i < *n; i++) {
        ps[i] = (peer){.m = ms[i], .q = q, .name = name, .job = job, .auth = *auth};
        ps[i].self = !strcmp(ms[i].id, tgt_cluster_self());
        if (pthread_create(&th[i], NULL, ask, &ps[i]) != 0)
            ask(&ps[i]), th[i] = 0;
    }
    for (int i = 0; i < *n; i++)
        if (th[i])
            pthread_join(th[i], NULL);
    free(th);
    free(ms);
    return ps;
}

static void peers_free(peer *ps, int n, char *auth)
{
    for (int i = 0; i < n; i++)
        cJSON_Delete(ps[i].json);
    free(ps);
    free(auth);
}

/* This node's instances for GET /v1/etl with TGT_HDR_ETL_LOCAL: AIStore's
 * rows, one per ETL the cluster has or this node runs, with the error of a
 * failed init or start here. */
static cJSON *node_view(void)
{
    cJSON *a = local_list();
    pthread_mutex_lock(&ce.mu);
    for (size_t i = 0; i < ce.n; i++) {
        want *w = ce.v[i];
        if (w->gone)
            continue;
        cJSON *row = row_of(a, w->name);
        bool failed = w->done == w->gen && w->err;
        if (!row) {
            row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "id", w->name);
            cJSON_AddStringToObject(row, "xaction_id", "");
            cJSON_AddStringToObject(row, "stage", w->run && !failed ? "Initializing" : "Aborted");
            cJSON_AddNumberToObject(row, "obj_count", 0);
            cJSON_AddNumberToObject(row, "in_bytes", 0);
            cJSON_AddNumberToObject(row, "out_bytes", 0);
            cJSON_AddItemToArray(a, row);
        }
        if (failed && strcmp(str_of(row, "stage"), "Running"))
            cJSON_AddStringToObject(row, "error", w->out);
    }
    pthread_mutex_unlock(&ce.mu);
    return a;
}

int tgt_cluster_etl_node_view(tgt_req *r) { return tgt_reply_json(r, 200, node_view()); }

/* A target's stage of name, from its answer to Q_LIST: "Running",
 * "Initializing", "Aborted", "Unreachable", or NULL when it has none. */
static const char *peer_stage(const peer *p, const char *name, const char **error)
{
    *error = NULL;
    if (p->status != 200) {
        *error = p->err.msg;
        return "Unreachable";
    }
    const cJSON *row = row_of(p->json, name);
    if (!row)
        return NULL;
    const cJSON *e = cJSON_GetObjectItem(row, "error");
    *error = cJSON_IsString(e) ? e->valuestring : NULL;
    return str_of(row, "stage");
}

/* Whether every target that answered shows what `run` (1 running, 0
 * stopped, -1 deleted) asks for, or failed; *summary says per target. */
static bool settled(peer *ps, int n, const char *name, int run, cmn_buf *summary)
{
    bool all = true;
    cmn_buf_reset(summary);
    for (int i = 0; i < n; i++) {
        const char *error, *st = peer_stage(&ps[i], name, &error);
        bool ok = !strcmp(st ? st : "", "Unreachable") || error ||
                  (run == 1 ? st && !strcmp(st, "Running")
                            : run == 0 ? !st || strcmp(st, "Running") : !st);
        all &= ok;
        cmn_buf_printf(summary, "%s%s=%s", i ? ", " : "", ps[i].m.id, st ? st : run < 0 ? "deleted" : "none");
        if (error)
            cmn_buf_printf(summary, " (%s)", error);
    }
    return all;
}

/* Waits (bounded) for the other targets; the states per target. */
static char *wait_peers(tgt_req *r, const char *name, int run)
{
    int64_t until = cmn_mono_ns() + (int64_t)PEERS_WAIT_MS * 1000000;
    cmn_buf s;
    cmn_buf_init(&s);
    for (;;) {
        char *auth;
        int n;
        peer *ps = ask_all(r, Q_LIST, NULL, NULL, &auth, &n);
        bool done = settled(ps, n, name, run, &s);
        peers_free(ps, n, auth);
        if (done || cmn_mono_ns() >= until || stopping())
            break;
        usleep(200 * 1000);
    }
    for (char *c = s.data; c && *c; c++) /* one header line */
        if (*c == '\r' || *c == '\n')
            *c = ' ';
    return cmn_buf_steal(&s);
}

static int reply_states(tgt_req *r, const char *text, const char *states)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (resp) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        if (states && *states)
            MHD_add_response_header(resp, TGT_HDR_ETL_TARGETS, states);
    }
    return tgt_reply(r, 200, resp);
}

/* etcd unreachable is "try again" (503), not the ETL's fault */
static int unreachable(int rc)
{
    return rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EIO ? -EAGAIN : rc;
}

int tgt_cluster_etl_init(tgt_req *r)
{
    const char *body = r->body.data ? r->body.data : "";
    size_t len = r->body.data ? r->body.len : 0;
    char name[NAME_LEN], out[sizeof ((want *)0)->out];
    cmn_err err;
    if (etl_api_check_init(body, len, name, sizeof name, &err) != 0)
        return tgt_reply_err(r, 400, "%s", err.msg);
    char *key = tgt_cluster_key("etl/", name), *val = value_of(body, len, true);
    int rc = cmn_etcd_create(tgt_cluster_etcd(), key, val, 0, &err);
    free(val);
    if (rc) {
        free(key);
        if (rc == -EEXIST) /* as on one node: AIStore answers 400 */
            return tgt_reply_err(r, 400, "etl[%s] already exists", name);
        return tgt_reply_err(r, cmn_err_http_status(-unreachable(rc)), "init etl[%s]: %s", name, err.msg);
    }
    int e = wait_here(name, refresh(name), out, sizeof out);
    if (e) {
        /* failed here: nobody keeps it (AIStore aborts a failed init everywhere) */
        if (cmn_etcd_delete(tgt_cluster_etcd(), key, &err) == 0)
            refresh(name);
        free(key);
        return tgt_reply_err(r, cmn_err_http_status(e), "%s", out);
    }
    free(key);
    char *states = wait_peers(r, name, 1);
    cmn_info("etl[%s]: initialised in cluster %s: %s", name, tgt->cfg.cluster, states);
    int ret = reply_states(r, out, states);
    free(states);
    return ret;
}

/* start / stop / delete: the key changed by compare-and-swap, applied here,
 * the others waited for (bounded). */
int tgt_cluster_etl_set(tgt_req *r, const char *name, const char *action)
{
    bool del = !strcmp(action, "delete"), start = !strcmp(action, "start");
    char *key = tgt_cluster_key("etl/", name), out[sizeof ((want *)0)->out] = "";
    cmn_err err;
    int rc = -ESTALE;
    uint64_t gen = 0;
    for (int i = 0; i < UPDATE_TRIES && rc == -ESTALE; i++) {
        cmn_etcd_kv *kvs;
        int n;
        bool run;
        char *msg = NULL;
        if ((rc = cmn_etcd_get(tgt_cluster_etcd(), key, false, &kvs, &n, NULL, &err)) != 0)
            break;
        if (n != 1 || parse_value(&kvs[0], &run, &msg) != 0) {
            rc = cmn_err_set(&err, ENOENT, "etl job %s does not exist", name);
        } else if (del) {
            rc = cmn_etcd_delete(tgt_cluster_etcd(), key, &err);
            if (rc == -ENOENT)
                cmn_err_set(&err, ENOENT, "etl job %s does not exist", name);
            if (rc == 0) {
                pthread_mutex_lock(&ce.mu);
                apply_gone(name, kvs[0].mod_rev + 1);
                gen = find_or_add(name)->gen;
                pthread_mutex_unlock(&ce.mu);
            }
        } else if (!start && !run) {
            rc = cmn_err_set(&err, EINVAL, "etl[%s] is not running", name);
        } else if (start && run && local_stage(name, out, sizeof out) == 1) {
            rc = cmn_err_set(&err, EINVAL, "etl[%s] is already running", name);
        } else {
            /* start of a running one that is not running here: written again, every target tries again */
            char *val = value_of(msg, strlen(msg), start);
            rc = cmn_etcd_update(tgt_cluster_etcd(), key, val, kvs[0].mod_rev, &err);
            free(val);
        }
        free(msg);
        cmn_etcd_kvs_free(kvs, n);
    }
    free(key);
    if (rc)
        return tgt_reply_err(r, cmn_err_http_status(-unreachable(rc)), "%s", err.msg);
    int e = wait_here(name, del ? gen : refresh(name), out, sizeof out);
    if (e)
        return tgt_reply_err(r, cmn_err_http_status(e), "%s", out);
    char *states = wait_peers(r, name, del ? -1 : start);
    cmn_info("etl[%s]: %s in cluster %s: %s", name, action, tgt->cfg.cluster, states);
    int ret = reply_states(r, start ? out : "", states);
    free(states);
    return ret;
}

int tgt_cluster_etl_list(tgt_req *r, bool all)
{
    char *auth;
    int n;
    peer *ps = ask_all(r, Q_LIST, NULL, NULL, &auth, &n);
    cJSON *list = cJSON_CreateArray();
    pthread_mutex_lock(&ce.mu);
    for (size_t i = 0; i < ce.n; i++) {
        want *w = ce.v[i];
        if (w->gone)
            continue;
        cJSON *o = cJSON_CreateObject(), *ts = cJSON_CreateArray();
        double objs = 0, in = 0, outb = 0;
        const char *xid = "";
        int running = 0, answered = 0, failed = 0;
        for (int p = 0; p < n; p++) {
            const char *error, *st = peer_stage(&ps[p], w->name, &error);
            const cJSON *row = ps[p].status == 200 ? row_of(ps[p].json, w->name) : NULL;
            if (!st)
                st = w->run ? "Initializing" : "Aborted"; /* its watch has not told it yet */
            if (row) {
                const cJSON *c;
                objs += cJSON_IsNumber(c = cJSON_GetObjectItem(row, "obj_count")) ? c->valuedouble : 0;
                in += cJSON_IsNumber(c = cJSON_GetObjectItem(row, "in_bytes")) ? c->valuedouble : 0;
                outb += cJSON_IsNumber(c = cJSON_GetObjectItem(row, "out_bytes")) ? c->valuedouble : 0;
                if (!*xid || ps[p].self)
                    xid = *str_of(row, "xaction_id") ? str_of(row, "xaction_id") : xid;
            }
            if (strcmp(st, "Unreachable")) {
                answered++;
                running += !strcmp(st, "Running");
                failed += error != NULL;
            }
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "target_id", ps[p].m.id);
            cJSON_AddStringToObject(t, "stage", st);
            if (error)
                cJSON_AddStringToObject(t, "error", error);
            cJSON_AddItemToArray(ts, t);
        }
        const char *stage = !w->run || failed ? "Aborted" : answered && running == answered ? "Running" : "Initializing";
        if (!all && strcmp(stage, "Running")) {
            cJSON_Delete(o);
            cJSON_Delete(ts);
            continue;
        }
        cJSON_AddStringToObject(o, "id", w->name);
        cJSON_AddStringToObject(o, "xaction_id", xid);
        cJSON_AddStringToObject(o, "stage", stage);
        cJSON_AddNumberToObject(o, "obj_count", objs);
        cJSON_AddNumberToObject(o, "in_bytes", in);
        cJSON_AddNumberToObject(o, "out_bytes", outb);
        cJSON_AddItemToObject(o, "targets", ts);
        cJSON_AddItemToArray(list, o);
    }
    pthread_mutex_unlock(&ce.mu);
    peers_free(ps, n, auth);
    return tgt_reply_json(r, 200, list);
}

/* A row of a per-target list, with the target's id in the cluster (the
 * registry knows the node by the id it had before the node joined). */
static cJSON *with_id(cJSON *row, const char *id)
{
    if (cJSON_IsObject(row)) {
        cJSON_DeleteItemFromObject(row, "target_id");
        cJSON_AddStringToObject(row, "target_id", id);
    }
    return row;
}

/* details, logs, health, metrics: every target's answer, AIStore's per
 * target lists concatenated (details: one init_msg, every obj_error). A
 * target without the ETL is left out; none with it is the local answer's
 * error. Health says per target, a target that cannot answer included. */
static int gather(tgt_req *r, query q, const char *name, const char *job)
{
    char *auth;
    int n;
    peer *ps = ask_all(r, q, name, job, &auth, &n);
    cJSON *res = q == Q_DETAILS ? cJSON_CreateObject() : cJSON_CreateArray(), *errs = NULL;
    int ok = 0, first_bad = -1;
    for (int i = 0; i < n; i++) {
        peer *p = &ps[i];
        if (p->status != 200) {
            if (first_bad < 0 || p->self)
                first_bad = i;
            if (q == Q_HEALTH && p->status != 404) {
                cJSON *row = cJSON_CreateObject();
                cJSON_AddStringToObject(row, "target_id", p->m.id);
                cJSON_AddStringToObject(row, "health_status", p->err.msg);
                cJSON_AddItemToArray(res, row);
            }
            continue;
        }
        ok++;
        if (q == Q_DETAILS) {
            if (!cJSON_GetObjectItem(res, "init_msg") && cJSON_GetObjectItem(p->json, "init_msg")) {
                cJSON_AddItemToObject(res, "init_msg", cJSON_DetachItemFromObject(p->json, "init_msg"));
                errs = cJSON_AddArrayToObject(res, "obj_errors");
            }
            cJSON *oe = cJSON_GetObjectItem(p->json, "obj_errors"), *e;
            while (errs && cJSON_IsArray(oe) && (e = cJSON_DetachItemFromArray(oe, 0)))
                cJSON_AddItemToArray(errs, e);
        } else if (cJSON_IsArray(p->json)) {
            cJSON *e;
            while ((e = cJSON_DetachItemFromArray(p->json, 0)))
                cJSON_AddItemToArray(res, with_id(e, p->m.id));
        }
    }
    int ret;
    if (!ok && first_bad >= 0) {
        peer *p = &ps[first_bad];
        cJSON_Delete(res);
        ret = tgt_reply_err(r, p->status ? (int)p->status : 503, "%s", p->err.msg);
    } else {
        ret = tgt_reply_json(r, 200, res);
    }
    peers_free(ps, n, auth);
    return ret;
}

int tgt_cluster_etl_details(tgt_req *r, const char *name, const char *job) { return gather(r, Q_DETAILS, name, job); }
int tgt_cluster_etl_health(tgt_req *r, const char *name) { return gather(r, Q_HEALTH, name, NULL); }
int tgt_cluster_etl_metrics(tgt_req *r, const char *name) { return gather(r, Q_METRICS, name, NULL); }

/* logs of every target, or of target tid alone */
int tgt_cluster_etl_logs(tgt_req *r, const char *name, const char *tid)
{
    if (!tid)
        return gather(r, Q_LOGS, name, NULL);
    char *auth;
    int n;
    peer *ps = ask_all(r, Q_LOGS, name, NULL, &auth, &n); /* small: a log tail per target */
    int ret = -1;
    for (int i = 0; i < n && ret < 0; i++) {
        if (strcmp(ps[i].m.id, tid))
            continue;
        if (ps[i].status == 200) {
            cJSON *e;
            cJSON_ArrayForEach(e, ps[i].json) with_id(e, tid);
            ret = tgt_reply_json(r, 200, ps[i].json);
            ps[i].json = NULL;
        } else {
            ret = tgt_reply_err(r, ps[i].status ? (int)ps[i].status : 503, "%s", ps[i].err.msg);
        }
    }
    if (ret < 0)
        ret = tgt_reply_err(r, 404, "unknown target \"%s\"", tid);
    peers_free(ps, n, auth);
    return ret;
}

/* v3.22's GET /v1/etl/N: this node's definition, or the first target's
 * that has one (a stopped ETL has no instance on a node that joined since). */
int tgt_cluster_etl_show(tgt_req *r, const char *name)
{
    etl_reply er;
    etl_reply_init(&er);
    etl_api_show(tgt->etl, name, &er);
    if (er.err == ENOENT) {
        char *auth;
        int n;
        peer *ps = ask_all(r, Q_SHOW, name, NULL, &auth, &n);
        for (int i = 0; i < n; i++) {
            if (ps[i].status == 200) {
                cJSON *j = ps[i].json ? cJSON_Duplicate(ps[i].json, true) : cJSON_CreateObject();
                etl_reply_free(&er);
                peers_free(ps, n, auth);
                return tgt_reply_json(r, 200, j);
            }
        }
        peers_free(ps, n, auth);
    }
    int ret = er.err ? tgt_reply_err(r, cmn_err_http_status(er.err), "%s", er.body.data ? er.body.data : "")
                     : tgt_reply_buf(r, 200, er.content_type, er.body.data ? er.body.data : "", er.body.len);
    etl_reply_free(&er);
    return ret;
}

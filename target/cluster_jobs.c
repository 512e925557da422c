/*
 * cluster_jobs.c - offline jobs across a cluster. The node a client asks
 * makes the job's id and starts its own share; then it sends the same
 * request, with ?etlfs_job=ID and the list of the job's targets, to every
 * other target, each of which runs its share under that id: it takes only
 * the objects it owns (HRW) and writes each output to the owner of the
 * output's name, itself or another target (a streamed PUT, below).
 *
 * Queries and abort through any node ask every target of the job
 * (TGT_HDR_JOB_LOCAL: "your own share only") and merge the answers: one
 * status with the counters summed, per-target snaps as AIStore's
 * qryxstats. A target of the job that does not answer, or no longer knows
 * the job, is reported as a failed share naming it, so a wait ends.
 */
#include "target/target.h"

#include "common/ais_client.h"
#include "common/http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CALL_CONNECT_MS 2000L

/* ------------------------------------------------------------ the targets to ask */
/* The targets to ask: those of the job when this node knows it (a target
 * that left the map is kept, not known), else every member; *of_job says
 * which. */
static tgt_pcall *targets_of(const char *id, int *n, bool *of_job)
{
    tgt_member *ms;
    int nm = tgt_cmap_members(&ms, NULL);
    char *list = id && *id ? tgt_job_targets(id) : NULL;
    tgt_pcall *cs;
    *of_job = list != NULL;
    if (!list) {
        cs = cmn_xcalloc((size_t)(nm ? nm : 1), sizeof *cs);
        for (int i = 0; i < nm; i++)
            cs[i] = (tgt_pcall){.m = ms[i], .known = true};
        *n = nm;
    } else {
        int cap = 1;
        for (const char *p = list; *p; p++)
            cap += *p == ',';
        cs = cmn_xcalloc((size_t)cap, sizeof *cs);
        *n = 0;
        for (char *save = NULL, *tid = strtok_r(list, ",", &save); tid; tid = strtok_r(NULL, ",", &save)) {
            tgt_pcall *c = &cs[(*n)++];
            snprintf(c->m.id, sizeof c->m.id, "%s", tid);
            for (int i = 0; i < nm; i++)
                if (!strcmp(ms[i].id, tid)) {
                    c->m = ms[i];
                    c->known = true;
                }
        }
    }
    for (int i = 0; i < *n; i++)
        cmn_buf_init(&cs[i].text);
    free(list);
    free(ms);
    return cs;
}

/* The job's targets but this one, moved to the front of the calls: their count in *n. */
static tgt_pcall *others_of(const char *id, int *n)
{
    int all;
    bool of_job;
    tgt_pcall *cs = targets_of(id, &all, &of_job);
    *n = 0;
    for (int i = 0; i < all; i++) {
        if (!strcmp(cs[i].m.id, tgt_cluster_self()))
            continue;
        tgt_pcall *c = &cs[(*n)++];
        if (c != &cs[i]) {
            tgt_member m = cs[i].m;
            bool known = cs[i].known;
            *c = (tgt_pcall){.m = m, .known = known};
            cmn_buf_init(&c->text);
        }
    }
    return cs;
}

static char *auth_header(tgt_req *r)
{
    const char *auth = tgt_header(r, "Authorization");
    return auth ? cmn_xasprintf("Authorization: %s", auth) : NULL;
}

/* Asks every one of cs for its own share only (TGT_HDR_JOB_LOCAL): method on
 * path, with body; the answers in cs. */
static void ask_local(tgt_pcall *cs, int n, const char *method, const char *path, const char *body, size_t len,
                      const char *auth)
{
    for (int i = 0; i < n; i++) {
        cs[i].method = method;
        cs[i].url = cmn_xasprintf("%s%s", cs[i].m.url, path);
        cs[i].body = body;
        cs[i].body_len = len;
        const char *h[] = {"Content-Type: application/json", TGT_HDR_JOB_LOCAL ": true", auth, NULL};
        memcpy(cs[i].hdrs, h, sizeof h);
    }
    tgt_pcall_all(cs, n);
}

/* ------------------------------------------------------------ the start */
char *tgt_cjob_members(void)
{
    tgt_member *ms;
    int n = tgt_cmap_members(&ms, NULL);
    cmn_buf b;
    cmn_buf_init(&b);
    for (int i = 0; i < n; i++)
        cmn_buf_printf(&b, "%s%s", i ? "," : "", ms[i].id);
    free(ms);
    if (!n)
        cmn_buf_puts(&b, tgt_cluster_self());
    return cmn_buf_steal(&b);
}

int tgt_cjob_share(tgt_req *r, const char *id, const char *targets, const char *dst, cmn_err *err)
{
    int ncalls;
    tgt_pcall *cs = others_of(id, &ncalls);
    char *auth = auth_header(r), *thdr = cmn_xasprintf("%s: %s", TGT_HDR_JOB_TARGETS, targets);
    char *bck = cmn_path_escape(r->items[2]);
    for (int i = 0; i < ncalls; i++) {
        tgt_pcall *c = &cs[i];
        cmn_buf u;
        cmn_buf_init(&u);
        cmn_buf_printf(&u, "%s/v1/buckets/%s?%s=%s", c->m.url, bck, TGT_Q_JOB_SHARE, id);
        tgt_query_copy(r, &u, TGT_Q_JOB_SHARE);
        if (dst && !tgt_query(r, "bck_to")) { /* the destination as a query too: the share's row checks it */
            char *to = cmn_xasprintf("ais/@#/%s/", dst), *esc = cmn_query_escape(to);
            cmn_buf_printf(&u, "&bck_to=%s", esc);
            free(to);
            free(esc);
        }
        c->url = cmn_buf_steal(&u);
        c->method = r->method;
        c->body = r->body.data ? r->body.data : "";
        c->body_len = r->body.data ? r->body.len : 0;
        const char *h[] = {"Content-Type: application/json", thdr, auth, NULL};
        memcpy(c->hdrs, h, sizeof h);
    }
    tgt_pcall_all(cs, ncalls);
    int rc = 0;
    for (int i = 0; i < ncalls; i++) {
        if (cs[i].status && cs[i].status / 100 != 2 && !rc) /* refused: the request is at fault, or that target */
            rc = cmn_err_set(err, cs[i].err.code, "%s", cs[i].err.msg);
        else if (!cs[i].status)
            cmn_warn("job %s: %s; its share is reported as failed", id, cs[i].err.msg);
    }
    tgt_pcalls_free(cs, ncalls);
    free(bck);
    free(auth);
    free(thdr);
    return rc;
}

int tgt_cjob_spread(tgt_req *r, const char *kind, const char *id, const char *dst, tgt_job *job)
{
    char *targets = job ? NULL : tgt_job_targets(id);
    if (!targets)
        targets = tgt_cjob_members();
    if (job)
        tgt_job_set_targets(job, targets);
    cmn_err e = {0};
    int rc = tgt_cjob_share(r, id, targets, dst, &e);
    free(targets);
    if (!rc)
        return tgt_reply_text(r, 200, id);
    if (job) { /* a request added to a running job leaves that job to run */
        char *auth = auth_header(r);
        tgt_cjob_abort_all(id, auth);
        free(auth);
    }
    return tgt_reply_err(r, cmn_err_http_status(e.code), "%s: %s", kind, e.msg);
}

int tgt_cjob_start(tgt_req *r, const char *kind, const char *bck, const char *dst, tgt_job_fn fn, void *arg,
                   void (*free_arg)(void *))
{
    const char *share = tgt_cluster_on() ? tgt_query(r, TGT_Q_JOB_SHARE) : NULL;
    tgt_job *job = share ? tgt_job_start_as(share, kind, bck, dst, fn, arg, free_arg)
                         : tgt_job_start(kind, bck, dst, fn, arg, free_arg);
    if (!job) {
        free_arg(arg);
        return tgt_reply_err(r, 500, "%s: cannot start the job", kind);
    }
    if (share)
        tgt_job_set_targets(job, tgt_header(r, TGT_HDR_JOB_TARGETS));
    char id[CMN_UUID_LEN + 1]; /* the record may go once the job ends */
    snprintf(id, sizeof id, "%s", tgt_job_id(job));
    return tgt_cluster_on() && !share ? tgt_cjob_spread(r, kind, id, NULL, job) : tgt_reply_text(r, 200, id);
}

/* ------------------------------------------------------------ queries */
static int64_t num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    if (cJSON_IsString(v))
        return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsRaw(v))
        return strtoll(v->valuestring, NULL, 10);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void set_int(cJSON *o, const char *key, int64_t v)
{
    cJSON_DeleteItemFromObject(o, key);
    cJSON_AddItemToObject(o, key, tgt_json_int(v));
}

static void add_error(cJSON *acc, const char *tid, const char *msg)
{
    cJSON *list = cJSON_GetObjectItem(acc, "error_list");
    char *line = cmn_xasprintf("%s: %s", tid, msg);
    cJSON_AddItemToArray(list, cJSON_CreateString(line));
    free(line);
}

/* A new aggregate from the first target's status. */
static cJSON *acc_new(const cJSON *s)
{
    cJSON *a = cJSON_CreateObject();
    const cJSON *u = cJSON_GetObjectItem(s, "uuid"), *k = cJSON_GetObjectItem(s, "kind");
    cJSON_AddStringToObject(a, "uuid", cJSON_IsString(u) ? u->valuestring : "");
    cJSON_AddStringToObject(a, "kind", cJSON_IsString(k) ? k->valuestring : "");
    cJSON_AddItemToObject(a, "start_time", tgt_json_int(0));
    cJSON_AddItemToObject(a, "end_time", tgt_json_int(0));
    cJSON_AddBoolToObject(a, "aborted", false);
    cJSON_AddItemToObject(a, "objects", tgt_json_int(0));
    cJSON_AddItemToObject(a, "bytes", tgt_json_int(0));
    cJSON_AddItemToObject(a, "errors", tgt_json_int(0));
    cJSON_AddArrayToObject(a, "error_list");
    cJSON_AddNumberToObject(a, "etlfs_running", 0); /* shares not ended; dropped at the end */
    return a;
}

/* Adds target tid's status s to the aggregate a. */
static void acc_add(cJSON *a, const cJSON *s, const char *tid)
{
    int64_t st = num(s, "start_time"), at = num(a, "start_time");
    if (st && (!at || st < at))
        set_int(a, "start_time", st);
    int64_t end = num(s, "end_time");
    if (!end)
        cJSON_GetObjectItem(a, "etlfs_running")->valuedouble += 1;
    else if (end > num(a, "end_time"))
        set_int(a, "end_time", end);
    if (cJSON_IsTrue(cJSON_GetObjectItem(s, "aborted")))
        cJSON_ReplaceItemInObject(a, "aborted", cJSON_CreateTrue());
    set_int(a, "objects", num(a, "objects") + num(s, "objects"));
    set_int(a, "bytes", num(a, "bytes") + num(s, "bytes"));
    set_int(a, "errors", num(a, "errors") + num(s, "errors"));
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(s, "error_list")) if (cJSON_IsString(e)) add_error(a, tid, e->valuestring);
}

/* A share that failed: an error naming its target, and no longer running. */
static void acc_fail(cJSON *a, const char *tid, const char *msg)
{
    (void)tid;
    set_int(a, "errors", num(a, "errors") + 1);
    cJSON_AddItemToArray(cJSON_GetObjectItem(a, "error_list"), cJSON_CreateString(msg));
    int64_t now = cmn_now_ns();
    if (now > num(a, "end_time"))
        set_int(a, "end_time", now);
}

/* The end of an aggregate: end_time 0 while any share runs, err joined. */
static void acc_done(cJSON *a)
{
    if (cJSON_GetObjectItem(a, "etlfs_running")->valuedouble > 0)
        set_int(a, "end_time", 0);
    cJSON_DeleteItemFromObject(a, "etlfs_running");
    cmn_buf b;
    cmn_buf_init(&b);
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(a, "error_list")) cmn_buf_printf(&b, "%s%s", i++ ? "; " : "", e->valuestring);
    cJSON_AddStringToObject(a, "err", b.data ? b.data : "");
    cmn_buf_free(&b);
}

static cJSON *find_uuid(cJSON *arr, const char *uuid)
{
    cJSON *a;
    cJSON_ArrayForEach(a, arr)
    {
        const cJSON *u = cJSON_GetObjectItem(a, "uuid");
        if (cJSON_IsString(u) && !strcmp(u->valuestring, uuid))
            return a;
    }
    return NULL;
}

/* A failed share as a snap (its target's entry in qryxstats): aborted, with why. */
static cJSON *failed_snap(const char *id, const char *kind, const char *why)
{
    cJSON *s = cJSON_CreateObject();
    char t[48];
    cmn_format_rfc3339(cmn_now_ns(), t, sizeof t);
    cJSON_AddStringToObject(s, "id", id);
    cJSON_AddStringToObject(s, "kind", kind);
    cJSON_AddStringToObject(s, "end-time", t);
    cJSON_AddStringToObject(s, "abort-err", why);
    cJSON_AddStringToObject(s, "err", why);
    cJSON *st = cJSON_AddObjectToObject(s, "stats");
    static const char *const keys[] = {"loc-objs", "loc-bytes", "out-objs", "out-bytes", "in-objs", "in-bytes"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cJSON_AddItemToObject(st, keys[i], tgt_json_str_int(0));
    cJSON_AddBoolToObject(s, "aborted", true);
    cJSON_AddBoolToObject(s, "is_idle", true);
    return s;
}

static const char *field(const cJSON *msg, const char *key)
{
    const cJSON *f = msg ? cJSON_GetObjectItem(msg, key) : NULL;
    return cJSON_IsString(f) ? f->valuestring : "";
}

int tgt_cjob_query(tgt_req *r, const char *what)
{
    const char *id = field(r->msg, "ID");
    int n;
    bool of_job;
    tgt_pcall *cs = targets_of(id, &n, &of_job);
    char *auth = auth_header(r);
    char *path = cmn_xasprintf("/v1/cluster?what=%s", what);
    ask_local(cs, n, "GET", path, r->body.data ? r->body.data : "", r->body.data ? r->body.len : 0, auth);
    free(path);
    cJSON *out = NULL;
    int status = 200;
    if (!strcmp(what, "status") || !strcmp(what, "status_all")) {
        bool one = !strcmp(what, "status");
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < n; i++) {
            cJSON *got = cs[i].json, *s;
            if (one && cJSON_IsObject(got)) {
                cJSON *wrap = cJSON_CreateArray();
                cJSON_AddItemToArray(wrap, cJSON_Duplicate(got, true));
                cJSON_Delete(cs[i].json);
                got = cs[i].json = wrap;
            }
            cJSON_ArrayForEach(s, got)
            {
                const cJSON *u = cJSON_GetObjectItem(s, "uuid");
                if (!cJSON_IsString(u))
                    continue;
                cJSON *a = find_uuid(arr, u->valuestring);
                if (!a)
                    cJSON_AddItemToArray(arr, a = acc_new(s));
                acc_add(a, s, cs[i].m.id);
            }
        }
        /* a target of the job that did not answer, or does not know it */
        for (int i = 0; of_job && i < n; i++) {
            if (cs[i].json && cJSON_GetArraySize(cs[i].json) > 0)
                continue;
            char *why = cs[i].status == 404
                            ? cmn_xasprintf("target %s does not know job %s (restarted?): its share is lost", cs[i].m.id, id)
                            : cmn_xasprintf("%s: its share failed", cs[i].err.msg);
            cJSON *a = cJSON_GetArrayItem(arr, 0);
            if (a)
                acc_fail(a, cs[i].m.id, why);
            free(why);
        }
        cJSON *a;
        cJSON_ArrayForEach(a, arr) acc_done(a);
        if (one) {
            out = cJSON_DetachItemFromArray(arr, 0);
            cJSON_Delete(arr);
            if (!out)
                status = 404;
        } else {
            out = arr;
        }
    } else if (!strcmp(what, "running_all")) {
        out = cJSON_CreateArray();
        for (int i = 0; i < n; i++) {
            cJSON *s;
            cJSON_ArrayForEach(s, cs[i].json)
            {
                bool seen = false;
                const cJSON *o;
                cJSON_ArrayForEach(o, out) seen |= cJSON_IsString(s) && !strcmp(o->valuestring, s->valuestring);
                if (cJSON_IsString(s) && !seen)
                    cJSON_AddItemToArray(out, cJSON_CreateString(s->valuestring));
            }
        }
    } else { /* qryxstats: {target: [snap]} */
        out = cJSON_CreateObject();
        const char *kind = "";
        for (int i = 0; i < n; i++) {
            cJSON *node = cs[i].json ? cs[i].json->child : NULL;
            for (; node; node = node->next) {
                const cJSON *k = cJSON_GetObjectItem(cJSON_GetArrayItem(node, 0), "kind");
                if (cJSON_IsString(k))
                    kind = k->valuestring;
                cJSON_AddItemToObject(out, node->string, cJSON_Duplicate(node, true));
            }
        }
        bool any = out->child != NULL;
        for (int i = 0; of_job && any && i < n; i++) {
            if (cs[i].json && cs[i].json->child)
                continue;
            char *why = cs[i].status == 404
                            ? cmn_xasprintf("target %s does not know job %s (restarted?): its share is lost", cs[i].m.id, id)
                            : cmn_xasprintf("%s: its share failed", cs[i].err.msg);
            cJSON *arr = cJSON_CreateArray();
            cJSON_AddItemToArray(arr, failed_snap(id, kind, why));
            cJSON_AddItemToObject(out, cs[i].m.id, arr);
            free(why);
        }
        if (!any)
            status = 404;
    }
    int ret;
    if (status == 404) {
        cJSON_Delete(out);
        ret = *id ? tgt_reply_err(r, 404, "job %s not found", id)
                  : tgt_reply_err(r, 404, "no jobs match kind \"%s\"", field(r->msg, "Kind"));
    } else {
        ret = tgt_reply_json(r, 200, out);
    }
    tgt_pcalls_free(cs, n);
    free(auth);
    return ret;
}

int tgt_cjob_stop(tgt_req *r)
{
    cJSON *v = tgt_msg_value(r);
    const char *id = field(v, "ID");
    int n;
    bool of_job;
    tgt_pcall *cs = targets_of(id, &n, &of_job);
    char *auth = auth_header(r);
    ask_local(cs, n, "PUT", "/v1/cluster", r->body.data ? r->body.data : "", r->body.data ? r->body.len : 0, auth);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        ok += cs[i].status == 200;
        if (cs[i].status != 200 && cs[i].status != 404)
            cmn_warn("stop job %s: %s", *id ? id : "(by kind)", cs[i].err.msg);
    }
    tgt_pcalls_free(cs, n);
    free(auth);
    if (*id && !ok)
        return tgt_reply_err(r, 404, "job %s not found", id);
    return tgt_reply_empty(r, 200);
}

void tgt_cjob_abort_all(const char *id, const char *auth)
{
    int n;
    bool of_job;
    tgt_pcall *cs = targets_of(id, &n, &of_job);
    char *body = cmn_xasprintf("{\"action\":\"stop\",\"value\":{\"ID\":\"%s\"}}", id);
    ask_local(cs, n, "PUT", "/v1/cluster", body, strlen(body), auth);
    tgt_pcalls_free(cs, n);
    free(body);
}

bool tgt_cjob_busy(const char *id, const char *auth)
{
    int ncalls;
    tgt_pcall *cs = others_of(id, &ncalls);
    char *body = cmn_xasprintf("{\"ID\":\"%s\"}", id);
    ask_local(cs, ncalls, "GET", "/v1/cluster?what=qryxstats", body, strlen(body), auth);
    bool busy = false;
    for (int i = 0; i < ncalls; i++) /* one that does not answer is not working on it */
        for (cJSON *node = cs[i].json ? cs[i].json->child : NULL; node; node = node->next) {
            cJSON *snap;
            cJSON_ArrayForEach(snap, node) busy |= cJSON_IsFalse(cJSON_GetObjectItem(snap, "is_idle"));
        }
    tgt_pcalls_free(cs, ncalls);
    free(body);
    return busy;
}

/* ------------------------------------------------------------ the share's request */
int tgt_h_job_share(tgt_req *r)
{
    if (!tgt_cluster_on())
        return tgt_reply_err(r, 400, "\"%s\" is a cluster's internal request: this target is in none",
                             TGT_Q_JOB_SHARE);
    static const struct { /* the jobs a share can be of, each its client request's handler */
        const char *act;
        tgt_handler h;
    } acts[] = {
        {"copy-bck", tgt_h_bucket_copy},           {"etl-bck", tgt_h_bucket_transform},
        {"copy-listrange", tgt_h_objects_copy},    {"etl-listrange", tgt_h_objects_transform},
        {"delete-listrange", tgt_h_objects_delete}, {"archive", tgt_h_bucket_archive},
    };
    const char *act = tgt_msg_action(r);
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (!strcmp(act, acts[i].act))
            return acts[i].h(r);
    return tgt_reply_err(r, 400, "invalid action \"%s\" for a job's share", act);
}

/* ------------------------------------------------------------ outputs to their owner */
/* A PUT whose body is written as it is made: the writer feeds a pipe, a
 * thread sends what it reads (chunked). An abort makes the body fail, so the
 * owner drops its work file: a cut-short output is never stored there. */
struct tgt_rput {
    int rfd, wfd;
    atomic_bool failed;
    pthread_t th;
    char *url, *auth;
    int rc;
    long status;
    cmn_buf why;
    char owner[512];
};

static ssize_t rput_read(void *ctx, char *buf, size_t len)
{
    tgt_rput *p = ctx;
    for (;;) {
        ssize_t n = read(p->rfd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0 && atomic_load(&p->failed))
            return -ECANCELED;
        return n;
    }
}

static void *rput_main(void *arg)
{
    tgt_rput *p = arg;
    /* as a send between targets: the owner stores it, or refuses (409) if its map says it is not the owner */
    const char *hdrs[] = {"Content-Type: application/octet-stream", TGT_HDR_LOCAL_OBJ ": job", p->auth, NULL};
    cmn_http_req req = {.method = "PUT", .url = p->url, .headers = hdrs, .body_read = rput_read, .body_read_ctx = p,
                        .body_read_len = -1, .connect_timeout_ms = CALL_CONNECT_MS};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    p->rc = cmn_http_do(NULL, &req, &resp);
    p->status = resp.status;
    if (p->rc < 0)
        cmn_buf_puts(&p->why, resp.err.msg);
    else if (resp.status != 200)
        cmn_ais_err_message(&resp, &p->why);
    cmn_http_resp_free(&resp);
    close(p->rfd); /* a writer still at it learns with EPIPE */
    p->rfd = -1;
    return NULL;
}

tgt_rput *tgt_rput_open(const char *owner, const char *bck, const char *obj, const char *auth)
{
    tgt_rput *p = cmn_xcalloc(1, sizeof *p);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(p);
        return NULL;
    }
    p->rfd = fds[0];
    p->wfd = fds[1];
    snprintf(p->owner, sizeof p->owner, "%s", owner);
    char *b = cmn_path_escape(bck), *o = cmn_path_escape(obj);
    p->url = cmn_xasprintf("%s/v1/objects/%s/%s", owner, b, o);
    free(b);
    free(o);
    p->auth = auth ? cmn_xstrdup(auth) : NULL;
    cmn_buf_init(&p->why);
    if (pthread_create(&p->th, NULL, rput_main, p) != 0) {
        close(p->rfd);
        close(p->wfd);
        free(p->url);
        free(p->auth);
        free(p);
        return NULL;
    }
    return p;
}

int tgt_rput_write(tgt_rput *p, const void *buf, size_t len)
{
    const char *c = buf;
    while (len) {
        ssize_t n = write(p->wfd, c, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -EIO; /* the request ended: commit says why */
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

static void rput_free(tgt_rput *p)
{
    free(p->url);
    free(p->auth);
    cmn_buf_free(&p->why);
    free(p);
}

int tgt_rput_commit(tgt_rput *p, const char *bck, const char *obj, cmn_err *err)
{
    close(p->wfd);
    pthread_join(p->th, NULL);
    int rc = 0;
    if (p->rc < 0)
        rc = cmn_err_set(err, EIO, "cannot send ais://%s/%s to its owner %s: %s", bck, obj, p->owner,
                         p->why.data ? p->why.data : "");
    else if (p->status != 200)
        rc = cmn_err_set(err, -cmn_ais_status_errno(p->status), "its owner %s refused ais://%s/%s: %s", p->owner,
                         bck, obj, p->why.data ? p->why.data : "");
    rput_free(p);
    return rc;
}

void tgt_rput_abort(tgt_rput *p)
{
    atomic_store(&p->failed, true);
    close(p->wfd);
    pthread_join(p->th, NULL);
    rput_free(p);
}

int tgt_rput_file(const char *owner, const char *bck, const char *obj, const char *fqn, const char *auth,
                  tgt_objmeta *out, cmn_err *err)
{
    char *b = cmn_path_escape(bck), *o = cmn_path_escape(obj);
    char *url = cmn_xasprintf("%s/v1/objects/%s/%s", owner, b, o);
    free(b);
    free(o);
    const char *hdrs[] = {"Content-Type: application/octet-stream", TGT_HDR_LOCAL_OBJ ": job", auth, NULL};
    static const char *const want[] = {"ais-version", "ais-checksum-type", "ais-checksum-value", NULL};
    cmn_http_req req = {.method = "PUT", .url = url, .headers = hdrs, .body_path = fqn, .want_headers = want,
                        .connect_timeout_ms = CALL_CONNECT_MS};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    int rc = cmn_http_do(NULL, &req, &resp);
    if (rc < 0) {
        rc = cmn_err_set(err, EIO, "cannot send ais://%s/%s to its owner %s: %s", bck, obj, owner, resp.err.msg);
    } else if (resp.status != 200) {
        cmn_buf why;
        cmn_buf_init(&why);
        cmn_ais_err_message(&resp, &why);
        rc = cmn_err_set(err, -cmn_ais_status_errno(resp.status), "its owner %s refused ais://%s/%s: %s", owner, bck,
                         obj, why.data ? why.data : "");
        cmn_buf_free(&why);
    } else if (out) { /* what the owner stored, as its PUT answered */
        out->size = resp.sent;
        out->version = resp.hdr[0] ? strtoll(resp.hdr[0], NULL, 10) : 0;
        snprintf(out->cksum_type, sizeof out->cksum_type, "%s", resp.hdr[1] ? resp.hdr[1] : "");
        snprintf(out->cksum, sizeof out->cksum, "%s", resp.hdr[2] ? resp.hdr[2] : "");
    }
    cmn_http_resp_free(&resp);
    free(url);
    return rc;
}

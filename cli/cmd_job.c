/*
 * cmd_job.c - `ais job show [ID]` and `ais job wait ID`, plus the wait loop
 * that `ais etl bucket --wait` shares. Completion comes from what=status
 * (end_time != 0), per-node counters from what=qryxstats; polling backs off
 * from 100 ms to 1 s so short jobs return fast and long ones stay cheap.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* AIStore's display names for the kinds a user meets here (xact/api.go) */
static const char *display_kind(const char *kind)
{
    static const char *map[][2] = {{"etl-bck", "etl-bucket"},       {"copy-bck", "copy-bucket"},
                                   {"etl-listrange", "etl-objects"}, {"copy-listrange", "copy-objects"},
                                   {"move-bck", "rename-bucket"},    {"delete-listrange", "delete-objects"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(kind, map[i][0]))
            return map[i][1];
    return kind;
}

/* GET /v1/cluster?what=WHAT with a JSON body; why it failed appended to why (may be NULL). */
static int query(const char *what, const char *body, bool quiet, cmn_http_resp *r, cmn_buf *why)
{
    cli_call c;
    cli_call_init(&c, "GET");
    cmn_ais_url(&c.url, &cli_ais, "cluster");
    cmn_ais_url_query(&c.url, "what", what);
    c.body = body;
    int rc = cli_send(&c, r, quiet);
    if (why && c.why.len)
        cmn_buf_append(why, c.why.data, c.why.len);
    cli_call_free(&c);
    return rc;
}

/* The job query body the SDK sends (xact.ArgsMsg, Go field names). */
static void job_args(cmn_buf *body, const char *id)
{
    cmn_buf_init(body);
    cmn_buf_puts(body, "{\"ID\":");
    cli_json_str(body, id);
    cmn_buf_puts(body, ",\"Kind\":\"\",\"DaemonID\":\"\",\"Bck\":null,\"Buckets\":null}");
}

static cJSON *job_status(const char *id, int *rc)
{
    cmn_buf body;
    job_args(&body, id);
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    cmn_buf why;
    cmn_buf_init(&why);
    *rc = query("status", body.data, true, &r, &why);
    cJSON *st = NULL;
    if (*rc == CLI_EXIT_OK) {
        if (cmn_ais_json(&r, cJSON_IsObject, &st) != 0)
            *rc = cli_fail("invalid job status reply for %s", id);
    } else if (r.status == 404) {
        cli_fail("job %s not found", id);
    } else if (r.status) {
        cli_fail("%s", why.data);
    }
    cmn_http_resp_free(&r);
    cmn_buf_free(&body);
    cmn_buf_free(&why);
    return st;
}

/* what=qryxstats for one job id: {"<node>":[snap...]}; NULL when none. */
static cJSON *job_snaps(const char *id)
{
    cmn_buf body;
    job_args(&body, id);
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    cJSON *out = NULL;
    if (query("qryxstats", body.data, true, &r, NULL) == CLI_EXIT_OK)
        out = cJSON_ParseWithLength(r.body.data, r.body.len);
    cmn_http_resp_free(&r);
    cmn_buf_free(&body);
    return out;
}

static int64_t stat_num(cJSON *stats, const char *key)
{
    cJSON *v = cJSON_GetObjectItem(stats, key);
    if (cJSON_IsString(v))
        return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v))
        return (int64_t)v->valuedouble;
    return 0;
}

/* Walks the snaps of job id in a qryxstats answer ({"NODE": [snap, ...], ...}):
 * the first with prev NULL, then the one after prev; *node is the snap's node. */
static cJSON *next_snap(cJSON *snaps, const char *id, cJSON **node, cJSON *prev)
{
    cJSON *s;
    if (prev) {
        s = prev->next;
    } else {
        *node = snaps ? snaps->child : NULL;
        s = *node ? (*node)->child : NULL;
    }
    while (*node) {
        for (; s; s = s->next) {
            cJSON *sid = cJSON_GetObjectItem(s, "id");
            if (!cJSON_IsString(sid) || !strcmp(sid->valuestring, id))
                return s;
        }
        *node = (*node)->next;
        s = *node ? (*node)->child : NULL;
    }
    return NULL;
}

/* Sums loc-objs/loc-bytes of snaps with this id over all nodes. */
static void sum_stats(cJSON *snaps, const char *id, int64_t *objs, int64_t *bytes)
{
    *objs = *bytes = 0;
    cJSON *node;
    for (cJSON *s = next_snap(snaps, id, &node, NULL); s; s = next_snap(snaps, id, &node, s)) {
        cJSON *st = cJSON_GetObjectItem(s, "stats");
        *objs += stat_num(st, "loc-objs");
        *bytes += stat_num(st, "loc-bytes");
    }
}

void cli_job_counts(const char *id, int64_t out[6])
{
    static const char *keys[6] = {"loc-objs", "out-objs", "in-objs", "loc-bytes", "out-bytes", "in-bytes"};
    memset(out, 0, 6 * sizeof *out);
    cJSON *snaps = job_snaps(id);
    for (cJSON *node = snaps ? snaps->child : NULL; node; node = node->next) {
        cJSON *s;
        cJSON_ArrayForEach(s, node)
        {
            cJSON *sid = cJSON_GetObjectItem(s, "id");
            if (cJSON_IsString(sid) && strcmp(sid->valuestring, id))
                continue;
            for (int i = 0; i < 6; i++)
                out[i] += stat_num(cJSON_GetObjectItem(s, "stats"), keys[i]);
        }
    }
    cJSON_Delete(snaps);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void print_progress(const char *id, bool final)
{
    cJSON *snaps = job_snaps(id);
    int64_t objs, bytes;
    sum_stats(snaps, id, &objs, &bytes);
    cJSON_Delete(snaps);
    char sz[32];
    cli_fmt_size(bytes, sz, sizeof sz);
    printf("\robjects: %lld, size: %s %s", (long long)objs, sz, final ? "\n" : "");
    fflush(stdout);
}

int cli_job_wait_id(const char *id, bool progress, int64_t timeout_ns)
{
    int64_t start = cmn_mono_ns();
    long sleep = 100;
    for (;;) {
        int rc;
        cJSON *st = job_status(id, &rc);
        if (!st)
            return rc ? rc : CLI_EXIT_ERR;
        cJSON *end = cJSON_GetObjectItem(st, "end_time"), *ab = cJSON_GetObjectItem(st, "aborted");
        cJSON *err = cJSON_GetObjectItem(st, "err"), *kind = cJSON_GetObjectItem(st, "kind");
        bool done = cJSON_IsNumber(end) ? end->valuedouble != 0
                    : cJSON_IsString(end) ? strcmp(end->valuestring, "0") != 0 : false;
        if (done || cJSON_IsTrue(ab)) {
            if (progress)
                print_progress(id, true);
            int out = CLI_EXIT_OK;
            const char *k = display_kind(cJSON_IsString(kind) ? kind->valuestring : "job");
            if (cJSON_IsTrue(ab))
                out = cli_fail("%s[%s] aborted%s%s", k, id, cJSON_IsString(err) && *err->valuestring ? ": " : "",
                               cJSON_IsString(err) ? err->valuestring : "");
            else if (cJSON_IsString(err) && *err->valuestring)
                fprintf(stderr, "Warning: %s[%s] finished with errors: %s\n", k, id, err->valuestring);
            cJSON_Delete(st);
            return out;
        }
        cJSON_Delete(st);
        if (timeout_ns > 0 && cmn_mono_ns() - start > timeout_ns) {
            if (progress)
                printf("\n");
            return cli_fail("timed out waiting for job %s", id);
        }
        if (progress)
            print_progress(id, false);
        sleep_ms(sleep);
        sleep = sleep * 3 / 2 > 1000 ? 1000 : sleep * 3 / 2;
    }
}

int cli_job_wait(cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_err(a, a->npos ? "too many arguments" : "missing \"JOB_ID\" argument");
    const char *id = a->pos[0];
    int64_t ns = 0;
    const char *t = cli_flag_str(a, "timeout");
    if (t && cmn_parse_duration(t, &ns) != 0)
        return cli_usage_err(a, "invalid --timeout \"%s\"", t);
    int rc;
    cJSON *st = job_status(id, &rc);
    if (!st)
        return rc ? rc : CLI_EXIT_ERR;
    cJSON *kind = cJSON_GetObjectItem(st, "kind");
    printf("Waiting for %s[%s] ...\n", display_kind(cJSON_IsString(kind) ? kind->valuestring : "job"), id);
    fflush(stdout);
    cJSON_Delete(st);
    rc = cli_job_wait_id(id, cli_flag_set(a, "progress"), ns);
    if (rc == CLI_EXIT_OK)
        printf("Done.\n");
    return rc;
}

/* ---- show */

static void fmt_time(const char *rfc3339, char *out, size_t outlen)
{
    /* "2024-02-25T10:00:00.123Z" -> "10:00:00"; unset -> "-" */
    if (!rfc3339 || !*rfc3339 || !strncmp(rfc3339, "0001-01-01", 10)) {
        snprintf(out, outlen, "-");
        return;
    }
    const char *t = strchr(rfc3339, 'T');
    snprintf(out, outlen, "%.8s", t ? t + 1 : rfc3339);
}

static void fmt_ns(double ns, char *out, size_t outlen)
{
    if (ns == 0) {
        snprintf(out, outlen, "-");
        return;
    }
    time_t s = (time_t)(ns / 1e9);
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(out, outlen, "%H:%M:%S", &tm);
}

static void add_job_rows(cli_table *t, cJSON *st)
{
    cJSON *id = cJSON_GetObjectItem(st, "uuid"), *kind = cJSON_GetObjectItem(st, "kind");
    cJSON *end = cJSON_GetObjectItem(st, "end_time"), *ab = cJSON_GetObjectItem(st, "aborted");
    cJSON *err = cJSON_GetObjectItem(st, "err");
    const char *ids = cJSON_IsString(id) ? id->valuestring : "";
    double endns = cJSON_IsNumber(end) ? end->valuedouble : 0;
    const char *state = cJSON_IsTrue(ab) ? "Aborted"
                        : endns == 0     ? "Running"
                        : (cJSON_IsString(err) && *err->valuestring) ? "Finished with errors"
                                                                     : "Finished";
    cJSON *snaps = *ids ? job_snaps(ids) : NULL;
    bool any = false;
    cJSON *node;
    for (cJSON *s = next_snap(snaps, ids, &node, NULL); s; s = next_snap(snaps, ids, &node, s)) {
        cJSON *stt = cJSON_GetObjectItem(s, "stats");
        int64_t objs = stat_num(stt, "loc-objs"), bytes = stat_num(stt, "loc-bytes");
        cJSON *stime = cJSON_GetObjectItem(s, "start-time"), *etime = cJSON_GetObjectItem(s, "end-time");
        char c_node[80], c_id[80], c_kind[80], c_objs[40], c_bytes[40], c_start[40], c_end[40], c_state[40], tmp[32];
        snprintf(c_node, sizeof c_node, "%s", node->string ? node->string : "-");
        snprintf(c_id, sizeof c_id, " %s", ids);
        snprintf(c_kind, sizeof c_kind, " %s", cJSON_IsString(kind) ? kind->valuestring : "");
        if (objs)
            snprintf(c_objs, sizeof c_objs, " %lld", (long long)objs);
        else
            snprintf(c_objs, sizeof c_objs, " -");
        cli_fmt_size(bytes, tmp, sizeof tmp);
        snprintf(c_bytes, sizeof c_bytes, " %s", bytes ? tmp : "-");
        fmt_time(cJSON_IsString(stime) ? stime->valuestring : NULL, tmp, sizeof tmp);
        snprintf(c_start, sizeof c_start, " %s", tmp);
        fmt_time(cJSON_IsString(etime) ? etime->valuestring : NULL, tmp, sizeof tmp);
        snprintf(c_end, sizeof c_end, " %s", tmp);
        /* a demand job between requests is idle, not running (AIStore's FmtXactStatus) */
        bool idle = endns == 0 && !cJSON_IsTrue(ab) && cJSON_IsTrue(cJSON_GetObjectItem(s, "is_idle"));
        snprintf(c_state, sizeof c_state, " %s", idle ? "Idle" : state);
        cli_table_row(t, c_node, c_id, c_kind, c_objs, c_bytes, c_start, c_end, c_state);
        any = true;
    }
    if (!any) {
        char c_id[80], c_kind[80], c_end[40], c_state[40], tmp[32];
        snprintf(c_id, sizeof c_id, " %s", ids);
        snprintf(c_kind, sizeof c_kind, " %s", cJSON_IsString(kind) ? kind->valuestring : "");
        fmt_ns(endns, tmp, sizeof tmp);
        snprintf(c_end, sizeof c_end, " %s", tmp);
        snprintf(c_state, sizeof c_state, " %s", state);
        cli_table_row(t, "-", c_id, c_kind, " -", " -", " -", c_end, c_state);
    }
    cJSON_Delete(snaps);
}

int cli_job_show(cli_args *a)
{
    int bad = cli_npos(a, 0, 1, NULL);
    if (bad)
        return bad;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc;
    cJSON *list = NULL;
    if (a->npos == 1) {
        cJSON *st = job_status(a->pos[0], &rc);
        if (st) {
            list = cJSON_CreateArray();
            cJSON_AddItemToArray(list, st);
        }
    } else {
        bool active = cli_flag_set(a, "active");
        rc = query("status_all", active ? "{\"kind\":\"\",\"node\":\"\",\"show_active\":true}"
                                        : "{\"kind\":\"\",\"node\":\"\",\"show_active\":false}",
                   false, &r, NULL);
        if (rc == CLI_EXIT_OK) {
            list = r.body.len ? cJSON_ParseWithLength(r.body.data, r.body.len) : cJSON_CreateArray();
            if (cJSON_IsNull(list)) {
                cJSON_Delete(list);
                list = cJSON_CreateArray();
            }
            if (!cJSON_IsArray(list))
                rc = cli_fail("invalid job list reply from %s", cli_ais.endpoint);
        }
    }
    if (rc == CLI_EXIT_OK && cli_flag_set(a, "json")) {
        if (a->npos == 0 && r.body.len) {
            cli_print_json(r.body.data, r.body.len);
        } else {
            char *s = cJSON_PrintUnformatted(a->npos ? list->child : list);
            cli_print_json(s, strlen(s));
            free(s);
        }
    } else if (rc == CLI_EXIT_OK) {
        if (cJSON_GetArraySize(list) == 0) {
            printf("No running jobs.\n");
        } else {
            cli_table t;
            cli_table_init(&t, 8);
            if (!cli_flag_set(a, "no-headers"))
                cli_table_row(&t, "NODE", " ID", " KIND", " OBJECTS", " BYTES", " START", " END", " STATE");
            cJSON *st;
            cJSON_ArrayForEach(st, list) add_job_rows(&t, st);
            cli_table_print(&t);
            cli_table_free(&t);
        }
    }
    cJSON_Delete(list);
    cmn_http_resp_free(&r);
    return rc;
}

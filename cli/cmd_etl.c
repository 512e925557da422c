/*
 * cmd_etl.c - `ais etl ...`: init (spec or code), show, start/stop/rm,
 * inline transform of one object and offline transform of a bucket. Init
 * messages carry files as base64, the way AIStore's Go []byte fields travel;
 * `--ext` accepts JSON or AIStore's quote-less "{in:out}" form.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_file(const char *path, cmn_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_fail("failed to read \"%s\": %s", path, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        cmn_buf_append(out, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return cli_fail("failed to read \"%s\"", path);
    return CLI_EXIT_OK;
}

static char *b64_file(const char *path, int *rc)
{
    cmn_buf b;
    cmn_buf_init(&b);
    *rc = read_file(path, &b);
    char *s = *rc ? NULL : cmn_base64_encode(b.data ? b.data : "", b.len);
    cmn_buf_free(&b);
    return s;
}

/* "hpull" -> "hpull://"; "" -> "hpush://" */
static void comm_type(const char *flag, char *out, size_t outlen)
{
    if (!flag || !*flag)
        snprintf(out, outlen, "hpush://");
    else if (strstr(flag, "://"))
        snprintf(out, outlen, "%s", flag);
    else
        snprintf(out, outlen, "%s://", flag);
}

static int put_init(cJSON *msg, const char *name)
{
    char *body = cJSON_PrintUnformatted(msg);
    cli_call c;
    cli_call_init(&c, "PUT");
    cmn_ais_url_etl(&c.url, &cli_ais, NULL);
    c.body = body;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = cli_send(&c, &r, false);
    if (rc == CLI_EXIT_OK) {
        char *id = r.body.data ? r.body.data : "";
        size_t n = strlen(id);
        while (n && (id[n - 1] == '\n' || id[n - 1] == '"' || id[n - 1] == ' '))
            id[--n] = '\0';
        if (*id == '"')
            id++;
        printf("ETL[%s]: job \"%s\"\n", name, id);
    }
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    free(body);
    return rc;
}

static int add_common(cli_args *a, cJSON *msg, const char **name)
{
    *name = cli_flag_str(a, "name");
    if (!*name || !**name)
        return cli_usage_err(a, "required flag \"name\" not set");
    const char *from = cli_flag_str(a, "from-file");
    if (!from || !*from)
        return cli_usage_err(a, "flag --from-file must be specified");
    if (a->npos)
        return cli_usage_err(a, "too many arguments or unrecognized (misplaced?) option '%s'", a->pos[0]);
    char ct[64];
    comm_type(cli_flag_str(a, "comm-type"), ct, sizeof ct);
    const char *arg = cli_flag_str(a, "arg-type");
    const char *timeout = cli_flag_str(a, "timeout");
    if (timeout) {
        int64_t ns;
        if (cmn_parse_duration(timeout, &ns) != 0)
            return cli_usage_err(a, "invalid --timeout \"%s\" (expecting e.g. 45s, 5m, 1h)", timeout);
    }
    cJSON_AddStringToObject(msg, "id", *name);
    cJSON_AddStringToObject(msg, "communication", ct);
    cJSON_AddStringToObject(msg, "argument", arg ? arg : "");
    if (timeout)
        cJSON_AddStringToObject(msg, "timeout", timeout);
    return CLI_EXIT_OK;
}

int cli_etl_init_spec(cli_args *a)
{
    cJSON *msg = cJSON_CreateObject();
    const char *name;
    int rc = add_common(a, msg, &name);
    if (rc == CLI_EXIT_OK) {
        char *spec = b64_file(cli_flag_str(a, "from-file"), &rc);
        if (spec) {
            cJSON_AddStringToObject(msg, "spec", spec);
            rc = put_init(msg, name);
        }
        free(spec);
    }
    cJSON_Delete(msg);
    return rc;
}

int cli_etl_init_code(cli_args *a)
{
    cJSON *msg = cJSON_CreateObject();
    const char *name;
    int rc = add_common(a, msg, &name);
    const char *runtime = cli_flag_str(a, "runtime");
    if (rc == CLI_EXIT_OK && (!runtime || !*runtime))
        rc = cli_usage_err(a, "required flag \"runtime\" not set");
    int64_t chunk = 0;
    const char *cs = cli_flag_str(a, "chunk-size");
    if (rc == CLI_EXIT_OK && cs && cli_parse_size(cs, &chunk) != 0)
        rc = cli_usage_err(a, "invalid --chunk-size \"%s\" (expecting e.g. 4mb, 1MiB, 1048576, 128k)", cs);
    char *code = NULL, *deps = NULL;
    if (rc == CLI_EXIT_OK)
        code = b64_file(cli_flag_str(a, "from-file"), &rc);
    if (rc == CLI_EXIT_OK && cli_flag_str(a, "deps-file"))
        deps = b64_file(cli_flag_str(a, "deps-file"), &rc);
    if (rc == CLI_EXIT_OK) {
        const char *fn = cli_flag_str(a, "transform");
        cJSON_AddStringToObject(msg, "runtime", runtime);
        cJSON *funcs = cJSON_AddObjectToObject(msg, "funcs");
        cJSON_AddStringToObject(funcs, "transform", fn && *fn ? fn : "transform");
        cJSON_AddStringToObject(msg, "code", code);
        cJSON_AddStringToObject(msg, "dependencies", deps ? deps : "");
        cJSON_AddNumberToObject(msg, "chunk_size", (double)chunk);
        rc = put_init(msg, name);
    }
    free(code);
    free(deps);
    cJSON_Delete(msg);
    return rc;
}

/* ---- show */

static int etl_list(cli_args *a)
{
    cli_call c;
    cli_call_init(&c, "GET");
    cmn_ais_url_etl(&c.url, &cli_ais, NULL);
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = cli_send(&c, &r, false);
    if (rc == CLI_EXIT_OK && cli_flag_set(a, "json")) {
        cli_print_json(r.body.data ? r.body.data : "[]", r.body.len ? r.body.len : 2);
    } else if (rc == CLI_EXIT_OK) {
        cJSON *arr;
        if (cmn_ais_json(&r, cJSON_IsArray, &arr) != 0) {
            rc = cli_fail("invalid ETL list reply from %s", cli_ais.endpoint);
        } else if (cJSON_GetArraySize(arr) > 0) {
            cli_table t;
            cli_table_init(&t, 3);
            if (!cli_flag_set(a, "no-headers"))
                cli_table_row(&t, "ETL NAME", " XACTION", " OBJECTS");
            cJSON *e;
            cJSON_ArrayForEach(e, arr)
            {
                cJSON *id = cJSON_GetObjectItem(e, "id"), *x = cJSON_GetObjectItem(e, "xaction_id");
                cJSON *cnt = cJSON_GetObjectItem(e, "obj_count");
                char xs[128], cs[40];
                snprintf(xs, sizeof xs, " %s", cJSON_IsString(x) ? x->valuestring : "");
                double n = cJSON_IsNumber(cnt) ? cnt->valuedouble : cJSON_IsString(cnt) ? atof(cnt->valuestring) : 0;
                if (n == 0)
                    snprintf(cs, sizeof cs, " -");
                else
                    snprintf(cs, sizeof cs, " %.0f", n);
                cli_table_row(&t, cJSON_IsString(id) ? id->valuestring : "", xs, cs);
            }
            cli_table_print(&t);
            cli_table_free(&t);
        }
        cJSON_Delete(arr);
    }
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    return rc;
}

static int etl_details(cli_args *a, const char *name)
{
    cli_call c;
    cli_call_init(&c, "GET");
    cmn_ais_url_etl(&c.url, &cli_ais, name);
    cJSON *m;
    int rc = cli_get_json(a, &c, "ETL details", cJSON_IsObject, &m);
    if (m) {
        cJSON *id = cJSON_GetObjectItem(m, "id"), *comm = cJSON_GetObjectItem(m, "communication");
        cJSON *arg = cJSON_GetObjectItem(m, "argument"), *code = cJSON_GetObjectItem(m, "code");
        cJSON *spec = cJSON_GetObjectItem(m, "spec");
        printf("NAME:  %s\n", cJSON_IsString(id) ? id->valuestring : name);
        printf("COMMUNICATION TYPE:  %s\n", cJSON_IsString(comm) ? comm->valuestring : "");
        printf("ARGUMENT TYPE:  %s\n", cJSON_IsString(arg) ? arg->valuestring : "");
        if (cJSON_IsString(code)) {
            cJSON *rt = cJSON_GetObjectItem(m, "runtime"), *deps = cJSON_GetObjectItem(m, "dependencies");
            cJSON *cs = cJSON_GetObjectItem(m, "chunk_size");
            size_t n = 0;
            unsigned char *src = cmn_base64_decode(code->valuestring, &n);
            unsigned char *dep = cJSON_IsString(deps) ? cmn_base64_decode(deps->valuestring, &n) : NULL;
            printf("RUNTIME:  %s\n", cJSON_IsString(rt) ? rt->valuestring : "");
            printf("CODE: \n%s\n", src ? (char *)src : "");
            printf("DEPS:  %s\n", dep ? (char *)dep : "");
            printf("CHUNK SIZE:  %.0f\n", cJSON_IsNumber(cs) ? cs->valuedouble : 0);
            free(src);
            free(dep);
        } else if (cJSON_IsString(spec)) {
            size_t n = 0;
            unsigned char *y = cmn_base64_decode(spec->valuestring, &n);
            printf("SPEC: \n%s\n", y ? (char *)y : "");
            free(y);
        }
    }
    cJSON_Delete(m);
    cli_call_free(&c);
    return rc;
}

int cli_etl_show(cli_args *a)
{
    if (a->npos > 1)
        return cli_usage_err(a, "too many arguments or unrecognized (misplaced?) option '%s'", a->pos[1]);
    return a->npos ? etl_details(a, a->pos[0]) : etl_list(a);
}

int cli_etl_details(cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_err(a, a->npos ? "too many arguments" : "missing \"ETL_NAME\" argument");
    return etl_details(a, a->pos[0]);
}

/* ---- start, stop, rm */

/* POST/DELETE /v1/etl/NAME[suffix]; an error answer is the caller's to explain. */
static int etl_simple(cli_call *c, const char *method, const char *name, const char *suffix, cmn_http_resp *r)
{
    cli_call_init(c, method);
    cmn_ais_url_etl(&c->url, &cli_ais, name);
    cmn_buf_puts(&c->url, suffix);
    return cli_send(c, r, true);
}

static int print_resp_err(const cli_call *c, const cmn_http_resp *r)
{
    if (!r->status)
        return CLI_EXIT_ERR; /* transport error, already printed */
    return cli_fail("%s", c->why.data);
}

int cli_etl_start(cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_err(a, a->npos ? "too many arguments" : "missing \"ETL_NAME\" argument");
    cli_call c;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = etl_simple(&c, "POST", a->pos[0], "/start", &r);
    if (rc == CLI_EXIT_OK) {
        printf("ETL[%s] started successfully\n", a->pos[0]);
    } else if (r.status == 404) {
        fprintf(stderr, "ETL[%s] not found\n", a->pos[0]);
        rc = CLI_EXIT_ERR;
    } else {
        rc = print_resp_err(&c, &r);
    }
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    return rc;
}

static int stop_or_rm(cli_args *a, const char *method, const char *suffix, const char *done)
{
    if (a->npos < 1)
        return cli_usage_err(a, "missing \"ETL_NAME\" argument");
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < a->npos && rc == CLI_EXIT_OK; i++) {
        cli_call c;
        cmn_http_resp r;
        cmn_http_resp_init(&r);
        rc = etl_simple(&c, method, a->pos[i], suffix, &r);
        if (rc == CLI_EXIT_OK) {
            printf("ETL[%s] %s\n", a->pos[i], done);
        } else if (r.status == 404) {
            /* as upstream: a missing ETL is a warning, not a failure */
            fprintf(stderr, "Warning: ETL[%s] not found, nothing to do\n", a->pos[i]);
            rc = CLI_EXIT_OK;
        } else {
            rc = print_resp_err(&c, &r);
        }
        cmn_http_resp_free(&r);
        cli_call_free(&c);
    }
    return rc;
}

int cli_etl_stop(cli_args *a) { return stop_or_rm(a, "POST", "/stop", "stopped"); }
int cli_etl_rm(cli_args *a) { return stop_or_rm(a, "DELETE", "", "removed"); }

/* ---- transform one object */

int cli_etl_object(cli_args *a)
{
    if (a->npos < 3)
        return cli_usage_err(a, a->npos < 2 ? "missing arguments \"ETL_NAME BUCKET/OBJECT_NAME OUTPUT\""
                                            : "missing \"OUTPUT\" argument");
    if (a->npos > 3)
        return cli_usage_err(a, "too many arguments or unrecognized (misplaced?) option '%s'", a->pos[3]);
    const char *name = a->pos[0];
    cli_uri u;
    int rc = cli_parse_uri(a, a->pos[1], &u, true, true);
    if (rc)
        return rc;
    cli_call c;
    cli_call_init(&c, "GET");
    cmn_ais_url_object(&c.url, &cli_ais, u.bucket, u.object);
    cmn_ais_url_query(&c.url, "provider", u.provider);
    cmn_ais_url_query(&c.url, "etl_name", name);
    int64_t size;
    const char *dest = a->pos[2];
    if (!strcmp(dest, "/dev/null")) { /* as upstream: discard */
        cmn_http_resp r;
        cmn_http_resp_init(&r);
        c.follow = true;
        rc = cli_send(&c, &r, false);
        cmn_http_resp_free(&r);
    } else {
        rc = cli_fetch_to(&c, dest, &size);
    }
    cli_call_free(&c);
    cli_uri_free(&u);
    return rc;
}

/* ---- transform a bucket */

/* {"jpg":"txt"} or {jpg:txt} or {in1:out1,in2:out2} -> object */
static cJSON *parse_ext(const char *s)
{
    cJSON *j = cJSON_Parse(s);
    if (cJSON_IsObject(j))
        goto check;
    cJSON_Delete(j);
    cmn_buf b;
    cmn_buf_init(&b);
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case ' ': break;
        case '{': cmn_buf_puts(&b, "{\""); break;
        case '}': cmn_buf_puts(&b, "\"}"); break;
        case ':': cmn_buf_puts(&b, "\":\""); break;
        case ',': cmn_buf_puts(&b, "\",\""); break;
        default: cmn_buf_append(&b, p, 1);
        }
    }
    j = b.data ? cJSON_Parse(b.data) : NULL;
    cmn_buf_free(&b);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return NULL;
    }
check:
    for (cJSON *e = j->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            cJSON_Delete(j);
            return NULL;
        }
    }
    return j;
}

/* HEAD a bucket: 0 exists, 404 missing, else -1 (printed). */
static int head_bucket(cli_uri *u)
{
    cli_call c;
    cli_call_init(&c, "HEAD");
    cmn_ais_url_bucket(&c.url, &cli_ais, u->bucket);
    cmn_ais_url_query(&c.url, "provider", u->provider);
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = cli_send(&c, &r, true);
    int out = rc == CLI_EXIT_OK ? 0 : r.status == 404 ? 404 : -1;
    if (out == -1 && r.status)
        cli_fail("%s: HTTP error %ld", u->bucket, r.status);
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    return out;
}

/* true when the bucket lists no object (one name is enough to say no) */
static bool bucket_empty(cli_uri *u, const char *prefix)
{
    cli_call c;
    cli_call_init(&c, "GET");
    cmn_ais_url_bucket(&c.url, &cli_ais, u->bucket);
    cmn_ais_url_query(&c.url, "provider", u->provider);
    cmn_buf body;
    cmn_buf_init(&body);
    cmn_buf_puts(&body, "{\"action\":\"list\",\"name\":\"\",\"value\":{\"prefix\":");
    cli_json_str(&body, prefix ? prefix : "");
    cmn_buf_puts(&body, ",\"pagesize\":1,\"props\":\"name\",\"flags\":\"0\"}}");
    c.body = body.data;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    bool empty = false;
    if (cli_send(&c, &r, true) == CLI_EXIT_OK) {
        cJSON *p = cJSON_ParseWithLength(r.body.data, r.body.len);
        cJSON *e = p ? cJSON_GetObjectItem(p, "entries") : NULL;
        empty = p && (!e || cJSON_GetArraySize(e) == 0);
        cJSON_Delete(p);
    }
    cmn_http_resp_free(&r);
    cmn_buf_free(&body);
    cli_call_free(&c);
    return empty;
}

int cli_etl_bucket(cli_args *a)
{
    if (a->npos < 3)
        return cli_usage_err(a, "missing arguments \"ETL_NAME SRC_BUCKET DST_BUCKET\"");
    if (a->npos > 3)
        return cli_usage_err(a, "too many arguments or unrecognized (misplaced?) option '%s'", a->pos[3]);
    const char *name = a->pos[0];
    cli_uri src, dst;
    int rc = cli_parse_uri(a, a->pos[1], &src, false, true);
    if (rc)
        return rc;
    if ((rc = cli_parse_uri(a, a->pos[2], &dst, false, false))) {
        cli_uri_free(&src);
        return rc;
    }
    cJSON *ext = NULL;
    const char *extf = cli_flag_str(a, "ext");
    const char *prefix = cli_flag_str(a, "prefix");
    if (!prefix)
        prefix = src.object;
    const char *etl_timeout = cli_flag_str(a, "etl-timeout");
    const char *wait_timeout = cli_flag_str(a, "timeout");
    int64_t wait_ns = 0, tmp;
    char from[300], to[300];
    cli_uri_cname(&src, NULL, from, sizeof from);
    cli_uri_cname(&dst, NULL, to, sizeof to);
    bool dry = cli_flag_set(a, "dry-run");
    if (extf && !(ext = parse_ext(extf))) {
        rc = cli_usage_err(a, "Invalid format --ext=\"%s\". Usage examples: {jpg:txt}, \"{in1:out1,in2:out2}\"", extf);
        goto out;
    }
    if (etl_timeout && cmn_parse_duration(etl_timeout, &tmp) != 0) {
        rc = cli_usage_err(a, "invalid --etl-timeout \"%s\"", etl_timeout);
        goto out;
    }
    if (wait_timeout && cmn_parse_duration(wait_timeout, &wait_ns) != 0) {
        rc = cli_usage_err(a, "invalid --timeout \"%s\"", wait_timeout);
        goto out;
    }
    if (!strcmp(src.bucket, dst.bucket) && !strcmp(src.provider, dst.provider)) {
        rc = cli_usage_err(a, "cannot transform bucket %s onto itself", from);
        goto out;
    }

    /* as upstream: source must exist, an empty source is nothing to do,
     * a missing destination is announced before it gets created */
    int hs = head_bucket(&src);
    if (hs) {
        rc = hs == 404 ? cli_fail("bucket \"%s\" does not exist", from) : CLI_EXIT_ERR;
        goto out;
    }
    if (bucket_empty(&src, prefix)) {
        fprintf(stderr, "Note: source %s is empty, nothing to do\n", from);
        goto out;
    }
    if (head_bucket(&dst) == 404)
        fprintf(stderr, "Warning: destination %s doesn't exist and will be created with configuration copied "
                        "from the source (%s))\n", to, from);
    if (dry) {
        printf("[DRY RUN] with no modifications to the cluster\nTransforming the entire bucket\n");
    }

    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "id", name);
    cJSON_AddStringToObject(v, "prefix", prefix ? prefix : "");
    cJSON_AddItemToObject(v, "ext", ext ? ext : cJSON_CreateObject());
    ext = NULL;
    cJSON_AddBoolToObject(v, "dry_run", dry);
    cJSON_AddBoolToObject(v, "force", cli_flag_set(a, "force"));
    const char *prepend = cli_flag_str(a, "prepend");
    cJSON_AddStringToObject(v, "prepend", prepend ? prepend : "");
    cJSON_AddStringToObject(v, "request_timeout", etl_timeout ? etl_timeout : "");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "action", "etl-bck");
    cJSON_AddStringToObject(m, "name", "");
    cJSON_AddItemToObject(m, "value", v);
    char *body = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);

    cli_call c;
    cli_call_init(&c, "POST");
    cmn_ais_url_bucket(&c.url, &cli_ais, src.bucket);
    cmn_ais_url_query(&c.url, "provider", src.provider);
    char uname[400];
    snprintf(uname, sizeof uname, "%s/@#/%s/", dst.provider, dst.bucket);
    cmn_ais_url_query(&c.url, "bck_to", uname);
    c.body = body;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    rc = cli_send(&c, &r, true);
    if (rc != CLI_EXIT_OK && r.status) {
        /* as upstream: a 404 naming the ETL (not a bucket) gets advice */
        if (r.status == 404 && strstr(c.why.data, name))
            cli_fail("ETL[%s] not found; try starting new ETL with:\nais etl init <spec>", name);
        else
            cli_fail("%s", c.why.data);
    }
    char xid[128] = "";
    if (rc == CLI_EXIT_OK) {
        const char *p = r.body.data ? r.body.data : "";
        while (*p == '"' || isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, "\"\r\n ");
        snprintf(xid, sizeof xid, "%.*s", (int)(n < sizeof xid ? n : sizeof xid - 1), p);
    }
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    free(body);
    if (rc != CLI_EXIT_OK)
        goto out;

    bool wait = cli_flag_set(a, "wait") || wait_timeout;
    printf("etl-bucket[%s] %s => %s%s\n", xid, from, to, wait ? " ..." : "");
    fflush(stdout);
    if (wait) {
        rc = cli_job_wait_id(xid, cli_flag_set(a, "progress") || cli_stdout_tty(), wait_ns);
        if (rc == CLI_EXIT_OK && dry) {
            int64_t n[6];
            cli_job_counts(xid, n);
            printf("[DRY RUN] with no modifications to the cluster\n");
            printf("ETL object counts:\t transformed=%lld, sent=%lld, received=%lld\n", (long long)n[0],
                   (long long)n[1], (long long)n[2]);
            printf("ETL byte stats:\t transformed=%lld, sent=%lld, received=%lld\n", (long long)n[3],
                   (long long)n[4], (long long)n[5]);
        }
    }
out:
    cJSON_Delete(ext);
    cli_uri_free(&src);
    cli_uri_free(&dst);
    return rc;
}

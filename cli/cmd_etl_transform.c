/*
 * cmd_etl_transform.c - running ETLs over data: `ais etl object` (one object,
 * inline to a file or stdout, or 5.0's `cp` into another bucket), `ais etl
 * bucket` (an offline etl-bck job, or with 5.0's --list/--template an
 * etl-listrange job) and 5.0's `ais etl inspect`. The ETL
 * argument may be 5.0's pipeline "A>>B>>C": A is the ETL, B and C run after
 * it (etl_pipeline=B,C inline; "pipeline": ["B","C"] in jobs).
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 5.0's pipelines */

typedef struct chain {
    int n;
    char **names; /* names[0] the ETL, the rest its pipeline */
} chain;

static void chain_free(chain *ch)
{
    for (int i = 0; i < ch->n; i++)
        free(ch->names[i]);
    free(ch->names);
}

/* "A" or "A>>B>>C" (blanks around names trimmed), as upstream's parseETLNames;
 * an empty stage is a usage error in upstream's words. */
static int parse_chain(cli_args *a, const char *s, chain *ch)
{
    memset(ch, 0, sizeof *ch);
    for (const char *p = s;;) {
        const char *end = strstr(p, ">>");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && isspace((unsigned char)*p))
            p++, len--;
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        ch->names = cmn_xrealloc(ch->names, (size_t)(ch->n + 1) * sizeof *ch->names);
        ch->names[ch->n++] = cmn_xasprintf("%.*s", (int)len, p);
        if (!len) {
            int n = ch->n;
            chain_free(ch);
            if (!end && n == 1)
                return cli_usage_err(a, "failed to parse ETL name or pipeline: ETL name cannot be empty");
            return cli_usage_err(a, "failed to parse ETL name or pipeline: empty ETL name at position %d in pipeline",
                                 n);
        }
        if (!end)
            return CLI_EXIT_OK;
        p = end + 2;
    }
}

/* etl_name=A[&etl_pipeline=B,C][&etl_args=S] */
static void chain_query(cmn_buf *url, const chain *ch, const char *args)
{
    cmn_ais_url_query(url, "etl_name", ch->names[0]);
    if (ch->n > 1) {
        cmn_buf pl;
        cmn_buf_init(&pl);
        for (int i = 1; i < ch->n; i++)
            cmn_buf_printf(&pl, "%s%s", i > 1 ? "," : "", ch->names[i]);
        cmn_ais_url_query(url, "etl_pipeline", pl.data);
        cmn_buf_free(&pl);
    }
    if (args)
        cmn_ais_url_query(url, "etl_args", args);
}

/* An error answer about an ETL: as upstream, a 404 naming it gets advice. */
static int etl_http_err(const cli_call *c, const cmn_http_resp *r, const char *name)
{
    if (!r->status)
        return CLI_EXIT_ERR; /* no answer: already printed */
    if (r->status == 404 && strstr(c->why.data, name))
        return cli_fail("ETL[%s] not found; try starting new ETL with:\nais etl init <spec>", name);
    return cli_fail("%s", c->why.data);
}

/* ---- transform one object */

/* 5.0's `ais etl object ETL cp SRC_BUCKET/OBJ DST_BUCKET[/OBJ]`: a
 * server-side transform, PUT /v1/objects/SRC/OBJ?object_to=ais/@#/DST/NAME. */
static int object_cp(cli_args *a, const chain *ch)
{
    int bad = cli_npos(a, 4, 4,
                       "missing arguments \"<ETL_NAME_OR_PIPELINE> cp <SRC_BUCKET/OBJECT> <DST_BUCKET[/OBJECT]>\"");
    if (bad)
        return bad;
    cli_uri src, dst;
    int rc = cli_parse_uri(a, a->pos[2], &src, true, true);
    if (rc)
        return rc;
    if ((rc = cli_parse_uri(a, a->pos[3], &dst, false, true))) {
        cli_uri_free(&src);
        return rc;
    }
    const char *to = *dst.object ? dst.object : src.object; /* as upstream: the source's name by default */
    cli_call c;
    cli_call_init(&c, "PUT");
    cmn_ais_url_object(&c.url, &cli_ais, src.bucket, src.object);
    cmn_ais_url_query(&c.url, "provider", src.provider);
    char *uname = cmn_xasprintf("%s/@#/%s/%s", dst.provider, dst.bucket, to);
    cmn_ais_url_query(&c.url, "object_to", uname);
    free(uname);
    chain_query(&c.url, ch, cli_flag_str(a, "args"));
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    rc = cli_send(&c, &r, true);
    if (rc == CLI_EXIT_OK) {
        char from[600], dest[600];
        cli_uri_cname(&src, src.object, from, sizeof from);
        cli_uri_cname(&dst, to, dest, sizeof dest);
        printf("ETL[%s]: %s => %s\n", a->pos[0], from, dest);
    } else {
        rc = etl_http_err(&c, &r, a->pos[0]);
    }
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    cli_uri_free(&src);
    cli_uri_free(&dst);
    return rc;
}

int cli_etl_object(cli_args *a)
{
    if (a->npos < 3 && !(a->npos >= 2 && !strcmp(a->pos[1], "cp")))
        return cli_usage_err(a, a->npos < 2 ? "missing arguments \"ETL_NAME BUCKET/OBJECT_NAME OUTPUT\""
                                            : "missing \"OUTPUT\" argument");
    chain ch;
    int rc = parse_chain(a, a->pos[0], &ch);
    if (rc)
        return rc;
    if (!strcmp(a->pos[1], "cp")) {
        rc = object_cp(a, &ch);
        chain_free(&ch);
        return rc;
    }
    if (a->npos > 3) {
        chain_free(&ch);
        return cli_usage_err(a, "too many arguments or unrecognized (misplaced?) option '%s'", a->pos[3]);
    }
    cli_uri u;
    if ((rc = cli_parse_uri(a, a->pos[1], &u, true, true))) {
        chain_free(&ch);
        return rc;
    }
    cli_call c;
    cli_call_init(&c, "GET");
    cmn_ais_url_object(&c.url, &cli_ais, u.bucket, u.object);
    cmn_ais_url_query(&c.url, "provider", u.provider);
    chain_query(&c.url, &ch, cli_flag_str(a, "args"));
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
    chain_free(&ch);
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
    cli_call_bucket(&c, "HEAD", u);
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
    cli_call_bucket(&c, "GET", u);
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

/* The job fields both bucket commands take: ETL, pipeline, args, workers. */
static int job_value(cli_args *a, const chain *ch, cJSON *v)
{
    cJSON_AddStringToObject(v, "id", ch->names[0]);
    if (ch->n > 1) {
        cJSON *pl = cJSON_AddArrayToObject(v, "pipeline");
        for (int i = 1; i < ch->n; i++)
            cJSON_AddItemToArray(pl, cJSON_CreateString(ch->names[i]));
    }
    const char *args = cli_flag_str(a, "args");
    if (args) /* an etlfs extension: AIStore takes etl_args inline only */
        cJSON_AddStringToObject(v, "etl_args", args);
    const char *nw = cli_flag_str(a, "num-workers");
    if (nw) {
        char *end;
        long n = strtol(nw, &end, 10);
        if (!*nw || *end || n < -1 || n > 1024)
            return cli_usage_err(a, "invalid --num-workers \"%s\" (expecting -1, 0 or a number of workers)", nw);
        cJSON_AddNumberToObject(v, "num-workers", (double)n);
    }
    return CLI_EXIT_OK;
}

/* ---- 5.0's selections: --list, --template, or a template as the source's
 * object name (a pattern, by upstream's isPattern). Each is an etl-listrange
 * job (AIStore's x-tco, `cmn.TCOMsg`), as upstream's CLI sends it. --prefix
 * stays etl-bck's prefix (upstream sends it as a template: the same objects). */

typedef struct selection {
    const char *list; /* comma-separated names, or NULL */
    const char *tmpl; /* a template, or NULL */
} selection;

static bool is_pattern(const char *s)
{
    return strpbrk(s, "*?\\") || (strchr(s, '{') && strchr(s, '}'));
}

/* objname: the source URI's object part ("" if none). Usage errors as upstream's dopOLTP. */
static int parse_selection(cli_args *a, const char *objname, selection *sel)
{
    const char *list = cli_flag_str(a, "list"), *tmpl = cli_flag_str(a, "template");
    const char *prefix = cli_flag_str(a, "prefix");
    memset(sel, 0, sizeof *sel);
    if (prefix && tmpl)
        return cli_usage_err(a, "flags '--prefix' and '--template' are mutually exclusive");
    if (list && (tmpl || prefix))
        return cli_usage_err(a, "flags '--list' and '--%s' are mutually exclusive", tmpl ? "template" : "prefix");
    if (objname && *objname) {
        if (list || tmpl)
            return cli_fail("%s (%s) cannot be used together with flags '--list' and '--template' (tip: use one or "
                            "the other)", is_pattern(objname) ? "pattern or template" : "object name or prefix",
                            objname);
        if (is_pattern(objname))
            tmpl = objname;
    }
    /* an empty or '*' template (or an empty list) is the whole bucket */
    sel->list = list && *list ? list : NULL;
    sel->tmpl = tmpl && *tmpl && strcmp(tmpl, "*") ? tmpl : NULL;
    return CLI_EXIT_OK;
}

/* "objnames" (trimmed, empty ones dropped) or "template", and "tobck". */
static void selection_value(const selection *sel, const cli_uri *dst, cJSON *v)
{
    cJSON *to = cJSON_AddObjectToObject(v, "tobck");
    cJSON_AddStringToObject(to, "name", dst->bucket);
    cJSON_AddStringToObject(to, "provider", dst->provider);
    if (sel->tmpl) {
        cJSON_AddStringToObject(v, "template", sel->tmpl);
        return;
    }
    cJSON *names = cJSON_AddArrayToObject(v, "objnames");
    for (const char *p = sel->list; *p;) {
        size_t n = strcspn(p, ",");
        const char *b = p, *e = p + n;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (e > b) {
            char *name = cmn_xasprintf("%.*s", (int)(e - b), b);
            cJSON_AddItemToArray(names, cJSON_CreateString(name));
            free(name);
        }
        p += n + (p[n] == ',');
    }
}

/* POST /v1/buckets/SRC {"action":ACTION,"value":v}: etl-bck with ?bck_to=DST,
 * etl-listrange with v's "tobck"; takes v. xid gets the job id; a failure is
 * printed. */
static int post_etl_job(cli_args *a, const char *action, const cli_uri *src, const cli_uri *dst, cJSON *v,
                        const char *name, char *xid, size_t xidlen)
{
    char *body = cmn_ais_action(action, "", v);
    cli_call c;
    cli_call_bucket(&c, "POST", src);
    char uname[400];
    snprintf(uname, sizeof uname, "%s/@#/%s/", dst->provider, dst->bucket);
    if (!strcmp(action, "etl-bck"))
        cmn_ais_url_query(&c.url, "bck_to", uname);
    if (cli_flag_set(a, "all")) /* as upstream: FltExists, remote objects not in the cluster too */
        cmn_ais_url_query(&c.url, "presence", "0");
    c.body = body;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = cli_send(&c, &r, true);
    if (rc == CLI_EXIT_OK)
        cli_reply_id(&r, xid, xidlen);
    else
        rc = etl_http_err(&c, &r, name);
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    free(body);
    return rc;
}

int cli_etl_bucket(cli_args *a)
{
    int bad = cli_npos(a, 3, 3, "missing arguments \"ETL_NAME SRC_BUCKET DST_BUCKET\"");
    if (bad)
        return bad;
    chain ch;
    int rc = parse_chain(a, a->pos[0], &ch);
    if (rc)
        return rc;
    cli_uri src, dst;
    if ((rc = cli_parse_uri(a, a->pos[1], &src, false, true))) {
        chain_free(&ch);
        return rc;
    }
    if ((rc = cli_parse_uri(a, a->pos[2], &dst, false, false))) {
        cli_uri_free(&src);
        chain_free(&ch);
        return rc;
    }
    cJSON *ext = NULL, *v = NULL;
    selection sel;
    const char *extf = cli_flag_str(a, "ext");
    const char *prefix = cli_flag_str(a, "prefix");
    const char *etl_timeout = cli_flag_str(a, "etl-timeout");
    const char *wait_timeout = cli_flag_str(a, "timeout");
    int64_t wait_ns = 0, tmp;
    char from[300], to[300];
    cli_uri_cname(&src, NULL, from, sizeof from);
    cli_uri_cname(&dst, NULL, to, sizeof to);
    bool dry = cli_flag_set(a, "dry-run");
    if ((rc = parse_selection(a, src.object, &sel)))
        goto out;
    bool listrange = sel.list || sel.tmpl;
    if (!prefix && !listrange)
        prefix = src.object;
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
    /* as upstream: only the whole bucket may not go onto itself */
    if (!listrange && !strcmp(src.bucket, dst.bucket) && !strcmp(src.provider, dst.provider)) {
        rc = cli_usage_err(a, "cannot transform bucket %s onto itself", from);
        goto out;
    }
    v = cJSON_CreateObject();
    if ((rc = job_value(a, &ch, v)))
        goto out;

    /* as upstream: source must exist, an empty source is nothing to do,
     * a missing destination is announced before it gets created */
    int hs = head_bucket(&src);
    if (hs) {
        rc = hs == 404 ? cli_fail("bucket \"%s\" does not exist", from) : CLI_EXIT_ERR;
        goto out;
    }
    if (bucket_empty(&src, listrange ? NULL : prefix)) {
        fprintf(stderr, "Note: source %s is empty, nothing to do\n", from);
        goto out;
    }
    if (head_bucket(&dst) == 404)
        fprintf(stderr, "Warning: destination %s doesn't exist and will be created with configuration copied "
                        "from the source (%s))\n", to, from);
    if (dry) {
        printf("[DRY RUN] with no modifications to the cluster\n");
        if (!listrange)
            printf("Transforming the entire bucket\n");
        else if (sel.list)
            printf("Transforming \"%s\" ...\n", sel.list);
        else
            printf("Transforming objects that match the pattern \"%s\" ...\n", sel.tmpl);
    }

    if (listrange)
        selection_value(&sel, &dst, v);
    else
        cJSON_AddStringToObject(v, "prefix", prefix ? prefix : "");
    cJSON_AddItemToObject(v, "ext", ext ? ext : cJSON_CreateObject());
    ext = NULL;
    cJSON_AddBoolToObject(v, "dry_run", dry);
    cJSON_AddBoolToObject(v, "force", cli_flag_set(a, "force"));
    const char *prepend = cli_flag_str(a, "prepend");
    cJSON_AddStringToObject(v, "prepend", prepend ? prepend : "");
    cJSON_AddStringToObject(v, "request_timeout", etl_timeout ? etl_timeout : "");
    if (cli_flag_set(a, "cont-on-err"))
        cJSON_AddBoolToObject(v, "coer", true);
    char xid[128] = "";
    rc = post_etl_job(a, listrange ? "etl-listrange" : "etl-bck", &src, &dst, v, ch.names[0], xid, sizeof xid);
    v = NULL;
    if (rc != CLI_EXIT_OK)
        goto out;

    bool wait = cli_flag_set(a, "wait") || wait_timeout;
    bool progress = cli_flag_set(a, "progress") || cli_stdout_tty();
    if (listrange) { /* upstream's runTCO words */
        if (!wait) {
            printf("Transforming objects %s => %s. To monitor the progress, run 'ais show job %s'\n", from, to, xid);
            goto out;
        }
        printf("Transforming objects %s => %s ...", from, to);
        fflush(stdout);
        rc = cli_job_wait_id(xid, progress, wait_ns);
        if (rc == CLI_EXIT_OK)
            printf("Done.\n");
        else
            fprintf(stderr, "Failed to Transforming objects (\"%s\" => \"%s\")\n", from, to);
        goto out;
    }
    printf("etl-bucket[%s] %s => %s%s\n", xid, from, to, wait ? " ..." : "");
    fflush(stdout);
    if (wait) {
        rc = cli_job_wait_id(xid, progress, wait_ns);
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
    cJSON_Delete(v);
    cJSON_Delete(ext);
    cli_uri_free(&src);
    cli_uri_free(&dst);
    chain_free(&ch);
    return rc;
}

/* ---- inspect (5.0): an etl-bck of the bucket onto itself, dry run and
 * continue on error, so every object goes through the ETL, nothing is
 * written and the failures are kept for `ais etl show errors`. */

int cli_etl_inspect(cli_args *a)
{
    if (a->npos < 2)
        return cli_usage_err(a, "missing arguments \"ETL_NAME SRC_BUCKET[/PREFIX]\"");
    if (a->npos > 2)
        return cli_usage_err(a, "too many arguments");
    chain ch;
    int rc = parse_chain(a, a->pos[0], &ch);
    if (rc)
        return rc;
    cli_uri src;
    if ((rc = cli_parse_uri(a, a->pos[1], &src, false, true))) {
        chain_free(&ch);
        return rc;
    }
    const char *wait_timeout = cli_flag_str(a, "timeout");
    int64_t wait_ns = 0;
    const char *prefix = cli_flag_str(a, "prefix");
    cJSON *v = cJSON_CreateObject();
    selection sel;
    if ((rc = parse_selection(a, src.object, &sel)))
        goto out;
    bool listrange = sel.list || sel.tmpl;
    if (wait_timeout && cmn_parse_duration(wait_timeout, &wait_ns) != 0) {
        rc = cli_usage_err(a, "invalid --timeout \"%s\"", wait_timeout);
        goto out;
    }
    if ((rc = job_value(a, &ch, v)))
        goto out;
    if (listrange) /* upstream's ETLInspectMultiObj: etl-listrange onto the same bucket */
        selection_value(&sel, &src, v);
    else
        cJSON_AddStringToObject(v, "prefix", prefix ? prefix : src.object ? src.object : "");
    cJSON_AddStringToObject(v, "prepend", "");
    cJSON_AddBoolToObject(v, "dry_run", true);
    cJSON_AddBoolToObject(v, "force", false);
    cJSON_AddBoolToObject(v, "coer", true);
    char xid[128] = "", from[300];
    cli_uri_cname(&src, NULL, from, sizeof from);
    rc = post_etl_job(a, listrange ? "etl-listrange" : "etl-bck", &src, &src, v, ch.names[0], xid, sizeof xid);
    v = NULL;
    if (rc != CLI_EXIT_OK)
        goto out;
    bool wait = cli_flag_set(a, "wait") || wait_timeout;
    printf("%s[%s] %s%s\n", listrange ? "etl-objects" : "etl-bucket", xid, from, wait ? " ..." : "");
    fflush(stdout);
    if (wait)
        rc = cli_job_wait_id(xid, cli_stdout_tty(), wait_ns);
    /* the hint in both cases: it matters most when the job found errors */
    printf("To view failed objects, run 'ais etl show errors %s %s'\n", ch.names[0], xid);
out:
    cJSON_Delete(v);
    cli_uri_free(&src);
    chain_free(&ch);
    return rc;
}

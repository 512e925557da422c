/*
 * cmd_bucket.c - `ais bucket create|rm` and `ais ls` (buckets, or a bucket's
 * objects). Listing pages through the bucket with continuation tokens and
 * prints in batches, so a huge bucket neither waits for its last page nor
 * holds every name in memory; a reader that goes away (`| head`) ends it
 * quietly.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LS_BATCH 100000 /* entries per printed table; one table for most buckets */

/* What creating and destroying differ in: the request, and the words. */
typedef struct bucket_act {
    const char *method, *action;
    const char *done;      /* "\"%s\" created" */
    int expected_status;   /* the one failure with its own wording */
    const char *expected;  /* "Bucket \"%s\" already exists" */
    bool name_in_failure;  /* other failures: "failed to ACT NAME: MESSAGE" or just MESSAGE */
    const char *verb;
} bucket_act;

static int bucket_each(cli_args *a, const bucket_act *act)
{
    if (a->npos == 0)
        return cli_usage_err(a, "missing \"BUCKET\" argument");
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < a->npos && rc == CLI_EXIT_OK; i++) {
        cli_uri u;
        if ((rc = cli_parse_uri(a, a->pos[i], &u, false, false)))
            break;
        char cname[300];
        cli_uri_cname(&u, NULL, cname, sizeof cname);
        cli_call c;
        cli_call_bucket(&c, act->method, &u);
        char *body = cmn_ais_action(act->action, "", NULL);
        c.body = body;
        cmn_http_resp r;
        cmn_http_resp_init(&r);
        if ((rc = cli_send(&c, &r, true)) == CLI_EXIT_OK) {
            printf(act->done, cname);
            putchar('\n');
        } else if (r.status == act->expected_status) {
            cli_fail(act->expected, cname);
        } else if (r.status) {
            if (act->name_in_failure)
                cli_fail("failed to %s \"%s\": %s", act->verb, cname, c.why.data);
            else
                cli_fail("%s", c.why.data);
        }
        cmn_http_resp_free(&r);
        free(body);
        cli_call_free(&c);
        cli_uri_free(&u);
    }
    return rc;
}

int cli_bucket_create(cli_args *a)
{
    static const bucket_act create = {"POST", "create-bck", "\"%s\" created", 409,
                                      "Bucket \"%s\" already exists", true, "create"};
    return bucket_each(a, &create);
}

int cli_bucket_rm(cli_args *a)
{
    static const bucket_act rm = {"DELETE", "destroy-bck", "\"%s\" destroyed", 404,
                                  "bucket \"%s\" does not exist", false, "destroy"};
    return bucket_each(a, &rm);
}

/* ---- list buckets */

static int ls_buckets(cli_args *a, const char *provider)
{
    cli_call c;
    cli_call_init(&c, "GET");
    cmn_ais_url_bucket(&c.url, &cli_ais, NULL);
    cmn_ais_url_query(&c.url, "provider", provider);
    char *body = cmn_ais_action("list", "", NULL);
    c.body = body;
    cJSON *arr;
    int rc = cli_get_json(a, &c, "list-buckets", cJSON_IsArray, &arr);
    int n = cJSON_GetArraySize(arr);
    if (arr && n == 0) {
        printf("\n");
    } else if (arr) {
        cli_table t;
        cli_table_init(&t, 2);
        if (!cli_flag_set(a, "no-headers"))
            cli_table_row(&t, "NAME", " PRESENT");
        cJSON *b;
        cJSON_ArrayForEach(b, arr)
        {
            cJSON *nm = cJSON_GetObjectItem(b, "name"), *pr = cJSON_GetObjectItem(b, "provider");
            const char *p = cJSON_IsString(pr) ? pr->valuestring : "ais";
            const char *scheme = !strcmp(p, "aws") ? "s3" : !strcmp(p, "gcp") ? "gs" : !strcmp(p, "azure") ? "az" : p;
            char cname[512];
            snprintf(cname, sizeof cname, "%s://%s", scheme, cJSON_IsString(nm) ? nm->valuestring : "");
            cli_table_row(&t, cname, " yes");
        }
        cli_table_print(&t);
        cli_table_free(&t);
        if (!cli_flag_set(a, "no-footers"))
            printf("Total: [AIS bucket%s: %d] ========\n", n == 1 ? "" : "s", n);
        printf("\n");
    }
    cJSON_Delete(arr);
    free(body);
    cli_call_free(&c);
    return rc;
}

/* ---- list objects */

static const char *known_props[] = {"name", "size", "checksum", "atime", "version",
                                    "location", "custom", "copies", "status", "cached", NULL};

static void big_num(long n, char *out, size_t outlen)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%ld", n);
    size_t len = strlen(raw), o = 0;
    for (size_t i = 0; i < len && o + 2 < outlen; i++) {
        if (i && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = '\0';
}

typedef struct ls_ctx {
    cli_args *a;
    char props[256];   /* as sent */
    const char *cols[12];
    int ncols;
    bool json;
    cli_table t;
    long total;
    cmn_buf json_entries;
    bool gone; /* stdout closed */
} ls_ctx;

static void cell_of(cJSON *e, const char *prop, char *out, size_t outlen)
{
    cJSON *v = NULL;
    out[0] = '\0';
    if (!strcmp(prop, "name")) {
        v = cJSON_GetObjectItem(e, "name");
    } else if (!strcmp(prop, "size")) {
        v = cJSON_GetObjectItem(e, "size");
        int64_t sz = cJSON_IsString(v) ? strtoll(v->valuestring, NULL, 10) : cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
        cli_fmt_size(sz, out, outlen);
        return;
    } else if (!strcmp(prop, "status")) {
        snprintf(out, outlen, "ok");
        return;
    } else if (!strcmp(prop, "cached")) {
        snprintf(out, outlen, "yes");
        return;
    } else if (!strcmp(prop, "custom")) {
        v = cJSON_GetObjectItem(e, "custom-md");
        if (!v)
            v = cJSON_GetObjectItem(e, "custom");
        if (!v) {
            snprintf(out, outlen, "-");
            return;
        }
    } else {
        v = cJSON_GetObjectItem(e, prop);
    }
    if (cJSON_IsString(v))
        snprintf(out, outlen, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(out, outlen, "%lld", (long long)v->valuedouble);
    else if (v && !cJSON_IsNull(v)) {
        char *s = cJSON_PrintUnformatted(v);
        snprintf(out, outlen, "%s", s);
        free(s);
    }
}

static void ls_flush(ls_ctx *x)
{
    if (!x->gone && x->t.nrows && !cli_table_print(&x->t))
        x->gone = true;
    cli_table_free(&x->t);
    cli_table_init(&x->t, x->ncols + 1);
}

static void ls_add_header(ls_ctx *x)
{
    if (cli_flag_set(x->a, "no-headers"))
        return;
    const char *row[13];
    char hdr[12][32];
    for (int i = 0; i < x->ncols; i++) {
        size_t l = 0;
        if (i)
            hdr[i][l++] = ' ';
        for (const char *p = x->cols[i]; *p && l < sizeof hdr[i] - 1; p++)
            hdr[i][l++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        hdr[i][l] = '\0';
        row[i] = hdr[i];
    }
    row[x->ncols] = " ";
    cli_table_rowv(&x->t, row);
}

static void ls_add_entry(ls_ctx *x, cJSON *e)
{
    char cells[12][2100];
    const char *row[13];
    for (int i = 0; i < x->ncols; i++) {
        cells[i][0] = ' ';
        cell_of(e, x->cols[i], cells[i] + 1, sizeof cells[i] - 1);
        row[i] = i ? cells[i] : cells[i] + 1;
    }
    row[x->ncols] = " ";
    cli_table_rowv(&x->t, row);
}

static int ls_objects(cli_args *a, cli_uri *u)
{
    ls_ctx x = {.a = a, .json = cli_flag_set(a, "json")};
    const char *props = cli_flag_str(a, "props");
    const char *prefix = cli_flag_str(a, "prefix");
    if (!prefix || !*prefix)
        prefix = u->object;
    long page_size = 0, limit = 0;
    if (cli_flag_str(a, "page-size")) {
        char *end;
        page_size = strtol(cli_flag_str(a, "page-size"), &end, 10);
        if (*end || page_size < 0)
            return cli_usage_err(a, "invalid --page-size %s", cli_flag_str(a, "page-size"));
    }
    if (cli_flag_str(a, "limit")) {
        char *end;
        limit = strtol(cli_flag_str(a, "limit"), &end, 10);
        if (*end || limit < 0)
            return cli_usage_err(a, "invalid --limit %s", cli_flag_str(a, "limit"));
        if (limit && (page_size == 0 || limit < page_size))
            page_size = limit;
    }

    /* columns: name first, then the asked-for props; "all" = every prop */
    x.cols[x.ncols++] = "name";
    if (!props || !*props) {
        x.cols[x.ncols++] = "size";
        snprintf(x.props, sizeof x.props, "name,size");
    } else {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", props);
        bool all = false;
        for (char *s = strtok(tmp, ","); s; s = strtok(NULL, ",")) {
            if (!strcmp(s, "all"))
                all = true;
        }
        snprintf(tmp, sizeof tmp, "%s", all ? "size,checksum,atime,version,location,custom,copies,status" : props);
        snprintf(x.props, sizeof x.props, "name");
        for (char *s = strtok(tmp, ","); s; s = strtok(NULL, ",")) {
            int k = 0;
            while (known_props[k] && strcmp(known_props[k], s))
                k++;
            if (!known_props[k])
                return cli_usage_err(a, "invalid object property \"%s\" (expecting one of: %s)", s,
                                     "name,size,checksum,atime,version,location,custom,copies,status,cached");
            if (!strcmp(s, "name"))
                continue;
            if (x.ncols < 11)
                x.cols[x.ncols++] = known_props[k];
            size_t l = strlen(x.props);
            snprintf(x.props + l, sizeof x.props - l, ",%s", s);
        }
    }
    cli_table_init(&x.t, x.ncols + 1);
    cmn_buf_init(&x.json_entries);
    if (!x.json)
        ls_add_header(&x);
    char *token = cmn_xstrdup(""), *uuid = cmn_xstrdup("");
    int rc = CLI_EXIT_OK;
    long in_batch = 0;
    for (;;) {
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "prefix", prefix);
        /* zero and empty fields are left out: they mean "default" anyway */
        if (page_size)
            cJSON_AddNumberToObject(v, "pagesize", (double)page_size);
        cJSON_AddStringToObject(v, "props", x.props);
        cJSON_AddStringToObject(v, "uuid", uuid);
        if (*token)
            cJSON_AddStringToObject(v, "continuation_token", token);
        cJSON_AddStringToObject(v, "flags", "0");
        char *body = cmn_ais_action("list", "", v);
        cli_call c;
        cli_call_bucket(&c, "GET", u);
        c.body = body;
        cmn_http_resp r;
        cmn_http_resp_init(&r);
        rc = cli_send(&c, &r, false);
        cJSON *page = NULL;
        if (rc == CLI_EXIT_OK && cmn_ais_json(&r, cJSON_IsObject, &page) != 0)
            rc = cli_fail("invalid list-objects reply for %s://%s", u->scheme, u->bucket);
        cmn_http_resp_free(&r);
        cli_call_free(&c);
        free(body);
        if (rc != CLI_EXIT_OK)
            break;
        cJSON *ents = cJSON_GetObjectItem(page, "entries"), *e;
        cJSON_ArrayForEach(e, ents)
        {
            if (limit && x.total >= limit)
                break;
            x.total++;
            if (x.json) {
                char *s = cJSON_PrintUnformatted(e);
                if (x.json_entries.len)
                    cmn_buf_puts(&x.json_entries, ",");
                cmn_buf_puts(&x.json_entries, s);
                free(s);
                continue;
            }
            ls_add_entry(&x, e);
            if (++in_batch >= LS_BATCH) {
                ls_flush(&x);
                in_batch = 0;
            }
        }
        cJSON *tok = cJSON_GetObjectItem(page, "continuation_token");
        cJSON *id = cJSON_GetObjectItem(page, "uuid");
        free(token);
        token = cmn_xstrdup(cJSON_IsString(tok) ? tok->valuestring : "");
        if (cJSON_IsString(id)) {
            free(uuid);
            uuid = cmn_xstrdup(id->valuestring);
        }
        cJSON_Delete(page);
        if (!*token || x.gone || (limit && x.total >= limit))
            break;
    }
    if (rc == CLI_EXIT_OK) {
        if (x.json) {
            cmn_buf out;
            cmn_buf_init(&out);
            cmn_buf_puts(&out, "{\"uuid\":");
            cli_json_str(&out, uuid);
            cmn_buf_printf(&out, ",\"continuation_token\":\"\",\"flags\":0,\"entries\":[%s]}",
                           x.json_entries.data ? x.json_entries.data : "");
            cli_print_json(out.data, out.len);
            cmn_buf_free(&out);
        } else {
            ls_flush(&x);
            if (!x.gone && !cli_flag_set(a, "no-footers") && x.total > 10) {
                char n[32];
                big_num(x.total, n, sizeof n);
                printf("Listed: %s names\n", n);
            }
        }
    }
    cli_table_free(&x.t);
    cmn_buf_free(&x.json_entries);
    free(token);
    free(uuid);
    return rc;
}

int cli_ls(cli_args *a)
{
    if (a->npos > 1)
        return cli_usage_err(a, "too many arguments (expecting at most one BUCKET)");
    if (a->npos == 0)
        return ls_buckets(a, "ais");
    const char *s = a->pos[0];
    const char *sep = strstr(s, "://");
    if (sep && sep[3] == '\0') { /* "ais://": buckets of a provider */
        cli_uri u;
        char probe[64];
        snprintf(probe, sizeof probe, "%.*s://x", (int)(sep - s), s);
        int rc = cli_parse_uri(a, probe, &u, false, false);
        if (rc)
            return rc;
        rc = ls_buckets(a, u.provider);
        cli_uri_free(&u);
        return rc;
    }
    cli_uri u;
    int rc = cli_parse_uri(a, s, &u, false, true);
    if (rc)
        return rc;
    rc = ls_objects(a, &u);
    cli_uri_free(&u);
    return rc;
}

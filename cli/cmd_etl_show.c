/*
 * cmd_etl_show.c - what `ais` shows of ETLs: the list, one ETL's definition,
 * the objects it failed (5.0's `show errors`) and its logs (`view-logs`).
 *
 * Both dialects print their own shapes: an ETL defined by a runtime spec
 * (only 5.0 has them) is shown as 5.0's CLI shows it ("name:", "runtime:"),
 * one defined by init code or a Pod spec as v3.22's ("NAME:", "SPEC:"); the
 * list is 5.0's table (every ETL, with its STAGE) as soon as it holds a
 * runtime-spec ETL, else v3.22's (the running ones), so a v3.22 user's
 * scripts see exactly what they saw before.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *cli_etl_list(bool all, int *rc)
{
    cli_call c;
    cli_call_etl(&c, "GET", NULL);
    if (all)
        cmn_ais_url_query(&c.url, "all", "true");
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    cJSON *arr = NULL;
    *rc = cli_send(&c, &r, false);
    if (*rc == CLI_EXIT_OK && cmn_ais_json(&r, cJSON_IsArray, &arr) != 0)
        *rc = cli_fail("invalid ETL list reply from %s", cli_ais.endpoint);
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    return arr;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* GET /v1/etl/NAME: the definition as stored, or NULL (quiet on failure
 * when asked: the list only wants to know the dialect). */
static cJSON *get_msg(const char *name, bool quiet, int *rc)
{
    cli_call c;
    cli_call_etl(&c, "GET", name);
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    cJSON *m = NULL;
    *rc = cli_send(&c, &r, quiet);
    if (*rc == CLI_EXIT_OK && cmn_ais_json(&r, cJSON_IsObject, &m) != 0 && !quiet)
        *rc = cli_fail("invalid ETL details reply from %s", cli_ais.endpoint);
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    return m;
}

static bool is_runtime_spec(const cJSON *m) { return cJSON_IsObject(cJSON_GetObjectItem(m, "runtime")); }

/* ---- the list */

static int etl_list(cli_args *a)
{
    if (cli_flag_set(a, "json")) {
        cli_call c;
        cli_call_etl(&c, "GET", NULL);
        cmn_http_resp r;
        cmn_http_resp_init(&r);
        int rc = cli_send(&c, &r, false);
        if (rc == CLI_EXIT_OK)
            cli_print_json(r.body.data ? r.body.data : "[]", r.body.len ? r.body.len : 2);
        cmn_http_resp_free(&r);
        cli_call_free(&c);
        return rc;
    }
    int rc;
    cJSON *arr = cli_etl_list(true, &rc);
    bool v5 = false;
    cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        int mrc;
        cJSON *m = v5 ? NULL : get_msg(str(e, "id"), true, &mrc);
        v5 = v5 || is_runtime_spec(m);
        cJSON_Delete(m);
    }
    /* v3.22's table has the running ETLs only (a list without stages is a
     * server that lists only those) */
    for (cJSON *next, *it = arr ? arr->child : NULL; !v5 && it; it = next) {
        next = it->next;
        if (*str(it, "stage") && strcmp(str(it, "stage"), "Running"))
            cJSON_Delete(cJSON_DetachItemViaPointer(arr, it));
    }
    if (!arr || cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return rc; /* as upstream: no ETLs, no output */
    }
    cli_table t;
    cli_table_init(&t, v5 ? 4 : 3);
    if (!cli_flag_set(a, "no-headers")) {
        if (v5)
            cli_table_row(&t, "NAME", " STAGE", " XACTION", " OBJECTS");
        else
            cli_table_row(&t, "ETL NAME", " XACTION", " OBJECTS");
    }
    cJSON_ArrayForEach(e, arr)
    {
        cJSON *cnt = cJSON_GetObjectItem(e, "obj_count");
        char xs[160], cs[40], ss[64];
        snprintf(xs, sizeof xs, " %s", str(e, "xaction_id"));
        snprintf(ss, sizeof ss, " %s", str(e, "stage"));
        double n = cJSON_IsNumber(cnt) ? cnt->valuedouble : cJSON_IsString(cnt) ? atof(cnt->valuestring) : 0;
        if (n == 0)
            snprintf(cs, sizeof cs, " -");
        else
            snprintf(cs, sizeof cs, " %.0f", n);
        if (v5)
            cli_table_row(&t, str(e, "id"), ss, xs, cs);
        else
            cli_table_row(&t, str(e, "id"), xs, cs);
    }
    cli_table_print(&t);
    cli_table_free(&t);
    cJSON_Delete(arr);
    return rc;
}

/* ---- one ETL's definition */

void cli_etl_print_v5(const cJSON *m)
{
    const char *name = *str(m, "name") ? str(m, "name") : str(m, "id");
    printf("name:  %s\n", name);
    printf("communication_type:  %s\n", str(m, "communication"));
    const cJSON *rt = cJSON_GetObjectItem(m, "runtime");
    if (!cJSON_IsObject(rt)) { /* a Pod spec, as 5.0 prints its deprecated form */
        size_t n = 0;
        unsigned char *y = cmn_base64_decode(str(m, "spec"), &n);
        printf("spec:\n%s\n", y ? (char *)y : str(m, "spec"));
        free(y);
        return;
    }
    printf("runtime:\n");
    printf("   image:  %s\n", str(rt, "image"));
    const cJSON *cmd = cJSON_GetObjectItem(rt, "command"), *it;
    if (cJSON_GetArraySize(cmd) > 0) { /* Go's %v of a []string */
        printf("   command:  [");
        int i = 0;
        cJSON_ArrayForEach(it, cmd)
            printf("%s%s", i++ ? " " : "", cJSON_IsString(it) ? it->valuestring : "");
        printf("]\n");
    }
    const cJSON *env = cJSON_GetObjectItem(rt, "env");
    if (cJSON_GetArraySize(env) > 0) {
        printf("   env:  [");
        int i = 0;
        cJSON_ArrayForEach(it, env)
            printf("%s{\"%s\":\"%s\"}", i++ ? ", " : "", str(it, "name"), str(it, "value"));
        printf("]\n");
    }
}

static void print_v3(const cJSON *m, const char *name)
{
    const cJSON *code = cJSON_GetObjectItem(m, "code"), *spec = cJSON_GetObjectItem(m, "spec");
    printf("NAME:  %s\n", *str(m, "id") ? str(m, "id") : name);
    printf("COMMUNICATION TYPE:  %s\n", str(m, "communication"));
    printf("ARGUMENT TYPE:  %s\n", str(m, "argument"));
    if (cJSON_IsString(code)) {
        cJSON *deps = cJSON_GetObjectItem(m, "dependencies"), *cs = cJSON_GetObjectItem(m, "chunk_size");
        size_t n = 0;
        unsigned char *src = cmn_base64_decode(code->valuestring, &n);
        unsigned char *dep = cJSON_IsString(deps) ? cmn_base64_decode(deps->valuestring, &n) : NULL;
        printf("RUNTIME:  %s\n", str(m, "runtime"));
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

static int etl_details(cli_args *a, const char *name)
{
    cli_call c;
    cli_call_etl(&c, "GET", name);
    cJSON *m;
    int rc = cli_get_json(a, &c, "ETL details", cJSON_IsObject, &m);
    if (m && is_runtime_spec(m))
        cli_etl_print_v5(m);
    else if (m)
        print_v3(m, name);
    cJSON_Delete(m);
    cli_call_free(&c);
    return rc;
}

int cli_etl_show(cli_args *a)
{
    if (a->npos == 0)
        return etl_list(a);
    /* as upstream 5.0: several names, "---" between them; a failure is
     * printed and the others still shown (the exit status says it) */
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < a->npos; i++) {
        if (i)
            printf("---\n");
        fflush(stdout);
        if (etl_details(a, a->pos[i]) != CLI_EXIT_OK)
            rc = CLI_EXIT_ERR;
    }
    return rc;
}

int cli_etl_details(cli_args *a)
{
    if (a->npos != 1)
        return cli_usage_err(a, a->npos ? "too many arguments" : "missing \"ETL_NAME\" argument");
    return etl_details(a, a->pos[0]);
}

/* A GET of /v1/etl/ETL_NAME for a command of "ETL_NAME [ONE_MORE]"
 * arguments: 0 with c set up, or the usage error (args: what they are). */
static int etl_get_call(cli_args *a, const char *args, cli_call *c)
{
    int bad = cli_npos(a, 1, 2, args);
    if (!bad)
        cli_call_etl(c, "GET", a->pos[0]);
    return bad;
}

/* ---- the objects it failed: GET /v1/etl/N?uuid=[JOB] (5.0's etl.view()) */

int cli_etl_show_errors(cli_args *a)
{
    cli_call c;
    int bad = etl_get_call(a, "missing \"ETL_NAME [JOB_ID]\" arguments", &c);
    if (bad)
        return bad;
    cmn_ais_url_query(&c.url, "uuid", a->npos > 1 ? a->pos[1] : "");
    cJSON *d;
    int rc = cli_get_json(a, &c, "ETL details", cJSON_IsObject, &d);
    cli_call_free(&c);
    if (!d)
        return rc;
    cli_table t;
    cli_table_init(&t, 3);
    if (!cli_flag_set(a, "no-headers"))
        cli_table_row(&t, "OBJECT", " ECODE", " ERROR");
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(d, "obj_errors"))
    {
        const cJSON *code = cJSON_GetObjectItem(e, "ecode");
        char cs[32], *msg = cmn_xasprintf(" %s", str(e, "msg"));
        for (char *p = msg; *p; p++) /* one row per object, whatever the ETL said */
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
        snprintf(cs, sizeof cs, " %d", cJSON_IsNumber(code) ? code->valueint : 0);
        cli_table_row(&t, str(e, "obj_name"), cs, msg);
        free(msg);
    }
    cli_table_print(&t);
    cli_table_free(&t);
    cJSON_Delete(d);
    return rc;
}

/* ---- logs: GET /v1/etl/N/logs[/TARGET_ID], each target's base64 text */

int cli_etl_view_logs(cli_args *a)
{
    cli_call c;
    int bad = etl_get_call(a, "missing \"ETL_NAME [TARGET_ID]\" arguments", &c);
    if (bad)
        return bad;
    cmn_buf_puts(&c.url, "/logs");
    if (a->npos > 1) {
        cmn_buf_puts(&c.url, "/");
        cmn_ais_url_path(&c.url, a->pos[1]);
    }
    cJSON *arr;
    int rc = cli_get_json(a, &c, "ETL logs", cJSON_IsArray, &arr);
    cli_call_free(&c);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        size_t n = 0;
        unsigned char *text = cmn_base64_decode(str(e, "logs"), &n);
        if (!text) /* not base64: shown as it came */
            n = strlen(str(e, "logs"));
        if (a->npos == 1) /* one target asked: its text alone, as upstream */
            printf("%s%s:\n", i++ ? "\n" : "", str(e, "target_id"));
        fwrite(text ? (const char *)text : str(e, "logs"), 1, n, stdout);
        printf("\n");
        free(text);
        if (a->npos > 1)
            break;
    }
    cJSON_Delete(arr);
    return rc;
}

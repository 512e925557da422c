/*
 * cmd_etl.c - `ais etl ...`: v3.22's init (spec or code) and the life
 * cycle, start/stop/rm, by name or (5.0) by the names of a spec file or
 * --all. Init messages carry files as base64, the way AIStore's Go []byte
 * fields travel. The 5.0 init is cmd_etl_init.c, what shows ETLs
 * cmd_etl_show.c, what runs them cmd_etl_transform.c.
 */
#include "cli/cli.h"
#include "etl/etl.h" /* etl_comm_norm: the communicator table */

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

void cli_etl_comm_type(const char *flag, char *out, size_t outlen)
{
    char *c = etl_comm_norm(flag); /* the node's own table (etl/comm_table.c) */
    snprintf(out, outlen, "%s", c);
    free(c);
}

int cli_etl_put_init(const cJSON *msg, char *xid, size_t xidlen, cmn_buf *why)
{
    char *body = cJSON_PrintUnformatted(msg);
    cli_call c;
    cli_call_etl(&c, "PUT", NULL);
    c.body = body;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = cli_send(&c, &r, why != NULL);
    if (rc == CLI_EXIT_OK)
        cli_reply_id(&r, xid, xidlen);
    else if (why && r.status)
        cmn_buf_puts(why, c.why.data);
    cmn_http_resp_free(&r);
    cli_call_free(&c);
    free(body);
    return rc;
}

static int put_init(cJSON *msg, const char *name)
{
    char xid[128];
    int rc = cli_etl_put_init(msg, xid, sizeof xid, NULL);
    if (rc == CLI_EXIT_OK)
        printf("ETL[%s]: job \"%s\"\n", name, xid);
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
    cli_etl_comm_type(cli_flag_str(a, "comm-type"), ct, sizeof ct);
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
    if (cli_flag_str(a, "spec")) { /* 5.0's `ais etl init spec -f FILE` */
        if (cli_flag_str(a, "from-file"))
            return cli_usage_err(a, "flags --spec (-f) and --from-file cannot be used together");
        return cli_etl_init(a);
    }
    for (const char *const *f = (const char *const[]){"init-timeout", "object-timeout", NULL}; *f; f++)
        if (cli_flag_str(a, *f))
            return cli_usage_err(a, "flag --%s applies to a runtime spec (--spec FILE)", *f);
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

/* ---- start, stop, rm */

/* POST/DELETE /v1/etl/NAME[suffix]; an error answer is the caller's to explain. */
static int etl_simple(cli_call *c, const char *method, const char *name, const char *suffix, cmn_http_resp *r)
{
    cli_call_etl(c, method, name);
    cmn_buf_puts(&c->url, suffix);
    return cli_send(c, r, true);
}

static int print_resp_err(const cli_call *c, const cmn_http_resp *r)
{
    if (!r->status)
        return CLI_EXIT_ERR; /* transport error, already printed */
    return cli_fail("%s", c->why.data);
}

/* The ETLs a command acts on: named, or (5.0) those a spec file defines
 * (--spec/-f), or every ETL listed (--all, where the command has it). */
typedef struct names {
    char **v;
    int n;
} names;

static void names_free(names *ns)
{
    for (int i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
}

static void names_add(names *ns, const char *s)
{
    ns->v = cmn_xrealloc(ns->v, (size_t)(ns->n + 1) * sizeof *ns->v);
    ns->v[ns->n++] = cmn_xstrdup(s);
}

/* CLI_EXIT_OK with ns filled (maybe empty with --all: every ETL but, when
 * asked, the stopped ones), else the printed failure. */
static int select_names(cli_args *a, names *ns, bool skip_stopped)
{
    memset(ns, 0, sizeof *ns);
    if (cli_flag_str(a, "spec"))
        return cli_etl_spec_names(a, &ns->v, &ns->n);
    if (cli_flag_set(a, "all")) {
        if (a->npos)
            return cli_usage_err(a, "flag --all cannot be used together with ETL_NAME [%s%s]", a->pos[0],
                                 a->npos > 1 ? " ..." : "");
        int rc;
        cJSON *list = cli_etl_list(true, &rc), *e;
        cJSON_ArrayForEach(e, list)
        {
            cJSON *id = cJSON_GetObjectItem(e, "id"), *stage = cJSON_GetObjectItem(e, "stage");
            bool stopped = cJSON_IsString(stage) && !strcmp(stage->valuestring, "Aborted");
            if (cJSON_IsString(id) && !(stopped && skip_stopped))
                names_add(ns, id->valuestring);
        }
        cJSON_Delete(list);
        return rc;
    }
    if (a->npos < 1)
        return cli_usage_err(a, "missing \"ETL_NAME\" argument");
    for (int i = 0; i < a->npos; i++)
        names_add(ns, a->pos[i]);
    return CLI_EXIT_OK;
}

int cli_etl_start(cli_args *a)
{
    names ns;
    int rc = select_names(a, &ns, false);
    if (rc == CLI_EXIT_OK && ns.n == 0)
        rc = cli_fail("no ETL names found in the file provided via --spec");
    /* as upstream: every name is tried, a failure does not stop the others */
    for (int i = 0; rc != CLI_EXIT_USAGE && i < ns.n; i++) {
        cli_call c;
        cmn_http_resp r;
        cmn_http_resp_init(&r);
        int one = etl_simple(&c, "POST", ns.v[i], "/start", &r);
        if (one == CLI_EXIT_OK) {
            printf("ETL[%s] started successfully\n", ns.v[i]);
        } else if (r.status == 404) {
            fprintf(stderr, "ETL[%s] not found\n", ns.v[i]);
        } else {
            print_resp_err(&c, &r);
        }
        if (one != CLI_EXIT_OK)
            rc = CLI_EXIT_ERR;
        cmn_http_resp_free(&r);
        cli_call_free(&c);
    }
    names_free(&ns);
    return rc;
}

static int stop_or_rm(cli_args *a, const char *method, const char *suffix, const char *done)
{
    names ns;
    bool rm = !strcmp(method, "DELETE");
    int rc = select_names(a, &ns, !rm);
    if (rc == CLI_EXIT_OK && ns.n == 0 && rm && cli_flag_set(a, "all"))
        printf("No ETL jobs found to remove\n");
    for (int i = 0; i < ns.n && rc == CLI_EXIT_OK; i++) {
        cli_call c;
        cmn_http_resp r;
        cmn_http_resp_init(&r);
        rc = etl_simple(&c, method, ns.v[i], suffix, &r);
        if (rc == CLI_EXIT_OK) {
            printf("ETL[%s] %s\n", ns.v[i], done);
        } else if (r.status == 404) {
            /* as upstream: a missing ETL is a warning, not a failure */
            fprintf(stderr, "Warning: ETL[%s] not found, nothing to do\n", ns.v[i]);
            rc = CLI_EXIT_OK;
        } else {
            rc = print_resp_err(&c, &r);
        }
        cmn_http_resp_free(&r);
        cli_call_free(&c);
    }
    names_free(&ns);
    return rc;
}

int cli_etl_stop(cli_args *a) { return stop_or_rm(a, "POST", "/stop", "stopped"); }
int cli_etl_rm(cli_args *a) { return stop_or_rm(a, "DELETE", "", "removed"); }

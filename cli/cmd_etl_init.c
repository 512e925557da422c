/*
 * cmd_etl_init.c - AIStore 5.0's `ais etl init -f FILE` (also `--spec FILE`
 * and `ais etl init spec -f FILE`): every document of a YAML spec file is
 * one ETL, initialized in turn. --name, --comm-type, --init-timeout and
 * --object-timeout override the file's fields, and are refused with a
 * multi-ETL file, as upstream does. A document that cannot be used is
 * reported ("Skipping document: ...") and the others still go; the exit
 * status is 1 when any was skipped (upstream exits 0 regardless).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const overrides[] = {"name", "comm-type", "init-timeout", "object-timeout", NULL};

static void set_str(cJSON *m, const char *key, const char *v)
{
    cJSON_DeleteItemFromObject(m, key);
    cJSON_AddStringToObject(m, key, v);
}

static const char *msg_str(const cJSON *m, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(m, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static bool listed(const cJSON *list, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        const cJSON *id = cJSON_GetObjectItem(e, "id");
        if (cJSON_IsString(id) && !strcmp(id->valuestring, name))
            return true;
    }
    return false;
}

/* Flags over the file, then upstream's checks (Validate, the duplicate
 * guard), then PUT. CLI_EXIT_OK, or CLI_EXIT_ERR with why filled. */
static int init_one(cli_args *a, cli_etl_doc *d, const cJSON *list, cmn_buf *why, char *xid, size_t xidlen)
{
    cJSON *m = d->msg;
    const char *flag;
    if ((flag = cli_flag_str(a, "name")))
        set_str(m, "name", flag);
    if ((flag = cli_flag_str(a, "comm-type")))
        set_str(m, "communication", flag);
    if ((flag = cli_flag_str(a, "init-timeout")))
        set_str(m, "init_timeout", flag);
    if ((flag = cli_flag_str(a, "object-timeout")))
        set_str(m, "obj_timeout", flag);
    const char *name = msg_str(m, "name");
    const char *comm = msg_str(m, "communication");
    if (*comm || !d->pod) { /* a Pod without one: the node reads its annotation */
        char ct[64];
        cli_etl_comm_type(comm, ct, sizeof ct);
        set_str(m, "communication", ct);
    }
    if (!d->pod && !*msg_str(cJSON_GetObjectItem(m, "runtime"), "image")) {
        cmn_buf_printf(why, "validation failed: [etl=\"%s\"] runtime.image must be specified", name);
        return CLI_EXIT_ERR;
    }
    if (!*name) {
        cmn_buf_puts(why, "validation failed: ETL name \"\" is empty");
        return CLI_EXIT_ERR;
    }
    if (listed(list, name)) {
        cmn_buf_printf(why, "duplicate ETL name \"%s\": ETL[%s] already exists", name, name);
        return CLI_EXIT_ERR;
    }
    cmn_buf err;
    cmn_buf_init(&err);
    int rc = cli_etl_put_init(m, xid, xidlen, &err);
    if (rc != CLI_EXIT_OK && err.len)
        cmn_buf_printf(why, "ETL init failed: %s", err.data);
    cmn_buf_free(&err);
    return rc;
}

static void print_warnings(const cli_etl_doc *d)
{
    if (!d->warnings.len)
        return;
    char *copy = cmn_xstrdup(d->warnings.data), *save = NULL;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        fprintf(stderr, "Warning: ETL[%s]: %s\n", msg_str(d->msg, "name"), l);
    free(copy);
}

int cli_etl_init(cli_args *a)
{
    const char *spec = cli_flag_str(a, "spec");
    if (!spec && a->npos == 0 && a->nflags == 0) {
        cli_print_help(a->cmd, a->path); /* a bare `ais etl init`, as when it was only a group */
        return CLI_EXIT_OK;
    }
    if (!spec || !*spec)
        return cli_usage_err(a, "flag --spec (-f) must be specified");
    if (a->npos)
        return cli_usage_err(a, "too many arguments or unrecognized (misplaced?) option '%s'", a->pos[0]);
    const char *durations[] = {"init-timeout", "object-timeout"};
    for (int i = 0; i < 2; i++) {
        const char *v = cli_flag_str(a, durations[i]);
        int64_t ns;
        if (v && cmn_parse_duration(v, &ns) != 0)
            return cli_usage_err(a, "invalid value \"%s\" for flag --%s: time: invalid duration \"%s\"", v,
                                 durations[i], v);
    }
    cli_etl_docs docs;
    cmn_err err = {0};
    if (cli_etl_spec_load(spec, &docs, &err) != 0)
        return cli_fail("%s", err.msg);
    if (docs.n > 1) {
        cmn_buf used;
        cmn_buf_init(&used);
        for (int i = 0; overrides[i]; i++)
            if (cli_flag_str(a, overrides[i]))
                cmn_buf_printf(&used, "%s--%s", used.len ? " " : "", overrides[i]);
        if (used.len) {
            int rc = cli_usage_err(a, "cannot use override flags [%s] with a multi-ETL file; remove these flags or "
                                      "split into separate files", used.data);
            cmn_buf_free(&used);
            cli_etl_docs_free(&docs);
            return rc;
        }
        cmn_buf_free(&used);
    }
    int rc = CLI_EXIT_OK, lrc;
    cJSON *list = cli_etl_list(true, &lrc);
    if (!list) {
        cli_etl_docs_free(&docs);
        return lrc;
    }
    bool first = true;
    for (int i = 0; i < docs.n; i++) {
        cli_etl_doc *d = &docs.v[i];
        if (!first)
            printf("---\n");
        fflush(stdout);
        cmn_buf why;
        cmn_buf_init(&why);
        char xid[128] = "";
        if (d->msg) {
            print_warnings(d);
            if (d->pod)
                fprintf(stderr, "Warning: Kubernetes Pod spec ETL initialization is deprecated and will be removed "
                                "in v5.1; use an ETL runtime spec instead\n");
        }
        int one = d->msg ? init_one(a, d, list, &why, xid, sizeof xid) : CLI_EXIT_ERR;
        if (!d->msg)
            cmn_buf_puts(&why, d->why);
        if (one == CLI_EXIT_OK) {
            printf("ETL[%s]: job \"%s\"\n", msg_str(d->msg, "name"), xid);
            cli_etl_print_v5(d->msg);
            first = false;
        } else {
            if (why.len) /* else a transport error, printed where it happened */
                fprintf(stderr, "Skipping document: %s\n", why.data);
            rc = CLI_EXIT_ERR;
        }
        cmn_buf_free(&why);
    }
    cJSON_Delete(list);
    cli_etl_docs_free(&docs);
    return rc;
}

int cli_etl_spec_names(cli_args *a, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    if (a->npos)
        return cli_usage_err(a, "flag --spec cannot be used together with ETL_NAME [%s%s]", a->pos[0],
                             a->npos > 1 ? " ..." : "");
    cli_etl_docs docs;
    cmn_err err = {0};
    if (cli_etl_spec_load(cli_flag_str(a, "spec"), &docs, &err) != 0)
        return cli_fail("%s", err.msg);
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < docs.n && rc == CLI_EXIT_OK; i++)
        if (!docs.v[i].msg)
            rc = cli_fail("%s", docs.v[i].why);
    for (int i = 0; i < docs.n && rc == CLI_EXIT_OK; i++) {
        *names = cmn_xrealloc(*names, (size_t)(*n + 1) * sizeof **names);
        (*names)[(*n)++] = cmn_xstrdup(msg_str(docs.v[i].msg, "name"));
    }
    cli_etl_docs_free(&docs);
    return rc;
}

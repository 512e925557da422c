/*
 * main.c - `ais`: the command tree (names, flags, handlers) in one table,
 * AIStore's default aliases (get, put, ls, rmo, create, rmb), and dispatch.
 * The endpoint comes from AIS_ENDPOINT (default http://localhost:8080); an
 * AuthN token from --token anywhere on the line, else AIS_AUTHN_TOKEN, else
 * AIS_AUTHN_TOKEN_FILE or AIStore's ~/.config/ais/cli/auth.token.
 */
#include "cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END_FLAGS {0}

/* ---- flags */
static const cli_flag f_none[] = {END_FLAGS};
/* AIStore 5.0's ETL flags (their usage lines as upstream's) */
#define F_SPEC {"spec", 'f', true, "path to a YAML ETL spec (runtime spec, or a Kubernetes Pod), local or http(s) URL; several ETLs may be separated by '---'"}
#define F_OVERRIDES                                                                                             \
    {"name", 0, true, "unique ETL name (overrides the spec's)"},                                                \
    {"comm-type", 0, true, "communication type: hpush (default), hpull, hrev, io or ws (overrides the spec's)"},\
    {"init-timeout", 0, true, "AIS target waiting time for the ETL to become ready (e.g. 45s, 5m)"},             \
    {"object-timeout", 0, true, "server-side timeout of transforming a single object (e.g. 30s)"}
/* rows that several commands share */
#define F_YES {"yes", 'y', false, "assume 'yes' to all questions"}
#define F_NO_HEADERS {"no-headers", 'H', false, "display tables without headers"}
#define F_JSON {"json", 'j', false, "json input/output"}
#define F_FROM_FILE {"from-file", 0, true, "absolute path to the file with the spec/code for ETL"}
#define F_COMM_TYPE {"comm-type", 0, true, "communication type: hpush (default), hpull, hrev, io or ws"}
#define F_ARG_TYPE {"arg-type", 0, true, "how an object is passed to the ETL: \"\" (bytes), url or fqn"}
#define F_POD_TIMEOUT {"timeout", 0, true, "ais target waiting time for POD to become ready (e.g. 45s, 5m)"}
#define F_ETL_NAME {"name", 0, true, "unique ETL name"}
#define F_SEL_PREFIX {"prefix", 0, true, "select objects that have names starting with the specified prefix"}
#define F_WAIT {"wait", 0, false, "wait for the job to finish (optionally, use '--timeout' to limit the waiting time)"}
#define F_WAIT_TIMEOUT {"timeout", 0, true, "maximum time to wait for a job to finish (implies --wait)"}
#define F_WAIT_PROGRESS {"progress", 0, false, "show progress while waiting"}
#define F_NUM_WORKERS {"num-workers", 0, true, "number of concurrent workers (0: the node's default)"}
#define F_SEL_LIST {"list", 0, true, "comma-separated list of object names, e.g. --list 'o1,o2,o3'"}
#define F_SEL_TEMPLATE {"template", 0, true, "template to match object names, e.g. --template 'shard-{1000..9999}.tar' (an empty or '*' template matches everything)"}
#define F_ALL_REMOTE {"all", 0, false, "include objects of a remote bucket not present in the cluster"}
static const cli_flag f_bucket_create[] = {
    {"ignore-error", 0, false, "ignore \"soft\" failures such as \"bucket already exists\""}, END_FLAGS};
static const cli_flag f_bucket_rm[] = {F_YES, END_FLAGS};
static const cli_flag f_ls[] = {
    {"props", 0, true, "comma-separated list of object properties: name,size,checksum,atime,version,location,custom,copies,status or 'all'"},
    {"prefix", 0, true, "list objects that have names starting with the specified prefix"},
    {"page-size", 0, true, "maximum number of names per page (0 - the maximum is defined by the server)"},
    {"limit", 0, true, "limit object name count (0 - unlimited)"},
    F_NO_HEADERS,
    {"no-footers", 0, false, "display tables without footers"},
    F_JSON,
    END_FLAGS};
static const cli_flag f_put[] = {
    {"recursive", 'r', false, "recursive operation"},
    {"conc", 0, true, "limits number of concurrent put requests (default 4)"},
    {"progress", 0, false, "show progress bar(s) (default: when stdout is a terminal)"},
    F_YES,
    {"verbose", 'v', false, "verbose output"},
    END_FLAGS};
static const cli_flag f_get[] = {{"silent", 0, false, "server-side flag, an indication for aistore _not_ to log assorted errors"}, END_FLAGS};
static const cli_flag f_rmo[] = {F_YES, END_FLAGS};
static const cli_flag f_etl_spec[] = {
    F_FROM_FILE,
    F_COMM_TYPE,
    F_ARG_TYPE,
    F_POD_TIMEOUT,
    F_ETL_NAME,
    F_SPEC,
    {"init-timeout", 0, true, "with --spec: AIS target waiting time for the ETL to become ready (e.g. 45s, 5m)"},
    {"object-timeout", 0, true, "with --spec: server-side timeout of transforming a single object (e.g. 30s)"},
    END_FLAGS};
static const cli_flag f_etl_code[] = {
    F_FROM_FILE,
    {"deps-file", 0, true, "absolute path to the file with dependencies that must be installed before running the code"},
    {"runtime", 0, true, "environment used to run the provided code (currently supported: python3.8v2, python3.10v2, python3.11v2)"},
    F_COMM_TYPE,
    {"transform", 0, true, "receives and _transforms_ the payload (default: \"transform\")"},
    F_ARG_TYPE,
    {"chunk-size", 0, true, "chunk size in IEC or SI units, or \"raw\" bytes (e.g.: 4mb, 1MiB, 1048576, 128k)"},
    F_POD_TIMEOUT,
    F_ETL_NAME,
    END_FLAGS};
static const cli_flag f_etl_init[] = {F_SPEC, F_OVERRIDES, END_FLAGS};
static const cli_flag f_etl_start[] = {F_SPEC, END_FLAGS};
static const cli_flag f_etl_stop_rm[] = {F_SPEC, {"all", 0, false, "all ETLs (the running ones this node lists)"}, END_FLAGS};
static const cli_flag f_etl_object[] = {
    {"args", 0, true, "arguments for the transform, sent as etl_args (e.g. --args=123)"}, END_FLAGS};
static const cli_flag f_json[] = {F_JSON, F_NO_HEADERS, END_FLAGS};
static const cli_flag f_etl_bucket[] = {
    {"ext", 0, true, "mapping from old to new extensions of transformed objects' names, e.g. \"{jpg:txt}\""},
    F_SEL_PREFIX,
    F_SEL_LIST,
    F_SEL_TEMPLATE,
    {"prepend", 0, true, "prefix to prepend to every transformed object name"},
    {"dry-run", 0, false, "show total size of new objects without really creating them"},
    {"force", 'f', false, "force an action"},
    {"etl-timeout", 0, true, "server-side timeout transforming a single object (e.g. 30s)"},
    F_WAIT,
    F_WAIT_TIMEOUT,
    F_WAIT_PROGRESS,
    {"args", 0, true, "arguments for every object's transform, sent as etl_args (an etlfs extension)"},
    F_NUM_WORKERS,
    {"cont-on-err", 0, false, "keep running in presence of errors (the node's offline jobs always do)"},
    F_ALL_REMOTE,
    END_FLAGS};
static const cli_flag f_etl_inspect[] = {
    F_SEL_PREFIX,
    F_SEL_LIST,
    F_SEL_TEMPLATE,
    F_NUM_WORKERS,
    F_ALL_REMOTE,
    F_WAIT,
    F_WAIT_TIMEOUT,
    END_FLAGS};
static const cli_flag f_job_wait[] = {
    {"timeout", 0, true, "maximum time to wait for a job to finish; if omitted: wait forever"},
    F_WAIT_PROGRESS,
    END_FLAGS};
static const cli_flag f_job_show[] = {
    F_JSON,
    F_NO_HEADERS,
    {"all", 0, false, "show all jobs, including finished ones (default)"},
    {"active", 0, false, "show only running jobs"},
    END_FLAGS};

static const cli_flag f_auth_token[] = {
    {"user", 0, true, "user name (the token's \"sub\")"},
    {"admin", 0, false, "an admin: may do anything (ETLs, bucket create/destroy, cluster changes)"},
    {"buckets", 0, true, "bucket permissions, e.g. \"b1=ro,b2=rw\" (ro, rw or AIStore's number)"},
    {"cluster", 0, true, "cluster permissions: ro (default: show cluster, list buckets), rw, none or a number"},
    {"expires", 0, true, "lifetime, e.g. 30m, 24h (default 24h)"},
    {"secret", 0, true, "the target's --auth-secret (or AIS_AUTHN_SECRET_KEY)"},
    {"secret-file", 0, true, "file holding the secret"},
    END_FLAGS};

static const cli_flag f_node[] = {
    {"yes", 'y', false, "assume 'yes' to all questions (none are asked)"},
    {"no-rebalance", 0, false, "do not move the node's objects (refused: they live on its disks only)"},
    {"rm-user-data", 0, false, "decommission: remove the node's objects from its disks once it leaves"},
    END_FLAGS};

/* ---- commands */
static const cli_cmd c_bucket[] = {
    {"create", NULL, "create ais buckets", "BUCKET [BUCKET...]", f_bucket_create, cli_bucket_create, NULL},
    {"rm", NULL, "remove ais buckets", "BUCKET [BUCKET...]", f_bucket_rm, cli_bucket_rm, NULL},
    {"ls", NULL, "list buckets, or objects in a bucket", "[BUCKET[/PREFIX]]", f_ls, cli_ls, NULL},
    {0}};
static const cli_cmd c_object[] = {
    {"get", NULL, "get an object from the cluster", "BUCKET/OBJECT [OUT_FILE|-]", f_get, cli_object_get, NULL},
    {"put", NULL, "PUT one file or directory (with -r, recursively) as objects", "FILE|DIRECTORY BUCKET[/OBJECT_NAME]", f_put, cli_object_put, NULL},
    {"rm", NULL, "remove objects", "BUCKET/OBJECT [BUCKET/OBJECT...]", f_rmo, cli_object_rm, NULL},
    {0}};
static const cli_cmd c_etl_init[] = {
    {"spec", NULL, "start ETL job with YAML Pod specification (v3.22: --from-file; 5.0: --spec/-f, a runtime spec)", NULL, f_etl_spec, cli_etl_init_spec, NULL},
    {"code", NULL, "start ETL job using the specified transforming function or script", NULL, f_etl_code, cli_etl_init_code, NULL},
    {0}};
static const cli_cmd c_etl_show[] = {
    {"details", NULL, "show ETL details", "ETL_NAME", f_json, cli_etl_details, NULL},
    {"errors", NULL, "show the objects an ETL failed: inline, or of one offline job", "ETL_NAME [JOB_ID]", f_json, cli_etl_show_errors, NULL},
    {0}};
static const cli_cmd c_etl[] = {
    {"init", NULL, "initialize ETLs from a YAML spec file (-f FILE, AIStore 5.0), or 'spec' / 'code' (v3.22)", NULL, f_etl_init, cli_etl_init, c_etl_init},
    {"show", NULL, "show ETL(s)", "[ETL_NAME...]", f_json, cli_etl_show, c_etl_show},
    {"view-logs", NULL, "view ETL logs", "ETL_NAME [TARGET_ID]", f_json, cli_etl_view_logs, NULL},
    {"start", NULL, "start ETL", "ETL_NAME [ETL_NAME...]", f_etl_start, cli_etl_start, NULL},
    {"stop", NULL, "stop ETL", "ETL_NAME [ETL_NAME...]", f_etl_stop_rm, cli_etl_stop, NULL},
    {"rm", NULL, "remove (stop and forget) ETL", "ETL_NAME [ETL_NAME...]", f_etl_stop_rm, cli_etl_rm, NULL},
    {"object", NULL, "transform object (ETL_NAME may be a pipeline \"A>>B>>C\"; 'cp' transforms into a bucket)", "ETL_NAME BUCKET/OBJECT OUTPUT | ETL_NAME cp BUCKET/OBJECT DST_BUCKET[/OBJECT]", f_etl_object, cli_etl_object, NULL},
    {"bucket", NULL, "transform entire bucket or selected objects (to select, use '--list', '--template', or '--prefix'; ETL_NAME may be a pipeline \"A>>B\")", "ETL_NAME SRC_BUCKET[/OBJECT_NAME_or_TEMPLATE] DST_BUCKET", f_etl_bucket, cli_etl_bucket, NULL},
    {"inspect", NULL, "run every object of a bucket through an ETL, writing nothing, to collect its errors", "ETL_NAME SRC_BUCKET[/PREFIX_or_TEMPLATE]", f_etl_inspect, cli_etl_inspect, NULL},
    {0}};
static const cli_cmd c_job[] = {
    {"show", NULL, "show running and finished jobs", "[JOB_ID]", f_job_show, cli_job_show, NULL},
    {"wait", NULL, "wait for a specific job to finish", "JOB_ID", f_job_wait, cli_job_wait, NULL},
    {0}};
static const cli_cmd c_show[] = {
    {"cluster", NULL, "show cluster nodes (proxies and targets)", NULL, f_json, cli_show_cluster, NULL},
    {"job", NULL, "show running and finished jobs", "[JOB_ID]", f_job_show, cli_job_show, NULL},
    {"etl", NULL, "show ETL(s)", "[ETL_NAME...]", f_json, cli_etl_show, NULL},
    {0}};
static const cli_cmd c_nodes[] = {
    {"start-maintenance", NULL, "put node in maintenance mode: its objects move to the other targets", "NODE_ID", f_node, cli_node_start_maint, NULL},
    {"stop-maintenance", NULL, "activate node by taking it back from \"maintenance\"", "NODE_ID", f_node, cli_node_stop_maint, NULL},
    {"decommission", NULL, "safely and permanently remove node from the cluster (its objects move first)", "NODE_ID", f_node, cli_node_decommission, NULL},
    {"shutdown", NULL, "shut down a node (nothing moves: its objects are unavailable until it is back)", "NODE_ID", f_node, cli_node_shutdown, NULL},
    {0}};
static const cli_cmd c_cluster[] = {
    {"add-remove-nodes", NULL, "manage cluster membership (add/remove nodes, temporarily or permanently)", NULL, f_none, NULL, c_nodes},
    {"show", NULL, "show cluster nodes (proxies and targets)", NULL, f_json, cli_show_cluster, NULL},
    {0}};
static const cli_cmd c_auth[] = {
    {"token", NULL, "mint an AuthN token (HS256) for a target run with --auth-secret", NULL, f_auth_token, cli_auth_token, NULL},
    {0}};
static const cli_cmd c_top[] = {
    {"bucket", NULL, "create/destroy buckets, list bucket's content", NULL, f_none, NULL, c_bucket},
    {"object", NULL, "put, get and remove objects", NULL, f_none, NULL, c_object},
    {"etl", NULL, "execute custom transformations on objects", NULL, f_none, NULL, c_etl},
    {"job", NULL, "monitor and wait for jobs", NULL, f_none, NULL, c_job},
    {"show", NULL, "show information about the cluster, jobs and ETLs", NULL, f_none, NULL, c_show},
    {"cluster", NULL, "monitor and manage the cluster: its nodes", NULL, f_none, NULL, c_cluster},
    {"auth", NULL, "tokens for a target that requires them", NULL, f_none, NULL, c_auth},
    /* AIStore's default aliases */
    {"ls", NULL, "(alias for \"bucket ls\") list buckets, or objects in a bucket", "[BUCKET[/PREFIX]]", f_ls, cli_ls, NULL},
    {"get", NULL, "(alias for \"object get\") get an object", "BUCKET/OBJECT [OUT_FILE|-]", f_get, cli_object_get, NULL},
    {"put", NULL, "(alias for \"object put\") PUT a file or directory", "FILE|DIRECTORY BUCKET[/OBJECT_NAME]", f_put, cli_object_put, NULL},
    {"rmo", NULL, "(alias for \"object rm\") remove objects", "BUCKET/OBJECT [BUCKET/OBJECT...]", f_rmo, cli_object_rm, NULL},
    {"create", NULL, "(alias for \"bucket create\") create ais buckets", "BUCKET [BUCKET...]", f_bucket_create, cli_bucket_create, NULL},
    {"rmb", NULL, "(alias for \"bucket rm\") remove ais buckets", "BUCKET [BUCKET...]", f_bucket_rm, cli_bucket_rm, NULL},
    {0}};
static const cli_cmd c_root = {"ais", NULL, "AIStore command line (etlfs)", NULL, f_none, NULL, c_top};

static const cli_cmd *find_sub(const cli_cmd *cmd, const char *name)
{
    for (const cli_cmd *s = cmd->subs; s && s->name; s++)
        if (strcmp(s->name, name) == 0 || (s->alias && strcmp(s->alias, name) == 0))
            return s;
    return NULL;
}

/* Takes "--token T" / "--token=T" out of argv, wherever it is (before a
 * "--"). Returns false when it has no value. */
static bool take_token(int *argc, char **argv, char **token)
{
    int w = 1;
    bool ok = true, rest = false;
    for (int i = 1; i < *argc; i++) {
        if (!rest && !strcmp(argv[i], "--"))
            rest = true;
        if (!rest && !strcmp(argv[i], "--token")) {
            if (i + 1 >= *argc)
                ok = false;
            else
                *token = argv[++i];
            continue;
        }
        if (!rest && !strncmp(argv[i], "--token=", 8)) {
            *token = argv[i] + 8;
            continue;
        }
        argv[w++] = argv[i];
    }
    *argc = w;
    argv[w] = NULL;
    return ok;
}

static char *loaded_token; /* read from the environment or a file */
static void free_token(void) { free(loaded_token); }

int main(int argc, char **argv)
{
    /* a closed pipe (`ais ls ais://b | head`) must end us quietly, via EPIPE */
    signal(SIGPIPE, SIG_IGN);
    cmn_mem_init();
    const char *ep = getenv("AIS_ENDPOINT");
    if (ep && *ep)
        cli_ais.endpoint = ep;
    char *token = NULL;
    if (!take_token(&argc, argv, &token)) {
        fprintf(stderr, "flag needs an argument: --token\n");
        return CLI_EXIT_USAGE;
    }
    if (!token) {
        cmn_err err = {0};
        if (cmn_ais_token_load(NULL, &loaded_token, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return CLI_EXIT_ERR;
        }
        atexit(free_token);
        token = loaded_token;
    }
    cli_ais.token = token;

    const cli_cmd *cmd = &c_root;
    char path[256] = "ais";
    int i = 1;
    /* descend while the next word names a subcommand */
    while (i < argc && cmd->subs) {
        const cli_cmd *sub = find_sub(cmd, argv[i]);
        if (!sub)
            break;
        cmd = sub;
        size_t l = strlen(path);
        snprintf(path + l, sizeof path - l, " %s", sub->name);
        i++;
    }
    if (!cmd->run) {
        if (i < argc && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "help") == 0)) {
            cli_print_help(cmd, path);
            return CLI_EXIT_OK;
        }
        if (i >= argc) {
            cli_print_help(cmd, path);
            return CLI_EXIT_OK; /* as upstream: a bare group shows its help */
        }
        cli_args none = {.path = path};
        if (argv[i][0] == '-')
            return cli_usage_err(&none, "flag provided but not defined: %s", argv[i]);
        return cli_usage_err(&none, "unknown command \"%s\"", argv[i]);
    }
    cli_args a;
    int rc = cli_parse(cmd, path, argc - i, argv + i, &a);
    if (rc == -1)
        return CLI_EXIT_OK;
    if (rc)
        return rc;
    cmn_http_global_init();
    rc = cmd->run(&a);
    fflush(stdout); /* a closed pipe here is the reader's choice, not our error */
    cmn_http_global_cleanup();
    return rc;
}

/*
 * cli.h - the map of `ais`, the AIStore-compatible command line: the command
 * tree (main.c), flag parsing (args.c), REST calls (api.c, over the shared
 * AIStore client in common/ais_client.h), table and size formatting
 * (table.c) and one file per command family.
 *
 * Handlers return an exit status: 0 ok, 1 failure (server or I/O), 2 usage;
 * so do the helpers that print their own failure. Parsers that print
 * nothing return 0 or a negative errno, as the rest of etlfs.
 * Each error is printed once, as one line on stderr, where it is detected.
 */
#ifndef ETLFS_CLI_H
#define ETLFS_CLI_H

#include "common/cmn.h"
#include "common/ais_client.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERR 1
#define CLI_EXIT_USAGE 2

#define CLI_MAX_POS 32
#define CLI_MAX_FLAGS 24

/* ---- commands and flags (args.c, main.c) */
typedef struct cli_flag {
    const char *name;  /* long name: "from-file" for --from-file */
    char short_name;   /* 'r' for -r, or 0 */
    bool has_value;    /* takes a value: --name N or --name=N */
    const char *usage;
} cli_flag;

typedef struct cli_cmd cli_cmd;

typedef struct cli_args {
    const cli_cmd *cmd;
    const char *path;  /* "ais etl init spec", for messages */
    int npos;
    const char *pos[CLI_MAX_POS];
    const cli_flag *flags[CLI_MAX_FLAGS];
    const char *val[CLI_MAX_FLAGS];
    int nflags;
} cli_args;

typedef int (*cli_handler)(cli_args *a);

struct cli_cmd {
    const char *name;
    const char *alias;      /* optional second name */
    const char *usage;      /* one line */
    const char *args_usage; /* "BUCKET[/OBJECT] [FILE|-]" */
    const cli_flag *flags;  /* terminated by {0} */
    cli_handler run;        /* NULL: a group, needs a subcommand */
    const cli_cmd *subs;    /* terminated by {0} */
};

/* Parses argv (after the command words) into a; flags may come anywhere,
 * "--" ends them. On error prints one line and returns CLI_EXIT_USAGE;
 * --help prints help and returns -1 (caller exits 0). */
int cli_parse(const cli_cmd *cmd, const char *path, int argc, char **argv, cli_args *a);
const char *cli_flag_str(const cli_args *a, const char *name); /* NULL when absent */
bool cli_flag_set(const cli_args *a, const char *name);
void cli_print_help(const cli_cmd *cmd, const char *path);
/* Prints `Incorrect usage of "PATH": MSG.` and returns CLI_EXIT_USAGE. */
int cli_usage_err(const cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 0 when a has min to max positional arguments, else cli_usage_err's code
 * with missing (fewer) or "too many arguments" (more) printed. */
int cli_npos(const cli_args *a, int min, int max, const char *missing);
/* Prints MSG on stderr, returns CLI_EXIT_ERR. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Flags shared by several commands. */
extern const cli_flag cli_flag_json;

/* ---- bucket/object URIs (args.c) */
typedef struct cli_uri {
    char provider[16];  /* "ais", "aws", "gcp", "azure" */
    char scheme[16];    /* as displayed: "ais", "s3", "gs", "az" */
    char bucket[256];
    char *object;       /* malloc'd, "" when none */
} cli_uri;
/* "ais://B[/O]", "B[/O]" (ais implied). CLI_EXIT_USAGE on a bad URI. */
int cli_parse_uri(const cli_args *a, const char *s, cli_uri *u, bool want_object, bool object_ok);
void cli_uri_free(cli_uri *u);
/* "ais://B" or "ais://B/O" into out. */
void cli_uri_cname(const cli_uri *u, const char *obj, char *out, size_t outlen);

/* ---- REST (api.c), over the shared AIStore client (common/ais_client.h) */
/* AIS_ENDPOINT or http://localhost:8080; no timeouts, as AIStore's CLI. */
extern cmn_ais cli_ais;
typedef struct cli_call {
    const char *method;
    cmn_buf url;           /* built with cmn_ais_url_*(&c.url, &cli_ais, ...) */
    const char *body;      /* JSON or raw */
    size_t body_len;
    const char *body_path; /* upload a file */
    bool follow;
    int out_fd;            /* stream a 2xx body; -1 = keep in resp.body */
    cmn_buf why;           /* after a failed cli_send: the server's message, in full, or the transport error */
} cli_call;

void cli_call_init(cli_call *c, const char *method);
/* cli_call_init for /v1/buckets/BUCKET?provider=P, or /v1/etl[/NAME] (NULL: all) */
void cli_call_bucket(cli_call *c, const char *method, const cli_uri *u);
void cli_call_etl(cli_call *c, const char *method, const char *name);
void cli_call_free(cli_call *c);
/* Sends c. Returns CLI_EXIT_OK on 2xx, otherwise prints c->why (the
 * server's message, or the transport error) once and returns CLI_EXIT_ERR;
 * resp->status is 0 when no answer came. With quiet, an HTTP error answer is
 * left to the caller to explain (transport errors are still printed). */
int cli_send(cli_call *c, cmn_http_resp *resp, bool quiet);
/* Sends a GET-style call whose answer is JSON. With --json the answer is
 * printed as is and *out is NULL; otherwise *out is the parsed answer, which
 * must pass want (cJSON_IsObject, cJSON_IsArray; an empty answer to an array
 * query is []), else it is a failure naming what the reply was. The caller
 * deletes *out. */
int cli_get_json(cli_args *a, cli_call *c, const char *what, cJSON_bool (*want)(const cJSON *), cJSON **out);
/* The job id a 2xx answer carries (text, maybe JSON-quoted) into out. */
void cli_reply_id(const cmn_http_resp *r, char *out, size_t outlen);
/* True when a write to stdout failed because the reader went away. */
bool cli_stdout_gone(int err);
/* JSON-quotes s into b. */
void cli_json_str(cmn_buf *b, const char *s);
/* Prints compact JSON text re-indented with 4 spaces (like Go's MarshalIndent). */
void cli_print_json(const char *text, size_t len);

/* ---- output (table.c) */
typedef struct cli_table {
    int ncols;
    int nrows;
    int cap;
    char **cells; /* nrows * ncols */
} cli_table;
/* A table printed like Go's text/tabwriter with tab padding (AIStore's teb). */
void cli_table_init(cli_table *t, int ncols);
void cli_table_row(cli_table *t, ...); /* ncols const char* */
void cli_table_rowv(cli_table *t, const char *const *cells);
/* Writes to stdout; returns false when stdout went away (EPIPE). */
bool cli_table_print(cli_table *t);
void cli_table_free(cli_table *t);
/* AIStore's IEC sizes: "12B", "1.50KiB", "3.00MiB". */
void cli_fmt_size(int64_t n, char *out, size_t outlen);
/* Parses "64KiB", "1MB", "4096" into bytes; 0 or -EINVAL. */
int cli_parse_size(const char *s, int64_t *out);
bool cli_stdout_tty(void);

/* ---- AIStore 5.0's ETL spec files (etl_spec.c) */
typedef struct cli_etl_doc {
    cJSON *msg;       /* the init message; NULL when the document is no ETL */
    char *why;        /* then why, in upstream's words ("parse spec node: ...") */
    cmn_buf warnings; /* fields ignored, one per line */
    bool pod;         /* a full Kubernetes Pod (deprecated in 5.0), not a runtime spec */
} cli_etl_doc;
typedef struct cli_etl_docs {
    int n;
    cli_etl_doc *v;
} cli_etl_docs;
/* Reads every YAML document of path (a file, "-" for stdin, or an http(s)
 * URL) into init messages. 0, or -errno with err filled when the file
 * cannot be read, is not YAML ("failed to decode YAML: ...") or is empty. */
int cli_etl_spec_load(const char *path, cli_etl_docs *docs, cmn_err *err);
void cli_etl_docs_free(cli_etl_docs *docs);

/* ---- command families */
int cli_bucket_create(cli_args *a);
int cli_bucket_rm(cli_args *a);
int cli_ls(cli_args *a);
int cli_object_put(cli_args *a);
int cli_object_get(cli_args *a);
int cli_object_rm(cli_args *a);
int cli_etl_init_spec(cli_args *a);
int cli_etl_init_code(cli_args *a);
int cli_etl_init(cli_args *a);
int cli_etl_show(cli_args *a);
int cli_etl_details(cli_args *a);
int cli_etl_show_errors(cli_args *a);
int cli_etl_view_logs(cli_args *a);
int cli_etl_object(cli_args *a);
int cli_etl_bucket(cli_args *a);
int cli_etl_inspect(cli_args *a);
int cli_etl_start(cli_args *a);
int cli_etl_stop(cli_args *a);
int cli_etl_rm(cli_args *a);
int cli_job_show(cli_args *a);
int cli_job_wait(cli_args *a);
int cli_show_cluster(cli_args *a);
int cli_node_start_maint(cli_args *a);
int cli_node_stop_maint(cli_args *a);
int cli_node_decommission(cli_args *a);
int cli_node_shutdown(cli_args *a);
int cli_auth_token(cli_args *a);

/* ETLs (cmd_etl*.c) */
/* "hpull" -> "hpull://"; "" -> "hpush://" */
void cli_etl_comm_type(const char *flag, char *out, size_t outlen);
/* PUT /v1/etl with msg; xid gets the job id. With why, an error answer is
 * appended there for the caller to print (else printed); a transport error
 * is always printed. Returns an exit status. */
int cli_etl_put_init(const cJSON *msg, char *xid, size_t xidlen, cmn_buf *why);
/* GET /v1/etl: the running ETLs, or with all every ETL with its "stage"
 * (?all=true); NULL with *rc the (printed) failure. */
cJSON *cli_etl_list(bool all, int *rc);
/* The names a spec file (--spec) defines, for start/stop/rm -f; an exit status. */
int cli_etl_spec_names(cli_args *a, char ***names, int *n);
/* A definition as 5.0's CLI prints it: name, communication_type, runtime. */
void cli_etl_print_v5(const cJSON *msg);

/* loc/out/in objects then loc/out/in bytes of job id, summed over nodes. */
void cli_job_counts(const char *id, int64_t out[6]);
/* GETs c (following redirects) into dest, "-" = stdout, via a temporary
 * file renamed on success; *size = bytes written. */
int cli_fetch_to(cli_call *c, const char *dest, int64_t *size);
/* Waits for job id to finish (cmd_job.c), printing progress when asked.
 * kind_hint may be "" . Returns an exit status; failures printed. */
int cli_job_wait_id(const char *id, bool progress, int64_t timeout_ns);

#endif

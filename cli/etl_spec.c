/*
 * etl_spec.c - AIStore 5.0's ETL spec files (`ais etl init -f FILE`): a
 * YAML stream of one or more documents, each a runtime spec (name, runtime:
 * {image, command, env}, communication, init_timeout, obj_timeout, env,
 * support_direct_put, resources) or a full Kubernetes Pod (deprecated in
 * 5.0), turned into the JSON init messages PUT /v1/etl takes.
 *
 * Fields are read by a fixed schema, as upstream decodes into its Go
 * structs: names and values are strings whatever YAML makes of them
 * (env value 1 is "1", resources quantities stay text), a duration is
 * checked here so a typo never reaches the node. A syntax error anywhere
 * fails the whole file before anything is sent, as upstream reads every
 * document first; a document that is not an ETL is reported and skipped.
 */
#include "cli/cli.h"
#include "etl/etl.h" /* etl_yaml_get */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- reading the file (or a URL, as upstream's openFileOrURL) */

static int read_url(const char *url, cmn_buf *out, cmn_err *err)
{
    cmn_http_req req = {.method = "GET", .url = url, .follow_redirects = true};
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = cmn_http_do(NULL, &req, &r);
    if (rc == 0 && (r.status < 200 || r.status > 299))
        rc = cmn_err_set(err, EIO, "failed to read \"%s\": HTTP status %ld", url, r.status);
    else if (rc != 0)
        rc = cmn_err_set(err, r.err.code ? r.err.code : EIO, "failed to read \"%s\": %s", url, r.err.msg);
    else
        cmn_buf_append(out, r.body.data ? r.body.data : "", r.body.len);
    cmn_http_resp_free(&r);
    return rc;
}

static int read_path(const char *path, cmn_buf *out, cmn_err *err)
{
    if (!strncmp(path, "http://", 7) || !strncmp(path, "https://", 8))
        return read_url(path, out, err);
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return cmn_err_set(err, errno, "open %s: %s", path, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        cmn_buf_append(out, buf, n);
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    return bad ? cmn_err_set(err, EIO, "failed to read \"%s\"", path) : 0;
}

/* ---- one document */

typedef struct dctx {
    yaml_document_t *doc;
    char why[512];
} dctx;

__attribute__((format(printf, 2, 3))) static int bad(dctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Keys as upstream's Go structs decode them: case matters. */
static yaml_node_t *get(dctx *c, yaml_node_t *map, const char *key) { return etl_yaml_get(c->doc, map, key, false); }

/* A plain ~, null or empty scalar is YAML's null: the field is absent. */
static bool is_null(yaml_node_t *n)
{
    if (!n)
        return true;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcasecmp(v, "null");
}

/* The scalar at key as a string, NULL when absent; a mapping or list there is an error. */
static int str_at(dctx *c, yaml_node_t *map, const char *key, const char *path, const char **out)
{
    yaml_node_t *n = get(c, map, key);
    *out = NULL;
    if (is_null(n))
        return 0;
    if (n->type != YAML_SCALAR_NODE)
        return bad(c, "\"%s\" must be a string", path);
    *out = (const char *)n->data.scalar.value;
    return 0;
}

static int duration_at(dctx *c, yaml_node_t *map, const char *key, cJSON *msg)
{
    const char *s;
    int64_t ns;
    if (str_at(c, map, key, key, &s))
        return -EINVAL;
    if (!s)
        return 0;
    if (cmn_parse_duration(s, &ns) != 0)
        return bad(c, "\"%s\": time: invalid duration \"%s\"", key, s);
    cJSON_AddStringToObject(msg, key, s);
    return 0;
}

/* Kubernetes' env: [{name: N, value: V}] with V a string. */
static int env_at(dctx *c, yaml_node_t *map, const char *path, cJSON *dst)
{
    yaml_node_t *n = get(c, map, "env");
    if (is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(c, "\"%s\" must be a list of {name, value}", path);
    cJSON *arr = cJSON_AddArrayToObject(dst, "env");
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        yaml_node_t *e = yaml_document_get_node(c->doc, *i);
        const char *name, *value;
        if (!e || e->type != YAML_MAPPING_NODE || str_at(c, e, "name", path, &name) ||
            str_at(c, e, "value", path, &value) || !name || !*name)
            return bad(c, "\"%s\": every entry needs a \"name\" and a string \"value\"", path);
        cJSON *kv = cJSON_CreateObject();
        cJSON_AddStringToObject(kv, "name", name);
        cJSON_AddStringToObject(kv, "value", value ? value : "");
        cJSON_AddItemToArray(arr, kv);
    }
    return 0;
}

/* Any node as JSON with every scalar a string (Kubernetes quantities are text). */
static cJSON *text_tree(dctx *c, yaml_node_t *n)
{
    if (!n)
        return cJSON_CreateNull();
    if (n->type == YAML_SCALAR_NODE)
        return is_null(n) ? cJSON_CreateNull() : cJSON_CreateString((const char *)n->data.scalar.value);
    if (n->type == YAML_SEQUENCE_NODE) {
        cJSON *a = cJSON_CreateArray();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++)
            cJSON_AddItemToArray(a, text_tree(c, yaml_document_get_node(c->doc, *i)));
        return a;
    }
    cJSON *o = cJSON_CreateObject();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE)
            cJSON_AddItemToObject(o, (const char *)k->data.scalar.value,
                                  text_tree(c, yaml_document_get_node(c->doc, p->value)));
    }
    return o;
}

static const char *const runtime_keys[] = {"name", "communication", "argument", "env", "init_timeout",
                                           "obj_timeout", "support_direct_put", "runtime", "resources", NULL};

/* Keys upstream's struct has no field for: it drops them silently, we say so. */
static void warn_unknown(dctx *c, yaml_node_t *root, cli_etl_doc *d)
{
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const char *key = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        bool known = false;
        for (int i = 0; runtime_keys[i] && !known; i++)
            known = !strcmp(key, runtime_keys[i]);
        if (!known) {
            cmn_buf_printf(&d->warnings, "%sfield \"%s\" is not part of an ETL runtime spec, ignored",
                           d->warnings.len ? "\n" : "", key);
        }
    }
}

static int runtime_doc(dctx *c, yaml_node_t *root, cli_etl_doc *d)
{
    cJSON *m = d->msg;
    const char *s;
    if (str_at(c, root, "name", "name", &s))
        return -EINVAL;
    cJSON_AddStringToObject(m, "name", s ? s : "");
    if (str_at(c, root, "communication", "communication", &s))
        return -EINVAL;
    cJSON_AddStringToObject(m, "communication", s ? s : "");
    if (str_at(c, root, "argument", "argument", &s)) /* v3.22's, which this node still honours */
        return -EINVAL;
    if (s)
        cJSON_AddStringToObject(m, "argument", s);
    if (env_at(c, root, "env", m) || duration_at(c, root, "init_timeout", m) || duration_at(c, root, "obj_timeout", m))
        return -EINVAL;
    if (str_at(c, root, "support_direct_put", "support_direct_put", &s))
        return -EINVAL;
    if (s) {
        bool t = !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on");
        if (!t && strcasecmp(s, "false") && strcasecmp(s, "no") && strcasecmp(s, "off"))
            return bad(c, "\"support_direct_put\" must be true or false (got \"%s\")", s);
        cJSON_AddBoolToObject(m, "support_direct_put", t);
    }
    yaml_node_t *rt = get(c, root, "runtime");
    if (rt->type != YAML_MAPPING_NODE)
        return bad(c, "\"runtime\" must be a mapping with an \"image\"");
    cJSON *jrt = cJSON_AddObjectToObject(m, "runtime");
    if (str_at(c, rt, "image", "runtime.image", &s))
        return -EINVAL;
    cJSON_AddStringToObject(jrt, "image", s ? s : "");
    yaml_node_t *cmd = get(c, rt, "command");
    if (!is_null(cmd)) {
        if (cmd->type != YAML_SEQUENCE_NODE)
            return bad(c, "\"runtime.command\" must be a list of strings");
        cJSON *a = cJSON_AddArrayToObject(jrt, "command");
        for (yaml_node_item_t *i = cmd->data.sequence.items.start; i < cmd->data.sequence.items.top; i++) {
            yaml_node_t *e = yaml_document_get_node(c->doc, *i);
            if (!e || e->type != YAML_SCALAR_NODE)
                return bad(c, "\"runtime.command\" must be a list of strings");
            cJSON_AddItemToArray(a, cJSON_CreateString((const char *)e->data.scalar.value));
        }
    }
    if (env_at(c, rt, "runtime.env", jrt))
        return -EINVAL;
    yaml_node_t *res = get(c, root, "resources");
    if (!is_null(res)) {
        if (res->type != YAML_MAPPING_NODE)
            return bad(c, "\"resources\" must be a mapping (limits, requests)");
        cJSON_AddItemToObject(m, "resources", text_tree(c, res));
    }
    warn_unknown(c, root, d);
    return 0;
}

/* A Pod: the name from metadata.name, the whole document as "spec" (the
 * node reads its annotations itself). A communication annotation holding a
 * shell default (the ais-etl files' ${COMM:-...}) is left to the node. */
static int pod_doc(dctx *c, yaml_node_t *root, const char *text, cli_etl_doc *d)
{
    yaml_node_t *meta = get(c, root, "metadata");
    const char *name = NULL, *comm = NULL;
    if (str_at(c, meta, "name", "metadata.name", &name) ||
        str_at(c, get(c, meta, "annotations"), "communication_type", "communication_type", &comm))
        return -EINVAL;
    d->pod = true;
    cJSON_AddStringToObject(d->msg, "name", name ? name : "");
    bool plain = comm && *comm && strspn(comm, "abcdefghijklmnopqrstuvwxyz:/") == strlen(comm);
    cJSON_AddStringToObject(d->msg, "communication", plain ? comm : "");
    size_t start = c->doc->start_mark.index, end = c->doc->end_mark.index;
    char *b64 = cmn_base64_encode(text + start, end > start ? end - start : 0);
    cJSON_AddStringToObject(d->msg, "spec", b64);
    free(b64);
    return 0;
}

static void one_doc(yaml_document_t *doc, const char *text, cli_etl_doc *d)
{
    dctx c = {.doc = doc};
    yaml_node_t *root = yaml_document_get_root_node(doc);
    d->msg = cJSON_CreateObject();
    cmn_buf_init(&d->warnings);
    const char *what = NULL;
    if (root && root->type == YAML_MAPPING_NODE && !is_null(get(&c, root, "runtime")))
        what = runtime_doc(&c, root, d) ? "failed to decode ETLSpecMsg: " : NULL;
    else if (root && root->type == YAML_MAPPING_NODE && !is_null(get(&c, root, "spec")))
        what = pod_doc(&c, root, text, d) ? "failed to decode InitSpecMsg: " : NULL;
    else {
        bad(&c, "unknown document (missing 'runtime' or 'spec')");
        what = "";
    }
    if (what) {
        cJSON_Delete(d->msg);
        d->msg = NULL;
        d->why = cmn_xasprintf("parse spec node: %s%s", what, c.why);
    }
}

int cli_etl_spec_load(const char *path, cli_etl_docs *docs, cmn_err *err)
{
    memset(docs, 0, sizeof *docs);
    cmn_buf text;
    cmn_buf_init(&text);
    int rc = read_path(path, &text, err);
    if (rc) {
        cmn_buf_free(&text);
        return rc;
    }
    cmn_buf_append(&text, "", 1); /* NUL, not part of the YAML */
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        abort(); /* out of memory: the project's policy */
    yaml_parser_set_input_string(&p, (const unsigned char *)text.data, text.len - 1);
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&p, &doc)) {
            rc = cmn_err_set(err, EINVAL, "failed to decode YAML: yaml: line %zu: %s%s%s",
                             p.problem_mark.line + 1, p.problem ? p.problem : "invalid YAML",
                             p.context ? " " : "", p.context ? p.context : "");
            break;
        }
        if (!yaml_document_get_root_node(&doc)) { /* the end of the stream */
            yaml_document_delete(&doc);
            break;
        }
        docs->v = cmn_xrealloc(docs->v, (size_t)(docs->n + 1) * sizeof *docs->v);
        cli_etl_doc *d = &docs->v[docs->n++];
        memset(d, 0, sizeof *d);
        one_doc(&doc, text.data, d);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    cmn_buf_free(&text);
    if (rc == 0 && docs->n == 0)
        rc = cmn_err_set(err, EINVAL, "empty YAML spec");
    if (rc)
        cli_etl_docs_free(docs);
    return rc;
}

void cli_etl_docs_free(cli_etl_docs *docs)
{
    for (int i = 0; i < docs->n; i++) {
        cJSON_Delete(docs->v[i].msg);
        free(docs->v[i].why);
        cmn_buf_free(&docs->v[i].warnings);
    }
    free(docs->v);
    memset(docs, 0, sizeof *docs);
}

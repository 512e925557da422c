/*
 * spec.c - a Kubernetes Pod YAML (init spec) reduced to what a local process
 * needs, with AIStore's validation: kind Pod, exactly one container with an
 * image, exactly one port named "default", readinessProbe.httpGet with a path
 * and port "default"; node affinity and pod anti-affinity are refused.
 * libyaml's document API is enough: pods are small. Keys match
 * case-insensitively, as Kubernetes' JSON-based decoding does.
 */
#include "etl/etl_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

typedef struct pctx {
    yaml_document_t *doc;
    char *err;
    size_t errlen;
} pctx;

__attribute__((format(printf, 2, 3))) static int bad(pctx *c, const char *fmt, ...)
{
    int n = snprintf(c->err, c->errlen, "invalid pod spec: ");
    if (n < 0 || (size_t)n >= c->errlen)
        return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

yaml_node_t *etl_yaml_get(yaml_document_t *doc, yaml_node_t *map, const char *key, bool any_case)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        const char *name = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : NULL;
        if (name && (any_case ? strcasecmp(name, key) : strcmp(name, key)) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static yaml_node_t *get(pctx *c, yaml_node_t *map, const char *key) { return etl_yaml_get(c->doc, map, key, true); }

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* An empty mapping/sequence (or null) counts as absent. */
static bool nonempty(yaml_node_t *n)
{
    if (!n)
        return false;
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return n->data.mapping.pairs.top > n->data.mapping.pairs.start;
    case YAML_SEQUENCE_NODE:
        return n->data.sequence.items.top > n->data.sequence.items.start;
    case YAML_SCALAR_NODE: {
        const char *v = (const char *)n->data.scalar.value;
        return *v && strcmp(v, "null") != 0 && strcmp(v, "~") != 0;
    }
    default:
        return false;
    }
}

static size_t seq_len(yaml_node_t *n)
{
    return n && n->type == YAML_SEQUENCE_NODE ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
                                              : 0;
}

static yaml_node_t *seq_at(pctx *c, yaml_node_t *n, size_t i)
{
    return yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
}

static int strings(pctx *c, yaml_node_t *n, const char *field, char ***out, size_t *count)
{
    if (!n)
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(c, "%s must be a list of strings", field);
    size_t len = seq_len(n);
    *out = cmn_xcalloc(len + 1, sizeof **out);
    for (size_t i = 0; i < len; i++) {
        const char *s = scalar(seq_at(c, n, i));
        if (!s)
            return bad(c, "%s[%zu] must be a string", field, i);
        (*out)[i] = cmn_xstrdup(s);
        (*count)++;
    }
    return 0;
}

static int parse_env(pctx *c, yaml_node_t *n, etl_pod *pod)
{
    if (!n)
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(c, "spec.containers[0].env must be a list");
    size_t len = seq_len(n);
    pod->env = cmn_xcalloc(len + 1, sizeof *pod->env);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *e = seq_at(c, n, i);
        const char *k = scalar(get(c, e, "name"));
        if (!k || !*k)
            return bad(c, "spec.containers[0].env[%zu].name is missing", i);
        const char *v = scalar(get(c, e, "value"));
        if (get(c, e, "valueFrom"))
            cmn_warn("etl pod spec: env %s uses valueFrom, which runs locally as an empty value", k);
        pod->env[i].key = cmn_xstrdup(k);
        pod->env[i].val = cmn_xstrdup(v ? v : "");
        pod->nenv++;
    }
    return 0;
}

static int parse_pod(pctx *c, yaml_node_t *root, etl_pod *pod)
{
    if (!root || root->type != YAML_MAPPING_NODE)
        return bad(c, "the document must be a mapping (a Kubernetes Pod)");
    const char *kind = scalar(get(c, root, "kind"));
    if (!kind || strcmp(kind, "Pod") != 0)
        return bad(c, "kind must be \"Pod\" (got \"%.64s\")", kind ? kind : "");

    yaml_node_t *ann = get(c, get(c, root, "metadata"), "annotations");
    const char *s = scalar(get(c, ann, "communication_type"));
    if (s)
        pod->ann_comm = cmn_xstrdup(s);
    s = scalar(get(c, ann, "wait_timeout"));
    if (s)
        pod->ann_wait_timeout = cmn_xstrdup(s);

    yaml_node_t *spec = get(c, root, "spec");
    if (!spec || spec->type != YAML_MAPPING_NODE)
        return bad(c, "spec is missing");
    yaml_node_t *aff = get(c, spec, "affinity");
    yaml_node_t *na = get(c, aff, "nodeAffinity");
    if (nonempty(get(c, na, "requiredDuringSchedulingIgnoredDuringExecution")) ||
        nonempty(get(c, na, "preferredDuringSchedulingIgnoredDuringExecution")))
        return bad(c, "spec.affinity.nodeAffinity is forbidden: ETLs run next to their target");
    if (nonempty(get(c, aff, "podAntiAffinity")))
        return bad(c, "spec.affinity.podAntiAffinity is forbidden: ETLs run next to their target");

    yaml_node_t *cs = get(c, spec, "containers");
    if (seq_len(cs) != 1)
        return bad(c, "spec.containers must hold exactly 1 container (has %zu)", seq_len(cs));
    yaml_node_t *ct = seq_at(c, cs, 0);
    s = scalar(get(c, ct, "image"));
    if (!s || !*s)
        return bad(c, "spec.containers[0].image is missing");
    pod->image = cmn_xstrdup(s);
    if (strings(c, get(c, ct, "command"), "spec.containers[0].command", &pod->command, &pod->ncommand) ||
        strings(c, get(c, ct, "args"), "spec.containers[0].args", &pod->args, &pod->nargs) ||
        parse_env(c, get(c, ct, "env"), pod))
        return -EINVAL;

    yaml_node_t *ports = get(c, ct, "ports");
    if (seq_len(ports) != 1)
        return bad(c, "spec.containers[0].ports must hold exactly 1 port (has %zu)", seq_len(ports));
    yaml_node_t *port = seq_at(c, ports, 0);
    s = scalar(get(c, port, "name"));
    if (!s || strcmp(s, "default") != 0)
        return bad(c, "spec.containers[0].ports[0].name must be \"default\"");
    s = scalar(get(c, port, "containerPort"));
    char *end = NULL;
    long pn = s ? strtol(s, &end, 10) : 0;
    if (!s || *end || pn <= 0 || pn > 65535)
        return bad(c, "spec.containers[0].ports[0].containerPort must be a port number");
    pod->container_port = (int)pn;

    yaml_node_t *hg = get(c, get(c, ct, "readinessProbe"), "httpGet");
    if (!hg)
        return bad(c, "spec.containers[0].readinessProbe.httpGet is missing");
    s = scalar(get(c, hg, "path"));
    if (!s || !*s)
        return bad(c, "spec.containers[0].readinessProbe.httpGet.path is missing");
    pod->probe_path = s[0] == '/' ? cmn_xstrdup(s) : cmn_xasprintf("/%s", s);
    s = scalar(get(c, hg, "port"));
    if (!s || strcmp(s, "default") != 0)
        return bad(c, "spec.containers[0].readinessProbe.httpGet.port must be \"default\" (the port's name)");
    return 0;
}

int etl_pod_parse(const char *yaml, size_t len, etl_pod *pod, char *err, size_t errlen)
{
    memset(pod, 0, sizeof *pod);
    yaml_parser_t parser;
    yaml_document_t doc;
    pctx c = {.doc = &doc, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&parser))
        return bad(&c, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        bad(&c, "bad YAML at line %zu: %s", parser.problem_mark.line + 1,
            parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return -EINVAL;
    }
    int rc = parse_pod(&c, yaml_document_get_root_node(&doc), pod);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc != 0)
        etl_pod_free(pod);
    return rc;
}

void etl_pod_free(etl_pod *pod)
{
    free(pod->image);
    etl_strv_free(pod->command);
    etl_strv_free(pod->args);
    for (size_t i = 0; i < pod->nenv; i++) {
        free(pod->env[i].key);
        free(pod->env[i].val);
    }
    free(pod->env);
    free(pod->probe_path);
    free(pod->ann_comm);
    free(pod->ann_wait_timeout);
    memset(pod, 0, sizeof *pod);
}

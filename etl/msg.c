/*
 * msg.c - the init messages of PUT /v1/etl (v3.22's InitCodeMsg and
 * InitSpecMsg, AIStore 5.0's ETLSpecMsg, told apart by their fields): parse
 * with cJSON (keys match case-insensitively, as Go's decoder does and the SDK
 * relies on), apply AIStore's defaults, validate everything that needs no
 * process, and render the stored form that GET /v1/etl/N shows. Every error
 * is a 400 whose message names the field.
 */
#include "etl/etl_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const arg_types[] = {"", "url", "fqn", NULL};
static const char *const runtimes[] = {"python3.8v2", "python3.10v2", "python3.11v2", NULL};

__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int one_of(const char *v, const char *const *set)
{
    for (int i = 0; set[i]; i++)
        if (strcmp(v, set[i]) == 0)
            return i;
    return -1;
}

/* A string field; absent or null -> "" ; any other type is an error. */
static int str_field(const cJSON *o, const char *key, char **out, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItem(o, key);
    if (!it || cJSON_IsNull(it)) {
        *out = cmn_xstrdup("");
    } else if (cJSON_IsString(it)) {
        *out = cmn_xstrdup(it->valuestring);
    } else {
        return bad(err, errlen, "invalid \"%s\": must be a string", key);
    }
    return 0;
}

static int int_field(const cJSON *o, const char *key, int64_t *out, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItem(o, key);
    *out = 0;
    if (!it || cJSON_IsNull(it))
        return 0;
    double d = it->valuedouble;
    if (!cJSON_IsNumber(it) || d < -9e18 || d > 9e18 || d != (double)(int64_t)d)
        return bad(err, errlen, "invalid \"%s\": must be an integer", key);
    *out = (int64_t)d;
    return 0;
}

/* Go's cos.Duration accepts a duration string or a number of nanoseconds. */
static int timeout_field(const cJSON *o, etl_msg *m, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItem(o, "timeout");
    int64_t ns = 0;
    if (cJSON_IsString(it)) {
        if (cmn_parse_duration(it->valuestring, &ns) != 0)
            return bad(err, errlen, "invalid \"timeout\" \"%.64s\": expected a duration such as \"45s\" or \"5m\"",
                       it->valuestring);
    } else if (cJSON_IsNumber(it)) {
        if (it->valuedouble < -9e18 || it->valuedouble > 9e18)
            return bad(err, errlen, "invalid \"timeout\": out of range");
        ns = (int64_t)it->valuedouble;
    } else if (it && !cJSON_IsNull(it)) {
        return bad(err, errlen, "invalid \"timeout\": must be a duration string");
    }
    if (ns < 0)
        return bad(err, errlen, "invalid \"timeout\": must not be negative");
    m->timeout_set = ns > 0;
    m->timeout_ns = ns > 0 ? ns : ETL_DEFAULT_TIMEOUT_NS;
    return 0;
}

/* "hpush" and "hpush://" both name the communicator; stored with "://". */
/* True when the bytes are well-formed UTF-8 text (no NUL). */
static bool utf8_text(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || c == 0 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

/* Go []byte fields travel as base64 (what the SDK sends). The seed's
 * examples put plain text there, so: a value that is valid base64 of UTF-8
 * text is decoded; any other UTF-8 text is taken as the text itself (and
 * stored, and shown, as its base64, which reads back as the same text). */
static int b64_field(const cJSON *o, const char *key, char **b64, unsigned char **raw, size_t *rawlen,
                     char *err, size_t errlen)
{
    if (str_field(o, key, b64, err, errlen))
        return -EINVAL;
    if (!**b64)
        return 0;
    *raw = cmn_base64_decode(*b64, rawlen);
    if (*raw && utf8_text(*raw, *rawlen))
        return 0;
    free(*raw);
    *raw = NULL;
    size_t n = strlen(*b64);
    if (!utf8_text((const unsigned char *)*b64, n))
        return bad(err, errlen, "invalid \"%s\": neither base64 nor UTF-8 text", key);
    *raw = (unsigned char *)cmn_xstrdup(*b64);
    *rawlen = n;
    char *enc = cmn_base64_encode(*raw, n);
    if (!*raw || !enc) {
        free(enc);
        return bad(err, errlen, "invalid \"%s\": out of memory", key);
    }
    free(*b64);
    *b64 = enc;
    return 0;
}

static int env_field(const cJSON *o, const char *key, etl_pod *pod, char *err, size_t errlen);

/* v3.22's init code; "env" ([{name, value}]) only for ETL_DIRECT_FQN and NUM_WORKERS (docs/etl.md) */
static int parse_code(const cJSON *o, etl_msg *m, char *err, size_t errlen)
{
    if (b64_field(o, "code", &m->code_b64, &m->code, &m->code_len, err, errlen) ||
        b64_field(o, "dependencies", &m->deps_b64, &m->deps, &m->deps_len, err, errlen) ||
        str_field(o, "runtime", &m->runtime, err, errlen) || int_field(o, "chunk_size", &m->chunk_size, err, errlen) ||
        int_field(o, "flags", &m->flags, err, errlen) || env_field(o, "env", &m->pod, err, errlen))
        return -EINVAL;
    if (m->code_len == 0)
        return bad(err, errlen, "invalid \"code\": empty (expected a Python module, as text or base64)");
    if (!*m->runtime || !strcmp(m->runtime, "python3")) {
        /* the seed's "python3" (or none): the default Python runtime */
        free(m->runtime);
        m->runtime = cmn_xstrdup(ETL_DEFAULT_RUNTIME);
    }
    if (one_of(m->runtime, runtimes) < 0)
        return bad(err, errlen,
                   "invalid \"runtime\" \"%.64s\": expected python3.8v2, python3.10v2, python3.11v2 "
                   "or python3 (the default, " ETL_DEFAULT_RUNTIME ")",
                   m->runtime);
    const cJSON *funcs = cJSON_GetObjectItem(o, "funcs");
    const cJSON *tr = cJSON_IsObject(funcs) ? cJSON_GetObjectItem(funcs, "transform") : NULL;
    if (funcs && !cJSON_IsNull(funcs) && (!cJSON_IsString(tr) || !*tr->valuestring))
        return bad(err, errlen,
                   "invalid \"funcs\": expected {\"transform\": \"<function name>\"}, or no \"funcs\" for "
                   "a function named transform");
    m->func = cmn_xstrdup(tr ? tr->valuestring : "transform");
    if (m->chunk_size < 0 || m->chunk_size > ETL_CHUNK_MAX)
        return bad(err, errlen, "invalid \"chunk_size\" %lld: must be between 0 and 1048576 (1MiB)",
                   (long long)m->chunk_size);
    return 0;
}

static int parse_spec(const cJSON *o, etl_msg *m, bool comm_given, char *err, size_t errlen)
{
    unsigned char *yaml = NULL;
    size_t ylen = 0;
    if (b64_field(o, "spec", &m->spec_b64, &yaml, &ylen, err, errlen))
        return -EINVAL;
    if (!yaml) {
        return bad(err, errlen, "invalid \"spec\": empty (expected the base64 of a Pod YAML)");
    }
    int rc = etl_pod_parse((const char *)yaml, ylen, &m->pod, err, errlen);
    free(yaml);
    if (rc != 0)
        return -EINVAL;
    /* The message rules; the annotations only fill what it left out (the
     * ais-etl files hold unexpanded shell defaults there, ignored). */
    if (!comm_given && m->pod.ann_comm) {
        char *c = etl_comm_norm(m->pod.ann_comm);
        if (etl_comm_lookup(c)) {
            free(m->comm);
            m->comm = c;
        } else {
            free(c);
        }
    }
    int64_t ns = 0;
    if (!m->timeout_set && m->pod.ann_wait_timeout && cmn_parse_duration(m->pod.ann_wait_timeout, &ns) == 0 &&
        ns > 0)
        m->timeout_ns = ns, m->timeout_set = true;
    return 0;
}

/* A Go duration field of 5.0 (string or nanoseconds); 0 when absent. */
static int duration_field(const cJSON *o, const char *key, int64_t *ns, char *err, size_t errlen)
{
    const cJSON *it = cJSON_GetObjectItem(o, key);
    *ns = 0;
    if (cJSON_IsString(it)) {
        if (cmn_parse_duration(it->valuestring, ns) != 0)
            return bad(err, errlen, "invalid \"%s\" \"%.64s\": expected a duration such as \"45s\" or \"5m\"", key,
                       it->valuestring);
    } else if (cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble <= 9e18) {
        *ns = (int64_t)it->valuedouble;
    } else if (it && !cJSON_IsNull(it)) {
        return bad(err, errlen, "invalid \"%s\": must be a duration string", key);
    }
    if (*ns < 0)
        return bad(err, errlen, "invalid \"%s\": must not be negative", key);
    return 0;
}

/* Kubernetes' env list, [{"name": N, "value": V}], appended to pod->env. */
static int env_field(const cJSON *o, const char *key, etl_pod *pod, char *err, size_t errlen)
{
    const cJSON *env = cJSON_GetObjectItem(o, key), *it;
    if (!env || cJSON_IsNull(env))
        return 0;
    if (!cJSON_IsArray(env))
        return bad(err, errlen, "invalid \"%s\": expected a list of {\"name\": ..., \"value\": ...}", key);
    cJSON_ArrayForEach(it, env)
    {
        const cJSON *n = cJSON_GetObjectItem(it, "name"), *v = cJSON_GetObjectItem(it, "value");
        if (!cJSON_IsString(n) || !*n->valuestring || (v && !cJSON_IsNull(v) && !cJSON_IsString(v)))
            return bad(err, errlen, "invalid \"%s\": every entry needs a \"name\" and a string \"value\"", key);
        pod->env = cmn_xrealloc(pod->env, (pod->nenv + 1) * sizeof *pod->env);
        pod->env[pod->nenv].key = cmn_xstrdup(n->valuestring);
        pod->env[pod->nenv].val = cmn_xstrdup(cJSON_IsString(v) ? v->valuestring : "");
        pod->nenv++;
    }
    return 0;
}

/* Whether key is set to a value of the truth set given (the SDK webserver's
 * parse_bool, Go's cos.ParseBool). */
static bool env_is(const etl_pod *pod, const char *key, const char *const *set)
{
    const char *v = NULL;
    for (size_t i = 0; i < pod->nenv; i++)
        if (strcmp(pod->env[i].key, key) == 0)
            v = pod->env[i].val; /* the last one wins, as in a process's env */
    for (size_t i = 0; v && set[i]; i++)
        if (strcasecmp(v, set[i]) == 0)
            return true;
    return false;
}

static const char *const env_yes[] = {"1", "t", "true", "y", "yes", "on", NULL};
static const char *const env_no[] = {"0", "f", "false", "n", "no", "off", NULL};

static bool env_true(const etl_pod *pod, const char *key)
{
    return env_is(pod, key, env_yes);
}

/* AIStore 5.0's ETLSpecMsg: {"name", "communication", "env", "init_timeout",
 * "obj_timeout", "support_direct_put", "runtime": {"image", "command",
 * "env"}, "resources"}; the image runs as images.conf maps it. */
static int parse_runtime(const cJSON *o, etl_msg *m, char *err, size_t errlen)
{
    const cJSON *rt = cJSON_GetObjectItem(o, "runtime");
    const cJSON *img = cJSON_GetObjectItem(rt, "image");
    if (!cJSON_IsString(img) || !*img->valuestring)
        return bad(err, errlen, "invalid \"runtime.image\": must be specified (a container image name)");
    m->pod.image = cmn_xstrdup(img->valuestring);
    const cJSON *cmd = cJSON_GetObjectItem(rt, "command"), *it;
    if (cmd && !cJSON_IsNull(cmd)) {
        if (!cJSON_IsArray(cmd))
            return bad(err, errlen, "invalid \"runtime.command\": expected a list of strings");
        m->pod.command = cmn_xcalloc((size_t)cJSON_GetArraySize(cmd) + 1, sizeof(char *));
        cJSON_ArrayForEach(it, cmd)
        {
            if (!cJSON_IsString(it))
                return bad(err, errlen, "invalid \"runtime.command\": expected a list of strings");
            m->pod.command[m->pod.ncommand++] = cmn_xstrdup(it->valuestring);
        }
    }
    if (env_field(o, "env", &m->pod, err, errlen) || env_field(rt, "env", &m->pod, err, errlen))
        return -EINVAL;
    /* the SDK's direct_file_access: its webserver then takes the object's file from ?etl_fqn= */
    m->direct_fqn = env_true(&m->pod, "ETL_DIRECT_FQN");
    m->pod.container_port = 8000; /* AIStore's DefaultContainerPort; ours is chosen at launch */
    m->pod.probe_path = cmn_xstrdup("/health");
    const cJSON *res = cJSON_GetObjectItem(o, "resources");
    if (res && !cJSON_IsNull(res)) {
        if (!cJSON_IsObject(res))
            return bad(err, errlen, "invalid \"resources\": expected {\"limits\": {...}, \"requests\": {...}}");
        m->resources = cJSON_PrintUnformatted(res);
        const cJSON *mem = cJSON_GetObjectItem(cJSON_GetObjectItem(res, "limits"), "memory");
        if (mem && !cJSON_IsNull(mem) &&
            (!cJSON_IsString(mem) || etl_parse_memory(mem->valuestring, &m->memory_limit) != 0))
            return bad(err, errlen, "invalid \"resources.limits.memory\": expected a size such as \"512Mi\" or \"2Gi\"");
    }
    return 0;
}

static int parse(const cJSON *o, etl_msg *m, char *err, size_t errlen)
{
    if (!cJSON_IsObject(o))
        return bad(err, errlen, "invalid etl.InitMsg: expected a JSON object");
    bool has_code = cJSON_GetObjectItem(o, "code") != NULL, has_spec = cJSON_GetObjectItem(o, "spec") != NULL;
    bool has_runtime = cJSON_IsObject(cJSON_GetObjectItem(o, "runtime")); /* v3.22's "runtime" is a string */
    if (!has_code && !has_spec && !has_runtime)
        return bad(err, errlen, "invalid etl.InitMsg: neither \"code\", \"spec\" nor \"runtime\" given");
    if (has_runtime && (has_code || has_spec))
        return bad(err, errlen, "invalid etl.InitMsg: \"runtime\" (AIStore 5.0's runtime spec) cannot come with "
                                "\"%s\"", has_code ? "code" : "spec");
    m->kind = has_code ? ETL_INIT_CODE : has_spec ? ETL_INIT_SPEC : ETL_INIT_RUNTIME;

    char *comm = NULL;
    /* 5.0 names the ETL "name", v3.22 "id" */
    const char *name_key = cJSON_GetObjectItem(o, "name") && !cJSON_GetObjectItem(o, "id") ? "name" : "id";
    if (str_field(o, name_key, &m->name, err, errlen) || str_field(o, "communication", &comm, err, errlen) ||
        str_field(o, "argument", &m->arg, err, errlen) || timeout_field(o, m, err, errlen)) {
        free(comm);
        return -EINVAL;
    }
    /* 5.0's fields, in every form it sends */
    int64_t init_ns, obj_ns;
    if (duration_field(o, "init_timeout", &init_ns, err, errlen) ||
        duration_field(o, "obj_timeout", &obj_ns, err, errlen)) {
        free(comm);
        return -EINVAL;
    }
    if (init_ns > 0)
        m->timeout_ns = init_ns;
    m->obj_timeout_ns = obj_ns;
    const cJSON *dp = cJSON_GetObjectItem(o, "support_direct_put");
    if (dp && !cJSON_IsNull(dp) && !cJSON_IsBool(dp)) {
        free(comm);
        return bad(err, errlen, "invalid \"support_direct_put\": must be true or false");
    }
    m->direct_put = cJSON_IsTrue(dp);
    bool comm_given = *comm != '\0';
    m->comm = etl_comm_norm(comm);
    free(comm);
    char why[256];
    if (!etl_name_valid(m->name, why, sizeof why))
        return bad(err, errlen, "%s", why);
    const etl_comm *cm = etl_comm_lookup(m->comm);
    if (!cm) {
        char *names = etl_comm_names();
        bad(err, errlen, "invalid \"communication\" \"%.64s\": expected %s", m->comm, names);
        free(names);
        return -EINVAL;
    }
    if (one_of(m->arg, arg_types) < 0)
        return bad(err, errlen, "invalid \"argument\" \"%.64s\": expected \"\", \"url\" or \"fqn\"", m->arg);

    int rc = m->kind == ETL_INIT_CODE   ? parse_code(o, m, err, errlen)
             : m->kind == ETL_INIT_SPEC ? parse_spec(o, m, comm_given, err, errlen)
                                        : parse_runtime(o, m, err, errlen);
    if (rc)
        return -EINVAL;
    cm = etl_comm_lookup(m->comm); /* a Pod annotation may have chosen it */
    m->fqn_off = env_is(&m->pod, "ETL_DIRECT_FQN", env_no);

    if (strcmp(m->arg, "url") == 0 && !cm->arg_url)
        return bad(err, errlen, "invalid \"argument\" \"url\": requires communication hpull:// (have %s)", m->comm);
    if (strcmp(m->arg, "fqn") == 0 && !cm->arg_fqn)
        return bad(err, errlen,
                   "invalid \"argument\" \"fqn\": requires communication hpush://, hpull:// or ws:// (have %s)",
                   m->comm);
    if (m->direct_fqn && !cm->arg_fqn)
        return bad(err, errlen, "invalid env ETL_DIRECT_FQN (direct_file_access): requires communication hpush:// or "
                                "hpull:// (have %s)", m->comm);
    return 0;
}

int etl_msg_parse(const char *body, size_t len, etl_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    cJSON *o = cJSON_ParseWithLength(body, len);
    if (!o)
        return bad(err, errlen, "invalid etl.InitMsg: the body is not valid JSON");
    int rc = parse(o, m, err, errlen);
    cJSON_Delete(o);
    if (rc != 0)
        etl_msg_free(m);
    return rc;
}

cJSON *etl_msg_to_json(const etl_msg *m)
{
    char tmo[32];
    cmn_format_duration(m->timeout_ns, tmo, sizeof tmo);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->name);
    cJSON_AddStringToObject(o, "communication", m->comm);
    cJSON_AddStringToObject(o, "argument", m->arg);
    cJSON_AddStringToObject(o, "timeout", tmo);
    /* 5.0's names for the same, in every form (its SDK reads them back) */
    char otmo[32];
    cmn_format_duration(m->obj_timeout_ns ? m->obj_timeout_ns : m->timeout_set ? m->timeout_ns : ETL_OBJECT_TIMEOUT_NS,
                        otmo, sizeof otmo);
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "init_timeout", tmo);
    cJSON_AddStringToObject(o, "obj_timeout", otmo);
    cJSON_AddBoolToObject(o, "support_direct_put", m->direct_put);
    if (m->kind == ETL_INIT_CODE) {
        cJSON_AddStringToObject(o, "code", m->code_b64);
        cJSON_AddStringToObject(o, "dependencies", m->deps_b64);
        cJSON_AddStringToObject(o, "runtime", m->runtime);
        cJSON *f = cJSON_AddObjectToObject(o, "Funcs");
        cJSON_AddStringToObject(f, "transform", m->func);
        cJSON_AddNumberToObject(o, "chunk_size", (double)m->chunk_size);
        cJSON_AddNumberToObject(o, "flags", (double)m->flags);
    } else if (m->kind == ETL_INIT_SPEC) {
        cJSON_AddStringToObject(o, "spec", m->spec_b64);
    } else {
        cJSON *rt = cJSON_AddObjectToObject(o, "runtime");
        cJSON_AddStringToObject(rt, "image", m->pod.image);
        cJSON *cmd = cJSON_AddArrayToObject(rt, "command");
        for (size_t i = 0; i < m->pod.ncommand; i++)
            cJSON_AddItemToArray(cmd, cJSON_CreateString(m->pod.command[i]));
        cJSON *env = cJSON_AddArrayToObject(rt, "env");
        for (size_t i = 0; i < m->pod.nenv; i++) {
            cJSON *kv = cJSON_CreateObject();
            cJSON_AddStringToObject(kv, "name", m->pod.env[i].key);
            cJSON_AddStringToObject(kv, "value", m->pod.env[i].val);
            cJSON_AddItemToArray(env, kv);
        }
        if (m->resources) {
            cJSON *res = cJSON_Parse(m->resources);
            if (res)
                cJSON_AddItemToObject(o, "resources", res);
        }
    }
    return o;
}

void etl_msg_free(etl_msg *m)
{
    free(m->name);
    free(m->comm);
    free(m->arg);
    free(m->code_b64);
    free(m->deps_b64);
    free(m->runtime);
    free(m->func);
    free(m->code);
    free(m->deps);
    free(m->spec_b64);
    free(m->resources);
    etl_pod_free(&m->pod);
    memset(m, 0, sizeof *m);
}

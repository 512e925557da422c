/* Init message validation: what PUT /v1/etl accepts, the defaults it applies,
 * and that each refusal names the field. */
#include "etl/etl_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define FAILF(...) do { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
    fputc('\n', stderr); failures++; } while (0)

static char *b64(const char *s)
{
    return cmn_base64_encode(s, strlen(s));
}

/* Builds a code message; fields given as raw JSON fragments. */
static int parse_code(const char *extra, etl_msg *m, char *err, size_t errlen)
{
    char *code = b64("def transform(b):\n    return b\n");
    char body[4096];
    /* cJSON finds the first of duplicate keys: the extras come first */
    snprintf(body, sizeof body, "{\"id\":\"etl-echo1\"%s,\"code\":\"%s\",\"runtime\":\"python3.11v2\","
             "\"funcs\":{\"transform\":\"transform\"}}", extra, code);
    free(code);
    return etl_msg_parse(body, strlen(body), m, err, errlen);
}

static void want_err(const char *extra, const char *field)
{
    etl_msg m;
    char err[ETL_ERRLEN] = "";
    if (parse_code(extra, &m, err, sizeof err) == 0) {
        FAILF("accepted %s", extra);
        etl_msg_free(&m);
    } else if (!strstr(err, field)) {
        FAILF("error for %s does not name %s: %s", extra, field, err);
    }
}

static void want_raw_err(const char *body, const char *field)
{
    etl_msg m;
    char err[ETL_ERRLEN] = "";
    if (etl_msg_parse(body, strlen(body), &m, err, sizeof err) == 0) {
        FAILF("accepted %s", body);
        etl_msg_free(&m);
    } else if (!strstr(err, field)) {
        FAILF("error for %s does not name %s: %s", body, field, err);
    }
}

static void defaults(void)
{
    etl_msg m;
    char err[ETL_ERRLEN];
    if (parse_code("", &m, err, sizeof err) != 0) {
        FAILF("minimal code message refused: %s", err);
        return;
    }
    if (m.kind != ETL_INIT_CODE || strcmp(m.comm, "hpush://") || strcmp(m.arg, "") ||
        m.timeout_ns != ETL_DEFAULT_TIMEOUT_NS || m.timeout_set || strcmp(m.func, "transform") || m.chunk_size)
        FAILF("defaults not applied");
    cJSON *j = etl_msg_to_json(&m);
    const char *keys[] = {"id", "communication", "argument", "timeout", "code", "dependencies", "runtime", "Funcs",
                          "chunk_size", "flags"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!cJSON_GetObjectItemCaseSensitive(j, keys[i]))
            FAILF("show lacks %s", keys[i]);
    const cJSON *t = cJSON_GetObjectItem(j, "timeout");
    if (!cJSON_IsString(t) || strcmp(t->valuestring, "45s"))
        FAILF("timeout not 45s");
    cJSON_Delete(j);
    etl_msg_free(&m);
}

static void sdk_form(void)
{
    /* What the Python SDK sends, keys in its case. */
    char *code = b64("import pickle\n"), *deps = b64("cloudpickle==2.2.0");
    char body[2048];
    snprintf(body, sizeof body,
             "{\"id\":\"etl-abcde\",\"runtime\":\"python3.11v2\",\"communication\":\"hpull://\",\"timeout\":\"5m\","
             "\"funcs\":{\"transform\":\"transform\"},\"code\":\"%s\",\"dependencies\":\"%s\",\"argument\":\"url\","
             "\"chunk_size\":32768}", code, deps);
    free(code);
    free(deps);
    etl_msg m;
    char err[ETL_ERRLEN];
    if (etl_msg_parse(body, strlen(body), &m, err, sizeof err) != 0) {
        FAILF("SDK message refused: %s", err);
        return;
    }
    if (strcmp(m.comm, "hpull://") || strcmp(m.arg, "url") || m.timeout_ns != 300 * ETL_SEC_NS || !m.timeout_set ||
        m.chunk_size != 32768 || m.deps_len != strlen("cloudpickle==2.2.0"))
        FAILF("SDK message misread");
    etl_msg_free(&m);
}

static void spec_msg(void)
{
    const char *pod = "kind: Pod\nmetadata:\n  annotations:\n    communication_type: io://\n    wait_timeout: 7s\n"
                      "spec:\n  containers:\n  - image: aistorage/transformer_md5\n    ports:\n"
                      "    - name: default\n      containerPort: 80\n    readinessProbe:\n      httpGet:\n"
                      "        path: /health\n        port: default\n";
    char *spec = b64(pod), body[2048];
    snprintf(body, sizeof body, "{\"ID\":\"spec-etl1\",\"spec\":\"%s\"}", spec);
    etl_msg m;
    char err[ETL_ERRLEN];
    if (etl_msg_parse(body, strlen(body), &m, err, sizeof err) != 0) {
        FAILF("spec message refused: %s", err);
    } else {
        if (m.kind != ETL_INIT_SPEC || strcmp(m.name, "spec-etl1") || strcmp(m.comm, "io://") ||
            m.timeout_ns != 7 * ETL_SEC_NS)
            FAILF("annotations not applied when the message leaves them out");
        etl_msg_free(&m);
    }
    snprintf(body, sizeof body, "{\"id\":\"spec-etl1\",\"communication\":\"hpush://\",\"spec\":\"%s\"}", spec);
    if (etl_msg_parse(body, strlen(body), &m, err, sizeof err) != 0) {
        FAILF("spec message refused: %s", err);
    } else {
        if (strcmp(m.comm, "hpush://"))
            FAILF("the message's communication must win over the annotation");
        etl_msg_free(&m);
    }
    free(spec);
    want_raw_err("{\"id\":\"spec-etl1\",\"spec\":\"a2luZDogUG9k\"}", "spec"); /* "kind: Pod" */
    want_raw_err("{\"id\":\"spec-etl1\",\"spec\":\"!!notbase64\"}", "spec");
}

/* The SDK's direct_file_access travels as env ETL_DIRECT_FQN (its truth set). */
static void direct_fqn(void)
{
    static const struct {
        const char *comm, *val;
        bool want;
    } cases[] = {{"hpush", "true", true}, {"hpull", "T", true}, {"hpush", "1", true}, {"hpush", "false", false},
                 {"hpush", "", false}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"name\":\"etl-class1\",\"communication\":\"%s\",\"runtime\":{\"image\":"
                 "\"aistorage/runtime_python:3.11\",\"env\":[{\"name\":\"ETL_DIRECT_FQN\",\"value\":\"%s\"}]}}",
                 cases[i].comm, cases[i].val);
        etl_msg m;
        char err[ETL_ERRLEN];
        if (etl_msg_parse(body, strlen(body), &m, err, sizeof err) != 0) {
            FAILF("refused %s: %s", body, err);
            continue;
        }
        if (m.direct_fqn != cases[i].want)
            FAILF("ETL_DIRECT_FQN=%s with %s: direct_fqn %d", cases[i].val, cases[i].comm, m.direct_fqn);
        etl_msg_free(&m);
    }
    want_raw_err("{\"name\":\"etl-class1\",\"communication\":\"hrev://\",\"runtime\":{\"image\":\"x/y\"},"
                 "\"env\":[{\"name\":\"ETL_DIRECT_FQN\",\"value\":\"yes\"}]}",
                 "ETL_DIRECT_FQN");
}

/* The check a cluster makes before it registers an ETL: the name, or why not. */
static void check_init(void)
{
    char *code = b64("def transform(b):\n    return b\n");
    char body[1024], name[64] = "";
    snprintf(body, sizeof body, "{\"id\":\"etl-check1\",\"code\":\"%s\",\"runtime\":\"python3.11v2\","
             "\"funcs\":{\"transform\":\"transform\"}}", code);
    free(code);
    cmn_err err;
    if (etl_api_check_init(body, strlen(body), name, sizeof name, &err) != 0 || strcmp(name, "etl-check1"))
        FAILF("check of a good message: name \"%s\"", name);
    const char *bad = "{\"name\":\"etl-check2\",\"runtime\":{}}";
    int rc = etl_api_check_init(bad, strlen(bad), name, sizeof name, &err);
    if (rc != -EINVAL || err.code != EINVAL || !strstr(err.msg, "runtime.image"))
        FAILF("check of a 5.0 message without an image: %d %s", rc, err.msg);
}

int main(void)
{
    check_init();
    defaults();
    direct_fqn();
    sdk_form();
    spec_msg();
    want_err(",\"runtime\":\"python2\"", "runtime");
    want_err(",\"funcs\":{}", "funcs");
    want_err(",\"funcs\":{\"transform\":\"\"}", "funcs");
    want_err(",\"communication\":\"grpc://\"", "communication");
    want_err(",\"argument\":\"path\"", "argument");
    want_err(",\"argument\":\"url\"", "hpull");            /* url needs hpull */
    want_err(",\"communication\":\"io://\",\"argument\":\"fqn\"", "argument");
    want_err(",\"chunk_size\":-1", "chunk_size");
    want_err(",\"chunk_size\":1048577", "chunk_size");
    want_err(",\"chunk_size\":1.5", "chunk_size");
    want_err(",\"chunk_size\":1e300", "chunk_size");
    want_err(",\"timeout\":-1e300", "timeout");
    want_err(",\"timeout\":\"soon\"", "timeout");
    want_raw_err("{\"id\":\"etl-x1234\",\"code\":\"\",\"runtime\":\"python3.11v2\",\"funcs\":{\"transform\":\"t\"}}",
                 "code");
    want_raw_err("{\"id\":\"ab\",\"code\":\"YQ==\",\"runtime\":\"python3.11v2\",\"funcs\":{\"transform\":\"t\"}}",
                 "too short");
    want_raw_err("{\"id\":\"etl-x1234\"}", "code");
    /* neither base64 nor text: it would read back as another code (found by fuzz_etl_msg) */
    want_err(",\"code\":\"def transform(b): return b # \xf1\"", "code");
    want_err(",\"dependencies\":\"numpy\xff\"", "dependencies");
    want_raw_err("not json", "JSON");
    want_raw_err("[]", "object");
    /* accepted variations */
    etl_msg m;
    char err[ETL_ERRLEN];
    if (parse_code(",\"communication\":\"hpull\",\"argument\":\"fqn\",\"chunk_size\":1048576", &m, err,
                   sizeof err) != 0) {
        FAILF("refused: %s", err);
    } else {
        if (strcmp(m.comm, "hpull://"))
            FAILF("communication not normalised: %s", m.comm);
        etl_msg_free(&m);
    }
    /* the seed's form: plain-text code, runtime "python3", no funcs */
    const char *seed = "{\"id\":\"etl-seed1\",\"code\":\"def transform(b):\\n    return b\\n\","
                       "\"dependencies\":\"@@@\",\"runtime\":\"python3\"}";
    if (etl_msg_parse(seed, strlen(seed), &m, err, sizeof err) != 0) {
        FAILF("seed form refused: %s", err);
    } else {
        if (strcmp(m.runtime, "python3.11v2") || strcmp(m.func, "transform") ||
            strncmp((const char *)m.code, "def transform", 13) || strcmp((const char *)m.deps, "@@@"))
            FAILF("seed form misread: runtime %s func %s", m.runtime, m.func);
        etl_msg_free(&m);
    }
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures != 0;
}

/* The ETL registry with real local processes: init code (the python runner)
 * and init spec (images.conf -> the md5 transformer), transforms through
 * hpush, errors that name the ETL and the object, stop/start/delete, a
 * restart that brings definitions back stopped, and no process left after
 * etl_registry_free. Needs /usr/bin/python3 and the tree's etl/ folder. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include "etl/etl_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

#define FAILF(...) do { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
    fputc('\n', stderr); failures++; } while (0)

static char install[4096], state[64] = "/tmp/etl-registry-XXXXXX", obj_path[256];

typedef struct sinkbuf {
    cmn_buf b;
    int began;
} sinkbuf;

static int s_begin(void *ctx, const char *ct, int64_t len)
{
    ((sinkbuf *)ctx)->began++;
    return 0;
}

static int s_write(void *ctx, const void *buf, size_t len)
{
    cmn_buf_append(&((sinkbuf *)ctx)->b, buf, len);
    return 0;
}

static char *b64(const char *s)
{
    return cmn_base64_encode(s, strlen(s));
}

static int init_code(etl_registry *r, const char *name, const char *code, const char *extra, etl_reply *out)
{
    char *c = b64(code), *d = b64("cloudpickle==2.2.0\n"), *body = NULL;
    if (asprintf(&body, "{\"id\":\"%s\",\"runtime\":\"python3.11v2\",\"funcs\":{\"transform\":\"transform\"},"
                        "\"code\":\"%s\",\"dependencies\":\"%s\"%s}", name, c, d, extra) < 0)
        abort();
    etl_reply_init(out);
    etl_api_init(r, body, strlen(body), out);
    free(c), free(d), free(body);
    return cmn_err_http_status(out->err);
}

/* Runs obj through name; returns 0 or -errno and fills out/msg. */
static int run(etl_registry *r, const char *name, sinkbuf *sb, char *msg, size_t msglen)
{
    cmn_err ge = {0};
    etl_chain *h = etl_get(r, &(etl_request){.name = name}, &ge);
    if (!h)
        return -ge.code;
    etl_object o = {.bucket = "bck", .name = "dir/obj 1.txt", .fqn = obj_path, .size = 11};
    etl_sink s = {.ctx = sb, .begin = s_begin, .write = s_write};
    cmn_buf_init(&sb->b);
    sb->began = 0;
    cmn_err e = {0};
    int rc = etl_transform(h, &o, &s, 0, &e);
    snprintf(msg, msglen, "%s", e.msg);
    etl_put(h);
    return rc;
}

static const char md5_hello[] = "5eb63bbbe01eeed093cb22bb8f5acdc3";

static void expect_md5(etl_registry *r, const char *name)
{
    sinkbuf sb;
    char msg[1024] = "";
    int rc = run(r, name, &sb, msg, sizeof msg);
    if (rc != 0 || !sb.b.data || strcmp(sb.b.data, md5_hello) != 0 || sb.began != 1)
        FAILF("%s: rc %d msg %s out %s", name, rc, msg, sb.b.data ? sb.b.data : "(none)");
    cmn_buf_free(&sb.b);
}

/* out answers status, with has (when given) in its body; freed. */
static void reply_is(const char *what, etl_reply *out, int status, const char *has)
{
    const char *body = out->body.data ? out->body.data : "";
    if (cmn_err_http_status(out->err) != status || (has && !strstr(body, has)))
        FAILF("%s: %d %s", what, cmn_err_http_status(out->err), body);
    etl_reply_free(out);
}

/* fn(r, name) answers as reply_is expects. */
static void api_is(const char *what, void (*fn)(etl_registry *, const char *, etl_reply *), etl_registry *r,
                   const char *name, int status, const char *has)
{
    etl_reply out;
    etl_reply_init(&out);
    fn(r, name, &out);
    reply_is(what, &out, status, has);
}

static void *hammer(void *arg)
{
    for (int i = 0; i < 20; i++)
        expect_md5(arg, "etl-md5-code");
    return NULL;
}

/* The target transforms from many threads at once through one handle pool. */
static void parallel(etl_registry *r)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, r);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

static void code_etls(etl_registry *r)
{
    etl_reply out;
    const char *md5 = "import hashlib\ndef transform(b):\n    return hashlib.md5(b).hexdigest().encode()\n";
    int64_t t0 = cmn_mono_ns();
    if (init_code(r, "etl-md5-code", md5, "", &out) != 200 || strncmp(out.body.data, "etl-", 4) != 0)
        FAILF("init code: %d %s", cmn_err_http_status(out.err), out.body.data);
    etl_reply_free(&out);
    if (cmn_mono_ns() - t0 > 20 * ETL_SEC_NS)
        FAILF("init code with satisfied deps took too long");
    expect_md5(r, "etl-md5-code");
    parallel(r);

    etl_reply_init(&out);
    etl_api_show(r, "etl-md5-code", &out);
    if (cmn_err_http_status(out.err) != 200 || !strstr(out.body.data, "\"status\":\"running\"") ||
        !strstr(out.body.data, "\"interpreter\":\"/usr/bin/python3.11\"") || !strstr(out.body.data, "pip was not run"))
        FAILF("show: %d %s", cmn_err_http_status(out.err), out.body.data);
    etl_reply_free(&out);

    if (init_code(r, "etl-md5-code", md5, "", &out) != 400 || !strstr(out.body.data, "etl[etl-md5-code] already exists"))
        FAILF("duplicate: %d %s", cmn_err_http_status(out.err), out.body.data);
    etl_reply_free(&out);

    /* a transform that raises: 502 naming the ETL and the object */
    if (init_code(r, "etl-crash", "def transform(b):\n    raise ValueError('boom')\n", "", &out) != 200)
        FAILF("init crash: %d %s", cmn_err_http_status(out.err), out.body.data);
    etl_reply_free(&out);
    sinkbuf sb;
    char msg[1024] = "";
    int rc = run(r, "etl-crash", &sb, msg, sizeof msg);
    if (rc != -EPROTO || !strstr(msg, "etl[etl-crash]") || !strstr(msg, "ais://bck/dir/obj 1.txt") || sb.began)
        FAILF("crash: %d %s", rc, msg);
    cmn_buf_free(&sb.b);

    /* a transform that hangs: 504 at the ETL's timeout */
    if (init_code(r, "etl-hang", "import time\ndef transform(b):\n    time.sleep(30)\n    return b\n",
                  ",\"timeout\":\"2s\"", &out) != 200)
        FAILF("init hang: %d %s", cmn_err_http_status(out.err), out.body.data);
    etl_reply_free(&out);
    t0 = cmn_mono_ns();
    rc = run(r, "etl-hang", &sb, msg, sizeof msg);
    if (rc != -ETIMEDOUT || cmn_mono_ns() - t0 > 5 * ETL_SEC_NS || !strstr(msg, "etl[etl-hang]"))
        FAILF("hang: %d %s", rc, msg);
    cmn_buf_free(&sb.b);

    /* code that does not even import: 4xx with the log tail, nothing kept */
    if (init_code(r, "etl-syntax", "def transform(b)\n    return b\n", "", &out) / 100 != 4 ||
        !strstr(out.body.data, "SyntaxError"))
        FAILF("syntax error: %d %s", cmn_err_http_status(out.err), out.body.data);
    etl_reply_free(&out);
    api_is("failed init kept", etl_api_show, r, "etl-syntax", 404, "etl job etl-syntax does not exist");

    /* unsatisfiable dependency: pip cannot reach an index here -> 400 */
    char *body = NULL, *c = b64(md5), *d = b64("surely-not-a-package-xyz==9.9\n");
    if (asprintf(&body, "{\"id\":\"etl-deps\",\"runtime\":\"python3.11v2\",\"funcs\":{\"transform\":\"transform\"},"
                        "\"code\":\"%s\",\"dependencies\":\"%s\",\"timeout\":\"20s\"}", c, d) < 0)
        abort();
    etl_reply_init(&out);
    etl_api_init(r, body, strlen(body), &out);
    reply_is("missing deps", &out, 400, "surely-not-a-package-xyz");
    free(body), free(c), free(d);
}

static void spec_etl(etl_registry *r)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/transformers/md5/pod.yaml", install);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "skip init spec: %s missing\n", path);
        return;
    }
    char yaml[8192];
    size_t n = fread(yaml, 1, sizeof yaml - 1, f);
    fclose(f);
    yaml[n] = '\0';
    char *spec = b64(yaml), *body = NULL;
    if (asprintf(&body, "{\"id\":\"etl-md5-spec\",\"communication\":\"hpush://\",\"spec\":\"%s\"}", spec) < 0)
        abort();
    etl_reply out;
    etl_reply_init(&out);
    etl_api_init(r, body, strlen(body), &out);
    reply_is("init spec", &out, 200, NULL);
    free(body), free(spec);
    expect_md5(r, "etl-md5-spec");

    /* an image with no local equivalent */
    const char *pod = "kind: Pod\nspec:\n  containers:\n  - image: example/unknown:1\n    ports: [{name: default, "
                      "containerPort: 80}]\n    readinessProbe: {httpGet: {path: /h, port: default}}\n";
    spec = b64(pod);
    if (asprintf(&body, "{\"id\":\"etl-unknown\",\"spec\":\"%s\"}", spec) < 0)
        abort();
    etl_reply_init(&out);
    etl_api_init(r, body, strlen(body), &out);
    reply_is("unknown image", &out, 400, "example/unknown:1");
    free(body), free(spec);
}

static void lifecycle(etl_registry *r)
{
    etl_reply out;
    etl_reply_init(&out);
    etl_api_list(r, false, &out);
    if (cmn_err_http_status(out.err) != 200 || !strstr(out.body.data, "\"id\":\"etl-md5-code\"") || !strstr(out.body.data, "\"obj_count\":81"))
        FAILF("list: %s", out.body.data);
    etl_reply_free(&out);

    pid_t before = etl_registry_pid(r, "etl-md5-code");
    api_is("stop", etl_api_stop, r, "etl-md5-code", 200, NULL);
    if (before <= 0 || !(kill(-before, 0) != 0 && errno == ESRCH))
        FAILF("stop left the process group %d", (int)before);
    api_is("stop twice", etl_api_stop, r, "etl-md5-code", 400, NULL);
    cmn_err ge = {0};
    if (etl_get(r, &(etl_request){.name = "etl-md5-code"}, &ge) || ge.code != ENOENT)
        FAILF("stopped ETL still handed out");
    etl_reply_init(&out);
    etl_api_start(r, "etl-md5-code", &out);
    if (cmn_err_http_status(out.err) != 200 || strncmp(out.body.data, "etl-", 4))
        FAILF("start: %d %s", cmn_err_http_status(out.err), out.body.data);
    etl_reply_free(&out);
    expect_md5(r, "etl-md5-code");

    api_is("logs", etl_api_logs, r, "etl-md5-code", 200, "\"target_id\":\"t1etlfs\"");
    api_is("health", etl_api_health, r, "etl-md5-code", 200, "Running");
    api_is("metrics", etl_api_metrics, r, "etl-md5-code", 200, "\"mem\"");

    pid_t crash = etl_registry_pid(r, "etl-crash");
    api_is("delete", etl_api_delete, r, "etl-crash", 200, NULL);
    if (crash <= 0 || !(kill(-crash, 0) != 0 && errno == ESRCH))
        FAILF("delete left the process group %d", (int)crash);
    api_is("delete twice", etl_api_delete, r, "etl-crash", 404, "etl job etl-crash does not exist");
}

/* A process that dies on its own is noticed and reported. */
static void died(etl_registry *r)
{
    pid_t pid = etl_registry_pid(r, "etl-hang");
    if (pid <= 0)
        return;
    kill(-pid, SIGKILL);
    for (int i = 0; i < 50 && etl_registry_pid(r, "etl-hang"); i++)
        usleep(50000);
    etl_reply out;
    etl_reply_init(&out);
    etl_api_show(r, "etl-hang", &out);
    if (!strstr(out.body.data, "\"status\":\"error\"") || !strstr(out.body.data, "signal 9"))
        FAILF("death not noticed: %s", out.body.data);
    etl_reply_free(&out);
}

int main(void)
{
    char src[4096];
    snprintf(src, sizeof src, "%s", __FILE__);
    char *p = strstr(src, "tests/unit/");
    if (p)
        strcpy(p, "etl");
    if (!p || !realpath(p == src ? "etl" : src, install) || access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "skip: no source tree or python\n");
        return 0;
    }
    if (!mkdtemp(state))
        return 1;
    snprintf(obj_path, sizeof obj_path, "%s/object", state);
    FILE *f = fopen(obj_path, "w");
    fputs("hello world", f);
    fclose(f);

    etl_config cfg = {.node_id = "t1etlfs", .target_url = "http://127.0.0.1:1", .state_dir = state, .install_dir = install};
    etl_registry *r = etl_registry_new(&cfg);
    if (!r)
        return 1;
    code_etls(r);
    spec_etl(r);
    lifecycle(r);
    died(r);
    pid_t pids[] = {etl_registry_pid(r, "etl-md5-code"), etl_registry_pid(r, "etl-md5-spec")};
    etl_registry_free(r);
    for (size_t i = 0; i < sizeof pids / sizeof *pids; i++)
        if (pids[i] > 0 && !(kill(-pids[i], 0) != 0 && errno == ESRCH))
            FAILF("process group %d survived etl_registry_free", (int)pids[i]);

    /* after a restart the definitions come back stopped */
    r = etl_registry_new(&cfg);
    api_is("after restart", etl_api_show, r, "etl-md5-code", 200, "\"status\":\"stopped\"");
    etl_reply out;
    etl_reply_init(&out);
    etl_api_list(r, false, &out);
    if (strcmp(out.body.data, "[]"))
        FAILF("list after restart: %s", out.body.data);
    etl_reply_free(&out);
    etl_registry_free(r);
    etl_rm_tree(state);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures != 0;
}

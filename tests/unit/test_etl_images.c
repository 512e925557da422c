/* images.conf: an image becomes a command line; {venv:REQ} asks the caller
 * for a venv's python and carries its failure (code and words) through. */
#include "etl/etl_int.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char conf_text[] =
    "# test table\n"
    "aistorage/runtime_python  {venv:aistore[etl]==1.25.0} {install}/runtimes/python_class/bootstrap.py --port {port}\n"
    "aistorage/transformer_md5 {python} {install}/transformers/md5/server.py\n"
    "example/broken            {nosuch}\n";

typedef struct asked {
    char req[128];
    int calls;
    int fail; /* 0, or the -errno to answer */
} asked;

static int venv(void *ctx, const char *req, char **python, char *err, size_t errlen)
{
    asked *a = ctx;
    a->calls++;
    snprintf(a->req, sizeof a->req, "%s", req);
    if (a->fail) {
        snprintf(err, errlen, "pip install %s: No matching distribution", req);
        return a->fail;
    }
    *python = cmn_xstrdup("/state/_runtimes/x/venv/bin/python");
    return 0;
}

static int argv_for(const char *conf, const char *image, etl_image_vars *vars, char ***argv, char *err,
                    size_t errlen)
{
    etl_pod pod = {.image = (char *)image};
    return etl_image_argv(conf, &pod, vars, argv, err, errlen);
}

int main(void)
{
    char conf[] = "/tmp/etlfs-images-XXXXXX";
    int fd = mkstemp(conf);
    CHECK(fd >= 0 && cmn_write_all(fd, conf_text, sizeof conf_text - 1) == 0, "cannot write %s", conf);
    close(fd);
    asked a = {0};
    etl_image_vars vars = {.install = "/inst", .bindir = "/bin", .python = "/usr/bin/python3", .port = 4242,
                           .venv = venv, .venv_ctx = &a};
    char **argv = NULL, err[ETL_ERRLEN] = "";

    /* any tag of runtime_python: the venv's python runs our bootstrap */
    int rc = argv_for(conf, "aistorage/runtime_python:3.11", &vars, &argv, err, sizeof err);
    CHECK(rc == 0, "runtime_python refused: %s", err);
    if (rc == 0) {
        CHECK(strcmp(argv[0], "/state/_runtimes/x/venv/bin/python") == 0, "argv[0] %s", argv[0]);
        CHECK(strcmp(argv[1], "/inst/runtimes/python_class/bootstrap.py") == 0, "argv[1] %s", argv[1]);
        CHECK(strcmp(argv[3], "4242") == 0 && argv[4] == NULL, "port %s", argv[3]);
        etl_strv_free(argv);
    }
    CHECK(a.calls == 1 && strcmp(a.req, "aistore[etl]==1.25.0") == 0, "venv asked %d times for %s", a.calls, a.req);

    /* no venv asked for images that do not say {venv:} */
    a.calls = 0;
    rc = argv_for(conf, "docker.io/aistorage/transformer_md5:latest", &vars, &argv, err, sizeof err);
    CHECK(rc == 0 && a.calls == 0 && strcmp(argv[0], "/usr/bin/python3") == 0, "md5: %d %s", rc, err);
    if (rc == 0)
        etl_strv_free(argv);

    /* the venv's failure, code and words, is the image's */
    a.fail = -ETIMEDOUT;
    rc = argv_for(conf, "aistorage/runtime_python:3.12", &vars, &argv, err, sizeof err);
    CHECK(rc == -ETIMEDOUT && strstr(err, "No matching distribution"), "venv failure: %d %s", rc, err);
    a.fail = -EINVAL;
    rc = argv_for(conf, "aistorage/runtime_python", &vars, &argv, err, sizeof err);
    CHECK(rc == -EINVAL, "venv failure: %d %s", rc, err);

    /* a caller without venvs refuses the line, as does an unknown placeholder */
    vars.venv = NULL;
    rc = argv_for(conf, "aistorage/runtime_python:3.11", &vars, &argv, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "venv:aistore[etl]==1.25.0"), "no venv callback: %d %s", rc, err);
    rc = argv_for(conf, "example/broken", &vars, &argv, err, sizeof err);
    CHECK(rc == -EIO && strstr(err, ":4: unknown placeholder"), "unknown placeholder: %d %s", rc, err);
    rc = argv_for(conf, "example/unknown:1", &vars, &argv, err, sizeof err);
    CHECK(rc == -ENOENT && strstr(err, "example/unknown:1"), "unknown image: %d %s", rc, err);
    unlink(conf);
    return CHECK_RESULT();
}

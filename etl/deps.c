/*
 * deps.c - an init-code ETL's requirements. Each ETL with requirements gets a
 * venv (STATE/NAME/venv, with the system's site-packages and without its own
 * pip: creating it takes a fraction of a second). A requirement the system
 * already satisfies counts as installed, so the SDK's "cloudpickle==2.2.0"
 * needs no package index; only the rest goes to pip, bounded in time, and a
 * pip failure is the init's failure with pip's own message.
 */
#include "etl/etl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define VENV_TIMEOUT_NS (60 * ETL_SEC_NS)
#define PIP_TIMEOUT_NS (120 * ETL_SEC_NS)

/* Prints the requirements the environment does not satisfy, exits 1 if any. */
static const char check_py[] =
    "import sys\n"
    "from importlib import metadata\n"
    "try:\n"
    "    from packaging.requirements import Requirement\n"
    "except ImportError:\n"
    "    from pip._vendor.packaging.requirements import Requirement\n"
    "missing = []\n"
    "for line in open(sys.argv[1]):\n"
    "    line = line.split('#', 1)[0].strip()\n"
    "    if not line:\n"
    "        continue\n"
    "    if line.startswith('-'):\n"
    "        missing.append(line)\n"
    "        continue\n"
    "    try:\n"
    "        r = Requirement(line)\n"
    "        if r.marker is not None and not r.marker.evaluate():\n"
    "            continue\n"
    "        v = metadata.version(r.name)\n"
    "        if r.specifier and not r.specifier.contains(v, prereleases=True):\n"
    "            missing.append('%s (system has %s)' % (line, v))\n"
    "    except metadata.PackageNotFoundError:\n"
    "        missing.append(line)\n"
    "    except Exception as e:\n"
    "        missing.append('%s (%s)' % (line, e))\n"
    "import os\n"
    "if os.path.lexists(sys.argv[2]):\n"
    "    os.unlink(sys.argv[2])  # a link left in the work folder is not followed\n"
    "with open(sys.argv[2], 'w') as f:\n"
    "    f.write(', '.join(missing))\n"
    "sys.exit(1 if missing else 0)\n";

static bool has_requirements(const unsigned char *deps, size_t len)
{
    bool line_start = true, in_comment = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = deps[i];
        if (c == '\n') {
            line_start = true, in_comment = false;
        } else if (c == '#' && line_start) {
            in_comment = true;
        } else if (c != ' ' && c != '\t' && c != '\r' && !in_comment) {
            return true;
        }
    }
    return false;
}

/* root's file in root's folder (the ETL user reads it), never through a link */
static int write_file(const char *path, const void *data, size_t len)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -EIO;
    int rc = cmn_write_all(fd, data, len);
    close(fd);
    return rc;
}

typedef struct deps_run {
    const etl_user *user;
    const etl_sandbox *sb;
    const char *name;
    const char *dir;
    const char *runtime;
} deps_run;

static int run(const deps_run *d, const char *work, const char *log, char *const *argv, int64_t timeout_ns,
               char *err, size_t errlen)
{
    char home[4096 + 8], tmp[4096 + 8];
    snprintf(home, sizeof home, "HOME=%s", work);
    /* pip's download and unpack folders inside WORK, which is removed with
     * the ETL or the failed venv: a pip killed at its deadline leaves
     * nothing in the host's /tmp */
    snprintf(tmp, sizeof tmp, "TMPDIR=%s", work);
    /* a clean environment, plus the operator's package index and proxy (a
     * private index, a node without internet) */
    static const char *const pass[] = {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_CERT",
                                       "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                                       "no_proxy"};
    char *envp[7 + sizeof pass / sizeof pass[0]] = {"PATH=/usr/local/bin:/usr/bin:/bin", home, tmp, "LANG=C.UTF-8",
                                                    "PIP_NO_INPUT=1", "PIP_DISABLE_PIP_VERSION_CHECK=1"};
    size_t n = 6, first = n;
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        const char *v = getenv(pass[i]);
        if (v)
            envp[n++] = cmn_xasprintf("%s=%s", pass[i], v);
    }
    envp[n] = NULL;
    /* confined like the ETL, but pip may fetch from its index */
    etl_jail jail = {.name = d->name, .work = work, .dir = d->dir, .runtime = d->runtime, .any_net = true};
    etl_spawn s = {.argv = argv, .envp = envp, .cwd = work, .log_path = log, .user = d->user, .sb = d->sb,
                   .jail = &jail};
    int status = 0;
    int rc = etl_proc_run(&s, timeout_ns, &status, err, errlen);
    for (size_t i = first; i < n; i++)
        free(envp[i]);
    if (rc != 0)
        return -EIO;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    etl_proc_describe(status, err, errlen);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -EIO;
}

static int64_t bound(int64_t deadline, int64_t cap)
{
    int64_t left = deadline - cmn_mono_ns();
    if (left < ETL_SEC_NS)
        left = ETL_SEC_NS;
    return left < cap ? left : cap;
}

int etl_deps_prepare(const char *etl_dir, const char *work, const char *base_python, const unsigned char *deps, size_t deps_len,
                     const etl_user *user, const etl_sandbox *sb, const char *name, int64_t timeout_ns, char **python_out, cmn_buf *warnings, char *err,
                     size_t errlen)
{
    *python_out = NULL;
    if (!deps || !has_requirements(deps, deps_len)) {
        *python_out = cmn_xstrdup(base_python);
        return 0;
    }
    int64_t deadline = cmn_mono_ns() + timeout_ns;
    deps_run d = {.user = user, .sb = sb, .name = name, .dir = etl_dir};
    char req[4096], chk[4096], venv[4096], vpy[4096], log[4096], missing_path[4096];
    snprintf(req, sizeof req, "%s/requirements.txt", etl_dir);
    snprintf(chk, sizeof chk, "%s/check_deps.py", etl_dir);
    snprintf(venv, sizeof venv, "%s/venv", work);
    snprintf(vpy, sizeof vpy, "%s/venv/bin/python", work);
    snprintf(log, sizeof log, "%s/deps.log", etl_dir);
    snprintf(missing_path, sizeof missing_path, "%s/deps.missing", work);
    if (write_file(req, deps, deps_len) || write_file(chk, check_py, sizeof check_py - 1)) {
        snprintf(err, errlen, "cannot write %s", req);
        return -EIO;
    }
    unlink(log);
    char why[1024];
    if (access(vpy, X_OK) != 0) {
        char *argv[] = {(char *)base_python, "-m", "venv", "--system-site-packages", "--without-pip", venv, NULL};
        if (run(&d, work, log, argv, bound(deadline, VENV_TIMEOUT_NS), why, sizeof why) != 0) {
            char *tail = etl_file_tail(log, 1000);
            snprintf(err, errlen, "dependencies: cannot create the venv %s: %s: %s", venv, why, tail);
            free(tail);
            return -EIO;
        }
    }
    char *check_argv[] = {vpy, chk, req, missing_path, NULL};
    int rc = run(&d, work, log, check_argv, bound(deadline, VENV_TIMEOUT_NS), why, sizeof why);
    if (rc == 0) {
        cmn_buf_puts(warnings, "all requirements are satisfied by system packages; pip was not run");
        *python_out = cmn_xstrdup(vpy);
        return 0;
    }
    char *missing = etl_file_tail(missing_path, 1000);
    if (rc != 1 || !*missing) {
        char *tail = etl_file_tail(log, 1000);
        snprintf(err, errlen, "dependencies: cannot check the requirements: %s: %s", why, tail);
        free(tail);
        free(missing);
        return -EIO;
    }
    char *pip_argv[] = {vpy, "-m", "pip", "install", "--timeout", "5", "--retries", "0", "-r", req, NULL};
    if (run(&d, work, log, pip_argv, bound(deadline, PIP_TIMEOUT_NS), why, sizeof why) != 0) {
        char *tail = etl_file_tail(log, 1200);
        snprintf(err, errlen, "dependencies: not satisfied by system packages: %s; pip install failed (%s): %s",
                 missing, why, tail);
        free(tail);
        free(missing);
        return -EIO;
    }
    free(missing);
    *python_out = cmn_xstrdup(vpy);
    return 0;
}

int etl_deps_run(const etl_user *user, const etl_sandbox *sb, const char *name, const char *work,
                 const char *runtime, const char *log, char *const *argv, int64_t timeout_ns, char *err,
                 size_t errlen)
{
    deps_run d = {.user = user, .sb = sb, .name = name, .runtime = runtime};
    return run(&d, work, log, argv, timeout_ns, err, errlen);
}

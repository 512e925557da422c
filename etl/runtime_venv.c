/*
 * runtime_venv.c - the Python environment behind images.conf's {venv:REQ}:
 * AIStore's aistorage/runtime_python image, where the SDK's init_class and
 * ETL webserver classes run. That image ships aistore[etl]; here one venv per
 * (interpreter, REQ) holds it, shared by every such ETL and built by the
 * first init that needs it: in a temporary folder renamed when complete (a
 * venv run with "python -m ..." does not care where it was built), one
 * builder at a time (a lock file; a second init waits, within its own
 * deadline). The image's env conventions: PACKAGES (pip requirements,
 * comma-separated) go into a per-ETL venv layered on the shared one by a
 * .pth file; OS_PACKAGES are not installed here, only checked. pip runs in
 * the install step (etl_deps_run), never in the ETL's own process, and as
 * the ETL user: the shared venv is built in a folder of that user's, then
 * given to root before it is renamed into place, so no ETL can change what
 * the others run. Root writes nothing below a folder the ETL user owns.
 */
#include "etl/etl_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUNTIMES_DIR "_runtimes" /* under STATE; never an ETL name (those start with a letter) */
#define DPKG_STATUS "/var/lib/dpkg/status"
#define PIP_TAIL 1200

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* runtime_python:3.12 runs on /usr/bin/python3.12 when the host has it (a
 * class pickled by one Python version loads only in the same one). */
static void pick_base(const etl_pod *pod, char *out, size_t len, cmn_buf *warnings)
{
    const char *slash = strrchr(pod->image, '/');
    const char *tag = strrchr(slash ? slash : pod->image, ':');
    snprintf(out, len, "/usr/bin/python3");
    if (!tag || strncmp(tag + 1, "3.", 2) != 0 || strspn(tag + 3, "0123456789") != strlen(tag + 3) || !tag[3])
        return;
    char exact[64];
    snprintf(exact, sizeof exact, "/usr/bin/python%s", tag + 1);
    if (access(exact, X_OK) == 0)
        snprintf(out, len, "%s", exact);
    else
        cmn_buf_printf(warnings,
                       "image %s: %s is not installed; running /usr/bin/python3 instead (a class pickled by "
                       "another Python version does not load)\n",
                       pod->image, exact);
}

/* "python3.11-aistore_etl_==1.25.0": the interpreter and REQ, as a file name. */
static void key_of(const char *base, const char *req, char *out, size_t len)
{
    const char *b = strrchr(base, '/');
    snprintf(out, len, "%s-%s", b ? b + 1 : base, req);
    for (char *p = out; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.=+-", *p))
            *p = '_';
}

static int64_t left_ns(int64_t deadline)
{
    int64_t left = deadline - cmn_mono_ns();
    return left > 0 ? left : 0;
}

/* One init's installs: who runs them and until when. */
typedef struct venv_job {
    etl_registry *r;
    const char *name;   /* the ETL's, for its install steps' cgroup */
    int64_t deadline;   /* mono ns */
    int64_t timeout_ns; /* the init timeout it came from, for messages */
} venv_job;

/* "not done within the init timeout (2s)" */
static void late_msg(const venv_job *j, char *out, size_t len)
{
    char d[32];
    cmn_format_duration(j->timeout_ns, d, sizeof d);
    snprintf(out, len, "not done within the init timeout (%s)", d);
}

/* One install step; a failure names the step and ends with its output's
 * last lines (pip's reason). */
static int step(const venv_job *j, const char *work, const char *runtime, const char *log, char *const *argv,
                const char *what, char *err, size_t errlen)
{
    char why[512];
    int64_t left = left_ns(j->deadline);
    int rc = left ? etl_deps_run(&j->r->user, &j->r->sb, j->name, work, runtime, log, argv, left, why, sizeof why)
                  : -EIO;
    if (rc == 0)
        return 0;
    bool late = left_ns(j->deadline) == 0;
    if (late)
        late_msg(j, why, sizeof why);
    char *tail = etl_file_tail(log, PIP_TAIL);
    snprintf(err, errlen, "%s: %s; output: %s", what, why, *tail ? tail : "(none)");
    free(tail);
    return late ? -ETIMEDOUT : -EINVAL;
}

/* Waits for the lock file until the deadline: fd, or -ETIMEDOUT/-EIO. */
static int lock_wait(const char *path, int64_t deadline)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -EIO;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            close(fd);
            return -EIO;
        }
        if (!left_ns(deadline)) {
            close(fd);
            return -ETIMEDOUT;
        }
        sleep_ms(100);
    }
    return fd;
}

/* Removes KEY.tmp-* left by a builder that died (called under the lock). */
static void sweep(const char *dir, const char *key)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s.tmp-", key);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
            char *p = cmn_xasprintf("%s/%s", dir, de->d_name);
            etl_rm_tree(p);
            free(p);
        }
    }
    closedir(d);
}

static int to_root(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return lchown(path, 0, 0) == 0 ? 0 : -1; /* never through a link; a set-id bit does not survive it */
}

/* STATE/_runtimes/KEY/venv with req, built once. */
static int shared_venv(const venv_job *j, const char *base, const char *req, char *final, size_t flen, char *err,
                       size_t errlen)
{
    etl_registry *r = j->r;
    char dir[4096], key[512], lock[4600], log[4600], tmp[4600], vpy[4700];
    snprintf(dir, sizeof dir, "%s/" RUNTIMES_DIR, r->state_dir);
    key_of(base, req, key, sizeof key);
    snprintf(final, flen, "%s/%s", dir, key);
    snprintf(vpy, sizeof vpy, "%s/venv/bin/python", final);
    if (access(vpy, X_OK) == 0)
        return 0; /* only a complete venv is ever renamed there */
    if (cmn_mkdir_p(dir) != 0) {
        snprintf(err, errlen, "runtime %s: cannot create %s: %s", req, dir, strerror(errno));
        return -EIO;
    }
    snprintf(lock, sizeof lock, "%s/%s.lock", dir, key);
    int fd = lock_wait(lock, j->deadline);
    if (fd < 0) {
        char late[128];
        late_msg(j, late, sizeof late);
        snprintf(err, errlen, "runtime %s: %s%s", req,
                 fd == -ETIMEDOUT ? "another init is still creating its venv, " : "cannot lock its venv",
                 fd == -ETIMEDOUT ? late : "");
        return fd;
    }
    int rc = 0;
    if (access(vpy, X_OK) == 0) /* built while we waited */
        goto out;
    sweep(dir, key);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp-%d", dir, key, (int)getpid());
    snprintf(log, sizeof log, "%s/%s.log", dir, key);
    unlink(log);
    int tfd = mkdir(tmp, 0755) == 0 ? open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (tfd < 0 || (r->user.drop && fchown(tfd, r->user.uid, r->user.gid) != 0)) {
        snprintf(err, errlen, "runtime %s: cannot create %s: %s", req, tmp, strerror(errno));
        if (tfd >= 0)
            close(tfd);
        etl_rm_tree(tmp);
        rc = -EIO;
        goto out;
    }
    close(tfd);
    cmn_info("runtime %s: creating its venv %s (pip, once)", req, final);
    char venv[4700], py[4800], what[600];
    snprintf(venv, sizeof venv, "%s/venv", tmp);
    snprintf(py, sizeof py, "%s/bin/python", venv);
    char *mk[] = {(char *)base, "-m", "venv", venv, NULL};
    char *pip[] = {py, "-m", "pip", "install", "--no-cache-dir", "--progress-bar", "off",
                   "--timeout", "5", "--retries", "0", (char *)req, NULL};
    snprintf(what, sizeof what, "runtime %s: creating its venv with %s", req, base);
    rc = step(j, tmp, NULL, log, mk, what, err, errlen);
    snprintf(what, sizeof what, "runtime %s: pip install %s (log %s)", req, req, log);
    if (rc == 0)
        rc = step(j, tmp, NULL, log, pip, what, err, errlen);
    if (rc == 0 && r->user.drop && nftw(tmp, to_root, 16, FTW_PHYS) != 0) {
        snprintf(err, errlen, "runtime %s: cannot give %s to root: %s", req, tmp, strerror(errno));
        rc = -EIO;
    }
    if (rc == 0 && rename(tmp, final) != 0) {
        snprintf(err, errlen, "runtime %s: cannot rename %s to %s: %s", req, tmp, final, strerror(errno));
        rc = -EIO;
    }
    if (rc)
        etl_rm_tree(tmp);
    else
        cmn_info("runtime %s: venv %s ready", req, final);
out:
    close(fd); /* releases the lock */
    return rc;
}

static const char *env_of(const etl_pod *pod, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < pod->nenv; i++)
        if (strcmp(pod->env[i].key, key) == 0)
            v = pod->env[i].val;
    return v;
}

/* "a, b,,c" -> {"a", "b", "c"} (malloc'd, NULL-terminated). */
static char **split_list(const char *list, size_t *n)
{
    char **v = cmn_xcalloc(1, sizeof *v), *copy = cmn_xstrdup(list), *save = NULL;
    *n = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        t += strspn(t, " \t");
        size_t l = strlen(t);
        while (l && (t[l - 1] == ' ' || t[l - 1] == '\t'))
            t[--l] = '\0';
        if (!l)
            continue;
        v = cmn_xrealloc(v, (*n + 2) * sizeof *v);
        v[(*n)++] = cmn_xstrdup(t);
        v[*n] = NULL;
    }
    free(copy);
    return v;
}

/* Writes the .pth that shows the runtime's packages to the venv it runs in
 * (its own packages first); run as the ETL user, in its own venv. */
static const char pth_py[] =
    "import os, site, sys\n"
    "sp = site.getsitepackages()[0]\n"
    "shared = os.path.join(sys.argv[1], 'venv', 'lib', os.path.basename(os.path.dirname(sp)), 'site-packages')\n"
    "if not os.path.isdir(shared):\n"
    "    sys.exit('no site-packages at ' + shared)\n"
    "with open(os.path.join(sp, '_etlfs_runtime.pth'), 'w') as f:\n"
    "    f.write(shared + '\\n')\n";

/* PACKAGES into STATE/NAME/work/venv, which sees the shared venv through a .pth. */
static int layer_packages(const venv_job *j, etl_entry *e, const char *base, const char *shared, const char *list,
                          char **python_out, char *err, size_t errlen)
{
    size_t n;
    char **pkgs = split_list(list, &n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (pkgs[i][0] == '-') {
            snprintf(err, errlen, "invalid PACKAGES entry \"%.100s\": a requirement, not a pip option", pkgs[i]);
            rc = -EINVAL;
        }
    if (rc || n == 0) {
        etl_strv_free(pkgs);
        return rc;
    }
    char venv[4300], vpy[4400], log[4300];
    snprintf(venv, sizeof venv, "%s/venv", e->work);
    snprintf(vpy, sizeof vpy, "%s/bin/python", venv);
    snprintf(log, sizeof log, "%s/deps.log", e->dir); /* root's folder: opened by root */
    unlink(log);
    if (access(vpy, X_OK) != 0) {
        char *mk[] = {(char *)base, "-m", "venv", "--without-pip", venv, NULL};
        rc = step(j, e->work, NULL, log, mk, "PACKAGES: creating the ETL's venv", err, errlen);
    }
    if (rc == 0) {
        char *pth[] = {vpy, "-c", (char *)pth_py, (char *)shared, NULL};
        rc = step(j, e->work, shared, log, pth, "PACKAGES: linking the runtime's venv", err, errlen);
    }
    if (rc == 0) {
        const char *fixed[] = {vpy, "-m", "pip", "install", "--no-cache-dir", "--progress-bar", "off",
                               "--timeout", "5", "--retries", "0"};
        size_t nfixed = sizeof fixed / sizeof *fixed, k = 0;
        char **argv = cmn_xcalloc(nfixed + n + 1, sizeof *argv);
        for (size_t i = 0; i < nfixed; i++)
            argv[k++] = (char *)fixed[i];
        for (size_t i = 0; i < n; i++)
            argv[k++] = pkgs[i];
        char what[600];
        snprintf(what, sizeof what, "PACKAGES \"%.400s\": pip install", list);
        rc = step(j, e->work, shared, log, argv, what, err, errlen);
        free(argv);
    }
    etl_strv_free(pkgs);
    if (rc == 0)
        *python_out = cmn_xstrdup(vpy);
    return rc;
}

/* Is Debian package name installed? (dpkg's status file, read once per call) */
static bool dpkg_installed(const char *status, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = status; (p = strstr(p, "Package: ")); p++) {
        if (p != status && p[-1] != '\n')
            continue;
        const char *v = p + 9;
        if (strncmp(v, name, nl) != 0 || (v[nl] != '\n' && v[nl] != '\0'))
            continue;
        const char *end = strstr(v, "\n\n"), *st = strstr(v, "\nStatus: ");
        if (st && (!end || st < end) && strncmp(st + 9, "install ok installed", 20) == 0)
            return true;
    }
    return false;
}

/* OS_PACKAGES: never installed by us; those already on the host are fine. */
static int check_os_packages(const char *list, char *err, size_t errlen)
{
    size_t n;
    char **pkgs = split_list(list, &n);
    cmn_buf status, missing;
    cmn_buf_init(&status);
    cmn_buf_init(&missing);
    int fd = open(DPKG_STATUS, O_RDONLY | O_CLOEXEC);
    char buf[65536];
    ssize_t got;
    while (fd >= 0 && (got = read(fd, buf, sizeof buf)) > 0)
        cmn_buf_append(&status, buf, (size_t)got);
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < n; i++)
        if (!status.data || !dpkg_installed(status.data, pkgs[i]))
            cmn_buf_printf(&missing, "%s%s", missing.len ? ", " : "", pkgs[i]);
    int rc = 0;
    if (missing.len) {
        snprintf(err, errlen,
                 "OS_PACKAGES: this node does not install OS packages for an ETL, and %s %s not installed on "
                 "the host (install %s there, or leave %s out of os_packages)",
                 missing.data, strchr(missing.data, ',') ? "are" : "is", strchr(missing.data, ',') ? "them" : "it",
                 strchr(missing.data, ',') ? "them" : "it");
        rc = -EINVAL;
    }
    cmn_buf_free(&status);
    cmn_buf_free(&missing);
    etl_strv_free(pkgs);
    return rc;
}

int etl_runtime_venv(etl_registry *r, etl_entry *e, const char *req, int64_t deadline_ns, char **python_out,
                     char **runtime_out, cmn_buf *warnings, char *err, size_t errlen)
{
    const etl_pod *pod = &e->msg.pod;
    *python_out = *runtime_out = NULL;
    const char *os = env_of(pod, "OS_PACKAGES"), *pkgs = env_of(pod, "PACKAGES");
    if (os && *os) {
        int rc = check_os_packages(os, err, errlen);
        if (rc)
            return rc;
    }
    if (!*req || req[0] == '-') {
        snprintf(err, errlen, "images.conf: {venv:%s} names no requirement", req);
        return -EIO;
    }
    venv_job j = {r, e->msg.name, deadline_ns, e->msg.timeout_ns};
    char base[64], shared[4600];
    pick_base(pod, base, sizeof base, warnings);
    int rc = shared_venv(&j, base, req, shared, sizeof shared, err, errlen);
    if (rc)
        return rc;
    if (pkgs && *pkgs) {
        rc = layer_packages(&j, e, base, shared, pkgs, python_out, err, errlen);
        if (rc)
            return rc;
    }
    if (!*python_out)
        *python_out = cmn_xasprintf("%s/venv/bin/python", shared);
    *runtime_out = cmn_xstrdup(shared);
    return 0;
}

/*
 * cgroup.c - one control group per ETL process tree: its memory and process
 * limits hold for the whole tree (an rlimit holds per process, and
 * RLIMIT_NPROC per user, shared by every ETL), and stopping it kills every
 * process in it, a setsid grandchild included. cgroup v2 where the
 * controller is delegated to us, else the v1 hierarchy of that controller
 * (hybrid hosts), else nothing (etl_cgroups_probe says so, loudly). Groups go
 * under the target's own group, in a folder per target (etlfs-PID); a folder
 * left by a target that died is removed at the next start.
 */
#include "etl/etl_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KILL_ROUNDS 200 /* of 5 ms: a tree that forks while being killed */

static bool write_str(const char *dir, const char *file, const char *val)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
    close(fd);
    return ok;
}

static bool read_str(const char *path, char *out, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return n >= 0;
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ' || p[-1] == ',') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n' || p[n] == ','))
            return true;
    return false;
}

/* The mount point of a hierarchy: cgroup2 (ctrl NULL) or the v1 one that
 * carries ctrl. */
static bool find_mount(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/mounts", "r");
    if (!f)
        return false;
    char dev[256], dir[PATH_MAX], type[64], opts[1024];
    bool found = false;
    while (!found && fscanf(f, "%255s %4095s %63s %1023s %*d %*d", dev, dir, type, opts) == 4)
        found = ctrl ? !strcmp(type, "cgroup") && has_word(opts, ctrl) : !strcmp(type, "cgroup2");
    fclose(f);
    if (found)
        snprintf(out, len, "%s", dir);
    return found;
}

/* Our own group in that hierarchy, from /proc/self/cgroup. */
static bool own_path(const char *ctrl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return false;
    char line[PATH_MAX + 256];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        /* "0::/path" is cgroup2's line; "N:ctrl,ctrl:/path" a v1 hierarchy's */
        found = ctrl ? has_word(c1 + 1, ctrl) : c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;
        if (found) {
            c2[1 + strcspn(c2 + 1, "\n")] = '\0';
            snprintf(out, len, "%s", strcmp(c2 + 1, "/") ? c2 + 1 : "");
        }
    }
    fclose(f);
    return found;
}

/* Removes etlfs-PID folders of targets that are gone (their groups are empty:
 * the ETL processes died with their target). */
static void sweep(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        int pid;
        char end;
        if (sscanf(de->d_name, "etlfs-%d%c", &pid, &end) != 1 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/%s", parent, de->d_name);
        DIR *sub = opendir(dir);
        struct dirent *se;
        while (sub && (se = readdir(sub))) {
            char child[PATH_MAX + 256];
            snprintf(child, sizeof child, "%s/%s", dir, se->d_name);
            if (se->d_name[0] != '.' && se->d_type == DT_DIR)
                rmdir(child);
        }
        if (sub)
            closedir(sub);
        rmdir(dir);
    }
    closedir(d);
}

/* Creates MOUNT/OWN/etlfs-PID; the base where this target's groups go. */
static char *make_base(const char *ctrl)
{
    char mnt[PATH_MAX], own[PATH_MAX], parent[PATH_MAX * 2];
    if (!find_mount(ctrl, mnt, sizeof mnt) || !own_path(ctrl, own, sizeof own))
        return NULL;
    snprintf(parent, sizeof parent, "%s%s", mnt, own);
    sweep(parent);
    char *base = cmn_xasprintf("%s/etlfs-%d", parent, (int)getpid());
    if (mkdir(base, 0755) != 0 && errno != EEXIST) {
        free(base);
        return NULL;
    }
    return base;
}

int etl_cgroups_probe(etl_cgroups *c)
{
    memset(c, 0, sizeof *c);
    c->v2 = make_base(NULL);
    if (c->v2) {
        /* controllers must be enabled on our own group (possible when it is
         * delegated to us) and on the base for the ETL groups to get them */
        char own_dir[PATH_MAX], avail[512] = "", path[PATH_MAX + 32];
        snprintf(own_dir, sizeof own_dir, "%.*s", (int)(strrchr(c->v2, '/') - c->v2), c->v2);
        write_str(own_dir, "cgroup.subtree_control", "+memory");
        write_str(own_dir, "cgroup.subtree_control", "+pids");
        write_str(c->v2, "cgroup.subtree_control", "+memory");
        write_str(c->v2, "cgroup.subtree_control", "+pids");
        snprintf(path, sizeof path, "%s/cgroup.subtree_control", c->v2);
        read_str(path, avail, sizeof avail);
        c->v2_memory = has_word(avail, "memory");
        c->v2_pids = has_word(avail, "pids");
        snprintf(path, sizeof path, "%s/cgroup.kill", c->v2);
        c->v2_kill = access(path, F_OK) == 0;
    }
    if (!c->v2_memory)
        c->v1_memory = make_base("memory");
    if (!c->v2_pids)
        c->v1_pids = make_base("pids");
    c->memory = c->v2_memory || c->v1_memory;
    c->pids = c->v2_pids || c->v1_pids;
    c->kill_all = c->v2 || c->v1_pids || c->v1_memory;
    return 0;
}

void etl_cgroups_free(etl_cgroups *c)
{
    const char *bases[] = {c->v2, c->v1_memory, c->v1_pids};
    for (size_t i = 0; i < 3; i++)
        if (bases[i])
            rmdir(bases[i]);
    free(c->v2);
    free(c->v1_memory);
    free(c->v1_pids);
    memset(c, 0, sizeof *c);
}

/* One group under base: its folder and an open cgroup.procs the child
 * writes "0" to (itself) before exec. */
static int add_group(etl_cgroup *cg, const char *base, const char *name, char *err, size_t errlen)
{
    if (!base)
        return 0;
    char *dir = cmn_xasprintf("%s/%s", base, name);
    char procs[PATH_MAX + 32];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    int fd = -1;
    if (mkdir(dir, 0755) != 0 || (fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "cannot create the control group %s: %s", dir, strerror(errno));
        rmdir(dir);
        free(dir);
        return -EIO;
    }
    cg->dir[cg->n] = dir;
    cg->procs[cg->n] = fd;
    cg->n++;
    return 0;
}

static int set_limit(const char *dir, const char *file, int64_t v, char *err, size_t errlen)
{
    char val[32];
    snprintf(val, sizeof val, "%lld", (long long)v);
    if (write_str(dir, file, val))
        return 0;
    snprintf(err, errlen, "cannot set %s/%s to %s: %s", dir, file, val, strerror(errno));
    return -EIO;
}

etl_cgroup *etl_cgroup_new(const etl_cgroups *c, const char *name, int64_t memory, int pids, char *err,
                           size_t errlen)
{
    static unsigned seq; /* a name per spawn: a group being removed is never reused */
    char gname[128];
    snprintf(gname, sizeof gname, "%s-%u", name, __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    etl_cgroup *cg = cmn_xcalloc(1, sizeof *cg);
    int rc = add_group(cg, c->v2, gname, err, errlen);
    const char *v2 = rc == 0 && c->v2 ? cg->dir[0] : NULL;
    if (rc == 0 && v2 && c->v2_kill)
        cg->kill_file = cmn_xasprintf("%s/cgroup.kill", v2);
    if (rc == 0 && v2 && c->v2_memory && memory > 0) {
        rc = set_limit(v2, "memory.max", memory, err, errlen);
        if (rc == 0)
            set_limit(v2, "memory.swap.max", 0, err, errlen); /* absent without swap accounting */
    }
    if (rc == 0 && v2 && c->v2_pids && pids > 0)
        rc = set_limit(v2, "pids.max", pids, err, errlen);
    if (rc == 0 && c->v1_memory && (rc = add_group(cg, c->v1_memory, gname, err, errlen)) == 0 && memory > 0) {
        const char *d = cg->dir[cg->n - 1];
        rc = set_limit(d, "memory.limit_in_bytes", memory, err, errlen);
        char sw[PATH_MAX + 32];
        snprintf(sw, sizeof sw, "%s/memory.memsw.limit_in_bytes", d);
        if (rc == 0 && access(sw, F_OK) == 0)
            rc = set_limit(d, "memory.memsw.limit_in_bytes", memory, err, errlen);
    }
    if (rc == 0 && c->v1_pids && (rc = add_group(cg, c->v1_pids, gname, err, errlen)) == 0 && pids > 0)
        rc = set_limit(cg->dir[cg->n - 1], "pids.max", pids, err, errlen);
    if (rc != 0) {
        etl_cgroup_free(cg);
        return NULL;
    }
    return cg;
}

int etl_cgroup_join(const etl_cgroup *cg)
{
    for (int i = 0; cg && i < cg->n; i++)
        if (write(cg->procs[i], "0", 1) != 1)
            return -1;
    return 0;
}

void etl_cgroup_close_fds(etl_cgroup *cg)
{
    for (int i = 0; cg && i < cg->n; i++) {
        if (cg->procs[i] >= 0)
            close(cg->procs[i]);
        cg->procs[i] = -1;
    }
}

/* SIGKILL to every process listed in dir/cgroup.procs; true when none was. */
static bool kill_listed(const char *dir)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    bool empty = true;
    int pid;
    while (fscanf(f, "%d", &pid) == 1) {
        empty = false;
        kill(pid, SIGKILL);
    }
    fclose(f);
    return empty;
}

void etl_cgroup_kill(etl_cgroup *cg)
{
    if (!cg)
        return;
    if (cg->kill_file) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", cg->kill_file);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = write(fd, "1", 1);
            (void)n;
            close(fd);
        }
    }
    /* v1 has no cgroup.kill: kill what is listed until nothing is (a fork
     * bomb adds processes while we kill; the pids limit bounds them) */
    for (int round = 0; round < KILL_ROUNDS; round++) {
        bool empty = true;
        for (int i = 0; i < cg->n; i++)
            empty &= kill_listed(cg->dir[i]);
        if (empty)
            return;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

bool etl_cgroup_oom(const etl_cgroup *cg)
{
    for (int i = 0; cg && i < cg->n; i++) {
        const char *files[] = {"memory.events", "memory.oom_control"}; /* v2, v1 */
        for (size_t k = 0; k < 2; k++) {
            char path[PATH_MAX + 32], buf[1024];
            snprintf(path, sizeof path, "%s/%s", cg->dir[i], files[k]);
            const char *p;
            if (read_str(path, buf, sizeof buf) && (p = strstr(buf, "oom_kill ")) && atoll(p + 9) > 0)
                return true;
        }
    }
    return false;
}

void etl_cgroup_free(etl_cgroup *cg)
{
    if (!cg)
        return;
    etl_cgroup_kill(cg);
    etl_cgroup_close_fds(cg);
    for (int i = 0; i < cg->n; i++) {
        /* busy until the killed processes are reaped (by us or by init) */
        for (int tries = 0; rmdir(cg->dir[i]) != 0 && errno == EBUSY && tries < 200; tries++) {
            struct timespec ts = {0, 5 * 1000000L};
            nanosleep(&ts, NULL);
        }
        free(cg->dir[i]);
    }
    free(cg->kill_file);
    free(cg);
}

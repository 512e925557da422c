/*
 * sandbox.c - what an ETL process may do. The parent prepares everything
 * that allocates (the Landlock ruleset, the mount plan, the cgroup); the
 * child, between fork and exec and still root, only makes system calls:
 *
 *   1. its own mount namespace, where every folder it needs is reachable:
 *      an ancestor the ETL user may not search (a 0700 home or temp folder)
 *      is covered by an empty tmpfs and the needed folders are bound back;
 *   2. its cgroup (cgroup.c): memory and processes for the whole tree;
 *      rlimits: open files, no core, and address space / processes where no
 *      cgroup holds them;
 *   3. the ETL user, no capabilities (bounding set too), no_new_privs;
 *   4. Landlock: read and execute the system (/usr, /lib*, /bin, /etc, the
 *      ETL install folder), read the mountpaths and its code, read and write
 *      its work folder and nothing else; TCP: bind its own port, connect
 *      only to the target's ETL callback listener; no signals or abstract
 *      unix sockets beyond its own domain.
 *
 * What the host lacks (Landlock, cgroups) is said once, loudly, at start-up
 * (etl_sandbox_init); what the host has and fails is the launch's failure.
 */
#include "etl/etl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Landlock's ABI, declared here: Debian 12's headers stop at ABI 2. */
#define LL_CREATE_VERSION (1U << 0)
#define LL_RULE_PATH 1
#define LL_RULE_NET_PORT 2
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_TRUNCATE (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

struct ll_ruleset_attr {
    uint64_t fs, net, scoped;
};
struct ll_path_beneath {
    uint64_t allowed;
    int32_t parent_fd;
} __attribute__((packed));
struct ll_net_port {
    uint64_t allowed;
    uint64_t port;
};

#define RX (LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR)
#define RO (LL_FS_READ_FILE | LL_FS_READ_DIR)

/* Every filesystem right the kernel's ABI knows (ABI 1: bits 0-12, 2: REFER,
 * 3: TRUNCATE, 5: IOCTL_DEV). */
static uint64_t fs_rights(int abi)
{
    uint64_t all = (1ULL << 13) - 1;
    if (abi >= 2)
        all |= 1ULL << 13;
    if (abi >= 3)
        all |= LL_FS_TRUNCATE;
    if (abi >= 5)
        all |= LL_FS_IOCTL_DEV;
    return all;
}

/* What the system needs to run programs; missing ones are skipped. */
static const char *const system_rx[] = {"/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc", "/opt",
                                        NULL};
/* Read-only: /proc (its own processes; others' by ptrace rules), what
 * numerical libraries read about the machine. */
static const char *const system_ro[] = {"/proc", "/sys/devices/system", "/sys/fs/cgroup", "/dev/urandom",
                                        "/dev/random", "/dev/zero", NULL};
/* Read-write: /dev/null, and /dev/shm for Python's multiprocessing locks. */
static const char *const system_rw[] = {"/dev/null", "/dev/shm", NULL};

static char **strv_dup(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = cmn_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = cmn_xstrdup(v[i]);
    return out;
}

void etl_sandbox_init(etl_sandbox *sb, const etl_config *cfg, const char *install_dir, const char *bindir)
{
    memset(sb, 0, sizeof *sb);
    sb->mountpaths = strv_dup(cfg->mountpaths);
    for (char **p = sb->mountpaths; *p; p++) { /* as mountinfo names them */
        char real[PATH_MAX];
        if (realpath(*p, real)) {
            free(*p);
            *p = cmn_xstrdup(real);
        }
    }
    const char *rx[] = {install_dir, bindir, NULL};
    sb->rx = strv_dup(rx);
    sb->memory = cfg->memory_limit > 0 ? cfg->memory_limit : ETL_DEFAULT_MEMORY;
    sb->pids = cfg->pids_limit > 0 ? cfg->pids_limit : ETL_DEFAULT_PIDS;
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_VERSION);
    sb->landlock_abi = abi > 0 ? (int)abi : 0;
    etl_cgroups_probe(&sb->cg);

    char mem[32];
    etl_format_bytes(sb->memory, mem, sizeof mem);
    cmn_info("etl: sandbox: Landlock ABI %d; cgroups: memory %s, processes %s, kill %s; limits: memory %s, "
             "%d processes, %d open files",
             sb->landlock_abi, sb->cg.memory ? (sb->cg.v2_memory ? "v2" : "v1") : "none",
             sb->cg.pids ? (sb->cg.v2_pids ? "v2" : "v1") : "none",
             sb->cg.kill_all ? (sb->cg.v2_kill ? "cgroup.kill" : "by listing") : "process group", mem, sb->pids,
             ETL_NOFILE_LIMIT);
    if (sb->landlock_abi == 0)
        cmn_warn("etl: SANDBOX INCOMPLETE: this kernel has no Landlock (%s): ETL processes run as an unprivileged "
                 "user without capabilities but can read whatever that user may read and reach any address, "
                 "the target's REST API included",
                 strerror(errno));
    else if (sb->landlock_abi < 4)
        cmn_warn("etl: SANDBOX INCOMPLETE: Landlock ABI %d has no TCP rules (4 needed): ETL processes can reach any "
                 "address, the target's REST API included",
                 sb->landlock_abi);
    else if (sb->landlock_abi < 6)
        cmn_warn("etl: sandbox: Landlock ABI %d has no scoping (6 needed): ETL processes running as the same user "
                 "may signal each other",
                 sb->landlock_abi);
    if (!sb->cg.memory)
        cmn_warn("etl: SANDBOX INCOMPLETE: no memory cgroup is writable: the memory limit is an address-space "
                 "limit per process (RLIMIT_AS)");
    if (!sb->cg.pids)
        cmn_warn("etl: SANDBOX INCOMPLETE: no pids cgroup is writable: the process limit is RLIMIT_NPROC, shared "
                 "by every ETL running as the same user");
    if (!sb->cg.kill_all)
        cmn_warn("etl: SANDBOX INCOMPLETE: no cgroup is writable: stopping an ETL kills its process group, and a "
                 "process that left the group (setsid) survives");
}

void etl_sandbox_free(etl_sandbox *sb)
{
    etl_strv_free(sb->mountpaths);
    etl_strv_free(sb->rx);
    etl_cgroups_free(&sb->cg);
}

int etl_parse_memory(const char *s, int64_t *out)
{
    static const struct {
        const char *sfx;
        int64_t mul;
    } units[] = {{"", 1},
                 {"k", 1000}, {"K", 1000}, {"M", 1000000}, {"G", 1000000000}, {"T", INT64_C(1000000000000)},
                 {"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", INT64_C(1) << 40},
                 {"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", INT64_C(1) << 40}};
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || errno || v <= 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (!strcmp(end, units[i].sfx) && v * (double)units[i].mul < 9e18) {
            *out = (int64_t)(v * (double)units[i].mul);
            return 0;
        }
    }
    return -EINVAL;
}

void etl_format_bytes(int64_t n, char *out, size_t len)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < 4 && n >= 1024 && n % 1024 == 0)
        n /= 1024, u++;
    snprintf(out, len, "%lld %s", (long long)n, units[u]);
}

/* ---- the mount plan: folders the ETL user could not reach */

static bool searchable(const struct stat *st, const etl_user *u)
{
    if (st->st_uid == u->uid)
        return st->st_mode & S_IXUSR;
    if (st->st_gid == u->gid)
        return st->st_mode & S_IXGRP;
    return st->st_mode & S_IXOTH;
}

static void plan_add(char ***v, size_t *n, char *s)
{
    for (size_t i = 0; i < *n; i++) {
        if (!strcmp((*v)[i], s)) {
            free(s);
            return;
        }
    }
    *v = cmn_xrealloc(*v, (*n + 2) * sizeof **v);
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* For path: the highest ancestor the user may not search becomes a tmpfs,
 * the folders from it down to path are made in it, and path is bound back. */
static void plan_path(etl_confine *cf, const char *want, const etl_user *u)
{
    char path[PATH_MAX];
    if (!realpath(want, path))
        return;
    for (size_t i = 0; i < cf->nbind; i++)
        if (under(path, cf->bind[i]))
            return; /* bound already with a folder above it */
    size_t len = strlen(path);
    char *cover = NULL;
    for (size_t i = 1; i < len && !cover; i++) {
        if (path[i] != '/')
            continue;
        path[i] = '\0';
        struct stat st;
        if (stat(path, &st) == 0 && !searchable(&st, u))
            cover = cmn_xstrdup(path);
        path[i] = '/';
    }
    if (!cover)
        return;
    plan_add(&cf->cover, &cf->ncover, cover);
    const char *c = cf->cover[cf->ncover - 1];
    for (size_t i = strlen(c) + 1; i <= len; i++)
        if (path[i] == '/' || path[i] == '\0')
            plan_add(&cf->mkdir, &cf->nmkdir, cmn_xasprintf("%.*s", (int)i, path));
    cf->bind = cmn_xrealloc(cf->bind, (cf->nbind + 2) * sizeof *cf->bind);
    cf->bind_fd = cmn_xrealloc(cf->bind_fd, (cf->nbind + 1) * sizeof *cf->bind_fd);
    cf->bind[cf->nbind] = cmn_xstrdup(path);
    cf->bind_fd[cf->nbind] = -1; /* opened by the child, in its namespace */
    cf->bind[++cf->nbind] = NULL;
}

static bool needed(const char *m, const etl_sandbox *sb, const etl_jail *j)
{
    const char *const *lists[] = {system_rx, system_ro, system_rw, (const char *const *)sb->rx,
                                  (const char *const *)sb->mountpaths};
    for (size_t l = 0; l < sizeof lists / sizeof *lists; l++)
        for (const char *const *p = lists[l]; *p; p++)
            if (under(m, *p) || under(*p, m))
                return true;
    return under(m, j->work) || under(j->work, m) || (j->dir && (under(m, j->dir) || under(j->dir, m))) ||
           (j->runtime && (under(m, j->runtime) || under(j->runtime, m)));
}

/* In its own namespace the ETL would keep a copy of every mount of the host,
 * and an unmount on the host (a FUSE mount's) would wait for the ETL to end:
 * the child detaches every mount it does not need. From mountinfo's fifth
 * field, with its octal escapes. */
static void plan_detach(etl_confine *cf, const etl_sandbox *sb, const etl_jail *j)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *fld = line;
        for (int i = 0; i < 4 && fld; i++)
            fld = strchr(fld, ' ') ? strchr(fld, ' ') + 1 : NULL;
        if (!fld)
            continue;
        fld[strcspn(fld, " ")] = '\0';
        char m[4096];
        size_t n = 0;
        for (const char *p = fld; *p && n + 1 < sizeof m; p++) {
            if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
                m[n++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                p += 3;
            } else {
                m[n++] = *p;
            }
        }
        m[n] = '\0';
        if (strcmp(m, "/") && !needed(m, sb, j))
            plan_add(&cf->detach, &cf->ndetach, cmn_xstrdup(m));
    }
    fclose(f);
}

/* ---- the Landlock ruleset */

static int add_path_rule(int rs, const char *path, uint64_t allowed, uint64_t handled)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        allowed &= LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV;
    struct ll_path_beneath pb = {.allowed = allowed & handled, .parent_fd = fd};
    int rc = syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH, &pb, 0) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int add_port_rule(int rs, uint64_t allowed, int port)
{
    struct ll_net_port np = {.allowed = allowed, .port = (uint64_t)port};
    return syscall(SYS_landlock_add_rule, rs, LL_RULE_NET_PORT, &np, 0) == 0 ? 0 : -errno;
}

static int make_ruleset(const etl_sandbox *sb, const etl_jail *j, int *out, char *err, size_t errlen)
{
    int abi = sb->landlock_abi;
    struct ll_ruleset_attr attr = {.fs = fs_rights(abi)};
    size_t size = sizeof attr.fs;
    if (abi >= 4) {
        attr.net = j->any_net ? 0 : LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        size += sizeof attr.net;
    }
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
        size += sizeof attr.scoped;
    }
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0) {
        snprintf(err, errlen, "cannot create a Landlock ruleset: %s", strerror(errno));
        return -EIO;
    }
    int rc = 0;
    const char *what = "";
    for (const char *const *p = system_rx; !rc && *p; p++)
        rc = add_path_rule(rs, what = *p, RX, attr.fs);
    for (char **p = sb->rx; !rc && *p; p++)
        rc = add_path_rule(rs, what = *p, RX, attr.fs);
    for (const char *const *p = system_ro; !rc && *p; p++)
        rc = add_path_rule(rs, what = *p, RO, attr.fs);
    for (char **p = sb->mountpaths; !rc && *p; p++)
        rc = add_path_rule(rs, what = *p, RO, attr.fs);
    if (!rc && j->dir)
        rc = add_path_rule(rs, what = j->dir, RO, attr.fs);
    if (!rc && j->runtime)
        rc = add_path_rule(rs, what = j->runtime, RO, attr.fs);
    for (const char *const *p = system_rw; !rc && *p; p++)
        rc = add_path_rule(rs, what = *p, RO | LL_FS_WRITE_FILE | LL_FS_TRUNCATE | (1ULL << 5) | (1ULL << 8), attr.fs);
    if (!rc)
        rc = add_path_rule(rs, what = j->work, attr.fs, attr.fs);
    if (!rc && attr.net && j->bind_port)
        rc = add_port_rule(rs, LL_NET_BIND_TCP, j->bind_port), what = "the ETL's port";
    if (!rc && attr.net && j->connect_port)
        rc = add_port_rule(rs, LL_NET_CONNECT_TCP, j->connect_port), what = "the callback port";
    if (rc) {
        snprintf(err, errlen, "cannot add a Landlock rule for %s: %s", what, strerror(-rc));
        close(rs);
        return -EIO;
    }
    *out = rs;
    return 0;
}

int etl_confine_prepare(const etl_sandbox *sb, const etl_user *u, const etl_jail *j, etl_confine *cf, char *err,
                        size_t errlen)
{
    memset(cf, 0, sizeof *cf);
    cf->ruleset = -1;
    cf->user = u;
    cf->sb = sb;
    cf->memory = j->memory > 0 ? j->memory : sb->memory;
    if (u && u->drop) {
        for (char **p = sb->mountpaths; *p; p++)
            plan_path(cf, *p, u);
        for (char **p = sb->rx; *p; p++)
            plan_path(cf, *p, u);
        if (j->runtime)
            plan_path(cf, j->runtime, u);
        if (j->dir)
            plan_path(cf, j->dir, u); /* before work, which it holds */
        plan_path(cf, j->work, u);
        if (cf->ncover)
            plan_detach(cf, sb, j);
    }
    cf->filter_sockets = !j->any_net;
    if (sb->landlock_abi > 0 && make_ruleset(sb, j, &cf->ruleset, err, errlen) != 0) {
        etl_confine_release(cf);
        return -EIO;
    }
    if (sb->cg.memory || sb->cg.pids || sb->cg.kill_all) {
        char why[512];
        cf->cg = etl_cgroup_new(&sb->cg, j->name, cf->memory, sb->pids, why, sizeof why);
        if (!cf->cg) {
            snprintf(err, errlen, "%s", why);
            etl_confine_release(cf);
            return -EIO;
        }
    }
    return 0;
}

void etl_confine_release(etl_confine *cf)
{
    if (cf->ruleset >= 0)
        close(cf->ruleset);
    cf->ruleset = -1;
    etl_strv_free(cf->bind);
    etl_strv_free(cf->cover);
    etl_strv_free(cf->mkdir);
    etl_strv_free(cf->detach);
    free(cf->bind_fd);
    cf->bind = cf->cover = cf->mkdir = cf->detach = NULL;
    cf->bind_fd = NULL;
    cf->nbind = cf->ncover = cf->nmkdir = cf->ndetach = 0;
    etl_cgroup_close_fds(cf->cg); /* the group itself stays: the caller owns cf->cg */
}

/* ---- the child's side: system calls only */

static int enter_mounts(const etl_confine *cf)
{
    if (!cf->ncover)
        return 0;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    /* a bind's source must be a mount of this namespace: open them here,
     * before the tmpfs hides them */
    for (size_t i = 0; i < cf->nbind; i++)
        if ((cf->bind_fd[i] = open(cf->bind[i], O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
            return -1;
    for (size_t i = 0; i < cf->ndetach; i++)
        umount2(cf->detach[i], MNT_DETACH); /* gone already with its parent: fine */
    for (size_t i = 0; i < cf->ncover; i++)
        if (mount("etlfs", cf->cover[i], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") != 0)
            return -1;
    for (size_t i = 0; i < cf->nmkdir; i++)
        if (mkdir(cf->mkdir[i], 0755) != 0 && errno != EEXIST)
            return -1;
    for (size_t i = 0; i < cf->nbind; i++) {
        char src[64];
        /* no snprintf between fork and exec: build /proc/self/fd/N by hand */
        char num[16];
        int k = 0, fd = cf->bind_fd[i];
        do
            num[k++] = (char)('0' + fd % 10);
        while ((fd /= 10) && k < 15);
        size_t n = 0;
        for (const char *p = "/proc/self/fd/"; *p; p++)
            src[n++] = *p;
        while (k)
            src[n++] = num[--k];
        src[n] = '\0';
        if (mount(src, cf->bind[i], NULL, MS_BIND | MS_REC, NULL) != 0)
            return -1;
        close(cf->bind_fd[i]);
    }
    return 0;
}

/* Landlock's TCP rules say nothing of UDP, raw or other sockets: refuse
 * those (EACCES), and io_uring, whose operations pass by seccomp. */
static int filter_sockets(void)
{
#if defined(__x86_64__)
#define ETL_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ETL_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#ifdef ETL_AUDIT_ARCH
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETL_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES), /* another ABI (i386 on x86_64) */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* socket(domain, type, protocol) */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 0, 6),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf), /* without SOCK_NONBLOCK / SOCK_CLOEXEC */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_STREAM, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, IPPROTO_TCP, 1, 0), /* 0 or 6: TCP */
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof *f, .filter = f};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#else
    return 0;
#endif
}

static int drop_caps(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) != 0)
        return -1;
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    return 0;
}

int etl_confine_enter(const etl_confine *cf, const char *cwd, int *stage)
{
    const etl_sandbox *sb = cf->sb;
    *stage = ETL_STAGE_MOUNTS;
    if (enter_mounts(cf) != 0)
        return -1;
    *stage = ETL_STAGE_CGROUP;
    if (etl_cgroup_join(cf->cg) != 0)
        return -1;
    struct rlimit nofile = {ETL_NOFILE_LIMIT, ETL_NOFILE_LIMIT}, core = {0, 0};
    setrlimit(RLIMIT_NOFILE, &nofile);
    setrlimit(RLIMIT_CORE, &core);
    if (!sb->cg.memory) {
#ifndef __SANITIZE_ADDRESS__
        /* A sanitized build's native transformers reserve terabytes of
         * shadow memory: no address-space cap there. */
        struct rlimit as = {(rlim_t)cf->memory, (rlim_t)cf->memory};
        setrlimit(RLIMIT_AS, &as);
#endif
    }
    if (!sb->cg.pids) {
        struct rlimit np = {(rlim_t)sb->pids, (rlim_t)sb->pids};
        setrlimit(RLIMIT_NPROC, &np);
    }
    *stage = ETL_STAGE_CHDIR;
    if (cwd && chdir(cwd) != 0)
        return -1;
    *stage = ETL_STAGE_USER;
    const etl_user *u = cf->user;
    if (u && u->drop) {
        for (int cap = 0; cap <= 63; cap++)
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
                return -1;
        if (setgroups(1, &u->gid) != 0 || setgid(u->gid) != 0 || setuid(u->uid) != 0)
            return -1;
    }
    if (drop_caps() != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    *stage = ETL_STAGE_LANDLOCK;
    if (cf->ruleset >= 0 && syscall(SYS_landlock_restrict_self, cf->ruleset, 0) != 0)
        return -1;
    *stage = ETL_STAGE_SECCOMP;
    if (cf->filter_sockets && filter_sockets() != 0)
        return -1;
    return 0;
}

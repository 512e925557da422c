/*
 * runtime_local.c - ETL processes on this host. Each runs in its own process
 * group and cgroup (stop = all of them, no orphans, a setsid grandchild
 * included), with stdout/stderr appended to its log, confined by sandbox.c:
 * as an unprivileged user without capabilities, limited, seeing only what it
 * needs. Between fork and exec the child makes only async-signal-safe calls.
 */
#include "etl/etl_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STOP_GRACE_NS (3 * ETL_SEC_NS)

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

__attribute__((noreturn)) static void child_fail(int fd, int stage)
{
    int msg[2] = {stage, errno};
    ssize_t n = write(fd, msg, sizeof msg);
    (void)n;
    _exit(127);
}

__attribute__((noreturn)) static void child(const etl_spawn *s, const etl_confine *cf, int logfd, int nullfd,
                                            int errfd, pid_t target)
{
    setpgid(0, 0);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);

    if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
        child_fail(errfd, ETL_STAGE_SETUP);
    int stage;
    if (etl_confine_enter(cf, s->cwd, &stage) != 0)
        child_fail(errfd, stage);
    /* The target's death, even by SIGKILL, takes the process with it. Set after
     * the user switch, which clears it; it follows the forking thread, and
     * only the target's long-lived threads start ETLs (server.c). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != target)
        _exit(127); /* the target died before the line above */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    execvpe(s->argv[0], s->argv, s->envp);
    child_fail(errfd, ETL_STAGE_EXEC);
}

static const char *stage_what(int stage)
{
    switch (stage) {
    case ETL_STAGE_MOUNTS: return "sandbox: cannot set up its mount namespace";
    case ETL_STAGE_CGROUP: return "sandbox: cannot join its control group";
    case ETL_STAGE_CHDIR: return "cannot enter its folder";
    case ETL_STAGE_USER: return "sandbox: cannot drop privileges";
    case ETL_STAGE_LANDLOCK: return "sandbox: cannot apply the Landlock rules";
    case ETL_STAGE_SECCOMP: return "sandbox: cannot install its seccomp filter";
    case ETL_STAGE_EXEC: return "cannot execute it";
    default: return "cannot set up its stdin/stdout";
    }
}

int etl_proc_spawn(const etl_spawn *s, pid_t *pid_out, etl_cgroup **cg_out, char *err, size_t errlen)
{
    *cg_out = NULL;
    etl_confine cf;
    etl_jail none = {.name = "etl", .work = s->cwd};
    if (etl_confine_prepare(s->sb, s->user, s->jail ? s->jail : &none, &cf, err, errlen) != 0)
        return -EIO;
    /* root's file in root's folder; the ETL writes it through the fd only */
    int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (logfd < 0) {
        snprintf(err, errlen, "cannot open log %s: %s", s->log_path, strerror(errno));
        etl_confine_release(&cf);
        etl_cgroup_free(cf.cg);
        return -EIO;
    }
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int pfd[2];
    if (nullfd < 0 || pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot start %s: %s", s->argv[0], strerror(errno));
        close(logfd);
        if (nullfd >= 0)
            close(nullfd);
        etl_confine_release(&cf);
        etl_cgroup_free(cf.cg);
        return -EIO;
    }
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child(s, &cf, logfd, nullfd, pfd[1], self);
    close(pfd[1]);
    close(logfd);
    close(nullfd);
    etl_confine_release(&cf);
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork for %s: %s", s->argv[0], strerror(errno));
        close(pfd[0]);
        etl_cgroup_free(cf.cg);
        return -EIO;
    }
    setpgid(pid, pid); /* both sides: whoever runs first, the group exists */
    int msg[2];
    ssize_t n;
    while ((n = read(pfd[0], msg, sizeof msg)) < 0 && errno == EINTR)
        ;
    close(pfd[0]);
    if (n == (ssize_t)sizeof msg) {
        waitpid(pid, NULL, 0);
        etl_cgroup_free(cf.cg);
        snprintf(err, errlen, "%s: %s: %s", s->argv[0], stage_what(msg[0]), strerror(msg[1]));
        return -EIO;
    }
    *pid_out = pid;
    *cg_out = cf.cg;
    return 0;
}

static bool group_gone(pid_t pgid)
{
    return kill(-pgid, 0) != 0 && errno == ESRCH;
}

void etl_proc_stop(pid_t pgid, etl_cgroup *cg)
{
    if (pgid <= 0) {
        etl_cgroup_free(cg);
        return;
    }
    bool reaped = false;
    kill(-pgid, SIGTERM);
    int64_t deadline = cmn_mono_ns() + STOP_GRACE_NS;
    while (cmn_mono_ns() < deadline) {
        if (!reaped) {
            pid_t w = waitpid(pgid, NULL, WNOHANG);
            reaped = w == pgid || (w < 0 && errno == ECHILD);
        }
        if (reaped && group_gone(pgid))
            break;
        sleep_ms(20);
    }
    kill(-pgid, SIGKILL);
    etl_cgroup_kill(cg); /* what left the group (setsid) */
    if (!reaped)
        waitpid(pgid, NULL, 0);
    etl_cgroup_free(cg);
}

int etl_proc_run(const etl_spawn *s, int64_t timeout_ns, int *status, char *err, size_t errlen)
{
    pid_t pid;
    etl_cgroup *cg;
    if (etl_proc_spawn(s, &pid, &cg, err, errlen) != 0)
        return -EIO;
    int64_t deadline = cmn_mono_ns() + timeout_ns;
    int sleep = 5;
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid) {
            kill(-pid, SIGKILL); /* anything it left behind */
            etl_cgroup_free(cg);
            return 0;
        }
        if (w < 0 && errno != EINTR) {
            snprintf(err, errlen, "%s: waitpid: %s", s->argv[0], strerror(errno));
            etl_proc_stop(pid, cg);
            return -EIO;
        }
        if (cmn_mono_ns() >= deadline) {
            etl_proc_stop(pid, cg);
            char d[32];
            cmn_format_duration(timeout_ns, d, sizeof d);
            snprintf(err, errlen, "%s did not finish within %s", s->argv[0], d);
            return -EIO;
        }
        sleep_ms(sleep);
        if (sleep < 100)
            sleep *= 2;
    }
}

void etl_proc_describe(int status, char *out, size_t outlen)
{
    if (WIFEXITED(status))
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, outlen, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, outlen, "ended with wait status %d", status);
}

int etl_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

char *etl_file_tail(const char *path, size_t max)
{
    cmn_buf b;
    cmn_buf_init(&b);
    /* may be a file the ETL wrote (deps.missing): no link, no FIFO to block on */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        off_t from = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
        char buf[8192];
        ssize_t n;
        while (lseek(fd, from, SEEK_SET) >= 0 && (n = read(fd, buf, sizeof buf)) > 0) {
            cmn_buf_append(&b, buf, (size_t)n);
            from += n;
            if (b.len >= max)
                break;
        }
    }
    if (fd >= 0)
        close(fd);
    if (!b.data)
        cmn_buf_puts(&b, "");
    /* start at a character: the cut may fall inside a multi-byte one */
    size_t skip = 0;
    while (skip < b.len && skip < 3 && ((unsigned char)b.data[skip] & 0xC0) == 0x80)
        skip++;
    char *tail = cmn_xstrdup(b.data + skip);
    cmn_buf_free(&b);
    return tail;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int etl_rm_tree(const char *path)
{
    int rc = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc == 0 || errno == ENOENT ? 0 : -EIO;
}

/*
 * trace.c - function entry/exit hooks for a build made with
 * -finstrument-functions (bench/walk.sh): while tracing is on (SIGUSR2
 * toggles it), every call and return of the process is appended to
 * $ETLFS_WALK_DIR/PID.walk as a fixed-size record. walk.py turns the records
 * into the files a request crossed. Not part of any product build.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NOTRACE __attribute__((no_instrument_function))

struct walk_ev {
    uint64_t fn;
    uint64_t site; /* the call's address in its caller: whose file a header's inline function is compiled into */
    uint32_t tid;
    uint32_t enter;
};

static volatile sig_atomic_t walk_on;
static int walk_fd = -1;

NOTRACE static void walk_toggle(int sig)
{
    (void)sig;
    walk_on = !walk_on;
}

NOTRACE __attribute__((constructor)) static void walk_init(void)
{
    const char *dir = getenv("ETLFS_WALK_DIR");
    if (!dir)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%d.walk", dir, (int)getpid());
    walk_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct sigaction sa = {.sa_handler = walk_toggle, .sa_flags = SA_RESTART};
    sigaction(SIGUSR2, &sa, NULL);
}

NOTRACE static void walk_record(void *fn, void *site, uint32_t enter)
{
    if (!walk_on || walk_fd < 0)
        return;
    struct walk_ev e = {(uint64_t)(uintptr_t)fn, (uint64_t)(uintptr_t)site, (uint32_t)syscall(SYS_gettid), enter};
    ssize_t w = write(walk_fd, &e, sizeof e);
    (void)w;
}

NOTRACE void __cyg_profile_func_enter(void *fn, void *site)
{
    walk_record(fn, site, 1);
}

NOTRACE void __cyg_profile_func_exit(void *fn, void *site)
{
    walk_record(fn, site, 0);
}

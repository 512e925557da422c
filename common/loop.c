/*
 * loop.c - a thread's event loop (loop.h): one epoll set, a list of
 * watches for ticks and the end, and an eventfd to wake it from elsewhere.
 */
#include "common/loop.h"
#include "common/cmn.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#define EVENTS_MAX 64
#define TICK_NS 1000000000LL

struct cmn_loop {
    int ep;
    cmn_watch wake;   /* its eventfd */
    cmn_watch *watches;
    int nticks;       /* watches that tick */
    int64_t tick_at;  /* the next tick, mono ns */
};

static __thread cmn_loop *self;

static void on_wake(cmn_watch *w, uint32_t events)
{
    uint64_t n;
    if (events & EPOLLIN)
        (void)!read(w->fd, &n, sizeof n);
}

cmn_loop *cmn_loop_new(void)
{
    cmn_loop *l = cmn_xcalloc(1, sizeof *l);
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->ep < 0 || efd < 0) {
        if (l->ep >= 0)
            close(l->ep);
        if (efd >= 0)
            close(efd);
        free(l);
        return NULL;
    }
    l->wake.fn = on_wake;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->wake};
    l->wake.fd = efd;
    epoll_ctl(l->ep, EPOLL_CTL_ADD, efd, &ev);
    return l;
}

void cmn_loop_free(cmn_loop *l)
{
    if (!l)
        return;
    while (l->watches) {
        cmn_watch *w = l->watches;
        cmn_loop_del(l, w);
        w->fn(w, CMN_LOOP_CLOSE);
    }
    close(l->wake.fd);
    close(l->ep);
    free(l);
}

int cmn_loop_add(cmn_loop *l, cmn_watch *w, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -errno;
    w->fd = fd;
    w->next = l->watches;
    if (w->next)
        w->next->pprev = &w->next;
    w->pprev = &l->watches;
    l->watches = w;
    if (w->ticks && l->nticks++ == 0)
        l->tick_at = cmn_mono_ns() + TICK_NS;
    return 0;
}

void cmn_loop_del(cmn_loop *l, cmn_watch *w)
{
    epoll_ctl(l->ep, EPOLL_CTL_DEL, w->fd, NULL);
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    w->next = NULL;
    w->pprev = NULL;
    l->nticks -= w->ticks;
}

void cmn_loop_enter(cmn_loop *l)
{
    self = l;
}

cmn_loop *cmn_loop_self(void)
{
    return self;
}

void cmn_loop_wake(cmn_loop *l)
{
    uint64_t one = 1;
    (void)!write(l->wake.fd, &one, sizeof one);
}

/* Every ticking watch once (one may remove itself or another: restart). */
static void tick(cmn_loop *l)
{
    int64_t now = cmn_mono_ns();
    for (cmn_watch *w = l->watches; w; w = w->next)
        w->ticked = false;
    for (cmn_watch *w = l->watches; w;) {
        if (!w->ticks || w->ticked) {
            w = w->next;
            continue;
        }
        w->ticked = true;
        w->fn(w, CMN_LOOP_TICK);
        w = l->watches; /* the list may have changed */
    }
    l->tick_at = now + TICK_NS;
}

void cmn_loop_run_once(cmn_loop *l, int ms)
{
    if (l->nticks) {
        int64_t left = (l->tick_at - cmn_mono_ns()) / 1000000;
        int cap = left < 0 ? 0 : (int)left;
        if (ms < 0 || ms > cap)
            ms = cap;
    }
    struct epoll_event evs[EVENTS_MAX];
    int n = epoll_wait(l->ep, evs, EVENTS_MAX, ms);
    for (int i = 0; i < n; i++) {
        cmn_watch *w = evs[i].data.ptr;
        w->fn(w, evs[i].events ? evs[i].events : EPOLLIN);
    }
    if (l->nticks && cmn_mono_ns() >= l->tick_at)
        tick(l);
}

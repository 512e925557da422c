/*
 * loop.h - a thread's event loop over epoll. The target's event threads run
 * one each: it watches that thread's libmicrohttpd daemon and the ETL
 * streams the thread owns (etl/comm_ws.c), so an answer from the ETL is
 * read, and its request replied to, on the thread that owns the client's
 * connection: no hand-off, no wake-up of another thread. Prefix cmn_loop_.
 *
 * A watch belongs to the loop's thread: it is added, called and removed
 * there only. Only cmn_loop_wake may be called from another thread.
 */
#ifndef ETLFS_LOOP_H
#define ETLFS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cmn_loop cmn_loop;
typedef struct cmn_watch cmn_watch;

/* What fn is told besides epoll's events: a tick (about once a second, to
 * a watch that asked for them: deadlines), or that the loop ends (the
 * watch lets go of what it holds; the loop forgets it). */
#define CMN_LOOP_TICK 0u
#define CMN_LOOP_CLOSE (1u << 31)

struct cmn_watch {
    void (*fn)(cmn_watch *w, uint32_t events);
    int fd;
    bool ticks;                /* wants CMN_LOOP_TICK calls */
    bool ticked;               /* this round's (the loop's) */
    cmn_watch *next, **pprev; /* the loop's list (its thread) */
};

cmn_loop *cmn_loop_new(void);
/* Tells every watch still there CMN_LOOP_CLOSE, then frees the loop. */
void cmn_loop_free(cmn_loop *l);
/* Watches fd for events (EPOLLIN...: level-triggered); 0 or -errno. */
int cmn_loop_add(cmn_loop *l, cmn_watch *w, int fd, uint32_t events);
void cmn_loop_del(cmn_loop *l, cmn_watch *w);
/* The loop this thread runs (NULL: none, or another thread's). */
void cmn_loop_enter(cmn_loop *l);
cmn_loop *cmn_loop_self(void);
/* Waits up to ms (-1: no bound; capped at a second while a watch ticks)
 * and calls the watches that are ready, and the ticks when due. */
void cmn_loop_run_once(cmn_loop *l, int ms);
/* From any thread: the loop's wait returns now. */
void cmn_loop_wake(cmn_loop *l);

#endif

/*
 * comm_ws.c - ws://, AIStore 5.0's streaming communicator: long-lived
 * WebSocket connections to the ETL's /ws, each carrying object after object
 * (upstream ext/etl/websocket_comm.go). Per object the target sends a binary
 * message with the control JSON (WebsocketCtrlMsg: "fqn" = PathEscape(fqn)
 * when the ETL reads the file itself, "path" = the object's name,
 * "etl_args"; empty fields left out, as Go's omitempty does), then, unless
 * fqn, a binary message with the bytes. The ETL answers each object, in
 * order, with one message: binary is the output, text an error ("Transform
 * error: ..."). We never ask the ETL for direct put or a pipeline (chain.c
 * runs pipelines), so a text answer is that object's failure and the
 * connection goes on.
 *
 * Several objects are in flight on one connection (upstream's writer and
 * reader goroutines per connection): a transform sends its object while
 * others wait for their answers, so the ETL reads the next object as soon
 * as it has answered one. Answers come in the order the objects were sent;
 * each connection keeps that order as a queue of tickets, and the thread
 * whose ticket is at the head reads the next answer straight into its own
 * sink (nothing is buffered between threads). An op (etl_transform_start,
 * an inline GET on an event thread) has no thread waiting: its ticket is
 * read by the connection's reader thread (started with its first op), which
 * fills the op's spool and calls its done. Bounded: CONN_MAX connections
 * per ETL, INFLIGHT_MAX objects on each (FILL_MAX for a window); a new connection is dialled only
 * when every one has work in flight, or when the idle ones lead to ETL
 * processes that are transforming already (never for an op: it goes to a
 * thread that may wait). An offline job's window (etl_async.fill) keeps
 * as many connections as cores busy, up to FILL_MAX objects on each.
 * An inline object joins the least loaded of as many connections as cores
 * that have work in flight, up to INLINE_DEPTH, when the ETL said it is
 * one process with a thread per stream (Etlfs-Worker: 0/1, as etlfs-md5
 * says) and as many connections as cores have work already.
 *
 * An ETL of ours serves its streams from several processes (prefork.py),
 * each stream by one of them, and names it in the 101 (Etlfs-Worker): an
 * object goes to an idle connection of the least busy process, so two
 * objects in flight run on two cores rather than queue in one process
 * while the other idles (the ETL hands a new connection to the process
 * holding the fewest streams).
 *
 * A connection that broke (or timed out: a late answer would be taken for
 * the next object's) takes no new objects and fails every ticket queued on
 * it; each of those objects is retried once on another connection unless
 * output already reached its sink.
 */
#include "etl/etl_int.h"
#include "common/ws.h"
#include "common/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#define WS_PATH "/ws"
#define CONN_MAX 8       /* connections per ETL */
#define INFLIGHT_MAX 8   /* objects sent and not yet answered, per connection */
/* A window (etl_async.fill) keeps few connections deep: as many as the
 * cores (the ETL's processes or threads that can run at once, one per
 * stream), each with up to FILL_MAX objects, so each of the ETL's threads
 * finds its next object queued and the target runs as few reader threads */
#define FILL_MAX 32
/* ... for a fast ETL: one that takes this long per object or longer
 * (sleeps, waits on a service) gains nothing from the depth, whose poll per
 * object it does not feel, and needs streams in parallel, not cores: its
 * window spreads as an inline read's would, INFLIGHT_MAX on each. Well
 * above what a busy machine makes of a fast ETL's time (a loaded core, a
 * traced process: about a millisecond), since the time per object is seen
 * on the clock, not the ETL's CPU */
#define FILL_SLOW_NS (ETL_SEC_NS / 100)
/* Inline objects on one connection of an ETL that is one process: 16 on
 * each of two streams carry c=32 (at 4, c=32 spread over 8 streams, whose
 * threads slept in poll between objects: bench/RESULTS.md) */
#define INLINE_DEPTH 16
/* An ETL of several named processes (Etlfs-Worker: N/M) that takes
 * PACE_NS or more per object and keeps its processes on the CPU (PACE_UTIL
 * percent of a core each, sampled every PACE_SAMPLE_NS: an image
 * transform, not a wait on a service) gets at most PACE_DEPTH objects per
 * process, one running and one queued behind it on the same stream; the
 * rest wait here for whichever process frees first. Pushed down at once,
 * they would run as concurrent streams in whichever processes took them
 * (one interpreter lock each), and a process that finished its share
 * would idle while another still had several. */
#define PACE_NS (ETL_SEC_NS / 1000)
#define PACE_DEPTH 2
#define PACE_UTIL 30
#define PACE_SAMPLE_NS (ETL_SEC_NS / 5)
#define ERRTEXT_MAX 1024 /* bytes of a text answer kept for the message */
#define WORKER_HDR "Etlfs-Worker" /* the 101's: which of the ETL's processes serves the stream */
#define WORKERS_MAX 256           /* processes told apart (prefork.py's NUM_WORKERS bound) */

struct op;

typedef struct ticket {
    struct ticket *next;
    pthread_cond_t cv; /* a waiting transfer's: signalled when its ticket becomes the head */
    struct op *op;     /* an object nobody waits for (etl_transform_start): the reader thread reads it */
} ticket;

/*
 * Locks: the pool's mu to choose a connection (the list, counts, dials);
 * each connection's qmu for its queue of tickets, so that its reader and
 * the threads that queue on it meet only there, not on one lock for all
 * (mu, then a qmu: never the other way). A reader takes no mu per answer:
 * users and load are atomic (raised under mu when chosen, dropped by
 * anyone), and mu is taken only to wake a thread waiting for room or to
 * end a dead connection.
 */
typedef struct ws_conn {
    cmn_ws *ws;
    struct ws_conn *next;
    pthread_mutex_t qmu;
    ticket *head, *tail; /* sent, answers awaited, in order (qmu) */
    int users;           /* transfers holding it: sending or queued, and ops (atomic; raised under mu) */
    int worker;          /* the ETL process serving it, or -1: not told */
    bool dead;           /* takes no new objects (atomic; set under mu) */
    int nops;            /* ops among the tickets (qmu) */
    int starting;        /* ops chosen it and not queued yet (atomic; raised under mu) */
    int senders;         /* ops holding or waiting for its send side (atomic): the last one flushes */
    bool reader_on;      /* its reader thread runs (mu) */
    pthread_cond_t rcv;  /* the reader's: an op is the head, or the connection died (qmu) */
    struct op *spare;    /* finished ops kept for the next (qmu): an op is made on one thread and
                          * freed on the reader, where malloc's per-thread cache would not recycle it */
    int nspare;
    struct ws_pool *pool;  /* for the reader */
    /* an event thread's own stream (its loop; NULL: shared, read by a
     * reader thread): only that thread sends on it and reads it, when its
     * fd is readable, and resumes the requests it answers (owned_*) */
    cmn_loop *owner;
    cmn_watch watch;       /* in the owner's loop once it used the stream */
    bool watched;          /* in its owner's loop, or about to be (mu) */
    bool timed_out;        /* the head's deadline passed (the owner's thread) */
} ws_conn;

typedef struct ws_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a slot freed, a connection came or went */
    ws_conn *conns;    /* in the order they were dialled */
    int nconns;        /* including those being dialled */
    int load[WORKERS_MAX]; /* objects in flight per ETL process, over its connections (as users) */
    int waiters;       /* threads waiting on cv for room (atomic; raised under mu) */
    int refs;          /* its owner's and each reader thread's (mu) */
    bool freeing;      /* the owner let go (mu) */
    int fill_conns;    /* connections a window keeps busy (the cores, at most CONN_MAX) */
    int64_t svc_ns;    /* the ETL's time per object on a stream, a moving average of what the
                        * readers see (atomic, relaxed: approximate is enough) */
    bool alone;        /* the ETL serves every stream in one process, a thread each (Etlfs-Worker N/1; mu) */
    int nworkers;      /* the ETL's processes when the 101 says N/M with M > 1, else 0 (mu) */
    pid_t pgid;        /* the ETL's process group when started here, else 0 (mu) */
    bool busy_cpu;     /* its processes were on the CPU at the last sample (PACE_UTIL; mu) */
    int64_t cpu_at, cpu_ns; /* the last sample: when, and the CPU time its processes had used (mu) */
    ws_conn *owned;    /* the event threads' own streams, and those being dialled (ws NULL; mu) */
} ws_pool;

static void *pool_new(const etl_handle *h)
{
    ws_pool *p = cmn_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    cmn_cond_init_mono(&p->cv);
    p->refs = 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    p->fill_conns = cores < 1 ? 1 : cores > CONN_MAX ? CONN_MAX : (int)cores;
    return p;
}

static void spares_free(ws_conn *c);

static void conn_free(ws_conn *c)
{
    cmn_ws_free(c->ws);
    spares_free(c);
    pthread_cond_destroy(&c->rcv);
    pthread_mutex_destroy(&c->qmu);
    free(c);
}

static bool conn_dead(const ws_conn *c)
{
    return __atomic_load_n(&c->dead, __ATOMIC_SEQ_CST);
}

static int conn_users(const ws_conn *c)
{
    return __atomic_load_n(&c->users, __ATOMIC_SEQ_CST);
}

/* Marks c dead and wakes its reader (mu held). */
static void conn_kill(ws_conn *c)
{
    __atomic_store_n(&c->dead, true, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&c->qmu);
    pthread_cond_signal(&c->rcv);
    pthread_mutex_unlock(&c->qmu);
}

/* The last reference went: every connection goes. */
static void pool_destroy(ws_pool *p)
{
    for (ws_conn *c = p->conns, *next; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    for (ws_conn *c = p->owned, *next; c; c = next) { /* none: each holds a reference */
        next = c->next;
        conn_free(c);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* No transfer runs any more (its handle goes; that may happen on a reader
 * thread, in an op's done): the readers end on their own, and the last of
 * them, or this, frees the pool. */
static void pool_free(void *state)
{
    ws_pool *p = state;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    for (ws_conn *c = p->conns; c; c = c->next)
        conn_kill(c);
    for (ws_conn **pp = &p->owned, *c; (c = *pp);) {
        conn_kill(c);
        if (c->ws && !c->watched) { /* dialled, never used: nobody else will let it go */
            *pp = c->next;
            conn_free(c);
            p->refs--;
            continue;
        }
        if (c->ws) /* its owner's loop wakes and lets it go (no op is in flight: they hold the handle) */
            cmn_ws_shutdown(c->ws, "the ETL's streams were closed");
        pp = &c->next;
    }
    p->freeing = true;
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        pool_destroy(p);
}

/* Objects in flight in the process that serves c: on all its
 * connections when the ETL said which, else on c. */
static int conn_load(const ws_pool *p, const ws_conn *c)
{
    return c->worker >= 0 ? __atomic_load_n(&p->load[c->worker], __ATOMIC_RELAXED) : conn_users(c);
}

/* Counts an object onto c (mu held: the choice and the count are one
 * step), or off it (any thread). */
static void conn_count(ws_pool *p, ws_conn *c, int d)
{
    __atomic_add_fetch(&c->users, d, __ATOMIC_SEQ_CST);
    if (c->worker >= 0)
        __atomic_add_fetch(&p->load[c->worker], d, __ATOMIC_RELAXED);
}

/* A small /proc file's text, NUL-terminated: its length, or -1. */
static ssize_t proc_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

/* The CPU time pid has used, all its threads (its stat's utime and
 * stime, in clock ticks), ns; 0 when it is gone. */
static int64_t proc_cpu_ns(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    char *paren = proc_text(path, buf, sizeof buf) > 0 ? strrchr(buf, ')') : NULL;
    unsigned long long ut, st;
    if (!paren || sscanf(paren + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    static long hz;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK);
    return (int64_t)(ut + st) * (ETL_SEC_NS / (hz > 0 ? hz : 100));
}

/* The CPU time an ETL started here has used: its first process and that
 * one's children (prefork.py's workers), ns; -1 when unknown. */
static int64_t etl_cpu_ns(pid_t pgid)
{
    char path[64], kids[4096];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pgid, (int)pgid);
    if (proc_text(path, kids, sizeof kids) < 0)
        return -1;
    int64_t total = proc_cpu_ns(pgid);
    char *s = kids, *end;
    for (long pid; (pid = strtol(s, &end, 10)) > 0; s = end)
        total += proc_cpu_ns(pid);
    return total;
}

/* Whether objects wait here rather than queue in a busy process (PACE_NS;
 * mu held): the CPU sample is taken at most every PACE_SAMPLE_NS. */
static bool pool_paced(ws_pool *p)
{
    if (p->nworkers < 2 || p->pgid <= 0 || __atomic_load_n(&p->svc_ns, __ATOMIC_RELAXED) < PACE_NS)
        return false;
    int64_t now = cmn_mono_ns();
    if (now - p->cpu_at >= PACE_SAMPLE_NS) {
        int64_t cpu = etl_cpu_ns(p->pgid);
        if (p->cpu_at && cpu >= p->cpu_ns) /* a worker restarted takes its time with it: no verdict */
            p->busy_cpu = (cpu - p->cpu_ns) * 100 >= (now - p->cpu_at) * p->nworkers * PACE_UTIL;
        p->cpu_at = now;
        p->cpu_ns = cpu;
    }
    return p->busy_cpu;
}

/* pool_pick for a paced ETL (mu held): a connection of the least loaded
 * process while it has fewer than PACE_DEPTH objects in flight, the one
 * with work on it if any (the object queues behind the running one on that
 * stream instead of running beside it in the same process), NULL to dial
 * while some process has no stream yet (the ETL hands a new stream to the
 * process holding the fewest), else *wait. */
static ws_conn *pool_pick_paced(ws_pool *p, bool *wait)
{
    unsigned char seen[WORKERS_MAX] = {0};
    int nseen = 0, least = -1;
    for (ws_conn *c = p->conns; c; c = c->next) {
        if (conn_dead(c) || !cmn_ws_usable(c->ws) || c->worker < 0)
            continue;
        nseen += !seen[c->worker];
        seen[c->worker] = 1;
        if (least < 0 || conn_load(p, c) < __atomic_load_n(&p->load[least], __ATOMIC_RELAXED))
            least = c->worker;
    }
    *wait = false;
    if (nseen < p->nworkers && p->nconns < CONN_MAX)
        return NULL;
    ws_conn *pick = NULL;
    if (least >= 0 && __atomic_load_n(&p->load[least], __ATOMIC_RELAXED) < PACE_DEPTH)
        for (ws_conn *c = p->conns; c; c = c->next)
            if (c->worker == least && !conn_dead(c) && cmn_ws_usable(c->ws) &&
                (!pick || conn_users(c) > conn_users(pick)))
                pick = c;
    *wait = !pick;
    return pick;
}

/* Over a list of connections (those of owner, any when NULL; mu held):
 * *idle, the usable one with no work whose process is least loaded, and
 * *least, the usable one with the fewest objects in flight. Returns how
 * many of owner's the list holds, usable or not. */
static int conns_scan(ws_pool *p, ws_conn *list, const cmn_loop *owner, ws_conn **idle, ws_conn **least)
{
    int n = 0;
    *idle = *least = NULL;
    for (ws_conn *c = list; c; c = c->next) {
        if (owner && c->owner != owner)
            continue;
        n++;
        if (conn_dead(c) || !cmn_ws_usable(c->ws))
            continue;
        int u = conn_users(c);
        if (u == 0 && (!*idle || conn_load(p, c) < conn_load(p, *idle)))
            *idle = c;
        if (!*least || u < conn_users(*least))
            *least = c;
    }
    return n;
}

/* A connection with room for one more object (mu held): an idle one whose
 * process transforms nothing, else NULL when another may be dialled (the
 * ETL hands it to its process holding the fewest streams), else an idle
 * one, else the least busy with room; *wait when there is none. The oldest
 * of equals wins. */
static ws_conn *pool_pick(ws_pool *p, bool *wait)
{
    if (pool_paced(p))
        return pool_pick_paced(p, wait);
    ws_conn *best, *idle;
    conns_scan(p, p->conns, NULL, &idle, &best);
    *wait = false;
    if (idle && (conn_load(p, idle) == 0 || p->nconns >= CONN_MAX))
        return idle;
    if (p->nconns < CONN_MAX)
        return NULL;
    if (best && conn_users(best) < INFLIGHT_MAX)
        return best;
    *wait = true;
    return NULL;
}

/* For an inline object to an ETL that is one process (alone): pool_pick's
 * choice while fewer connections than cores have work (each of the ETL's
 * per-stream threads can run at once: two objects on one stream would run
 * one after the other); beyond that, the least loaded of the oldest
 * fill_conns connections that have work in flight, while it has room for
 * one more, up to depth. Spread over idle connections, each of the ETL's
 * per-stream threads finds its queue empty between objects (a poll and a
 * context switch per object, and one more in our reader); kept on as few
 * streams as cores, each deep, it finds the next one queued and its
 * answers leave, and are read, several per write. Busy connections beyond
 * those get nothing new and fall idle. The least loaded, not the fullest:
 * a deep queue on one stream would idle the others' threads. */
static ws_conn *pool_pick_deep(ws_pool *p, int depth, bool *wait)
{
    ws_conn *pick = NULL;
    int least = depth, busy = 0;
    for (ws_conn *c = p->conns; c; c = c->next) {
        int u = conn_users(c);
        if (!u || conn_dead(c) || !cmn_ws_usable(c->ws))
            continue;
        if (++busy > p->fill_conns)
            continue;
        if (u < least) {
            pick = c;
            least = u;
        }
    }
    if (pick && busy >= p->fill_conns) {
        *wait = false;
        return pick;
    }
    return pool_pick(p, wait);
}

/* For a window of ops (etl_async.fill): the least loaded, with room for
 * one more (up to FILL_MAX), of the oldest fill_conns usable connections;
 * NULL to dial one while there are fewer (counting those being dialled)
 * and none of them is idle; *wait when all are full. A window spread thin
 * over many connections leaves each of the ETL's per-connection threads
 * finding its queue empty between objects (a poll per object); a few deep
 * ones each find the next object queued, and the least loaded first keeps
 * any of them from running dry while another fills. Connections beyond
 * them (the inline path's, or dialled by a window's blocking transfers
 * while its first ones were being dialled) get no window's objects, which
 * go to the same few for the job's life. The inline path (one object per
 * request) keeps pool_pick's spread over the ETL's processes. */
static ws_conn *pool_pick_fill(ws_pool *p, bool *wait)
{
    bool slow = __atomic_load_n(&p->svc_ns, __ATOMIC_RELAXED) >= FILL_SLOW_NS;
    int want = slow ? CONN_MAX : p->fill_conns, depth = slow ? INFLIGHT_MAX : FILL_MAX;
    ws_conn *least = NULL;
    int usable = 0, listed = 0;
    for (ws_conn *c = p->conns; c; c = c->next) {
        listed++;
        if (usable == want || conn_dead(c) || !cmn_ws_usable(c->ws))
            continue;
        usable++;
        int u = conn_users(c);
        if (u < depth && (!least || u < conn_users(least)))
            least = c;
    }
    int dialling = p->nconns - listed;
    *wait = false;
    if ((!least || conn_users(least) > 0) && usable + dialling < want && p->nconns < CONN_MAX)
        return NULL;
    *wait = !least;
    return least;
}

/* A dead connection that nobody uses and no reader reads goes (mu held). */
static void conn_check(ws_pool *p, ws_conn *c)
{
    if (!cmn_ws_usable(c->ws))
        __atomic_store_n(&c->dead, true, __ATOMIC_SEQ_CST);
    if (c->owner) { /* freed by its owner (owned_end) */
        pthread_cond_broadcast(&p->cv);
        return;
    }
    if (conn_dead(c) && conn_users(c) == 0 && !c->reader_on) {
        for (ws_conn **pp = &p->conns; *pp; pp = &(*pp)->next)
            if (*pp == c) {
                *pp = c->next;
                break;
            }
        p->nconns--;
        conn_free(c);
    } else if (conn_dead(c)) {
        conn_kill(c); /* its reader may end */
    }
    pthread_cond_broadcast(&p->cv);
}

/* Drops a user (mu held). */
static void conn_release(ws_pool *p, ws_conn *c)
{
    conn_count(p, c, -1);
    conn_check(p, c);
}

/* Drops an op's user on its reader, mu not held: mu only when a thread
 * waits for room (it raised waiters before it looked, so one of the two
 * sees the other's change) or c died. c stays: its reader runs. */
static void conn_release_op(ws_pool *p, ws_conn *c)
{
    conn_count(p, c, -1);
    if (__atomic_load_n(&p->waiters, __ATOMIC_SEQ_CST) == 0 && !conn_dead(c) && cmn_ws_usable(c->ws))
        return;
    pthread_mutex_lock(&p->mu);
    conn_check(p, c);
    pthread_mutex_unlock(&p->mu);
}

/* The 101's Etlfs-Worker: "N" (the stream is served by process N of
 * several) or "N/M" (process N of M, *of = M); -1 when not told or when M is 1. *alone:
 * M is 1, the ETL serves every stream in one process, each on a thread of
 * its own (the C transformers). */
static int worker_of(const char *v, bool *alone, int *of)
{
    char *end = NULL;
    long w = v ? strtol(v, &end, 10) : -1;
    long m = 0;
    if (v && end != v && *end == '/') {
        const char *ms = end + 1;
        m = strtol(ms, &end, 10);
        if (end == ms || m < 1)
            return -1;
    }
    if (!v || end == v || *end || w < 0 || w >= WORKERS_MAX || (m && w >= m))
        return -1;
    *alone = m == 1;
    *of = (int)m;
    return m == 1 ? -1 : (int)w;
}

/* A stream to the ETL: through its Unix socket when it listens there (an
 * ETL started here, ours), else its TCP port: one failed connect per dial
 * for an ETL that does not (a missing file answers at once). */
static int dial_to(const char *sock_path, pid_t pgid, int port, int64_t deadline, char **worker, cmn_ws **ws,
                   cmn_err *cerr)
{
    if (sock_path) {
        if (cmn_ws_connect_unix(sock_path, pgid, WS_PATH, deadline, WORKER_HDR, worker, ws, NULL) == 0)
            return 0;
    }
    return cmn_ws_connect("127.0.0.1", port, WS_PATH, deadline, WORKER_HDR, worker, ws, cerr);
}

static int dial(const etl_handle *h, int64_t deadline, char **worker, cmn_ws **ws, cmn_err *cerr)
{
    return dial_to(h->sock_path, h->pgid, h->port, deadline, worker, ws, cerr);
}

/* A connection to send one object on (its users counted), or -errno with
 * cerr: -ETIMEDOUT, or the dial's failure. */
static int pool_acquire(ws_pool *p, const etl_handle *h, int64_t deadline, ws_conn **out, cmn_err *cerr)
{
    pthread_mutex_lock(&p->mu);
    __atomic_add_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST); /* before the look: see conn_release_op */
    for (;;) {
        bool wait;
        ws_conn *c = pool_pick(p, &wait);
        if (c) {
            __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
            conn_count(p, c, 1);
            *out = c;
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        if (!wait)
            break;
        struct timespec ts = {.tv_sec = deadline / ETL_SEC_NS, .tv_nsec = deadline % ETL_SEC_NS};
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT) {
            __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&p->mu);
            return cmn_err_set(cerr, ETIMEDOUT, "every connection to the ETL is full");
        }
    }
    __atomic_sub_fetch(&p->waiters, 1, __ATOMIC_SEQ_CST);
    p->nconns++; /* a slot for the one we dial */
    pthread_mutex_unlock(&p->mu);
    cmn_ws *ws = NULL;
    char *worker = NULL;
    int rc = dial(h, deadline, &worker, &ws, cerr);
    bool alone = false;
    int of = 0, w = worker_of(worker, &alone, &of);
    free(worker);
    pthread_mutex_lock(&p->mu);
    if (rc) {
        p->nconns--;
        pthread_cond_broadcast(&p->cv);
    } else {
        ws_conn *c = cmn_xcalloc(1, sizeof *c);
        c->ws = ws;
        c->pool = p;
        pthread_mutex_init(&c->qmu, NULL);
        cmn_cond_init_mono(&c->rcv);
        c->worker = w;
        p->alone |= alone;
        if (w >= 0 && of > 1) {
            p->nworkers = of;
            p->pgid = h->pgid;
        }
        conn_count(p, c, 1);
        ws_conn **tail = &p->conns;
        while (*tail)
            tail = &(*tail)->next;
        *tail = c;
        *out = c;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* WebsocketCtrlMsg as JSON, written straight into a stack buffer (the heap
 * only for long names): one is made per object, so no tree of nodes and no
 * allocations. */
typedef struct ctrl_msg {
    char stack[2048];
    char *data; /* stack, or malloc'd when the message needs more */
    size_t len;
} ctrl_msg;

static char *put(char *w, const char *s)
{
    size_t n = strlen(s);
    memcpy(w, s, n);
    return w + n;
}

/* A JSON string's content: '"', '\\' and control characters escaped, the
 * rest (UTF-8) as it is, as cJSON prints it. At most 6 bytes per byte. */
static char *put_json(char *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *w++ = '\\';
            *w++ = (char)*p;
        } else if (*p < 0x20) {
            w = put(w, "\\u00");
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        } else {
            *w++ = (char)*p;
        }
    }
    return w;
}

static void control_msg(ctrl_msg *m, const etl_object *obj, const char *args, bool fqn)
{
    size_t alen = args ? strlen(args) : 0;
    size_t need = 64 + 6 * alen + (fqn ? 3 * strlen(obj->fqn) : 0) + 6 * strlen(obj->name);
    m->data = need <= sizeof m->stack ? m->stack : cmn_xmalloc(need);
    char *w = put(m->data, "{");
    if (alen) {
        w = put_json(put(w, "\"etl_args\":\""), args);
        w = put(w, "\",");
    }
    if (fqn) { /* PathEscape leaves nothing JSON must escape */
        w = put(w, "\"fqn\":\"");
        w += cmn_path_escape_to(w, obj->fqn);
        w = put(w, "\",");
    }
    w = put_json(put(w, "\"path\":\""), obj->name);
    w = put(w, "\"}");
    m->len = (size_t)(w - m->data);
}

static void control_free(ctrl_msg *m)
{
    if (m->data != m->stack)
        free(m->data);
}

/* One answer: binary streams to the sink, text is kept as the error. */
typedef struct answer {
    const etl_sink *sink;
    int opcode;
    bool begun;       /* the sink saw begin() */
    int64_t streamed;
    cmn_buf text;
} answer;

static int answer_begin(void *ctx, int opcode, int64_t len)
{
    answer *a = ctx;
    a->opcode = opcode;
    if (opcode != CMN_WS_BINARY)
        return 0;
    a->begun = true;
    return a->sink->begin(a->sink->ctx, "application/octet-stream", len) ? -ECANCELED : 0;
}

static int answer_data(void *ctx, const void *buf, size_t len)
{
    answer *a = ctx;
    if (a->opcode != CMN_WS_BINARY) {
        size_t keep = a->text.len < ERRTEXT_MAX ? ERRTEXT_MAX - a->text.len : 0;
        cmn_buf_append(&a->text, buf, len < keep ? len : keep);
        return 0;
    }
    a->streamed += (int64_t)len;
    return a->sink->write(a->sink->ctx, buf, len) ? -ECANCELED : 0;
}

/* Where the bytes come from: the previous stage's spool, the object's
 * file, or nothing (fqn: the ETL opens the file). */
typedef struct source {
    const cmn_spool *input;
    int fd;
    int64_t len;
} source;

static int send_source(cmn_ws *ws, const source *src, int *read_errno)
{
    *read_errno = 0;
    if (src->input && src->input->fd < 0)
        return cmn_ws_send(ws, CMN_WS_BINARY, src->input->mem.data ? src->input->mem.data : "",
                           src->input->mem.len);
    if (src->input)
        return cmn_ws_send_fd(ws, CMN_WS_BINARY, src->input->fd, src->input->len, read_errno);
    if (src->fd >= 0)
        return cmn_ws_send_fd(ws, CMN_WS_BINARY, src->fd, src->len, read_errno);
    return 0;
}

/* Wakes whoever reads the head's answer (qmu held): the thread that waits
 * for it, or the connection's reader thread for an op. */
static void wake_head(ws_conn *c)
{
    if (c->head)
        pthread_cond_signal(c->head->op ? &c->rcv : &c->head->cv);
}

/* Queues t, in the order of the messages (the send side and qmu held). */
static void conn_enqueue(ws_conn *c, ticket *t)
{
    if (c->tail)
        c->tail->next = t;
    else
        c->head = t;
    c->tail = t;
    if (t->op) {
        c->nops++;
        if (c->head == t)
            wake_head(c);
    }
}

/* The head's answer was read: the next ticket's reader goes on (qmu held). */
static void conn_pop(ws_conn *c)
{
    ticket *t = c->head;
    c->head = t->next;
    if (!c->head)
        c->tail = NULL;
    if (t->op)
        c->nops--;
    wake_head(c);
}

/* Sends one object on c and queues its ticket, both under the send side
 * so that tickets are in the order of the messages. 0 or -errno; after a
 * failure the connection is shut (its queued tickets fail, a receiver wakes). */
static int conn_send(ws_conn *c, ticket *t, const ctrl_msg *ctrl, const source *src, int64_t deadline, int *read_errno)
{
    cmn_ws_send_lock(c->ws);
    pthread_mutex_lock(&c->qmu);
    conn_enqueue(c, t);
    pthread_mutex_unlock(&c->qmu);
    cmn_ws_set_send_deadline(c->ws, deadline);
    int rc = cmn_ws_send(c->ws, CMN_WS_BINARY, ctrl->data, ctrl->len);
    if (!rc)
        rc = send_source(c->ws, src, read_errno);
    if (!rc)
        rc = cmn_ws_flush(c->ws);
    cmn_ws_send_unlock(c->ws);
    if (rc)
        cmn_ws_shutdown(c->ws, rc == -EIO ? "an object's source failed while it was sent" : cmn_ws_why(c->ws));
    return rc;
}

/* Reads the head's answer into r (its reader alone calls this). */
static int read_answer(ws_conn *c, int64_t deadline, const cmn_ws_reader *r)
{
    if (!cmn_ws_usable(c->ws))
        return -ECONNRESET;
    cmn_ws_set_recv_deadline(c->ws, deadline);
    int rc = cmn_ws_recv(c->ws, r);
    if (rc) /* cut, late or refused: the answers after ours are lost with it */
        cmn_ws_shutdown(c->ws, cmn_ws_why(c->ws));
    return rc;
}

/* Waits until t's answer is next, reads it into r, and leaves the queue,
 * waking the next ticket's reader alone (a broadcast woke every thread
 * waiting on any connection, for one of them to go on). */
static int conn_recv(ws_conn *c, ticket *t, int64_t deadline, const cmn_ws_reader *r)
{
    pthread_mutex_lock(&c->qmu);
    while (c->head != t) /* bounded: each answer before ours has its deadline */
        pthread_cond_wait(&t->cv, &c->qmu);
    pthread_mutex_unlock(&c->qmu);
    int rc = read_answer(c, deadline, r);
    pthread_mutex_lock(&c->qmu);
    conn_pop(c);
    pthread_mutex_unlock(&c->qmu);
    return rc;
}

/* What one attempt came to: 0 (the whole output is in the sink), 1 (the
 * connection broke before any answer: another may be tried), or -errno
 * with err naming the ETL and the object. */
static int outcome(etl_handle *h, const etl_object *obj, answer *a, bool from_input, int wrc, int rrc, int read_errno,
                   int64_t tmo, const char *why, int attempt, cmn_err *err)
{
    int rc = 0;
    if (wrc == -EIO) /* the source, not the connection (which the cut message spoilt) */
        ETL_FAIL(EIO, "cannot read %s: %s", from_input ? "the previous stage's output" : obj->fqn,
                 read_errno ? strerror(read_errno) : "it ended early (changed while it was sent)");
    if (!wrc && rrc == 0) {
        if (a->opcode != CMN_WS_BINARY) {
            /* the ETL's error for this object; the connection stays good */
            for (size_t i = 0; i < a->text.len; i++)
                if (a->text.data[i] == '\n' || a->text.data[i] == '\r')
                    a->text.data[i] = ' ';
            cmn_utf8_scrub(a->text.data);
            ETL_FAIL(EPROTO, "the ETL answered: %s", a->text.len ? a->text.data : "(an empty error)");
        }
        if (!a->begun && a->sink->begin(a->sink->ctx, "application/octet-stream", 0))
            ETL_FAIL(ECANCELED, "the receiver stopped reading");
        return 0;
    }
    if (rrc == -ECANCELED)
        ETL_FAIL(ECANCELED, "the receiver stopped reading");
    if (rrc == -ETIMEDOUT || wrc == -ETIMEDOUT) {
        char d[32];
        cmn_format_duration(tmo, d, sizeof d);
        ETL_FAIL(ETIMEDOUT, "no complete answer within %s", d);
    }
    if (a->begun || a->text.len || attempt == 1) /* output went out, or a second connection broke too */
        ETL_FAIL(EPROTO, "the WebSocket to the ETL broke: %s", why);
    return 1;
out:
    return rc;
}

static int ws_transfer(etl_handle *h, const etl_object *obj, const char *args, const cmn_spool *input,
                       const etl_sink *sink, int64_t timeout_ns, cmn_err *err)
{
    ws_pool *pool = h->comm_state;
    int64_t tmo = timeout_ns > 0 ? timeout_ns : h->object_timeout_ns;
    int64_t deadline = cmn_mono_ns() + tmo;
    /* the ETL opens the file: argument fqn, the SDK's direct_file_access
     * (ETL_DIRECT_FQN), or an ETL of ours on this node (launch.c) */
    bool fqn = !input && (strcmp(h->arg, "fqn") == 0 || h->direct_fqn || h->fqn_default);
    source src = {.input = input, .fd = -1};
    ctrl_msg ctrl;
    control_msg(&ctrl, obj, args, fqn);
    answer a = {.sink = sink};
    cmn_buf_init(&a.text);
    int rc = 0;

    if (!input && !fqn) {
        struct stat st;
        src.fd = open(obj->fqn, O_RDONLY | O_CLOEXEC);
        if (src.fd < 0 || fstat(src.fd, &st) != 0) {
            int e = errno;
            ETL_FAIL(e == ENOENT ? ENOENT : EIO, "cannot open %s: %s", obj->fqn, strerror(e));
        }
        src.len = st.st_size;
    }
    for (int attempt = 0;; attempt++) {
        ws_conn *c = NULL;
        cmn_err cerr;
        int crc = pool_acquire(pool, h, deadline, &c, &cerr);
        if (crc == -ETIMEDOUT) {
            char d[32];
            cmn_format_duration(tmo, d, sizeof d);
            ETL_FAIL(ETIMEDOUT, "no complete answer within %s (%s)", d, cerr.msg);
        }
        if (crc) /* refused (the ETL is gone), or not a WebSocket server: the ETL's failure */
            ETL_FAIL(EPROTO, "%s", cerr.msg);
        ticket t = {0};
        pthread_cond_init(&t.cv, NULL);
        int read_errno = 0;
        int wrc = conn_send(c, &t, &ctrl, &src, deadline, &read_errno);
        cmn_ws_reader r = {&a, answer_begin, answer_data};
        int rrc = conn_recv(c, &t, deadline, &r);
        pthread_cond_destroy(&t.cv);
        char why[200] = "";
        if (wrc || rrc) /* c may go with the release */
            snprintf(why, sizeof why, "%s", cmn_ws_why(c->ws));
        pthread_mutex_lock(&pool->mu);
        conn_release(pool, c);
        pthread_mutex_unlock(&pool->mu);
        __atomic_add_fetch(&h->out_bytes, a.streamed, __ATOMIC_RELAXED);
        rc = outcome(h, obj, &a, input != NULL, wrc, rrc, read_errno, tmo, why, attempt, err);
        if (rc <= 0)
            break;
        cmn_debug("etl[%s]: object ais://%s/%s: the WebSocket broke (%s); once more on another", h->name,
                  obj->bucket, obj->name, why);
        a.opcode = 0;
    }
    if (rc == 0) {
        __atomic_add_fetch(&h->in_bytes, input ? input->len : src.len, __ATOMIC_RELAXED);
        __atomic_add_fetch(&h->obj_count, 1, __ATOMIC_RELAXED);
    }
out:
    if (src.fd >= 0)
        close(src.fd);
    cmn_buf_free(&a.text);
    control_free(&ctrl);
    return rc;
}

/* ---------------------------------------------------------------- ops
 * An object nobody waits for (etl_transform_start: from an event thread, or
 * one of an offline job's window):
 * sent at once on a connection that has room, its answer read by that
 * connection's reader thread, which calls done. No worker holds the
 * request meanwhile, and no thread is woken but the one that reads. */
typedef struct op {
    ticket t;
    ws_conn *c;
    etl_handle *h;
    etl_object obj;
    etl_async as;
    etl_sink via; /* into as.spool (else the answer goes to as.sink) */
    answer a;
    int64_t tmo, deadline;
    struct op *next_spare; /* in the pool's spares */
} op;

#define SPARES_MAX FILL_MAX /* ops kept per connection: as many as may be in flight on it */

/* An op to fill, a spare one when there is (qmu held): its cv stays made. */
static op *op_get(ws_conn *p)
{
    op *o = p->spare;
    if (o) {
        p->spare = o->next_spare;
        p->nspare--;
        return o; /* op_init sets every field */
    }
    o = cmn_xcalloc(1, sizeof *o);
    pthread_cond_init(&o->t.cv, NULL);
    return o;
}

/* A finished op back to the spares, or freed (qmu held). */
static void op_put(ws_conn *p, op *o)
{
    if (p->nspare < SPARES_MAX) {
        o->next_spare = p->spare;
        p->spare = o;
        p->nspare++;
        return;
    }
    pthread_cond_destroy(&o->t.cv);
    free(o);
}

static void spares_free(ws_conn *p)
{
    for (op *o = p->spare, *next; o; o = next) {
        next = o->next_spare;
        pthread_cond_destroy(&o->t.cv);
        free(o);
    }
    p->spare = NULL;
    p->nspare = 0;
}

#define SEND_WAIT_NS (ETL_SEC_NS / 10) /* an op's control message waits for room in the socket this long at most */

static int op_write(void *ctx, const void *buf, size_t len)
{
    op *o = ctx;
    return cmn_spool_write(o->as.spool, buf, len);
}

static int op_begin(void *ctx, const char *ctype, int64_t len)
{
    (void)ctype;
    op *o = ctx;
    cmn_spool_expect(o->as.spool, len); /* a one-frame answer's length: one allocation, no regrowth copies */
    return 0;
}

/* Fills an op for obj on connection c; returns its deadline. */
static int64_t op_init(op *o, ws_conn *c, etl_handle *h, const etl_object *obj, const etl_async *as)
{
    o->t.next = NULL;
    o->t.op = o;
    o->h = h;
    o->obj = *obj;
    o->as = *as;
    o->via = (etl_sink){.ctx = o, .begin = op_begin, .write = op_write};
    o->a = (answer){.sink = as->spool ? &o->via : as->sink};
    cmn_buf_init(&o->a.text);
    o->tmo = as->timeout_ns > 0 ? as->timeout_ns : h->object_timeout_ns;
    o->c = c;
    return o->deadline = cmn_mono_ns() + o->tmo;
}

/* The op's answer was read (rrc, why) and its connection released: done.
 * o is the caller's to put back (op_put) afterwards. */
static void op_end(op *o, int rrc, const char *why)
{
    etl_handle *h = o->h;
    __atomic_add_fetch(&h->out_bytes, o->a.streamed, __ATOMIC_RELAXED);
    cmn_err e = {0};
    int rc = outcome(h, &o->obj, &o->a, false, 0, rrc, 0, o->tmo, why, 0, &e);
    if (rc == 1) {
        rc = -EAGAIN; /* etl_transform tries another connection */
        cmn_debug("etl[%s]: object ais://%s/%s: the WebSocket broke (%s); once more on another", h->name,
                  o->obj.bucket, o->obj.name, why);
    } else if (rc == 0) {
        __atomic_add_fetch(&h->obj_count, 1, __ATOMIC_RELAXED);
    } else {
        cmn_debug("%s", e.msg);
        if (rc != -ECANCELED)
            etl_handle_record_error(h, &o->obj, &e);
    }
    etl_async as = o->as;
    cmn_buf_free(&o->a.text);
    as.done(as.ctx, rc, &e);
}

/* After an answer the reader waits for the next one in poll for this long,
 * where the event thread that queues an op need not wake it (a futex and a
 * context switch per object when it slept on rcv); then it sleeps on rcv. */
#define READER_BUSY_NS (ETL_SEC_NS / 2)
#define READER_POLL_MS 20 /* a look at the queue (a new op's deadline, the pool's end) this often meanwhile */

/* A connection's reader: reads the answers of its ops as they come to the
 * head of its queue (a waiting transfer reads its own); ends once the
 * connection is dead with no op left on it. */
static void *reader_main(void *arg)
{
    ws_conn *c = arg;
    ws_pool *p = c->pool;
    int64_t busy_until = 0, prev_ns = 0; /* when the previous answer was read */
    pthread_mutex_lock(&c->qmu);
    for (;;) {
        if (c->head && c->head->op) {
            op *o = c->head->op;
            pthread_mutex_unlock(&c->qmu);
            cmn_ws_reader r = {&o->a, answer_begin, answer_data};
            int rrc = read_answer(c, o->deadline, &r);
            /* the ETL's time for it: from when it could start it (sent, or
             * the answer before it read) to its answer */
            int64_t now = cmn_mono_ns(), from = o->deadline - o->tmo;
            if (!rrc) {
                int64_t svc = __atomic_load_n(&p->svc_ns, __ATOMIC_RELAXED);
                svc += (now - (prev_ns > from ? prev_ns : from) - svc) / 32; /* a stall moves it little */
                __atomic_store_n(&p->svc_ns, svc, __ATOMIC_RELAXED);
            }
            prev_ns = now;
            char why[200] = "";
            if (rrc)
                snprintf(why, sizeof why, "%s", cmn_ws_why(c->ws));
            pthread_mutex_lock(&c->qmu);
            conn_pop(c);
            pthread_mutex_unlock(&c->qmu);
            conn_release_op(p, c); /* the op's use; c stays while its reader runs */
            op_end(o, rrc, why);
            busy_until = now + READER_BUSY_NS;
            pthread_mutex_lock(&c->qmu);
            op_put(c, o); /* under the hold the loop takes anyway */
            continue;
        }
        if (c->nops == 0 && (conn_dead(c) || !cmn_ws_usable(c->ws))) {
            /* ends only if no op chose c meanwhile: ws_start chooses under mu
             * (starting raised, or a new reader started when reader_on is
             * false) and queues under qmu, so the decision and reader_on's
             * change are one step under both; an op still starting wakes
             * this once queued */
            pthread_mutex_unlock(&c->qmu);
            pthread_mutex_lock(&p->mu);
            pthread_mutex_lock(&c->qmu);
            if (c->nops == 0 && __atomic_load_n(&c->starting, __ATOMIC_SEQ_CST) == 0)
                break;
            pthread_mutex_unlock(&p->mu);
            if (c->nops == 0)
                pthread_cond_wait(&c->rcv, &c->qmu);
            continue;
        }
        if (!c->head && !conn_dead(c) && cmn_mono_ns() < busy_until) {
            pthread_mutex_unlock(&c->qmu);
            int n = cmn_ws_wait_input(c->ws, READER_POLL_MS);
            pthread_mutex_lock(&c->qmu);
            if (n != 0 && !c->head) /* input for no ticket (a ping, a close) or a failure: read with the next op */
                busy_until = 0;
            continue;
        }
        pthread_cond_wait(&c->rcv, &c->qmu);
    }
    pthread_mutex_unlock(&c->qmu); /* mu stays held */
    c->reader_on = false;
    conn_check(p, c); /* may free c */
    bool last = --p->refs == 0 && p->freeing;
    pthread_mutex_unlock(&p->mu);
    if (last)
        pool_destroy(p);
    return NULL;
}

/* Only an ETL that reads the file itself: otherwise the bytes go too, and a
 * thread that may wait sends them. */
static bool ws_starts(const etl_handle *h)
{
    return strcmp(h->arg, "fqn") == 0 || h->direct_fqn || h->fqn_default;
}

/* ws_start's connection, or NULL (mu held). A window's (fill) is
 * pool_pick_fill's, its send side not taken: the worker waits for it after
 * mu. An inline object's comes with its send side taken (trylock: never
 * waits, so no order against conn_send's); it spreads over idle connections
 * (pool_pick: over the ETL's processes, or whichever process takes a new
 * stream), except when the ETL said it is one process with a thread per
 * stream (alone): then, once as many connections as cores have work, it
 * joins the least loaded of as many connections as cores that have work
 * in flight, up to INLINE_DEPTH, so that the stream's thread finds the
 * next control message queued instead of sleeping in poll for each (a context switch and a
 * wake-up on each side per object), and answers ready together leave in one
 * write. A filled connection whose send side is busy for a moment (the
 * other event thread sending, its reader flushing) gives way to pool_pick's
 * choice rather than the object going to a worker (a wake-up and a blocking
 * send). */
static ws_conn *start_pick(ws_pool *p, bool fill)
{
    bool wait;
    if (fill)
        return pool_pick_fill(p, &wait);
    ws_conn *c = p->alone ? pool_pick_deep(p, INLINE_DEPTH, &wait) : pool_pick(p, &wait);
    if (c && cmn_ws_send_trylock(c->ws))
        return c;
    if (!c || !p->alone)
        return NULL;
    ws_conn *d = pool_pick(p, &wait);
    return d && d != c && cmn_ws_send_trylock(d->ws) ? d : NULL;
}

/* ---------------------------------------------------------- owned streams
 * An inline object started on an event thread (one that runs a cmn_loop)
 * for an ETL that is one process (alone; an ETL of several needs every
 * stream in pool_pick's sight to find the process that idles) goes on a
 * stream that thread owns: sent there, its answer read there when
 * the stream's fd is readable (cmn_ws_recv_some: never waits, stops
 * mid-message and goes on at the next readiness), and its done called
 * there, which resumes the request on the same thread: no reader thread,
 * no wake-up of another thread per object. A stream becomes a thread's
 * when it adopts an idle shared one (dialled by a thread that may wait, so
 * the ETL spreads its streams over its processes as before) and joins the
 * owner's loop at its first use; until then the object goes to a thread
 * that may wait. A stream that breaks or whose head is late
 * fails the objects on it as a reader thread's would (each tried once more
 * on a worker), and goes. */
#define OWNED_MAX 2 /* streams per event thread (deep ones: INLINE_DEPTH) */

/* Takes an idle shared connection for owner (mu held): one nobody uses and
 * no reader thread reads, of the least busy process. Streams are not
 * dialled for an event thread (it never waits): the ETL hands each new
 * stream to its process holding the fewest, and a thread that may wait
 * dials them as before; an event thread adopts one once it is idle. */
static ws_conn *owned_adopt(ws_pool *p, cmn_loop *owner)
{
    ws_conn **best = NULL;
    for (ws_conn **pp = &p->conns; *pp; pp = &(*pp)->next) {
        ws_conn *c = *pp;
        if (conn_users(c) || c->reader_on || conn_dead(c) || !cmn_ws_usable(c->ws) ||
            __atomic_load_n(&c->starting, __ATOMIC_SEQ_CST))
            continue;
        if (!best || conn_load(p, c) < conn_load(p, *best))
            best = pp;
    }
    if (!best)
        return NULL;
    ws_conn *c = *best;
    *best = c->next;
    p->nconns--;
    c->owner = owner;
    c->watched = false;
    c->next = p->owned;
    p->owned = c;
    p->refs++; /* the stream's, until it goes (owned_end) */
    return c;
}

/* owner's stream for one more object to an ETL of one process (alone), or
 * NULL (mu held): the least loaded, up to INLINE_DEPTH (its thread finds
 * the next object queued), a second one adopted once the first is half
 * full; NULL: the object goes to a thread that may wait, which dials when
 * it must. */
static ws_conn *owned_pick(ws_pool *p, cmn_loop *owner)
{
    ws_conn *idle, *least;
    int n = conns_scan(p, p->owned, owner, &idle, &least);
    if (least && conn_users(least) < INLINE_DEPTH / 2)
        return least;
    ws_conn *a = n < OWNED_MAX ? owned_adopt(p, owner) : NULL;
    return a ? a : least && conn_users(least) < INLINE_DEPTH ? least : NULL;
}

static void owned_ready(cmn_watch *w, uint32_t events);

/* The stream goes (its owner's thread; every op on it ended). */
static void owned_end(ws_conn *c, bool in_loop)
{
    ws_pool *p = c->pool;
    if (in_loop)
        cmn_loop_del(c->owner, &c->watch);
    pthread_mutex_lock(&p->mu);
    for (ws_conn **pp = &p->owned; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    bool last = --p->refs == 0 && p->freeing;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    conn_free(c);
    if (last)
        pool_destroy(p);
}

/* A message with no object waiting for it: the stream is out of step. */
static int stray_begin(void *ctx, int opcode, int64_t len)
{
    (void)ctx;
    (void)opcode;
    (void)len;
    return -EPROTO;
}

/* The owner's loop: the stream is readable (or broke), a tick (the head's
 * deadline), or the loop ends. Reads every answer that is whole, each into
 * its op, whose done resumes its request on this thread. */
static void owned_ready(cmn_watch *w, uint32_t events)
{
    ws_conn *c = (ws_conn *)((char *)w - offsetof(ws_conn, watch));
    ws_pool *p = c->pool;
    if (events & CMN_LOOP_CLOSE) /* the loop removed the watch */
        cmn_ws_shutdown(c->ws, "the target is stopping");
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        cmn_ws_readable(c->ws);
    for (;;) {
        pthread_mutex_lock(&c->qmu);
        op *o = c->head ? c->head->op : NULL;
        pthread_mutex_unlock(&c->qmu);
        if (!o)
            break;
        if (!c->timed_out && cmn_mono_ns() > o->deadline && cmn_ws_usable(c->ws)) {
            c->timed_out = true; /* a late answer would be taken for the next object's */
            cmn_ws_shutdown(c->ws, "no answer in time");
        }
        int rrc;
        if (c->timed_out) {
            rrc = -ETIMEDOUT;
        } else if (!cmn_ws_usable(c->ws)) {
            rrc = -ECONNRESET;
        } else {
            cmn_ws_reader r = {&o->a, answer_begin, answer_data};
            rrc = cmn_ws_recv_some(c->ws, &r);
            if (rrc == -EAGAIN)
                break;
            if (rrc) /* cut or refused: the answers after it are lost with it */
                cmn_ws_shutdown(c->ws, cmn_ws_why(c->ws));
        }
        if (!rrc) {
            int64_t svc = __atomic_load_n(&p->svc_ns, __ATOMIC_RELAXED);
            svc += (cmn_mono_ns() - (o->deadline - o->tmo) - svc) / 32;
            __atomic_store_n(&p->svc_ns, svc, __ATOMIC_RELAXED);
        }
        char why[200] = "";
        if (rrc)
            snprintf(why, sizeof why, "%s", rrc == -ETIMEDOUT ? "no answer in time" : cmn_ws_why(c->ws));
        pthread_mutex_lock(&c->qmu);
        conn_pop(c);
        pthread_mutex_unlock(&c->qmu);
        conn_release_op(p, c);
        op_end(o, rrc, why); /* its request resumes here */
        pthread_mutex_lock(&c->qmu);
        op_put(c, o);
        pthread_mutex_unlock(&c->qmu);
    }
    pthread_mutex_lock(&c->qmu);
    bool idle = !c->head;
    pthread_mutex_unlock(&c->qmu);
    if (idle && cmn_ws_usable(c->ws) && !conn_dead(c) && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        /* input with no object waiting: a ping (answered), or the stream closing */
        cmn_ws_reader r = {NULL, stray_begin, NULL};
        int rc = cmn_ws_recv_some(c->ws, &r);
        if (rc && rc != -EAGAIN)
            cmn_ws_shutdown(c->ws, rc == -EPROTO ? "an answer for no object" : cmn_ws_why(c->ws));
    }
    if (idle && (conn_dead(c) || !cmn_ws_usable(c->ws) || (events & CMN_LOOP_CLOSE))) {
        pthread_mutex_lock(&p->mu);
        bool unused = conn_users(c) == 0;
        pthread_mutex_unlock(&p->mu);
        if (unused)
            owned_end(c, !(events & CMN_LOOP_CLOSE));
    }
}

/* ws_start for an event thread: 0 once the object is sent on a stream the
 * thread owns, -EAGAIN when there is none with room now (a thread that may
 * wait takes the object). */
static int owned_start(ws_pool *p, etl_handle *h, const etl_object *obj, const char *args, const etl_async *as,
                       cmn_loop *me)
{
    pthread_mutex_lock(&p->mu);
    ws_conn *c = p->freeing ? NULL : owned_pick(p, me);
    bool join = c && !c->watched;
    if (c) {
        conn_count(p, c, 1);
        c->watched = true;
    }
    pthread_mutex_unlock(&p->mu);
    if (!c)
        return -EAGAIN;
    if (join) {
        c->watch.fn = owned_ready;
        c->watch.ticks = true;
        if (cmn_loop_add(me, &c->watch, cmn_ws_fd(c->ws), EPOLLIN) != 0) {
            cmn_ws_shutdown(c->ws, "cannot watch the stream");
            pthread_mutex_lock(&p->mu);
            conn_count(p, c, -1);
            c->watched = false; /* dead and unused: pool_free lets it go */
            pthread_mutex_unlock(&p->mu);
            return -EAGAIN;
        }
    }
    ctrl_msg ctrl;
    control_msg(&ctrl, obj, args, true);
    pthread_mutex_lock(&c->qmu);
    op *o = op_get(c);
    pthread_mutex_unlock(&c->qmu);
    int64_t deadline = op_init(o, c, h, obj, as);
    cmn_ws_send_lock(c->ws);
    pthread_mutex_lock(&c->qmu);
    conn_enqueue(c, &o->t);
    pthread_mutex_unlock(&c->qmu);
    int64_t soon = cmn_mono_ns() + SEND_WAIT_NS;
    cmn_ws_set_send_deadline(c->ws, soon < deadline ? soon : deadline);
    int rc = cmn_ws_send(c->ws, CMN_WS_BINARY, ctrl.data, ctrl.len);
    if (!rc)
        rc = cmn_ws_flush(c->ws);
    cmn_ws_send_unlock(c->ws);
    control_free(&ctrl);
    if (rc) /* the loop finds the stream shut: the op ends with -EAGAIN, on a worker */
        cmn_ws_shutdown(c->ws, cmn_ws_why(c->ws));
    return 0;
}

static int ws_start(etl_handle *h, const etl_object *obj, const char *args, const etl_async *as)
{
    ws_pool *p = h->comm_state;
    if (!ws_starts(h))
        return -EAGAIN;
    cmn_loop *me = as->fill ? NULL : cmn_loop_self();
    if (me) {
        /* an event thread's own streams, for an ETL that is one process: an
         * ETL of several processes needs every stream in sight to find its
         * idle process (pool_pick), which streams split among threads hide;
         * a paced ETL's objects wait in the target (pool_pick_paced) */
        pthread_mutex_lock(&p->mu);
        bool own = p->alone && !pool_paced(p);
        pthread_mutex_unlock(&p->mu);
        if (own)
            return owned_start(p, h, obj, args, as, me);
    }
    ctrl_msg ctrl; /* made before any lock: a window's workers wait for each other's send side */
    control_msg(&ctrl, obj, args, true);
    /* one hold of mu: a connection with room whose send side is free now
     * (trylock: never waits, so no order against conn_send's), and its
     * reader; the ticket is queued under the send side, before the message
     * goes. A window's worker may wait for the send side (after mu: a
     * connection's send side, then its qmu, as conn_send), which other ops
     * hold for a control message each */
    pthread_mutex_lock(&p->mu);
    ws_conn *c = start_pick(p, as->fill);
    int rc = -EAGAIN; /* a dial, a wait for room, another sender (maybe a large body): for a thread that may block */
    if (c) {
        rc = 0;
        if (!c->reader_on) {
            pthread_t th;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            rc = pthread_create(&th, &attr, reader_main, c) ? -EAGAIN : 0;
            pthread_attr_destroy(&attr);
            c->reader_on = rc == 0; /* not a user: pool_pick counts objects */
            p->refs += rc == 0;
        }
        if (rc && !as->fill)
            cmn_ws_send_unlock(c->ws);
    }
    if (rc) {
        pthread_mutex_unlock(&p->mu);
        control_free(&ctrl);
        return rc;
    }
    conn_count(p, c, 1); /* the op's */
    __atomic_add_fetch(&c->starting, 1, __ATOMIC_SEQ_CST); /* its reader stays: see reader_main */
    __atomic_add_fetch(&c->senders, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&p->mu);
    if (as->fill)
        cmn_ws_send_lock(c->ws);
    pthread_mutex_lock(&c->qmu);
    op *o = op_get(c);
    int64_t deadline = op_init(o, c, h, obj, as);
    conn_enqueue(c, &o->t);
    __atomic_sub_fetch(&c->starting, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&c->qmu); /* o may end and be reused from here on: not read again */
    int64_t soon = cmn_mono_ns() + SEND_WAIT_NS;
    cmn_ws_set_send_deadline(c->ws, soon < deadline ? soon : deadline);
    rc = cmn_ws_send(c->ws, CMN_WS_BINARY, ctrl.data, ctrl.len);
    /* an op waiting behind this one for the send side flushes both: the
     * control messages of a window's workers leave in one write; a blocking
     * transfer flushes its own, and the reader flushes what is left before
     * it waits for input */
    if (!rc && __atomic_sub_fetch(&c->senders, 1, __ATOMIC_SEQ_CST) == 0)
        rc = cmn_ws_flush(c->ws);
    else if (rc)
        __atomic_sub_fetch(&c->senders, 1, __ATOMIC_SEQ_CST);
    cmn_ws_send_unlock(c->ws);
    control_free(&ctrl);
    if (rc) /* the reader finds the connection shut: the op ends with -EAGAIN */
        cmn_ws_shutdown(c->ws, cmn_ws_why(c->ws));
    return 0;
}

const etl_comm etl_comm_ws = {
    .name = "ws://",
    .arg_fqn = true,
    .transfer = ws_transfer,
    .start = ws_start,
    .starts = ws_starts,
    .state_new = pool_new,
    .state_free = pool_free,
};

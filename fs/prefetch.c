/*
 * prefetch.c - read-ahead through @etl views. A process that reads a view's
 * files in directory order (md5sum *, tar, a sequential DataLoader) waits for
 * one transform per file; here the daemon runs the next files' transforms
 * (GET ?etl_name=, as a reader's first read does) in the background while the
 * reader works on the current one, and the reader's first read of those files
 * takes the ready output instead of asking.
 *
 * Choices:
 *   - The order is followed per reading thread (FUSE gives its id) and
 *     directory, so two DataLoader workers reading different ranges, or
 *     parallel readers, each keep their own; the outputs are shared by name, so
 *     whoever reads a file first takes its output, and a reader whose next
 *     files another one asked for adopts them (DataLoader workers take turns
 *     through the directory, batch by batch); outputs made or being made
 *     for a reader that leaves its order stay for the next reader.
 *   - Only a first read counts, never an open: `cp` opens a view's files and
 *     copies them server-side, and must not make the daemon transform them too.
 *     An open takes an output made ahead (or waits for one being made), so
 *     it knows the output's length (reader.c: the page cache).
 *   - Bounded: at most etl_readahead outputs (queued, running or ready), each
 *     held in memory up to PF_MEM and spilled beyond, served only within
 *     PF_TTL_NS of when it was made. A reader that leaves the order drops what
 *     was queued for it and not started; a change of a source through the mount drops its
 *     outputs (a running one is thrown away when it finishes).
 *   - A file another reader read since this reader's previous run in order
 *     began (among the last FS_PF_RECENT first reads; a new reader: since
 *     its first read) is not transformed ahead for it: a DataLoader worker
 *     at the end of its batch would otherwise schedule the first files of
 *     the next batch, which the other worker has just read (a tenth of all
 *     transforms, wasted). The previous run's start, not this one's: the
 *     other worker may begin its batch a moment before this one begins its
 *     own. A file read before that (the last epoch) is transformed ahead.
 *   - The directory's order is the target's listing order (byte order of
 *     names, as `ls` and a shell glob give in the C locale); a page of names
 *     after the current file is listed when the reader first goes in order.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PF_MEM (4u << 20)             /* an output's bytes kept in memory, then a spool file */
#define PF_TTL_NS (5 * 1000000000LL)  /* a ready output not taken by then is dropped */
#define PF_PAGE 64                    /* names listed ahead at a time */
#define PF_MAX 64                     /* etl_readahead is capped here */

enum pf_state { PF_QUEUED, PF_RUNNING, PF_READY, PF_FAILED };

typedef struct fs_pf_entry {
    struct fs_pf_entry *next;
    char etl[256], bck[256];
    char *obj;
    enum pf_state state;
    bool stale;       /* dropped while running: its worker frees it */
    uint64_t owner;   /* the stream that scheduled it */
    int64_t ready_ns; /* monotonic, when it became ready */
    bool src_ok;      /* etl_keep_cache: what was known of the source when its transform began */
    fs_attr src;
    uint64_t gen;     /* the source's changes through the mount then (fs_cache_gen) */
    cmn_spool out;
} fs_pf_entry;

#define PF fs_st.prefetch

static void entry_free(fs_pf_entry *e)
{
    cmn_spool_free(&e->out);
    free(e->obj);
    free(e);
}

/* Unlinks e (mu held) and frees it, unless a worker is fetching it: then it
 * is marked and the worker frees it. Counts it as dropped unless taken. */
static void entry_drop(fs_pf_entry *e, bool taken)
{
    if (!taken)
        fs_stat_add(FS_ST_RA_DROPPED, 1);
    if (e->state == PF_RUNNING) {
        e->stale = true;
        return;
    }
    for (fs_pf_entry **pp = &PF.list; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            PF.n--;
            break;
        }
    entry_free(e);
}

static fs_pf_entry *entry_find(const char *etl, const char *bck, const char *obj)
{
    for (fs_pf_entry *e = PF.list; e; e = e->next)
        if (!e->stale && strcmp(e->obj, obj) == 0 && strcmp(e->bck, bck) == 0 && strcmp(e->etl, etl) == 0)
            return e;
    return NULL;
}

/* Entries not yet taken that a stream scheduled, and ready ones past their time. */
static void drop_owned(uint64_t owner)
{
    int64_t now = cmn_mono_ns();
    for (fs_pf_entry *e = PF.list, *next; e; e = next) {
        next = e->next;
        if (e->stale)
            continue;
        if ((owner && e->owner == owner) || (e->state == PF_READY && now - e->ready_ns > PF_TTL_NS))
            entry_drop(e, false);
    }
}

/* A file's key in the ring of files read lately (FNV-1a; a collision only
 * skips a read-ahead). */
static uint64_t read_key(const char *etl, const char *bck, const char *obj)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {etl, bck, obj};
    for (int i = 0; i < 3; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* a separator no name byte equals here */
    }
    return h ? h : 1; /* 0 marks an empty slot */
}

static bool read_since(uint64_t key, int64_t since_ns)
{
    for (size_t i = 0; i < FS_PF_RECENT; i++)
        if (PF.recent[i].key == key && PF.recent[i].ns >= since_ns)
            return true;
    return false;
}

/* A reader left its order: what it queued goes; what is being made or is
 * ready stays, for the reader that reads it next (DataLoader workers: the
 * one that looked ahead into the other's next batch leaves for its own),
 * until PF_TTL_NS after it is made. */
static void leave_owned(uint64_t owner)
{
    for (fs_pf_entry *e = PF.list, *next; e; e = next) {
        next = e->next;
        if (e->stale || e->owner != owner)
            continue;
        if (e->state == PF_QUEUED)
            entry_drop(e, false);
        else
            e->owner = 0;
    }
}

/* ---------------------------------------------------------------- workers */

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&PF.mu);
    for (;;) {
        fs_pf_entry *e = NULL;
        while (!PF.stopping) {
            for (e = PF.list; e && e->state != PF_QUEUED; e = e->next)
                ;
            if (e)
                break;
            pthread_cond_wait(&PF.work, &PF.mu);
        }
        if (PF.stopping)
            break;
        e->state = PF_RUNNING;
        pthread_mutex_unlock(&PF.mu);
        if (fs_cfg.etl_keep_cache) {
            /* before the GET: the output is of this source or a newer one (a
             * later open keeps it only while the source is this one), and a
             * change through the mount after this moves the count */
            char *plain = cmn_xasprintf("/%s/%s", e->bck, e->obj);
            char *view = cmn_xasprintf("/@%s/%s/%s", e->etl, e->bck, e->obj);
            e->gen = fs_cache_gen(plain);
            e->src_ok = fs_cache_get_known(view, &e->src);
            free(view);
            free(plain);
        }
        /* as a reader's open does: a copy queued onto the source lands first */
        if (fs_batch_queued())
            fs_batch_wait_dst(e->bck, e->obj);
        int64_t got = 0;
        fs_stat_add(FS_ST_RA_FETCHES, 1);
        int rc = fs_api_get_all(e->bck, e->obj, e->etl, &e->out, -1, &got);
        pthread_mutex_lock(&PF.mu);
        e->state = rc == 0 ? PF_READY : PF_FAILED;
        e->ready_ns = cmn_mono_ns();
        if (e->stale) {
            e->stale = false;
            entry_drop(e, true); /* counted when it was dropped */
        }
        pthread_cond_broadcast(&PF.done);
    }
    pthread_mutex_unlock(&PF.mu);
    return NULL;
}

void fs_prefetch_start(void)
{
    if (fs_cfg.etl_readahead > PF_MAX)
        fs_cfg.etl_readahead = PF_MAX;
    if (fs_cfg.etl_readahead <= 0)
        return;
    pthread_mutex_lock(&PF.mu);
    PF.stopping = false;
    int want = fs_cfg.etl_readahead < FS_PF_WORKERS ? fs_cfg.etl_readahead : FS_PF_WORKERS;
    while (PF.nworkers < want && pthread_create(&PF.workers[PF.nworkers], NULL, worker_main, NULL) == 0)
        PF.nworkers++;
    pthread_mutex_unlock(&PF.mu);
}

void fs_prefetch_stop(void)
{
    pthread_mutex_lock(&PF.mu);
    PF.stopping = true;
    pthread_cond_broadcast(&PF.work);
    int n = PF.nworkers;
    pthread_mutex_unlock(&PF.mu);
    for (int i = 0; i < n; i++)
        pthread_join(PF.workers[i], NULL);
    pthread_mutex_lock(&PF.mu);
    PF.nworkers = 0;
    while (PF.list)
        entry_drop(PF.list, true);
    for (int i = 0; i < FS_PF_STREAMS; i++) {
        fs_pf_stream *s = &PF.streams[i];
        for (size_t j = 0; j < s->n; j++)
            free(s->names[j]);
        free(s->names);
        free(s->dir);
        free(s->last);
        memset(s, 0, sizeof *s);
    }
    pthread_mutex_unlock(&PF.mu);
}

/* ---------------------------------------------------------------- readers' order */

static void stream_names_free(fs_pf_stream *s)
{
    for (size_t j = 0; j < s->n; j++)
        free(s->names[j]);
    free(s->names);
    s->names = NULL;
    s->n = s->pos = 0;
    s->more = false;
}

static fs_pf_stream *stream_find(pid_t pid, const char *etl, const char *bck, const char *dir)
{
    for (int i = 0; i < FS_PF_STREAMS; i++) {
        fs_pf_stream *s = &PF.streams[i];
        if (s->pid == pid && strcmp(s->etl, etl) == 0 && strcmp(s->bck, bck) == 0 && strcmp(s->dir, dir) == 0)
            return s;
    }
    return NULL;
}

/* A fresh stream for the reader, in place of the least recently used. */
static fs_pf_stream *stream_new(pid_t pid, const char *etl, const char *bck, const char *dir)
{
    fs_pf_stream *s = &PF.streams[0];
    for (int i = 1; i < FS_PF_STREAMS && s->pid; i++)
        if (!PF.streams[i].pid || PF.streams[i].used_ns < s->used_ns)
            s = &PF.streams[i];
    if (s->pid)
        drop_owned(s->id);
    stream_names_free(s);
    free(s->dir);
    free(s->last);
    s->pid = pid;
    snprintf(s->etl, sizeof s->etl, "%s", etl);
    snprintf(s->bck, sizeof s->bck, "%s", bck);
    s->dir = cmn_xstrdup(dir);
    s->last = NULL;
    s->seq = false;
    s->id = ++PF.next_id;
    return s;
}

/* The names of files after `after` in bck's directory dir: one listing page
 * of names only (the reader's lookups learn the rest), without the lock. */
static int list_after(const char *bck, const char *dir, const char *after, char ***names, size_t *n, bool *more)
{
    fs_page pg;
    int rc = fs_api_list_names(bck, dir, after, PF_PAGE, &pg);
    if (rc < 0)
        return rc;
    *names = cmn_xmalloc((pg.n ? pg.n : 1) * sizeof **names);
    *n = 0;
    for (size_t i = 0; i < pg.n; i++)
        if (!pg.v[i].is_dir)
            (*names)[(*n)++] = cmn_xasprintf("%s%s", dir, pg.v[i].name);
    *more = pg.token[0] != '\0';
    fs_page_free(&pg);
    return 0;
}

/* Queues the stream's next files, up to the bound (mu held). */
static void schedule(fs_pf_stream *s)
{
    int queued = 0;
    for (size_t i = s->pos; i < s->n && i < s->pos + (size_t)fs_cfg.etl_readahead; i++) {
        fs_pf_entry *have = entry_find(s->etl, s->bck, s->names[i]);
        if (have) {
            have->owner = s->id; /* this reader reads it next: it stays if the one that asked leaves */
            continue;
        }
        if (read_since(read_key(s->etl, s->bck, s->names[i]), s->seen_ns))
            continue; /* another reader had it already */
        if (PF.n >= (size_t)fs_cfg.etl_readahead)
            break;
        fs_pf_entry *e = cmn_xcalloc(1, sizeof *e);
        snprintf(e->etl, sizeof e->etl, "%s", s->etl);
        snprintf(e->bck, sizeof e->bck, "%s", s->bck);
        e->obj = cmn_xstrdup(s->names[i]);
        e->owner = s->id;
        cmn_spool_init(&e->out, fs_cfg.spool_dir, fs_cfg.mem_limit < PF_MEM ? fs_cfg.mem_limit : PF_MEM);
        fs_pf_entry **pp = &PF.list;
        while (*pp)
            pp = &(*pp)->next;
        *pp = e;
        PF.n++;
        queued++;
    }
    /* a worker per new entry: in order, a read queues one, and waking both
     * workers for it costs a wake-up per file for nothing */
    for (int i = 0; i < queued && i < PF.nworkers; i++)
        pthread_cond_signal(&PF.work);
}

/* Notes that pid read obj first: keeps or breaks its stream's order, lists
 * the names ahead when it first goes in order, and schedules them. */
static void note_read(pid_t pid, const char *etl, const char *bck, const char *obj)
{
    int64_t now = cmn_mono_ns();
    PF.recent[PF.recent_at].key = read_key(etl, bck, obj);
    PF.recent[PF.recent_at].ns = now;
    PF.recent_at = (PF.recent_at + 1) % FS_PF_RECENT;
    const char *slash = strrchr(obj, '/');
    char *dir = cmn_xstrndup(obj, slash ? (size_t)(slash - obj) + 1 : 0);
    char *after = NULL; /* list the names after this one */
    bool first = false; /* ... to see whether obj came right after it */
    fs_pf_stream *s = stream_find(pid, etl, bck, dir);
    if (!s) {
        s = stream_new(pid, etl, bck, dir);
        s->run_ns = s->seen_ns = now;
    } else if (s->pos < s->n && strcmp(s->names[s->pos], obj) == 0) {
        s->pos++; /* in order */
        s->seq = true;
    } else if (s->pos >= s->n && s->last && strcmp(obj, s->last) > 0) {
        after = cmn_xstrdup(s->last); /* maybe the next: the listing says */
        first = true;
    } else {
        leave_owned(s->id); /* out of order */
        stream_names_free(s);
        s->seq = false;
        s->seen_ns = s->run_ns; /* a new run may begin here */
        s->run_ns = now;
    }
    free(s->last);
    s->last = cmn_xstrdup(obj);
    s->used_ns = now;
    if (!first && s->seq && s->more && s->n - s->pos < (size_t)fs_cfg.etl_readahead)
        after = cmn_xstrdup(s->n ? s->names[s->n - 1] : obj); /* names run short ahead of it */
    if (after) {
        uint64_t id = s->id;
        pthread_mutex_unlock(&PF.mu);
        char **names = NULL;
        size_t n = 0;
        bool more = false;
        int rc = list_after(bck, dir, after, &names, &n, &more);
        pthread_mutex_lock(&PF.mu);
        s = stream_find(pid, etl, bck, dir);
        if (rc == 0 && s && s->id == id) {
            size_t keep = first ? 0 : s->n - s->pos;
            char **v = cmn_xmalloc((keep + n + 1) * sizeof *v);
            if (keep)
                memcpy(v, s->names + s->pos, keep * sizeof *v);
            if (n)
                memcpy(v + keep, names, n * sizeof *v);
            for (size_t i = 0; i < s->n; i++)
                if (i < s->pos || i >= s->pos + keep)
                    free(s->names[i]);
            free(s->names);
            s->names = v, s->n = keep + n, s->pos = 0, s->more = more;
            n = 0;
            if (first) { /* in order if obj is the first name after the previous one */
                s->seq = s->n && strcmp(s->names[0], obj) == 0;
                s->pos = s->seq ? 1 : s->n;
            }
        }
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        free(after);
    }
    if (s && s->seq)
        schedule(s);
    free(dir);
}

/* Moves the output made ahead of h's file into h (mu held), waiting for one
 * being made; with all, also drops a queued or failed one (the reader asks
 * itself, or learns why). */
static bool take_locked(fs_handle *h, bool all)
{
    drop_owned(0); /* ready outputs past their time */
    fs_pf_entry *e;
    bool waited = false;
    while ((e = entry_find(h->etl, h->bck, h->obj)) && e->state == PF_RUNNING) {
        waited = true;
        fs_loop_blocking();
        pthread_cond_wait(&PF.done, &PF.mu); /* started already: wait rather than ask twice */
    }
    if (waited)
        fs_stat_add(FS_ST_RA_WAITS, 1);
    if (!e || (!all && e->state != PF_READY))
        return false;
    bool took = e->state == PF_READY;
    if (took) {
        cmn_spool_free(&h->out);
        h->out = e->out; /* the bytes and the spool file move to the handle */
        h->out_src_ok = e->src_ok;
        h->out_src = e->src;
        h->out_gen = e->gen;
        cmn_spool_init(&e->out, fs_cfg.spool_dir, 0);
        fs_stat_add(FS_ST_RA_HITS, 1);
    }
    entry_drop(e, true);
    return took;
}

bool fs_prefetch_take(fs_handle *h)
{
    if (fs_cfg.etl_readahead <= 0)
        return false;
    pthread_mutex_lock(&PF.mu);
    bool took = PF.nworkers && take_locked(h, false);
    pthread_mutex_unlock(&PF.mu);
    return took;
}

bool fs_prefetch_read(fs_handle *h, pid_t reader)
{
    if (fs_cfg.etl_readahead <= 0)
        return false;
    pthread_mutex_lock(&PF.mu);
    if (!PF.nworkers) {
        pthread_mutex_unlock(&PF.mu);
        return false;
    }
    bool took = !h->etl_loaded && take_locked(h, true);
    note_read(reader, h->etl, h->bck, h->obj);
    pthread_mutex_unlock(&PF.mu);
    return took;
}

void fs_prefetch_forget(const char *bck, const char *obj)
{
    if (fs_cfg.etl_readahead <= 0)
        return;
    pthread_mutex_lock(&PF.mu);
    for (fs_pf_entry *e = PF.list, *next; e; e = next) {
        next = e->next;
        if (!e->stale && strcmp(e->obj, obj) == 0 && strcmp(e->bck, bck) == 0)
            entry_drop(e, false);
    }
    pthread_mutex_unlock(&PF.mu);
}

/*
 * cluster_map.c - this node's copy of the cluster map: the targets that hold
 * a lease in etcd (id, public URL), kept sorted by id, and its version: the
 * etcd revision of the last membership change this node saw (a join is the
 * revision of the member's key, a leave that of its deletion).
 *
 * Every object request asks the map who owns the object, and the map
 * changes only when a target joins or leaves: it is a read-mostly snapshot.
 * A change (the watch thread, cluster_member.c) builds a new immutable
 * snapshot and swaps the published pointer; each snapshot is counted by
 * its holders and freed by the last. A request's thread keeps a reference
 * to the snapshot it last used and compares it with the published pointer:
 * while the map stays the same, a request takes no lock, writes no shared
 * memory and allocates nothing; only the first request of a thread after a
 * change takes the writers' mutex to trade its reference for the new one.
 *
 * A snapshot also keeps the members before the last change, so that a new
 * owner that lacks an object asks the one that owned it under the previous
 * map first ("get from neighbour"), and every change is told to rebalance.c.
 *
 * A target in maintenance (or being decommissioned) stays a member, with
 * AIStore's flags, but owns nothing: HRW leaves it out, so the rebalance
 * moves its objects to their new owners while it still serves them to
 * neighbours. Its flags come from its own key (maint/ID), which outlives
 * its lease: they are kept here by id, members or not.
 *
 * The map answers AIStore's smap queries: every member is a target, and,
 * since every etlfs node also answers as a gateway, a proxy "p" + its id;
 * the primary is the proxy of the smallest id, the same on every node.
 */
#include "target/target.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct snap {
    int refs;          /* holders: the published pointer, threads, callers */
    int n, nprev;
    int self;          /* this node's index in m, -1 when it is not a member */
    int64_t version;
    int64_t changed_ns; /* cmn_mono_ns of the change that made it, 0: none yet */
    tgt_member *prev;  /* the members before that change (inside this allocation) */
    tgt_member m[];
} snap;

static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER; /* writers, and taking a reference to cur */
static snap *cur;                                        /* published: atomic loads and stores */
static char uuid_s[64], created_s[64];                   /* under wmu */
#define MAX_FLAGGED 256
static struct flagged {
    char id[64];
    int flags;
} flagged[MAX_FLAGGED]; /* the nodes with flags (maint/ID keys); under wmu */
static int nflagged;

static int flags_of(const char *id)
{
    for (int i = 0; i < nflagged; i++)
        if (!strcmp(flagged[i].id, id))
            return flagged[i].flags;
    return 0;
}

static __thread snap *mine; /* the snapshot this thread holds a reference to */
static pthread_key_t mine_key;
static pthread_once_t mine_once = PTHREAD_ONCE_INIT;

static void snap_drop(snap *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(s);
}

static void mine_exit(void *s) { snap_drop(s); } /* a thread that ends gives its reference back */
static void mine_key_make(void) { pthread_key_create(&mine_key, mine_exit); }

/* A reference to the published snapshot (NULL: no map yet); snap_drop it. */
static snap *snap_hold(void)
{
    pthread_mutex_lock(&wmu);
    snap *s = cur;
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&wmu);
    return s;
}

/* The published snapshot for this thread, valid until this thread calls it
 * again: the fast path of every request (one atomic load while the map
 * stays the same). */
static const snap *snap_mine(void)
{
    if (__atomic_load_n(&cur, __ATOMIC_ACQUIRE) != mine) {
        snap *old = mine;
        mine = snap_hold();
        pthread_once(&mine_once, mine_key_make);
        pthread_setspecific(mine_key, mine);
        snap_drop(old);
    }
    return mine;
}

/* A new snapshot of n members from m (sorted) after s (NULL: none), with
 * s's members as the previous ones and the version after rev. Under wmu. */
static snap *snap_next(const snap *s, const tgt_member *m, int n, int64_t rev)
{
    int nprev = s ? s->n : 0;
    snap *t = cmn_xmalloc(sizeof *t + (size_t)(n + nprev) * sizeof *t->m);
    t->refs = 1;
    t->n = n;
    t->nprev = nprev;
    t->prev = t->m + n;
    if (n)
        memcpy(t->m, m, (size_t)n * sizeof *m);
    if (nprev)
        memcpy(t->prev, s->m, (size_t)nprev * sizeof *s->m);
    t->self = -1;
    for (int i = 0; i < n; i++) {
        t->m[i].digest = tgt_hrw_digest(t->m[i].id);
        t->m[i].flags = flags_of(t->m[i].id);
        if (!strcmp(t->m[i].id, tgt_cluster_self()))
            t->self = i;
    }
    int64_t v = s ? s->version : 0;
    t->version = rev > v ? rev : v + 1; /* a change is a new version even when etcd said nothing newer */
    t->changed_ns = cmn_mono_ns();
    return t;
}

/* Publishes t in place of cur, whose own reference ends. Under wmu. */
static void publish(snap *t)
{
    snap *old = cur;
    __atomic_store_n(&cur, t, __ATOMIC_RELEASE);
    snap_drop(old);
}

void tgt_cmap_init(const char *uuid, const char *created)
{
    pthread_mutex_lock(&wmu);
    snprintf(uuid_s, sizeof uuid_s, "%s", uuid);
    snprintf(created_s, sizeof created_s, "%s", created);
    pthread_mutex_unlock(&wmu);
}

static int find(const snap *s, const char *id, bool *found)
{
    int lo = 0, hi = s ? s->n : 0;
    while (lo < hi) {
        int mid = (lo + hi) / 2, c = strcmp(s->m[mid].id, id);
        if (!c) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

void tgt_cmap_put(const char *id, const char *url, int64_t rev)
{
    pthread_mutex_lock(&wmu);
    const snap *s = cur;
    bool found;
    int i = find(s, id, &found);
    if (found && !strcmp(s->m[i].url, url)) {
        pthread_mutex_unlock(&wmu); /* a lease renewed by a re-registration: no change */
        return;
    }
    int n = s ? s->n : 0, nn = n + !found;
    tgt_member *m = cmn_xcalloc((size_t)nn, sizeof *m);
    if (i)
        memcpy(m, s->m, (size_t)i * sizeof *m);
    if (n - i - found > 0)
        memcpy(&m[i + 1], &s->m[i + found], (size_t)(n - i - found) * sizeof *m);
    snprintf(m[i].id, sizeof m[i].id, "%s", id);
    snprintf(m[i].url, sizeof m[i].url, "%s", url);
    snap *t = snap_next(s, m, nn, rev);
    free(m);
    long long v = (long long)t->version;
    publish(t);
    pthread_mutex_unlock(&wmu);
    cmn_info("cluster map v%lld: target %s (%s) %s", v, id, url, found ? "moved" : "joined");
    tgt_rebalance_kick();
}

void tgt_cmap_del(const char *id, int64_t rev)
{
    pthread_mutex_lock(&wmu);
    const snap *s = cur;
    bool found;
    int i = find(s, id, &found);
    if (found) {
        tgt_member *m = cmn_xcalloc((size_t)s->n, sizeof *m);
        memcpy(m, s->m, (size_t)i * sizeof *m);
        memcpy(&m[i], &s->m[i + 1], (size_t)(s->n - i - 1) * sizeof *m);
        snap *t = snap_next(s, m, s->n - 1, rev);
        free(m);
        cmn_info("cluster map v%lld: target %s left", (long long)t->version, id);
        publish(t);
    }
    pthread_mutex_unlock(&wmu);
    if (found)
        tgt_rebalance_kick();
}

static int by_id(const void *a, const void *b) { return strcmp(((const tgt_member *)a)->id, ((const tgt_member *)b)->id); }

void tgt_cmap_reset(tgt_member *members, int n, int64_t rev)
{
    qsort(members, (size_t)n, sizeof *members, by_id);
    pthread_mutex_lock(&wmu);
    const snap *s = cur;
    bool same = s && n == s->n;
    for (int i = 0; same && i < n; i++)
        same = !strcmp(members[i].id, s->m[i].id) && !strcmp(members[i].url, s->m[i].url) &&
               flags_of(members[i].id) == s->m[i].flags;
    if (!same)
        publish(snap_next(s, members, n, rev));
    pthread_mutex_unlock(&wmu);
    free(members);
    if (!same)
        tgt_rebalance_kick();
}

void tgt_cmap_flags(const char *id, int flags, int64_t rev)
{
    pthread_mutex_lock(&wmu);
    int i = 0;
    while (i < nflagged && strcmp(flagged[i].id, id))
        i++;
    if (flags && i == nflagged && nflagged == MAX_FLAGGED) {
        pthread_mutex_unlock(&wmu);
        cmn_warn("cluster map: target %s in maintenance is one too many to keep (%d)", id, MAX_FLAGGED);
        return;
    }
    if (flags && i == nflagged)
        snprintf(flagged[nflagged++].id, sizeof flagged[0].id, "%s", id);
    if (flags && i < nflagged)
        flagged[i].flags = flags;
    else if (!flags && i < nflagged)
        flagged[i] = flagged[--nflagged];
    const snap *s = cur;
    bool member = false;
    int at = s ? find(s, id, &member) : 0;
    bool change = member && s->m[at].flags != flags;
    if (change) {
        snap *t = snap_next(s, s->m, s->n, rev);
        cmn_info("cluster map v%lld: target %s %s", (long long)t->version, id,
                 flags & TGT_SNODE_DECOMM ? "is being decommissioned"
                 : flags & TGT_SNODE_MAINT ? "in maintenance"
                                           : "out of maintenance");
        publish(t);
    }
    pthread_mutex_unlock(&wmu);
    if (change)
        tgt_rebalance_kick();
}

void tgt_cmap_flags_reset(char **ids, const int *flags, int n)
{
    pthread_mutex_lock(&wmu);
    nflagged = 0;
    for (int i = 0; i < n && nflagged < MAX_FLAGGED; i++)
        if (flags[i]) {
            snprintf(flagged[nflagged].id, sizeof flagged[0].id, "%s", ids[i]);
            flagged[nflagged++].flags = flags[i];
        }
    pthread_mutex_unlock(&wmu);
}

bool tgt_cmap_member(const char *id, tgt_member *out)
{
    snap *s = snap_hold();
    bool found = false;
    int i = s ? find(s, id, &found) : 0;
    if (found)
        *out = s->m[i];
    snap_drop(s);
    return found;
}

int tgt_cmap_members(tgt_member **out, int64_t *version)
{
    snap *s = snap_hold();
    int n = s ? s->n : 0;
    *out = cmn_xmalloc((size_t)(n ? n : 1) * sizeof **out);
    if (n)
        memcpy(*out, s->m, (size_t)n * sizeof **out);
    if (version)
        *version = s ? s->version : 0;
    snap_drop(s);
    return n;
}

int64_t tgt_cmap_version(void)
{
    const snap *s = snap_mine();
    return s ? s->version : 0;
}

/* The index of bck/obj's owner among members (HRW), -1 for none. A member
 * in maintenance owns nothing (unless every member is). */
static int owner_in(const tgt_member *m, int n, uint64_t od)
{
    int best = -1, active = 0;
    uint64_t max = 0;
    for (int i = 0; i < n; i++)
        active += !m[i].flags;
    for (int i = 0; i < n; i++) {
        if (active && m[i].flags)
            continue;
        uint64_t w = tgt_hrw_weight(m[i].digest ^ od);
        if (best < 0 || w > max) {
            max = w;
            best = i;
        }
    }
    return best;
}

bool tgt_cmap_owner(const char *bck, const char *obj, tgt_member *out)
{
    const snap *s = snap_mine();
    /* an empty map (etcd unreachable since start) keeps everything here;
     * the one member of a map of one owns everything without a hash */
    if (!s || !s->n)
        return false;
    int best = s->n == 1 ? 0 : owner_in(s->m, s->n, tgt_hrw_obj_digest(bck, obj));
    if (best == s->self)
        return false;
    *out = s->m[best];
    return true;
}

bool tgt_cmap_owner_elsewhere(const char *bck, const char *obj, char *url, size_t len)
{
    tgt_member m;
    if (!tgt_cmap_owner(bck, obj, &m))
        return false;
    snprintf(url, len, "%s", m.url);
    return true;
}

int tgt_cmap_neighbours(const char *bck, const char *obj, tgt_member **out)
{
    snap *s = snap_hold();
    int nm = s ? s->n : 0, n = 0;
    tgt_member *o = cmn_xmalloc((size_t)(nm + 1) * sizeof *o);
    if (s) {
        int prev = owner_in(s->prev, s->nprev, tgt_hrw_obj_digest(bck, obj));
        if (prev >= 0 && strcmp(s->prev[prev].id, tgt_cluster_self()))
            o[n++] = s->prev[prev];
        for (int i = 0; i < s->n; i++)
            if (i != s->self && (!n || strcmp(s->m[i].id, o[0].id)))
                o[n++] = s->m[i];
    }
    snap_drop(s);
    *out = o;
    return n;
}

int64_t tgt_cmap_changed_ns(void)
{
    const snap *s = snap_mine();
    return s ? s->changed_ns : 0;
}

cJSON *tgt_cluster_smap_json(void)
{
    cJSON *m = cJSON_CreateObject();
    cJSON *tmap = cJSON_AddObjectToObject(m, "tmap");
    cJSON *pmap = cJSON_AddObjectToObject(m, "pmap");
    snap *s = snap_hold();
    int n = s ? s->n : 0;
    for (int i = 0; i < n; i++) {
        char pid[80];
        snprintf(pid, sizeof pid, "p%s", s->m[i].id);
        cJSON_AddItemToObject(tmap, s->m[i].id, tgt_snode_json(s->m[i].id, "target", s->m[i].url, s->m[i].flags));
        cJSON_AddItemToObject(pmap, pid, tgt_snode_json(pid, "proxy", s->m[i].url, s->m[i].flags));
    }
    char pid[80], version[24];
    snprintf(pid, sizeof pid, "p%s", n ? s->m[0].id : tgt_cluster_self());
    cJSON_AddItemToObject(m, "proxy_si", tgt_snode_json(pid, "proxy", n ? s->m[0].url : tgt->cfg.public_url, 0));
    pthread_mutex_lock(&wmu);
    cJSON_AddStringToObject(m, "uuid", uuid_s);
    cJSON_AddStringToObject(m, "creation_time", created_s);
    pthread_mutex_unlock(&wmu);
    snprintf(version, sizeof version, "%lld", (long long)(s ? s->version : 0));
    cJSON_AddStringToObject(m, "version", version);
    snap_drop(s);
    return m;
}

/*
 * cluster_map.c - this node's copy of the cluster map: the targets that hold
 * a lease in etcd (id, public URL), kept sorted by id, and its version: the
 * etcd revision of the last membership change this node saw (a join is the
 * revision of the member's key, a leave that of its deletion). Readers take
 * the lock for a moment; writers are the watch thread (cluster_member.c).
 *
 * It also keeps the members before the last change, so that a new owner
 * that lacks an object asks the one that owned it under the previous map
 * first ("get from neighbour"), and tells rebalance.c of every change.
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

static struct {
    pthread_rwlock_t lock;
    tgt_member *m;
    int n, cap;
    int64_t version;
    tgt_member *prev; /* the members before the last change */
    int nprev;
    int64_t changed_ns; /* cmn_mono_ns of the last change, 0: none yet */
    char uuid[64];
    char created[64];
} map = {.lock = PTHREAD_RWLOCK_INITIALIZER};

void tgt_cmap_init(const char *uuid, const char *created)
{
    pthread_rwlock_wrlock(&map.lock);
    snprintf(map.uuid, sizeof map.uuid, "%s", uuid);
    snprintf(map.created, sizeof map.created, "%s", created);
    pthread_rwlock_unlock(&map.lock);
}

static int find(const char *id, bool *found)
{
    int lo = 0, hi = map.n;
    while (lo < hi) {
        int mid = (lo + hi) / 2, c = strcmp(map.m[mid].id, id);
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

/* Before a change: the members as they are become the previous map. */
static void keep_prev(void)
{
    free(map.prev);
    map.prev = cmn_xmalloc((size_t)(map.n ? map.n : 1) * sizeof *map.prev);
    if (map.n)
        memcpy(map.prev, map.m, (size_t)map.n * sizeof *map.m);
    map.nprev = map.n;
}

static void bump(int64_t rev)
{
    map.changed_ns = cmn_mono_ns();
    if (rev > map.version)
        map.version = rev;
    else
        map.version++; /* a change is a new version even when etcd said nothing newer */
}

void tgt_cmap_put(const char *id, const char *url, int64_t rev)
{
    pthread_rwlock_wrlock(&map.lock);
    bool found;
    int i = find(id, &found);
    if (found && !strcmp(map.m[i].url, url)) {
        pthread_rwlock_unlock(&map.lock); /* a lease renewed by a re-registration: no change */
        return;
    }
    keep_prev();
    if (!found) {
        if (map.n == map.cap) {
            map.cap = map.cap ? map.cap * 2 : 8;
            map.m = cmn_xrealloc(map.m, (size_t)map.cap * sizeof *map.m);
        }
        memmove(&map.m[i + 1], &map.m[i], (size_t)(map.n - i) * sizeof *map.m);
        map.n++;
    }
    tgt_member *m = &map.m[i];
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->url, sizeof m->url, "%s", url);
    m->digest = tgt_hrw_digest(id);
    bump(rev);
    long long v = (long long)map.version;
    pthread_rwlock_unlock(&map.lock);
    cmn_info("cluster map v%lld: target %s (%s) %s", v, id, url, found ? "moved" : "joined");
    tgt_rebalance_kick();
}

void tgt_cmap_del(const char *id, int64_t rev)
{
    pthread_rwlock_wrlock(&map.lock);
    bool found;
    int i = find(id, &found);
    if (found) {
        keep_prev();
        memmove(&map.m[i], &map.m[i + 1], (size_t)(map.n - i - 1) * sizeof *map.m);
        map.n--;
        bump(rev);
        cmn_info("cluster map v%lld: target %s left", (long long)map.version, id);
    }
    pthread_rwlock_unlock(&map.lock);
    if (found)
        tgt_rebalance_kick();
}

static int by_id(const void *a, const void *b) { return strcmp(((const tgt_member *)a)->id, ((const tgt_member *)b)->id); }

void tgt_cmap_reset(tgt_member *members, int n, int64_t rev)
{
    qsort(members, (size_t)n, sizeof *members, by_id);
    for (int i = 0; i < n; i++)
        members[i].digest = tgt_hrw_digest(members[i].id);
    pthread_rwlock_wrlock(&map.lock);
    bool same = n == map.n;
    for (int i = 0; same && i < n; i++)
        same = !strcmp(members[i].id, map.m[i].id) && !strcmp(members[i].url, map.m[i].url);
    if (!same)
        keep_prev();
    free(map.m);
    map.m = members;
    map.n = map.cap = n;
    if (!same)
        bump(rev);
    pthread_rwlock_unlock(&map.lock);
    if (!same)
        tgt_rebalance_kick();
}

int tgt_cmap_members(tgt_member **out, int64_t *version)
{
    pthread_rwlock_rdlock(&map.lock);
    int n = map.n;
    *out = cmn_xmalloc((size_t)(n ? n : 1) * sizeof **out);
    if (n)
        memcpy(*out, map.m, (size_t)n * sizeof **out);
    if (version)
        *version = map.version;
    pthread_rwlock_unlock(&map.lock);
    return n;
}

/* The index of bck/obj's owner among members (HRW), -1 for none. */
static int owner_in(const tgt_member *m, int n, uint64_t od)
{
    int best = -1;
    uint64_t max = 0;
    for (int i = 0; i < n; i++) {
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
    bool elsewhere = false;
    pthread_rwlock_rdlock(&map.lock);
    int best = owner_in(map.m, map.n, tgt_hrw_obj_digest(bck, obj));
    /* an empty map (etcd unreachable since start) keeps everything here */
    if (best >= 0 && strcmp(map.m[best].id, tgt_cluster_self())) {
        *out = map.m[best];
        elsewhere = true;
    }
    pthread_rwlock_unlock(&map.lock);
    return elsewhere;
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
    pthread_rwlock_rdlock(&map.lock);
    tgt_member *o = cmn_xmalloc((size_t)(map.n + 1) * sizeof *o);
    int n = 0;
    int prev = owner_in(map.prev, map.nprev, tgt_hrw_obj_digest(bck, obj));
    if (prev >= 0 && strcmp(map.prev[prev].id, tgt_cluster_self()))
        o[n++] = map.prev[prev];
    for (int i = 0; i < map.n; i++)
        if (strcmp(map.m[i].id, tgt_cluster_self()) && (!n || strcmp(map.m[i].id, o[0].id)))
            o[n++] = map.m[i];
    pthread_rwlock_unlock(&map.lock);
    *out = o;
    return n;
}

int64_t tgt_cmap_changed_ns(void)
{
    pthread_rwlock_rdlock(&map.lock);
    int64_t t = map.changed_ns;
    pthread_rwlock_unlock(&map.lock);
    return t;
}

cJSON *tgt_cluster_smap_json(void)
{
    cJSON *m = cJSON_CreateObject();
    cJSON *tmap = cJSON_AddObjectToObject(m, "tmap");
    cJSON *pmap = cJSON_AddObjectToObject(m, "pmap");
    pthread_rwlock_rdlock(&map.lock);
    for (int i = 0; i < map.n; i++) {
        char pid[80];
        snprintf(pid, sizeof pid, "p%s", map.m[i].id);
        cJSON_AddItemToObject(tmap, map.m[i].id, tgt_snode_json(map.m[i].id, "target", map.m[i].url));
        cJSON_AddItemToObject(pmap, pid, tgt_snode_json(pid, "proxy", map.m[i].url));
    }
    char pid[80], version[24];
    snprintf(pid, sizeof pid, "p%s", map.n ? map.m[0].id : tgt_cluster_self());
    cJSON_AddItemToObject(m, "proxy_si", tgt_snode_json(pid, "proxy", map.n ? map.m[0].url : tgt->cfg.public_url));
    cJSON_AddStringToObject(m, "uuid", map.uuid);
    cJSON_AddStringToObject(m, "creation_time", map.created);
    snprintf(version, sizeof version, "%lld", (long long)map.version);
    cJSON_AddStringToObject(m, "version", version);
    pthread_rwlock_unlock(&map.lock);
    return m;
}

/*
 * cluster_member.c - this node in the cluster: its id, its key in etcd under
 * a lease that a thread keeps alive, and a second thread that reads the
 * cluster's keys and then watches them, feeding the map (cluster_map.c) and
 * the buckets (cluster_bucket.c). Keys, under /etlfs/CLUSTER/:
 *
 *   meta              {"uuid","created"}: made once, by the first node (CAS)
 *   targets/ID        {"id","url","state"}: under the node's lease
 *   buckets/NAME      {"created"}: made and removed by CAS (cluster_bucket.c)
 *   maint/ID          {"flags","rm_user_data"}: a node in maintenance or being
 *                     decommissioned, by CAS (cluster_maint.c); no lease: it
 *                     outlives a restart of the node
 *
 * etcd decides; nothing here votes or orders. A node that cannot reach etcd
 * keeps serving with the map it has and registers again when etcd is back;
 * a node whose lease expires (killed, cut off) drops out of every map.
 */
#include "target/target.h"

#include "common/etcd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define LEASE_TTL_SEC 5
#define KEEPALIVE_EVERY_MS 1500 /* well inside the TTL */
#define RETRY_MS 1000

static struct {
    cmn_etcd *etcd;
    char prefix[192]; /* "/etlfs/CLUSTER/" */
    char self[64];
    int64_t lease;
    int stop; /* read by the threads and the watch's cancel */
    pthread_t keeper, watcher;
    bool threads;
    int joined; /* registered and the map read: health says 200 */
    int left;   /* decommissioned: the keeper registers no more */
    pthread_mutex_t nap_mu;
    pthread_cond_t nap_cv; /* signalled when stop is set (CLOCK_MONOTONIC) */
} cl = {.nap_mu = PTHREAD_MUTEX_INITIALIZER};

bool tgt_in_cluster;

bool tgt_cluster_joined(void) { return __atomic_load_n(&cl.joined, __ATOMIC_ACQUIRE); }
const char *tgt_cluster_self(void) { return cl.self; }
cmn_etcd *tgt_cluster_etcd(void) { return cl.etcd; }

char *tgt_cluster_key(const char *kind, const char *name)
{
    return cmn_xasprintf("%s%s%s", cl.prefix, kind, name ? name : "");
}

/* Sleeps ms, or until the cluster stops; false when it is stopping. The
 * keeper and the watcher between retries wake for their work only. */
static bool nap(int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&cl.nap_mu);
    while (!__atomic_load_n(&cl.stop, __ATOMIC_ACQUIRE) &&
           pthread_cond_timedwait(&cl.nap_cv, &cl.nap_mu, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&cl.nap_mu);
    return !__atomic_load_n(&cl.stop, __ATOMIC_ACQUIRE);
}

/* --id, else the id kept in the first mountpath, else a new one kept there
 * (AIStore's ids: 8 letters), so a restarted node owns the same objects. */
static int node_id(cmn_err *err)
{
    if (*tgt->cfg.node_id) {
        snprintf(cl.self, sizeof cl.self, "%s", tgt->cfg.node_id);
        return 0;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/.etlfs/node_id", tgt->store.mpaths[0]);
    FILE *f = fopen(path, "r");
    if (f) {
        bool ok = fgets(cl.self, sizeof cl.self, f) != NULL;
        fclose(f);
        cl.self[strcspn(cl.self, "\r\n")] = '\0';
        if (ok && *cl.self)
            return 0;
    }
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return cmn_err_set(err, EIO, "cannot make a node id: getrandom failed");
    for (int i = 0; i < 8; i++)
        cl.self[i] = letters[rnd[i] % (sizeof letters - 1)];
    cl.self[8] = '\0';
    f = fopen(path, "w");
    if (!f || fprintf(f, "%s\n", cl.self) < 0 || fclose(f) != 0)
        return cmn_err_set(err, errno ? errno : EIO, "cannot keep the node id in %s: %s", path, strerror(errno));
    return 0;
}

/* meta: the cluster's uuid and birth, made by whoever comes first. */
static int load_meta(cmn_err *err)
{
    char *key = tgt_cluster_key("meta", NULL);
    char uuid[CMN_UUID_LEN + 1], created[48];
    cmn_gen_uuid(uuid);
    cmn_format_rfc3339(cmn_now_ns(), created, sizeof created);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "uuid", uuid);
    cJSON_AddStringToObject(j, "created", created);
    char *val = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    int rc = cmn_etcd_create(cl.etcd, key, val, 0, err);
    free(val);
    if (rc == -EEXIST) {
        cmn_etcd_kv *kvs;
        int n;
        rc = cmn_etcd_get(cl.etcd, key, false, &kvs, &n, NULL, err);
        cJSON *m = NULL;
        cmn_err perr;
        if (rc == 0 && n == 1 && cmn_json_parse(kvs[0].value, kvs[0].value_len, &m, &perr) == 0) {
            const cJSON *u = cJSON_GetObjectItem(m, "uuid"), *c = cJSON_GetObjectItem(m, "created");
            snprintf(uuid, sizeof uuid, "%s", cJSON_IsString(u) ? u->valuestring : "");
            snprintf(created, sizeof created, "%s", cJSON_IsString(c) ? c->valuestring : "");
        }
        cJSON_Delete(m);
        if (rc == 0 && n != 1)
            rc = cmn_err_set(err, EIO, "etcd: %s vanished", key);
        cmn_etcd_kvs_free(kvs, n);
    }
    free(key);
    if (rc == 0)
        tgt_cmap_init(uuid, created);
    return rc;
}

/* Puts this node's key under a new lease. Another live node with this id
 * (another URL) is an error; our own key left by a killed run is taken over. */
static int register_self(cmn_err *err)
{
    char *key = tgt_cluster_key("targets/", cl.self);
    cmn_etcd_kv *kvs;
    int n, rc = cmn_etcd_get(cl.etcd, key, false, &kvs, &n, NULL, err);
    if (rc == 0 && n == 1) {
        cJSON *m = NULL;
        cmn_err perr;
        if (cmn_json_parse(kvs[0].value, kvs[0].value_len, &m, &perr) == 0) {
            const cJSON *u = cJSON_GetObjectItem(m, "url");
            if (cJSON_IsString(u) && strcmp(u->valuestring, tgt->cfg.public_url) && kvs[0].lease != cl.lease)
                rc = cmn_err_set(err, EEXIST, "target id %s is taken by %s, alive in cluster %s (give --id)",
                                 cl.self, u->valuestring, tgt->cfg.cluster);
        }
        cJSON_Delete(m);
    }
    cmn_etcd_kvs_free(kvs, n);
    int64_t lease = 0;
    if (rc == 0)
        rc = cmn_etcd_lease_grant(cl.etcd, LEASE_TTL_SEC, &lease, err);
    if (rc == 0) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "id", cl.self);
        cJSON_AddStringToObject(j, "url", tgt->cfg.public_url);
        cJSON_AddStringToObject(j, "state", "online");
        char *val = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        rc = cmn_etcd_put(cl.etcd, key, val, lease, err);
        free(val);
    }
    if (rc == 0) {
        int64_t old = __atomic_exchange_n(&cl.lease, lease, __ATOMIC_ACQ_REL);
        if (old)
            cmn_etcd_lease_revoke(cl.etcd, old, NULL);
    } else if (lease) {
        cmn_etcd_lease_revoke(cl.etcd, lease, NULL);
    }
    free(key);
    return rc;
}

static void *keeper_main(void *arg)
{
    (void)arg;
    bool down = false;
    while (nap(KEEPALIVE_EVERY_MS)) {
        if (__atomic_load_n(&cl.left, __ATOMIC_ACQUIRE))
            continue;
        cmn_err err;
        int64_t lease = __atomic_load_n(&cl.lease, __ATOMIC_ACQUIRE);
        int rc = lease ? cmn_etcd_lease_keepalive(cl.etcd, lease, &err) : -ENOENT;
        if (rc == -ENOENT) {
            /* the lease expired (etcd was away longer than its TTL, or lost
             * its data): join again */
            rc = register_self(&err);
            if (rc == 0)
                cmn_info("cluster %s: target %s registered again", tgt->cfg.cluster, cl.self);
        }
        if (rc && !down)
            cmn_warn("cluster %s: cannot keep target %s registered: %s (serving on, retrying)", tgt->cfg.cluster,
                     cl.self, err.msg);
        else if (!rc && down)
            cmn_info("cluster %s: etcd reachable again", tgt->cfg.cluster);
        down = rc != 0;
    }
    return NULL;
}

/* "targets/ID" or "buckets/NAME" of a key under the prefix: the kind's
 * length, or 0 for a key of no interest. */
static size_t kind_of(const char *key, const char *kind)
{
    size_t pl = strlen(cl.prefix), kl = strlen(kind);
    return !strncmp(key, cl.prefix, pl) && !strncmp(key + pl, kind, kl) && key[pl + kl] ? pl + kl : 0;
}

static bool member_of(const cmn_etcd_kv *kv, tgt_member *m)
{
    size_t off = kind_of(kv->key, "targets/");
    cJSON *j = NULL;
    cmn_err perr;
    if (!off || cmn_json_parse(kv->value, kv->value_len, &j, &perr) != 0)
        return false;
    const cJSON *u = cJSON_GetObjectItem(j, "url");
    bool ok = cJSON_IsString(u) && *u->valuestring;
    if (ok) {
        memset(m, 0, sizeof *m);
        snprintf(m->id, sizeof m->id, "%s", kv->key + off);
        snprintf(m->url, sizeof m->url, "%s", u->valuestring);
    }
    cJSON_Delete(j);
    return ok;
}

/* The flags of a maint/ID key's value (0 when it says none). */
static int flags_of(const cmn_etcd_kv *kv)
{
    cJSON *j = NULL;
    cmn_err perr;
    if (cmn_json_parse(kv->value, kv->value_len, &j, &perr) != 0)
        return 0;
    const cJSON *f = cJSON_GetObjectItem(j, "flags");
    int flags = cJSON_IsNumber(f) ? f->valueint & (TGT_SNODE_MAINT | TGT_SNODE_DECOMM) : 0;
    cJSON_Delete(j);
    return flags;
}

static int on_event(void *ctx, const cmn_etcd_event *ev)
{
    (void)ctx;
    size_t off;
    tgt_member m;
    if ((off = kind_of(ev->kv.key, "targets/"))) {
        if (ev->deleted)
            tgt_cmap_del(ev->kv.key + off, ev->kv.mod_rev);
        else if (member_of(&ev->kv, &m))
            tgt_cmap_put(m.id, m.url, ev->kv.mod_rev);
    } else if ((off = kind_of(ev->kv.key, "buckets/"))) {
        tgt_cluster_bucket_seen(ev->kv.key + off, ev->deleted);
    } else if ((off = kind_of(ev->kv.key, "maint/"))) {
        tgt_cmap_flags(ev->kv.key + off, ev->deleted ? 0 : flags_of(&ev->kv), ev->kv.mod_rev);
    }
    return __atomic_load_n(&cl.stop, __ATOMIC_ACQUIRE);
}

/* Reads every key of the cluster into the map and the buckets; *rev the
 * revision to watch from. */
static int read_all(int64_t *rev, cmn_err *err)
{
    cmn_etcd_kv *kvs;
    int n, rc = cmn_etcd_get(cl.etcd, cl.prefix, true, &kvs, &n, rev, err);
    if (rc)
        return rc;
    tgt_member *members = cmn_xcalloc((size_t)n + 1, sizeof *members);
    char **buckets = cmn_xcalloc((size_t)n + 1, sizeof *buckets);
    char **flagged = cmn_xcalloc((size_t)n + 1, sizeof *flagged);
    int *flags = cmn_xcalloc((size_t)n + 1, sizeof *flags);
    int nm = 0, nb = 0, nf = 0;
    int64_t newest = 0;
    for (int i = 0; i < n; i++) {
        size_t off;
        if (member_of(&kvs[i], &members[nm])) {
            nm++;
            newest = kvs[i].mod_rev > newest ? kvs[i].mod_rev : newest;
        } else if ((off = kind_of(kvs[i].key, "buckets/"))) {
            buckets[nb++] = cmn_xstrdup(kvs[i].key + off);
        } else if ((off = kind_of(kvs[i].key, "maint/"))) {
            flagged[nf] = cmn_xstrdup(kvs[i].key + off);
            flags[nf++] = flags_of(&kvs[i]);
            newest = kvs[i].mod_rev > newest ? kvs[i].mod_rev : newest;
        }
    }
    tgt_cmap_flags_reset(flagged, flags, nf); /* before the members, which take them */
    tgt_free_names(flagged, nf);
    free(flags);
    tgt_cmap_reset(members, nm, newest);
    tgt_cluster_buckets_sync(buckets, nb);
    tgt_free_names(buckets, nb);
    cmn_etcd_kvs_free(kvs, n);
    return 0;
}

static void *watcher_main(void *arg)
{
    int64_t rev = *(int64_t *)arg;
    free(arg);
    bool down = false;
    while (!__atomic_load_n(&cl.stop, __ATOMIC_ACQUIRE)) {
        cmn_err err;
        int64_t next;
        int rc = rev ? cmn_etcd_watch(cl.etcd, cl.prefix, rev + 1, on_event, NULL, &cl.stop, &next, &err) : -EIO;
        if (__atomic_load_n(&cl.stop, __ATOMIC_ACQUIRE))
            break;
        if (rc && rev && !down)
            cmn_warn("cluster %s: watch ended: %s; reading again", tgt->cfg.cluster, err.msg);
        /* whatever ended the stream (etcd restarted, compacted, moved to
         * another endpoint), a fresh read makes the map true again */
        rev = 0;
        if (!nap(rc ? RETRY_MS : 0))
            break;
        rc = read_all(&rev, &err);
        if (rc && !down)
            cmn_warn("cluster %s: cannot read the cluster map: %s (serving with the map we have)",
                     tgt->cfg.cluster, err.msg);
        down = rc != 0;
    }
    return NULL;
}

int tgt_cluster_start(cmn_err *err)
{
    if (!*tgt->cfg.cluster)
        snprintf(tgt->cfg.cluster, sizeof tgt->cfg.cluster, "etlfs");
    if (!cmn_bucket_name_valid(tgt->cfg.cluster))
        return cmn_err_set(err, EINVAL, "--cluster \"%s\": letters, digits, '-', '_' and '.' only",
                           tgt->cfg.cluster);
    int rc = node_id(err);
    if (rc)
        return rc;
    if (!(cl.etcd = cmn_etcd_new(tgt->cfg.etcd, err)))
        return -EINVAL;
    tgt_in_cluster = true;
    snprintf(cl.prefix, sizeof cl.prefix, "/etlfs/%s/", tgt->cfg.cluster);
    int64_t *rev = cmn_xcalloc(1, sizeof *rev);
    /* the map and the buckets are read before this node is in etcd and
     * again after: the others redirect to it as soon as they see its key,
     * and it must never answer with an empty map then (every object "here",
     * no neighbour to ask: a 404 for an object it is to fetch). Between the
     * two reads it redirects to the previous owners, which is also the
     * previous map that "get from neighbour" asks first. */
    if ((rc = load_meta(err)) || (rc = read_all(rev, err)) || (rc = register_self(err)) || (rc = read_all(rev, err))) {
        free(rev);
        if (__atomic_load_n(&cl.lease, __ATOMIC_ACQUIRE))
            cmn_etcd_lease_revoke(cl.etcd, cl.lease, NULL);
        cmn_etcd_free(cl.etcd);
        cl.etcd = NULL;
        tgt_in_cluster = false;
        return rc;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cl.nap_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_create(&cl.keeper, NULL, keeper_main, NULL);
    pthread_create(&cl.watcher, NULL, watcher_main, rev);
    cl.threads = true;
    __atomic_store_n(&cl.joined, 1, __ATOMIC_RELEASE);
    tgt_rebalance_start();
    cmn_info("cluster %s: target %s joined (etcd %s)", tgt->cfg.cluster, cl.self, tgt->cfg.etcd);
    return 0;
}

int tgt_cluster_leave(cmn_err *err)
{
    __atomic_store_n(&cl.left, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&cl.joined, 0, __ATOMIC_RELEASE);
    int64_t lease = __atomic_exchange_n(&cl.lease, 0, __ATOMIC_ACQ_REL);
    return lease ? cmn_etcd_lease_revoke(cl.etcd, lease, err) : 0;
}

void tgt_cluster_stop(void)
{
    if (!cl.etcd)
        return;
    __atomic_store_n(&cl.joined, 0, __ATOMIC_RELEASE);
    tgt_rebalance_stop(); /* a move under way ends after the object in hand */
    pthread_mutex_lock(&cl.nap_mu);
    __atomic_store_n(&cl.stop, 1, __ATOMIC_RELEASE);
    if (cl.threads)
        pthread_cond_broadcast(&cl.nap_cv);
    pthread_mutex_unlock(&cl.nap_mu);
    if (cl.threads) {
        pthread_join(cl.keeper, NULL);
        pthread_join(cl.watcher, NULL);
    }
    cmn_err err;
    int64_t lease = __atomic_load_n(&cl.lease, __ATOMIC_ACQUIRE);
    if (lease && cmn_etcd_lease_revoke(cl.etcd, lease, &err) != 0)
        cmn_warn("cluster %s: leaving: %s (the lease expires in %d s)", tgt->cfg.cluster, err.msg, LEASE_TTL_SEC);
    else
        cmn_info("cluster %s: target %s left", tgt->cfg.cluster, cl.self);
    tgt_in_cluster = false;
    cmn_etcd_free(cl.etcd);
    cl.etcd = NULL;
}

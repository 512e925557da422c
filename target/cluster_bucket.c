/*
 * cluster_bucket.c - buckets of a cluster: one etcd key each
 * (buckets/NAME), made and removed by compare-and-swap on whichever node is
 * asked, so two nodes racing to create one bucket give one 200 and one 409.
 * Every node mirrors the keys into its local bucket directories: the watch
 * reports each change, a fresh read reports them all. The node asked acts
 * on its own directory at once; a node asked for a bucket it has not heard
 * of yet looks in etcd before it answers 404 (a redirect can arrive before
 * the watch does).
 *
 * A node that joins with local buckets etcd does not know adds them (a join
 * never destroys data); later, a bucket whose key vanished while the watch
 * was away is left on disk, unlisted, and logged.
 */
#include "target/target.h"

#include "common/etcd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* etcd unreachable is "try again" (503), not the bucket's fault */
static int unreachable(int rc)
{
    return rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EIO ? -EAGAIN : rc;
}

static char *bucket_value(void)
{
    return cmn_xasprintf("{\"created\":%lld}", (long long)cmn_now_ns());
}

int tgt_cluster_bucket_create(const char *bck, cmn_err *err)
{
    char *key = tgt_cluster_key("buckets/", bck), *val = bucket_value();
    int rc = cmn_etcd_create(tgt_cluster_etcd(), key, val, 0, err);
    free(key);
    free(val);
    if (rc == -EEXIST)
        return cmn_err_set(err, EEXIST, "bucket \"ais://%s\" already exists", bck);
    if (rc)
        return cmn_err_set(err, -unreachable(rc), "create bucket \"ais://%s\": %s", bck, err->msg);
    rc = tgt_bucket_create(&tgt->store, bck);
    if (rc && rc != -EEXIST) /* the key is made: the watch or a later request tries again */
        return cmn_err_set(err, -rc, "create bucket \"ais://%s\" on this node: %s", bck, strerror(-rc));
    return 0;
}

int tgt_cluster_bucket_destroy(const char *bck, cmn_err *err)
{
    char *key = tgt_cluster_key("buckets/", bck);
    int rc = cmn_etcd_delete(tgt_cluster_etcd(), key, err);
    free(key);
    if (rc == -ENOENT)
        return cmn_err_set(err, ENOENT, "bucket \"ais://%s\" does not exist", bck);
    if (rc)
        return cmn_err_set(err, -unreachable(rc), "destroy bucket \"ais://%s\": %s", bck, err->msg);
    rc = tgt_bucket_destroy(&tgt->store, bck);
    if (rc && rc != -ENOENT)
        return cmn_err_set(err, -rc, "destroy bucket \"ais://%s\" on this node: %s", bck, strerror(-rc));
    return 0;
}

bool tgt_cluster_bucket_fetch(const char *bck)
{
    if (!tgt_cluster_on())
        return false;
    char *key = tgt_cluster_key("buckets/", bck);
    cmn_etcd_kv *kvs;
    int n;
    bool there = cmn_etcd_get(tgt_cluster_etcd(), key, false, &kvs, &n, NULL, NULL) == 0 && n == 1;
    cmn_etcd_kvs_free(kvs, n);
    free(key);
    if (there) {
        int rc = tgt_bucket_create(&tgt->store, bck);
        there = rc == 0 || rc == -EEXIST;
    }
    return there;
}

int tgt_cluster_bucket_names(char ***names, int *n)
{
    char *prefix = tgt_cluster_key("buckets/", NULL);
    cmn_etcd_kv *kvs;
    int nk, rc = cmn_etcd_get(tgt_cluster_etcd(), prefix, true, &kvs, &nk, NULL, NULL);
    if (rc == 0) {
        size_t pl = strlen(prefix);
        *names = cmn_xcalloc((size_t)nk + 1, sizeof **names);
        *n = 0;
        for (int i = 0; i < nk; i++) /* etcd answers in key order: sorted */
            if (strlen(kvs[i].key) > pl && cmn_bucket_name_valid(kvs[i].key + pl))
                (*names)[(*n)++] = cmn_xstrdup(kvs[i].key + pl);
        cmn_etcd_kvs_free(kvs, nk);
    }
    free(prefix);
    return rc;
}

void tgt_cluster_bucket_seen(const char *name, bool deleted)
{
    if (!cmn_bucket_name_valid(name))
        return;
    int rc = deleted ? tgt_bucket_destroy(&tgt->store, name) : tgt_bucket_create(&tgt->store, name);
    if (rc == 0)
        cmn_info("bucket ais://%s %s (cluster)", name, deleted ? "destroyed" : "created");
    else if (rc != -ENOENT && rc != -EEXIST)
        cmn_warn("bucket ais://%s: cannot %s it here: %s", name, deleted ? "destroy" : "create", strerror(-rc));
}

static bool listed(char **names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return true;
    return false;
}

void tgt_cluster_buckets_sync(char **names, int n)
{
    static bool joined; /* the first read is the join (one watch thread, then main before it) */
    for (int i = 0; i < n; i++)
        if (!tgt_bucket_exists(&tgt->store, names[i]))
            tgt_cluster_bucket_seen(names[i], false);
    char **local;
    int nl;
    tgt_bucket_names(&tgt->store, &local, &nl);
    for (int i = 0; i < nl; i++) {
        if (listed(names, n, local[i]))
            continue;
        if (joined) {
            cmn_warn("bucket ais://%s is on this node's disks but not in the cluster (destroyed while this node "
                     "was cut off?): left in place, not listed", local[i]);
            continue;
        }
        cmn_err err;
        char *key = tgt_cluster_key("buckets/", local[i]), *val = bucket_value();
        int rc = cmn_etcd_create(tgt_cluster_etcd(), key, val, 0, &err);
        if (rc == 0)
            cmn_info("bucket ais://%s: this node's, now the cluster's", local[i]);
        else if (rc != -EEXIST)
            cmn_warn("bucket ais://%s: cannot add it to the cluster: %s", local[i], err.msg);
        free(key);
        free(val);
    }
    tgt_free_names(local, nl);
    joined = true;
}

/*
 * cluster_maint.c - taking a target out of the cluster without losing
 * access to its objects, as AIStore's cluster actions do (PUT /v1/cluster
 * with {"action": ..., "value": {"sid": ID, ...}}, through any node):
 *
 *   start-maintenance   the node's key maint/ID is made (compare-and-swap):
 *                       every map flags it and HRW leaves it out, so the
 *                       rebalance moves its objects to their new owners;
 *                       it serves what it still holds to them meanwhile
 *   stop-maintenance    the key is deleted: it owns its share again, and
 *                       the rebalance brings those objects back
 *   decommission-node   maintenance with the decommission flag; once the
 *                       node's own rebalance moved everything it leaves the
 *                       map for good and stops (rm_user_data: its buckets'
 *                       directories are removed first)
 *   shutdown-node       the node stops as on SIGTERM: nothing moves
 *
 * The key has no lease: a node in maintenance that restarts is still in
 * maintenance. The answer to the first three is the id of the rebalance
 * the change starts ("g" + the map's version), once this node's map shows
 * it.
 */
#include "target/target.h"

#include "common/etcd.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEEN_WAIT_MS 5000 /* for this node's map to show a change it made */
#define STOP_DELAY_MS 200 /* a shutdown's answer goes out first */

/* The member the request names by "sid" (a target's id, or "p" + it: every
 * node is also a proxy); false with the reply made. */
static bool named_node(tgt_req *r, const char *act, char *sid, size_t len, tgt_member *m, bool *member)
{
    cJSON *value = tgt_msg_value(r);
    const cJSON *s = value ? cJSON_GetObjectItem(value, "sid") : NULL;
    if (!cJSON_IsString(s) || !*s->valuestring) {
        tgt_reply_err(r, 400, "%s: no node given (value.sid)", act);
        return false;
    }
    snprintf(sid, len, "%s", s->valuestring);
    *member = tgt_cmap_member(sid, m);
    if (!*member && sid[0] == 'p' && tgt_cmap_member(sid + 1, m)) {
        memmove(sid, sid + 1, strlen(sid));
        *member = true;
    }
    return true;
}

static bool value_true(tgt_req *r, const char *key)
{
    cJSON *value = tgt_msg_value(r);
    return value && cJSON_IsTrue(cJSON_GetObjectItem(value, key));
}

/* Waits (bounded) until this node's map shows sid with flags, then answers
 * the id of the rebalance that the change starts. */
static int reply_seen(tgt_req *r, const char *sid, int flags)
{
    tgt_member m;
    for (int waited = 0; waited < SEEN_WAIT_MS; waited += 50) {
        if (!tgt_cmap_member(sid, &m) || m.flags == flags)
            break;
        usleep(50 * 1000);
    }
    char id[32];
    snprintf(id, sizeof id, "g%lld", (long long)tgt_cmap_version());
    return tgt_reply_text(r, 200, id);
}

static char *maint_value(int flags, bool rm_user_data)
{
    return cmn_xasprintf("{\"flags\":%d,\"rm_user_data\":%s}", flags, rm_user_data ? "true" : "false");
}

/* The maint/ID key's flags and revision; 0 (and *rev 0) when absent, or -errno. */
static int maint_get(const char *sid, int *flags, int64_t *rev, bool *rm_user_data, cmn_err *err)
{
    char *key = tgt_cluster_key("maint/", sid);
    cmn_etcd_kv *kvs;
    int n, rc = cmn_etcd_get(tgt_cluster_etcd(), key, false, &kvs, &n, NULL, err);
    free(key);
    *flags = 0;
    *rev = 0;
    if (rm_user_data)
        *rm_user_data = false;
    if (rc)
        return rc;
    if (n == 1) {
        cJSON *j = NULL;
        cmn_err perr;
        *rev = kvs[0].mod_rev;
        if (cmn_json_parse(kvs[0].value, kvs[0].value_len, &j, &perr) == 0) {
            const cJSON *f = cJSON_GetObjectItem(j, "flags");
            *flags = cJSON_IsNumber(f) ? f->valueint : TGT_SNODE_MAINT;
            if (rm_user_data)
                *rm_user_data = cJSON_IsTrue(cJSON_GetObjectItem(j, "rm_user_data"));
        }
        cJSON_Delete(j);
    }
    cmn_etcd_kvs_free(kvs, n);
    return 0;
}

static int etcd_failed(tgt_req *r, const char *act, const char *sid, int rc, const cmn_err *err)
{
    return tgt_reply_err(r, rc == -ESTALE || rc == -EEXIST ? 409 : 503, "%s %s: %s", act, sid, err->msg);
}

/* start-maintenance and decommission-node. */
static int maint_start(tgt_req *r, const char *act, const char *sid, const tgt_member *m, bool decomm)
{
    if (value_true(r, "skip_rebalance"))
        return tgt_reply_err(r, 400,
                             "%s %s: skip_rebalance is not supported: a target's objects live on its disks only "
                             "and would be unavailable",
                             act, sid);
    if (decomm && value_true(r, "no_shutdown"))
        return tgt_reply_err(r, 400,
                             "%s %s: no_shutdown is not supported: a decommissioned target leaves the cluster "
                             "and stops",
                             act, sid);
    if (m->flags & TGT_SNODE_DECOMM)
        return tgt_reply_err(r, 400, "target %s is currently being decommissioned", sid);
    if ((m->flags & TGT_SNODE_MAINT) && !decomm)
        return tgt_reply_err(r, 400, "target %s is already in maintenance mode", sid);
    tgt_member *ms;
    int n = tgt_cmap_members(&ms, NULL), others = 0;
    for (int i = 0; i < n; i++)
        others += !ms[i].flags && strcmp(ms[i].id, sid);
    free(ms);
    if (!others)
        return tgt_reply_err(r, 400, "%s %s: it is the last target out of maintenance: its objects would have no owner",
                             act, sid);
    int flags = TGT_SNODE_MAINT | (decomm ? TGT_SNODE_DECOMM : 0);
    char *val = maint_value(flags, decomm && value_true(r, "rm_user_data"));
    char *key = tgt_cluster_key("maint/", sid);
    cmn_err err;
    int rc;
    if (m->flags & TGT_SNODE_MAINT) { /* maintenance, then decommission: on the key as read */
        int have;
        int64_t rev;
        rc = maint_get(sid, &have, &rev, NULL, &err);
        if (rc == 0)
            rc = rev ? cmn_etcd_update(tgt_cluster_etcd(), key, val, rev, &err)
                     : cmn_etcd_create(tgt_cluster_etcd(), key, val, 0, &err);
    } else {
        rc = cmn_etcd_create(tgt_cluster_etcd(), key, val, 0, &err);
    }
    free(key);
    free(val);
    if (rc)
        return etcd_failed(r, act, sid, rc, &err);
    cmn_info("%s %s: asked", act, sid);
    return reply_seen(r, sid, flags);
}

static int maint_stop(tgt_req *r, const char *act, const char *sid)
{
    char *key = tgt_cluster_key("maint/", sid);
    cmn_err err;
    int rc = cmn_etcd_delete(tgt_cluster_etcd(), key, &err);
    free(key);
    if (rc == -ENOENT)
        return tgt_reply_err(r, 400, "node %s is not in maintenance mode - nothing to do", sid);
    if (rc)
        return etcd_failed(r, act, sid, rc, &err);
    cmn_info("%s %s: asked", act, sid);
    return reply_seen(r, sid, 0);
}

static void *stop_later(void *arg)
{
    (void)arg;
    usleep(STOP_DELAY_MS * 1000);
    kill(getpid(), SIGTERM); /* main's sigwait: the clean shutdown */
    return NULL;
}

static void stop_self(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, stop_later, NULL) == 0)
        pthread_detach(t);
    else
        kill(getpid(), SIGTERM);
}

/* shutdown-node: this node stops; another is sent the same request. */
static int shutdown_node(tgt_req *r, const char *sid, const tgt_member *m)
{
    if (!strcmp(sid, tgt_cluster_self())) {
        cmn_info("shutdown-node: stopping");
        stop_self();
        return tgt_reply_empty(r, 200);
    }
    char *body = cmn_xasprintf("{\"action\":\"shutdown-node\",\"value\":{\"sid\":\"%s\"}}", sid);
    const char *auth = tgt_header(r, "Authorization");
    char *auth_hdr = auth ? cmn_xasprintf("Authorization: %s", auth) : NULL;
    tgt_pcall *c = cmn_xcalloc(1, sizeof *c);
    c->m = *m;
    c->known = true;
    c->method = "PUT";
    c->url = cmn_xasprintf("%s/v1/cluster", m->url);
    c->body = body;
    c->body_len = strlen(body);
    const char *h[] = {"Content-Type: application/json", auth_hdr, NULL};
    memcpy(c->hdrs, h, sizeof h);
    cmn_buf_init(&c->text);
    tgt_pcall_all(c, 1);
    int rc = c->status / 100 == 2 ? tgt_reply_empty(r, 200)
                                  : tgt_reply_err(r, c->status ? (int)c->status : 503, "shutdown-node %s: %s", sid,
                                                  c->err.msg);
    tgt_pcalls_free(c, 1);
    free(auth_hdr);
    free(body);
    return rc;
}

int tgt_h_cluster_node(tgt_req *r)
{
    const char *act = tgt_msg_action(r);
    if (!tgt_cluster_on())
        return tgt_reply_err(r, 400, "%s: this target is no cluster's (started without --etcd)", act);
    char sid[64];
    tgt_member m;
    bool member;
    if (!named_node(r, act, sid, sizeof sid, &m, &member))
        return MHD_YES;
    if (!strcmp(act, "stop-maintenance"))
        return maint_stop(r, act, sid); /* a node in maintenance may be down: its key is enough */
    if (!member)
        return tgt_reply_err(r, 404, "%s: node %s not found in the cluster map", act, sid);
    if (!strcmp(act, "shutdown-node"))
        return shutdown_node(r, sid, &m);
    return maint_start(r, act, sid, &m, !strcmp(act, "decommission-node"));
}

void tgt_cluster_decommissioned(void)
{
    const char *self = tgt_cluster_self();
    int flags;
    int64_t rev;
    bool rm_user_data;
    cmn_err err;
    int rc = maint_get(self, &flags, &rev, &rm_user_data, &err);
    if (rc || !(flags & TGT_SNODE_DECOMM)) {
        cmn_warn("decommission: not leaving: %s", rc ? err.msg : "no longer asked");
        return; /* stopped meanwhile, or etcd away: the next change or retry tries again */
    }
    /* out of the map first, then the key: the others never see it owning
     * objects again in between */
    if (tgt_cluster_leave(&err) != 0)
        cmn_warn("decommission: leaving: %s (the lease expires soon)", err.msg);
    char *key = tgt_cluster_key("maint/", self);
    if (cmn_etcd_delete(tgt_cluster_etcd(), key, &err) != 0)
        cmn_warn("decommission: cannot delete %s: %s", key, err.msg);
    free(key);
    if (rm_user_data)
        for (int i = 0; i < tgt->store.nmpaths; i++) {
            char *dir = cmn_xasprintf("%s/@ais", tgt->store.mpaths[i]);
            if ((rc = tgt_store_remove_tree(dir)) != 0)
                cmn_warn("decommission: cannot remove %s: %s", dir, strerror(-rc));
            free(dir);
        }
    cmn_info("decommissioned: target %s left the cluster%s; stopping", self,
             rm_user_data ? ", its data removed" : "");
    stop_self();
}

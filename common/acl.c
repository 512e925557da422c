/*
 * acl.c - what a token allows, decided as AIStore's gateway does
 * (cmd/authn/tok CheckPermissions): admin first, then the bucket's ACL, then
 * the cluster's (its own id, else the default entry with id ""). Bits are
 * split into cluster-wide ones, which only a cluster ACL grants, and object
 * and bucket ones, which a bucket ACL grants or, for a bucket with no
 * entry, the cluster ACL.
 */
#include "common/jwt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    uint64_t bit;
    const char *name;
} ace_names[] = {
    {CMN_ACE_GET, "GET"},
    {CMN_ACE_OBJ_HEAD, "HEAD-OBJECT"},
    {CMN_ACE_PUT, "PUT"},
    {CMN_ACE_APPEND, "APPEND"},
    {CMN_ACE_OBJ_DELETE, "DELETE-OBJECT"},
    {CMN_ACE_OBJ_MOVE, "MOVE-OBJECT"},
    {CMN_ACE_PROMOTE, "PROMOTE"},
    {CMN_ACE_OBJ_UPDATE, "UPDATE-OBJECT"},
    {CMN_ACE_BCK_HEAD, "HEAD-BUCKET"},
    {CMN_ACE_OBJ_LIST, "LIST-OBJECTS"},
    {CMN_ACE_PATCH, "PATCH"},
    {CMN_ACE_BCK_SET_ACL, "SET-BUCKET-ACL"},
    {CMN_ACE_LIST_BUCKETS, "LIST-BUCKETS"},
    {CMN_ACE_SHOW_CLUSTER, "SHOW-CLUSTER"},
    {CMN_ACE_CREATE_BUCKET, "CREATE-BUCKET"},
    {CMN_ACE_DESTROY_BUCKET, "DESTROY-BUCKET"},
    {CMN_ACE_MOVE_BUCKET, "MOVE-BUCKET"},
    {CMN_ACE_ADMIN, "ADMIN"},
};

void cmn_acc_describe(uint64_t perms, cmn_buf *out)
{
    if (!perms) {
        cmn_buf_puts(out, "none");
        return;
    }
    const char *sep = "";
    for (size_t i = 0; i < sizeof ace_names / sizeof ace_names[0]; i++)
        if (perms & ace_names[i].bit) {
            cmn_buf_printf(out, "%s%s", sep, ace_names[i].name);
            sep = ",";
        }
}

int cmn_acc_parse(const char *s, uint64_t *out)
{
    if (!strcmp(s, "ro"))
        *out = CMN_ACC_RO;
    else if (!strcmp(s, "rw"))
        *out = CMN_ACC_RW;
    else if (!strcmp(s, "su"))
        *out = ~0ull;
    else if (!*s)
        *out = 0;
    else {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end || *s == '-' || *s == '+')
            return -EINVAL;
        *out = v;
    }
    return 0;
}

static bool acl_cluster(const cmn_claims *c, const char *cluster_id, uint64_t *perm)
{
    const cmn_acl_clu *dflt = NULL;
    for (int i = 0; i < c->nclusters; i++) {
        if (!strcmp(c->clusters[i].id, cluster_id)) {
            *perm = c->clusters[i].perm;
            return true;
        }
        if (!*c->clusters[i].id)
            dflt = &c->clusters[i];
    }
    *perm = dflt ? dflt->perm : 0;
    return dflt != NULL;
}

/* An ACL names an ais:// bucket of the global namespace here; its cluster is
 * this one or "" (etlfs's cluster id changes at every start, so tokens for it
 * name no cluster). */
static bool acl_bucket(const cmn_claims *c, const char *cluster_id, const char *bck, uint64_t *perm)
{
    for (int i = 0; i < c->nbuckets; i++) {
        const cmn_acl_bck *b = &c->buckets[i];
        if ((*b->ns_uuid && strcmp(b->ns_uuid, cluster_id)) || *b->ns_name)
            continue;
        if ((*b->provider && strcmp(b->provider, "ais")) || strcmp(b->name, bck))
            continue;
        *perm = b->perm;
        return true;
    }
    return false;
}

static int denied(cmn_err *err, const cmn_claims *c, const char *bck, uint64_t want, uint64_t granted, bool listed)
{
    cmn_buf w, g;
    cmn_buf_init(&w);
    cmn_buf_init(&g);
    cmn_acc_describe(want, &w);
    cmn_acc_describe(granted, &g);
    const char *what = bck ? "bucket ais://" : "cluster";
    int rc = cmn_err_set(err, EACCES, "user `%s` has insufficient permissions: [%s%s needs %s, granted(%s)%s]", c->sub,
                         what, bck ? bck : "", w.data, g.data,
                         listed ? "" : bck ? ": the token has no entry for this bucket" : ": the token has no ACL for this cluster");
    cmn_buf_free(&w);
    cmn_buf_free(&g);
    return rc;
}

int cmn_acc_check(const cmn_claims *c, const char *cluster_id, const char *bck, uint64_t perms, cmn_err *err)
{
    if (c->admin)
        return 0;
    if (!perms)
        return cmn_err_set(err, EACCES, "empty permissions requested");
    uint64_t clu_bits = perms & (CMN_ACC_CLUSTER_RW | CMN_ACE_ADMIN);
    uint64_t obj_bits = perms & (CMN_ACC_RW | CMN_ACC_BUCKET_ADMIN | CMN_ACE_PROMOTE);
    if (perms & ~(clu_bits | obj_bits))
        return cmn_err_set(err, EACCES, "user `%s` has insufficient permissions: invalid permissions requested", c->sub);
    uint64_t clu = 0;
    bool clu_ok = acl_cluster(c, cluster_id, &clu);
    if (clu_bits && (!clu_ok || (clu & clu_bits) != clu_bits))
        return denied(err, c, NULL, clu_bits, clu, clu_ok);
    if (!obj_bits)
        return 0;
    if (!bck)
        return cmn_err_set(err, EACCES, "requested bucket permissions without a bucket");
    uint64_t b = 0;
    if (acl_bucket(c, cluster_id, bck, &b))
        return (b & obj_bits) == obj_bits ? 0 : denied(err, c, bck, obj_bits, b, true);
    if (!clu_ok || (clu & obj_bits) != obj_bits)
        return denied(err, c, bck, obj_bits, clu, clu_ok);
    return 0;
}

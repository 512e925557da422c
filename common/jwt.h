/*
 * jwt.h - AIStore AuthN's tokens (prefix cmn_jwt_ / cmn_acc_): a JWT signed
 * with HS256 whose claims say who the user is ("sub"), whether an admin
 * ("admin"), until when ("exp"), and what the user may do on clusters
 * ("clusters") and buckets ("buckets"). Verification (jwt.c) and the
 * permission check AIStore's gateways make (acl.c); the target, the command
 * line (to mint a token) and the tests share them.
 *
 * Errors: a token that is missing, malformed, badly signed or expired is
 * -EKEYREJECTED (HTTP 401); a valid token that does not allow what is asked
 * is -EACCES (403). The message says which, in AIStore's words.
 */
#ifndef ETLFS_JWT_H
#define ETLFS_JWT_H

#include "common/cmn.h"

#include <stdbool.h>
#include <stdint.h>

/* AIStore's access bits (api/apc/access.go), the values on the wire. */
#define CMN_ACE_GET (1ull << 0)            /* read object contents */
#define CMN_ACE_OBJ_HEAD (1ull << 1)       /* read object metadata */
#define CMN_ACE_PUT (1ull << 2)            /* write object */
#define CMN_ACE_APPEND (1ull << 3)
#define CMN_ACE_OBJ_DELETE (1ull << 4)
#define CMN_ACE_OBJ_MOVE (1ull << 5)       /* rename object */
#define CMN_ACE_PROMOTE (1ull << 6)        /* promote local files */
#define CMN_ACE_OBJ_UPDATE (1ull << 7)
#define CMN_ACE_BCK_HEAD (1ull << 8)       /* read bucket properties */
#define CMN_ACE_OBJ_LIST (1ull << 9)       /* list objects */
#define CMN_ACE_PATCH (1ull << 10)         /* set bucket properties */
#define CMN_ACE_BCK_SET_ACL (1ull << 11)
#define CMN_ACE_LIST_BUCKETS (1ull << 12)  /* cluster: list buckets */
#define CMN_ACE_SHOW_CLUSTER (1ull << 13)  /* cluster: smap, jobs */
#define CMN_ACE_CREATE_BUCKET (1ull << 14)
#define CMN_ACE_DESTROY_BUCKET (1ull << 15)
#define CMN_ACE_MOVE_BUCKET (1ull << 16)
#define CMN_ACE_ADMIN (1ull << 17)         /* everything: ETLs, cluster changes */
/* AIStore's derived sets: "ro" and "rw" on a bucket, and on a cluster. */
#define CMN_ACC_RO (CMN_ACE_GET | CMN_ACE_OBJ_HEAD | CMN_ACE_BCK_HEAD | CMN_ACE_OBJ_LIST)
#define CMN_ACC_RW (CMN_ACC_RO | CMN_ACE_PUT | CMN_ACE_APPEND | CMN_ACE_OBJ_DELETE | CMN_ACE_OBJ_MOVE)
#define CMN_ACC_BUCKET_ADMIN (CMN_ACE_PATCH | CMN_ACE_BCK_SET_ACL | CMN_ACE_OBJ_UPDATE)
#define CMN_ACC_CLUSTER_RO (CMN_ACE_LIST_BUCKETS | CMN_ACE_SHOW_CLUSTER)
#define CMN_ACC_CLUSTER_RW \
    (CMN_ACC_CLUSTER_RO | CMN_ACE_CREATE_BUCKET | CMN_ACE_DESTROY_BUCKET | CMN_ACE_MOVE_BUCKET)

typedef struct cmn_acl_clu {
    char *id;     /* cluster UUID; "" = the default for any cluster */
    uint64_t perm;
} cmn_acl_clu;

typedef struct cmn_acl_bck {
    char *name;
    char *provider; /* "" is "ais" */
    char *ns_uuid;  /* the cluster's UUID ("" = this one) */
    char *ns_name;  /* "" = the global namespace */
    uint64_t perm;
} cmn_acl_bck;

typedef struct cmn_claims {
    char *sub;
    bool admin;
    double exp;    /* seconds since the epoch */
    cmn_acl_clu *clusters;
    int nclusters;
    cmn_acl_bck *buckets;
    int nbuckets;
} cmn_claims;

/* Verifies token (the compact form, without "Bearer ") against the HS256
 * key at now_s, and fills *out (free with cmn_claims_free) on success.
 * Checks: three base64url parts decoded strictly, a JSON header with alg
 * HS256 (RS* answer "unsupported", none is refused), the HMAC compared in
 * constant time, "exp" present and in the future, "nbf" if present in the
 * past, "sub" a non-empty string, every claim of the right JSON type.
 * 0 or -EKEYREJECTED with err filled. */
int cmn_jwt_verify(const char *token, const void *key, size_t keylen, double now_s, cmn_claims *out, cmn_err *err);
void cmn_claims_free(cmn_claims *c);

/* Signs a JSON claims object as an HS256 JWT; malloc'd (the operator's and
 * the tests' tokens: `ais auth token`). */
char *cmn_jwt_sign(const char *claims_json, const void *key, size_t keylen);

/* Whether c allows perms on bucket bck (NULL: a cluster-wide request) of
 * the cluster cluster_id, as AIStore's gateway decides (tok.CheckPermissions):
 * an admin may do anything; cluster bits need the cluster's ACL; bucket bits
 * need the bucket's ACL, else the cluster's. ACLs naming cluster "" apply to
 * every cluster. 0 or -EACCES with err filled. */
int cmn_acc_check(const cmn_claims *c, const char *cluster_id, const char *bck, uint64_t perms, cmn_err *err);
/* The names of the bits in perms ("GET,HEAD-OBJECT,..."), for messages. */
void cmn_acc_describe(uint64_t perms, cmn_buf *out);
/* "ro", "rw", "su", "" or a decimal number of bits: 0, or -EINVAL. */
int cmn_acc_parse(const char *s, uint64_t *out);

#endif

/*
 * etcd.h - a small etcd v3 client over etcd's own JSON gateway (POST
 * /v3/kv/range, /v3/kv/put, /v3/kv/txn, /v3/kv/deleterange, /v3/lease/...,
 * /v3/watch): the project's one HTTP client and cJSON, keys and values in
 * base64 as the gateway wants, int64s as JSON strings. Prefix cmn_etcd_.
 *
 * Several endpoints (one etcd cluster) may be given; a request that cannot
 * reach one tries the next. Consensus is etcd's: nothing here decides
 * anything, it only reads, writes and compares-and-swaps.
 */
#ifndef ETLFS_ETCD_H
#define ETLFS_ETCD_H

#include "common/cmn.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct cmn_etcd cmn_etcd;

typedef struct cmn_etcd_kv {
    char *key;        /* decoded */
    char *value;      /* decoded and NUL-terminated ("" for none) */
    size_t value_len;
    int64_t create_rev, mod_rev, lease;
} cmn_etcd_kv;

typedef struct cmn_etcd_event {
    bool deleted;     /* else a put */
    cmn_etcd_kv kv;   /* a delete carries the key and its mod_rev only */
} cmn_etcd_event;

/* urls: "http://H:P[,http://H:P...]". NULL with err filled when malformed. */
cmn_etcd *cmn_etcd_new(const char *urls, cmn_err *err);
void cmn_etcd_free(cmn_etcd *e);

/* Every call: 0, or -errno with err saying which endpoint and why
 * (-ECONNREFUSED / -ETIMEDOUT / -EIO when no endpoint answered). */
int cmn_etcd_put(cmn_etcd *e, const char *key, const char *value, int64_t lease, cmn_err *err);
/* The key, or every key under it (prefix), in key order; *rev the store's
 * revision of the answer. Free with cmn_etcd_kvs_free. */
int cmn_etcd_get(cmn_etcd *e, const char *key, bool prefix, cmn_etcd_kv **kvs, int *n, int64_t *rev, cmn_err *err);
void cmn_etcd_kvs_free(cmn_etcd_kv *kvs, int n);
/* Compare-and-swap: puts key only if it does not exist (one transaction);
 * -EEXIST when it does. */
int cmn_etcd_create(cmn_etcd *e, const char *key, const char *value, int64_t lease, cmn_err *err);
/* Compare-and-swap: puts key only if it was last changed at mod_rev (a
 * kv's mod_rev from a get); -ESTALE when it changed since or is gone. */
int cmn_etcd_update(cmn_etcd *e, const char *key, const char *value, int64_t mod_rev, cmn_err *err);
/* Deletes key; -ENOENT when there was none. */
int cmn_etcd_delete(cmn_etcd *e, const char *key, cmn_err *err);

/* Leases: a key put under a lease vanishes when the lease is not kept
 * alive. keepalive answers -ENOENT for a lease that expired. */
int cmn_etcd_lease_grant(cmn_etcd *e, int ttl_sec, int64_t *id, cmn_err *err);
int cmn_etcd_lease_keepalive(cmn_etcd *e, int64_t id, cmn_err *err);
int cmn_etcd_lease_revoke(cmn_etcd *e, int64_t id, cmn_err *err);

/* Watches every key under prefix from revision start_rev on, calling fn for
 * each event in order (fn returns nonzero to stop). Blocks until fn stops,
 * *cancel becomes nonzero (0 returned), or the stream ends (-EIO, -ERANGE
 * when start_rev was compacted away: read again and watch from there).
 * *next_rev: the revision to resume from. */
typedef int (*cmn_etcd_watch_fn)(void *ctx, const cmn_etcd_event *ev);
int cmn_etcd_watch(cmn_etcd *e, const char *prefix, int64_t start_rev, cmn_etcd_watch_fn fn, void *ctx,
                   const int *cancel, int64_t *next_rev, cmn_err *err);

/* The encoding, for the tests. */
/* The end of prefix's range: prefix with its last byte plus one (etcd's
 * range_end); malloc'd. */
char *cmn_etcd_prefix_end(const char *prefix);
/* A RangeRequest / PutRequest as the gateway's JSON. */
cJSON *cmn_etcd_range_msg(const char *key, bool prefix);
cJSON *cmn_etcd_put_msg(const char *key, const char *value, int64_t lease);
/* An int64 the gateway sends as a string (or a number); 0 when absent. */
int64_t cmn_etcd_int(const cJSON *obj, const char *name);
/* One kv object of an answer into kv; -EINVAL when it is not one. */
int cmn_etcd_kv_parse(const cJSON *obj, cmn_etcd_kv *kv);
void cmn_etcd_kv_free(cmn_etcd_kv *kv);
/* One message of a watch stream ({"result":{...}}): fn for each event;
 * *next_rev advanced past them. 0, 1 when fn asked to stop, -ERANGE
 * (compacted), -EIO (canceled or an error message). */
int cmn_etcd_watch_msg(const char *json, size_t len, cmn_etcd_watch_fn fn, void *ctx, int64_t *next_rev, cmn_err *err);

#endif

/*
 * bucket.c - bucket handlers: create, destroy, list buckets, HEAD (props and
 * the info/summary polling protocol), and the bucket actions that start jobs
 * (copy, transform, rename, archive: the job layer does the work).
 */
#include "target/target.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <sys/statvfs.h>

int tgt_h_buckets_list(tgt_req *r)
{
    const char *prov = tgt_query(r, "provider");
    cJSON *arr = cJSON_CreateArray();
    if (prov && *prov && strcmp(prov, "ais"))
        return tgt_reply_json(r, 200, arr); /* no cloud backends: nothing to list */
    char **names;
    int n;
    if (!tgt_cluster_on() || tgt_cluster_bucket_names(&names, &n) != 0) /* etcd away: this node's */
        tgt_bucket_names(&tgt->store, &names, &n);
    for (int i = 0; i < n; i++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "name", names[i]);
        cJSON_AddStringToObject(b, "provider", "ais");
        cJSON *ns = cJSON_AddObjectToObject(b, "namespace");
        cJSON_AddStringToObject(ns, "uuid", "");
        cJSON_AddStringToObject(ns, "name", "");
        cJSON_AddItemToArray(arr, b);
    }
    tgt_free_names(names, n);
    return tgt_reply_json(r, 200, arr);
}

/* Every bucket handler starts here: the bucket of the path, checked (the
 * reply is queued and NULL returned when it is not there or not valid). */
static const char *bucket_of(tgt_req *r)
{
    return tgt_check_bucket(r, r->items[2], true) ? r->items[2] : NULL;
}

int tgt_h_bucket_action_invalid(tgt_req *r)
{
    if (!bucket_of(r))
        return MHD_YES;
    return tgt_h_action_invalid(r);
}

/* A bucket made or removed on this node's disks: 0, or -errno with err
 * saying why (one there already, or none: 409 and 404; else the disk's, a 500). */
static int bucket_change_here(const char *bck, bool create, cmn_err *err)
{
    int rc = create ? tgt_bucket_create(&tgt->store, bck) : tgt_bucket_destroy(&tgt->store, bck);
    if (rc == -EEXIST || rc == -ENOENT)
        return cmn_err_set(err, -rc, "bucket \"ais://%s\" %s", bck, create ? "already exists" : "does not exist");
    if (rc)
        return cmn_err_set(err, EIO, "%s bucket \"ais://%s\": %s", create ? "create" : "destroy", bck, strerror(-rc));
    cmn_info("%s bucket ais://%s", create ? "created" : "destroyed", bck);
    return 0;
}

/* Create and destroy: on this node, or on every node of a cluster
 * (cluster_bucket.c). */
static int bucket_change(tgt_req *r, const char *bck, bool create)
{
    cmn_err err;
    int rc = !tgt_cluster_on() ? bucket_change_here(bck, create, &err)
             : create          ? tgt_cluster_bucket_create(bck, &err)
                               : tgt_cluster_bucket_destroy(bck, &err);
    return rc ? tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg) : tgt_reply_empty(r, 200);
}

int tgt_h_bucket_create(tgt_req *r)
{
    const char *bck = r->items[2];
    return tgt_check_bucket(r, bck, false) ? bucket_change(r, bck, true) : MHD_YES;
}

int tgt_h_bucket_copy(tgt_req *r)
{
    const char *bck = bucket_of(r);
    return bck ? tgt_act_copy_bck(r, bck, tgt_msg_value(r), false) : MHD_YES;
}

int tgt_h_bucket_transform(tgt_req *r)
{
    const char *bck = bucket_of(r);
    return bck ? tgt_act_copy_bck(r, bck, tgt_msg_value(r), true) : MHD_YES;
}

int tgt_h_bucket_move(tgt_req *r)
{
    const char *bck = bucket_of(r);
    return bck ? tgt_act_move_bck(r, bck) : MHD_YES;
}

int tgt_h_bucket_destroy(tgt_req *r)
{
    const char *bck = bucket_of(r);
    return bck ? bucket_change(r, bck, false) : MHD_YES;
}

int tgt_h_bucket_evict(tgt_req *r)
{
    const char *bck = bucket_of(r);
    if (!bck)
        return MHD_YES;
    return tgt_reply_err(r, 400, "bucket \"ais://%s\": evicting applies to remote buckets only", bck);
}

int tgt_h_bucket_archive(tgt_req *r)
{
    const char *bck = bucket_of(r);
    return bck ? tgt_act_archive(r, bck, tgt_msg_value(r)) : MHD_YES;
}

/* Props are fixed on etlfs: setting them is accepted as a no-op. */
int tgt_h_bucket_props_set(tgt_req *r) { return bucket_of(r) ? tgt_reply_empty(r, 200) : MHD_YES; }

static char *bucket_props_json(const char *bck)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "provider", "ais");
    cJSON *ck = cJSON_AddObjectToObject(p, "checksum");
    cJSON_AddStringToObject(ck, "type", "xxhash");
    cJSON_AddBoolToObject(ck, "validate_cold_get", false);
    cJSON_AddBoolToObject(ck, "validate_warm_get", false);
    cJSON *ver = cJSON_AddObjectToObject(p, "versioning");
    cJSON_AddBoolToObject(ver, "enabled", true);
    cJSON *mirror = cJSON_AddObjectToObject(p, "mirror");
    cJSON_AddNumberToObject(mirror, "copies", 1);
    cJSON_AddBoolToObject(mirror, "enabled", false);
    cJSON *ec = cJSON_AddObjectToObject(p, "ec");
    cJSON_AddBoolToObject(ec, "enabled", false);
    cJSON *lru = cJSON_AddObjectToObject(p, "lru");
    cJSON_AddBoolToObject(lru, "enabled", false);
    cJSON_AddStringToObject(p, "access", "0");
    cJSON_AddStringToObject(p, "bid", "0");
    cJSON_AddItemToObject(p, "created", tgt_json_str_int(tgt_bucket_created(&tgt->store, bck)));
    char *s = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    return s;
}

/* One bucket's summary (AIStore's BsummResult shape). */
typedef struct summ_ctx {
    int64_t count, total, min, max;
} summ_ctx;

static bool summ_visit(void *ctx, const char *name, const char *fqn, bool is_dir)
{
    (void)name;
    summ_ctx *c = ctx;
    struct stat st;
    if (is_dir || stat(fqn, &st) != 0)
        return true;
    c->count++;
    c->total += st.st_size;
    if (c->count == 1 || st.st_size < c->min)
        c->min = st.st_size;
    if (st.st_size > c->max)
        c->max = st.st_size;
    return true;
}

static cJSON *bucket_summary(const char *bck, const char *prefix)
{
    summ_ctx c = {0};
    tgt_walk(&tgt->store, bck, prefix, "", false, summ_visit, &c);
    int64_t disks = 0;
    for (int i = 0; i < tgt->store.nmpaths; i++) {
        struct statvfs vfs;
        if (statvfs(tgt->store.mpaths[i], &vfs) == 0)
            disks += (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
    }
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "name", bck);
    cJSON_AddStringToObject(s, "provider", "ais");
    cJSON *ns = cJSON_AddObjectToObject(s, "namespace");
    cJSON_AddStringToObject(ns, "uuid", "");
    cJSON_AddStringToObject(ns, "name", "");
    cJSON *oc = cJSON_AddObjectToObject(s, "ObjCount");
    cJSON_AddItemToObject(oc, "obj_count_present", tgt_json_str_int(c.count));
    cJSON_AddItemToObject(oc, "obj_count_remote", tgt_json_str_int(0));
    cJSON *os = cJSON_AddObjectToObject(s, "ObjSize");
    cJSON_AddItemToObject(os, "obj_min_size", tgt_json_int(c.min));
    cJSON_AddItemToObject(os, "obj_avg_size", tgt_json_int(c.count ? c.total / c.count : 0));
    cJSON_AddItemToObject(os, "obj_max_size", tgt_json_int(c.max));
    cJSON *ts = cJSON_AddObjectToObject(s, "TotalSize");
    cJSON_AddItemToObject(ts, "size_on_disk", tgt_json_str_int(c.total));
    cJSON_AddItemToObject(ts, "size_all_present_objs", tgt_json_str_int(c.total));
    cJSON_AddItemToObject(ts, "size_all_remote_objs", tgt_json_str_int(0));
    cJSON_AddItemToObject(ts, "total_disks_size", tgt_json_str_int(disks));
    /* the bucket's share of the mountpaths' capacity, as AIStore reports it */
    cJSON_AddNumberToObject(s, "used_pct", disks ? (double)(c.total * 100 / disks) : 0);
    cJSON_AddBoolToObject(s, "is_present", true);
    return s;
}

static void summary_job(tgt_job *job, void *arg)
{
    (void)job;
    (void)arg;
}

/* AIStore 5.0 gives the prefix in the first request's path only
 * (HEAD /v1/buckets/B/PREFIX); its polls name the job alone. The prefixes
 * of the last summary jobs, by id. */
#define SUMM_PREFIXES 64
static struct {
    char id[CMN_UUID_LEN + 1];
    char *prefix;
} summ_prefix[SUMM_PREFIXES];
static unsigned summ_next;
static pthread_mutex_t summ_mu = PTHREAD_MUTEX_INITIALIZER;

static void summary_prefix_keep(const char *id, const char *prefix)
{
    pthread_mutex_lock(&summ_mu);
    unsigned i = summ_next++ % SUMM_PREFIXES;
    free(summ_prefix[i].prefix);
    snprintf(summ_prefix[i].id, sizeof summ_prefix[i].id, "%s", id);
    summ_prefix[i].prefix = cmn_xstrdup(prefix);
    pthread_mutex_unlock(&summ_mu);
}

/* The prefix job id was started with (malloc'd), or NULL. */
static char *summary_prefix_of(const char *id)
{
    char *p = NULL;
    pthread_mutex_lock(&summ_mu);
    for (unsigned i = 0; i < SUMM_PREFIXES && !p; i++)
        if (summ_prefix[i].prefix && !strcmp(summ_prefix[i].id, id))
            p = cmn_xstrdup(summ_prefix[i].prefix);
    pthread_mutex_unlock(&summ_mu);
    return p;
}

/* The summary protocol: the first call answers 202 with a job id; a poll
 * with that id answers 200 with the summary, computed then (a walk of the
 * bucket's directories: cheap next to the client's 2 s poll interval). */
static int summary_reply(tgt_req *r, const char *bck, bool head)
{
    const char *uuid = tgt_query(r, "uuid");
    const char *prefix = r->nitems == 4 ? r->obj : "";
    cJSON *value = tgt_msg_value(r);
    if (value) {
        cJSON *u = cJSON_GetObjectItem(value, "uuid"), *p = cJSON_GetObjectItem(value, "prefix");
        if (cJSON_IsString(u) && *u->valuestring)
            uuid = u->valuestring;
        if (cJSON_IsString(p))
            prefix = p->valuestring;
    }
    if (!uuid || !*uuid) {
        tgt_job *job = tgt_job_start("summary", bck, NULL, summary_job, NULL, NULL);
        if (!job)
            return tgt_reply_err(r, 500, "cannot start summary job");
        if (*prefix)
            summary_prefix_keep(tgt_job_id(job), prefix);
        if (!head)
            return tgt_reply_text(r, 202, tgt_job_id(job));
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        char *props = bucket_props_json(bck);
        MHD_add_response_header(resp, "ais-bucket-props", props);
        MHD_add_response_header(resp, "ais-xaction-id", tgt_job_id(job));
        free(props);
        return tgt_reply(r, 202, resp);
    }
    char *kept = *prefix ? NULL : summary_prefix_of(uuid);
    cJSON *summ = bucket_summary(bck, kept ? kept : prefix);
    cmn_err e = {0};
    if (tgt_cluster_on() && !tgt_header(r, TGT_HDR_SUMM_LOCAL) && /* every target's share */
        tgt_cluster_summary(r, bck, kept ? kept : prefix, summ, &e) != 0) {
        free(kept);
        cJSON_Delete(summ);
        return tgt_reply_err(r, cmn_err_http_status(e.code), "summary of ais://%s: %s", bck, e.msg);
    }
    free(kept);
    if (!head) {
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, summ);
        return tgt_reply_json(r, 200, arr);
    }
    char *text = cJSON_PrintUnformatted(summ), *props = bucket_props_json(bck);
    cJSON_Delete(summ);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "ais-bucket-props", props);
    MHD_add_response_header(resp, "ais-bucket-summ", text);
    free(text);
    free(props);
    return tgt_reply(r, 200, resp);
}

int tgt_h_bucket_summary(tgt_req *r)
{
    const char *bck = bucket_of(r);
    return bck ? summary_reply(r, bck, false) : MHD_YES;
}

int tgt_h_bucket_head(tgt_req *r)
{
    const char *bck = bucket_of(r);
    if (!bck)
        return MHD_YES;
    if (tgt_query_true(r, "bsumm_remote"))
        return summary_reply(r, bck, true);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    char *props = bucket_props_json(bck);
    MHD_add_response_header(resp, "ais-bucket-props", props);
    free(props);
    return tgt_reply(r, 200, resp);
}

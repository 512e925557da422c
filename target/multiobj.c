/*
 * multiobj.c - multi-object operations on a list or range of names
 * (AIStore's ListRange): copy-listrange and etl-listrange reuse the bucket
 * copy/transform engine of offline.c with a different selection;
 * delete-listrange is its own small job. Evict and prefetch concern remote
 * buckets, which etlfs does not have. A copy or transform may name each
 * destination ("dst_names", an etlfs extension): the FUSE daemon copies a
 * directory under another name in one request.
 */
#include "target/target.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The destination: "tobck" {name, provider} in the value, else ?bck_to=. */
static bool dst_bucket(tgt_req *r, const cJSON *value, char *out, size_t len, char *why, size_t whylen)
{
    const cJSON *to = value ? cJSON_GetObjectItem(value, "tobck") : NULL;
    if (cJSON_IsObject(to)) {
        const cJSON *name = cJSON_GetObjectItem(to, "name"), *prov = cJSON_GetObjectItem(to, "provider");
        if (cJSON_IsString(prov) && *prov->valuestring && strcmp(prov->valuestring, "ais")) {
            snprintf(why, whylen, "destination provider \"%s\" is not supported (ais only)", prov->valuestring);
            return false;
        }
        if (!cJSON_IsString(name) || !*name->valuestring || strlen(name->valuestring) >= len) {
            snprintf(why, whylen, "invalid destination bucket in \"tobck\"");
            return false;
        }
        snprintf(out, len, "%s", name->valuestring);
        return true;
    }
    const char *q = tgt_query(r, "bck_to");
    if (q && *q && tgt_parse_uname_bucket(q, out, len))
        return true;
    snprintf(why, whylen, "missing destination bucket (\"tobck\" in the value)");
    return false;
}

int tgt_listrange_parse(const cJSON *value, bool etl, tgt_tcb *t, char *why, size_t whylen)
{
    if (tgt_tcb_parse(value, etl, t, why, whylen) != 0 || tgt_sel_parse(value, &t->sel, why, whylen) != 0 ||
        tgt_sel_parse_dsts(value, &t->sel, why, whylen) != 0)
        return -EINVAL;
    if (t->sel.dsts && ((t->prepend && *t->prepend) || t->ext_all || t->next)) {
        /* a given name is the whole destination name: mapping it too would be ambiguous */
        snprintf(why, whylen, "\"dst_names\" cannot be combined with \"prepend\" or \"ext\"");
        return -EINVAL;
    }
    return 0;
}

static int copy_listrange(tgt_req *r, bool etl)
{
    const char *src = r->items[2];
    if (!tgt_check_bucket(r, src, true))
        return MHD_YES;
    cJSON *value = tgt_msg_value(r);
    const char *kind = etl ? "etl-listrange" : "copy-listrange";
    char why[512];
    tgt_tcb *t = cmn_xcalloc(1, sizeof *t);
    snprintf(t->src, sizeof t->src, "%s", src);
    bool bad = !dst_bucket(r, value, t->dst, sizeof t->dst, why, sizeof why) ||
               tgt_listrange_parse(value, etl, t, why, sizeof why) != 0;
    if (bad) { /* every check above is of the request: a 400 */
        tgt_tcb_free(t);
        return tgt_reply_err(r, 400, "%s: %s", kind, why);
    }
    return tgt_tcb_start(r, kind, t, true);
}

/* ------------------------------------------------------------ delete */
typedef struct del_ctx {
    tgt_job *job;
    char bck[256];
    tgt_sel sel;
    bool cluster; /* each target deletes the named objects it owns (a walk finds only its own) */
} del_ctx;

static bool delete_one(void *ctx, const char *name, bool listed)
{
    del_ctx *d = ctx;
    if (tgt_job_aborted(d->job))
        return false;
    tgt_member owner;
    if (d->cluster && (d->sel.names || d->sel.tmpl) && tgt_cmap_owner(d->bck, name, &owner))
        return true; /* its owner's share */
    int fd;
    int64_t size = 0;
    if (tgt_object_open(&tgt->store, d->bck, name, &fd, &size) == 0)
        close(fd);
    int rc = tgt_object_remove(&tgt->store, d->bck, name);
    if (rc == 0)
        tgt_job_count(d->job, 1, size);
    else if ((rc != -ENOENT && rc != -ENOTDIR) || listed)
        tgt_job_error(d->job, "ais://%s/%s: %s", d->bck, name,
                      rc == -ENOENT || rc == -ENOTDIR ? "does not exist" : strerror(-rc));
    return true;
}

static void delete_job(tgt_job *job, void *arg)
{
    del_ctx *d = arg;
    d->job = job;
    tgt_journal_add(job, "delete-listrange", d->bck, NULL);
    tgt_sel_each(&d->sel, d->bck, delete_one, d);
    if (!tgt_job_aborted(job))
        tgt_journal_remove(job);
}

static void del_free(void *p)
{
    del_ctx *d = p;
    tgt_sel_free(&d->sel);
    free(d);
}

/* In a cluster the node asked makes the id and every other target runs its
 * share under it (cluster_jobs.c): one job, its status summed over all. */
int tgt_h_objects_delete(tgt_req *r)
{
    const char *bck = r->items[2];
    if (!tgt_check_bucket(r, bck, true))
        return MHD_YES;
    bool cluster = tgt_cluster_on();
    const char *share = cluster ? tgt_query(r, TGT_Q_JOB_SHARE) : NULL;
    if (share && (!*share || strlen(share) > CMN_UUID_LEN))
        return tgt_reply_err(r, 400, "invalid job id \"%s\"", share);
    cJSON *value = tgt_msg_value(r);
    char why[512];
    del_ctx *d = cmn_xcalloc(1, sizeof *d);
    snprintf(d->bck, sizeof d->bck, "%s", bck);
    d->cluster = cluster;
    if (tgt_sel_parse(value, &d->sel, why, sizeof why) != 0) {
        free(d);
        return tgt_reply_err(r, 400, "delete-listrange: %s", why);
    }
    return tgt_cjob_start(r, "delete-listrange", bck, NULL, delete_job, d, del_free);
}

int tgt_h_objects_copy(tgt_req *r) { return copy_listrange(r, false); }

int tgt_h_objects_transform(tgt_req *r) { return copy_listrange(r, true); }

/* evict-listrange, prefetch-listrange */
int tgt_h_objects_evict(tgt_req *r)
{
    const char *bck = r->items[2];
    if (!tgt_check_bucket(r, bck, true))
        return MHD_YES;
    return tgt_reply_err(r, 400, "%s: bucket \"ais://%s\": evict/prefetch apply to remote buckets only",
                         tgt_msg_action(r), bck);
}

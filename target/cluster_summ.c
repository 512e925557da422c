/*
 * cluster_summ.c - the bucket summary of a cluster. When a client polls a
 * summary, the node asked computes its own (bucket.c) and asks every other
 * target for its own (TGT_HDR_SUMM_LOCAL), in parallel, and adds them up:
 * counts and sizes summed, the smallest and largest object over all, the
 * average and the share of the disks computed again from the sums.
 *
 * A target that does not answer fails the summary with its name, as
 * list-objects does: a sum missing a target's objects would be wrong.
 */
#include "target/target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An integer field of a summary: a JSON string (AIStore's int64), or a
 * number (raw when this node made it: tgt_json_int). */
static int64_t get(const cJSON *s, const char *group, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(s, group), key);
    if (cJSON_IsString(v) || cJSON_IsRaw(v))
        return strtoll(v->valuestring, NULL, 10);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* Sets group.key, in the form (string or number) it has. */
static void set(cJSON *s, const char *group, const char *key, int64_t v)
{
    cJSON *g = cJSON_GetObjectItem(s, group);
    if (!g)
        return;
    bool str = cJSON_IsString(cJSON_GetObjectItem(g, key));
    cJSON_DeleteItemFromObject(g, key);
    cJSON_AddItemToObject(g, key, str ? tgt_json_str_int(v) : tgt_json_int(v));
}

static const struct {
    const char *group, *key;
} summed[] = {
    {"ObjCount", "obj_count_present"},   {"ObjCount", "obj_count_remote"},
    {"TotalSize", "size_on_disk"},       {"TotalSize", "size_all_present_objs"},
    {"TotalSize", "size_all_remote_objs"}, {"TotalSize", "total_disks_size"},
};

/* Adds target summary t into s. */
static void add(cJSON *s, const cJSON *t)
{
    int64_t n = get(s, "ObjCount", "obj_count_present"), tn = get(t, "ObjCount", "obj_count_present");
    if (tn) {
        int64_t tmin = get(t, "ObjSize", "obj_min_size"), tmax = get(t, "ObjSize", "obj_max_size");
        if (!n || tmin < get(s, "ObjSize", "obj_min_size"))
            set(s, "ObjSize", "obj_min_size", tmin);
        if (tmax > get(s, "ObjSize", "obj_max_size"))
            set(s, "ObjSize", "obj_max_size", tmax);
    }
    for (size_t i = 0; i < sizeof summed / sizeof summed[0]; i++) {
        const char *g = summed[i].group, *k = summed[i].key;
        set(s, g, k, get(s, g, k) + get(t, g, k));
    }
}

int tgt_cluster_summary(tgt_req *r, const char *bck, const char *prefix, cJSON *summ, cmn_err *err)
{
    tgt_member *ms;
    int nm = tgt_cmap_members(&ms, NULL);
    tgt_pcall *cs = cmn_xcalloc((size_t)(nm ? nm : 1), sizeof *cs);
    int n = 0;
    cJSON *msg = cJSON_CreateObject(), *v;
    cJSON_AddStringToObject(msg, "action", "summary-bck");
    cJSON_AddItemToObject(msg, "value", v = cJSON_CreateObject());
    cJSON_AddStringToObject(v, "uuid", "cluster"); /* a poll: the target answers its summary now */
    cJSON_AddStringToObject(v, "prefix", prefix);
    char *body = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    const char *auth = tgt_header(r, "Authorization");
    char *auth_hdr = auth ? cmn_xasprintf("Authorization: %s", auth) : NULL;
    char *b = cmn_path_escape(bck);
    for (int i = 0; i < nm; i++) {
        if (!strcmp(ms[i].id, tgt_cluster_self()))
            continue;
        tgt_pcall *c = &cs[n++];
        c->m = ms[i];
        c->known = true;
        c->method = "GET";
        c->url = cmn_xasprintf("%s/v1/buckets/%s", ms[i].url, b);
        c->body = body;
        c->body_len = strlen(body);
        const char *h[] = {"Content-Type: application/json", TGT_HDR_SUMM_LOCAL ": true", auth_hdr, NULL};
        memcpy(c->hdrs, h, sizeof h);
        cmn_buf_init(&c->text);
    }
    tgt_pcall_all(cs, n);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const cJSON *t = cJSON_GetArrayItem(cs[i].json, 0);
        if (!cs[i].status || cs[i].status / 100 != 2)
            rc = cmn_err_set(err, cs[i].status ? cs[i].err.code : EAGAIN, "%s", cs[i].err.msg);
        else if (!cJSON_IsObject(t))
            rc = cmn_err_set(err, EAGAIN, "target %s (%s) answered no summary", cs[i].m.id, cs[i].m.url);
        else
            add(summ, t);
    }
    int64_t count = get(summ, "ObjCount", "obj_count_present"), total = get(summ, "TotalSize", "size_all_present_objs");
    int64_t disks = get(summ, "TotalSize", "total_disks_size");
    set(summ, "ObjSize", "obj_avg_size", count ? total / count : 0);
    cJSON_DeleteItemFromObject(summ, "used_pct");
    cJSON_AddNumberToObject(summ, "used_pct", disks ? (double)(total * 100 / disks) : 0);
    tgt_pcalls_free(cs, n);
    free(ms);
    free(b);
    free(body);
    free(auth_hdr);
    return rc;
}

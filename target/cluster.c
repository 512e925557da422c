/*
 * cluster.c - what makes one process look like a whole AIStore cluster to
 * its clients: health, the cluster map (one proxy and one target, both this
 * process; with --etcd every member: cluster_map.c), and the job queries and
 * job start/stop of /v1/cluster.
 */
#include "target/target.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>

/* A node started with --etcd is healthy once it has joined (a client that
 * waits for health may then count it in the map). */
int tgt_h_health_get(tgt_req *r)
{
    if (tgt->cfg.etcd && !tgt_cluster_joined())
        return tgt_reply_err(r, 503, "joining cluster %s", *tgt->cfg.cluster ? tgt->cfg.cluster : "etlfs");
    return tgt_reply_empty(r, 200);
}

static cJSON *net_json(const char *url)
{
    cJSON *n = cJSON_CreateObject();
    char host[256] = "127.0.0.1", port[16] = "8080";
    /* a public URL is "http://HOST:PORT" */
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    const char *colon = strrchr(h, ':');
    if (colon) {
        snprintf(host, sizeof host, "%.*s", (int)(colon - h), h);
        snprintf(port, sizeof port, "%s", colon + 1);
    }
    cJSON_AddStringToObject(n, "node_ip_addr", host);
    cJSON_AddStringToObject(n, "daemon_port", port);
    cJSON_AddStringToObject(n, "direct_url", url);
    return n;
}

cJSON *tgt_snode_json(const char *id, const char *type, const char *url, int flags)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddItemToObject(s, "public_net", net_json(url));
    cJSON_AddItemToObject(s, "intra_control_net", net_json(url));
    cJSON_AddItemToObject(s, "intra_data_net", net_json(url));
    cJSON_AddStringToObject(s, "daemon_type", type);
    cJSON_AddStringToObject(s, "daemon_id", id);
    cJSON_AddNumberToObject(s, "flags", flags);
    /* AIStore's Snode.IDDigest (a uint64: printed raw, past a double's digits) */
    char d[24];
    snprintf(d, sizeof d, "%llu", (unsigned long long)tgt_hrw_digest(id));
    cJSON_AddItemToObject(s, "id_digest", cJSON_CreateRaw(d));
    return s;
}

static cJSON *snode_json(const char *id, const char *type) { return tgt_snode_json(id, type, tgt->cfg.public_url, 0); }

static cJSON *smap_json(void)
{
    if (tgt_cluster_on())
        return tgt_cluster_smap_json();
    cJSON *m = cJSON_CreateObject();
    cJSON *tmap = cJSON_AddObjectToObject(m, "tmap");
    cJSON_AddItemToObject(tmap, TGT_NODE_ID, snode_json(TGT_NODE_ID, "target"));
    cJSON *pmap = cJSON_AddObjectToObject(m, "pmap");
    cJSON_AddItemToObject(pmap, TGT_PROXY_ID, snode_json(TGT_PROXY_ID, "proxy"));
    cJSON_AddItemToObject(m, "proxy_si", snode_json(TGT_PROXY_ID, "proxy"));
    cJSON_AddStringToObject(m, "uuid", tgt->smap_uuid);
    char t[48];
    cmn_format_rfc3339(tgt->started_ns, t, sizeof t);
    cJSON_AddStringToObject(m, "creation_time", t);
    cJSON_AddStringToObject(m, "version", "3");
    return m;
}

int tgt_h_smap_get(tgt_req *r) { return tgt_reply_json(r, 200, smap_json()); }

int tgt_h_daemon_what_invalid(tgt_req *r)
{
    return tgt_reply_err(r, 400, "invalid what=\"%s\" (etlfs answers: smap, sysinfo)", tgt_query(r, "what"));
}

/* AIStore's TSysInfo: memory, and the mountpaths' capacity, each file
 * system counted once (mountpaths may share one). Used counts what is not
 * available to writes, as AIStore does, so capacity - used is what fits. */
int tgt_h_sysinfo_get(tgt_req *r)
{
    unsigned long fsids[TGT_MAX_MPATHS];
    int nfs = 0;
    uint64_t total = 0, used = 0;
    for (int i = 0; i < tgt->store.nmpaths; i++) {
        struct statvfs v;
        if (statvfs(tgt->store.mpaths[i], &v) != 0)
            continue;
        bool seen = false;
        for (int k = 0; k < nfs; k++)
            seen |= fsids[k] == v.f_fsid;
        if (seen)
            continue;
        fsids[nfs++] = v.f_fsid;
        total += (uint64_t)v.f_blocks * v.f_frsize;
        used += (uint64_t)(v.f_blocks - v.f_bavail) * v.f_frsize;
    }
    struct sysinfo si;
    cJSON *j = cJSON_CreateObject();
    if (sysinfo(&si) == 0) {
        uint64_t mem_total = (uint64_t)si.totalram * si.mem_unit, mem_free = (uint64_t)si.freeram * si.mem_unit;
        cJSON_AddItemToObject(j, "mem_used", tgt_json_int((int64_t)(mem_total - mem_free)));
        cJSON_AddItemToObject(j, "mem_avail", tgt_json_int((int64_t)mem_free));
        cJSON_AddNumberToObject(j, "pct_mem_used", mem_total ? (double)(mem_total - mem_free) * 100 / (double)mem_total : 0);
    }
    cJSON_AddItemToObject(j, "fs_used", tgt_json_str_int((int64_t)used));
    cJSON_AddItemToObject(j, "fs_capacity", tgt_json_str_int((int64_t)total));
    cJSON_AddNumberToObject(j, "pct_fs_used", total ? (double)used * 100 / (double)total : 0);
    return tgt_reply_json(r, 200, j);
}

/* Job query bodies come with Go field names (ID, Kind) or json tags (id, kind):
 * cJSON's lookups are case-insensitive, as AIStore's decoder is. */
static const char *field(cJSON *msg, const char *key)
{
    cJSON *f = msg ? cJSON_GetObjectItem(msg, key) : NULL;
    return cJSON_IsString(f) ? f->valuestring : "";
}

int tgt_h_job_status(tgt_req *r)
{
    const char *id = field(r->msg, "ID"), *kind = field(r->msg, "Kind");
    if (!*id && !*kind)
        return tgt_reply_err(r, 400, "job status: neither job id nor kind given");
    if (tgt_cluster_on() && !tgt_header(r, TGT_HDR_JOB_LOCAL)) /* every target's share */
        return tgt_cjob_query(r, "status");
    cJSON *s = tgt_jobs_status(id, kind);
    if (!s)
        return tgt_reply_err(r, 404, "job %s%s not found", id, kind);
    return tgt_reply_json(r, 200, s);
}

int tgt_h_jobs_status_all(tgt_req *r)
{
    if (tgt_cluster_on() && !tgt_header(r, TGT_HDR_JOB_LOCAL))
        return tgt_cjob_query(r, "status_all");
    cJSON *sa = r->msg ? cJSON_GetObjectItem(r->msg, "show_active") : NULL;
    return tgt_reply_json(r, 200, tgt_jobs_status_all(field(r->msg, "Kind"), cJSON_IsTrue(sa)));
}

int tgt_h_jobs_running(tgt_req *r)
{
    if (tgt_cluster_on() && !tgt_header(r, TGT_HDR_JOB_LOCAL))
        return tgt_cjob_query(r, "running_all");
    return tgt_reply_json(r, 200, tgt_jobs_running(field(r->msg, "Kind")));
}

int tgt_h_jobs_snaps(tgt_req *r)
{
    if (tgt_cluster_on() && !tgt_header(r, TGT_HDR_JOB_LOCAL))
        return tgt_cjob_query(r, "qryxstats");
    const char *id = field(r->msg, "ID"), *kind = field(r->msg, "Kind");
    cJSON *s = tgt_jobs_snaps(id, kind);
    if (!s)
        return tgt_reply_err(r, 404, "no jobs match id \"%s\" kind \"%s\"", id, kind);
    return tgt_reply_json(r, 200, s);
}

int tgt_h_job_stop(tgt_req *r)
{
    if (tgt_cluster_on() && !tgt_header(r, TGT_HDR_JOB_LOCAL)) /* abort on every target */
        return tgt_cjob_stop(r);
    cJSON *value = tgt_msg_value(r);
    const char *id = field(value, "ID"), *kind = field(value, "Kind");
    if (*id) {
        if (tgt_job_abort(id) != 0)
            return tgt_reply_err(r, 404, "job %s not found", id);
        return tgt_reply_empty(r, 200);
    }
    cJSON *running = tgt_jobs_status_all(kind, true), *s;
    cJSON_ArrayForEach(s, running) tgt_job_abort(cJSON_GetObjectItem(s, "uuid")->valuestring);
    cJSON_Delete(running);
    return tgt_reply_empty(r, 200);
}

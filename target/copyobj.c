/*
 * copyobj.c - server-side copy of one object, optionally through an ETL
 * (POST /v1/objects/SRC/OBJ?bck_to=ais/@#/DST/ {"action":"copy-obj",
 * "name":"DSTNAME","value":{"id":"ETL or empty"}}), an etlfs extension the
 * FUSE daemon uses for copy_file_range; and AIStore 5.0's form,
 * PUT /v1/objects/SRC/OBJ?object_to=ais/@#/DST/NAME[&etl_name=&etl_pipeline=
 * &etl_args=]. Synchronous: the reply says how many bytes were written
 * (ais-size) and the new version (ais-version). In a cluster the copy goes
 * to the owner of its name: a plain one sent there (cluster_xfer.c), an ETL's
 * output streamed there (cluster_jobs.c).
 */
#include "target/target.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Copies bck/obj to dst/dname, through chain h when given (taken). */
static int copy_one(tgt_req *r, const char *what, const char *bck, const char *obj, const char *dst,
                    const char *dname, etl_chain *h)
{
    char why[128];
    int rc;
    if (!cmn_object_name_valid(dname, why, sizeof why)) {
        rc = tgt_reply_err(r, 400, "%s: invalid object name \"%s\": %s", what, dname, why);
        goto out;
    }
    if (!tgt_check_bucket(r, dst, true)) {
        rc = MHD_YES;
        goto out;
    }
    int fd;
    int64_t size;
    if ((rc = tgt_object_open(&tgt->store, bck, obj, &fd, &size)) != 0) {
        rc = rc == -ENOENT ? tgt_reply_err(r, 404, "t[%s]: ais://%s/%s does not exist", TGT_NODE_ID, bck, obj)
                           : tgt_reply_err(r, 500, "ais://%s/%s: %s", bck, obj, strerror(-rc));
        goto out;
    }
    close(fd);
    char fqn[PATH_MAX];
    tgt_store_fqn(&tgt->store, bck, obj, fqn, sizeof fqn);
    tgt_objmeta m = {0};
    int64_t bytes = size;
    cmn_err cerr = {0};
    char owner[512];
    if (!h && (rc = tgt_cluster_place(r, "copy", bck, obj, dst, dname, &bytes, &cerr)) <= 0) {
        /* another target owns the copy's name: sent there */
        if (rc) {
            rc = tgt_reply_err(r, cmn_err_http_status(cerr.code), "%s", cerr.msg);
            goto out;
        }
        snprintf(m.cksum_type, sizeof m.cksum_type, "none");
    } else if (h && tgt_cluster_on() && tgt_cmap_owner_elsewhere(dst, dname, owner, sizeof owner)) {
        /* the output's owner is another target: it streams there (cluster_jobs.c) */
        etl_object eo = {bck, obj, fqn, size, NULL};
        const char *auth = tgt_header(r, "Authorization");
        char *hdr = auth ? cmn_xasprintf("Authorization: %s", auth) : NULL;
        rc = tgt_etl_store_to(h, &eo, owner, hdr, dst, dname, 0, &bytes, &cerr);
        free(hdr);
        if (rc) {
            rc = tgt_reply_err(r, cmn_err_http_status(rc), "%s ais://%s/%s to ais://%s/%s: %s", what, bck, obj, dst,
                               dname, cerr.msg);
            goto out;
        }
        snprintf(m.cksum_type, sizeof m.cksum_type, "none");
    } else if (h) {
        etl_object eo = {bck, obj, fqn, size, NULL};
        cmn_err e = {0};
        rc = tgt_etl_store(h, &eo, dst, dname, 0, false, &bytes, &m, NULL, &e);
        if (rc) { /* the reader is us: a refused output is our failure */
            rc = tgt_reply_err(r, rc == -ECANCELED ? 500 : cmn_err_http_status(rc), "%s ais://%s/%s to ais://%s/%s: %s",
                               what, bck, obj, dst, dname, e.msg);
            goto out;
        }
    } else if ((rc = tgt_store_copy_file(&tgt->store, fqn, dst, dname, &m, NULL)) != 0) {
        rc = tgt_reply_err(r, rc == -ENOSPC ? 507 : rc == -ENOTDIR ? 409 : 500, "%s ais://%s/%s to ais://%s/%s: %s",
                           what, bck, obj, dst, dname, strerror(-rc));
        goto out;
    } else {
        bytes = m.size;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)bytes);
    MHD_add_response_header(resp, "ais-size", v);
    snprintf(v, sizeof v, "%lld", (long long)m.version);
    MHD_add_response_header(resp, "ais-version", v);
    MHD_add_response_header(resp, "ais-checksum-type", m.cksum_type);
    MHD_add_response_header(resp, "ais-checksum-value", m.cksum);
    tgt_objmeta_free(&m);
    rc = tgt_reply(r, 200, resp);
out:
    etl_put(h);
    return rc;
}

int tgt_act_copy_obj(tgt_req *r, const char *bck, const char *obj)
{
    char dst[256];
    const char *to = tgt_query(r, "bck_to");
    if (!to || !*to)
        snprintf(dst, sizeof dst, "%s", bck);
    else if (!tgt_parse_uname_bucket(to, dst, sizeof dst))
        return tgt_reply_err(r, 400, "copy-obj: invalid \"bck_to\" \"%s\" (want ais/@#/NAME/)", to);
    const cJSON *nm = r->msg ? cJSON_GetObjectItem(r->msg, "name") : NULL;
    const char *dname = cJSON_IsString(nm) && *nm->valuestring ? nm->valuestring : obj;
    const cJSON *value = tgt_msg_value(r);
    const cJSON *id = value ? cJSON_GetObjectItem(value, "id") : NULL;
    etl_chain *h = NULL;
    if (cJSON_IsString(id) && *id->valuestring) {
        etl_request q = {.name = id->valuestring};
        const cJSON *pl = cJSON_GetObjectItem(value, "pipeline"), *it;
        cJSON_ArrayForEach(it, pl)
        {
            if (!cJSON_IsString(it) || q.npipeline == ETL_PIPELINE_MAX)
                return tgt_reply_err(r, 400, "copy-obj: \"pipeline\" must list at most %d ETL names",
                                     ETL_PIPELINE_MAX);
            q.pipeline[q.npipeline++] = it->valuestring;
        }
        cmn_err e = {0};
        if (!(h = etl_get(tgt->etl, &q, &e)))
            return tgt_reply_err(r, cmn_err_http_status(e.code), "%s", e.msg);
    }
    return copy_one(r, "copy-obj", bck, obj, dst, dname, h);
}

int tgt_h_object_copy_to(tgt_req *r)
{
    const char *bck = r->items[2], *obj = r->obj;
    const char *to = tgt_query(r, "object_to");
    char dst[256];
    const char *dname = tgt_parse_uname_object(to, dst, sizeof dst);
    if (!dname)
        return tgt_reply_err(r, 400, "invalid \"object_to\" \"%s\" (want ais/@#/BUCKET/OBJECT)", to);
    if (r->body.len)
        return tgt_reply_err(r, 400, "PUT with \"object_to\" copies or transforms an existing object and takes "
                                     "no body (%zu bytes given)", r->body.len);
    if (!tgt_check_bucket(r, bck, false))
        return MHD_YES;
    const char *etl = tgt_query(r, "etl_name");
    etl_chain *h = NULL;
    if (etl && *etl) {
        cmn_err e = {0};
        if (!(h = tgt_etl_from_query(r, &e)))
            return tgt_reply_err(r, cmn_err_http_status(e.code), "%s", e.msg);
    } else if (tgt_query(r, "etl_pipeline") || tgt_query(r, "etl_args")) {
        return tgt_reply_err(r, 400, "\"etl_pipeline\" and \"etl_args\" need \"etl_name\"");
    }
    return copy_one(r, h ? "transform-obj" : "copy-obj", bck, obj, dst, dname, h);
}

/*
 * copyobj.c - server-side copy of one object, optionally through an ETL
 * (POST /v1/objects/SRC/OBJ?bck_to=ais/@#/DST/ {"action":"copy-obj",
 * "name":"DSTNAME","value":{"id":"ETL or empty"}}), an etlfs extension the
 * FUSE daemon uses for copy_file_range. Synchronous: the reply says how
 * many bytes were written (ais-size) and the new version (ais-version).
 */
#include "target/target.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tgt_act_copy_obj(tgt_req *r, const char *bck, const char *obj)
{
    char dst[256], why[128];
    const char *to = tgt_query(r, "bck_to");
    if (!to || !*to)
        snprintf(dst, sizeof dst, "%s", bck);
    else if (!tgt_parse_uname_bucket(to, dst, sizeof dst))
        return tgt_reply_err(r, 400, "copy-obj: invalid \"bck_to\" \"%s\" (want ais/@#/NAME/)", to);
    if (!tgt_check_bucket(r, dst, true))
        return MHD_YES;
    const cJSON *nm = r->msg ? cJSON_GetObjectItem(r->msg, "name") : NULL;
    const char *dname = cJSON_IsString(nm) && *nm->valuestring ? nm->valuestring : obj;
    if (!cmn_object_name_valid(dname, why, sizeof why))
        return tgt_reply_err(r, 400, "copy-obj: invalid object name \"%s\": %s", dname, why);
    const cJSON *value = tgt_msg_value(r);
    const cJSON *id = value ? cJSON_GetObjectItem(value, "id") : NULL;
    const char *etl = cJSON_IsString(id) ? id->valuestring : "";
    int fd;
    int64_t size;
    int rc = tgt_object_open(&tgt->store, bck, obj, &fd, &size);
    if (rc == -ENOENT)
        return tgt_reply_err(r, 404, "t[%s]: ais://%s/%s does not exist", TGT_NODE_ID, bck, obj);
    if (rc)
        return tgt_reply_err(r, 500, "ais://%s/%s: %s", bck, obj, strerror(-rc));
    close(fd);
    char fqn[PATH_MAX];
    tgt_store_fqn(&tgt->store, bck, obj, fqn, sizeof fqn);
    tgt_objmeta m = {0};
    int64_t bytes = size;
    if (*etl) {
        etl_handle *h = etl_get(tgt->etl, etl);
        if (!h)
            return tgt_reply_err(r, 404, "t[%s]: etl job %s does not exist", TGT_NODE_ID, etl);
        etl_object eo = {bck, obj, fqn, size};
        cmn_err e = {0};
        rc = tgt_etl_store(h, &eo, dst, dname, 0, false, &bytes, &m, NULL, &e);
        etl_put(h);
        if (rc) /* the reader is us: a refused output is our failure */
            return tgt_reply_err(r, rc == -ECANCELED ? 500 : cmn_err_http_status(rc),
                                 "copy-obj ais://%s/%s to ais://%s/%s: %s", bck, obj, dst, dname, e.msg);
    } else if ((rc = tgt_store_copy_file(&tgt->store, fqn, dst, dname, &m, NULL)) != 0) {
        return tgt_reply_err(r, rc == -ENOSPC ? 507 : rc == -ENOTDIR ? 409 : 500,
                             "copy-obj ais://%s/%s to ais://%s/%s: %s", bck, obj, dst, dname, strerror(-rc));
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
    return tgt_reply(r, 200, resp);
}

/*
 * copybck.c - the copy-bck and etl-bck requests: the destination, the ETL's
 * name and the TCBMsg are read and checked here, and the job engine
 * (offline.c) takes over.
 */
#include "target/target.h"

#include <stdio.h>
#include <stdlib.h>

/* POST /v1/buckets/SRC?bck_to=ais/@#/DST/ {"action":"copy-bck"|"etl-bck","value":TCBMsg} */
int tgt_act_copy_bck(tgt_req *r, const char *src, cJSON *value, bool etl)
{
    const char *kind = etl ? "etl-bck" : "copy-bck";
    const char *to = tgt_query(r, "bck_to");
    const cJSON *name = r->msg ? cJSON_GetObjectItem(r->msg, "name") : NULL;
    tgt_tcb *t = cmn_xcalloc(1, sizeof *t);
    snprintf(t->src, sizeof t->src, "%s", src);
    if (to && *to) {
        if (!tgt_parse_uname_bucket(to, t->dst, sizeof t->dst)) {
            tgt_tcb_free(t);
            return tgt_reply_err(r, 400, "%s: invalid \"bck_to\" \"%s\" (want ais/@#/NAME/)", kind, to);
        }
    } else if (cJSON_IsString(name) && *name->valuestring) {
        /* the seed's form: the destination bucket in the message's "name" */
        snprintf(t->dst, sizeof t->dst, "%s", name->valuestring);
    } else {
        tgt_tcb_free(t);
        return tgt_reply_err(r, 400,
                             "%s: missing destination: give the \"bck_to\" query parameter (ais/@#/NAME/) "
                             "or the bucket name in the message's \"name\"",
                             kind);
    }
    char why[512];
    cJSON *filled = etl ? tgt_etl_name_filled(r, value, why, sizeof why) : NULL;
    if (etl && !filled) {
        tgt_tcb_free(t);
        return tgt_reply_err(r, 400, "%s: %s", kind, why);
    }
    int rc = tgt_tcb_parse(filled ? filled : value, etl, t, why, sizeof why);
    cJSON_Delete(filled);
    if (rc) {
        tgt_tcb_free(t);
        return tgt_reply_err(r, cmn_err_http_status(rc), "%s: %s", kind, why);
    }
    const cJSON *pf = value ? cJSON_GetObjectItem(value, "prefix") : NULL;
    tgt_sel_prefix(&t->sel, cJSON_IsString(pf) ? pf->valuestring : "");
    t->sel.non_recurs = cJSON_IsTrue(value ? cJSON_GetObjectItem(value, "non-recurs") : NULL);
    return tgt_tcb_start(r, kind, t, false);
}

/*
 * comm_hpull.c - hpull://: the ETL fetches the object from the target itself,
 * so the target only names it: GET URI/<PathEscape(uname)> with uname
 * "ais/@#/<bucket>/<object>" as one path segment (AIStore's transformerPath).
 * Inline reads redirect the client there; offline ones make the same GET.
 */
#include "etl/etl_int.h"

#include <stdlib.h>

char *etl_uname_url(const etl_handle *h, const etl_object *obj)
{
    char *uname = cmn_xasprintf("ais/@#/%s/%s", obj->bucket, obj->name);
    char *e = cmn_path_escape(uname);
    char *url = cmn_xasprintf("%s/%s", h->base_url, e);
    free(uname);
    free(e);
    return url;
}

const etl_comm etl_comm_hpull = {
    .name = "hpull://",
    .arg_url = true,
    .arg_fqn = true,
    .redirects = true,
    .object_url = etl_uname_url,
};

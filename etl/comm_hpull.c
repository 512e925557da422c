/*
 * comm_hpull.c - hpull:// and hrev://: the ETL fetches the object from the
 * target itself, so the target only names it: GET URI/<PathEscape(uname)>
 * with uname "ais/@#/<bucket>/<object>" as one path segment (AIStore's
 * transformerPath). Inline hpull redirects the client there; offline hpull
 * and hrev make the same GET through etl_transform.
 */
#include "etl/etl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *etl_uname_url(const etl_handle *h, const etl_object *obj)
{
    char *uname = NULL, *url = NULL;
    if (asprintf(&uname, "ais/@#/%s/%s", obj->bucket, obj->name) < 0)
        return NULL;
    char *e = cmn_path_escape(uname);
    free(uname);
    if (!e || asprintf(&url, "%s/%s", h->base_url, e) < 0)
        url = NULL;
    free(e);
    return url;
}

char *etl_pull_url(const etl_handle *h, const etl_object *obj)
{
    return etl_object_url(h, obj);
}

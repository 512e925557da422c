/*
 * comm_hpush.c - hpush://: the target PUTs the object to URI/<bucket>/<object>
 * (AIStore's path; each segment escaped so any object name makes a valid URL)
 * and the ETL answers with the output. io:// builds on the same URL.
 */
#include "etl/etl_int.h"

#include <stdlib.h>
#include <string.h>

static void append_escaped(cmn_buf *b, const char *s)
{
    char *e = cmn_path_escape(s);
    cmn_buf_puts(b, e);
    free(e);
}

/* URI/<bucket>/<object>, the object name's '/' kept as separators. */
void etl_push_path(cmn_buf *b, const etl_handle *h, const etl_object *obj)
{
    cmn_buf_printf(b, "%s/", h->base_url);
    append_escaped(b, obj->bucket);
    char *name = cmn_xstrdup(obj->name);
    char *save = NULL;
    for (char *seg = strtok_r(name, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        cmn_buf_puts(b, "/");
        append_escaped(b, seg);
    }
    free(name);
}

char *etl_push_url(const etl_handle *h, const etl_object *obj)
{
    cmn_buf b;
    cmn_buf_init(&b);
    etl_push_path(&b, h, obj);
    return cmn_buf_steal(&b);
}

const etl_comm etl_comm_hpush = {
    .name = "hpush://",
    .puts_object = true,
    .arg_fqn = true,
    .object_url = etl_push_url,
};

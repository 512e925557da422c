/*
 * comm_hpush.c - where hpush:// and io:// send an object: PUT
 * URI/<bucket>/<object> with the object as the body (AIStore's path; each
 * segment escaped so any object name makes a valid URL), io:// adding the
 * command query of the io-comm server; arg type fqn sends PUT
 * URI/<PathEscape(fqn)> with an empty body instead.
 */
#include "etl/etl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool etl_comm_puts(const etl_handle *h)
{
    return strcmp(h->comm, "hpush://") == 0 || strcmp(h->comm, "io://") == 0;
}

static void append_escaped(cmn_buf *b, const char *s)
{
    char *e = cmn_path_escape(s);
    cmn_buf_puts(b, e);
    free(e);
}

char *etl_push_url(const etl_handle *h, const etl_object *obj)
{
    cmn_buf b;
    cmn_buf_init(&b);
    cmn_buf_printf(&b, "%s/", h->base_url);
    append_escaped(&b, obj->bucket);
    char *name = strdup(obj->name);
    char *save = NULL;
    for (char *seg = name ? strtok_r(name, "/", &save) : NULL; seg; seg = strtok_r(NULL, "/", &save)) {
        cmn_buf_puts(&b, "/");
        append_escaped(&b, seg);
    }
    free(name);
    if (strcmp(h->comm, "io://") == 0) {
        cmn_buf_puts(&b, "?command=bash&command=-c&command=");
        append_escaped(&b, h->io_command);
    }
    return cmn_buf_steal(&b);
}

char *etl_object_url(const etl_handle *h, const etl_object *obj)
{
    if (strcmp(h->arg, "fqn") == 0) {
        char *e = cmn_path_escape(obj->fqn), *url = NULL;
        if (!e || asprintf(&url, "%s/%s", h->base_url, e) < 0)
            url = NULL;
        free(e);
        return url;
    }
    return etl_comm_puts(h) ? etl_push_url(h, obj) : etl_uname_url(h, obj);
}

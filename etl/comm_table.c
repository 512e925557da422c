/*
 * comm_table.c - the one table of communicators: how each hands an object
 * to an ETL and gets the output back. Everything else (message validation,
 * launch, transfer, the target's redirect) asks this table, never the name.
 *
 * Adding a communicator is one file and one row: write comm_NAME.c defining
 * `const etl_comm etl_comm_NAME` (name, method, URL per arg type, whether a
 * body is sent, whether inline reads redirect; or its own transfer when it
 * is not HTTP) and list it in comms[] below.
 */
#include "etl/etl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the first is the default (v3.22's and 5.0's hpush://) */
static const etl_comm *const comms[] = {&etl_comm_hpush, &etl_comm_hpull, &etl_comm_hrev, &etl_comm_io, &etl_comm_ws, NULL};

char *etl_comm_norm(const char *given)
{
    if (!given || !*given)
        return cmn_xstrdup(comms[0]->name);
    if (strstr(given, "://"))
        return cmn_xstrdup(given);
    return cmn_xasprintf("%s://", given);
}

const etl_comm *etl_comm_lookup(const char *name)
{
    for (size_t i = 0; comms[i]; i++)
        if (strcmp(comms[i]->name, name) == 0)
            return comms[i];
    return NULL;
}

char *etl_comm_names(void)
{
    cmn_buf b;
    cmn_buf_init(&b);
    for (size_t i = 0; comms[i]; i++)
        cmn_buf_printf(&b, "%s%s", i == 0 ? "" : comms[i + 1] ? ", " : " or ", comms[i]->name);
    return cmn_buf_steal(&b);
}

/* arg type fqn, whatever the communicator: the object's path is the URL. */
char *etl_fqn_url(const etl_handle *h, const etl_object *obj)
{
    char *e = cmn_path_escape(obj->fqn);
    char *url = cmn_xasprintf("%s/%s", h->base_url, e);
    free(e);
    return url;
}

/* AIStore 5.0's etl_fqn: the communicator's URL, the file named in the query
 * as its target does (path-escaped, then query-escaped: the SDK webserver
 * unquotes the value once more). */
static char *fqn_query_url(const etl_handle *h, const etl_object *obj)
{
    char *url = h->comm->object_url(h, obj), *p = cmn_path_escape(obj->fqn), *q = cmn_query_escape(p);
    char *out = cmn_xasprintf("%s%cetl_fqn=%s", url, strchr(url, '?') ? '&' : '?', q);
    free(url);
    free(p);
    free(q);
    return out;
}

char *etl_object_url(const etl_handle *h, const etl_object *obj)
{
    if (strcmp(h->arg, "fqn") == 0)
        return etl_fqn_url(h, obj);
    return h->direct_fqn ? fqn_query_url(h, obj) : h->comm->object_url(h, obj);
}

char *etl_body_url(const etl_handle *h, const etl_object *obj)
{
    return h->comm->body_url ? h->comm->body_url(h, obj) : etl_push_url(h, obj);
}

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

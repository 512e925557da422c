/*
 * comm_io.c - io://: hpush's PUT to the io-comm server, which runs the ETL's
 * command per object (stdin: the object, stdout: the output); the command
 * travels in the query of each request. The init-code runner started with
 * --io-pool keeps warm interpreters that run the script object after object
 * (etl/runtimes/python/runner.py); any other server runs a process per object.
 */
#include "etl/etl_int.h"

#include <stdlib.h>

static char *io_url(const etl_handle *h, const etl_object *obj)
{
    cmn_buf b;
    cmn_buf_init(&b);
    etl_push_path(&b, h, obj);
    char *cmd = cmn_path_escape(h->io_command);
    cmn_buf_printf(&b, "?command=bash&command=-c&command=%s", cmd);
    free(cmd);
    return cmn_buf_steal(&b);
}

const etl_comm etl_comm_io = {
    .name = "io://",
    .puts_object = true,
    .object_url = io_url,
    .body_url = io_url,
    .runner_arg = "--io-pool",
};

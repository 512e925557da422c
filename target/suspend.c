/*
 * suspend.c - a request whose reply another thread makes: a content reader
 * that parks its connection until there are bytes to send (an inline
 * transform's stream), and a handler that suspends its request while the
 * ETL works and is resumed with the reply (ws:// on an event thread). The
 * count of such connections is what the server's stop waits on.
 */
#include "target/target.h"

#include <microhttpd.h>
#include <stdatomic.h>

/* Connections a response's content reader suspended (tgt_park), counted
 * so that the stop waits for them: libmicrohttpd must not stop with one
 * suspended. */
static _Atomic int parked;

int tgt_parked_add(int d)
{
    return atomic_fetch_add(&parked, d) + d;
}

void tgt_park(struct MHD_Connection *conn)
{
    parked++;
    MHD_suspend_connection(conn);
}

void tgt_unpark(struct MHD_Connection *conn)
{
    tgt_resume_conn(conn);
    parked--;
}

/* r->run of a suspended request until a worker takes it: queue_held
 * queues the reply when its connection is back. */
static int held_reply(tgt_req *r)
{
    (void)r;
    return MHD_NO;
}

void tgt_suspend(tgt_req *r)
{
    r->run = held_reply;
    r->on_worker = true; /* its reply is held for this thread (tgt_reply) */
    r->suspended = true;
    parked++;
    MHD_suspend_connection(r->conn);
}

void tgt_resume(tgt_req *r)
{
    if (!r->responded)
        tgt_reply_err(r, 500, "%s %s: handler gave no reply", r->method, r->url);
    r->on_worker = false;
    tgt_resume_conn(r->conn); /* r belongs to the event thread again */
    parked--;
}

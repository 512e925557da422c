/*
 * test_reuse.c - a thread's spares (target/reuse.c): a dropped request struct
 * is the next one the thread takes, dropped body buffers come back whole and
 * at most four are kept, and spares dropped on a thread that then ends are
 * freed with it (the sanitized build's leak check would name them).
 */
#include "target/target.h"

#include <pthread.h>
#include <string.h>
#include "tests/unit/check.h"

enum { BUFS = 6, KEPT = 4 };

static void *drop_and_end(void *arg)
{
    void **handed = arg;
    tgt_req_drop(handed[0]);       /* kept by this thread... */
    tgt_body_buf_drop(handed[1]);
    tgt_req *r = tgt_req_new();    /* ...and given back here */
    CHECK(r == handed[0], "a thread's dropped request was not its next one");
    tgt_req_drop(r);
    return NULL;                   /* ...then freed as the thread ends */
}

int main(void)
{
    tgt_req *a = tgt_req_new(), *b = tgt_req_new();
    CHECK(a != b, "two requests in flight share a struct");
    memset(a, 0xab, sizeof *a); /* the whole struct is usable */
    tgt_req_drop(a);
    tgt_req *c = tgt_req_new();
    CHECK(c == a, "the dropped request was not reused");
    tgt_req_drop(c);
    tgt_req_drop(b); /* the spare slot is taken: freed */

    void *bufs[BUFS];
    for (int i = 0; i < BUFS; i++) {
        bufs[i] = tgt_body_buf_new();
        memset(bufs[i], i, TGT_BODY_BUF);
        for (int j = 0; j < i; j++)
            CHECK(bufs[i] != bufs[j], "buffers %d and %d in flight are the same", i, j);
    }
    for (int i = 0; i < BUFS; i++)
        tgt_body_buf_drop(bufs[i]);
    /* the first KEPT dropped were kept (the rest freed) and come back, last first */
    void *again[KEPT];
    for (int i = 0; i < KEPT; i++) {
        again[i] = tgt_body_buf_new();
        CHECK(again[i] == bufs[KEPT - 1 - i], "kept buffer %d not given back in order", i);
        memset(again[i], 0xcd, TGT_BODY_BUF);
    }
    for (int i = 0; i < KEPT; i++)
        tgt_body_buf_drop(again[i]);

    /* dropped on another thread (a worker's reply freed by an event thread) */
    void *handed[2] = {tgt_req_new(), tgt_body_buf_new()}; /* the spare c, the last kept buffer */
    CHECK(handed[0] == c && handed[1] == again[KEPT - 1], "spares not taken first");
    pthread_t th;
    pthread_create(&th, NULL, drop_and_end, handed);
    pthread_join(th, NULL);
    tgt_req *d = tgt_req_new(); /* this thread's spare slot is empty: a new one, kept on drop */
    tgt_req_drop(d);
    CHECK(tgt_req_new() == d, "the spare slot did not take the request back");
    tgt_req_drop(d);
    return CHECK_RESULT();
}

/*
 * reuse.c - a thread's spare request struct and small reply buffers.
 *
 * Every request takes a tgt_req (9 KiB, the writer's paths included) and a
 * small GET a buffer for its body; both are above malloc's per-thread cache,
 * so each took glibc's large-chunk path, which first merges every small
 * chunk freed since (malloc_consolidate: the header copies of the last
 * reply), and was freed again a moment later. An event thread ends one
 * request before it begins most of the next, so one spare struct and a few
 * buffers per thread serve nearly every request; what does not fit goes back
 * to malloc. Bounded: SPARE_BUFS buffers of TGT_BODY_BUF bytes per thread,
 * freed when the thread ends.
 */
#include "target/target.h"

#include <pthread.h>
#include <stdlib.h>

#define SPARE_BUFS 4

typedef struct spare {
    tgt_req *req;
    void *bufs[SPARE_BUFS];
    int nbufs;
} spare;

static __thread spare *mine;
static pthread_key_t key; /* only for its destructor: a thread's spares die with it */
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void spare_free(void *p)
{
    spare *s = p;
    free(s->req);
    for (int i = 0; i < s->nbufs; i++)
        free(s->bufs[i]);
    free(s);
    mine = NULL;
}

static void key_make(void) { pthread_key_create(&key, spare_free); }

static spare *spares(void)
{
    if (!mine) {
        pthread_once(&key_once, key_make);
        mine = cmn_xcalloc(1, sizeof *mine);
        pthread_setspecific(key, mine);
    }
    return mine;
}

tgt_req *tgt_req_new(void)
{
    spare *s = spares();
    tgt_req *r = s->req;
    s->req = NULL;
    return r ? r : cmn_xmalloc(sizeof *r);
}

void tgt_req_drop(tgt_req *r)
{
    spare *s = spares();
    if (s->req)
        free(r);
    else
        s->req = r;
}

void *tgt_body_buf_new(void)
{
    spare *s = spares();
    return s->nbufs ? s->bufs[--s->nbufs] : cmn_xmalloc(TGT_BODY_BUF);
}

void tgt_body_buf_drop(void *buf)
{
    spare *s = spares();
    if (s->nbufs < SPARE_BUFS)
        s->bufs[s->nbufs++] = buf;
    else
        free(buf);
}

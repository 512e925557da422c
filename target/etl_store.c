/*
 * etl_store.c - one object through an ETL into a bucket: the ETL's output
 * streams into the atomic writer, so a failed or cut-short output is never
 * stored (copy/transform jobs, offline.c). The writer's work file and
 * checksum are handed to the transform, which writes into them itself (no
 * call back into this file for each piece). In a cluster an output another
 * target owns streams to it instead (a PUT whose body is the ETL's output:
 * cluster_jobs.c), and is just as whole or absent there; that and a dry run
 * (which only counts) are the sinks of callbacks left. An offline job keeps
 * several objects in flight where the ETL's communicator allows it
 * (tgt_etl_store_start): their answers go to the writer the same way.
 */
#include "target/target.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct out_sink {
    const char *dst, *dname;
    const char *owner, *auth; /* another target's URL, or NULL: here */
    tgt_rput *rp;
    tgt_batch *batch;
    bool dry_run;
    bool opened;
    int64_t bytes;
    int err;      /* -errno of a failed write */
    tgt_writer w; /* last: set up by sink_begin, not zeroed with the rest (8 KiB per object) */
} out_sink;

static void sink_init(out_sink *o, const char *dst, const char *dname)
{
    memset(o, 0, offsetof(out_sink, w));
    o->dst = dst;
    o->dname = dname;
}

static int sink_begin(void *ctx, const char *ctype, int64_t clen)
{
    (void)ctype;
    (void)clen;
    out_sink *o = ctx;
    if (o->dry_run || o->opened)
        return 0;
    if (o->owner) {
        if (!(o->rp = tgt_rput_open(o->owner, o->dst, o->dname, o->auth)))
            return o->err = -EAGAIN;
        o->opened = true;
        return 0;
    }
    int rc = tgt_writer_open_batch(&o->w, &tgt->store, o->dst, o->dname, o->batch);
    if (rc) {
        o->err = rc;
        return rc;
    }
    o->opened = true;
    return 0;
}

static int sink_write(void *ctx, const void *buf, size_t len)
{
    out_sink *o = ctx;
    o->bytes += (int64_t)len;
    if (o->dry_run)
        return 0;
    if (!o->opened && sink_begin(ctx, NULL, -1) != 0)
        return o->err;
    int rc = o->rp ? tgt_rput_write(o->rp, buf, len) : tgt_writer_write(&o->w, buf, len);
    if (rc) {
        o->err = rc;
        return rc;
    }
    return 0;
}

static int store_end(out_sink *o, const etl_object *obj, int rc, int64_t *bytes, tgt_objmeta *out, cmn_err *err);

static int store(out_sink *o, const etl_chain *h, const etl_object *obj, int64_t timeout_ns, int64_t *bytes,
                 tgt_objmeta *out, cmn_err *err)
{
    etl_sink sink = {.ctx = o, .begin = sink_begin, .write = sink_write};
    etl_fd_out fd_out = {.fd = -1};
    if (!o->dry_run && !o->owner) { /* into the work file, hashed as it is written */
        int rc = sink_begin(o, NULL, -1);
        if (rc)
            return cmn_err_set(err, rc == -ENOSPC ? ENOSPC : EIO, "object ais://%s/%s: cannot write ais://%s/%s: %s",
                               obj->bucket, obj->name, o->dst, o->dname, strerror(-rc));
        fd_out = (etl_fd_out){.fd = o->w.fd, .hash = o->w.xx};
        sink.fd_out = &fd_out;
    }
    int rc = etl_transform(h, obj, &sink, timeout_ns, err);
    if (sink.fd_out) {
        if (fd_out.err)
            o->err = -fd_out.err;
        o->bytes = o->w.bytes = fd_out.bytes; /* what the transform wrote */
    }
    return store_end(o, obj, rc, bytes, out, err);
}

/* The transform ended with rc (err filled when it failed): the output is
 * committed (or sent to its owner) or dropped. */
static int store_end(out_sink *o, const etl_object *obj, int rc, int64_t *bytes, tgt_objmeta *out, cmn_err *err)
{
    if (!rc && !o->dry_run && !o->opened) /* an empty output is still an object */
        rc = sink_begin(o, NULL, 0);
    if (o->rp) { /* the owner's answer says whether it stored the output */
        if (!rc) {
            rc = tgt_rput_commit(o->rp, o->dst, o->dname, err);
            if (!rc)
                *bytes = o->bytes;
            return rc;
        }
        tgt_rput_abort(o->rp);
        if (o->err && !err->code)
            cmn_err_set(err, EIO, "object ais://%s/%s: cannot send ais://%s/%s to %s", obj->bucket, obj->name, o->dst,
                        o->dname, o->owner);
        return rc;
    }
    if (!rc && !o->dry_run && (o->err = tgt_writer_commit(&o->w, out)) != 0)
        rc = o->err;
    else if (rc && o->opened)
        tgt_writer_abort(&o->w);
    if (rc && o->err) /* a full disk says so; any other write failure is ours */
        return cmn_err_set(err, o->err == -ENOSPC ? ENOSPC : EIO, "object ais://%s/%s: cannot write ais://%s/%s: %s",
                           obj->bucket, obj->name, o->dst, o->dname, strerror(-o->err));
    if (rc)
        return rc;
    *bytes = o->bytes;
    return 0;
}

int tgt_etl_store(const etl_chain *h, const etl_object *obj, const char *dst, const char *dname, int64_t timeout_ns,
                  bool dry_run, int64_t *bytes, tgt_objmeta *out, tgt_batch *batch, cmn_err *err)
{
    out_sink o;
    sink_init(&o, dst, dname);
    o.dry_run = dry_run;
    o.batch = batch;
    return store(&o, h, obj, timeout_ns, bytes, out, err);
}

int tgt_etl_store_to(const etl_chain *h, const etl_object *obj, const char *owner, const char *auth, const char *dst,
                     const char *dname, int64_t timeout_ns, int64_t *bytes, cmn_err *err)
{
    out_sink o;
    sink_init(&o, dst, dname);
    o.owner = owner;
    o.auth = auth;
    return store(&o, h, obj, timeout_ns, bytes, NULL, err);
}

/* ------------------------------------------------------ no thread held
 * One object of an offline job's window: the ETL's answer streams into the
 * writer (opened when the ETL answers 2xx) on the connection's reader
 * thread, which then commits it and calls done. */
typedef struct store_op {
    const etl_chain *h;
    etl_object obj;
    int64_t timeout_ns;
    tgt_etl_store_done done;
    void *ctx;
    bool owned;    /* allocated here (else the caller's memory) */
    etl_sink sink; /* into o; the transfer keeps a pointer to it */
    out_sink o;    /* last: its writer is large */
} store_op;

static void store_op_done(void *ctx, int rc, const cmn_err *err)
{
    store_op *s = ctx;
    cmn_err e; /* 2 KiB: not zeroed per object */
    e.code = 0;
    e.msg[0] = '\0';
    int64_t bytes = 0;
    if (rc == -EAGAIN) { /* the connection broke before any answer: the blocking way, once more */
        if (s->o.opened)
            tgt_writer_abort(&s->o.w);
        out_sink *o = &s->o;
        tgt_batch *batch = o->batch;
        sink_init(o, o->dst, o->dname);
        o->batch = batch;
        rc = store(o, s->h, &s->obj, s->timeout_ns, &bytes, NULL, &e);
    } else {
        if (rc && err)
            e = *err;
        rc = store_end(&s->o, &s->obj, rc, &bytes, NULL, &e);
    }
    tgt_etl_store_done done = s->done;
    void *dctx = s->ctx;
    if (s->owned)
        free(s);
    done(dctx, rc, bytes, &e);
}

size_t tgt_etl_store_op_size(void)
{
    return sizeof(store_op);
}

int tgt_etl_store_start(const etl_chain *h, const etl_object *obj, const char *dst, const char *dname,
                        int64_t timeout_ns, tgt_batch *batch, void *mem, tgt_etl_store_done done, void *ctx)
{
    if (!etl_chain_starts(h))
        return -EAGAIN;
    store_op *s = mem ? mem : cmn_xmalloc(sizeof *s);
    s->owned = !mem;
    s->h = h;
    s->obj = *obj;
    s->timeout_ns = timeout_ns;
    s->done = done;
    s->ctx = ctx;
    sink_init(&s->o, dst, dname);
    s->o.batch = batch;
    s->sink = (etl_sink){.ctx = &s->o, .begin = sink_begin, .write = sink_write};
    etl_async a = {.sink = &s->sink, .timeout_ns = timeout_ns, .done = store_op_done, .ctx = s, .fill = true};
    int rc = etl_transform_start(h, obj, &a);
    if (rc && !mem)
        free(s);
    return rc;
}

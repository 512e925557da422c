/*
 * append.c - AIStore's object append: PUT ?append_type=append adds the body
 * to a work file that started as a copy of the object (empty when there is
 * none) and answers a handle (header ais-append-handle); later appends name
 * it; PUT ?append_type=flush&append_handle=H publishes the work file as the
 * object through the atomic writer. Until the flush the object is unchanged.
 *
 * A handle is an id this target made up and keeps in a table with the work
 * file's writer: never a path (AIStore's handle carries one; a client could
 * point it elsewhere). A handle belongs to one object and to one request at
 * a time. An append whose body fails or is cut short ends its session (its
 * work file holds part of a body); an append idle for cfg.upload_idle_ns is
 * dropped (sweeper.c). Bytes a flush carries are appended before the commit.
 */
#include "target/target.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDLE_LEN (2 * CMN_UUID_LEN)

typedef struct session {
    char handle[HANDLE_LEN + 1];
    char bck[256];
    char *obj;
    tgt_writer w;    /* the work file; lent to the request that holds the session */
    bool busy;       /* a request holds it */
    int64_t used_ns; /* cmn_mono_ns of its last request */
    struct session *next;
} session;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static session *sessions; /* guarded by mu, as is every field of a session that is not busy */
static int nsessions;     /* with the slots reserved by appends opening their work file */

static session *find_locked(const char *handle)
{
    for (session *s = sessions; s; s = s->next)
        if (!strcmp(s->handle, handle))
            return s;
    return NULL;
}

static void unlink_locked(session *s)
{
    for (session **p = &sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            nsessions--;
            return;
        }
}

static void session_free(session *s)
{
    tgt_writer_abort(&s->w); /* the work file too, unless it was published */
    free(s->obj);
    free(s);
}

/* A handle is HANDLE_LEN letters and digits: anything else is refused
 * before the table is searched. */
static bool handle_well_formed(const char *h)
{
    size_t n = strlen(h);
    if (n != HANDLE_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z')))
            return false;
    return true;
}

/* The work file of a new append: a copy of the object's current bytes
 * (hashed as they go), or empty when there is no object. */
static int open_work(const char *bck, const char *obj, tgt_writer *w, cmn_err *err)
{
    int fd = -1;
    int64_t size = 0;
    int rc = tgt_object_open(&tgt->store, bck, obj, &fd, &size);
    if (rc == -ENOENT)
        rc = 0; /* appending to nothing: the object starts empty */
    else if (rc)
        return cmn_err_set(err, rc, "ais://%s/%s: cannot read the object to append to: %s", bck, obj, strerror(-rc));
    if (size > 0)
        rc = tgt_store_check_space(&tgt->store, bck, obj, size, err);
    if (rc == 0 && (rc = tgt_writer_open(w, &tgt->store, bck, obj)) != 0)
        cmn_err_set(err, rc, "ais://%s/%s: cannot create the append's work file: %s", bck, obj, strerror(-rc));
    else if (rc == 0 && size > 0) {
        char *buf = cmn_xmalloc(1 << 20);
        ssize_t n;
        off_t off = 0;
        while ((n = cmn_pread_full(fd, buf, 1 << 20, off)) > 0 && (rc = tgt_writer_write(w, buf, (size_t)n)) == 0)
            off += n;
        if (n < 0)
            rc = (int)n;
        free(buf);
        if (rc) {
            tgt_writer_abort(w);
            cmn_err_set(err, rc, "ais://%s/%s: cannot copy the object into the append's work file: %s", bck, obj,
                        strerror(-rc));
        }
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* A new session, holding its work file, marked busy; or NULL with err. */
static session *session_new(const char *bck, const char *obj, cmn_err *err)
{
    pthread_mutex_lock(&mu);
    bool room = nsessions < TGT_APPEND_MAX;
    nsessions += room; /* reserved while the object is copied, outside the lock */
    pthread_mutex_unlock(&mu);
    if (!room) {
        cmn_err_set(err, EAGAIN, "ais://%s/%s: %d appends are in progress (the most this target keeps); flush one, "
                                 "or wait until idle ones are dropped",
                    bck, obj, TGT_APPEND_MAX);
        return NULL;
    }
    session *s = cmn_xcalloc(1, sizeof *s);
    if (open_work(bck, obj, &s->w, err) != 0) {
        free(s);
        pthread_mutex_lock(&mu);
        nsessions--;
        pthread_mutex_unlock(&mu);
        return NULL;
    }
    char a[CMN_UUID_LEN + 1], b[CMN_UUID_LEN + 1];
    cmn_gen_uuid(a);
    cmn_gen_uuid(b);
    snprintf(s->handle, sizeof s->handle, "%s%s", a, b);
    snprintf(s->bck, sizeof s->bck, "%s", bck);
    s->obj = cmn_xstrdup(obj);
    s->busy = true;
    pthread_mutex_lock(&mu);
    s->next = sessions;
    sessions = s;
    s->used_ns = cmn_mono_ns();
    pthread_mutex_unlock(&mu);
    return s;
}

/* The session a later append or a flush names, marked busy; or NULL with err. */
static session *session_take(const char *bck, const char *obj, const char *handle, cmn_err *err)
{
    if (!handle_well_formed(handle)) {
        cmn_err_set(err, EINVAL, "ais://%s/%s: invalid append handle \"%.80s\" (pass the ais-append-handle an append "
                                 "answered)",
                    bck, obj, handle);
        return NULL;
    }
    pthread_mutex_lock(&mu);
    session *s = find_locked(handle);
    int rc = 0;
    if (!s)
        rc = cmn_err_set(err, EINVAL, "ais://%s/%s: no append in progress with handle %s (flushed already, idle for "
                                      "longer than %lld s, or the target restarted)",
                         bck, obj, handle, (long long)(tgt->cfg.upload_idle_ns / 1000000000LL));
    else if (strcmp(s->bck, bck) || strcmp(s->obj, obj))
        rc = cmn_err_set(err, EINVAL, "ais://%s/%s: append handle %s belongs to ais://%s/%s", bck, obj, handle,
                         s->bck, s->obj);
    else if (s->busy)
        rc = cmn_err_set(err, EBUSY, "ais://%s/%s: append handle %s is in use by another request", bck, obj, handle);
    else
        s->busy = true;
    pthread_mutex_unlock(&mu);
    return rc ? NULL : s;
}

bool tgt_append_start(tgt_req *r, int *ret)
{
    const char *bck = r->items[2], *obj = r->obj;
    char why[128];
    if (!tgt_check_bucket(r, bck, true)) {
        *ret = MHD_YES;
        return false;
    }
    if (!cmn_object_name_valid(obj, why, sizeof why)) {
        *ret = tgt_reply_err(r, 400, "invalid object name \"%s\": %s", obj, why);
        return false;
    }
    const char *op = tgt_query(r, "append_type"), *handle = tgt_query(r, "append_handle");
    bool flush = !strcmp(op, "flush");
    if (!flush && strcmp(op, "append")) {
        *ret = tgt_reply_err(r, 400, "ais://%s/%s: invalid append_type \"%.64s\" (expecting \"append\" or \"flush\")",
                             bck, obj, op);
        return false;
    }
    if (flush && (!handle || !*handle)) {
        *ret = tgt_reply_err(r, 400, "ais://%s/%s: flush needs the append_handle an append answered", bck, obj);
        return false;
    }
    cmn_err err = {0};
    const char *len = tgt_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len && tgt_store_check_space(&tgt->store, bck, obj, strtoll(len, NULL, 10), &err) != 0) {
        *ret = tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
        return false;
    }
    session *s = handle && *handle ? session_take(bck, obj, handle, &err) : session_new(bck, obj, &err);
    if (!s) {
        *ret = tgt_reply_err(r, cmn_err_http_status(err.code), "%s", err.msg);
        return false;
    }
    /* the request holds the writer until it ends: its body streams into it */
    r->writer = s->w;
    s->w.fd = -1;
    s->w.xx = NULL;
    s->w.custom = NULL;
    snprintf(r->put_ref, sizeof r->put_ref, "%s", s->handle);
    snprintf(r->put_bck, sizeof r->put_bck, "%s", bck);
    r->put_obj = cmn_xstrdup(obj);
    r->streaming = true;
    return true;
}

/* Takes the request's session out of the table: its work file went with
 * the request's writer (or is published). */
static void session_end(tgt_req *r)
{
    pthread_mutex_lock(&mu);
    session *s = find_locked(r->put_ref);
    if (s)
        unlink_locked(s);
    pthread_mutex_unlock(&mu);
    if (s)
        session_free(s);
}

void tgt_append_cancel(tgt_req *r) { session_end(r); }

int tgt_h_object_append(tgt_req *r)
{
    const char *bck = r->put_bck, *obj = r->put_obj;
    if (!r->streaming)
        return tgt_reply_err(r, 500, "ais://%s/%s: append without a work file", bck, obj ? obj : "");
    r->streaming = false;
    if (r->stream_err) {
        session_end(r);
        return tgt_reply_err(r, cmn_err_http_status(r->stream_err),
                             "ais://%s/%s: append failed: %s (the append is dropped: start again from an empty handle)",
                             bck, obj, strerror(r->stream_err));
    }
    if (!strcmp(tgt_query(r, "append_type"), "flush")) {
        tgt_objmeta m;
        int rc = tgt_writer_commit(&r->writer, &m); /* the work file is published or gone */
        session_end(r);
        if (rc == -ENOTDIR || rc == -EISDIR)
            return tgt_reply_err(r, 409, "ais://%s/%s: %s", bck, obj,
                                 rc == -ENOTDIR ? "a prefix of the name is an existing object"
                                                : "the name is a prefix of existing objects");
        if (rc)
            return tgt_reply_err(r, cmn_err_http_status(rc), "ais://%s/%s: cannot store the appended object: %s", bck,
                                 obj, strerror(-rc));
        tgt_objmeta_free(&m);
        return tgt_reply_empty(r, 200);
    }
    /* give the writer back to the session, which is free for the next append */
    pthread_mutex_lock(&mu);
    session *s = find_locked(r->put_ref);
    if (s) {
        s->w = r->writer;
        s->busy = false;
        s->used_ns = cmn_mono_ns();
    }
    pthread_mutex_unlock(&mu);
    if (!s) { /* cannot happen: a busy session stays in the table */
        tgt_writer_abort(&r->writer);
        return tgt_reply_err(r, 500, "ais://%s/%s: append handle %s vanished", bck, obj, r->put_ref);
    }
    memset(&r->writer, 0, sizeof r->writer);
    r->writer.fd = -1;
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "ais-append-handle", r->put_ref);
    return tgt_reply(r, 200, resp);
}

void tgt_append_sweep(int64_t idle_before_ns)
{
    session *drop = NULL;
    pthread_mutex_lock(&mu);
    for (session **p = &sessions; *p;) {
        session *s = *p;
        if (!s->busy && s->used_ns < idle_before_ns) {
            *p = s->next;
            nsessions--;
            s->next = drop;
            drop = s;
        } else {
            p = &s->next;
        }
    }
    pthread_mutex_unlock(&mu);
    while (drop) {
        session *s = drop;
        drop = s->next;
        if (idle_before_ns != INT64_MAX)
            cmn_info("append to ais://%s/%s dropped: not flushed, idle for %lld s", s->bck, s->obj,
                     (long long)(tgt->cfg.upload_idle_ns / 1000000000LL));
        session_free(s);
    }
}

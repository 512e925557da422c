/*
 * comm_ws.c - ws://, AIStore 5.0's streaming communicator: long-lived
 * WebSocket connections to the ETL's /ws, each carrying object after object
 * (upstream ext/etl/websocket_comm.go). Per object the target sends a binary
 * message with the control JSON (WebsocketCtrlMsg: "fqn" = PathEscape(fqn)
 * when the ETL reads the file itself, "path" = the object's name,
 * "etl_args"; empty fields left out, as Go's omitempty does), then, unless
 * fqn, a binary message with the bytes. The ETL answers each object, in
 * order, with one message: binary is the output, text an error ("Transform
 * error: ..."). We never ask the ETL for direct put or a pipeline (chain.c
 * runs pipelines), so a text answer is that object's failure and the
 * connection goes on.
 *
 * Connections are pooled per handle (an idle stack, like comm.c's HTTP
 * pool): a transform borrows one for one object, then gives it back. One
 * that broke is dropped, and the object is retried once on a fresh one
 * unless output already reached the sink; one that timed out is dropped
 * too (its late answer would be taken for the next object's).
 */
#include "etl/etl_int.h"
#include "common/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define WS_PATH "/ws"
#define IDLE_MAX 16      /* connections kept per ETL (the HTTP pool's size) */
#define ERRTEXT_MAX 1024 /* bytes of a text answer kept for the message */

typedef struct ws_pool {
    pthread_mutex_t mu;
    cmn_ws *idle[IDLE_MAX];
    size_t n;
} ws_pool;

static void *pool_new(const etl_handle *h)
{
    ws_pool *p = cmn_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

static void pool_free(void *state)
{
    ws_pool *p = state;
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        cmn_ws_free(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static cmn_ws *pool_take(ws_pool *p)
{
    pthread_mutex_lock(&p->mu);
    cmn_ws *ws = p->n ? p->idle[--p->n] : NULL;
    pthread_mutex_unlock(&p->mu);
    return ws;
}

/* Keeps a sound connection for the next object, closes anything else. */
static void pool_give(ws_pool *p, cmn_ws *ws)
{
    if (cmn_ws_usable(ws)) {
        pthread_mutex_lock(&p->mu);
        if (p->n < IDLE_MAX) {
            p->idle[p->n++] = ws;
            ws = NULL;
        }
        pthread_mutex_unlock(&p->mu);
    }
    cmn_ws_free(ws);
}

/* WebsocketCtrlMsg as JSON (malloc'd). */
static char *control_msg(const etl_object *obj, const char *args, bool fqn)
{
    cJSON *o = cJSON_CreateObject();
    if (args && *args)
        cJSON_AddStringToObject(o, "etl_args", args);
    if (fqn) {
        char *e = cmn_path_escape(obj->fqn);
        cJSON_AddStringToObject(o, "fqn", e);
        free(e);
    }
    cJSON_AddStringToObject(o, "path", obj->name);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* One answer: binary streams to the sink, text is kept as the error. */
typedef struct answer {
    const etl_sink *sink;
    int opcode;
    bool begun;       /* the sink saw begin() */
    int64_t streamed;
    cmn_buf text;
} answer;

static int answer_begin(void *ctx, int opcode, int64_t len)
{
    answer *a = ctx;
    a->opcode = opcode;
    if (opcode != CMN_WS_BINARY)
        return 0;
    a->begun = true;
    return a->sink->begin(a->sink->ctx, "application/octet-stream", len) ? -ECANCELED : 0;
}

static int answer_data(void *ctx, const void *buf, size_t len)
{
    answer *a = ctx;
    if (a->opcode != CMN_WS_BINARY) {
        size_t keep = a->text.len < ERRTEXT_MAX ? ERRTEXT_MAX - a->text.len : 0;
        cmn_buf_append(&a->text, buf, len < keep ? len : keep);
        return 0;
    }
    a->streamed += (int64_t)len;
    return a->sink->write(a->sink->ctx, buf, len) ? -ECANCELED : 0;
}

/* Where the bytes come from: the previous stage's spool, the object's
 * file, or nothing (fqn: the ETL opens the file). */
typedef struct source {
    const cmn_spool *input;
    int fd;
    int64_t len;
} source;

static int send_source(cmn_ws *ws, const source *src, int *read_errno)
{
    *read_errno = 0;
    if (src->input && src->input->fd < 0)
        return cmn_ws_send(ws, CMN_WS_BINARY, src->input->mem.data ? src->input->mem.data : "",
                           src->input->mem.len);
    if (src->input)
        return cmn_ws_send_fd(ws, CMN_WS_BINARY, src->input->fd, src->input->len, read_errno);
    if (src->fd >= 0)
        return cmn_ws_send_fd(ws, CMN_WS_BINARY, src->fd, src->len, read_errno);
    return 0;
}

static int ws_transfer(etl_handle *h, const etl_object *obj, const char *args, const cmn_spool *input,
                       const etl_sink *sink, int64_t timeout_ns, cmn_err *err)
{
    ws_pool *pool = h->comm_state;
    int64_t tmo = timeout_ns > 0 ? timeout_ns : h->object_timeout_ns;
    int64_t deadline = cmn_mono_ns() + tmo;
    /* the ETL opens the file: argument fqn, or the SDK's direct_file_access (ETL_DIRECT_FQN) */
    bool fqn = !input && (strcmp(h->arg, "fqn") == 0 || h->direct_fqn);
    source src = {.input = input, .fd = -1};
    char *ctrl = control_msg(obj, args, fqn);
    answer a = {.sink = sink};
    cmn_buf_init(&a.text);
    cmn_ws *ws = NULL;
    int rc = 0;

    if (!input && !fqn) {
        struct stat st;
        src.fd = open(obj->fqn, O_RDONLY | O_CLOEXEC);
        if (src.fd < 0 || fstat(src.fd, &st) != 0) {
            int e = errno;
            ETL_FAIL(e == ENOENT ? ENOENT : EIO, "cannot open %s: %s", obj->fqn, strerror(e));
        }
        src.len = st.st_size;
    }
    for (int attempt = 0;; attempt++) {
        ws = pool_take(pool);
        if (!ws) {
            cmn_err cerr;
            int crc = cmn_ws_connect("127.0.0.1", h->port, WS_PATH, deadline, &ws, &cerr);
            if (crc == -ETIMEDOUT) {
                char d[32];
                cmn_format_duration(tmo, d, sizeof d);
                ETL_FAIL(ETIMEDOUT, "no complete answer within %s (%s)", d, cerr.msg);
            }
            if (crc) /* refused (the ETL is gone), or not a WebSocket server: the ETL's failure */
                ETL_FAIL(EPROTO, "%s", cerr.msg);
        }
        cmn_ws_set_deadline(ws, deadline);
        int read_errno = 0;
        int wrc = cmn_ws_send(ws, CMN_WS_BINARY, ctrl, strlen(ctrl));
        if (!wrc)
            wrc = send_source(ws, &src, &read_errno);
        if (wrc == -EIO) /* the source, not the connection (which the cut message spoilt) */
            ETL_FAIL(EIO, "cannot read %s: %s", input ? "the previous stage's output" : obj->fqn,
                 read_errno ? strerror(read_errno) : "it ended early (changed while it was sent)");
        cmn_ws_reader r = {&a, answer_begin, answer_data};
        int rrc = wrc ? wrc : cmn_ws_recv(ws, &r);
        __atomic_add_fetch(&h->out_bytes, a.streamed, __ATOMIC_RELAXED);
        if (rrc == 0) {
            __atomic_add_fetch(&h->in_bytes, input ? input->len : src.len, __ATOMIC_RELAXED);
            break;
        }
        if (rrc == -ECANCELED)
            ETL_FAIL(ECANCELED, "the receiver stopped reading");
        if (rrc == -ETIMEDOUT) {
            char d[32];
            cmn_format_duration(tmo, d, sizeof d);
            ETL_FAIL(ETIMEDOUT, "no complete answer within %s", d);
        }
        if (a.begun || a.text.len || attempt == 1) /* output went out, or a fresh connection broke too */
            ETL_FAIL(EPROTO, "the WebSocket to the ETL broke: %s", cmn_ws_why(ws));
        cmn_debug("etl[%s]: object ais://%s/%s: the WebSocket broke (%s); once more on a new one", h->name,
                  obj->bucket, obj->name, cmn_ws_why(ws));
        cmn_ws_free(ws);
        ws = NULL;
    }
    if (a.opcode != CMN_WS_BINARY) {
        /* the ETL's error for this object; the connection stays good */
        for (size_t i = 0; i < a.text.len; i++)
            if (a.text.data[i] == '\n' || a.text.data[i] == '\r')
                a.text.data[i] = ' ';
        cmn_utf8_scrub(a.text.data);
        ETL_FAIL(EPROTO, "the ETL answered: %s", a.text.len ? a.text.data : "(an empty error)");
    }
    if (!a.begun && sink->begin(sink->ctx, "application/octet-stream", 0))
        ETL_FAIL(ECANCELED, "the receiver stopped reading");
    __atomic_add_fetch(&h->obj_count, 1, __ATOMIC_RELAXED);
out:
    if (ws)
        pool_give(pool, ws);
    if (src.fd >= 0)
        close(src.fd);
    cmn_buf_free(&a.text);
    free(ctrl);
    return rc;
}

const etl_comm etl_comm_ws = {
    .name = "ws://",
    .arg_fqn = true,
    .transfer = ws_transfer,
    .state_new = pool_new,
    .state_free = pool_free,
};

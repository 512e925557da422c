/*
 * cluster_route.c - any node accepts every object request; one for an
 * object that another target owns (HRW over the map: cluster_map.c) is
 * answered 307 to the owner with the same path and query, as AIStore's
 * gateways do. The owner serves it locally, ETL transforms included, so no
 * object's bytes cross a node on their way to a client that follows.
 *
 * An owner that is down (killed, cut off) stays in the map until its lease
 * expires; meanwhile its objects are answered 503 naming it at once rather
 * than a redirect the client would hang on: the node asked checks that the
 * owner accepts connections (a success is remembered for a quarter second).
 *
 * With --auth-secret the Location carries a short-lived token for that one
 * request (auth.c): clients do not send their Authorization to another host.
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROBE_MS 300            /* a connect on a live network takes far less */
/* How long a probe's "reachable" is trusted (a probe per redirect would
 * leave a socket in TIME_WAIT each); an "unreachable" is not kept: a node
 * back is served at once. A node killed within this time of its last
 * probe is still redirected to, for this long. */
#define PROBE_OK_NS 250000000LL

static struct {
    pthread_mutex_t mu;
    struct probe {
        char url[512];
        int64_t at_ns; /* cmn_mono_ns of the probe */
        int err;       /* its errno, 0: reachable */
    } p[64];
    int next;
} probes = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A TCP connect to url's host and port within PROBE_MS: 0 or -errno. */
static int probe(const char *url)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    char host[256], port[16];
    size_t hl;
    const char *pp;
    if (*h == '[') { /* [v6]:port */
        const char *e = strchr(h, ']');
        if (!e)
            return -EINVAL;
        hl = (size_t)(e - h - 1);
        h++;
        pp = e + 1;
    } else {
        hl = strcspn(h, ":/");
        pp = h + hl;
    }
    if (hl == 0 || hl >= sizeof host)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (*pp == ':')
        snprintf(port, sizeof port, "%.*s", (int)strcspn(pp + 1, "/"), pp + 1);
    else
        snprintf(port, sizeof port, "%s", strncmp(url, "https", 5) ? "80" : "443");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -EHOSTUNREACH;
    int rc = -ECONNREFUSED;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
    } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        rc = 0;
    } else if (errno != EINPROGRESS) {
        rc = -errno;
    } else {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n = poll(&pfd, 1, PROBE_MS), soerr = 0;
        socklen_t sl = sizeof soerr;
        if (n == 0)
            rc = -ETIMEDOUT;
        else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            rc = -errno;
        else
            rc = -soerr;
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}

int tgt_cluster_reachable(const char *id, const char *url, cmn_err *err)
{
    int64_t now = cmn_mono_ns();
    int rc = 1;
    pthread_mutex_lock(&probes.mu);
    for (int i = 0; i < (int)(sizeof probes.p / sizeof probes.p[0]); i++)
        if (!strcmp(probes.p[i].url, url) && !probes.p[i].err && now - probes.p[i].at_ns < PROBE_OK_NS)
            rc = 0;
    pthread_mutex_unlock(&probes.mu);
    if (rc > 0) {
        rc = probe(url);
        pthread_mutex_lock(&probes.mu);
        int slot = -1;
        for (int i = 0; i < (int)(sizeof probes.p / sizeof probes.p[0]) && slot < 0; i++)
            if (!strcmp(probes.p[i].url, url))
                slot = i;
        if (slot < 0) {
            slot = probes.next;
            probes.next = (probes.next + 1) % (int)(sizeof probes.p / sizeof probes.p[0]);
        }
        snprintf(probes.p[slot].url, sizeof probes.p[slot].url, "%s", url);
        probes.p[slot].at_ns = now;
        probes.p[slot].err = -rc;
        pthread_mutex_unlock(&probes.mu);
    }
    if (rc == 0)
        return 0;
    return cmn_err_set(err, EAGAIN, "target %s (%s) is unreachable (%s): its objects are unavailable until it is back "
                       "or leaves the cluster", id, url, strerror(-rc));
}

typedef struct query_copy {
    cmn_buf *b;
    const char *skip;
} query_copy;

static enum MHD_Result add_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    query_copy *q = cls;
    if (q->skip && !strcmp(key, q->skip))
        return MHD_YES;
    char *k = cmn_query_escape(key);
    cmn_buf_printf(q->b, "%c%s", strchr(q->b->data, '?') ? '&' : '?', k);
    free(k);
    if (value) {
        char *v = cmn_query_escape(value);
        cmn_buf_printf(q->b, "=%s", v);
        free(v);
    }
    return MHD_YES;
}

void tgt_query_copy(tgt_req *r, cmn_buf *b, const char *skip)
{
    query_copy q = {b, skip};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_param, &q);
}

/* prefix + /v1/objects/BUCKET/OBJECT (each name segment escaped) + query */
static char *location(tgt_req *r, const char *prefix)
{
    cmn_buf b;
    cmn_buf_init(&b);
    char *bck = cmn_path_escape(r->items[2]);
    cmn_buf_printf(&b, "%s/v1/objects/%s/", prefix, bck);
    free(bck);
    const char *p = r->obj;
    while (true) {
        size_t n = strcspn(p, "/");
        char *seg = cmn_xstrndup(p, n), *esc = cmn_path_escape(seg);
        cmn_buf_puts(&b, esc);
        free(seg);
        free(esc);
        if (!p[n])
            break;
        cmn_buf_puts(&b, "/");
        p += n + 1;
    }
    tgt_query_copy(r, &b, TGT_QUERY_REDIRECT_TOKEN); /* a token is good for one hop: the next gets its own */
    return cmn_buf_steal(&b);
}

char *tgt_cluster_redirect_bind(tgt_req *r)
{
    if (r->nitems != 4 || strcmp(r->items[0], "v1") || strcmp(r->items[1], "objects") || !r->obj)
        return NULL;
    char *prefix = cmn_xasprintf("%s ", r->method);
    char *b = location(r, prefix);
    free(prefix);
    return b;
}

/* A target sending an object it no longer owns (rebalance) or under a new
 * name (rename, copy) sends it to the owner by its own map; one that is not
 * the owner by this node's map refuses, so two nodes whose maps disagree
 * for a moment never each hand the object to the other and delete it. A
 * neighbour's read ("gfn") is answered whoever owns the object. */
static bool refuse_not_mine(tgt_req *r, const tgt_member *owner)
{
    const char *why = tgt_header(r, TGT_HDR_LOCAL_OBJ);
    if (!strcmp(why, "gfn"))
        return false;
    tgt_reply_err(r, 409, "%s of ais://%s/%s: target %s is not its owner in map v%lld (%s is)", why, r->items[2],
                  r->obj, tgt_cluster_self(), (long long)tgt_cmap_version(), owner->id);
    return true;
}

/* The object's own requests (appends and multipart uploads included: their
 * state lives on the owner; rename and copy start where the source is);
 * 5.0's object_to copies are served by the node asked. */
static bool object_request(tgt_req *r)
{
    static const char *const methods[] = {"GET", "HEAD", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (!strcmp(r->method, methods[i]))
            return !tgt_query(r, "object_to");
    const char *act = tgt_msg_action(r);
    return !strcmp(r->method, "POST") && !tgt_query(r, "object_to") &&
           (!strcmp(act, "mpt-upload") || !strcmp(act, "mpt-complete") || !strcmp(act, "rename-obj") ||
            !strcmp(act, "copy-obj"));
}

bool tgt_cluster_redirect(tgt_req *r)
{
    if (!tgt_cluster_on() || r->from_etl || r->nitems != 4 || strcmp(r->items[0], "v1") ||
        strcmp(r->items[1], "objects") || !r->obj)
        return false;
    /* the owner first, once: for an object this node owns (what a client
     * that follows redirects asks) nothing else is looked at */
    tgt_member owner;
    if (!tgt_cmap_owner(r->items[2], r->obj, &owner))
        return false;
    if (tgt_cluster_local_obj(r))
        return refuse_not_mine(r, &owner);
    if (!object_request(r))
        return false;
    cmn_err err;
    if (tgt_cluster_reachable(owner.id, owner.url, &err) != 0) {
        tgt_reply_err(r, 503, "ais://%s/%s: %s", r->items[2], r->obj, err.msg);
        return true;
    }
    char *loc = location(r, owner.url);
    char *bind = tgt_cluster_redirect_bind(r);
    char *tok = tgt_auth_redirect_token(r, bind);
    if (tok) {
        char *l = cmn_xasprintf("%s%c%s=%s", loc, strchr(loc, '?') ? '&' : '?', TGT_QUERY_REDIRECT_TOKEN, tok);
        free(loc);
        loc = l;
    }
    free(tok);
    free(bind);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, loc);
    cmn_debug("%s %s -> %s", r->method, r->url, owner.url); /* not loc: it may hold a token */
    free(loc);
    tgt_reply(r, 307, resp);
    return true;
}

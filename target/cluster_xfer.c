/*
 * cluster_xfer.c - objects that cross from one target to another: a send
 * (PUT of a local object, with its checksum and custom metadata, for
 * rebalance, rename and copy) and "get from neighbour" (an owner that lacks
 * an object after a change of the map fetches it from the target that held
 * it and keeps it). Both speak the REST API with TGT_HDR_LOCAL_OBJ, so the
 * other side answers from its own disks: no redirect, no fetch of its own.
 *
 * Each call opens its own connection: a kept-alive one would belong to one
 * of the other target's worker threads, which may be waiting on us.
 */
#include "target/target.h"

#include "common/ais_client.h"
#include "common/http_client.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XFER_CONNECT_MS 1000L
/* A HEAD (the mount looks up every new name) asks neighbours only this
 * long after a change of the map, or while a rebalance runs; a GET always */
#define GFN_HEAD_WINDOW_NS (60 * 1000000000LL)
#define TOKEN_TTL_SEC 300

bool tgt_cluster_local_obj(tgt_req *r) { return tgt_header(r, TGT_HDR_LOCAL_OBJ) != NULL; }

/* "Authorization: Bearer ..." for a request to another target: the client's
 * own, else (a job: nobody asked) an admin token this node signs with the
 * secret every node shares; NULL when authentication is off. malloc'd. */
static char *auth_header(tgt_req *r)
{
    const char *have = r ? tgt_header(r, MHD_HTTP_HEADER_AUTHORIZATION) : NULL;
    if (have)
        return cmn_xasprintf("Authorization: %s", have);
    if (!tgt_auth_on())
        return NULL;
    char *claims = cmn_xasprintf("{\"sub\":\"target-%s\",\"admin\":true,\"exp\":%lld}", tgt_cluster_self(),
                                 (long long)(cmn_now_ns() / 1000000000LL + TOKEN_TTL_SEC));
    char *tok = cmn_jwt_sign(claims, tgt->cfg.auth_secret, tgt->cfg.auth_secret_len);
    free(claims);
    char *h = cmn_xasprintf("Authorization: Bearer %s", tok);
    free(tok);
    return h;
}

static char *obj_url(const char *base, const char *bck, const char *obj)
{
    cmn_ais c = {.endpoint = base};
    cmn_buf u;
    cmn_buf_init(&u);
    cmn_ais_url_object(&u, &c, bck, obj);
    return cmn_buf_steal(&u);
}

/* err from a request that failed or answered other than 2xx. */
static int xfer_error(int rc, const cmn_http_resp *resp, const char *what, const tgt_member *m, cmn_err *err)
{
    if (rc < 0)
        return cmn_err_set(err, rc == -ECONNREFUSED || rc == -ETIMEDOUT ? EAGAIN : -rc, "%s: target %s (%s): %s",
                           what, m->id, m->url, resp->err.msg);
    cmn_buf why;
    cmn_buf_init(&why);
    cmn_ais_err_message(resp, &why);
    int e = -cmn_ais_status_errno(resp->status);
    cmn_err_set(err, e ? e : EIO, "%s: target %s (%s): %s", what, m->id, m->url, why.data ? why.data : "");
    cmn_buf_free(&why);
    return -(e ? e : EIO);
}

int tgt_cluster_send(const tgt_member *to, tgt_req *r, const char *why, const char *bck, const char *obj,
                     const char *dbck, const char *dobj, bool keep_theirs, int64_t *bytes, cmn_http_pool *pool,
                     cmn_err *err)
{
    *bytes = 0;
    int fd;
    int64_t size;
    int rc = tgt_object_open(&tgt->store, bck, obj, &fd, &size);
    if (rc)
        return cmn_err_set(err, -rc, "ais://%s/%s: %s", bck, obj, rc == -ENOENT ? "does not exist" : strerror(-rc));
    tgt_objmeta m;
    tgt_objmeta_load(fd, &m);
    char *url = obj_url(to->url, dbck, dobj);
    char *auth = auth_header(r);
    char *local = cmn_xasprintf(TGT_HDR_LOCAL_OBJ ": %s", why);
    char *what = cmn_xasprintf("%s ais://%s/%s to ais://%s/%s", why, bck, obj, dbck, dobj);
    bool own_pool = !pool;
    pool = own_pool ? cmn_http_pool_new(1) : pool;
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    if (keep_theirs) {
        const char *hdrs[] = {local, auth, NULL};
        cmn_http_req head = {.method = "HEAD", .url = url, .headers = hdrs, .connect_timeout_ms = XFER_CONNECT_MS,
                             .timeout_ms = 30000};
        rc = cmn_http_do(pool, &head, &resp);
        if (rc == 0 && resp.status == 200)
            goto out; /* the owner has it: its copy stays */
        if (rc < 0 || resp.status != 404) {
            rc = xfer_error(rc, &resp, what, to, err);
            goto out;
        }
        cmn_http_resp_free(&resp);
        cmn_http_resp_init(&resp);
    }
    char *ck_type = cmn_xasprintf("ais-checksum-type: %s", m.cksum_type);
    char *ck_val = cmn_xasprintf("ais-checksum-value: %s", m.cksum);
    char *custom = m.custom && *m.custom ? cmn_xasprintf(TGT_HDR_CUSTOM ": %s", m.custom) : NULL;
    /* a move keeps the version a client saw; a rename or copy is a new object */
    char *version = !strcmp(why, "rebalance") ? cmn_xasprintf(TGT_HDR_VERSION ": %lld", (long long)m.version) : NULL;
    const char *hdrs[] = {"Content-Type: application/octet-stream", local, m.cksum[0] ? ck_type : NULL,
                          m.cksum[0] ? ck_val : NULL, NULL, NULL, NULL, NULL};
    int nh = 2 + (m.cksum[0] ? 2 : 0);
    if (custom)
        hdrs[nh++] = custom;
    if (version)
        hdrs[nh++] = version;
    if (auth)
        hdrs[nh++] = auth;
    cmn_http_req put = {.method = "PUT", .url = url, .headers = hdrs, .body_from_fd = true, .body_fd = fd,
                        .body_fd_len = size, .connect_timeout_ms = XFER_CONNECT_MS, .err_body_max = 4096};
    rc = cmn_http_do(pool, &put, &resp);
    if (rc == 0 && resp.status == 200)
        *bytes = size;
    else
        rc = xfer_error(rc, &resp, what, to, err);
    free(ck_type);
    free(ck_val);
    free(custom);
    free(version);
out:
    cmn_http_resp_free(&resp);
    if (own_pool)
        cmn_http_pool_free(pool);
    free(what);
    free(local);
    free(auth);
    free(url);
    tgt_objmeta_free(&m);
    close(fd);
    return rc;
}

/* The answer of a neighbour, written as it arrives into a work file of the
 * object (opened once the status says 2xx). */
typedef struct gfn_sink {
    const char *bck, *obj;
    tgt_writer w;
    bool open;
} gfn_sink;

static int gfn_begin(void *ctx, const char *ctype, int64_t len)
{
    (void)ctype;
    gfn_sink *g = ctx;
    cmn_err err;
    if (len > 0 && tgt_store_check_space(&tgt->store, g->bck, g->obj, len, &err) != 0)
        return -ENOSPC;
    int rc = tgt_writer_open(&g->w, &tgt->store, g->bck, g->obj);
    g->open = rc == 0;
    return rc;
}

static int gfn_write(void *ctx, const char *data, size_t len)
{
    gfn_sink *g = ctx;
    int rc = tgt_writer_write(&g->w, data, len);
    if (rc) {
        tgt_writer_abort(&g->w);
        g->open = false;
    }
    return rc;
}

/* Stores what the neighbour sent once its checksum matches the one it
 * answered with, keeping its version and custom metadata. 0 or -errno with
 * err. */
static int gfn_commit(gfn_sink *g, const cmn_http_resp *resp, cmn_err *err)
{
    const char *want = resp->hdr[0], *custom = resp->hdr[1], *version = resp->hdr[2];
    if (want && *want) {
        char got[17];
        if (!tgt_writer_matches(&g->w, want, got)) {
            tgt_writer_abort(&g->w);
            return cmn_err_set(err, EIO, "ais://%s/%s: BAD DATA CHECKSUM from a neighbour: xxhash(%s != %s)", g->bck,
                               g->obj, want, got);
        }
    }
    cJSON *c = NULL;
    cmn_err perr;
    if (custom && *custom && cmn_json_parse(custom, strlen(custom), &c, &perr) == 0 && cJSON_IsObject(c))
        g->w.custom = cmn_xstrdup(custom);
    cJSON_Delete(c);
    if (version && *version)
        g->w.version = strtoll(version, NULL, 10);
    int rc = tgt_writer_commit(&g->w, NULL);
    return rc ? cmn_err_set(err, -rc, "ais://%s/%s: cannot store what a neighbour sent: %s", g->bck, g->obj,
                            strerror(-rc))
              : 0;
}

/* Asks every neighbour in turn; 0 when one's copy is stored here. */
static int gfn(tgt_req *r, const char *bck, const char *obj, cmn_err *err)
{
    tgt_member *ms;
    int n = tgt_cmap_neighbours(bck, obj, &ms);
    char *auth = auth_header(r);
    const char *hdrs[] = {TGT_HDR_LOCAL_OBJ ": gfn", auth, NULL};
    static const char *const want[] = {"ais-checksum-value", TGT_HDR_CUSTOM, "ais-version", NULL};
    int rc = -ENOENT;
    cmn_err first = {0};
    for (int i = 0; i < n && rc; i++) {
        char *url = obj_url(ms[i].url, bck, obj);
        gfn_sink g = {.bck = bck, .obj = obj};
        cmn_http_sink sink = {.ctx = &g, .begin = gfn_begin, .write = gfn_write};
        cmn_http_req req = {.method = "GET", .url = url, .headers = hdrs, .sink = &sink, .want_headers = want,
                            .connect_timeout_ms = 500, .err_body_max = 4096};
        cmn_http_resp resp;
        cmn_http_resp_init(&resp);
        cmn_http_pool *pool = cmn_http_pool_new(1);
        int hr = cmn_http_do(pool, &req, &resp);
        cmn_http_pool_free(pool);
        cmn_err e;
        if (hr == 0 && resp.status == 200 && g.open) {
            rc = gfn_commit(&g, &resp, &e);
            if (rc == 0)
                cmn_info("ais://%s/%s: got from neighbour %s", bck, obj, ms[i].id);
        } else {
            if (g.open)
                tgt_writer_abort(&g.w);
            /* nothing listening holds nothing to give (a target gone from
             * the map); one that fails otherwise may hold it */
            if (hr == -ECONNREFUSED || (hr == 0 && resp.status == 404))
                e.code = 0;
            else
                xfer_error(hr, &resp, "get from neighbour", &ms[i], &e);
        }
        if (rc && e.code && !first.code)
            first = e;
        cmn_http_resp_free(&resp);
        free(url);
    }
    free(auth);
    free(ms);
    if (rc && first.code) {
        /* a neighbour that could not answer may hold it: not a plain 404 */
        *err = first;
        return -first.code;
    }
    return rc;
}

int tgt_cluster_gfn(tgt_req *r, const char *bck, const char *obj, cmn_err *err)
{
    if (!tgt_cluster_on() || tgt_cluster_local_obj(r) || r->from_etl)
        return 0;
    char fqn[PATH_MAX];
    struct stat st;
    if (tgt_store_fqn(&tgt->store, bck, obj, fqn, sizeof fqn) != 0 || stat(fqn, &st) == 0 || errno != ENOENT)
        return 0;
    int64_t changed = tgt_cmap_changed_ns();
    if (!strcmp(r->method, "HEAD") && !tgt_rebalance_running() &&
        (!changed || cmn_mono_ns() - changed > GFN_HEAD_WINDOW_NS))
        return 0;
    int rc = gfn(r, bck, obj, err);
    return rc == -ENOENT ? 0 : rc;
}

void tgt_cluster_put_custom(tgt_req *r)
{
    const char *c = tgt_cluster_local_obj(r) ? tgt_header(r, TGT_HDR_CUSTOM) : NULL;
    cJSON *j = NULL;
    cmn_err perr;
    if (c && *c && cmn_json_parse(c, strlen(c), &j, &perr) == 0 && cJSON_IsObject(j)) {
        free(r->writer.custom);
        r->writer.custom = cmn_xstrdup(c);
    }
    cJSON_Delete(j);
    const char *v = tgt_cluster_local_obj(r) ? tgt_header(r, TGT_HDR_VERSION) : NULL;
    char *end;
    long long ver = v ? strtoll(v, &end, 10) : 0;
    if (v && *v && !*end && ver > 0)
        r->writer.version = ver;
}

int tgt_cluster_place(tgt_req *r, const char *why, const char *bck, const char *obj, const char *dbck,
                      const char *dobj, int64_t *bytes, cmn_err *err)
{
    tgt_member owner;
    if (!tgt_cluster_on() || !tgt_cmap_owner(dbck, dobj, &owner))
        return 1;
    int rc = tgt_cluster_reachable(owner.id, owner.url, err);
    return rc ? rc : tgt_cluster_send(&owner, r, why, bck, obj, dbck, dobj, false, bytes, NULL, err);
}

int tgt_cluster_fetch(const tgt_member *from, const char *why, const char *bck, const char *obj, cmn_spool *into,
                      cmn_err *err)
{
    char *url = obj_url(from->url, bck, obj);
    char *auth = auth_header(NULL);
    char *what = cmn_xasprintf("%s: read ais://%s/%s", why, bck, obj);
    /* a read of its disks, answered whoever owns it by that target's map (as a neighbour's) */
    const char *hdrs[] = {TGT_HDR_LOCAL_OBJ ": gfn", auth, NULL};
    cmn_http_req req = {.method = "GET", .url = url, .headers = hdrs, .to_spool = into,
                        .connect_timeout_ms = XFER_CONNECT_MS, .err_body_max = 4096};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    cmn_http_pool *pool = cmn_http_pool_new(1);
    int rc = cmn_http_do(pool, &req, &resp);
    cmn_http_pool_free(pool);
    if (rc == 0 && resp.status == 404)
        rc = cmn_err_set(err, ENOENT, "ais://%s/%s: does not exist (on its owner %s)", bck, obj, from->id);
    else if (rc < 0 || resp.status != 200)
        rc = xfer_error(rc, &resp, what, from, err);
    cmn_http_resp_free(&resp);
    free(what);
    free(auth);
    free(url);
    return rc;
}

int tgt_cluster_send_file(const tgt_member *to, const char *why, const char *path, const char *dbck,
                          const char *dobj, bool keep_theirs, bool *sent, cmn_err *err)
{
    *sent = false;
    char *url = obj_url(to->url, dbck, dobj);
    char *auth = auth_header(NULL);
    char *local = cmn_xasprintf(TGT_HDR_LOCAL_OBJ ": %s", why);
    char *what = cmn_xasprintf("%s %s to ais://%s/%s", why, path, dbck, dobj);
    const char *hdrs[] = {"Content-Type: application/octet-stream", local, auth, NULL};
    cmn_http_pool *pool = cmn_http_pool_new(1);
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    int rc = 0;
    if (keep_theirs) {
        cmn_http_req head = {.method = "HEAD", .url = url, .headers = hdrs + 1, .connect_timeout_ms = XFER_CONNECT_MS,
                             .timeout_ms = 30000};
        rc = cmn_http_do(pool, &head, &resp);
        if (rc == 0 && resp.status == 200)
            goto out; /* it exists there, and overwriting was not asked for */
        if (rc < 0 || resp.status != 404) {
            rc = xfer_error(rc, &resp, what, to, err);
            goto out;
        }
        cmn_http_resp_free(&resp);
        cmn_http_resp_init(&resp);
    }
    cmn_http_req put = {.method = "PUT", .url = url, .headers = hdrs, .body_path = path,
                        .connect_timeout_ms = XFER_CONNECT_MS, .err_body_max = 4096};
    rc = cmn_http_do(pool, &put, &resp);
    if (rc == 0 && resp.status == 200)
        *sent = true;
    else
        rc = xfer_error(rc, &resp, what, to, err);
out:
    cmn_http_resp_free(&resp);
    cmn_http_pool_free(pool);
    free(what);
    free(local);
    free(auth);
    free(url);
    return rc;
}

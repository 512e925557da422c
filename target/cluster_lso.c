/*
 * cluster_lso.c - list-objects across a cluster. The node asked sends the
 * same request (prefix, page size, continuation token, flags) to every
 * target with TGT_HDR_LSO_LOCAL, which makes a target answer with only its
 * own objects (lso.c), in parallel; it merges the pages in name order
 * (dropping repeats: a directory of a non-recursive listing lives on many
 * targets) and keeps the first page-size entries. The continuation token
 * stays what it is on one node, the last name returned: every target lists
 * the names after it, so it works across targets with no state kept.
 *
 * A target that does not answer fails the listing with a 503 naming it
 * (a page without its objects would be silently wrong).
 */
#include "target/target.h"

#include "common/ais_client.h"
#include "common/http_client.h"

#include <errno.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_IS_DIR 256
#define PAGE_MAX 10000
#define LSO_TIMEOUT_MS 120000L

typedef struct part {
    const tgt_member *m;
    bool self;
    const char *body;
    size_t body_len;
    const char *auth; /* "Authorization: ..." or NULL */
    cJSON *page;      /* the target's answer */
    cJSON *entries;   /* its "entries" */
    int next;         /* the next entry to merge */
    bool more;        /* its continuation token was not empty */
    cmn_err err;
    char bck[256];
} part;

static void *fetch(void *arg)
{
    part *p = arg;
    char *b = cmn_path_escape(p->bck);
    char *url = cmn_xasprintf("%s/v1/buckets/%s", p->m->url, b);
    free(b);
    const char *hdrs[] = {"Content-Type: application/json", "Accept: application/json", TGT_HDR_LSO_LOCAL ": true",
                          p->auth, NULL};
    cmn_http_req req = {.method = "GET", .url = url, .headers = hdrs, .body = p->body, .body_len = p->body_len,
                        .connect_timeout_ms = 2000, .timeout_ms = LSO_TIMEOUT_MS};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    /* a new connection each time: a kept-alive one belongs to one of the
     * target's worker threads, which may be the one waiting here */
    cmn_http_pool *pool = cmn_http_pool_new(1);
    int rc = cmn_http_do(pool, &req, &resp);
    cmn_http_pool_free(pool);
    if (rc < 0) {
        cmn_err_set(&p->err, EAGAIN, "target %s (%s) did not answer: %s", p->m->id, p->m->url, resp.err.msg);
    } else if (resp.status != 200) {
        cmn_buf why;
        cmn_buf_init(&why);
        cmn_ais_err_message(&resp, &why);
        cmn_err_set(&p->err, -cmn_ais_status_errno(resp.status), "target %s (%s): %s", p->m->id, p->m->url,
                    why.data ? why.data : "");
        cmn_buf_free(&why);
    } else if (cmn_json_parse(resp.body.data ? resp.body.data : "", resp.body.len, &p->page, &p->err) != 0) {
        cmn_err_set(&p->err, EAGAIN, "target %s (%s): %s", p->m->id, p->m->url, p->err.msg);
    } else {
        p->entries = cJSON_GetObjectItem(p->page, "entries");
        const cJSON *t = cJSON_GetObjectItem(p->page, "continuation_token");
        p->more = cJSON_IsString(t) && *t->valuestring;
    }
    cmn_http_resp_free(&resp);
    free(url);
    return NULL;
}

/* The order key of an entry: its name, a directory's with its '/'. */
static void key_of(const cJSON *e, char *out, size_t len)
{
    const cJSON *n = cJSON_GetObjectItem(e, "name"), *f = cJSON_GetObjectItem(e, "flags");
    const char *name = cJSON_IsString(n) ? n->valuestring : "";
    bool dir = cJSON_IsNumber(f) && ((int)f->valuedouble & ENTRY_IS_DIR);
    size_t nl = strlen(name);
    snprintf(out, len, "%s%s", name, dir && (!nl || name[nl - 1] != '/') ? "/" : "");
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* The merged page in the shape lso.c's msgpack answer has (cmn/objlist_gen.go). */
static int reply_msgpack(tgt_req *r, cJSON *res)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_str(&pk, "UUID");
    pack_str(&pk, cJSON_GetObjectItem(res, "uuid")->valuestring);
    pack_str(&pk, "ContinuationToken");
    pack_str(&pk, cJSON_GetObjectItem(res, "continuation_token")->valuestring);
    pack_str(&pk, "Entries");
    cJSON *arr = cJSON_GetObjectItem(res, "entries"), *e;
    msgpack_pack_array(&pk, (size_t)cJSON_GetArraySize(arr));
    static const char *const strs[][2] = {{"checksum", "cs"}, {"atime", "a"}, {"version", "v"}};
    cJSON_ArrayForEach(e, arr)
    {
        const cJSON *size = cJSON_GetObjectItem(e, "size"), *copies = cJSON_GetObjectItem(e, "copies");
        int64_t sz = cJSON_IsString(size) ? strtoll(size->valuestring, NULL, 10) : 0;
        int n = 2 + (sz != 0) + (copies != NULL);
        for (size_t i = 0; i < 3; i++)
            n += cJSON_IsString(cJSON_GetObjectItem(e, strs[i][0]));
        msgpack_pack_map(&pk, (size_t)n);
        pack_str(&pk, "n");
        pack_str(&pk, cJSON_GetObjectItem(e, "name")->valuestring);
        for (size_t i = 0; i < 3; i++) {
            const cJSON *s = cJSON_GetObjectItem(e, strs[i][0]);
            if (cJSON_IsString(s)) {
                pack_str(&pk, strs[i][1]);
                pack_str(&pk, s->valuestring);
            }
        }
        if (sz) {
            pack_str(&pk, "s");
            msgpack_pack_int64(&pk, sz);
        }
        if (copies) {
            pack_str(&pk, "c");
            msgpack_pack_int64(&pk, 1);
        }
        pack_str(&pk, "f");
        msgpack_pack_int64(&pk, (int64_t)cJSON_GetObjectItem(e, "flags")->valuedouble);
    }
    pack_str(&pk, "Flags");
    msgpack_pack_uint32(&pk, 0);
    int ret = tgt_reply_buf(r, 200, "application/msgpack", sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    cJSON_Delete(res);
    return ret;
}

/* Whether entry e is well formed enough to merge and re-encode. */
static bool entry_ok(const cJSON *e)
{
    return cJSON_IsString(cJSON_GetObjectItem(e, "name")) && cJSON_IsNumber(cJSON_GetObjectItem(e, "flags"));
}

int tgt_cluster_lso(tgt_req *r, const char *bck)
{
    tgt_member *ms;
    int n = tgt_cmap_members(&ms, NULL);
    cJSON *v = tgt_msg_value(r), *ps = v ? cJSON_GetObjectItem(v, "pagesize") : NULL;
    int pagesize = cJSON_IsNumber(ps) && ps->valuedouble >= 1 && ps->valuedouble < PAGE_MAX ? (int)ps->valuedouble
                                                                                              : PAGE_MAX;
    const char *auth = tgt_header(r, "Authorization");
    char *auth_hdr = auth ? cmn_xasprintf("Authorization: %s", auth) : NULL;
    part *parts = cmn_xcalloc((size_t)(n ? n : 1), sizeof *parts);
    pthread_t *th = cmn_xcalloc((size_t)(n ? n : 1), sizeof *th);
    for (int i = 0; i < n; i++) {
        parts[i] = (part){.m = &ms[i], .body = r->body.data ? r->body.data : "{}", .body_len = r->body.data ? r->body.len : 2,
                          .auth = auth_hdr};
        snprintf(parts[i].bck, sizeof parts[i].bck, "%s", bck);
        parts[i].self = !strcmp(ms[i].id, tgt_cluster_self());
        pthread_create(&th[i], NULL, fetch, &parts[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    int ret = -1;
    for (int i = 0; i < n && ret < 0; i++)
        if (parts[i].err.code)
            ret = tgt_reply_err(r, cmn_err_http_status(parts[i].err.code), "list ais://%s: %s", bck, parts[i].err.msg);
    if (ret < 0) {
        /* the merge: the smallest key of the parts' heads, n is small */
        cJSON *res = cJSON_CreateObject();
        const cJSON *uuid = v ? cJSON_GetObjectItem(v, "uuid") : NULL;
        char gen[CMN_UUID_LEN + 1];
        cmn_gen_uuid(gen);
        cJSON_AddStringToObject(res, "uuid", cJSON_IsString(uuid) && *uuid->valuestring ? uuid->valuestring : gen);
        cJSON *out = cJSON_CreateArray();
        char last[4200] = "", key[4200], best_key[4200];
        int taken = 0;
        bool left = false;
        while (true) {
            int best = -1;
            for (int i = 0; i < n; i++) {
                cJSON *e = cJSON_GetArrayItem(parts[i].entries, parts[i].next);
                if (!e)
                    continue;
                key_of(e, key, sizeof key);
                if (best < 0 || strcmp(key, best_key) < 0) {
                    best = i;
                    snprintf(best_key, sizeof best_key, "%s", key);
                }
            }
            if (best < 0)
                break;
            if (taken == pagesize) {
                left = true;
                break;
            }
            cJSON *e = cJSON_DetachItemFromArray(parts[best].entries, parts[best].next);
            if (!entry_ok(e) || !strcmp(best_key, last)) { /* a repeat (a directory), or junk */
                cJSON_Delete(e);
                continue;
            }
            if (!parts[best].self)
                cJSON_DeleteItemFromObject(e, "etlfs_fqn"); /* another node's file */
            cJSON_AddItemToArray(out, e);
            snprintf(last, sizeof last, "%s", best_key);
            taken++;
        }
        bool more = left;
        for (int i = 0; i < n; i++)
            more |= parts[i].more;
        cJSON_AddStringToObject(res, "continuation_token", more && taken ? last : "");
        cJSON_AddNumberToObject(res, "flags", 0);
        cJSON_AddItemToObject(res, "entries", out);
        const char *accept = tgt_header(r, "Accept");
        ret = accept && strstr(accept, "application/msgpack") ? reply_msgpack(r, res) : tgt_reply_json(r, 200, res);
    }
    for (int i = 0; i < n; i++)
        cJSON_Delete(parts[i].page);
    free(parts);
    free(th);
    free(ms);
    free(auth_hdr);
    return ret;
}

int tgt_cluster_names(const tgt_member *m, const char *bck, const char *prefix, bool non_recurs, const char *auth,
                      bool (*fn)(void *ctx, const char *name), void *ctx, cmn_err *err)
{
    char *token = cmn_xstrdup("");
    int rc = 0;
    bool go = true;
    /* bounded: each page moves the token forward, a target holds finitely many names */
    while (go && rc == 0) {
        cJSON *msg = cJSON_CreateObject(), *v = cJSON_AddObjectToObject(msg, "value");
        cJSON_AddStringToObject(msg, "action", "list");
        cJSON_AddStringToObject(v, "prefix", prefix);
        cJSON_AddStringToObject(v, "continuation_token", token);
        cJSON_AddNumberToObject(v, "flags", non_recurs ? 1 << 11 : 0); /* LsoMsg's LsNoRecursion */
        cJSON_AddNumberToObject(v, "pagesize", PAGE_MAX - 1);
        char *body = cJSON_PrintUnformatted(msg);
        cJSON_Delete(msg);
        part p = {.m = m, .body = body, .body_len = strlen(body), .auth = auth};
        snprintf(p.bck, sizeof p.bck, "%s", bck);
        fetch(&p);
        free(body);
        if (p.err.code) {
            rc = -p.err.code;
            *err = p.err;
            break;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, p.entries)
        {
            const cJSON *n = cJSON_GetObjectItem(e, "name"), *f = cJSON_GetObjectItem(e, "flags");
            bool dir = cJSON_IsNumber(f) && ((int)f->valuedouble & ENTRY_IS_DIR);
            if (go && cJSON_IsString(n) && !dir)
                go = fn(ctx, n->valuestring);
        }
        const cJSON *t = cJSON_GetObjectItem(p.page, "continuation_token");
        bool more = p.more && cJSON_GetArraySize(p.entries) > 0 && strcmp(t->valuestring, token);
        free(token);
        token = cmn_xstrdup(more ? t->valuestring : "");
        cJSON_Delete(p.page);
        go = go && more;
    }
    free(token);
    return rc;
}

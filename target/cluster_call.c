/*
 * cluster_call.c - one request to each of several targets, in parallel,
 * each bounded in time: what a node asked does when its answer is every
 * target's (job queries and shares in cluster_jobs.c, the bucket summary in
 * cluster_summ.c). Each call opens its own connection: a kept-alive one
 * belongs to one of the other target's worker threads, which may be the one
 * waiting here.
 */
#include "target/target.h"

#include "common/ais_client.h"
#include "common/http_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define CALL_CONNECT_MS 2000L
#define CALL_TIMEOUT_MS 30000L

static void *call_main(void *arg)
{
    tgt_pcall *c = arg;
    if (!c->known) {
        cmn_err_set(&c->err, EHOSTDOWN, "target %s is not in the cluster map (down?)", c->m.id);
        return NULL;
    }
    cmn_http_req req = {.method = c->method, .url = c->url, .headers = c->hdrs, .body = c->body,
                        .body_len = c->body_len, .connect_timeout_ms = CALL_CONNECT_MS, .timeout_ms = CALL_TIMEOUT_MS};
    cmn_http_resp resp;
    cmn_http_resp_init(&resp);
    cmn_http_pool *pool = cmn_http_pool_new(1);
    int rc = cmn_http_do(pool, &req, &resp);
    cmn_http_pool_free(pool);
    c->status = rc < 0 ? 0 : resp.status;
    if (rc < 0) {
        cmn_err_set(&c->err, EHOSTDOWN, "target %s (%s) did not answer: %s", c->m.id, c->m.url, resp.err.msg);
    } else if (resp.status / 100 != 2) {
        cmn_buf why;
        cmn_buf_init(&why);
        cmn_ais_err_message(&resp, &why);
        cmn_err_set(&c->err, -cmn_ais_status_errno(resp.status), "target %s: %s", c->m.id, why.data ? why.data : "");
        cmn_buf_free(&why);
    } else if (resp.body.len && (resp.body.data[0] == '{' || resp.body.data[0] == '[')) {
        c->json = cJSON_ParseWithLength(resp.body.data, resp.body.len);
    } else if (resp.body.len) {
        cmn_buf_append(&c->text, resp.body.data, resp.body.len);
    }
    cmn_http_resp_free(&resp);
    return NULL;
}

/* Runs the calls in parallel and waits for them all (each is bounded). */
void tgt_pcall_all(tgt_pcall *cs, int n)
{
    pthread_t *th = cmn_xcalloc((size_t)(n ? n : 1), sizeof *th);
    bool *started = cmn_xcalloc((size_t)(n ? n : 1), sizeof *started);
    for (int i = 0; i < n; i++)
        started[i] = pthread_create(&th[i], NULL, call_main, &cs[i]) == 0;
    for (int i = 0; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            call_main(&cs[i]);
    }
    free(th);
    free(started);
}

void tgt_pcalls_free(tgt_pcall *cs, int n)
{
    for (int i = 0; i < n; i++) {
        free(cs[i].url);
        cJSON_Delete(cs[i].json);
        cmn_buf_free(&cs[i].text);
    }
    free(cs);
}


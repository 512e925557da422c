/*
 * chain.c - what a transform runs: one ETL, or AIStore 5.0's pipeline of
 * them (etl_name=A&etl_pipeline=B,C), with the etl_args every stage gets.
 *
 * The target runs a pipeline itself, stage after stage: each output but the
 * last is kept in a spool (memory, then an unnamed file) and sent to the
 * next ETL as a PUT body; the last streams to the caller's sink. That works
 * for every communicator the first stage uses (a later stage only has to take
 * a PUT, as every AIStore 5.0 webserver does), and each stage's failure names
 * that stage. AIStore has its ETLs forward to one another instead; the
 * outputs are the same.
 */
#include "etl/etl_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGE_MEM (4u << 20) /* an intermediate output kept in memory up to this */

struct etl_chain {
    etl_handle *stage[1 + ETL_PIPELINE_MAX];
    size_t n;
    char *args;  /* "" = none */
    char *label; /* "A>>B", plus "?args" when given */
    char *spool_dir;
};

int etl_request_pipeline(etl_request *q, char *csv, cmn_err *err)
{
    if (!csv || !*csv)
        return 0;
    for (char *name = csv;;) {
        char *comma = strchr(name, ',');
        if (comma)
            *comma = '\0';
        if (!*name)
            return cmn_err_set(err, EINVAL, "etl_pipeline: an ETL name is empty");
        if (q->npipeline == ETL_PIPELINE_MAX)
            return cmn_err_set(err, EINVAL, "etl_pipeline: more than %d stages after the first", ETL_PIPELINE_MAX);
        q->pipeline[q->npipeline++] = name;
        if (!comma)
            return 0;
        name = comma + 1;
    }
}

void etl_put(etl_chain *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        etl_handle_put(c->stage[i]);
    free(c->args);
    free(c->label);
    free(c->spool_dir);
    free(c);
}

/* The running handle of name, or NULL with err (404 either way, as AIStore). */
static etl_handle *stage_get(etl_registry *r, const char *name, cmn_err *err)
{
    bool defined;
    etl_handle *h = *name ? etl_registry_running(r, name, &defined) : NULL;
    if (!h && (!*name || !defined))
        cmn_err_set(err, ENOENT, "t[%s]: etl job %s does not exist", r->node_id, *name ? name : "\"\"");
    else if (!h)
        cmn_err_set(err, ENOENT, "t[%s]: etl job %s is not running (start it with POST /v1/etl/%s/start)",
                    r->node_id, name, name);
    return h;
}

etl_chain *etl_get(etl_registry *r, const etl_request *q, cmn_err *err)
{
    const char *args = q->args ? q->args : "";
    if (strlen(args) > ETL_ARGS_MAX) {
        cmn_err_set(err, EINVAL, "etl[%s]: etl_args: %zu bytes, at most %d", q->name ? q->name : "", strlen(args),
                    ETL_ARGS_MAX);
        return NULL;
    }
    if (q->npipeline > ETL_PIPELINE_MAX) {
        cmn_err_set(err, EINVAL, "etl_pipeline: more than %d stages after the first", ETL_PIPELINE_MAX);
        return NULL;
    }
    etl_chain *c = cmn_xcalloc(1, sizeof *c);
    c->args = cmn_xstrdup(args);
    c->spool_dir = cmn_xstrdup(r->state_dir);
    cmn_buf label;
    cmn_buf_init(&label);
    for (size_t i = 0; i <= q->npipeline; i++) {
        const char *name = i == 0 ? q->name : q->pipeline[i - 1];
        if (!name)
            name = "";
        etl_handle *h = stage_get(r, name, err);
        if (!h)
            goto fail;
        c->stage[c->n++] = h;
        if (i > 0 && strcmp(h->arg, "fqn") == 0) {
            cmn_err_set(err, EINVAL,
                        "etl_pipeline: ETL %s reads objects from disk (argument \"fqn\") and cannot be a later "
                        "stage of a pipeline: its input is the previous stage's output",
                        name);
            goto fail;
        }
        if (i) /* appended, not printf'd: every inline GET makes a chain */
            cmn_buf_puts(&label, ">>");
        cmn_buf_puts(&label, name);
    }
    if (*args) {
        cmn_buf_puts(&label, "?");
        cmn_buf_puts(&label, args);
    }
    c->label = cmn_buf_steal(&label);
    return c;
fail:
    cmn_buf_free(&label);
    etl_put(c);
    return NULL;
}

const char *etl_chain_label(const etl_chain *c)
{
    return c->label;
}

bool etl_chain_same(const etl_chain *a, const etl_chain *b)
{
    if (!a || !b)
        return a == b;
    if (a->n != b->n || strcmp(a->args, b->args))
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->stage[i] != b->stage[i])
            return false;
    return true;
}

char *etl_redirect_url(const etl_chain *c, const etl_object *obj)
{
    if (c->n != 1 || !c->stage[0]->comm->redirects)
        return NULL;
    return etl_object_url(c->stage[0], obj, c->args);
}

int etl_transform(const etl_chain *c, const etl_object *obj, const etl_sink *sink, int64_t timeout_ns,
                  cmn_err *err)
{
    if (c->n == 1)
        return etl_handle_transform(c->stage[0], obj, c->args, NULL, sink, timeout_ns, err);
    cmn_spool bufs[2];
    cmn_spool *in = NULL;
    int rc = 0;
    size_t i;
    for (i = 0; i < c->n && rc == 0; i++) {
        if (i == c->n - 1) {
            rc = etl_handle_transform(c->stage[i], obj, c->args, in, sink, timeout_ns, err);
            break;
        }
        cmn_spool *out = &bufs[i % 2];
        cmn_spool_init(out, c->spool_dir, STAGE_MEM);
        etl_sink to_spool = {.spool = out};
        rc = etl_handle_transform(c->stage[i], obj, c->args, in, &to_spool, timeout_ns, err);
        if (rc == -ECANCELED) /* the spool refused: our disk, not the ETL */
            rc = cmn_err_set(err, EIO, "etl[%s]: object ais://%s/%s: cannot keep the output for the next stage",
                             c->label, obj->bucket, obj->name);
        if (in)
            cmn_spool_free(in);
        in = out;
        if (rc)
            break;
    }
    if (in)
        cmn_spool_free(in);
    /* a later stage keeps its failure in its own details; the pipeline's ETL
     * keeps it too, as the one `ais etl show errors` and a job's uuid name */
    if (rc && rc != -ECANCELED && i > 0 && i < c->n && err)
        etl_handle_record_error(c->stage[0], obj, err);
    return rc;
}

bool etl_chain_starts(const etl_chain *c)
{
    const etl_comm *m = c->n == 1 ? c->stage[0]->comm : NULL;
    return m && m->start && (!m->starts || m->starts(c->stage[0]));
}

int etl_transform_start(const etl_chain *c, const etl_object *obj, const etl_async *a)
{
    if (c->n != 1 || !c->stage[0]->comm->start)
        return -EAGAIN;
    return c->stage[0]->comm->start(c->stage[0], obj, c->args, a);
}

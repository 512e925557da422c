/*
 * fuzz_actmsg.c - a control request's JSON body (AIStore's ActMsg), parsed
 * as server.c does, then given to every parser of an action's value,
 * whatever the action says: the TCBMsg of copy/etl-bck and the list/range
 * actions (tcb.c, selection.c, multiobj.c) and list-objects' LsoMsg (lso.c).
 * A message that parses must also yield a destination name for each name
 * it lists.
 */
#include "fuzz.h"
#include "target/target.h"

typedef struct visit_ctx {
    const tgt_tcb *t;
    int n;
} visit_ctx;

static bool on_name(void *ctx, const char *name, bool listed)
{
    visit_ctx *v = ctx;
    FUZZ_CHECK(cmn_object_name_valid(name, NULL, 0));
    char *dst = tgt_tcb_dst_name(v->t, name);
    FUZZ_CHECK(dst != NULL);
    free(dst);
    v->n++;
    return true;
}

static void listrange(const cJSON *value, bool etl)
{
    char why[512] = "";
    tgt_tcb *t = cmn_xcalloc(1, sizeof *t);
    if (tgt_listrange_parse(value, etl, t, why, sizeof why) == 0) {
        FUZZ_CHECK(t->workers > 0 && t->workers <= TGT_TCB_MAX_WORKERS);
        FUZZ_CHECK(!etl || *t->etl);
        visit_ctx v = {t, 0};
        if (t->sel.names) /* a prefix walks the bucket; templates are fuzz_template's */
            tgt_sel_each(&t->sel, "b", on_name, &v);
    } else {
        FUZZ_CHECK(*why); /* a refusal says why */
    }
    tgt_tcb_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    tgt_req r;
    memset(&r, 0, sizeof r);
    r.msg = cJSON_ParseWithLength((const char *)data, size);
    if (!r.msg)
        return 0;
    const char *action = tgt_msg_action(&r);
    FUZZ_CHECK(action != NULL);
    cJSON *value = tgt_msg_value(&r);
    listrange(value, false);
    listrange(value, true);
    tgt_lso_msg m;
    char why[512] = "";
    if (tgt_lso_msg_parse(value, &m, why, sizeof why) == 0)
        FUZZ_CHECK(m.pagesize > 0 && m.pagesize <= 10000 && m.prefix && m.token && m.start_after && m.uuid);
    else
        FUZZ_CHECK(*why);
    cJSON_Delete(r.msg);
    return 0;
}

/*
 * msg.c - a request's JSON body, before any handler reads it: parsed
 * strictly (cmn_json_parse), and every field a handler reads checked against
 * one table of types. Handlers then read fields with plain cJSON getters and
 * can trust a present field has its type: a wrong one is a 400 naming it
 * here, never silently read as absent.
 *
 * Keys match case-insensitively (cJSON_GetObjectItem, as AIStore's decoder);
 * unknown keys are ignored and null stands for absent, as in Go.
 */
#include "target/target.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { T_STR = 1, T_NUM = 2, T_BOOL = 4, T_OBJ = 8, T_ARR = 16 };

/* Every field of an ActMsg (and of the bodies of GET /v1/cluster) that some
 * handler reads, by its path in the body. A field read by a new handler gets
 * its row here. */
static const struct field {
    const char *path;
    int types;
} fields[] = {
    /* ActMsg */
    {"action", T_STR},
    {"name", T_STR},
    {"value", T_OBJ},
    /* job queries (cluster.c) */
    {"ID", T_STR},
    {"Kind", T_STR},
    {"show_active", T_BOOL},
    /* list objects (lso.c), summary (bucket.c) */
    {"value.prefix", T_STR},
    {"value.continuation_token", T_STR},
    {"value.start_after", T_STR},
    {"value.uuid", T_STR},
    {"value.props", T_STR},
    {"value.flags", T_STR | T_NUM},
    {"value.pagesize", T_NUM},
    /* promote (promote.c) */
    {"value.src", T_STR},
    {"value.obj", T_STR},
    {"value.rcr", T_BOOL},
    {"value.ovw", T_BOOL},
    {"value.dls", T_BOOL},
    /* copy / transform a bucket or a list (tcb.c, selection.c) */
    {"value.id", T_STR},
    {"value.prepend", T_STR},
    {"value.suffix", T_STR},
    {"value.ext", T_STR | T_OBJ},
    {"value.dry_run", T_BOOL},
    {"value.num_workers", T_NUM},
    {"value.num-workers", T_NUM},  /* AIStore 5.0's spelling */
    {"value.pipeline", T_ARR},     /* AIStore 5.0: later ETL stages */
    {"value.etl_args", T_STR},
    {"value.coer", T_BOOL},        /* AIStore 5.0: continue on error */
    {"value.non-recurs", T_BOOL},  /* AIStore 5.0: the prefix's own objects only */
    {"value.request_timeout", T_STR},
    {"value.objnames", T_ARR},
    {"value.template", T_STR},
    {"value.dst_names", T_ARR},
    /* archive (archive.c), list/range destination (multiobj.c) */
    {"value.archname", T_STR},
    {"value.mime", T_STR},
    {"value.isbn", T_BOOL},
    {"value.aate", T_BOOL},
    {"value.coer", T_BOOL},
    {"value.tobck", T_OBJ},
    {"value.tobck.name", T_STR},
    {"value.tobck.provider", T_STR},
    /* a node's maintenance, decommission, shutdown (cluster_maint.c) */
    {"value.sid", T_STR},
    {"value.rm_user_data", T_BOOL},
    {"value.skip_rebalance", T_BOOL},
    {"value.keep_initial_config", T_BOOL},
    {"value.no_shutdown", T_BOOL},
    /* jobs started by kind (jobstart.c), stop (cluster.c) */
    {"value.Kind", T_STR},
    {"value.Bck", T_OBJ},
    {"value.Bck.name", T_STR},
    {"value.Bck.provider", T_STR},
};

/* A field whose type depends on the action: the row for that action's
 * bodies stands in for the path's row above. */
static const struct action_field {
    const char *action;
    const char *path;
    int types;
} action_fields[] = {
    {"mpt-complete", "value", T_ARR}, /* the parts [{"part-number", "etag"}] (multipart.c) */
};

static int type_of(const cJSON *j)
{
    if (cJSON_IsString(j))
        return T_STR;
    if (cJSON_IsNumber(j))
        return T_NUM;
    if (cJSON_IsBool(j))
        return T_BOOL;
    if (cJSON_IsObject(j))
        return T_OBJ;
    if (cJSON_IsArray(j))
        return T_ARR;
    return 0;
}

static const char *type_name(int t)
{
    switch (t) {
    case T_STR: return "a string";
    case T_NUM: return "a number";
    case T_BOOL: return "a boolean";
    case T_OBJ: return "an object";
    case T_ARR: return "an array";
    default: return "something else";
    }
}

static void types_text(int types, char *out, size_t len)
{
    out[0] = '\0';
    for (int t = T_STR; t <= T_ARR; t <<= 1)
        if (types & t)
            snprintf(out + strlen(out), len - strlen(out), "%s%s", *out ? " or " : "", type_name(t));
}

/* The field at path ("value.tobck.name"), or NULL when it or a parent is
 * absent or null (a parent of the wrong type was reported by its own row). */
static const cJSON *lookup(const cJSON *msg, const char *path)
{
    char key[64];
    const cJSON *j = msg;
    for (const char *p = path; j && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        j = cJSON_IsObject(j) ? cJSON_GetObjectItem(j, key) : NULL;
        p += n + (p[n] == '.');
    }
    return j && !cJSON_IsNull(j) ? j : NULL;
}

/* The types row i allows in a body with this action. */
static int types_for(size_t i, const char *action)
{
    for (size_t j = 0; j < sizeof action_fields / sizeof action_fields[0]; j++)
        if (!strcmp(action_fields[j].action, action) && !strcmp(action_fields[j].path, fields[i].path))
            return action_fields[j].types;
    return fields[i].types;
}

static int check_fields(const cJSON *msg, cmn_err *err)
{
    if (!cJSON_IsObject(msg))
        return cmn_err_set(err, EINVAL, "invalid JSON body: expected an object, got %s", type_name(type_of(msg)));
    const cJSON *act = cJSON_GetObjectItem(msg, "action");
    const char *action = cJSON_IsString(act) ? act->valuestring : "";
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *f = lookup(msg, fields[i].path);
        int types = types_for(i, action);
        if (!f || (type_of(f) & types))
            continue;
        char want[64];
        types_text(types, want, sizeof want);
        return cmn_err_set(err, EINVAL, "invalid JSON body: \"%s\" must be %s, got %s", fields[i].path, want,
                           type_name(type_of(f)));
    }
    return 0;
}

int tgt_msg_parse(tgt_req *r, cmn_err *err)
{
    r->msg = NULL;
    if (!r->body.len)
        return 0;
    int rc = cmn_json_parse(r->body.data, r->body.len, &r->msg, err);
    /* an ETL init message has its own parser (etl/msg.c) and its own fields */
    bool actmsg = !(r->nitems >= 2 && !strcmp(r->items[0], "v1") && !strcmp(r->items[1], "etl"));
    if (rc == 0 && actmsg && (rc = check_fields(r->msg, err)) != 0) {
        cJSON_Delete(r->msg);
        r->msg = NULL;
    }
    return rc;
}

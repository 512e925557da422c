/*
 * tcb.c - a copy or transform request (AIStore's TCBMsg) read into a
 * tgt_tcb: workers, dry run, prepend, extension mapping, suffix, ETL name
 * and timeout; and the destination name each source object gets.
 */
#include "target/target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tgt_tcb_free(tgt_tcb *t)
{
    if (!t)
        return;
    free(t->prepend);
    free(t->ext_all);
    free(t->suffix);
    for (size_t i = 0; i < t->npipeline; i++)
        free(t->pipeline[i]);
    free(t->etl_args);
    for (int i = 0; i < t->next; i++) {
        free(t->ext_old[i]);
        free(t->ext_new[i]);
    }
    tgt_sel_free(&t->sel);
    free(t);
}

static const char *str_field(const cJSON *v, const char *key)
{
    const cJSON *f = v ? cJSON_GetObjectItem(v, key) : NULL;
    return cJSON_IsString(f) ? f->valuestring : "";
}

static char *trim_dots(const char *s)
{
    while (*s == '.')
        s++;
    return cmn_xstrdup(s);
}

int tgt_tcb_parse(const cJSON *value, bool etl, tgt_tcb *t, char *why, size_t whylen)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    /* ETL calls wait on another process: a few workers per core keep both busy */
    t->workers = ncpu > 1 ? 4 * (int)ncpu : 4;
    t->prepend = cmn_xstrdup(str_field(value, "prepend"));
    const cJSON *dry = value ? cJSON_GetObjectItem(value, "dry_run") : NULL;
    t->dry_run = cJSON_IsTrue(dry);
    t->coer = value && cJSON_IsTrue(cJSON_GetObjectItem(value, "coer"));
    const cJSON *nw = value ? cJSON_GetObjectItem(value, "num_workers") : NULL;
    if (!nw && value) /* AIStore 5.0's spelling */
        nw = cJSON_GetObjectItem(value, "num-workers");
    if (cJSON_IsNumber(nw) && nw->valueint > 0)
        t->workers = nw->valueint > TGT_TCB_MAX_WORKERS ? TGT_TCB_MAX_WORKERS : nw->valueint;
    const char *suffix = str_field(value, "suffix");
    if (*suffix)
        t->suffix = cmn_xstrdup(suffix);
    const cJSON *ext = value ? cJSON_GetObjectItem(value, "ext") : NULL;
    if (cJSON_IsString(ext) && etl) {
        /* the seed's form: one new extension for every output */
        if (*ext->valuestring)
            t->ext_all = trim_dots(ext->valuestring);
    } else if (ext && !cJSON_IsNull(ext)) {
        if (!etl && cJSON_GetArraySize(ext) > 0) {
            snprintf(why, whylen, "copy-bck: \"ext\" applies to transforms only");
            return -EINVAL;
        }
        if (!cJSON_IsObject(ext)) {
            snprintf(why, whylen, "\"ext\" must be a map of old to new extension, e.g. {\"jpg\":\"txt\"}, "
                                  "or a string, the new extension of every output");
            return -EINVAL;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, ext)
        {
            if (!cJSON_IsString(it) || t->next == (int)(sizeof t->ext_old / sizeof t->ext_old[0])) {
                snprintf(why, whylen, "\"ext\": invalid or too many entries");
                return -EINVAL;
            }
            t->ext_old[t->next] = trim_dots(it->string);
            t->ext_new[t->next] = trim_dots(it->valuestring);
            t->next++;
        }
    }
    if (!etl)
        return 0;
    const char *id = str_field(value, "id");
    if (!*id) {
        snprintf(why, whylen, "ETL name can't be empty");
        return -EINVAL;
    }
    snprintf(t->etl, sizeof t->etl, "%s", id);
    const cJSON *pl = cJSON_GetObjectItem(value, "pipeline"), *it;
    if (pl && !cJSON_IsNull(pl)) {
        if (!cJSON_IsArray(pl)) {
            snprintf(why, whylen, "\"pipeline\" must be a list of ETL names");
            return -EINVAL;
        }
        cJSON_ArrayForEach(it, pl)
        {
            if (!cJSON_IsString(it) || !*it->valuestring) {
                snprintf(why, whylen, "\"pipeline\": every stage must be a non-empty ETL name");
                return -EINVAL;
            }
            if (t->npipeline == ETL_PIPELINE_MAX) {
                snprintf(why, whylen, "\"pipeline\": more than %d stages after the first", ETL_PIPELINE_MAX);
                return -EINVAL;
            }
            t->pipeline[t->npipeline++] = cmn_xstrdup(it->valuestring);
        }
    }
    const cJSON *args = cJSON_GetObjectItem(value, "etl_args");
    if (args && !cJSON_IsNull(args)) {
        if (!cJSON_IsString(args)) {
            snprintf(why, whylen, "\"etl_args\" must be a string");
            return -EINVAL;
        }
        t->etl_args = cmn_xstrdup(args->valuestring);
    }
    const char *to = str_field(value, "request_timeout");
    if (*to && cmn_parse_duration(to, &t->timeout_ns) != 0) {
        snprintf(why, whylen, "invalid request_timeout \"%s\"", to);
        return -EINVAL;
    }
    return 0;
}

/* Destination name: prepend + the name with its extension mapped. */
char *tgt_tcb_dst_name(const tgt_tcb *t, const char *name)
{
    cmn_buf b;
    cmn_buf_init(&b);
    cmn_buf_puts(&b, t->prepend ? t->prepend : "");
    const char *dot = strrchr(name, '.');
    if (dot && strchr(dot, '/'))
        dot = NULL; /* a dot in a directory name is not an extension */
    if (t->ext_all) {
        if (dot)
            cmn_buf_append(&b, name, (size_t)(dot - name));
        else
            cmn_buf_puts(&b, name);
        cmn_buf_printf(&b, ".%s", t->ext_all);
        return cmn_buf_steal(&b);
    }
    int k = -1;
    for (int i = 0; dot && i < t->next; i++)
        if (!strcmp(dot + 1, t->ext_old[i]))
            k = i;
    if (k >= 0) {
        cmn_buf_append(&b, name, (size_t)(dot - name + 1));
        cmn_buf_puts(&b, t->ext_new[k]);
    } else
        cmn_buf_puts(&b, name);
    return cmn_buf_steal(&b);
}

/* A copy of value whose "id" names the ETL: given there, or as ?etl_name=,
 * or (the seed's etl-bck example names none) the one ETL that is running.
 * NULL with why filled when that leaves it ambiguous. */
cJSON *tgt_etl_name_filled(tgt_req *r, const cJSON *value, char *why, size_t whylen)
{
    cJSON *v = value && cJSON_IsObject(value) ? cJSON_Duplicate(value, true) : cJSON_CreateObject();
    if (*str_field(v, "id"))
        return v;
    const char *q = tgt_query(r, "etl_name");
    cJSON_DeleteItemFromObject(v, "id");
    if (q && *q) {
        cJSON_AddStringToObject(v, "id", q);
        return v;
    }
    etl_reply er;
    etl_reply_init(&er);
    etl_api_list(tgt->etl, false, &er);
    cJSON *list = er.err == 0 ? cJSON_Parse(er.body.data) : NULL;
    etl_reply_free(&er);
    int n = cJSON_GetArraySize(list);
    if (n == 1)
        cJSON_AddStringToObject(v, "id", str_field(cJSON_GetArrayItem(list, 0), "id"));
    cJSON_Delete(list);
    if (n == 1)
        return v;
    cJSON_Delete(v);
    snprintf(why, whylen,
             "ETL name can't be empty: give it as \"id\" in the value or as ?etl_name= (%d ETLs are running, "
             "so none can be assumed)",
             n);
    return NULL;
}

/*
 * selection.c - which objects a multi-object request names (AIStore's
 * ListRange): a list, a bash-brace template, or a prefix. Template names
 * are generated one at a time, never expanded into memory, so a range of a
 * million names costs nothing until it is visited (at most TGT_SEL_MAX_NAMES
 * in all). A list may pair each name with its destination name (dst_names,
 * an etlfs extension).
 */
#include "target/target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEL_MAX_RANGES 8

typedef struct range {
    long long start, end, step;
    int width; /* digits of the start as written: {001..100} pads to 3 */
} range;

typedef struct tmpl {
    char *lit[SEL_MAX_RANGES + 1]; /* literal text before range i, and the tail */
    range r[SEL_MAX_RANGES];
    int n;
} tmpl;

static void tmpl_free(tmpl *t)
{
    for (int i = 0; i <= t->n; i++)
        free(t->lit[i]);
    memset(t, 0, sizeof *t);
}

static bool parse_num(const char *s, size_t len, long long *v)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    *v = strtoll(buf, &end, 10);
    return !errno && *end == '\0' && buf[0] != '+' && buf[0] != ' ';
}

/* Parses "{A..B}" or "{A..B..S}" at p (just after '{'), up to '}'. */
static bool parse_range(const char *p, const char *close, range *r)
{
    const char *d1 = strstr(p, "..");
    if (!d1 || d1 > close)
        return false;
    const char *d2 = strstr(d1 + 2, "..");
    if (d2 && d2 > close)
        d2 = NULL;
    const char *end_end = d2 ? d2 : close;
    r->step = 1;
    if (!parse_num(p, (size_t)(d1 - p), &r->start) || !parse_num(d1 + 2, (size_t)(end_end - d1 - 2), &r->end))
        return false;
    if (d2 && (!parse_num(d2 + 2, (size_t)(close - d2 - 2), &r->step) || r->step <= 0))
        return false;
    if (r->start < 0 || r->end < r->start)
        return false;
    r->width = (int)(d1 - p);
    return true;
}

/* 1: template with ranges, 0: no range (a prefix), -1: malformed. */
static int tmpl_parse(const char *s, tmpl *t, char *why, size_t whylen)
{
    memset(t, 0, sizeof *t);
    const char *lit = s, *p = s;
    while ((p = strchr(p, '{'))) {
        const char *close = strchr(p, '}');
        if (!close) {
            snprintf(why, whylen, "template \"%s\": unbalanced '{'", s);
            tmpl_free(t);
            return -1;
        }
        if (t->n == SEL_MAX_RANGES || !parse_range(p + 1, close, &t->r[t->n])) {
            snprintf(why, whylen, "template \"%s\": invalid range \"%.*s\" (want {START..END[..STEP]})", s,
                     (int)(close - p + 1), p);
            tmpl_free(t);
            return -1;
        }
        t->lit[t->n] = cmn_xstrndup(lit, (size_t)(p - lit));
        t->n++;
        lit = p = close + 1;
    }
    t->lit[t->n] = cmn_xstrdup(lit);
    /* Bounded, because a job turns the odometer to its end: names that are
     * not valid are skipped without a visit, so nothing else would stop it. */
    long long count = 1;
    for (int i = 0; i < t->n; i++) {
        long long k = (t->r[i].end - t->r[i].start) / t->r[i].step; /* names - 1: no overflow */
        if (k >= TGT_SEL_MAX_NAMES / count) {
            snprintf(why, whylen, "template \"%s\" names more than %d objects: split it into several requests", s,
                     TGT_SEL_MAX_NAMES);
            tmpl_free(t);
            return -1;
        }
        count *= k + 1;
    }
    return t->n > 0;
}

int tgt_sel_parse(const cJSON *value, tgt_sel *sel, char *why, size_t whylen)
{
    memset(sel, 0, sizeof *sel);
    const cJSON *names = value ? cJSON_GetObjectItem(value, "objnames") : NULL;
    const cJSON *tmp = value ? cJSON_GetObjectItem(value, "template") : NULL;
    if (cJSON_IsArray(names) && cJSON_GetArraySize(names) > 0) {
        int n = cJSON_GetArraySize(names);
        sel->names = cmn_xcalloc((size_t)n, sizeof(char *));
        const cJSON *it;
        cJSON_ArrayForEach(it, names)
        {
            if (!cJSON_IsString(it) || !cmn_object_name_valid(it->valuestring, NULL, 0)) {
                snprintf(why, whylen, "invalid object name %s in \"objnames\"",
                         cJSON_IsString(it) ? it->valuestring : "(not a string)");
                tgt_sel_free(sel);
                return -EINVAL;
            }
            sel->names[sel->nnames++] = cmn_xstrdup(it->valuestring);
        }
        return 0;
    }
    const char *s = cJSON_IsString(tmp) ? tmp->valuestring : "";
    if (!strcmp(s, "*"))
        s = "";
    tmpl t;
    int rc = tmpl_parse(s, &t, why, whylen);
    if (rc < 0)
        return -EINVAL;
    tmpl_free(&t);
    if (rc == 1)
        sel->tmpl = cmn_xstrdup(s);
    else
        sel->prefix = cmn_xstrdup(s);
    return 0;
}

int tgt_sel_parse_dsts(const cJSON *value, tgt_sel *sel, char *why, size_t whylen)
{
    const cJSON *dsts = value ? cJSON_GetObjectItem(value, "dst_names") : NULL;
    if (!dsts || cJSON_IsNull(dsts))
        return 0;
    if (!cJSON_IsArray(dsts)) {
        snprintf(why, whylen, "\"dst_names\" must be a list of names");
        return -EINVAL;
    }
    if (!sel->names) {
        snprintf(why, whylen, "\"dst_names\" applies to a list of names (\"objnames\") only, not to a template "
                              "or prefix");
        return -EINVAL;
    }
    int n = cJSON_GetArraySize(dsts);
    if (n != sel->nnames) {
        snprintf(why, whylen, "\"dst_names\" has %d names, \"objnames\" %d: they must pair one to one", n,
                 sel->nnames);
        return -EINVAL;
    }
    sel->dsts = cmn_xcalloc((size_t)n, sizeof(char *));
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, dsts)
    {
        char bad[128];
        if (!cJSON_IsString(it) || !cmn_object_name_valid(it->valuestring, bad, sizeof bad)) {
            snprintf(why, whylen, "invalid destination name %s in \"dst_names\"%s%s",
                     cJSON_IsString(it) ? it->valuestring : "(not a string)", cJSON_IsString(it) ? ": " : "",
                     cJSON_IsString(it) ? bad : "");
            return -EINVAL; /* tgt_sel_free frees what was taken */
        }
        sel->dsts[i++] = cmn_xstrdup(it->valuestring);
    }
    return 0;
}

void tgt_sel_prefix(tgt_sel *sel, const char *prefix)
{
    memset(sel, 0, sizeof *sel);
    sel->prefix = cmn_xstrdup(prefix ? prefix : "");
}

void tgt_sel_free(tgt_sel *sel)
{
    for (int i = 0; i < sel->nnames; i++) {
        free(sel->names[i]);
        if (sel->dsts)
            free(sel->dsts[i]);
    }
    free(sel->names);
    free(sel->dsts);
    free(sel->tmpl);
    free(sel->prefix);
    memset(sel, 0, sizeof *sel);
}

/* Odometer over the ranges, the last one turning fastest (bash order). */
static void tmpl_each(const tmpl *t, tgt_sel_fn fn, void *ctx)
{
    long long cur[SEL_MAX_RANGES];
    for (int i = 0; i < t->n; i++)
        cur[i] = t->r[i].start;
    cmn_buf b;
    cmn_buf_init(&b);
    for (;;) {
        cmn_buf_reset(&b);
        for (int i = 0; i < t->n; i++)
            cmn_buf_printf(&b, "%s%0*lld", t->lit[i], t->r[i].width, cur[i]);
        cmn_buf_puts(&b, t->lit[t->n]);
        if (cmn_object_name_valid(b.data, NULL, 0) && !fn(ctx, b.data, false))
            break;
        int i = t->n - 1;
        while (i >= 0) {
            if (t->r[i].end - cur[i] >= t->r[i].step) { /* never past end: {..9223372036854775807} */
                cur[i] += t->r[i].step;
                break;
            }
            cur[i] = t->r[i].start;
            i--;
        }
        if (i < 0)
            break;
    }
    cmn_buf_free(&b);
}

void tgt_sel_each(const tgt_sel *sel, const char *bck, tgt_sel_fn fn, void *ctx)
{
    if (sel->names) {
        for (int i = 0; i < sel->nnames; i++)
            if (!fn(ctx, sel->names[i], true))
                return;
        return;
    }
    if (sel->tmpl) {
        tmpl t;
        char why[256];
        if (tmpl_parse(sel->tmpl, &t, why, sizeof why) == 1)
            tmpl_each(&t, fn, ctx);
        tmpl_free(&t);
        return;
    }
    tgt_walk_it *it;
    tgt_walk_open(&tgt->store, bck, sel->prefix ? sel->prefix : "", "", sel->non_recurs, &it);
    tgt_walk_entry e;
    while (tgt_walk_next(it, &e) && (e.is_dir || fn(ctx, e.name, false)))
        ;
    tgt_walk_close(it);
}

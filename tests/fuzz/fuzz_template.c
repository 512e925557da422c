/*
 * fuzz_template.c - list-range templates ("obj-{0..9}", "a{001..100..2}b"),
 * the "template" of a multi-object request (selection.c). A template that
 * parses must generate only valid object names, in order, and its expansion
 * must be bounded: the target refuses one that names too many objects.
 */
#include "fuzz.h"
#include "target/target.h"

#define VISIT_MAX 4096 /* names generated per input: the odometer's every turn is covered long before */

typedef struct gen {
    long n;
    char last[2048];
} gen;

static bool on_name(void *ctx, const char *name, bool listed)
{
    gen *g = ctx;
    FUZZ_CHECK(!listed);
    FUZZ_CHECK(cmn_object_name_valid(name, NULL, 0));
    FUZZ_CHECK(strlen(name) < sizeof g->last);
    snprintf(g->last, sizeof g->last, "%s", name);
    return ++g->n < VISIT_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char *s = fuzz_cstr(data, size);
    cJSON *value = cJSON_CreateObject();
    cJSON_AddStringToObject(value, "template", s);
    tgt_sel sel;
    char why[512] = "";
    if (tgt_sel_parse(value, &sel, why, sizeof why) == 0) {
        FUZZ_CHECK(!sel.names && (sel.tmpl != NULL) != (sel.prefix != NULL));
        if (sel.tmpl) {
            gen g = {0};
            tgt_sel_each(&sel, "b", on_name, &g);
        }
        tgt_sel_free(&sel);
    } else {
        FUZZ_CHECK(*why);
    }
    cJSON_Delete(value);
    free(s);
    return 0;
}

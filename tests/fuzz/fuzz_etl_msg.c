/*
 * fuzz_etl_msg.c - ETL init messages, the body of PUT /v1/etl (etl/msg.c):
 * InitCodeMsg (base64 code and dependencies, runtime, funcs) and
 * InitSpecMsg (a base64 Pod YAML, parsed by etl/spec.c). A message that is
 * accepted must render the stored form GET /v1/etl/NAME shows, and that
 * form, sent again, must be accepted and render the same.
 */
#include "etl/etl_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    etl_msg m;
    char err[ETL_ERRLEN] = "";
    if (etl_msg_parse((const char *)data, size, &m, err, sizeof err) != 0) {
        FUZZ_CHECK(*err); /* a refusal names the field */
        return 0;
    }
    FUZZ_CHECK(m.name && m.comm && m.arg && etl_comm_lookup(m.comm));
    cJSON *j = etl_msg_to_json(&m);
    char *shown = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    etl_msg again;
    if (etl_msg_parse(shown, strlen(shown), &again, err, sizeof err) != 0) {
        fprintf(stderr, "the stored form is refused: %s\n%s\n", err, shown);
        abort();
    }
    j = etl_msg_to_json(&again);
    char *shown2 = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (strcmp(shown, shown2)) {
        fprintf(stderr, "the stored form changes when sent again:\n%s\n%s\n", shown, shown2);
        abort();
    }
    free(shown);
    free(shown2);
    etl_msg_free(&again);
    etl_msg_free(&m);
    return 0;
}

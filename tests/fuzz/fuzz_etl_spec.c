/*
 * fuzz_etl_spec.c - the Pod YAML of an init spec (etl/spec.c, libyaml), and
 * what the target does next with a pod it accepted: the image's local
 * command from the real etl/images.conf (etl/images.c).
 */
#include "etl/etl_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    etl_pod pod;
    char err[ETL_ERRLEN] = "";
    if (etl_pod_parse((const char *)data, size, &pod, err, sizeof err) != 0) {
        FUZZ_CHECK(*err);
        return 0;
    }
    FUZZ_CHECK(pod.image && *pod.image);
    FUZZ_CHECK(pod.ncommand == 0 || pod.command);
    FUZZ_CHECK(pod.nargs == 0 || pod.args);
    for (size_t i = 0; i < pod.nenv; i++)
        FUZZ_CHECK(pod.env[i].key && pod.env[i].val);
    etl_image_vars vars = {.install = "/opt/etlfs", .bindir = "/opt/etlfs/bin", .python = "/usr/bin/python3",
                           .port = 51234};
    char **argv = NULL;
    if (etl_image_argv(ETLFS_SOURCE_DIR "/etl/images.conf", &pod, &vars, &argv, err, sizeof err) == 0) {
        FUZZ_CHECK(argv && argv[0]);
        etl_strv_free(argv);
    }
    etl_pod_free(&pod);
    return 0;
}

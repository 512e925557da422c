/* Pod spec validation (init spec): the rules of AIStore's Validate, with the
 * field named in every refusal. */
#include "etl/etl_int.h"

#include <stdio.h>
#include <string.h>

static int failures;

#define FAILF(...) do { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); \
    fputc('\n', stderr); failures++; } while (0)

/* ais-etl transformers/md5/pod.yaml, as published (shell defaults unexpanded). */
static const char md5_pod[] =
    "apiVersion: v1\n"
    "kind: Pod\n"
    "metadata:\n"
    "  name: transformer-md5\n"
    "  annotations:\n"
    "    # Values it can take [\"hpull://\",\"hrev://\",\"hpush://\"]\n"
    "    communication_type: ${COMMUNICATION_TYPE:-\"\\\"hpull://\\\"\"}\n"
    "    wait_timeout: 5m\n"
    "spec:\n"
    "  containers:\n"
    "    - name: server\n"
    "      image: aistorage/transformer_md5:latest\n"
    "      imagePullPolicy: Always\n"
    "      ports:\n"
    "        - name: default\n"
    "          containerPort: 80\n"
    "      command: ['/code/server.py', '--listen', '0.0.0.0', '--port', '80']\n"
    "      env:\n"
    "        - name: ARG_TYPE\n"
    "          value: \"fqn\"\n"
    "      readinessProbe:\n"
    "        httpGet:\n"
    "          path: /health\n"
    "          port: default\n";

static void good(void)
{
    etl_pod pod;
    char err[ETL_ERRLEN];
    if (etl_pod_parse(md5_pod, strlen(md5_pod), &pod, err, sizeof err) != 0) {
        FAILF("md5 pod refused: %s", err);
        return;
    }
    if (strcmp(pod.image, "aistorage/transformer_md5:latest") || pod.container_port != 80 ||
        strcmp(pod.probe_path, "/health") || pod.ncommand != 5 || strcmp(pod.command[4], "80") || pod.nenv != 1 ||
        strcmp(pod.env[0].key, "ARG_TYPE") || strcmp(pod.env[0].val, "fqn") || !pod.ann_comm ||
        strcmp(pod.ann_wait_timeout, "5m"))
        FAILF("md5 pod misread");
    etl_pod_free(&pod);
}

/* Replaces the first occurrence of from in md5_pod by to, then expects a
 * refusal that mentions field. */
static void bad(const char *from, const char *to, const char *field)
{
    char y[4096];
    const char *at = strstr(md5_pod, from);
    if (!at) {
        FAILF("test bug: %s not in the pod", from);
        return;
    }
    snprintf(y, sizeof y, "%.*s%s%s", (int)(at - md5_pod), md5_pod, to, at + strlen(from));
    etl_pod pod;
    char err[ETL_ERRLEN] = "";
    if (etl_pod_parse(y, strlen(y), &pod, err, sizeof err) == 0) {
        FAILF("accepted a pod with %s -> %s", from, to);
        etl_pod_free(&pod);
    } else if (!strstr(err, field)) {
        FAILF("refusal does not name %s: %s", field, err);
    }
}

static void io_annotation(void)
{
    const char *y = "kind: Pod\nmetadata:\n  annotations:\n    communication_type: \"io://\"\n"
                    "spec:\n  containers:\n  - image: aistorage/transformer_echo\n    ports: [{name: default, "
                    "containerPort: 8000}]\n    readinessProbe: {httpGet: {Path: health, Port: default}}\n";
    etl_pod pod;
    char err[ETL_ERRLEN];
    if (etl_pod_parse(y, strlen(y), &pod, err, sizeof err) != 0) {
        FAILF("io pod refused: %s", err);
        return;
    }
    if (!pod.ann_comm || strcmp(pod.ann_comm, "io://") || strcmp(pod.probe_path, "/health"))
        FAILF("io annotation or case-insensitive keys misread");
    etl_pod_free(&pod);
}

int main(void)
{
    good();
    io_annotation();
    bad("kind: Pod", "kind: Deployment", "kind");
    bad("      ports:\n        - name: default\n          containerPort: 80\n", "", "ports");
    bad("name: default", "name: http", "ports[0].name");
    bad("containerPort: 80", "containerPort: eighty", "containerPort");
    bad("          port: default", "          port: 80", "httpGet.port");
    bad("          path: /health\n", "", "httpGet.path");
    bad("      readinessProbe:", "      livenessProbe:", "readinessProbe");
    bad("      image: aistorage/transformer_md5:latest\n", "", "image");
    bad("spec:\n", "spec:\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n"
        "        nodeSelectorTerms: [{matchExpressions: [{key: a, operator: In, values: [b]}]}]\n", "nodeAffinity");
    bad("spec:\n", "spec:\n  affinity:\n    podAntiAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:"
        " [{weight: 1}]\n", "podAntiAffinity");
    bad("spec:\n  containers:\n", "spec:\n  containers:\n    - name: second\n      image: x\n", "exactly 1 container");
    bad("kind: Pod\n", "kind: Pod\n  bad: [\n", "YAML");
    bad("apiVersion: v1\n", "- just\n- a list\n", "YAML");
    bad("      command:", "      command: 12\n      xcommand:", "command");
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures != 0;
}

/*
 * cmd_auth.c - `ais auth token`: an operator mints an AuthN token for a
 * target run with --auth-secret, without an AuthN server: the claims
 * AIStore's AuthN issues (sub, admin, exp, clusters, buckets), signed HS256
 * with the same secret. The token goes to stdout; clients take it through
 * AIS_AUTHN_TOKEN, `ais --token`, or a token file.
 */
#include "cli/cli.h"

#include "common/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Cluster-wide permissions: "ro" (show the cluster, list buckets), "rw"
 * (and create, destroy, move buckets), "none", or AIStore's number. */
static int cluster_perm(const char *s, uint64_t *out)
{
    if (!strcmp(s, "ro"))
        *out = CMN_ACC_CLUSTER_RO;
    else if (!strcmp(s, "rw"))
        *out = CMN_ACC_CLUSTER_RW;
    else if (!strcmp(s, "none"))
        *out = 0;
    else
        return cmn_acc_parse(s, out);
    return 0;
}

/* "b1=ro,b2=rw,b3=771" into AIStore's bucket ACLs. */
static int add_buckets(cli_args *a, const char *spec, cJSON *arr)
{
    char *copy = cmn_xstrdup(spec), *save = NULL;
    int rc = 0;
    for (char *one = strtok_r(copy, ",", &save); one && !rc; one = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(one, '=');
        uint64_t perm;
        const char *name = one;
        if (!strncmp(name, "ais://", 6))
            name += 6;
        if (!eq || eq == name || cmn_acc_parse(eq + 1, &perm) != 0) {
            rc = cli_usage_err(a, "--buckets: want BUCKET=ro|rw|NUMBER[,...], got \"%s\"", one);
            break;
        }
        *eq = '\0';
        if (!cmn_bucket_name_valid(name)) {
            rc = cli_usage_err(a, "--buckets: invalid bucket name \"%s\"", name);
            break;
        }
        cJSON *acl = cJSON_CreateObject(), *bck = cJSON_AddObjectToObject(acl, "bck");
        cJSON_AddStringToObject(bck, "name", name);
        cJSON_AddStringToObject(bck, "provider", "ais");
        cJSON *ns = cJSON_AddObjectToObject(bck, "namespace");
        cJSON_AddStringToObject(ns, "uuid", "");
        cJSON_AddStringToObject(ns, "name", "");
        char num[24];
        snprintf(num, sizeof num, "%llu", (unsigned long long)perm);
        cJSON_AddStringToObject(acl, "perm", num);
        cJSON_AddItemToArray(arr, acl);
    }
    free(copy);
    return rc;
}

int cli_auth_token(cli_args *a)
{
    const char *user = cli_flag_str(a, "user");
    if (!user || !*user)
        return cli_usage_err(a, "missing --user NAME");
    char *secret = NULL;
    const char *sf = cli_flag_str(a, "secret-file");
    if (cli_flag_str(a, "secret"))
        secret = cmn_xstrdup(cli_flag_str(a, "secret"));
    else if (sf) {
        cmn_buf b;
        cmn_buf_init(&b);
        int rc = cmn_read_small_file(sf, 1u << 20, &b);
        if (rc) {
            cmn_buf_free(&b);
            return cli_fail("--secret-file %s: %s", sf, strerror(-rc));
        }
        while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
            b.data[--b.len] = '\0';
        secret = cmn_buf_steal(&b);
    } else if (getenv("AIS_AUTHN_SECRET_KEY"))
        secret = cmn_xstrdup(getenv("AIS_AUTHN_SECRET_KEY"));
    if (!secret || !*secret) {
        free(secret);
        return cli_usage_err(a, "missing --secret, --secret-file or AIS_AUTHN_SECRET_KEY (the target's --auth-secret)");
    }
    int64_t ttl = 24 * 3600 * 1000000000LL;
    const char *exp = cli_flag_str(a, "expires");
    if (exp && (cmn_parse_duration(exp, &ttl) != 0 || ttl <= 0)) {
        free(secret);
        return cli_usage_err(a, "--expires: want a duration such as 30m or 24h, got \"%s\"", exp);
    }
    uint64_t clu;
    const char *cs = cli_flag_str(a, "cluster");
    if (cluster_perm(cs ? cs : "ro", &clu) != 0) {
        free(secret);
        return cli_usage_err(a, "--cluster: want ro, rw, none or a number, got \"%s\"", cs);
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "sub", user);
    cJSON_AddBoolToObject(c, "admin", cli_flag_set(a, "admin"));
    int64_t now = cmn_now_ns() / 1000000000LL;
    cJSON_AddNumberToObject(c, "exp", (double)(now + ttl / 1000000000LL));
    cJSON_AddNumberToObject(c, "iat", (double)now);
    cJSON *clusters = cJSON_AddArrayToObject(c, "clusters");
    if (clu) {
        cJSON *acl = cJSON_CreateObject();
        char num[24];
        snprintf(num, sizeof num, "%llu", (unsigned long long)clu);
        cJSON_AddStringToObject(acl, "id", ""); /* any cluster: etlfs's id changes at each start */
        cJSON_AddStringToObject(acl, "perm", num);
        cJSON_AddItemToArray(clusters, acl);
    }
    cJSON *buckets = cJSON_AddArrayToObject(c, "buckets");
    const char *bs = cli_flag_str(a, "buckets");
    int rc = bs ? add_buckets(a, bs, buckets) : 0;
    if (!rc) {
        char *json = cJSON_PrintUnformatted(c);
        char *token = cmn_jwt_sign(json, secret, strlen(secret));
        printf("%s\n", token);
        free(token);
        free(json);
    }
    cJSON_Delete(c);
    free(secret);
    return rc;
}

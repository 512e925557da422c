/*
 * jwt.c - verifying (and, for operators and tests, signing) AIStore AuthN's
 * HS256 tokens. Strict as the Go library AIStore uses with its options:
 * strict base64url, an "exp" that must be there, the signature checked in
 * constant time before the claims are read, and claims of the wrong JSON
 * type refused rather than ignored. Only HS256: AuthN's RSA tokens need the
 * issuer's public key, which etlfs does not fetch.
 */
#include "common/jwt.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HS256_LEN 32

static int invalid(cmn_err *err, const char *why)
{
    return cmn_err_set(err, EKEYREJECTED, "invalid token [err: %s]", why);
}

static void hs256(const void *key, size_t keylen, const char *data, size_t len, unsigned char md[HS256_LEN])
{
    unsigned int n = HS256_LEN;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, md, &n);
}

/* One base64url part as a JSON object, or NULL. */
static cJSON *part_json(const char *s, size_t len)
{
    size_t n;
    unsigned char *raw = cmn_base64url_decode(s, len, &n);
    if (!raw)
        return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)raw, n, &end, 0);
    if (j && (!cJSON_IsObject(j) || end != (const char *)raw + n)) {
        cJSON_Delete(j);
        j = NULL;
    }
    free(raw);
    return j;
}

/* A string field: absent or null leaves "" (Go's zero value); another type fails. */
static bool get_str(const cJSON *o, const char *k, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (v && !cJSON_IsNull(v) && !cJSON_IsString(v))
        return false;
    *out = cmn_xstrdup(cJSON_IsString(v) ? v->valuestring : "");
    return true;
}

/* AIStore sends permissions as a decimal number in a JSON string (`json:",string"`). */
static bool get_perm(const cJSON *o, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "perm");
    *out = 0;
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v) || !*v->valuestring)
        return false;
    char *end;
    errno = 0;
    unsigned long long p = strtoull(v->valuestring, &end, 10);
    if (errno || *end || v->valuestring[0] == '-' || v->valuestring[0] == '+')
        return false;
    *out = p;
    return true;
}

/* An optional array of objects into *v: n + 1 zeroed slots of size bytes,
 * one(member, slot) filling each (null members skipped). *v is set, and *n
 * counts a slot before it is filled, even on failure: the claims' free frees
 * what was parsed. */
static bool parse_array(const cJSON *a, size_t size, void **v, int *n, bool (*one)(const cJSON *e, void *slot))
{
    if (!a || cJSON_IsNull(a))
        return true;
    if (!cJSON_IsArray(a))
        return false;
    char *slots = cmn_xcalloc((size_t)cJSON_GetArraySize(a) + 1, size);
    *v = slots;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (cJSON_IsNull(e))
            continue;
        void *slot = slots + (size_t)(*n)++ * size;
        if (!cJSON_IsObject(e) || !one(e, slot))
            return false;
    }
    return true;
}

static bool one_cluster(const cJSON *e, void *slot)
{
    cmn_acl_clu *acl = slot;
    return get_str(e, "id", &acl->id) && get_perm(e, &acl->perm);
}

static bool one_bucket(const cJSON *e, void *slot)
{
    cmn_acl_bck *acl = slot;
    if (!get_perm(e, &acl->perm))
        return false;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "bck");
    const cJSON *ns = cJSON_IsObject(b) ? cJSON_GetObjectItemCaseSensitive(b, "namespace") : NULL;
    if ((b && !cJSON_IsNull(b) && !cJSON_IsObject(b)) || (ns && !cJSON_IsNull(ns) && !cJSON_IsObject(ns)))
        return false;
    return get_str(b, "name", &acl->name) && get_str(b, "provider", &acl->provider) &&
           get_str(ns, "uuid", &acl->ns_uuid) && get_str(ns, "name", &acl->ns_name);
}

static bool parse_clusters(const cJSON *a, cmn_claims *c)
{
    void *v = NULL;
    bool ok = parse_array(a, sizeof *c->clusters, &v, &c->nclusters, one_cluster);
    c->clusters = v;
    return ok;
}

static bool parse_buckets(const cJSON *a, cmn_claims *c)
{
    void *v = NULL;
    bool ok = parse_array(a, sizeof *c->buckets, &v, &c->nbuckets, one_bucket);
    c->buckets = v;
    return ok;
}

/* A NumericDate: a JSON number; absent leaves *present false. */
static bool get_date(const cJSON *o, const char *k, double *out, bool *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *present = v && !cJSON_IsNull(v);
    if (*present && !cJSON_IsNumber(v))
        return false;
    *out = *present ? v->valuedouble : 0;
    return true;
}

static int parse_claims(const cJSON *p, double now_s, cmn_claims *c, cmn_err *err)
{
    double nbf, iat;
    bool has_exp, has_nbf, has_iat;
    const cJSON *admin = cJSON_GetObjectItemCaseSensitive(p, "admin");
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(p, "iss");
    if (!get_date(p, "exp", &c->exp, &has_exp) || !get_date(p, "nbf", &nbf, &has_nbf) ||
        !get_date(p, "iat", &iat, &has_iat) || !get_str(p, "sub", &c->sub) ||
        (admin && !cJSON_IsNull(admin) && !cJSON_IsBool(admin)) || (iss && !cJSON_IsNull(iss) && !cJSON_IsString(iss)) ||
        !parse_clusters(cJSON_GetObjectItemCaseSensitive(p, "clusters"), c) ||
        !parse_buckets(cJSON_GetObjectItemCaseSensitive(p, "buckets"), c))
        return invalid(err, "token is malformed: a claim has the wrong type");
    c->admin = cJSON_IsTrue(admin);
    if (!has_exp)
        return invalid(err, "token has invalid claims: token is missing required claim: exp claim is required");
    if (c->exp <= now_s)
        return invalid(err, "token expired");
    if (has_nbf && nbf > now_s)
        return invalid(err, "token has invalid claims: token is not valid yet");
    if (!*c->sub)
        return invalid(err, "missing 'sub' claim");
    return 0;
}

int cmn_jwt_verify(const char *token, const void *key, size_t keylen, double now_s, cmn_claims *out, cmn_err *err)
{
    memset(out, 0, sizeof *out);
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.'))
        return invalid(err, "token is malformed: token contains an invalid number of segments");
    cJSON *hdr = part_json(token, (size_t)(dot1 - token));
    if (!hdr)
        return invalid(err, "token is malformed: could not base64 decode or JSON parse the header");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
    char algname[16];
    snprintf(algname, sizeof algname, "%s", cJSON_IsString(alg) ? alg->valuestring : "");
    cJSON_Delete(hdr);
    if (strcmp(algname, "HS256")) {
        char why[128];
        if (!strncmp(algname, "RS", 2) || !strncmp(algname, "PS", 2) || !strncmp(algname, "ES", 2))
            snprintf(why, sizeof why, "token is unverifiable: signing method %s is not supported by etlfs (HS256 only)",
                     algname);
        else
            snprintf(why, sizeof why, "token signature is invalid: signing method \"%s\" is invalid", algname);
        return invalid(err, why);
    }
    size_t siglen;
    const char *sig64 = dot2 + 1;
    unsigned char *sig = cmn_base64url_decode(sig64, strlen(sig64), &siglen);
    unsigned char md[HS256_LEN];
    hs256(key, keylen, token, (size_t)(dot2 - token), md);
    bool good = sig && siglen == HS256_LEN && CRYPTO_memcmp(sig, md, HS256_LEN) == 0;
    free(sig);
    if (!good)
        return invalid(err, "token signature is invalid: signature is invalid");
    cJSON *payload = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!payload)
        return invalid(err, "token is malformed: could not base64 decode or JSON parse the claims");
    int rc = parse_claims(payload, now_s, out, err);
    cJSON_Delete(payload);
    if (rc)
        cmn_claims_free(out);
    return rc;
}

void cmn_claims_free(cmn_claims *c)
{
    for (int i = 0; i < c->nclusters; i++)
        free(c->clusters[i].id);
    for (int i = 0; i < c->nbuckets; i++) {
        free(c->buckets[i].name);
        free(c->buckets[i].provider);
        free(c->buckets[i].ns_uuid);
        free(c->buckets[i].ns_name);
    }
    free(c->clusters);
    free(c->buckets);
    free(c->sub);
    memset(c, 0, sizeof *c);
}

char *cmn_jwt_sign(const char *claims_json, const void *key, size_t keylen)
{
    static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h = cmn_base64url_encode(hdr, strlen(hdr));
    char *p = cmn_base64url_encode(claims_json, strlen(claims_json));
    char *signing = cmn_xasprintf("%s.%s", h, p);
    unsigned char md[HS256_LEN];
    hs256(key, keylen, signing, strlen(signing), md);
    char *s = cmn_base64url_encode(md, sizeof md);
    char *token = cmn_xasprintf("%s.%s", signing, s);
    free(h);
    free(p);
    free(signing);
    free(s);
    return token;
}

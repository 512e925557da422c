/*
 * test_jwt.c - AuthN tokens (common/jwt.c, common/acl.c): a good token and
 * its claims, every way a token must be refused (bad signature, alg none or
 * RS256, expired, no exp, malformed base64url, claims of the wrong type),
 * and AIStore's permission rules (admin, bucket ACL, cluster ACL fallback).
 */
#include "common/jwt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/unit/check.h"

static const char KEY[] = "sekrit";
#define NOW 1800000000.0

/* A token with header hdr and payload claims, signed with KEY. */
static char *forge(const char *hdr, const char *claims)
{
    char *h = cmn_base64url_encode(hdr, strlen(hdr));
    char *good = cmn_jwt_sign(claims, KEY, strlen(KEY));
    char *sig = strrchr(good, '.');
    char *p = cmn_base64url_encode(claims, strlen(claims));
    char *t = cmn_xasprintf("%s.%s%s", h, p, sig); /* signature of another header: only for refusals */
    free(h);
    free(p);
    free(good);
    return t;
}

static void refused(const char *token, const char *want_in_msg, const char *what)
{
    cmn_claims c;
    cmn_err e = {0};
    int rc = cmn_jwt_verify(token, KEY, strlen(KEY), NOW, &c, &e);
    CHECK(rc == -EKEYREJECTED, "%s: rc %d, want -EKEYREJECTED", what, rc);
    CHECK(e.code == EKEYREJECTED && cmn_err_http_status(e.code) == 401, "%s: code %d", what, e.code);
    CHECK(strstr(e.msg, want_in_msg), "%s: message \"%s\" lacks \"%s\"", what, e.msg, want_in_msg);
    CHECK(c.sub == NULL && c.nbuckets == 0, "%s: claims left filled", what);
}

static void refused_claims(const char *claims, const char *want_in_msg)
{
    char *t = cmn_jwt_sign(claims, KEY, strlen(KEY));
    refused(t, want_in_msg, claims);
    free(t);
}

static void test_base64url(void)
{
    const unsigned char raw[] = {0xfb, 0xff, 0xfe, 0x00, 0x41};
    char *e = cmn_base64url_encode(raw, sizeof raw);
    CHECK(!strcmp(e, "-__-AEE"), "base64url = %s", e);
    size_t n = 0;
    unsigned char *d = cmn_base64url_decode(e, strlen(e), &n);
    CHECK(d && n == sizeof raw && !memcmp(d, raw, n), "round trip");
    free(d);
    free(e);
    const char *bad[] = {"-__-AEE=", "+//+AEE", "A", "AB!C", "QR", "QUF"}; /* pad, std alphabet, length, char, spare bits */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = cmn_base64url_decode(bad[i], strlen(bad[i]), &n);
        CHECK(!d, "decoded \"%s\"", bad[i]);
        free(d);
    }
    d = cmn_base64url_decode("QQ", 2, &n);
    CHECK(d && n == 1 && d[0] == 'A', "QQ -> A");
    free(d);
}

static void test_good(void)
{
    const char *claims = "{\"sub\":\"bob\",\"exp\":1900000000,\"iat\":1700000000,\"admin\":false,"
                         "\"clusters\":[{\"id\":\"\",\"perm\":\"12288\"}],"
                         "\"buckets\":[{\"bck\":{\"name\":\"b1\",\"provider\":\"ais\",\"namespace\":{\"uuid\":\"\",\"name\":\"\"}},"
                         "\"perm\":\"771\"}]}";
    char *t = cmn_jwt_sign(claims, KEY, strlen(KEY));
    cmn_claims c;
    cmn_err e = {0};
    int rc = cmn_jwt_verify(t, KEY, strlen(KEY), NOW, &c, &e);
    CHECK(rc == 0, "good token refused: %s", e.msg);
    if (!rc) {
        CHECK(!strcmp(c.sub, "bob") && !c.admin && c.exp == 1900000000.0, "claims");
        CHECK(c.nclusters == 1 && c.clusters[0].perm == 12288 && !*c.clusters[0].id, "cluster ACL");
        CHECK(c.nbuckets == 1 && !strcmp(c.buckets[0].name, "b1") && c.buckets[0].perm == 771, "bucket ACL");
        cmn_claims_free(&c);
    }
    /* the same token with another key, one byte of the signature changed, or a claim changed */
    rc = cmn_jwt_verify(t, "other", 5, NOW, &c, &e);
    CHECK(rc == -EKEYREJECTED && strstr(e.msg, "signature is invalid"), "another key: %d %s", rc, e.msg);
    char *bad = cmn_xstrdup(t);
    char *last = bad + strlen(bad) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    refused(bad, "signature is invalid", "one signature byte");
    free(bad);
    char *admin = cmn_jwt_sign("{\"sub\":\"bob\",\"exp\":1900000000,\"admin\":true}", KEY, strlen(KEY));
    char *dot = strchr(t, '.'), *adot = strchr(admin, '.');
    char *mixed = cmn_xasprintf("%.*s%.*s%s", (int)(dot - t), t, (int)(strrchr(admin, '.') - adot), adot,
                                strrchr(t, '.')); /* bob's signature over an admin payload */
    refused(mixed, "signature is invalid", "payload swapped");
    free(mixed);
    free(admin);
    free(t);
}

static void test_refusals(void)
{
    const char *ok = "{\"sub\":\"bob\",\"exp\":1900000000}";
    /* alg none: no signature at all, or one made with the key */
    char *h = cmn_base64url_encode("{\"alg\":\"none\"}", 14);
    char *p = cmn_base64url_encode(ok, strlen(ok));
    char *t = cmn_xasprintf("%s.%s.", h, p);
    refused(t, "signing method \"none\" is invalid", "alg none");
    free(t);
    free(h);
    free(p);
    t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", ok);
    refused(t, "is invalid", "alg none, signed");
    free(t);
    t = forge("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", ok);
    refused(t, "RS256 is not supported", "RS256");
    free(t);
    t = forge("{\"typ\":\"JWT\"}", ok);
    refused(t, "is invalid", "no alg");
    free(t);
    /* malformed */
    refused("", "invalid number of segments", "empty");
    refused("abc.def", "invalid number of segments", "two parts");
    refused("a.b.c.d", "invalid number of segments", "four parts");
    refused("eyJhbGciOiJIUzI1NiJ9=.e30.AAAA", "could not base64 decode", "padded header");
    refused("e30.e30.AAAA", "invalid", "{} header");
    t = cmn_jwt_sign(ok, KEY, strlen(KEY));
    char *std = cmn_xstrdup(t);
    for (char *c = std; *c; c++)
        if (*c == '-' || *c == '_')
            *c = *c == '-' ? '+' : '/';
    if (strcmp(std, t)) /* only when the token had a character to change */
        refused(std, "invalid", "standard alphabet");
    free(std);
    free(t);
    /* claims */
    refused_claims("{\"sub\":\"bob\",\"exp\":1700000000}", "token expired");
    refused_claims("{\"sub\":\"bob\"}", "exp claim is required");
    refused_claims("{\"sub\":\"bob\",\"exp\":\"1900000000\"}", "wrong type");
    refused_claims("{\"sub\":\"bob\",\"exp\":1900000000,\"nbf\":1850000000}", "not valid yet");
    refused_claims("{\"exp\":1900000000}", "missing 'sub' claim");
    refused_claims("{\"sub\":7,\"exp\":1900000000}", "wrong type");
    refused_claims("{\"sub\":\"bob\",\"exp\":1900000000,\"admin\":\"true\"}", "wrong type");
    refused_claims("{\"sub\":\"bob\",\"exp\":1900000000,\"buckets\":{}}", "wrong type");
    refused_claims("{\"sub\":\"bob\",\"exp\":1900000000,\"buckets\":[{\"bck\":{\"name\":\"b\"},\"perm\":771}]}",
                   "wrong type"); /* perm must be a string, as AIStore sends it */
    refused_claims("{\"sub\":\"bob\",\"exp\":1900000000,\"clusters\":[{\"id\":\"\",\"perm\":\"-1\"}]}", "wrong type");
    refused_claims("{\"sub\":\"bob\",\"exp\":1900000000,\"clusters\":[\"x\"]}", "wrong type");
    refused_claims("[1,2]", "could not base64 decode or JSON parse");
    refused_claims("not json", "could not base64 decode or JSON parse");
    refused_claims("{\"sub\":\"bob\",\"exp\":1900000000} trailing", "could not base64 decode or JSON parse");
}

static cmn_claims claims_of(const char *json)
{
    char *t = cmn_jwt_sign(json, KEY, strlen(KEY));
    cmn_claims c;
    cmn_err e = {0};
    int rc = cmn_jwt_verify(t, KEY, strlen(KEY), NOW, &c, &e);
    CHECK(rc == 0, "claims_of: %s", e.msg);
    free(t);
    return c;
}

static void allowed(const cmn_claims *c, const char *bck, uint64_t perms, bool want, const char *what)
{
    cmn_err e = {0};
    int rc = cmn_acc_check(c, "CLU1", bck, perms, &e);
    CHECK((rc == 0) == want, "%s: rc %d (%s)", what, rc, e.msg);
    if (!want)
        CHECK(rc == -EACCES && cmn_err_http_status(e.code) == 403, "%s: not 403", what);
}

static void test_acl(void)
{
    cmn_claims admin = claims_of("{\"sub\":\"root\",\"exp\":1900000000,\"admin\":true}");
    allowed(&admin, NULL, CMN_ACE_ADMIN, true, "admin: ETL init");
    allowed(&admin, "any", CMN_ACE_PUT, true, "admin: any bucket");
    cmn_claims_free(&admin);

    /* bob: read-only on b1, read-write on b2 (another cluster's b3 does not count), cluster RO */
    cmn_claims bob = claims_of(
        "{\"sub\":\"bob\",\"exp\":1900000000,\"clusters\":[{\"id\":\"\",\"perm\":\"12288\"}],\"buckets\":["
        "{\"bck\":{\"name\":\"b1\",\"provider\":\"ais\",\"namespace\":{\"uuid\":\"\",\"name\":\"\"}},\"perm\":\"771\"},"
        "{\"bck\":{\"name\":\"b2\",\"provider\":\"\",\"namespace\":{\"uuid\":\"CLU1\",\"name\":\"\"}},\"perm\":\"831\"},"
        "{\"bck\":{\"name\":\"b3\",\"provider\":\"ais\",\"namespace\":{\"uuid\":\"OTHER\",\"name\":\"\"}},\"perm\":\"783\"}]}");
    allowed(&bob, "b1", CMN_ACE_GET, true, "bob GET b1");
    allowed(&bob, "b1", CMN_ACE_OBJ_HEAD, true, "bob HEAD b1");
    allowed(&bob, "b1", CMN_ACE_OBJ_LIST, true, "bob list b1");
    allowed(&bob, "b1", CMN_ACE_PUT, false, "bob PUT b1 (read-only)");
    allowed(&bob, "b1", CMN_ACE_OBJ_DELETE, false, "bob DELETE b1");
    allowed(&bob, "b2", CMN_ACE_PUT | CMN_ACE_OBJ_DELETE, true, "bob writes b2 (this cluster's id)");
    allowed(&bob, "b3", CMN_ACE_GET, false, "another cluster's bucket");
    allowed(&bob, "b4", CMN_ACE_GET, false, "bucket with no entry, cluster ACL without GET");
    allowed(&bob, NULL, CMN_ACE_SHOW_CLUSTER, true, "show cluster");
    allowed(&bob, NULL, CMN_ACE_LIST_BUCKETS, true, "list buckets");
    allowed(&bob, NULL, CMN_ACE_ADMIN, false, "ETL init");
    allowed(&bob, NULL, CMN_ACE_CREATE_BUCKET, false, "create bucket");
    allowed(&bob, "b1", CMN_ACE_GET | CMN_ACE_PUT, false, "GET and PUT on b1");
    cmn_claims_free(&bob);

    /* the cluster ACL grants bucket bits to buckets the token does not list */
    cmn_claims ann = claims_of("{\"sub\":\"ann\",\"exp\":1900000000,\"clusters\":[{\"id\":\"CLU1\",\"perm\":\"771\"},"
                               "{\"id\":\"\",\"perm\":\"0\"}],\"buckets\":[{\"bck\":{\"name\":\"b1\"},\"perm\":\"1\"}]}");
    allowed(&ann, "b9", CMN_ACE_GET | CMN_ACE_OBJ_LIST, true, "cluster ACL fallback");
    allowed(&ann, "b1", CMN_ACE_OBJ_LIST, false, "the bucket's ACL overrides the cluster's");
    allowed(&ann, "b1", CMN_ACE_GET, true, "the bucket's ACL");
    cmn_claims_free(&ann);

    cmn_claims none = claims_of("{\"sub\":\"eve\",\"exp\":1900000000}");
    allowed(&none, "b1", CMN_ACE_GET, false, "no ACL at all");
    allowed(&none, NULL, CMN_ACE_SHOW_CLUSTER, false, "no cluster ACL");
    cmn_claims_free(&none);

    uint64_t v;
    CHECK(cmn_acc_parse("ro", &v) == 0 && v == CMN_ACC_RO, "ro");
    CHECK(cmn_acc_parse("rw", &v) == 0 && v == CMN_ACC_RW, "rw");
    CHECK(cmn_acc_parse("771", &v) == 0 && v == 771, "number");
    CHECK(cmn_acc_parse("x", &v) == -EINVAL, "bad");
    CHECK(CMN_ACC_RO == 771 && CMN_ACC_RW == 831, "AIStore's AccessRO and AccessRW");
    CHECK(CMN_ACE_ADMIN == 131072, "AIStore's AceAdmin is 1<<17");
}

int main(void)
{
    cmn_mem_init();
    test_base64url();
    test_good();
    test_refusals();
    test_acl();
    return CHECK_RESULT();
}

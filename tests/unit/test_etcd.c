/*
 * test_etcd.c - the etcd gateway's JSON as common/etcd.c writes and reads
 * it: base64 keys and values, range ends of prefixes, int64s as strings,
 * and watch messages (puts, deletes, compaction). The shapes are the ones
 * etcd 3.4's gateway sends (captured with curl against Debian's etcd).
 */
#include "common/etcd.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void test_prefix_end(void)
{
    char *e = cmn_etcd_prefix_end("/etlfs/c1/");
    CHECK(!strcmp(e, "/etlfs/c10"), "got %s", e); /* '/' + 1 == '0' */
    free(e);
    e = cmn_etcd_prefix_end("a\xff");
    CHECK(!strcmp(e, "b"), "trailing 0xff dropped, got %s", e);
    free(e);
}

static void test_messages(void)
{
    cJSON *m = cmn_etcd_range_msg("foo", true);
    char *s = cJSON_PrintUnformatted(m);
    /* "foo" = Zm9v, range end "fop" = Zm9w */
    CHECK(!strcmp(s, "{\"key\":\"Zm9v\",\"range_end\":\"Zm9w\"}"), "range: %s", s);
    free(s);
    cJSON_Delete(m);
    m = cmn_etcd_put_msg("foo", "bar", 7587899228643062021LL);
    s = cJSON_PrintUnformatted(m);
    /* a lease id past 2^53 keeps every digit: int64s travel as strings */
    CHECK(!strcmp(s, "{\"key\":\"Zm9v\",\"value\":\"YmFy\",\"lease\":\"7587899228643062021\"}"), "put: %s", s);
    free(s);
    cJSON_Delete(m);
}

static void test_kv_parse(void)
{
    cJSON *j = cJSON_Parse("{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"5\",\"version\":\"1\","
                           "\"value\":\"YmFy\",\"lease\":\"7587899228643062021\"}");
    cmn_etcd_kv kv;
    CHECK(cmn_etcd_kv_parse(j, &kv) == 0, "a kv parses");
    CHECK(!strcmp(kv.key, "foo") && !strcmp(kv.value, "bar") && kv.value_len == 3, "decoded %s=%s", kv.key, kv.value);
    CHECK(kv.create_rev == 2 && kv.mod_rev == 5 && kv.lease == 7587899228643062021LL, "revisions and lease");
    cmn_etcd_kv_free(&kv);
    cJSON_Delete(j);
    /* the gateway omits an empty value */
    j = cJSON_Parse("{\"key\":\"Zm9v\",\"mod_revision\":\"9\"}");
    CHECK(cmn_etcd_kv_parse(j, &kv) == 0 && !strcmp(kv.value, "") && kv.mod_rev == 9, "no value is \"\"");
    cmn_etcd_kv_free(&kv);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"value\":\"YmFy\"}");
    CHECK(cmn_etcd_kv_parse(j, &kv) == -EINVAL, "a kv without a key is refused");
    cJSON_Delete(j);
}

typedef struct seen {
    int puts, dels, stop_after;
    char last[64];
} seen;

static int on_event(void *ctx, const cmn_etcd_event *ev)
{
    seen *s = ctx;
    if (ev->deleted)
        s->dels++;
    else
        s->puts++;
    snprintf(s->last, sizeof s->last, "%s", ev->kv.key);
    return s->stop_after && s->puts + s->dels >= s->stop_after;
}

static void test_watch_msg(void)
{
    seen s = {0};
    cmn_err err;
    int64_t next = 3;
    const char *created = "{\"result\":{\"header\":{\"revision\":\"2\"},\"created\":true}}";
    CHECK(cmn_etcd_watch_msg(created, strlen(created), on_event, &s, &next, &err) == 0, "created: %s", err.msg);
    CHECK(next == 3 && s.puts == 0, "the created message moves nothing");
    const char *evs = "{\"result\":{\"header\":{\"revision\":\"7\"},\"events\":["
                      "{\"kv\":{\"key\":\"Zm9v\",\"create_revision\":\"6\",\"mod_revision\":\"6\",\"value\":\"YmFy\"}},"
                      "{\"type\":\"DELETE\",\"kv\":{\"key\":\"Zm9w\",\"mod_revision\":\"7\"}}]}}";
    CHECK(cmn_etcd_watch_msg(evs, strlen(evs), on_event, &s, &next, &err) == 0, "events: %s", err.msg);
    CHECK(s.puts == 1 && s.dels == 1 && !strcmp(s.last, "fop"), "one put, one delete (%d, %d, %s)", s.puts, s.dels,
          s.last);
    CHECK(next == 8, "resume after the last event, got %lld", (long long)next);
    seen stop = {.stop_after = 1};
    CHECK(cmn_etcd_watch_msg(evs, strlen(evs), on_event, &stop, &next, &err) == 1 && stop.puts == 1 && !stop.dels,
          "the callback stops the stream");
    const char *compacted = "{\"result\":{\"header\":{\"revision\":\"9\"},\"canceled\":true,"
                            "\"compact_revision\":\"5\"}}";
    CHECK(cmn_etcd_watch_msg(compacted, strlen(compacted), on_event, &s, &next, &err) == -ERANGE,
          "compaction asks for a new read");
    const char *bad = "{\"error\":{\"grpc_code\":14,\"message\":\"unavailable\"}}";
    CHECK(cmn_etcd_watch_msg(bad, strlen(bad), on_event, &s, &next, &err) == -EIO && strstr(err.msg, "unavailable"),
          "an error message ends the watch: %s", err.msg);
}

static void test_endpoints(void)
{
    cmn_err err;
    cmn_etcd *e = cmn_etcd_new("http://127.0.0.1:2379,http://10.0.0.2:2379/", &err);
    CHECK(e != NULL, "two endpoints: %s", err.msg);
    cmn_etcd_free(e);
    CHECK(cmn_etcd_new("127.0.0.1:2379", &err) == NULL && err.code == EINVAL, "an endpoint needs its scheme");
    CHECK(cmn_etcd_new("", &err) == NULL, "none is an error");
}

int main(void)
{
    cmn_mem_init();
    test_prefix_end();
    test_messages();
    test_kv_parse();
    test_watch_msg();
    test_endpoints();
    return CHECK_RESULT();
}

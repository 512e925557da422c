/*
 * test_ais_client.c - what the AIStore client builds and reads without a
 * server (common/ais_client.c): URLs with Go's escaping per path segment,
 * query escaping, action bodies, status -> errno, error bodies -> messages,
 * JSON answers of the wrong shape.
 */
#include "common/ais_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/unit/check.h"

static const cmn_ais ais = {.endpoint = "http://h:8080/"};

static void url_is(cmn_buf *u, const char *want)
{
    CHECK(u->data && !strcmp(u->data, want), "url %s, want %s", u->data, want);
    cmn_buf_reset(u);
}

static void test_urls(void)
{
    cmn_buf u;
    cmn_buf_init(&u);
    cmn_ais_url_bucket(&u, &ais, NULL);
    cmn_ais_url_query(&u, "provider", "ais");
    url_is(&u, "http://h:8080/v1/buckets?provider=ais");
    cmn_ais_url_bucket(&u, &ais, "b-1.x");
    url_is(&u, "http://h:8080/v1/buckets/b-1.x");
    cmn_ais_url_object(&u, &ais, "b", "dir/a b/c?d#e@f%");
    url_is(&u, "http://h:8080/v1/objects/b/dir/a%20b/c%3Fd%23e@f%25");
    cmn_ais_url_object(&u, &ais, "b", "a//b");
    url_is(&u, "http://h:8080/v1/objects/b/a//b");
    cmn_ais_url_etl(&u, &ais, "x/y");
    cmn_buf_puts(&u, "/stop");
    url_is(&u, "http://h:8080/v1/etl/x%2Fy/stop");
    cmn_ais_url(&u, &ais, "cluster");
    cmn_ais_url_query(&u, "what", "qryxstats");
    cmn_ais_url_query(&u, "bck_to", "ais/@#/d st/");
    url_is(&u, "http://h:8080/v1/cluster?what=qryxstats&bck_to=ais%2F%40%23%2Fd%20st%2F");
    cmn_buf_free(&u);
}

static void test_action(void)
{
    char *s = cmn_ais_action("create-bck", "", NULL);
    CHECK(!strcmp(s, "{\"action\":\"create-bck\",\"name\":\"\",\"value\":null}"), "%s", s);
    free(s);
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "id", "e");
    s = cmn_ais_action("copy-obj", "o", v);
    CHECK(!strcmp(s, "{\"action\":\"copy-obj\",\"name\":\"o\",\"value\":{\"id\":\"e\"}}"), "%s", s);
    free(s);
}

static void test_status(void)
{
    static const struct {
        long status;
        int err;
    } tab[] = {{200, 0},        {204, 0},       {400, -EINVAL},     {403, -EACCES}, {404, -ENOENT},
               {409, -EEXIST},  {413, -E2BIG},  {416, -ERANGE},     {501, -EOPNOTSUPP},
               {503, -EAGAIN},  {504, -ETIMEDOUT}, {507, -ENOSPC},  {500, -EIO},    {502, -EIO}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        CHECK(cmn_ais_status_errno(tab[i].status) == tab[i].err, "status %ld", tab[i].status);
        /* and back, where the target makes the status from an errno */
        if (tab[i].err && tab[i].err != -EIO)
            CHECK(cmn_err_http_status(tab[i].err) == tab[i].status, "errno for %ld does not map back",
                  tab[i].status);
    }
}

static void message_is(long status, const char *body, const char *want)
{
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    r.status = status;
    cmn_buf_puts(&r.body, body);
    cmn_buf m;
    cmn_buf_init(&m);
    cmn_ais_err_message(&r, &m);
    CHECK(m.data && !strcmp(m.data, want), "message of %s: %s, want %s", body, m.data, want);
    cmn_buf_free(&m);
    cmn_http_resp_free(&r);
}

static void test_messages(void)
{
    message_is(404, "{\"message\":\"bucket x does not exist\",\"status\":404}", "bucket x does not exist");
    message_is(405, "Method Not Allowed\r\nmore", "Method Not Allowed");
    message_is(500, "{\"message\":\"\"}", "{\"message\":\"\"}");
    message_is(502, "", "HTTP error 502");
    message_is(500, "\n", "HTTP error 500");
}

static void test_json(void)
{
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    cJSON *j;
    CHECK(cmn_ais_json(&r, cJSON_IsArray, &j) == 0 && cJSON_GetArraySize(j) == 0, "empty body is []");
    cJSON_Delete(j);
    CHECK(cmn_ais_json(&r, cJSON_IsObject, &j) == -EBADMSG && !j, "empty body is no object");
    cmn_buf_puts(&r.body, "{\"a\":1}");
    CHECK(cmn_ais_json(&r, cJSON_IsObject, &j) == 0 && j, "object");
    cJSON_Delete(j);
    CHECK(cmn_ais_json(&r, cJSON_IsArray, &j) == -EBADMSG && !j, "object is no array");
    cmn_buf_reset(&r.body);
    cmn_buf_puts(&r.body, "{nope");
    CHECK(cmn_ais_json(&r, cJSON_IsObject, &j) == -EBADMSG, "bad JSON");
    cmn_http_resp_free(&r);
}

int main(void)
{
    cmn_mem_init();
    test_urls();
    test_action();
    test_status();
    test_messages();
    test_json();
    return CHECK_RESULT();
}

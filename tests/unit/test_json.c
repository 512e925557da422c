/*
 * test_json.c - strict parsing of JSON from outside (common/json.c): a body
 * is one whole JSON value or it is refused with the reason, never read as a
 * prefix of itself or cut short at a NUL.
 */
#include "common/cmn.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>
#include "tests/unit/check.h"

static void ok(const char *text, size_t len)
{
    cJSON *j = (cJSON *)1;
    cmn_err err = {0};
    int rc = cmn_json_parse(text, len, &j, &err);
    CHECK(rc == 0 && j, "refused %.*s: %s", (int)len, text, err.msg);
    cJSON_Delete(j);
}

static void bad(const char *text, size_t len, const char *why)
{
    cJSON *j = (cJSON *)1;
    cmn_err err = {0};
    int rc = cmn_json_parse(text, len, &j, &err);
    CHECK(rc == -EINVAL && !j, "accepted %.*s", (int)len, text);
    CHECK(err.code == EINVAL && strstr(err.msg, why), "%.*s: message \"%s\" lacks \"%s\"", (int)len, text, err.msg, why);
}

#define OK(s) ok(s, sizeof(s) - 1)
#define BAD(s, why) bad(s, sizeof(s) - 1, why)

int main(void)
{
    cmn_mem_init();
    OK("{\"action\":\"create-bck\"}");
    OK("  {\"a\": [1, 2, {\"b\": null}]}\r\n\t ");
    OK("\"caf\xc3\xa9\"");
    OK("{\"s\":\"a\\\\u0000\"}"); /* an escaped backslash, then the text u0000 */
    OK("{\"s\":\"\\u0041\"}");
    BAD("{\"action\":\"create-bck\",", "malformed");
    BAD("", "malformed");
    BAD("{\"action\":\"list\"} garbage", "after the JSON value");
    BAD("{\"a\":1}{\"b\":2}", "after the JSON value");
    BAD("{\"action\":\"li\0st\"}", "NUL byte");
    BAD("{\"action\":\"a\\u0000b\"}", "\\u0000");
    BAD("{\"name\":\"bad\x80name\"}", "UTF-8");
    /* the length is honoured: text past it is not read */
    ok("{\"a\":1}XYZ", 7);
    return CHECK_RESULT();
}

/*
 * json.c - the one way a JSON text from outside becomes a cJSON tree: whole,
 * strict, or refused with the reason. cJSON alone accepts a prefix of its
 * input (trailing garbage is ignored) and lets a NUL (raw, or \u0000) cut a
 * string short, so a body could mean something other than what it says.
 */
#include "common/cmn.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Whether a well-formed JSON text holds the escape \u0000. */
static bool has_nul_escape(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 5 < len && !memcmp(s + i + 2, "0000", 4))
            return true;
        i++; /* the escaped character: "\\\\u0000" is a backslash, then text */
    }
    return false;
}

int cmn_json_parse(const char *data, size_t len, struct cJSON **out, cmn_err *err)
{
    *out = NULL;
    if (memchr(data, '\0', len))
        return cmn_err_set(err, EINVAL, "invalid JSON body: it contains a NUL byte");
    if (!cmn_utf8_valid(data, len))
        return cmn_err_set(err, EINVAL, "invalid JSON body: it is not valid UTF-8");
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(data, len, &end, false);
    if (!j) {
        size_t at = end && end >= data && end <= data + len ? (size_t)(end - data) : 0;
        return cmn_err_set(err, EINVAL, "invalid JSON body: malformed at byte %zu of %zu", at, len);
    }
    size_t at = (size_t)(end - data);
    while (at < len && is_ws(data[at]))
        at++;
    if (at < len) {
        cJSON_Delete(j);
        return cmn_err_set(err, EINVAL, "invalid JSON body: unexpected text after the JSON value at byte %zu", at);
    }
    if (has_nul_escape(data, len)) {
        cJSON_Delete(j);
        return cmn_err_set(err, EINVAL, "invalid JSON body: a string holds \\u0000");
    }
    *out = j;
    return 0;
}

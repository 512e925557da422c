/*
 * names.c - which bucket and object names are acceptable. Object names become
 * paths under a bucket's directory, so anything that could climb out of it or
 * alias another name is refused here, before any file is touched.
 */
#include "common/cmn.h"

#include <stdio.h>
#include <string.h>

#define BUCKET_NAME_MAX 255
#define OBJECT_NAME_MAX 1023
#define SEGMENT_MAX 255 /* NAME_MAX of the file systems we store on */

bool cmn_bucket_name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > BUCKET_NAME_MAX || strcmp(name, ".") == 0 || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

static bool fail(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
    return false;
}

bool cmn_object_name_valid(const char *name, char *why, size_t whylen)
{
    if (!name || !*name)
        return fail(why, whylen, "object name is empty");
    size_t len = strlen(name);
    if (len > OBJECT_NAME_MAX)
        return fail(why, whylen, "object name is longer than 1023 bytes");
    if (name[0] == '/')
        return fail(why, whylen, "object name must not be absolute");
    if (name[len - 1] == '/')
        return fail(why, whylen, "object name must not end with '/'");
    /* names travel in JSON (listings, messages), which must be UTF-8 */
    if (!cmn_utf8_valid(name, len))
        return fail(why, whylen, "object name is not valid UTF-8");
    const char *seg = name;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0)
            return fail(why, whylen, "object name has an empty path segment");
        if (n > SEGMENT_MAX)
            return fail(why, whylen, "object name has a path segment longer than 255 bytes");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return fail(why, whylen, "object name has a '.' or '..' path segment");
        if (!end)
            break;
        seg = end + 1;
    }
    return true;
}

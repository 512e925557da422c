/*
 * test_names.c - bucket and object name rules (common/names.c). Object names
 * become paths under a bucket's directory, so every way out of it must be
 * refused; ordinary oddities (spaces, unicode, dots inside a segment) must not.
 */
#include "common/cmn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/unit/check.h"


static void obj_ok(const char *name)
{
    char why[128] = "";
    CHECK(cmn_object_name_valid(name, why, sizeof why), "object name \"%s\" refused: %s", name, why);
}

static void obj_bad(const char *name)
{
    char why[128] = "";
    CHECK(!cmn_object_name_valid(name, why, sizeof why), "object name \"%s\" accepted", name);
    CHECK(*why, "object name \"%s\" refused without a reason", name);
    /* the reason is optional: a NULL buffer must not crash */
    CHECK(!cmn_object_name_valid(name, NULL, 0), "object name \"%s\" accepted without why", name);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* n times c as an object name: accepted (ok) or refused */
static void obj_run(char c, size_t n, bool ok)
{
    char *s = repeat(c, n);
    if (ok)
        obj_ok(s);
    else
        obj_bad(s);
    free(s);
}

static void test_bucket_names(void)
{
    const char *good[] = {"a", "abc", "A-b_c.d", "0", "INVALID_BCK_NAME", "a.b", "x-"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(cmn_bucket_name_valid(good[i]), "bucket name \"%s\" refused", good[i]);
    const char *bad[] = {"", ".", "..", "a..b", "a/b", "a b", "a@b", "a#b", "ä", "a\tb", "/", "a%2Fb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!cmn_bucket_name_valid(bad[i]), "bucket name \"%s\" accepted", bad[i]);
    CHECK(!cmn_bucket_name_valid(NULL), "NULL bucket name accepted");
    char *s = repeat('b', 255);
    CHECK(cmn_bucket_name_valid(s), "255-byte bucket name refused");
    free(s);
    s = repeat('b', 256);
    CHECK(!cmn_bucket_name_valid(s), "256-byte bucket name accepted");
    free(s);
}

static void test_object_names(void)
{
    obj_ok("a");
    obj_ok("a/b/c");
    obj_ok("with space");
    obj_ok("dir with space/file name.txt");
    obj_ok("unicode/\xc3\xa4\xc3\xb6\xc3\xbc/\xe6\x97\xa5\xe6\x9c\xac.txt"); /* äöü/日本.txt */
    obj_ok("...");       /* only "." and ".." segments are special */
    obj_ok("a/.hidden");
    obj_ok("a/..b/c..");
    obj_ok("%2E%2E");    /* names arrive decoded: this is a literal name */
    obj_ok("a-b");
    obj_ok("a.b/c");
    obj_ok("@#$&+,:;=~");

    obj_bad("");
    obj_bad("/abs");
    obj_bad("//tmp/x");
    /* not UTF-8: a lone continuation byte, a truncated sequence, an overlong '/' */
    obj_bad("a\x80" "b");
    obj_bad("dir/\xc3");
    obj_bad("\xc0\xaf");
    obj_ok("caf\xc3\xa9/\xe2\x82\xac");
    obj_bad("/");
    obj_bad("..");
    obj_bad(".");
    obj_bad("../x");
    obj_bad("a/../b");
    obj_bad("a/..");
    obj_bad("a/./b");
    obj_bad("./a");
    obj_bad("a//b");
    obj_bad("a/");
    obj_bad("a/b/");
    CHECK(!cmn_object_name_valid(NULL, NULL, 0), "NULL object name accepted");

    /* total length: 1023 bytes is the limit (NUL cannot occur inside a C string;
     * the HTTP layer decodes %00 into a terminator, so the name is cut short) */
    char *s = malloc(1100);
    /* 1023 bytes made of 4 segments of 255 + separators: 4*255 + 3 = 1023 */
    size_t n = 0;
    for (int seg = 0; seg < 4; seg++) {
        if (seg)
            s[n++] = '/';
        memset(s + n, 'x', 255);
        n += 255;
    }
    s[n] = '\0';
    CHECK(n == 1023, "built %zu bytes", n);
    obj_ok(s);
    s[n++] = 'y'; /* 1024 bytes */
    s[n] = '\0';
    obj_bad(s);
    free(s);
    obj_run('z', 1024, false);
    obj_run('z', 5000, false);

    /* one segment: 255 bytes is the file systems' NAME_MAX */
    obj_run('s', 255, true);
    s = repeat('s', 256);
    obj_bad(s);
    char *nested = malloc(300);
    snprintf(nested, 300, "dir/%s", s);
    obj_bad(nested);
    free(nested);
    free(s);

    char why[128];
    cmn_object_name_valid("a/../b", why, sizeof why);
    CHECK(strstr(why, ".."), "reason for a/../b does not name the rule: %s", why);
    cmn_object_name_valid("a/", why, sizeof why);
    CHECK(strstr(why, "end"), "reason for a/ does not name the rule: %s", why);
    /* a tiny reason buffer is truncated, not overflowed */
    char tiny[4];
    CHECK(!cmn_object_name_valid("", tiny, sizeof tiny) && strlen(tiny) == 3, "tiny why buffer: %s", tiny);
}

int main(void)
{
    test_bucket_names();
    test_object_names();
    return CHECK_RESULT();
}

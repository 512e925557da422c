/*
 * test_codec.c - the wire encodings of common/: base64 (Go []byte fields,
 * strict on input), XXH64 hex, URL decoding and Go's url.PathEscape, and Go
 * duration strings in both directions.
 */
#include "common/cmn.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include "tests/unit/check.h"


/* ---- base64 */

static void b64_known(const char *plain, const char *enc)
{
    char *e = cmn_base64_encode(plain, strlen(plain));
    CHECK(e && !strcmp(e, enc), "base64(\"%s\") = %s, want %s", plain, e ? e : "(null)", enc);
    free(e);
    size_t n = 0;
    unsigned char *d = cmn_base64_decode(enc, &n);
    CHECK(d && n == strlen(plain) && !memcmp(d, plain, n), "decode(%s) wrong", enc);
    free(d);
}

static void b64_bad(const char *s)
{
    size_t n = 777;
    unsigned char *d = cmn_base64_decode(s, &n);
    CHECK(!d, "decode(\"%s\") accepted, %zu bytes", s, n);
    free(d);
}

static void test_base64(void)
{
    /* RFC 4648 test vectors */
    b64_known("", "");
    b64_known("f", "Zg==");
    b64_known("fo", "Zm8=");
    b64_known("foo", "Zm9v");
    b64_known("foob", "Zm9vYg==");
    b64_known("fooba", "Zm9vYmE=");
    b64_known("foobar", "Zm9vYmFy");
    b64_known("\xfb\xff", "+/8=");

    /* every byte value and every length mod 3 */
    unsigned char all[259];
    for (int i = 0; i < 259; i++)
        all[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof all; len++) {
        char *e = cmn_base64_encode(all, len);
        size_t n = 0;
        unsigned char *d = e ? cmn_base64_decode(e, &n) : NULL;
        CHECK(e && strlen(e) == 4 * ((len + 2) / 3), "encoded length for %zu", len);
        CHECK(d && n == len && !memcmp(d, all, len), "round trip of %zu bytes", len);
        free(e);
        free(d);
    }

    /* strict: no missing padding, no URL alphabet, no whitespace, no data after '=' */
    b64_bad("Zg");
    b64_bad("Zg=");
    b64_bad("Zm9");
    b64_bad("Z===");
    b64_bad("====");
    b64_bad("Zg==Zg==");
    b64_bad("Z=g=");
    b64_bad("Zm=v");
    b64_bad("-_8=");
    b64_bad("Zm9v\n");
    b64_bad("Zm 9v");
    b64_bad("Zm9v!");
    b64_bad("\xc3\xa4\xc3\xa4");
}

/* ---- xxhash hex */

static void test_xxhash(void)
{
    char hex[17];
    /* XXH64("", seed 0) is the well-known ef46db3751d8e999 */
    cmn_xxhash_hex(XXH64("", 0, 0), hex);
    CHECK(!strcmp(hex, "ef46db3751d8e999"), "xxh64(\"\") = %s", hex);
    cmn_xxhash_hex(0, hex);
    CHECK(!strcmp(hex, "0000000000000000"), "zero padded: %s", hex);
    cmn_xxhash_hex(0xABCDEF0123456789ULL, hex);
    CHECK(!strcmp(hex, "abcdef0123456789"), "lower case: %s", hex);
}

/* ---- URL escaping */

static void escape_is(const char *in, const char *want)
{
    char *e = cmn_path_escape(in);
    CHECK(e && !strcmp(e, want), "path_escape(\"%s\") = \"%s\", want \"%s\"", in, e ? e : "(null)", want);
    if (e) {
        /* and decoding gives the input back */
        CHECK(cmn_url_decode(e) == 0 && !strcmp(e, in), "url_decode(path_escape(\"%s\")) = \"%s\"", in, e);
    }
    free(e);
    /* the same escape written into a caller's buffer, with its length */
    char out[256];
    size_t n = cmn_path_escape_to(out, in);
    CHECK(n == strlen(want) && !strcmp(out, want), "path_escape_to(\"%s\") = \"%s\" (%zu)", in, out, n);
}

static void test_url(void)
{
    escape_is("ais/@#/b/o 1", "ais%2F@%23%2Fb%2Fo%201");
    escape_is("", "");
    escape_is("plain-Name_1.2~", "plain-Name_1.2~");
    escape_is("$&+,:;=@", "$&+,:;=@");
    escape_is("?#%[]\"'<>\\^`{|}!*()", "%3F%23%25%5B%5D%22%27%3C%3E%5C%5E%60%7B%7C%7D%21%2A%28%29");
    escape_is("\xc3\xa4", "%C3%A4");
    escape_is("\x01\x7f\xff", "%01%7F%FF");
    /* every byte alone: Go's PathEscape keeps exactly the unreserved and "$&+,:;=@" */
    for (int c = 1; c < 256; c++) {
        char in[2] = {(char)c, 0}, want[4];
        if (isalnum(c) && c < 128)
            snprintf(want, sizeof want, "%c", c);
        else if (strchr("-_.~$&+,:;=@", c))
            snprintf(want, sizeof want, "%c", c);
        else
            snprintf(want, sizeof want, "%%%02X", c);
        escape_is(in, want);
    }

    char s1[] = "a%20b%2Fc%2fd+e";
    CHECK(cmn_url_decode(s1) == 0 && !strcmp(s1, "a b/c/d+e"), "decode: \"%s\"", s1);
    char s2[] = "%2E%2E/x";
    CHECK(cmn_url_decode(s2) == 0 && !strcmp(s2, "../x"), "decode dots: \"%s\"", s2);
    char bad1[] = "abc%", bad2[] = "abc%2", bad3[] = "%zz", bad4[] = "%g0";
    CHECK(cmn_url_decode(bad1) == -EINVAL, "decode of \"abc%%\" accepted");
    CHECK(cmn_url_decode(bad2) == -EINVAL, "decode of \"abc%%2\" accepted");
    CHECK(cmn_url_decode(bad3) == -EINVAL, "decode of \"%%zz\" accepted");
    CHECK(cmn_url_decode(bad4) == -EINVAL, "decode of \"%%g0\" accepted");
}

/* ---- Go durations */

static void parse_is(const char *s, long long want_ns)
{
    int64_t ns = -1;
    CHECK(cmn_parse_duration(s, &ns) == 0 && ns == want_ns, "parse \"%s\" = %lld (rc), want %lld", s,
          (long long)ns, want_ns);
}

static void parse_bad(const char *s)
{
    int64_t ns;
    CHECK(cmn_parse_duration(s, &ns) == -EINVAL, "parse of \"%s\" accepted as %lld", s, (long long)ns);
}

static void format_is(long long ns, const char *want)
{
    char out[32];
    cmn_format_duration(ns, out, sizeof out);
    CHECK(!strcmp(out, want), "format %lld = \"%s\", want \"%s\"", ns, out, want);
}

static void test_durations(void)
{
    const long long S = 1000000000LL, M = 60 * S, H = 60 * M;
    parse_is("", 0);
    parse_is("0", 0);
    parse_is("0s", 0);
    parse_is("45s", 45 * S);
    parse_is("5m", 5 * M);
    parse_is("5m0s", 5 * M);
    parse_is("1h30m", H + 30 * M);
    parse_is("1h30m15s", H + 30 * M + 15 * S);
    parse_is("250ms", 250000000LL);
    parse_is("1.5s", 1500000000LL);
    parse_is("1.5h", H + 30 * M);
    parse_is("10us", 10000);
    parse_is("10\xc2\xb5s", 10000); /* µs */
    parse_is("7ns", 7);
    parse_is("2h45m30.5s", 2 * H + 45 * M + 30 * S + 500000000LL);
    parse_bad("5");
    parse_bad("s");
    parse_bad("5x");
    parse_bad("-5s");
    parse_bad("5 s");
    parse_bad("5s ");
    parse_bad("1d");
    parse_bad("abc");
    /* numbers as Go writes them, within int64 ns (found by fuzzing) */
    parse_is("2562047h", 2562047 * H);
    parse_bad("2562048h");
    parse_bad("3077777777777777777777777777777777777777s");
    parse_bad("3m1e999s");
    parse_bad("1e3s");
    parse_bad("0x10s");
    parse_bad(".s");
    parse_bad("1..5s");
    parse_bad("1.5.5s");
    parse_bad("2562047h2562047h");

    format_is(0, "0s");
    format_is(-5, "0s");
    format_is(45 * S, "45s");
    format_is(5 * M, "5m");        /* Go prints "5m0s"; AIStore trims the "0s" */
    format_is(H, "1h0m");          /* AIStore trims only a trailing "0s" */
    format_is(H + 30 * M, "1h30m");
    format_is(H + 30 * M + 15 * S, "1h30m15s");
    format_is(90 * S, "1m30s");
    format_is(250000000LL, "250ms");
    /* fractions are kept, as Go prints them (found by fuzz_etl_msg: "3h4ms" showed as "3h0m0s") */
    format_is(3 * H + 4000000LL, "3h0m0.004s");
    format_is(1500000000LL, "1.5s");
    format_is(1500000LL, "1.5ms");
    format_is(1500, "1.5\xc2\xb5s");
    format_is(7, "7ns");

    /* format then parse is the identity */
    long long samples[] = {S,          59 * S,        61 * S,      3599 * S, 3601 * S, 26 * H + 7 * S,
                           3 * H + 4000000LL, 1, 999, 1001, 999999999LL, 1000000001LL, 2562047 * H};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char out[32];
        int64_t back = -1;
        cmn_format_duration(samples[i], out, sizeof out);
        CHECK(cmn_parse_duration(out, &back) == 0 && back == samples[i], "round trip %lld via \"%s\" = %lld",
              samples[i], out, (long long)back);
    }
}

/* ---- UTF-8 */

static void test_utf8(void)
{
    static const struct { const char *s; bool ok; } cases[] = {
        {"", true}, {"plain", true}, {"caf\xc3\xa9", true}, {"\xe2\x94\x81\xe2\x94\x81", true},
        {"\xf0\x9f\x98\x80", true},
        {"\x81", false},                 /* a continuation byte alone */
        {"\xe2\x94", false},            /* cut in the middle of a character */
        {"\xc0\xaf", false},            /* overlong '/' */
        {"\xed\xa0\x80", false},        /* a surrogate */
        {"\xf4\x90\x80\x80", false},    /* above U+10FFFF */
        {"\xff", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(cmn_utf8_valid(cases[i].s, strlen(cases[i].s)) == cases[i].ok, "utf8_valid case %zu", i);
    char cut[] = "ok \xe2\x94\x81\xe2\x94";
    cmn_utf8_scrub(cut);
    CHECK(!strcmp(cut, "ok \xe2\x94\x81??"), "scrub of a cut character: \"%s\"", cut);
    char fine[] = "caf\xc3\xa9";
    cmn_utf8_scrub(fine);
    CHECK(!strcmp(fine, "caf\xc3\xa9"), "scrub changed valid text");
}

int main(void)
{
    test_base64();
    test_xxhash();
    test_url();
    test_durations();
    test_utf8();
    return CHECK_RESULT();
}

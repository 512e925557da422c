/*
 * codec.c - byte encodings on the wire: base64 (Go []byte fields, and the
 * URL alphabet of JWTs), XXH64 hex (AIStore's default checksum), and URL
 * escaping of path segments.
 */
#include "common/cmn.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cmn_base64_encode(const void *data, size_t len)
{
    char *out = cmn_xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* The value of digit c in a number system whose digits are alphabet, in
 * order (base64's, hex's); -1 for any other character. */
static int digit_value(const char *alphabet, int c)
{
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

static int b64val(unsigned char c)
{
    return digit_value("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", c);
}

unsigned char *cmn_base64_decode(const char *s, size_t *outlen)
{
    size_t len = strlen(s);
    if (len % 4)
        return NULL;
    unsigned char *out = cmn_xmalloc(len / 4 * 3 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            v[k] = pad ? -1 : b64val(c);
            if (v[k] < 0) {
                free(out);
                return NULL;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[n++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[n++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[n++] = (unsigned char)w;
    }
    out[n] = '\0';
    *outlen = n;
    return out;
}

/* JWTs use the URL alphabet without padding (RFC 7515 section 2). */
char *cmn_base64url_encode(const void *data, size_t len)
{
    char *out = cmn_base64_encode(data, len);
    char *w = out;
    for (char *p = out; *p && *p != '='; p++)
        *w++ = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    *w = '\0';
    return out;
}

/* Strict, as Go's RawURLEncoding.Strict(): no padding, no other alphabet,
 * and the unused low bits of the last character must be zero. */
unsigned char *cmn_base64url_decode(const char *s, size_t len, size_t *outlen)
{
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = cmn_xmalloc(len / 4 * 3 + 3);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v = c == '-' ? 62 : c == '_' ? 63 : (c == '+' || c == '/') ? -1 : b64val(c);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc) { /* non-zero padding bits: another encoding of the same bytes */
        free(out);
        return NULL;
    }
    out[n] = '\0';
    *outlen = n;
    return out;
}

/* by hand: every stored object and every job's output takes one, and
 * snprintf's format parsing cost more than the hash of 16 KiB */
void cmn_xxhash_hex(uint64_t h, char out[17])
{
    for (int i = 15; i >= 0; i--, h >>= 4)
        out[i] = "0123456789abcdef"[h & 15];
    out[16] = '\0';
}

static int hexval(char c) { return digit_value("0123456789abcdef", tolower((unsigned char)c)); }

int cmn_url_decode(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '%') {
            int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            *w++ = (char)(hi << 4 | lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return 0;
}

/* s with every byte but ASCII letters, digits and keep as %XX (space as '+'
 * if plus), into out (room for 3 * strlen(s) + 1); the length written. A
 * table, not printf: a path has a '/' every few bytes. */
static size_t escape_to(char *out, const char *s, const char *keep, bool plus)
{
    static const char hex[] = "0123456789ABCDEF";
    /* the bytes that stay, as a bit set: a lookup per byte, not a strchr
     * (an offline job escapes every source's path) */
    uint64_t stay[4] = {0x03ff000000000000ULL, 0x07fffffe07fffffeULL, 0, 0}; /* 0-9, A-Z, a-z */
    for (const unsigned char *k = (const unsigned char *)keep; *k; k++)
        stay[*k >> 6] |= 1ULL << (*k & 63);
    char *w = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (stay[*p >> 6] >> (*p & 63) & 1) {
            *w++ = (char)*p;
        } else if (plus && *p == ' ') {
            *w++ = '+';
        } else {
            *w++ = '%';
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        }
    }
    *w = '\0';
    return (size_t)(w - out);
}

static char *escape(const char *s, const char *keep, bool plus)
{
    char *out = cmn_xmalloc(strlen(s) * 3 + 1);
    escape_to(out, s, keep, plus);
    return out;
}

#define PATH_KEEP "-_.~$&+,:;=@"

/* Go's shouldEscape(c, encodePathSegment): unreserved and "$&+,:;=@" stay */
char *cmn_path_escape(const char *s) { return escape(s, PATH_KEEP, false); }

size_t cmn_path_escape_to(char *out, const char *s) { return escape_to(out, s, PATH_KEEP, false); }

/* Go's url.QueryEscape: unreserved stay, space is '+' */
char *cmn_query_escape(const char *s) { return escape(s, "-_.~", true); }

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        if (s[0] == 0xE0)
            lo = 0xA0;
        else if (s[0] == 0xED)
            hi = 0x9F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        if (s[0] == 0xF0)
            lo = 0x90;
        else if (s[0] == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

bool cmn_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, k; i < len; i += k)
        if (!(k = utf8_seq(p + i, len - i)))
            return false;
    return true;
}

void cmn_utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_seq(p + i, n - i))) {
            p[i] = '?';
            k = 1;
        }
}

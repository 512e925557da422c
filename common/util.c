/*
 * util.c - ids, clocks, and Go-compatible duration and time formats (AIStore
 * clients send and expect Go's spellings).
 */
#include "common/cmn.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void cmn_gen_uuid(char out[CMN_UUID_LEN + 1])
{
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[CMN_UUID_LEN];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        /* getrandom on Linux does not fail for small requests; keep ids unique anyway */
        int64_t t = cmn_mono_ns();
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)rand();
    }
    out[0] = letters[rnd[0] % (sizeof letters - 1)];
    for (int i = 1; i < CMN_UUID_LEN; i++)
        out[i] = alnum[rnd[i] % (sizeof alnum - 1)];
    out[CMN_UUID_LEN] = '\0';
}


void cmn_cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

int cmn_parse_duration(const char *s, int64_t *ns_out)
{
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {{"ns", 1},          {"us", 1000},           {"µs", 1000},
                 {"ms", 1000000},    {"s", 1000000000LL},    {"m", 60000000000LL},
                 {"h", 3600000000000LL}};
    *ns_out = 0;
    if (!s || !*s || strcmp(s, "0") == 0)
        return 0;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        /* Go's number: digits with at most one '.' (no sign, exponent or hex),
         * read in integers so every nanosecond counts, as Go does */
        size_t wl = strspn(p, "0123456789");
        const char *f = p + wl;
        size_t fl = *f == '.' ? strspn(f + 1, "0123456789") : 0;
        if (wl == 0 && fl == 0)
            return -EINVAL; /* no digits, or "." alone */
        unsigned __int128 whole = 0, frac = 0, scale = 1;
        for (size_t i = 0; i < wl; i++)
            if ((whole = whole * 10 + (unsigned)(p[i] - '0')) > INT64_MAX)
                return -EINVAL;
        for (size_t i = 0; i < fl && i < 18; i++) /* digits past a nanosecond of an hour do not count */
            frac = frac * 10 + (unsigned)(f[1 + i] - '0'), scale *= 10;
        p = *f == '.' ? f + 1 + fl : f;
        size_t best = 0;
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t n = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, n) == 0 && n > best) {
                best = n;
                mult = units[i].ns;
            }
        }
        if (!best)
            return -EINVAL;
        p += best;
        unsigned __int128 add = whole * (uint64_t)mult + frac * (uint64_t)mult / scale;
        if (add > (unsigned __int128)(INT64_MAX - total)) /* past 2^63 ns, ~292 years, as Go */
            return -EINVAL;
        total += (int64_t)add;
    }
    *ns_out = total;
    return 0;
}

/* "W" or "W.F" with F's trailing zeros dropped (F has digits digits), as Go. */
static size_t put_decimal(char *out, size_t outlen, int64_t whole, int64_t frac, int digits, const char *unit)
{
    char f[16] = "";
    if (frac) {
        snprintf(f, sizeof f, ".%0*lld", digits, (long long)frac);
        for (size_t i = strlen(f); f[i - 1] == '0'; i--)
            f[i - 1] = '\0';
    }
    int n = snprintf(out, outlen, "%lld%s%s", (long long)whole, f, unit);
    return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
}

void cmn_format_duration(int64_t ns, char *out, size_t outlen)
{
    if (ns <= 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    /* below a second, Go's units; what is printed parses back to ns exactly */
    if (ns < 1000) {
        snprintf(out, outlen, "%lldns", (long long)ns);
        return;
    }
    if (ns < 1000000) {
        put_decimal(out, outlen, ns / 1000, ns % 1000, 3, "\xc2\xb5s"); /* µs */
        return;
    }
    if (ns < 1000000000LL) {
        put_decimal(out, outlen, ns / 1000000, ns % 1000000, 6, "ms");
        return;
    }
    int64_t h = ns / 3600000000000LL, m = ns / 60000000000LL % 60;
    int64_t s = ns / 1000000000LL % 60, frac = ns % 1000000000LL;
    size_t n = 0;
    if (h)
        n += (size_t)snprintf(out + n, outlen - n, "%lldh", (long long)h);
    if (h || m)
        n += (size_t)snprintf(out + n, outlen - n, "%lldm", (long long)m);
    if (s || frac || (!h && !m)) /* Go drops "0s" after minutes */
        put_decimal(out + n, outlen - n, s, frac, 9, "s");
}

void cmn_format_rfc3339(int64_t ns, char *out, size_t outlen)
{
    if (ns <= 0) {
        snprintf(out, outlen, "0001-01-01T00:00:00Z");
        return;
    }
    time_t sec = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%09lldZ", base, (long long)(ns % 1000000000LL));
}

void cmn_format_rfc822(int64_t ns, char *out, size_t outlen)
{
    time_t sec = (time_t)(ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(out, outlen, "%d %b %y %H:%M UTC", &tm);
}

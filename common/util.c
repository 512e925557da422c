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

int64_t cmn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t cmn_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
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
        /* Go's number: digits with at most one '.', no sign, exponent or hex
         * (which strtod would take: "1e999s") */
        size_t len = strspn(p, "0123456789.");
        const char *dot = memchr(p, '.', len);
        char num[64];
        if (len == 0 || len >= sizeof num || (dot && (memchr(dot + 1, '.', len - (size_t)(dot + 1 - p)) || len == 1)))
            return -EINVAL;
        memcpy(num, p, len);
        num[len] = '\0';
        double v = strtod(num, NULL);
        p += len;
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
        double add = v * (double)mult;
        if (!(add < 9223372036854775808.0) || total > INT64_MAX - (int64_t)add) /* 2^63 ns, ~292 years, as Go */
            return -EINVAL;
        total += (int64_t)add;
    }
    *ns_out = total;
    return 0;
}

void cmn_format_duration(int64_t ns, char *out, size_t outlen)
{
    if (ns <= 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    int64_t h = ns / 3600000000000LL, m = ns / 60000000000LL % 60;
    int64_t s = ns / 1000000000LL % 60, frac = ns % 1000000000LL;
    size_t n = 0;
    if (ns < 1000000000LL) {
        snprintf(out, outlen, "%lldms", (long long)(ns / 1000000));
        return;
    }
    if (h)
        n += (size_t)snprintf(out + n, outlen - n, "%lldh", (long long)h);
    if (h || m)
        n += (size_t)snprintf(out + n, outlen - n, "%lldm", (long long)m);
    if (s || frac || (!h && !m))
        snprintf(out + n, outlen - n, "%llds", (long long)s); /* Go drops "0s" after minutes */
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

/*
 * log.c - one line per event on stderr: time, level, message. Lines are
 * written with a single write(2) so concurrent threads never interleave.
 */
#include "common/cmn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum cmn_log_level min_level = CMN_LOG_INFO;

void cmn_log_set_level(enum cmn_log_level lvl) { min_level = lvl; }

void cmn_log(enum cmn_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"D", "I", "W", "E"};
    if (lvl < min_level)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

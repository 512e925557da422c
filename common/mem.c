/*
 * mem.c - one out-of-memory policy for every etlfs program, Redis's: an
 * allocation that fails ends the process with a log line. A half-served
 * request after a failed malloc is worse than a restart, and callers stay
 * free of NULL checks that are never tested. cJSON allocates through here
 * too (cmn_mem_init), so a NULL from cJSON means bad input, never memory.
 */
#include "common/cmn.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(size_t n)
{
    char line[96];
    int len = snprintf(line, sizeof line, "out of memory allocating %zu bytes\n", n);
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
    abort();
}

void *cmn_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *cmn_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *cmn_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *cmn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(cmn_xmalloc(n), s, n);
}

char *cmn_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = cmn_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void cmn_mem_init(void)
{
    cJSON_Hooks hooks = {.malloc_fn = cmn_xmalloc, .free_fn = free};
    cJSON_InitHooks(&hooks);
}

/*
 * fuzz.h - what every libFuzzer harness shares: the process set-up the real
 * programs do first (cJSON allocating through cmn_xmalloc), a NUL-terminated
 * copy of the input for parsers of C strings, and FUZZ_CHECK for the
 * properties a harness asserts beyond "no crash, no leak".
 */
#ifndef ETLFS_FUZZ_H
#define ETLFS_FUZZ_H

#include "common/cmn.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void fuzz_init(void)
{
    static bool done;
    if (!done) {
        cmn_mem_init();
        cmn_log_set_level(CMN_LOG_ERROR);
        done = true;
    }
}

/* The input as a C string (a NUL inside ends it early, as it would for the
 * real caller); free it. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = cmn_xmalloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#define FUZZ_CHECK(cond)                                                                                          \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond);                          \
            abort();                                                                                             \
        }                                                                                                        \
    } while (0)

#endif

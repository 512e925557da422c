/*
 * check.h - the unit tests' one assertion: CHECK(cond, fmt, ...) reports a
 * failure with its place and goes on, so one run shows every broken case;
 * main() returns CHECK_RESULT().
 */
#ifndef ETLFS_TEST_CHECK_H
#define ETLFS_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: FAIL: %s:", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, " " __VA_ARGS__);                             \
            fputc('\n', stderr);                                          \
            failures++;                                                   \
        }                                                                 \
    } while (0)

#define CHECK_RESULT() (failures ? (fprintf(stderr, "%d failure(s)\n", failures), 1) : 0)

#endif

/*
 * test_file.c - common/file.c's directory listing: the visible names of a
 * directory, sorted (records kept one per file: ETLs, the jobs' journal),
 * more of them than its first allocation holds, and NULL for a directory
 * that cannot be read.
 */
#include "common/cmn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/unit/check.h"

static void touch(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

int main(void)
{
    char dir[] = "/tmp/etlfs-test-file.XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    char **names = cmn_dir_names(dir);
    CHECK(names && !names[0], "an empty directory has no names");
    cmn_names_free(names);

    touch(dir, "b");
    touch(dir, ".hidden");
    touch(dir, "a");
    char sub[600];
    snprintf(sub, sizeof sub, "%s/c", dir);
    CHECK(cmn_mkdir_p(sub) == 0, "mkdir %s", sub);
    char many[40][8];
    for (int i = 0; i < 40; i++) { /* past the first allocation */
        snprintf(many[i], sizeof many[i], "n%02d", 39 - i);
        touch(dir, many[i]);
    }
    names = cmn_dir_names(dir);
    int n = 0;
    while (names && names[n])
        n++;
    CHECK(n == 43, "names: %d", n);
    CHECK(n == 43 && !strcmp(names[0], "a") && !strcmp(names[1], "b") && !strcmp(names[2], "c"), "first: %s",
          n ? names[0] : "(none)");
    for (int i = 3; i < n; i++)
        CHECK(strcmp(names[i - 1], names[i]) < 0, "not sorted at %d: %s %s", i, names[i - 1], names[i]);
    for (int i = 0; i < n; i++)
        CHECK(names[i][0] != '.', "a hidden name: %s", names[i]);
    cmn_names_free(names);

    char gone[600];
    snprintf(gone, sizeof gone, "%s/nosuch", dir);
    CHECK(cmn_dir_names(gone) == NULL, "a missing directory");

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    if (!failures)
        printf("test_file: ok\n");
    return CHECK_RESULT();
}

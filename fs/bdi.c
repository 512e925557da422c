/*
 * bdi.c - the mount's read-ahead window. The kernel gives a FUSE mount its
 * default 128 KiB, so a 147 KiB view file read through the page cache costs
 * two READs; a larger window lets one READ carry a whole file the reader asks
 * for at once (up to 512 KiB: a larger READ and its header do not fit a pipe
 * of pipe-max-size, 1 MiB, and libfuse copies it instead of splicing). The window is the mount's
 * backing device's read_ahead_kb in sysfs, named by the mount's device
 * number, which /proc/self/mountinfo gives without a request to ourselves
 * (the mount is not answering yet). Writing it needs root; without, the
 * kernel's stays.
 */
#include "fs/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mountinfo's octal escapes (\040 for a space) undone in place */
static void unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

void fs_bdi_readahead(const char *mountpoint, unsigned kb)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return;
    char line[8192], dev[64] = "";
    while (fgets(line, sizeof line, f)) {
        char mdev[64], mnt[4096];
        if (sscanf(line, "%*s %*s %63s %*s %4095s", mdev, mnt) != 2)
            continue;
        unescape(mnt);
        if (strcmp(mnt, mountpoint) == 0)
            snprintf(dev, sizeof dev, "%s", mdev); /* the last: a mount stacked on another */
    }
    fclose(f);
    if (!dev[0])
        return;
    char path[128];
    snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
    FILE *w = fopen(path, "w");
    bool ok = w && fprintf(w, "%u\n", kb) > 0;
    if (w && fclose(w) != 0)
        ok = false;
    if (!ok)
        cmn_debug("etlfs: read-ahead window of %s left as the kernel's (%s)", mountpoint, path);
}

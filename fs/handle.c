/*
 * handle.c - what every open file has, reader or writer: names, a lock, and
 * the anonymous spool files that hold bytes the target has not got yet (or
 * that did not fit in memory).
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

fs_handle *fs_handle_new(const fs_path *p, const char *path)
{
    fs_handle *h = cmn_xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    h->path = cmn_xstrdup(path);
    h->obj = cmn_xstrdup(p->obj);
    snprintf(h->bck, sizeof h->bck, "%s", p->bck);
    snprintf(h->etl, sizeof h->etl, "%s", p->etl);
    h->fd = -1;
    cmn_spool_init(&h->out, fs_cfg.spool_dir, fs_cfg.mem_limit);
    return h;
}

void fs_handle_free(fs_handle *h)
{
    if (h->fd >= 0)
        close(h->fd);
    cmn_spool_free(&h->out);
    free(h->ra);
    free(h->path);
    free(h->obj);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int fs_spool_file(void)
{
    char tmpl[4200];
    snprintf(tmpl, sizeof tmpl, "%s/etlfs-XXXXXX", fs_cfg.spool_dir);
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        int err = errno;
        cmn_error("etlfs: cannot create a spool file in %s: %s", fs_cfg.spool_dir, strerror(err));
        return -err;
    }
    unlink(tmpl); /* anonymous: gone with the handle, even after a crash */
    return fd;
}

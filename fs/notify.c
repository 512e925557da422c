/*
 * notify.c - names the kernel must forget because the daemon made them exist
 * behind its back. The kernel keeps "no such name" answers for
 * negative_timeout (so `cp` does not look a destination up twice), and it
 * sees to the names an operation creates itself (create, mkdir, rename). One
 * kind it cannot see: an object made in MNT/b/ also appears in every view,
 * MNT/@E/b/. So a view's "no such name" answer is remembered here (which ETL,
 * when), and a name made in a bucket within negative_timeout of one drops the
 * kernel's entries below MNT/@E (one notification naming "@E" in the root,
 * whose node id is fixed; libfuse's high-level API offers no other).
 *
 * A thread of its own sends the notifications: the kernel takes the root's
 * lock to drop "@E", and an operation that already holds it (mkdir of a
 * bucket) would wait for itself.
 */
#include "fs/fs.h"

#include <fuse3/fuse_lowlevel.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NF fs_st.notify

static void *notify_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&NF.mu);
    for (;;) {
        while (!NF.stopping && !NF.nsend)
            pthread_cond_wait(&NF.wake, &NF.mu);
        if (NF.stopping)
            break;
        char name[258];
        snprintf(name, sizeof name, "@%s", NF.send[--NF.nsend]);
        struct fuse_session *se = NF.fuse ? fuse_get_session(NF.fuse) : NULL;
        pthread_mutex_unlock(&NF.mu);
        /* -ENOENT: the kernel holds nothing under that name; nothing to drop */
        if (se)
            fuse_lowlevel_notify_inval_entry(se, FUSE_ROOT_ID, name, strlen(name));
        pthread_mutex_lock(&NF.mu);
    }
    pthread_mutex_unlock(&NF.mu);
    return NULL;
}

void fs_notify_start(struct fuse *f)
{
    pthread_mutex_lock(&NF.mu);
    NF.fuse = f;
    NF.stopping = false;
    NF.running = fs_cfg.negative_timeout > 0 && pthread_create(&NF.thread, NULL, notify_main, NULL) == 0;
    pthread_mutex_unlock(&NF.mu);
}

void fs_notify_stop(void)
{
    pthread_mutex_lock(&NF.mu);
    bool running = NF.running;
    NF.stopping = true;
    NF.running = false;
    pthread_cond_broadcast(&NF.wake);
    pthread_mutex_unlock(&NF.mu);
    if (running)
        pthread_join(NF.thread, NULL);
    NF.fuse = NULL;
}

void fs_notify_view_miss(const char *etl)
{
    if (fs_cfg.negative_timeout <= 0)
        return;
    int64_t until = cmn_mono_ns() + (int64_t)(fs_cfg.negative_timeout * 1e9) + 1000000;
    pthread_mutex_lock(&NF.mu);
    size_t i = 0;
    while (i < NF.nmiss && strcmp(NF.miss[i].etl, etl) != 0)
        i++;
    if (i == NF.nmiss && NF.nmiss < FS_NOTIFY_VIEWS)
        snprintf(NF.miss[NF.nmiss++].etl, sizeof NF.miss[0].etl, "%s", etl);
    if (i < NF.nmiss)
        NF.miss[i].until_ns = until;
    else
        NF.overflow_until_ns = until; /* more views than slots: every view is dropped */
    pthread_mutex_unlock(&NF.mu);
}

/* Queues "@etl" for the thread (mu held). */
static void queue(const char *etl)
{
    for (size_t j = 0; j < NF.nsend; j++)
        if (strcmp(NF.send[j], etl) == 0)
            return;
    if (NF.nsend < FS_NOTIFY_VIEWS)
        snprintf(NF.send[NF.nsend++], sizeof NF.send[0], "%s", etl);
}

void fs_notify_name_made(void)
{
    if (fs_cfg.negative_timeout <= 0)
        return;
    int64_t now = cmn_mono_ns();
    pthread_mutex_lock(&NF.mu);
    if (!NF.running || (!NF.nmiss && !NF.overflow_until_ns)) {
        pthread_mutex_unlock(&NF.mu);
        return;
    }
    bool all = NF.overflow_until_ns > now;
    NF.overflow_until_ns = 0;
    for (size_t i = 0; i < NF.nmiss; i++)
        if (NF.miss[i].until_ns > now || all)
            queue(NF.miss[i].etl);
    NF.nmiss = 0;
    if (all) { /* every running ETL's view */
        pthread_mutex_lock(&fs_st.etls.mu);
        for (size_t i = 0; i < fs_st.etls.n; i++)
            queue(fs_st.etls.names[i]);
        pthread_mutex_unlock(&fs_st.etls.mu);
    }
    if (NF.nsend)
        pthread_cond_signal(&NF.wake);
    pthread_mutex_unlock(&NF.mu);
}

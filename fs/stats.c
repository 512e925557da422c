/*
 * stats.c - counters of what the mount did, readable by anyone as JSON from
 * `getfattr -n user.etlfs.stats MNT` (so tests and operators can tell a
 * server-side copy from bytes pulled through FUSE). Relaxed atomics: counters
 * need no ordering with anything else.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const names[FS_ST__N] = {
    [FS_ST_READ_BYTES] = "read_bytes",
    [FS_ST_OBJ_READS] = "objects_read",
    [FS_ST_FQN_READS] = "fqn_reads",
    [FS_ST_ETL_READS] = "etl_reads",
    [FS_ST_WRITE_BYTES] = "write_bytes",
    [FS_ST_PUTS] = "puts",
    [FS_ST_SERVER_COPIES] = "server_copies",
    [FS_ST_SERVER_COPY_BYTES] = "server_copy_bytes",
    [FS_ST_COPY_JOBS] = "copy_job_requests",
    [FS_ST_SINGLE_COPIES] = "single_copies",
    [FS_ST_COPIES_QUEUED] = "copies_queued",
    [FS_ST_CACHE_HITS] = "cache_hits",
    [FS_ST_ATTR_HITS] = "attr_cache_hits",
    [FS_ST_HTTP_REQS] = "http_requests",
    [FS_ST_ERRORS] = "errors",
    [FS_ST_FUSE_OPS] = "fuse_ops",
    [FS_ST_RA_FETCHES] = "readahead_fetches",
    [FS_ST_RA_HITS] = "readahead_hits",
    [FS_ST_RA_DROPPED] = "readahead_dropped",
    [FS_ST_RA_WAITS] = "readahead_waits",
    [FS_ST_VIEW_CACHED] = "view_page_cache_opens",
    [FS_ST_VIEW_KEPT] = "view_kept_opens",
};


void fs_stat_set_copy_job(const char *id)
{
    pthread_mutex_lock(&fs_st.stats.job_mu);
    snprintf(fs_st.stats.copy_job, sizeof fs_st.stats.copy_job, "%s", id);
    pthread_mutex_unlock(&fs_st.stats.job_mu);
}

char *fs_stats_json(void)
{
    cmn_buf b;
    cmn_buf_init(&b);
    cmn_buf_puts(&b, "{");
    for (int i = 0; i < FS_ST__N; i++)
        cmn_buf_printf(&b, "%s\"%s\":%lld", i ? "," : "", names[i],
                       (long long)__atomic_load_n(&fs_st.stats.counters[i], __ATOMIC_RELAXED));
    pthread_mutex_lock(&fs_st.stats.job_mu);
    cmn_buf_printf(&b, ",\"copy_job\":\"%s\"}", fs_st.stats.copy_job); /* an id: no characters to escape */
    pthread_mutex_unlock(&fs_st.stats.job_mu);
    return cmn_buf_steal(&b);
}

char *fs_stats_prometheus(void)
{
    cmn_buf b;
    cmn_buf_init(&b);
    for (int i = 0; i < FS_ST__N; i++) {
        const char *type = i == FS_ST_COPIES_QUEUED ? "gauge" : "counter";
        cmn_buf_printf(&b, "# TYPE etlfs_mount_%s %s\netlfs_mount_%s{endpoint=\"%s\"} %lld\n", names[i], type,
                       names[i], fs_cfg.endpoint, (long long)__atomic_load_n(&fs_st.stats.counters[i], __ATOMIC_RELAXED));
    }
    return cmn_buf_steal(&b);
}

/* ---- the metrics file: tmp + rename, so a scraper never reads half of it */
#define METRICS_PERIOD_S 5

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stopping;
} mf = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void metrics_write(void)
{
    char *text = fs_stats_prometheus();
    char *tmp = cmn_xasprintf("%s.tmp.%d", fs_cfg.metrics_file, (int)getpid());
    FILE *f = fopen(tmp, "w");
    bool ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, fs_cfg.metrics_file) != 0) {
        cmn_warn("etlfs: cannot write metrics to %s: %s", fs_cfg.metrics_file, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(text);
}

static void *metrics_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mf.mu);
    while (!mf.stopping) {
        pthread_mutex_unlock(&mf.mu);
        metrics_write();
        pthread_mutex_lock(&mf.mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += METRICS_PERIOD_S;
        while (!mf.stopping && pthread_cond_timedwait(&mf.cv, &mf.mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&mf.mu);
    metrics_write(); /* the last counts */
    return NULL;
}

void fs_metrics_start(void)
{
    if (!fs_cfg.metrics_file || mf.running)
        return;
    mf.stopping = false;
    mf.running = pthread_create(&mf.thread, NULL, metrics_main, NULL) == 0;
    if (!mf.running)
        cmn_warn("etlfs: cannot start the metrics writer");
}

void fs_metrics_stop(void)
{
    if (!mf.running)
        return;
    pthread_mutex_lock(&mf.mu);
    mf.stopping = true;
    pthread_cond_broadcast(&mf.cv);
    pthread_mutex_unlock(&mf.mu);
    pthread_join(mf.thread, NULL);
    mf.running = false;
}

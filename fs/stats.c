/*
 * stats.c - counters of what the mount did, readable by anyone as JSON from
 * `getfattr -n user.etlfs.stats MNT` (so tests and operators can tell a
 * server-side copy from bytes pulled through FUSE). Relaxed atomics: counters
 * need no ordering with anything else.
 */
#include "fs/fs.h"

#include <stdio.h>

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
};


void fs_stat_add(enum fs_stat s, int64_t v) { __atomic_add_fetch(&fs_st.stats.counters[s], v, __ATOMIC_RELAXED); }

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

/*
 * journal.c - the registry of jobs lives in memory, so a crash would make a
 * running job's id unknown. Each long job keeps a small file
 * FIRST_MOUNTPATH/.etlfs/jobs/ID while it runs ("kind bck dst start_ns");
 * at start-up the files left behind are registered as aborted jobs, so a
 * client polling the id learns the job did not finish. A job removes its
 * file only when it completes; an aborted one keeps it, so it too is
 * reported aborted (not unknown) after a restart.
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void journal_path(const tgt_store *s, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s/.etlfs/jobs/%s", s->mpaths[0], id);
}

void tgt_journal_add(tgt_job *job, const char *kind, const char *bck, const char *dst)
{
    char path[PATH_MAX];
    journal_path(&tgt->store, "", path, sizeof path);
    cmn_mkdir_p(path);
    journal_path(&tgt->store, tgt_job_id(job), path, sizeof path);
    FILE *f = fopen(path, "we");
    if (!f) {
        cmn_warn("job %s[%s]: cannot journal: %s", kind, tgt_job_id(job), strerror(errno));
        return;
    }
    /* bucket names have no spaces: one line, space-separated */
    fprintf(f, "%s %s %s %lld\n", kind, bck && *bck ? bck : "-", dst && *dst ? dst : "-",
            (long long)cmn_now_ns());
    fclose(f);
}

void tgt_journal_remove(tgt_job *job)
{
    char path[PATH_MAX];
    journal_path(&tgt->store, tgt_job_id(job), path, sizeof path);
    unlink(path);
}

void tgt_journal_recover(const tgt_store *s)
{
    char dir[PATH_MAX], path[PATH_MAX + 256];
    journal_path(s, "", dir, sizeof dir);
    char **names = cmn_dir_names(dir);
    for (char **name = names; name && *name; name++) {
        snprintf(path, sizeof path, "%s/%s", dir, *name);
        FILE *f = fopen(path, "re");
        char kind[64], bck[512], dst[512];
        long long start = 0;
        bool ok = f && strlen(*name) <= CMN_UUID_LEN &&
                  fscanf(f, "%63s %511s %511s %lld", kind, bck, dst, &start) == 4;
        if (f)
            fclose(f);
        if (ok) {
            tgt_job_add_ended(*name, kind, strcmp(bck, "-") ? bck : NULL, strcmp(dst, "-") ? dst : NULL,
                              start, true, "aborted: the job was stopped, or cut short by the target's restart");
            cmn_warn("job %s[%s] did not complete before the target stopped: reported as aborted", kind, *name);
        }
        unlink(path);
    }
    cmn_names_free(names);
}

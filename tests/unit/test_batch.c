/*
 * test_batch.c - group commit (target/objwrite.c's tgt_batch): outputs
 * committed by several threads into a batch are invisible until a flush
 * renames them (fewer than a group: none yet), every one of them is
 * published whole once tgt_batch_flush returns (the groups flushed on the
 * batch's own thread included), with version 1 for a new name and the
 * next version for a taken one; both with named work files and with the
 * unnamed ones (O_TMPFILE) a group's writer opens, which leave no name in
 * the work folder and are linked to their names by the flush.
 */
#include "target/target.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/unit/check.h"

#define BCK "b"
#define NTHREADS 4
#define PER_THREAD 700 /* several groups of 256 each, and a remainder */

static tgt_store store;
static tgt_batch *batch;
static bool unnamed; /* this pass's writers: tgt_writer_open_batch's, else named ones given the batch */
static const char *pfx; /* this pass's names */

static int put(const char *obj, const char *body)
{
    tgt_writer w;
    char name[128];
    snprintf(name, sizeof name, "%s%s", pfx, obj);
    int rc = unnamed ? tgt_writer_open_batch(&w, &store, BCK, name, batch) : tgt_writer_open(&w, &store, BCK, name);
    if (rc)
        return rc;
    if (!unnamed)
        w.batch = batch;
    if ((rc = tgt_writer_write(&w, body, strlen(body))) != 0) {
        tgt_writer_abort(&w);
        return rc;
    }
    return tgt_writer_commit(&w, NULL);
}

/* Entries of the mountpaths' work folders. */
static int work_files(void)
{
    int n = 0;
    for (int i = 0; i < store.nmpaths; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/.etlfs/tmp", store.mpaths[i]);
        DIR *d = opendir(dir);
        for (struct dirent *e; d && (e = readdir(d));)
            n += e->d_name[0] != '.';
        if (d)
            closedir(d);
    }
    return n;
}

static void *writer_main(void *arg)
{
    long t = (long)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char obj[64];
        snprintf(obj, sizeof obj, "t%ld/o%d", t, i);
        CHECK(put(obj, obj) == 0, "commit %s", obj);
    }
    return NULL;
}

/* The object's bytes (its own name), or "" when it is not there. */
static void read_obj(const char *obj, char *out, size_t len)
{
    char fqn[4096], name[128];
    out[0] = '\0';
    snprintf(name, sizeof name, "%s%s", pfx, obj);
    if (tgt_store_fqn(&store, BCK, name, fqn, sizeof fqn) != 0)
        return;
    int fd = open(fqn, O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, len - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
}

static int64_t version_of(const char *obj)
{
    char fqn[4096], name[128];
    snprintf(name, sizeof name, "%s%s", pfx, obj);
    tgt_store_fqn(&store, BCK, name, fqn, sizeof fqn);
    return tgt_objmeta_version_at(fqn);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

/* One pass over a batch: the writers are named or unnamed (unnamed). */
static void one_pass(void)
{
    char got[64];

    /* fewer than a group: nothing visible until the flush */
    batch = tgt_batch_new(&store);
    CHECK(put("few", "few") == 0, "commit few");
    read_obj("few", got, sizeof got);
    CHECK(!*got, "visible before its flush: \"%s\"", got);
    CHECK(work_files() == (unnamed ? 0 : 1), "work folder entries before the flush: %d", work_files());
    CHECK(tgt_batch_flush(batch) == 0, "flush few");
    read_obj("few", got, sizeof got);
    CHECK(!strcmp(got, "few"), "after the flush: \"%s\"", got);
    CHECK(version_of("few") == 1, "a new name's version: %lld", (long long)version_of("few"));

    /* many groups from several threads, flushed on the batch's thread */
    pthread_t th[NTHREADS];
    for (long t = 0; t < NTHREADS; t++)
        pthread_create(&th[t], NULL, writer_main, (void *)t);
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    CHECK(tgt_batch_flush(batch) == 0, "flush many");
    int missing = 0;
    for (long t = 0; t < NTHREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            char obj[64];
            snprintf(obj, sizeof obj, "t%ld/o%d", t, i);
            read_obj(obj, got, sizeof got);
            missing += strcmp(got, obj) != 0;
        }
    CHECK(missing == 0, "%d of %d outputs not published whole", missing, NTHREADS * PER_THREAD);
    tgt_batch_sync(batch);
    tgt_batch_free(batch);

    /* a taken name gets the next version at its rename */
    batch = tgt_batch_new(&store);
    CHECK(put("few", "again") == 0, "commit over few");
    CHECK(put("new", "new") == 0, "commit new");
    tgt_batch_free(batch); /* flushes first */
    read_obj("few", got, sizeof got);
    CHECK(!strcmp(got, "again") && version_of("few") == 2, "over a taken name: \"%s\" version %lld", got,
          (long long)version_of("few"));
    read_obj("new", got, sizeof got);
    CHECK(!strcmp(got, "new") && version_of("new") == 1, "beside it a new name: \"%s\"", got);
    CHECK(work_files() == 0, "work folder entries left: %d", work_files());
}

int main(void)
{
    char root[] = "/tmp/test_batch.XXXXXX";
    if (!mkdtemp(root))
        return 2;
    char mp[2][4096], *dirs[2];
    for (int i = 0; i < 2; i++) {
        snprintf(mp[i], sizeof mp[i], "%s/mp%d", root, i);
        dirs[i] = mp[i];
    }
    if (tgt_store_open(&store, dirs, 2) != 0 || tgt_bucket_create(&store, BCK) != 0) {
        fprintf(stderr, "cannot make the store\n");
        return 2;
    }
    for (int pass = 0; pass < 2; pass++) {
        unnamed = pass == 1;
        pfx = unnamed ? "u/" : "n/";
        one_pass();
    }

    tgt_store_close(&store);
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return CHECK_RESULT();
}

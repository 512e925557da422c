/*
 * fuzz_archive.c - archive reading (target/archive.c): an archive object
 * the archive action appends to ("aate") is read with the target's reader
 * and its members copied into a new archive of the kind the target writes,
 * TAR (gzip'd when the input is) or ZIP, as the job does.
 */
#include "fuzz.h"
#include "target/target.h"

#include <archive.h>
#include <archive_entry.h>

static la_ssize_t discard(struct archive *a, void *ctx, const void *buf, size_t len)
{
    (void)a;
    *(size_t *)ctx += len;
    return (la_ssize_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    static char buf[1 << 16];
    bool zip = size >= 2 && data[0] == 'P' && data[1] == 'K';
    bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    size_t written = 0;
    struct archive *out = archive_write_new();
    if (zip)
        archive_write_set_format_zip(out);
    else
        archive_write_set_format_pax_restricted(out);
    if (gz)
        archive_write_add_filter_gzip(out);
    archive_write_set_bytes_in_last_block(out, 1);
    FUZZ_CHECK(archive_write_open2(out, &written, NULL, discard, NULL, NULL) == ARCHIVE_OK);
    struct archive *in = tgt_archive_reader_new();
    if (archive_read_open_memory(in, data, size) == ARCHIVE_OK) {
        int rc = tgt_archive_copy_members(in, out, buf, sizeof buf);
        FUZZ_CHECK(rc == 0 || rc == -EIO);
    }
    archive_read_free(in);
    archive_write_close(out);
    archive_write_free(out);
    return 0;
}

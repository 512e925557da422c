/*
 * path.c - what a mount path names: MNT/<bucket>/<object>, or the same below
 * MNT/@<etl>/ (a read-only view through that ETL). Names the target would
 * refuse are reported as absent rather than as errors, so shells and file
 * managers probing for ".hidden" files see ENOENT.
 */
#include "fs/fs.h"

#include <errno.h>
#include <string.h>

/* Copies the first segment of *s into out (cap bytes) and advances *s past it. */
static int take_segment(const char **s, char *out, size_t cap)
{
    const char *p = *s, *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 0 || n >= cap)
        return -ENOENT;
    memcpy(out, p, n);
    out[n] = '\0';
    *s = end ? end + 1 : p + n;
    return 0;
}

int fs_path_parse(const char *path, fs_path *p)
{
    memset(p, 0, sizeof *p);
    p->obj = "";
    if (!path || path[0] != '/')
        return -ENOENT;
    const char *s = path + 1;
    if (!*s)
        return 0; /* the root */
    if (*s == '@') {
        s++;
        if (take_segment(&s, p->etl, sizeof p->etl) != 0)
            return -ENOENT;
        if (!*s) {
            p->is_view_root = true;
            return 0;
        }
    }
    if (take_segment(&s, p->bck, sizeof p->bck) != 0 || !cmn_bucket_name_valid(p->bck))
        return -ENOENT;
    p->obj = s;
    if (*s && !cmn_object_name_valid(s, NULL, 0))
        return -ENOENT;
    return 0;
}

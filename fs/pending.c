/*
 * pending.c - a counted set of the names queued copies touch, so the
 * barrier in batch.c asks "is anything queued for this object, or under this
 * directory?" in O(1) instead of scanning the queue on every lookup. Keys
 * are role + bucket + name; a name in several queued copies is counted.
 * Callers hold batch.c's mutex: the set has no lock of its own.
 */
#include "fs/fs.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct fs_pkey {
    struct fs_pkey *next;
    int count;
    size_t len;
    char key[]; /* role, bucket, '\0', name */
} pkey;


static size_t make_key(char *out, size_t cap, char role, const char *bck, const char *name, size_t name_len)
{
    size_t bl = strlen(bck);
    size_t len = 1 + bl + 1 + name_len;
    if (len <= cap) {
        out[0] = role;
        memcpy(out + 1, bck, bl + 1);
        memcpy(out + 2 + bl, name, name_len);
    }
    return len;
}

/* Finds (or, with delta, counts) one key; returns its count after the change. */
static int touch(char role, const char *bck, const char *name, size_t name_len, int delta)
{
    char stack[1024], *k = stack;
    size_t len = make_key(stack, sizeof stack, role, bck, name, name_len);
    if (len > sizeof stack) {
        k = cmn_xmalloc(len);
        make_key(k, len, role, bck, name, name_len);
    }
    size_t slot = XXH3_64bits(k, len) % FS_PENDING_SLOTS;
    pkey **pp = &fs_st.pending[slot];
    while (*pp && ((*pp)->len != len || memcmp((*pp)->key, k, len) != 0))
        pp = &(*pp)->next;
    int count = *pp ? (*pp)->count : 0;
    if (delta > 0 && !*pp) {
        *pp = cmn_xmalloc(sizeof **pp + len);
        (*pp)->next = NULL;
        (*pp)->count = 0;
        (*pp)->len = len;
        memcpy((*pp)->key, k, len);
    }
    if (delta && *pp) {
        count = ((*pp)->count += delta);
        if (count <= 0) {
            pkey *gone = *pp;
            *pp = gone->next;
            free(gone);
        }
    }
    if (k != stack)
        free(k);
    return count;
}

/* The object and every directory above it ("" for the bucket, "a/", "a/b/"). */
static void count_all(char role, const char *bck, const char *obj, int delta)
{
    touch(role, bck, obj, strlen(obj), delta);
    char dir_role = role == FS_PEND_DST ? FS_PEND_DST_DIR : FS_PEND_SRC_DIR;
    touch(dir_role, bck, "", 0, delta);
    for (const char *s = strchr(obj, '/'); s; s = strchr(s + 1, '/'))
        touch(dir_role, bck, obj, (size_t)(s - obj + 1), delta);
}

void fs_pending_add(char role, const char *bck, const char *obj) { count_all(role, bck, obj, 1); }

void fs_pending_del(char role, const char *bck, const char *obj) { count_all(role, bck, obj, -1); }

bool fs_pending_has(char role, const char *bck, const char *name)
{
    return touch(role, bck, name, strlen(name), 0) > 0;
}

/*
 * lso.c - list objects: one page per request, walked straight off the
 * mountpaths (walk.c), in msgpack (what AIStore's SDK asks for) or JSON.
 * The continuation token is the last key returned, so a page costs work in
 * proportion to the page, not to the bucket.
 */
#include "target/target.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* LsoMsg flag bits (api/apc/lsmsg.go) */
#define LS_CACHED (1u << 0)
#define LS_ARCH_DIR (1u << 3) /* each archive's files after it (archread.c) */
#define LS_NAME_ONLY (1u << 4)
#define LS_NAME_SIZE (1u << 5)
#define LS_NO_RECURSION (1u << 11)
/* entry flags */
#define ENTRY_IS_CACHED 64
#define ENTRY_IN_ARCH 128
#define ENTRY_IS_DIR 256
#define ENTRY_IS_ARCHIVE 512

#define PAGE_MAX 10000

enum { P_SIZE = 1, P_CKSUM = 2, P_ATIME = 4, P_VERSION = 8, P_LOCATION = 16, P_COPIES = 32, P_CUSTOM = 64 };

typedef struct lso_entry {
    char *name;
    int64_t size;
    char cksum[17];
    char atime[40];
    char version[24];
    char *custom;
    char *fqn;      /* the object's file, for props "location" */
    int flags;
    bool is_dir;
} lso_entry;

typedef struct lso_page {
    lso_entry *ents;
    int n, cap, limit;
    unsigned props;
    char last_key[PATH_MAX];
    tgt_arch_ls *arch; /* with LS_ARCH_DIR: archived files still to list */
} lso_page;

/* LsoMsg's property names and their bits. */
static const struct {
    const char *name;
    unsigned bit;
} prop_names[] = {{"size", P_SIZE},         {"checksum", P_CKSUM}, {"atime", P_ATIME},   {"version", P_VERSION},
                  {"location", P_LOCATION}, {"copies", P_COPIES},  {"custom", P_CUSTOM}};

static unsigned parse_props(const char *props, uint64_t *flags)
{
    if (!props || !*props) {
        if (*flags & LS_CACHED)
            return P_SIZE | P_CKSUM | P_ATIME;
        *flags |= LS_NAME_SIZE;
        return P_SIZE;
    }
    if (!strcmp(props, "name"))
        *flags |= LS_NAME_ONLY;
    unsigned p = 0;
    char *copy = cmn_xstrdup(props), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        for (size_t i = 0; i < sizeof prop_names / sizeof prop_names[0]; i++)
            if (!strcmp(tok, prop_names[i].name))
                p |= prop_names[i].bit;
    }
    free(copy);
    return p;
}

static lso_entry *page_push(lso_page *pg)
{
    if (pg->n == pg->cap) {
        pg->cap = pg->cap ? pg->cap * 2 : 256;
        pg->ents = cmn_xrealloc(pg->ents, sizeof(lso_entry) * (size_t)pg->cap);
    }
    lso_entry *e = &pg->ents[pg->n];
    memset(e, 0, sizeof *e);
    return e;
}

/* Lists the queued archived files whose names sort before key (NULL: all);
 * false once the page is full. */
static bool arch_files(lso_page *pg, const char *key)
{
    const tgt_arch_entry *a;
    while (pg->n < pg->limit && (a = tgt_arch_ls_next(pg->arch, key))) {
        lso_entry *e = page_push(pg);
        e->name = cmn_xstrdup(a->name);
        e->size = a->size;
        e->flags = ENTRY_IS_CACHED | ENTRY_IN_ARCH;
        pg->n++;
        snprintf(pg->last_key, sizeof pg->last_key, "%s", a->name);
    }
    return pg->n < pg->limit;
}

/* One walked entry onto the page; false once the page is full. */
static bool page_add(lso_page *pg, const char *name, const char *fqn, bool is_dir)
{
    char key[PATH_MAX];
    snprintf(key, sizeof key, "%s%s", name, is_dir ? "/" : "");
    if (pg->arch && !arch_files(pg, key))
        return false;
    lso_entry *e = page_push(pg);
    e->is_dir = is_dir;
    e->flags = is_dir ? ENTRY_IS_DIR : ENTRY_IS_CACHED;
    if (!is_dir && (pg->props & (P_CKSUM | P_ATIME | P_VERSION | P_CUSTOM))) {
        int fd = open(fqn, O_RDONLY | O_CLOEXEC);
        tgt_objmeta m;
        if (fd < 0 || tgt_objmeta_load(fd, &m) != 0) {
            if (fd >= 0)
                close(fd);
            return true; /* deleted while listing */
        }
        close(fd);
        e->size = m.size;
        snprintf(e->cksum, sizeof e->cksum, "%s", m.cksum);
        cmn_format_rfc822(m.atime_ns, e->atime, sizeof e->atime);
        snprintf(e->version, sizeof e->version, "%lld", (long long)m.version);
        e->custom = m.custom;
    } else if (!is_dir && (pg->props & P_SIZE)) {
        struct stat st;
        if (stat(fqn, &st) != 0)
            return true;
        e->size = st.st_size;
    }
    if (!is_dir && (pg->props & P_LOCATION))
        e->fqn = cmn_xstrdup(fqn);
    e->name = cmn_xstrdup(name);
    if (pg->arch && !is_dir && tgt_arch_ls_add(pg->arch, fqn, name) == 0)
        e->flags |= ENTRY_IS_ARCHIVE;
    pg->n++;
    snprintf(pg->last_key, sizeof pg->last_key, "%s", key);
    return pg->n < pg->limit;
}

static void page_free(lso_page *pg)
{
    for (int i = 0; i < pg->n; i++) {
        free(pg->ents[i].name);
        free(pg->ents[i].custom);
        free(pg->ents[i].fqn);
    }
    free(pg->ents);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* One key and its value. */
static void pack_kv(msgpack_packer *pk, const char *key, const char *val)
{
    pack_str(pk, key);
    pack_str(pk, val);
}

static void pack_ki(msgpack_packer *pk, const char *key, int64_t val)
{
    pack_str(pk, key);
    msgpack_pack_int64(pk, val);
}

/* Go msgp shape (cmn/objlist_gen.go): keys omitted when empty or zero. */
static int reply_msgpack(tgt_req *r, const lso_page *pg, const char *uuid, const char *token, uint64_t flags)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_kv(&pk, "UUID", uuid);
    pack_kv(&pk, "ContinuationToken", token);
    pack_str(&pk, "Entries");
    msgpack_pack_array(&pk, (size_t)pg->n);
    bool name_only = flags & LS_NAME_ONLY;
    for (int i = 0; i < pg->n; i++) {
        const lso_entry *e = &pg->ents[i];
        bool sz = !name_only && !e->is_dir && (pg->props & P_SIZE) && e->size;
        bool cs = !name_only && (pg->props & P_CKSUM) && *e->cksum;
        bool at = !name_only && (pg->props & P_ATIME) && *e->atime;
        bool ver = !name_only && (pg->props & P_VERSION) && *e->version;
        bool cp = !name_only && !e->is_dir && (pg->props & P_COPIES);
        msgpack_pack_map(&pk, 2 + sz + cs + at + ver + cp);
        pack_kv(&pk, "n", e->name);
        if (cs)
            pack_kv(&pk, "cs", e->cksum);
        if (at)
            pack_kv(&pk, "a", e->atime);
        if (ver)
            pack_kv(&pk, "v", e->version);
        if (sz)
            pack_ki(&pk, "s", e->size);
        if (cp)
            pack_ki(&pk, "c", 1);
        pack_ki(&pk, "f", e->flags);
    }
    pack_str(&pk, "Flags");
    msgpack_pack_uint32(&pk, 0);
    int ret = tgt_reply_buf(r, 200, "application/msgpack", sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return ret;
}

/* Upstream's location "t[ID]:mp[MPATH]": the mountpath is the part of the
 * file's path before "/@ais/". */
static void location(const char *fqn, char *out, size_t cap)
{
    const char *at = strstr(fqn, "/@ais/");
    snprintf(out, cap, "t[%s]:mp[%.*s]", TGT_NODE_ID, at ? (int)(at - fqn) : 0, fqn);
}

/* Appends j's text to b and frees j. */
static void buf_json(cmn_buf *b, cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    cmn_buf_puts(b, text);
    free(text);
}

/* The page as JSON, written one entry at a time: a tree of the whole page
 * (a few MiB at 10,000 entries, in thousands of small blocks) stayed in each
 * worker thread's malloc arena after the reply, and 16 workers held 160 MiB. */
static int reply_json(tgt_req *r, const lso_page *pg, const char *uuid, const char *token, uint64_t flags)
{
    cmn_buf b;
    cmn_buf_init(&b);
    cmn_buf_puts(&b, "{\"uuid\":");
    buf_json(&b, cJSON_CreateString(uuid));
    cmn_buf_puts(&b, ",\"continuation_token\":");
    buf_json(&b, cJSON_CreateString(token));
    cmn_buf_puts(&b, ",\"flags\":0,\"entries\":[");
    bool name_only = flags & LS_NAME_ONLY;
    for (int i = 0; i < pg->n; i++) {
        const lso_entry *e = &pg->ents[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", e->name);
        if (!name_only && !e->is_dir) {
            if ((pg->props & P_CKSUM) && *e->cksum)
                cJSON_AddStringToObject(j, "checksum", e->cksum);
            if ((pg->props & P_ATIME) && *e->atime)
                cJSON_AddStringToObject(j, "atime", e->atime);
            if ((pg->props & P_VERSION) && *e->version)
                cJSON_AddStringToObject(j, "version", e->version);
            if (pg->props & P_SIZE)
                cJSON_AddItemToObject(j, "size", tgt_json_str_int(e->size));
            if (pg->props & P_COPIES)
                cJSON_AddNumberToObject(j, "copies", 1);
            if ((pg->props & P_LOCATION) && e->fqn) {
                char loc[PATH_MAX + 64];
                location(e->fqn, loc, sizeof loc);
                cJSON_AddStringToObject(j, "location", loc);
                /* [E] like the etlfs-fqn header: node-local clients (the mount)
                 * may read the file itself, with no HEAD per object */
                if (r->loopback)
                    cJSON_AddStringToObject(j, "etlfs_fqn", e->fqn);
            }
        }
        cJSON_AddNumberToObject(j, "flags", e->flags);
        if (i)
            cmn_buf_puts(&b, ",");
        buf_json(&b, j);
    }
    cmn_buf_puts(&b, "]}");
    size_t len = b.len;
    char *text = cmn_buf_steal(&b);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    else
        free(text);
    return tgt_reply(r, 200, resp);
}

static const char *str_field(const cJSON *v, const char *key)
{
    const cJSON *f = v ? cJSON_GetObjectItem(v, key) : NULL;
    return cJSON_IsString(f) ? f->valuestring : "";
}

int tgt_lso_msg_parse(const cJSON *v, tgt_lso_msg *m, char *why, size_t whylen)
{
    memset(m, 0, sizeof *m);
    m->prefix = str_field(v, "prefix");
    m->token = str_field(v, "continuation_token");
    m->start_after = str_field(v, "start_after");
    m->uuid = str_field(v, "uuid");
    const cJSON *f = v ? cJSON_GetObjectItem(v, "flags") : NULL;
    if (cJSON_IsString(f)) {
        m->flags = strtoull(f->valuestring, NULL, 10);
    } else if (cJSON_IsNumber(f)) {
        /* a double out of uint64's range has no conversion (undefined in C) */
        if (!(f->valuedouble >= 0 && f->valuedouble < 18446744073709551616.0)) {
            snprintf(why, whylen, "invalid \"flags\" %g: expected the LsoMsg flag bits", f->valuedouble);
            return -EINVAL;
        }
        m->flags = (uint64_t)f->valuedouble;
    }
    const cJSON *ps = v ? cJSON_GetObjectItem(v, "pagesize") : NULL;
    double psd = cJSON_IsNumber(ps) ? ps->valuedouble : 0;
    if (!(psd >= 0 && psd < 9e15) || psd != (double)(int64_t)psd) { /* NaN, negative, fractional, huge */
        snprintf(why, whylen, "invalid \"pagesize\" %g: must be a whole number, 0 or more", psd);
        return -EINVAL;
    }
    /* 0 or more than a page holds: a full page */
    m->pagesize = psd >= 1 && psd <= PAGE_MAX ? (int)psd : PAGE_MAX;
    if (strstr(m->prefix, "../")) {
        snprintf(why, whylen, "invalid prefix \"%s\"", m->prefix);
        return -EINVAL;
    }
    m->props = parse_props(str_field(v, "props"), &m->flags);
    return 0;
}

int tgt_h_objects_list(tgt_req *r)
{
    const char *bck = r->items[2];
    if (!tgt_check_bucket(r, bck, true))
        return MHD_YES;
    if (tgt_cluster_on() && !tgt_header(r, TGT_HDR_LSO_LOCAL))
        return tgt_cluster_lso(r, bck); /* every target's objects, merged */
    tgt_lso_msg m;
    char why[512];
    if (tgt_lso_msg_parse(tgt_msg_value(r), &m, why, sizeof why) != 0)
        return tgt_reply_err(r, 400, "%s", why);
    uint64_t flags = m.flags;
    int pagesize = m.pagesize;
    const char *prefix = m.prefix;

    lso_page pg = {0};
    pg.limit = pagesize;
    pg.props = m.props;
    const char *after = *m.token ? m.token : m.start_after;
    tgt_arch_ls arch;
    if (flags & LS_ARCH_DIR) {
        tgt_arch_ls_init(&arch, &tgt->store, bck, prefix, after);
        pg.arch = &arch;
    }
    tgt_walk_it *it;
    int wrc = tgt_walk_open(&tgt->store, bck, prefix, after, flags & LS_NO_RECURSION, &it);
    tgt_walk_entry we;
    while (tgt_walk_next(it, &we) && page_add(&pg, we.name, we.fqn, we.is_dir))
        ;
    tgt_walk_close(it);
    if (pg.arch) {
        arch_files(&pg, NULL);
        tgt_arch_ls_free(&arch);
    }
    if (wrc != 0) {
        page_free(&pg);
        return tgt_reply_err(r, 500, "list ais://%s: cannot read the bucket's directories", bck);
    }
    char uuid[128];
    if (*m.uuid)
        snprintf(uuid, sizeof uuid, "%s", m.uuid);
    else
        cmn_gen_uuid(uuid);
    const char *next = pg.n >= pagesize ? pg.last_key : "";
    const char *accept = tgt_header(r, "Accept");
    int ret = accept && strstr(accept, "application/msgpack") ? reply_msgpack(r, &pg, uuid, next, flags)
                                                                : reply_json(r, &pg, uuid, next, flags);
    page_free(&pg);
    return ret;
}

/*
 * fuzz_request.c - what a request's line and headers carry: the URL path
 * (AIStore's "easy URL", the split into items and the object name that
 * server.c does), bucket and object names, the query string's values the
 * handlers read (bck_to unames, provider, etl_name), and the Range header
 * (object.c). The input is text: the request target on the first line,
 * then "Name: value" header lines.
 *
 * server.c is compiled into this harness so its path parsers are fuzzed as
 * they are, static and all; libmicrohttpd's own unescaping (what it does
 * before our handler sees the path and the arguments) runs first, as in the
 * target.
 */
#include "fuzz.h"
#include "target/server.c"
#include "etl/etl_int.h"

#include <stdint.h>

static void check_range(const char *h)
{
    static const int64_t sizes[] = {0, 1, 2, 4096, INT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int64_t off = -1, len = -1;
        int rc = tgt_parse_range(h, sizes[i], &off, &len);
        FUZZ_CHECK(rc >= -1 && rc <= 1);
        if (rc == 1)
            FUZZ_CHECK(off >= 0 && len > 0 && off < sizes[i] && len <= sizes[i] - off);
    }
}

/* A name the target accepts survives Go's path escaping and our decoding. */
static void check_name(const char *obj)
{
    char why[128];
    if (!cmn_object_name_valid(obj, why, sizeof why))
        return;
    char *esc = cmn_path_escape(obj);
    FUZZ_CHECK(cmn_url_decode(esc) == 0 && !strcmp(esc, obj));
    free(esc);
}

static void check_query(char *query)
{
    char *save = NULL;
    for (char *kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *v = strchr(kv, '=');
        if (v)
            *v++ = '\0';
        for (char *p = v; p && *p; p++)
            if (*p == '+')
                *p = ' '; /* libmicrohttpd's MHD_unescape_plus */
        MHD_http_unescape(kv);
        if (!v)
            continue;
        MHD_http_unescape(v);
        char bck[256];
        if (!strcmp(kv, "bck_to") && tgt_parse_uname_bucket(v, bck, sizeof bck))
            FUZZ_CHECK(*bck && !strchr(bck, '/'));
        else if (!strcmp(kv, "provider"))
            (void)cmn_bucket_name_valid(v);
        else if (!strcmp(kv, "etl_name"))
            (void)etl_name_valid(v, bck, sizeof bck);
    }
}

static void check_path(const char *raw)
{
    tgt_req r;
    memset(&r, 0, sizeof r);
    char *url = cmn_xstrdup(raw);
    MHD_http_unescape(url);
    bool remote;
    r.path = easy_path(url, &remote);
    if (!r.path)
        r.path = cmn_xstrdup(url);
    size_t plen = strlen(r.path);
    split_path(&r);
    FUZZ_CHECK(r.nitems >= 0 && r.nitems <= (int)(sizeof r.items / sizeof r.items[0]));
    for (int i = 0; i < r.nitems; i++)
        FUZZ_CHECK(r.items[i] >= r.path && r.items[i] <= r.path + plen);
    if (r.nitems >= 3)
        (void)cmn_bucket_name_valid(r.items[2]);
    if (r.obj)
        check_name(r.obj);
    /* what a reply does with the path: messages are made UTF-8 */
    cmn_utf8_scrub(url);
    FUZZ_CHECK(cmn_utf8_valid(url, strlen(url)));
    free(r.path);
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char *text = fuzz_cstr(data, size);
    char *save = NULL;
    char *target = strtok_r(text, "\r\n", &save);
    if (target) {
        (void)on_uri(NULL, target, NULL);
        char *q = strchr(target, '?');
        if (q)
            *q++ = '\0';
        check_path(target);
        if (q)
            check_query(q);
        for (char *line = strtok_r(NULL, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
            char *colon = strchr(line, ':');
            if (!colon)
                continue;
            *colon = '\0';
            const char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (!strcasecmp(line, "Range"))
                check_range(v);
        }
    }
    free(text);
    return 0;
}

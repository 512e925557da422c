/*
 * api.c - how `ais` talks to the cluster: URL building, sending a call, and
 * turning a failure into the one line the user sees (the server's JSON
 * "message" when there is one). Also small JSON output helpers.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_endpoint = "http://localhost:8080";

void cli_call_init(cli_call *c, const char *method)
{
    memset(c, 0, sizeof *c);
    c->method = method;
    c->out_fd = -1;
    cmn_buf_init(&c->url);
}

void cli_call_free(cli_call *c) { cmn_buf_free(&c->url); }

void cli_url_v1(cli_call *c, const char *fmt, ...)
{
    char path[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    size_t n = strlen(cli_endpoint);
    while (n && cli_endpoint[n - 1] == '/')
        n--;
    cmn_buf_append(&c->url, cli_endpoint, n);
    cmn_buf_puts(&c->url, "/v1/");
    cmn_buf_puts(&c->url, path);
}

void cli_url_obj(cli_call *c, const char *obj)
{
    char *dup = strdup(obj);
    bool first = true;
    /* strtok_r would merge "a//b"; keep empty segments so the server judges */
    for (char *seg = dup, *next; seg; seg = next) {
        next = strchr(seg, '/');
        if (next)
            *next++ = '\0';
        char *esc = cmn_path_escape(seg);
        if (!first)
            cmn_buf_puts(&c->url, "/");
        cmn_buf_puts(&c->url, esc);
        free(esc);
        first = false;
    }
    free(dup);
}

void cli_url_query(cli_call *c, const char *k, const char *v)
{
    cmn_buf_puts(&c->url, strchr(c->url.data, '?') ? "&" : "?");
    cmn_buf_puts(&c->url, k);
    cmn_buf_puts(&c->url, "=");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (isalnum(*p) || strchr("-_.~", *p))
            cmn_buf_append(&c->url, p, 1);
        else
            cmn_buf_printf(&c->url, "%%%02X", *p);
    }
}

int cli_get_json(cli_args *a, cli_call *c, const char *what, cJSON_bool (*want)(const cJSON *), cJSON **out)
{
    *out = NULL;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = cli_send(NULL, c, &r, false);
    if (rc == CLI_EXIT_OK && cli_flag_set(a, "json")) {
        cli_print_json(r.body.data, r.body.len);
    } else if (rc == CLI_EXIT_OK) {
        cJSON *j = r.body.len ? cJSON_ParseWithLength(r.body.data, r.body.len)
                              : want == cJSON_IsArray ? cJSON_CreateArray() : NULL;
        if (want(j)) {
            *out = j;
        } else {
            cJSON_Delete(j);
            rc = cli_fail("invalid %s reply from %s", what, cli_endpoint);
        }
    }
    cmn_http_resp_free(&r);
    return rc;
}

char *cli_err_message(const cmn_http_resp *resp)
{
    if (resp->body.len) {
        cJSON *j = cJSON_ParseWithLength(resp->body.data, resp->body.len);
        cJSON *m = j ? cJSON_GetObjectItem(j, "message") : NULL;
        if (cJSON_IsString(m) && m->valuestring[0]) {
            char *s = strdup(m->valuestring);
            cJSON_Delete(j);
            return s;
        }
        cJSON_Delete(j);
        /* plain-text errors (405 and friends): first line only */
        size_t n = strcspn(resp->body.data, "\r\n");
        if (n)
            return strndup(resp->body.data, n);
    }
    char buf[64];
    snprintf(buf, sizeof buf, "HTTP error %ld", resp->status);
    return strdup(buf);
}

bool cli_stdout_gone(int err) { return err == EPIPE; }

int cli_send(cmn_http *h, cli_call *c, cmn_http_resp *resp, bool quiet)
{
    cmn_http_req req = {
        .method = c->method,
        .url = c->url.data,
        .body = c->body,
        .body_len = c->body_len,
        .body_path = c->body_path,
        .headers = c->headers,
        .want_headers = c->want_headers,
        .follow_redirects = c->follow,
        .out_fd = c->out_fd,
    };
    if (c->body && !c->body_len)
        req.body_len = strlen(c->body);
    if (cmn_http_do(h, &req, resp) != CMN_OK) {
        if (resp->out_errno && cli_stdout_gone(resp->out_errno))
            return CLI_EXIT_ERR; /* the reader went away: nothing to say */
        if (resp->status == 0)
            return cli_fail("%s (is AIS_ENDPOINT=%s right?)", resp->err, cli_endpoint);
        return cli_fail("%s", resp->err);
    }
    if (resp->status >= 200 && resp->status < 300)
        return CLI_EXIT_OK;
    if (quiet)
        return CLI_EXIT_ERR;
    char *msg = cli_err_message(resp);
    cli_fail("%s", msg);
    free(msg);
    return CLI_EXIT_ERR;
}

void cli_json_str(cmn_buf *b, const char *s)
{
    cmn_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': cmn_buf_puts(b, "\\\""); break;
        case '\\': cmn_buf_puts(b, "\\\\"); break;
        case '\n': cmn_buf_puts(b, "\\n"); break;
        case '\r': cmn_buf_puts(b, "\\r"); break;
        case '\t': cmn_buf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20)
                cmn_buf_printf(b, "\\u%04x", *p);
            else
                cmn_buf_append(b, p, 1);
        }
    }
    cmn_buf_puts(b, "\"");
}

static void indent(cmn_buf *o, int depth)
{
    cmn_buf_puts(o, "\n");
    for (int i = 0; i < depth; i++)
        cmn_buf_puts(o, "    ");
}

/* Token-level re-indent: numbers are copied as text, so int64 nanosecond
 * timestamps keep every digit (a double round trip would not). */
void cli_print_json(const char *t, size_t len)
{
    cmn_buf o;
    cmn_buf_init(&o);
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = t[i];
        if (ch == '"') {
            size_t j = i + 1;
            while (j < len && t[j] != '"')
                j += t[j] == '\\' ? 2 : 1;
            cmn_buf_append(&o, t + i, j - i + 1 > len - i ? len - i : j - i + 1);
            i = j;
        } else if (ch == '{' || ch == '[') {
            size_t j = i + 1;
            while (j < len && isspace((unsigned char)t[j]))
                j++;
            if (j < len && (t[j] == '}' || t[j] == ']')) { /* empty: {} or [] */
                cmn_buf_append(&o, &ch, 1);
                cmn_buf_append(&o, t + j, 1);
                i = j;
                continue;
            }
            cmn_buf_append(&o, &ch, 1);
            indent(&o, ++depth);
        } else if (ch == '}' || ch == ']') {
            indent(&o, --depth);
            cmn_buf_append(&o, &ch, 1);
        } else if (ch == ',') {
            cmn_buf_puts(&o, ",");
            indent(&o, depth);
        } else if (ch == ':') {
            cmn_buf_puts(&o, ": ");
        } else if (!isspace((unsigned char)ch)) {
            cmn_buf_append(&o, &ch, 1);
        }
    }
    cmn_buf_puts(&o, "\n");
    fwrite(o.data, 1, o.len, stdout);
    cmn_buf_free(&o);
}

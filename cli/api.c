/*
 * api.c - how `ais` talks to the cluster: a call sent through the shared
 * AIStore client (common/ais_client.h) and its failure printed as the one
 * line the user sees (the server's JSON "message" when there is one). Also
 * small JSON output helpers.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cmn_ais cli_ais = {
    .endpoint = "http://localhost:8080",
    .connect_timeout_ms = -1, /* libcurl's own bounds: an ETL init may take minutes */
    .stall_sec = -1,
    .user_agent = "ais/etlfs",
};

void cli_call_init(cli_call *c, const char *method)
{
    memset(c, 0, sizeof *c);
    c->method = method;
    c->out_fd = -1;
    cmn_buf_init(&c->url);
    cmn_buf_init(&c->why);
}

void cli_call_bucket(cli_call *c, const char *method, const cli_uri *u)
{
    cli_call_init(c, method);
    cmn_ais_url_bucket(&c->url, &cli_ais, u->bucket);
    cmn_ais_url_query(&c->url, "provider", u->provider);
}

void cli_call_etl(cli_call *c, const char *method, const char *name)
{
    cli_call_init(c, method);
    cmn_ais_url_etl(&c->url, &cli_ais, name);
}

void cli_call_free(cli_call *c)
{
    cmn_buf_free(&c->url);
    cmn_buf_free(&c->why);
}

int cli_get_json(cli_args *a, cli_call *c, const char *what, cJSON_bool (*want)(const cJSON *), cJSON **out)
{
    *out = NULL;
    cmn_http_resp r;
    cmn_http_resp_init(&r);
    int rc = cli_send(c, &r, false);
    if (rc == CLI_EXIT_OK && cli_flag_set(a, "json"))
        cli_print_json(r.body.data, r.body.len);
    else if (rc == CLI_EXIT_OK && cmn_ais_json(&r, want, out) != 0)
        rc = cli_fail("invalid %s reply from %s", what, cli_ais.endpoint);
    cmn_http_resp_free(&r);
    return rc;
}

void cli_reply_id(const cmn_http_resp *r, char *out, size_t outlen)
{
    const char *p = r->body.data ? r->body.data : "";
    size_t len = r->body.len;
    while (len && (*p == '"' || isspace((unsigned char)*p)))
        p++, len--;
    while (len && (p[len - 1] == '"' || isspace((unsigned char)p[len - 1])))
        len--;
    snprintf(out, outlen, "%.*s", (int)(len < outlen ? len : outlen - 1), p);
}

bool cli_stdout_gone(int err) { return err == EPIPE; }

int cli_send(cli_call *c, cmn_http_resp *resp, bool quiet)
{
    cmn_http_req req = {
        .method = c->method,
        .url = c->url.data,
        .body = c->body,
        .body_len = c->body_len,
        .body_path = c->body_path,
        .follow_redirects = c->follow,
        .to_fd = c->out_fd >= 0,
        .out_fd = c->out_fd,
    };
    cmn_buf_reset(&c->why);
    if (cmn_ais_do(&cli_ais, &req, resp, NULL) == 0)
        return CLI_EXIT_OK;
    if (resp->err.code) { /* no answer, or the output failed */
        cmn_buf_puts(&c->why, resp->err.msg);
        if (resp->out_err && cli_stdout_gone(resp->out_err))
            return CLI_EXIT_ERR; /* the reader went away: nothing to say */
        if (resp->status == 0)
            return cli_fail("%s (is AIS_ENDPOINT=%s right?)", c->why.data, cli_ais.endpoint);
        return cli_fail("%s", c->why.data);
    }
    cmn_ais_err_message(resp, &c->why);
    if (quiet)
        return CLI_EXIT_ERR;
    return cli_fail("%s", c->why.data);
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

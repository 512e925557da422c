/*
 * ais_client.h - the AIStore REST client the mount, the command line and
 * the tools share (prefix cmn_ais_): URLs with Go's escaping, requests over
 * the one libcurl wrapper (http_client.h), JSON answers, and AIStore's error
 * answers turned into the project's errors (0 or -errno plus a cmn_err).
 */
#ifndef ETLFS_AIS_CLIENT_H
#define ETLFS_AIS_CLIENT_H

#include "common/cmn.h"
#include "common/http_client.h"

#include <cjson/cJSON.h>

/* Where and how requests go; the fields are copied into every request. */
typedef struct cmn_ais {
    const char *endpoint;     /* "http://host:port"; a trailing '/' is ignored */
    cmn_http_pool *pool;      /* NULL = the shared pool */
    long connect_timeout_ms;  /* as in cmn_http_req: 0 = bounded default, -1 = none */
    long stall_sec;
    const char *user_agent;   /* optional */
    const char *token;        /* AuthN token (JWT) sent as "Authorization: Bearer"; NULL = none */
} cmn_ais;

/* The most headers a request may bring besides the bearer one. */
#define CMN_AIS_MAX_HEADERS 16

/* The token a client uses when given none: AIS_AUTHN_TOKEN, else the
 * "token" of the JSON file AIS_AUTHN_TOKEN_FILE names, else of AIStore's
 * CLI token file ~/.config/ais/cli/auth.token when it exists (as AIStore's
 * clients look). NULL when there is none; malloc'd. -errno with err filled
 * when a named file cannot be read or holds no token. */
int cmn_ais_token_load(const char *file, char **token, cmn_err *err);

/* ---- URLs, appended to u */
/* endpoint + "/v1/" + path, path taken as it is ("etl", "cluster"). */
void cmn_ais_url(cmn_buf *u, const cmn_ais *c, const char *path);
/* /v1/buckets, or /v1/buckets/B when bck is not NULL or "". */
void cmn_ais_url_bucket(cmn_buf *u, const cmn_ais *c, const char *bck);
/* /v1/objects/B/O */
void cmn_ais_url_object(cmn_buf *u, const cmn_ais *c, const char *bck, const char *obj);
/* /v1/etl, or /v1/etl/NAME with NAME escaped as one segment */
void cmn_ais_url_etl(cmn_buf *u, const cmn_ais *c, const char *name);
/* s with each '/'-separated segment escaped as Go's url.PathEscape does;
 * empty segments are kept, so the server judges "a//b". */
void cmn_ais_url_path(cmn_buf *u, const char *s);
/* "?k=v" or "&k=v", v escaped (everything but [A-Za-z0-9-_.~] as %XX). */
void cmn_ais_url_query(cmn_buf *u, const char *k, const char *v);

/* ---- requests and answers */
/* {"action":A,"name":N,"value":V} as compact JSON (malloc'd); takes value,
 * NULL sends null. */
char *cmn_ais_action(const char *action, const char *name, cJSON *value);
/* The errno for an HTTP status, the inverse of cmn_err_http_status: 2xx 0,
 * 400 EINVAL, 401 and 403 EACCES, 404 ENOENT, 409 EEXIST, 413 E2BIG, 416 ERANGE,
 * 501 EOPNOTSUPP, 503 EAGAIN, 504 ETIMEDOUT, 507 ENOSPC, others EIO. */
int cmn_ais_status_errno(long status);
/* Appends what an error answer says, in full: the "message" of AIStore's
 * JSON error body, else the body's first line, else "HTTP error N". */
void cmn_ais_err_message(const cmn_http_resp *r, cmn_buf *out);
/* Runs req with c's endpoint settings (a body with body_len 0 is taken as
 * a C string). 0 on a 2xx answer. Otherwise a negative errno and err filled:
 * cmn_http_do's error when no answer came (resp->status 0) or the output
 * failed, else cmn_ais_status_errno's with the server's message (cut to
 * fit; cmn_ais_err_message has all of it). */
int cmn_ais_do(const cmn_ais *c, const cmn_http_req *req, cmn_http_resp *resp, cmn_err *err);
/* Parses a JSON answer into *out, which must pass want (cJSON_IsObject,
 * cJSON_IsArray; an empty body is [] for an array). 0, or -EBADMSG with
 * *out NULL. The caller deletes *out. */
int cmn_ais_json(const cmn_http_resp *r, cJSON_bool (*want)(const cJSON *), cJSON **out);

#endif

/* Placeholder until the ETL service lands: every ETL call reports 501. */
#include "etl/etl.h"

#include <stdlib.h>
#include <string.h>

struct etl_registry { char secret[16]; };

etl_registry *etl_registry_new(const etl_config *cfg) { (void)cfg; etl_registry *r = calloc(1, sizeof *r); if (r) strcpy(r->secret, "0000000000"); return r; }
void etl_registry_free(etl_registry *r) { free(r); }
const char *etl_registry_secret(const etl_registry *r) { return r->secret; }
void etl_reply_init(etl_reply *r) { memset(r, 0, sizeof *r); cmn_buf_init(&r->body); }
void etl_reply_free(etl_reply *r) { cmn_buf_free(&r->body); }
static void nyi(etl_reply *out) { out->status = 501; cmn_buf_puts(&out->body, "ETL service not built"); out->content_type = "text/plain"; }
void etl_api_init(etl_registry *r, const char *b, size_t l, etl_reply *out) { (void)r; (void)b; (void)l; nyi(out); }
void etl_api_list(etl_registry *r, etl_reply *out) { (void)r; out->status = 200; cmn_buf_puts(&out->body, "[]"); out->content_type = "application/json"; }
void etl_api_show(etl_registry *r, const char *n, etl_reply *out) { (void)r; (void)n; nyi(out); }
void etl_api_stop(etl_registry *r, const char *n, etl_reply *out) { (void)r; (void)n; nyi(out); }
void etl_api_start(etl_registry *r, const char *n, etl_reply *out) { (void)r; (void)n; nyi(out); }
void etl_api_delete(etl_registry *r, const char *n, etl_reply *out) { (void)r; (void)n; nyi(out); }
void etl_api_logs(etl_registry *r, const char *n, etl_reply *out) { (void)r; (void)n; nyi(out); }
void etl_api_health(etl_registry *r, const char *n, etl_reply *out) { (void)r; (void)n; nyi(out); }
void etl_api_metrics(etl_registry *r, const char *n, etl_reply *out) { (void)r; (void)n; nyi(out); }
etl_handle *etl_get(etl_registry *r, const char *n) { (void)r; (void)n; return NULL; }
void etl_put(etl_handle *h) { (void)h; }
const char *etl_comm_type(const etl_handle *h) { (void)h; return "hpush://"; }
char *etl_pull_url(const etl_handle *h, const etl_object *o) { (void)h; (void)o; return NULL; }
int etl_transform(etl_handle *h, const etl_object *o, const etl_sink *s, int64_t t, char *m, size_t ml) { (void)h; (void)o; (void)s; (void)t; strncpy(m, "no ETL service", ml); return 502; }

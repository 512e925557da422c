/* Placeholder bucket/object actions until the job layer lands: 501. */
#include "target/target.h"

static int nyi(tgt_req *r, const char *what) { return tgt_reply_err(r, 501, "%s is not implemented yet", what); }
int tgt_act_copy_bck(tgt_req *r, const char *src, cJSON *value, bool etl) { (void)src; (void)value; return nyi(r, etl ? "etl-bck" : "copy-bck"); }
int tgt_act_move_bck(tgt_req *r, const char *src) { (void)src; return nyi(r, "move-bck"); }
int tgt_act_listrange(tgt_req *r, const char *src, const char *action, cJSON *value) { (void)src; (void)value; return nyi(r, action); }
int tgt_act_archive(tgt_req *r, const char *src, cJSON *value) { (void)src; (void)value; return nyi(r, "archive"); }
int tgt_act_promote(tgt_req *r, const char *bck) { (void)bck; return nyi(r, "promote"); }
int tgt_act_copy_obj(tgt_req *r, const char *bck, const char *obj) { (void)bck; (void)obj; return nyi(r, "copy-obj"); }
int tgt_act_start_job(tgt_req *r, cJSON *value) { (void)value; return nyi(r, "job start"); }

/*
 * err.c - the one error convention: a failing function returns a negative
 * errno, and where a user must be told why, fills a cmn_err with the same
 * code and a message naming the object and the cause. The code becomes an
 * HTTP status here, once, when the reply is made (cmn_err_http_status).
 */
#include "common/cmn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cmn_err_set(cmn_err *e, int code, const char *fmt, ...)
{
    if (code < 0)
        code = -code;
    if (code == 0)
        code = EIO;
    if (e) {
        e->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -code;
}

int cmn_err_http_status(int code)
{
    switch (code < 0 ? -code : code) {
    case 0: return 200;
    case EINVAL: case ENAMETOOLONG: case EDOM: case EISDIR: case ENOTDIR:
        return 400;                   /* the request is malformed */
    case EKEYREJECTED: return 401;    /* no token, or one that does not verify */
    case EACCES: case EPERM: return 403;
    case ENOENT: case ESRCH: return 404;
    case EEXIST: case EBUSY: case ENOTEMPTY: return 409;
    case E2BIG: case EMSGSIZE: case EFBIG: return 413;
    case ERANGE: return 416;          /* a Range outside the object */
    case ECANCELED: return 499;       /* the client or the sink went away */
    case ENOSYS: case EOPNOTSUPP: return 501;
    case EPROTO: case EBADMSG: case ECONNREFUSED: case ECONNRESET: case EPIPE:
        return 502;                   /* an ETL (or another upstream) failed */
    case EAGAIN: case ENOTCONN: case EHOSTDOWN: return 503;
    case ETIMEDOUT: return 504;
    case ENOSPC: case EDQUOT: return 507;
    default: return 500;
    }
}

/* SPDX-License-Identifier: MIT */
/* Error code descriptions and the errno → MON_E* translation. */
#include "common/err.h"

#include <errno.h>

const char *mon_strerror(int err)
{
    switch (err) {
    case MON_OK:
        return "success";
    case MON_ENOMEM:
        return "out of memory";
    case MON_EINVAL:
        return "invalid value";
    case MON_EIO:
        return "input/output error";
    case MON_ENOENT:
        return "not found";
    case MON_ETIMEDOUT:
        return "timed out";
    case MON_ERANGE:
        return "out of range";
    case MON_EPARSE:
        return "malformed input";
    case MON_EUNSUPPORTED:
        return "not supported";
    case MON_EBUSY:
        return "busy";
    case MON_EPERM:
        return "permission denied";
    case MON_ETOOBIG:
        return "too large";
    case MON_EAGAIN:
        return "not ready yet";
    case MON_ESYS:
        return "system error";
    case MON_EEXIST:
        return "already exists";
    default:
        return "unknown error";
    }
}

int mon_err_from_errno(int errnum)
{
    switch (errnum) {
    case ENOMEM:
        return MON_ENOMEM;
    case EINVAL:
        return MON_EINVAL;
    case EIO:
        return MON_EIO;
    case ENOENT:
    case ENOTDIR:
        return MON_ENOENT;
    case ETIMEDOUT:
        return MON_ETIMEDOUT;
    case ERANGE:
    case EOVERFLOW:
        return MON_ERANGE;
    case EBUSY:
        return MON_EBUSY;
    case EACCES:
    case EPERM:
        return MON_EPERM;
    case EFBIG:
    case E2BIG:
        return MON_ETOOBIG;
    case EAGAIN:
        return MON_EAGAIN;
    case EEXIST:
        return MON_EEXIST;
    default:
        return MON_ESYS;
    }
}

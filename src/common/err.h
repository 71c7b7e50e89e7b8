/* SPDX-License-Identifier: MIT */
/* Error codes shared by every module: negative MON_E* values, 0 or positive for success. */
#ifndef MON_COMMON_ERR_H
#define MON_COMMON_ERR_H

/* Threads: both functions are pure; mon_strerror's texts are static (never freed). */

enum mon_err {
    MON_OK = 0,
    MON_ENOMEM = -1,       /* allocation failed */
    MON_EINVAL = -2,       /* bad argument or value */
    MON_EIO = -3,          /* read/write failed */
    MON_ENOENT = -4,       /* file, mount, unit or record not found */
    MON_ETIMEDOUT = -5,    /* a wait ran past its limit */
    MON_ERANGE = -6,       /* number out of range or too many items */
    MON_EPARSE = -7,       /* malformed input */
    MON_EUNSUPPORTED = -8, /* feature or device not available */
    MON_EBUSY = -9,        /* resource busy or locked */
    MON_EPERM = -10,       /* not permitted */
    MON_ETOOBIG = -11,     /* input larger than its cap */
    MON_EAGAIN = -12,      /* try again later (value not ready yet) */
    MON_ESYS = -13,        /* other operating-system error */
    MON_EEXIST = -14,      /* already exists */
};

/* Returns a static English description of a MON_E* code; never NULL. */
const char *mon_strerror(int err);

/* Maps an errno value to the nearest MON_E* code (always negative). */
int mon_err_from_errno(int errnum);

#endif

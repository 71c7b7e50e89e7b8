/* SPDX-License-Identifier: MIT */
/* Fuzzes the front door's request-head check, mon_http_head_check(), with and without bodies
 * accepted: a verdict for every input; an accepted head ends with an empty line within the
 * limit, holds no NUL byte, at most one Content-Length and no Transfer-Encoding, and is
 * judged the same when only the head itself is given; a rejection is a 4xx/505 with a reason. */
#include "fuzz_util.h"

#include "common/http_head.h"

#include <string.h>
#include <strings.h>

static void check(const char *buf, size_t len, const struct mon_http_head_limits *lim)
{
    struct mon_http_head_result res, again;
    enum mon_http_head_verdict v = mon_http_head_check(buf, len, lim, &res);

    if (v == MON_HTTP_HEAD_INCOMPLETE) {
        FUZZ_CHECK(len <= lim->max_header_bytes);
        return;
    }
    if (v == MON_HTTP_HEAD_REJECT) {
        FUZZ_CHECK(res.status == 400 || res.status == 411 || res.status == 413 ||
                   res.status == 431 || res.status == 505);
        FUZZ_CHECK(fuzz_terminated(res.error, sizeof(res.error)) && res.error[0]);
        return;
    }
    FUZZ_CHECK(v == MON_HTTP_HEAD_OK);
    FUZZ_CHECK(res.head_len >= 4 && res.head_len <= len && res.head_len <= lim->max_header_bytes);
    FUZZ_CHECK(buf[res.head_len - 1] == '\n');
    FUZZ_CHECK(buf[res.head_len - 2] == '\n' ||
               (buf[res.head_len - 2] == '\r' && buf[res.head_len - 3] == '\n'));
    FUZZ_CHECK(memchr(buf, '\0', res.head_len) == NULL);
    FUZZ_CHECK(!res.has_body || lim->max_body_bytes > 0);
    /* What follows the head (a body, the next request) does not change the verdict. */
    FUZZ_CHECK(mon_http_head_check(buf, res.head_len, lim, &again) == MON_HTTP_HEAD_OK);
    FUZZ_CHECK(again.head_len == res.head_len && again.has_body == res.has_body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct mon_http_head_limits with_body = {.max_header_bytes = 8192,
                                                   .max_body_bytes = 65536};
    const struct mon_http_head_limits no_body = {.max_header_bytes = 512, .max_body_bytes = 0};
    check((const char *)data, size, &with_body);
    check((const char *)data, size, &no_body);
    return 0;
}

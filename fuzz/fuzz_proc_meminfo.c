/* SPDX-License-Identifier: MIT */
/* Fuzzes agent_parse_proc_meminfo(): accepted readings are consistent byte counts, rejected ones
 * leave the output untouched. */
#include "fuzz_util.h"

#include "agent/collect/proc_meminfo.h"
#include "common/err.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct agent_meminfo sentinel = {12345, 678};
    struct agent_meminfo m = sentinel;
    int r = agent_parse_proc_meminfo((const char *)data, size, &m);

    if (r < 0) {
        FUZZ_CHECK(r == MON_EPARSE || r == MON_ERANGE);
        FUZZ_CHECK(memcmp(&m, &sentinel, sizeof(m)) == 0);
        return 0;
    }
    FUZZ_CHECK(r == MON_OK);
    FUZZ_CHECK(m.available_bytes <= m.total_bytes);
    FUZZ_CHECK(m.total_bytes % 1024 == 0);
    return 0;
}

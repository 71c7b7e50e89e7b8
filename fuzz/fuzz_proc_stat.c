/* SPDX-License-Identifier: MIT */
/* Fuzzes agent_parse_proc_stat() and the busy percentage computed from two readings: the whole
 * input is one reading, its two halves are two consecutive ones. */
#include "fuzz_util.h"

#include "agent/collect/proc_stat.h"
#include "common/err.h"

#include <string.h>

static const struct agent_cpu_times sentinel = {1, 2, 3, 4, 5, 6, 7, 8};

/* Parses one reading; on error the outputs must be untouched. */
static bool parse(const uint8_t *data, size_t size, struct agent_cpu_times *ret, unsigned *ret_ncpu)
{
    unsigned ncpu = 777;
    size_t lines = 1;
    int r;

    *ret = sentinel;
    r = agent_parse_proc_stat((const char *)data, size, ret, &ncpu);
    if (r < 0) {
        FUZZ_CHECK(r == MON_EPARSE);
        FUZZ_CHECK(memcmp(ret, &sentinel, sizeof(sentinel)) == 0 && ncpu == 777);
        return false;
    }
    FUZZ_CHECK(r == MON_OK);
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    FUZZ_CHECK(ncpu < lines); /* one line is the aggregate "cpu " line */
    *ret_ncpu = ncpu;
    return true;
}

/* The busy percentage between two readings is in 0..100, or an explicit "restart". */
static void check_busy(const struct agent_cpu_times *a, const struct agent_cpu_times *b)
{
    double pct = -1;
    int r = agent_cpu_times_busy_pct(a, b, &pct);
    if (r == MON_OK)
        FUZZ_CHECK(fuzz_in_range(pct, 0, 100));
    else
        FUZZ_CHECK((r == MON_EAGAIN || r == MON_ERANGE) && pct == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct agent_cpu_times zero;
    struct agent_cpu_times whole, first, second;
    unsigned n;
    bool ok_first, ok_second;

    if (parse(data, size, &whole, &n)) {
        check_busy(&zero, &whole);
        check_busy(&whole, &whole);
    }
    ok_first = parse(data, size / 2, &first, &n);
    ok_second = parse(data + size / 2, size - size / 2, &second, &n);
    if (ok_first && ok_second) {
        check_busy(&first, &second);
        check_busy(&second, &first);
    }
    return 0;
}

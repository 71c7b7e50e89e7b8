/* SPDX-License-Identifier: MIT */
/* Fuzzes agent_parse_nvidia_smi_csv(), the agent's reader of nvidia-smi output (the fallback when
 * NVML cannot be loaded): readings in range, strings terminated, the count capped. */
#include "fuzz_util.h"

#include "agent/collect/gpu_smi.h"
#include "common/err.h"

#include <string.h>

/* A small cap as well as the real one, so that the "too many GPUs" path is reached. */
static void parse(const uint8_t *data, size_t size, size_t max)
{
    static struct agent_gpu_reading out[GPU_MAX];
    size_t n = 999;
    char why[128];
    int r;

    memset(why, 'x', sizeof(why));
    r = agent_parse_nvidia_smi_csv((const char *)data, size, out, max, &n, why, sizeof(why));
    if (r < 0) {
        FUZZ_CHECK(r == MON_EPARSE || r == MON_ERANGE);
        FUZZ_CHECK(n == 999);
        FUZZ_CHECK(fuzz_terminated(why, sizeof(why)) && why[0]);
        return;
    }
    FUZZ_CHECK(r == MON_OK && n <= max);
    for (size_t i = 0; i < n; i++) {
        const struct agent_gpu_reading *g = &out[i];
        FUZZ_CHECK(g->index < GPU_MAX);
        FUZZ_CHECK(fuzz_terminated(g->name, sizeof(g->name)));
        FUZZ_CHECK(fuzz_terminated(g->uuid, sizeof(g->uuid)));
        FUZZ_CHECK(g->error[0] == '\0');
        FUZZ_CHECK(!g->has_util || fuzz_in_range(g->util_pct, 0, 100));
        FUZZ_CHECK(!g->has_temp || fuzz_in_range(g->temp_c, -273, 1000));
        FUZZ_CHECK(!g->has_power || fuzz_in_range(g->power_w, 0, 1e6));
        FUZZ_CHECK(g->has_mem || (g->mem_used_mb == 0 && g->mem_total_mb == 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size, GPU_MAX);
    parse(data, size, 2);
    return 0;
}

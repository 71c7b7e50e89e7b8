/* SPDX-License-Identifier: MIT */
/* monitor-agent entry point (placeholder until the agent lands). */
int main(void)
{
    return 0;
}

/* SPDX-License-Identifier: MIT */
/* Agent configuration: defaults, every key, and errors that name file, line and key. */
#include "agent/config.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int parse(const char *text, struct agent_config **cfg, struct mon_cfg_error *err)
{
    return agent_config_parse("test.yaml", text, strlen(text), cfg, err);
}

/* Expects a parse failure whose message contains every given fragment. */
static void expect_error(const char *text, const char *frag1, const char *frag2)
{
    struct agent_config *cfg = NULL;
    struct mon_cfg_error err;
    int r = parse(text, &cfg, &err);
    if (r >= 0)
        fail_msg("expected an error for:\n%s", text);
    assert_null(cfg);
    if (!strstr(err.msg, frag1) || (frag2 && !strstr(err.msg, frag2)))
        fail_msg("message '%s' lacks '%s' / '%s'", err.msg, frag1, frag2 ? frag2 : "");
}

static void test_minimal_defaults(void **state)
{
    struct agent_config *cfg = NULL;
    struct mon_cfg_error err;
    (void)state;
    assert_int_equal(parse("node_id: srv-01\ntoken: \"abcdefgh12\"\n", &cfg, &err), MON_OK);
    assert_string_equal(cfg->node_id, "srv-01");
    assert_string_equal(cfg->listen, "0.0.0.0:9109");
    assert_string_equal(cfg->token, "abcdefgh12");
    assert_int_equal(cfg->n_disks, 1);
    assert_string_equal(cfg->disks[0], "/");
    assert_int_equal(cfg->n_allow, 0);
    assert_int_equal(cfg->gpu, AGENT_GPU_AUTO);
    assert_string_equal(cfg->nvml_library, "libnvidia-ml.so.1");
    assert_string_equal(cfg->nvidia_smi, "nvidia-smi");
    assert_string_equal(cfg->procfs_root, "/proc");
    assert_int_equal(cfg->cpu_window_ms, 5000);
    assert_true(cfg->gpu_processes);
    agent_config_free(cfg);
}

static void test_full(void **state)
{
    struct agent_config *cfg = NULL;
    struct mon_cfg_error err;
    const char *text = "node_id: \"gpu-7\"\n"
                       "listen: \"[::]:9200\"\n"
                       "token: \"0123456789abcdef\"\n"
                       "disks: [\"/\", \"/data\"]\n"
                       "services_allowlist: [\"nginx.service\", \"docker*.service\"]\n"
                       "gpu: nvidia\n"
                       "gpu_processes: false\n"
                       "allow_from: [\"10.0.0.0/24\", \"fd00::/8\"]\n"
                       "nvml_library: /opt/fake/libnvidia-ml.so.1\n"
                       "nvidia_smi: /usr/bin/nvidia-smi\n"
                       "procfs_root: /tmp/proc\n"
                       "cpu_window: 10s\n";
    struct sockaddr_in in = {.sin_family = AF_INET};
    (void)state;
    assert_int_equal(parse(text, &cfg, &err), MON_OK);
    assert_string_equal(cfg->listen, "[::]:9200");
    assert_int_equal(cfg->n_disks, 2);
    assert_string_equal(cfg->disks[1], "/data");
    assert_int_equal(cfg->gpu, AGENT_GPU_NVIDIA);
    assert_false(cfg->gpu_processes);
    assert_int_equal(cfg->n_allow_from, 2);
    assert_int_equal(cfg->cpu_window_ms, 10000);
    assert_true(agent_config_unit_allowed(cfg, "nginx.service"));
    assert_true(agent_config_unit_allowed(cfg, "docker-compose.service"));
    assert_false(agent_config_unit_allowed(cfg, "sshd.service"));
    inet_pton(AF_INET, "10.0.0.77", &in.sin_addr);
    assert_true(agent_config_client_allowed(cfg, (struct sockaddr *)&in));
    inet_pton(AF_INET, "10.0.1.77", &in.sin_addr);
    assert_false(agent_config_client_allowed(cfg, (struct sockaddr *)&in));
    agent_config_free(cfg);
}

static void test_token_file(void **state)
{
    char path[] = "/tmp/agent-token-XXXXXX", text[256];
    struct agent_config *cfg = NULL;
    struct mon_cfg_error err;
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "  s3cret-token-value \n", 22), 22);
    close(fd);
    snprintf(text, sizeof(text), "node_id: a\ntoken_file: %s\n", path);
    assert_int_equal(parse(text, &cfg, &err), MON_OK);
    assert_string_equal(cfg->token, "s3cret-token-value");
    agent_config_free(cfg);
    unlink(path);
    expect_error(text, "token_file", "cannot open");
}

static void test_errors_name_line_and_key(void **state)
{
    (void)state;
    expect_error("node_id: a\ntoken: abcdefgh\nlisten_port: 9\n", "test.yaml:3:", "listen_port");
    expect_error("node_id: a\ntoken: abcdefgh\ngpu: amd\n", "test.yaml:3:", "'gpu'");
    expect_error("node_id: a\ntoken: abcdefgh\ngpu_processes: yes\n",
                 "test.yaml:3:", "'gpu_processes'");
    expect_error("node_id: a\ntoken: abcdefgh\ngpu_processes: \"true\"\n", ":3:", "true or false");
    expect_error("node_id: a\ntoken: abcdefgh\ndisks: /\n", "test.yaml:3:", "'disks'");
    expect_error("node_id: a\ntoken: abcdefgh\ndisks: [\"data\"]\n", ":3:", "absolute");
    expect_error("node_id: a\ntoken: abcdefgh\ncpu_window: 5\n", ":3:", "'cpu_window'");
    expect_error("node_id: a\ntoken: abcdefgh\ncpu_window: 0s\n", ":3:", "out of range");
    expect_error("node_id: a\ntoken: abcdefgh\nlisten: localhost:9109\n", ":3:", "'listen'");
    expect_error("node_id: a\ntoken: abcdefgh\nallow_from: [\"10.0.0.1/8\"]\n",
                 ":3:", "allow_from");
    expect_error("node_id: a\ntoken: abcdefgh\nallow_from: [\"nonsense\"]\n", ":3:", "CIDR");
    expect_error("node_id: a\ntoken: abcdefgh\nservices_allowlist: [\"bad name!\"]\n",
                 ":3:", "services_allowlist");
    expect_error("node_id: a\ntoken: abcdefgh\nprocfs_root: proc\n", ":3:", "procfs_root");
    expect_error("node_id: a\n", "'token'", "required");
    expect_error("token: abcdefgh\n", "'node_id'", "missing");
    expect_error("node_id: a\ntoken: short\n", "'token'", "8 characters");
    /* Issue 11 item 14: a token no HTTP header can carry whole. */
    expect_error("node_id: a\ntoken: \"abcdefgh\\r\\nX-Injected: 1\"\n", "'token'",
                 "control character");
    expect_error("node_id: a\ntoken: \"abc\\tdefgh\"\n", "'token'", "control character");
    expect_error("node_id: a\ntoken: \"          \"\n", "'token'", "only spaces");
    expect_error("node_id: a\ntoken: \" abcdefgh\"\n", "'token'", "starts or ends with a space");
    expect_error("node_id: a\ntoken: abcdefgh\ntoken_file: /x\n", "token_file", "not both");
    expect_error("node_id: a\ntoken: abcdefgh\nnode_id: b\n", ":3:", "twice");
    expect_error("node_id: [a]\ntoken: abcdefgh\n", ":1:", "'node_id'");
    expect_error("- a\n- b\n", "test.yaml:1:", "mapping");
    expect_error("node_id: \"a\ntoken: x\n", "test.yaml:", "YAML");
}

static void test_missing_file(void **state)
{
    struct agent_config *cfg = NULL;
    struct mon_cfg_error err;
    (void)state;
    assert_true(agent_config_load("/nonexistent/agent.yaml", &cfg, &err) < 0);
    assert_non_null(strstr(err.msg, "/nonexistent/agent.yaml"));
}

static void free_names(char **names)
{
    for (size_t i = 0; i < AGENT_MAX_REQUESTED_UNITS; i++)
        free(names[i]);
}

/* ?services= lists and the allowlist's default names. */
static void test_request_units(void **state)
{
    struct agent_config *cfg = NULL;
    struct mon_cfg_error err;
    char *names[AGENT_MAX_REQUESTED_UNITS], long_name[300], many[65 * 4 + 8];
    bool allowed[AGENT_MAX_REQUESTED_UNITS], present = false;
    (void)state;
    assert_int_equal(parse("node_id: a\ntoken: abcdefgh\n"
                           "services_allowlist: [nginx.service, \"*.timer\"]\n",
                           &cfg, &err),
                     MON_OK);
    /* without the parameter: the exact names only */
    assert_int_equal(agent_config_request_units(cfg, NULL, names, allowed, &present), 1);
    assert_true(present);
    assert_string_equal(names[0], "nginx.service");
    assert_true(allowed[0]);
    free_names(names);
    /* empty items are skipped; names outside the allowlist are listed as not allowed */
    assert_int_equal(
        agent_config_request_units(cfg, ",ssh.service,,backup.timer,", names, allowed, &present),
        2);
    assert_string_equal(names[0], "ssh.service");
    assert_false(allowed[0]);
    assert_string_equal(names[1], "backup.timer");
    assert_true(allowed[1]);
    free_names(names);
    assert_int_equal(agent_config_request_units(cfg, "", names, allowed, &present), 0);
    assert_true(present);
    free_names(names);
    /* too long a name, too many names: an error with nothing left to free */
    memset(long_name, 'a', 256);
    long_name[256] = '\0';
    assert_int_equal(agent_config_request_units(cfg, long_name, names, allowed, &present),
                     MON_ERANGE);
    for (int i = 0, off = 0; i < 65; i++)
        off += snprintf(many + off, sizeof(many) - (size_t)off, "%sa.x", i ? "," : "");
    assert_int_equal(agent_config_request_units(cfg, many, names, allowed, &present), MON_ERANGE);
    for (size_t i = 0; i < AGENT_MAX_REQUESTED_UNITS; i++)
        assert_null(names[i]);
    agent_config_free(cfg);

    /* an empty allowlist and no parameter: no services array at all */
    assert_int_equal(parse("node_id: a\ntoken: abcdefgh\n", &cfg, &err), MON_OK);
    present = true;
    assert_int_equal(agent_config_request_units(cfg, NULL, names, allowed, &present), 0);
    assert_false(present);
    agent_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults), cmocka_unit_test(test_full),
        cmocka_unit_test(test_token_file),       cmocka_unit_test(test_errors_name_line_and_key),
        cmocka_unit_test(test_missing_file),     cmocka_unit_test(test_request_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/* The poller's cap on new TLS connections in flight, against the fleet simulator serving HTTPS
 * as agents do (build/bin/fleet, GnuTLS): 120 agents all due at once, pinned beforehand or at
 * first contact, with a cap of 8. The poller never has more than 8 handshakes in flight, the
 * fleet never sees more than 8 at once, every agent comes online and no poll fails. */
#include "aggregator/poller.h"
#include "aggregator/sample.h"
#include "aggregator/store.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/tls.h"
#include "support/test_os.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define AGENTS      120
#define CAP         8
#define FLEET_TOKEN "fleet-token-0123"

extern char **environ;

struct fleet_proc {
    pid_t pid;
    char dir[512], cert[600], key[600], log[600];
    char pin[MON_TLS_PIN_LEN];
    char address[32];
    int base_port;
};

struct results {
    pthread_mutex_t lock;
    int ok[AGENTS + 1], failed[AGENTS + 1], pinned;
    char last_error[256];
};

static void on_result(void *ctx, int64_t id, const struct agg_sample *s, const char *error,
                      int64_t now_utc_ms, int64_t now_mono_ms)
{
    struct results *res = ctx;
    (void)now_utc_ms;
    (void)now_mono_ms;
    if (id < 1 || id > AGENTS)
        return;
    pthread_mutex_lock(&res->lock);
    if (s) {
        res->ok[id]++;
    } else {
        res->failed[id]++;
        snprintf(res->last_error, sizeof(res->last_error), "%s", error);
    }
    pthread_mutex_unlock(&res->lock);
}

static void on_pinned(void *ctx, int64_t id, const char *pin, int64_t now_utc_ms)
{
    struct results *res = ctx;
    (void)id;
    (void)pin;
    (void)now_utc_ms;
    pthread_mutex_lock(&res->lock);
    res->pinned++;
    pthread_mutex_unlock(&res->lock);
}

/* Starts the fleet on a loopback address of its own (other tests' ports stay apart); a bind
 * failure (taken ports) tries another address. Waits for its "ready" line. */
static void fleet_start(struct fleet_proc *f)
{
    struct mon_tls_gen_options g = {.days = 30, .names = "127.0.0.1", .force = true};
    char why[256];
    assert_true(test_make_temp_dir("lanmon-poller-tls", f->dir, sizeof(f->dir)) >= 0);
    snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
    snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/fleet.log", f->dir);
    g.cert_file = f->cert;
    g.key_file = f->key;
    assert_int_equal(mon_tls_generate(&g, f->pin, why, sizeof(why)), MON_OK);
    srand((unsigned)getpid() ^ (unsigned)mon_mono_ms());
    for (int attempt = 0; attempt < 8; attempt++) {
        char port[16], count[16], line[64] = "";
        char *argv[] = {MON_FAKES_DIR "/../bin/fleet",
                        "--base-port",
                        port,
                        "--count",
                        count,
                        "--address",
                        f->address,
                        "--token",
                        FLEET_TOKEN,
                        "--cert",
                        f->cert,
                        "--key",
                        f->key,
                        NULL};
        posix_spawn_file_actions_t fa;
        int out[2], status;
        ssize_t n;
        f->base_port = 21000 + rand() % 8000;
        snprintf(port, sizeof(port), "%d", f->base_port);
        snprintf(count, sizeof(count), "%d", AGENTS);
        snprintf(f->address, sizeof(f->address), "127.%d.%d.1", 100 + rand() % 100, rand() % 250);
        assert_int_equal(pipe(out), 0);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        posix_spawn_file_actions_addopen(&fa, 2, f->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_int_equal(posix_spawn(&f->pid, argv[0], &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        close(out[1]);
        n = test_sock_wait(out[0], TEST_POLLIN, 30000) ? read(out[0], line, sizeof(line) - 1) : -1;
        close(out[0]);
        if (n > 0 && strncmp(line, "ready", 5) == 0)
            return;
        kill(f->pid, SIGKILL);
        waitpid(f->pid, &status, 0);
    }
    fail_msg("the fleet did not start (see %s)", f->log);
}

/* Stops the fleet and returns the most TLS handshakes it had in progress at once. */
static int fleet_stop(struct fleet_proc *f, int *ret_handshakes)
{
    char text[4096] = "";
    const char *at;
    int status, most = -1, shakes = -1;
    FILE *in;
    kill(f->pid, SIGTERM);
    waitpid(f->pid, &status, 0);
    in = fopen(f->log, "r");
    if (in) {
        size_t n = fread(text, 1, sizeof(text) - 1, in);
        text[n] = '\0';
        fclose(in);
    }
    at = strstr(text, " failed, at most ");
    if (at)
        most = atoi(at + strlen(" failed, at most "));
    at = strstr(text, " evicted, ");
    if (at)
        shakes = atoi(at + strlen(" evicted, "));
    test_rm_tree(f->dir);
    *ret_handshakes = shakes;
    return most;
}

static void cap_holds(bool preset_pins)
{
    struct fleet_proc f = {0};
    struct results res = {.lock = PTHREAD_MUTEX_INITIALIZER};
    /* A 1 s interval puts all 120 first polls within 1 s: far more than 8 at once. */
    struct agg_poller_options o = {.interval_ms = 1000,
                                   .timeout_ms = 5000,
                                   .max_response_bytes = 64 * 1024,
                                   .max_handshakes = CAP,
                                   .on_result = on_result,
                                   .on_pinned = on_pinned,
                                   .ctx = &res};
    struct agg_poller *p = NULL;
    struct agg_poller_stats st;
    int64_t deadline, t0 = mon_mono_ms(), online_ms;
    int fleet_most, fleet_handshakes, online = 0, failed = 0;
    char why[256];

    fleet_start(&f);
    assert_int_equal(agg_poller_start(&o, &p, why, sizeof(why)), MON_OK);
    for (int i = 1; i <= AGENTS; i++) {
        struct agg_server s = {.id = i,
                               .name = "t",
                               .host = f.address,
                               .port = f.base_port + i - 1,
                               .token = FLEET_TOKEN,
                               .enabled = true,
                               .last_seen_at = -1,
                               .last_online = -1,
                               .tls = true,
                               .tls_pin = preset_pins ? f.pin : NULL};
        assert_int_equal(agg_poller_upsert(p, &s), MON_OK);
    }
    /* Every agent online (two good polls each: with TOFU the second is the first pinned one). */
    deadline = mon_mono_ms() + 60000;
    while (mon_mono_ms() < deadline) {
        online = 0;
        pthread_mutex_lock(&res.lock);
        for (int i = 1; i <= AGENTS; i++)
            online += res.ok[i] >= 2;
        pthread_mutex_unlock(&res.lock);
        if (online == AGENTS)
            break;
        mon_sleep_ms(50);
    }
    online_ms = mon_mono_ms() - t0;
    /* The counters are published once per round of the loop (at most a second apart). */
    deadline = mon_mono_ms() + 5000;
    do {
        mon_sleep_ms(100);
        agg_poller_get_stats(p, &st);
    } while (st.tls_handshakes < (uint64_t)(preset_pins ? AGENTS : 2 * AGENTS) &&
             mon_mono_ms() < deadline);
    agg_poller_stop(p);
    fleet_most = fleet_stop(&f, &fleet_handshakes);
    for (int i = 1; i <= AGENTS; i++)
        failed += res.failed[i];
    print_message(
        "%s: %d/%d online after %lld ms, %d failed (%s), %llu handshakes, at most %zu in flight "
        "(fleet: %d at once), %llu waits for a slot, %d pinned\n",
        preset_pins ? "preset pins" : "TOFU", online, AGENTS, (long long)online_ms, failed,
        res.last_error, (unsigned long long)st.tls_handshakes, st.handshakes_in_flight_max,
        fleet_most, (unsigned long long)st.handshake_waits, res.pinned);
    assert_int_equal(online, AGENTS);
    assert_int_equal(failed, 0);
    /* The cap held, and was reached: polls waited for it. */
    assert_true(st.handshakes_in_flight_max <= CAP);
    assert_int_equal(st.handshakes_in_flight_max, CAP);
    assert_true(st.handshake_waits > 0);
    assert_true(fleet_most >= 1 && fleet_most <= CAP);
    /* One handshake per agent (pinned), or two (the first-use one is not kept). */
    assert_true(st.tls_handshakes >= (uint64_t)(preset_pins ? AGENTS : 2 * AGENTS));
    /* The fleet counts the handshakes of polls still in flight at the stop too. */
    assert_true(fleet_handshakes >= (int)st.tls_handshakes &&
                fleet_handshakes <= (int)st.tls_handshakes + CAP);
    assert_int_equal(res.pinned, preset_pins ? 0 : AGENTS);
    pthread_mutex_destroy(&res.lock);
}

static void cap_holds_with_pins(void **state)
{
    (void)state;
    cap_holds(true);
}

static void cap_holds_at_first_contact(void **state)
{
    (void)state;
    cap_holds(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cap_holds_with_pins),
        cmocka_unit_test(cap_holds_at_first_contact),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/* Unit tests for the front door on its own, in the mode of a TLS listener (the seam for HTTPS):
 * no request head is read, only the first byte; allow_from, the caps and the deadlines still
 * apply at accept and after the hand-over. The plain mode is tested through the whole server in
 * test_http.c. */
#include "common/http_gate.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/net.h"
#include "support/test_os.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define WAIT_MS  3000 /* every single wait on a socket is bounded by this */
#define MAX_TAKE 8

/* Plays the server's part: takes handed-over sockets and reports them started, as http.c does
 * from libmicrohttpd's notification, then holds them (a handshake that never ends). */
struct fake_server {
    struct mon_http_gate *gate;
    pthread_mutex_t lock;
    int n;
    mon_socket fds[MAX_TAKE];
    struct mon_http_conn *conns[MAX_TAKE];
    atomic_bool deny;
};

static void take(void *ctx, mon_socket fd, const struct sockaddr *client, socklen_t len)
{
    struct fake_server *s = ctx;
    (void)len;
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_TAKE) {
        s->fds[s->n] = fd;
        /* The gate's thread: no cmocka assertion here (it would jump out of this thread). */
        if (mon_http_gate_conn_started(s->gate, fd, client, &s->conns[s->n]) < 0)
            s->conns[s->n] = NULL;
        s->n++;
    } else {
        mon_os_sock_close(fd);
    }
    pthread_mutex_unlock(&s->lock);
}

static bool allow(void *ctx, const struct sockaddr *client)
{
    struct fake_server *s = ctx;
    (void)client;
    return !atomic_load(&s->deny);
}

static int taken(struct fake_server *s)
{
    int n;
    pthread_mutex_lock(&s->lock);
    n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void open_gate(struct fake_server *s, unsigned per_ip, unsigned head_ms)
{
    static struct mon_listen_addr addr; /* outlives the gate's copy of the options */
    struct mon_http_gate_options o;

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    assert_int_equal(mon_parse_listen_addr("127.0.0.1:0", &addr), 0);
    o = (struct mon_http_gate_options){
        .addr = (const struct sockaddr *)&addr.ss,
        .addr_len = sizeof(struct sockaddr_in),
        .tls = true,
        .max_connections = 16,
        .per_ip_connections = per_ip,
        .head_timeout_ms = head_ms,
        .look_ms = head_ms / 2,
        .limits = {.max_header_bytes = 8192},
        .allow = allow,
        .allow_ctx = s,
        .handover = take,
        .ctx = s,
    };
    assert_int_equal(mon_http_gate_new(&o, &s->gate), MON_OK);
    assert_int_equal(mon_http_gate_run(s->gate), MON_OK);
}

static void close_gate(struct fake_server *s)
{
    mon_http_gate_stop(s->gate);
    for (int i = 0; i < s->n; i++) {
        mon_http_gate_conn_closed(s->gate, s->conns[i]);
        mon_os_sock_close(s->fds[i]);
    }
    mon_http_gate_free(s->gate);
    pthread_mutex_destroy(&s->lock);
}

static int connect_gate(struct fake_server *s)
{
    struct sockaddr_in sin;
    int fd = test_socket(AF_INET);
    assert_true(fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(mon_http_gate_port(s->gate));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Reads until the door closes the connection (or WAIT_MS pass: -1). Returns the bytes read
 * into buf (NUL-terminated) and how long the connection lived in *ms. */
static long read_to_close(int fd, char *buf, size_t size, int64_t since, int64_t *ms)
{
    size_t got = 0;
    *ms = mon_mono_ms() - since;
    for (;;) {
        long n;
        if (!test_sock_wait(fd, TEST_POLLIN, WAIT_MS))
            return -1;
        n = test_sock_recv(fd, buf + got, size - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == size - 1)
            break;
    }
    buf[got] = '\0';
    *ms = mon_mono_ms() - since;
    return (long)got;
}

static bool wait_taken(struct fake_server *s, int n)
{
    for (int i = 0; i < WAIT_MS / 10 && taken(s) < n; i++)
        mon_sleep_ms(10);
    return taken(s) >= n;
}

/* A TLS handshake record is handed over at once, without waiting for a request head; the
 * deadline then covers the handshake: a client that stalls in it is shut down by the door. */
static void test_tls_handshake_handed_over_then_deadline(void **state)
{
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x00, 0x40, 0x01};
    struct fake_server s;
    char buf[256];
    int64_t t0, lived = 0;
    int fd;
    (void)state;
    open_gate(&s, 0, 1000);
    fd = connect_gate(&s);
    t0 = mon_mono_ms();
    assert_int_equal(test_sock_send(fd, hello, sizeof(hello)), (long)sizeof(hello));
    assert_true(wait_taken(&s, 1));
    if (mon_mono_ms() - t0 > 500)
        fail_msg("handed over after %lld ms", (long long)(mon_mono_ms() - t0));
    /* The fake server never answers (a handshake that stalls): the door's deadline ends it. */
    assert_true(read_to_close(fd, buf, sizeof(buf), t0, &lived) == 0);
    if (lived < 800 || lived > 2500)
        fail_msg("a stalled handshake was ended after %lld ms (limit 1 s)", (long long)lived);
    test_sock_close(fd);
    close_gate(&s);
}

/* Plain HTTP on the TLS port: a readable 400 (not a hang, not a handshake failure); nothing
 * handed over. Other bytes: closed. */
static void test_tls_plain_http_gets_clear_400(void **state)
{
    static const char req[] = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    struct fake_server s;
    char buf[512];
    int64_t lived = 0;
    int fd;
    (void)state;
    open_gate(&s, 0, 1000);
    fd = connect_gate(&s);
    assert_int_equal(test_sock_send(fd, req, strlen(req)), (long)strlen(req));
    assert_true(read_to_close(fd, buf, sizeof(buf), mon_mono_ms(), &lived) > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 400 "));
    assert_non_null(strstr(buf, "use https://"));
    test_sock_close(fd);
    fd = connect_gate(&s);
    assert_int_equal(test_sock_send(fd, "\x01\x02", 2), 2);
    assert_true(read_to_close(fd, buf, sizeof(buf), mon_mono_ms(), &lived) == 0);
    test_sock_close(fd);
    assert_int_equal(taken(&s), 0);
    close_gate(&s);
}

/* Nothing sent: closed at the head deadline, never handed over. */
static void test_tls_silent_client_closed_at_deadline(void **state)
{
    struct fake_server s;
    char buf[64];
    int64_t t0, lived = 0;
    int fd;
    (void)state;
    open_gate(&s, 0, 1000);
    fd = connect_gate(&s);
    t0 = mon_mono_ms();
    assert_true(read_to_close(fd, buf, sizeof(buf), t0, &lived) == 0);
    if (lived < 800 || lived > 2500)
        fail_msg("a silent client was closed after %lld ms (limit 1 s)", (long long)lived);
    test_sock_close(fd);
    assert_int_equal(taken(&s), 0);
    close_gate(&s);
}

/* Outside allow_from: closed at accept without a byte (no answer is readable before a
 * handshake, and such a client gets none). */
static void test_tls_refused_at_accept(void **state)
{
    static const unsigned char hello[] = {0x16, 0x03, 0x01};
    struct fake_server s;
    char buf[64];
    int64_t t0, lived = 0;
    int fd;
    (void)state;
    open_gate(&s, 0, 5000);
    atomic_store(&s.deny, true);
    fd = connect_gate(&s);
    t0 = mon_mono_ms();
    (void)test_sock_send(fd, hello, sizeof(hello));
    assert_true(read_to_close(fd, buf, sizeof(buf), t0, &lived) <= 0);
    if (lived > 1000)
        fail_msg("a refused client was closed after %lld ms", (long long)lived);
    test_sock_close(fd);
    assert_int_equal(taken(&s), 0);
    close_gate(&s);
}

/* The per-address cap counts handed-over connections (in their handshake) too: the one that
 * waited longest makes room. */
static void test_tls_per_address_cap(void **state)
{
    static const unsigned char hello[] = {0x16, 0x03, 0x01};
    struct fake_server s;
    char buf[64];
    int64_t lived = 0;
    int fd[3];
    (void)state;
    open_gate(&s, 2, 5000);
    for (int i = 0; i < 2; i++) {
        fd[i] = connect_gate(&s);
        assert_int_equal(test_sock_send(fd[i], hello, sizeof(hello)), (long)sizeof(hello));
        assert_true(wait_taken(&s, i + 1));
        mon_sleep_ms(20); /* distinct deadlines */
    }
    fd[2] = connect_gate(&s);
    assert_true(read_to_close(fd[0], buf, sizeof(buf), mon_mono_ms(), &lived) == 0);
    if (lived > 1000)
        fail_msg("the oldest connection was pushed out after %lld ms", (long long)lived);
    assert_false(test_sock_wait(fd[1], TEST_POLLIN, 200)); /* the others stay */
    assert_int_equal(test_sock_send(fd[2], hello, sizeof(hello)), (long)sizeof(hello));
    assert_true(wait_taken(&s, 3));
    for (int i = 0; i < 3; i++)
        test_sock_close(fd[i]);
    close_gate(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_handshake_handed_over_then_deadline),
        cmocka_unit_test(test_tls_plain_http_gets_clear_400),
        cmocka_unit_test(test_tls_silent_client_closed_at_deadline),
        cmocka_unit_test(test_tls_refused_at_accept),
        cmocka_unit_test(test_tls_per_address_cap),
    };
    test_sockets_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}

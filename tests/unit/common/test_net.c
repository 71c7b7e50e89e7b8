/* SPDX-License-Identifier: MIT */
/* Unit tests for listen-address and CIDR parsing and for matching client addresses. */
#include "common/net.h"
#include "common/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct mon_listen_addr listen_ok(const char *text)
{
    struct mon_listen_addr a;
    int r;
    memset(&a, 0xAB, sizeof(a));
    r = mon_parse_listen_addr(text, &a);
    if (r != MON_OK)
        fail_msg("listen '%s': %d", text, r);
    return a;
}

static void listen_bad(const char *text)
{
    struct mon_listen_addr a;
    int r;
    memset(&a, 0xAB, sizeof(a));
    r = mon_parse_listen_addr(text, &a);
    if (r >= 0)
        fail_msg("listen '%s' accepted", text ? text : "(null)");
    assert_int_equal(a.port, 0xABAB); /* untouched */
}

static void test_listen_ipv4(void **state)
{
    struct mon_listen_addr a;
    const struct sockaddr_in *sin;
    (void)state;
    a = listen_ok("0.0.0.0:9109");
    sin = (const struct sockaddr_in *)&a.ss;
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(a.port, 9109);
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 9109);
    assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));

    a = listen_ok("127.0.0.1:0");
    sin = (const struct sockaddr_in *)&a.ss;
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(a.port, 0);
    assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));

    a = listen_ok("10.1.2.3:65535");
    assert_int_equal(a.port, 65535);
}

static void test_listen_ipv6(void **state)
{
    struct mon_listen_addr a;
    const struct sockaddr_in6 *sin6;
    (void)state;
    a = listen_ok("[::]:9109");
    sin6 = (const struct sockaddr_in6 *)&a.ss;
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(a.port, 9109);
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 9109);
    assert_memory_equal(&sin6->sin6_addr, &in6addr_any, sizeof(in6addr_any));

    a = listen_ok("[::1]:80");
    sin6 = (const struct sockaddr_in6 *)&a.ss;
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(a.port, 80);
    assert_memory_equal(&sin6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback));

    /* "*" is every address: an IPv6 wildcard (dual-stack). */
    a = listen_ok("*:9109");
    sin6 = (const struct sockaddr_in6 *)&a.ss;
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(a.port, 9109);
    assert_memory_equal(&sin6->sin6_addr, &in6addr_any, sizeof(in6addr_any));
}

static void test_listen_rejects(void **state)
{
    (void)state;
    listen_bad("localhost:9109");
    listen_bad("1.2.3.4");
    listen_bad("1.2.3.4:");
    listen_bad("1.2.3.4:70000");
    listen_bad("1.2.3.4:65536");
    listen_bad("1.2.3.4:-1");
    listen_bad("1.2.3.4:80x");
    listen_bad("1.2.3.4: 80");
    listen_bad("1.2.3:80");
    listen_bad("256.1.1.1:80");
    listen_bad(":80");
    listen_bad("[::1]9109");
    listen_bad("[::1]");
    listen_bad("[::1:80");
    listen_bad("::1:80");
    listen_bad("[1.2.3.4]:80");
    listen_bad("[::1]:99999");
    listen_bad("[zz::1]:80");
    listen_bad("");
    listen_bad(NULL);
}

static struct mon_cidr cidr_ok(const char *text)
{
    struct mon_cidr c;
    int r;
    memset(&c, 0xAB, sizeof(c));
    r = mon_parse_cidr(text, &c);
    if (r != MON_OK)
        fail_msg("cidr '%s': %d", text, r);
    return c;
}

static void cidr_bad(const char *text)
{
    struct mon_cidr c;
    int r;
    memset(&c, 0xAB, sizeof(c));
    r = mon_parse_cidr(text, &c);
    if (r >= 0)
        fail_msg("cidr '%s' accepted", text ? text : "(null)");
    assert_int_equal(c.addr[0], 0xAB); /* untouched */
}

static void test_cidr_parse(void **state)
{
    struct mon_cidr c;
    static const uint8_t fd00[16] = {0xfd};
    static const uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    (void)state;
    c = cidr_ok("10.0.0.0/8");
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    assert_memory_equal(c.addr, "\x0a\x00\x00\x00", 4);

    c = cidr_ok("192.168.1.5");
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 32);
    assert_memory_equal(c.addr, "\xc0\xa8\x01\x05", 4);

    c = cidr_ok("0.0.0.0/0");
    assert_int_equal(c.prefix, 0);

    c = cidr_ok("fd00::/8");
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.prefix, 8);
    assert_memory_equal(c.addr, fd00, 16);

    c = cidr_ok("::1");
    assert_int_equal(c.family, AF_INET6);
    assert_int_equal(c.prefix, 128);
    assert_memory_equal(c.addr, loop6, 16);

    c = cidr_ok("::/0");
    assert_int_equal(c.prefix, 0);
    c = cidr_ok("10.0.0.2/31");
    assert_int_equal(c.prefix, 31);
    c = cidr_ok("2001:db8::2/127");
    assert_int_equal(c.prefix, 127);
}

static void test_cidr_rejects(void **state)
{
    (void)state;
    cidr_bad("10.0.0.1/8"); /* host bits set */
    cidr_bad("10.0.0.3/31");
    cidr_bad("fd00::1/8");
    cidr_bad("2001:db8::3/127");
    cidr_bad("10.0.0.0/33");
    cidr_bad("::/129");
    cidr_bad("10.0.0.0/-1");
    cidr_bad("10.0.0.0/");
    cidr_bad("10.0.0.0/8x");
    cidr_bad("10.0.0.0/ 8");
    cidr_bad("10.0.0/8");
    cidr_bad("/8");
    cidr_bad("garbage");
    cidr_bad("host.example.com");
    cidr_bad("");
    cidr_bad(NULL);
    cidr_bad("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee/8");
}

static struct sockaddr_storage sa4(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    memset(&ss, 0, sizeof(ss));
    sin->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage sa6(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof(ss));
    sin6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    return ss;
}

static bool in4(const char *cidr, const char *ip)
{
    struct mon_cidr c = cidr_ok(cidr);
    struct sockaddr_storage ss = sa4(ip);
    return mon_cidr_contains(&c, (const struct sockaddr *)&ss);
}

static bool in6(const char *cidr, const char *ip)
{
    struct mon_cidr c = cidr_ok(cidr);
    struct sockaddr_storage ss = sa6(ip);
    return mon_cidr_contains(&c, (const struct sockaddr *)&ss);
}

static void test_contains_ipv4(void **state)
{
    (void)state;
    assert_true(in4("10.0.0.0/8", "10.0.0.0"));
    assert_true(in4("10.0.0.0/8", "10.255.255.255"));
    assert_true(in4("10.0.0.0/8", "10.1.2.3"));
    assert_false(in4("10.0.0.0/8", "11.0.0.0"));
    assert_false(in4("10.0.0.0/8", "9.255.255.255"));
    assert_true(in4("192.168.1.5", "192.168.1.5"));
    assert_false(in4("192.168.1.5", "192.168.1.4"));
    assert_false(in4("192.168.1.5", "192.168.1.7"));
    assert_true(in4("172.16.0.0/12", "172.31.255.255"));
    assert_false(in4("172.16.0.0/12", "172.32.0.0"));
    /* /31: exactly two addresses. */
    assert_true(in4("10.0.0.2/31", "10.0.0.2"));
    assert_true(in4("10.0.0.2/31", "10.0.0.3"));
    assert_false(in4("10.0.0.2/31", "10.0.0.1"));
    assert_false(in4("10.0.0.2/31", "10.0.0.4"));
    /* Prefix 0 matches every IPv4 address ... */
    assert_true(in4("0.0.0.0/0", "1.2.3.4"));
    assert_true(in4("0.0.0.0/0", "255.255.255.255"));
    /* ... including IPv4-mapped IPv6, but not plain IPv6. */
    assert_true(in6("0.0.0.0/0", "::ffff:8.8.8.8"));
    assert_false(in6("0.0.0.0/0", "2001:db8::1"));
}

static void test_contains_ipv6(void **state)
{
    (void)state;
    assert_true(in6("fd00::/8", "fd12:3456::1"));
    assert_true(in6("fd00::/8", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(in6("fd00::/8", "fe80::1"));
    assert_false(in6("fd00::/8", "fc00::1"));
    assert_true(in6("::1", "::1"));
    assert_false(in6("::1", "::2"));
    assert_true(in6("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(in6("2001:db8::/32", "2001:db9::"));
    /* /127: exactly two addresses. */
    assert_true(in6("2001:db8::2/127", "2001:db8::2"));
    assert_true(in6("2001:db8::2/127", "2001:db8::3"));
    assert_false(in6("2001:db8::2/127", "2001:db8::1"));
    assert_false(in6("2001:db8::2/127", "2001:db8::4"));
    /* Prefix 0 matches every IPv6 address but no IPv4 one. */
    assert_true(in6("::/0", "2001:db8::1"));
    assert_true(in6("::/0", "::"));
    assert_false(in4("::/0", "1.2.3.4"));
    /* An IPv6 block never matches an IPv4 client and vice versa. */
    assert_false(in4("::1", "127.0.0.1"));
    assert_false(in6("127.0.0.1", "::1"));
}

static void test_contains_mapped(void **state)
{
    (void)state;
    assert_true(in6("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(in6("10.0.0.0/8", "::ffff:11.1.2.3"));
    assert_true(in6("127.0.0.1", "::ffff:127.0.0.1"));
    assert_false(in6("127.0.0.1", "::ffff:127.0.0.2"));
    /* The same low 32 bits without the ::ffff: prefix are not IPv4. */
    assert_false(in6("10.0.0.0/8", "::10.1.2.3"));
    assert_false(in6("10.0.0.0/8", "2001:db8::a01:203"));
    assert_false(in6("10.0.0.0/8", "::fffe:10.1.2.3"));
}

static void test_contains_other_family(void **state)
{
    struct mon_cidr c = cidr_ok("0.0.0.0/0");
    struct sockaddr_storage ss;
    (void)state;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    assert_false(mon_cidr_contains(&c, (const struct sockaddr *)&ss));
    assert_false(mon_cidr_contains(&c, NULL));
}

static void test_format_sockaddr(void **state)
{
    struct sockaddr_storage a = sa4("10.0.0.5"), b = sa6("::1"), u;
    char buf[64];
    char tiny[4];
    (void)state;
    mon_format_sockaddr((const struct sockaddr *)&a, buf, sizeof(buf));
    assert_string_equal(buf, "10.0.0.5");
    mon_format_sockaddr((const struct sockaddr *)&b, buf, sizeof(buf));
    assert_string_equal(buf, "::1");
    b = sa6("::ffff:10.1.2.3");
    mon_format_sockaddr((const struct sockaddr *)&b, buf, sizeof(buf));
    assert_string_equal(buf, "10.1.2.3");
    memset(&u, 0, sizeof(u));
    u.ss_family = AF_UNIX;
    mon_format_sockaddr((const struct sockaddr *)&u, buf, sizeof(buf));
    assert_string_equal(buf, "?");
    mon_format_sockaddr(NULL, buf, sizeof(buf));
    assert_string_equal(buf, "?");
    mon_format_sockaddr((const struct sockaddr *)&a, tiny, sizeof(tiny));
    assert_string_equal(tiny, "?");
}

/* Client identities for the per-address caps and the failed-login counts. */
static void test_addr_key(void **state)
{
    struct sockaddr_storage v4 = sa4("10.1.2.3"), mapped = sa6("::ffff:10.1.2.3"),
                            v6a = sa6("fd00:1:2:3::1"), v6b = sa6("fd00:1:2:3::2"),
                            v6c = sa6("fd00:1:2:4::1");
    uint8_t a[16], b[16];
    (void)state;
    mon_addr_key((const struct sockaddr *)&v4, false, a);
    mon_addr_key((const struct sockaddr *)&mapped, false, b);
    assert_memory_equal(a, b, 16); /* one client, whichever socket family saw it */
    mon_addr_key((const struct sockaddr *)&mapped, true, b);
    assert_memory_equal(a, b, 16); /* IPv4 is never cut to a /64 */
    mon_addr_key((const struct sockaddr *)&v6a, false, a);
    mon_addr_key((const struct sockaddr *)&v6b, false, b);
    assert_memory_not_equal(a, b, 16);
    mon_addr_key((const struct sockaddr *)&v6a, true, a);
    mon_addr_key((const struct sockaddr *)&v6b, true, b);
    assert_memory_equal(a, b, 16); /* the same /64 */
    mon_addr_key((const struct sockaddr *)&v6c, true, b);
    assert_memory_not_equal(a, b, 16);
    mon_addr_key(NULL, false, a);
    memset(b, 0, 16);
    assert_memory_equal(a, b, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_ipv4),
        cmocka_unit_test(test_listen_ipv6),
        cmocka_unit_test(test_listen_rejects),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_rejects),
        cmocka_unit_test(test_contains_ipv4),
        cmocka_unit_test(test_contains_ipv6),
        cmocka_unit_test(test_contains_mapped),
        cmocka_unit_test(test_contains_other_family),
        cmocka_unit_test(test_format_sockaddr),
        cmocka_unit_test(test_addr_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

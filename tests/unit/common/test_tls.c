/* SPDX-License-Identifier: MIT */
/* Unit tests for common/tls.c and the tls: section (issue 14): a generated key and certificate
 * load as a pair whose pin is the certificate's; files are never replaced without force; a
 * key of another certificate, a missing file and garbage are refused with the file named; the
 * pin's form; the certificate's dates; `tls: {cert_file, key_file}` parsing. */
#include "common/cfg.h"
#include "common/err.h"
#include "common/tls.h"
#include "support/test_os.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

struct fx {
    char dir[256];
    char cert[300], key[300], cert2[300], key2[300];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_int_equal(test_make_temp_dir("lanmon-tls", f->dir, sizeof(f->dir)), 0);
    snprintf(f->cert, sizeof(f->cert), "%s/a.crt", f->dir);
    snprintf(f->key, sizeof(f->key), "%s/a.key", f->dir);
    snprintf(f->cert2, sizeof(f->cert2), "%s/b.crt", f->dir);
    snprintf(f->key2, sizeof(f->key2), "%s/b.key", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    test_rm_tree(f->dir);
    free(f);
    return 0;
}

static void gen(const char *cert, const char *key, const char *names, unsigned days,
                char pin[MON_TLS_PIN_LEN])
{
    struct mon_tls_gen_options o = {
        .cert_file = cert, .key_file = key, .days = days, .names = names};
    char why[256];
    assert_int_equal(mon_tls_generate(&o, pin, why, sizeof(why)), MON_OK);
}

static void test_generate_load_pin(void **state)
{
    struct fx *f = *state;
    struct mon_tls_pair p = {0};
    char pin[MON_TLS_PIN_LEN], why[512];
    time_t now = time(NULL);

    gen(f->cert, f->key, "127.0.0.1,localhost", 30, pin);
    assert_true(mon_tls_pin_valid(pin));
    if (test_has_file_modes())
        assert_int_equal(test_file_mode(f->key), 0600);
    assert_int_equal(mon_tls_pair_load(f->cert, f->key, &p, why, sizeof(why)), MON_OK);
    assert_string_equal(p.pin, pin);
    assert_non_null(strstr(p.cert_pem, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(p.key_pem, "PRIVATE KEY"));
    /* 30 days from now (within the minute the test takes). */
    assert_true(p.not_after > (int64_t)now + 30 * 86400 - 60);
    assert_true(p.not_after < (int64_t)now + 30 * 86400 + 60);
    {
        char again[MON_TLS_PIN_LEN];
        int64_t from = 0, until = 0;
        assert_int_equal(mon_tls_cert_facts(p.cert_pem, strlen(p.cert_pem), again, &from, &until),
                         MON_OK);
        assert_string_equal(again, pin);
        assert_true(from <= (int64_t)now - 3000); /* an hour back: clocks a little behind */
        assert_int_equal(until, p.not_after);
    }
    mon_tls_pair_done(&p);
    assert_null(p.key_pem);
}

static void test_never_overwritten(void **state)
{
    struct fx *f = *state;
    struct mon_tls_gen_options o = {.cert_file = f->cert, .key_file = f->key, .days = 10};
    char pin[MON_TLS_PIN_LEN], pin2[MON_TLS_PIN_LEN] = "", why[256];

    gen(f->cert, f->key, "host-a", 10, pin);
    o.names = "host-b";
    assert_int_equal(mon_tls_generate(&o, pin2, why, sizeof(why)), MON_EEXIST);
    assert_non_null(strstr(why, "not overwritten"));
    assert_string_equal(pin2, "");
    o.force = true;
    assert_int_equal(mon_tls_generate(&o, pin2, why, sizeof(why)), MON_OK);
    assert_string_not_equal(pin, pin2);
    o.days = 0;
    assert_int_equal(mon_tls_generate(&o, pin2, why, sizeof(why)), MON_EINVAL);
}

static void test_refusals_name_the_file(void **state)
{
    struct fx *f = *state;
    struct mon_tls_pair p = {0};
    char pin[MON_TLS_PIN_LEN], why[512];
    FILE *out;

    gen(f->cert, f->key, "a", 5, pin);
    gen(f->cert2, f->key2, "b", 5, pin);
    /* b's key with a's certificate. */
    assert_int_equal(mon_tls_pair_load(f->cert, f->key2, &p, why, sizeof(why)), MON_EINVAL);
    assert_non_null(strstr(why, "does not fit certificate"));
    assert_non_null(strstr(why, f->key2));
    assert_null(p.cert_pem);
    assert_int_equal(mon_tls_pair_load("/nonexistent/x.crt", f->key, &p, why, sizeof(why)),
                     MON_ENOENT);
    assert_non_null(strstr(why, "/nonexistent/x.crt does not exist"));
    out = fopen(f->cert2, "w");
    fputs("not a certificate\n", out);
    fclose(out);
    assert_int_equal(mon_tls_pair_load(f->cert2, f->key2, &p, why, sizeof(why)), MON_EINVAL);
    assert_non_null(strstr(why, "holds no PEM certificate"));
    assert_int_equal(mon_tls_pin_of_pem("garbage", 7, pin), MON_EINVAL);
}

static void test_pin_form(void **state)
{
    (void)state;
    assert_true(mon_tls_pin_valid("sha256//XJc4nOzSqIMSFt+E495iBNYQdEYoM3mGl6ascTIyRXM="));
    assert_false(mon_tls_pin_valid("sha256//XJc4nOzSqIMSFt+E495iBNYQdEYoM3mGl6ascTIyRXM"));
    assert_false(mon_tls_pin_valid("sha1//XJc4nOzSqIMSFt+E495iBNYQdEYoM3mGl6ascTIyRXM="));
    assert_false(mon_tls_pin_valid("sha256//XJc4nOzSqIMSFt+E495iBNYQdEYoM3mGl6ascTIyR-M="));
    assert_false(mon_tls_pin_valid(""));
    assert_false(mon_tls_pin_valid(NULL));
}

static int parse_tls(const char *yaml, char **cert, char **key, struct mon_cfg_error *err)
{
    struct mon_cfg_doc *doc = NULL;
    int r = mon_cfg_load_string("t.yaml", yaml, strlen(yaml), &doc, err);
    if (r == MON_OK)
        r = mon_cfg_tls(doc, doc->root, "tls", cert, key, err);
    mon_cfg_doc_free(doc);
    return r;
}

static void test_cfg_section(void **state)
{
    struct mon_cfg_error err;
    char *cert = NULL, *key = NULL;
    (void)state;

    assert_int_equal(parse_tls("listen: x\n", &cert, &key, &err), 0);
    assert_null(cert);
    assert_int_equal(
        parse_tls("tls:\n  cert_file: /a.crt\n  key_file: /a.key\n", &cert, &key, &err), MON_OK);
    assert_string_equal(cert, "/a.crt");
    assert_string_equal(key, "/a.key");
    free(cert);
    free(key);
    cert = key = NULL;
    assert_int_equal(parse_tls("tls:\n  cert_file: /a.crt\n", &cert, &key, &err), MON_EINVAL);
    assert_non_null(strstr(err.msg, "key_file"));
    assert_int_equal(
        parse_tls("tls:\n  cert_file: /a.crt\n  key_file: /k\n  pin: x\n", &cert, &key, &err),
        MON_EINVAL);
    assert_non_null(strstr(err.msg, "pin"));
    assert_int_equal(parse_tls("tls: yes\n", &cert, &key, &err), MON_EINVAL);
    assert_non_null(strstr(err.msg, "t.yaml:1"));
    assert_null(cert);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_load_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_overwritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_name_the_file, setup, teardown),
        cmocka_unit_test(test_pin_form),
        cmocka_unit_test(test_cfg_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/* The --gen-cert command line both daemons share. */
#include "common/tls_cli.h"

#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"
#include "common/tls.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mon_tls_gen_cert_main(const char *prog, int argc, char **argv)
{
    struct mon_tls_gen_options opt = {.days = 3650};
    char pin[MON_TLS_PIN_LEN], why[512];
    int64_t days;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--gen-cert") == 0)
            continue;
        if (strcmp(a, "--force") == 0) {
            opt.force = true;
        } else if (strcmp(a, "--cert") == 0 && has_value) {
            opt.cert_file = argv[++i];
        } else if (strcmp(a, "--key") == 0 && has_value) {
            opt.key_file = argv[++i];
        } else if (strcmp(a, "--name") == 0 && has_value) {
            opt.names = argv[++i];
        } else if (strcmp(a, "--days") == 0 && has_value) {
            if (mon_parse_int64(argv[++i], 1, 36500, &days) < 0) {
                fprintf(stderr, "%s: --days must be a whole number of days, 1..36500\n", prog);
                return 2;
            }
            opt.days = (unsigned)days;
        } else {
            fprintf(stderr, "%s: --gen-cert: unknown or incomplete argument '%s'\n", prog, a);
            return 2;
        }
    }
    if (!opt.cert_file || !opt.key_file) {
        fprintf(stderr,
                "%s: --gen-cert needs --cert FILE and --key FILE [--days N] [--name "
                "HOST[,HOST...]] [--force]\n",
                prog);
        return 2;
    }
    if (mon_tls_generate(&opt, pin, why, sizeof(why)) < 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        return 1;
    }
    fprintf(stderr, "%s: wrote key %s and certificate %s (valid %u days)\n", prog, opt.key_file,
            opt.cert_file, opt.days);
    printf("%s\n", pin);
    return 0;
}

int mon_tls_print_pin(const char *prog, const char *cert_file)
{
    char pin[MON_TLS_PIN_LEN], *pem = NULL;
    size_t len = 0;
    int r = mon_os_read_file(cert_file, 64 * 1024, &pem, &len);
    if (r == MON_OK)
        r = mon_tls_pin_of_pem(pem, len, pin);
    free(pem);
    if (r < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, cert_file,
                r == MON_EINVAL ? "not a PEM certificate" : mon_strerror(r));
        return 1;
    }
    printf("%s\n", pin);
    return 0;
}

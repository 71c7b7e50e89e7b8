/* SPDX-License-Identifier: MIT */
/* The --gen-cert and --print-pin commands both daemons share. */
#ifndef MON_COMMON_TLS_CLI_H
#define MON_COMMON_TLS_CLI_H

/* Threads: command-line entry points, run by main before any thread starts; they print and
 * return an exit status. */

/* Runs `--gen-cert --cert FILE --key FILE [--days N] [--name HOST[,HOST...]] [--force]` (argv
 * holds these arguments, --gen-cert among them): makes the key and certificate and prints the
 * pin on stdout. Returns the exit status (2: bad arguments, 1: failure). */
int mon_tls_gen_cert_main(const char *prog, int argc, char **argv);

/* Prints the pin of the certificate in cert_file; returns the exit status. */
int mon_tls_print_pin(const char *prog, const char *cert_file);

#endif

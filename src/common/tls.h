/* SPDX-License-Identifier: MIT */
/* Certificates on GnuTLS for both daemons: loading a PEM key and certificate for the HTTPS
 * listener (checked to belong together), the public-key pin "sha256//<base64 SPKI hash>" that
 * libcurl's CURLOPT_PINNEDPUBLICKEY takes, and a self-signed ECDSA P-256 certificate made at
 * install time (--gen-cert). */
#ifndef MON_COMMON_TLS_H
#define MON_COMMON_TLS_H

/* Ownership and threads: a mon_tls_pair owns its PEM texts (mon_tls_pair_done); pins and facts
 * go to caller storage. The functions keep no state of their own (GnuTLS initialises itself
 * once) and may be called from any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "sha256//" + 44 base64 characters + NUL. */
#define MON_TLS_PIN_LEN 64

/* The GnuTLS priority string of both listeners: TLS 1.3 and 1.2 only, AEAD ciphers with
 * ECDHE (forward secrecy), no RSA key exchange, CBC, SHA-1 MACs or compression. */
#define MON_TLS_PRIORITIES                                                                         \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"         \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

/* A listener's key and certificate as PEM text (NUL-terminated, for libmicrohttpd). */
struct mon_tls_pair {
    char *cert_pem;
    char *key_pem;
    char pin[MON_TLS_PIN_LEN];
    int64_t not_after; /* UTC s */
};

/* Reads cert_file and key_file (each at most 64 KiB), checks that they parse and that the key
 * is the certificate's, and fills ret. On failure a reason naming the file is in why and ret
 * is untouched. MON_ENOENT: a file is missing; MON_EINVAL: it is not what it should be. */
int mon_tls_pair_load(const char *cert_file, const char *key_file, struct mon_tls_pair *ret,
                      char *why, size_t why_len);

/* Frees what a pair holds (the key text is wiped first). Accepts NULL. */
void mon_tls_pair_done(struct mon_tls_pair *p);

/* The pin of the first certificate of a PEM text (a file's content or what libcurl's
 * CURLINFO_CERTINFO gives as "Cert:"). MON_EINVAL when it holds no certificate. */
int mon_tls_pin_of_pem(const char *pem, size_t len, char pin[MON_TLS_PIN_LEN]);

/* The same with the certificate's validity (UTC s). */
int mon_tls_cert_facts(const char *pem, size_t len, char pin[MON_TLS_PIN_LEN],
                       int64_t *ret_not_before, int64_t *ret_not_after);

/* True when s has the form of a pin: "sha256//" and 44 base64 characters ending in '='. */
bool mon_tls_pin_valid(const char *s);

struct mon_tls_gen_options {
    const char *cert_file;
    const char *key_file;
    unsigned days;     /* validity from now (1 hour back, for clocks a little behind) */
    const char *names; /* comma-separated host names and addresses for the SAN; NULL: the
                        * host name and the machine's addresses */
    bool force;        /* replace existing files (else MON_EEXIST) */
};

/* Makes an ECDSA P-256 key (written mode 0600) and a self-signed certificate for it, and puts
 * the pin into pin. MON_EEXIST when a file exists and force is off; the reason is in why. */
int mon_tls_generate(const struct mon_tls_gen_options *opt, char pin[MON_TLS_PIN_LEN], char *why,
                     size_t why_len);

#endif

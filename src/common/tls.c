/* SPDX-License-Identifier: MIT */
/* Key and certificate loading, public-key pins and self-signed certificates on GnuTLS. */
#include "common/tls.h"

#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>

#ifdef MON_HAVE_GNUTLS
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PEM_MAX       (64 * 1024)
#define NAMES_MAX     2048
#define SERIAL_BYTES  16
#define CLOCK_SLACK_S 3600

/* The pin of a parsed certificate: SHA-256 over its DER SubjectPublicKeyInfo, base64. */
static int pin_of_crt(gnutls_x509_crt_t crt, char pin[MON_TLS_PIN_LEN])
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t spki = {0}, hash_d, b64 = {0};
    unsigned char hash[32];
    int r = MON_EINVAL;

    if (gnutls_pubkey_init(&pub) < 0)
        return MON_ENOMEM;
    if (gnutls_pubkey_import_x509(pub, crt, 0) < 0 ||
        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0 ||
        gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, hash) < 0)
        goto out;
    hash_d.data = hash;
    hash_d.size = sizeof(hash);
    if (gnutls_base64_encode2(&hash_d, &b64) < 0 || b64.size + 9 > MON_TLS_PIN_LEN)
        goto out;
    snprintf(pin, MON_TLS_PIN_LEN, "sha256//%.*s", (int)b64.size, (const char *)b64.data);
    r = MON_OK;
out:
    gnutls_free(b64.data);
    gnutls_free(spki.data);
    gnutls_pubkey_deinit(pub);
    return r;
}

int mon_tls_cert_facts(const char *pem, size_t len, char pin[MON_TLS_PIN_LEN],
                       int64_t *ret_not_before, int64_t *ret_not_after)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
    char p[MON_TLS_PIN_LEN];
    int r;

    if (len > PEM_MAX || gnutls_x509_crt_init(&crt) < 0)
        return len > PEM_MAX ? MON_EINVAL : MON_ENOMEM;
    r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0 ? MON_EINVAL : pin_of_crt(crt, p);
    if (r == MON_OK) {
        memcpy(pin, p, sizeof(p));
        *ret_not_before = (int64_t)gnutls_x509_crt_get_activation_time(crt);
        *ret_not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
    }
    gnutls_x509_crt_deinit(crt);
    return r;
}

int mon_tls_pin_of_pem(const char *pem, size_t len, char pin[MON_TLS_PIN_LEN])
{
    int64_t from, until;
    return mon_tls_cert_facts(pem, len, pin, &from, &until);
}

bool mon_tls_pin_valid(const char *s)
{
    size_t n;
    if (!s || strncmp(s, "sha256//", 8) != 0)
        return false;
    s += 8;
    n = strlen(s);
    if (n != 44 || s[43] != '=')
        return false;
    for (size_t i = 0; i < 43; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '/'))
            return false;
    return true;
}

static int read_pem(const char *path, const char *what, char **ret, char *why, size_t why_len)
{
    size_t len = 0;
    int r = mon_os_read_file(path, PEM_MAX, ret, &len);
    if (r == MON_ENOENT)
        snprintf(why, why_len, "%s %s does not exist (make one with --gen-cert)", what, path);
    else if (r == MON_ETOOBIG)
        snprintf(why, why_len, "%s %s is larger than %d bytes", what, path, PEM_MAX);
    else if (r < 0)
        snprintf(why, why_len, "cannot read %s %s: %s", what, path, mon_strerror(r));
    return r;
}

int mon_tls_pair_load(const char *cert_file, const char *key_file, struct mon_tls_pair *ret,
                      char *why, size_t why_len)
{
    struct mon_tls_pair p = {0};
    gnutls_certificate_credentials_t cred = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t cd, kd;
    int r, g;

    r = read_pem(cert_file, "certificate", &p.cert_pem, why, why_len);
    if (r == MON_OK)
        r = read_pem(key_file, "key", &p.key_pem, why, why_len);
    if (r < 0)
        goto fail;
    cd = (gnutls_datum_t){(unsigned char *)p.cert_pem, (unsigned)strlen(p.cert_pem)};
    kd = (gnutls_datum_t){(unsigned char *)p.key_pem, (unsigned)strlen(p.key_pem)};
    r = MON_EINVAL;
    if (gnutls_x509_crt_init(&crt) < 0 || gnutls_certificate_allocate_credentials(&cred) < 0) {
        r = MON_ENOMEM;
        snprintf(why, why_len, "out of memory");
        goto fail;
    }
    if (gnutls_x509_crt_import(crt, &cd, GNUTLS_X509_FMT_PEM) < 0) {
        snprintf(why, why_len, "certificate %s holds no PEM certificate", cert_file);
        goto fail;
    }
    /* Parses the key and checks that it is the certificate's. */
    g = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (g < 0) {
        snprintf(why, why_len, "key %s does not fit certificate %s: %s", key_file, cert_file,
                 g == GNUTLS_E_CERTIFICATE_KEY_MISMATCH ? "they do not belong together"
                                                        : gnutls_strerror(g));
        goto fail;
    }
    r = pin_of_crt(crt, p.pin);
    if (r < 0) {
        snprintf(why, why_len, "certificate %s: cannot read its public key", cert_file);
        goto fail;
    }
    p.not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
    gnutls_certificate_free_credentials(cred);
    gnutls_x509_crt_deinit(crt);
    *ret = p;
    return MON_OK;
fail:
    if (cred)
        gnutls_certificate_free_credentials(cred);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    mon_tls_pair_done(&p);
    return r;
}

void mon_tls_pair_done(struct mon_tls_pair *p)
{
    if (!p)
        return;
    if (p->key_pem)
        gnutls_memset(p->key_pem, 0, strlen(p->key_pem));
    free(p->key_pem);
    free(p->cert_pem);
    p->key_pem = p->cert_pem = NULL;
}

/* ---- --gen-cert ---- */

/* Adds one name to the SAN: an address as an IP entry, anything else as a DNS name. */
static int san_add(gnutls_x509_crt_t crt, const char *name)
{
    unsigned char raw[16];
    if (inet_pton(AF_INET, name, raw) == 1)
        return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, raw, 4,
                                                    GNUTLS_FSAN_APPEND);
    if (inet_pton(AF_INET6, name, raw) == 1)
        return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, raw, 16,
                                                    GNUTLS_FSAN_APPEND);
    return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
                                                (unsigned)strlen(name), GNUTLS_FSAN_APPEND);
}

/* Fills the certificate's fields: names (comma-separated; the first is the subject's CN),
 * validity, a random serial and the uses of a TLS server's certificate. */
static int crt_fill(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, char *names, unsigned days,
                    char *why, size_t why_len)
{
    unsigned char serial[SERIAL_BYTES];
    time_t now = time(NULL);
    char *cn = NULL, *next;

    for (char *n = names; n; n = next) {
        next = strchr(n, ',');
        if (next)
            *next++ = '\0';
        while (*n == ' ')
            n++;
        if (!*n)
            continue;
        if (!cn)
            cn = n;
        if (san_add(crt, n) < 0) {
            snprintf(why, why_len, "'%s' cannot be a certificate name", n);
            return MON_EINVAL;
        }
    }
    if (!cn) {
        snprintf(why, why_len, "no host name for the certificate (use --name)");
        return MON_EINVAL;
    }
    if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
        return MON_ESYS;
    serial[0] &= 0x7f; /* a positive number */
    if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                      (unsigned)strlen(cn)) < 0 ||
        gnutls_x509_crt_set_activation_time(crt, now - CLOCK_SLACK_S) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400) < 0 ||
        gnutls_x509_crt_set_key(crt, key) < 0 ||
        gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
        gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0) {
        snprintf(why, why_len, "cannot fill in the certificate");
        return MON_EINVAL;
    }
    return MON_OK;
}

static int write_file(const char *path, const gnutls_datum_t *d, bool private_file, bool force,
                      char *why, size_t why_len)
{
    char tmp[4096], err[128];
    FILE *f = NULL;
    int fd = -1, r;

    if (!force && mon_os_path_exists(path)) {
        snprintf(why, why_len, "%s exists (not overwritten; --force replaces it)", path);
        return MON_EEXIST;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
        return MON_ETOOBIG;
    (void)unlink(tmp);
    r = mon_os_mkdir_parent(path);
    if (r == MON_OK && private_file) {
        r = mon_os_create_private(tmp, &fd);
        if (r == MON_OK && !(f = fdopen(fd, "wb"))) {
            close(fd);
            r = MON_ESYS;
        }
    } else if (r == MON_OK) {
        f = fopen(tmp, "wb");
        if (!f)
            r = mon_err_from_errno(errno);
    }
    if (r < 0 || !f) {
        snprintf(why, why_len, "cannot create %s: %s", tmp, mon_strerror(r < 0 ? r : MON_ESYS));
        return r < 0 ? r : MON_ESYS;
    }
    if (fwrite(d->data, 1, d->size, f) != d->size || fflush(f) != 0 || mon_os_fsync(fileno(f)) < 0)
        r = MON_EIO;
    if (fclose(f) != 0)
        r = MON_EIO;
    if (r == MON_OK)
        r = mon_os_rename_replace(tmp, path);
    if (r < 0) {
        (void)unlink(tmp);
        snprintf(why, why_len, "cannot write %s: %s", path,
                 mon_os_errno_text(errno, err, sizeof(err)));
    }
    return r;
}

int mon_tls_generate(const struct mon_tls_gen_options *opt, char pin[MON_TLS_PIN_LEN], char *why,
                     size_t why_len)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t key_pem = {0}, crt_pem = {0};
    char names[NAMES_MAX], new_pin[MON_TLS_PIN_LEN];
    int r = MON_ENOMEM;

    if (opt->days < 1 || opt->days > 36500) {
        snprintf(why, why_len, "--days must be 1..36500");
        return MON_EINVAL;
    }
    if (!opt->force && (mon_os_path_exists(opt->key_file) || mon_os_path_exists(opt->cert_file))) {
        snprintf(why, why_len, "%s exists (not overwritten; --force replaces it)",
                 mon_os_path_exists(opt->key_file) ? opt->key_file : opt->cert_file);
        return MON_EEXIST;
    }
    if (opt->names) {
        if (!mon_strlcpy(names, opt->names, sizeof(names))) {
            snprintf(why, why_len, "--name is too long");
            return MON_EINVAL;
        }
    } else {
        (void)mon_os_host_names(names, sizeof(names)); /* what fits is used */
    }
    snprintf(why, why_len, "out of memory");
    if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0)
        goto out;
    if (gnutls_x509_privkey_generate2(key, GNUTLS_PK_ECDSA,
                                      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL,
                                      0) < 0) {
        r = MON_ESYS;
        snprintf(why, why_len, "cannot make an ECDSA P-256 key");
        goto out;
    }
    r = crt_fill(crt, key, names, opt->days, why, why_len);
    if (r < 0)
        goto out;
    r = MON_EINVAL;
    if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0 ||
        gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &key_pem) < 0 ||
        gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem) < 0 ||
        pin_of_crt(crt, new_pin) < 0) {
        snprintf(why, why_len, "cannot sign or export the certificate");
        goto out;
    }
    /* The key first: a certificate without its key would be useless. */
    r = write_file(opt->key_file, &key_pem, true, opt->force, why, why_len);
    if (r == MON_OK)
        r = write_file(opt->cert_file, &crt_pem, false, opt->force, why, why_len);
    if (r == MON_OK)
        memcpy(pin, new_pin, MON_TLS_PIN_LEN);
out:
    if (key_pem.data) {
        gnutls_memset(key_pem.data, 0, key_pem.size);
        gnutls_free(key_pem.data);
    }
    gnutls_free(crt_pem.data);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return r;
}

#else /* a build without GnuTLS (the Windows cross build before its TLS libraries) */

int mon_tls_pair_load(const char *cert_file, const char *key_file, struct mon_tls_pair *ret,
                      char *why, size_t why_len)
{
    (void)cert_file;
    (void)key_file;
    (void)ret;
    snprintf(why, why_len, "TLS is not available in this build (no GnuTLS)");
    return MON_EUNSUPPORTED;
}

void mon_tls_pair_done(struct mon_tls_pair *p)
{
    (void)p;
}

int mon_tls_cert_facts(const char *pem, size_t len, char pin[MON_TLS_PIN_LEN],
                       int64_t *ret_not_before, int64_t *ret_not_after)
{
    (void)pem;
    (void)len;
    (void)pin;
    (void)ret_not_before;
    (void)ret_not_after;
    return MON_EUNSUPPORTED;
}

int mon_tls_pin_of_pem(const char *pem, size_t len, char pin[MON_TLS_PIN_LEN])
{
    (void)pem;
    (void)len;
    (void)pin;
    return MON_EUNSUPPORTED;
}

bool mon_tls_pin_valid(const char *s)
{
    size_t n;
    if (!s || strncmp(s, "sha256//", 8) != 0)
        return false;
    n = strlen(s + 8);
    return n == 44 && s[8 + 43] == '=';
}

int mon_tls_generate(const struct mon_tls_gen_options *opt, char pin[MON_TLS_PIN_LEN], char *why,
                     size_t why_len)
{
    (void)opt;
    (void)pin;
    snprintf(why, why_len, "TLS is not available in this build (no GnuTLS)");
    return MON_EUNSUPPORTED;
}

#endif

/* SPDX-License-Identifier: MIT */
/* Strict YAML configuration reading on libyaml: a small node tree with line numbers, plus typed
 * getters whose errors name the file, line, column and dotted key. It does not know any
 * daemon's keys; agent/config.c and aggregator/config.c map the tree onto their structs. */
#ifndef MON_COMMON_CFG_H
#define MON_COMMON_CFG_H

/* Ownership and threads: a document from mon_cfg_load_* belongs to the caller
 * (mon_cfg_doc_free); nodes from mon_cfg_get are borrowed from it and valid until it is freed;
 * getters copy what they return (strings malloc'd, the caller frees). A document is never
 * changed after loading, and the functions keep no state of their own: any thread may call them. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mon_cidr;
struct mon_tls_pair;
struct sockaddr;

enum mon_cfg_kind { MON_CFG_SCALAR, MON_CFG_MAP, MON_CFG_SEQ };

struct mon_cfg_node {
    enum mon_cfg_kind kind;
    int line;     /* 1-based; a mapping or list under a key has the key's position */
    int column;   /* 1-based */
    char *path;   /* dotted key path for messages, e.g. "poll.interval", "servers[2]" */
    char *scalar; /* SCALAR: the text ("" for an empty value) */
    bool is_null; /* SCALAR: plain ~, null, or empty */
    bool quoted;  /* SCALAR: written in quotes (so never a number or bool) */
    size_t n;     /* MAP: number of key/value pairs; SEQ: number of items */
    char **keys;  /* MAP: keys[i] names items[i] */
    struct mon_cfg_node **items;
};

struct mon_cfg_doc {
    char *name; /* file path or label used in messages */
    struct mon_cfg_node *root;
};

#define MON_CFG_ERROR_LEN 512

struct mon_cfg_error {
    char msg[MON_CFG_ERROR_LEN]; /* "file:line:col: key 'x': reason" */
};

/* Reads and parses a YAML file of at most 1 MiB whose top level is a mapping.
 * On failure returns a MON_E* code and fills err (file, line, reason). */
int mon_cfg_load_file(const char *path, struct mon_cfg_doc **ret_doc, struct mon_cfg_error *err);

/* Reads a whole regular file of at most 1 MiB into a malloc'd NUL-terminated string. A FIFO,
 * device or folder is refused without waiting on it. */
int mon_cfg_read_file(const char *path, char **ret_text, size_t *ret_len,
                      struct mon_cfg_error *err);

/* Same from memory; name is used in messages. */
int mon_cfg_load_string(const char *name, const char *text, size_t len,
                        struct mon_cfg_doc **ret_doc, struct mon_cfg_error *err);

/* Frees a document. Accepts NULL. */
void mon_cfg_doc_free(struct mon_cfg_doc *doc);

/* Returns the value of key in map, or NULL when absent (or map is not a map). */
const struct mon_cfg_node *mon_cfg_get(const struct mon_cfg_node *map, const char *key);

/* Fails with MON_EINVAL naming the first key of map not in allowed (NULL-terminated), or
 * when map is not a mapping. */
int mon_cfg_check_keys(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map,
                       const char *const *allowed, struct mon_cfg_error *err);

/* Formats "name:line:col: key 'path': <fmt>" into err and returns MON_EINVAL. node may be NULL
 * (then the position of parent is used and key is appended to its path). */
int mon_cfg_fail(const struct mon_cfg_doc *doc, const struct mon_cfg_node *parent, const char *key,
                 struct mon_cfg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Typed getters. Each returns MON_OK and writes *ret when the key is present and valid,
 * 0 with *ret untouched when it is absent and not required (callers preset defaults), and
 * MON_EINVAL with a message otherwise. Strings are returned malloc'd (caller frees). */
int mon_cfg_string(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                   bool required, char **ret, struct mon_cfg_error *err);
int mon_cfg_bool(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                 bool *ret, struct mon_cfg_error *err);
int mon_cfg_int(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                int64_t min, int64_t max, int64_t *ret, struct mon_cfg_error *err);
/* Durations are written with a unit ("5s", "500ms", "1h"); min/max in ms. */
int mon_cfg_duration(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                     int64_t min_ms, int64_t max_ms, int64_t *ret_ms, struct mon_cfg_error *err);
/* A sequence of non-empty strings of at most max_items items. *ret is a malloc'd array of
 * malloc'd strings (free with mon_cfg_strv_free). */
int mon_cfg_string_list(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map,
                        const char *key, size_t max_items, char ***ret, size_t *ret_n,
                        struct mon_cfg_error *err);
/* Picks one of the NULL-terminated choices; *ret is its index. */
int mon_cfg_enum(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                 const char *const *choices, int *ret, struct mon_cfg_error *err);

/* The optional mapping `key: {cert_file: PATH, key_file: PATH}` (both required within it).
 * Absent or null: 0 and nothing written; else the two paths, malloc'd (any previous values
 * are freed). */
int mon_cfg_tls(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                char **ret_cert, char **ret_key, struct mon_cfg_error *err);

/* A sequence of at most max_items IPv4/IPv6 addresses or CIDR blocks (allow_from). Absent or
 * empty: 0 with nothing written; else *ret (malloc'd, the caller frees it) and *ret_n. An item
 * that is neither fails naming its line. (cfg_net.c) */
int mon_cfg_cidr_list(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map,
                      const char *key, size_t max_items, struct mon_cidr **ret, size_t *ret_n,
                      struct mon_cfg_error *err);

/* True when client is in one of the n blocks of list, or when the list is empty (no
 * allow_from: everyone). Thread-safe; reads list only. (cfg_net.c) */
bool mon_cidr_list_allows(const struct mon_cidr *list, size_t n, const struct sockaddr *client);

/* Loads the key and certificate a tls: section named (mon_tls_pair_load) into *ret, the
 * caller's (mon_tls_pair_done). True also when none is named (cert_file NULL); false when they
 * do not load, with the reason logged ("tls: ..."). (cfg_tls.c) */
bool mon_cfg_tls_load(const char *cert_file, const char *key_file, struct mon_tls_pair *ret);

/* Frees an array of n strings from mon_cfg_string_list. Accepts NULL. */
void mon_cfg_strv_free(char **v, size_t n);

/* Reads a secret from a file: the first line, surrounding whitespace removed, at most 4 KiB.
 * The file must be a regular file of at most 64 KiB: a FIFO or device is refused at once, never
 * waited on (MON_EINVAL). Fails when the file is unreadable (MON_ENOENT), the secret is empty
 * or holds a NUL byte (MON_EINVAL), or the line or file is longer (MON_ETOOBIG). */
int mon_cfg_read_secret_file(const char *path, char **ret, char *why, size_t why_len);

#endif

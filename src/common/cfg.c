/* SPDX-License-Identifier: MIT */
/* YAML → node tree (libyaml event API) and strict typed getters with file:line:key messages. */
#include "common/cfg.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CFG_MAX_FILE (1024 * 1024)
/* A secret is one line of at most SECRET_MAX bytes; the file may hold a little more (a comment,
 * a second line), but never megabytes. */
#define SECRET_MAX      4096
#define SECRET_FILE_MAX (64 * 1024)
#define CFG_MAX_DEPTH   32
#define CFG_MAX_NODES   100000

struct cfg_parser {
    yaml_parser_t yaml;
    const char *name;
    struct mon_cfg_error *err;
    size_t nodes;
};

/* The tree is at most CFG_MAX_DEPTH deep, so the recursion here and in parse_node is bounded. */
static void node_free(struct mon_cfg_node *n) /* NOLINT(misc-no-recursion) */
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        node_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->scalar);
    free(n->path);
    free(n);
}

void mon_cfg_doc_free(struct mon_cfg_doc *doc)
{
    if (!doc)
        return;
    node_free(doc->root);
    free(doc->name);
    free(doc);
}

static int parse_fail(struct cfg_parser *p, int line, int col, const char *what)
{
    snprintf(p->err->msg, sizeof(p->err->msg), "%s:%d:%d: %s", p->name, line, col, what);
    return MON_EINVAL;
}

static int next_event(struct cfg_parser *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&p->yaml, ev)) {
        char what[256];
        snprintf(what, sizeof(what), "YAML syntax error: %s",
                 p->yaml.problem ? p->yaml.problem : "unknown");
        return parse_fail(p, (int)p->yaml.problem_mark.line + 1,
                          (int)p->yaml.problem_mark.column + 1, what);
    }
    return MON_OK;
}

static char *child_path(const char *parent, const char *key, long index)
{
    struct mon_buf b;
    mon_buf_init(&b, 4096);
    if (index >= 0)
        (void)mon_buf_printf(&b, "%s[%ld]", parent ? parent : "", index);
    else if (parent && *parent)
        (void)mon_buf_printf(&b, "%s.%s", parent, key ? key : "");
    else
        (void)mon_buf_puts(&b, key ? key : "");
    return mon_buf_take(&b);
}

static int add_child(struct mon_cfg_node *parent, struct mon_cfg_node *child, char *key)
{
    struct mon_cfg_node **items = realloc(parent->items, (parent->n + 1) * sizeof(*items));
    if (!items)
        return MON_ENOMEM;
    parent->items = items;
    if (parent->kind == MON_CFG_MAP) {
        char **keys = realloc(parent->keys, (parent->n + 1) * sizeof(*keys));
        if (!keys)
            return MON_ENOMEM;
        parent->keys = keys;
        keys[parent->n] = key;
    }
    items[parent->n++] = child;
    return MON_OK;
}

static int parse_node(struct cfg_parser *p, yaml_event_t *ev, const char *path, int depth,
                      struct mon_cfg_node **ret);

/* Parses the children of a mapping or sequence until its end event. */
/* NOLINTNEXTLINE(misc-no-recursion): depth is capped at CFG_MAX_DEPTH */
static int parse_children(struct cfg_parser *p, struct mon_cfg_node *node, int depth)
{
    yaml_event_t ev;
    int r;

    for (;;) {
        char *key = NULL, *path;
        struct mon_cfg_node *child = NULL;
        int key_line = 0, key_col = 0;

        r = next_event(p, &ev);
        if (r < 0)
            return r;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return MON_OK;
        }
        if (node->kind == MON_CFG_MAP) {
            int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
            key_line = line;
            key_col = col;
            if (ev.type != YAML_SCALAR_EVENT) {
                yaml_event_delete(&ev);
                return parse_fail(p, line, col, "mapping keys must be plain strings");
            }
            key = mon_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            yaml_event_delete(&ev);
            if (!key)
                return MON_ENOMEM;
            if (mon_cfg_get(node, key)) {
                char what[300];
                snprintf(what, sizeof(what), "key '%.200s' appears twice", key);
                free(key);
                return parse_fail(p, line, col, what);
            }
            r = next_event(p, &ev);
            if (r < 0) {
                free(key);
                return r;
            }
            path = child_path(node->path, key, -1);
        } else {
            path = child_path(node->path, NULL, (long)node->n);
        }
        r = path ? parse_node(p, &ev, path, depth + 1, &child) : MON_ENOMEM;
        free(path);
        /* A block collection starts on the line after its key; messages about the setting
         * (unknown key, wrong type) should point at the key itself. */
        if (r == MON_OK && key && child->kind != MON_CFG_SCALAR) {
            child->line = key_line;
            child->column = key_col;
        }
        if (r == MON_OK)
            r = add_child(node, child, key);
        if (r < 0) {
            node_free(child);
            free(key);
            return r;
        }
    }
}

/* Builds a node from ev (consumed) and, for collections, the events that follow it. */
/* NOLINTNEXTLINE(misc-no-recursion): depth is capped at CFG_MAX_DEPTH */
static int parse_node(struct cfg_parser *p, yaml_event_t *ev, const char *path, int depth,
                      struct mon_cfg_node **ret)
{
    struct mon_cfg_node *node;
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1, r;

    if (depth > CFG_MAX_DEPTH) {
        yaml_event_delete(ev);
        return parse_fail(p, line, col, "nesting too deep");
    }
    if (++p->nodes > CFG_MAX_NODES) {
        yaml_event_delete(ev);
        return parse_fail(p, line, col, "too many values");
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        yaml_event_delete(ev);
        return parse_fail(p, line, col, "YAML aliases are not supported");
    }
    node = calloc(1, sizeof(*node));
    if (!node) {
        yaml_event_delete(ev);
        return MON_ENOMEM;
    }
    node->line = line;
    node->column = col;
    node->path = strdup(path);
    r = node->path ? MON_OK : MON_ENOMEM;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        node->kind = MON_CFG_SCALAR;
        node->scalar = mon_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!node->scalar)
            r = MON_ENOMEM;
        node->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                       ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        if (node->scalar && !node->quoted &&
            (node->scalar[0] == '\0' || strcmp(node->scalar, "~") == 0 ||
             strcmp(node->scalar, "null") == 0 || strcmp(node->scalar, "Null") == 0 ||
             strcmp(node->scalar, "NULL") == 0))
            node->is_null = true;
        yaml_event_delete(ev);
        break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        node->kind = ev->type == YAML_MAPPING_START_EVENT ? MON_CFG_MAP : MON_CFG_SEQ;
        yaml_event_delete(ev);
        if (r == MON_OK)
            r = parse_children(p, node, depth);
        break;
    default:
        yaml_event_delete(ev);
        r = parse_fail(p, line, col, "unexpected YAML event");
        break;
    }
    if (r < 0) {
        node_free(node);
        return r;
    }
    *ret = node;
    return MON_OK;
}

int mon_cfg_load_string(const char *name, const char *text, size_t len,
                        struct mon_cfg_doc **ret_doc, struct mon_cfg_error *err)
{
    struct cfg_parser p = {.name = name, .err = err};
    struct mon_cfg_doc *doc = NULL;
    yaml_event_t ev;
    int r;

    err->msg[0] = '\0';
    if (!yaml_parser_initialize(&p.yaml))
        return MON_ENOMEM;
    yaml_parser_set_input_string(&p.yaml, (const unsigned char *)text, len);
    doc = calloc(1, sizeof(*doc));
    if (!doc || !(doc->name = strdup(name))) {
        r = MON_ENOMEM;
        goto out;
    }
    /* stream start, document start, root node, document end, stream end */
    for (;;) {
        r = next_event(&p, &ev);
        if (r < 0)
            goto out;
        if (ev.type == YAML_STREAM_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (ev.type == YAML_STREAM_END_EVENT) { /* an empty file */
            yaml_event_delete(&ev);
            r = parse_fail(&p, 1, 1, "the file is empty: expected a mapping of settings");
            goto out;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        yaml_event_delete(&ev);
    }
    r = next_event(&p, &ev);
    if (r < 0)
        goto out;
    if (ev.type != YAML_MAPPING_START_EVENT) {
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        yaml_event_delete(&ev);
        r = parse_fail(&p, line, col, "expected a mapping of settings at the top level");
        goto out;
    }
    r = parse_node(&p, &ev, "", 0, &doc->root);
    if (r < 0)
        goto out;
    r = next_event(&p, &ev); /* document end */
    if (r < 0)
        goto out;
    yaml_event_delete(&ev);
    r = next_event(&p, &ev);
    if (r < 0)
        goto out;
    if (ev.type != YAML_STREAM_END_EVENT) {
        int line = (int)ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        r = parse_fail(&p, line, 1, "only one YAML document is allowed");
        goto out;
    }
    yaml_event_delete(&ev);
    *ret_doc = doc;
    doc = NULL;
out:
    yaml_parser_delete(&p.yaml);
    mon_cfg_doc_free(doc);
    return r;
}

/* The message for a failed mon_os_read_file of path (errno is still that of the failure). */
static void read_error(const char *path, int r, size_t max, char *msg, size_t msg_len)
{
    int e = errno;
    char text[96];

    if (r == MON_EINVAL)
        snprintf(msg, msg_len,
                 "%s: not a regular file (a FIFO, device, socket or folder is not read)", path);
    else if (r == MON_ETOOBIG)
        snprintf(msg, msg_len, "%s: file too large (limit %zu bytes)", path, max);
    else if (r == MON_ENOMEM)
        snprintf(msg, msg_len, "%s: out of memory", path);
    else
        snprintf(msg, msg_len, "%s: cannot open: %s", path,
                 mon_os_errno_text(e, text, sizeof(text)));
}

int mon_cfg_read_file(const char *path, char **ret_text, size_t *ret_len, struct mon_cfg_error *err)
{
    int r = mon_os_read_file(path, CFG_MAX_FILE, ret_text, ret_len);
    if (r < 0)
        read_error(path, r, CFG_MAX_FILE, err->msg, sizeof(err->msg));
    return r;
}

int mon_cfg_load_file(const char *path, struct mon_cfg_doc **ret_doc, struct mon_cfg_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int r = mon_cfg_read_file(path, &text, &len, err);
    if (r < 0)
        return r;
    r = mon_cfg_load_string(path, text, len, ret_doc, err);
    free(text);
    return r;
}

const struct mon_cfg_node *mon_cfg_get(const struct mon_cfg_node *map, const char *key)
{
    if (!map || map->kind != MON_CFG_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

static int cfg_vfail(const struct mon_cfg_doc *doc, const struct mon_cfg_node *node,
                     const char *path, struct mon_cfg_error *err, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
static int cfg_vfail(const struct mon_cfg_doc *doc, const struct mon_cfg_node *node,
                     const char *path, struct mon_cfg_error *err, const char *fmt, va_list ap)
{
    int n = snprintf(err->msg, sizeof(err->msg), "%s:%d:%d: key '%s': ", doc->name,
                     node ? node->line : 1, node ? node->column : 1, path);
    if (n > 0 && (size_t)n < sizeof(err->msg))
        vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
    return MON_EINVAL;
}

int mon_cfg_fail(const struct mon_cfg_doc *doc, const struct mon_cfg_node *parent, const char *key,
                 struct mon_cfg_error *err, const char *fmt, ...)
{
    const struct mon_cfg_node *node = key ? mon_cfg_get(parent, key) : parent;
    char *path = key ? child_path(parent ? parent->path : "", key, -1) : NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = cfg_vfail(doc, node ? node : parent, path ? path : (parent ? parent->path : "?"), err, fmt,
                  ap);
    va_end(ap);
    free(path);
    return r;
}

int mon_cfg_check_keys(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map,
                       const char *const *allowed, struct mon_cfg_error *err)
{
    if (!map || map->kind != MON_CFG_MAP)
        return mon_cfg_fail(doc, map, NULL, err, "expected a mapping");
    for (size_t i = 0; i < map->n; i++) {
        bool known = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, map->keys[i]) == 0)
                known = true;
        if (!known)
            return mon_cfg_fail(doc, map, map->keys[i], err, "unknown key");
    }
    return MON_OK;
}

/* Looks up key; returns NULL (and 0 in *r) when absent, or the scalar node; a non-scalar or
 * null value is an error. */
static const struct mon_cfg_node *get_scalar(const struct mon_cfg_doc *doc,
                                             const struct mon_cfg_node *map, const char *key,
                                             const char *expected, int *r,
                                             struct mon_cfg_error *err)
{
    const struct mon_cfg_node *n = mon_cfg_get(map, key);
    *r = MON_OK;
    if (!n)
        return NULL;
    if (n->kind != MON_CFG_SCALAR || n->is_null) {
        *r = mon_cfg_fail(doc, map, key, err, "expected %s", expected);
        return NULL;
    }
    return n;
}

int mon_cfg_string(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                   bool required, char **ret, struct mon_cfg_error *err)
{
    int r;
    const struct mon_cfg_node *n = get_scalar(doc, map, key, "a string", &r, err);
    char *s;
    if (r < 0)
        return r;
    if (!n)
        return required ? mon_cfg_fail(doc, map, key, err, "required setting is missing") : 0;
    s = strdup(n->scalar);
    if (!s)
        return MON_ENOMEM;
    free(*ret);
    *ret = s;
    return MON_OK;
}

int mon_cfg_bool(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                 bool *ret, struct mon_cfg_error *err)
{
    int r;
    const struct mon_cfg_node *n = get_scalar(doc, map, key, "true or false", &r, err);
    if (!n)
        return r;
    if (!n->quoted && strcmp(n->scalar, "true") == 0)
        *ret = true;
    else if (!n->quoted && strcmp(n->scalar, "false") == 0)
        *ret = false;
    else
        return mon_cfg_fail(doc, map, key, err, "expected true or false, got '%s'", n->scalar);
    return MON_OK;
}

int mon_cfg_int(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                int64_t min, int64_t max, int64_t *ret, struct mon_cfg_error *err)
{
    int r;
    int64_t v;
    const struct mon_cfg_node *n = get_scalar(doc, map, key, "an integer", &r, err);
    if (!n)
        return r;
    r = n->quoted ? MON_EPARSE : mon_parse_int64(n->scalar, min, max, &v);
    if (r == MON_ERANGE)
        return mon_cfg_fail(doc, map, key, err, "%s is out of range (%" PRId64 "..%" PRId64 ")",
                            n->scalar, min, max);
    if (r < 0)
        return mon_cfg_fail(doc, map, key, err, "expected an integer, got '%s'", n->scalar);
    *ret = v;
    return MON_OK;
}

int mon_cfg_duration(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                     int64_t min_ms, int64_t max_ms, int64_t *ret_ms, struct mon_cfg_error *err)
{
    int r;
    int64_t v;
    const struct mon_cfg_node *n =
        get_scalar(doc, map, key, "a duration such as 5s or 500ms", &r, err);
    if (!n)
        return r;
    r = mon_parse_duration_ms(n->scalar, &v);
    if (r < 0)
        return mon_cfg_fail(doc, map, key, err,
                            "expected a duration with a unit (ms, s, m, h, d), got '%s'",
                            n->scalar);
    if (v < min_ms || v > max_ms)
        return mon_cfg_fail(doc, map, key, err, "%s is out of range (%" PRId64 "ms..%" PRId64 "ms)",
                            n->scalar, min_ms, max_ms);
    *ret_ms = v;
    return MON_OK;
}

void mon_cfg_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int mon_cfg_string_list(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map,
                        const char *key, size_t max_items, char ***ret, size_t *ret_n,
                        struct mon_cfg_error *err)
{
    const struct mon_cfg_node *n = mon_cfg_get(map, key);
    char **v;

    if (!n)
        return MON_OK;
    if (n->kind != MON_CFG_SEQ)
        return mon_cfg_fail(doc, map, key, err, "expected a list, e.g. [\"a\", \"b\"]");
    if (n->n > max_items)
        return mon_cfg_fail(doc, map, key, err, "too many items (%zu, at most %zu)", n->n,
                            max_items);
    v = calloc(n->n ? n->n : 1, sizeof(*v));
    if (!v)
        return MON_ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        const struct mon_cfg_node *it = n->items[i];
        if (it->kind != MON_CFG_SCALAR || it->is_null || it->scalar[0] == '\0') {
            mon_cfg_strv_free(v, i);
            return mon_cfg_fail(doc, it, NULL, err, "expected a non-empty string");
        }
        v[i] = strdup(it->scalar);
        if (!v[i]) {
            mon_cfg_strv_free(v, i);
            return MON_ENOMEM;
        }
    }
    mon_cfg_strv_free(*ret, *ret_n);
    *ret = v;
    *ret_n = n->n;
    return MON_OK;
}

int mon_cfg_enum(const struct mon_cfg_doc *doc, const struct mon_cfg_node *map, const char *key,
                 const char *const *choices, int *ret, struct mon_cfg_error *err)
{
    int r;
    const struct mon_cfg_node *n = get_scalar(doc, map, key, "a value", &r, err);
    struct mon_buf list;

    if (!n)
        return r;
    for (int i = 0; choices[i]; i++) {
        if (strcmp(choices[i], n->scalar) == 0) {
            *ret = i;
            return MON_OK;
        }
    }
    mon_buf_init(&list, 1024);
    for (int i = 0; choices[i]; i++)
        (void)mon_buf_printf(&list, "%s%s", i ? ", " : "", choices[i]);
    r = mon_cfg_fail(doc, map, key, err, "'%s' is not one of: %s", n->scalar,
                     list.data ? list.data : "");
    mon_buf_done(&list);
    return r;
}

int mon_cfg_read_secret_file(const char *path, char **ret, char *why, size_t why_len)
{
    char *text = NULL, *line, *s;
    size_t len = 0, n, start = 0;
    int r = mon_os_read_file(path, SECRET_FILE_MAX, &text, &len);

    if (r < 0) {
        read_error(path, r, SECRET_FILE_MAX, why, why_len);
        return r == MON_EINVAL || r == MON_ETOOBIG ? r : MON_ENOENT;
    }
    line = text;
    for (n = 0; n < len && line[n] != '\r' && line[n] != '\n';) /* not strcspn: NULs count */
        n++;
    if (n > SECRET_MAX) { /* never shorten a secret silently */
        snprintf(why, why_len, "%s: the secret is longer than %d bytes", path, SECRET_MAX);
        free(text);
        return MON_ETOOBIG;
    }
    while (start < n && (line[start] == ' ' || line[start] == '\t'))
        start++;
    while (n > start && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    if (n == start || memchr(line + start, '\0', n - start)) {
        snprintf(why, why_len, n == start ? "%s is empty" : "%s: the secret contains a NUL byte",
                 path);
        free(text);
        return MON_EINVAL;
    }
    s = mon_strndup(line + start, n - start);
    free(text);
    if (!s)
        return MON_ENOMEM;
    *ret = s;
    return MON_OK;
}

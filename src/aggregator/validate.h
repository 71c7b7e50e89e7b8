/* SPDX-License-Identifier: MIT */
/* Validation of server settings shared by the config file import and the REST API, with one
 * message per field ("agent_port": "must be an integer from 1 to 65535"). */
#ifndef MON_AGGREGATOR_VALIDATE_H
#define MON_AGGREGATOR_VALIDATE_H

/* Threads: pure checks writing messages into caller storage; field names returned are static.
 * Safe from any thread. */

#include <stdbool.h>
#include <stddef.h>

#include "aggregator/model.h"

#define AGG_FIELD_MSG_LEN 160

/* True for an IPv4/IPv6 literal or an RFC 1123 host name (labels 1..63 of [A-Za-z0-9-], not
 * starting or ending with '-', total ≤ 253). */
bool agg_valid_host(const char *host);

/* True for a systemd unit name: [A-Za-z0-9:_.@\-], ≤ 255, with a known unit type suffix. */
bool agg_valid_unit_name(const char *name);

/* Puts a server name into its one canonical form, in place (it can only get shorter): leading
 * and trailing spaces removed and every run of spaces (U+0020, no-break and the other Unicode
 * spaces) made one U+0020. Then checks it: valid UTF-8, 1 to AGG_NAME_MAX characters (not bytes),
 * no control characters and no invisible format, bidi, separator or variation-selector
 * characters (mon_text_is_hidden), which would make two different names look the same. Returns
 * false with a message otherwise. */
bool agg_normalize_name(char *name, char *msg, size_t msg_len);

/* The key two names are compared by: each character case-folded (mon_text_fold), so names that
 * differ only in letter case or fullwidth forms have the same key. key holds at least
 * AGG_NAME_KEY_LEN bytes. */
#define AGG_NAME_KEY_LEN (4 * AGG_NAME_MAX_BYTES + 1)
void agg_name_key(const char *name, char *key, size_t size);

/* Checks one server's fields (the name must already be normalised: agg_normalize_name). On the
 * first problem returns false and writes the field name and message. */
bool agg_validate_server(const struct agg_server *s, const char **ret_field, char *msg,
                         size_t msg_len);

#endif

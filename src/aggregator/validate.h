/* SPDX-License-Identifier: MIT */
/* Validation of server settings shared by the config file import and the REST API, with one
 * message per field ("agent_port": "must be an integer from 1 to 65535"). */
#ifndef MON_AGGREGATOR_VALIDATE_H
#define MON_AGGREGATOR_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "aggregator/model.h"

#define AGG_FIELD_MSG_LEN 160

/* True for an IPv4/IPv6 literal or an RFC 1123 host name (labels 1..63 of [A-Za-z0-9-], not
 * starting or ending with '-', total ≤ 253). */
bool agg_valid_host(const char *host);

/* True for a systemd unit name: [A-Za-z0-9:_.@\-], ≤ 255, with a known unit type suffix. */
bool agg_valid_unit_name(const char *name);

/* Checks one server's fields. On the first problem returns false and writes the field name
 * and message. */
bool agg_validate_server(const struct agg_server *s, const char **ret_field, char *msg,
                         size_t msg_len);

#endif

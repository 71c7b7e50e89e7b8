/* SPDX-License-Identifier: MIT */
/* What the parts of the HTTP wrapper (http.c, http_request.c, http_response.c) share and no one
 * else uses. */
#ifndef MON_COMMON_HTTP_PRIV_H
#define MON_COMMON_HTTP_PRIV_H

#include "common/http.h"

/* Frees the body or file of a response and leaves it empty (headers stay). */
void mon_http_response_reset(struct mon_http_response *resp);

/* Frees everything a response holds, headers included. */
void mon_http_response_free(struct mon_http_response *resp);

#endif

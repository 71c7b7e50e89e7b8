/* SPDX-License-Identifier: MIT */
/* Serves the dashboard's files from web_root: only regular files under it, no listings,
 * traversal (.., encoded or through symlinks) refused. */
#ifndef MON_AGGREGATOR_STATIC_H
#define MON_AGGREGATOR_STATIC_H

/* Threads: no state of its own: any HTTP worker may serve files; web_root is only read;
 * agg_static_content_type returns a static text. */

#include "common/http.h"

/* Answers req from web_root (NULL: 404 with a hint that no dashboard is installed). */
void agg_static_serve(const char *web_root, struct mon_http_request *req,
                      struct mon_http_response *resp);

/* Content type for a file name by extension (application/octet-stream when unknown). */
const char *agg_static_content_type(const char *path);

/* True when a request path is safe to map under the web root (no "..", no "\\", no hidden
 * segments, no control characters). */
bool agg_static_path_ok(const char *path);

#endif

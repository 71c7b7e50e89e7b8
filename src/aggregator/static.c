/* SPDX-License-Identifier: MIT */
/* Static file serving for the dashboard, confined to web_root. */
#include "aggregator/static.h"

#include "common/err.h"
#include "common/os/os.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *ext, *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".ttf", "font/ttf"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *agg_static_content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++)
            if (strcmp(dot, content_types[i].ext) == 0)
                return content_types[i].type;
    return "application/octet-stream";
}

bool agg_static_path_ok(const char *path)
{
    if (path[0] != '/' || strlen(path) > 1024)
        return false;
    for (const char *p = path; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == '\\' || *p == ':' || *p == 0x7f)
            return false;
        /* a segment that starts with '.' covers "..", "." and hidden files */
        if (*p == '/' && (p[1] == '.' || p[1] == '/'))
            return false;
    }
    return true;
}

void agg_static_serve(const char *web_root, struct mon_http_request *req,
                      struct mon_http_response *resp)
{
    char root[MON_PATH_MAX], joined[2 * MON_PATH_MAX], real[MON_PATH_MAX];
    const char *path = req->path;
    unsigned long long size;
    size_t root_len;
    int fd;

    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        mon_http_error(resp, 405, "method %s not allowed", req->method);
        mon_http_set_header(resp, "Allow", "GET, HEAD");
        return;
    }
    if (!web_root || mon_os_realpath(web_root, root, sizeof(root)) < 0) {
        mon_http_error(resp, 404, "no dashboard installed (web_root is not set or missing)");
        return;
    }
    if (!agg_static_path_ok(path)) {
        mon_http_error(resp, 400, "bad path");
        return;
    }
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    snprintf(joined, sizeof(joined), "%s%s", root, path);
    /* Resolve symlinks and make sure the file is still inside the web root. */
    root_len = strlen(root);
    if (mon_os_realpath(joined, real, sizeof(real)) < 0 || strncmp(real, root, root_len) != 0 ||
        (real[root_len] != '/' && real[root_len] != '\\') ||
        mon_os_open_regular(real, &fd, &size) < 0) {
        mon_http_error(resp, 404, "not found: %s", req->path);
        return;
    }
    resp->status = 200;
    resp->fd = fd;
    resp->fd_size = size;
    resp->content_type = agg_static_content_type(real);
    mon_http_set_header(resp, "X-Content-Type-Options", "nosniff");
    if (strstr(resp->content_type, "text/html")) {
        mon_http_set_header(resp, "Cache-Control", "no-cache");
        mon_http_set_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self' "
                            "'unsafe-inline'; font-src 'self' data:; object-src 'none'; "
                            "frame-ancestors 'none'");
    } else {
        mon_http_set_header(resp, "Cache-Control", "public, max-age=300");
    }
}

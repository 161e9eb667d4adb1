/*
 * http.c - HTTP/1.x request framing and replies for the metrics
 * endpoint; see http.h.
 */
#include "http.h"

#include <string.h>

/* Where the header ends (the empty line), or NULL. */
static const char *header_end(const char *buf, size_t len, size_t *total)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n') {
            *total = i + 2;
            return buf + i;
        }
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
            *total = i + 3;
            return buf + i;
        }
    }
    return NULL;
}

static HttpFrame fail(int *status, int code)
{
    *status = code;
    return HTTP_ERROR;
}

HttpFrame http_request(const char *buf, size_t len, HttpRequest *req, int *status)
{
    size_t total;
    size_t scan = MIN(len, (size_t)HTTP_MAX_REQUEST);
    if (memchr(buf, 0, scan))
        return fail(status, 400);
    if (!header_end(buf, scan, &total))
        return len >= HTTP_MAX_REQUEST ? fail(status, 431) : HTTP_INCOMPLETE;

    /* "METHOD SP PATH SP HTTP/1.x" */
    const char *eol = memchr(buf, '\n', total);
    size_t line = (size_t)(eol - buf);
    if (line > 0 && buf[line - 1] == '\r')
        line--;
    const char *sp1 = memchr(buf, ' ', line);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(buf + line - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == buf || sp2 == sp1 + 1 || (size_t)(sp1 - buf) >= sizeof req->method)
        return fail(status, 400);
    size_t version_len = (size_t)(buf + line - sp2 - 1);
    if (version_len != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !g_ascii_isdigit(sp2[8]))
        return fail(status, 400);
    const char *path = sp1 + 1;
    size_t path_len = strcspn(path, "? ");
    if (path[0] != '/')
        return fail(status, 400);
    if (path_len >= sizeof req->path)
        return fail(status, 414);
    memcpy(req->method, buf, (size_t)(sp1 - buf));
    req->method[sp1 - buf] = 0;
    memcpy(req->path, path, path_len);
    req->path[path_len] = 0;
    req->query[0] = 0;
    if (path[path_len] == '?') {
        const char *q = path + path_len + 1;
        size_t query_len = (size_t)(sp2 - q);
        if (query_len >= sizeof req->query)
            return fail(status, 414);
        memcpy(req->query, q, query_len);
        req->query[query_len] = 0;
    }
    return HTTP_COMPLETE;
}

gboolean http_query_value(const char *query, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = query; *p;) {
        size_t len = strcspn(p, "&");
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            g_strlcpy(out, p + n + 1, MIN(size, len - n));
            return TRUE;
        }
        p += len;
        if (*p)
            p++;
    }
    return FALSE;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
    }
}

void http_reply(GString *out, int status, const char *content_type, const char *body, size_t len,
                gboolean head_only)
{
    g_string_append_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n", status,
                           reason(status), content_type, len);
    if (status == 405)
        g_string_append(out, "Allow: GET, HEAD\r\n");
    g_string_append(out, "Connection: close\r\n\r\n");
    if (!head_only)
        g_string_append_len(out, body, (gssize)len);
}

/*
 * http.h - the little of HTTP/1.x the metrics endpoint needs (server.c):
 * one request per connection, a request line and headers (ignored), no
 * body; replies close the connection.  No I/O: the server hands it what
 * it has read, as with policy requests.
 */
#ifndef TLSPOLICYD_HTTP_H
#define TLSPOLICYD_HTTP_H

#include <glib.h>

#define HTTP_MAX_REQUEST 8192  /* request line and headers */
#define HTTP_MAX_PATH 256

typedef enum {
    HTTP_INCOMPLETE,  /* no empty line yet, and within the limit */
    HTTP_COMPLETE,    /* method and path filled in */
    HTTP_ERROR,       /* *status is the reply: 400, 414 or 431 */
} HttpFrame;

typedef struct {
    char method[16];
    char path[HTTP_MAX_PATH];  /* without the query string */
    char query[HTTP_MAX_PATH]; /* after '?', "" if none */
} HttpRequest;

/* The value of name in a query string ("min=5&level=verify"), copied
 * into out (size bytes); FALSE when absent. */
gboolean http_query_value(const char *query, const char *name, char *out, size_t size);

/* Frame and parse the request at the start of buf (len bytes). */
HttpFrame http_request(const char *buf, size_t len, HttpRequest *req, int *status);

/* Append a whole reply with Content-Length and "Connection: close";
 * head_only: no body (HEAD). */
void http_reply(GString *out, int status, const char *content_type, const char *body, size_t len,
                gboolean head_only);

#endif

/*
 * https.c - the MTA-STS policy fetch; see https.h.
 *
 * The request is HTTP/1.0 so that no server answers in chunks; the
 * answer is read to EOF (or Content-Length) under one deadline: each
 * read waits at most for what is left of it, so a server that drips a
 * byte at a time cannot hold a worker longer than timeout_ms.
 */
#include "https.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtasts.h"

G_DEFINE_QUARK(tlspolicyd-https-error-quark, https_error)

#define RESPONSE_MAX (MTASTS_POLICY_MAX + 16384)  /* the body and its headers */

static gint64 remaining_ms(gint64 deadline)
{
    gint64 left = (deadline - g_get_monotonic_time()) / 1000;
    return left > 0 ? left : 0;
}

/* Wait for fd to be ready for events until the deadline. */
static gboolean wait_fd(int fd, short events, gint64 deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)remaining_ms(deadline));
        if (n > 0)
            return TRUE;
        if (n == 0 || errno != EINTR)
            return FALSE;
    }
}

static int connect_one(const char *address, guint port, gint64 deadline, GError **error)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
        g_set_error(error, HTTPS_ERROR, 0, "%s is not an IPv4 address", address);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, HTTPS_ERROR, 0, "socket: %s", g_strerror(errno));
        return -1;
    }
    int err = 0;
    socklen_t err_len = sizeof err;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
        err = errno;
    else if (!wait_fd(fd, POLLOUT, deadline))
        err = ETIMEDOUT;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0)
        err = errno;
    if (err) {
        g_set_error(error, HTTPS_ERROR, 0, "connect to %s port %u: %s", address, port, g_strerror(err));
        close(fd);
        return -1;
    }
    return fd;
}

static const char *ssl_reason(void)
{
    unsigned long e = ERR_get_error();
    return e ? ERR_reason_error_string(e) : "connection closed";
}

/* SSL_connect/read/write on a non-blocking socket, waiting as it asks. */
static int ssl_io(SSL *ssl, int fd, gint64 deadline, int (*op)(SSL *, void *, int), void *buf, int len)
{
    for (;;) {
        int n = op(ssl, buf, len);
        if (n > 0)
            return n;
        int why = SSL_get_error(ssl, n);
        short want = why == SSL_ERROR_WANT_READ ? POLLIN : why == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (!want)
            return why == SSL_ERROR_ZERO_RETURN ? 0 : -1;
        if (!wait_fd(fd, want, deadline))
            return -2;
    }
}

static int do_connect(SSL *ssl, void *buf, int len)
{
    (void)buf;
    (void)len;
    return SSL_connect(ssl);
}

static int do_read(SSL *ssl, void *buf, int len)
{
    return SSL_read(ssl, buf, len);
}

static int do_write(SSL *ssl, void *buf, int len)
{
    return SSL_write(ssl, buf, len);
}

static SSL_CTX *client_context(const char *ca_file, GError **error)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        g_set_error(error, HTTPS_ERROR, 0, "TLS context: %s", ssl_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = *ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
    if (!ok) {
        g_set_error(error, HTTPS_ERROR, 0, "CA file %s: %s", *ca_file ? ca_file : "(default)", ssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* One request on a connected socket; the whole answer into response,
 * and whether the server ended it with close_notify. */
static gboolean exchange(SSL_CTX *ctx, int fd, const HttpsFetch *f, gint64 deadline, GBytes *request,
                         GByteArray *response, gboolean *closed_cleanly, GError **error)
{
    SSL *ssl = SSL_new(ctx);
    gboolean ok = FALSE;
    gsize request_len;
    const char *request_data = g_bytes_get_data(request, &request_len);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, f->host);
    SSL_set1_host(ssl, f->host);
    int n = ssl_io(ssl, fd, deadline, do_connect, NULL, 0);
    if (n <= 0) {
        long verify = SSL_get_verify_result(ssl);
        g_set_error(error, HTTPS_ERROR, 0, "TLS handshake with %s: %s", f->host,
                    n == -2 ? "timed out"
                    : verify != X509_V_OK ? X509_verify_cert_error_string(verify)
                                          : ssl_reason());
        goto out;
    }
    if (ssl_io(ssl, fd, deadline, do_write, (void *)request_data, (int)request_len) <= 0) {
        g_set_error(error, HTTPS_ERROR, 0, "sending the request to %s: %s", f->host, ssl_reason());
        goto out;
    }
    for (;;) {
        unsigned char buf[8192];
        n = ssl_io(ssl, fd, deadline, do_read, buf, sizeof buf);
        /* EOF: close_notify, or a bare TCP FIN that https_parse_response()
         * accepts only where a Content-Length says the body is whole */
        *closed_cleanly = n == 0;
        if (n == 0 || (n == -1 && response->len > 0))
            break;
        if (n < 0) {
            g_set_error(error, HTTPS_ERROR, 0, "reading from %s: %s", f->host, n == -2 ? "timed out" : ssl_reason());
            goto out;
        }
        if (response->len + (guint)n > RESPONSE_MAX) {
            g_set_error(error, HTTPS_ERROR, 0, "the answer from %s is larger than %d bytes", f->host, RESPONSE_MAX);
            goto out;
        }
        g_byte_array_append(response, buf, (guint)n);
    }
    ok = TRUE;
out:
    SSL_free(ssl);
    return ok;
}

/* The request to each address in turn until one answers, under one
 * deadline; the whole answer. */
static GByteArray *round_trip(const HttpsFetch *f, GBytes *request, gboolean *closed_cleanly, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)f->timeout_ms * 1000;
    if (!f->addresses || !f->addresses[0]) {
        g_set_error(error, HTTPS_ERROR, 0, "%s has no address", f->host);
        return NULL;
    }
    SSL_CTX *ctx = client_context(f->ca_file, error);
    if (!ctx)
        return NULL;
    GByteArray *response = g_byte_array_new();
    gboolean got = FALSE;
    for (char **a = f->addresses; *a && !got; a++) {
        g_clear_error(error);
        int fd = connect_one(*a, f->port, deadline, error);
        if (fd < 0)
            continue;
        g_byte_array_set_size(response, 0);
        got = exchange(ctx, fd, f, deadline, request, response, closed_cleanly, error);
        close(fd);
    }
    SSL_CTX_free(ctx);
    if (!got) {
        g_byte_array_unref(response);
        return NULL;
    }
    return response;
}

gboolean https_post(const HttpsFetch *f, const char *path, const char *content_type, GBytes *body, guint *status,
                    GError **error)
{
    gsize body_len;
    const char *body_data = g_bytes_get_data(body, &body_len);
    GString *request = g_string_new(NULL);
    g_string_append_printf(request, "POST %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: tlspolicyd\r\n"
                                    "Content-Type: %s\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n\r\n",
                           path, f->host, content_type, body_len);
    g_string_append_len(request, body_data, (gssize)body_len);
    g_autoptr(GBytes) bytes = g_string_free_to_bytes(request);
    gboolean closed_cleanly = FALSE;
    g_autoptr(GByteArray) response = round_trip(f, bytes, &closed_cleanly, error);
    if (!response)
        return FALSE;
    /* "HTTP/1.x NNN ...": the status is all a collector says that matters */
    guint64 code;
    char digits[4] = "";
    if (response->len < 12 || memcmp(response->data, "HTTP/1.", 7) != 0 || response->data[8] != ' ') {
        g_set_error(error, HTTPS_ERROR, 0, "https://%s%s: no HTTP status line in the answer", f->host, path);
        return FALSE;
    }
    memcpy(digits, response->data + 9, 3);
    if (!g_ascii_string_to_unsigned(digits, 10, 100, 599, &code, NULL)) {
        g_set_error(error, HTTPS_ERROR, 0, "https://%s%s: no HTTP status line in the answer", f->host, path);
        return FALSE;
    }
    *status = (guint)code;
    return TRUE;
}

GBytes *https_fetch_policy(const HttpsFetch *f, GError **error)
{
    g_autofree char *text = g_strdup_printf("GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: %s\r\n"
                                            "User-Agent: tlspolicyd\r\nAccept: text/plain\r\n\r\n",
                                            f->host);
    g_autoptr(GBytes) request = g_bytes_new(text, strlen(text));
    gboolean closed_cleanly = FALSE;
    g_autoptr(GByteArray) response = round_trip(f, request, &closed_cleanly, error);
    if (!response)
        return NULL;
    size_t start, len;
    const char *why;
    if (!https_parse_response((const char *)response->data, response->len, closed_cleanly, &start, &len, &why)) {
        g_set_error(error, HTTPS_ERROR, 0, "https://%s/.well-known/mta-sts.txt: %s", f->host, why);
        return NULL;
    }
    return g_bytes_new(response->data + start, len);
}

static gboolean header_is(const char *line, size_t len, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (len <= n || g_ascii_strncasecmp(line, name, n) != 0 || line[n] != ':')
        return FALSE;
    *value = line + n + 1;
    while (*value < line + len && (**value == ' ' || **value == '\t'))
        (*value)++;
    return TRUE;
}

/* "text/plain", any case, alone or before parameters ("; charset=..."):
 * not "text/plainfoo". */
static gboolean media_type_is_text_plain(const char *value, size_t len)
{
    if (len < 10 || g_ascii_strncasecmp(value, "text/plain", 10) != 0)
        return FALSE;
    return len == 10 || value[10] == ';' || value[10] == ' ' || value[10] == '\t';
}

/* Content-Length: digits only (RFC 9110 8.6), trailing blanks allowed;
 * -1 for anything else (a sign, a suffix, a number past the policy's
 * size, which could never be whole anyway). */
static gint64 content_length(const char *value, size_t len)
{
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0 || len > 9)
        return -1;
    gint64 n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!g_ascii_isdigit(value[i]))
            return -1;
        n = n * 10 + (value[i] - '0');
    }
    return n;
}

gboolean https_parse_response(const char *data, size_t len, gboolean closed_cleanly, size_t *body_start,
                              size_t *body_len, const char **why)
{
    const char *end = data + len;
    const char *eol = memchr(data, '\n', len);
    /* "HTTP/1.0 200 OK": the version, one space, three digits, then a
     * space or the end of the line ("2000" is no status) */
    if (!eol || len < 13 || strncmp(data, "HTTP/1.", 7) != 0 || (data[7] != '0' && data[7] != '1') || data[8] != ' '
        || !g_ascii_isdigit(data[9]) || !g_ascii_isdigit(data[10]) || !g_ascii_isdigit(data[11])
        || (data[12] != ' ' && data[12] != '\r' && data[12] != '\n')) {
        *why = "not an HTTP answer";
        return FALSE;
    }
    if (strncmp(data + 9, "200", 3) != 0) {
        *why = strncmp(data + 9, "30", 2) == 0 ? "a redirect (RFC 8461 forbids following it)" : "the status is not 200";
        return FALSE;
    }
    gboolean text_plain = FALSE;
    gint64 length = -1;
    const char *p = eol + 1;
    for (;;) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) {
            *why = "the headers do not end";
            return FALSE;
        }
        size_t line_len = (size_t)(eol - p);
        if (line_len && p[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0)
            break;
        const char *value;
        if (header_is(p, line_len, "Content-Type", &value))
            text_plain = media_type_is_text_plain(value, (size_t)(p + line_len - value));
        if (header_is(p, line_len, "Content-Length", &value)) {
            gint64 this = content_length(value, (size_t)(p + line_len - value));
            if (this < 0 || (length >= 0 && this != length)) {
                *why = this < 0 ? "a Content-Length that is not a number" : "two Content-Lengths that differ";
                return FALSE;
            }
            length = this;
        }
        if (header_is(p, line_len, "Transfer-Encoding", &value)) {
            *why = "a Transfer-Encoding to an HTTP/1.0 request";
            return FALSE;
        }
        p = eol + 1;
    }
    if (!text_plain) {
        *why = "the Content-Type is not text/plain";
        return FALSE;
    }
    *body_start = (size_t)(eol + 1 - data);
    *body_len = len - *body_start;
    if (length >= 0 && (guint64)length < *body_len)
        *body_len = (size_t)length;
    if (length >= 0 && (guint64)length > *body_len) {
        *why = "the body is shorter than its Content-Length";
        return FALSE;
    }
    if (length < 0 && !closed_cleanly) {
        *why = "the answer has no Content-Length and ended without TLS close_notify (it may be cut short)";
        return FALSE;
    }
    if (*body_len > MTASTS_POLICY_MAX) {
        *why = "the policy is larger than 64 KiB";
        return FALSE;
    }
    return TRUE;
}

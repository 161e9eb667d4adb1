/*
 * smtpsubmit.c - a message handed to the local smtpd; see smtpsubmit.h.
 *
 * Non-blocking socket, poll() for what is left of the one deadline: each
 * read and write waits at most that long, whatever smtpd does.
 */
#include "smtpsubmit.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "escape.h"

G_DEFINE_QUARK(tlspolicyd-smtp-submit-error-quark, smtp_submit_error)

typedef struct {
    int fd;
    gint64 deadline;
    char buf[SMTP_REPLY_MAX];
    size_t len;                 /* bytes in buf not yet taken as a reply */
} Conversation;

static gboolean wait_fd(Conversation *c, short events)
{
    for (;;) {
        gint64 left = (c->deadline - g_get_monotonic_time()) / 1000;
        if (left <= 0)
            return FALSE;
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = poll(&p, 1, (int)MIN(left, G_MAXINT));
        if (n > 0)
            return TRUE;
        if (n == 0 || errno != EINTR)
            return FALSE;
    }
}

static gboolean send_all(Conversation *c, const char *data, size_t len, GError **error)
{
    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(c, POLLOUT))
            continue;
        g_set_error(error, SMTP_SUBMIT_ERROR, SMTP_SUBMIT_ERROR_IO, "sending: %s",
                    n < 0 && errno != EAGAIN ? g_strerror(errno) : "timed out");
        return FALSE;
    }
    return TRUE;
}

/* The end of a complete reply in buf ("ddd text\r\n" after any
 * "ddd-text\r\n" lines), or 0 when more is needed. */
static size_t reply_end(const Conversation *c)
{
    size_t start = 0;
    for (;;) {
        const char *nl = memchr(c->buf + start, '\n', c->len - start);
        if (!nl)
            return 0;
        size_t end = (size_t)(nl - c->buf) + 1;
        if (end - start < 4 || c->buf[start + 3] != '-')
            return end;
        start = end;
    }
}

/* smtpd's next reply into reply (NUL-terminated): its code, or 0. */
static int read_reply(Conversation *c, char *reply, size_t size, GError **error)
{
    size_t end;
    while (!(end = reply_end(c))) {
        if (c->len == sizeof c->buf) {
            g_set_error(error, SMTP_SUBMIT_ERROR, SMTP_SUBMIT_ERROR_IO, "a reply longer than %d bytes", SMTP_REPLY_MAX);
            return 0;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(c, POLLIN))
            continue;
        g_set_error(error, SMTP_SUBMIT_ERROR, SMTP_SUBMIT_ERROR_IO, "waiting for a reply: %s",
                    n == 0 ? "the connection was closed" : errno != EAGAIN ? g_strerror(errno) : "timed out");
        return 0;
    }
    g_strlcpy(reply, c->buf, MIN(size, end + 1));
    memmove(c->buf, c->buf + end, c->len - end);
    c->len -= end;
    if (end < 4 || !g_ascii_isdigit(reply[0]) || !g_ascii_isdigit(reply[1]) || !g_ascii_isdigit(reply[2])) {
        char shown[160];
        g_set_error(error, SMTP_SUBMIT_ERROR, SMTP_SUBMIT_ERROR_IO, "not an SMTP reply: %s",
                    text_escape(g_strchomp(reply), shown, sizeof shown));
        return 0;
    }
    return (reply[0] - '0') * 100 + (reply[1] - '0') * 10 + (reply[2] - '0');
}

/* Send command (NULL: none, the greeting), expect a reply in want's
 * hundred; the reply stays in reply.  what names the step for errors. */
static gboolean step(Conversation *c, const char *what, const char *command, int want, char *reply, size_t size,
                     GError **error)
{
    int code = 0;
    if ((command && !send_all(c, command, strlen(command), error)) || !(code = read_reply(c, reply, size, error))) {
        g_prefix_error(error, "%s: ", what);
        return FALSE;
    }
    if (code / 100 == want / 100)
        return TRUE;
    char shown[320];
    g_set_error(error, SMTP_SUBMIT_ERROR, SMTP_SUBMIT_ERROR_REFUSED, "%s: %s", what,
                text_escape(g_strchomp(reply), shown, sizeof shown));
    return FALSE;
}

static int connect_unix(const char *path, GError **error)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        g_set_error(error, SMTP_SUBMIT_ERROR, SMTP_SUBMIT_ERROR_CONNECT, "%s: the path is too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, SMTP_SUBMIT_ERROR, SMTP_SUBMIT_ERROR_CONNECT, "socket: %s", g_strerror(errno));
        return -1;
    }
    /* a unix-domain connect does not wait for accept(): it succeeds once
     * queued, or fails at once (EAGAIN when the backlog is full) */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        g_set_error(error, SMTP_SUBMIT_ERROR, SMTP_SUBMIT_ERROR_CONNECT, "%s: %s", path, g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The message, dot-stuffed (RFC 5321 4.5.2), and the final dot. */
static gboolean send_data(Conversation *c, const char *message, GError **error)
{
    GString *out = g_string_sized_new(strlen(message) + 1024);
    gboolean line_start = TRUE;
    for (const char *p = message; *p; p++) {
        if (line_start && *p == '.')
            g_string_append_c(out, '.');
        g_string_append_c(out, *p);
        line_start = *p == '\n';
    }
    g_string_append(out, line_start ? ".\r\n" : "\r\n.\r\n");
    gboolean sent = send_all(c, out->str, out->len, error);
    g_string_free(out, TRUE);
    return sent;
}

gboolean smtp_submit(const SmtpSubmit *s, const char *message, char **queued_as, GError **error)
{
    Conversation *c = g_new0(Conversation, 1);
    c->deadline = g_get_monotonic_time() + (gint64)s->timeout_ms * 1000;
    c->fd = connect_unix(s->socket_path, error);
    char reply[SMTP_REPLY_MAX + 1];
    g_autofree char *ehlo = g_strdup_printf("EHLO %s\r\n", s->helo);
    g_autofree char *mail = g_strdup_printf("MAIL FROM:<%s>\r\n", s->sender);
    g_autofree char *rcpt = g_strdup_printf("RCPT TO:<%s>\r\n", s->recipient);
    gboolean queued = c->fd >= 0
                      && step(c, "the greeting", NULL, 220, reply, sizeof reply, error)
                      && step(c, "EHLO", ehlo, 250, reply, sizeof reply, error)
                      && step(c, "MAIL FROM", mail, 250, reply, sizeof reply, error)
                      && step(c, "RCPT TO", rcpt, 250, reply, sizeof reply, error)
                      && step(c, "DATA", "DATA\r\n", 354, reply, sizeof reply, error)
                      && send_data(c, message, error)
                      && step(c, "the message", NULL, 250, reply, sizeof reply, error);
    if (queued && queued_as) {
        const char *id = strstr(reply, "queued as ");
        *queued_as = g_strndup(id ? id + 10 : "", id ? strcspn(id + 10, " \r\n") : 0);
    }
    if (c->fd >= 0) {
        if (queued) {  /* the message is Postfix's now: QUIT's answer changes nothing */
            GError *ignored = NULL;
            if (!step(c, "QUIT", "QUIT\r\n", 221, reply, sizeof reply, &ignored))
                g_clear_error(&ignored);
        }
        close(c->fd);
    }
    g_free(c);
    return queued;
}

/* smtpsubmit.c - the report's mail (tlsrptmail.h) and its hand-over to a
 * local smtpd (smtpsubmit.h), against a scripted smtpd on a real unix
 * socket: what the client sent, what it concluded, within its deadline. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "smtpsubmit.h"
#include "tlsrptmail.h"

static char *tmpdir;

/* --- the mail ------------------------------------------------------------ */

static void test_compose(void)
{
    static const guchar gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, '.', '\n', '.', 0xff, 0};
    g_autoptr(GBytes) bytes = g_bytes_new_static(gz, sizeof gz);
    /* big enough for several base64 lines */
    g_autoptr(GByteArray) big = g_byte_array_new();
    for (int i = 0; i < 300; i++)
        g_byte_array_append(big, gz, sizeof gz);
    g_autoptr(GBytes) big_bytes = g_bytes_new(big->data, big->len);
    GBytes *const reports[] = {bytes, big_bytes};
    for (guint r = 0; r < G_N_ELEMENTS(reports); r++) {
        TlsrptMail m = {.domain = "example.net", .submitter = "mx.example.com",
                        .report_id = "1764720000.example.net@mx.example.com",
                        .file_name = "mx.example.com!example.net!1764720000!1764806399.json.gz",
                        .from = "tlsrpt@example.com", .to = "reports@example.net", .date = 1764806400,
                        .gz = reports[r]};
        g_autofree char *text = tlsrpt_mail_compose(&m);
        static const char *const fields[] = {
            "From: <tlsrpt@example.com>\r\n",
            "To: <reports@example.net>\r\n",
            "Date: Thu, 04 Dec 2025 00:00:00 +0000\r\n",
            /* folded (RFC 5322 2.2.3), as the section's ABNF's FWS allows */
            "Subject: Report Domain: example.net\r\n Submitter: mx.example.com\r\n"
            " Report-ID: <1764720000.example.net@mx.example.com>\r\n",
            "TLS-Report-Domain: example.net\r\n",
            "TLS-Report-Submitter: mx.example.com\r\n",
            "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
            "\tboundary=\"=_tlsrpt_1764720000.example.net.mx.example.com\"\r\n",
            "Content-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n",
            "filename=\"mx.example.com!example.net!1764720000!1764806399.json.gz\"",
            "\r\n--=_tlsrpt_1764720000.example.net.mx.example.com--\r\n",
        };
        for (guint i = 0; i < G_N_ELEMENTS(fields); i++)
            if (!strstr(text, fields[i]))
                g_error("the mail lacks %s", fields[i]);
        /* every line CRLF and at most 78 characters (RFC 5322 2.1.1) */
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        guint n = g_strv_length(lines);
        g_assert_cmpstr(lines[n - 1], ==, "");
        for (guint i = 0; i + 1 < n; i++) {
            g_assert_true(g_str_has_suffix(lines[i], "\r"));
            g_assert_cmpuint(strlen(lines[i]), <=, 79);
        }
        /* the attachment is the report, byte for byte */
        const char *body = strstr(text, "json.gz\"\r\n\r\n") + strlen("json.gz\"\r\n\r\n");
        g_autofree char *encoded = g_strndup(body, strstr(body, "\r\n\r\n--") - body);
        gsize len;
        g_autofree guchar *decoded = g_base64_decode(encoded, &len);
        g_assert_cmpmem(decoded, len, g_bytes_get_data(reports[r], NULL), g_bytes_get_size(reports[r]));
    }
}

/* --- the hand-over ------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *const replies[8];  /* greeting, then one per command; NULL: stop answering */
    gboolean want_queued;
    const char *want_error;        /* a part of the error message */
    const char *want_queue_id;
} SubmitRow;

static const SubmitRow submit_rows[] = {
    {"queued", {"220 mx ESMTP\r\n", "250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n", "250 2.1.0 Ok\r\n",
                "250 2.1.5 Ok\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n", "250 2.0.0 Ok: queued as 4dTQ7x1\r\n",
                "221 2.0.0 Bye\r\n"},
     TRUE, NULL, "4dTQ7x1"},
    {"queued, no id", {"220 mx\r\n", "250 mx\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 ok\r\n"},
     TRUE, NULL, ""},
    {"greeting refused", {"554 5.7.1 go away\r\n"}, FALSE, "the greeting: 554 5.7.1 go away", NULL},
    {"recipient refused", {"220 mx\r\n", "250 mx\r\n", "250 ok\r\n", "554 5.7.1 <r@x>: Relay access denied\r\n"},
     FALSE, "RCPT TO: 554 5.7.1 <r@x>: Relay access denied", NULL},
    {"message refused", {"220 mx\r\n", "250 mx\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n",
                         "550 5.7.1 milter says no\r\n"},
     FALSE, "the message: 550 5.7.1 milter says no", NULL},
    {"a reply with control bytes", {"220 mx\r\n", "250 mx\r\n", "451 4.3.0 \033[31mred\r\n"},
     FALSE, "MAIL FROM: 451 4.3.0 \\x1B[31mred", NULL},
    {"not SMTP", {"HTTP/1.0 400 Bad\r\n"}, FALSE, "not an SMTP reply: HTTP/1.0 400 Bad", NULL},
    {"closed", {"220 mx\r\n", NULL}, FALSE, "EHLO", NULL},
};

typedef struct {
    const SubmitRow *row;
    int listener;
    GString *received;             /* what the client sent */
    gboolean hang;                 /* do not close: the client's deadline must end it */
} Smtpd;

/* One command (or the message) appended to into: bytes up to end. */
static gboolean read_until(int fd, GString *into, const char *end)
{
    size_t start = into->len;
    char c;
    do {
        if (read(fd, &c, 1) != 1)
            return FALSE;
        g_string_append_c(into, c);
    } while (into->len - start < strlen(end) || !g_str_has_suffix(into->str, end));
    return TRUE;
}

static gpointer smtpd_run(gpointer data)
{
    Smtpd *d = data;
    int fd = accept(d->listener, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    for (guint i = 0; i < G_N_ELEMENTS(d->row->replies) && d->row->replies[i]; i++) {
        const char *reply = d->row->replies[i];
        g_assert_cmpint(write(fd, reply, strlen(reply)), ==, (gssize)strlen(reply));
        if (reply[0] != '2' && reply[0] != '3')
            break;
        gboolean data_next = g_str_has_prefix(reply, "354");
        if (!read_until(fd, d->received, data_next ? "\r\n.\r\n" : "\r\n"))
            break;
    }
    if (d->hang) {
        char c;
        while (read(fd, &c, 1) == 1)
            ;  /* until the client gives up and closes */
    }
    close(fd);
    return NULL;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    g_unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
    g_assert_cmpint(listen(fd, 4), ==, 0);
    return fd;
}

static gboolean submit(const SubmitRow *row, gboolean hang, guint timeout_ms, const char *message, GString *received,
                       char **queue_id, GError **error)
{
    g_autofree char *path = g_build_filename(tmpdir, "smtpd", NULL);
    Smtpd d = {.row = row, .listener = listen_unix(path), .received = received, .hang = hang};
    GThread *server = g_thread_new("smtpd", smtpd_run, &d);
    SmtpSubmit s = {.socket_path = path, .helo = "mx.example.com", .sender = "tlsrpt@example.com",
                    .recipient = "reports@example.net", .timeout_ms = timeout_ms};
    gboolean queued = smtp_submit(&s, message, queue_id, error);
    g_thread_join(server);
    close(d.listener);
    g_unlink(path);
    return queued;
}

static void test_submit_rows(void)
{
    for (guint i = 0; i < G_N_ELEMENTS(submit_rows); i++) {
        const SubmitRow *row = &submit_rows[i];
        g_autoptr(GString) received = g_string_new("");
        g_autofree char *queue_id = NULL;
        GError *error = NULL;
        gboolean queued = submit(row, FALSE, 5000, "Subject: x\r\n\r\n.dot\r\n", received, &queue_id, &error);
        if (queued != row->want_queued)
            g_error("%s: queued %d, want %d (%s)", row->name, queued, row->want_queued, error ? error->message : "");
        if (row->want_error && !strstr(error->message, row->want_error))
            g_error("%s: error \"%s\", want \"%s\"", row->name, error->message, row->want_error);
        if (row->want_queue_id)
            g_assert_cmpstr(queue_id, ==, row->want_queue_id);
        if (queued)  /* the conversation, the message dot-stuffed */
            g_assert_cmpstr(received->str, ==,
                            "EHLO mx.example.com\r\nMAIL FROM:<tlsrpt@example.com>\r\nRCPT TO:<reports@example.net>\r\n"
                            "DATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
        g_clear_error(&error);
    }
}

/* An smtpd that greets and then says nothing holds the client no longer
 * than its deadline; one that is not there fails at once. */
static void test_submit_deadline(void)
{
    static const SubmitRow stuck = {"stuck after EHLO", {"220 mx\r\n"}, FALSE, NULL, NULL};
    g_autoptr(GString) received = g_string_new("");
    GError *error = NULL;
    gint64 start = g_get_monotonic_time();
    g_assert_false(submit(&stuck, TRUE, 300, "x\r\n", received, NULL, &error));
    /* the smtpd never closes: only the deadline ended the wait (the bound
     * is loose, a loaded machine may be slow to wake the client) */
    gint64 took_ms = (g_get_monotonic_time() - start) / 1000;
    g_assert_cmpint(took_ms, <, 10000);
    g_assert_nonnull(strstr(error->message, "waiting for a reply: timed out"));
    g_clear_error(&error);

    g_autofree char *none = g_build_filename(tmpdir, "nothing-here", NULL);
    SmtpSubmit s = {.socket_path = none, .helo = "h", .sender = "a@b", .recipient = "c@d", .timeout_ms = 1000};
    g_assert_false(smtp_submit(&s, "x\r\n", NULL, &error));
    g_assert_true(g_error_matches(error, SMTP_SUBMIT_ERROR, SMTP_SUBMIT_ERROR_CONNECT));
    g_clear_error(&error);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("smtpsubmit-test-XXXXXX", NULL);
    g_test_add_func("/tlsrptmail/compose", test_compose);
    g_test_add_func("/smtpsubmit/rows", test_submit_rows);
    g_test_add_func("/smtpsubmit/deadline", test_submit_deadline);
    int rc = g_test_run();
    g_rmdir(tmpdir);
    return rc;
}

/* maillog.c - unit tests of outbound evidence: Postfix's smtp client
 * lines parsed (policyd/maillog.c), joined into deliveries and
 * classified (delivery.c), predicted for a level, followed in a file
 * across rotation, truncation and restarts (logfollow.c), and counted
 * (outledger.c).  The lines are what Postfix 3.7 wrote in t/postfix.t's
 * instance (smtp_tls_loglevel = 1). */
#include <fcntl.h>
#include <setjmp.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "delivery.h"
#include "logfollow.h"
#include "maillog.h"
#include "outledger.h"

#define NOW 1796306400  /* 2026-12-03 (a Thursday), for syslog's yearless stamps */

static void test_parse(void)
{
    static const struct {
        const char *name, *line;
        MaillogKind kind;
        const char *service, *a, *b, *c;  /* kind-specific fields, see below */
    } rows[] = {
        {"delivery (maillog_file)",
         "Dec 03 14:16:29 mx postfix/tls-verify/smtp[18167]: 44786A761D0: to=<b@good.test>, "
         "relay=good.test[127.0.0.3]:2526, delay=0.27, delays=0.02/0.05/0.2/0, dsn=2.0.0, status=sent (250 queued)",
         MAILLOG_DELIVERY, "tls-verify", "44786A761D0", "b@good.test", "good.test[127.0.0.3]:2526"},
        {"delivery with orig_to and conn_use (syslog)",
         "Dec  3 14:16:29 mx postfix/smtp[9]: 4B: to=<x@y.test>, orig_to=<al@y.test>, relay=y.test[192.0.2.1]:25, "
         "conn_use=2, delay=1, delays=0/0/0/1, dsn=4.7.4, status=deferred (TLS is required, but was not offered by "
         "host y.test[192.0.2.1])",
         MAILLOG_DELIVERY, "smtp", "4B", "x@y.test", "y.test[192.0.2.1]:25"},
        {"delivery, RFC 3339 stamp",
         "2026-12-03T14:16:29.123456+00:00 mx postfix/smtp[77]: 5C: to=<\"a, b\"@q.test>, relay=none, delay=0, "
         "delays=0/0/0/0, dsn=4.4.3, status=deferred (Host or domain name not found)",
         MAILLOG_DELIVERY, "smtp", "5C", "\"a, b\"@q.test", "none"},
        {"TLS established",
         "Dec 03 14:16:29 mx postfix/tls-verify/smtp[18167]: Verified TLS connection established to "
         "good.test[127.0.0.3]:2526: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519",
         MAILLOG_TLS_ESTABLISHED, "tls-verify", "good.test[127.0.0.3]:2526", "TLSv1.3", "TLS_AES_256_GCM_SHA384"},
        {"TLS 1.1, untrusted",
         "Dec 03 14:16:51 mx postfix/smtp[18414]: Untrusted TLS connection established to "
         "ulegacy.test[127.0.0.5]:2526: TLSv1.1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)",
         MAILLOG_TLS_ESTABLISHED, "smtp", "ulegacy.test[127.0.0.5]:2526", "TLSv1.1", "ECDHE-RSA-AES256-SHA"},
        {"certificate failure",
         "Dec 03 14:16:29 mx postfix/tls-verify/smtp[18173]: server certificate verification failed for "
         "wrongname.test[127.0.0.4]:2526: num=62:hostname mismatch",
         MAILLOG_CERT_FAILED, "tls-verify", "wrongname.test[127.0.0.4]:2526", "num=62:hostname mismatch", NULL},
        {"self-signed",
         "Dec 03 14:16:29 mx postfix/tls-verify/smtp[18167]: certificate verification failed for "
         "self.test[127.0.0.7]:2526: self-signed certificate",
         MAILLOG_CERT_FAILED, "tls-verify", "self.test[127.0.0.7]:2526", "self-signed certificate", NULL},
        {"handshake failure",
         "Dec 03 14:16:30 mx postfix/tls-encrypt/smtp[18179]: SSL_connect error to legacy.test[127.0.0.5]:2526: -1",
         MAILLOG_HANDSHAKE_FAILED, "tls-encrypt", "legacy.test[127.0.0.5]:2526", "-1", NULL},
        {"the library's words",
         "Dec 03 14:16:30 mx postfix/tls-encrypt/smtp[18179]: warning: TLS library problem: "
         "error:0A000102:SSL routines::unsupported protocol:../ssl/statem/statem_lib.c:1952:",
         MAILLOG_TLS_PROBLEM, "tls-encrypt", NULL, "unsupported protocol", NULL},
        {"another smtp line", "Dec 03 14:16:30 mx postfix/smtp[1]: connect to x.test[192.0.2.1]:25: Connection refused",
         MAILLOG_OTHER, "smtp", NULL, NULL, NULL},
        {"smtpd is not the client", "Dec 03 14:16:30 mx postfix/smtpd[1]: 4B: to=<a@b>, relay=x, dsn=2.0.0, status=sent",
         MAILLOG_NOT_SMTP, NULL, NULL, NULL, NULL},
        {"lmtp is local", "Dec 03 14:16:30 mx postfix/lmtp[1]: 4B: to=<a@b>, relay=x, dsn=2.0.0, status=sent",
         MAILLOG_NOT_SMTP, NULL, NULL, NULL, NULL},
        {"another program posing", "Dec 03 14:16:30 mx evil/smtp[1]: 4B: to=<a@b>, relay=x, dsn=2.0.0, status=sent",
         MAILLOG_NOT_SMTP, NULL, NULL, NULL, NULL},
        {"no pid", "Dec 03 14:16:30 mx postfix/smtp: 4B: to=<a@b>, relay=x, dsn=2.0.0, status=sent", MAILLOG_NOT_SMTP,
         NULL, NULL, NULL, NULL},
        {"garbage", "\x01\x02 hello", MAILLOG_NOT_SMTP, NULL, NULL, NULL, NULL},
        {"empty", "", MAILLOG_NOT_SMTP, NULL, NULL, NULL, NULL},
        {"a queue id with a space is no delivery",
         "Dec 03 14:16:30 mx postfix/smtp[1]: 4 B: to=<a@b>, relay=x, dsn=2.0.0, status=sent", MAILLOG_OTHER, "smtp",
         NULL, NULL, NULL},
        {"no protocol before \"with cipher\": not a TLS line (was a read past the line)",
         "Dec 01 14:16:29 mx postfix/smtp[18172]: Untrusted TLS connection established to w:2526: with cipher T",
         MAILLOG_OTHER, "smtp", NULL, NULL, NULL},
        {"control bytes kept in fields (escaped when logged)",
         "Dec 03 14:16:30 mx postfix/smtp[1]: 4B: to=<a\x1b[2J@b.test>, relay=b.test[192.0.2.1]:25, dsn=2.0.0, "
         "status=sent (ok)",
         MAILLOG_DELIVERY, "smtp", "4B", "a\x1b[2J@b.test", "b.test[192.0.2.1]:25"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("row %s", rows[i].name);
        MaillogLine l;
        /* exactly the line's bytes, no NUL after them: ASan sees a read past */
        size_t len = strlen(rows[i].line);
        g_autofree char *line = g_memdup2(rows[i].line, len ? len : 1);
        gboolean ok = maillog_parse(line, len, NOW, &l);
        g_assert_cmpint(ok, ==, rows[i].kind != MAILLOG_NOT_SMTP);
        if (!ok)
            continue;
        g_assert_cmpint(l.kind, ==, rows[i].kind);
        g_assert_cmpstr(l.service, ==, rows[i].service);
        switch (l.kind) {
        case MAILLOG_DELIVERY:
            g_assert_cmpstr(l.queue_id, ==, rows[i].a);
            g_assert_cmpstr(l.recipient, ==, rows[i].b);
            g_assert_cmpstr(l.relay, ==, rows[i].c);
            break;
        case MAILLOG_TLS_ESTABLISHED:
            g_assert_cmpstr(l.peer, ==, rows[i].a);
            g_assert_cmpstr(l.protocol, ==, rows[i].b);
            g_assert_cmpstr(l.cipher, ==, rows[i].c);
            break;
        case MAILLOG_CERT_FAILED:
        case MAILLOG_HANDSHAKE_FAILED:
            g_assert_cmpstr(l.peer, ==, rows[i].a);
            g_assert_cmpstr(l.reason, ==, rows[i].b);
            break;
        case MAILLOG_TLS_PROBLEM:
            g_assert_cmpstr(l.reason, ==, rows[i].b);
            break;
        default:
            break;
        }
    }
}

static void test_parse_fields(void)
{
    MaillogLine l;
    const char *line = "Dec 03 14:16:29 mx postfix/tls-verify/smtp[18173]: 7AD59A761DA: to=<b@wrongname.test>, "
                       "relay=wrongname.test[127.0.0.4]:2526, delay=0.14, delays=0.01/0.02/0.11/0, dsn=4.7.5, "
                       "status=deferred (Server certificate not verified)";
    g_assert_true(maillog_parse(line, strlen(line), NOW, &l));
    g_assert_cmpuint(l.pid, ==, 18173);
    g_assert_cmpstr(l.dsn, ==, "4.7.5");
    g_assert_cmpstr(l.status, ==, "deferred");
    g_assert_cmpstr(l.why, ==, "Server certificate not verified");
    g_autoptr(GDateTime) at = g_date_time_new_local(2026, 12, 3, 14, 16, 29);
    g_assert_cmpint(l.time, ==, g_date_time_to_unix(at));
    /* December's line read on January 1st is last year's */
    g_autoptr(GDateTime) jan = g_date_time_new_local(2027, 1, 1, 0, 5, 0);
    g_assert_true(maillog_parse(line, strlen(line), g_date_time_to_unix(jan), &l));
    g_assert_cmpint(l.time, ==, g_date_time_to_unix(at));
    /* fields are bounded whatever the line holds */
    g_autoptr(GString) big = g_string_new("Dec 03 14:16:29 mx postfix/smtp[1]: 4B: to=<");
    for (int i = 0; i < 2000; i++)
        g_string_append_c(big, 'a');
    g_string_append(big, "@x.test>, relay=x.test[192.0.2.1]:25, dsn=2.0.0, status=sent (ok)");
    g_assert_true(maillog_parse(big->str, big->len, NOW, &l));
    g_assert_cmpuint(strlen(l.recipient), ==, sizeof l.recipient - 1);
    g_string_set_size(big, MAILLOG_LINE_MAX + 1);
    g_assert_false(maillog_parse(big->str, big->len, NOW, &l));
    g_assert_true(maillog_parse_text("postfix/tls-encrypt/smtp", 42, "Anonymous TLS connection established to "
                                     "a.test[192.0.2.1]:25: TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 "
                                     "bits)", 100, NOW, &l));
    g_assert_cmpint(l.kind, ==, MAILLOG_TLS_ESTABLISHED);
    g_assert_cmpstr(l.service, ==, "tls-encrypt");
    g_assert_cmpstr(l.trust, ==, "Anonymous");
}

/* Lines fed in order; the deliveries that come out. */
typedef struct {
    const char *recipient, *trust, *protocol, *result, *detail;
    gboolean new_session, new_message;
} WantDelivery;

static void feed_all(DeliveryTracker *t, const char *const *lines, const WantDelivery *want, guint n_want)
{
    guint got = 0;
    for (const char *const *p = lines; *p; p++) {
        MaillogLine l;
        Delivery d;
        g_assert_true(maillog_parse(*p, strlen(*p), NOW, &l));
        if (!delivery_feed(t, &l, &d))
            continue;
        g_assert_cmpuint(got, <, n_want);
        const WantDelivery *w = &want[got++];
        g_test_message("delivery %s", w->recipient);
        g_assert_cmpstr(d.recipient, ==, w->recipient);
        g_assert_cmpstr(delivery_trust_name(d.trust), ==, w->trust);
        g_assert_cmpstr(d.protocol, ==, w->protocol);
        g_assert_cmpstr(delivery_result_name(d.result), ==, w->result);
        g_assert_cmpstr(d.detail, ==, w->detail);
        g_assert_cmpint(d.new_session, ==, w->new_session);
        g_assert_cmpint(d.new_message, ==, w->new_message);
    }
    g_assert_cmpuint(got, ==, n_want);
}

#define L(pid, text) "Dec 03 14:16:29 mx postfix/tls-verify/smtp[" #pid "]: " text
#define DL(pid, qid, rcpt, relay, status) \
    L(pid, qid ": to=<" rcpt ">, relay=" relay ", delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=" status)

static void test_join(void)
{
    static const char *const lines[] = {
        /* a verified session, two recipients of one message */
        L(1, "Verified TLS connection established to good.test[127.0.0.3]:2526: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"),
        DL(1, "Q1", "a@good.test", "good.test[127.0.0.3]:2526", "sent (250 queued)"),
        DL(1, "Q1", "b@good.test", "good.test[127.0.0.3]:2526", "sent (250 queued)"),
        /* the same process, the next message, same relay: a new connection, and no TLS line - plaintext */
        DL(1, "Q2", "c@good.test", "good.test[127.0.0.3]:2526", "sent (250 queued)"),
        /* a name mismatch before the untrusted session */
        L(2, "server certificate verification failed for wrongname.test[127.0.0.4]:2526: num=62:hostname mismatch"),
        L(2, "Untrusted TLS connection established to wrongname.test[127.0.0.4]:2526: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"),
        DL(2, "Q3", "d@wrongname.test", "wrongname.test[127.0.0.4]:2526", "deferred (Server certificate not verified)"),
        /* interleaved: process 3's handshake failure, with the library's words */
        L(3, "SSL_connect error to legacy.test[127.0.0.5]:2526: -1"),
        L(3, "warning: TLS library problem: error:0A000102:SSL routines::unsupported protocol:../ssl/statem/statem_lib.c:1952:"),
        L(4, "certificate verification failed for self.test[127.0.0.7]:2526: self-signed certificate"),
        DL(3, "Q4", "e@legacy.test", "legacy.test[127.0.0.5]:2526", "deferred (Cannot start TLS: handshake failure)"),
        L(4, "Untrusted TLS connection established to self.test[127.0.0.7]:2526: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"),
        DL(4, "Q5", "f@self.test", "self.test[127.0.0.7]:2526", "deferred (Server certificate not verified)"),
        /* no STARTTLS */
        DL(5, "Q6", "g@plain.test", "plain.test[127.0.0.2]:2526",
           "deferred (TLS is required, but was not offered by host plain.test[127.0.0.2])"),
        /* no connection at all */
        DL(5, "Q7", "h@gone.test", "none", "deferred (Host or domain name not found)"),
        /* a session with one host, the delivery via another (a second MX): not that session's */
        L(6, "Trusted TLS connection established to mx1.test[192.0.2.1]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"),
        DL(6, "Q8", "i@two.test", "mx2.test[192.0.2.2]:25", "sent (250 ok)"),
        NULL,
    };
    static const WantDelivery want[] = {
        {"a@good.test", "verified", "TLSv1.3", "none", "", TRUE, TRUE},
        {"b@good.test", "verified", "TLSv1.3", "none", "", FALSE, FALSE},
        {"c@good.test", "plaintext", "", "none", "", TRUE, TRUE},
        {"d@wrongname.test", "untrusted", "TLSv1.3", "certificate-host-mismatch", "num=62:hostname mismatch", TRUE, TRUE},
        {"e@legacy.test", "plaintext", "", "validation-failure", "unsupported protocol", TRUE, TRUE},
        {"f@self.test", "untrusted", "TLSv1.3", "certificate-not-trusted", "self-signed certificate", TRUE, TRUE},
        {"g@plain.test", "plaintext", "", "starttls-not-supported",
         "TLS is required, but was not offered by host plain.test[127.0.0.2]", TRUE, TRUE},
        {"h@gone.test", "plaintext", "", "none", "", FALSE, FALSE},
        {"i@two.test", "plaintext", "", "none", "", TRUE, TRUE},
    };
    DeliveryTracker *t = delivery_tracker_new(64);
    feed_all(t, lines, want, G_N_ELEMENTS(want));
    delivery_tracker_free(t);
}

/* A session saved between its TLS line and its delivery lines joins
 * after a restart as before. */
static void test_join_across_restart(void)
{
    static const char *const before[] = {
        L(7, "Verified TLS connection established to good.test[127.0.0.3]:2526: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"),
        NULL,
    };
    static const char *const after[] = {
        DL(7, "Q9", "a@good.test", "good.test[127.0.0.3]:2526", "sent (250 queued)"),
        NULL,
    };
    static const WantDelivery want[] = {{"a@good.test", "verified", "TLSv1.3", "none", "", TRUE, TRUE}};
    DeliveryTracker *t = delivery_tracker_new(64);
    feed_all(t, before, NULL, 0);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    delivery_save(t, kf);
    delivery_tracker_free(t);
    t = delivery_tracker_new(64);
    delivery_load(t, kf);
    g_assert_cmpuint(delivery_sessions(t), ==, 1);
    feed_all(t, after, want, 1);
    delivery_tracker_free(t);
}

static void test_sessions_bounded(void)
{
    DeliveryTracker *t = delivery_tracker_new(8);
    for (guint pid = 1; pid <= 100; pid++) {
        g_autofree char *line = g_strdup_printf("Dec 03 14:16:29 mx postfix/smtp[%u]: Untrusted TLS connection "
                                                "established to a.test[192.0.2.1]:25: TLSv1.3 with cipher X (1/1 bits)",
                                                pid);
        MaillogLine l;
        Delivery d;
        g_assert_true(maillog_parse(line, strlen(line), NOW, &l));
        g_assert_false(delivery_feed(t, &l, &d));
        g_assert_cmpuint(delivery_sessions(t), <=, 8);
    }
    delivery_tracker_free(t);
}

static void test_predict(void)
{
    static const struct {
        const char *name;
        TlsLevel level;
        TlsProtocol min;
        TlsTrust trust;
        const char *protocol, *cipher, *detail;
        gboolean ok;
        const char *result;
    } rows[] = {
        {"encrypt, plaintext", LEVEL_ENCRYPT, 0, TRUST_PLAINTEXT, "", "", "", FALSE, "starttls-not-supported"},
        {"encrypt, handshake failed then plaintext", LEVEL_ENCRYPT, 0, TRUST_PLAINTEXT, "", "", "unsupported protocol",
         FALSE, "validation-failure"},
        {"encrypt, TLS 1.3 untrusted", LEVEL_ENCRYPT, 0, TRUST_UNTRUSTED, "TLSv1.3", "TLS_AES_256_GCM_SHA384", "", TRUE,
         "none"},
        {"encrypt, TLS 1.1", LEVEL_ENCRYPT, 0, TRUST_UNTRUSTED, "TLSv1.1", "ECDHE-RSA-AES256-SHA", "", FALSE,
         "validation-failure"},
        {"encrypt min TLS 1.3, TLS 1.2", LEVEL_ENCRYPT, PROTO_TLSV1_3, TRUST_TRUSTED, "TLSv1.2",
         "ECDHE-RSA-AES256-GCM-SHA384", "", FALSE, "validation-failure"},
        {"encrypt, 3DES", LEVEL_ENCRYPT, 0, TRUST_UNTRUSTED, "TLSv1.2", "DES-CBC3-SHA", "", FALSE,
         "validation-failure"},
        {"verify, untrusted", LEVEL_VERIFY, 0, TRUST_UNTRUSTED, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "", FALSE,
         "certificate-not-trusted"},
        {"verify, trusted", LEVEL_VERIFY, 0, TRUST_TRUSTED, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "", TRUE, "none"},
        {"secure, verified", LEVEL_SECURE, 0, TRUST_VERIFIED, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "", TRUE, "none"},
        {"dane, as encrypt", LEVEL_DANE, 0, TRUST_UNTRUSTED, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "", TRUE, "none"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("row %s", rows[i].name);
        Delivery d = {.connected = TRUE, .trust = rows[i].trust};
        g_strlcpy(d.protocol, rows[i].protocol, sizeof d.protocol);
        g_strlcpy(d.cipher, rows[i].cipher, sizeof d.cipher);
        g_strlcpy(d.detail, rows[i].detail, sizeof d.detail);
        Entry e = {.level = rows[i].level, .min_protocol = rows[i].min};
        TlsResult result;
        char detail[160];
        g_assert_cmpint(delivery_predict(&d, &e, &result, detail, sizeof detail), ==, rows[i].ok);
        g_assert_cmpstr(delivery_result_name(result), ==, rows[i].result);
    }
}

/*
 * Following a file
 */
typedef struct {
    GPtrArray *lines;
} Collected;

static gboolean collect(const char *line, size_t len, gpointer data)
{
    Collected *c = data;
    g_ptr_array_add(c->lines, g_strndup(line, len));
    return TRUE;
}

static void append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, text, strlen(text)), ==, (ssize_t)strlen(text));
    close(fd);
}

static char *poll_all(LogFollow *f)
{
    Collected c = {g_ptr_array_new_with_free_func(g_free)};
    while (logfollow_poll(f, 1 << 20, collect, &c, NULL))
        ;
    g_ptr_array_add(c.lines, NULL);
    char *joined = g_strjoinv("|", (char **)c.lines->pdata);
    g_ptr_array_unref(c.lines);
    return joined;
}

static void test_follow(void)
{
    g_autofree char *dir = g_dir_make_tmp("logfollow-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "mail.log", NULL);
    g_autofree char *older = g_strconcat(path, ".1", NULL);
    LogFollow *f = logfollow_new(path);
    char *problem = NULL;
    Collected none = {g_ptr_array_new_with_free_func(g_free)};
    g_assert_false(logfollow_poll(f, 1024, collect, &none, &problem));
    g_assert_nonnull(problem);  /* missing: said once */
    g_free(problem);
    g_assert_false(logfollow_poll(f, 1024, collect, &none, &problem));
    g_assert_null(problem);
    g_ptr_array_unref(none.lines);

    append(path, "one\ntwo\nthr");
    g_autofree char *a = poll_all(f);
    g_assert_cmpstr(a, ==, "one|two");  /* a line being written waits */
    append(path, "ee\n");
    g_autofree char *b = poll_all(f);
    g_assert_cmpstr(b, ==, "three");

    /* rotated: the old file's last line, then the new file */
    append(path, "four\n");
    g_assert_cmpint(g_rename(path, older), ==, 0);
    append(path, "five\n");
    g_autofree char *c = poll_all(f);
    g_assert_cmpstr(c, ==, "four|five");

    /* a restart after a rotation: the saved file's rest, from PATH.1 */
    append(path, "six\n");
    LogPosition at = logfollow_position(f);
    logfollow_free(f);
    append(path, "seven\n");
    g_assert_cmpint(g_rename(path, older), ==, 0);
    append(path, "eight\n");
    f = logfollow_new(path);
    logfollow_resume(f, &at);
    g_autofree char *d = poll_all(f);
    g_assert_cmpstr(d, ==, "six|seven|eight");

    /* truncated in place: from the start again */
    g_assert_true(g_file_set_contents(path, "nine\n", -1, NULL));
    g_autofree char *e = poll_all(f);
    g_assert_cmpstr(e, ==, "nine");

    /* a line too long is skipped, counted, and the next one read */
    g_autoptr(GString) big = g_string_new(NULL);
    for (int i = 0; i < LOGFOLLOW_LINE_MAX * 3; i++)
        g_string_append_c(big, 'x');
    g_string_append(big, "\nten\n");
    append(path, big->str);
    g_autofree char *g = poll_all(f);
    g_assert_cmpstr(g, ==, "ten");
    g_assert_cmpuint(logfollow_long_lines(f), ==, 1);
    g_assert_cmpuint(logfollow_behind(f), ==, 0);
    logfollow_free(f);
    g_unlink(path);
    g_unlink(older);
    g_rmdir(dir);
}

/* A fault in the callback (the daemon's SIGBUS recovery longjmps out of
 * a list lookup) leaves that line unread, and the lines before it read:
 * the next poll starts at the faulting line. */
static jmp_buf fault;
static gboolean fault_on_two(const char *line, size_t len, gpointer data)
{
    if (len == 3 && memcmp(line, "two", 3) == 0 && !*(gboolean *)data) {
        *(gboolean *)data = TRUE;
        longjmp(fault, 1);
    }
    return TRUE;
}

static void test_follow_fault(void)
{
    g_autofree char *dir = g_dir_make_tmp("logfollow-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "mail.log", NULL);
    append(path, "one\ntwo\nthree\n");
    LogFollow *f = logfollow_new(path);
    static gboolean faulted;  /* static: kept across the longjmp */
    faulted = FALSE;
    if (setjmp(fault) == 0)
        logfollow_poll(f, 1024, fault_on_two, &faulted, NULL);
    g_assert_true(faulted);
    g_autofree char *rest = poll_all(f);
    g_assert_cmpstr(rest, ==, "two|three");
    logfollow_free(f);
    g_unlink(path);
    g_rmdir(dir);
}

/*
 * The ledger
 */
static void record(OutLedger *l, const char *recipient, const char *domain, const char *key, const Entry *e,
                   TlsTrust trust, const char *protocol, TlsResult result)
{
    Delivery d = {.time = NOW, .connected = TRUE, .new_session = TRUE, .new_message = TRUE, .trust = trust,
                  .result = result};
    g_strlcpy(d.recipient, recipient, sizeof d.recipient);
    g_strlcpy(d.relay, "mx.test[192.0.2.1]:25", sizeof d.relay);
    g_strlcpy(d.status, result == RESULT_NONE ? "sent" : "deferred", sizeof d.status);
    g_strlcpy(d.protocol, protocol, sizeof d.protocol);
    g_strlcpy(d.cipher, trust == TRUST_PLAINTEXT ? "" : "TLS_AES_256_GCM_SHA384", sizeof d.cipher);
    OutboundRecord r = {.delivery = &d, .domain = domain, .key = key, .entry = e, .would_succeed = TRUE};
    char detail[160] = "";
    if (e && e->mode == MODE_REPORT) {
        r.would_succeed = delivery_predict(&d, e, &r.would_result, detail, sizeof detail);
        r.would_detail = detail;
    }
    outledger_record(l, &r);
}

static void test_ledger(void)
{
    Entry report = {.level = LEVEL_ENCRYPT, .mode = MODE_REPORT, .on_failure = ON_FAILURE_BOUNCE};
    Entry good = {.level = LEVEL_VERIFY, .mode = MODE_REPORT};
    Entry enforce = {.level = LEVEL_VERIFY};
    OutLedger *l = outledger_new(100, 100);
    record(l, "a@rep.test", "rep.test", "rep.test", &report, TRUST_PLAINTEXT, "", RESULT_NONE);
    record(l, "b@rep.test", "rep.test", "rep.test", &report, TRUST_UNTRUSTED, "TLSv1.3", RESULT_NONE);
    record(l, "a@good.test", "good.test", "good.test", &good, TRUST_TRUSTED, "TLSv1.3", RESULT_NONE);
    record(l, "a@wrong.test", "wrong.test", "wrong.test", &enforce, TRUST_UNTRUSTED, "TLSv1.3",
           RESULT_CERTIFICATE_HOST_MISMATCH);
    for (int i = 0; i < 3; i++)
        record(l, "a@fine.test", "fine.test", "", NULL, TRUST_VERIFIED, "TLSv1.3", RESULT_NONE);
    record(l, "a@mixed.test", "mixed.test", "", NULL, TRUST_VERIFIED, "TLSv1.3", RESULT_NONE);
    record(l, "b@mixed.test", "mixed.test", "", NULL, TRUST_PLAINTEXT, "", RESULT_NONE);
    record(l, "a@old.test", "old.test", "", NULL, TRUST_UNTRUSTED, "TLSv1.1", RESULT_NONE);
    /* a domain listed "none" is no candidate, whatever it met */
    Delivery ex = {.time = NOW, .connected = TRUE, .new_session = TRUE, .new_message = TRUE, .trust = TRUST_VERIFIED};
    g_strlcpy(ex.recipient, "a@exempt.test", sizeof ex.recipient);
    g_strlcpy(ex.status, "sent", sizeof ex.status);
    g_strlcpy(ex.protocol, "TLSv1.3", sizeof ex.protocol);
    g_strlcpy(ex.cipher, "TLS_AES_256_GCM_SHA384", sizeof ex.cipher);
    outledger_record(l, &(OutboundRecord){.delivery = &ex, .domain = "exempt.test", .key = "", .exempt = TRUE});

    g_autoptr(GString) text = g_string_new(NULL);
    outledger_format_report(l, text);
    g_test_message("%s", text->str);
    g_assert_nonnull(strstr(text->str, "would bounce: starttls-not-supported (1 of 2 deliveries)"));
    g_assert_nonnull(strstr(text->str, "first: 2026-12-03T"));
    g_assert_nonnull(strstr(text->str, "<a@rep.test> via mx.test[192.0.2.1]:25: starttls-not-supported"));
    g_assert_nonnull(strstr(text->str, "would succeed (all 1 deliveries)"));
    g_assert_nonnull(strstr(text->str, "failed: certificate-host-mismatch"));
    g_assert_true(outledger_has_key(l, "rep.test"));
    g_assert_false(outledger_has_key(l, "fine.test"));

    g_autoptr(GString) enc = g_string_new(NULL), ver = g_string_new(NULL);
    outledger_format_suggest(l, 1, LEVEL_ENCRYPT, enc);
    outledger_format_suggest(l, 2, LEVEL_VERIFY, ver);
    g_assert_nonnull(strstr(enc->str, "\nfine.test encrypt direction=outbound mode=report\n"));
    g_assert_null(strstr(enc->str, "mixed.test"));
    g_assert_null(strstr(enc->str, "old.test"));
    g_assert_null(strstr(enc->str, "rep.test"));  /* listed */
    g_assert_null(strstr(enc->str, "exempt.test"));
    g_assert_nonnull(strstr(ver->str, "\nfine.test verify direction=outbound mode=report\n"));

    /* saved and loaded, the same pages */
    g_autoptr(GString) json = g_string_new(NULL);
    outledger_format_json(l, json);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    outledger_save(l, kf);
    g_assert_false(outledger_changed(l));
    OutLedger *back = outledger_new(100, 100);
    outledger_load(back, kf);
    g_autoptr(GString) json2 = g_string_new(NULL), text2 = g_string_new(NULL);
    outledger_format_json(back, json2);
    outledger_format_report(back, text2);
    g_assert_cmpstr(json2->str, ==, json->str);
    g_assert_cmpstr(text2->str, ==, text->str);
    g_assert_nonnull(strstr(json->str, "\"rep.test\":{\"level\":\"encrypt\",\"mode\":\"report\",\"on_failure\":\"bounce\","
                                       "\"deliveries\":2"));
    g_assert_nonnull(strstr(json->str, "\"failures\":{\"certificate-host-mismatch\":1}"));
    outledger_free(back);

    /* bounded */
    OutLedger *small = outledger_new(1, 2);
    record(small, "a@x1.test", "x1.test", "", NULL, TRUST_VERIFIED, "TLSv1.3", RESULT_NONE);
    record(small, "a@x2.test", "x2.test", "", NULL, TRUST_VERIFIED, "TLSv1.3", RESULT_NONE);
    record(small, "a@x3.test", "x3.test", "", NULL, TRUST_VERIFIED, "TLSv1.3", RESULT_NONE);
    g_autoptr(GString) sj = g_string_new(NULL);
    outledger_format_json(small, sj);
    g_assert_nonnull(strstr(sj->str, "\"dropped\":1"));
    g_assert_null(strstr(sj->str, "x3.test"));
    outledger_free(small);
    outledger_free(l);
}

int main(int argc, char **argv)
{
    g_setenv("TZ", "Europe/Berlin", TRUE);  /* local time is not UTC */
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/maillog/parse", test_parse);
    g_test_add_func("/maillog/parse_fields", test_parse_fields);
    g_test_add_func("/maillog/join", test_join);
    g_test_add_func("/maillog/join_across_restart", test_join_across_restart);
    g_test_add_func("/maillog/sessions_bounded", test_sessions_bounded);
    g_test_add_func("/maillog/predict", test_predict);
    g_test_add_func("/maillog/follow", test_follow);
    g_test_add_func("/maillog/follow_fault", test_follow_fault);
    g_test_add_func("/maillog/ledger", test_ledger);
    return g_test_run();
}

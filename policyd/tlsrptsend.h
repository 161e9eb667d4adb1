/*
 * tlsrptsend.h - a day's TLS-RPT reports delivered to the destinations
 * each domain publishes (RFC 8460 3 and 5.3), off the event loop.
 *
 * At the day's end each report is queued (tlsrpt_sender_queue); a small
 * pool of workers looks up _smtp._tls.DOMAIN (DNSSEC-validated where
 * the zone is signed; a bogus or failed answer sends nothing), parses
 * the record (tlsrptrecord.h), and POSTs the gzipped report to each
 * https: destination (Content-Type application/tlsrpt+gzip), bounded
 * as an MTA-STS fetch is: the host's addresses public unless
 * private_hosts, one deadline of timeout_ms for connect, TLS (the
 * collector's certificate verified for its name), request and answer,
 * so a collector that drips or never answers holds a worker no longer.
 * A 2xx answer is delivered; anything else is a failure, logged and
 * counted.
 *
 * A mailto: destination gets the report as mail (tlsrptmail.h), handed
 * over SMTP to the local Postfix's smtpd on submit_path (smtpsubmit.h;
 * the shipped master.cf's "tlsrpt" service on public/tlsrpt).  That
 * service sends it through its content_filter, the opportunistic
 * "tlsrpt" smtp transport, past transport_maps: RFC 8460 5.3 wants
 * reports delivered despite TLS failures, so a listed rua= domain does
 * not hold its report back, and a report is never about a report
 * (TLSRPT_SERVICE's sessions are not counted, outbound.c).  Queued by
 * Postfix is sent, as far as tlspolicyd can tell: Postfix retries and
 * bounces it as any mail; Postfix's log has the rest.  An empty
 * submit_path sends none, said and counted.
 */
#ifndef TLSPOLICYD_TLSRPTSEND_H
#define TLSPOLICYD_TLSRPTSEND_H

#include <glib.h>

#define TLSRPT_SEND_WORKERS 4
#define TLSRPT_SEND_QUEUE_MAX 10000  /* reports waiting at most; more are dropped, counted */
/* the local smtpd answers in milliseconds, a signing milter in a second
 * or two: one that takes longer is stuck */
#define TLSRPT_SUBMIT_TIMEOUT_MS 30000
/* the syslog_name of the shipped transport that carries reports by mail */
#define TLSRPT_SERVICE "tlsrpt"

typedef struct {
    const char *resolver, *trust_anchor;  /* dns.h */
    const char *ca_file;                  /* "" = the system's CAs */
    guint timeout_ms;
    gboolean private_hosts;
    const char *submit_path;              /* the smtpd socket for mailto:; "" = none */
} TlsrptSenderSettings;

/* A day's report, out. */
typedef struct {
    const char *domain, *report_id, *file_name;
    const char *submitter;                /* the mail's EHLO and TLS-Report-Submitter */
    const char *contact;                  /* its From and envelope sender */
    const char *json;
} TlsrptOutgoing;

typedef struct {
    guint64 https_sent, https_failed;
    guint64 mailed, mail_failed;  /* mailto: queued by Postfix, or not */
    guint64 no_record;        /* domains that publish no usable TLS-RPT record */
    guint64 lookup_failed;    /* the record's lookup failed or was bogus */
    guint64 dropped;          /* the queue was full */
} TlsrptSendCounts;

typedef struct TlsrptSender TlsrptSender;

TlsrptSender *tlsrpt_sender_new(const TlsrptSenderSettings *settings, GError **error);
/* Waits for the uploads under way (each bounded by timeout_ms); the
 * reports still queued are dropped, and said. */
void tlsrpt_sender_free(TlsrptSender *s);
/* The report: gzipped and sent by a worker. */
void tlsrpt_sender_queue(TlsrptSender *s, const TlsrptOutgoing *report);
TlsrptSendCounts tlsrpt_sender_counts(TlsrptSender *s);

#endif

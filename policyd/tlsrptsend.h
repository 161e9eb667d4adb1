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
 * counted.  mailto: destinations are not sent yet: each is logged and
 * counted as unsent.  Reports are never about reports: the upload is
 * HTTPS, not mail, so no session of it is in Postfix's log.
 */
#ifndef TLSPOLICYD_TLSRPTSEND_H
#define TLSPOLICYD_TLSRPTSEND_H

#include <glib.h>

#define TLSRPT_SEND_WORKERS 4
#define TLSRPT_SEND_QUEUE_MAX 10000  /* reports waiting at most; more are dropped, counted */

typedef struct {
    const char *resolver, *trust_anchor;  /* dns.h */
    const char *ca_file;                  /* "" = the system's CAs */
    guint timeout_ms;
    gboolean private_hosts;
} TlsrptSenderSettings;

typedef struct {
    guint64 https_sent, https_failed;
    guint64 mailto_unsent;
    guint64 no_record;        /* domains that publish no usable TLS-RPT record */
    guint64 lookup_failed;    /* the record's lookup failed or was bogus */
    guint64 dropped;          /* the queue was full */
} TlsrptSendCounts;

typedef struct TlsrptSender TlsrptSender;

TlsrptSender *tlsrpt_sender_new(const TlsrptSenderSettings *settings, GError **error);
/* Waits for the uploads under way (each bounded by timeout_ms); the
 * reports still queued are dropped, and said. */
void tlsrpt_sender_free(TlsrptSender *s);
/* The report (JSON) for domain: gzipped and sent by a worker. */
void tlsrpt_sender_queue(TlsrptSender *s, const char *domain, const char *report_id, const char *json);
TlsrptSendCounts tlsrpt_sender_counts(TlsrptSender *s);

#endif

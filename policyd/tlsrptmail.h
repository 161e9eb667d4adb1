/*
 * tlsrptmail.h - a TLS-RPT report as the mail RFC 8460 5.3 describes:
 * multipart/report; report-type="tlsrpt", a short text part and the
 * gzipped JSON as an application/tlsrpt+gzip attachment (base64) named
 * as the report's file is, the TLS-Report-Domain and
 * TLS-Report-Submitter header fields, and the Subject
 * "Report Domain: D Submitter: S Report-ID: <ID>".
 *
 * Every field comes from checked values: the domain and submitter are
 * DNS host names, the addresses passed tlsrptrecord.h's and the
 * configuration's checks, the report id is made of those; so no header
 * can be split or added by what a domain publishes.  DKIM (section 3
 * asks for it) is the site's: the message goes through Postfix's smtpd,
 * where its signing milter (smtpd_milters) sees it like any other.
 */
#ifndef TLSPOLICYD_TLSRPTMAIL_H
#define TLSPOLICYD_TLSRPTMAIL_H

#include <glib.h>

typedef struct {
    const char *domain;      /* the policy domain reported on */
    const char *submitter;   /* the reporting host's name */
    const char *report_id;   /* "BEGIN.DOMAIN@SUBMITTER" (tlsrpt_report_id) */
    const char *file_name;   /* tlsrpt_file_name() */
    const char *from;        /* tlsrpt_contact */
    const char *to;          /* the rua= mailbox */
    gint64 date;             /* seconds: the Date field */
    GBytes *gz;              /* the gzipped report */
} TlsrptMail;

/* The whole message, CRLF line ends. */
char *tlsrpt_mail_compose(const TlsrptMail *m);

#endif

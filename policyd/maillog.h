/*
 * maillog.h - one line of Postfix's delivery log, parsed: what the smtp
 * client said about a TLS session or a delivery.  Pure; no I/O.
 *
 * The lines read are those of Postfix's smtp client (the process name
 * "smtp" after the last '/' of a tag whose first part starts with
 * "postfix": "postfix/smtp[123]", "postfix/tls-encrypt/smtp[123]",
 * "postfix-out/smtp[9]"), in any of the three shapes a log comes in:
 *   Dec  3 13:58:01 host TAG[PID]: TEXT         syslog (rsyslog's default)
 *   Dec 03 13:58:01 host TAG[PID]: TEXT         Postfix's maillog_file
 *   2026-12-03T13:58:01.123456+00:00 host TAG[PID]: TEXT   RFC 3339 syslog
 * and, for the journal, TAG[PID] and TEXT given apart (maillog_parse_text).
 *
 * TEXT, as Postfix 3.7 and 3.10 write it (smtp_tls_loglevel = 1):
 *   QID: to=<ADDR>, [orig_to=<ADDR>, ]relay=PEER, ..., dsn=X.Y.Z, status=WORD (WHY)
 *   Verified|Trusted|Untrusted|Anonymous TLS connection established to PEER: PROTO with cipher CIPHER ...
 *   [server ]certificate verification failed for PEER: REASON
 *   SSL_connect error to PEER: ...
 *   warning: TLS library problem: ...:REASON:FILE:LINE:
 * Anything else from those processes is MAILLOG_OTHER; lines of other
 * programs are not Postfix's smtp client and never parsed further.
 */
#ifndef TLSPOLICYD_MAILLOG_H
#define TLSPOLICYD_MAILLOG_H

#include <glib.h>

/* Longer lines are not Postfix's: a delivery line with a 1 KB address
 * and a long reply stays under 4 KB (smtp_line_length_limit is 990). */
#define MAILLOG_LINE_MAX 8192

typedef enum {
    MAILLOG_NOT_SMTP,        /* another program, or not a log line at all */
    MAILLOG_OTHER,           /* Postfix's smtp client, saying something else */
    MAILLOG_DELIVERY,        /* queue_id, recipient, relay, dsn, status, why */
    MAILLOG_TLS_ESTABLISHED, /* peer, trust, protocol, cipher */
    MAILLOG_CERT_FAILED,     /* peer, reason */
    MAILLOG_HANDSHAKE_FAILED,/* peer */
    MAILLOG_TLS_PROBLEM,     /* reason: the library's words */
} MaillogKind;

typedef struct {
    MaillogKind kind;
    gint64 time;             /* Unix seconds; 0: not known */
    guint pid;
    char service[64];        /* syslog_name's last part: "tls-encrypt", "smtp" for postfix/smtp */
    char queue_id[32];
    char recipient[512];
    char relay[300];         /* "host[addr]:port" or "none" */
    char dsn[16];
    char status[16];         /* sent, deferred, bounced, expired, ... */
    char why[512];           /* the status's parenthesised text */
    char peer[300];          /* TLS lines: "host[addr]:port" */
    char trust[12];          /* Verified, Trusted, Untrusted, Anonymous */
    char protocol[16];
    char cipher[64];
    char reason[160];
} MaillogLine;

/* A whole log line (no newline); year: for syslog timestamps, which
 * have none, the current year in local time (a timestamp more than a day
 * ahead of now belongs to the year before).  FALSE for MAILLOG_NOT_SMTP. */
gboolean maillog_parse(const char *line, size_t len, gint64 now, MaillogLine *out);

/* The journal's form: SYSLOG_IDENTIFIER ("postfix/tls-encrypt/smtp"),
 * _PID and MESSAGE apart; time in Unix seconds. */
gboolean maillog_parse_text(const char *identifier, guint pid, const char *text, size_t len, gint64 time,
                            MaillogLine *out);

#endif

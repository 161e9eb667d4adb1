/*
 * delivery.h - what one delivery met: Postfix's smtp client lines
 * (maillog.h) joined per process into deliveries, each with the TLS of
 * its session and, when TLS failed, an RFC 8460 result type.  And what
 * an entry's level would have made of a delivery it did not govern
 * (delivery_predict), the outbound rollout's question.
 *
 * The join.  Postfix's smtp client logs a session's TLS lines (and the
 * certificate or handshake failures before them) without a queue id, then
 * one delivery line per recipient with the queue id and relay=.  A TLS
 * session carries one delivery request (a TLS connection is not cached
 * for another message unless smtp_tls_connection_reuse, which tlsproxy
 * logs and this does not read), so a process's session is bound to the
 * queue id of its first delivery line: a delivery line of that process
 * with the same relay and queue id is in the session, any other is not
 * (plaintext: Postfix logs nothing for a plaintext session).  A session
 * quiet for DELIVERY_SESSION_IDLE seconds is forgotten.
 *
 * Memory is bounded: at most max_processes sessions (the oldest goes).
 * The sessions not yet ended are saved with the state (delivery_save),
 * so that a restart that resumes reading where the last save left off
 * joins them as if it had never stopped.
 */
#ifndef TLSPOLICYD_DELIVERY_H
#define TLSPOLICYD_DELIVERY_H

#include "entry.h"
#include "maillog.h"

#define DELIVERY_SESSION_IDLE 300

/* RFC 8460 section 4.3's result types that a sending MTA's log shows, and
 * none for a session that met its level. */
typedef enum {
    RESULT_NONE,
    RESULT_STARTTLS_NOT_SUPPORTED,
    RESULT_CERTIFICATE_HOST_MISMATCH,
    RESULT_CERTIFICATE_EXPIRED,
    RESULT_CERTIFICATE_NOT_TRUSTED,
    RESULT_VALIDATION_FAILURE,
    RESULT_TLSA_INVALID,
    RESULT_DNSSEC_INVALID,
    RESULT_DANE_REQUIRED,
    RESULT_COUNT
} TlsResult;

/* How the session's certificate was judged ("Verified" matched its name
 * too; "Trusted" a chain only, the name not checked at that level). */
typedef enum { TRUST_PLAINTEXT, TRUST_ANONYMOUS, TRUST_UNTRUSTED, TRUST_TRUSTED, TRUST_VERIFIED, TRUST_COUNT } TlsTrust;

typedef struct {
    gint64 time;
    char queue_id[32];
    char recipient[512];
    char relay[300];
    char service[64];        /* the smtp client's syslog_name part: "tls-encrypt", "smtp" */
    char dsn[16];
    char status[16];
    char why[512];
    gboolean connected;      /* a session with the relay happened (relay= is not "none") */
    gboolean new_session;    /* the session's first delivery line */
    gboolean new_message;    /* the first line of this queue id in its session */
    TlsTrust trust;
    char protocol[16], cipher[64];
    TlsResult result;        /* why TLS failed, or RESULT_NONE */
    char detail[160];        /* the failure in Postfix's or OpenSSL's words */
} Delivery;

const char *delivery_result_name(TlsResult result);
gboolean delivery_result_parse(const char *name, TlsResult *result);
const char *delivery_trust_name(TlsTrust trust);

typedef struct DeliveryTracker DeliveryTracker;

DeliveryTracker *delivery_tracker_new(guint max_processes);
void delivery_tracker_free(DeliveryTracker *t);

/* Feed one parsed line; TRUE when it was a delivery line (then *out is
 * the delivery, joined with its session). */
gboolean delivery_feed(DeliveryTracker *t, const MaillogLine *line, Delivery *out);

/* The sessions not ended, as key file groups "session PID", and back. */
void delivery_save(const DeliveryTracker *t, GKeyFile *kf);
void delivery_load(DeliveryTracker *t, GKeyFile *kf);
guint delivery_sessions(const DeliveryTracker *t);

/* Would a delivery at level (with min_protocol and excluded ciphers:
 * the entry's, else the defaults of tlsrules.h) have succeeded where d
 * went?  FALSE with *result and detail (size bytes) when not; TRUE with
 * detail saying what was not checked (a name at level "may").  DANE
 * levels are judged as encrypt: the log does not show TLSA records. */
gboolean delivery_predict(const Delivery *d, const Entry *entry, TlsResult *result, char *detail, size_t size);

#endif

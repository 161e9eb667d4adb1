/*
 * probe.h - test one mail server the way a TLS-enforcing smtp client
 * would: connect, banner, EHLO, STARTTLS, handshake (SNI = MX name), then
 * judge the session against the levels tlspolicyd's transports use.
 * Every step is bounded in time and size; a failure ends the probe with a
 * clear reason, never a hang.
 */
#ifndef TLSPOLICYD_PROBE_H
#define TLSPOLICYD_PROBE_H

#include <glib.h>

/* The first three are judged from the session alone (probe_server); the
 * rest need what the domain publishes (published.h), and say "not
 * checked" until published_judge() fills them. */
typedef enum { PROBE_ENCRYPT, PROBE_VERIFY, PROBE_SECURE, PROBE_DANE, PROBE_DANE_ONLY, PROBE_MTA_STS,
               PROBE_LEVELS } ProbeLevel;

typedef struct {
    const char *domain;     /* the mail domain (secure matches it) */
    const char *host;       /* the MX name (SNI, verify matches it) */
    const char *address;    /* host or IP to connect to */
    const char *port;
    /* The CAs trusted, as Postfix's smtp_tls_CAfile, smtp_tls_CApath and
     * tls_append_default_CA: neither file nor path and no default CAs
     * trusts none (Postfix verifies nothing then either). */
    const char *cafile, *capath;  /* NULL: none */
    gboolean default_cas;   /* the system's CA store too */
    guint timeout;          /* seconds per step */
} ProbeTarget;

typedef struct {
    char *host, *peer;      /* MX name, connected address */
    char *error;            /* why the probe stopped early, or NULL */
    char *banner;
    gboolean connected, starttls_offered, tls, injected_bytes_discarded;
    char *protocol, *cipher, *group;
    char *subject, *issuer, *not_after;
    GPtrArray *names;       /* DNS names in the certificate */
    GPtrArray *chain;       /* GBytes: the certificates the server sent (DER), its own first */
    gboolean chain_ok;
    char *chain_error;
    gboolean matches_mx, matches_domain;
    gboolean ok[PROBE_LEVELS];
    char *why[PROBE_LEVELS];
} ProbeResult;

ProbeResult *probe_server(const ProbeTarget *target);
void probe_result_free(ProbeResult *result);
const char *probe_level_name(ProbeLevel level);

/* Largest SMTP reply we read (a 1 MB EHLO answer is an attack, not a reply). */
#define PROBE_MAX_REPLY 65536
#define PROBE_MAX_LINE 4096

#endif

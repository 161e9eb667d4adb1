/*
 * https.h - fetching an MTA-STS policy (RFC 8461 3.3): one HTTPS GET of
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt, the server's
 * certificate verified against the CA store and the name, no redirects,
 * bounded in size (MTASTS_POLICY_MAX) and time.  Blocking: the daemon
 * runs it on a worker thread, tlsprobe in line.
 */
#ifndef TLSPOLICYD_HTTPS_H
#define TLSPOLICYD_HTTPS_H

#include <glib.h>

GQuark https_error_quark(void);
#define HTTPS_ERROR https_error_quark()

typedef struct {
    const char *host;         /* "mta-sts.example.com": SNI and the name checked */
    char **addresses;         /* IPv4 addresses of host, tried in order */
    guint port;               /* 443 */
    const char *ca_file;      /* "" = OpenSSL's default verify paths */
    guint timeout_ms;         /* the whole fetch, connect to last byte */
} HttpsFetch;

/* The body of a 200 text/plain answer, at most MTASTS_POLICY_MAX bytes,
 * or NULL with an error that says what went wrong. */
GBytes *https_fetch_policy(const HttpsFetch *fetch, GError **error);

/* POST body to https://host[:port]path (TLS-RPT's report upload, RFC
 * 8460 5.3.2): TRUE and the answer's HTTP status, read under the same
 * deadline and size cap as a policy fetch; FALSE and *error when no
 * address answered with an HTTP status line. */
gboolean https_post(const HttpsFetch *fetch, const char *path, const char *content_type, GBytes *body, guint *status,
                    GError **error);

/* The response parser https_fetch_policy() uses (an HTTP/1.0 answer, the
 * whole of it): TRUE with the body's place, or FALSE with why.
 * closed_cleanly: the server ended the TLS stream with close_notify.
 * Without it and without a Content-Length, the end of the body may be an
 * attacker's TCP FIN: such an answer is refused, never read as whole. */
gboolean https_parse_response(const char *data, size_t len, gboolean closed_cleanly, size_t *body_start,
                              size_t *body_len, const char **why);

#endif

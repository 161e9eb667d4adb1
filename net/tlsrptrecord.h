/*
 * tlsrptrecord.h - a recipient domain's TLS-RPT policy (RFC 8460 3): the
 * TXT record at _smtp._tls.DOMAIN, "v=TLSRPTv1; rua=URI[,URI...]",
 * parsed into the report destinations tlspolicyd may use.
 *
 * The domain writes the record, so it is hostile input: a destination is
 * kept only when it is a mailto: address (one local part, one '@', a
 * host name; any ?hfields dropped) or an https: URL with a host name; at
 * most TLSRPT_MAX_RUA of them are kept and the rest counted as ignored,
 * as are other schemes and malformed URIs (never an error: the record's
 * other destinations still get the report).  Section 3: a record set
 * with other than exactly one "v=TLSRPTv1" record means no TLS-RPT.
 */
#ifndef TLSPOLICYD_TLSRPTRECORD_H
#define TLSPOLICYD_TLSRPTRECORD_H

#include <glib.h>

#define TLSRPT_MAX_RUA 5          /* destinations kept of one record */
#define TLSRPT_URI_MAX 1024       /* longer URIs are ignored */

typedef enum { TLSRPT_MAILTO, TLSRPT_HTTPS } TlsrptScheme;

typedef struct {
    TlsrptScheme scheme;
    char *target;                 /* the address (mailto), or the whole URL (https) */
    char *host;                   /* the address's domain, or the URL's host */
    guint port;                   /* https: 443 unless given */
    char *path;                   /* https: the path and query to POST to ("/" for none) */
} TlsrptRua;

typedef struct {
    GPtrArray *rua;               /* of TlsrptRua */
    guint ignored;                /* URIs not kept: other schemes, malformed, past the limit */
} TlsrptRecord;

/* One TXT record (its character-strings joined): TRUE and *out filled
 * (tlsrpt_record_clear() it) when it is a TLSRPTv1 record with a rua=
 * field and at least one usable destination; FALSE and *why otherwise. */
gboolean tlsrpt_record_parse(const char *txt, size_t len, TlsrptRecord *out, const char **why);

/* The TXT records of _smtp._tls.DOMAIN (NULL-terminated): the one
 * TLSRPTv1 record parsed, or FALSE and *why. */
gboolean tlsrpt_record_select(char *const *records, TlsrptRecord *out, const char **why);

void tlsrpt_record_clear(TlsrptRecord *record);

#endif

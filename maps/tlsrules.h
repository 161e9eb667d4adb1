/*
 * tlsrules.h - what TLS counts as good enough: one set of rules for the
 * daemon's decisions, tlsmap --probe and tlsprobe, so that a probe's
 * verdict and a refusal agree.  Pure functions, no I/O.
 */
#ifndef TLSPOLICYD_TLSRULES_H
#define TLSPOLICYD_TLSRULES_H

#include "entry.h"

/* The floor and exclusions the daemon applies by default (config.c) and
 * the shipped tls-* transports enforce (postfix/master.cf), which
 * tlsprobe's verdicts use. */
#define TLS_DEFAULT_MIN_PROTOCOL PROTO_TLSV1_2
#define TLS_DEFAULT_EXCLUDED_CIPHERS "3DES:DES:RC4:NULL:EXPORT:MD5"

/* Rank of a negotiated protocol name ("TLSv1.2") as a TlsProtocol value;
 * an unknown "TLSv1.N" with N > 3 ranks above TLSv1.3, anything else 0. */
int tls_protocol_rank(const char *name);

/* Cipher name check: does cipher contain one of the colon-separated
 * names in excluded, compared on name components ("DES" is not in
 * "AES256", "3DES" is in "DES-CBC3-SHA")?  Returns the name (copied into
 * found, size bytes) or NULL. */
const char *tls_excluded_cipher(const char *cipher, const char *excluded, char *found, size_t size);

/* Does delivery at level have meet the requirement of level want?  Only
 * never-plaintext levels satisfy another: encrypt < verify < secure,
 * dane-only covers encrypt and dane; dane (plaintext without TLSA
 * records) satisfies nothing but itself. */
gboolean tls_level_satisfies(TlsLevel have, TlsLevel want);

/* The tlsprobe level that tests an entry's level: verify, secure, dane
 * and dane-only as themselves, everything else at least encrypt. */
const char *tls_probe_level(TlsLevel level);

#endif

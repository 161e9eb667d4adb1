/*
 * dns.h - DNSSEC-validating lookups through libunbound: one context made
 * from tlspolicyd's settings (a resolver to forward to, or the system's
 * resolv.conf, and a trust anchor file), and the few answers this
 * product reads (MX, TLSA, TXT, A) reduced to what DANE (RFC 7672) and
 * MTA-STS (RFC 8461) need.  The daemon runs the context asynchronously
 * (dns_fd() in its epoll loop); tlsprobe resolves synchronously.
 */
#ifndef TLSPOLICYD_DNS_H
#define TLSPOLICYD_DNS_H

#include <glib.h>
#include <unbound.h>

GQuark dns_error_quark(void);
#define DNS_ERROR dns_error_quark()

/* resolver: "" = the nameservers of /etc/resolv.conf, else addresses
 * (space or comma separated, "ADDR" or "ADDR@PORT") to forward to.
 * trust_anchor: a file of DS or DNSKEY records (Debian's
 * /usr/share/dns/root.key for the real root); "" = no validation, so
 * nothing is ever secure. */
struct ub_ctx *dns_context_new(const char *resolver, const char *trust_anchor, gboolean threaded, GError **error);

/* Is name a host name DNS can be asked about (letters, digits, '-', '_'
 * and dots; labels of 1-63 bytes; at most 253 bytes)?  Anything else
 * (spaces, control bytes, empty labels) is never sent, nor logged. */
gboolean dns_name_is_hostname(const char *name);

/* How far an answer can be trusted. */
typedef enum {
    DNS_SECURE,    /* DNSSEC validated (data or a proven absence) */
    DNS_INSECURE,  /* no DNSSEC for this name: an answer, not a proof */
    DNS_BOGUS,     /* validation failed: an attack or a broken zone */
    DNS_FAILED,    /* no answer: SERVFAIL, timeout, refused */
} DnsTrust;

DnsTrust dns_trust(int err, const struct ub_result *result);
const char *dns_trust_name(DnsTrust trust);

/* An MX record: its preference and exchange (lower case, no trailing
 * dot; "." for the root, a null MX). */
typedef struct {
    guint16 preference;
    char *host;
} DnsMx;

/* The result's MX records as they came, in a GArray of DnsMx whose hosts
 * dns_mx_free() frees with it. */
GArray *dns_mx_records(const struct ub_result *result);
void dns_mx_free(GArray *records);

/* The exchanges, lowest preference first, in an array to g_strfreev(). */
char **dns_mx_hosts(const struct ub_result *result);

/* Is one TLSA record (RDATA) usable for SMTP (RFC 7672 3.1: usages
 * DANE-TA(2) and DANE-EE(3), selectors 0/1, matching types 0/1/2, the
 * digest as long as its matching type's: 32 or 64 bytes)? */
gboolean dns_tlsa_usable(const unsigned char *rdata, int len);

/* How many records of the result are. */
guint dns_usable_tlsa(const struct ub_result *result);
/* One TLSA record (RDATA, at least 3 bytes) in presentation form:
 * "3 1 1 0A1B..." (RFC 6698 2.2), as RFC 8460 4.4's policy-string
 * lists it. */
char *dns_tlsa_text(const unsigned char *rdata, int len);

/* The CNAME expansion of host that an address answer shows, when the
 * answer is DNSSEC-secure and names another host (lower case, no
 * trailing dot): where RFC 7672 2.2.2 looks for TLSA records first.
 * FALSE: no secure expansion, look at host itself only. */
gboolean dns_secure_expansion(int err, const struct ub_result *address_answer, const char *host, char *out,
                              size_t size);

/* TXT records joined per record (character-strings concatenated). */
char **dns_txt_strings(const struct ub_result *result);

/* Is a dotted quad an address on the public Internet: not loopback,
 * private (RFC 1918, shared 100.64/10), link-local, "this network",
 * documentation, benchmarking, multicast or reserved? */
gboolean dns_address_is_public(const char *dotted_quad);

/* A records as dotted quads. */
char **dns_addresses(const struct ub_result *result);

#define DNS_TYPE_A 1
#define DNS_TYPE_MX 15
#define DNS_TYPE_TXT 16
#define DNS_TYPE_TLSA 52
#define DNS_CLASS_IN 1

#endif

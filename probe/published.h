/*
 * published.h - what a destination domain publishes about its TLS, as
 * tlsprobe checks it: DANE (its MX RRset's DNSSEC status, the TLSA
 * records of each MX host, whether the certificate a server sent matches
 * one) and MTA-STS (TXT record, policy fetched over HTTPS, the MX names
 * against its patterns).  Synchronous lookups through libunbound
 * (net/dns.h) with the same parsers and fetch as the daemon, so a probe
 * and a route agree.
 */
#ifndef TLSPOLICYD_PUBLISHED_H
#define TLSPOLICYD_PUBLISHED_H

#include "dns.h"
#include "mtasts.h"
#include "probe.h"

typedef enum { STS_ABSENT, STS_FOUND, STS_FAILED } StsState;

typedef struct {
    char *domain;
    DnsTrust mx_trust;
    GArray *mx;              /* DnsMx as published; the domain itself when it has none */
    char *mx_error;          /* the MX lookup failed: why */
    StsState sts;
    MtastsPolicy policy;
    char *sts_note;          /* "id X" or why there is none */
} Published;

typedef struct {
    DnsTrust trust;
    GPtrArray *records;      /* GBytes: usable TLSA RDATA (usage 2/3) */
} HostTlsa;

Published *published_lookup(struct ub_ctx *ctx, const char *domain, const char *ca_file, guint timeout);
void published_free(Published *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Published, published_free)

/* The first IPv4 address of host, or NULL. */
char *published_address(struct ub_ctx *ctx, const char *host);

HostTlsa *published_tlsa(struct ub_ctx *ctx, const char *host, const char *port);
void host_tlsa_free(HostTlsa *t);

/* The dane, dane-only and mta-sts verdicts of one probed server, and its
 * DANE line ("1 TLSA record, DNSSEC secure; matched 3 1 1"), newly
 * allocated. */
char *published_judge(const Published *p, const HostTlsa *tlsa, ProbeResult *r);

/* One line about the domain's MTA-STS policy. */
char *published_sts_summary(const Published *p);

#endif

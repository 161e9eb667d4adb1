/*
 * decide.h - the decision engine: request + list + config -> action.
 *
 * A pure function apart from the list it reads through the shared lookup
 * (maps/lookup.h) and the per-connection transaction state it is handed,
 * so every rule is unit-tested without a socket.  Never answers OK:
 * passing our check must not skip the site's other restrictions.
 */
#ifndef TLSPOLICYD_DECIDE_H
#define TLSPOLICYD_DECIDE_H

#include "config.h"
#include "destination.h"
#include "lookup.h"
#include "request.h"
#include "tlsrules.h"

typedef enum {
    VERDICT_DUNNO,
    VERDICT_FILTER,    /* outbound: route through a TLS transport */
    VERDICT_REJECT,    /* inbound: TLS requirements not met */
    VERDICT_SPLIT,     /* 452: recipient needs another transaction */
    VERDICT_TEMPFAIL,  /* list unavailable, fail closed */
} Verdict;

/* What a Postfix transaction (smtpd "instance") has been told so far:
 * FILTER routes the whole message, so its recipients must agree. */
typedef struct {
    char instance[64];
    gboolean started;
    char route[CONFIG_ROUTE_MAX];  /* "transport:nexthop", "" = unfiltered */
    TlsLevel level;                /* of a listed route */
    gboolean bounce;               /* the route bounces TLS failures */
    gboolean custom;               /* an entry's transport= made the route */
    char nexthop[ENTRY_MAX_NEXTHOP + 1];
} TransactionState;

/* Why an inbound request was refused (or, in report mode, would be):
 * the label of tlspolicyd_refusals_total. */
typedef enum {
    REFUSAL_NONE,
    REFUSAL_NO_TLS,
    REFUSAL_PROTOCOL,
    REFUSAL_CIPHER,
    REFUSAL_NO_CERTIFICATE,
    REFUSAL_CERTIFICATE_NAME,
    REFUSAL_GLOBAL_FLOOR,
    REFUSAL_COUNT
} Refusal;

const char *decide_refusal_name(Refusal refusal);

typedef struct {
    Verdict verdict;
    Verdict would;           /* report mode: what enforce would have done */
    Refusal refusal;         /* a reject's (or a report's would-be reject's) reason */
    gboolean report;
    Direction direction;
    const char *reason;      /* static text */
    char detail[128];        /* e.g. "TLSv1.1 below TLSv1.2" */
    char key[KEY_MAX + 2];   /* matched list key, "" if none */
    TlsLevel level;
    char action[640];        /* the reply after "action=": a code, a status and
                              * a notice (at most 512 bytes) or the global
                              * floor's text (cut at 600) */
} Decision;

/* list: NULL when the list could not be opened (then on_list_error). */
void decide(const PolicyRequest *req, StoreReader *list, const Config *config,
            TransactionState *txn, Decision *out);

const char *decide_verdict_name(Verdict verdict);

/*
 * The socketmap service for transport_maps.  trivial-rewrite asks
 * "NAME KEY" once per recipient with the full address (transport(5),
 * "TCP-BASED TABLES": a socketmap is not searched by domain or parent;
 * t/postfix.t saw only full addresses and the "*" wildcard), so the
 * whole most-specific-key lookup happens here.  A listed recipient gets
 * "OK transport:nexthop" (config_route); everything else - unlisted, an
 * exemption, a report-mode entry, a local domain, "*" - gets "NOTFOUND ",
 * leaving the route to the site's other maps and Postfix's defaults.
 */
typedef enum { ROUTE_OK, ROUTE_NOTFOUND, ROUTE_TEMP, ROUTE_PERM } RouteStatus;

/* When a DANE/MTA-STS source was pending or failed: what was done. */
typedef enum {
    FALLBACK_NONE,
    FALLBACK_PENDING_TEMP, FALLBACK_PENDING_LIST,
    FALLBACK_FAILED_TEMP, FALLBACK_FAILED_LIST,
    FALLBACK_COUNT
} RouteFallback;

typedef struct {
    RouteStatus status;
    gboolean report;         /* a report-mode entry: would have routed */
    RouteFallback fallback;
    gboolean sts_testing;    /* an MTA-STS policy not enforced (testing) would have raised the route */
    gboolean local_listed;   /* a local domain the list names: not routed, said once */
    const char *reason;
    char key[KEY_MAX + 2];   /* matched list key, "" if none */
    TlsLevel level;
    char reply[4352];        /* the netstring payload: a route, or a TLS policy
                              * with 16 MTA-STS patterns of 254 bytes */
    char would[CONFIG_ROUTE_MAX + 8];   /* report mode: the reply enforce would give */
    char explain[640];       /* each source's verdict and the effective route, "" when
                              * DANE/MTA-STS were not consulted */
} RouteDecision;

/* What a recipient domain publishes (destination.h), for the domain in
 * A-label form; it starts lookups for the sources asked for. */
typedef const DestinationPolicy *(*DestinationLookup)(const char *domain, gboolean dane, gboolean sts, gboolean listed,
                                                      gpointer data);

/*
 * request: "NAME KEY" (NUL-terminated); list NULL when unavailable;
 * lookup NULL: the list alone decides.
 *
 * With a lookup, the route to a recipient's MX hosts (no relayhost, no
 * nexthop=) is the strictest of the list entry, DANE and MTA-STS
 * (listed domains always; unlisted ones per the dane and mta_sts
 * options): TLSA records -> dane-only; an enforced MTA-STS policy ->
 * secure; list level dane without TLSA -> encrypt.  A source still
 * pending or failed gives TEMP or is left out, per on_lookup_pending and
 * on_lookup_failure; leaving it out never goes below the list's level.
 *
 * NAME tls_policy_name is the smtp_tls_policy_maps table of the
 * tls-secure transports: "OK secure match=PATTERNS servername=hostname"
 * for a next-hop domain with an enforced MTA-STS policy.
 */
void decide_route(const char *request, StoreReader *list, const Config *config, DestinationLookup lookup,
                  gpointer lookup_data, RouteDecision *out);

#endif

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

typedef struct {
    RouteStatus status;
    gboolean report;         /* a report-mode entry: would have routed */
    const char *reason;
    char key[KEY_MAX + 2];   /* matched list key, "" if none */
    TlsLevel level;
    char reply[CONFIG_ROUTE_MAX + 64];  /* the netstring payload */
    char would[CONFIG_ROUTE_MAX + 8];   /* report mode: the reply enforce would give */
} RouteDecision;

/* request: "NAME KEY" (NUL-terminated); list NULL when unavailable. */
void decide_route(const char *request, StoreReader *list, const Config *config, RouteDecision *out);

#endif

/*
 * decidefilter.c - outbound_routing = filter: a listed recipient's FILTER
 * route at RCPT, and the transaction it binds (FILTER routes the whole
 * message, so its recipients must agree: mixed_recipients); see
 * decide.h.
 */
#include "decideparts.h"

#include <string.h>

/* This recipient's FILTER route, as a transaction would record it. */
typedef struct {
    char route[CONFIG_ROUTE_MAX];  /* "" = unfiltered */
    TlsLevel level;
    gboolean bounce, custom;
    const char *nexthop;
} Route;

static void split(Decision *d, const char *txn_route, const char *route, const char *why)
{
    d->verdict = VERDICT_SPLIT;
    d->reason = why;
    g_snprintf(d->detail, sizeof d->detail, "transaction route %.50s, this recipient %.50s",
               *txn_route ? txn_route : "unfiltered", *route ? route : "unfiltered");
    g_strlcpy(d->action, "452 4.5.3 Recipients with different TLS requirements must be sent in separate transactions, try again",
              sizeof d->action);
}

/* mixed_recipients=strictest: one route that meets both the transaction's
 * and this recipient's requirements, keeping a bounce; FALSE if there is
 * none (then the recipient waits for a transaction of its own). */
static gboolean combine_routes(const Config *c, TransactionState *txn, const Route *r)
{
    if (!*txn->route || !*r->route || txn->custom || r->custom || strcmp(txn->nexthop, r->nexthop) != 0)
        return FALSE;
    TlsLevel level;
    if (tls_level_satisfies(txn->level, r->level))
        level = txn->level;
    else if (tls_level_satisfies(r->level, txn->level))
        level = r->level;
    else
        return FALSE;
    txn->level = level;
    txn->bounce = txn->bounce || r->bounce;
    config_level_route(c, txn->level, txn->bounce, txn->nexthop, txn->route, sizeof txn->route);
    return TRUE;
}

static void start_transaction(TransactionState *txn, const char *instance, const Route *r)
{
    g_strlcpy(txn->instance, instance, sizeof txn->instance);
    g_strlcpy(txn->route, r->route, sizeof txn->route);
    txn->level = r->level;
    txn->bounce = r->bounce;
    txn->custom = r->custom;
    g_strlcpy(txn->nexthop, r->nexthop, sizeof txn->nexthop);
    txn->started = TRUE;
}

void decide_outbound(const PolicyRequest *req, StoreReader *list, const Config *c, TransactionState *txn,
                     Decision *d)
{
    LookupMatch match;
    Route r = {.route = "", .nexthop = ""};

    if (c->outbound_routing == ROUTING_TRANSPORT_MAPS) {
        decide_dunno(d, "outbound routing by transport_maps");
        return;
    }
    if (!list) {
        decide_list_unavailable(d, c);
        return;
    }
    const char *at = strrchr(req->recipient, '@');
    if (at && decide_domain_is_local(c, at + 1)) {
        decide_dunno(d, "local domain");
        return;
    }

    LookupStatus found = lookup_find(list, req->recipient, c->recipient_delimiter, DIRECTION_OUTBOUND, &match);
    if (found == LOOKUP_UNUSABLE) {
        decide_address_unusable(d);
        return;
    }
    if (found == LOOKUP_FOUND) {
        g_strlcpy(d->key, match.key, sizeof d->key);
        d->level = match.entry.level;
        if (!entry_level_is_exemption(match.entry.level)) {
            /* no DANE lookups at RCPT: a dane entry goes dane-only */
            r.level = config_route_level(&match.entry);
            config_route(c, &match.entry, r.route, sizeof r.route);
            if (match.entry.mode == MODE_REPORT) {
                d->verdict = VERDICT_FILTER;
                g_snprintf(d->action, sizeof d->action, "FILTER %s", r.route);
                d->reason = "listed recipient";
                decide_downgrade_to_report(d);
                return;
            }
            r.bounce = config_bounces(c, &match.entry);
            r.custom = match.entry.transport != NULL;
            r.nexthop = config_nexthop(c, &match.entry);
        }
    }

    /* FILTER applies to the whole message, so the transaction's recipients
     * must agree; the first recipient sets the route. */
    /* an instance longer than we keep (Postfix's are ~25 bytes) compares
     * on the part we keep: when in doubt, the same transaction */
    gboolean same_txn = txn->started && *req->instance
                        && strncmp(txn->instance, req->instance, sizeof txn->instance - 1) == 0;
    if (!same_txn) {
        start_transaction(txn, req->instance, &r);
    } else if (strcmp(txn->route, r.route) != 0) {
        const char *why = NULL;
        if (c->mixed_recipients == MIXED_REJECT)
            why = "recipient needs a different TLS route than the transaction's first";
        else if (!combine_routes(c, txn, &r))
            why = "no one route meets both this recipient's and the transaction's TLS";
        if (why) {
            split(d, txn->route, r.route, why);
            return;
        }
    }
    if (!*txn->route) {
        decide_dunno(d, d->key[0] ? "recipient exempt" : "recipient not listed");
        return;
    }
    d->verdict = VERDICT_FILTER;
    d->reason = strcmp(txn->route, r.route) == 0 ? "listed recipient" : "strictest route of the transaction";
    g_snprintf(d->action, sizeof d->action, "FILTER %s", txn->route);
}

/*
 * decideparts.h - what the decision engine's files share: decide.c (the
 * entry point and the common answers), decideinbound.c (listed senders'
 * TLS), decidefilter.c (FILTER routes and the transactions they bind)
 * and decideroute.c (the socketmap's routes, with DANE and MTA-STS).
 * Not for other modules: decide.h is the contract.
 */
#ifndef TLSPOLICYD_DECIDEPARTS_H
#define TLSPOLICYD_DECIDEPARTS_H

#include "decide.h"

/* DUNNO for reason; list= unusable (on_list_error); an address that
 * cannot be looked up (TEMPFAIL); report mode: what would have been
 * remembered, DUNNO said. */
void decide_dunno(Decision *d, const char *reason);
gboolean decide_list_unavailable(Decision *d, const Config *c);
void decide_address_unusable(Decision *d);
void decide_downgrade_to_report(Decision *d);
/* Postfix delivers mail for domain itself (local_domains, or Postfix's
 * own local and virtual domains): never routed out. */
gboolean decide_domain_is_local(const Config *c, const char *domain);

/* A request at RCPT, from outside (decideinbound.c) or from a client
 * whose mail goes out (decidefilter.c, outbound_routing = filter). */
void decide_inbound(const PolicyRequest *req, StoreReader *list, const Config *c, Decision *d);
void decide_outbound(const PolicyRequest *req, StoreReader *list, const Config *c, TransactionState *txn,
                     Decision *d);

#endif

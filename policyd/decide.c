/*
 * decide.c - the decision engine; see decide.h for the contract and
 * tlspolicyd(8) (DECISIONS) for the rules in an admin's words.  Here:
 * the entry point and the answers the others share (decideparts.h).
 */
#include "decideparts.h"

#include <string.h>

const char *decide_refusal_name(Refusal refusal)
{
    static const char *const names[] = {"none", "no_tls", "protocol", "cipher",
                                        "no_certificate", "certificate_name", "global_floor"};
    return names[refusal];
}

const char *decide_verdict_name(Verdict verdict)
{
    static const char *const names[] = {"dunno", "filter", "reject", "split", "tempfail"};
    return names[verdict];
}

void decide_dunno(Decision *d, const char *reason)
{
    d->verdict = VERDICT_DUNNO;
    d->reason = reason;
    g_strlcpy(d->action, "DUNNO", sizeof d->action);
}

/* Report mode: remember what would have happened, change nothing. */
void decide_downgrade_to_report(Decision *d)
{
    d->report = TRUE;
    d->would = d->verdict;
    d->verdict = VERDICT_DUNNO;
    g_strlcpy(d->action, "DUNNO", sizeof d->action);
}

gboolean decide_list_unavailable(Decision *d, const Config *c)
{
    if (c->on_list_error == LIST_ERROR_DUNNO) {
        decide_dunno(d, "list unavailable (on_list_error=dunno)");
        return TRUE;
    }
    d->verdict = VERDICT_TEMPFAIL;
    d->reason = "list unavailable";
    g_strlcpy(d->action, "451 4.3.0 TLS policy temporarily unavailable, try again later", sizeof d->action);
    return TRUE;
}

/* An address whose domain cannot be folded cannot be checked: fail closed. */
void decide_address_unusable(Decision *d)
{
    d->verdict = VERDICT_TEMPFAIL;
    d->reason = "address cannot be looked up (domain not convertible)";
    g_strlcpy(d->action, "451 4.3.0 TLS policy cannot check this address, try again later", sizeof d->action);
}

/* Mail Postfix delivers itself is never routed out, whatever the list
 * says: local_domains ("example.com" is that domain, ".example.com" its
 * subdomains), and the local and virtual domains of the Postfix served. */
gboolean decide_domain_is_local(const Config *c, const char *domain)
{
    for (char **d = c->local_domains; d && *d; d++) {
        if ((*d)[0] == '.' ? key_name_in_domain(domain, *d + 1) && g_ascii_strcasecmp(domain, *d + 1) != 0
                           : g_ascii_strcasecmp(*d, domain) == 0)
            return TRUE;
    }
    return postfix_site_is_local(c->postfix, domain);
}

void decide(const PolicyRequest *req, StoreReader *list, const Config *c, TransactionState *txn,
            Decision *d)
{
    *d = (Decision){.verdict = VERDICT_DUNNO, .would = VERDICT_DUNNO, .direction = DIRECTION_INBOUND, .reason = ""};
    if (g_ascii_strcasecmp(req->protocol_state, "RCPT") != 0) {
        decide_dunno(d, "not at RCPT");
        return;
    }
    if ((*c->outbound_context && strcmp(req->policy_context, c->outbound_context) == 0)
        || (c->sasl_is_outbound && *req->sasl_username))
        d->direction = DIRECTION_OUTBOUND;
    if (d->direction == DIRECTION_OUTBOUND)
        decide_outbound(req, list, c, txn, d);
    else
        decide_inbound(req, list, c, d);
}

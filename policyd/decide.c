/*
 * decide.c - the decision engine; see decide.h for the contract and
 * README.md ("Decisions") for the rules in an admin's words.
 */
#include "decide.h"

#include "dns.h"

#include <stdarg.h>
#include <stdlib.h>
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

static void dunno(Decision *d, const char *reason)
{
    d->verdict = VERDICT_DUNNO;
    d->reason = reason;
    g_strlcpy(d->action, "DUNNO", sizeof d->action);
}

/* What an inbound session lacks; each has its own reply text and reason. */
typedef enum {
    MISSING_NOTHING,
    MISSING_TLS,
    MISSING_VERSION,
    MISSING_CIPHER,
    MISSING_CERT,
    MISSING_CERT_NAME,
} Missing;

/* Does the TLS session meet the floor and the cipher exclusions?  Fills
 * detail (DECISION_DETAIL bytes) with the specifics and cipher_name with
 * the excluded name. */
#define DECISION_DETAIL sizeof(((Decision *)0)->detail)
static Missing session_missing(const PolicyRequest *req, TlsProtocol floor, const char *excluded,
                               char *detail, char *cipher_name, size_t size)
{
    if (!*req->encryption_protocol)
        return MISSING_TLS;
    if (tls_protocol_rank(req->encryption_protocol) < (int)floor) {
        g_snprintf(detail, DECISION_DETAIL, "%.40s below %s", req->encryption_protocol, entry_protocol_name(floor));
        return MISSING_VERSION;
    }
    if (tls_excluded_cipher(req->encryption_cipher, excluded, cipher_name, size)) {
        g_snprintf(detail, DECISION_DETAIL, "cipher %.60s is excluded (%s)", req->encryption_cipher, cipher_name);
        return MISSING_CIPHER;
    }
    return MISSING_NOTHING;
}

static Missing cert_missing(const PolicyRequest *req, const Entry *entry, const char *key, Decision *d)
{
    gboolean need_cert = entry->client_cert_required || entry->level == LEVEL_VERIFY
                         || entry->level == LEVEL_SECURE;
    /* Postfix sends ccert_subject only for a verified certificate. */
    if (need_cert && !*req->ccert_subject)
        return MISSING_CERT;
    if (entry->level == LEVEL_SECURE && !key_name_in_domain(req->ccert_subject, key_domain(key))) {
        g_snprintf(d->detail, sizeof d->detail, "client certificate %.60s does not name %.50s",
                   req->ccert_subject, key_domain(key));
        return MISSING_CERT_NAME;
    }
    return MISSING_NOTHING;
}

static const char *const listed_reason[] = {
    [MISSING_TLS] = "listed sender: no TLS",
    [MISSING_VERSION] = "listed sender: TLS version below the floor",
    [MISSING_CIPHER] = "listed sender: excluded cipher",
    [MISSING_CERT] = "listed sender: no verified client certificate",
    [MISSING_CERT_NAME] = "listed sender: client certificate for another name",
};

/* The default reply text for what is missing.  It quotes only our own
 * list and configuration, never the request. */
static void missing_text(Missing m, TlsProtocol floor, const char *cipher_name, const char *key, char *out,
                         size_t size)
{
    switch (m) {
    case MISSING_VERSION:
        g_snprintf(out, size, "TLS required: mail from this sender must use %s or later", entry_protocol_name(floor));
        return;
    case MISSING_CIPHER:
        g_snprintf(out, size, "TLS required: mail from this sender must not use a %s cipher", cipher_name);
        return;
    case MISSING_CERT:
        g_strlcpy(out, "TLS required: mail from this sender must come from a server with a trusted client certificate",
                  size);
        return;
    case MISSING_CERT_NAME:
        g_snprintf(out, size, "TLS required: mail from this sender needs a client certificate that names %s",
                   key_domain(key));
        return;
    default:
        g_strlcpy(out, "TLS required: mail from this sender must arrive over an encrypted connection", size);
        return;
    }
}

static void reject(Decision *d, const Config *c, const char *reason, const char *text)
{
    d->verdict = VERDICT_REJECT;
    d->reason = reason;
    g_snprintf(d->action, sizeof d->action, "%s %s %s", c->reject_code, c->reject_status, text);
}

/* The reply: an entry's notice=, else reject_notice, else the text for
 * what is missing. */
static void reject_listed(Decision *d, const Config *c, const Entry *entry, const char *key, Missing m,
                          TlsProtocol floor, const char *cipher_name)
{
    char built[400];  /* the longest text with a 253-byte domain */
    const char *text = entry->notice ? entry->notice : c->reject_notice;
    if (!*text) {
        missing_text(m, floor, cipher_name, key, built, sizeof built);
        text = built;
    }
    static const Refusal refusals[] = {
        [MISSING_TLS] = REFUSAL_NO_TLS, [MISSING_VERSION] = REFUSAL_PROTOCOL, [MISSING_CIPHER] = REFUSAL_CIPHER,
        [MISSING_CERT] = REFUSAL_NO_CERTIFICATE, [MISSING_CERT_NAME] = REFUSAL_CERTIFICATE_NAME,
    };
    reject(d, c, listed_reason[m], text);
    d->refusal = refusals[m];
}

/* Report mode: remember what would have happened, change nothing. */
static void downgrade_to_report(Decision *d)
{
    d->report = TRUE;
    d->would = d->verdict;
    d->verdict = VERDICT_DUNNO;
    g_strlcpy(d->action, "DUNNO", sizeof d->action);
}

static gboolean list_unavailable(Decision *d, const Config *c)
{
    if (c->on_list_error == LIST_ERROR_DUNNO) {
        dunno(d, "list unavailable (on_list_error=dunno)");
        return TRUE;
    }
    d->verdict = VERDICT_TEMPFAIL;
    d->reason = "list unavailable";
    g_strlcpy(d->action, "451 4.3.0 TLS policy temporarily unavailable, try again later", sizeof d->action);
    return TRUE;
}

/* An address whose domain cannot be folded cannot be checked: fail closed. */
static void address_unusable(Decision *d)
{
    d->verdict = VERDICT_TEMPFAIL;
    d->reason = "address cannot be looked up (domain not convertible)";
    g_strlcpy(d->action, "451 4.3.0 TLS policy cannot check this address, try again later", sizeof d->action);
}

/* The global floor (Gmail's optional "TLS 1.2, no 3DES for everyone"):
 * weak TLS refused from senders no entry governs.  Plaintext is not
 * refused here: that is what list entries are for. */
static void apply_global_floor(const PolicyRequest *req, const Config *c, Decision *d)
{
    char cipher_name[64], detail[DECISION_DETAIL] = "", text[600];
    if (c->global_floor == GLOBAL_FLOOR_OFF || !*req->encryption_protocol)
        return;
    Missing m = session_missing(req, c->min_protocol, c->exclude_ciphers, detail, cipher_name, sizeof cipher_name);
    if (m == MISSING_NOTHING)
        return;
    config_global_floor_notice(c, text, sizeof text);
    g_strlcpy(d->detail, detail, sizeof d->detail);
    d->report = FALSE;  /* replaces an entry's report, see decide_inbound */
    d->would = VERDICT_DUNNO;
    reject(d, c, m == MISSING_VERSION ? "global floor: TLS version below the floor" : "global floor: excluded cipher",
           text);
    d->refusal = REFUSAL_GLOBAL_FLOOR;
    if (c->global_floor == GLOBAL_FLOOR_REPORT)
        downgrade_to_report(d);
}

static void decide_inbound(const PolicyRequest *req, StoreReader *list, const Config *c, Decision *d)
{
    LookupMatch match;
    char cipher_name[64];

    /* The null sender (bounces, delivery notices) is exempt from every
     * inbound rule: refusing it would lose the notices, and no entry can
     * name it. */
    if (!*req->sender) {
        dunno(d, "null sender (exempt)");
        return;
    }
    if (!list) {
        list_unavailable(d, c);
        return;
    }
    LookupStatus found = lookup_find(list, req->sender, c->recipient_delimiter, DIRECTION_INBOUND, &match);
    if (found == LOOKUP_UNUSABLE) {
        address_unusable(d);
        return;
    }
    if (found == LOOKUP_NOT_LISTED) {
        dunno(d, "sender not listed");
        apply_global_floor(req, c, d);
        return;
    }
    g_strlcpy(d->key, match.key, sizeof d->key);
    d->level = match.entry.level;
    if (entry_level_is_exemption(match.entry.level)) {
        dunno(d, "sender exempt");
        return;
    }

    /* The entry's own rules replace the global floor (its min_protocol
     * may be lower, its exclude_ciphers shorter). */
    const Entry *e = &match.entry;
    TlsProtocol floor = e->min_protocol ? e->min_protocol : c->min_protocol;
    const char *excluded = e->exclude_ciphers ? e->exclude_ciphers : c->exclude_ciphers;
    Missing m = session_missing(req, floor, excluded, d->detail, cipher_name, sizeof cipher_name);
    if (m == MISSING_NOTHING)
        m = cert_missing(req, e, match.key, d);
    if (m != MISSING_NOTHING)
        reject_listed(d, c, e, match.key, m, floor, cipher_name);
    else
        dunno(d, "sender's TLS requirements met");
    if (e->mode != MODE_REPORT)
        return;
    downgrade_to_report(d);
    /* an entry on trial does not lift an enforced global floor */
    if (c->global_floor == GLOBAL_FLOOR_ENFORCE)
        apply_global_floor(req, c, d);
}

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

static gboolean domain_is_local(const Config *c, const char *domain);

static void decide_outbound(const PolicyRequest *req, StoreReader *list, const Config *c,
                            TransactionState *txn, Decision *d)
{
    LookupMatch match;
    Route r = {.route = "", .nexthop = ""};

    if (c->outbound_routing == ROUTING_TRANSPORT_MAPS) {
        dunno(d, "outbound routing by transport_maps");
        return;
    }
    if (!list) {
        list_unavailable(d, c);
        return;
    }
    const char *at = strrchr(req->recipient, '@');
    if (at && domain_is_local(c, at + 1)) {
        dunno(d, "local domain");
        return;
    }

    LookupStatus found = lookup_find(list, req->recipient, c->recipient_delimiter, DIRECTION_OUTBOUND, &match);
    if (found == LOOKUP_UNUSABLE) {
        address_unusable(d);
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
                downgrade_to_report(d);
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
        dunno(d, d->key[0] ? "recipient exempt" : "recipient not listed");
        return;
    }
    d->verdict = VERDICT_FILTER;
    d->reason = strcmp(txn->route, r.route) == 0 ? "listed recipient" : "strictest route of the transaction";
    g_snprintf(d->action, sizeof d->action, "FILTER %s", txn->route);
}

void decide(const PolicyRequest *req, StoreReader *list, const Config *c, TransactionState *txn,
            Decision *d)
{
    *d = (Decision){.verdict = VERDICT_DUNNO, .would = VERDICT_DUNNO, .direction = DIRECTION_INBOUND, .reason = ""};
    if (g_ascii_strcasecmp(req->protocol_state, "RCPT") != 0) {
        dunno(d, "not at RCPT");
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

/*
 * Socketmap routes.
 */
/* Mail Postfix delivers itself is never routed out, whatever the list
 * says: local_domains ("example.com" is that domain, ".example.com" its
 * subdomains), and the local and virtual domains of the Postfix served. */
static gboolean domain_is_local(const Config *c, const char *domain)
{
    for (char **d = c->local_domains; d && *d; d++) {
        if ((*d)[0] == '.' ? key_name_in_domain(domain, *d + 1) && g_ascii_strcasecmp(domain, *d + 1) != 0
                           : g_ascii_strcasecmp(*d, domain) == 0)
            return TRUE;
    }
    return postfix_site_is_local(c->postfix, domain);
}

static void route_notfound(RouteDecision *d, const char *reason)
{
    d->status = ROUTE_NOTFOUND;
    d->reason = reason;
    g_strlcpy(d->reply, "NOTFOUND ", sizeof d->reply);
}

static void route_temp(RouteDecision *d, const char *reason, const char *reply)
{
    d->status = ROUTE_TEMP;
    d->reason = reason;
    g_strlcpy(d->reply, reply, sizeof d->reply);
}

/* Append to the explanation (cut at its size, like any log value). */
static void explain_add(RouteDecision *d, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void explain_add(RouteDecision *d, const char *format, ...)
{
    size_t used = strlen(d->explain);
    va_list args;
    va_start(args, format);
    g_vsnprintf(d->explain + used, sizeof d->explain - used, format, args);
    va_end(args);
}

static const char *source_text(SourceState state, const char *note)
{
    return state == SOURCE_OFF ? "not consulted" : state == SOURCE_PENDING ? "lookup pending" : note;
}

/* "list: verify (key .example.com); DANE: ...; MTA-STS: ...": what each
 * source says, for the log line and --explain. */
static void explain_sources(RouteDecision *d, const LookupMatch *m, gboolean listed, const DestinationPolicy *p)
{
    if (listed)
        explain_add(d, "list: %s (key %s)", entry_level_name(m->entry.level), m->key);
    else
        explain_add(d, "list: not listed");
    explain_add(d, "; DANE: %s; MTA-STS: ", source_text(p->dane, p->dane_note));
    if (p->sts != SOURCE_FOUND) {
        explain_add(d, "%s", source_text(p->sts, p->sts_note));
        return;
    }
    explain_add(d, "%s, mx", mtasts_mode_name(p->policy->mode));
    for (guint i = 0; i < p->policy->n_mx && i < 4; i++)  /* the log line stays short */
        explain_add(d, " %s", p->policy->mx[i]);
    if (p->policy->n_mx > 4)
        explain_add(d, " and %u more", p->policy->n_mx - 4);
    explain_add(d, ", max_age %u, %s", p->policy->max_age, p->sts_note);
}

/* Does the domain's MTA-STS policy bind this recipient?  Listed domains
 * always, unlisted ones with mta_sts = enforce; testing is only logged. */
static gboolean sts_enforced(const DestinationPolicy *p, gboolean listed, const Config *c)
{
    return p->sts == SOURCE_FOUND && p->policy->mode == MTASTS_MODE_ENFORCE && (listed || c->mta_sts == MTA_STS_ENFORCE);
}

/* The effective level: the strictest of the list's, DANE's and
 * MTA-STS's.  TLSA records make it dane-only (RFC 8461 2: DANE wins
 * over MTA-STS).  The list level "dane" is never Postfix's dane, which
 * falls back to plaintext without TLSA records: known to have none, it is
 * encrypt (or secure under MTA-STS); not known (pending, failed) it is
 * dane-only, where Postfix does its own TLSA lookup and defers when it
 * finds none.  An enforced MTA-STS policy makes the rest secure. */
static TlsLevel effective_level(TlsLevel listed_level, const DestinationPolicy *p, gboolean sts)
{
    if (p->dane == SOURCE_FOUND || listed_level == LEVEL_DANE_ONLY)
        return LEVEL_DANE_ONLY;
    if (listed_level == LEVEL_DANE && p->dane != SOURCE_NONE)
        return LEVEL_DANE_ONLY;
    if (sts)
        return LEVEL_SECURE;
    return listed_level == LEVEL_DANE ? LEVEL_ENCRYPT : listed_level;
}

static const char *route_reason(TlsLevel list_level, TlsLevel level, const DestinationPolicy *p)
{
    if (p->dane == SOURCE_FOUND)
        return "DANE: TLSA records published";
    if (list_level == LEVEL_DANE && level == LEVEL_DANE_ONLY)
        return "list level dane, TLSA records not known (lookup pending or failed): dane-only";
    if (level == LEVEL_SECURE && list_level != LEVEL_SECURE)
        return "MTA-STS policy enforced";
    if (list_level == LEVEL_DANE)
        return "list level dane, no TLSA records: encrypt";
    return "listed recipient";  /* the sources' own words are in explain */
}

static void route_by_sources(const char *domain, const LookupMatch *m, gboolean listed, const Config *c,
                             DestinationLookup lookup, gpointer lookup_data, RouteDecision *d)
{
    gboolean want_dane = listed || c->dane == DANE_AUTO;
    gboolean want_sts = listed || c->mta_sts != MTA_STS_OFF;
    const DestinationPolicy *p = lookup(domain, want_dane, want_sts, listed, lookup_data);
    char route[CONFIG_ROUTE_MAX];
    explain_sources(d, m, listed, p);
    gboolean pending = p->dane == SOURCE_PENDING || p->sts == SOURCE_PENDING;
    gboolean failed = p->dane == SOURCE_FAILED || p->sts == SOURCE_FAILED;
    if (pending)
        d->fallback = c->on_lookup_pending == LOOKUP_TEMP ? FALLBACK_PENDING_TEMP : FALLBACK_PENDING_LIST;
    else if (failed)
        d->fallback = c->on_lookup_failure == LOOKUP_TEMP ? FALLBACK_FAILED_TEMP : FALLBACK_FAILED_LIST;
    if (pending && c->on_lookup_pending == LOOKUP_TEMP) {
        route_temp(d, "DANE/MTA-STS lookup pending (on_lookup_pending=temp)",
                   "TEMP TLS policy of the recipient domain is being looked up (DANE, MTA-STS)");
        return;
    }
    if (failed && c->on_lookup_failure == LOOKUP_TEMP) {
        route_temp(d, "DANE/MTA-STS lookup failed (on_lookup_failure=temp)",
                   "TEMP TLS policy lookup failed for the recipient domain (DANE, MTA-STS)");
        return;
    }
    /* RFC 7672 2.2: records that fail validation are an attack or a
     * broken zone, never "no DANE"; Postfix would defer them too */
    if (p->dane == SOURCE_FAILED && p->dane_bogus) {
        d->fallback = FALLBACK_FAILED_TEMP;
        route_temp(d, "DANE: DNSSEC validation failed (bogus)",
                   "TEMP DNSSEC validation failed for the recipient domain's MX or TLSA records");
        return;
    }
    TlsLevel list_level = listed ? m->entry.level : LEVEL_NONE;
    TlsLevel level = effective_level(list_level, p, sts_enforced(p, listed, c));
    d->level = level;
    /* RFC 8461 5: a testing policy (or mta_sts = testing) is reported,
     * not enforced: say when enforcing it would have changed the route */
    if (p->sts == SOURCE_FOUND && p->policy->mode != MTASTS_MODE_NONE && !sts_enforced(p, listed, c)
        && effective_level(list_level, p, TRUE) != level) {
        d->sts_testing = TRUE;
        explain_add(d, "; MTA-STS testing: enforced it would route secure");
    }
    if (level == LEVEL_NONE) {
        route_notfound(d, pending   ? "recipient not listed; DANE/MTA-STS pending (on_lookup_pending=list)"
                          : failed  ? "recipient not listed; DANE/MTA-STS failed (on_lookup_failure=list)"
                                    : "recipient not listed; no DANE or enforced MTA-STS");
        explain_add(d, "; effective: not routed");
        return;
    }
    if (listed && level == m->entry.level)
        config_route(c, &m->entry, route, sizeof route);
    else
        config_level_route(c, level, listed ? config_bounces(c, &m->entry) : c->default_on_failure == ON_FAILURE_BOUNCE,
                           "", route, sizeof route);
    d->status = ROUTE_OK;
    d->reason = route_reason(list_level, level, p);
    g_snprintf(d->reply, sizeof d->reply, "OK %s", route);
    explain_add(d, "; effective: %s", route);
}

/* The smtp_tls_policy_maps table (tls_policy_name) the tls-secure
 * transports ask with the next-hop domain: "secure match=..." from an
 * enforced MTA-STS policy, so a domain hosted under its provider's MX
 * names is matched against the policy's patterns; NOTFOUND otherwise (the
 * transport's own secure level and Postfix's default match). */
static void decide_tls_policy(const char *key, StoreReader *list, const Config *c, DestinationLookup lookup,
                              gpointer lookup_data, RouteDecision *d)
{
    char buf[KEY_MAX + 1];
    char *heap = NULL;
    const char *domain = key[0] == '.' || key[0] == '[' ? NULL : key_fold_domain(key, buf, sizeof buf, &heap);
    if (!domain || !lookup) {
        g_free(heap);
        route_notfound(d, "no MTA-STS policy for this next hop");
        return;
    }
    LookupMatch m;
    gboolean listed = list && lookup_find(list, domain, c->recipient_delimiter, DIRECTION_OUTBOUND, &m) == LOOKUP_FOUND;
    if ((!listed && c->mta_sts == MTA_STS_OFF) || !dns_name_is_hostname(domain)) {
        g_free(heap);
        route_notfound(d, "MTA-STS not consulted for this next hop");
        return;
    }
    const DestinationPolicy *p = lookup(domain, FALSE, TRUE, listed, lookup_data);
    g_free(heap);
    if (p->sts == SOURCE_PENDING || p->sts == SOURCE_FAILED)
        d->fallback = p->sts == SOURCE_PENDING                 ? FALLBACK_PENDING_TEMP
                      : c->on_lookup_failure == LOOKUP_TEMP     ? FALLBACK_FAILED_TEMP
                                                                : FALLBACK_FAILED_LIST;
    if (p->sts == SOURCE_PENDING || (p->sts == SOURCE_FAILED && c->on_lookup_failure == LOOKUP_TEMP)) {
        route_temp(d, "MTA-STS lookup pending or failed", "TEMP MTA-STS policy not known yet");
        return;
    }
    if (!sts_enforced(p, TRUE, c)) {
        route_notfound(d, "no enforced MTA-STS policy");
        return;
    }
    GString *match = g_string_new(NULL);
    if (!mtasts_postfix_match(p->policy, p->mx_hosts, match)) {
        g_string_free(match, TRUE);
        d->fallback = FALLBACK_PENDING_TEMP;
        route_temp(d, "MTA-STS: the MX hosts for the policy's wildcards not known yet",
                   "TEMP MTA-STS policy: the MX hosts are not known yet");
        return;
    }
    d->status = ROUTE_OK;
    d->level = LEVEL_SECURE;
    d->reason = "MTA-STS mx patterns";
    g_snprintf(d->reply, sizeof d->reply, "OK secure match=%s servername=hostname", match->str);
    g_string_free(match, TRUE);
}

void decide_route(const char *request, StoreReader *list, const Config *c, DestinationLookup lookup,
                  gpointer lookup_data, RouteDecision *d)
{
    LookupMatch m;
    char route[CONFIG_ROUTE_MAX];
    /* field by field, as in decide(): the arrays are strings */
    d->report = d->sts_testing = d->local_listed = FALSE;
    d->fallback = FALLBACK_NONE;
    d->key[0] = d->would[0] = d->explain[0] = 0;
    d->level = 0;

    const char *space = strchr(request, ' ');
    size_t name_len = space ? (size_t)(space - request) : strlen(request);
    const char *key = space ? space + 1 : "";
    if (name_len == strlen(c->tls_policy_name) && strncmp(request, c->tls_policy_name, name_len) == 0) {
        decide_tls_policy(key, list, c, lookup, lookup_data, d);
        return;
    }
    if (name_len != strlen(c->socketmap_name) || strncmp(request, c->socketmap_name, name_len) != 0) {
        d->status = ROUTE_PERM;
        d->reason = "unknown table name";
        g_snprintf(d->reply, sizeof d->reply, "PERM unknown table name; this service answers \"%s\" and \"%s\"",
                   c->socketmap_name, c->tls_policy_name);
        return;
    }
    if (!*key) {
        route_notfound(d, "empty key");
        return;
    }
    if (!list) {
        route_temp(d, "list unavailable", "TEMP TLS policy list unavailable");
        return;
    }

    const char *at = strrchr(key, '@');
    const char *domain = at ? at + 1 : key;
    LookupStatus found = lookup_find(list, key, c->recipient_delimiter, DIRECTION_OUTBOUND, &m);
    if (domain_is_local(c, domain[0] == '.' ? domain + 1 : domain)) {
        /* a listed key that would capture local mail: said (once, server.c) */
        if (found == LOOKUP_FOUND && !entry_level_is_exemption(m.entry.level)) {
            g_strlcpy(d->key, m.key, sizeof d->key);
            d->level = m.entry.level;
            d->local_listed = TRUE;
        }
        route_notfound(d, d->local_listed ? "local domain: Postfix delivers it, the list entry is not applied"
                                          : "local domain");
        return;
    }
    if (found == LOOKUP_UNUSABLE) {
        route_temp(d, "address cannot be looked up (domain not convertible)", "TEMP TLS policy cannot check this address");
        return;
    }
    gboolean listed = found == LOOKUP_FOUND;
    if (listed) {
        g_strlcpy(d->key, m.key, sizeof d->key);
        d->level = m.entry.level;
        if (entry_level_is_exemption(m.entry.level)) {
            route_notfound(d, "recipient exempt");
            return;
        }
        if (m.entry.mode == MODE_REPORT) {
            config_route(c, &m.entry, route, sizeof route);
            d->report = TRUE;
            g_snprintf(d->would, sizeof d->would, "OK %s", route);
            route_notfound(d, "report mode");
            return;
        }
    }
    /* DANE and MTA-STS speak of the recipient domain's MX hosts: a route
     * through a next hop (relayhost, nexthop=) or an entry's own
     * transport= (which may relay) keeps the list's level, and "*" or
     * ".domain" keys are not domains to look up. */
    const char *nexthop = listed ? config_nexthop(c, &m.entry) : c->relayhost;
    gboolean own_transport = listed && m.entry.transport;
    char buf[KEY_MAX + 1];
    char *heap = NULL;
    const char *ascii = lookup && !*nexthop && !own_transport && domain[0] != '.' && !key_is_address_literal(domain)
                            ? key_fold_domain(domain, buf, sizeof buf, &heap)
                            : NULL;
    if (ascii && dns_name_is_hostname(ascii) && (listed || c->dane == DANE_AUTO || c->mta_sts != MTA_STS_OFF)) {
        route_by_sources(ascii, &m, listed, c, lookup, lookup_data, d);
        g_free(heap);
        return;
    }
    g_free(heap);
    if (!listed) {
        route_notfound(d, "recipient not listed");
        return;
    }
    /* TLSA records not looked up (a next hop, no lookups): a dane entry
     * goes dane-only (config_route_level) */
    d->status = ROUTE_OK;
    d->level = config_route_level(&m.entry);
    d->reason = d->level == m.entry.level ? "listed recipient"
                                          : "list level dane, TLSA records not looked up (next hop): dane-only";
    config_route(c, &m.entry, route, sizeof route);
    g_snprintf(d->reply, sizeof d->reply, "OK %s", route);
}

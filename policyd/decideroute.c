/*
 * decideroute.c - the socketmap's answers: a recipient's route (the
 * strictest of its list entry, DANE and MTA-STS, with the fallbacks when
 * a lookup is pending or failed), and the tls-secure transports' MTA-STS
 * patterns (tls_policy_name); see decide.h.
 */
#include "decideparts.h"

#include <stdarg.h>
#include <string.h>

#include "dns.h"

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
    /* the scalars and each string's first byte: the whole struct, with
     * its reply and explanation buffers, is more than a lookup needs */
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
    if (decide_domain_is_local(c, domain[0] == '.' ? domain + 1 : domain)) {
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

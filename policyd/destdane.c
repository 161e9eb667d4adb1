/*
 * destdane.c - a domain's DANE lookup (RFC 7672): its MX hosts, each
 * one's address (for a secure CNAME expansion) and TLSA records, and the
 * verdict once every host is in; see destinationstate.h.
 */
#include "destinationstate.h"

#include <string.h>

/* found (NULL: none) becomes the records in force, and is taken. */
static void set_tlsa_records(Dest *dest, GPtrArray *found)
{
    g_strfreev(dest->tlsa_records);
    dest->tlsa_records = NULL;
    if (found) {
        g_ptr_array_add(found, NULL);
        dest->tlsa_records = (char **)g_ptr_array_free(found, FALSE);
    }
    dest->p.tlsa_records = dest->tlsa_records;
}

static void dane_done(Destinations *d, Dest *dest, SourceState state, int ttl)
{
    if (state != SOURCE_FOUND)
        set_tlsa_records(dest, NULL);
    dest->p.dane = state;
    dest->p.dane_bogus = FALSE;
    dest->dane_busy = FALSE;
    dest->dane_expires = dest_now_s() + dest_clamp_ttl(ttl);
    d->count.dane[state]++;
    dest_place(d, dest);
}

/* No trustworthy answer (SERVFAIL, timeout, bogus): never "no DANE"
 * (RFC 7672 2.2).  TLSA records validated before stay in force, so the
 * route stays dane-only and Postfix, looking them up itself, defers
 * until the DNS answers again. */
static void dane_failed(Destinations *d, Dest *dest, gboolean bogus, const char *what)
{
    DestinationPolicy *p = &dest->p;
    if (p->dane == SOURCE_FOUND)
        g_snprintf(p->dane_note, sizeof p->dane_note, "TLSA on %u of %u MX, DNSSEC secure, as last validated (%s)",
                   p->mx_tlsa, p->mx_total, what);
    else
        g_strlcpy(p->dane_note, what, sizeof p->dane_note);
    SourceState state = p->dane == SOURCE_FOUND ? SOURCE_FOUND : SOURCE_FAILED;
    dest->dane_busy = FALSE;
    dest->dane_expires = dest_now_s() + RETRY_AFTER;
    d->count.dane[SOURCE_FAILED]++;
    p->dane = state;
    p->dane_bogus = bogus;
    dest_place(d, dest);
}

/* The verdict, once every MX host's TLSA answer is in. */
static void dane_conclude(Destinations *d, Dest *dest)
{
    if (!dest->dane_busy || dest->hosts_left > 0 || dest->hosts_total == 0)
        return;
    DestinationPolicy *p = &dest->p;
    guint total = dest->hosts_total;
    for (guint i = 0; i < total; i++)
        g_free(dest->hosts[i].host);
    g_clear_pointer(&dest->hosts, g_free);
    dest->hosts_total = 0;
    if (dest->hosts_tlsa > 0) {
        set_tlsa_records(dest, dest->tlsa_found);
        dest->tlsa_found = NULL;
        p->mx_total = total;
        p->mx_tlsa = dest->hosts_tlsa;
        g_snprintf(p->dane_note, sizeof p->dane_note, "TLSA on %u of %u MX, DNSSEC secure%s%s", dest->hosts_tlsa,
                   total, dest->hosts_failed ? "; failed: " : "", dest->failed_host);
        dane_done(d, dest, SOURCE_FOUND, dest->dane_ttl);
    } else if (dest->hosts_failed > 0) {
        g_autofree char *what = g_strdup_printf("TLSA lookup failed: %s", dest->failed_host);
        dane_failed(d, dest, dest->hosts_bogus > 0, what);
    } else {
        p->mx_total = total;
        p->mx_tlsa = 0;
        g_snprintf(p->dane_note, sizeof p->dane_note, "no TLSA records on %u MX (DNSSEC secure)", total);
        dane_done(d, dest, SOURCE_NONE, dest->dane_ttl);
    }
}

/* One MX host is done: counted once, with TLSA records if either of
 * its names has usable ones. */
static void host_done(MxHost *h)
{
    Dest *dest = h->dest;
    if (h->tlsa)
        dest->hosts_tlsa++;
    else if (h->failed)
        dest->hosts_failed++;
    dest->hosts_bogus += !h->tlsa && h->bogus;
    dest->hosts_left--;
    dane_conclude(dest->owner, dest);
}

static void host_failed(MxHost *h, const char *name, DnsTrust trust)
{
    Dest *dest = h->dest;
    h->failed = TRUE;
    h->bogus |= trust == DNS_BOGUS;
    if (!dest->failed_host[0])
        g_snprintf(dest->failed_host, sizeof dest->failed_host, "%s %s", name, dns_trust_name(trust));
}

/* The usable records of a validated answer, for the TLS-RPT report's
 * policy-string: each once, at most DANE_MAX_RECORDS. */
static void keep_tlsa_records(Dest *dest, const struct ub_result *r)
{
    for (int i = 0; r->data[i] && dest->tlsa_found->len < DANE_MAX_RECORDS; i++) {
        const unsigned char *rdata = (const unsigned char *)r->data[i];
        if (!dns_tlsa_usable(rdata, r->len[i]))
            continue;
        char *text = dns_tlsa_text(rdata, r->len[i]);
        gboolean seen = FALSE;
        for (guint j = 0; j < dest->tlsa_found->len && !seen; j++)
            seen = strcmp(dest->tlsa_found->pdata[j], text) == 0;
        if (seen)
            g_free(text);
        else
            g_ptr_array_add(dest->tlsa_found, text);
    }
}

static void on_tlsa(void *data, int err, struct ub_result *r)
{
    MxHost *h = data;
    Dest *dest = h->dest;
    DnsTrust trust = dns_trust(err, r);
    if (trust == DNS_BOGUS || trust == DNS_FAILED)
        host_failed(h, r ? r->qname : h->host, trust);
    else if (trust == DNS_SECURE && r->havedata && dns_usable_tlsa(r) > 0) {
        h->tlsa = TRUE;
        keep_tlsa_records(dest, r);
    }
    if (r && r->ttl < dest->dane_ttl)
        dest->dane_ttl = r->ttl;
    ub_resolve_free(r);
    if (--h->queries_left == 0)
        host_done(h);
}

static void tlsa_query(MxHost *h, const char *name)
{
    Destinations *d = h->dest->owner;
    g_autofree char *owner = g_strdup_printf("_%u._tcp.%s", d->settings.tlsa_port, name);
    if (!dest_resolve(d, owner, DNS_TYPE_TLSA, h, on_tlsa)) {
        host_failed(h, owner, DNS_FAILED);
        h->queries_left--;
    }
}

/* The MX host's address answer: its CNAME expansion, when secure, is
 * where TLSA records are looked up first (RFC 7672 2.2.2); the name
 * itself is looked at too. */
static void on_host_address(void *data, int err, struct ub_result *r)
{
    MxHost *h = data;
    DnsTrust trust = dns_trust(err, r);
    char canon[256] = "";
    if (!dns_secure_expansion(err, r, h->host, canon, sizeof canon))
        canon[0] = 0;
    if (trust == DNS_BOGUS || trust == DNS_FAILED)
        host_failed(h, h->host, trust);
    ub_resolve_free(r);
    if (h->failed) {
        host_done(h);
        return;
    }
    h->queries_left = canon[0] ? 2 : 1;
    if (canon[0])
        tlsa_query(h, canon);
    tlsa_query(h, h->host);
    if (h->queries_left == 0)
        host_done(h);
}

static void on_mx(void *data, int err, struct ub_result *r)
{
    Dest *dest = data;
    Destinations *d = dest->owner;
    DestinationPolicy *p = &dest->p;
    DnsTrust trust = dns_trust(err, r);
    int ttl = r ? r->ttl : 0;
    if (trust == DNS_BOGUS || trust == DNS_FAILED) {
        g_autofree char *what = g_strdup_printf("MX lookup %s%s%s", dns_trust_name(trust),
                                                r && r->why_bogus ? ": " : "", r && r->why_bogus ? r->why_bogus : "");
        ub_resolve_free(r);
        dane_failed(d, dest, trust == DNS_BOGUS, what);
        return;
    }
    if (trust == DNS_INSECURE || r->nxdomain) {
        g_strlcpy(p->dane_note, r->nxdomain ? "no such domain" : "MX records not DNSSEC-signed (insecure)",
                  sizeof p->dane_note);
        ub_resolve_free(r);
        dane_done(d, dest, SOURCE_NONE, ttl);
        return;
    }
    g_auto(GStrv) hosts = r->havedata ? dns_mx_hosts(r) : g_strdupv((char *[]){dest->domain, NULL});
    ub_resolve_free(r);
    if (!hosts[0] || strcmp(hosts[0], ".") == 0) {
        g_strlcpy(p->dane_note, "null MX: the domain accepts no mail", sizeof p->dane_note);
        dane_done(d, dest, SOURCE_NONE, ttl);
        return;
    }
    guint n = g_strv_length(hosts) < DANE_MAX_HOSTS ? g_strv_length(hosts) : DANE_MAX_HOSTS;
    dest->hosts_failed = dest->hosts_bogus = dest->hosts_tlsa = 0;
    dest->failed_host[0] = 0;
    if (dest->tlsa_found)
        g_ptr_array_free(dest->tlsa_found, TRUE);
    dest->tlsa_found = g_ptr_array_new_with_free_func(g_free);
    dest->dane_ttl = ttl;
    dest->hosts = g_new0(MxHost, n);
    dest->hosts_total = dest->hosts_left = n;
    /* hosts_left counts down as each host finishes; the last one concludes */
    for (guint i = 0; i < n; i++) {
        MxHost *h = &dest->hosts[i];
        h->dest = dest;
        h->host = g_strdup(hosts[i]);
        if (!dns_name_is_hostname(hosts[i])) {
            h->failed = TRUE;
            if (!dest->failed_host[0])
                g_strlcpy(dest->failed_host, "an MX host name that is not a host name", sizeof dest->failed_host);
            host_done(h);
        } else if (!dest_resolve(d, hosts[i], DNS_TYPE_A, h, on_host_address)) {
            host_failed(h, hosts[i], DNS_FAILED);
            host_done(h);
        }
    }
}

void dest_dane_start(Destinations *d, Dest *dest)
{
    dest->dane_busy = TRUE;
    dest->hosts_total = 0;
    dest_place(d, dest);
    if (!dest_resolve(d, dest->domain, DNS_TYPE_MX, dest, on_mx))
        dane_failed(d, dest, FALSE, "cannot start the MX lookup");
}


/*
 * published.c - DANE and MTA-STS facts for tlsprobe; see published.h.
 */
#include "published.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "https.h"

static struct ub_result *resolve(struct ub_ctx *ctx, const char *name, int type, int *err)
{
    struct ub_result *r = NULL;
    *err = ub_resolve(ctx, name, type, DNS_CLASS_IN, &r);
    return r;
}

char *published_address(struct ub_ctx *ctx, const char *host)
{
    int err;
    struct ub_result *r = resolve(ctx, host, DNS_TYPE_A, &err);
    DnsTrust trust = dns_trust(err, r);
    char **addresses = (trust == DNS_SECURE || trust == DNS_INSECURE) ? dns_addresses(r) : NULL;
    ub_resolve_free(r);
    char *first = addresses && addresses[0] ? g_strdup(addresses[0]) : NULL;
    g_strfreev(addresses);
    return first;
}

static void lookup_mx(struct ub_ctx *ctx, Published *p)
{
    int err;
    struct ub_result *r = resolve(ctx, p->domain, DNS_TYPE_MX, &err);
    p->mx_trust = dns_trust(err, r);
    if (p->mx_trust == DNS_BOGUS || p->mx_trust == DNS_FAILED) {
        p->mx_error = g_strdup_printf("MX lookup %s", dns_trust_name(p->mx_trust));
        p->mx = g_array_new(FALSE, FALSE, sizeof(DnsMx));
    } else if (r->nxdomain) {
        p->mx_error = g_strdup("no such domain");
        p->mx = g_array_new(FALSE, FALSE, sizeof(DnsMx));
    } else if (r->havedata) {
        p->mx = dns_mx_records(r);
    } else {  /* no MX: the domain's own address (RFC 5321 5.1) */
        p->mx = g_array_new(FALSE, FALSE, sizeof(DnsMx));
        DnsMx self = {0, g_strdup(p->domain)};
        g_array_append_val(p->mx, self);
    }
    ub_resolve_free(r);
}

static void lookup_sts(struct ub_ctx *ctx, Published *p, const char *ca_file, guint timeout)
{
    int err;
    g_autofree char *name = g_strdup_printf("_mta-sts.%s", p->domain);
    struct ub_result *r = resolve(ctx, name, DNS_TYPE_TXT, &err);
    DnsTrust trust = dns_trust(err, r);
    g_auto(GStrv) txt = (trust == DNS_SECURE || trust == DNS_INSECURE) && r->havedata ? dns_txt_strings(r) : NULL;
    ub_resolve_free(r);
    if (trust == DNS_BOGUS || trust == DNS_FAILED) {
        p->sts = STS_FAILED;
        p->sts_note = g_strdup_printf("TXT lookup %s", dns_trust_name(trust));
        return;
    }
    char id[MTASTS_ID_MAX + 1];
    const char *why;
    if (!mtasts_select_txt(txt, id, &why)) {
        p->sts = STS_ABSENT;
        p->sts_note = g_strdup(why);
        return;
    }
    g_autofree char *host = g_strdup_printf("mta-sts.%s", p->domain);
    g_autofree char *address = published_address(ctx, host);
    char *addresses[] = {address, NULL};
    HttpsFetch fetch = {.host = host, .addresses = addresses, .port = MTASTS_HTTPS_PORT, .ca_file = ca_file ? ca_file : "",
                        .timeout_ms = timeout * 1000};
    GError *error = NULL;
    GBytes *body = address ? https_fetch_policy(&fetch, &error) : NULL;
    if (!body) {
        p->sts = STS_FAILED;
        p->sts_note = g_strdup_printf("TXT id %s, policy fetch failed: %s", id,
                                      error ? error->message : "mta-sts host has no IPv4 address");
        g_clear_error(&error);
        return;
    }
    gsize len;
    const char *data = g_bytes_get_data(body, &len);
    if (!mtasts_parse_policy(data, len, &p->policy, &why)) {
        p->sts = STS_FAILED;
        p->sts_note = g_strdup_printf("TXT id %s, invalid policy: %s", id, why);
    } else {
        p->sts = STS_FOUND;
        p->sts_note = g_strdup_printf("id %s", id);
    }
    g_bytes_unref(body);
}

Published *published_lookup(struct ub_ctx *ctx, const char *domain, const char *ca_file, guint timeout)
{
    Published *p = g_new0(Published, 1);
    p->domain = g_strdup(domain);
    lookup_mx(ctx, p);
    lookup_sts(ctx, p, ca_file, timeout);
    return p;
}

void published_free(Published *p)
{
    if (!p)
        return;
    g_free(p->domain);
    dns_mx_free(p->mx);
    g_free(p->mx_error);
    g_free(p->sts_note);
    g_free(p);
}

static HostTlsa *tlsa_at(struct ub_ctx *ctx, const char *host, const char *port)
{
    HostTlsa *t = g_new0(HostTlsa, 1);
    t->records = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    int err;
    g_autofree char *owner = g_strdup_printf("_%s._tcp.%s", port, host);
    struct ub_result *r = resolve(ctx, owner, DNS_TYPE_TLSA, &err);
    t->trust = dns_trust(err, r);
    for (int i = 0; t->trust == DNS_SECURE && r->havedata && r->data[i]; i++) {
        const unsigned char *d = (const unsigned char *)r->data[i];
        if (dns_tlsa_usable(d, r->len[i]))
            g_ptr_array_add(t->records, g_bytes_new(d, (gsize)r->len[i]));
    }
    ub_resolve_free(r);
    return t;
}

/* RFC 7672 2.2.2: at the host's secure CNAME expansion first; where that
 * publishes none (securely), at the host's own name. */
HostTlsa *published_tlsa(struct ub_ctx *ctx, const char *host, const char *port)
{
    int err;
    char canon[256];
    struct ub_result *r = resolve(ctx, host, DNS_TYPE_A, &err);
    gboolean expanded = dns_secure_expansion(err, r, host, canon, sizeof canon);
    ub_resolve_free(r);
    if (expanded) {
        HostTlsa *t = tlsa_at(ctx, canon, port);
        if (t->trust != DNS_SECURE || t->records->len > 0)
            return t;
        host_tlsa_free(t);
    }
    return tlsa_at(ctx, host, port);
}

void host_tlsa_free(HostTlsa *t)
{
    if (!t)
        return;
    g_ptr_array_unref(t->records);
    g_free(t);
}

/* Does one certificate (DER) match a TLSA record's selector, matching
 * type and data? */
static gboolean cert_matches(GBytes *cert_der, const unsigned char *rec, gsize rec_len)
{
    gsize der_len;
    const unsigned char *der = g_bytes_get_data(cert_der, &der_len);
    unsigned char *spki = NULL;
    const unsigned char *selected = der;
    int selected_len = (int)der_len;
    if (rec[1] == 1) {
        const unsigned char *p = der;
        X509 *x = d2i_X509(NULL, &p, (long)der_len);
        selected_len = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki) : -1;
        X509_free(x);
        selected = spki;
        if (selected_len <= 0)
            return FALSE;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    const unsigned char *want = rec + 3;
    gsize want_len = rec_len - 3;
    gboolean match;
    if (rec[2] == 0) {
        match = (gsize)selected_len == want_len && memcmp(selected, want, want_len) == 0;
    } else {
        EVP_Digest(selected, (size_t)selected_len, digest, &digest_len, rec[2] == 1 ? EVP_sha256() : EVP_sha512(), NULL);
        match = digest_len == want_len && memcmp(digest, want, want_len) == 0;
    }
    OPENSSL_free(spki);
    return match;
}

/* The first record a certificate of the chain matches ("3 1 1"), or NULL:
 * DANE-EE (3) the server's own certificate, DANE-TA (2) one it sent
 * after it. */
static char *tlsa_match(const HostTlsa *t, const GPtrArray *chain)
{
    for (guint i = 0; i < t->records->len; i++) {
        gsize len;
        const unsigned char *rec = g_bytes_get_data(t->records->pdata[i], &len);
        for (guint c = rec[0] == 3 ? 0 : 1; c < chain->len && (rec[0] != 3 || c == 0); c++) {
            if (cert_matches(chain->pdata[c], rec, len))
                return g_strdup_printf("%u %u %u", rec[0], rec[1], rec[2]);
        }
    }
    return NULL;
}

static void verdict(ProbeResult *r, ProbeLevel level, gboolean ok, char *why)
{
    g_free(r->why[level]);
    r->ok[level] = ok;
    r->why[level] = why;
}

static gboolean mx_in_policy(const MtastsPolicy *policy, const char *host)
{
    for (guint i = 0; i < policy->n_mx; i++)
        if (mtasts_mx_matches(policy->mx[i], host))
            return TRUE;
    return FALSE;
}

static void judge_sts(const Published *p, ProbeResult *r)
{
    if (p->sts != STS_FOUND) {
        verdict(r, PROBE_MTA_STS, FALSE, g_strdup_printf("no MTA-STS policy: %s", p->sts_note));
        return;
    }
    const char *mode = mtasts_mode_name(p->policy.mode);
    if (p->policy.mode == MTASTS_MODE_NONE) {
        verdict(r, PROBE_MTA_STS, FALSE, g_strdup("policy mode none: nothing is enforced"));
        return;
    }
    const char *why = !mx_in_policy(&p->policy, r->host) ? "the MX name is not in the policy's mx patterns"
                      : !r->ok[PROBE_ENCRYPT]              ? r->why[PROBE_ENCRYPT]
                      : !r->chain_ok                       ? (r->chain_error ? r->chain_error : "certificate not trusted")
                      : !r->matches_mx                     ? "certificate does not name the MX host"
                                                           : NULL;
    verdict(r, PROBE_MTA_STS, why == NULL,
            g_strdup_printf("policy %s: %s", mode, why ? why : "MX in the patterns, trusted certificate names it"));
}

char *published_judge(const Published *p, const HostTlsa *t, ProbeResult *r)
{
    judge_sts(p, r);
    g_autofree char *matched = t && r->tls ? tlsa_match(t, r->chain) : NULL;
    if (!t || p->mx_trust != DNS_SECURE) {
        const char *why = p->mx_trust == DNS_INSECURE ? "MX records not DNSSEC-signed" : "MX lookup not secure";
        verdict(r, PROBE_DANE_ONLY, FALSE, g_strdup_printf("no DANE: %s", why));
        verdict(r, PROBE_DANE, r->ok[PROBE_ENCRYPT],
                g_strdup_printf("no DANE (%s): at least encrypt: %s", why, r->why[PROBE_ENCRYPT]));
        return g_strdup(why);
    }
    if (t->trust == DNS_BOGUS || t->trust == DNS_FAILED) {
        char *why = g_strdup_printf("TLSA lookup %s: Postfix does not deliver to this server", dns_trust_name(t->trust));
        verdict(r, PROBE_DANE_ONLY, FALSE, g_strdup(why));
        verdict(r, PROBE_DANE, FALSE, g_strdup(why));
        return why;
    }
    if (t->records->len == 0) {
        verdict(r, PROBE_DANE_ONLY, FALSE, g_strdup("no TLSA records (DNSSEC secure)"));
        verdict(r, PROBE_DANE, r->ok[PROBE_ENCRYPT],
                g_strdup_printf("no TLSA records: at least encrypt: %s", r->why[PROBE_ENCRYPT]));
        return g_strdup("no TLSA records (DNSSEC secure)");
    }
    gboolean ok = matched && r->ok[PROBE_ENCRYPT];
    char *why = matched ? g_strdup_printf("TLSA %s matches the certificate", matched)
                        : g_strdup(r->tls ? "no TLSA record matches the certificate" : "no TLS session");
    verdict(r, PROBE_DANE_ONLY, ok, g_strdup(ok ? why : !matched ? why : r->why[PROBE_ENCRYPT]));
    verdict(r, PROBE_DANE, ok, g_strdup(ok ? why : !matched ? why : r->why[PROBE_ENCRYPT]));
    char *line = g_strdup_printf("%u usable record%s, DNSSEC secure; %s", t->records->len,
                                 t->records->len == 1 ? "" : "s", why);
    g_free(why);
    return line;
}

char *published_sts_summary(const Published *p)
{
    if (p->sts != STS_FOUND)
        return g_strdup(p->sts_note);
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "%s, mx", mtasts_mode_name(p->policy.mode));
    for (guint i = 0; i < p->policy.n_mx; i++)
        g_string_append_printf(s, " %s", p->policy.mx[i]);
    g_string_append_printf(s, ", max_age %u, %s", p->policy.max_age, p->sts_note);
    return g_string_free(s, FALSE);
}

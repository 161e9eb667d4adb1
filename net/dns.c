/*
 * dns.c - libunbound context and answer readers; see dns.h.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <string.h>

G_DEFINE_QUARK(tlspolicyd-dns-error-quark, dns_error)

static gboolean ub_ok(int err, const char *what, GError **error)
{
    if (err == 0)
        return TRUE;
    g_set_error(error, DNS_ERROR, err, "%s: %s", what, ub_strerror(err));
    return FALSE;
}

struct ub_ctx *dns_context_new(const char *resolver, const char *trust_anchor, gboolean threaded, GError **error)
{
    struct ub_ctx *ctx = ub_ctx_create();
    if (!ctx) {
        g_set_error(error, DNS_ERROR, 0, "cannot create a DNS resolver context");
        return NULL;
    }
    gboolean ok = ub_ok(ub_ctx_async(ctx, threaded), "threaded resolver", error);
    if (ok && !*resolver)
        ok = ub_ok(ub_ctx_resolvconf(ctx, NULL), "reading /etc/resolv.conf", error);
    if (ok && *resolver) {
        g_auto(GStrv) addrs = g_strsplit_set(resolver, " ,", -1);
        for (char **a = addrs; ok && *a; a++) {
            if (**a)
                ok = ub_ok(ub_ctx_set_fwd(ctx, *a), *a, error);
        }
    }
    if (ok && *trust_anchor) {
        int err = ub_ctx_add_ta_file(ctx, trust_anchor);
        if (err)
            g_set_error(error, DNS_ERROR, err, "trust anchor %s: %s", trust_anchor, ub_strerror(err));
        ok = err == 0;
    }
    if (!ok) {
        ub_ctx_delete(ctx);
        return NULL;
    }
    return ctx;
}

gboolean dns_name_is_hostname(const char *name)
{
    size_t len = strlen(name), label = 0;
    if (len == 0 || len > 253)
        return FALSE;
    for (const char *p = name; *p; p++) {
        if (*p == '.') {
            if (label == 0)
                return FALSE;
            label = 0;
            continue;
        }
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
            return FALSE;
        if (++label > 63)
            return FALSE;
    }
    return label > 0;
}

DnsTrust dns_trust(int err, const struct ub_result *r)
{
    if (err || !r)
        return DNS_FAILED;
    if (r->bogus)
        return DNS_BOGUS;
    /* NOERROR and NXDOMAIN are answers; anything else (SERVFAIL, REFUSED) is not */
    if (r->rcode != 0 && r->rcode != 3)
        return DNS_FAILED;
    return r->secure ? DNS_SECURE : DNS_INSECURE;
}

const char *dns_trust_name(DnsTrust trust)
{
    static const char *const names[] = {"secure", "insecure", "bogus", "failed"};
    return names[trust];
}

/* A wire-format name at data[*at..len) as text; FALSE when malformed
 * (answers carry no compression pointers in libunbound's rdata) or when
 * a label holds a NUL or a dot, which the text form cannot say: a name
 * cut at the NUL, or one with a label split in two, would be another
 * name than the zone published (found by fuzz/fuzz_dns.c). */
static gboolean wire_name(const unsigned char *data, int len, int at, GString *out)
{
    g_string_truncate(out, 0);
    while (at < len) {
        int label = data[at++];
        if (label == 0)
            return TRUE;
        if (label > 63 || at + label > len)
            return FALSE;
        if (out->len)
            g_string_append_c(out, '.');
        for (int i = 0; i < label; i++) {
            if (data[at + i] == 0 || data[at + i] == '.')
                return FALSE;
            g_string_append_c(out, g_ascii_tolower((char)data[at + i]));
        }
        at += label;
    }
    return FALSE;
}

GArray *dns_mx_records(const struct ub_result *r)
{
    GArray *mx = g_array_new(FALSE, FALSE, sizeof(DnsMx));
    g_autoptr(GString) name = g_string_new(NULL);
    for (int i = 0; r->havedata && r->data[i]; i++) {
        const unsigned char *d = (const unsigned char *)r->data[i];
        if (r->len[i] < 3 || !wire_name(d, r->len[i], 2, name))
            continue;
        DnsMx m = {.preference = (guint16)(d[0] << 8 | d[1]), .host = g_strdup(name->len ? name->str : ".")};
        g_array_append_val(mx, m);
    }
    return mx;
}

void dns_mx_free(GArray *records)
{
    if (!records)
        return;
    for (guint i = 0; i < records->len; i++)
        g_free(g_array_index(records, DnsMx, i).host);
    g_array_unref(records);
}

static gint by_preference(gconstpointer a, gconstpointer b)
{
    return (gint)((const DnsMx *)a)->preference - (gint)((const DnsMx *)b)->preference;
}

char **dns_mx_hosts(const struct ub_result *r)
{
    GArray *mx = dns_mx_records(r);
    g_array_sort(mx, by_preference);
    char **hosts = g_new0(char *, mx->len + 1);
    for (guint i = 0; i < mx->len; i++)
        hosts[i] = g_array_index(mx, DnsMx, i).host;  /* moved */
    g_array_unref(mx);
    return hosts;
}

gboolean dns_tlsa_usable(const unsigned char *d, int len)
{
    if (len < 4 || (d[0] != 2 && d[0] != 3) || d[1] > 1)
        return FALSE;
    /* a digest of another length can never match: a malformed record
     * (RFC 7671 5.1), not one to route dane-only on */
    switch (d[2]) {
    case 0:
        return TRUE;        /* the whole certificate or key */
    case 1:
        return len == 3 + 32;  /* SHA2-256 */
    case 2:
        return len == 3 + 64;  /* SHA2-512 */
    default:
        return FALSE;
    }
}

guint dns_usable_tlsa(const struct ub_result *r)
{
    guint n = 0;
    for (int i = 0; r->havedata && r->data[i]; i++)
        n += dns_tlsa_usable((const unsigned char *)r->data[i], r->len[i]);
    return n;
}

char *dns_tlsa_text(const unsigned char *rdata, int len)
{
    GString *s = g_string_sized_new(16 + 2 * (gsize)len);
    g_string_printf(s, "%u %u %u ", rdata[0], rdata[1], rdata[2]);
    for (int i = 3; i < len; i++)
        g_string_append_printf(s, "%02X", rdata[i]);
    return g_string_free(s, FALSE);
}

gboolean dns_secure_expansion(int err, const struct ub_result *r, const char *host, char *out, size_t size)
{
    if (dns_trust(err, r) != DNS_SECURE || !r->canonname || strlen(r->canonname) >= size)
        return FALSE;
    size_t len = strlen(r->canonname);
    for (size_t i = 0; i < len; i++)
        out[i] = g_ascii_tolower(r->canonname[i]);
    out[len] = 0;
    if (len && out[len - 1] == '.')
        out[len - 1] = 0;
    return dns_name_is_hostname(out) && g_ascii_strcasecmp(out, host) != 0;
}

char **dns_txt_strings(const struct ub_result *r)
{
    GPtrArray *out = g_ptr_array_new();
    for (int i = 0; r->havedata && r->data[i]; i++) {
        const unsigned char *d = (const unsigned char *)r->data[i];
        GString *s = g_string_new(NULL);
        for (int at = 0; at < r->len[i];) {
            int n = d[at++];
            if (at + n > r->len[i])
                break;
            g_string_append_len(s, (const char *)d + at, n);
            at += n;
        }
        g_ptr_array_add(out, g_string_free(s, FALSE));
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

gboolean dns_address_is_public(const char *dotted_quad)
{
    static const struct {
        guint32 net;
        int bits;
    } special[] = {
        {0x00000000, 8},  {0x0a000000, 8},  {0x64400000, 10}, {0x7f000000, 8},  {0xa9fe0000, 16},
        {0xac100000, 12}, {0xc0000000, 24}, {0xc0000200, 24}, {0xc0a80000, 16}, {0xc6120000, 15},
        {0xc6336400, 24}, {0xcb007100, 24}, {0xe0000000, 4},  {0xf0000000, 4},
    };
    struct in_addr in;
    if (inet_pton(AF_INET, dotted_quad, &in) != 1)
        return FALSE;
    guint32 a = ntohl(in.s_addr);
    for (guint i = 0; i < G_N_ELEMENTS(special); i++) {
        guint32 mask = 0xffffffffu << (32 - special[i].bits);
        if ((a & mask) == special[i].net)
            return FALSE;
    }
    return TRUE;
}

char **dns_addresses(const struct ub_result *r)
{
    GPtrArray *out = g_ptr_array_new();
    for (int i = 0; r->havedata && r->data[i]; i++) {
        char text[INET_ADDRSTRLEN];
        if (r->len[i] == 4 && inet_ntop(AF_INET, r->data[i], text, sizeof text))
            g_ptr_array_add(out, g_strdup(text));
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

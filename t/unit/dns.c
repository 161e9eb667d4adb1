/* dns.c - the DNS answer readers' pure rules (net/dns.c): which TLSA
 * records are usable for SMTP, which names are ever sent to DNS, how an
 * MX record's exchange is read, and which addresses are public. */
#include <string.h>

#include "dns.h"

static void test_tlsa_usable(void)
{
    static const struct {
        const char *name;
        guint8 usage, selector, matching;
        int digest_len;
        gboolean want;
    } rows[] = {
        {"DANE-EE SPKI SHA2-256", 3, 1, 1, 32, TRUE},
        {"DANE-TA cert SHA2-512", 2, 0, 2, 64, TRUE},
        {"DANE-EE full key", 3, 1, 0, 91, TRUE},
        {"PKIX-EE is not for SMTP", 1, 1, 1, 32, FALSE},
        {"PKIX-TA is not for SMTP", 0, 0, 1, 32, FALSE},
        {"unknown selector", 3, 2, 1, 32, FALSE},
        {"unknown matching type", 3, 1, 3, 32, FALSE},
        {"SHA2-256 digest one byte short", 3, 1, 1, 31, FALSE},
        {"SHA2-256 digest one byte long", 3, 1, 1, 33, FALSE},
        {"SHA2-512 digest of SHA2-256 length", 3, 1, 2, 32, FALSE},
        {"full key, empty", 3, 1, 0, 0, FALSE},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        unsigned char rdata[3 + 128];
        rdata[0] = rows[i].usage;
        rdata[1] = rows[i].selector;
        rdata[2] = rows[i].matching;
        memset(rdata + 3, 0xab, rows[i].digest_len);
        if (dns_tlsa_usable(rdata, 3 + rows[i].digest_len) != rows[i].want)
            g_error("case %s: want %s", rows[i].name, rows[i].want ? "usable" : "not usable");
    }
}

static void test_name_is_hostname(void)
{
    static const struct {
        const char *name, *input;
        gboolean want;
    } rows[] = {
        {"a domain", "example.com", TRUE},
        {"a service label", "_25._tcp.mx.example.com", TRUE},
        {"one label", "localhost", TRUE},
        {"empty", "", FALSE},
        {"an empty label", "a..example", FALSE},
        {"a leading dot", ".example.com", FALSE},
        {"a trailing dot", "example.com.", FALSE},
        {"a space", "exa mple.com", FALSE},
        {"a control byte", "exa\033mple.com", FALSE},
        {"a 64-byte label", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com", FALSE},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        if (dns_name_is_hostname(rows[i].input) != rows[i].want)
            g_error("case %s: want %s", rows[i].name, rows[i].want ? "a host name" : "not a host name");
    }
}

/* MX RDATA: the preference, then the exchange in wire format */
static void test_mx_names(void)
{
    static const struct {
        const char *name;
        const char *rdata;
        int len;
        const char *want;  /* the host read, or NULL: the record is skipped */
    } rows[] = {
#define R(literal) literal, sizeof literal - 1
        {"a host, folded to lower case", R("\0\12\2MX\7Example\3com\0"), "mx.example.com"},
        {"the root: a null MX", R("\0\0\0"), "."},
        {"a label with a NUL would be cut short", R("\0\12\4ev\0l\7example\0"), NULL},
        {"a label with a dot would be two labels", R("\0\12\3a.b\7example\0"), NULL},
        {"a label longer than the data", R("\0\12\11short\0"), NULL},
        {"no terminating root label", R("\0\12\2mx"), NULL},
#undef R
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        char *data[] = {(char *)rows[i].rdata, NULL};
        int len[] = {rows[i].len, 0};
        struct ub_result r = {.data = data, .len = len, .havedata = 1};
        GArray *mx = dns_mx_records(&r);
        const char *got = mx->len ? g_array_index(mx, DnsMx, 0).host : NULL;
        if (g_strcmp0(got, rows[i].want) != 0)
            g_error("case %s: got %s, want %s", rows[i].name, got ? got : "(skipped)", rows[i].want ? rows[i].want : "(skipped)");
        dns_mx_free(mx);
    }
}

/* Where a policy fetch may go without mta_sts_private_hosts. */
static void test_address_is_public(void)
{
    static const struct {
        const char *input;
        gboolean want;
    } rows[] = {
        {"8.8.8.8", TRUE},          {"93.184.216.34", TRUE}, {"127.0.0.1", FALSE},   {"127.255.255.255", FALSE},
        {"10.1.2.3", FALSE},        {"172.16.0.1", FALSE},   {"172.31.255.255", FALSE}, {"172.32.0.1", TRUE},
        {"192.168.1.1", FALSE},     {"100.64.0.1", FALSE},   {"100.128.0.1", TRUE},  {"169.254.169.254", FALSE},
        {"0.0.0.0", FALSE},         {"192.0.2.10", FALSE},   {"198.51.100.1", FALSE}, {"203.0.113.9", FALSE},
        {"198.18.0.1", FALSE},      {"224.0.0.1", FALSE},    {"255.255.255.255", FALSE}, {"not an address", FALSE},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        if (dns_address_is_public(rows[i].input) != rows[i].want)
            g_error("case %s: want %s", rows[i].input, rows[i].want ? "public" : "not public");
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dns/tlsa_usable", test_tlsa_usable);
    g_test_add_func("/dns/name_is_hostname", test_name_is_hostname);
    g_test_add_func("/dns/mx_names", test_mx_names);
    g_test_add_func("/dns/address_is_public", test_address_is_public);
    return g_test_run();
}

/* tlsrules.c - unit tests of the shared TLS rules (maps/tlsrules.c). */
#include <string.h>

#include "tlsrules.h"

static void test_protocol_rank(void)
{
    static const struct {
        const char *name;
        int want;
    } rows[] = {
        {"TLSv1", PROTO_TLSV1},     {"TLSv1.1", PROTO_TLSV1_1}, {"TLSv1.2", PROTO_TLSV1_2},
        {"TLSv1.3", PROTO_TLSV1_3}, {"TLSv1.4", PROTO_TLSV1_3 + 1}, {"TLSv1.10", PROTO_TLSV1_3 + 1},
        {"SSLv3", 0},               {"", 0},                    {"TLSv1.x", 0},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("row %s", rows[i].name);
        g_assert_cmpint(tls_protocol_rank(rows[i].name), ==, rows[i].want);
    }
}

static void test_excluded_cipher(void)
{
    static const struct {
        const char *name, *cipher, *excluded, *want;
    } rows[] = {
        {"3DES by CBC3", "DES-CBC3-SHA", "3DES", "3DES"},
        {"DES", "DES-CBC-SHA", "DES", "DES"},
        {"DES is not in AES", "AES128-SHA", "DES:3DES", NULL},
        {"TLS 1.3 suite clean", "TLS_AES_128_GCM_SHA256", TLS_DEFAULT_EXCLUDED_CIPHERS, NULL},
        {"any case", "ECDHE-RSA-RC4-SHA", "rc4", "rc4"},
        /* the first component that matches names the reason, whatever the list order */
        {"first component", "EXP-DES-CBC3-SHA", "3DES:EXPORT", "EXPORT"},
        {"empty names", "DES-CBC3-SHA", ":3DES::", "3DES"},
        {"3DES by EDE", "EDH-RSA-DES-EDE-CBC-SHA", "3DES", "3DES"},
    };
    char found[32];
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("row %s", rows[i].name);
        g_assert_cmpstr(tls_excluded_cipher(rows[i].cipher, rows[i].excluded, found, sizeof found), ==, rows[i].want);
    }
    /* a long list (past the stack room for names) still counts every name */
    g_autoptr(GString) many = g_string_new(NULL);
    for (int i = 0; i < 40; i++)
        g_string_append_printf(many, "X%d:", i);
    g_string_append(many, "SHA384");
    g_assert_cmpstr(tls_excluded_cipher("TLS_AES_256_GCM_SHA384", many->str, found, sizeof found), ==, "SHA384");
}

static void test_level_satisfies(void)
{
    /* have (row) satisfies want (column): encrypt verify secure dane dane-only */
    static const struct {
        TlsLevel have;
        const char *want;
    } rows[] = {
        {LEVEL_ENCRYPT, "10000"}, {LEVEL_VERIFY, "11000"}, {LEVEL_SECURE, "11100"},
        {LEVEL_DANE, "00010"},    {LEVEL_DANE_ONLY, "10011"}, {LEVEL_NONE, "00000"},
    };
    static const TlsLevel wants[] = {LEVEL_ENCRYPT, LEVEL_VERIFY, LEVEL_SECURE, LEVEL_DANE, LEVEL_DANE_ONLY};
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        for (guint w = 0; w < G_N_ELEMENTS(wants); w++) {
            g_test_message("%s meets %s", entry_level_name(rows[i].have), entry_level_name(wants[w]));
            g_assert_cmpint(tls_level_satisfies(rows[i].have, wants[w]), ==, rows[i].want[w] == '1');
        }
    }
}

static void test_probe_level(void)
{
    static const struct {
        TlsLevel level;
        const char *want;
    } rows[] = {
        {LEVEL_ENCRYPT, "encrypt"}, {LEVEL_VERIFY, "verify"},     {LEVEL_SECURE, "secure"},
        {LEVEL_DANE, "dane"},       {LEVEL_DANE_ONLY, "dane-only"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++)
        g_assert_cmpstr(tls_probe_level(rows[i].level), ==, rows[i].want);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tlsrules/protocol_rank", test_protocol_rank);
    g_test_add_func("/tlsrules/excluded_cipher", test_excluded_cipher);
    g_test_add_func("/tlsrules/level_satisfies", test_level_satisfies);
    g_test_add_func("/tlsrules/probe_level", test_probe_level);
    return g_test_run();
}

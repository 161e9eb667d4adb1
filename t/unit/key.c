/* key.c - unit tests of key normalization (maps/key.c), table-driven. */
#include <string.h>

#include "key.h"

typedef struct {
    const char *name, *input;
    const char *want;    /* normalized key, or NULL when rejected */
    KeyKind kind;
} KeyCase;

static const KeyCase list_cases[] = {
    {"domain", "Example.COM", "example.com", KEY_DOMAIN},
    {"trailing dot", "example.com.", "example.com", KEY_DOMAIN},
    {"parent", ".Example.com", ".example.com", KEY_PARENT},
    {"tld parent", ".com", ".com", KEY_PARENT},
    {"address", "User@Example.com", "user@example.com", KEY_ADDRESS},
    {"address with extension", "user+tag@example.com", "user+tag@example.com", KEY_ADDRESS},
    {"idn domain", "B\xc3\xbc" "cher.de", "xn--bcher-kva.de", KEY_DOMAIN},
    {"idn upper case", "B\xc3\x9c" "CHER.DE", "xn--bcher-kva.de", KEY_DOMAIN},
    {"idn parent", ".b\xc3\xbc" "cher.de", ".xn--bcher-kva.de", KEY_PARENT},
    {"idn address", "J\xc3\xb6rg@B\xc3\xbc" "cher.de", "j\xc3\xb6rg@xn--bcher-kva.de", KEY_ADDRESS},
    {"underscore label", "_mta.example.com", "_mta.example.com", KEY_DOMAIN},
    {"single label", "localhost", NULL, 0},
    {"empty label", "bad..example", NULL, 0},
    {"leading hyphen", "-bad.example", NULL, 0},
    {"trailing hyphen", "bad-.example", NULL, 0},
    {"label too long", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", NULL, 0},
    {"bad character", "exa$mple.com", NULL, 0},
    {"empty local part", "@example.com", NULL, 0},
    {"empty domain", "user@", NULL, 0},
    {"bare dot", ".", NULL, 0},
    {"invalid utf-8", "b\xff.de", NULL, 0},
    {"address literal", "user@[192.0.2.1]", "user@[192.0.2.1]", KEY_ADDRESS},
    {"ipv6 literal domain", "[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]", KEY_DOMAIN},
    {"bare IP address", "user@192.0.2.1", NULL, 0},
    {"literal as a parent", ".[192.0.2.1]", NULL, 0},
    {"quoted local part", "\"Joe\"@example.com", "joe@example.com", KEY_ADDRESS},
    {"quoted with an escaped quote", "\"a\\\"b\"@example.com", "a\"b@example.com", KEY_ADDRESS},
};

static void test_key_from_list(void)
{
    for (guint i = 0; i < G_N_ELEMENTS(list_cases); i++) {
        const KeyCase *c = &list_cases[i];
        char out[KEY_MAX + 1];
        KeyKind kind = KEY_DOMAIN;
        const char *why = NULL;
        size_t len = 0;
        gboolean ok = key_from_list(c->input, out, &len, &kind, &why);
        g_test_message("case %s", c->name);
        if (!c->want) {
            g_assert_false(ok);
            g_assert_nonnull(why);
            continue;
        }
        g_assert_true(ok);
        g_assert_cmpstr(out, ==, c->want);
        g_assert_cmpuint(len, ==, strlen(c->want));
        g_assert_cmpint(kind, ==, c->kind);
    }
}

static void test_key_fold_query(void)
{
    static const struct {
        const char *name, *domain, *want_domain, *local, *want_local;
    } cases[] = {
        {"lower case", "EXAMPLE.COM", "example.com", "USER", "user"},
        {"domain dot", "example.com.", "example.com", "a", "a"},
        {"idn", "B\xc3\x9c" "CHER.de", "xn--bcher-kva.de", "\xc3\x9c" "ser", "\xc3\xbc" "ser"},
        {"empty domain", "", NULL, "", ""},
        {"only dots", "..", NULL, "\"quoted a\"", "\"quoted a\""},
        {"bad utf-8", "b\xff" "d.example", NULL, "b\xff" "d", NULL},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        char out[KEY_MAX + 1];
        g_autofree char *heap = NULL;
        g_test_message("case %s", cases[i].name);
        const char *got = key_fold_domain(cases[i].domain, out, sizeof out, &heap);
        g_assert_cmpstr(got, ==, cases[i].want_domain);
        gboolean ok = key_fold_local(cases[i].local, strlen(cases[i].local), out, sizeof out);
        g_assert_cmpint(ok, ==, cases[i].want_local != NULL);
        if (ok)
            g_assert_cmpstr(out, ==, cases[i].want_local);
    }
    /* longer than the buffer: the domain goes to the heap (its parents may
     * be listed), the local part is refused */
    g_autofree char *label = g_strnfill(400, 'a');
    g_autofree char *long_domain = g_strconcat(label, ".Example.COM", NULL);
    char out[KEY_MAX + 1];
    g_autofree char *heap = NULL;
    const char *got = key_fold_domain(long_domain, out, sizeof out, &heap);
    g_assert_true(got == heap && g_str_has_suffix(got, "a.example.com") && strlen(got) == 412);
    g_autofree char *long_local = g_strnfill(KEY_MAX + 1, 'a');
    g_assert_false(key_fold_local(long_local, strlen(long_local), out, sizeof out));
}

static void test_name_in_domain(void)
{
    static const struct {
        const char *name, *domain;
        gboolean want;
    } rows[] = {
        {"example.com", "example.com", TRUE},       {"MX.Example.COM", "example.com", TRUE},
        {"a.b.example.com", "example.com", TRUE},   {"badexample.com", "example.com", FALSE},
        {"example.com", "mx.example.com", FALSE},   {"com", "example.com", FALSE},
        {"example.com.evil", "example.com", FALSE}, {"x", "", FALSE},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("case %s in %s", rows[i].name, rows[i].domain);
        g_assert_cmpint(key_name_in_domain(rows[i].name, rows[i].domain), ==, rows[i].want);
    }
}

static void test_key_domain(void)
{
    static const struct {
        const char *key, *want;
    } rows[] = {
        {"user@example.com", "example.com"}, {"a@b@example.com", "example.com"},
        {".example.com", "example.com"},     {"example.com", "example.com"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++)
        g_assert_cmpstr(key_domain(rows[i].key), ==, rows[i].want);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/key/name_in_domain", test_name_in_domain);
    g_test_add_func("/key/from_list", test_key_from_list);
    g_test_add_func("/key/fold_query", test_key_fold_query);
    g_test_add_func("/key/domain", test_key_domain);
    return g_test_run();
}

/* source.c - unit tests of the list file parser (maps/source.c). */
#include <string.h>

#include "source.h"

static const char nul_input[] = "a.example encrypt\nb.ex\0ample encrypt\n";

typedef struct {
    const char *name, *input;
    guint records;       /* records wanted when want_error is NULL */
    const char *want;    /* "key=level attrs" of the first record, or NULL */
    const char *want_error;  /* substring of the first error */
} ParseCase;

static const ParseCase cases[] = {
    {"empty", "", 0, NULL, NULL},
    {"comments and blanks", "# c\n\n   \n  # indented comment\n", 0, NULL, NULL},
    {"one domain", "example.com encrypt\n", 1, "example.com=encrypt", NULL},
    {"no final newline", "example.com verify", 1, "example.com=verify", NULL},
    {"crlf", "example.com verify\r\n", 1, "example.com=verify", NULL},
    {"comma keys", "b.example,a.example encrypt\n", 2, "a.example=encrypt", NULL},
    {"comma space keys", "b.example, a.example  c.example encrypt\n", 3, "a.example=encrypt", NULL},
    {"level case", "a.example ENCRYPT\n", 1, "a.example=encrypt", NULL},
    {"may", "a.example may\n", 1, "a.example=may", NULL},
    {"all attributes inbound",
     "a.example secure direction=inbound min_protocol=TLSv1.3 exclude_ciphers=3DES:RC4 "
     "client_cert=required mode=report notice=\"Use TLS, \\\"please\\\"\"\n",
     1, "a.example=secure direction=inbound min_protocol=TLSv1.3 exclude_ciphers=3DES:RC4 "
        "client_cert=required mode=report notice=\"Use TLS, \\\"please\\\"\"", NULL},
    {"outbound attributes", "a.example dane-only direction=outbound on_failure=bounce transport=smtp-x\n",
     1, "a.example=dane-only direction=outbound on_failure=bounce transport=smtp-x", NULL},
    {"continuation", "a.example encrypt\n  direction=inbound\n\tmin_protocol=TLSv1.2\n", 1,
     "a.example=encrypt direction=inbound min_protocol=TLSv1.2", NULL},
    {"continued keys", "a.example,\n  b.example verify\n", 2, "a.example=verify", NULL},
    {"idn key", "b\xc3\xbc" "cher.de encrypt\n", 1, "xn--bcher-kva.de=encrypt", NULL},
    {"unknown level", "a.example, b.example verfy\n", 0, NULL, "line 1: unknown TLS level \"verfy\""},
    {"missing level", "a.example\n", 0, NULL, "line 1: missing TLS level"},
    {"missing key", "encrypt\n", 0, NULL, "line 1: missing key"},
    {"unknown attribute", "a.example encrypt color=red\n", 0, NULL, "line 1: unknown attribute: color=red"},
    {"bad direction", "a.example encrypt direction=sideways\n", 0, NULL, "direction must be"},
    {"bad protocol", "a.example encrypt min_protocol=SSLv3\n", 0, NULL, "min_protocol must be"},
    {"bad ciphers", "a.example encrypt exclude_ciphers=3DES;RC4\n", 0, NULL, "exclude_ciphers must be"},
    {"bad mode", "a.example encrypt mode=maybe\n", 0, NULL, "mode must be"},
    {"bad on_failure", "a.example encrypt on_failure=panic\n", 0, NULL, "on_failure must be"},
    {"bad client_cert", "a.example encrypt client_cert=yes\n", 0, NULL, "client_cert must be"},
    {"bad transport", "a.example encrypt transport=smtp:[x]\n", 0, NULL, "transport must be"},
    {"empty notice", "a.example encrypt notice=\"\"\n", 0, NULL, "notice must be"},
    {"unterminated quote", "a.example encrypt notice=\"abc\n", 0, NULL, "unterminated quoted value"},
    {"text after quote", "a.example encrypt notice=\"abc\"def\n", 0, NULL, "text after the closing quote"},
    {"attribute twice", "a.example encrypt mode=report mode=enforce\n", 0, NULL, "attribute mode given twice"},
    {"not an attribute", "a.example encrypt inbound\n", 0, NULL, "expected attribute=value"},
    {"exemption with attribute", "a.example none min_protocol=TLSv1.2\n", 0, NULL, "exemption"},
    {"inbound attr on outbound", "a.example encrypt direction=outbound notice=\"x\"\n", 0, NULL,
     "direction=outbound"},
    {"outbound attr on inbound", "a.example encrypt direction=inbound on_failure=bounce\n", 0, NULL,
     "direction=inbound"},
    {"invalid domain", "a..example encrypt\n", 0, NULL, "line 1: invalid domain name: \"a..example\""},
    {"lonely continuation", "  a.example encrypt\n", 0, NULL, "line 1: continuation line"},
    {"nul byte", nul_input, 0, NULL, "line 2: NUL byte"},
    {"duplicate", "a.example encrypt\n\nA.example. verify\n", 0, NULL,
     "line 3: duplicate key \"a.example\" (first defined at line 1)"},
};

/* Parse text as "test.list"; the errors into errors. */
static List *parse(const char *text, size_t len, GPtrArray *errors, gboolean *ok)
{
    List *list = list_new("test.list");
    *ok = source_parse(list, text, len, errors);
    return list;
}

static void test_parse(void)
{
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const ParseCase *c = &cases[i];
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        size_t len = c->input == nul_input ? sizeof nul_input - 1 : strlen(c->input);
        gboolean ok;
        g_test_message("case %s", c->name);
        g_autoptr(List) list = parse(c->input, len, errors, &ok);
        g_assert_cmpint(ok, ==, errors->len == 0);
        if (c->want_error) {
            g_assert_false(ok);
            const char *first = errors->pdata[0];
            g_assert_true(g_str_has_prefix(first, "test.list, line ") || g_str_has_prefix(first, "test.list:"));
            if (!strstr(first, c->want_error))
                g_error("case %s: error \"%s\" lacks \"%s\"", c->name, first, c->want_error);
            continue;
        }
        if (!ok)
            g_error("case %s: unexpected error %s", c->name, (char *)errors->pdata[0]);
        g_assert_cmpuint(list->records->len, ==, c->records);
        if (c->want) {
            const ListRecord *rec = &g_array_index(list->records, ListRecord, 0);
            g_autoptr(GString) got = g_string_new(rec->key);
            g_string_append_c(got, '=');
            entry_format(&rec->value->entry, got);
            g_assert_cmpstr(got->str, ==, c->want);
        }
    }
}

static void test_errors_are_all_reported(void)
{
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    const char *text = "a.example bogus\nb.example encrypt\nc.example encrypt mode=x\n";
    gboolean ok;
    g_autoptr(List) list = parse(text, strlen(text), errors, &ok);
    g_assert_false(ok);
    g_assert_cmpuint(errors->len, ==, 2);
    g_assert_cmpuint(list->records->len, ==, 1);
}

static void test_error_cap(void)
{
    g_autoptr(GString) text = g_string_new(NULL);
    for (int i = 0; i < 200; i++)
        g_string_append(text, "bad\n");
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    gboolean ok;
    g_autoptr(List) list = parse(text->str, text->len, errors, &ok);
    g_assert_false(ok);
    g_assert_cmpuint(errors->len, ==, SOURCE_MAX_ERRORS + 1);
    g_assert_nonnull(strstr(errors->pdata[SOURCE_MAX_ERRORS], "too many errors"));
}

static void test_sorted_and_shared(void)
{
    const char *text = "c.example encrypt\nuser@b.example encrypt\n.a.example encrypt\nb.example verify\n";
    gboolean ok;
    g_autoptr(List) list = parse(text, strlen(text), NULL, &ok);
    g_assert_true(ok);
    const char *want[] = {".a.example", "b.example", "c.example", "user@b.example"};
    for (guint i = 0; i < 4; i++)
        g_assert_cmpstr(g_array_index(list->records, ListRecord, i).key, ==, want[i]);
    /* identical entries are stored once */
    g_assert_true(g_array_index(list->records, ListRecord, 0).value
                  == g_array_index(list->records, ListRecord, 2).value);
    g_assert_cmpuint(g_hash_table_size(list->entries), ==, 2);
}

static void test_entry_roundtrip(void)
{
    Entry e = {.level = LEVEL_SECURE, .direction = DIRECTION_INBOUND, .min_protocol = PROTO_TLSV1_3,
               .client_cert_required = TRUE, .mode = MODE_REPORT, .exclude_ciphers = "RC4",
               .notice = "n\xc3\xb6tice"};
    uint8_t buf[ENTRY_MAX_ENCODED];
    Entry back;
    size_t len = entry_encode(&e, buf);
    g_assert_true(entry_decode(buf, len, &back));
    g_assert_true(entry_equal(&e, &back));
    g_assert_false(entry_decode(buf, len - 1, &back));
    buf[0] = 99;
    g_assert_false(entry_decode(buf, len, &back));
}

/* A long list: errors keep their line numbers across continuation lines
 * and comments, a duplicate far from its first line names both, entries
 * repeated far apart are shared. */
static void test_long_list(void)
{
    g_autoptr(GString) text = g_string_new(NULL);
    for (guint line = 1; line <= 3000; line++) {
        if (line == 10 || line == 2500)
            g_string_append(text, "bad.example crypt\n");
        else if (line == 5 || line == 2900)
            g_string_append(text, "Twice.Example. verify\n");
        else if (line % 100 == 0)
            g_string_append_printf(text, "c%u.example,\n   d%u.example encrypt\n\tmode=report\n# note\n", line, line);
        else
            g_string_append_printf(text, "d%u.example encrypt\n", line);
    }
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    gboolean ok;
    g_autoptr(List) list = parse(text->str, text->len, errors, &ok);
    g_assert_false(ok);
    g_assert_cmpuint(errors->len, ==, 3);
    g_assert_nonnull(strstr(errors->pdata[0], "test.list, line 10: "));
    g_assert_nonnull(strstr(errors->pdata[1], "test.list, line 2572: "));  /* 2500 + 24 lines of 4 */
    g_assert_cmpstr(errors->pdata[2], ==,
                    "test.list, line 2981: duplicate key \"twice.example\" (first defined at line 5)");
    g_assert_cmpuint(list->records->len, ==, 2996 + 29);
    g_assert_cmpuint(g_hash_table_size(list->entries), ==, 3);
}

/* list_merge: one call per key in key order, each side's record or NULL. */
static void record_pair(const ListRecord *old, const ListRecord *new, gpointer data)
{
    g_string_append_printf(data, "%s:%s%s ", old ? old->key : "-", new ? new->key : "-",
                            old && new && old->value != new->value ? "*" : "");
}

static void test_merge(void)
{
    static const struct {
        const char *name, *old, *new, *want;
    } rows[] = {
        {"both empty", "", "", ""},
        {"only old", "a.example encrypt\n", "", "a.example:- "},
        {"only new", "", "a.example encrypt\n", "-:a.example "},
        {"same key", "a.example encrypt\n", "a.example verify\n", "a.example:a.example* "},
        {"interleaved", "a.example encrypt\nc.example encrypt\n", "b.example encrypt\nc.example encrypt\nd.example encrypt\n",
         "a.example:- -:b.example c.example:c.example* -:d.example "},
        {"prefix keys", "a.example encrypt\n", "a.example.com encrypt\n", "a.example:- -:a.example.com "},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        gboolean ok;
        g_autoptr(List) old = parse(rows[i].old, strlen(rows[i].old), NULL, &ok);
        g_autoptr(List) new = parse(rows[i].new, strlen(rows[i].new), NULL, &ok);
        g_autoptr(GString) got = g_string_new(NULL);
        list_merge(old->records, new->records, record_pair, got);
        g_test_message("row %s", rows[i].name);
        g_assert_cmpstr(got->str, ==, rows[i].want);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/source/parse", test_parse);
    g_test_add_func("/source/all_errors", test_errors_are_all_reported);
    g_test_add_func("/source/error_cap", test_error_cap);
    g_test_add_func("/source/sorted_and_shared", test_sorted_and_shared);
    g_test_add_func("/source/long_list", test_long_list);
    g_test_add_func("/list/merge", test_merge);
    g_test_add_func("/entry/roundtrip", test_entry_roundtrip);
    return g_test_run();
}

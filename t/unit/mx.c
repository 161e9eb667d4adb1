/* mx.c - MX ordering (probe/mx.c) with a fake random source: preference
 * order, shuffling only within one preference, null MX. */
#include <stdio.h>
#include <string.h>

#include "mx.h"

static gint32 always_lowest(gint32 lo, gint32 hi)
{
    (void)hi;
    return lo;
}

static gint32 always_highest(gint32 lo, gint32 hi)
{
    (void)lo;
    return hi - 1;
}

static GArray *records(const char *spec)  /* "10 a, 5 b, ..." */
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(MxRecord));
    g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
    for (char **p = parts; *p; p++) {
        g_strstrip(*p);
        char host[64];
        unsigned pref;
        g_assert_cmpint(sscanf(*p, "%u %63s", &pref, host), ==, 2);
        MxRecord r = {(guint16)pref, g_strdup(host)};
        g_array_append_val(a, r);
    }
    return a;
}

static char *hosts(GArray *a)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < a->len; i++)
        g_string_append_printf(s, "%s%s", i ? " " : "", g_array_index(a, MxRecord, i).host);
    return g_string_free(s, FALSE);
}

static void test_order(void)
{
    static const struct {
        const char *name, *input, *want_low, *want_high;
        MxStatus status;
    } rows[] = {
        {"by preference", "20 c, 10 a, 30 d", "a c d", "a c d", MX_FOUND},
        {"ties shuffled only among themselves", "10 a, 5 z, 10 b, 10 c, 20 y", "z b c a y", "z a b c y", MX_FOUND},
        {"single", "10 mx", "mx", "mx", MX_FOUND},
        {"null MX", "0 .", ".", ".", MX_NULL},
        {"null MX, empty name", "0 \"\"", "\"\"", "\"\"", MX_FOUND},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("case %s", rows[i].name);
        GArray *a = records(rows[i].input), *b = records(rows[i].input);
        g_assert_cmpint(mx_order(a, always_lowest), ==, rows[i].status);
        mx_order(b, always_highest);
        g_autofree char *ha = hosts(a), *hb = hosts(b);
        if (rows[i].status == MX_FOUND) {
            g_assert_cmpstr(ha, ==, rows[i].want_low);
            g_assert_cmpstr(hb, ==, rows[i].want_high);
        }
        mx_records_free(a);
        mx_records_free(b);
    }
}

static void test_shuffle_covers_all_orders(void)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (int i = 0; i < 500; i++) {
        GArray *a = records("10 a, 10 b, 10 c, 1 first");
        mx_order(a, NULL);
        char *h = hosts(a);
        g_assert_true(g_str_has_prefix(h, "first "));
        g_hash_table_add(seen, h);
        mx_records_free(a);
    }
    g_assert_cmpuint(g_hash_table_size(seen), ==, 6);  /* all 3! orders of the tie */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mx/order", test_order);
    g_test_add_func("/mx/shuffle", test_shuffle_covers_all_orders);
    return g_test_run();
}

/* topk.c - the space-saving top-K (policyd/topk.c): rows of a stream of
 * domains into K slots, and what is kept, with counts and errors. */
#include <glib.h>
#include <string.h>

#include "topk.h"

typedef struct {
    const char *name;
    guint size;
    const char *stream;  /* domains, space-separated, in order */
    const char *want;    /* top_sorted(): "domain=count/error ..." */
} TopRow;

static const TopRow rows[] = {
    {"empty", 3, "", ""},
    {"one domain", 3, "a a a", "a=3/0"},
    {"fewer than K: exact", 3, "a b a c b a", "a=3/0 b=2/0 c=1/0"},
    {"ties by name", 3, "c b a", "a=1/0 b=1/0 c=1/0"},
    /* the fourth domain replaces a smallest (count 1) and inherits it */
    {"a newcomer replaces the smallest", 2, "a a b c", "a=2/0 c=2/1"},
    {"a heavy hitter survives a flood", 2, "a a a a b c d e f", "f=5/4 a=4/0"},
    {"the replaced one comes back", 2, "a a a b c b", "a=3/0 b=3/2"},
    {"K = 1", 1, "a b b", "b=3/1"},
};

static char *sorted_text(const Top *t)
{
    g_autoptr(GPtrArray) items = top_sorted(t);
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < items->len; i++) {
        const TopItem *it = items->pdata[i];
        g_string_append_printf(out, "%s%s=%" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT, i ? " " : "", it->domain,
                               it->count, it->error);
    }
    return g_string_free(out, FALSE);
}

static void test_rows(void)
{
    for (guint r = 0; r < G_N_ELEMENTS(rows); r++) {
        Top *t = top_new(rows[r].size);
        g_auto(GStrv) names = g_strsplit(rows[r].stream, " ", -1);
        for (guint i = 0; names[i]; i++)
            if (*names[i])
                top_add(t, names[i]);
        g_autofree char *got = sorted_text(t);
        if (strcmp(got, rows[r].want) != 0)
            g_error("%s: kept \"%s\", want \"%s\"", rows[r].name, got, rows[r].want);
        top_free(t);
    }
}

/* Many domains through few slots: the index and the heap stay consistent
 * (every kept domain is found, its item's count is the heap's), and the
 * space-saving bound holds for the one heavy domain. */
static void test_churn(void)
{
    Top *t = top_new(16);
    for (guint i = 0; i < 100000; i++) {
        char name[32];
        g_snprintf(name, sizeof name, i % 3 == 0 ? "heavy.example" : "d%u.example", i % 5003);
        top_add(t, name);
    }
    g_assert_cmpuint(top_len(t), ==, 16);
    for (guint i = 0; i < top_len(t); i++)
        g_assert_true(top_contains(t, top_item(t, i)->domain));
    g_autoptr(GPtrArray) items = top_sorted(t);
    const TopItem *first = items->pdata[0];
    g_assert_cmpstr(first->domain, ==, "heavy.example");
    g_assert_cmpuint(first->count - first->error, <=, 33334);
    g_assert_cmpuint(first->count, >=, 33334);
    top_clear(t);
    g_assert_cmpuint(top_len(t), ==, 0);
    g_assert_false(top_contains(t, "heavy.example"));
    top_free(t);
}

/* Restored items (a state file) are kept once, within the size. */
static void test_restore(void)
{
    Top *t = top_new(2);
    TopItem a = {.domain = "a.example", .count = 5, .error = 1};
    g_assert_true(top_restore(t, &a));
    g_assert_false(top_restore(t, &a));
    TopItem b = {.domain = "b.example", .count = 2};
    g_assert_true(top_restore(t, &b));
    TopItem c = {.domain = "c.example", .count = 9};
    g_assert_false(top_restore(t, &c));
    top_add(t, "c.example");  /* replaces b (the smallest, 2) */
    g_autofree char *got = sorted_text(t);
    g_assert_cmpstr(got, ==, "a.example=5/1 c.example=3/2");
    top_free(t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/topk/rows", test_rows);
    g_test_add_func("/topk/churn", test_churn);
    g_test_add_func("/topk/restore", test_restore);
    return g_test_run();
}

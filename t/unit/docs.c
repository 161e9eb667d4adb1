/* docs.c - the manual knows what the code knows: every configuration
 * option is in tlspolicyd.conf(5) and the example config, every list
 * attribute in tlsmap(1).  $SRCDIR is the source tree (make check sets it). */
#include <string.h>

#include "config.h"

static char *read_source(const char *relative)
{
    g_autofree char *path = g_build_filename(g_getenv("SRCDIR"), relative, NULL);
    char *text = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return text;
}

/* Is name set in bold at the start of a man page line (".B name",
 * ".BR name = ...", ".BI name= ...")? */
static gboolean man_mentions(const char *man, const char *name)
{
    static const char *const macros[] = {"\n.B ", "\n.BR ", "\n.BI ", "\n.TQ\n.B "};
    for (guint m = 0; m < G_N_ELEMENTS(macros); m++) {
        g_autofree char *needle = g_strconcat(macros[m], name, NULL);
        for (const char *p = man; (p = strstr(p, needle)); p++) {
            char after = p[strlen(needle)];
            if (after == '\n' || after == ' ' || after == '=')
                return TRUE;
        }
    }
    return FALSE;
}

static void test_config_options_documented(void)
{
    g_autofree char *man = read_source("man/tlspolicyd.conf.5");
    g_autofree char *example = read_source("policyd/tlspolicyd.conf.example");
    for (const char *const *key = config_known_keys(); *key; key++) {
        if (!man_mentions(man, *key))
            g_error("tlspolicyd.conf(5) does not document option %s", *key);
        g_autofree char *line = g_strdup_printf("\n# %s = ", *key);
        if (!strstr(example, line))
            g_error("tlspolicyd.conf.example lacks option %s", *key);
    }
}

static void test_list_attributes_documented(void)
{
    g_autofree char *man = read_source("man/tlsmap.1");
    for (const char *const *name = entry_attribute_names; *name; name++) {
        if (!man_mentions(man, *name))
            g_error("tlsmap(1) does not document list attribute %s", *name);
    }
    for (int level = 0; level < LEVEL_COUNT; level++) {
        if (!man_mentions(man, entry_level_name(level)))
            g_error("tlsmap(1) does not document level %s", entry_level_name(level));
    }
}

static void test_checker_can_fail(void)
{
    g_assert_false(man_mentions("\n.B other_option\n", "option"));
    g_assert_false(man_mentions("text about list here\n", "list"));
    g_assert_true(man_mentions("\n.BR mode = enforce\n", "mode"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!g_getenv("SRCDIR"))
        g_error("set SRCDIR (make check does)");
    g_test_add_func("/docs/config_options", test_config_options_documented);
    g_test_add_func("/docs/list_attributes", test_list_attributes_documented);
    g_test_add_func("/docs/checker_can_fail", test_checker_can_fail);
    return g_test_run();
}

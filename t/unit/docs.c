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
        /* "every option with its default": the option table's, word for word */
        g_autofree char *line = g_strdup_printf("\n# %s = %s\n", *key, config_default(*key));
        if (!strstr(example, line))
            g_error("tlspolicyd.conf.example lacks \"# %s = %s\" (the option's default)", *key, config_default(*key));
    }
}

/* tlspolicyd.conf(5) says "Read at start only" of exactly the options
 * the table marks RESTART: the entry from its ".TP .B name" to the next
 * ".TP" (or section). */
static void test_restart_options_documented(void)
{
    g_autofree char *man = read_source("man/tlspolicyd.conf.5");
    for (const char *const *key = config_known_keys(); *key; key++) {
        g_autofree char *head = g_strdup_printf("\n.TP\n.B %s\n", *key);
        g_autofree char *paired = g_strdup_printf("\n.TQ\n.B %s\n", *key);  /* "socket_owner .TQ socket_group" */
        const char *start = strstr(man, head) ? strstr(man, head) : strstr(man, paired);
        if (!start)
            g_error("tlspolicyd.conf(5) has no entry for %s", *key);
        const char *end = start + strlen(head);
        const char *stops[] = {"\n.TP\n", "\n.SH", "\n.SS"};
        const char *stop = end + strlen(end);
        for (guint i = 0; i < G_N_ELEMENTS(stops); i++) {
            const char *at = strstr(end, stops[i]);
            if (at && at < stop)
                stop = at;
        }
        g_autofree char *entry = g_strndup(start, stop - start);
        gboolean says = strstr(entry, "Read at start only") != NULL;
        if (says != config_needs_restart(*key))
            g_error("tlspolicyd.conf(5): %s %s \"Read at start only\", but the option table marks it %s", *key,
                    says ? "says" : "does not say", config_needs_restart(*key) ? "RESTART" : "RELOAD");
    }
}

static void test_list_attributes_documented(void)
{
    g_autofree char *man = read_source("man/tlsmap.1");
    for (const char *const *name = entry_attribute_names(); *name; name++) {
        if (!man_mentions(man, *name))
            g_error("tlsmap(1) does not document list attribute %s", *name);
    }
    for (int level = 0; level < LEVEL_COUNT; level++) {
        if (!man_mentions(man, entry_level_name(level)))
            g_error("tlsmap(1) does not document level %s", entry_level_name(level));
    }
}

/* The lines of a file from the line starting with start up to the first
 * blank line (a Postfix parameter with its continuation lines). */
static char *paragraph(const char *text, const char *start)
{
    const char *p = strstr(text, start);
    g_assert_nonnull(p);
    const char *end = strstr(p, "\n\n");
    const char *ee = strstr(p, "\n.EE");
    if (!end || (ee && ee < end))
        end = ee;
    return g_strndup(p, end ? (gsize)(end - p) : strlen(p));
}

/* tlspolicyd(8)'s example restrictions are the shipped main.cf's, in its
 * order (the policy check first), with the service named as installed. */
static void test_example_restrictions_as_shipped(void)
{
    g_autofree char *shipped = read_source("postfix/main.cf");
    g_autofree char *man = read_source("man/tlspolicyd.8");
    g_autofree char *want = paragraph(shipped, "smtpd_recipient_restrictions =");
    g_autofree char *got = paragraph(man, "smtpd_recipient_restrictions =");
    g_autoptr(GString) expanded = g_string_new(want);
    g_string_replace(expanded, "$tlspolicyd_service", "unix:private/tlspolicy", 0);
    if (strcmp(expanded->str, got) != 0)
        g_error("tlspolicyd(8) EXAMPLES:\n%s\nis not postfix/main.cf's:\n%s", got, expanded->str);
}

/* Nothing claims that a dane entry may go out in plaintext, or that
 * tlsmap warns for dane entries: the daemon routes dane dane-only or
 * encrypt (decide.c). */
static void test_dane_claims(void)
{
    static const char *const files[] = {"README.md", "man/tlsmap.1", "man/tlspolicyd.8", "man/tlspolicyd.conf.5"};
    static const char *const wrong[] = {"warns for\nevery outbound `dane` entry", "warns for every outbound `dane`",
                                        "for every\n.B dane\nentry", "entry therefore does not make TLS mandatory"};
    for (guint f = 0; f < G_N_ELEMENTS(files); f++) {
        g_autofree char *text = read_source(files[f]);
        for (guint w = 0; w < G_N_ELEMENTS(wrong); w++)
            if (strstr(text, wrong[w]))
                g_error("%s still says \"%s\"", files[f], wrong[w]);
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
    g_test_add_func("/docs/restart_options", test_restart_options_documented);
    g_test_add_func("/docs/list_attributes", test_list_attributes_documented);
    g_test_add_func("/docs/checker_can_fail", test_checker_can_fail);
    g_test_add_func("/docs/example_restrictions", test_example_restrictions_as_shipped);
    g_test_add_func("/docs/dane_claims", test_dane_claims);
    return g_test_run();
}

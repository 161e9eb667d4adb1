/* config.c - table-driven tests of the configuration file (policyd/config.c):
 * key-file text -> the effective value, or an error naming file and line. */
#include <string.h>

#include <glib/gstdio.h>

#include "config.h"
#include "tlsrules.h"

static char *tmpdir;

typedef struct {
    const char *name;
    const char *text;        /* after "[tlspolicyd]\n" */
    const char *want_error;  /* NULL: loads; else a fragment of the message */
    const char *want_line;   /* "check.conf, line N:" fragment, NULL: don't care */
} ConfigCase;

static const ConfigCase cases[] = {
    {"empty file", "", NULL, NULL},
    {"relayhost", "relayhost = [relay.example]:587\n", NULL, NULL},
    {"global floor report", "global_floor = report\n", NULL, NULL},
    {"outbound routing filter", "outbound_routing = filter\n", NULL, NULL},
    {"unknown option", "# x\ncolour = red\n", "unknown option \"colour\"", "line 3:"},
    {"unknown group", "[other]\nx = 1\n", "unknown group [other]", "line 2:"},
    {"reject_status with a newline injects a reply line", "\n\nreject_status = 5.7.1\\n250 OK\n",
     "reject_status must be a 5.X.Y enhanced status code", "line 4:"},
    {"reject_status with text after it", "reject_status = 5.7.1 ok\n", "reject_status must be", "line 2:"},
    {"reject_status too many digits", "reject_status = 5.7777.1\n", "reject_status must be", "line 2:"},
    {"reject_code 4XX", "reject_code = 450\n", "reject_code must be a 5XX SMTP code", "line 2:"},
    {"reject_notice on two lines", "reject_notice = a\\nb\n", "reject_notice must be one line", "line 2:"},
    {"global_floor_notice control byte", "global_floor_notice = a\\tb\n", "global_floor_notice must be one line", "line 2:"},
    {"empty transport stops enforcement", "transport_encrypt =\n", "transport_encrypt must be a master.cf service name",
     "line 2:"},
    {"transport longer than a route", "transport_verify = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
     "transport_verify must be a master.cf service name", "line 2:"},
    {"transport with a colon", "bounce_transport_secure = smtp:[x]\n", "bounce_transport_secure must be", "line 2:"},
    {"relayhost list", "relayhost = a.example, b.example\n", "relayhost must be empty or one next-hop", "line 2:"},
    {"global_floor boolean", "global_floor = true\n", "invalid value \"true\" for global_floor", "line 2:"},
    {"max_line over max_request", "max_request = 2048\nmax_line = 4096\n", "max_line must not exceed max_request",
     "line 3:"},
    {"listen not an address", "listen = /tmp/x.sock\n", "each address is unix:/path or inet:host:port", "line 2:"},
    {"no listen address", "listen =\n", "listen: at least one address is needed", "line 2:"},
    {"no list", "list =\n", "list: a list file is needed", "line 2:"},
    {"tlsrpt dry-run", "maillog = journal\ntlsrpt = dry-run\ntlsrpt_directory = /var/lib/tlspolicyd/tlsrpt\n", NULL, NULL},
    {"tlsrpt without maillog", "tlsrpt = dry-run\ntlsrpt_directory = /tmp\n",
     "tlsrpt: TLS-RPT reports are made from Postfix's delivery log: set maillog", "line 2:"},
    {"tlsrpt dry-run without a directory", "maillog = journal\ntlsrpt = dry-run\n",
     "tlsrpt = dry-run writes the reports to tlsrpt_directory", "line 3:"},
    {"tlsrpt send", "maillog = journal\ntlsrpt = send\n", NULL, NULL},
    {"tlsrpt boolean", "maillog = journal\ntlsrpt = yes\n", "invalid value \"yes\" for tlsrpt", "line 3:"},
    {"tlsrpt_contact an address", "tlsrpt_contact = tls-reports@example.com\n", NULL, NULL},
    {"tlsrpt_contact a name", "tlsrpt_contact = TLS team\n", "tlsrpt_contact must be an address", "line 2:"},
    {"tlsrpt_contact adds a header", "tlsrpt_contact = a@b.example>\\r\\nBcc: x@y\n", "tlsrpt_contact must be",
     "line 2:"},
    {"tlsrpt_contact two at signs", "tlsrpt_contact = a@b@c\n", "tlsrpt_contact must be", "line 2:"},
    {"tlsrpt_submit a path", "tlsrpt_submit = unix:/var/spool/postfix/public/tlsrpt\n", NULL, NULL},
    {"tlsrpt_submit empty: no mail", "tlsrpt_submit =\n", NULL, NULL},
    {"tlsrpt_submit inet", "tlsrpt_submit = inet:127.0.0.1:25\n", "tlsrpt_submit must be unix:", "line 2:"},
    {"tlsrpt_submit no path", "tlsrpt_submit = unix:\n", "tlsrpt_submit must be unix:", "line 2:"},
    {"socketmap_listen not an address", "socketmap_listen = /tmp/x.sock\n",
     "socketmap_listen: each address is unix:/path or inet:host:port", "line 2:"},
    {"inet address without a port", "listen = inet:127.0.0.1\n", "listen: each address is", "line 2:"},
    {"unix address without a path", "socketmap_listen = unix:\n", "socketmap_listen: each address is", "line 2:"},
    {"socketmap_name two words", "socketmap_name = a b\n", "socketmap_name must be one word", "line 2:"},
    {"not key-file syntax", "garbage\n", "not a key-value pair", "line 2:"},
    {"not key-file syntax after comments", "# a\n\nlist = /x\nrelayhost [x]\n", "not a key-value pair", "line 5:"},
    {"an unclosed group header", "list = /x\n[tlspolicyd\n", "not a key-value pair", "line 3:"},
    {"postfix_config_directory empty: read no Postfix", "postfix_config_directory =\n", NULL, NULL},
    {"octal mode too big", "socket_mode = 1777\n", "invalid value \"1777\" for socket_mode", "line 2:"},
};

static void test_config_table(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "check.conf", NULL);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const ConfigCase *c = &cases[i];
        g_autofree char *text = g_strconcat("[tlspolicyd]\n", c->text, NULL);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        g_autoptr(Config) config = config_new_defaults();
        GError *error = NULL;
        gboolean ok = config_load(config, path, &error);
        g_test_message("case %s: %s", c->name, error ? error->message : "loaded");
        if (!c->want_error) {
            if (!ok)
                g_error("case %s: %s", c->name, error->message);
            continue;
        }
        if (ok)
            g_error("case %s: loaded, want an error", c->name);
        if (!strstr(error->message, c->want_error) || !strstr(error->message, path)
            || (c->want_line && !strstr(error->message, c->want_line)))
            g_error("case %s: got \"%s\", want \"%s\" at %s", c->name, error->message, c->want_error,
                    c->want_line ? c->want_line : "any line");
        g_assert_true(error->domain == CONFIG_ERROR);
        g_error_free(error);
    }
}

/* The values a file sets are the values used. */
static void test_config_values(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "values.conf", NULL);
    g_assert_true(g_file_set_contents(path, "[tlspolicyd]\nrelayhost = [relay.example]:587\nglobal_floor = enforce\n"
                                            "min_protocol = TLSv1.3\nexclude_ciphers = RC4\n", -1, NULL));
    g_autoptr(Config) config = config_new_defaults();
    g_assert_true(config_load(config, path, NULL));
    g_assert_cmpstr(config->relayhost, ==, "[relay.example]:587");
    g_assert_cmpint(config->global_floor, ==, GLOBAL_FLOOR_ENFORCE);
    char notice[256];
    config_global_floor_notice(config, notice, sizeof notice);
    g_assert_cmpstr(notice, ==, "This server requires TLS 1.3 or later and does not support RC4");
    Entry entry = {.level = LEVEL_VERIFY, .on_failure = ON_FAILURE_BOUNCE};
    char route[CONFIG_ROUTE_MAX];
    config_route(config, &entry, route, sizeof route);
    g_assert_cmpstr(route, ==, "tls-verify-bounce:[relay.example]:587");
    /* defaults: transport_maps routing, no socketmap socket unless asked */
    g_autoptr(Config) defaults = config_new_defaults();
    g_assert_cmpint(defaults->outbound_routing, ==, ROUTING_TRANSPORT_MAPS);
    g_assert_null(defaults->socketmap_listen[0]);
}

/* An obsolete option loads, said with its file and line, and is unknown
 * to --check-config's listing; a misspelled one still fails. */
static void test_config_obsolete(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "obsolete.conf", NULL);
    g_assert_true(g_file_set_contents(path, "[tlspolicyd]\n# old\ntransport_dane = tls-dane\n"
                                            "bounce_transport_dane = x\n", -1, NULL));
    g_autoptr(Config) config = config_new_defaults();
    g_autofree char *first = g_strdup_printf("%s, line 3: transport_dane is obsolete and ignored*", path);
    g_autofree char *second = g_strdup_printf("%s, line 4: bounce_transport_dane is obsolete and ignored*", path);
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, first);
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, second);
    g_assert_true(config_load(config, path, NULL));
    g_test_assert_expected_messages();
    for (const char *const *key = config_known_keys(); *key; key++)
        g_assert_cmpstr(*key, !=, "transport_dane");
    g_assert_true(g_file_set_contents(path, "[tlspolicyd]\ntransport_danes = x\n", -1, NULL));
    GError *error = NULL;
    g_assert_false(config_load(config, path, &error));
    g_assert_nonnull(strstr(error->message, "unknown option \"transport_danes\""));
    g_error_free(error);
    g_unlink(path);
}

/* The table's defaults are what the code's constants say, and a reload
 * names exactly the options that wait for a restart. */
static void test_config_defaults_and_restart(void)
{
    g_autoptr(Config) c = config_new_defaults();
    g_assert_cmpint(c->min_protocol, ==, TLS_DEFAULT_MIN_PROTOCOL);
    g_assert_cmpstr(c->exclude_ciphers, ==, TLS_DEFAULT_EXCLUDED_CIPHERS);
    g_assert_cmpstr(c->listen[0], ==, "unix:/var/spool/postfix/private/tlspolicy");
    g_assert_null(c->listen[1]);
    g_assert_null(c->transports[LEVEL_DANE]);
    g_assert_cmpuint(c->socket_mode, ==, 0666);
    g_assert_false(config_from_file(c, "listen"));
    g_assert_cmpstr(config_default("tlsrpt_submit"), ==, "unix:public/tlsrpt");
    g_assert_null(config_default("colour"));

    static const struct {
        const char *name, *text, *want;
    } rows[] = {
        {"nothing changed", "", ""},
        {"reloadable only", "reject_code = 554\nverbose = true\n", ""},
        {"one restart option", "user = root\n", "user"},
        {"in table order", "tlsrpt_submit =\nlisten = unix:/tmp/x;\nmaillog = /var/log/mail.log\n",
         "listen, maillog, tlsrpt_submit"},
        {"a list the same", "listen = unix:/var/spool/postfix/private/tlspolicy;\n", ""},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autofree char *path = g_build_filename(tmpdir, "restart.conf", NULL);
        g_autofree char *text = g_strconcat("[tlspolicyd]\n", rows[i].text, NULL);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        g_autoptr(Config) fresh = config_new_defaults();
        GError *error = NULL;
        if (!config_load(fresh, path, &error))
            g_error("%s: %s", rows[i].name, error->message);
        g_autofree char *changed = config_restart_changes(c, fresh);
        if (strcmp(changed, rows[i].want) != 0)
            g_error("%s: \"%s\", want \"%s\"", rows[i].name, changed, rows[i].want);
        g_unlink(path);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("config-test-XXXXXX", NULL);
    g_test_add_func("/config/table", test_config_table);
    g_test_add_func("/config/values", test_config_values);
    g_test_add_func("/config/obsolete", test_config_obsolete);
    g_test_add_func("/config/defaults_and_restart", test_config_defaults_and_restart);
    int rc = g_test_run();
    g_autofree char *a = g_build_filename(tmpdir, "check.conf", NULL);
    g_autofree char *b = g_build_filename(tmpdir, "values.conf", NULL);
    g_unlink(a);
    g_unlink(b);
    g_rmdir(tmpdir);
    return rc;
}

/*
 * tlspolicyd - Postfix policy server enforcing per-domain and
 * per-address TLS requirements.
 *
 *   tlspolicyd [--config FILE] [--list FILE] [--listen ADDR]... [--check-config] [-v]
 *   tlspolicyd --check-postfix [--postfix-config DIR] [--config FILE]
 *   tlspolicyd --report | --suggest [--min N] [--level LEVEL] [--direction DIR] [--config FILE]
 *   tlspolicyd --explain ADDRESS [--config FILE]
 *   tlspolicyd --tlsrpt-preview DOMAIN [--config FILE]
 *
 * The command line overrides the configuration file, so a list can be
 * served with no configuration file at all.  Runs in the foreground.
 */
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <stdlib.h>
#include <unistd.h>

#include "account.h"
#include "config.h"
#include "logging.h"
#include "postfixcheck.h"
#include "server.h"

static struct {
    char *config_path;
    char *list;
    char **listen;
    char *postfix_config, *level, *direction, *explain, *tlsrpt_preview, *user;
    gint min;
    gboolean check_config, check_postfix, report, suggest, verbose;
} opt = {.min = 100};

static const GOptionEntry options[] = {
    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &opt.config_path, "Configuration file (default " CONFIG_DEFAULT_FILE ")", "FILE"},
    {"list", 'l', 0, G_OPTION_ARG_FILENAME, &opt.list, "List source name; FILE.lmdb is served", "FILE"},
    {"listen", 'L', 0, G_OPTION_ARG_STRING_ARRAY, &opt.listen, "unix:/path or inet:127.0.0.1:10040 (repeatable)", "ADDR"},
    {"check-config", 0, 0, G_OPTION_ARG_NONE, &opt.check_config, "Validate the configuration, print it and exit", NULL},
    {"check-postfix", 0, 0, G_OPTION_ARG_NONE, &opt.check_postfix,
     "Check that Postfix is wired for tlspolicyd (exit 0 clean, 1 problems, 2 could not check)", NULL},
    {"report", 0, 0, G_OPTION_ARG_NONE, &opt.report, "Print the running daemon's compliance report (via metrics_listen)", NULL},
    {"suggest", 0, 0, G_OPTION_ARG_NONE, &opt.suggest, "Print unlisted domains that always met a level, as list lines", NULL},
    {"min", 0, 0, G_OPTION_ARG_INT, &opt.min, "With --suggest: at least N transactions (default 100)", "N"},
    {"level", 0, 0, G_OPTION_ARG_STRING, &opt.level, "With --suggest: encrypt (default), verify or secure", "LEVEL"},
    {"direction", 0, 0, G_OPTION_ARG_STRING, &opt.direction,
     "With --suggest: inbound (default: sending domains) or outbound (recipient domains, from maillog)", "DIR"},
    {"postfix-config", 0, 0, G_OPTION_ARG_FILENAME, &opt.postfix_config, "Postfix's configuration directory (postfix_config_directory)", "DIR"},
    {"explain", 0, 0, G_OPTION_ARG_STRING, &opt.explain,
     "Ask the running daemon how it routes ADDRESS: the list, DANE, MTA-STS and the effective route", "ADDRESS"},
    {"tlsrpt-preview", 0, 0, G_OPTION_ARG_STRING, &opt.tlsrpt_preview,
     "Print DOMAIN's TLS-RPT report for the day so far (RFC 8460 JSON), from the running daemon", "DOMAIN"},
    {"user", 'u', 0, G_OPTION_ARG_STRING, &opt.user, "Started as root: serve as this account (user; root: stay root)", "NAME"},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt.verbose, "Log every decision, DUNNO included", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* GET path from the running daemon's metrics_listen; the body into out.
 * Exit status 0, or 2 when the daemon cannot be asked. */
static int ask_daemon(const Config *config, const char *path, GString *out)
{
    if (!config->metrics_listen || !config->metrics_listen[0]) {
        fprintf(stderr, "tlspolicyd: no metrics_listen in the configuration: the daemon serves its ledger there\n");
        return 2;
    }
    const char *address = config->metrics_listen[0];
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnectable) target = NULL;
    if (g_str_has_prefix(address, "unix:")) {
        target = G_SOCKET_CONNECTABLE(g_unix_socket_address_new(address + 5));
    } else {
        GError *parse_error = NULL;
        target = g_network_address_parse(address + 5, 0, &parse_error);
        if (!target) {
            fprintf(stderr, "tlspolicyd: %s: %s\n", address, parse_error->message);
            g_error_free(parse_error);
            return 2;
        }
    }
    g_socket_client_set_timeout(client, 30);
    GError *error = NULL;
    g_autoptr(GSocketConnection) conn = g_socket_client_connect(client, target, NULL, &error);
    g_autofree char *request = g_strdup_printf("GET %s HTTP/1.0\r\nHost: tlspolicyd\r\n\r\n", path);
    g_autoptr(GString) reply = g_string_new(NULL);
    if (conn && g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), request,
                                          strlen(request), NULL, NULL, &error)) {
        GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
        char buf[8192];
        gssize n;
        while ((n = g_input_stream_read(in, buf, sizeof buf, NULL, &error)) > 0)
            g_string_append_len(reply, buf, n);
    }
    if (error) {
        fprintf(stderr, "tlspolicyd: cannot ask the daemon at %s: %s\n", address, error->message);
        g_error_free(error);
        return 2;
    }
    const char *body = strstr(reply->str, "\r\n\r\n");
    if (!g_str_has_prefix(reply->str, "HTTP/1.1 200 ") || !body) {
        fprintf(stderr, "tlspolicyd: the daemon at %s answered: %.*s\n%s", address, (int)strcspn(reply->str, "\r\n"),
                reply->str, body ? body + 4 : "");
        return 2;
    }
    g_string_assign(out, body + 4);
    return 0;
}

/* --explain: ask until the domain's lookups are done (10 s at most), so
 * the answer shown is the one the next message gets. */
static int explain(const Config *config, const char *address)
{
    g_autofree char *escaped = g_uri_escape_string(address, NULL, FALSE);
    g_autofree char *path = g_strdup_printf("/explain?address=%s", escaped);
    g_autoptr(GString) body = g_string_new(NULL);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    int rc;
    while ((rc = ask_daemon(config, path, body)) == 0 && strstr(body->str, "lookup pending")
           && g_get_monotonic_time() < deadline)
        g_usleep(50000);  /* poll interval inside the deadline */
    fputs(body->str, stdout);
    return rc;
}

/* Defaults, then the file, then the command line; with_postfix: then
 * what the file left to the Postfix served (relayhost, local domains). */
static Config *build_config(gboolean with_postfix, GError **error)
{
    g_autoptr(Config) c = config_new_defaults();
    const char *path = opt.config_path;
    if (!path && access(CONFIG_DEFAULT_FILE, F_OK) == 0)
        path = CONFIG_DEFAULT_FILE;
    if (path && !config_load(c, path, error))
        return NULL;
    if (opt.list) {
        g_free(c->list);
        c->list = g_strdup(opt.list);
    }
    if (opt.listen) {
        g_strfreev(c->listen);
        c->listen = g_strdupv(opt.listen);
    }
    if (opt.verbose)
        c->verbose = TRUE;
    if (opt.user) {
        g_free(c->user);
        c->user = g_strdup(opt.user);
    }
    if (opt.postfix_config) {
        g_free(c->postfix_config_directory);
        c->postfix_config_directory = g_strdup(opt.postfix_config);
    }
    if (!config_validate(c, error))
        return NULL;
    g_autofree char *note = NULL;
    if (with_postfix && !config_read_postfix(c, &note, error))
        return NULL;
    if (note)
        g_warning("%s", note);
    g_autofree char *site = with_postfix ? config_describe_postfix(c) : NULL;
    if (site && *site)
        g_message("%s", site);
    return g_steal_pointer(&c);
}

static Config *reload(gpointer data)
{
    (void)data;
    GError *error = NULL;
    Config *c = build_config(TRUE, &error);
    if (!c) {
        g_warning("configuration error: %s", error->message);
        g_error_free(error);
    }
    return c;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = g_option_context_new(NULL);
    GError *error = NULL;

    g_option_context_set_summary(context, "Postfix policy server for per-domain TLS requirements.");
    g_option_context_add_main_entries(context, options, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error) || argc > 1) {
        fprintf(stderr, "tlspolicyd: %s\n", error ? error->message : "unexpected argument (try --help)");
        return 2;
    }
    logging_init("tlspolicyd", TRUE, FALSE);
    logging_set_verbose(opt.verbose);

    gboolean serving = !opt.report && !opt.suggest && !opt.explain && !opt.tlsrpt_preview;
    Config *config = build_config(serving, &error);
    if (!config) {
        fprintf(stderr, "tlspolicyd: %s\n", error->message);
        return 2;
    }
    if (opt.report || opt.suggest || opt.tlsrpt_preview) {
        g_autofree char *domain = opt.tlsrpt_preview ? g_uri_escape_string(opt.tlsrpt_preview, NULL, FALSE) : NULL;
        g_autofree char *path = domain       ? g_strdup_printf("/tlsrpt?domain=%s", domain)
                                : opt.report ? g_strdup("/report")
                                           : g_strdup_printf("/suggest?min=%d&level=%s&direction=%s", MAX(opt.min, 1),
                                                             opt.level ? opt.level : "encrypt",
                                                             opt.direction ? opt.direction : "inbound");
        g_autoptr(GString) body = g_string_new(NULL);
        int rc = ask_daemon(config, path, body);
        fputs(body->str, stdout);
        config_free(config);
        return rc;
    }
    if (opt.explain) {
        int rc = explain(config, opt.explain);
        config_free(config);
        return rc;
    }
    if (opt.check_postfix) {
        g_autoptr(GString) report = g_string_new(NULL);
        int rc = postfix_check(config, report);
        fputs(report->str, rc == POSTFIX_CHECK_FAILED ? stderr : stdout);
        config_free(config);
        return rc;
    }
    if (opt.check_config) {
        g_autofree char *text = config_format(config);
        fputs(text, stdout);
        config_free(config);
        return 0;
    }
    logging_set_verbose(config->verbose);
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    gboolean dropping = account_target(config->user, &uid, &gid);
    if (geteuid() == 0 && strcmp(config->user, "root") != 0 && !dropping) {
        fprintf(stderr, "tlspolicyd: user = %s: no such account (adduser --system --group --no-create-home %s; "
                        "or user = root to serve as root on purpose)\n", config->user, config->user);
        return 1;
    }
    if (*config->log_file && !logging_open_file(config->log_file, dropping ? uid : (uid_t)-1, gid, &error)) {
        fprintf(stderr, "tlspolicyd: %s\n", error->message);
        return 1;
    }
    g_message("logging to %s", logging_where());

    /* sockets and locks as root, then the account before any request */
    Server *server = server_new(config, reload, NULL, &error);
    if (!server) {
        fprintf(stderr, "tlspolicyd: %s\n", error->message);
        return 1;
    }
    if (!account_drop(config->user, &error)) {
        g_critical("%s", error->message);
        fprintf(stderr, "tlspolicyd: %s\n", error->message);
        server_free(server);
        return 1;
    }
    int rc = server_run(server);
    server_free(server);
    return rc;
}

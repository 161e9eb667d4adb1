/*
 * tlsprobe - test the TLS connection to a domain's mail servers, like
 * Gmail's "Test TLS connection", as a command an admin can script.
 *
 *   tlsprobe [options] DOMAIN|ADDRESS
 *   tlsprobe [options] --list FILE      every outbound entry of a list
 *
 * Exit status with --level L: 0 the level would succeed, 1 it would not,
 * 2 could not test.  Without --level: 0 when a server was tested, else 2.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mx.h"
#include "escape.h"
#include "postfixsite.h"
#include "probe.h"
#include "published.h"
#include "source.h"
#include "tlsrules.h"

static struct {
    char *mx, *connect, *level, *cafile, *capath, *list, *port, *resolver, *trust_anchor, *postfix_config;
    gboolean all, json;
    gint timeout;
} opt = {.timeout = 10};

/* How the local Postfix's smtp client delivers, so that the probe
 * predicts it: the CAs it trusts, its port, how it finds a domain's
 * servers.  Each explicit option wins over what Postfix says. */
static struct {
    const char *cafile, *capath, *port;
    gboolean default_cas;  /* the system's CA store (tls_append_default_CA, or no Postfix) */
    gboolean mx_lookups;   /* MX records from DNS; else the domain is the host (Postfix without DNS) */
    gboolean native;       /* host addresses from the system's resolver (/etc/hosts), never --resolver */
    char *described;       /* one line saying which settings, and whose; NULL without a Postfix */
} deliver = {.port = "25", .default_cas = TRUE, .mx_lookups = TRUE};

/* DNS for DANE and MTA-STS: when tlsprobe finds the servers itself (no
 * --mx, no --connect) or --resolver says where to ask. */
static struct ub_ctx *dns;

static const GOptionEntry options[] = {
    {"mx", 0, 0, G_OPTION_ARG_STRING, &opt.mx, "Probe HOST[:PORT] instead of looking up MX records", "HOST[:PORT]"},
    {"connect", 0, 0, G_OPTION_ARG_STRING, &opt.connect, "Connect to ADDR:PORT (the MX name stays the domain, or --mx)", "ADDR:PORT"},
    {"port", 0, 0, G_OPTION_ARG_STRING, &opt.port, "SMTP port (default: Postfix's smtp_tcp_port, else 25)", "PORT"},
    {"all", 0, 0, G_OPTION_ARG_NONE, &opt.all, "Probe every MX, not only the first that answers", NULL},
    {"level", 0, 0, G_OPTION_ARG_STRING, &opt.level, "Exit status says whether encrypt, verify or secure would succeed", "LEVEL"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &opt.json, "JSON output, one object per destination", NULL},
    {"CAfile", 0, 0, G_OPTION_ARG_FILENAME, &opt.cafile,
     "Trust these CA certificates (default: Postfix's smtp_tls_CAfile/CApath, else the system's)", "FILE"},
    {"CApath", 0, 0, G_OPTION_ARG_FILENAME, &opt.capath, "Trust the CA certificates in this directory", "DIR"},
    {"postfix-config", 0, 0, G_OPTION_ARG_FILENAME, &opt.postfix_config,
     "Test as the Postfix configured in DIR delivers (default: $MAIL_CONFIG, else /etc/postfix)", "DIR"},
    {"timeout", 0, 0, G_OPTION_ARG_INT, &opt.timeout, "Seconds per step (connect, each reply, handshake), 1-3600; default 10", "SECONDS"},
    {"list", 0, 0, G_OPTION_ARG_FILENAME, &opt.list, "Probe the domain of every outbound entry of a list source file", "FILE"},
    {"resolver", 0, 0, G_OPTION_ARG_STRING, &opt.resolver,
     "Ask ADDR[@PORT] for MX, addresses, TLSA and MTA-STS (default: /etc/resolv.conf's servers)", "ADDR"},
    {"trust-anchor", 0, 0, G_OPTION_ARG_FILENAME, &opt.trust_anchor,
     "DNSSEC trust anchor file (default /usr/share/dns/root.key)", "FILE"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* A JSON string: valid UTF-8 (invalid bytes become U+FFFD), quotes,
 * backslashes and control characters escaped, so a strict parser takes
 * whatever a server sent. */
static void json_server(GString *out, const ProbeResult *r, const char *dane)
{
    g_string_append(out, "{\"mx\":");
    json_append_string(out, r->host);
    g_string_append(out, ",\"address\":");
    json_append_string(out, r->peer);
    g_string_append_printf(out, ",\"connected\":%s,\"starttls_offered\":%s,\"tls\":%s,"
                                "\"injected_bytes_discarded\":%s,\"banner\":",
                           r->connected ? "true" : "false", r->starttls_offered ? "true" : "false",
                           r->tls ? "true" : "false", r->injected_bytes_discarded ? "true" : "false");
    json_append_string(out, r->banner);
    const char *fields[][2] = {{"protocol", r->protocol}, {"cipher", r->cipher}, {"group", r->group},
                               {"subject", r->subject}, {"issuer", r->issuer}, {"not_after", r->not_after},
                               {"chain_error", r->chain_error}, {"error", r->error}};
    for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
        g_string_append_printf(out, ",\"%s\":", fields[i][0]);
        if (fields[i][1])
            json_append_string(out, fields[i][1]);
        else
            g_string_append(out, "null");
    }
    g_string_append(out, ",\"names\":[");
    for (guint i = 0; i < r->names->len; i++) {
        if (i)
            g_string_append_c(out, ',');
        json_append_string(out, r->names->pdata[i]);
    }
    g_string_append_printf(out, "],\"chain_ok\":%s,\"matches_mx\":%s,\"matches_domain\":%s,\"dane\":",
                           r->chain_ok ? "true" : "false", r->matches_mx ? "true" : "false",
                           r->matches_domain ? "true" : "false");
    json_append_string(out, dane ? dane : "not checked");
    g_string_append(out, ",\"levels\":{");
    for (int l = 0; l < PROBE_LEVELS; l++) {
        g_string_append_printf(out, "%s\"%s\":{\"ok\":%s,\"why\":", l ? "," : "", probe_level_name(l),
                               r->ok[l] ? "true" : "false");
        json_append_string(out, r->why[l]);
        g_string_append_c(out, '}');
    }
    g_string_append(out, "}}");
}

/* Text a server sent (banner, certificate names, errors quoting them)
 * goes to a terminal escaped: no control sequence reaches it. */
static const char *shown(const char *s, char *buf, size_t size)
{
    return s ? text_escape(s, buf, size) : "-";
}

static void text_server(const ProbeResult *r, gboolean color, const char *dane)
{
    const char *green = color ? "\033[32m" : "", *red = color ? "\033[31m" : "", *off = color ? "\033[0m" : "";
    char a[1024], b[1024];
    printf("  server %s (%s)\n", shown(r->host, a, sizeof a), shown(r->peer, b, sizeof b));
    printf("    %-18s %s\n", "banner", shown(r->banner, a, sizeof a));
    printf("    %-18s %s\n", "STARTTLS offered", r->starttls_offered ? "yes" : "no");
    if (r->injected_bytes_discarded)
        printf("    %-18s %s\n", "warning", "bytes sent before the TLS handshake were discarded (STARTTLS injection?)");
    if (r->tls) {
        printf("    %-18s %s\n", "protocol", shown(r->protocol, a, sizeof a));
        printf("    %-18s %s\n", "cipher", shown(r->cipher, a, sizeof a));
        printf("    %-18s %s\n", "key exchange", r->group && *r->group ? shown(r->group, a, sizeof a) : "-");
        printf("    %-18s %s\n", "subject", shown(r->subject, a, sizeof a));
        g_autoptr(GString) names = g_string_new(NULL);
        for (guint i = 0; i < r->names->len; i++)
            g_string_append_printf(names, "%s%s", i ? ", " : "", shown(r->names->pdata[i], a, sizeof a));
        printf("    %-18s %s\n", "names", names->len ? names->str : "-");
        printf("    %-18s %s\n", "issuer", shown(r->issuer, a, sizeof a));
        printf("    %-18s %s\n", "expires", shown(r->not_after, a, sizeof a));
        printf("    %-18s %s\n", "chain", r->chain_ok ? "trusted" : r->chain_error ? shown(r->chain_error, a, sizeof a) : "not trusted");
        printf("    %-18s %s\n", "DANE TLSA", dane ? shown(dane, a, sizeof a) : "not checked");
    }
    if (r->error)
        printf("    %-18s %s\n", "stopped", shown(r->error, a, sizeof a));
    for (int l = 0; l < PROBE_LEVELS; l++)
        printf("    %-18s %s%s%s (%s)\n", probe_level_name(l), r->ok[l] ? green : red, r->ok[l] ? "PASS" : "FAIL", off,
               shown(r->why[l], a, sizeof a));
}

static int level_index(const char *name)
{
    for (int l = 0; l < PROBE_LEVELS; l++)
        if (g_strcmp0(name, probe_level_name(l)) == 0)
            return l;
    return -1;
}

/* A destination with no server to probe: why, as text or JSON. */
static void no_servers(GString *json, const char *domain, const char *why)
{
    if (!json) {
        printf("%s: %s\n", domain, why);
        return;
    }
    g_string_append(json, "{\"destination\":");
    json_append_string(json, domain);
    g_string_append(json, ",\"error\":");
    json_append_string(json, why);
    g_string_append(json, ",\"servers\":[]}");
}

/* "yes"/"no" Postfix booleans */
static gboolean postfix_yes(const char *value)
{
    return g_ascii_strcasecmp(value, "yes") == 0 || g_ascii_strcasecmp(value, "true") == 0;
}

/* Postfix's smtp client settings, read once; FALSE when an explicitly
 * named configuration cannot be read. */
static gboolean read_delivery(void)
{
    GError *error = NULL;
    g_autoptr(PostfixSite) site = postfix_site_read(opt.postfix_config, &error);
    if (!site) {
        gboolean none = g_error_matches(error, POSTFIX_SITE_ERROR, POSTFIX_SITE_ERROR_NO_CONFIG);
        if (opt.postfix_config || !none)
            fprintf(stderr, "tlsprobe: %s%s\n", opt.postfix_config ? "" : "warning: ", error->message);
        g_error_free(error);
        return !opt.postfix_config;
    }
    static char cafile[4096], capath[4096], port[64];
    g_strlcpy(cafile, postfix_site_param(site, "smtp_tls_CAfile"), sizeof cafile);
    g_strlcpy(capath, postfix_site_param(site, "smtp_tls_CApath"), sizeof capath);
    g_strlcpy(port, postfix_site_param(site, "smtp_tcp_port"), sizeof port);
    deliver.cafile = *cafile ? cafile : NULL;
    deliver.capath = *capath ? capath : NULL;
    deliver.default_cas = postfix_yes(postfix_site_param(site, "tls_append_default_CA"));
    if (*port)
        deliver.port = port;
    const char *level = postfix_site_param(site, "smtp_dns_support_level");
    deliver.mx_lookups = *level ? strcmp(level, "disabled") != 0
                                : !postfix_yes(postfix_site_param(site, "disable_dns_lookups"));
    const char *lookup = postfix_site_param(site, "smtp_host_lookup");
    deliver.native = !deliver.mx_lookups || g_str_has_prefix(lookup, "native");

    GString *d = g_string_new(NULL);
    g_string_printf(d, "%s (Postfix %s): trusts ", site->directory, postfix_site_param(site, "mail_version"));
    if (opt.cafile || opt.capath)
        g_string_append(d, "the CAs named on the command line");
    else if (deliver.cafile || deliver.capath)
        g_string_append_printf(d, "%s%s%s%s%s", deliver.cafile ? "smtp_tls_CAfile " : "",
                               deliver.cafile ? deliver.cafile : "", deliver.cafile && deliver.capath ? ", " : "",
                               deliver.capath ? "smtp_tls_CApath " : "", deliver.capath ? deliver.capath : "");
    else if (!deliver.default_cas)
        g_string_append(d, "no CA (no smtp_tls_CAfile or smtp_tls_CApath): verify fails, as in Postfix");
    if (!opt.cafile && !opt.capath && deliver.default_cas)
        g_string_append(d, deliver.cafile || deliver.capath ? " and the system's CAs" : "the system's CAs");
    g_string_append_printf(d, "; port %s%s; ", opt.port ? opt.port : deliver.port, opt.port ? " (--port)" : "");
    g_string_append(d, deliver.mx_lookups ? "MX records from DNS" : "no DNS (smtp_dns_support_level = disabled): "
                                                                      "the domain is the host");
    g_string_append(d, deliver.native ? ", addresses from the system's resolver (/etc/hosts)" : "");
    deliver.described = g_string_free(d, FALSE);
    return TRUE;
}

/* Probe one destination; returns 0/1/2 as the exit status would be. */
static int probe_destination(const char *destination, GString *json)
{
    const char *at = strrchr(destination, '@');
    g_autofree char *domain = g_ascii_strdown(at ? at + 1 : destination, -1);
    GArray *servers = NULL;
    g_autofree char *mx_host = NULL, *mx_port = NULL;
    const char *port = opt.port ? opt.port : deliver.port;
    g_autoptr(Published) published = dns ? published_lookup(dns, domain, opt.cafile, (guint)opt.timeout) : NULL;

    /* Where to connect: --mx / --connect skip DNS. */
    if (opt.mx) {
        const char *colon = strrchr(opt.mx, ':');
        mx_host = colon ? g_strndup(opt.mx, (gsize)(colon - opt.mx)) : g_strdup(opt.mx);
        mx_port = colon ? g_strdup(colon + 1) : NULL;
        servers = g_array_new(FALSE, FALSE, sizeof(MxRecord));
        MxRecord r = {0, g_strdup(mx_host)};
        g_array_append_val(servers, r);
    } else if (opt.connect || !published) {  /* no DNS: Postfix delivers to the domain's own address */
        servers = g_array_new(FALSE, FALSE, sizeof(MxRecord));
        MxRecord r = {0, g_strdup(domain)};
        g_array_append_val(servers, r);
    } else {  /* DNS: published holds the MX records (dns is set without --mx and --connect) */
        servers = g_array_new(FALSE, FALSE, sizeof(MxRecord));
        for (guint i = 0; i < published->mx->len; i++) {
            MxRecord r = g_array_index(published->mx, MxRecord, i);
            r.host = g_strdup(r.host);
            g_array_append_val(servers, r);
        }
        if (published->mx_error || mx_order(servers, NULL) == MX_NULL) {
            no_servers(json, domain, published->mx_error ? published->mx_error : "null MX: the domain accepts no mail");
            mx_records_free(servers);
            return 2;
        }
    }

    g_autofree char *sts = published ? published_sts_summary(published) : NULL;
    if (json) {
        g_string_append(json, "{\"destination\":");
        json_append_string(json, domain);
        g_string_append(json, ",\"delivery\":");
        if (deliver.described)
            json_append_string(json, deliver.described);
        else
            g_string_append(json, "null");
        g_string_append(json, ",\"mx_dnssec\":");
        json_append_string(json, published ? dns_trust_name(published->mx_trust) : "not checked");
        g_string_append(json, ",\"mta_sts\":");
        json_append_string(json, sts ? sts : "not checked");
        g_string_append(json, ",\"servers\":[");
    } else {
        char a[1024];
        printf("%s\n", domain);
        if (deliver.described)
            printf("  %-20s %s\n", "as Postfix delivers", shown(deliver.described, a, sizeof a));
        if (published) {
            printf("  %-20s %s\n", "MX records DNSSEC", dns_trust_name(published->mx_trust));
            printf("  %-20s %s\n", "MTA-STS", shown(sts, a, sizeof a));
        }
    }
    int tested = 0, level = opt.level ? level_index(opt.level) : -1, status = 2;
    for (guint i = 0; i < servers->len; i++) {
        const char *host = g_array_index(servers, MxRecord, i).host;
        g_autofree char *caddr = NULL, *cport = NULL;
        if (opt.connect) {
            const char *colon = strrchr(opt.connect, ':');
            caddr = colon ? g_strndup(opt.connect, (gsize)(colon - opt.connect)) : g_strdup(opt.connect);
            cport = colon ? g_strdup(colon + 1) : g_strdup(port);
        }
        gboolean ask_resolver = opt.resolver && !caddr && !deliver.native;
        g_autofree char *resolved = ask_resolver ? published_address(dns, host) : NULL;
        if (ask_resolver && !resolved) {
            if (!json)
                printf("  server %s: no IPv4 address\n", host);
            continue;
        }
        ProbeTarget t = {.domain = domain, .host = host, .address = caddr ? caddr : resolved ? resolved : host,
                         .port = cport ? cport : mx_port ? mx_port : port,
                         .cafile = opt.cafile || opt.capath ? opt.cafile : deliver.cafile,
                         .capath = opt.cafile || opt.capath ? opt.capath : deliver.capath,
                         .default_cas = !opt.cafile && !opt.capath && deliver.default_cas,
                         .timeout = (guint)opt.timeout};
        ProbeResult *r = probe_server(&t);
        HostTlsa *tlsa = published && published->mx_trust == DNS_SECURE ? published_tlsa(dns, host, t.port) : NULL;
        g_autofree char *dane = published ? published_judge(published, tlsa, r) : NULL;
        host_tlsa_free(tlsa);
        if (json) {
            if (i)
                g_string_append_c(json, ',');
            json_server(json, r, dane);
        } else {
            text_server(r, isatty(STDOUT_FILENO), dane);
        }
        gboolean answered = r->connected && r->banner;
        if (answered && tested++ == 0)
            status = level < 0 ? 0 : r->ok[level] ? 0 : 1;
        else if (answered && level >= 0 && !r->ok[level])
            status = 1;
        probe_result_free(r);
        if (answered && !opt.all)
            break;  /* Postfix delivers to the first server that answers */
    }
    if (json)
        g_string_append(json, "]}");
    mx_records_free(servers);
    return status;
}

/* The domains of a list's outbound entries (parent keys are probed as the
 * parent domain itself). */
static GPtrArray *list_destinations(const char *path, GPtrArray *levels)
{
    g_autofree char *text = NULL;
    gsize len;
    GError *error = NULL;
    if (!g_file_get_contents(path, &text, &len, &error)) {
        fprintf(stderr, "tlsprobe: %s\n", error->message);
        g_error_free(error);
        return NULL;
    }
    g_autoptr(List) list = list_new(path);
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    if (!source_parse(list, text, len, errors)) {
        for (guint i = 0; i < errors->len; i++)
            fprintf(stderr, "tlsprobe: %s\n", (char *)errors->pdata[i]);
        return NULL;
    }
    /* Each distinct (destination, level) once: an address entry stricter
     * than its domain's is probed at its own level too. */
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < list->records->len; i++) {
        const ListRecord *rec = &g_array_index(list->records, ListRecord, i);
        const char *domain = list_probe_domain(rec);
        if (!domain)
            continue;
        const char *level = tls_probe_level(rec->value->entry.level);
        char *pair = g_strconcat(domain, " ", level, NULL);
        if (!g_hash_table_add(seen, pair))
            continue;
        g_ptr_array_add(out, g_strdup(domain));
        g_ptr_array_add(levels, g_strdup(level));
    }
    return out;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("DOMAIN|ADDRESS");
    GError *error = NULL;
    g_option_context_set_summary(ctx, "Test the STARTTLS connection to a domain's mail servers.");
    g_option_context_add_main_entries(ctx, options, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "tlsprobe: %s\n", error->message);
        return 2;
    }
    if (opt.timeout < 1 || opt.timeout > 3600) {
        fprintf(stderr, "tlsprobe: --timeout takes 1 to 3600 seconds\n");
        return 2;
    }
    if (opt.level && level_index(opt.level) < 0) {
        fprintf(stderr, "tlsprobe: --level takes encrypt, verify, secure, dane, dane-only or mta-sts\n");
        return 2;
    }
    if (!read_delivery())
        return 2;
    if ((!opt.mx && !opt.connect && deliver.mx_lookups) || opt.resolver) {
        const char *anchor = opt.trust_anchor ? opt.trust_anchor : "/usr/share/dns/root.key";
        dns = dns_context_new(opt.resolver ? opt.resolver : "", access(anchor, R_OK) == 0 ? anchor : "", FALSE, &error);
        if (!dns) {
            fprintf(stderr, "tlsprobe: %s\n", error->message);
            return 2;
        }
        if (access(anchor, R_OK) != 0)
            fprintf(stderr, "tlsprobe: warning: trust anchor %s unreadable: DANE cannot be validated\n", anchor);
    }
    g_autoptr(GString) json = opt.json ? g_string_new(NULL) : NULL;

    if (opt.list) {
        g_autoptr(GPtrArray) levels = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) domains = list_destinations(opt.list, levels);
        if (!domains)
            return 2;
        int failing = 0, untested = 0;
        g_autofree char *saved_level = opt.level;
        if (json)
            g_string_append_c(json, '[');
        for (guint i = 0; i < domains->len; i++) {
            opt.level = levels->pdata[i];
            if (level_index(opt.level) < 0)
                opt.level = "encrypt";  /* dane levels: at least encrypt */
            if (json && i)
                g_string_append_c(json, ',');
            if (!json && isatty(STDERR_FILENO))
                fprintf(stderr, "\r[%u/%u] %s\033[K", i + 1, domains->len, (char *)domains->pdata[i]);
            int st = probe_destination(domains->pdata[i], json);
            failing += st == 1;
            untested += st == 2;
            if (!json && st != 0)
                printf("  => %s: level %s would %s\n", (char *)domains->pdata[i], opt.level,
                       st == 1 ? "FAIL today" : "not be testable");
        }
        if (json) {
            g_string_append(json, "]\n");
            fputs(json->str, stdout);
        } else {
            printf("%u destinations: %d would fail, %d could not be tested\n", domains->len, failing, untested);
        }
        opt.level = NULL;
        return failing ? 1 : untested ? 2 : 0;
    }
    if (argc != 2) {
        fprintf(stderr, "tlsprobe: expected one DOMAIN or ADDRESS (try --help)\n");
        return 2;
    }
    int status = probe_destination(argv[1], json);
    if (json) {
        g_string_append_c(json, '\n');
        fputs(json->str, stdout);
    }
    return status;
}

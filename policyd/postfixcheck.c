/*
 * postfixcheck.c - tlspolicyd --check-postfix; see postfixcheck.h.
 * main.c calls it; it reads Postfix's configuration through postconf.
 */
#include "postfixcheck.h"

#include <gio/gio.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "account.h"
#include "endpoint.h"
#include "key.h"
#include "store.h"

#define DAEMON_ACCOUNT ACCOUNT_DEFAULT  /* the systemd unit's User= */

typedef struct {
    char *name, *type, *command;
    gboolean inet;
    char chroot;             /* master.cf's column: 'y', 'n' or '-' */
} Service;

typedef struct {
    const Config *config;
    GHashTable *params;      /* main.cf, $names expanded (postconf -x) */
    GHashTable *overrides;   /* "service/type/param" -> value (postconf -P) */
    GPtrArray *services;     /* Service (postconf -M) */
    GString *out;
    guint problems;
    int version;             /* mail_version as major * 100 + minor: 307, 310 */
    const PostfixSite *site; /* relayhost and local domains (postfixsite.h) */
    const char *dir;         /* Postfix's configuration directory, NULL: the default */
    List *list;              /* the compiled list, NULL when it cannot be read */
} Check;

static void service_free(Service *s)
{
    g_free(s->name);
    g_free(s->type);
    g_free(s->command);
    g_free(s);
}

static void problem(Check *c, const char *fix, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void problem(Check *c, const char *fix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_string_append_printf(c->out, "problem: %s\n    fix: %s\n", what, fix);
    c->problems++;
}

/* postconf's output for args, or NULL after saying why in out. */
static char *postconf(const char *dir, const char *const *args, GString *out)
{
    GError *error = NULL;
    char *text = postfix_site_postconf(dir, args, &error);
    if (!text) {
        g_string_append_printf(out, "cannot check: %s\n", error->message);
        g_error_free(error);
    }
    return text;
}

/* "NAME TYPE PRIVATE UNPRIV CHROOT WAKEUP MAXPROC COMMAND ARGS" lines. */
static void parse_services(const char *text, GPtrArray *services)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit_set(*l, " \t", -1);
        GPtrArray *words = g_ptr_array_new();
        for (char **w = f; *w; w++)
            if (**w)
                g_ptr_array_add(words, *w);
        if (words->len >= 8) {
            Service *s = g_new0(Service, 1);
            s->name = g_strdup(words->pdata[0]);
            s->type = g_strdup(words->pdata[1]);
            s->command = g_strdup(words->pdata[7]);
            s->inet = strcmp(s->type, "inet") == 0;
            s->chroot = ((char *)words->pdata[4])[0];
            g_ptr_array_add(services, s);
        }
        g_ptr_array_free(words, TRUE);
    }
}

static void note(Check *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void note(Check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_string_append_printf(c->out, "note: %s\n", what);
}

static const char *param(const Check *c, const char *name)
{
    const char *v = g_hash_table_lookup(c->params, name);
    return v ? v : "";
}

/* An -o override's value, with $names from main.cf expanded. */
static char *expand(const Check *c, const char *value)
{
    GString *out = g_string_new(NULL);
    for (const char *p = value; *p;) {
        if (*p != '$') {
            g_string_append_c(out, *p++);
            continue;
        }
        gboolean braced = p[1] == '{' || p[1] == '(';
        const char *start = p + 1 + braced;
        size_t len = strspn(start, "abcdefghijklmnopqrstuvwxyz0123456789_");
        g_autofree char *name = g_strndup(start, len);
        g_string_append(out, param(c, name));
        p = start + len + (braced && start[len] ? 1 : 0);
    }
    return g_string_free(out, FALSE);
}

/* A service's value of a parameter: its -o override, else main.cf's. */
static char *service_param(const Check *c, const Service *s, const char *name, gboolean *overridden)
{
    g_autofree char *key = g_strdup_printf("%s/%s/%s", s->name, s->type, name);
    const char *o = g_hash_table_lookup(c->overrides, key);
    if (overridden)
        *overridden = o != NULL;
    return o ? expand(c, o) : g_strdup(param(c, name));
}

static const Service *find_service(const Check *c, const char *name)
{
    for (guint i = 0; i < c->services->len; i++) {
        const Service *s = c->services->pdata[i];
        if (strcmp(s->name, name) == 0 && strcmp(s->type, "unix") == 0)
            return s;
    }
    return NULL;
}

/* Where a Postfix "unix:private/x" or "inet:host:port" lands, in the
 * daemon's syntax ("unix:/var/spool/postfix/private/x"). */
static char *absolute_address(const Check *c, const char *address)
{
    if (g_str_has_prefix(address, "unix:") && address[5] != '/')
        return g_strdup_printf("unix:%s/%s", param(c, "queue_directory"), address + 5);
    return g_strdup(address);
}

static gboolean daemon_listens(char **addresses, const char *address)
{
    for (char **a = addresses; a && *a; a++)
        if (strcmp(*a, address) == 0)
            return TRUE;
    return FALSE;
}

/* Does a restriction list call check_policy_service for one of the
 * daemon's policy addresses? */
static gboolean has_policy_check(const Check *c, const char *restrictions)
{
    g_auto(GStrv) words = g_strsplit_set(restrictions, " \t,{}", -1);
    for (char **w = words; *w; w++) {
        if (strcmp(*w, "check_policy_service") != 0)
            continue;
        for (char **t = w + 1; *t; t++) {
            if (!**t)
                continue;
            g_autofree char *abs = absolute_address(c, *t);
            if (daemon_listens(c->config->listen, abs))
                return TRUE;
            break;
        }
    }
    return FALSE;
}

/* inet addresses are not probed */
static gboolean connects(const char *address)
{
    return !g_str_has_prefix(address, "unix:") || endpoint_unix_answers(address + 5);
}

static gboolean submission_like(const Check *c, const Service *s)
{
    g_autofree char *context = service_param(c, s, "smtpd_policy_service_policy_context", NULL);
    g_autofree char *sasl = service_param(c, s, "smtpd_sasl_auth_enable", NULL);
    return strstr(s->name, "587") || strstr(s->name, "465") || g_str_has_prefix(s->name, "submission")
           || (*c->config->outbound_context && strcmp(context, c->config->outbound_context) == 0)
           || strcmp(sasl, "yes") == 0;
}

/* Restrictions that accept mail only from trusted clients (a content
 * filter's re-injection listener: "permit_mynetworks, reject"): no listed
 * sender reaches them from outside, so inbound needs no check there. */
static gboolean internal_only(const char *restrictions)
{
    static const char *const trusted[] = {"permit_mynetworks", "permit_sasl_authenticated", NULL};
    g_auto(GStrv) words = g_strsplit_set(restrictions, " \t,", -1);
    gboolean rejects_rest = FALSE;
    for (char **w = words; *w; w++) {
        if (strcmp(*w, "reject") == 0)
            rejects_rest = TRUE;
        if (g_str_has_prefix(*w, "permit") && !g_strv_contains(trusted, *w))
            return FALSE;
    }
    return rejects_rest;
}

static void check_inbound(Check *c)
{
    const char *main_rr = param(c, "smtpd_recipient_restrictions");
    if (!has_policy_check(c, main_rr) && !has_policy_check(c, param(c, "smtpd_relay_restrictions")))
        problem(c, "smtpd_recipient_restrictions = check_policy_service { $tlspolicyd_service, "
                   "default_action=DEFER_IF_PERMIT, timeout=10s }, ... (postfix/main.cf)",
                "main.cf: smtpd_recipient_restrictions does not ask tlspolicyd (%s): inbound mail is not checked",
                c->config->listen && c->config->listen[0] ? c->config->listen[0] : "no listen address");
    for (guint i = 0; i < c->services->len; i++) {
        const Service *s = c->services->pdata[i];
        gboolean overridden;
        if (!s->inet || strcmp(s->command, "smtpd") != 0)
            continue;
        g_autofree char *rr = service_param(c, s, "smtpd_recipient_restrictions", &overridden);
        if (!overridden || has_policy_check(c, rr))
            continue;
        /* trusted clients only: no inbound mail (FILTER routing still needs the check there) */
        if (internal_only(rr) && c->config->outbound_routing == ROUTING_TRANSPORT_MAPS)
            continue;
        /* a submission service's mail is outbound: only FILTER routing needs the check there */
        if (submission_like(c, s) && c->config->outbound_routing == ROUTING_TRANSPORT_MAPS)
            continue;
        g_autofree char *fix = g_strdup_printf("-o smtpd_recipient_restrictions=check_policy_service,$tlspolicyd_service,%s "
                                               "(master.cf, service %s)", rr, s->name);
        problem(c, fix, "master.cf: service %s overrides smtpd_recipient_restrictions without the policy check%s",
                s->name, submission_like(c, s) ? " (FILTER routing misses its mail)" : ": inbound mail there is not checked");
    }
}

static void check_outbound(Check *c)
{
    if (c->config->outbound_routing == ROUTING_FILTER) {
        problem(c, "outbound_routing = transport_maps (tlspolicyd.conf) and transport_maps = $tlspolicyd_routes (main.cf)",
                "tlspolicyd.conf: outbound_routing = filter routes only mail that passes a policy check: sendmail, "
                "pickup and a content filter's re-injection go out without their TLS level");
        if (*param(c, "content_filter"))
            problem(c, "outbound_routing = transport_maps (tlspolicyd.conf)",
                    "main.cf: content_filter = %s with FILTER routing: a FILTER answer replaces the content filter, "
                    "or the re-injected mail loses its TLS route", param(c, "content_filter"));
        return;
    }
    if (!c->config->socketmap_listen || !c->config->socketmap_listen[0]) {
        problem(c, "socketmap_listen = unix:/var/spool/postfix/private/tlsmap; (tlspolicyd.conf)",
                "tlspolicyd.conf: outbound_routing = transport_maps but no socketmap_listen: nothing routes listed "
                "recipients");
        return;
    }
    g_autofree char *want = g_strdup_printf("socketmap:%s:%s", c->config->socketmap_listen[0], c->config->socketmap_name);
    g_auto(GStrv) maps = g_strsplit_set(param(c, "transport_maps"), " \t,", -1);
    int position = -1, n = 0;
    for (char **m = maps; *m; m++) {
        if (!**m)
            continue;
        if (g_str_has_prefix(*m, "socketmap:")) {
            g_autofree char *inner = g_strndup(*m + 10, strlen(*m + 10));
            char *last = strrchr(inner, ':');
            if (last) {
                *last = 0;
                g_autofree char *abs = absolute_address(c, inner);
                g_autofree char *full = g_strdup_printf("socketmap:%s:%s", abs, last + 1);
                if (strcmp(full, want) == 0 && position < 0)
                    position = n;
            }
        }
        n++;
    }
    if (position < 0)
        problem(c, "transport_maps = $tlspolicyd_routes, with tlspolicyd_routes = socketmap:unix:private/tlsmap:transport "
                   "(postfix/main.cf)",
                "main.cf: transport_maps does not ask tlspolicyd's socketmap (%s): listed recipients are not routed "
                "through their TLS transports", want);
    else if (position > 0)
        problem(c, "transport_maps = $tlspolicyd_routes, <your maps> (main.cf)",
                "main.cf: transport_maps asks %d other map(s) before tlspolicyd: their answer wins", position);
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, c->overrides);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (g_str_has_suffix(key, "/transport_maps"))
            problem(c, "remove that -o transport_maps= (master.cf)",
                    "master.cf: %s = %s overrides main.cf's transport_maps for that service", (char *)key, (char *)value);
    }
}


/* What the list needs: its tls-* transports, client certificates. */

/* Postfix 3.10 (RFC 8689) sends a message with "TLS-Required: no" at
 * level may, whatever the transport's level, unless tls_required_enable =
 * no for that transport.  Earlier versions have no such header rule. */
static void check_tls_required(Check *c, const Service *s, const char *route)
{
    if (c->version < 310)
        return;
    g_autofree char *value = service_param(c, s, "tls_required_enable", NULL);
    if (strcmp(value, "no") == 0)
        return;
    g_autofree char *fix = g_strdup_printf("-o tls_required_enable=no (master.cf, service %s)", route);
    problem(c, fix, "master.cf: service %s has tls_required_enable = %s: on Postfix %s a message with "
                    "\"TLS-Required: no\" goes out at level may, not at its listed level", route,
            *value ? value : "yes", param(c, "mail_version"));
}

/* A tls-* service the routes need: present, and not open to a TLS policy
 * table that could lower its level; the secure ones ask tlspolicyd's own
 * table (tls_policy_name) for MTA-STS patterns. */
static void check_transport(Check *c, GHashTable *reported, char *route, TlsLevel level, const char *why,
                            const char *key)
{
    char *colon = strchr(route, ':');
    if (colon)
        *colon = 0;
    if (!g_hash_table_add(reported, g_strdup(route)))
        return;
    const Service *s = find_service(c, route);
    if (!s) {
        g_autofree char *fix = g_strdup_printf("the %s lines of postfix/master.cf", route);
        problem(c, fix, "master.cf: no service %s, which the list's %s entries need (first: %s): their mail is "
                        "deferred", route, why, key);
        return;
    }
    gboolean overridden;
    g_autofree char *maps = service_param(c, s, "smtp_tls_policy_maps", &overridden);
    g_autofree char *ours = g_strconcat(":", c->config->tls_policy_name, NULL);
    gboolean asks_us = g_str_has_prefix(maps, "socketmap:") && g_str_has_suffix(maps, ours) && !strchr(maps, ',')
                       && !strchr(maps, ' ');
    if (*maps && !asks_us) {
        g_autofree char *fix = g_strdup_printf("-o smtp_tls_policy_maps=%s -o smtp_tls_per_site= (master.cf, service %s)",
                                               level == LEVEL_SECURE ? "$tlspolicyd_tls_policy" : "", route);
        problem(c, fix, "master.cf: service %s uses smtp_tls_policy_maps = %s, which can lower its TLS level",
                route, maps);
    } else if (level == LEVEL_SECURE && !asks_us) {
        g_autofree char *fix = g_strdup_printf("-o smtp_tls_policy_maps=$tlspolicyd_tls_policy (master.cf, service %s)",
                                               route);
        problem(c, fix, "master.cf: service %s does not ask tlspolicyd's %s table: MTA-STS mx patterns are not "
                        "applied, and a domain hosted under its provider's MX names is deferred", route,
                c->config->tls_policy_name);
    }
    check_tls_required(c, s, route);
}

static List *load_list(Check *c)
{
    g_autofree char *path = g_strconcat(c->config->list, ".lmdb", NULL);
    List *list = list_new(path);
    GError *error = NULL;
    if (!store_load(path, list, &error)) {
        g_autofree char *fix = g_strdup_printf("tlsmap %s", c->config->list);
        problem(c, fix, "%s (the daemon answers per on_list_error until there is one)", error->message);
        g_error_free(error);
        list_free(list);
        return NULL;
    }
    return list;
}

static void check_list(Check *c)
{
    const List *list = c->list;
    if (!list)
        return;
    g_autoptr(GHashTable) reported = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    gboolean wants_certs = FALSE;
    for (guint i = 0; i < list->records->len; i++) {
        const ListRecord *rec = &g_array_index(list->records, ListRecord, i);
        const Entry *e = &rec->value->entry;
        if (entry_level_is_exemption(e->level))
            continue;
        if (entry_covers(e, DIRECTION_INBOUND)
            && (e->level == LEVEL_VERIFY || e->level == LEVEL_SECURE || e->client_cert_required))
            wants_certs = TRUE;
        if (entry_covers(e, DIRECTION_OUTBOUND) && c->config->outbound_routing == ROUTING_FILTER
            && e->level == LEVEL_DANE && g_hash_table_add(reported, g_strdup("filter-dane")))
            problem(c, "outbound_routing = transport_maps (tlspolicyd.conf)",
                    "tlspolicyd.conf: outbound_routing = filter routes the list's dane entries (first: %s) "
                    "dane-only (FILTER decisions look no TLSA records up): mail to such a domain without TLSA "
                    "records is deferred, where transport_maps routing would send it encrypted",
                    rec->key);
        if (!entry_covers(e, DIRECTION_OUTBOUND) || c->config->outbound_routing == ROUTING_FILTER)
            continue;
        char route[CONFIG_ROUTE_MAX];
        config_route(c->config, e, route, sizeof route);
        check_transport(c, reported, route, config_route_level(e), entry_level_name(e->level), rec->key);
        /* DANE and MTA-STS raise listed domains to these */
        gboolean bounce = config_bounces(c->config, e);
        config_level_route(c->config, LEVEL_DANE_ONLY, bounce, "", route, sizeof route);
        check_transport(c, reported, route, LEVEL_DANE_ONLY, "DANE-publishing", rec->key);
        config_level_route(c->config, LEVEL_SECURE, bounce, "", route, sizeof route);
        check_transport(c, reported, route, LEVEL_SECURE, "MTA-STS-publishing", rec->key);
        if (e->level == LEVEL_DANE) {
            config_level_route(c->config, LEVEL_ENCRYPT, bounce, "", route, sizeof route);
            check_transport(c, reported, route, LEVEL_ENCRYPT, "dane (without TLSA records)", rec->key);
        }
    }
    if (wants_certs && strcmp(param(c, "smtpd_tls_ask_ccert"), "yes") != 0)
        problem(c, "smtpd_tls_ask_ccert = yes (main.cf)",
                "main.cf: smtpd_tls_ask_ccert = %s, but the list has inbound verify/secure/client_cert entries: "
                "their senders are refused for want of a certificate Postfix never asked for",
                param(c, "smtpd_tls_ask_ccert"));
    if (wants_certs && !*param(c, "smtpd_tls_CAfile") && !*param(c, "smtpd_tls_CApath"))
        problem(c, "smtpd_tls_CAfile = /etc/ssl/certs/ca-certificates.crt (main.cf)",
                "main.cf: no smtpd_tls_CAfile or smtpd_tls_CApath: client certificates cannot be verified");
}

static void check_sockets(Check *c)
{
    for (char **a = c->config->listen; a && *a; a++)
        if (!connects(*a))
            problem(c, "systemctl start tlspolicyd.socket tlspolicyd-socketmap.socket (or start tlspolicyd)",
                    "tlspolicyd is not answering on %s", *a);
    for (char **a = c->config->socketmap_listen; a && *a; a++)
        if (!connects(*a))
            problem(c, "systemctl start tlspolicyd.socket tlspolicyd-socketmap.socket (or start tlspolicyd)",
                    "tlspolicyd is not answering on %s", *a);
}

/* Where listed mail goes next: the relay, and what of the site's own
 * routing the transport table cannot keep. */
static void check_relay(Check *c)
{
    const Config *cfg = c->config;
    const char *theirs = postfix_site_relayhost(c->site);
    if (!*cfg->postfix_config_directory && strcmp(theirs, cfg->relayhost) != 0) {
        g_autofree char *fix = g_strdup_printf("postfix_config_directory = %s (tlspolicyd.conf)", c->site->directory);
        problem(c, fix, "main.cf: Postfix sends through %s, but tlspolicyd.conf has postfix_config_directory empty "
                        "and relayhost = %s: listed mail goes %s%s", *theirs ? theirs : "the recipients' MX hosts",
                *cfg->relayhost ? cfg->relayhost : "(none)", *cfg->relayhost ? "to " : "straight to the recipients' MX hosts",
                *cfg->relayhost ? cfg->relayhost : ", not through the relay");
    } else if (config_from_file(cfg, "relayhost") && strcmp(theirs, cfg->relayhost) != 0) {
        note(c, "tlspolicyd.conf: relayhost = %s is used for listed mail, not main.cf's %s", cfg->relayhost,
             *theirs ? theirs : "(none)");
    }
    static const char *const not_delivering[] = {"error", "retry", "discard", NULL};
    g_autofree char *dt = g_strdup(param(c, "default_transport"));
    char *colon = strchr(dt, ':');
    if (colon)
        *colon = 0;
    if (g_strv_contains(not_delivering, dt))
        problem(c, "remove the list's outbound entries, or default_transport = smtp (main.cf)",
                "main.cf: default_transport = %s: this Postfix sends no mail out, but tlspolicyd routes listed "
                "recipients out through its tls-* transports", param(c, "default_transport"));
    static const char *const per_sender[] = {"sender_dependent_relayhost_maps",
                                             "sender_dependent_default_transport_maps", NULL};
    for (const char *const *p = per_sender; *p; p++)
        if (*param(c, *p))
            problem(c, "nexthop= on the entries whose mail must take a sender's relay (the list)",
                    "main.cf: %s = %s: a transport_maps answer wins over it, so listed mail goes to %s, not to each "
                    "sender's relay", *p, param(c, *p), *cfg->relayhost ? cfg->relayhost : "the recipients' MX hosts");
}

/* The list's outbound keys, one per line, as transport_maps looks them up. */
static char *outbound_keys(const List *list)
{
    GString *keys = g_string_new(NULL);
    for (guint i = 0; i < list->records->len; i++) {
        const ListRecord *rec = &g_array_index(list->records, ListRecord, i);
        if (entry_covers(&rec->value->entry, DIRECTION_OUTBOUND) && !entry_level_is_exemption(rec->value->entry.level)
            && !strchr(rec->key, '\n'))
            g_string_append_printf(keys, "%s\n", rec->key);
    }
    return g_string_free(keys, FALSE);
}

/* "key<TAB>value" lines of the keys a map has (postmap -q -). */
static char *map_answers(const Check *c, const char *map, const char *keys)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, "postmap");
    if (c->dir) {
        g_ptr_array_add(argv, "-c");
        g_ptr_array_add(argv, (char *)c->dir);
    }
    g_ptr_array_add(argv, "-q");
    g_ptr_array_add(argv, "-");
    g_ptr_array_add(argv, (char *)map);
    g_ptr_array_add(argv, NULL);
    g_autoptr(GSubprocess) p = g_subprocess_newv((const char *const *)argv->pdata,
                                                 G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                     | G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL);
    char *out = NULL;
    if (!p || !g_subprocess_communicate_utf8(p, keys, NULL, &out, NULL, NULL))
        return NULL;
    return out;
}

/* The site's own transport_maps entries for listed keys: tlspolicyd's
 * answer comes first, so the site's route for them would be lost. */
static void check_site_transports(Check *c)
{
    if (!c->list || c->config->outbound_routing != ROUTING_TRANSPORT_MAPS)
        return;
    g_autofree char *keys = outbound_keys(c->list);
    g_auto(GStrv) maps = g_strsplit_set(param(c, "transport_maps"), " \t,", -1);
    for (char **m = maps; *m; m++) {
        if (!**m || g_str_has_prefix(*m, "socketmap:"))
            continue;
        g_autofree char *answers = map_answers(c, *m, keys);
        g_auto(GStrv) lines = g_strsplit(answers ? answers : "", "\n", -1);
        for (char **l = lines; *l; l++) {
            char *tab = strchr(*l, '\t');
            if (!tab)
                continue;
            *tab = 0;
            const char *value = tab + 1;
            const char *colon = strchr(value, ':');
            g_autofree char *transport = g_strndup(value, colon ? (gsize)(colon - value) : strlen(value));
            gboolean relays = colon && colon[1] && (strcmp(transport, "smtp") == 0 || strcmp(transport, "relay") == 0);
            g_autofree char *fix = relays ? g_strdup_printf("%s ... nexthop=%s (the list), to keep that next hop at the "
                                                            "entry's level", *l, colon + 1)
                                          : g_strdup_printf("direction=inbound for %s (the list), or remove it from %s",
                                                            *l, *m);
            problem(c, fix, "main.cf: transport_maps %s routes %s to %s, but tlspolicyd's socketmap answers for it "
                            "first: that route is not taken", *m, *l, value);
        }
    }
}

/* List keys for domains this Postfix delivers itself: never routed out
 * (decide.c), so their outbound level does nothing. */
static void check_local_keys(Check *c)
{
    for (guint i = 0; i < c->site->unfollowed->len; i++)
        problem(c, "local_domains = <those domains> (tlspolicyd.conf)",
                "main.cf: %s is not followed by tlspolicyd: a listed key for one of its domains would route that "
                "local mail out", (char *)c->site->unfollowed->pdata[i]);
    if (!c->list)
        return;
    for (guint i = 0; i < c->list->records->len; i++) {
        const ListRecord *rec = &g_array_index(c->list->records, ListRecord, i);
        const char *domain = key_domain(rec->key);
        if (!entry_covers(&rec->value->entry, DIRECTION_OUTBOUND) || rec->key[0] == '.'
            || !postfix_site_is_local(c->site, domain))
            continue;
        g_autofree char *fix = g_strdup_printf("direction=inbound for %s (the list)", rec->key);
        problem(c, fix, "the list: %s is a local or virtual domain of this Postfix: its mail is delivered here, the "
                        "entry's outbound level is not applied", rec->key);
    }
}

/* Could an account read path, each directory on the way included? */
static gboolean readable_by(const char *path, uid_t uid, gid_t gid, const char *user, char **why)
{
    if (uid == 0)
        return TRUE;
    gid_t groups[256];
    int ngroups = G_N_ELEMENTS(groups);
    if (!user || getgrouplist(user, gid, groups, &ngroups) < 0) {
        groups[0] = gid;
        ngroups = 1;
    }
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    for (char *p = abs + 1;; p++) {
        gboolean last = !*p;
        if (*p != '/' && !last)
            continue;
        char saved = *p;
        *p = 0;
        struct stat st;
        if (stat(abs, &st) != 0) {
            *why = g_strdup_printf("%s: %s", abs, g_strerror(errno));
            return FALSE;
        }
        mode_t need = last ? S_IROTH : S_IXOTH;
        mode_t bits = st.st_mode & 07;
        if (st.st_uid == uid)
            bits = (st.st_mode >> 6) & 07;
        else
            for (int g = 0; g < ngroups; g++)
                if (groups[g] == st.st_gid)
                    bits = (st.st_mode >> 3) & 07;
        if (!(bits & need)) {
            *why = g_strdup_printf("%s is mode %04o, owner %u, group %u", abs, (unsigned)(st.st_mode & 07777),
                                   (unsigned)st.st_uid, (unsigned)st.st_gid);
            return FALSE;
        }
        *p = saved;
        if (last)
            return TRUE;
    }
}

/* The account the daemon runs as: the one that answers on its socket,
 * else the unit's.  FALSE when there is none. */
static gboolean daemon_account(Check *c, uid_t *uid, gid_t *gid, char **user)
{
    uid_t peer = (uid_t)-1;
    for (char **a = c->config->listen; a && *a && peer == (uid_t)-1; a++)
        if (g_str_has_prefix(*a, "unix:"))
            endpoint_unix_peer(*a + 5, &peer);
    const char *account = strcmp(c->config->user, "root") == 0 ? "root" : c->config->user;
    struct passwd *pw = peer != (uid_t)-1 ? getpwuid(peer) : getpwnam(account);
    if (peer != (uid_t)-1) {
        *uid = peer;
        *gid = pw ? pw->pw_gid : (gid_t)-1;
        *user = g_strdup(pw ? pw->pw_name : NULL);
        return TRUE;
    }
    if (!pw) {
        g_autofree char *fix = g_strdup_printf("adduser --system --group --no-create-home %s (the Debian package "
                                               "makes " DAEMON_ACCOUNT ")", account);
        problem(c, fix, "no account %s (tlspolicyd.conf user =, the systemd unit's User=): the daemon cannot start",
                account);
        return FALSE;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    *user = g_strdup(pw->pw_name);
    return TRUE;
}

/* The list, source and compiled, as the daemon's account sees it. */
static void check_permissions(Check *c)
{
    uid_t uid;
    gid_t gid;
    g_autofree char *user = NULL;
    if (!daemon_account(c, &uid, &gid, &user))
        return;
    g_autofree char *compiled = g_strconcat(c->config->list, ".lmdb", NULL);
    const char *paths[] = {compiled, c->config->list};
    for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_autofree char *why = NULL;
        if (access(paths[i], F_OK) != 0 || readable_by(paths[i], uid, gid, user, &why))
            continue;
        g_autofree char *fix = g_strdup_printf("chgrp %s %s && chmod g+r %s", user ? user : DAEMON_ACCOUNT, paths[i],
                                               paths[i]);
        problem(c, fix, "%s is not readable by the daemon's account %s (uid %u): %s%s", paths[i],
                user ? user : "?", (unsigned)uid, why,
                i == 0 ? "; every listed recipient is answered per on_list_error" : "");
    }
}

/* Tables the tls-* services name (the bounce filter): there, and readable
 * by Postfix's mail_owner. */
static void check_service_tables(Check *c)
{
    struct passwd *pw = getpwnam(*param(c, "mail_owner") ? param(c, "mail_owner") : "postfix");
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, c->overrides);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (!g_str_has_prefix(key, "tls-"))
            continue;
        g_autofree char *v = expand(c, value);
        static const char *const types[] = {"regexp:", "pcre:", "texthash:", "cidr:", NULL};
        const char *path = NULL;
        for (const char *const *t = types; *t && !path; t++)
            if (g_str_has_prefix(v, *t))
                path = v + strlen(*t);
        if (!path || *path != '/')
            continue;
        g_autofree char *why = NULL;
        gboolean exists = access(path, F_OK) == 0;
        if (exists && (!pw || readable_by(path, pw->pw_uid, pw->pw_gid, pw->pw_name, &why)))
            continue;
        g_autofree char *fix = g_strdup_printf("install -m 644 postfix/%s %s", strrchr(path, '/') + 1, path);
        problem(c, fix, "master.cf: %s = %s, but %s %s: Postfix defers what that service would %s", (char *)key, v,
                path, exists ? "is not readable by Postfix" : "does not exist",
                strstr(key, "status_filter") ? "bounce" : "deliver");
    }
}

/* Unix sockets a chrooted service must reach from inside its chroot:
 * under queue_directory (as the shipped "unix:private/..." are). */
static void check_chroot_socket(Check *c, const char *address, const char *service, const char *what)
{
    const Service *s = NULL;
    for (guint i = 0; i < c->services->len && !s; i++) {
        const Service *x = c->services->pdata[i];
        if (strcmp(x->name, service) == 0)
            s = x;
    }
    const char *queue = param(c, "queue_directory");
    if (!s || s->chroot != 'y' || !g_str_has_prefix(address, "unix:/"))
        return;
    if (g_str_has_prefix(address + 5, queue) && address[5 + strlen(queue)] == '/')
        return;
    g_autofree char *fix = g_strdup_printf("a socket under %s/private (tlspolicyd.conf), named unix:private/... in "
                                           "main.cf", queue);
    problem(c, fix, "%s: %s is outside queue_directory %s, and service %s runs chrooted there: it cannot reach the "
                    "socket", what, address, queue, service);
}

static void check_chroot_sockets(Check *c)
{
    for (guint i = 0; i < c->services->len; i++) {
        const Service *s = c->services->pdata[i];
        if (!s->inet || strcmp(s->command, "smtpd") != 0)
            continue;
        g_autofree char *rr = service_param(c, s, "smtpd_recipient_restrictions", NULL);
        g_auto(GStrv) words = g_strsplit_set(rr, " \t,{}", -1);
        for (char **w = words; *w; w++)
            if (strcmp(*w, "check_policy_service") == 0)
                for (char **t = w + 1; *t; t++)
                    if (**t) {
                        check_chroot_socket(c, *t, s->name, "check_policy_service");
                        break;
                    }
    }
    g_auto(GStrv) maps = g_strsplit_set(param(c, "transport_maps"), " \t,", -1);
    for (char **m = maps; *m; m++) {
        if (!g_str_has_prefix(*m, "socketmap:"))
            continue;
        g_autofree char *address = g_strdup(*m + 10);
        char *last = strrchr(address, ':');
        if (last)
            *last = 0;
        check_chroot_socket(c, address, "rewrite", "transport_maps");
    }
}

int postfix_check(const Config *config, GString *out)
{
    static const char *const all[] = {"-x", NULL}, *const master[] = {"-M", NULL}, *const overrides[] = {"-P", NULL};
    const char *dir = *config->postfix_config_directory ? config->postfix_config_directory : NULL;
    g_autofree char *main_text = postconf(dir, all, out);
    g_autofree char *master_text = main_text ? postconf(dir, master, out) : NULL;
    g_autofree char *override_text = master_text ? postconf(dir, overrides, out) : NULL;
    if (!override_text)
        return POSTFIX_CHECK_FAILED;
    GError *error = NULL;
    g_autoptr(PostfixSite) own_site = config->postfix ? NULL : postfix_site_read(dir, &error);
    if (!config->postfix && !own_site) {
        g_string_append_printf(out, "cannot check: %s\n", error->message);
        g_error_free(error);
        return POSTFIX_CHECK_FAILED;
    }
    Check c = {
        .config = config,
        .params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        .overrides = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        .services = g_ptr_array_new_with_free_func((GDestroyNotify)service_free),
        .out = out,
        .site = config->postfix ? config->postfix : own_site,
        .dir = dir,
    };
    postfix_site_parse_assignments(main_text, c.params);
    postfix_site_parse_assignments(override_text, c.overrides);
    parse_services(master_text, c.services);
    int major = 0, minor = 0;
    if (sscanf(param(&c, "mail_version"), "%d.%d", &major, &minor) == 2)
        c.version = major * 100 + minor;
    g_string_append_printf(out, "checking Postfix %s (%s) against tlspolicyd's configuration and list %s\n",
                            param(&c, "mail_version"), dir ? dir : "default configuration", config->list);
    c.list = load_list(&c);
    check_inbound(&c);
    check_outbound(&c);
    check_relay(&c);
    check_site_transports(&c);
    check_local_keys(&c);
    check_list(&c);
    check_service_tables(&c);
    check_permissions(&c);
    check_chroot_sockets(&c);
    check_sockets(&c);
    if (c.problems)
        g_string_append_printf(out, "%u problem%s found\n", c.problems, c.problems == 1 ? "" : "s");
    else
        g_string_append(out, "no problems found\n");
    if (c.list)
        list_free(c.list);
    g_hash_table_unref(c.params);
    g_hash_table_unref(c.overrides);
    g_ptr_array_unref(c.services);
    return c.problems ? POSTFIX_CHECK_PROBLEMS : POSTFIX_CHECK_CLEAN;
}

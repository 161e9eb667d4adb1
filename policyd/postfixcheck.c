/*
 * postfixcheck.c - tlspolicyd --check-postfix; see postfixcheck.h.
 * main.c calls it; it reads Postfix's configuration through postconf and
 * checks the wiring (restrictions, transport_maps, the tls-* services,
 * the sockets); postfixpromises.c checks what the wiring rests on.
 */
#include "postfixcheck.h"

#include <stdio.h>
#include <string.h>

#include "endpoint.h"
#include "postfixcheck_rows.h"
#include "store.h"

static void service_free(Service *s)
{
    g_free(s->name);
    g_free(s->type);
    g_free(s->command);
    g_free(s);
}

void pfc_problem(Check *c, const char *fix, const char *fmt, ...)
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

void pfc_note(Check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_string_append_printf(c->out, "note: %s\n", what);
}

const char *pfc_param(const Check *c, const char *name)
{
    const char *v = g_hash_table_lookup(c->params, name);
    return v ? v : "";
}

/* An -o override's value, with $names from main.cf expanded. */
char *pfc_expand(const Check *c, const char *value)
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
        g_string_append(out, pfc_param(c, name));
        p = start + len + (braced && start[len] ? 1 : 0);
    }
    return g_string_free(out, FALSE);
}

/* A service's value of a parameter: its -o override, else main.cf's. */
char *pfc_service_param(const Check *c, const Service *s, const char *name, gboolean *overridden)
{
    g_autofree char *key = g_strdup_printf("%s/%s/%s", s->name, s->type, name);
    const char *o = g_hash_table_lookup(c->overrides, key);
    if (overridden)
        *overridden = o != NULL;
    return o ? pfc_expand(c, o) : g_strdup(pfc_param(c, name));
}

const Service *pfc_find_service(const Check *c, const char *name)
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
        return g_strdup_printf("unix:%s/%s", pfc_param(c, "queue_directory"), address + 5);
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
    g_autofree char *context = pfc_service_param(c, s, "smtpd_policy_service_policy_context", NULL);
    g_autofree char *sasl = pfc_service_param(c, s, "smtpd_sasl_auth_enable", NULL);
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
    const char *main_rr = pfc_param(c, "smtpd_recipient_restrictions");
    if (!has_policy_check(c, main_rr) && !has_policy_check(c, pfc_param(c, "smtpd_relay_restrictions")))
        pfc_problem(c, "smtpd_recipient_restrictions = check_policy_service { $tlspolicyd_service, "
                   "default_action=DEFER_IF_PERMIT, timeout=10s }, ... (postfix/main.cf)",
                "main.cf: smtpd_recipient_restrictions does not ask tlspolicyd (%s): inbound mail is not checked",
                c->config->listen && c->config->listen[0] ? c->config->listen[0] : "no listen address");
    for (guint i = 0; i < c->services->len; i++) {
        const Service *s = c->services->pdata[i];
        gboolean overridden;
        if (!s->inet || strcmp(s->command, "smtpd") != 0)
            continue;
        g_autofree char *rr = pfc_service_param(c, s, "smtpd_recipient_restrictions", &overridden);
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
        pfc_problem(c, fix, "master.cf: service %s overrides smtpd_recipient_restrictions without the policy check%s",
                s->name, submission_like(c, s) ? " (FILTER routing misses its mail)" : ": inbound mail there is not checked");
    }
}

static void check_outbound(Check *c)
{
    if (c->config->outbound_routing == ROUTING_FILTER) {
        pfc_problem(c, "outbound_routing = transport_maps (tlspolicyd.conf) and transport_maps = $tlspolicyd_routes (main.cf)",
                "tlspolicyd.conf: outbound_routing = filter routes only mail that passes a policy check: sendmail, "
                "pickup and a content filter's re-injection go out without their TLS level");
        if (*pfc_param(c, "content_filter"))
            pfc_problem(c, "outbound_routing = transport_maps (tlspolicyd.conf)",
                    "main.cf: content_filter = %s with FILTER routing: a FILTER answer replaces the content filter, "
                    "or the re-injected mail loses its TLS route", pfc_param(c, "content_filter"));
        return;
    }
    if (!c->config->socketmap_listen || !c->config->socketmap_listen[0]) {
        pfc_problem(c, "socketmap_listen = unix:/var/spool/postfix/private/tlsmap; (tlspolicyd.conf)",
                "tlspolicyd.conf: outbound_routing = transport_maps but no socketmap_listen: nothing routes listed "
                "recipients");
        return;
    }
    g_autofree char *want = g_strdup_printf("socketmap:%s:%s", c->config->socketmap_listen[0], c->config->socketmap_name);
    g_auto(GStrv) maps = g_strsplit_set(pfc_param(c, "transport_maps"), " \t,", -1);
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
        pfc_problem(c, "transport_maps = $tlspolicyd_routes, with tlspolicyd_routes = socketmap:unix:private/tlsmap:transport "
                   "(postfix/main.cf)",
                "main.cf: transport_maps does not ask tlspolicyd's socketmap (%s): listed recipients are not routed "
                "through their TLS transports", want);
    else if (position > 0)
        pfc_problem(c, "transport_maps = $tlspolicyd_routes, <your maps> (main.cf)",
                "main.cf: transport_maps asks %d other map(s) before tlspolicyd: their answer wins", position);
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, c->overrides);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (g_str_has_suffix(key, "/transport_maps"))
            pfc_problem(c, "remove that -o transport_maps= (master.cf)",
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
    g_autofree char *value = pfc_service_param(c, s, "tls_required_enable", NULL);
    if (strcmp(value, "no") == 0)
        return;
    g_autofree char *fix = g_strdup_printf("-o tls_required_enable=no (master.cf, service %s)", route);
    pfc_problem(c, fix, "master.cf: service %s has tls_required_enable = %s: on Postfix %s a message with "
                    "\"TLS-Required: no\" goes out at level may, not at its listed level", route,
            *value ? value : "yes", pfc_param(c, "mail_version"));
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
    const Service *s = pfc_find_service(c, route);
    if (!s) {
        g_autofree char *fix = g_strdup_printf("the %s lines of postfix/master.cf", route);
        pfc_problem(c, fix, "master.cf: no service %s, which the list's %s entries need (first: %s): their mail is "
                        "deferred", route, why, key);
        return;
    }
    gboolean overridden;
    g_autofree char *maps = pfc_service_param(c, s, "smtp_tls_policy_maps", &overridden);
    g_autofree char *ours = g_strconcat(":", c->config->tls_policy_name, NULL);
    gboolean asks_us = g_str_has_prefix(maps, "socketmap:") && g_str_has_suffix(maps, ours) && !strchr(maps, ',')
                       && !strchr(maps, ' ');
    if (*maps && !asks_us) {
        g_autofree char *fix = g_strdup_printf("-o smtp_tls_policy_maps=%s -o smtp_tls_per_site= (master.cf, service %s)",
                                               level == LEVEL_SECURE ? "$tlspolicyd_tls_policy" : "", route);
        pfc_problem(c, fix, "master.cf: service %s uses smtp_tls_policy_maps = %s, which can lower its TLS level",
                route, maps);
    } else if (level == LEVEL_SECURE && !asks_us) {
        g_autofree char *fix = g_strdup_printf("-o smtp_tls_policy_maps=$tlspolicyd_tls_policy (master.cf, service %s)",
                                               route);
        pfc_problem(c, fix, "master.cf: service %s does not ask tlspolicyd's %s table: MTA-STS mx patterns are not "
                        "applied, and a domain hosted under its provider's MX names is deferred", route,
                c->config->tls_policy_name);
    }
    check_tls_required(c, s, route);
}

static List *load_list(Check *c)
{
    g_autofree char *path = store_compiled_path(c->config->list);
    List *list = list_new(path);
    GError *error = NULL;
    if (!store_load(path, list, &error)) {
        g_autofree char *fix = g_strdup_printf("tlsmap %s", c->config->list);
        pfc_problem(c, fix, "%s (the daemon answers per on_list_error until there is one)", error->message);
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
            pfc_problem(c, "outbound_routing = transport_maps (tlspolicyd.conf)",
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
    if (wants_certs && strcmp(pfc_param(c, "smtpd_tls_ask_ccert"), "yes") != 0)
        pfc_problem(c, "smtpd_tls_ask_ccert = yes (main.cf)",
                "main.cf: smtpd_tls_ask_ccert = %s, but the list has inbound verify/secure/client_cert entries: "
                "their senders are refused for want of a certificate Postfix never asked for",
                pfc_param(c, "smtpd_tls_ask_ccert"));
    if (wants_certs && !*pfc_param(c, "smtpd_tls_CAfile") && !*pfc_param(c, "smtpd_tls_CApath"))
        pfc_problem(c, "smtpd_tls_CAfile = /etc/ssl/certs/ca-certificates.crt (main.cf)",
                "main.cf: no smtpd_tls_CAfile or smtpd_tls_CApath: client certificates cannot be verified");
}

static void check_sockets(Check *c)
{
    for (char **a = c->config->listen; a && *a; a++)
        if (!connects(*a))
            pfc_problem(c, "systemctl start tlspolicyd.socket tlspolicyd-socketmap.socket (or start tlspolicyd)",
                    "tlspolicyd is not answering on %s", *a);
    for (char **a = c->config->socketmap_listen; a && *a; a++)
        if (!connects(*a))
            pfc_problem(c, "systemctl start tlspolicyd.socket tlspolicyd-socketmap.socket (or start tlspolicyd)",
                    "tlspolicyd is not answering on %s", *a);
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
    if (sscanf(pfc_param(&c, "mail_version"), "%d.%d", &major, &minor) == 2)
        c.version = major * 100 + minor;
    g_string_append_printf(out, "checking Postfix %s (%s) against tlspolicyd's configuration and list %s\n",
                            pfc_param(&c, "mail_version"), dir ? dir : "default configuration", config->list);
    c.list = load_list(&c);
    check_inbound(&c);
    check_outbound(&c);
    check_list(&c);
    postfix_check_promises(&c);
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

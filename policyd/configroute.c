/*
 * configroute.c - what the configuration says about a route: an entry's
 * transport and next hop, whether it bounces, the global floor's reply;
 * and the Postfix it reads its relay and local domains from; see
 * config.h.
 */
#include "config.h"

#include <string.h>

#include "escape.h"

gboolean config_read_postfix(Config *c, char **note, GError **error)
{
    *note = NULL;
    if (!*c->postfix_config_directory)
        return TRUE;
    GError *err = NULL;
    c->postfix = postfix_site_read(c->postfix_config_directory, &err);
    if (!c->postfix && g_error_matches(err, POSTFIX_SITE_ERROR, POSTFIX_SITE_ERROR_NO_CONFIG)) {
        *note = g_strdup_printf("%s; relayhost and local domains come from tlspolicyd.conf alone", err->message);
        g_error_free(err);
        return TRUE;
    }
    if (!c->postfix) {
        g_propagate_error(error, err);
        return FALSE;
    }
    const char *relayhost = postfix_site_relayhost(c->postfix);
    if (config_from_file(c, "relayhost"))
        return TRUE;
    if (*relayhost && !entry_nexthop_valid(relayhost)) {
        char shown[512];
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "%s/main.cf: relayhost %s is not one next-hop destination tlspolicyd can route listed mail to; "
                    "set relayhost in tlspolicyd.conf", c->postfix->directory, text_escape(relayhost, shown, sizeof shown));
        return FALSE;
    }
    g_free(c->relayhost);
    c->relayhost = g_strdup(relayhost);
    return TRUE;
}

char *config_describe_postfix(const Config *c)
{
    const PostfixSite *site = c->postfix;
    if (!site)
        return g_strdup("");
    GString *out = g_string_new(NULL);
    g_string_printf(out, "Postfix %s in %s: relayhost ", postfix_site_param(site, "mail_version"), site->directory);
    const char *theirs = postfix_site_relayhost(site);
    char shown[512];
    if (!config_from_file(c, "relayhost"))
        g_string_append_printf(out, "%s (%s)", *theirs ? text_escape(theirs, shown, sizeof shown) : "none",
                               *postfix_site_param(site, "relayhost") ? "main.cf relayhost"
                               : *theirs                                ? "main.cf default_transport"
                                                                        : "main.cf");
    else if (strcmp(theirs, c->relayhost) != 0)
        g_string_append_printf(out, "%s (tlspolicyd.conf, not main.cf's %s)", *c->relayhost ? c->relayhost : "none",
                               *theirs ? text_escape(theirs, shown, sizeof shown) : "none");
    else
        g_string_append_printf(out, "%s (tlspolicyd.conf, as main.cf)", *c->relayhost ? c->relayhost : "none");
    g_string_append_printf(out, ", %u local and virtual domains never routed out",
                           g_hash_table_size(site->local_domains));
    /* main.cf and its files' text: escaped for the log */
    for (guint i = 0; i < site->unfollowed->len; i++)
        g_string_append_printf(out, "%s%s", i ? ", " : "; not followed (tlspolicyd cannot list them): ",
                               text_escape(site->unfollowed->pdata[i], shown, sizeof shown));
    return g_string_free(out, FALSE);
}

gboolean config_bounces(const Config *c, const Entry *entry)
{
    OnFailure f = entry->on_failure != ON_FAILURE_UNSET ? entry->on_failure : c->default_on_failure;
    return f == ON_FAILURE_BOUNCE;
}

void config_level_route(const Config *c, TlsLevel level, gboolean bounce, const char *nexthop,
                        char *out, size_t size)
{
    if (level == LEVEL_DANE)
        level = LEVEL_DANE_ONLY;  /* no transport of its own (config_route_level) */
    const char *transport = bounce ? c->bounce_transports[level] : c->transports[level];
    g_snprintf(out, size, "%s:%s", transport, nexthop);
}

const char *config_nexthop(const Config *c, const Entry *entry)
{
    return entry->nexthop ? entry->nexthop : c->relayhost;
}

TlsLevel config_route_level(const Entry *entry)
{
    return entry->level == LEVEL_DANE && !entry->transport ? LEVEL_DANE_ONLY : entry->level;
}

void config_route(const Config *c, const Entry *entry, char *out, size_t size)
{
    if (entry->transport)
        g_snprintf(out, size, "%s:%s", entry->transport, config_nexthop(c, entry));
    else
        config_level_route(c, config_route_level(entry), config_bounces(c, entry), config_nexthop(c, entry), out,
                           size);
}

void config_global_floor_notice(const Config *c, char *out, size_t size)
{
    if (*c->global_floor_notice) {
        g_strlcpy(out, c->global_floor_notice, size);
        return;
    }
    /* "This server requires TLS 1.2 or later and does not support 3DES/DES/..." */
    const char *proto = entry_protocol_name(c->min_protocol);
    g_autofree char *version = g_str_has_prefix(proto, "TLSv") ? g_strconcat("TLS ", proto + 4, NULL) : g_strdup(proto);
    g_auto(GStrv) names = g_strsplit(c->exclude_ciphers, ":", -1);
    g_autofree char *joined = g_strjoinv("/", names);
    if (*joined)
        g_snprintf(out, size, "This server requires %s or later and does not support %s", version, joined);
    else
        g_snprintf(out, size, "This server requires %s or later", version);
}

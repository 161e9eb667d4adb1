/*
 * configcheck.c - the rules a configuration must keep across its options
 * (one row each: the option it is about, why, and the test), and the
 * checks of single values (reply texts, status codes, addresses); see
 * config.h.
 */
#include "config.h"

#include <string.h>

/* A reply text goes to the SMTP client after the status code: one line,
 * no control characters (empty: the built-in text). */
static gboolean notice_is_valid(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return FALSE;
    }
    return strlen(text) <= 512 && g_utf8_validate(text, -1, NULL);
}

/* An address for MAIL FROM and a From field: local@domain, nothing that
 * could end or add a field or a command ("" = the default). */
static gboolean address_is_valid(const char *address)
{
    const char *at = strchr(address, '@');
    if (!*address)
        return TRUE;
    if (!at || at == address || !at[1] || strchr(at + 1, '@') || strlen(address) > 254)
        return FALSE;
    for (const unsigned char *p = (const unsigned char *)address; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("<>\"\\,;()[]", *p))
            return FALSE;
    return TRUE;
}

/* "5.X.Y" with 1-3 digits each (RFC 3463): nothing else may follow the
 * reply code, or a newline in it would inject a line into the reply. */
static gboolean status_is_valid(const char *status)
{
    if (status[0] != '5' || status[1] != '.')
        return FALSE;
    const char *p = status + 2;
    for (int part = 0; part < 2; part++) {
        size_t digits = strspn(p, "0123456789");
        if (digits < 1 || digits > 3)
            return FALSE;
        p += digits;
        if (part == 0 && *p++ != '.')
            return FALSE;
    }
    return *p == 0;
}

static gboolean addresses_are_valid(char **addresses)
{
    for (char **a = addresses; a && *a; a++) {
        const char *colon = g_str_has_prefix(*a, "inet:") ? strrchr(*a + 5, ':') : NULL;
        gboolean inet_ok = colon && colon > *a + 5 && colon[1];
        gboolean unix_ok = g_str_has_prefix(*a, "unix:") && (*a)[5];
        if (!inet_ok && !unix_ok)
            return FALSE;
    }
    return TRUE;
}

/* The first rule the configuration breaks, and the option it is about. */
const char *config_first_problem(const Config *c, const char **option)
{
    /* one row a rule: the option it is about, why, and whether c breaks it */
    const struct {
        const char *option, *why;
        gboolean broken;
    } rules[] = {
        {"listen", "listen: at least one address is needed",
         !c->listen || !c->listen[0]},
        {"list", "list: a list file is needed",
         !c->list || !*c->list},
        {"max_line", "max_line must not exceed max_request",
         c->limits.max_line > c->limits.max_request},
        {"reject_code", "reject_code must be a 5XX SMTP code",
         strlen(c->reject_code) != 3 || c->reject_code[0] != '5' || !g_ascii_isdigit(c->reject_code[1])
             || !g_ascii_isdigit(c->reject_code[2])},
        {"reject_status", "reject_status must be a 5.X.Y enhanced status code",
         !status_is_valid(c->reject_status)},
        {"reject_notice", "reject_notice must be one line of printable UTF-8",
         !notice_is_valid(c->reject_notice)},
        {"global_floor_notice", "global_floor_notice must be one line of printable UTF-8",
         !notice_is_valid(c->global_floor_notice)},
        {"listen", "listen: each address is unix:/path or inet:host:port",
         !addresses_are_valid(c->listen)},
        {"socketmap_listen", "socketmap_listen: each address is unix:/path or inet:host:port",
         !addresses_are_valid(c->socketmap_listen)},
        {"socketmap_name", "socketmap_name must be one word",
         !*c->socketmap_name || strpbrk(c->socketmap_name, " \t") != NULL},
        {"metrics_listen", "metrics_listen: each address is unix:/path or inet:host:port",
         !addresses_are_valid(c->metrics_listen)},
        {"tls_policy_name", "tls_policy_name must be one word, other than socketmap_name",
         !*c->tls_policy_name || strpbrk(c->tls_policy_name, " \t") != NULL || strcmp(c->tls_policy_name, c->socketmap_name) == 0},
        {"dns_trust_anchor", "dns_trust_anchor: a DNSSEC trust anchor file is needed (DANE is never trusted without one)",
         !*c->dns_trust_anchor},
        {"tlsrpt", "tlsrpt: TLS-RPT reports are made from Postfix's delivery log: set maillog",
         c->tlsrpt != TLSRPT_OFF && !*c->maillog},
        {"tlsrpt", "tlsrpt = dry-run writes the reports to tlsrpt_directory: set it",
         c->tlsrpt == TLSRPT_DRY_RUN && !*c->tlsrpt_directory},
        {"tlsrpt_contact", "tlsrpt_contact must be an address, local@domain",
         !address_is_valid(c->tlsrpt_contact)},
        {"tlsrpt_submit", "tlsrpt_submit must be unix:/path, unix:public/name (under Postfix's queue_directory) or empty",
         *c->tlsrpt_submit && (!g_str_has_prefix(c->tlsrpt_submit, "unix:") || !c->tlsrpt_submit[5])},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rules); i++) {
        if (rules[i].broken) {
            *option = rules[i].option;
            return rules[i].why;
        }
    }
    return NULL;
}

gboolean config_validate(const Config *c, GError **error)
{
    const char *option;
    const char *why = config_first_problem(c, &option);
    if (why)
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s", why);
    return why == NULL;
}

/*
 * config.c - the option table, defaults, key file parsing.  Every option
 * is one row of the table below, as Postfix's parameter tables are: its
 * name, type, where it goes, its default (text, parsed as a file's value
 * is) and whether a reload changes it.  Validation across options is
 * configcheck.c's.
 */
#include "config.h"

#include "account.h"
#include "escape.h"
#include "tlsrules.h"

#include <stddef.h>
#include <string.h>

G_DEFINE_QUARK(tlspolicyd-config-error-quark, config_error)

#define GROUP "tlspolicyd"

typedef enum {
    T_STRING, T_STRV, T_BOOL, T_UINT, T_OCTAL, T_PROTOCOL, T_CHOICE, T_SIZE,
    T_TRANSPORT,  /* a master.cf service name, as an entry's transport= */
    T_NEXTHOP,    /* empty, or one next-hop destination, as an entry's nexthop= */
} OptionType;

typedef enum {
    RELOAD,   /* a SIGHUP puts a new value in effect */
    RESTART,  /* read at start only (sockets, lookups, accounts): a reload says it waits */
} OptionChange;

typedef struct {
    const char *name;
    OptionType type;
    size_t offset;
    const char *default_value;   /* as written in tlspolicyd.conf (a list: ';'-separated) */
    OptionChange change;
    const char *const *choices;  /* T_CHOICE: index = stored value */
    guint min, max;              /* T_UINT, T_SIZE */
} Option;

static const char *const list_error_choices[] = {"tempfail", "dunno", NULL};
static const char *const mixed_choices[] = {"reject", "strictest", NULL};
static const char *const routing_choices[] = {"filter", "transport_maps", NULL};
static const char *const failure_choices[] = {"", "defer", "bounce", NULL};
static const char *const floor_choices[] = {"off", "report", "enforce", NULL};
static const char *const dane_choices[] = {"off", "auto", NULL};
static const char *const mta_sts_choices[] = {"off", "testing", "enforce", NULL};
static const char *const lookup_choices[] = {"temp", "list", NULL};  /* LookupFallback */
static const char *const tlsrpt_choices[] = {"off", "dry-run", "send", NULL};  /* TlsrptMode */

/* Options stored as a string (validated or not). */
static gboolean is_string(OptionType type)
{
    return type == T_STRING || type == T_TRANSPORT || type == T_NEXTHOP;
}

#define O(field) offsetof(Config, field)
static const Option options[] = {
    {"list", T_STRING, O(list), SYSCONFDIR "/tlspolicyd/tls.list", RELOAD},
    {"listen", T_STRV, O(listen), "unix:/var/spool/postfix/private/tlspolicy;", RESTART},
    {"socketmap_listen", T_STRV, O(socketmap_listen), "", RESTART},
    {"socketmap_name", T_STRING, O(socketmap_name), "transport", RELOAD},
    {"metrics_listen", T_STRV, O(metrics_listen), "", RESTART},
    {"state_file", T_STRING, O(state_file), "", RESTART},
    {"local_domains", T_STRV, O(local_domains), "", RELOAD},
    {"socket_mode", T_OCTAL, O(socket_mode), "0666", RESTART, NULL, 0, 0777},
    {"socket_owner", T_STRING, O(socket_owner), "", RESTART},
    {"socket_group", T_STRING, O(socket_group), "", RESTART},
    {"allow_remote", T_BOOL, O(allow_remote), "false", RESTART},
    {"outbound_context", T_STRING, O(outbound_context), "outbound", RELOAD},
    {"sasl_is_outbound", T_BOOL, O(sasl_is_outbound), "false", RELOAD},
    {"recipient_delimiter", T_STRING, O(recipient_delimiter), "+", RELOAD},
    {"mixed_recipients", T_CHOICE, O(mixed_recipients), "reject", RELOAD, mixed_choices},
    {"outbound_routing", T_CHOICE, O(outbound_routing), "transport_maps", RELOAD, routing_choices},
    {"on_failure", T_CHOICE, O(default_on_failure), "defer", RELOAD, failure_choices},
    {"transport_encrypt", T_TRANSPORT, O(transports[LEVEL_ENCRYPT]), "tls-encrypt", RELOAD},
    {"transport_verify", T_TRANSPORT, O(transports[LEVEL_VERIFY]), "tls-verify", RELOAD},
    {"transport_secure", T_TRANSPORT, O(transports[LEVEL_SECURE]), "tls-secure", RELOAD},
    {"transport_dane_only", T_TRANSPORT, O(transports[LEVEL_DANE_ONLY]), "tls-dane-only", RELOAD},
    {"bounce_transport_encrypt", T_TRANSPORT, O(bounce_transports[LEVEL_ENCRYPT]), "tls-encrypt-bounce", RELOAD},
    {"bounce_transport_verify", T_TRANSPORT, O(bounce_transports[LEVEL_VERIFY]), "tls-verify-bounce", RELOAD},
    {"bounce_transport_secure", T_TRANSPORT, O(bounce_transports[LEVEL_SECURE]), "tls-secure-bounce", RELOAD},
    {"bounce_transport_dane_only", T_TRANSPORT, O(bounce_transports[LEVEL_DANE_ONLY]), "tls-dane-only-bounce", RELOAD},
    {"relayhost", T_NEXTHOP, O(relayhost), "", RELOAD},
    {"min_protocol", T_PROTOCOL, O(min_protocol), "TLSv1.2", RELOAD},
    {"exclude_ciphers", T_STRING, O(exclude_ciphers), TLS_DEFAULT_EXCLUDED_CIPHERS, RELOAD},
    {"global_floor", T_CHOICE, O(global_floor), "off", RELOAD, floor_choices},
    {"global_floor_notice", T_STRING, O(global_floor_notice), "", RELOAD},
    {"reject_code", T_STRING, O(reject_code), "550", RELOAD},
    {"reject_status", T_STRING, O(reject_status), "5.7.1", RELOAD},
    {"reject_notice", T_STRING, O(reject_notice), "", RELOAD},
    {"on_list_error", T_CHOICE, O(on_list_error), "tempfail", RELOAD, list_error_choices},
    {"dane", T_CHOICE, O(dane), "off", RELOAD, dane_choices},
    {"mta_sts", T_CHOICE, O(mta_sts), "off", RELOAD, mta_sts_choices},
    {"on_lookup_pending", T_CHOICE, O(on_lookup_pending), "list", RELOAD, lookup_choices},
    {"on_lookup_failure", T_CHOICE, O(on_lookup_failure), "list", RELOAD, lookup_choices},
    {"dns_resolver", T_STRING, O(dns_resolver), "", RESTART},
    {"dns_trust_anchor", T_STRING, O(dns_trust_anchor), CONFIG_DEFAULT_TRUST_ANCHOR, RESTART},
    {"dane_tlsa_port", T_UINT, O(dane_tlsa_port), "25", RESTART, NULL, 1, 65535},
    {"mta_sts_ca_file", T_STRING, O(mta_sts_ca_file), "", RESTART},
    {"mta_sts_timeout", T_UINT, O(mta_sts_timeout), "10", RESTART, NULL, 1, 60},
    {"mta_sts_private_hosts", T_BOOL, O(mta_sts_private_hosts), "false", RESTART},
    {"destination_cache_size", T_UINT, O(destination_cache_size), "100000", RESTART, NULL, 100, 10000000},
    {"destination_max_lookups", T_UINT, O(destination_max_lookups), "256", RESTART, NULL, 1, 100000},
    {"mta_sts_state_file", T_STRING, O(mta_sts_state_file), "", RESTART},
    {"tls_policy_name", T_STRING, O(tls_policy_name), "tlspolicy", RELOAD},
    {"postfix_config_directory", T_STRING, O(postfix_config_directory), "/etc/postfix", RELOAD},
    {"user", T_STRING, O(user), ACCOUNT_DEFAULT, RESTART},
    {"log_file", T_STRING, O(log_file), "", RESTART},
    {"maillog", T_STRING, O(maillog), "", RESTART},
    {"tlsrpt", T_CHOICE, O(tlsrpt), "off", RESTART, tlsrpt_choices},
    {"tlsrpt_directory", T_STRING, O(tlsrpt_directory), "", RELOAD},
    {"tlsrpt_organization", T_STRING, O(tlsrpt_organization), "", RELOAD},
    {"tlsrpt_contact", T_STRING, O(tlsrpt_contact), "", RELOAD},
    {"tlsrpt_submit", T_STRING, O(tlsrpt_submit), "unix:public/tlsrpt", RESTART},
    {"max_line", T_SIZE, O(limits.max_line), "4096", RELOAD, NULL, 256, 1 << 20},
    {"max_request", T_SIZE, O(limits.max_request), "65536", RELOAD, NULL, 1024, 16 << 20},
    {"max_attributes", T_UINT, O(limits.max_attributes), "100", RELOAD, NULL, 10, 100000},
    {"read_timeout", T_UINT, O(read_timeout), "10", RELOAD, NULL, 1, 3600},
    {"idle_timeout", T_UINT, O(idle_timeout), "600", RELOAD, NULL, 1, 86400},
    {"max_connections", T_UINT, O(max_connections), "4096", RELOAD, NULL, 1, 1000000},
    {"verbose", T_BOOL, O(verbose), "false", RELOAD},
};

const char *const *config_known_keys(void)
{
    static const char *names[G_N_ELEMENTS(options) + 1];
    for (guint i = 0; i < G_N_ELEMENTS(options); i++)
        names[i] = options[i].name;
    return names;
}

static gboolean set_option(Config *c, const Option *opt, GKeyFile *kf, const char *why_prefix, GError **error);

/* Every option at its default, parsed as a file's value would be: a
 * default that does not parse is a bug the unit tests catch. */
Config *config_new_defaults(void)
{
    Config *c = g_new0(Config, 1);
    c->from_file = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    for (guint i = 0; i < G_N_ELEMENTS(options); i++)
        g_key_file_set_value(kf, GROUP, options[i].name, options[i].default_value);
    for (guint i = 0; i < G_N_ELEMENTS(options); i++) {
        GError *error = NULL;
        if (!set_option(c, &options[i], kf, "default: ", &error))
            g_error("%s", error->message);
    }
    return c;
}

const char *config_default(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(options); i++)
        if (strcmp(options[i].name, name) == 0)
            return options[i].default_value;
    return NULL;
}

void config_free(Config *c)
{
    if (!c)
        return;
    for (guint i = 0; i < G_N_ELEMENTS(options); i++) {
        void *field = (char *)c + options[i].offset;
        if (is_string(options[i].type))
            g_free(*(char **)field);
        else if (options[i].type == T_STRV)
            g_strfreev(*(char ***)field);
    }
    postfix_site_free(c->postfix);
    g_hash_table_unref(c->from_file);
    g_free(c);
}


/* GKeyFile does not say where a key is; find its line for messages. */
static guint line_of(const char *text, const char *key)
{
    guint line = 1;
    size_t len = strlen(key);
    for (const char *p = text; *p; line++) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, key, len) == 0 && strchr("= \t\r\n", p[len]))
            return line;
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

static gboolean set_option(Config *c, const Option *opt, GKeyFile *kf, const char *why_prefix,
                           GError **error)
{
    void *field = (char *)c + opt->offset;
    GError *err = NULL;
    g_autofree char *value = g_key_file_get_string(kf, GROUP, opt->name, &err);
    if (!value) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s%s", why_prefix, err->message);
        g_error_free(err);
        return FALSE;
    }
    switch (opt->type) {
    case T_TRANSPORT:
        if (!entry_transport_valid(value)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s%s must be a master.cf service name (letters, digits, '-', '_', '.'), "
                        "not \"%s\"", why_prefix, opt->name, value);
            return FALSE;
        }
        G_GNUC_FALLTHROUGH;
    case T_NEXTHOP:
        if (opt->type == T_NEXTHOP && *value && !entry_nexthop_valid(value)) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                        "%s%s must be empty or one next-hop destination ([host]:port), not \"%s\"",
                        why_prefix, opt->name, value);
            return FALSE;
        }
        G_GNUC_FALLTHROUGH;
    case T_STRING:
        g_free(*(char **)field);
        *(char **)field = g_steal_pointer(&value);
        return TRUE;
    case T_STRV: {
        gsize n;
        char **list = g_key_file_get_string_list(kf, GROUP, opt->name, &n, NULL);
        g_strfreev(*(char ***)field);
        *(char ***)field = list ? list : g_new0(char *, 1);
        return TRUE;
    }
    case T_BOOL: {
        gboolean b = g_key_file_get_boolean(kf, GROUP, opt->name, &err);
        if (err) {
            g_propagate_prefixed_error(error, err, "%s", why_prefix);
            return FALSE;
        }
        *(gboolean *)field = b;
        return TRUE;
    }
    case T_PROTOCOL:
        if (!entry_protocol_parse(value, (TlsProtocol *)field))
            break;
        return TRUE;
    case T_CHOICE:
        for (int i = 0; opt->choices[i]; i++) {
            if (*opt->choices[i] && strcmp(value, opt->choices[i]) == 0) {
                *(int *)field = i;
                return TRUE;
            }
        }
        break;
    case T_UINT:
    case T_SIZE:
    case T_OCTAL: {
        char *end;
        guint64 n = g_ascii_strtoull(value, &end, opt->type == T_OCTAL ? 8 : 10);
        if (*value == 0 || *end != 0 || n < opt->min || n > opt->max)
            break;
        if (opt->type == T_SIZE)
            *(size_t *)field = (size_t)n;
        else
            *(guint *)field = (guint)n;
        return TRUE;
    }
    }
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%sinvalid value \"%s\" for %s",
                why_prefix, value, opt->name);
    return FALSE;
}

/* GKeyFile's syntax errors name no line: the first line that is neither
 * blank, a comment, a [group] nor name = value. */
static guint bad_line_of(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i]; i++) {
        const char *l = lines[i] + strspn(lines[i], " \t\r");
        if (*l && *l != '#' && *l != '[' && !strchr(l, '='))
            return i + 1;
        if (*l == '[' && !strchr(l, ']'))
            return i + 1;
    }
    return 0;
}

/* Options that once were and now do nothing: a file that still sets
 * them loads, with a warning, rather than failing at the next restart. */
static gboolean is_obsolete(const char *key)
{
    static const char *const obsolete[] = {"transport_dane", "bounce_transport_dane"};
    for (guint i = 0; i < G_N_ELEMENTS(obsolete); i++)
        if (strcmp(key, obsolete[i]) == 0)
            return TRUE;
    return FALSE;
}

gboolean config_load(Config *c, const char *path, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GKeyFile) kf = g_key_file_new();
    GError *err = NULL;

    if (!g_file_get_contents(path, &text, NULL, &err)
        || !g_key_file_load_from_data(kf, text, (gsize)-1, G_KEY_FILE_NONE, &err)) {
        /* GLib's file messages name the file already, GKeyFile's do not */
        gboolean named = err->domain == G_FILE_ERROR;
        guint line = named ? 0 : bad_line_of(text);
        g_autofree char *where = line ? g_strdup_printf("%s, line %u: ", path, line)
                                      : g_strdup_printf("%s%s", named ? "" : path, named ? "" : ": ");
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_FILE, "%s%s", where, err->message);
        g_error_free(err);
        return FALSE;
    }
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        if (strcmp(*g, GROUP) != 0) {
            g_autofree char *header = g_strdup_printf("[%s]", *g);
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_UNKNOWN,
                        "%s, line %u: unknown group %s (options go in [" GROUP "])", path,
                        line_of(text, header), header);
            return FALSE;
        }
    }
    g_auto(GStrv) keys = g_key_file_get_keys(kf, GROUP, NULL, NULL);
    for (char **k = keys; keys && *k; k++) {
        const Option *opt = NULL;
        for (guint i = 0; i < G_N_ELEMENTS(options) && !opt; i++)
            opt = strcmp(options[i].name, *k) == 0 ? &options[i] : NULL;
        guint line = line_of(text, *k);
        if (!opt && is_obsolete(*k)) {  /* as Postfix does with its obsolete parameters */
            g_warning("%s, line %u: %s is obsolete and ignored: a dane entry routes through the dane-only or "
                      "encrypt transport (tlspolicyd.conf(5))", path, line, *k);
            continue;
        }
        if (!opt) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_UNKNOWN,
                        "%s, line %u: unknown option \"%s\"", path, line, *k);
            return FALSE;
        }
        g_autofree char *prefix = g_strdup_printf("%s, line %u: ", path, line);
        if (!set_option(c, opt, kf, prefix, error))
            return FALSE;
        g_hash_table_add(c->from_file, (gpointer)opt->name);
    }
    /* rules across options: name the line of the option concerned */
    const char *option;
    const char *why = config_first_problem(c, &option);
    if (!why)
        return TRUE;
    guint line = line_of(text, option);
    if (line)
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s, line %u: %s", path, line, why);
    else
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s: %s", path, why);
    return FALSE;
}

/* One option's value, as tlspolicyd.conf would say it. */
static void append_value(GString *out, const Option *opt, const Config *c)
{
    const void *field = (const char *)c + opt->offset;
    switch (opt->type) {
    case T_STRING:
    case T_TRANSPORT:
    case T_NEXTHOP:
        g_string_append(out, *(char *const *)field ? *(char *const *)field : "");
        break;
    case T_STRV:
        for (char *const *s = *(char **const *)field; s && *s; s++)
            g_string_append_printf(out, "%s;", *s);
        break;
    case T_BOOL:
        g_string_append(out, *(const gboolean *)field ? "true" : "false");
        break;
    case T_PROTOCOL:
        g_string_append(out, entry_protocol_name(*(const TlsProtocol *)field));
        break;
    case T_CHOICE:
        g_string_append(out, opt->choices[*(const int *)field]);
        break;
    case T_UINT:
        g_string_append_printf(out, "%u", *(const guint *)field);
        break;
    case T_SIZE:
        g_string_append_printf(out, "%zu", *(const size_t *)field);
        break;
    case T_OCTAL:
        g_string_append_printf(out, "%04o", *(const guint *)field);
        break;
    }
}

char *config_format(const Config *c)
{
    GString *out = g_string_new("[" GROUP "]\n");
    for (guint i = 0; i < G_N_ELEMENTS(options); i++) {
        g_string_append_printf(out, "%s = ", options[i].name);
        append_value(out, &options[i], c);
        g_string_append_c(out, '\n');
    }
    return g_string_free(out, FALSE);
}

gboolean config_needs_restart(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(options); i++)
        if (strcmp(options[i].name, name) == 0)
            return options[i].change == RESTART;
    return FALSE;
}

char *config_restart_changes(const Config *old, const Config *fresh)
{
    GString *changed = g_string_new(NULL);
    for (guint i = 0; i < G_N_ELEMENTS(options); i++) {
        if (options[i].change != RESTART)
            continue;
        g_autoptr(GString) a = g_string_new(NULL);
        g_autoptr(GString) b = g_string_new(NULL);
        append_value(a, &options[i], old);
        append_value(b, &options[i], fresh);
        if (!g_string_equal(a, b))
            g_string_append_printf(changed, "%s%s", changed->len ? ", " : "", options[i].name);
    }
    return g_string_free(changed, FALSE);
}

gboolean config_from_file(const Config *c, const char *name)
{
    return g_hash_table_contains(c->from_file, name);
}

/*
 * config.c - configuration defaults, key file parsing, validation.
 * Every option is one row of the table below: name, type, where it goes.
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

typedef struct {
    const char *name;
    OptionType type;
    size_t offset;
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
    {"list", T_STRING, O(list)},
    {"listen", T_STRV, O(listen)},
    {"socketmap_listen", T_STRV, O(socketmap_listen)},
    {"socketmap_name", T_STRING, O(socketmap_name)},
    {"metrics_listen", T_STRV, O(metrics_listen)},
    {"state_file", T_STRING, O(state_file)},
    {"local_domains", T_STRV, O(local_domains)},
    {"socket_mode", T_OCTAL, O(socket_mode), NULL, 0, 0777},
    {"socket_owner", T_STRING, O(socket_owner)},
    {"socket_group", T_STRING, O(socket_group)},
    {"allow_remote", T_BOOL, O(allow_remote)},
    {"outbound_context", T_STRING, O(outbound_context)},
    {"sasl_is_outbound", T_BOOL, O(sasl_is_outbound)},
    {"recipient_delimiter", T_STRING, O(recipient_delimiter)},
    {"mixed_recipients", T_CHOICE, O(mixed_recipients), mixed_choices},
    {"outbound_routing", T_CHOICE, O(outbound_routing), routing_choices},
    {"on_failure", T_CHOICE, O(default_on_failure), failure_choices},
    {"transport_encrypt", T_TRANSPORT, O(transports[LEVEL_ENCRYPT])},
    {"transport_verify", T_TRANSPORT, O(transports[LEVEL_VERIFY])},
    {"transport_secure", T_TRANSPORT, O(transports[LEVEL_SECURE])},
    {"transport_dane_only", T_TRANSPORT, O(transports[LEVEL_DANE_ONLY])},
    {"bounce_transport_encrypt", T_TRANSPORT, O(bounce_transports[LEVEL_ENCRYPT])},
    {"bounce_transport_verify", T_TRANSPORT, O(bounce_transports[LEVEL_VERIFY])},
    {"bounce_transport_secure", T_TRANSPORT, O(bounce_transports[LEVEL_SECURE])},
    {"bounce_transport_dane_only", T_TRANSPORT, O(bounce_transports[LEVEL_DANE_ONLY])},
    {"relayhost", T_NEXTHOP, O(relayhost)},
    {"min_protocol", T_PROTOCOL, O(min_protocol)},
    {"exclude_ciphers", T_STRING, O(exclude_ciphers)},
    {"global_floor", T_CHOICE, O(global_floor), floor_choices},
    {"global_floor_notice", T_STRING, O(global_floor_notice)},
    {"reject_code", T_STRING, O(reject_code)},
    {"reject_status", T_STRING, O(reject_status)},
    {"reject_notice", T_STRING, O(reject_notice)},
    {"on_list_error", T_CHOICE, O(on_list_error), list_error_choices},
    {"dane", T_CHOICE, O(dane), dane_choices},
    {"mta_sts", T_CHOICE, O(mta_sts), mta_sts_choices},
    {"on_lookup_pending", T_CHOICE, O(on_lookup_pending), lookup_choices},
    {"on_lookup_failure", T_CHOICE, O(on_lookup_failure), lookup_choices},
    {"dns_resolver", T_STRING, O(dns_resolver)},
    {"dns_trust_anchor", T_STRING, O(dns_trust_anchor)},
    {"dane_tlsa_port", T_UINT, O(dane_tlsa_port), NULL, 1, 65535},
    {"mta_sts_ca_file", T_STRING, O(mta_sts_ca_file)},
    {"mta_sts_timeout", T_UINT, O(mta_sts_timeout), NULL, 1, 60},
    {"mta_sts_private_hosts", T_BOOL, O(mta_sts_private_hosts)},
    {"destination_cache_size", T_UINT, O(destination_cache_size), NULL, 100, 10000000},
    {"destination_max_lookups", T_UINT, O(destination_max_lookups), NULL, 1, 100000},
    {"mta_sts_state_file", T_STRING, O(mta_sts_state_file)},
    {"tls_policy_name", T_STRING, O(tls_policy_name)},
    {"postfix_config_directory", T_STRING, O(postfix_config_directory)},
    {"user", T_STRING, O(user)},
    {"log_file", T_STRING, O(log_file)},
    {"maillog", T_STRING, O(maillog)},
    {"tlsrpt", T_CHOICE, O(tlsrpt), tlsrpt_choices},
    {"tlsrpt_directory", T_STRING, O(tlsrpt_directory)},
    {"tlsrpt_organization", T_STRING, O(tlsrpt_organization)},
    {"tlsrpt_contact", T_STRING, O(tlsrpt_contact)},
    {"tlsrpt_submit", T_STRING, O(tlsrpt_submit)},
    {"max_line", T_SIZE, O(limits.max_line), NULL, 256, 1 << 20},
    {"max_request", T_SIZE, O(limits.max_request), NULL, 1024, 16 << 20},
    {"max_attributes", T_UINT, O(limits.max_attributes), NULL, 10, 100000},
    {"read_timeout", T_UINT, O(read_timeout), NULL, 1, 3600},
    {"idle_timeout", T_UINT, O(idle_timeout), NULL, 1, 86400},
    {"max_connections", T_UINT, O(max_connections), NULL, 1, 1000000},
    {"verbose", T_BOOL, O(verbose)},
};

const char *const *config_known_keys(void)
{
    static const char *names[G_N_ELEMENTS(options) + 1];
    for (guint i = 0; i < G_N_ELEMENTS(options); i++)
        names[i] = options[i].name;
    return names;
}

Config *config_new_defaults(void)
{
    static const char *const default_listen[] = {"unix:/var/spool/postfix/private/tlspolicy", NULL};
    Config *c = g_new0(Config, 1);

    c->list = g_strdup(SYSCONFDIR "/tlspolicyd/tls.list");
    c->listen = g_strdupv((char **)default_listen);
    c->socketmap_listen = g_new0(char *, 1);
    c->metrics_listen = g_new0(char *, 1);
    c->state_file = g_strdup("");
    c->socketmap_name = g_strdup("transport");
    c->local_domains = g_new0(char *, 1);
    c->socket_mode = 0666;
    c->outbound_context = g_strdup("outbound");
    c->recipient_delimiter = g_strdup("+");
    c->outbound_routing = ROUTING_TRANSPORT_MAPS;
    c->default_on_failure = ON_FAILURE_DEFER;
    c->relayhost = g_strdup("");
    for (int level = LEVEL_ENCRYPT; level < LEVEL_COUNT; level++) {
        if (level == LEVEL_DANE)
            continue;  /* routed dane-only (config_level_route): transport_dane is obsolete */
        c->transports[level] = g_strdup_printf("tls-%s", entry_level_name(level));
        c->bounce_transports[level] = g_strdup_printf("tls-%s-bounce", entry_level_name(level));
    }
    c->min_protocol = TLS_DEFAULT_MIN_PROTOCOL;
    c->exclude_ciphers = g_strdup(TLS_DEFAULT_EXCLUDED_CIPHERS);
    c->reject_code = g_strdup("550");
    c->reject_status = g_strdup("5.7.1");
    c->reject_notice = g_strdup("");
    c->global_floor_notice = g_strdup("");
    c->on_list_error = LIST_ERROR_TEMPFAIL;
    c->on_lookup_pending = LOOKUP_LIST;
    c->on_lookup_failure = LOOKUP_LIST;
    c->dns_resolver = g_strdup("");
    c->dns_trust_anchor = g_strdup(CONFIG_DEFAULT_TRUST_ANCHOR);
    c->dane_tlsa_port = 25;
    c->mta_sts_ca_file = g_strdup("");
    c->mta_sts_timeout = 10;
    c->destination_cache_size = 100000;
    c->destination_max_lookups = 256;
    c->mta_sts_state_file = g_strdup("");
    c->tls_policy_name = g_strdup("tlspolicy");
    c->postfix_config_directory = g_strdup("/etc/postfix");
    c->user = g_strdup(ACCOUNT_DEFAULT);
    c->log_file = g_strdup("");
    c->maillog = g_strdup("");
    c->tlsrpt_directory = g_strdup("");
    c->tlsrpt_organization = g_strdup("");
    c->tlsrpt_contact = g_strdup("");
    c->tlsrpt_submit = g_strdup("unix:public/tlsrpt");
    c->from_file = g_hash_table_new(g_str_hash, g_str_equal);
    c->limits = (RequestLimits){.max_line = 4096, .max_request = 65536, .max_attributes = 100};
    c->read_timeout = 10;
    c->idle_timeout = 600;
    c->max_connections = 4096;
    return c;
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

static const char *first_problem(const Config *c, const char **option);

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
    const char *why = first_problem(c, &option);
    if (!why)
        return TRUE;
    guint line = line_of(text, option);
    if (line)
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s, line %u: %s", path, line, why);
    else
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s: %s", path, why);
    return FALSE;
}

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
static const char *first_problem(const Config *c, const char **option)
{
    static const struct {
        const char *option, *why;
    } problems[] = {
        {"listen", "listen: at least one address is needed"},
        {"list", "list: a list file is needed"},
        {"max_line", "max_line must not exceed max_request"},
        {"reject_code", "reject_code must be a 5XX SMTP code"},
        {"reject_status", "reject_status must be a 5.X.Y enhanced status code"},
        {"reject_notice", "reject_notice must be one line of printable UTF-8"},
        {"global_floor_notice", "global_floor_notice must be one line of printable UTF-8"},
        {"listen", "listen: each address is unix:/path or inet:host:port"},
        {"socketmap_listen", "socketmap_listen: each address is unix:/path or inet:host:port"},
        {"socketmap_name", "socketmap_name must be one word"},
        {"metrics_listen", "metrics_listen: each address is unix:/path or inet:host:port"},
        {"tls_policy_name", "tls_policy_name must be one word, other than socketmap_name"},
        {"dns_trust_anchor", "dns_trust_anchor: a DNSSEC trust anchor file is needed (DANE is never trusted without one)"},
        {"tlsrpt", "tlsrpt: TLS-RPT reports are made from Postfix's delivery log: set maillog"},
        {"tlsrpt", "tlsrpt = dry-run writes the reports to tlsrpt_directory: set it"},
        {"tlsrpt_contact", "tlsrpt_contact must be an address, local@domain"},
        {"tlsrpt_submit", "tlsrpt_submit must be unix:/path, unix:public/name (under Postfix's queue_directory) or empty"},
    };
    const gboolean broken[G_N_ELEMENTS(problems)] = {
        !c->listen || !c->listen[0],
        !c->list || !*c->list,
        c->limits.max_line > c->limits.max_request,
        strlen(c->reject_code) != 3 || c->reject_code[0] != '5' || !g_ascii_isdigit(c->reject_code[1])
            || !g_ascii_isdigit(c->reject_code[2]),
        !status_is_valid(c->reject_status),
        !notice_is_valid(c->reject_notice),
        !notice_is_valid(c->global_floor_notice),
        !addresses_are_valid(c->listen),
        !addresses_are_valid(c->socketmap_listen),
        !*c->socketmap_name || strpbrk(c->socketmap_name, " \t") != NULL,
        !addresses_are_valid(c->metrics_listen),
        !*c->tls_policy_name || strpbrk(c->tls_policy_name, " \t") != NULL
            || strcmp(c->tls_policy_name, c->socketmap_name) == 0,
        !*c->dns_trust_anchor,
        c->tlsrpt != TLSRPT_OFF && !*c->maillog,
        c->tlsrpt == TLSRPT_DRY_RUN && !*c->tlsrpt_directory,
        !address_is_valid(c->tlsrpt_contact),
        *c->tlsrpt_submit && (!g_str_has_prefix(c->tlsrpt_submit, "unix:") || !c->tlsrpt_submit[5]),
    };
    for (guint i = 0; i < G_N_ELEMENTS(problems); i++) {
        if (broken[i]) {
            *option = problems[i].option;
            return problems[i].why;
        }
    }
    return NULL;
}

gboolean config_validate(const Config *c, GError **error)
{
    const char *option;
    const char *why = first_problem(c, &option);
    if (why)
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE, "%s", why);
    return why == NULL;
}

char *config_format(const Config *c)
{
    GString *out = g_string_new("[" GROUP "]\n");
    for (guint i = 0; i < G_N_ELEMENTS(options); i++) {
        const Option *opt = &options[i];
        const void *field = (const char *)c + opt->offset;
        g_string_append_printf(out, "%s = ", opt->name);
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
        g_string_append_c(out, '\n');
    }
    return g_string_free(out, FALSE);
}

gboolean config_from_file(const Config *c, const char *name)
{
    return g_hash_table_contains(c->from_file, name);
}

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

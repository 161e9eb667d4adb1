/*
 * entry.c - list entries: names, attribute validation, binary and source
 * encodings.  See entry.h for the contract.
 *
 * Binary value layout (format 1), all bytes:
 *   [0] level [1] direction [2] min_protocol [3] flags (bit0 client_cert)
 *   [4] mode  [5] on_failure
 *   then exclude_ciphers, notice, transport, nexthop: each a presence byte
 *   (0/1) followed, when present, by the NUL-terminated string.  nexthop
 *   came later: a value that ends after transport has none, so lists
 *   written before it still decode.
 * Strings stay NUL-terminated in the value so that a decoded entry can
 * point straight into the LMDB map without a copy.
 */
#include "entry.h"

#include <string.h>

#include "refuse.h"

static const char *const level_names[LEVEL_COUNT] = {
    [LEVEL_NONE] = "none",       [LEVEL_MAY] = "may",
    [LEVEL_ENCRYPT] = "encrypt", [LEVEL_VERIFY] = "verify",
    [LEVEL_SECURE] = "secure",   [LEVEL_DANE] = "dane",
    [LEVEL_DANE_ONLY] = "dane-only",
};

static const char *const protocol_names[] = {
    [PROTO_UNSET] = "", [PROTO_TLSV1] = "TLSv1", [PROTO_TLSV1_1] = "TLSv1.1",
    [PROTO_TLSV1_2] = "TLSv1.2", [PROTO_TLSV1_3] = "TLSv1.3",
};

const char *entry_level_name(TlsLevel level)
{
    return level < LEVEL_COUNT ? level_names[level] : "?";
}

gboolean entry_level_parse(const char *word, TlsLevel *level)
{
    for (int i = 0; i < LEVEL_COUNT; i++) {
        if (g_ascii_strcasecmp(word, level_names[i]) == 0) {
            *level = (TlsLevel)i;
            return TRUE;
        }
    }
    return FALSE;
}

gboolean entry_level_is_exemption(TlsLevel level)
{
    return level == LEVEL_NONE || level == LEVEL_MAY;
}

const char *entry_protocol_name(TlsProtocol proto)
{
    return proto <= PROTO_TLSV1_3 ? protocol_names[proto] : "?";
}

gboolean entry_protocol_parse(const char *word, TlsProtocol *proto)
{
    for (int i = PROTO_TLSV1; i <= PROTO_TLSV1_3; i++) {
        if (g_ascii_strcasecmp(word, protocol_names[i]) == 0) {
            *proto = (TlsProtocol)i;
            return TRUE;
        }
    }
    return FALSE;
}

gboolean entry_covers(const Entry *entry, Direction direction)
{
    return entry->direction == DIRECTION_BOTH || entry->direction == direction;
}

/* Cipher lists are colon- or comma-separated OpenSSL name components. */
static gboolean valid_cipher_list(const char *value)
{
    if (*value == 0 || strlen(value) > ENTRY_MAX_STRING)
        return FALSE;
    for (const char *p = value; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != ':' && *p != '-' && *p != '_')
            return FALSE;
    }
    return value[0] != ':' && value[strlen(value) - 1] != ':'
           && strstr(value, "::") == NULL;
}

gboolean entry_transport_valid(const char *value)
{
    size_t len = strlen(value);
    if (len == 0 || len > ENTRY_MAX_TRANSPORT)
        return FALSE;
    for (const char *p = value; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return FALSE;
    }
    return TRUE;
}

/* One Postfix next-hop destination: host, host:port, [host], [host]:port,
 * [ipv6:addr]:port.  No list (',' or space), nothing a transport(5)
 * result or a FILTER action would read as another field. */
gboolean entry_nexthop_valid(const char *value)
{
    size_t len = strlen(value);
    if (len == 0 || len > ENTRY_MAX_NEXTHOP || value[0] == ':' || value[len - 1] == ':')
        return FALSE;
    const char *host_end = value;
    if (value[0] == '[') {
        host_end = strchr(value, ']');
        if (!host_end || host_end == value + 1)
            return FALSE;
        for (const char *p = value + 1; p < host_end; p++) {
            if (!g_ascii_isalnum(*p) && !strchr(".-_:", *p))
                return FALSE;
        }
        host_end++;
    } else {
        while (*host_end && *host_end != ':') {
            if (!g_ascii_isalnum(*host_end) && !strchr(".-_", *host_end))
                return FALSE;
            host_end++;
        }
        if (host_end == value)
            return FALSE;
    }
    if (*host_end == 0)
        return TRUE;
    if (*host_end != ':')
        return FALSE;
    for (const char *p = host_end + 1; *p; p++) {  /* port number or service name */
        if (!g_ascii_isalnum(*p) && *p != '-')
            return FALSE;
    }
    return TRUE;
}

static gboolean valid_notice(const char *value)
{
    if (*value == 0 || strlen(value) > ENTRY_MAX_STRING)
        return FALSE;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return FALSE;
    }
    return g_utf8_validate(value, -1, NULL);
}

/* One value parser per list attribute; each says why a value is refused. */
typedef gboolean (*AttributeSetter)(Entry *entry, const char *value, const char **why);

static gboolean set_direction(Entry *entry, const char *value, const char **why)
{
    if (strcmp(value, "both") == 0)
        entry->direction = DIRECTION_BOTH;
    else if (strcmp(value, "inbound") == 0)
        entry->direction = DIRECTION_INBOUND;
    else if (strcmp(value, "outbound") == 0)
        entry->direction = DIRECTION_OUTBOUND;
    else
        return refuse(why, "direction must be inbound, outbound or both");
    return TRUE;
}

static gboolean set_min_protocol(Entry *entry, const char *value, const char **why)
{
    if (!entry_protocol_parse(value, &entry->min_protocol))
        return refuse(why, "min_protocol must be TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3");
    return TRUE;
}

static gboolean set_exclude_ciphers(Entry *entry, const char *value, const char **why)
{
    if (!valid_cipher_list(value))
        return refuse(why, "exclude_ciphers must be cipher names separated by ':' (e.g. 3DES:RC4)");
    entry->exclude_ciphers = value;
    return TRUE;
}

static gboolean set_client_cert(Entry *entry, const char *value, const char **why)
{
    if (strcmp(value, "required") == 0)
        entry->client_cert_required = TRUE;
    else if (strcmp(value, "optional") == 0)
        entry->client_cert_required = FALSE;
    else
        return refuse(why, "client_cert must be required or optional");
    return TRUE;
}

static gboolean set_notice(Entry *entry, const char *value, const char **why)
{
    if (!valid_notice(value))
        return refuse(why, "notice must be non-empty UTF-8 text without control characters, at most 512 bytes");
    entry->notice = value;
    return TRUE;
}

static gboolean set_mode(Entry *entry, const char *value, const char **why)
{
    if (strcmp(value, "enforce") == 0)
        entry->mode = MODE_ENFORCE;
    else if (strcmp(value, "report") == 0)
        entry->mode = MODE_REPORT;
    else
        return refuse(why, "mode must be enforce or report");
    return TRUE;
}

static gboolean set_on_failure(Entry *entry, const char *value, const char **why)
{
    if (strcmp(value, "bounce") == 0)
        entry->on_failure = ON_FAILURE_BOUNCE;
    else if (strcmp(value, "defer") == 0)
        entry->on_failure = ON_FAILURE_DEFER;
    else
        return refuse(why, "on_failure must be bounce or defer");
    return TRUE;
}

static gboolean set_transport(Entry *entry, const char *value, const char **why)
{
    if (!entry_transport_valid(value))
        return refuse(why, "transport must be a master.cf service name (letters, digits, '-', '_', '.')");
    entry->transport = value;
    return TRUE;
}

static gboolean set_nexthop(Entry *entry, const char *value, const char **why)
{
    if (!entry_nexthop_valid(value))
        return refuse(why, "nexthop must be one Postfix next-hop destination (host, host:port, [host]:port)");
    entry->nexthop = value;
    return TRUE;
}

/* The list attributes: the one list of them, each name with its parser
 * (set_NAME above), expanded into both tables below. */
#define ATTRIBUTES(X) \
    X(direction) X(min_protocol) X(exclude_ciphers) X(client_cert) X(notice) X(mode) X(on_failure) X(transport) \
    X(nexthop)

#define ATTRIBUTE_ROW(name) {#name, set_##name},
static const struct {
    const char *name;
    AttributeSetter set;
} attributes[] = {ATTRIBUTES(ATTRIBUTE_ROW)};

#define ATTRIBUTE_NAME(name) #name,
static const char *const attribute_names[] = {ATTRIBUTES(ATTRIBUTE_NAME) NULL};

const char *const *entry_attribute_names(void)
{
    return attribute_names;
}

gboolean entry_set_attribute(Entry *entry, const char *name, const char *value, const char **why)
{
    for (guint i = 0; i < G_N_ELEMENTS(attributes); i++)
        if (strcmp(name, attributes[i].name) == 0)
            return attributes[i].set(entry, value, why);
    return refuse(why, "unknown attribute");
}

gboolean entry_validate(const Entry *entry, const char **why)
{
    gboolean has_inbound_attr = entry->min_protocol != PROTO_UNSET
                                || entry->exclude_ciphers || entry->client_cert_required
                                || entry->notice;
    gboolean has_outbound_attr = entry->on_failure != ON_FAILURE_UNSET || entry->transport
                                 || entry->nexthop;

    if (entry_level_is_exemption(entry->level)) {
        if (has_inbound_attr || has_outbound_attr || entry->mode != MODE_ENFORCE)
            return refuse(why, "an exemption (none/may) takes no attribute but direction");
        return TRUE;
    }
    if (entry->direction == DIRECTION_OUTBOUND && has_inbound_attr)
        return refuse(why, "min_protocol, exclude_ciphers, client_cert and notice apply to inbound mail, "
                           "but this entry is direction=outbound");
    if (entry->direction == DIRECTION_INBOUND && has_outbound_attr)
        return refuse(why, "on_failure, transport and nexthop apply to outbound mail, "
                           "but this entry is direction=inbound");
    return TRUE;
}

static size_t put_string(uint8_t *out, const char *s)
{
    if (!s) {
        out[0] = 0;
        return 1;
    }
    size_t len = strlen(s);
    out[0] = 1;
    memcpy(out + 1, s, len + 1);
    return len + 2;
}

size_t entry_encode(const Entry *entry, uint8_t *out)
{
    size_t n = 0;
    out[n++] = (uint8_t)entry->level;
    out[n++] = (uint8_t)entry->direction;
    out[n++] = (uint8_t)entry->min_protocol;
    out[n++] = entry->client_cert_required ? 1 : 0;
    out[n++] = (uint8_t)entry->mode;
    out[n++] = (uint8_t)entry->on_failure;
    n += put_string(out + n, entry->exclude_ciphers);
    n += put_string(out + n, entry->notice);
    n += put_string(out + n, entry->transport);
    if (entry->nexthop)
        n += put_string(out + n, entry->nexthop);
    return n;
}

static gboolean get_string(const uint8_t *buf, size_t len, size_t *pos, const char **s)
{
    if (*pos >= len)
        return FALSE;
    if (buf[(*pos)++] == 0) {
        *s = NULL;
        return TRUE;
    }
    const uint8_t *nul = memchr(buf + *pos, 0, len - *pos);
    if (!nul)
        return FALSE;
    *s = (const char *)buf + *pos;
    *pos = (size_t)(nul - buf) + 1;
    return TRUE;
}

gboolean entry_decode(const uint8_t *buf, size_t len, Entry *entry)
{
    size_t pos = 6;
    if (len < pos || buf[0] >= LEVEL_COUNT || buf[1] > DIRECTION_OUTBOUND
        || buf[2] > PROTO_TLSV1_3 || buf[3] > 1 || buf[4] > MODE_REPORT
        || buf[5] > ON_FAILURE_BOUNCE)
        return FALSE;
    entry->level = buf[0];
    entry->direction = buf[1];
    entry->min_protocol = buf[2];
    entry->client_cert_required = buf[3];
    entry->mode = buf[4];
    entry->on_failure = buf[5];
    entry->nexthop = NULL;
    if (!get_string(buf, len, &pos, &entry->exclude_ciphers)
        || !get_string(buf, len, &pos, &entry->notice)
        || !get_string(buf, len, &pos, &entry->transport))
        return FALSE;
    if (pos == len)
        return TRUE;  /* written without a nexthop */
    return get_string(buf, len, &pos, &entry->nexthop) && entry->nexthop && pos == len;
}

static void append_quoted(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            g_string_append_c(out, '\\');
        g_string_append_c(out, *s);
    }
    g_string_append_c(out, '"');
}

void entry_format(const Entry *entry, GString *out)
{
    static const char *const directions[] = {"both", "inbound", "outbound"};

    g_string_append(out, entry_level_name(entry->level));
    if (entry->direction != DIRECTION_BOTH)
        g_string_append_printf(out, " direction=%s", directions[entry->direction]);
    if (entry->min_protocol != PROTO_UNSET)
        g_string_append_printf(out, " min_protocol=%s", entry_protocol_name(entry->min_protocol));
    if (entry->exclude_ciphers)
        g_string_append_printf(out, " exclude_ciphers=%s", entry->exclude_ciphers);
    if (entry->client_cert_required)
        g_string_append(out, " client_cert=required");
    if (entry->mode == MODE_REPORT)
        g_string_append(out, " mode=report");
    if (entry->on_failure != ON_FAILURE_UNSET)
        g_string_append_printf(out, " on_failure=%s",
                               entry->on_failure == ON_FAILURE_BOUNCE ? "bounce" : "defer");
    if (entry->transport)
        g_string_append_printf(out, " transport=%s", entry->transport);
    if (entry->nexthop)
        g_string_append_printf(out, " nexthop=%s", entry->nexthop);
    if (entry->notice) {
        g_string_append(out, " notice=");
        append_quoted(out, entry->notice);
    }
}

static gboolean same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

gboolean entry_equal(const Entry *a, const Entry *b)
{
    return a->level == b->level && a->direction == b->direction
           && a->min_protocol == b->min_protocol
           && a->client_cert_required == b->client_cert_required && a->mode == b->mode
           && a->on_failure == b->on_failure
           && same_string(a->exclude_ciphers, b->exclude_ciphers)
           && same_string(a->notice, b->notice) && same_string(a->transport, b->transport)
           && same_string(a->nexthop, b->nexthop);
}

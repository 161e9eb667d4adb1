/*
 * tlsrptrecord.c - the _smtp._tls TXT record (RFC 8460 3) parsed into
 * report destinations; the contract is in tlsrptrecord.h.
 */
#include "tlsrptrecord.h"

#include <string.h>

#include "dns.h"

#define VERSION "v=TLSRPTv1"

static void rua_free(gpointer p)
{
    TlsrptRua *r = p;
    g_free(r->target);
    g_free(r->host);
    g_free(r->path);
    g_free(r);
}

void tlsrpt_record_clear(TlsrptRecord *record)
{
    if (record->rua)
        g_ptr_array_free(record->rua, TRUE);
    record->rua = NULL;
    record->ignored = 0;
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* "local@host" with nothing odd in it; the host a DNS name. */
static TlsrptRua *mailto_rua(const char *uri)
{
    g_autofree char *address = g_strndup(uri + 7, strcspn(uri + 7, "?"));
    g_autofree char *decoded = g_uri_unescape_string(address, NULL);
    if (!decoded || !*decoded)
        return NULL;
    for (const char *p = decoded; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == '"' || *p == '\\'
            || *p == ',' || *p == ';')
            return NULL;
    const char *at = strchr(decoded, '@');
    if (!at || at == decoded || strchr(at + 1, '@') || !dns_name_is_hostname(at + 1))
        return NULL;
    TlsrptRua *r = g_new0(TlsrptRua, 1);
    r->scheme = TLSRPT_MAILTO;
    r->target = g_strdup(decoded);
    r->host = g_ascii_strdown(at + 1, -1);
    return r;
}

/* https://host[:port]/path, no user information. */
static TlsrptRua *https_rua(const char *uri)
{
    /* encoded: the path goes into the request line as the domain wrote it */
    g_autoptr(GUri) parsed = g_uri_parse(uri, G_URI_FLAGS_ENCODED, NULL);
    if (!parsed || g_ascii_strcasecmp(g_uri_get_scheme(parsed), "https") != 0 || g_uri_get_userinfo(parsed))
        return NULL;
    const char *host = g_uri_get_host(parsed);
    if (!host || !dns_name_is_hostname(host))
        return NULL;
    for (const char *p = uri; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return NULL;  /* nothing that would end or split the request line */
    TlsrptRua *r = g_new0(TlsrptRua, 1);
    r->scheme = TLSRPT_HTTPS;
    r->target = g_strdup(uri);
    r->host = g_ascii_strdown(host, -1);
    r->port = g_uri_get_port(parsed) > 0 ? (guint)g_uri_get_port(parsed) : 443;
    const char *path = g_uri_get_path(parsed), *query = g_uri_get_query(parsed);
    r->path = g_strconcat(*path ? path : "/", query ? "?" : "", query ? query : "", NULL);
    return r;
}

static void add_uri(TlsrptRecord *out, const char *uri, size_t len)
{
    if (out->rua->len >= TLSRPT_MAX_RUA || len == 0 || len > TLSRPT_URI_MAX) {
        out->ignored++;
        return;
    }
    g_autofree char *text = g_strndup(uri, len);
    TlsrptRua *r = NULL;
    if (g_ascii_strncasecmp(text, "mailto:", 7) == 0)
        r = mailto_rua(text);
    else if (g_ascii_strncasecmp(text, "https:", 6) == 0)
        r = https_rua(text);
    if (r)
        g_ptr_array_add(out->rua, r);
    else
        out->ignored++;
}

/* rua=URI *(*WSP "," *WSP URI) up to the next ';' */
static void parse_rua(TlsrptRecord *out, const char *p, const char *end)
{
    while (p < end) {
        p = skip_space(p, end);
        const char *uri = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        add_uri(out, uri, (size_t)(p - uri));
        p = skip_space(p, end);
        if (p < end && *p == ',')
            p++;
    }
}

gboolean tlsrpt_record_parse(const char *txt, size_t len, TlsrptRecord *out, const char **why)
{
    const char *p = txt, *end = txt + len;
    size_t vlen = strlen(VERSION);
    *out = (TlsrptRecord){0};
    if (len < vlen || strncmp(txt, VERSION, vlen) != 0
        || (len > vlen && txt[vlen] != ';' && txt[vlen] != ' ' && txt[vlen] != '\t')) {
        *why = "not a TLSRPTv1 record";
        return FALSE;
    }
    out->rua = g_ptr_array_new_with_free_func(rua_free);
    gboolean seen_rua = FALSE;
    p += vlen;
    while (p < end) {
        p = skip_space(p, end);
        if (p < end && *p == ';')
            p++;
        p = skip_space(p, end);
        const char *field = p;
        while (p < end && *p != ';')
            p++;
        if (p - field >= 4 && g_ascii_strncasecmp(field, "rua=", 4) == 0 && !seen_rua) {
            seen_rua = TRUE;  /* a second rua= is an extension we do not know: ignored */
            parse_rua(out, field + 4, p);
        }
    }
    if (!seen_rua) {
        *why = "no rua= field";
    } else if (!out->rua->len) {
        *why = "no mailto: or https: destination in rua=";
    } else {
        return TRUE;
    }
    tlsrpt_record_clear(out);
    return FALSE;
}

gboolean tlsrpt_record_select(char *const *records, TlsrptRecord *out, const char **why)
{
    const char *only = NULL;
    guint n = 0;
    *out = (TlsrptRecord){0};
    for (guint i = 0; records && records[i]; i++) {
        size_t vlen = strlen(VERSION);
        if (strncmp(records[i], VERSION, vlen) == 0 && (records[i][vlen] == ';' || records[i][vlen] == ' '
                                                        || records[i][vlen] == '\t' || !records[i][vlen])) {
            only = records[i];
            n++;
        }
    }
    if (n != 1) {
        *why = n ? "more than one TLSRPTv1 record (RFC 8460 3: no TLS-RPT)" : "no _smtp._tls TXT record";
        return FALSE;
    }
    return tlsrpt_record_parse(only, strlen(only), out, why);
}

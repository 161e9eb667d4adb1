/*
 * key.c - key normalization shared by list compilation and lookups.
 * See key.h for the contract.  ASCII input (nearly all of it) takes a
 * fast path without allocation; only non-ASCII goes through GLib's IDN
 * and Unicode case folding.
 */
#include "key.h"

#include <string.h>

#include "refuse.h"

/* Letters, digits, '-' and '_' in labels of 1-63 bytes, at most 253 in all. */
static gboolean key_domain_is_valid(const char *domain, size_t total)
{
    size_t label = 0;

    if (total == 0 || total > 253)
        return FALSE;
    for (const char *p = domain;; p++) {
        if (*p == '.' || *p == 0) {
            if (label == 0 || label > 63 || p[-1] == '-' || p[-(long)label] == '-')
                return FALSE;
            if (*p == 0)
                return TRUE;
            label = 0;
            continue;
        }
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
            return FALSE;
        label++;
    }
}

gboolean key_name_in_domain(const char *name, const char *domain)
{
    size_t n = strlen(name), d = strlen(domain);
    if (n == d)
        return g_ascii_strcasecmp(name, domain) == 0;
    return d > 0 && n > d && name[n - d - 1] == '.' && g_ascii_strcasecmp(name + n - d, domain) == 0;
}

static gboolean is_ascii(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s >= 0x80)
            return FALSE;
    }
    return TRUE;
}

/* Domain part to normal form, appended to out; FALSE if not convertible. */
static gboolean fold_domain(const char *domain, size_t len, GString *out)
{
    while (len > 0 && domain[len - 1] == '.')
        len--;
    if (len == 0)
        return FALSE;
    g_autofree char *copy = g_strndup(domain, len);
    /* g_hostname_to_ascii() wants valid UTF-8 (found by fuzz/fuzz_list) */
    if (!is_ascii(copy) && !g_utf8_validate(copy, -1, NULL))
        return FALSE;
    g_autofree char *ascii = is_ascii(copy) ? g_strdup(copy) : g_hostname_to_ascii(copy);
    if (!ascii)
        return FALSE;
    g_autofree char *lower = g_ascii_strdown(ascii, -1);
    g_string_append(out, lower);
    return TRUE;
}

static gboolean fold_local(const char *local, size_t len, GString *out)
{
    if (!g_utf8_validate(local, (gssize)len, NULL))
        return FALSE;
    g_autofree char *lower = g_utf8_strdown(local, (gssize)len);
    g_string_append(out, lower);
    return TRUE;
}

/* Slow path: anything with non-ASCII bytes. */
static gboolean normalize_slow(const char *raw, GString *out)
{
    const char *at = strrchr(raw, '@');

    if (!at)
        return fold_domain(raw, strlen(raw), out);
    if (!fold_local(raw, (size_t)(at - raw), out))
        return FALSE;
    g_string_append_c(out, '@');
    return fold_domain(at + 1, strlen(at + 1), out);
}

/* A list key to normal form, with its length.  ASCII (nearly every key)
 * is folded in one pass; anything else takes the slow path. */
static gboolean fold_key(const char *raw, char *out, size_t *out_len)
{
    size_t len = 0;
    for (unsigned char c; (c = (unsigned char)raw[len]) != 0; len++) {
        if (c >= 0x80)
            goto slow;
        if (len == KEY_MAX)
            return FALSE;
        out[len] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : (char)c;
    }
    while (len > 0 && out[len - 1] == '.')
        len--;
    out[len] = 0;
    *out_len = len;
    return len > 0;

slow:
    if (strlen(raw) > KEY_MAX)
        return FALSE;
    g_autoptr(GString) folded = g_string_new(NULL);
    if (!normalize_slow(raw, folded) || folded->len == 0 || folded->len > KEY_MAX)
        return FALSE;
    memcpy(out, folded->str, folded->len + 1);
    *out_len = folded->len;
    return TRUE;
}


const char *key_fold_domain(const char *raw, char *out, size_t size, char **heap)
{
    size_t len = strlen(raw);
    *heap = NULL;
    if (!is_ascii(raw)) {
        g_autoptr(GString) folded = g_string_new(NULL);
        if (!fold_domain(raw, len, folded))
            return NULL;
        if (folded->len < size) {
            memcpy(out, folded->str, folded->len + 1);
            return out;
        }
        return *heap = g_string_free(g_steal_pointer(&folded), FALSE);
    }
    while (len > 0 && raw[len - 1] == '.')
        len--;
    if (len == 0)
        return NULL;
    char *dst = len < size ? out : (*heap = g_malloc(len + 1));
    for (size_t i = 0; i < len; i++)
        dst[i] = g_ascii_tolower(raw[i]);
    dst[len] = 0;
    return dst;
}

gboolean key_fold_local(const char *raw, size_t len, char *out, size_t size)
{
    gboolean ascii = TRUE;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = (unsigned char)raw[i] < 0x80;
    if (ascii) {
        if (len >= size)
            return FALSE;
        for (size_t i = 0; i < len; i++)
            out[i] = g_ascii_tolower(raw[i]);
        out[len] = 0;
        return TRUE;
    }
    g_autoptr(GString) folded = g_string_new(NULL);
    if (!fold_local(raw, len, folded) || folded->len >= size)
        return FALSE;
    memcpy(out, folded->str, folded->len + 1);
    return TRUE;
}

static gboolean valid_local_part(const char *local, size_t len)
{
    if (len == 0 || len > 64)
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)local[i];
        if (c <= 0x20 || c == 0x7f || c == ',' || c == '@')
            return FALSE;
    }
    return TRUE;
}

/* Postfix passes addresses in their internal form: "a"@x.example arrives
 * as a@x.example (seen in t/postfix.t's instance).  A quoted local part
 * in a list is unquoted the same way, so the key can match. */
static void unquote_local_part(char *key, size_t *len)
{
    char *at = memrchr(key, '@', *len);
    if (!at || at - key < 2 || key[0] != '"' || at[-1] != '"')
        return;
    size_t o = 0;
    for (const char *p = key + 1; p < at - 1; p++) {
        if (*p == '\\' && p + 1 < at - 1)
            p++;
        key[o++] = *p;
    }
    size_t rest = *len - (size_t)(at - key);
    memmove(key + o, at, rest + 1);
    *len = o + rest;
}

gboolean key_is_address_literal(const char *domain)
{
    size_t len = strlen(domain);
    if (len < 3 || domain[0] != '[' || domain[len - 1] != ']')
        return FALSE;
    g_autofree char *inside = g_strndup(domain + 1, len - 2);
    gboolean v6 = g_ascii_strncasecmp(inside, "ipv6:", 5) == 0;
    const char *ip = v6 ? inside + 5 : inside;
    return g_hostname_is_ip_address(ip) && v6 == (strchr(ip, ':') != NULL);
}

gboolean key_from_list(const char *raw, char *folded, size_t *len, KeyKind *kind, const char **why)
{
    const char *domain;

    if (!fold_key(raw, folded, len))
        return refuse(why, "key cannot be normalized (too long, empty, or an invalid international name)");
    unquote_local_part(folded, len);

    const char *at = memrchr(folded, '@', *len);
    if (at) {
        if (!valid_local_part(folded, (size_t)(at - folded)))
            return refuse(why, "invalid local part in address key");
        *kind = KEY_ADDRESS;
        domain = at + 1;
    } else if (folded[0] == '.') {
        *kind = KEY_PARENT;
        domain = folded + 1;
    } else {
        *kind = KEY_DOMAIN;
        domain = folded;
        if (!key_is_address_literal(domain) && !memchr(domain, '.', *len))
            return refuse(why, "a domain key needs at least two labels (write .com for every .com domain)");
    }
    /* Address literals as Postfix passes them: [192.0.2.1], [ipv6:2001:db8::1] */
    if (key_is_address_literal(domain)) {
        if (*kind != KEY_PARENT)
            return TRUE;
        return refuse(why, "an address literal has no subdomains");
    }
    if (strspn(domain, "0123456789.") == strlen(domain))
        return refuse(why, "an IP address is written as an address literal, [192.0.2.1], as Postfix passes it");
    if (!key_domain_is_valid(domain, *len - (size_t)(domain - folded)))
        return refuse(why, "invalid domain name");
    return TRUE;
}

const char *key_domain(const char *key)
{
    const char *at = strrchr(key, '@');
    return at ? at + 1 : key[0] == '.' ? key + 1 : key;
}

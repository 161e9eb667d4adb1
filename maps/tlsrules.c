/*
 * tlsrules.c - the TLS rules shared by the daemon (policyd/decide.c),
 * tlsmap --probe and tlsprobe; see tlsrules.h.
 */
#include "tlsrules.h"

#include <stdlib.h>
#include <string.h>

int tls_protocol_rank(const char *name)
{
    TlsProtocol p;
    if (entry_protocol_parse(name, &p))
        return (int)p;
    if (g_str_has_prefix(name, "TLSv1.") && g_ascii_isdigit(name[6]) && atoi(name + 6) > 3)
        return PROTO_TLSV1_3 + 1;
    return 0;
}

/* Does a component of a cipher name (len bytes) fall under an excluded
 * name (nlen bytes)?  3DES also goes by CBC3 and EDE, EXPORT by EXP...  */
static gboolean component_matches(const char *component, size_t len, const char *name, size_t nlen)
{
    if (nlen == 4 && g_ascii_strncasecmp(name, "3DES", 4) == 0)
        return (len == 4 && (g_ascii_strncasecmp(component, "3DES", 4) == 0
                             || g_ascii_strncasecmp(component, "CBC3", 4) == 0))
               || (len == 3 && g_ascii_strncasecmp(component, "EDE", 3) == 0);
    if (nlen == 6 && g_ascii_strncasecmp(name, "EXPORT", 6) == 0)
        return len >= 3 && g_ascii_strncasecmp(component, "EXP", 3) == 0;
    return nlen == len && g_ascii_strncasecmp(component, name, len) == 0;
}

typedef struct {
    const char *at;
    size_t len;
} CipherName;

static const char *first_match(const char *cipher, const CipherName *names, guint n, char *found, size_t size)
{
    for (const char *p = cipher; *p;) {
        size_t len = strcspn(p, "-_");
        for (guint i = 0; i < n; i++) {
            if (component_matches(p, len, names[i].at, names[i].len)) {
                g_strlcpy(found, names[i].at, MIN(size, names[i].len + 1));
                return found;
            }
        }
        p += len;
        if (*p)
            p++;
    }
    return NULL;
}

const char *tls_excluded_cipher(const char *cipher, const char *excluded, char *found, size_t size)
{
    /* This runs for every TLS request of a listed sender: split the
     * excluded names once, then walk the cipher name's components. */
    CipherName few[32], *names = few;
    guint n = 1;
    for (const char *p = excluded; *p; p++)
        n += *p == ':';
    if (n > G_N_ELEMENTS(few))
        names = g_new(CipherName, n);
    n = 0;
    for (const char *p = excluded; *p;) {
        size_t len = strcspn(p, ":");
        if (len > 0)
            names[n++] = (CipherName){p, len};
        p += len;
        if (*p)
            p++;
    }
    const char *result = first_match(cipher, names, n, found, size);
    if (names != few)
        g_free(names);
    return result;
}

gboolean tls_level_satisfies(TlsLevel have, TlsLevel want)
{
    if (have == want)
        return TRUE;
    switch (want) {
    case LEVEL_ENCRYPT:
        return have == LEVEL_VERIFY || have == LEVEL_SECURE || have == LEVEL_DANE_ONLY;
    case LEVEL_VERIFY:
        return have == LEVEL_SECURE;
    case LEVEL_DANE:
        return have == LEVEL_DANE_ONLY;
    default:
        return FALSE;
    }
}

const char *tls_probe_level(TlsLevel level)
{
    if (level == LEVEL_VERIFY || level == LEVEL_SECURE || level == LEVEL_DANE || level == LEVEL_DANE_ONLY)
        return entry_level_name(level);
    return "encrypt";
}

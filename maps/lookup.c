/*
 * lookup.c - most-specific-key lookup; see lookup.h.  Candidate keys are
 * built in one stack buffer: no allocation per request.
 */
#include "lookup.h"

#include <string.h>

static gboolean try_key(StoreReader *reader, const char *key, size_t len, Direction direction,
                        LookupMatch *match)
{
    if (!store_reader_get(reader, key, len, &match->entry))
        return FALSE;
    if (direction != DIRECTION_BOTH && !entry_covers(&match->entry, direction))
        return FALSE;
    memcpy(match->key, key, len);
    match->key[len] = 0;
    return TRUE;
}

static gboolean try_domain_and_parents(StoreReader *reader, const char *domain, Direction direction,
                                       LookupMatch *match)
{
    if (try_key(reader, domain, strlen(domain), direction, match))
        return TRUE;
    for (const char *dot = strchr(domain, '.'); dot; dot = strchr(dot + 1, '.')) {
        if (dot[1] && try_key(reader, dot, strlen(dot), direction, match))
            return TRUE;
    }
    return FALSE;
}

gboolean lookup_find(StoreReader *reader, const char *query, const char *delimiters,
                     Direction direction, LookupMatch *match)
{
    char key[KEY_MAX + 1];

    if (!key_from_query(query, key))
        return FALSE;

    char *at = strrchr(key, '@');
    if (!at)
        return try_domain_and_parents(reader, key, direction, match);
    if (at == key || at[1] == 0)
        return at[1] ? try_domain_and_parents(reader, at + 1, direction, match) : FALSE;

    size_t len = strlen(key);
    if (try_key(reader, key, len, direction, match))
        return TRUE;

    /* user+ext@domain -> user@domain, cut at the first delimiter as
     * Postfix does; a local part that starts with one is left alone. */
    size_t local_len = (size_t)(at - key);
    size_t cut = *delimiters ? strcspn(key, delimiters) : local_len;
    if (cut > 0 && cut < local_len) {
        char base[KEY_MAX + 1];
        size_t domain_len = len - local_len;
        memcpy(base, key, cut);
        memcpy(base + cut, at, domain_len + 1);
        if (try_key(reader, base, cut + domain_len, direction, match))
            return TRUE;
    }
    return try_domain_and_parents(reader, at + 1, direction, match);
}

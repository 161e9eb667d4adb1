/*
 * lookup.c - most-specific-key lookup; see lookup.h.  Candidate keys are
 * built in one stack buffer: no allocation per request.
 */
#include "lookup.h"

#include <string.h>

static gboolean try_key(StoreReader *reader, const char *key, size_t len, Direction direction,
                        LookupMatch *match)
{
    if (len > KEY_MAX || !store_reader_get(reader, key, len, &match->entry))
        return FALSE;  /* no list key is longer than KEY_MAX */
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
    if (domain[0] == '[')  /* an address literal has no parents */
        return FALSE;
    for (const char *dot = strchr(domain, '.'); dot; dot = strchr(dot + 1, '.')) {
        if (dot[1] && try_key(reader, dot, strlen(dot), direction, match))
            return TRUE;
    }
    return FALSE;
}

/* user+ext@domain, then user@domain (cut at the first delimiter, as
 * Postfix does; a local part that starts with one is left alone).  A
 * local part too long for a list key is simply not one: its address
 * without the extension may still be. */
static gboolean try_addresses(StoreReader *reader, const char *local, size_t local_len, const char *domain,
                              const char *delimiters, Direction direction, LookupMatch *match)
{
    char key[KEY_MAX + 1];
    size_t domain_len = strlen(domain);
    size_t cut = *delimiters ? strcspn(local, delimiters) : local_len;
    if (cut > local_len)
        cut = local_len;
    size_t room = KEY_MAX - 1 - MIN(domain_len, KEY_MAX - 1);  /* for the local part */

    if (key_fold_local(local, local_len, key, room + 1)) {
        size_t n = strlen(key);
        key[n] = '@';
        memcpy(key + n + 1, domain, domain_len + 1);
        if (try_key(reader, key, n + 1 + domain_len, direction, match))
            return TRUE;
    }
    if (cut == 0 || cut == local_len || !key_fold_local(local, cut, key, room + 1))
        return FALSE;
    size_t n = strlen(key);
    key[n] = '@';
    memcpy(key + n + 1, domain, domain_len + 1);
    return try_key(reader, key, n + 1 + domain_len, direction, match);
}

LookupStatus lookup_find(StoreReader *reader, const char *query, const char *delimiters,
                         Direction direction, LookupMatch *match)
{
    char buf[KEY_MAX + 1];
    g_autofree char *heap = NULL;
    const char *at = strrchr(query, '@');
    const char *domain = key_fold_domain(at ? at + 1 : query, buf, sizeof buf, &heap);

    if (!domain)
        return LOOKUP_UNUSABLE;
    if (at && at > query && strlen(domain) < KEY_MAX
        && try_addresses(reader, query, (size_t)(at - query), domain, delimiters, direction, match))
        return LOOKUP_FOUND;
    return try_domain_and_parents(reader, domain, direction, match) ? LOOKUP_FOUND : LOOKUP_NOT_LISTED;
}

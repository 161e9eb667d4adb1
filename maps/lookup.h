/*
 * lookup.h - the one lookup that tlspolicyd and "tlsmap -q" share.
 *
 * Most specific key wins, among entries that cover the direction asked:
 *   1. user+ext@domain   the full address
 *   2. user@domain       without the address extension (first delimiter)
 *   3. domain            the domain exactly
 *   4. .parent           each parent domain, closest first, up to ".tld"
 * The match carries the key that matched, so every decision can say why.
 */
#ifndef TLSPOLICYD_LOOKUP_H
#define TLSPOLICYD_LOOKUP_H

#include "entry.h"
#include "key.h"
#include "store.h"

typedef struct {
    char key[KEY_MAX + 2];  /* the list key that matched */
    Entry entry;            /* valid until store_reader_end() */
} LookupMatch;

typedef enum {
    LOOKUP_NOT_LISTED,
    LOOKUP_FOUND,
    LOOKUP_UNUSABLE,  /* the domain cannot be folded (empty, bad IDN): fail closed */
} LookupStatus;

/* Query an address or a domain; DIRECTION_BOTH accepts entries of any
 * direction.  delimiters: Postfix's recipient_delimiter ("" for none).
 * The local part never stops the search: whatever its length or bytes
 * (quoting, '@', controls), the domain and its parents are tried; only a
 * domain that cannot be folded makes the query unusable.
 * Call between store_reader_begin() and store_reader_end(). */
LookupStatus lookup_find(StoreReader *reader, const char *query, const char *delimiters,
                         Direction direction, LookupMatch *match);

#endif

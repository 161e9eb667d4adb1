/*
 * topk.h - the heaviest hitters of an unbounded stream of domain names in
 * a fixed space (the space-saving algorithm, Metwally et al. 2005): the
 * ledger's senders below the floor and its unlisted senders.
 *
 * At most size domains are kept.  A domain not kept replaces the one
 * with the smallest count and inherits that count as its error: a kept
 * domain's true count is between count - error and count, and any
 * domain seen more than (total / size) times is kept.  Each add is
 * O(1) on average (an open-addressing index) plus O(log size) (a
 * min-heap of the counts).
 */
#ifndef TLSPOLICYD_TOPK_H
#define TLSPOLICYD_TOPK_H

#include <glib.h>

/* A space-saving counter: count may include up to error transactions of
 * domains it replaced; met_* are exact only when error is 0. */
typedef struct {
    char domain[256];
    guint64 hash;       /* of domain (FNV-1a) */
    guint64 count, error, met_encrypt, met_verify;
} TopItem;

typedef struct Top Top;

Top *top_new(guint size);
void top_free(Top *t);
/* Forget every domain (the size stays). */
void top_clear(Top *t);
/* Count one occurrence of domain (shorter than 256 bytes); its item,
 * whose met_* the caller may count too. */
TopItem *top_add(Top *t, const char *domain);
gboolean top_contains(const Top *t, const char *domain);
guint top_len(const Top *t);
/* The i-th kept item, in no order (i < top_len). */
const TopItem *top_item(const Top *t, guint i);
/* The kept items, highest count first, then by name. */
GPtrArray *top_sorted(const Top *t);
/* A saved item back (state files): FALSE, and nothing kept, when it is
 * full, the domain is already kept, or the name does not fit. */
gboolean top_restore(Top *t, const TopItem *item);

#endif

/*
 * list.h - a list in memory: its records (key -> entry) in key order.
 *
 * The one representation shared by the parser (source.c: text -> list),
 * the store (store.c: list <-> LMDB), tlsmap's -d/-i and audit diff, and
 * tlsprobe --list.  Keys and entry strings live in the list's own
 * storage; equal entries are stored once (a list has few distinct
 * entries and many keys) together with their encoded LMDB value.
 */
#ifndef TLSPOLICYD_LIST_H
#define TLSPOLICYD_LIST_H

#include "entry.h"
#include "key.h"

typedef struct {
    Entry entry;
    guint16 encoded_len;
    guint8 encoded[];
} ListEntry;

typedef struct {
    const char *key;        /* normal form, see key.h */
    const ListEntry *value;
    guint line;             /* source line (0 for records read from LMDB) */
    guint16 key_len;        /* strlen(key) */
    guint8 kind;            /* KeyKind */
} ListRecord;

typedef struct {
    char *name;             /* the file, for messages */
    GArray *records;        /* ListRecord, in key order (list_key_compare) */
    GStringChunk *strings;  /* keys and entry strings */
    GHashTable *entries;    /* the ListEntry set, owned */
    char *text;             /* a parsed text, owned: keys may point into it */
} List;

List *list_new(const char *name);
void list_free(List *list);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(List, list_free)

/* The list's shared copy of entry (strings copied into the list). */
const ListEntry *list_intern_entry(List *list, const Entry *entry);

/* The same for an encoded value (from LMDB); NULL when it is not a
 * valid one. */
const ListEntry *list_intern_encoded(List *list, const void *encoded, size_t len);

/* Append a record whose key is copied into the list (callers append in
 * key order, or sort with list_sort). */
void list_append_copy(List *list, const char *key, size_t key_len, const ListEntry *value, guint line);

/* LMDB's default key order: bytes, then the shorter first. */
int list_key_compare(const char *a, size_t a_len, const char *b, size_t b_len);

/* Sort the records into key order; records with the same key stay in
 * line order (the first one is the one that counts). */
void list_sort(List *list);

/* Walk two record arrays in key order, calling fn once per key with the
 * record of each side (NULL where a side lacks the key).  The one merge
 * behind tlsmap -i (new wins), -d, and the audit diff. */
typedef void (*ListMergeFunc)(const ListRecord *old, const ListRecord *new, gpointer data);
void list_merge(const GArray *old, const GArray *new, ListMergeFunc fn, gpointer data);

/* The domain whose mail servers an outbound TLS entry governs (the
 * address's domain, a parent key's domain itself), or NULL for entries
 * that do not route outbound mail (exemptions, inbound-only). */
const char *list_probe_domain(const ListRecord *rec);

#endif

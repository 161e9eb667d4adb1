/*
 * source.h - the list file parser (text source -> sorted records).
 *
 * Parses the postmap-style source syntax from a memory buffer; it does
 * no I/O, so the fuzz harness and the tests feed it directly.  Every
 * problem becomes a "FILE, line N: ..." message; parsing goes on after
 * an error so that one run reports all of them (up to a cap).
 *
 *   # comment
 *   KEY[,KEY...] LEVEL [attr=value ...]
 *       continuation lines start with whitespace
 */
#ifndef TLSPOLICYD_SOURCE_H
#define TLSPOLICYD_SOURCE_H

#include "entry.h"
#include "key.h"

/* An entry shared by every key that has the same one (a list has few
 * distinct entries and many keys), with its encoded LMDB value. */
typedef struct {
    Entry entry;
    guint16 encoded_len;
    guint8 encoded[];
} ListEntry;

typedef struct {
    const char *key;        /* normal form, see key.h */
    const ListEntry *value;
    guint line;             /* first physical line of the logical line */
    guint16 key_len;        /* strlen(key) */
    guint8 kind;            /* KeyKind */
} SourceRecord;

/* A recently parsed "LEVEL attrs" text and its entry. */
typedef struct {
    const ListEntry *value;
    guint16 tail_len;
    char tail[118];
} SourceEntryCache;

typedef struct {
    char *filename;
    GArray *records;        /* SourceRecord, sorted by key after source_parse */
    GStringChunk *strings;  /* storage for keys and entry strings */
    GPtrArray *errors;      /* "FILE, line N: ..." messages */
    GPtrArray *scratch_keys;
    GHashTable *entries;    /* ListEntry set, owned */
    char *text;             /* the parsed text (changed), keys point into it */
    SourceRecord *parsed;   /* records parsed, not sorted yet */
    guint n_parsed, parsed_room;
    GPtrArray *parts;       /* lists of a parallel parse, kept for their storage */
    size_t parallel_min;    /* bytes of text per parsing thread, at least */
    guint max_parts;        /* parsing threads, at most (0, the default: processors) */
    gboolean gave_up;       /* too many errors: the last one says so */
    SourceEntryCache entry_cache[8];
} SourceList;

#define SOURCE_MAX_ERRORS 50
#define SOURCE_PARALLEL_MIN ((size_t)4 << 20)
#define SOURCE_MAX_PARTS 4

SourceList *source_list_new(const char *filename);
void source_list_free(SourceList *list);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SourceList, source_list_free)

/* Parse text into list->records (of a new list: one text a list), sort
 * them and reject duplicate keys.  Returns TRUE when list->errors is
 * empty.  A text of more than
 * parallel_min bytes is cut at logical line boundaries into up to
 * max_parts parts parsed by threads of their own; the result (records,
 * errors and their order) is the same as a parse in one piece. */
gboolean source_parse(SourceList *list, const char *text, size_t len);

/* The shared copy of entry (its strings are copied into list->strings). */
const ListEntry *source_intern_entry(SourceList *list, const Entry *entry);

/* The domain whose mail servers an outbound TLS entry governs (the
 * address's domain, a parent key's domain itself), or NULL for entries
 * that do not route outbound mail (exemptions, inbound-only). */
const char *source_probe_domain(const SourceRecord *rec);

/* Comparison of two keys in LMDB's default key order: bytes, then the
 * shorter first. */
int source_key_compare(const char *a, size_t a_len, const char *b, size_t b_len);

#endif

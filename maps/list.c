/*
 * list.c - lists in memory: records, key order, shared entries, the
 * merge of two lists.  See list.h for the contract; source.c, store.c,
 * tlsmap.c and tlsprobe.c call it.
 */
#include "list.h"

#include <stdlib.h>
#include <string.h>

static guint list_entry_hash(gconstpointer p)
{
    const ListEntry *le = p;
    guint h = 5381;
    for (guint i = 0; i < le->encoded_len; i++)
        h = h * 33 + le->encoded[i];
    return h;
}

static gboolean list_entry_equal(gconstpointer a, gconstpointer b)
{
    const ListEntry *x = a, *y = b;
    return x->encoded_len == y->encoded_len && memcmp(x->encoded, y->encoded, x->encoded_len) == 0;
}

List *list_new(const char *name)
{
    List *list = g_new0(List, 1);
    list->name = g_strdup(name);
    list->records = g_array_new(FALSE, FALSE, sizeof(ListRecord));
    list->strings = g_string_chunk_new(1 << 16);
    list->entries = g_hash_table_new_full(list_entry_hash, list_entry_equal, g_free, NULL);
    return list;
}

void list_free(List *list)
{
    if (!list)
        return;
    g_free(list->name);
    g_array_unref(list->records);
    g_string_chunk_free(list->strings);
    g_hash_table_unref(list->entries);
    g_free(list->text);
    g_free(list);
}

static const char *intern(List *list, const char *s)
{
    return s ? g_string_chunk_insert_const(list->strings, s) : NULL;
}

/* An encoded value with room for the largest: the key of the entry set. */
typedef union {
    ListEntry le;
    guint8 room[sizeof(ListEntry) + ENTRY_MAX_ENCODED];
} EncodedProbe;

/* The new shared entry of probe (not in the set yet), decoded as entry. */
static const ListEntry *add_entry(List *list, const EncodedProbe *probe, const Entry *entry)
{
    ListEntry *found = g_malloc(sizeof(ListEntry) + probe->le.encoded_len);
    memcpy(found, &probe->le, sizeof(ListEntry) + probe->le.encoded_len);
    found->entry = *entry;
    found->entry.exclude_ciphers = intern(list, entry->exclude_ciphers);
    found->entry.notice = intern(list, entry->notice);
    found->entry.transport = intern(list, entry->transport);
    found->entry.nexthop = intern(list, entry->nexthop);
    g_hash_table_add(list->entries, found);
    return found;
}

const ListEntry *list_intern_entry(List *list, const Entry *entry)
{
    EncodedProbe probe;
    probe.le.encoded_len = (guint16)entry_encode(entry, probe.le.encoded);
    const ListEntry *found = g_hash_table_lookup(list->entries, &probe.le);
    return found ? found : add_entry(list, &probe, entry);
}

const ListEntry *list_intern_encoded(List *list, const void *encoded, size_t len)
{
    EncodedProbe probe;
    Entry entry;
    if (len > ENTRY_MAX_ENCODED)
        return NULL;
    probe.le.encoded_len = (guint16)len;
    memcpy(probe.le.encoded, encoded, len);
    const ListEntry *found = g_hash_table_lookup(list->entries, &probe.le);
    if (found)
        return found;
    /* decoded from probe's copy; add_entry() copies the strings */
    if (!entry_decode(probe.le.encoded, len, &entry))
        return NULL;
    return add_entry(list, &probe, &entry);
}

void list_append_copy(List *list, const char *key, size_t key_len, const ListEntry *value, guint line)
{
    const char *copy = g_string_chunk_insert_len(list->strings, key, (gssize)key_len);
    KeyKind kind = copy[0] == '.' ? KEY_PARENT : memchr(copy, '@', key_len) ? KEY_ADDRESS : KEY_DOMAIN;
    ListRecord rec = {.key = copy, .value = value, .line = line, .key_len = (guint16)key_len, .kind = (guint8)kind};
    g_array_append_val(list->records, rec);
}

int list_key_compare(const char *a, size_t a_len, const char *b, size_t b_len)
{
    int c = memcmp(a, b, MIN(a_len, b_len));
    if (c)
        return c;
    if (a_len != b_len)
        return a_len < b_len ? -1 : 1;
    return 0;
}

/* Sorting is most of a compile: the sort moves small items that carry a
 * key's first 8 bytes as an integer, so most comparisons never touch the
 * key strings (or the cache lines they live in). */
typedef struct {
    guint64 prefix;           /* first 8 bytes, big-endian, NUL padded */
    const ListRecord *rec;
} SortItem;

/* Key order, then line order (one line's keys are one entry). */
static int sort_item_compare(const void *a, const void *b)
{
    const SortItem *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    const ListRecord *r = x->rec, *s = y->rec;
    int c = list_key_compare(r->key, r->key_len, s->key, s->key_len);
    if (c)
        return c;
    if (r->line != s->line)
        return r->line < s->line ? -1 : 1;
    return 0;
}

/* Stable LSD radix sort on the prefix, 16 bits a pass; runs with the
 * same prefix (keys that share their first 8 bytes) are finished by
 * qsort(). */
static void radix_sort(SortItem *items, guint n)
{
    SortItem *src = items, *dst = g_new(SortItem, n);
    guint *count = g_new(guint, 65536);
    for (guint shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof *count);
        for (guint i = 0; i < n; i++)
            count[(src[i].prefix >> shift) & 0xffff]++;
        guint sum = 0;
        for (guint d = 0; d < 65536; d++) {
            guint c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (guint i = 0; i < n; i++)
            dst[count[(src[i].prefix >> shift) & 0xffff]++] = src[i];
        SortItem *swap = src;
        src = dst;
        dst = swap;
    }
    g_free(count);
    g_free(dst);
    for (guint i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && items[j].prefix == items[i].prefix; j++)
            ;
        if (j - i > 1)
            qsort(items + i, j - i, sizeof *items, sort_item_compare);
    }
}

/* Sorting a million records (bench/compile.sh's list, tlsmap -c, same
 * run): qsort() of the records 0.28 s, qsort() of these items 0.22 s,
 * radix sort of them 0.17-0.20 s; the whole compile 0.33 s with qsort,
 * 0.27 s with the radix sort.  It runs for every list, small ones too,
 * so every test runs it (its 256 KiB of counters cost well under 1 ms). */
void list_sort(List *list)
{
    guint n = list->records->len;
    if (n < 2)  /* qsort() must not see a NULL array */
        return;
    SortItem *items = g_new(SortItem, n);
    for (guint i = 0; i < n; i++) {
        const ListRecord *rec = &g_array_index(list->records, ListRecord, i);
        const unsigned char *k = (const unsigned char *)rec->key;
        guint64 prefix = 0;
        for (guint b = 0; b < 8; b++)
            prefix = prefix << 8 | (b < rec->key_len ? k[b] : 0);
        items[i] = (SortItem){.prefix = prefix, .rec = rec};
    }
    radix_sort(items, n);
    GArray *sorted = g_array_sized_new(FALSE, FALSE, sizeof(ListRecord), n);
    for (guint i = 0; i < n; i++)
        g_array_append_val(sorted, *items[i].rec);
    g_free(items);
    g_array_unref(list->records);
    list->records = sorted;
}

void list_merge(const GArray *old, const GArray *new, ListMergeFunc fn, gpointer data)
{
    guint i = 0, j = 0;
    while (i < old->len || j < new->len) {
        const ListRecord *a = i < old->len ? &g_array_index(old, ListRecord, i) : NULL;
        const ListRecord *b = j < new->len ? &g_array_index(new, ListRecord, j) : NULL;
        int cmp = !a ? 1 : !b ? -1 : list_key_compare(a->key, a->key_len, b->key, b->key_len);
        fn(cmp <= 0 ? a : NULL, cmp >= 0 ? b : NULL, data);
        i += cmp <= 0;
        j += cmp >= 0;
    }
}

const char *list_probe_domain(const ListRecord *rec)
{
    const Entry *e = &rec->value->entry;
    if (entry_level_is_exemption(e->level) || !entry_covers(e, DIRECTION_OUTBOUND))
        return NULL;
    return key_domain(rec->key);
}

/*
 * topk.c - the space-saving top-K; see topk.h.
 */
#include "topk.h"

#include <string.h>

/* Items stay in their slots (the index points at them); a binary
 * min-heap of slot numbers by count finds the one to replace in O(1) and
 * keeps itself in O(log n) per count.  A linear search for the minimum
 * cost 2.3 us per request at bench/cpu.sh's million sending domains;
 * the heap keeps the counts itself, not touching the 300-byte items. */
typedef struct {
    guint64 count;      /* the slot's count, here so that sifting stays in this array */
    guint slot;
} HeapNode;

/* The index: open addressing with linear probing over a power of two
 * at least twice the items, slot + 1 per bucket (0: empty); deletion
 * shifts the run back, so there are no tombstones to rehash.  A GHashTable
 * here (hashing each domain three times a transaction, rehashing its
 * tombstones) cost 0.8 us a request at bench/cpu.sh's million domains. */
struct Top {
    TopItem *items;
    HeapNode *heap;
    guint *heap_pos;    /* slot -> where it is in the heap: small, like the heap */
    guint len, size;
    guint *buckets;
    guint mask;
};

static guint64 domain_hash(const char *s)
{
    guint64 h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (guchar)*s) * 1099511628211ull;
    return h;
}

Top *top_new(guint size)
{
    Top *t = g_new0(Top, 1);
    guint buckets = 16;
    while (buckets < 2 * size)
        buckets *= 2;
    t->items = g_new0(TopItem, size);
    t->heap = g_new0(HeapNode, size);
    t->heap_pos = g_new0(guint, size);
    t->buckets = g_new0(guint, buckets);
    t->mask = buckets - 1;
    t->size = size;
    return t;
}

void top_free(Top *t)
{
    if (!t)
        return;
    g_free(t->items);
    g_free(t->heap);
    g_free(t->heap_pos);
    g_free(t->buckets);
    g_free(t);
}

guint top_len(const Top *t)
{
    return t->len;
}

const TopItem *top_item(const Top *t, guint i)
{
    return &t->items[i];
}

void top_clear(Top *t)
{
    memset(t->buckets, 0, (t->mask + 1) * sizeof *t->buckets);
    t->len = 0;
}

/* The bucket holding domain, or the empty one where it would go. */
static guint index_find(const Top *t, const char *domain, guint64 hash)
{
    guint b = (guint)hash & t->mask;
    while (t->buckets[b]) {
        const TopItem *it = &t->items[t->buckets[b] - 1];
        if (it->hash == hash && strcmp(it->domain, domain) == 0)
            return b;
        b = (b + 1) & t->mask;
    }
    return b;
}

/* Empty bucket b and move back the entries after it that probed past it. */
static void index_delete(Top *t, guint b)
{
    t->buckets[b] = 0;
    for (guint next = (b + 1) & t->mask; t->buckets[next]; next = (next + 1) & t->mask) {
        guint home = (guint)t->items[t->buckets[next] - 1].hash & t->mask;
        /* can the entry at next move to b? only if b lies between home and next */
        gboolean movable = b <= next ? (home <= b || home > next) : (home <= b && home > next);
        if (movable) {
            t->buckets[b] = t->buckets[next];
            t->buckets[next] = 0;
            b = next;
        }
    }
}

gboolean top_contains(const Top *t, const char *domain)
{
    return t->buckets[index_find(t, domain, domain_hash(domain))] != 0;
}

static void heap_swap(Top *t, guint a, guint b)
{
    HeapNode na = t->heap[a], nb = t->heap[b];
    t->heap[a] = nb;
    t->heap[b] = na;
    t->heap_pos[nb.slot] = a;
    t->heap_pos[na.slot] = b;
}

/* Restore the heap below position pos (its count grew). */
static void heap_down(Top *t, guint pos)
{
    for (;;) {
        guint left = 2 * pos + 1, right = left + 1, least = pos;
        if (left < t->len && t->heap[left].count < t->heap[least].count)
            least = left;
        if (right < t->len && t->heap[right].count < t->heap[least].count)
            least = right;
        if (least == pos)
            return;
        heap_swap(t, pos, least);
        pos = least;
    }
}

static void heap_up(Top *t, guint pos)
{
    while (pos > 0) {
        guint parent = (pos - 1) / 2;
        if (t->heap[parent].count <= t->heap[pos].count)
            return;
        heap_swap(t, pos, parent);
        pos = parent;
    }
}

/* Count one transaction of domain; returns its item. */
TopItem *top_add(Top *t, const char *domain)
{
    guint64 hash = domain_hash(domain);
    guint b = index_find(t, domain, hash);
    if (t->buckets[b]) {
        guint slot = t->buckets[b] - 1;
        TopItem *it = &t->items[slot];
        it->count++;
        t->heap[t->heap_pos[slot]].count = it->count;
        heap_down(t, t->heap_pos[slot]);
        return it;
    }
    guint slot;
    guint64 inherited = 0;
    if (t->len < t->size) {
        slot = t->len;
        t->heap[t->len].slot = slot;
        t->heap_pos[slot] = t->len;
        t->len++;
    } else {
        /* replace the smallest: the newcomer may have had up to its count */
        slot = t->heap[0].slot;
        inherited = t->heap[0].count;
        index_delete(t, index_find(t, t->items[slot].domain, t->items[slot].hash));
        b = index_find(t, domain, hash);  /* the deletion may have moved the run */
    }
    TopItem *it = &t->items[slot];
    guint pos = t->heap_pos[slot];
    it->hash = hash;
    it->count = inherited + 1;
    it->error = inherited;
    it->met_encrypt = it->met_verify = 0;
    g_strlcpy(it->domain, domain, sizeof it->domain);
    t->buckets[b] = slot + 1;
    t->heap[pos].count = it->count;
    heap_up(t, pos);
    heap_down(t, t->heap_pos[slot]);
    return it;
}

static int top_compare(const void *a, const void *b)
{
    const TopItem *x = *(TopItem *const *)a, *y = *(TopItem *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->domain, y->domain);
}

GPtrArray *top_sorted(const Top *t)
{
    GPtrArray *items = g_ptr_array_new();
    for (guint i = 0; i < t->len; i++)
        g_ptr_array_add(items, &t->items[i]);
    g_ptr_array_sort(items, top_compare);
    return items;
}

gboolean top_restore(Top *t, const TopItem *item)
{
    if (!*item->domain || strlen(item->domain) >= sizeof t->items[0].domain || t->len == t->size
        || top_contains(t, item->domain))
        return FALSE;
    TopItem *it = &t->items[t->len];
    *it = *item;
    it->hash = domain_hash(it->domain);
    t->buckets[index_find(t, it->domain, it->hash)] = t->len + 1;
    t->heap[t->len] = (HeapNode){.count = it->count, .slot = t->len};
    t->heap_pos[t->len] = t->len;
    t->len++;
    heap_up(t, t->len - 1);
    return TRUE;
}

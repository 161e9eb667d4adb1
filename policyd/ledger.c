/*
 * ledger.c - the compliance ledger; see ledger.h.  server.c records and
 * serves it; the state file is a GKeyFile (GLib parses it, atomically
 * written by g_key_file_save_to_file).
 */
#include "ledger.h"

#include <string.h>

#include "escape.h"
#include "key.h"
#include "statefile.h"
#include "tlsrules.h"

typedef struct {
    guint64 sessions, compliant, refused[REFUSAL_COUNT], would_refuse[REFUSAL_COUNT];
    gint64 last_seen;
    char level[16], mode[8];
    char last_protocol[16], last_cipher[64], last_client[128];
} LedgerEntry;

/* A space-saving counter: count may include up to error transactions of
 * domains it replaced; met_* are exact only when error is 0. */
typedef struct {
    char domain[256];
    guint64 hash;       /* of domain (FNV-1a) */
    guint64 count, error, met_encrypt, met_verify;
} TopItem;

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
typedef struct {
    TopItem *items;
    HeapNode *heap;
    guint *heap_pos;    /* slot -> where it is in the heap: small, like the heap */
    guint len, size;
    guint *buckets;
    guint mask;
} Top;

struct Ledger {
    GHashTable *entries;  /* key -> LedgerEntry */
    guint max_entries;
    guint64 dropped;
    gint64 since;
    Top below_floor, unlisted;
    gboolean changed;
    /* the last cipher judged: a server sees few distinct ones, and the
     * exclusion check was a third of a transaction's bookkeeping */
    char cipher[64];
    gboolean cipher_known, cipher_ok;
};

static guint64 domain_hash(const char *s)
{
    guint64 h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (guchar)*s) * 1099511628211ull;
    return h;
}

static void top_init(Top *t, guint size)
{
    guint buckets = 16;
    while (buckets < 2 * size)
        buckets *= 2;
    t->items = g_new0(TopItem, size);
    t->heap = g_new0(HeapNode, size);
    t->heap_pos = g_new0(guint, size);
    t->buckets = g_new0(guint, buckets);
    t->mask = buckets - 1;
    t->size = size;
    t->len = 0;
}

static void top_clear(Top *t)
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

static gboolean top_contains(const Top *t, const char *domain)
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
static TopItem *top_add(Top *t, const char *domain)
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

Ledger *ledger_new(guint max_entries, guint top)
{
    Ledger *l = g_new0(Ledger, 1);
    l->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    l->max_entries = max_entries;
    l->since = g_get_real_time() / G_USEC_PER_SEC;
    top_init(&l->below_floor, top);
    top_init(&l->unlisted, top);
    return l;
}

void ledger_free(Ledger *l)
{
    if (!l)
        return;
    g_hash_table_unref(l->entries);
    g_free(l->below_floor.buckets);
    g_free(l->unlisted.buckets);
    g_free(l->below_floor.items);
    g_free(l->unlisted.items);
    g_free(l->below_floor.heap);
    g_free(l->unlisted.heap);
    g_free(l->below_floor.heap_pos);
    g_free(l->unlisted.heap_pos);
    g_free(l);
}

gboolean ledger_changed(const Ledger *l)
{
    return l->changed;
}

/* The sender's domain folded as list keys are (key.h), or NULL (the
 * null sender, no '@', not convertible, too long). */
static const char *sender_domain(const char *sender, char *out, size_t size)
{
    const char *at = strrchr(sender, '@');
    char *heap = NULL;
    const char *domain = at ? key_fold_domain(at + 1, out, size, &heap) : NULL;
    if (heap) {  /* longer than a domain we keep */
        g_free(heap);
        return NULL;
    }
    return domain;
}

static gboolean meets_encrypt(Ledger *l, const PolicyRequest *req)
{
    if (!*req->encryption_protocol || tls_protocol_rank(req->encryption_protocol) < TLS_DEFAULT_MIN_PROTOCOL)
        return FALSE;
    if (!l->cipher_known || strcmp(l->cipher, req->encryption_cipher) != 0) {
        char found[32];
        l->cipher_ok = !tls_excluded_cipher(req->encryption_cipher, TLS_DEFAULT_EXCLUDED_CIPHERS, found, sizeof found);
        l->cipher_known = strlen(req->encryption_cipher) < sizeof l->cipher;
        if (l->cipher_known)
            strcpy(l->cipher, req->encryption_cipher);
    }
    return l->cipher_ok;
}

static void record_entry(Ledger *l, const PolicyRequest *req, const Decision *d, gint64 now)
{
    LedgerEntry *e = g_hash_table_lookup(l->entries, d->key);
    if (!e) {
        if (g_hash_table_size(l->entries) >= l->max_entries) {
            l->dropped++;
            return;
        }
        e = g_new0(LedgerEntry, 1);
        g_hash_table_insert(l->entries, g_strdup(d->key), e);
    }
    e->sessions++;
    e->last_seen = now;
    g_strlcpy(e->level, entry_level_name(d->level), sizeof e->level);
    g_strlcpy(e->mode, d->report ? "report" : "enforce", sizeof e->mode);
    if (d->verdict == VERDICT_REJECT)
        e->refused[d->refusal]++;
    else if (d->report && d->would == VERDICT_REJECT)
        e->would_refuse[d->refusal]++;
    else
        e->compliant++;
    char buf[96];
    g_strlcpy(e->last_protocol, *req->encryption_protocol ? text_escape(req->encryption_protocol, buf, 16) : "none",
              sizeof e->last_protocol);
    g_strlcpy(e->last_cipher, *req->encryption_cipher ? text_escape(req->encryption_cipher, buf, sizeof buf) : "none",
              sizeof e->last_cipher);
    char name[96], address[48];
    g_snprintf(e->last_client, sizeof e->last_client, "%s[%s]",
               text_escape(*req->client_name ? req->client_name : "unknown", name, sizeof name),
               text_escape(req->client_address, address, sizeof address));
}

void ledger_record(Ledger *l, const PolicyRequest *req, const Decision *d, gint64 now)
{
    if (d->direction != DIRECTION_INBOUND)
        return;
    l->changed = TRUE;
    if (d->key[0] && d->refusal != REFUSAL_GLOBAL_FLOOR) {
        record_entry(l, req, d, now);
        return;
    }
    char domain[256];
    if (!sender_domain(req->sender, domain, sizeof domain))
        return;
    if (d->refusal == REFUSAL_GLOBAL_FLOOR)
        top_add(&l->below_floor, domain);
    if (d->key[0])
        return;
    TopItem *it = top_add(&l->unlisted, domain);
    if (meets_encrypt(l, req)) {
        it->met_encrypt++;
        if (*req->ccert_subject)
            it->met_verify++;
    }
}

static guint64 sum(const guint64 *counts)
{
    guint64 n = 0;
    for (int r = 0; r < REFUSAL_COUNT; r++)
        n += counts[r];
    return n;
}

/* "name":n,... (json) or name=n,... ("-" for none) of the non-zero counts. */
static void append_reasons(GString *out, const guint64 *counts, gboolean json)
{
    gboolean first = TRUE;
    if (json)
        g_string_append_c(out, '{');
    for (int r = REFUSAL_NO_TLS; r < REFUSAL_COUNT; r++) {
        if (!counts[r])
            continue;
        g_string_append_printf(out, json ? "%s\"%s\":%" G_GUINT64_FORMAT : "%s%s=%" G_GUINT64_FORMAT,
                               first ? "" : ",", decide_refusal_name((Refusal)r), counts[r]);
        first = FALSE;
    }
    if (json)
        g_string_append_c(out, '}');
    else if (first)
        g_string_append_c(out, '-');
}

/* The entries' keys, sorted: output that does not depend on hashing. */
static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static GPtrArray *sorted_keys(GHashTable *table)
{
    GPtrArray *keys = g_ptr_array_new();
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, table);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(keys, key);
    g_ptr_array_sort(keys, compare_strings);
    return keys;
}

static void json_top(GString *out, const Top *t, gboolean compliance)
{
    g_string_append_c(out, '[');
    for (guint i = 0; i < t->len; i++) {
        const TopItem *it = &t->items[i];
        g_string_append(out, i ? ",{\"domain\":" : "{\"domain\":");
        json_append_string(out, it->domain);
        g_string_append_printf(out, ",\"count\":%" G_GUINT64_FORMAT ",\"error\":%" G_GUINT64_FORMAT, it->count, it->error);
        if (compliance)
            g_string_append_printf(out, ",\"met_encrypt\":%" G_GUINT64_FORMAT ",\"met_verify\":%" G_GUINT64_FORMAT,
                                   it->met_encrypt, it->met_verify);
        g_string_append_c(out, '}');
    }
    g_string_append_c(out, ']');
}

void ledger_format_json(const Ledger *l, GString *out)
{
    g_string_append_printf(out, "{\"since\":%" G_GINT64_FORMAT ",\"dropped\":%" G_GUINT64_FORMAT ",\"entries\":{",
                           l->since, l->dropped);
    g_autoptr(GPtrArray) keys = sorted_keys(l->entries);
    for (guint i = 0; i < keys->len; i++) {
        const LedgerEntry *e = g_hash_table_lookup(l->entries, keys->pdata[i]);
        if (i)
            g_string_append_c(out, ',');
        json_append_string(out, keys->pdata[i]);
        g_string_append_printf(out, ":{\"level\":\"%s\",\"mode\":\"%s\",\"sessions\":%" G_GUINT64_FORMAT
                               ",\"compliant\":%" G_GUINT64_FORMAT ",\"refused\":",
                               e->level, e->mode, e->sessions, e->compliant);
        append_reasons(out, e->refused, TRUE);
        g_string_append(out, ",\"would_refuse\":");
        append_reasons(out, e->would_refuse, TRUE);
        g_string_append_printf(out, ",\"last_seen\":%" G_GINT64_FORMAT ",\"last_protocol\":", e->last_seen);
        json_append_string(out, e->last_protocol);
        g_string_append(out, ",\"last_cipher\":");
        json_append_string(out, e->last_cipher);
        g_string_append(out, ",\"last_client\":");
        json_append_string(out, e->last_client);
        g_string_append_c(out, '}');
    }
    g_string_append(out, "},\"below_floor\":");
    json_top(out, &l->below_floor, FALSE);
    g_string_append(out, ",\"unlisted\":");
    json_top(out, &l->unlisted, TRUE);
    g_string_append(out, "}\n");
}

typedef struct {
    const char *key;
    const LedgerEntry *e;
} Row;

/* Most would-be refusals first, then most refusals, then the key. */
static int row_compare(const void *a, const void *b)
{
    const Row *x = a, *y = b;
    guint64 wx = sum(x->e->would_refuse), wy = sum(y->e->would_refuse);
    if (wx != wy)
        return wx > wy ? -1 : 1;
    guint64 rx = sum(x->e->refused), ry = sum(y->e->refused);
    if (rx != ry)
        return rx > ry ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int top_compare(const void *a, const void *b)
{
    const TopItem *x = *(TopItem *const *)a, *y = *(TopItem *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->domain, y->domain);
}

static GPtrArray *top_sorted(const Top *t)
{
    GPtrArray *items = g_ptr_array_new();
    for (guint i = 0; i < t->len; i++)
        g_ptr_array_add(items, &t->items[i]);
    g_ptr_array_sort(items, top_compare);
    return items;
}

void ledger_format_report(const Ledger *l, const GPtrArray *list_keys, GString *out)
{
    g_autoptr(GDateTime) since = g_date_time_new_from_unix_utc(l->since);
    g_autofree char *since_text = g_date_time_format_iso8601(since);
    g_string_append_printf(out, "Compliance report: inbound mail transactions since %s\n\n", since_text);
    guint n = g_hash_table_size(l->entries);
    Row *rows = g_new(Row, MAX(n, 1));
    GHashTableIter it;
    gpointer key, value;
    guint i = 0;
    g_hash_table_iter_init(&it, l->entries);
    while (g_hash_table_iter_next(&it, &key, &value))
        rows[i++] = (Row){key, value};
    qsort(rows, n, sizeof *rows, row_compare);
    g_string_append_printf(out, "%-32s %-9s %-7s %8s %9s %12s %7s  %s\n", "entry", "level", "mode", "sessions",
                           "compliant", "would-refuse", "refused", "reasons");
    for (i = 0; i < n; i++) {
        const LedgerEntry *e = rows[i].e;
        g_string_append_printf(out, "%-32s %-9s %-7s %8" G_GUINT64_FORMAT " %9" G_GUINT64_FORMAT " %12" G_GUINT64_FORMAT
                               " %7" G_GUINT64_FORMAT "  ", rows[i].key, e->level, e->mode, e->sessions, e->compliant,
                               sum(e->would_refuse), sum(e->refused));
        guint64 all[REFUSAL_COUNT];
        for (int r = 0; r < REFUSAL_COUNT; r++)
            all[r] = e->would_refuse[r] + e->refused[r];
        append_reasons(out, all, FALSE);
        g_string_append_printf(out, " (last: %s %s from %s)\n", e->last_protocol, e->last_cipher, e->last_client);
    }
    if (n == 0)
        g_string_append(out, "(no listed sender seen yet)\n");
    g_free(rows);
    if (l->dropped)
        g_string_append_printf(out, "(%" G_GUINT64_FORMAT " transactions of entries beyond the first %u not kept)\n",
                               l->dropped, l->max_entries);
    if (list_keys) {
        guint never = 0;
        g_string_append(out, "\nEntries never seen:");
        for (i = 0; i < list_keys->len; i++) {
            if (g_hash_table_contains(l->entries, list_keys->pdata[i]))
                continue;
            g_string_append_printf(out, "%s%s", never ? ", " : " ", (char *)list_keys->pdata[i]);
            never++;
        }
        g_string_append(out, never ? "\n" : " none\n");
    }
    g_autoptr(GPtrArray) below = top_sorted(&l->below_floor);
    g_string_append(out, "\nSenders below the global floor (most transactions first):");
    for (i = 0; i < below->len; i++) {
        const TopItem *t = below->pdata[i];
        g_string_append_printf(out, "\n  %-40s %8" G_GUINT64_FORMAT, t->domain, t->count);
        if (t->error)
            g_string_append_printf(out, " (up to %" G_GUINT64_FORMAT " of them other domains')", t->error);
    }
    g_string_append(out, below->len ? "\n" : " none\n");
}

void ledger_format_suggest(const Ledger *l, guint min_messages, TlsLevel level, GString *out)
{
    gboolean verify = level == LEVEL_VERIFY || level == LEVEL_SECURE;
    g_string_append_printf(out, "# unlisted sending domains whose mail always met %s over at least %u transactions\n"
                                "# (TLS 1.2 or better without excluded ciphers%s); for tlsmap -i after a review\n",
                           entry_level_name(level), min_messages, verify ? ", a verified client certificate" : "");
    g_autoptr(GPtrArray) items = top_sorted(&l->unlisted);
    for (guint i = 0; i < items->len; i++) {
        const TopItem *t = items->pdata[i];
        guint64 met = verify ? t->met_verify : t->met_encrypt;
        if (t->error == 0 && t->count >= min_messages && met == t->count)
            g_string_append_printf(out, "%s %s direction=inbound mode=report\n", t->domain, entry_level_name(level));
    }
}

/* State file: [ledger] since, dropped; [entry N] key, counts...;
 * [below_floor N] / [unlisted N] domain, counts. */
static void save_counts(GKeyFile *kf, const char *group, const char *name, const guint64 *counts)
{
    for (int r = REFUSAL_NO_TLS; r < REFUSAL_COUNT; r++) {
        g_autofree char *k = g_strdup_printf("%s_%s", name, decide_refusal_name((Refusal)r));
        g_key_file_set_uint64(kf, group, k, counts[r]);
    }
}

static void load_counts(GKeyFile *kf, const char *group, const char *name, guint64 *counts)
{
    for (int r = REFUSAL_NO_TLS; r < REFUSAL_COUNT; r++) {
        g_autofree char *k = g_strdup_printf("%s_%s", name, decide_refusal_name((Refusal)r));
        counts[r] = g_key_file_get_uint64(kf, group, k, NULL);
    }
}

static void save_top(GKeyFile *kf, const char *name, const Top *t)
{
    for (guint i = 0; i < t->len; i++) {
        g_autofree char *group = g_strdup_printf("%s %u", name, i);
        g_key_file_set_string(kf, group, "domain", t->items[i].domain);
        g_key_file_set_uint64(kf, group, "count", t->items[i].count);
        g_key_file_set_uint64(kf, group, "error", t->items[i].error);
        g_key_file_set_uint64(kf, group, "met_encrypt", t->items[i].met_encrypt);
        g_key_file_set_uint64(kf, group, "met_verify", t->items[i].met_verify);
    }
}

static void load_top(GKeyFile *kf, const char *group, Top *t)
{
    g_autofree char *domain = g_key_file_get_string(kf, group, "domain", NULL);
    if (!domain || !*domain || strlen(domain) >= sizeof t->items[0].domain || t->len == t->size
        || top_contains(t, domain))
        return;
    TopItem *it = &t->items[t->len];
    *it = (TopItem){
        .count = g_key_file_get_uint64(kf, group, "count", NULL),
        .error = g_key_file_get_uint64(kf, group, "error", NULL),
        .met_encrypt = g_key_file_get_uint64(kf, group, "met_encrypt", NULL),
        .met_verify = g_key_file_get_uint64(kf, group, "met_verify", NULL),
    };
    g_strlcpy(it->domain, domain, sizeof it->domain);
    it->hash = domain_hash(domain);
    t->buckets[index_find(t, domain, it->hash)] = t->len + 1;
    t->heap[t->len] = (HeapNode){.count = it->count, .slot = t->len};
    t->heap_pos[t->len] = t->len;
    t->len++;
    heap_up(t, t->len - 1);
}

GKeyFile *ledger_to_keyfile(Ledger *l)
{
    GKeyFile *kf = g_key_file_new();
    g_key_file_set_int64(kf, "ledger", "since", l->since);
    g_key_file_set_uint64(kf, "ledger", "dropped", l->dropped);
    g_autoptr(GPtrArray) keys = sorted_keys(l->entries);
    for (guint i = 0; i < keys->len; i++) {
        const LedgerEntry *e = g_hash_table_lookup(l->entries, keys->pdata[i]);
        g_autofree char *group = g_strdup_printf("entry %u", i);
        g_key_file_set_string(kf, group, "key", keys->pdata[i]);
        g_key_file_set_string(kf, group, "level", e->level);
        g_key_file_set_string(kf, group, "mode", e->mode);
        g_key_file_set_uint64(kf, group, "sessions", e->sessions);
        g_key_file_set_uint64(kf, group, "compliant", e->compliant);
        save_counts(kf, group, "refused", e->refused);
        save_counts(kf, group, "would_refuse", e->would_refuse);
        g_key_file_set_int64(kf, group, "last_seen", e->last_seen);
        g_key_file_set_string(kf, group, "last_protocol", e->last_protocol);
        g_key_file_set_string(kf, group, "last_cipher", e->last_cipher);
        g_key_file_set_string(kf, group, "last_client", e->last_client);
    }
    save_top(kf, "below_floor", &l->below_floor);
    save_top(kf, "unlisted", &l->unlisted);
    l->changed = FALSE;
    return kf;
}

gboolean ledger_save(Ledger *l, const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = ledger_to_keyfile(l);
    if (statefile_write(path, kf, error))
        return TRUE;
    l->changed = TRUE;
    return FALSE;
}

gboolean ledger_load(Ledger *l, const char *path, GError **error)
{
    GError *err = NULL;
    g_autoptr(GKeyFile) kf = statefile_read(path, &err);
    if (!kf) {
        if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_error_free(err);
            return TRUE;
        }
        g_propagate_error(error, err);
        return FALSE;
    }
    g_hash_table_remove_all(l->entries);
    top_clear(&l->below_floor);
    top_clear(&l->unlisted);
    l->since = g_key_file_get_int64(kf, "ledger", "since", NULL);
    l->dropped = g_key_file_get_uint64(kf, "ledger", "dropped", NULL);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        if (g_str_has_prefix(*g, "entry ")) {
            g_autofree char *key = g_key_file_get_string(kf, *g, "key", NULL);
            if (!key || !*key || strlen(key) > KEY_MAX || g_hash_table_size(l->entries) >= l->max_entries)
                continue;
            LedgerEntry *e = g_new0(LedgerEntry, 1);
            g_autofree char *level = g_key_file_get_string(kf, *g, "level", NULL);
            g_autofree char *mode = g_key_file_get_string(kf, *g, "mode", NULL);
            g_autofree char *proto = g_key_file_get_string(kf, *g, "last_protocol", NULL);
            g_autofree char *cipher = g_key_file_get_string(kf, *g, "last_cipher", NULL);
            g_autofree char *client = g_key_file_get_string(kf, *g, "last_client", NULL);
            g_strlcpy(e->level, level ? level : "", sizeof e->level);
            g_strlcpy(e->mode, mode ? mode : "", sizeof e->mode);
            g_strlcpy(e->last_protocol, proto ? proto : "", sizeof e->last_protocol);
            g_strlcpy(e->last_cipher, cipher ? cipher : "", sizeof e->last_cipher);
            g_strlcpy(e->last_client, client ? client : "", sizeof e->last_client);
            e->sessions = g_key_file_get_uint64(kf, *g, "sessions", NULL);
            e->compliant = g_key_file_get_uint64(kf, *g, "compliant", NULL);
            e->last_seen = g_key_file_get_int64(kf, *g, "last_seen", NULL);
            load_counts(kf, *g, "refused", e->refused);
            load_counts(kf, *g, "would_refuse", e->would_refuse);
            g_hash_table_replace(l->entries, g_steal_pointer(&key), e);
        } else if (g_str_has_prefix(*g, "below_floor ")) {
            load_top(kf, *g, &l->below_floor);
        } else if (g_str_has_prefix(*g, "unlisted ")) {
            load_top(kf, *g, &l->unlisted);
        }
    }
    l->changed = FALSE;
    return TRUE;
}

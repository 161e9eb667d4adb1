/*
 * source.c - list file parser.  See source.h for the contract.
 *
 * Speed matters (a million-line list compiles in a quarter of a second):
 * the text is copied once and tokenized in place, keys are folded in place
 * and point into it, a line's "LEVEL attrs" text is parsed once for all
 * the lines that repeat it, big texts are parsed in parallel parts, and
 * fresh memory (costly to fault in) is asked for in huge pages.
 */
#include "source.h"

#include "escape.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

static const char *intern(SourceList *list, const char *s)
{
    return s ? g_string_chunk_insert_const(list->strings, s) : NULL;
}

const ListEntry *source_intern_entry(SourceList *list, const Entry *entry)
{
    union {
        ListEntry le;
        guint8 room[sizeof(ListEntry) + ENTRY_MAX_ENCODED];
    } probe;
    probe.le.encoded_len = (guint16)entry_encode(entry, probe.le.encoded);

    ListEntry *found = g_hash_table_lookup(list->entries, &probe.le);
    if (found)
        return found;
    found = g_malloc(sizeof(ListEntry) + probe.le.encoded_len);
    memcpy(found, &probe.le, sizeof(ListEntry) + probe.le.encoded_len);
    found->entry = *entry;
    found->entry.exclude_ciphers = intern(list, entry->exclude_ciphers);
    found->entry.notice = intern(list, entry->notice);
    found->entry.transport = intern(list, entry->transport);
    found->entry.nexthop = intern(list, entry->nexthop);
    g_hash_table_add(list->entries, found);
    return found;
}

static void advise_huge(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    /* Fresh memory is costly to fault in page by page (much of a compile
     * on a VM): huge pages, where the system allows them, make that a few
     * dozen faults instead of thousands. */
    uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t from = ((uintptr_t)p + huge - 1) & ~(huge - 1), to = ((uintptr_t)p + size) & ~(huge - 1);
    if (to > from)
        madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
    (void)p, (void)size;
#endif
}

/* g_malloc() for a large array that will be filled front to back. */
static void *big_alloc(size_t size)
{
    void *p = g_malloc(size);
    advise_huge(p, size);
    return p;
}

SourceList *source_list_new(const char *filename)
{
    SourceList *list = g_new0(SourceList, 1);
    list->parts = g_ptr_array_new_with_free_func((GDestroyNotify)source_list_free);
    list->parallel_min = SOURCE_PARALLEL_MIN;
    list->filename = g_strdup(filename);
    list->records = g_array_new(FALSE, FALSE, sizeof(SourceRecord));
    list->strings = g_string_chunk_new(1 << 16);
    list->errors = g_ptr_array_new_with_free_func(g_free);
    list->scratch_keys = g_ptr_array_new();
    list->entries = g_hash_table_new_full(list_entry_hash, list_entry_equal, g_free, NULL);
    return list;
}

void source_list_free(SourceList *list)
{
    if (!list)
        return;
    g_free(list->filename);
    g_array_unref(list->records);
    g_string_chunk_free(list->strings);
    g_ptr_array_unref(list->errors);
    g_ptr_array_unref(list->scratch_keys);
    g_hash_table_unref(list->entries);
    g_ptr_array_unref(list->parts);
    g_free(list->text);
    g_free(list->parsed);
    g_free(list);
}

/* Keep message (ours now) unless the cap is reached; the message after
 * the last one kept says that more were dropped. */
static void source_error_add(SourceList *list, char *message)
{
    if (list->gave_up)
        return g_free(message);
    if (list->errors->len == SOURCE_MAX_ERRORS) {
        g_free(message);
        g_ptr_array_add(list->errors, g_strdup_printf("%s: too many errors, giving up", list->filename));
        list->gave_up = TRUE;
        return;
    }
    g_ptr_array_add(list->errors, message);
}

/* A token as an error message quotes it: escaped (escape.h) and cut
 * after SHOWN_BYTES bytes.  A 50 MB key made a 50 MB error line, and
 * escape sequences from a list reached the terminal. */
#define SHOWN_BYTES 64
#define SHOWN_SIZE (SHOWN_BYTES + 4)  /* "..." and the NUL */
static const char *shown(const char *token, char *buf)
{
    return text_escape(token, buf, SHOWN_SIZE);
}

static void source_error(SourceList *list, guint line, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void source_error(SourceList *list, guint line, const char *fmt, ...)
{
    if (list->gave_up)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    source_error_add(list, g_strdup_printf("%s, line %u: %s", list->filename, line, msg));
}

/*
 * Tokenizer.  A token is a run of non-blank bytes; in "name=value" a value
 * that starts with '"' runs to the closing quote, with \" and \\ escapes.
 * Tokens are unquoted in place (the line buffer is ours).
 */
typedef struct {
    char *pos;
    const char *error;
} Tokenizer;

static char *next_token(Tokenizer *tok)
{
    char *p = tok->pos;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == 0)
        return tok->pos = p, NULL;

    char *start = p, *out = p;
    while (*p && *p != ' ' && *p != '\t') {
        if (*p == '"' && p > start && p[-1] == '=' && out == p) {
            /* quoted value: copy the unescaped text down over the quotes */
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                *out++ = *p++;
            }
            if (*p != '"') {
                tok->error = "unterminated quoted value";
                return tok->pos = p, NULL;
            }
            p++;
            if (*p && *p != ' ' && *p != '\t') {
                tok->error = "text after the closing quote";
                return tok->pos = p, NULL;
            }
            break;
        }
        *out++ = *p++;
    }
    if (*p)
        p++;
    *out = 0;
    tok->pos = p;
    return start;
}

static const char *level_list = "encrypt, verify, secure, dane, dane-only, none or may";

/* Keys are folded in place in the list's copy of the text (a normal form
 * is never longer than its source, except for some IDN names, which go
 * to the string chunk). */
static void add_keys(SourceList *list, GPtrArray *keys, const ListEntry *value, guint lineno)
{
    for (guint i = 0; i < keys->len; i++) {
        char *raw = keys->pdata[i];
        const char *why;
        KeyKind kind;
        char key[KEY_MAX + 1];
        size_t key_len;
        if (!key_from_list(raw, key, &key_len, &kind, &why)) {
            char b[SHOWN_SIZE];
            source_error(list, lineno, "%s: \"%s\"", why, shown(raw, b));
            continue;
        }
        const char *stored = key_len <= strlen(raw) ? memcpy(raw, key, key_len + 1)
                                                    : g_string_chunk_insert_len(list->strings, key, (gssize)key_len);
        if (list->n_parsed == list->parsed_room) {
            list->parsed_room = MAX(list->parsed_room * 2, 1024);
            list->parsed = g_renew(SourceRecord, list->parsed, list->parsed_room);
        }
        list->parsed[list->n_parsed++] = (SourceRecord){
            .key = stored,
            .value = value,
            .line = lineno,
            .key_len = (guint16)key_len,
            .kind = (guint8)kind,
        };
    }
}

/* Lists repeat the same few "LEVEL attrs" texts: recent ones are kept
 * with their entry, found by the text (from the level word to the end of
 * the line, as the tokenizer left it), and reused without parsing. */
static SourceEntryCache *entry_cache_slot(SourceList *list, const char *tail, size_t len)
{
    guint hash = (guint)len * 31 + (guchar)tail[len / 2] * 7 + (guchar)tail[len - 1];
    return &list->entry_cache[hash % G_N_ELEMENTS(list->entry_cache)];
}

static const ListEntry *entry_cache_find(SourceList *list, const char *tail, size_t len)
{
    const SourceEntryCache *slot = entry_cache_slot(list, tail, len);
    return slot->value && slot->tail_len == len && memcmp(slot->tail, tail, len) == 0 ? slot->value : NULL;
}

/* The entry of "LEVEL attrs" (level parsed, tok after it); NULL after
 * reporting an error. */
static const ListEntry *parse_entry(SourceList *list, Tokenizer *tok, TlsLevel level, const char *tail,
                                    size_t tail_len, guint lineno)
{
    SourceEntryCache *slot = entry_cache_slot(list, tail, tail_len);
    gboolean cacheable = tail_len <= sizeof slot->tail;
    char saved[sizeof slot->tail];
    if (cacheable)
        memcpy(saved, tail, tail_len);  /* before next_token() changes it */

    Entry entry = {.level = level};
    guint seen = 0;
    const char *const *names = entry_attribute_names;
    char *word;
    while ((word = next_token(tok))) {
        char *eq = strchr(word, '=');
        const char *why;
        char b1[SHOWN_SIZE], b2[SHOWN_SIZE];
        if (!eq || eq == word)
            return source_error(list, lineno, "expected attribute=value, found \"%s\"", shown(word, b1)), NULL;
        *eq = 0;
        for (guint i = 0; names[i]; i++) {
            if (strcmp(word, names[i]) == 0) {
                if (seen & (1u << i))
                    return source_error(list, lineno, "attribute %s given twice", shown(word, b1)), NULL;
                seen |= 1u << i;
            }
        }
        if (!entry_set_attribute(&entry, word, eq + 1, &why))
            return source_error(list, lineno, "%s: %s=%s", why, shown(word, b1), shown(eq + 1, b2)), NULL;
    }
    if (tok->error)
        return source_error(list, lineno, "%s", tok->error), NULL;
    const char *why;
    if (!entry_validate(&entry, &why))
        return source_error(list, lineno, "%s", why), NULL;

    const ListEntry *value = source_intern_entry(list, &entry);
    if (cacheable) {
        slot->value = value;
        slot->tail_len = (guint16)tail_len;
        memcpy(slot->tail, saved, tail_len);
    }
    return value;
}

/* next_token() for the key part of a line, where quotes are rare: one
 * scan finds the end of the token. */
static char *next_key_token(Tokenizer *tok)
{
    char *p = tok->pos;
    while (*p == ' ' || *p == '\t')
        p++;
    char *start = p;
    for (; *p && *p != ' ' && *p != '\t'; p++) {
        if (*p == '"')
            return next_token(tok);
    }
    if (p == start)
        return tok->pos = p, NULL;
    if (*p)
        *p++ = 0;
    tok->pos = p;
    return start;
}

/* Keys have a '.' or an '@' (',' separates keys); level words have none. */
static gboolean may_be_level_word(const char *word)
{
    for (const char *c = word; *c; c++) {
        if (*c == '.' || *c == '@' || *c == ',' || c - word > 9)
            return FALSE;
    }
    return TRUE;
}

/* "a,b,,c" -> a b c, split in place. */
static void split_keys(char *word, GPtrArray *keys)
{
    for (char *p = word;;) {
        while (*p == ',')
            p++;
        if (!*p)
            return;
        g_ptr_array_add(keys, p);
        while (*p && *p != ',')
            p++;
        if (!*p)
            return;
        *p++ = 0;
    }
}

/* Parse one "KEY... LEVEL attrs" logical line (tokenized in place, so
 * line is modified); records are appended unsorted. */
static void source_parse_line(SourceList *list, char *line, guint lineno)
{
    GPtrArray *keys = list->scratch_keys;
    g_ptr_array_set_size(keys, 0);
    Tokenizer tok = {.pos = line};
    const ListEntry *value = NULL;
    TlsLevel level = LEVEL_ENCRYPT;
    const char *tail = NULL;
    size_t tail_len = 0;
    char *word;

    /* Keys (comma or blank separated) up to the level word. */
    while ((word = next_key_token(&tok))) {
        if (may_be_level_word(word)) {
            tail = word;
            tail_len = (size_t)(tok.pos + strlen(tok.pos) - word);
            if ((value = entry_cache_find(list, tail, tail_len)))
                break;
            if (entry_level_parse(word, &level))
                break;
            tail = NULL;
        }
        split_keys(word, keys);
    }
    if (tok.error)
        return source_error(list, lineno, "%s", tok.error);
    if (!tail) {
        const char *last = keys->len ? keys->pdata[keys->len - 1] : "";
        char b[SHOWN_SIZE];
        if (keys->len > 1 && !strchr(last, '.') && !strchr(last, '@'))
            return source_error(list, lineno, "unknown TLS level \"%s\" (expected %s)", shown(last, b), level_list);
        return source_error(list, lineno, "missing TLS level after the key (expected %s)", level_list);
    }
    if (keys->len == 0)
        return source_error(list, lineno, "missing key before the TLS level \"%s\"",
                            entry_level_name(value ? value->entry.level : level));
    if (!value)
        value = parse_entry(list, &tok, level, tail, tail_len, lineno);
    if (value)
        add_keys(list, keys, value, lineno);
}

int source_key_compare(const char *a, size_t a_len, const char *b, size_t b_len)
{
    int c = memcmp(a, b, MIN(a_len, b_len));
    return c ? c : a_len < b_len ? -1 : a_len > b_len;
}

/*
 * Sorting a million keys is much of a compile, so sort small items that
 * carry the first 8 key bytes as an integer: most comparisons never touch
 * the key strings (or the cache lines they live in).
 */
typedef struct {
    guint64 prefix;           /* first 8 bytes, big-endian, NUL padded */
    const SourceRecord *rec;
} SortItem;

/* Key order (LMDB's: bytes, then the shorter first), then file order. */
static int sort_item_compare(const void *a, const void *b)
{
    const SortItem *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    const SourceRecord *r = x->rec, *s = y->rec;
    int c = source_key_compare(r->key, r->key_len, s->key, s->key_len);
    if (c)
        return c;
    if (r->line != s->line)
        return r->line < s->line ? -1 : 1;
    return r < s ? -1 : r > s;  /* one line's keys are in one array */
}

static SortItem sort_item(const SourceRecord *rec)
{
    SortItem item = {.rec = rec};
    const unsigned char *k = (const unsigned char *)rec->key;
    guint n = MIN(rec->key_len, 8u);
    for (guint i = 0; i < n; i++)
        item.prefix = item.prefix << 8 | k[i];
    item.prefix <<= 8 * (8 - n);
    return item;
}

static gboolean sort_items_same_key(const SortItem *x, const SortItem *y)
{
    return x->prefix == y->prefix
           && source_key_compare(x->rec->key, x->rec->key_len, y->rec->key, y->rec->key_len) == 0;
}

/* Stable LSD radix sort on the 64-bit prefix, 16 bits a pass; tmp has
 * room for n items. */
static void radix_sort_prefix(SortItem *items, SortItem *tmp, guint n)
{
    SortItem *src = items, *dst = tmp;
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
    g_free(count);  /* four passes: the result is back in items */
}

/* Sort items (n of them; tmp has room for n) into key order. */
static void sort_items(SortItem *items, SortItem *tmp, guint n)
{
    if (n < 4096) {
        /* small lists: the radix passes' 256 KiB of counters cost more */
        if (n > 1)  /* qsort() must not see a NULL array */
            qsort(items, n, sizeof *items, sort_item_compare);
        return;
    }
    radix_sort_prefix(items, tmp, n);
    /* Runs with the same prefix are rare and short: finish them exactly. */
    for (guint i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && items[j].prefix == items[i].prefix; j++)
            ;
        if (j - i > 1)
            qsort(items + i, j - i, sizeof *items, sort_item_compare);
    }
}

/* A GArray of n SourceRecords' room, for filling front to back. */
static GArray *record_array_new(guint n)
{
    GArray *records = g_array_sized_new(FALSE, FALSE, sizeof(SourceRecord), n);
    advise_huge(records->data, (size_t)n * sizeof(SourceRecord));
    return records;
}

/* One list's parsed records (a part of a parallel parse, or the whole)
 * to sort: its items and their scratch space. */
typedef struct {
    const SourceRecord *records;
    guint n;
    SortItem *items, *tmp;
} SortSegment;

static gpointer sort_segment(gpointer data)
{
    SortSegment *seg = data;
    for (guint i = 0; i < seg->n; i++)
        seg->items[i] = sort_item(&seg->records[i]);
    sort_items(seg->items, seg->tmp, seg->n);
    return NULL;
}

/* The next item in key order from the heads of the sorted segments; NULL
 * when all are used up. */
static const SortItem *merge_next(SortSegment *segs, SortItem **heads, guint n_segs)
{
    int best = -1;
    for (guint s = 0; s < n_segs; s++) {
        if (heads[s] < segs[s].items + segs[s].n
            && (best < 0 || sort_item_compare(heads[s], heads[best]) < 0))
            best = (int)s;
    }
    return best < 0 ? NULL : heads[best]++;
}

/* The records of list and its parts, sorted into list->records; later
 * duplicates of a key are reported (naming both lines) and dropped.  Each
 * part is sorted by a thread of its own, then the parts are merged. */
static void source_sort_and_check(SourceList *list)
{
    guint n_segs = 1 + list->parts->len, n = 0;
    SortSegment *segs = g_new0(SortSegment, n_segs);
    for (guint p = 0; p < n_segs; p++) {
        const SourceList *part = p == 0 ? list : list->parts->pdata[p - 1];
        segs[p] = (SortSegment){.records = part->parsed, .n = part->n_parsed};
        n += part->n_parsed;
    }

    /* The new array is not filled until the merge: it is the sorts' scratch.
     * (Room for one at least: no arithmetic on NULL for an empty list.) */
    GArray *sorted = record_array_new(MAX(n, 1));
    SortItem *items = big_alloc(MAX(n, 1) * sizeof *items);
    G_STATIC_ASSERT(sizeof(SortItem) <= sizeof(SourceRecord));
    GThread **threads = g_new0(GThread *, n_segs);
    for (guint p = 0, base = 0; p < n_segs; p++) {
        segs[p].items = items + base;
        segs[p].tmp = (SortItem *)(void *)sorted->data + base;
        base += segs[p].n;
        if (p > 0)
            threads[p] = g_thread_new("tlsmap-sort", sort_segment, &segs[p]);
    }
    sort_segment(&segs[0]);
    for (guint p = 1; p < n_segs; p++)
        g_thread_join(threads[p]);

    g_array_set_size(sorted, n);
    SortItem **heads = g_new(SortItem *, n_segs);
    for (guint p = 0; p < n_segs; p++)
        heads[p] = segs[p].items;
    guint kept = 0;
    const SortItem *item, *prev = NULL;
    while ((item = merge_next(segs, heads, n_segs))) {
        if (prev && sort_items_same_key(item, prev)) {
            const SourceRecord *first = &g_array_index(sorted, SourceRecord, kept - 1);
            char b[SHOWN_SIZE];
            source_error(list, item->rec->line, "duplicate key \"%s\" (first defined at line %u)",
                         shown(item->rec->key, b), first->line);
        } else {
            g_array_index(sorted, SourceRecord, kept++) = *item->rec;
        }
        prev = item;
    }
    g_array_set_size(sorted, kept);
    g_free(heads);
    g_free(threads);
    g_free(items);
    g_free(segs);
    g_array_unref(list->records);
    list->records = sorted;
    for (guint p = 0; p < n_segs; p++) {
        SourceList *part = p == 0 ? list : list->parts->pdata[p - 1];
        g_clear_pointer(&part->parsed, g_free);
        part->n_parsed = part->parsed_room = 0;
    }
}

/*
 * Logical lines.  A continuation (a line that starts with white space and
 * is not blank or a comment) is joined to its line in place: it moves down
 * over the newline and its own indentation, so the text never grows.
 */
static void parse_lines(SourceList *list, char *p, char *end, guint lineno, gboolean check_nul)
{
    char *logical = NULL, *fill = NULL;
    guint logical_line = 0;

    for (; p < end; lineno++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;

        char *q = p;
        while (q < p + n && (*q == ' ' || *q == '\t'))
            q++;
        gboolean blank = q == p + n, comment = !blank && *q == '#';
        gboolean continuation = !blank && !comment && q > p;

        if (check_nul && memchr(p, 0, n)) {
            source_error(list, lineno, "NUL byte in line");
        } else if (continuation) {
            if (!logical) {
                source_error(list, lineno, "continuation line (starts with white space) with no line to continue");
            } else {
                *fill++ = ' ';
                memmove(fill, q, (size_t)(p + n - q));
                fill += p + n - q;
            }
        } else if (!blank && !comment) {
            if (logical) {
                *fill = 0;
                source_parse_line(list, logical, logical_line);
            }
            logical = p;
            fill = p + n;
            logical_line = lineno;
        }
        p = nl ? nl + 1 : end;
    }
    if (logical) {
        *fill = 0;
        source_parse_line(list, logical, logical_line);
    }
}

static guint count_lines(const char *p, const char *end)
{
    guint lines = 0;
    while ((p = memchr(p, '\n', (size_t)(end - p)))) {
        lines++;
        p++;
    }
    return lines;
}

/* Where a part of the text may start: a line that begins a logical line
 * (not blank, a comment, a continuation or a line with a NUL byte), at or
 * after p; end if there is none. */
static char *part_start(char *p, char *end)
{
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
        p++;
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char c = p < end ? *p : 0;
        if (c != ' ' && c != '\t' && c != '#' && c != '\r' && c != '\n' && c != 0
            && !memchr(p, 0, (size_t)((eol ? eol : end) - p)))
            return p;
    }
    return end;
}

typedef struct {
    SourceList *list;
    char *start, *end;
    guint first_line;
    gboolean check_nul;
} SourcePart;

static gpointer parse_part(gpointer data)
{
    SourcePart *part = data;
    /* about one record a line: a guess, the array grows if need be */
    part->list->parsed_room = (guint)((size_t)(part->end - part->start) / 24 + 64);
    part->list->parsed = big_alloc(part->list->parsed_room * sizeof(SourceRecord));
    parse_lines(part->list, part->start, part->end, part->first_line, part->check_nul);
    return NULL;
}

/* Big lists are cut into parts at logical-line boundaries and parsed in
 * parallel, each part into a list of its own (its own strings, entries and
 * errors), then joined in file order. */
static void parse_text(SourceList *list, char *text, size_t len)
{
    char *end = text + len;
    gboolean check_nul = strlen(text) != len;
    guint nparts = (guint)MIN(len / MAX(list->parallel_min, 1), SOURCE_MAX_PARTS);
    if (nparts > 1)
        nparts = MIN(nparts, list->max_parts ? list->max_parts : g_get_num_processors());
    nparts = MAX(nparts, 1);
    SourcePart parts[SOURCE_MAX_PARTS];
    GThread *threads[SOURCE_MAX_PARTS] = {NULL};
    guint made = 0, lineno = 1;

    for (char *p = text; p < end && made < nparts; made++) {
        char *stop = made + 1 == nparts ? end : part_start(MAX(p, text + len / nparts * (made + 1)), end);
        parts[made] = (SourcePart){
            .list = made == 0 ? list : source_list_new(list->filename),
            .start = p, .end = stop, .first_line = lineno, .check_nul = check_nul,
        };
        if (made > 0)
            g_ptr_array_add(list->parts, parts[made].list);
        if (stop < end)
            lineno += count_lines(p, stop);
        p = stop;
    }
    for (guint i = 1; i < made; i++)
        threads[i] = g_thread_new("tlsmap-parse", parse_part, &parts[i]);
    if (made > 0)
        parse_part(&parts[0]);

    for (guint i = 1; i < made; i++) {
        SourceList *part = parts[i].list;
        g_thread_join(threads[i]);
        for (guint e = 0; e < part->errors->len - part->gave_up; e++)
            source_error_add(list, g_strdup(part->errors->pdata[e]));
    }
}

gboolean source_parse(SourceList *list, const char *text, size_t len)
{
    /* Our own copy: lines are joined, tokenized and keys folded in place. */
    g_return_val_if_fail(!list->text, FALSE);  /* one text a list */
    list->text = big_alloc(len + 1);
    memcpy(list->text, text, len);
    list->text[len] = 0;
    parse_text(list, list->text, len);
    source_sort_and_check(list);
    return list->errors->len == 0;
}

const char *source_probe_domain(const SourceRecord *rec)
{
    const Entry *e = &rec->value->entry;
    if (entry_level_is_exemption(e->level) || !entry_covers(e, DIRECTION_OUTBOUND))
        return NULL;
    return key_domain(rec->key);
}

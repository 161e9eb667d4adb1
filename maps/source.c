/*
 * source.c - list file parser.  See source.h for the contract.
 *
 * Speed matters (a million-line list compiles in a second or two): keys
 * and strings go into one GStringChunk, records into one GArray, and a
 * line is tokenized in place without per-token allocation.
 */
#include "source.h"

#include <stdarg.h>
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
    g_hash_table_add(list->entries, found);
    return found;
}

SourceList *source_list_new(const char *filename)
{
    SourceList *list = g_new0(SourceList, 1);
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
    g_free(list);
}

static void source_error(SourceList *list, guint line, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void source_error(SourceList *list, guint line, const char *fmt, ...)
{
    if (list->errors->len > SOURCE_MAX_ERRORS)
        return;
    if (list->errors->len == SOURCE_MAX_ERRORS) {
        g_ptr_array_add(list->errors, g_strdup_printf("%s: too many errors, giving up", list->filename));
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_ptr_array_add(list->errors, g_strdup_printf("%s, line %u: %s", list->filename, line, msg));
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

static void add_keys(SourceList *list, GPtrArray *keys, const Entry *entry, guint lineno)
{
    const ListEntry *value = source_intern_entry(list, entry);
    for (guint i = 0; i < keys->len; i++) {
        const char *why;
        KeyKind kind;
        char key[KEY_MAX + 1];
        if (!key_from_list(keys->pdata[i], key, &kind, &why)) {
            source_error(list, lineno, "%s: \"%s\"", why, (const char *)keys->pdata[i]);
            continue;
        }
        SourceRecord rec = {
            .key = g_string_chunk_insert(list->strings, key),
            .kind = kind,
            .value = value,
            .line = lineno,
        };
        g_array_append_val(list->records, rec);
    }
}

/* Parse one "KEY... LEVEL attrs" logical line (tokenized in place, so
 * line is modified); records are appended unsorted. */
static void source_parse_line(SourceList *list, char *line, guint lineno)
{
    GPtrArray *keys = list->scratch_keys;
    g_ptr_array_set_size(keys, 0);
    Tokenizer tok = {.pos = line};
    Entry entry = {0};
    char *word;
    gboolean have_level = FALSE;

    /* Keys (comma or blank separated) up to the level word. */
    while ((word = next_token(&tok))) {
        if (strlen(word) <= 9 && entry_level_parse(word, &entry.level)) {
            have_level = TRUE;
            break;
        }
        char *save;
        for (char *k = strtok_r(word, ",", &save); k; k = strtok_r(NULL, ",", &save))
            g_ptr_array_add(keys, k);
    }
    if (tok.error)
        return source_error(list, lineno, "%s", tok.error);
    if (!have_level) {
        const char *last = keys->len ? keys->pdata[keys->len - 1] : "";
        if (keys->len > 1 && !strchr(last, '.') && !strchr(last, '@'))
            return source_error(list, lineno, "unknown TLS level \"%s\" (expected %s)", last, level_list);
        return source_error(list, lineno, "missing TLS level after the key (expected %s)", level_list);
    }
    if (keys->len == 0)
        return source_error(list, lineno, "missing key before the TLS level \"%s\"",
                            entry_level_name(entry.level));

    /* Attributes. */
    guint seen = 0;
    const char *const *names = entry_attribute_names;
    while ((word = next_token(&tok))) {
        char *eq = strchr(word, '=');
        const char *why;
        if (!eq || eq == word)
            return source_error(list, lineno, "expected attribute=value, found \"%s\"", word);
        *eq = 0;
        for (guint i = 0; names[i]; i++) {
            if (strcmp(word, names[i]) == 0) {
                if (seen & (1u << i))
                    return source_error(list, lineno, "attribute %s given twice", word);
                seen |= 1u << i;
            }
        }
        if (!entry_set_attribute(&entry, word, eq + 1, &why))
            return source_error(list, lineno, "%s: %s=%s", why, word, eq + 1);
    }
    if (tok.error)
        return source_error(list, lineno, "%s", tok.error);

    const char *why;
    if (!entry_validate(&entry, &why))
        return source_error(list, lineno, "%s", why);
    add_keys(list, keys, &entry, lineno);
}

int source_key_compare(const char *a, const char *b)
{
    /* LMDB's default order: memcmp, then the shorter key first; for
     * NUL-free strings that is exactly strcmp. */
    return strcmp(a, b);
}

/*
 * Sorting a million keys is most of a compile, so sort small items that
 * carry the first 8 key bytes as an integer: most comparisons never touch
 * the key strings (or the cache lines they live in).
 */
typedef struct {
    guint64 prefix;  /* first 8 bytes, big-endian, NUL padded */
    guint32 len;
    guint32 index;   /* into records: tie-break keeps file order */
} SortItem;

static int sort_item_compare(const void *a, const void *b, void *data)
{
    const SortItem *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    if (x->len > 8 && y->len > 8) {
        const GArray *recs = data;
        int c = strcmp(g_array_index(recs, SourceRecord, x->index).key + 8,
                       g_array_index(recs, SourceRecord, y->index).key + 8);
        if (c)
            return c;
    } else if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

static SortItem sort_item(const SourceRecord *rec, guint index)
{
    SortItem item = {.index = index};
    const unsigned char *k = (const unsigned char *)rec->key;
    guint i = 0;
    for (; i < 8 && k[i]; i++)
        item.prefix = item.prefix << 8 | k[i];
    item.prefix <<= 8 * (8 - i);
    item.len = (guint32)(i < 8 ? i : 8 + strlen(rec->key + 8));
    return item;
}

/* Stable LSD radix sort on the 64-bit prefix, 16 bits a pass. */
static void radix_sort_prefix(SortItem *items, guint n)
{
    SortItem *tmp = g_new(SortItem, n), *src = items, *dst = tmp;
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
    g_free(tmp);  /* four passes: the result is back in items */
    g_free(count);
}

/* Sort records and report duplicates (names both lines). */
static void source_sort_and_check(SourceList *list)
{
    GArray *recs = list->records;
    SortItem *order = g_new(SortItem, recs->len);
    for (guint i = 0; i < recs->len; i++)
        order[i] = sort_item(&g_array_index(recs, SourceRecord, i), i);
    if (recs->len < 2) {
        /* nothing to sort (and qsort_r() must not see a NULL array) */
    } else if (recs->len < 4096) {
        /* small lists: the radix passes' 256 KiB of counters cost more */
        qsort_r(order, recs->len, sizeof *order, sort_item_compare, recs);
    } else {
        radix_sort_prefix(order, recs->len);
    }
    /* Runs with the same prefix are rare and short: finish them exactly. */
    for (guint i = 0, j; i < recs->len && recs->len >= 4096; i = j) {
        for (j = i + 1; j < recs->len && order[j].prefix == order[i].prefix; j++)
            ;
        if (j - i > 1)
            qsort_r(order + i, j - i, sizeof *order, sort_item_compare, recs);
    }

    /* Keep the first of equal keys, report each later one. */
    GArray *sorted = g_array_sized_new(FALSE, FALSE, sizeof(SourceRecord), recs->len);
    const SourceRecord *prev = NULL;
    for (guint i = 0; i < recs->len; i++) {
        const SourceRecord *rec = &g_array_index(recs, SourceRecord, order[i].index);
        if (prev && strcmp(prev->key, rec->key) == 0) {
            source_error(list, rec->line, "duplicate key \"%s\" (first defined at line %u)",
                         rec->key, prev->line);
            continue;
        }
        g_array_append_val(sorted, *rec);
        prev = rec;
    }
    g_free(order);
    g_array_unref(recs);
    list->records = sorted;
}

/* Join physical lines into logical ones (continuations start with white
 * space), parse each, then sort and check the whole list. */
gboolean source_parse(SourceList *list, const char *text, size_t len)
{
    g_autoptr(GString) logical = g_string_new(NULL);
    guint logical_line = 0, lineno = 0;
    const char *p = text, *end = text + len;

    /* One record per line is the common case: size the array once. */
    guint lines = 1;
    for (const char *nl = p; (nl = memchr(nl, '\n', (size_t)(end - nl))); nl++)
        lines++;
    if (list->records->len == 0) {
        g_array_unref(list->records);
        list->records = g_array_sized_new(FALSE, FALSE, sizeof(SourceRecord), lines);
    }

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        lineno++;
        if (n > 0 && p[n - 1] == '\r')
            n--;

        const char *q = p;
        while (q < p + n && (*q == ' ' || *q == '\t'))
            q++;
        gboolean blank = q == p + n, comment = !blank && *q == '#';
        gboolean continuation = !blank && !comment && q > p;

        if (memchr(p, 0, n)) {
            source_error(list, lineno, "NUL byte in line");
        } else if (continuation) {
            if (logical_line == 0)
                source_error(list, lineno, "continuation line (starts with white space) with no line to continue");
            else
            {
                g_string_append_c(logical, ' ');
                g_string_append_len(logical, q, (gssize)(p + n - q));
            }
        } else if (!blank && !comment) {
            if (logical_line)
                source_parse_line(list, logical->str, logical_line);
            g_string_assign(logical, "");
            g_string_append_len(logical, p, (gssize)n);
            logical_line = lineno;
        }
        p = nl ? nl + 1 : end;
    }
    if (logical_line)
        source_parse_line(list, logical->str, logical_line);
    source_sort_and_check(list);
    return list->errors->len == 0;
}

const char *source_probe_domain(const SourceRecord *rec)
{
    const Entry *e = &rec->value->entry;
    if (entry_level_is_exemption(e->level) || !entry_covers(e, DIRECTION_OUTBOUND))
        return NULL;
    const char *at = strrchr(rec->key, '@');
    return at ? at + 1 : rec->key[0] == '.' ? rec->key + 1 : rec->key;
}

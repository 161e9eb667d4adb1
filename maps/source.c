/*
 * source.c - list file parser.  See source.h for the contract; tlsmap,
 * tlsprobe --list and the tests call it.
 *
 * The text is copied once and tokenized in place, keys are folded in
 * place and point into the copy, and a line's "LEVEL attrs" text is
 * parsed once for all the lines that repeat it.
 */
#include "source.h"

#include "escape.h"

#include <stdarg.h>
#include <string.h>

/* A recently parsed "LEVEL attrs" text and its entry. */
typedef struct {
    const ListEntry *value;
    guint16 tail_len;
    char tail[118];
} EntryCacheSlot;

/* The parse of one text: private to this file. */
typedef struct {
    List *list;
    GPtrArray *errors;      /* the caller's, or our own */
    guint n_errors;
    gboolean gave_up;       /* too many errors: the last one said so */
    GPtrArray *keys;        /* one line's keys */
    EntryCacheSlot entry_cache[8];
} Parse;

/* Keep message (ours now) unless the cap is reached; the message after
 * the last one kept says that more were dropped. */
static void parse_error_add(Parse *parse, char *message)
{
    if (parse->gave_up) {
        g_free(message);
        return;
    }
    if (parse->n_errors == SOURCE_MAX_ERRORS) {
        g_free(message);
        message = g_strdup_printf("%s: too many errors, giving up", parse->list->name);
        parse->gave_up = TRUE;
    }
    parse->n_errors++;
    g_ptr_array_add(parse->errors, message);
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

static void parse_error(Parse *parse, guint line, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void parse_error(Parse *parse, guint line, const char *fmt, ...)
{
    if (parse->gave_up)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    parse_error_add(parse, g_strdup_printf("%s, line %u: %s", parse->list->name, line, msg));
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
    if (*p == 0) {
        tok->pos = p;
        return NULL;
    }

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
                tok->pos = p;
                return NULL;
            }
            p++;
            if (*p && *p != ' ' && *p != '\t') {
                tok->error = "text after the closing quote";
                tok->pos = p;
                return NULL;
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
static void add_keys(Parse *parse, GPtrArray *keys, const ListEntry *value, guint lineno)
{
    List *list = parse->list;
    for (guint i = 0; i < keys->len; i++) {
        char *raw = keys->pdata[i];
        const char *why;
        KeyKind kind;
        char key[KEY_MAX + 1];
        size_t key_len;
        if (!key_from_list(raw, key, &key_len, &kind, &why)) {
            char b[SHOWN_SIZE];
            parse_error(parse, lineno, "%s: \"%s\"", why, shown(raw, b));
            continue;
        }
        const char *stored = key_len <= strlen(raw) ? memcpy(raw, key, key_len + 1)
                                                    : g_string_chunk_insert_len(list->strings, key, (gssize)key_len);
        ListRecord rec = {
            .key = stored,
            .value = value,
            .line = lineno,
            .key_len = (guint16)key_len,
            .kind = (guint8)kind,
        };
        g_array_append_val(list->records, rec);
    }
}

/* Lists repeat the same few "LEVEL attrs" texts: recent ones are kept
 * with their entry, found by the text (from the level word to the end of
 * the line, as the tokenizer left it), and reused without parsing.
 * tlsmap -c of bench/compile.sh's million lines, same run, five each:
 * 0.20-0.21 s with it, 0.24-0.25 s without. */
static EntryCacheSlot *entry_cache_slot(Parse *parse, const char *tail, size_t len)
{
    guint hash = (guint)len * 31 + (guchar)tail[len / 2] * 7 + (guchar)tail[len - 1];
    return &parse->entry_cache[hash % G_N_ELEMENTS(parse->entry_cache)];
}

static const ListEntry *entry_cache_find(Parse *parse, const char *tail, size_t len)
{
    const EntryCacheSlot *slot = entry_cache_slot(parse, tail, len);
    return slot->value && slot->tail_len == len && memcmp(slot->tail, tail, len) == 0 ? slot->value : NULL;
}

/* The entry of "LEVEL attrs" (level parsed, tok after it); NULL after
 * reporting an error. */
static const ListEntry *parse_entry(Parse *parse, Tokenizer *tok, TlsLevel level, const char *tail,
                                    size_t tail_len, guint lineno)
{
    EntryCacheSlot *slot = entry_cache_slot(parse, tail, tail_len);
    gboolean cacheable = tail_len <= sizeof slot->tail;
    char saved[sizeof slot->tail];
    if (cacheable)
        memcpy(saved, tail, tail_len);  /* before next_token() changes it */

    Entry entry = {.level = level};
    guint seen = 0;
    const char *const *names = entry_attribute_names();
    char *word;
    while ((word = next_token(tok))) {
        char *eq = strchr(word, '=');
        const char *why;
        char b1[SHOWN_SIZE], b2[SHOWN_SIZE];
        if (!eq || eq == word) {
            parse_error(parse, lineno, "expected attribute=value, found \"%s\"", shown(word, b1));
            return NULL;
        }
        *eq = 0;
        for (guint i = 0; names[i]; i++) {
            if (strcmp(word, names[i]) == 0) {
                if (seen & (1u << i)) {
                    parse_error(parse, lineno, "attribute %s given twice", shown(word, b1));
                    return NULL;
                }
                seen |= 1u << i;
            }
        }
        if (!entry_set_attribute(&entry, word, eq + 1, &why)) {
            parse_error(parse, lineno, "%s: %s=%s", why, shown(word, b1), shown(eq + 1, b2));
            return NULL;
        }
    }
    if (tok->error) {
        parse_error(parse, lineno, "%s", tok->error);
        return NULL;
    }
    const char *why;
    if (!entry_validate(&entry, &why)) {
        parse_error(parse, lineno, "%s", why);
        return NULL;
    }

    const ListEntry *value = list_intern_entry(parse->list, &entry);
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
    if (p == start) {
        tok->pos = p;
        return NULL;
    }
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
static void parse_line(Parse *parse, char *line, guint lineno)
{
    GPtrArray *keys = parse->keys;
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
            if ((value = entry_cache_find(parse, tail, tail_len)))
                break;
            if (entry_level_parse(word, &level))
                break;
            tail = NULL;
        }
        split_keys(word, keys);
    }
    if (tok.error) {
        parse_error(parse, lineno, "%s", tok.error);
        return;
    }
    if (!tail) {
        const char *last = keys->len ? keys->pdata[keys->len - 1] : "";
        char b[SHOWN_SIZE];
        if (keys->len > 1 && !strchr(last, '.') && !strchr(last, '@'))
            parse_error(parse, lineno, "unknown TLS level \"%s\" (expected %s)", shown(last, b), level_list);
        else
            parse_error(parse, lineno, "missing TLS level after the key (expected %s)", level_list);
        return;
    }
    if (keys->len == 0) {
        parse_error(parse, lineno, "missing key before the TLS level \"%s\"",
                    entry_level_name(value ? value->entry.level : level));
        return;
    }
    if (!value)
        value = parse_entry(parse, &tok, level, tail, tail_len, lineno);
    if (value)
        add_keys(parse, keys, value, lineno);
}

/* Sort; a later record of a key is reported (naming both lines) and
 * dropped. */
static void sort_and_check(Parse *parse)
{
    list_sort(parse->list);
    GArray *records = parse->list->records;
    guint kept = 0;
    for (guint i = 0; i < records->len; i++) {
        const ListRecord *rec = &g_array_index(records, ListRecord, i);
        const ListRecord *first = kept ? &g_array_index(records, ListRecord, kept - 1) : NULL;
        if (first && list_key_compare(first->key, first->key_len, rec->key, rec->key_len) == 0) {
            char b[SHOWN_SIZE];
            parse_error(parse, rec->line, "duplicate key \"%s\" (first defined at line %u)", shown(rec->key, b),
                        first->line);
            continue;
        }
        g_array_index(records, ListRecord, kept++) = *rec;
    }
    g_array_set_size(records, kept);
}

/*
 * Logical lines.  A continuation (a line that starts with white space and
 * is not blank or a comment) is joined to its line in place: it moves down
 * over the newline and its own indentation, so the text never grows.
 */
static void parse_lines(Parse *parse, char *p, char *end, gboolean check_nul)
{
    guint lineno = 1;
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
            parse_error(parse, lineno, "NUL byte in line");
        } else if (continuation) {
            if (!logical) {
                parse_error(parse, lineno, "continuation line (starts with white space) with no line to continue");
            } else {
                *fill++ = ' ';
                memmove(fill, q, (size_t)(p + n - q));
                fill += p + n - q;
            }
        } else if (!blank && !comment) {
            if (logical) {
                *fill = 0;
                parse_line(parse, logical, logical_line);
            }
            logical = p;
            fill = p + n;
            logical_line = lineno;
        }
        p = nl ? nl + 1 : end;
    }
    if (logical) {
        *fill = 0;
        parse_line(parse, logical, logical_line);
    }
}

gboolean source_parse(List *list, const char *text, size_t len, GPtrArray *errors)
{
    g_return_val_if_fail(!list->text, FALSE);  /* one text a list */
    g_autoptr(GPtrArray) own = errors ? NULL : g_ptr_array_new_with_free_func(g_free);
    Parse parse = {.list = list, .errors = errors ? errors : own, .keys = g_ptr_array_new()};

    /* Our own copy: lines are joined, tokenized and keys folded in place. */
    list->text = g_malloc(len + 1);
    memcpy(list->text, text, len);
    list->text[len] = 0;
    parse_lines(&parse, list->text, list->text + len, strlen(list->text) != len);
    sort_and_check(&parse);
    g_ptr_array_unref(parse.keys);
    return parse.n_errors == 0;
}

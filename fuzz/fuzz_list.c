/* fuzz_list.c - libFuzzer harness for the list file parser, plus the
 * round trip of every entry it accepts through the LMDB value encoding
 * and the source syntax. */
#include <stdint.h>
#include <string.h>

#include "source.h"

/* A parse cut into parts (as big lists are) must give what the parse in
 * one piece gave: the same records, the same errors in the same order. */
static void check_parts_agree(const SourceList *whole, const uint8_t *data, size_t size)
{
    SourceList *cut = source_list_new("fuzz.list");
    cut->parallel_min = 1 + size / 7;
    cut->max_parts = 3;
    if (source_parse(cut, (const char *)data, size) != (whole->errors->len == 0)
        || cut->records->len != whole->records->len || cut->errors->len != whole->errors->len)
        __builtin_trap();
    for (guint i = 0; i < whole->errors->len; i++) {
        if (strcmp(cut->errors->pdata[i], whole->errors->pdata[i]) != 0)
            __builtin_trap();
    }
    for (guint i = 0; i < whole->records->len; i++) {
        const SourceRecord *a = &g_array_index(whole->records, SourceRecord, i);
        const SourceRecord *b = &g_array_index(cut->records, SourceRecord, i);
        if (strcmp(a->key, b->key) != 0 || a->key_len != strlen(a->key) || a->line != b->line
            || a->kind != b->kind || !entry_equal(&a->value->entry, &b->value->entry))
            __builtin_trap();
    }
    source_list_free(cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SourceList *list = source_list_new("fuzz.list");
    list->max_parts = 1;
    gboolean parsed = source_parse(list, (const char *)data, size);
    check_parts_agree(list, data, size);
    if (parsed) {
        for (guint i = 0; i < list->records->len; i++) {
            const SourceRecord *rec = &g_array_index(list->records, SourceRecord, i);
            Entry back;
            if (!entry_decode(rec->value->encoded, rec->value->encoded_len, &back)
                || !entry_equal(&back, &rec->value->entry))
                __builtin_trap();
            /* what tlsmap -s prints must parse to the same entry */
            GString *line = g_string_new(rec->key);
            g_string_append_c(line, ' ');
            entry_format(&rec->value->entry, line);
            SourceList *again = source_list_new("again");
            if (!source_parse(again, line->str, line->len) || again->records->len != 1
                || !entry_equal(&g_array_index(again->records, SourceRecord, 0).value->entry, &rec->value->entry))
                __builtin_trap();
            source_list_free(again);
            g_string_free(line, TRUE);
        }
    }
    source_list_free(list);
    return 0;
}

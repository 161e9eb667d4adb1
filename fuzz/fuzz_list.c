/* fuzz_list.c - libFuzzer harness for the list file parser, plus the
 * round trip of every entry it accepts through the LMDB value encoding
 * and the source syntax. */
#include <stdint.h>
#include <string.h>

#include "source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SourceList *list = source_list_new("fuzz.list");
    if (source_parse(list, (const char *)data, size)) {
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

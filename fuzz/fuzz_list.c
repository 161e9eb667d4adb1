/* fuzz_list.c - libFuzzer harness for the list file parser, plus the
 * round trip of every entry it accepts through the LMDB value encoding
 * and the source syntax. */
#include <stdint.h>
#include <string.h>

#include "source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    List *list = list_new("fuzz.list");
    gboolean parsed = source_parse(list, (const char *)data, size, NULL);
    if (parsed) {
        for (guint i = 0; i < list->records->len; i++) {
            const ListRecord *rec = &g_array_index(list->records, ListRecord, i);
            Entry back;
            if (!entry_decode(rec->value->encoded, rec->value->encoded_len, &back)
                || !entry_equal(&back, &rec->value->entry))
                __builtin_trap();
            /* what tlsmap -s prints must parse to the same entry */
            GString *line = g_string_new(rec->key);
            g_string_append_c(line, ' ');
            entry_format(&rec->value->entry, line);
            List *again = list_new("again");
            if (!source_parse(again, line->str, line->len, NULL) || again->records->len != 1
                || !entry_equal(&g_array_index(again->records, ListRecord, 0).value->entry, &rec->value->entry))
                __builtin_trap();
            list_free(again);
            g_string_free(line, TRUE);
        }
    }
    list_free(list);
    return 0;
}

/*
 * mx.c - MX ordering; see mx.h.
 */
#include "mx.h"

#include <string.h>

static int by_preference(gconstpointer a, gconstpointer b)
{
    const MxRecord *x = a, *y = b;
    return (int)x->preference - (int)y->preference;
}

MxStatus mx_order(GArray *records, gint32 (*rand)(gint32 lo, gint32 hi))
{
    if (!rand)
        rand = g_random_int_range;
    if (records->len == 1) {
        const MxRecord *r = &g_array_index(records, MxRecord, 0);
        if (r->preference == 0 && (strcmp(r->host, ".") == 0 || r->host[0] == 0))
            return MX_NULL;
    }
    g_array_sort(records, by_preference);
    /* Fisher-Yates within each run of equal preference */
    for (guint start = 0, end; start < records->len; start = end) {
        guint16 pref = g_array_index(records, MxRecord, start).preference;
        for (end = start + 1; end < records->len && g_array_index(records, MxRecord, end).preference == pref; end++)
            ;
        for (guint i = end - 1; i > start; i--) {
            guint j = start + (guint)rand(0, (gint32)(i - start + 1));
            MxRecord tmp = g_array_index(records, MxRecord, i);
            g_array_index(records, MxRecord, i) = g_array_index(records, MxRecord, j);
            g_array_index(records, MxRecord, j) = tmp;
        }
    }
    return MX_FOUND;
}

void mx_records_free(GArray *records)
{
    dns_mx_free(records);
}

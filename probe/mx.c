/*
 * mx.c - MX resolution and ordering; see mx.h.
 */
#include "mx.h"

#include <gio/gio.h>
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
    if (!records)
        return;
    for (guint i = 0; i < records->len; i++)
        g_free(g_array_index(records, MxRecord, i).host);
    g_array_unref(records);
}

MxStatus mx_resolve(const char *domain, GArray **out, GError **error)
{
    g_autoptr(GResolver) resolver = g_resolver_get_default();
    GError *err = NULL;
    GList *list = g_resolver_lookup_records(resolver, domain, G_RESOLVER_RECORD_MX, NULL, &err);
    GArray *records = g_array_new(FALSE, FALSE, sizeof(MxRecord));

    *out = records;
    if (!list) {
        if (g_error_matches(err, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND)) {
            g_error_free(err);
            MxRecord self = {0, g_strdup(domain)};
            g_array_append_val(records, self);
            return MX_NONE_FALLBACK_A;
        }
        g_propagate_error(error, err);
        return MX_ERROR;
    }
    for (GList *l = list; l; l = l->next) {
        guint16 pref;
        const char *host;
        g_variant_get(l->data, "(q&s)", &pref, &host);
        MxRecord r = {pref, g_strdup(host)};
        size_t n = strlen(r.host);
        if (n > 1 && r.host[n - 1] == '.')
            r.host[n - 1] = 0;
        g_array_append_val(records, r);
    }
    g_list_free_full(list, (GDestroyNotify)g_variant_unref);
    return mx_order(records, NULL);
}

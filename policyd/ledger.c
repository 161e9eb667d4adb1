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
#include "topk.h"

typedef struct {
    guint64 sessions, compliant, refused[REFUSAL_COUNT], would_refuse[REFUSAL_COUNT];
    gint64 last_seen;
    char level[16], mode[8];
    char last_protocol[16], last_cipher[64], last_client[128];
} LedgerEntry;

struct Ledger {
    GHashTable *entries;  /* key -> LedgerEntry */
    guint max_entries;
    guint64 dropped;
    gint64 since;
    Top *below_floor, *unlisted;
    gboolean changed;
    /* the last cipher judged: a server sees few distinct ones, and the
     * exclusion check was a third of a transaction's bookkeeping */
    char cipher[64];
    gboolean cipher_known, cipher_ok;
};

Ledger *ledger_new(guint max_entries, guint top)
{
    Ledger *l = g_new0(Ledger, 1);
    l->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    l->max_entries = max_entries;
    l->since = g_get_real_time() / G_USEC_PER_SEC;
    l->below_floor = top_new(top);
    l->unlisted = top_new(top);
    return l;
}

void ledger_free(Ledger *l)
{
    if (!l)
        return;
    g_hash_table_unref(l->entries);
    top_free(l->below_floor);
    top_free(l->unlisted);
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
        top_add(l->below_floor, domain);
    if (d->key[0])
        return;
    TopItem *it = top_add(l->unlisted, domain);
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
    for (guint i = 0; i < top_len(t); i++) {
        const TopItem *it = top_item(t, i);
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
    json_top(out, l->below_floor, FALSE);
    g_string_append(out, ",\"unlisted\":");
    json_top(out, l->unlisted, TRUE);
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
    g_autoptr(GPtrArray) below = top_sorted(l->below_floor);
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
    g_autoptr(GPtrArray) items = top_sorted(l->unlisted);
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
    for (guint i = 0; i < top_len(t); i++) {
        const TopItem *it = top_item(t, i);
        g_autofree char *group = g_strdup_printf("%s %u", name, i);
        g_key_file_set_string(kf, group, "domain", it->domain);
        g_key_file_set_uint64(kf, group, "count", it->count);
        g_key_file_set_uint64(kf, group, "error", it->error);
        g_key_file_set_uint64(kf, group, "met_encrypt", it->met_encrypt);
        g_key_file_set_uint64(kf, group, "met_verify", it->met_verify);
    }
}

static void load_top(GKeyFile *kf, const char *group, Top *t)
{
    g_autofree char *domain = g_key_file_get_string(kf, group, "domain", NULL);
    TopItem item = {
        .count = g_key_file_get_uint64(kf, group, "count", NULL),
        .error = g_key_file_get_uint64(kf, group, "error", NULL),
        .met_encrypt = g_key_file_get_uint64(kf, group, "met_encrypt", NULL),
        .met_verify = g_key_file_get_uint64(kf, group, "met_verify", NULL),
    };
    if (domain && strlen(domain) < sizeof item.domain) {
        g_strlcpy(item.domain, domain, sizeof item.domain);
        top_restore(t, &item);
    }
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
    save_top(kf, "below_floor", l->below_floor);
    save_top(kf, "unlisted", l->unlisted);
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
    top_clear(l->below_floor);
    top_clear(l->unlisted);
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
            load_top(kf, *g, l->below_floor);
        } else if (g_str_has_prefix(*g, "unlisted ")) {
            load_top(kf, *g, l->unlisted);
        }
    }
    l->changed = FALSE;
    return TRUE;
}

/*
 * outledger.c - the outbound ledger; see outledger.h.
 */
#include "outledger.h"

#include <stddef.h>
#include <string.h>

#include "escape.h"
#include "tlsrules.h"

/* Negotiated protocols as counted: the TLS versions a policy cares for. */
static const char *const protocol_names[] = {"TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "other"};
#define PROTOCOLS G_N_ELEMENTS(protocol_names)

typedef struct {
    char level[16], mode[8], on_failure[8];  /* entries: as last seen in the list */
    guint64 deliveries, messages, sessions, no_connection;
    guint64 sent, deferred, bounced;
    guint64 protocols[PROTOCOLS];
    guint64 trust[TRUST_COUNT];
    guint64 failures[RESULT_COUNT];
    guint64 would_fail, would_succeed;       /* report-mode entries */
    guint64 unlisted, met_encrypt, met_verify;  /* domains: of the unlisted deliveries */
    gint64 first_seen, last_seen;
    char last_relay[160], last_protocol[16], last_cipher[64];
    gint64 failed_at;                        /* the first (would-be) failure */
    char failed_recipient[160], failed_relay[160], failed_result[32], failed_detail[160];
} Tally;

struct OutLedger {
    GHashTable *keys, *domains;  /* name -> Tally */
    guint max_keys, max_domains;
    guint64 dropped;
    gint64 since;
    gboolean changed;
};

OutLedger *outledger_new(guint max_keys, guint max_domains)
{
    OutLedger *l = g_new0(OutLedger, 1);
    l->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    l->domains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    l->max_keys = max_keys;
    l->max_domains = max_domains;
    return l;
}

void outledger_free(OutLedger *l)
{
    if (!l)
        return;
    g_hash_table_unref(l->keys);
    g_hash_table_unref(l->domains);
    g_free(l);
}

gboolean outledger_changed(const OutLedger *l)
{
    return l->changed;
}

gboolean outledger_has_key(const OutLedger *l, const char *key)
{
    return g_hash_table_contains(l->keys, key);
}

static Tally *tally_for(GHashTable *table, guint max, const char *name)
{
    Tally *t = g_hash_table_lookup(table, name);
    if (t || g_hash_table_size(table) >= max)
        return t;
    t = g_new0(Tally, 1);
    g_hash_table_insert(table, g_strdup(name), t);
    return t;
}

static guint protocol_index(const char *protocol)
{
    for (guint i = 0; i + 1 < PROTOCOLS; i++) {
        if (strcmp(protocol, protocol_names[i]) == 0)
            return i;
    }
    return PROTOCOLS - 1;
}

static void note_failure(Tally *t, const Delivery *d, TlsResult result, const char *detail)
{
    if (t->failed_at)
        return;
    t->failed_at = d->time ? d->time : 1;
    g_strlcpy(t->failed_recipient, d->recipient, sizeof t->failed_recipient);
    g_strlcpy(t->failed_relay, d->relay, sizeof t->failed_relay);
    g_strlcpy(t->failed_result, delivery_result_name(result), sizeof t->failed_result);
    g_strlcpy(t->failed_detail, detail, sizeof t->failed_detail);
}

static void count(Tally *t, const OutboundRecord *r)
{
    const Delivery *d = r->delivery;
    t->deliveries++;
    t->messages += d->new_message;
    t->sessions += d->new_session && d->connected;
    t->no_connection += !d->connected;
    if (strcmp(d->status, "sent") == 0)
        t->sent++;
    else if (strcmp(d->status, "bounced") == 0)
        t->bounced++;
    else
        t->deferred++;
    if (!t->first_seen)
        t->first_seen = d->time;
    t->last_seen = d->time;
    if (!d->connected)
        return;
    t->trust[d->trust]++;
    if (d->trust != TRUST_PLAINTEXT)
        t->protocols[protocol_index(d->protocol)]++;
    t->failures[d->result]++;
    g_strlcpy(t->last_relay, d->relay, sizeof t->last_relay);
    g_strlcpy(t->last_protocol, d->trust == TRUST_PLAINTEXT ? "none" : d->protocol, sizeof t->last_protocol);
    g_strlcpy(t->last_cipher, d->trust == TRUST_PLAINTEXT ? "" : d->cipher, sizeof t->last_cipher);
}

/* Met encrypt / verify, as delivery_predict judges at those levels. */
static void count_compliance(Tally *t, const Delivery *d)
{
    TlsResult result;
    char detail[160];
    Entry encrypt = {.level = LEVEL_ENCRYPT}, verify = {.level = LEVEL_VERIFY};
    t->unlisted++;
    t->met_encrypt += delivery_predict(d, &encrypt, &result, detail, sizeof detail);
    t->met_verify += d->trust == TRUST_VERIFIED && delivery_predict(d, &verify, &result, detail, sizeof detail);
}

void outledger_record(OutLedger *l, const OutboundRecord *r)
{
    const Delivery *d = r->delivery;
    if (!l->since)
        l->since = d->time;
    l->changed = TRUE;
    Tally *domain = tally_for(l->domains, l->max_domains, r->domain);
    Tally *key = r->entry ? tally_for(l->keys, l->max_keys, r->key) : NULL;
    if (!domain || (r->entry && !key))
        l->dropped++;
    if (domain) {
        count(domain, r);
        if (!r->entry && !r->exempt && d->connected)
            count_compliance(domain, d);
        if (d->connected && d->result != RESULT_NONE)
            note_failure(domain, d, d->result, d->detail);
    }
    if (!key)
        return;
    count(key, r);
    g_strlcpy(key->level, entry_level_name(r->entry->level), sizeof key->level);
    g_strlcpy(key->mode, r->entry->mode == MODE_REPORT ? "report" : "enforce", sizeof key->mode);
    g_strlcpy(key->on_failure, r->entry->on_failure == ON_FAILURE_BOUNCE ? "bounce" : "defer",
              sizeof key->on_failure);
    if (!d->connected)
        return;
    if (r->entry->mode == MODE_REPORT) {
        if (r->would_succeed) {
            key->would_succeed++;
        } else {
            key->would_fail++;
            note_failure(key, d, r->would_result, r->would_detail ? r->would_detail : "");
        }
    } else if (d->result != RESULT_NONE) {
        note_failure(key, d, d->result, d->detail);
    }
}

/*
 * Output
 */
static int compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names, sorted: output that does not depend on hashing. */
static GPtrArray *sorted_names(GHashTable *table)
{
    GPtrArray *names = g_ptr_array_new();
    GHashTableIter it;
    gpointer name;
    g_hash_table_iter_init(&it, table);
    while (g_hash_table_iter_next(&it, &name, NULL))
        g_ptr_array_add(names, name);
    g_ptr_array_sort(names, compare_names);
    return names;
}

/* The names of the trust and result counters, as arrays for the loops
 * that print and save them. */
static const char *const *trust_names(void)
{
    static const char *names[TRUST_COUNT];
    for (int i = 0; i < TRUST_COUNT; i++)
        names[i] = delivery_trust_name((TlsTrust)i);
    return names;
}

static const char *const *result_names(void)
{
    static const char *names[RESULT_COUNT];
    for (int i = 0; i < RESULT_COUNT; i++)
        names[i] = delivery_result_name((TlsResult)i);
    return names;
}

static void json_counts(GString *out, const char *const *names, const guint64 *counts, guint n, guint first)
{
    g_string_append_c(out, '{');
    gboolean any = FALSE;
    for (guint i = first; i < n; i++) {
        if (!counts[i])
            continue;
        g_string_append_printf(out, "%s\"%s\":%" G_GUINT64_FORMAT, any ? "," : "", names[i], counts[i]);
        any = TRUE;
    }
    g_string_append_c(out, '}');
}

static void json_tally(GString *out, const Tally *t, gboolean entry)
{
    const char *const *trusts = trust_names(), *const *results = result_names();
    g_string_append_c(out, '{');
    if (entry)
        g_string_append_printf(out, "\"level\":\"%s\",\"mode\":\"%s\",\"on_failure\":\"%s\",", t->level, t->mode,
                               t->on_failure);
    g_string_append_printf(out,
                           "\"deliveries\":%" G_GUINT64_FORMAT ",\"messages\":%" G_GUINT64_FORMAT
                           ",\"sessions\":%" G_GUINT64_FORMAT ",\"no_connection\":%" G_GUINT64_FORMAT
                           ",\"sent\":%" G_GUINT64_FORMAT ",\"deferred\":%" G_GUINT64_FORMAT
                           ",\"bounced\":%" G_GUINT64_FORMAT ",\"protocols\":",
                           t->deliveries, t->messages, t->sessions, t->no_connection, t->sent, t->deferred, t->bounced);
    json_counts(out, protocol_names, t->protocols, PROTOCOLS, 0);
    g_string_append(out, ",\"trust\":");
    json_counts(out, trusts, t->trust, TRUST_COUNT, 0);
    g_string_append(out, ",\"failures\":");
    json_counts(out, results, t->failures, RESULT_COUNT, RESULT_NONE + 1);
    if (entry)
        g_string_append_printf(out, ",\"would_succeed\":%" G_GUINT64_FORMAT ",\"would_fail\":%" G_GUINT64_FORMAT,
                               t->would_succeed, t->would_fail);
    else
        g_string_append_printf(out, ",\"unlisted\":%" G_GUINT64_FORMAT ",\"met_encrypt\":%" G_GUINT64_FORMAT
                                    ",\"met_verify\":%" G_GUINT64_FORMAT,
                               t->unlisted, t->met_encrypt, t->met_verify);
    g_string_append_printf(out, ",\"first_seen\":%" G_GINT64_FORMAT ",\"last_seen\":%" G_GINT64_FORMAT
                                ",\"last_relay\":",
                           t->first_seen, t->last_seen);
    json_append_string(out, t->last_relay);
    g_string_append(out, ",\"last_protocol\":");
    json_append_string(out, t->last_protocol);
    g_string_append(out, ",\"last_cipher\":");
    json_append_string(out, t->last_cipher);
    if (t->failed_at) {
        g_string_append_printf(out, ",\"first_failure\":{\"time\":%" G_GINT64_FORMAT ",\"recipient\":", t->failed_at);
        json_append_string(out, t->failed_recipient);
        g_string_append(out, ",\"relay\":");
        json_append_string(out, t->failed_relay);
        g_string_append_printf(out, ",\"result\":\"%s\",\"detail\":", t->failed_result);
        json_append_string(out, t->failed_detail);
        g_string_append_c(out, '}');
    }
    g_string_append_c(out, '}');
}

static void json_table(GString *out, GHashTable *table, gboolean entries)
{
    g_autoptr(GPtrArray) names = sorted_names(table);
    g_string_append_c(out, '{');
    for (guint i = 0; i < names->len; i++) {
        if (i)
            g_string_append_c(out, ',');
        json_append_string(out, names->pdata[i]);
        g_string_append_c(out, ':');
        json_tally(out, g_hash_table_lookup(table, names->pdata[i]), entries);
    }
    g_string_append_c(out, '}');
}

void outledger_format_json(const OutLedger *l, GString *out)
{
    g_string_append_printf(out, "{\"since\":%" G_GINT64_FORMAT ",\"dropped\":%" G_GUINT64_FORMAT ",\"entries\":",
                           l->since, l->dropped);
    json_table(out, l->keys, TRUE);
    g_string_append(out, ",\"domains\":");
    json_table(out, l->domains, FALSE);
    g_string_append_c(out, '}');
}

/* "TLSv1.3=4 TLSv1.2=1 plaintext=2" */
static void text_seen(GString *out, const Tally *t)
{
    gboolean any = FALSE;
    for (guint i = 0; i < PROTOCOLS; i++) {
        if (t->protocols[i]) {
            g_string_append_printf(out, "%s%s=%" G_GUINT64_FORMAT, any ? " " : "", protocol_names[i], t->protocols[i]);
            any = TRUE;
        }
    }
    if (t->trust[TRUST_PLAINTEXT]) {
        g_string_append_printf(out, "%splaintext=%" G_GUINT64_FORMAT, any ? " " : "", t->trust[TRUST_PLAINTEXT]);
        any = TRUE;
    }
    if (!any)
        g_string_append_c(out, '-');
}

static void text_failure(GString *out, const Tally *t)
{
    g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc(t->failed_at);
    g_autofree char *when = at ? g_date_time_format_iso8601(at) : g_strdup("?");
    char recipient[200], relay[200], detail[200];
    g_string_append_printf(out, "      first: %s <%s> via %s: %s", when,
                           text_escape(t->failed_recipient, recipient, sizeof recipient),
                           text_escape(t->failed_relay, relay, sizeof relay), t->failed_result);
    if (t->failed_detail[0])
        g_string_append_printf(out, " (%s)", text_escape(t->failed_detail, detail, sizeof detail));
    g_string_append_c(out, '\n');
}

void outledger_format_report(const OutLedger *l, GString *out)
{
    g_autoptr(GPtrArray) names = sorted_names(l->keys);
    g_string_append(out, "\nOutbound: what listed recipients' deliveries met (Postfix's log)\n");
    g_string_append_printf(out, "%-32s %-9s %-7s %10s %8s  %s\n", "entry", "level", "mode", "deliveries", "failed",
                           "outcome");
    for (guint i = 0; i < names->len; i++) {
        const Tally *t = g_hash_table_lookup(l->keys, names->pdata[i]);
        char key[200];
        guint64 failed = 0;
        for (int r = RESULT_NONE + 1; r < RESULT_COUNT; r++)
            failed += t->failures[r];
        g_string_append_printf(out, "%-32s %-9s %-7s %10" G_GUINT64_FORMAT " %8" G_GUINT64_FORMAT "  ",
                               text_escape(names->pdata[i], key, sizeof key), t->level, t->mode, t->deliveries,
                               strcmp(t->mode, "report") == 0 ? t->would_fail : failed);
        if (strcmp(t->mode, "report") == 0 && t->would_fail)
            g_string_append_printf(out, "would %s: %s (%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " deliveries)",
                                   t->on_failure, t->failed_result, t->would_fail, t->would_fail + t->would_succeed);
        else if (strcmp(t->mode, "report") == 0 && t->would_succeed)
            g_string_append_printf(out, "would succeed (all %" G_GUINT64_FORMAT " deliveries)", t->would_succeed);
        else if (strcmp(t->mode, "report") == 0)
            g_string_append(out, "no session seen yet");
        else if (failed)
            g_string_append_printf(out, "failed: %s", t->failed_result);
        else
            g_string_append(out, "met its level");
        g_string_append(out, "\n      seen: ");
        text_seen(out, t);
        g_string_append_c(out, '\n');
        if (t->failed_at)
            text_failure(out, t);
    }
    if (names->len == 0)
        g_string_append(out, "(no listed recipient's delivery seen yet)\n");
    if (l->dropped)
        g_string_append_printf(out, "(%" G_GUINT64_FORMAT " deliveries beyond the first %u entries or %u domains not kept)\n",
                               l->dropped, l->max_keys, l->max_domains);
}

void outledger_format_suggest(const OutLedger *l, guint min_deliveries, TlsLevel level, GString *out)
{
    gboolean verify = level == LEVEL_VERIFY || level == LEVEL_SECURE;
    g_string_append_printf(out, "# unlisted recipient domains whose every delivery met %s over at least %u of them\n"
                                "# (TLS 1.2 or better without excluded ciphers%s); for tlsmap -i after a review\n",
                           entry_level_name(level), min_deliveries, verify ? ", a verified certificate" : "");
    g_autoptr(GPtrArray) names = sorted_names(l->domains);
    for (guint i = 0; i < names->len; i++) {
        const Tally *t = g_hash_table_lookup(l->domains, names->pdata[i]);
        guint64 met = verify ? t->met_verify : t->met_encrypt;
        if (t->unlisted >= min_deliveries && t->unlisted > 0 && met == t->unlisted && t->unlisted == t->deliveries)
            g_string_append_printf(out, "%s %s direction=outbound mode=report\n", (char *)names->pdata[i],
                                   entry_level_name(level));
    }
}

/*
 * The state file
 */
/* The counters saved by name. */
#define COUNTER(field) {#field, offsetof(Tally, field)}
static const struct {
    const char *name;
    size_t offset;
} counters[] = {
    COUNTER(deliveries), COUNTER(messages), COUNTER(sessions), COUNTER(no_connection),
    COUNTER(sent), COUNTER(deferred), COUNTER(bounced), COUNTER(would_fail),
    COUNTER(would_succeed), COUNTER(unlisted), COUNTER(met_encrypt), COUNTER(met_verify),
};

static guint64 *counter(const Tally *t, guint i)
{
    return (guint64 *)((char *)t + counters[i].offset);
}

static void save_array(GKeyFile *kf, const char *group, const char *prefix, const char *const *names,
                       const guint64 *counts, guint n)
{
    for (guint i = 0; i < n; i++) {
        if (!counts[i])
            continue;
        g_autofree char *k = g_strdup_printf("%s_%s", prefix, names[i]);
        g_key_file_set_uint64(kf, group, k, counts[i]);
    }
}

static void load_array(GKeyFile *kf, const char *group, const char *prefix, const char *const *names, guint64 *counts,
                       guint n)
{
    for (guint i = 0; i < n; i++) {
        g_autofree char *k = g_strdup_printf("%s_%s", prefix, names[i]);
        counts[i] = g_key_file_get_uint64(kf, group, k, NULL);
    }
}

static void set_string(GKeyFile *kf, const char *group, const char *key, const char *value)
{
    if (*value)
        g_key_file_set_string(kf, group, key, value);
}

static void get_string(GKeyFile *kf, const char *group, const char *key, char *out, size_t size)
{
    g_autofree char *v = g_key_file_get_string(kf, group, key, NULL);
    g_strlcpy(out, v ? v : "", size);
}

static void save_tally(GKeyFile *kf, const char *group, const char *name, const Tally *t)
{
    const char *const *trusts = trust_names(), *const *results = result_names();
    g_key_file_set_string(kf, group, "name", name);
    set_string(kf, group, "level", t->level);
    set_string(kf, group, "mode", t->mode);
    set_string(kf, group, "on_failure", t->on_failure);
    for (guint i = 0; i < G_N_ELEMENTS(counters); i++)
        g_key_file_set_uint64(kf, group, counters[i].name, *counter(t, i));
    save_array(kf, group, "protocol", protocol_names, t->protocols, PROTOCOLS);
    save_array(kf, group, "trust", trusts, t->trust, TRUST_COUNT);
    save_array(kf, group, "failure", results, t->failures, RESULT_COUNT);
    g_key_file_set_int64(kf, group, "first_seen", t->first_seen);
    g_key_file_set_int64(kf, group, "last_seen", t->last_seen);
    set_string(kf, group, "last_relay", t->last_relay);
    set_string(kf, group, "last_protocol", t->last_protocol);
    set_string(kf, group, "last_cipher", t->last_cipher);
    if (!t->failed_at)
        return;
    g_key_file_set_int64(kf, group, "failed_at", t->failed_at);
    set_string(kf, group, "failed_recipient", t->failed_recipient);
    set_string(kf, group, "failed_relay", t->failed_relay);
    set_string(kf, group, "failed_result", t->failed_result);
    set_string(kf, group, "failed_detail", t->failed_detail);
}

static void load_tally(GKeyFile *kf, const char *group, Tally *t)
{
    const char *const *trusts = trust_names(), *const *results = result_names();
    get_string(kf, group, "level", t->level, sizeof t->level);
    get_string(kf, group, "mode", t->mode, sizeof t->mode);
    get_string(kf, group, "on_failure", t->on_failure, sizeof t->on_failure);
    for (guint i = 0; i < G_N_ELEMENTS(counters); i++)
        *counter(t, i) = g_key_file_get_uint64(kf, group, counters[i].name, NULL);
    load_array(kf, group, "protocol", protocol_names, t->protocols, PROTOCOLS);
    load_array(kf, group, "trust", trusts, t->trust, TRUST_COUNT);
    load_array(kf, group, "failure", results, t->failures, RESULT_COUNT);
    t->first_seen = g_key_file_get_int64(kf, group, "first_seen", NULL);
    t->last_seen = g_key_file_get_int64(kf, group, "last_seen", NULL);
    get_string(kf, group, "last_relay", t->last_relay, sizeof t->last_relay);
    get_string(kf, group, "last_protocol", t->last_protocol, sizeof t->last_protocol);
    get_string(kf, group, "last_cipher", t->last_cipher, sizeof t->last_cipher);
    t->failed_at = g_key_file_get_int64(kf, group, "failed_at", NULL);
    get_string(kf, group, "failed_recipient", t->failed_recipient, sizeof t->failed_recipient);
    get_string(kf, group, "failed_relay", t->failed_relay, sizeof t->failed_relay);
    get_string(kf, group, "failed_result", t->failed_result, sizeof t->failed_result);
    get_string(kf, group, "failed_detail", t->failed_detail, sizeof t->failed_detail);
}

static void save_table(GKeyFile *kf, const char *prefix, GHashTable *table)
{
    g_autoptr(GPtrArray) names = sorted_names(table);
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *group = g_strdup_printf("%s %u", prefix, i);
        save_tally(kf, group, names->pdata[i], g_hash_table_lookup(table, names->pdata[i]));
    }
}

void outledger_save(OutLedger *l, GKeyFile *kf)
{
    g_key_file_set_int64(kf, "outbound", "since", l->since);
    g_key_file_set_uint64(kf, "outbound", "dropped", l->dropped);
    save_table(kf, "outbound_entry", l->keys);
    save_table(kf, "outbound_domain", l->domains);
    l->changed = FALSE;
}

void outledger_load(OutLedger *l, GKeyFile *kf)
{
    g_hash_table_remove_all(l->keys);
    g_hash_table_remove_all(l->domains);
    l->since = g_key_file_get_int64(kf, "outbound", "since", NULL);
    l->dropped = g_key_file_get_uint64(kf, "outbound", "dropped", NULL);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        gboolean entry = g_str_has_prefix(*g, "outbound_entry ");
        if (!entry && !g_str_has_prefix(*g, "outbound_domain "))
            continue;
        g_autofree char *name = g_key_file_get_string(kf, *g, "name", NULL);
        if (!name || !*name || strlen(name) > 1024)
            continue;
        GHashTable *table = entry ? l->keys : l->domains;
        Tally *t = tally_for(table, entry ? l->max_keys : l->max_domains, name);
        if (t)
            load_tally(kf, *g, t);
    }
    l->changed = FALSE;
}

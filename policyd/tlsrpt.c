/*
 * tlsrpt.c - the day's TLS-RPT aggregate per recipient domain, its RFC
 * 8460 JSON report, the report files and the day across restarts.  The
 * contract is in tlsrpt.h.
 */
#include "tlsrpt.h"

#include <gio/gio.h>
#include <string.h>

#include "escape.h"

#define DAY_SECONDS 86400
#define STATE_GROUP "tlsrpt"
#define STATE_POLICY_PREFIX "tlsrpt policy "

typedef struct {
    TlsResult result;
    char *mx_host, *ip, *detail;
    guint64 count;
} Detail;

typedef struct {
    TlsrptPolicyType type;
    char **strings, **mx;  /* NULL: none */
    guint64 successes, failures;
    GPtrArray *details;    /* of Detail, at most TLSRPT_MAX_DETAILS */
} PolicyDay;

struct Tlsrpt {
    guint max_domains;
    gint64 begin;          /* the day's 00:00:00 UTC */
    GHashTable *domains;   /* domain -> GPtrArray of PolicyDay */
    TlsrptCounts counts;
};

static const char *const type_names[] = {"no-policy-found", "sts", "tlsa"};

static void detail_free(gpointer p)
{
    Detail *d = p;
    g_free(d->mx_host);
    g_free(d->ip);
    g_free(d->detail);
    g_free(d);
}

static void policy_free(gpointer p)
{
    PolicyDay *pd = p;
    g_strfreev(pd->strings);
    g_strfreev(pd->mx);
    g_ptr_array_free(pd->details, TRUE);
    g_free(pd);
}

static GPtrArray *policies_new(void)
{
    return g_ptr_array_new_with_free_func(policy_free);
}

static gint64 day_of(gint64 now)
{
    return now - now % DAY_SECONDS;
}

Tlsrpt *tlsrpt_new(guint max_domains, gint64 now)
{
    Tlsrpt *t = g_new0(Tlsrpt, 1);
    t->max_domains = max_domains;
    t->begin = day_of(now);
    t->domains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
    return t;
}

void tlsrpt_free(Tlsrpt *t)
{
    if (!t)
        return;
    g_hash_table_destroy(t->domains);
    g_free(t);
}

/* NULL and an empty list are the same policy part. */
static gboolean strv_same(char *const *a, char *const *b)
{
    if (!a || !*a || !b || !*b)
        return (!a || !*a) && (!b || !*b);
    return g_strv_equal((const char *const *)a, (const char *const *)b);
}

static char **strv_copy(char *const *v)
{
    return v && *v ? g_strdupv((char **)v) : NULL;
}

static PolicyDay *policy_for(GPtrArray *policies, const TlsrptPolicy *policy)
{
    for (guint i = 0; i < policies->len; i++) {
        PolicyDay *pd = policies->pdata[i];
        if (pd->type == policy->type && strv_same(pd->strings, policy->strings) && strv_same(pd->mx, policy->mx))
            return pd;
    }
    if (policies->len >= TLSRPT_MAX_POLICIES)
        return policies->pdata[policies->len - 1];  /* counted under the last one kept */
    PolicyDay *pd = g_new0(PolicyDay, 1);
    pd->type = policy->type;
    pd->strings = strv_copy(policy->strings);
    pd->mx = strv_copy(policy->mx);
    pd->details = g_ptr_array_new_with_free_func(detail_free);
    g_ptr_array_add(policies, pd);
    return pd;
}

static void count_failure(Tlsrpt *t, PolicyDay *pd, const TlsrptSession *s)
{
    pd->failures++;
    for (guint i = 0; i < pd->details->len; i++) {
        Detail *d = pd->details->pdata[i];
        if (d->result == s->result && strcmp(d->mx_host, s->mx_host) == 0 && strcmp(d->ip, s->ip) == 0) {
            d->count++;
            return;
        }
    }
    if (pd->details->len >= TLSRPT_MAX_DETAILS) {
        t->counts.details_dropped++;
        return;
    }
    Detail *d = g_new0(Detail, 1);
    d->result = s->result;
    d->mx_host = g_strdup(s->mx_host);
    d->ip = g_strdup(s->ip);
    d->detail = g_strdup(s->detail);
    d->count = 1;
    g_ptr_array_add(pd->details, d);
}

void tlsrpt_record(Tlsrpt *t, const char *domain, const TlsrptPolicy *policy, const TlsrptSession *session)
{
    GPtrArray *policies = g_hash_table_lookup(t->domains, domain);
    if (!policies) {
        if (g_hash_table_size(t->domains) >= t->max_domains) {
            t->counts.sessions_dropped++;
            return;
        }
        policies = policies_new();
        g_hash_table_insert(t->domains, g_strdup(domain), policies);
    }
    PolicyDay *pd = policy_for(policies, policy);
    t->counts.sessions++;
    if (session->result == RESULT_NONE)
        pd->successes++;
    else
        count_failure(t, pd, session);
}

/*
 * The report
 */
static void append_time(GString *out, gint64 t)
{
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);
    g_autofree char *text = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
    json_append_string(out, text);
}

static void append_strv(GString *out, const char *name, char *const *v)
{
    g_string_append_printf(out, ",\"%s\":[", name);
    for (guint i = 0; v && v[i]; i++) {
        if (i)
            g_string_append_c(out, ',');
        json_append_string(out, v[i]);
    }
    g_string_append_c(out, ']');
}

static void append_member(GString *out, const char *name, const char *value)
{
    g_string_append_printf(out, ",\"%s\":", name);
    json_append_string(out, value);
}

static void append_policy(GString *out, const char *domain, const PolicyDay *pd)
{
    g_string_append(out, "{\"policy\":{\"policy-type\":");
    json_append_string(out, type_names[pd->type]);
    if (pd->strings)
        append_strv(out, "policy-string", pd->strings);
    append_member(out, "policy-domain", domain);
    if (pd->mx)
        append_strv(out, "mx-host", pd->mx);
    g_string_append_printf(out,
                           "},\"summary\":{\"total-successful-session-count\":%" G_GUINT64_FORMAT
                           ",\"total-failure-session-count\":%" G_GUINT64_FORMAT "}",
                           pd->successes, pd->failures);
    if (pd->details->len) {
        g_string_append(out, ",\"failure-details\":[");
        for (guint i = 0; i < pd->details->len; i++) {
            const Detail *d = pd->details->pdata[i];
            g_string_append(out, i ? ",{\"result-type\":" : "{\"result-type\":");
            json_append_string(out, delivery_result_name(d->result));
            if (*d->mx_host)
                append_member(out, "receiving-mx-hostname", d->mx_host);
            if (*d->ip)
                append_member(out, "receiving-ip", d->ip);
            g_string_append_printf(out, ",\"failed-session-count\":%" G_GUINT64_FORMAT, d->count);
            if (*d->detail)
                append_member(out, "additional-information", d->detail);
            g_string_append_c(out, '}');
        }
        g_string_append_c(out, ']');
    }
    g_string_append_c(out, '}');
}

char *tlsrpt_report_id(const Tlsrpt *t, const char *domain, const TlsrptOrg *org)
{
    return g_strdup_printf("%" G_GINT64_FORMAT ".%s@%s", t->begin, domain, org->submitter);
}

char *tlsrpt_report_json(const Tlsrpt *t, const char *domain, const TlsrptOrg *org)
{
    GPtrArray *policies = g_hash_table_lookup(t->domains, domain);
    if (!policies || !policies->len)
        return NULL;
    GString *out = g_string_new("{\"organization-name\":");
    json_append_string(out, org->organization);
    g_string_append(out, ",\"date-range\":{\"start-datetime\":");
    append_time(out, t->begin);
    g_string_append(out, ",\"end-datetime\":");
    append_time(out, t->begin + DAY_SECONDS - 1);
    g_string_append_c(out, '}');
    append_member(out, "contact-info", org->contact);
    g_autofree char *id = tlsrpt_report_id(t, domain, org);
    append_member(out, "report-id", id);
    g_string_append(out, ",\"policies\":[");
    for (guint i = 0; i < policies->len; i++) {
        if (i)
            g_string_append_c(out, ',');
        append_policy(out, domain, policies->pdata[i]);
    }
    g_string_append(out, "]}\n");
    return g_string_free(out, FALSE);
}

static gint name_order(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *tlsrpt_domains(const Tlsrpt *t)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, t->domains);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(names, g_strdup(key));
    g_ptr_array_sort(names, name_order);
    return names;
}

char *tlsrpt_file_name(const char *submitter, const char *domain, gint64 begin, gint64 end)
{
    return g_strdup_printf("%s!%s!%" G_GINT64_FORMAT "!%" G_GINT64_FORMAT ".json.gz", submitter, domain, begin, end);
}

char *tlsrpt_report_file_name(const Tlsrpt *t, const char *domain, const TlsrptOrg *org)
{
    return tlsrpt_file_name(org->submitter, domain, t->begin, t->begin + DAY_SECONDS - 1);
}

GBytes *tlsrpt_gzip(const char *text, GError **error)
{
    g_autoptr(GZlibCompressor) z = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP, -1);
    g_autoptr(GOutputStream) memory = g_memory_output_stream_new_resizable();
    g_autoptr(GOutputStream) out = g_converter_output_stream_new(memory, G_CONVERTER(z));
    if (!g_output_stream_write_all(out, text, strlen(text), NULL, NULL, error)
        || !g_output_stream_close(out, NULL, error))
        return NULL;
    return g_memory_output_stream_steal_as_bytes(G_MEMORY_OUTPUT_STREAM(memory));
}

static gboolean write_report(const Tlsrpt *t, const char *directory, const char *domain, const TlsrptOrg *org,
                             GError **error)
{
    g_autofree char *json = tlsrpt_report_json(t, domain, org);
    g_autoptr(GBytes) gz = tlsrpt_gzip(json, error);
    if (!gz)
        return FALSE;
    g_autofree char *name = tlsrpt_report_file_name(t, domain, org);
    g_autofree char *path = g_build_filename(directory, name, NULL);
    gsize size;
    const char *data = g_bytes_get_data(gz, &size);
    /* temp file, fsync, rename: a crash leaves the whole report or none */
    return g_file_set_contents_full(path, data, size, G_FILE_SET_CONTENTS_CONSISTENT, 0640, error);
}

gboolean tlsrpt_day_over(const Tlsrpt *t, gint64 now)
{
    return day_of(now) > t->begin;
}

guint tlsrpt_roll(Tlsrpt *t, gint64 now, const char *directory, const TlsrptOrg *org, GError **error)
{
    if (!tlsrpt_day_over(t, now))
        return 0;
    guint written = 0;
    g_autoptr(GPtrArray) names = tlsrpt_domains(t);
    if (*directory && names->len)
        g_mkdir_with_parents(directory, 0750);  /* a failure shows in the writes below */
    for (guint i = 0; *directory && i < names->len; i++) {
        GError *failure = NULL;
        if (write_report(t, directory, names->pdata[i], org, &failure)) {
            written++;
            continue;
        }
        t->counts.reports_failed++;
        if (error && !*error)
            g_propagate_error(error, failure);
        else
            g_error_free(failure);
    }
    t->counts.reports_written += written;
    g_hash_table_remove_all(t->domains);
    t->begin = day_of(now);
    return written;
}

TlsrptCounts tlsrpt_counts(const Tlsrpt *t)
{
    return t->counts;
}

/*
 * The day across restarts
 */
static void save_policy(GKeyFile *kf, guint n, const char *domain, const PolicyDay *pd)
{
    g_autofree char *group = g_strdup_printf(STATE_POLICY_PREFIX "%u", n);
    g_key_file_set_string(kf, group, "domain", domain);
    g_key_file_set_string(kf, group, "type", type_names[pd->type]);
    if (pd->strings)
        g_key_file_set_string_list(kf, group, "policy_string", (const char *const *)pd->strings,
                                   g_strv_length(pd->strings));
    if (pd->mx)
        g_key_file_set_string_list(kf, group, "mx_host", (const char *const *)pd->mx, g_strv_length(pd->mx));
    g_key_file_set_uint64(kf, group, "successes", pd->successes);
    g_key_file_set_uint64(kf, group, "failures", pd->failures);
    for (guint i = 0; i < pd->details->len; i++) {
        const Detail *d = pd->details->pdata[i];
        const char *row[] = {delivery_result_name(d->result), d->mx_host, d->ip, d->detail, NULL};
        g_autofree char *key = g_strdup_printf("detail_%u", i);
        g_autofree char *count_key = g_strdup_printf("detail_%u_count", i);
        g_key_file_set_string_list(kf, group, key, row, 4);
        g_key_file_set_uint64(kf, group, count_key, d->count);
    }
}

void tlsrpt_save(const Tlsrpt *t, GKeyFile *kf)
{
    g_key_file_set_int64(kf, STATE_GROUP, "begin", t->begin);
    guint n = 0;
    g_autoptr(GPtrArray) names = tlsrpt_domains(t);
    for (guint i = 0; i < names->len; i++) {
        GPtrArray *policies = g_hash_table_lookup(t->domains, names->pdata[i]);
        for (guint j = 0; j < policies->len; j++)
            save_policy(kf, n++, names->pdata[i], policies->pdata[j]);
    }
}

static gboolean type_parse(const char *name, TlsrptPolicyType *type)
{
    for (guint i = 0; i < G_N_ELEMENTS(type_names); i++)
        if (name && strcmp(name, type_names[i]) == 0) {
            *type = (TlsrptPolicyType)i;
            return TRUE;
        }
    return FALSE;
}

static void load_details(GKeyFile *kf, const char *group, PolicyDay *pd)
{
    for (guint i = 0; i < TLSRPT_MAX_DETAILS; i++) {
        g_autofree char *key = g_strdup_printf("detail_%u", i);
        g_autofree char *count_key = g_strdup_printf("detail_%u_count", i);
        gsize n = 0;
        g_auto(GStrv) row = g_key_file_get_string_list(kf, group, key, &n, NULL);
        TlsResult result;
        if (!row || n != 4 || !delivery_result_parse(row[0], &result) || result == RESULT_NONE)
            return;
        Detail *d = g_new0(Detail, 1);
        d->result = result;
        d->mx_host = g_strdup(row[1]);
        d->ip = g_strdup(row[2]);
        d->detail = g_strdup(row[3]);
        d->count = g_key_file_get_uint64(kf, group, count_key, NULL);
        g_ptr_array_add(pd->details, d);
    }
}

void tlsrpt_load(Tlsrpt *t, GKeyFile *kf)
{
    if (!g_key_file_has_key(kf, STATE_GROUP, "begin", NULL))
        return;
    g_hash_table_remove_all(t->domains);
    t->begin = day_of(g_key_file_get_int64(kf, STATE_GROUP, "begin", NULL));
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (guint i = 0; groups[i]; i++) {
        if (!g_str_has_prefix(groups[i], STATE_POLICY_PREFIX))
            continue;
        g_autofree char *domain = g_key_file_get_string(kf, groups[i], "domain", NULL);
        g_autofree char *type_name = g_key_file_get_string(kf, groups[i], "type", NULL);
        g_auto(GStrv) strings = g_key_file_get_string_list(kf, groups[i], "policy_string", NULL, NULL);
        g_auto(GStrv) mx = g_key_file_get_string_list(kf, groups[i], "mx_host", NULL, NULL);
        TlsrptPolicy policy = {.strings = strings, .mx = mx};
        if (!domain || !type_parse(type_name, &policy.type))
            continue;
        GPtrArray *policies = g_hash_table_lookup(t->domains, domain);
        if (!policies) {
            if (g_hash_table_size(t->domains) >= t->max_domains)
                continue;
            policies = policies_new();
            g_hash_table_insert(t->domains, g_strdup(domain), policies);
        }
        PolicyDay *pd = policy_for(policies, &policy);
        pd->successes += g_key_file_get_uint64(kf, groups[i], "successes", NULL);
        pd->failures += g_key_file_get_uint64(kf, groups[i], "failures", NULL);
        if (!pd->details->len)
            load_details(kf, groups[i], pd);
    }
}

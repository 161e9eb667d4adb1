/* tlsrpt.c - unit tests of the day's TLS-RPT aggregate (policyd/tlsrpt.c):
 * sessions grouped by policy, the RFC 8460 JSON report byte for byte,
 * the bounds, the UTC day's end (the reports written gzipped, named as
 * RFC 8460 5.3 names them, and a new day), the day across a restart, and
 * the _smtp._tls record a domain publishes (net/tlsrptrecord.c). */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tlsrpt.h"
#include "tlsrptrecord.h"

#define DAY 1796256000     /* 2026-12-03T00:00:00Z */
#define NOW (DAY + 50000)  /* that afternoon */

static const TlsrptOrg org = {.organization = "Example Org", .contact = "postmaster@mx.example",
                              .submitter = "mx.example"};

static char *sts_lines[] = {"version: STSv1", "mode: enforce", "mx: *.mail.example", "max_age: 86400", NULL};
static char *sts_mx[] = {"*.mail.example", NULL};

static void add(Tlsrpt *t, const char *domain, const TlsrptPolicy *p, TlsResult result, const char *mx,
                const char *ip, const char *detail)
{
    TlsrptSession s = {.result = result, .mx_host = mx, .ip = ip, .detail = detail};
    tlsrpt_record(t, domain, p, &s);
}

static void test_report(void)
{
    static const TlsrptPolicy none = {.type = TLSRPT_NO_POLICY};
    static const TlsrptPolicy sts = {.type = TLSRPT_STS, .strings = sts_lines, .mx = sts_mx};
    static const struct {
        const char *name;
        const char *domain;
        const char *want;  /* NULL: no report */
    } rows[] = {
        {"no session, no report", "quiet.example", NULL},
        {"no policy: successes only", "plain.example",
         "{\"organization-name\":\"Example Org\",\"date-range\":{\"start-datetime\":\"2026-12-03T00:00:00Z\","
         "\"end-datetime\":\"2026-12-03T23:59:59Z\"},\"contact-info\":\"postmaster@mx.example\","
         "\"report-id\":\"1796256000.plain.example@mx.example\",\"policies\":[{\"policy\":{\"policy-type\":"
         "\"no-policy-found\",\"policy-domain\":\"plain.example\"},\"summary\":{\"total-successful-session-count\":2,"
         "\"total-failure-session-count\":0}}]}\n"},
        {"sts, failures by type, MX and IP; a detail quoted", "sts.example",
         "{\"organization-name\":\"Example Org\",\"date-range\":{\"start-datetime\":\"2026-12-03T00:00:00Z\","
         "\"end-datetime\":\"2026-12-03T23:59:59Z\"},\"contact-info\":\"postmaster@mx.example\","
         "\"report-id\":\"1796256000.sts.example@mx.example\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
         "\"policy-string\":[\"version: STSv1\",\"mode: enforce\",\"mx: *.mail.example\",\"max_age: 86400\"],"
         "\"policy-domain\":\"sts.example\",\"mx-host\":[\"*.mail.example\"]},\"summary\":{"
         "\"total-successful-session-count\":1,\"total-failure-session-count\":3},\"failure-details\":[{"
         "\"result-type\":\"certificate-expired\",\"receiving-mx-hostname\":\"a.mail.example\",\"receiving-ip\":"
         "\"192.0.2.1\",\"failed-session-count\":2,\"additional-information\":\"certificate has \\\"expired\\\"\"},"
         "{\"result-type\":\"starttls-not-supported\",\"receiving-mx-hostname\":\"b.mail.example\",\"receiving-ip\":"
         "\"192.0.2.2\",\"failed-session-count\":1}]},{\"policy\":{\"policy-type\":\"no-policy-found\","
         "\"policy-domain\":\"sts.example\"},\"summary\":{\"total-successful-session-count\":1,"
         "\"total-failure-session-count\":0}}]}\n"},
    };
    Tlsrpt *t = tlsrpt_new(10, NOW);
    add(t, "plain.example", &none, RESULT_NONE, "mx.plain.example", "192.0.2.9", "");
    add(t, "plain.example", &none, RESULT_NONE, "mx.plain.example", "192.0.2.9", "");
    add(t, "sts.example", &sts, RESULT_CERTIFICATE_EXPIRED, "a.mail.example", "192.0.2.1", "certificate has \"expired\"");
    add(t, "sts.example", &sts, RESULT_NONE, "a.mail.example", "192.0.2.1", "");
    add(t, "sts.example", &sts, RESULT_CERTIFICATE_EXPIRED, "a.mail.example", "192.0.2.1", "again");
    add(t, "sts.example", &sts, RESULT_STARTTLS_NOT_SUPPORTED, "b.mail.example", "192.0.2.2", "");
    add(t, "sts.example", &none, RESULT_NONE, "a.mail.example", "192.0.2.1", "");  /* before the policy was known */
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autofree char *got = tlsrpt_report_json(t, rows[i].domain, &org);
        g_test_message("%s", rows[i].name);
        g_assert_cmpstr(got, ==, rows[i].want);
    }
    g_assert_cmpuint(tlsrpt_counts(t).sessions, ==, 7);
    tlsrpt_free(t);
}

static void test_bounds(void)
{
    static const TlsrptPolicy none = {.type = TLSRPT_NO_POLICY};
    Tlsrpt *t = tlsrpt_new(2, NOW);
    add(t, "a.example", &none, RESULT_NONE, "mx", "192.0.2.1", "");
    add(t, "b.example", &none, RESULT_NONE, "mx", "192.0.2.1", "");
    add(t, "c.example", &none, RESULT_NONE, "mx", "192.0.2.1", "");  /* a third domain: dropped, counted */
    g_assert_null(tlsrpt_report_json(t, "c.example", &org));
    g_assert_cmpuint(tlsrpt_counts(t).sessions_dropped, ==, 1);
    /* failure details: TLSRPT_MAX_DETAILS rows, the rest in the summary only */
    for (guint i = 0; i < TLSRPT_MAX_DETAILS + 5; i++) {
        g_autofree char *ip = g_strdup_printf("192.0.2.%u", i + 1);
        add(t, "a.example", &none, RESULT_VALIDATION_FAILURE, "mx", ip, "");
    }
    g_autofree char *json = tlsrpt_report_json(t, "a.example", &org);
    g_assert_nonnull(strstr(json, "\"total-failure-session-count\":37"));
    guint rows = 0;
    for (const char *p = json; (p = strstr(p, "\"result-type\"")); p++)
        rows++;
    g_assert_cmpuint(rows, ==, TLSRPT_MAX_DETAILS);
    g_assert_cmpuint(tlsrpt_counts(t).details_dropped, ==, 5);
    /* policies: TLSRPT_MAX_POLICIES; a further one counts under the last kept */
    char *lines[2] = {NULL, NULL};
    for (guint i = 0; i < TLSRPT_MAX_POLICIES + 3; i++) {
        g_autofree char *line = g_strdup_printf("mx: m%u.example", i);
        lines[0] = line;
        TlsrptPolicy p = {.type = TLSRPT_STS, .strings = lines};
        add(t, "b.example", &p, RESULT_NONE, "mx", "192.0.2.1", "");
    }
    g_autofree char *b = tlsrpt_report_json(t, "b.example", &org);
    guint policies = 0;
    for (const char *p = b; (p = strstr(p, "\"policy-type\"")); p++)
        policies++;
    g_assert_cmpuint(policies, ==, TLSRPT_MAX_POLICIES);
    /* b.example's first (no policy) and 7 of these are kept; the last kept takes 4 more */
    g_assert_nonnull(strstr(b, "\"total-successful-session-count\":5,"));
    tlsrpt_free(t);
}

static char *gunzip_file(const char *path)
{
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GInputStream) raw = G_INPUT_STREAM(g_file_read(file, NULL, NULL));
    g_assert_nonnull(raw);
    g_autoptr(GZlibDecompressor) z = g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
    g_autoptr(GInputStream) in = g_converter_input_stream_new(raw, G_CONVERTER(z));
    GString *out = g_string_new(NULL);
    char buf[4096];
    gssize n;
    while ((n = g_input_stream_read(in, buf, sizeof buf, NULL, NULL)) > 0)
        g_string_append_len(out, buf, n);
    g_assert_cmpint(n, ==, 0);
    return g_string_free(out, FALSE);
}

static void test_roll(void)
{
    static const TlsrptPolicy none = {.type = TLSRPT_NO_POLICY};
    g_autofree char *dir = g_dir_make_tmp("tlsrpt-XXXXXX", NULL);
    Tlsrpt *t = tlsrpt_new(10, NOW);
    add(t, "a.example", &none, RESULT_NONE, "mx", "192.0.2.1", "");
    add(t, "b.example", &none, RESULT_DANE_REQUIRED, "mx", "192.0.2.1", "");
    g_autofree char *want_a = tlsrpt_report_json(t, "a.example", &org);
    g_assert_cmpuint(tlsrpt_roll(t, DAY + 86399, dir, &org, NULL), ==, 0);  /* 23:59:59: the day goes on */
    g_assert_false(tlsrpt_day_over(t, DAY + 86399));
    g_assert_true(tlsrpt_day_over(t, DAY + 86400));
    GError *error = NULL;
    g_autofree char *made = g_build_filename(dir, "made", NULL);  /* a missing directory is made */
    g_assert_cmpuint(tlsrpt_roll(t, DAY + 86400 + 5, made, &org, &error), ==, 2);
    g_assert_no_error(error);
    g_autofree char *name = tlsrpt_file_name("mx.example", "a.example", DAY, DAY + 86399);
    g_assert_cmpstr(name, ==, "mx.example!a.example!1796256000!1796342399.json.gz");
    g_autofree char *path = g_build_filename(made, name, NULL);
    g_autofree char *got = gunzip_file(path);
    g_assert_cmpstr(got, ==, want_a);
    /* the new day starts empty, dated the next day */
    g_assert_null(tlsrpt_report_json(t, "a.example", &org));
    add(t, "a.example", &none, RESULT_NONE, "mx", "192.0.2.1", "");
    g_autofree char *next = tlsrpt_report_json(t, "a.example", &org);
    g_assert_nonnull(strstr(next, "\"start-datetime\":\"2026-12-04T00:00:00Z\""));
    g_assert_cmpuint(tlsrpt_counts(t).reports_written, ==, 2);
    /* a directory that cannot be made (under a file): counted, said, the day still ends */
    g_autofree char *under_file = g_build_filename(path, "tlsrpt", NULL);
    g_assert_cmpuint(tlsrpt_roll(t, DAY + 2 * 86400, under_file, &org, &error), ==, 0);
    g_assert_nonnull(error);
    g_clear_error(&error);
    g_assert_cmpuint(tlsrpt_counts(t).reports_failed, ==, 1);
    g_assert_null(tlsrpt_report_json(t, "a.example", &org));
    tlsrpt_free(t);
    g_autoptr(GDir) d = g_dir_open(made, 0, NULL);
    const char *entry;
    while ((entry = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(made, entry, NULL);
        g_unlink(p);
    }
    g_rmdir(made);
    g_rmdir(dir);
}

static void test_restart(void)
{
    static const TlsrptPolicy sts = {.type = TLSRPT_STS, .strings = sts_lines, .mx = sts_mx};
    static const TlsrptPolicy none = {.type = TLSRPT_NO_POLICY};
    Tlsrpt *t = tlsrpt_new(10, NOW);
    add(t, "sts.example", &sts, RESULT_CERTIFICATE_HOST_MISMATCH, "a.mail.example", "192.0.2.1", "num=62:hostname mismatch");
    add(t, "sts.example", &sts, RESULT_NONE, "a.mail.example", "192.0.2.1", "");
    add(t, "plain.example", &none, RESULT_NONE, "mx", "192.0.2.3", "");
    g_autoptr(GKeyFile) kf = g_key_file_new();
    tlsrpt_save(t, kf);
    g_autofree char *text = g_key_file_to_data(kf, NULL, NULL);
    g_autoptr(GKeyFile) back = g_key_file_new();
    g_assert_true(g_key_file_load_from_data(back, text, (gsize)-1, G_KEY_FILE_NONE, NULL));
    Tlsrpt *again = tlsrpt_new(10, NOW + 60);
    tlsrpt_load(again, back);
    for (guint i = 0; i < 2; i++) {
        const char *domain = i ? "plain.example" : "sts.example";
        g_autofree char *want = tlsrpt_report_json(t, domain, &org);
        g_autofree char *got = tlsrpt_report_json(again, domain, &org);
        g_assert_cmpstr(got, ==, want);
    }
    /* loaded after its day: the next roll writes that day's reports */
    Tlsrpt *late = tlsrpt_new(10, DAY + 86400 + 10);
    tlsrpt_load(late, back);
    g_assert_true(tlsrpt_day_over(late, DAY + 86400 + 10));
    g_autofree char *old_day = tlsrpt_report_json(late, "plain.example", &org);
    g_assert_nonnull(strstr(old_day, "\"start-datetime\":\"2026-12-03T00:00:00Z\""));
    tlsrpt_free(late);
    tlsrpt_free(again);
    tlsrpt_free(t);
}

static void test_record(void)
{
    static const struct {
        const char *name, *txt;
        const char *want;  /* the destinations kept, "|"-joined, then " ignored=N"; NULL: refused */
        const char *why;
    } rows[] = {
        {"mailto", "v=TLSRPTv1; rua=mailto:tlsrpt@example.com", "mailto:tlsrpt@example.com ignored=0", NULL},
        {"https with a port, and mailto", "v=TLSRPTv1;rua=https://r.Example.com:8443/v1,mailto:a@b.example",
         "https:r.example.com:8443 https://r.Example.com:8443/v1|mailto:a@b.example ignored=0", NULL},
        {"spaces around the comma, a trailing ;", "v=TLSRPTv1 ; rua=mailto:a@b.example , mailto:c@d.example;",
         "mailto:a@b.example|mailto:c@d.example ignored=0", NULL},
        {"an escaped comma in the address: refused", "v=TLSRPTv1; rua=mailto:a%2Cb@x.example?subject=hi",
         NULL, "no mailto: or https: destination"},
        {"percent-escaped @ is the address", "v=TLSRPTv1; rua=mailto:rep%40x.example",
         "mailto:rep@x.example ignored=0", NULL},
        {"hfields dropped", "v=TLSRPTv1; rua=mailto:rep@x.example?subject=TLS%20report",
         "mailto:rep@x.example ignored=0", NULL},
        {"other schemes ignored", "v=TLSRPTv1; rua=http://plain.example/,ftp://x.example/,mailto:a@b.example",
         "mailto:a@b.example ignored=2", NULL},
        {"only other schemes", "v=TLSRPTv1; rua=http://plain.example/", NULL, "no mailto: or https: destination"},
        {"https with user information", "v=TLSRPTv1; rua=https://u:p@x.example/", NULL, "no mailto: or https:"},
        {"mailto with two @", "v=TLSRPTv1; rua=mailto:a@b@c.example", NULL, "no mailto: or https:"},
        {"mailto to a bad host", "v=TLSRPTv1; rua=mailto:a@-x..example", NULL, "no mailto: or https:"},
        {"no rua", "v=TLSRPTv1; ext=1", NULL, "no rua= field"},
        {"another version", "v=TLSRPTv2; rua=mailto:a@b.example", NULL, "not a TLSRPTv1 record"},
        {"version run on", "v=TLSRPTv10; rua=mailto:a@b.example", NULL, "not a TLSRPTv1 record"},
        {"the first rua counts", "v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:evil@x.example",
         "mailto:a@b.example ignored=0", NULL},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        TlsrptRecord r;
        const char *why = NULL;
        gboolean ok = tlsrpt_record_parse(rows[i].txt, strlen(rows[i].txt), &r, &why);
        g_test_message("%s: %s", rows[i].name, ok ? "parsed" : why);
        if (!rows[i].want) {
            g_assert_false(ok);
            g_assert_nonnull(strstr(why, rows[i].why));
            continue;
        }
        g_assert_true(ok);
        GString *got = g_string_new(NULL);
        for (guint k = 0; k < r.rua->len; k++) {
            const TlsrptRua *rua = r.rua->pdata[k];
            if (k)
                g_string_append_c(got, '|');
            if (rua->scheme == TLSRPT_HTTPS)
                g_string_append_printf(got, "https:%s:%u %s", rua->host, rua->port, rua->target);
            else
                g_string_append_printf(got, "mailto:%s", rua->target);
        }
        g_string_append_printf(got, " ignored=%u", r.ignored);
        g_assert_cmpstr(got->str, ==, rows[i].want);
        g_string_free(got, TRUE);
        tlsrpt_record_clear(&r);
    }
    /* 100 URIs: TLSRPT_MAX_RUA kept, 95 ignored */
    GString *many = g_string_new("v=TLSRPTv1; rua=");
    for (guint i = 0; i < 100; i++)
        g_string_append_printf(many, "%smailto:r%u@x.example", i ? "," : "", i);
    TlsrptRecord r;
    const char *why;
    g_assert_true(tlsrpt_record_parse(many->str, many->len, &r, &why));
    g_assert_cmpuint(r.rua->len, ==, TLSRPT_MAX_RUA);
    g_assert_cmpuint(r.ignored, ==, 100 - TLSRPT_MAX_RUA);
    tlsrpt_record_clear(&r);
    g_string_free(many, TRUE);
    /* the record set: exactly one TLSRPTv1 record */
    char *one[] = {"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@b.example", NULL};
    char *two[] = {"v=TLSRPTv1; rua=mailto:a@b.example", "v=TLSRPTv1; rua=mailto:c@d.example", NULL};
    char *none[] = {"v=spf1 -all", NULL};
    g_assert_true(tlsrpt_record_select(one, &r, &why));
    tlsrpt_record_clear(&r);
    g_assert_false(tlsrpt_record_select(two, &r, &why));
    g_assert_nonnull(strstr(why, "more than one"));
    g_assert_false(tlsrpt_record_select(none, &r, &why));
    g_assert_nonnull(strstr(why, "no _smtp._tls TXT record"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tlsrpt/report", test_report);
    g_test_add_func("/tlsrpt/bounds", test_bounds);
    g_test_add_func("/tlsrpt/roll", test_roll);
    g_test_add_func("/tlsrpt/restart", test_restart);
    g_test_add_func("/tlsrpt/record", test_record);
    return g_test_run();
}

/* ledger.c - unit tests of the compliance ledger (policyd/ledger.c): known
 * traffic gives a known report, suggestion list and JSON; the state file
 * round-trips; memory stays bounded under a million sending domains. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "statefile.h"

static char *tmpdir;

typedef struct {
    const char *sender, *protocol, *cipher, *subject;
    const char *key;     /* matched list key, "" for none */
    TlsLevel level;
    Verdict verdict;
    gboolean report;
    Refusal refusal;
} Traffic;

static void feed(Ledger *l, const Traffic *t, guint n, guint times)
{
    for (guint k = 0; k < times; k++) {
        for (guint i = 0; i < n; i++) {
            PolicyRequest req = {.sender = t[i].sender, .encryption_protocol = t[i].protocol,
                                 .encryption_cipher = t[i].cipher, .ccert_subject = t[i].subject,
                                 .client_name = "mx.sender.example", .client_address = "192.0.2.7"};
            Decision d = {.direction = DIRECTION_INBOUND, .verdict = t[i].report ? VERDICT_DUNNO : t[i].verdict,
                          .would = t[i].verdict, .report = t[i].report, .refusal = t[i].refusal, .level = t[i].level};
            g_strlcpy(d.key, t[i].key, sizeof d.key);
            ledger_record(l, &req, &d, 1795000000);
        }
    }
}

#define AES "TLS_AES_256_GCM_SHA384"
static const Traffic traffic[] = {
    /* a report-mode entry: 2 of 3 would be refused */
    {"a@trial.example", "", "", "", "trial.example", LEVEL_ENCRYPT, VERDICT_REJECT, TRUE, REFUSAL_NO_TLS},
    {"b@trial.example", "TLSv1.1", "AES128-SHA", "", "trial.example", LEVEL_ENCRYPT, VERDICT_REJECT, TRUE, REFUSAL_PROTOCOL},
    {"c@trial.example", "TLSv1.3", AES, "", "trial.example", LEVEL_ENCRYPT, VERDICT_DUNNO, TRUE, REFUSAL_NONE},
    /* an enforced entry: one refusal, one compliant */
    {"a@bank.example", "", "", "", "bank.example", LEVEL_VERIFY, VERDICT_REJECT, FALSE, REFUSAL_NO_TLS},
    {"b@bank.example", "TLSv1.3", AES, "CN=mx.bank.example", "bank.example", LEVEL_VERIFY, VERDICT_DUNNO, FALSE,
     REFUSAL_NONE},
    /* unlisted: always TLS 1.3 with a certificate; always TLS 1.2; sometimes plaintext */
    {"x@good.example", "TLSv1.3", AES, "CN=mx.good.example", "", 0, VERDICT_DUNNO, FALSE, REFUSAL_NONE},
    {"x@tls.example", "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "", "", 0, VERDICT_DUNNO, FALSE, REFUSAL_NONE},
    /* TLS 1.2 with 3DES, right after a good cipher: not "always met encrypt" */
    {"x@weak.example", "TLSv1.2", "DES-CBC3-SHA", "", "", 0, VERDICT_DUNNO, FALSE, REFUSAL_NONE},
    {"x@mixed.example", "", "", "", "", 0, VERDICT_DUNNO, FALSE, REFUSAL_NONE},
    {"y@mixed.example", "TLSv1.3", AES, "", "", 0, VERDICT_DUNNO, FALSE, REFUSAL_NONE},
    /* below the global floor (report mode) */
    {"x@old.example", "TLSv1", "DES-CBC3-SHA", "", "", 0, VERDICT_REJECT, TRUE, REFUSAL_GLOBAL_FLOOR},
};

static const char want_report[] =
    "entry                            level     mode    sessions compliant would-refuse refused  reasons\n"
    "trial.example                    encrypt   report        30        10           20       0  no_tls=10,protocol=10 "
    "(last: TLSv1.3 TLS_AES_256_GCM_SHA384 from mx.sender.example[192.0.2.7])\n"
    "bank.example                     verify    enforce       20        10            0      10  no_tls=10 "
    "(last: TLSv1.3 TLS_AES_256_GCM_SHA384 from mx.sender.example[192.0.2.7])\n"
    "\n"
    "Entries never seen: idle.example\n"
    "\n"
    "Senders below the global floor (most transactions first):\n"
    "  old.example                                    10\n";

static void test_report(void)
{
    Ledger *l = ledger_new(LEDGER_MAX_ENTRIES, LEDGER_TOP);
    feed(l, traffic, G_N_ELEMENTS(traffic), 10);
    g_autoptr(GPtrArray) keys = g_ptr_array_new();
    g_ptr_array_add(keys, "bank.example");
    g_ptr_array_add(keys, "idle.example");
    g_ptr_array_add(keys, "trial.example");
    g_autoptr(GString) out = g_string_new(NULL);
    ledger_format_report(l, keys, out);
    const char *body = strchr(out->str, '\n') + 2;  /* after the "since" line and a blank one */
    g_assert_true(g_str_has_prefix(out->str, "Compliance report: inbound mail transactions since "));
    g_assert_cmpstr(body, ==, want_report);

    g_string_truncate(out, 0);
    ledger_format_suggest(l, 10, LEVEL_VERIFY, out);
    g_assert_cmpstr(strstr(out->str, "\n#") ? strchr(strstr(out->str, "\n#") + 1, '\n') + 1 : out->str, ==,
                    "good.example verify direction=inbound mode=report\n");
    g_string_truncate(out, 0);
    ledger_format_suggest(l, 10, LEVEL_ENCRYPT, out);
    g_assert_nonnull(strstr(out->str, "\ngood.example encrypt direction=inbound mode=report\n"));
    g_assert_nonnull(strstr(out->str, "\ntls.example encrypt direction=inbound mode=report\n"));
    g_assert_null(strstr(out->str, "mixed.example"));
    g_assert_null(strstr(out->str, "weak.example"));
    g_string_truncate(out, 0);
    ledger_format_suggest(l, 11, LEVEL_ENCRYPT, out);  /* not enough transactions */
    g_assert_null(strstr(out->str, "good.example"));
    ledger_free(l);
}

static void test_state_file(void)
{
    Ledger *l = ledger_new(LEDGER_MAX_ENTRIES, LEDGER_TOP);
    feed(l, traffic, G_N_ELEMENTS(traffic), 3);
    g_autofree char *path = g_build_filename(tmpdir, "ledger.state", NULL);
    GError *error = NULL;
    g_assert_true(ledger_save(l, path, &error));
    g_assert_no_error(error);
    Ledger *back = ledger_new(LEDGER_MAX_ENTRIES, LEDGER_TOP);
    g_assert_true(ledger_load(back, path, &error));
    g_assert_no_error(error);
    g_autoptr(GString) a = g_string_new(NULL), b = g_string_new(NULL);
    ledger_format_json(l, a);
    ledger_format_json(back, b);
    g_assert_cmpstr(a->str, ==, b->str);
    g_assert_nonnull(strstr(a->str, "\"trial.example\":{\"level\":\"encrypt\",\"mode\":\"report\",\"sessions\":9,"
                                    "\"compliant\":3,\"refused\":{},\"would_refuse\":{\"no_tls\":3,\"protocol\":3}"));
    /* no file yet is no error; a damaged one is */
    g_autofree char *none = g_build_filename(tmpdir, "none.state", NULL);
    g_assert_true(ledger_load(back, none, NULL));
    g_assert_true(g_file_set_contents(path, "not [ a key file", -1, NULL));
    g_assert_false(ledger_load(back, path, NULL));
    ledger_free(l);
    ledger_free(back);
}

/* statefile.c: what a state file may be, and what its errors say. */
static void test_state_file_hostile(void)
{
    Ledger *l = ledger_new(LEDGER_MAX_ENTRIES, LEDGER_TOP);
    g_autofree char *path = g_build_filename(tmpdir, "hostile.state", NULL);
    GError *error = NULL;
    /* a damaged file: named, its bytes never echoed */
    g_assert_true(g_file_set_contents(path, "\033[31mSECRET-LINE not a key\n", -1, NULL));
    g_assert_false(ledger_load(l, path, &error));
    g_assert_nonnull(strstr(error->message, path));
    g_assert_nonnull(strstr(error->message, "damaged"));
    g_assert_null(strstr(error->message, "SECRET"));
    g_assert_null(strchr(error->message, '\033'));
    g_clear_error(&error);
    /* a FIFO nobody writes to: refused at once, never waited on */
    g_autofree char *fifo = g_build_filename(tmpdir, "fifo.state", NULL);
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    g_assert_false(ledger_load(l, fifo, &error));
    g_assert_nonnull(strstr(error->message, "not a regular file"));
    g_clear_error(&error);
    g_assert_false(ledger_load(l, "/dev/zero", &error));
    g_assert_nonnull(strstr(error->message, "not a regular file"));
    g_clear_error(&error);
    /* one lock holder at a time */
    int fd = statefile_lock(path, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(statefile_lock(path, &error), ==, -1);
    g_assert_nonnull(strstr(error->message, "locked by another tlspolicyd"));
    g_clear_error(&error);
    close(fd);
    fd = statefile_lock(path, &error);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    /* the writer thread: the file appears whole, errors come back */
    StateWriter *w = statewriter_new();
    g_autoptr(GKeyFile) kf = ledger_to_keyfile(l);
    g_autofree char *written = g_build_filename(tmpdir, "written.state", NULL);
    statewriter_submit(w, written, kf, "/nonexistent-dir/x.state", kf);
    statewriter_free(w);
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(written, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, "[ledger]"));
    w = statewriter_new();
    statewriter_submit(w, "/nonexistent-dir/x.state", kf, NULL, NULL);
    while (!statewriter_idle(w))
        g_usleep(1000);  /* a poll interval: the write is done when idle */
    g_autofree char *failed = statewriter_take_error(w);
    g_assert_nonnull(failed);
    g_assert_nonnull(strstr(failed, "/nonexistent-dir/x.state"));
    statewriter_free(w);
    ledger_free(l);
}

static long rss_kb(void)
{
    g_autofree char *status = NULL;
    g_assert_true(g_file_get_contents("/proc/self/status", &status, NULL, NULL));
    const char *p = strstr(status, "VmRSS:");
    return p ? atol(p + 6) : 0;
}

/* A million distinct sending domains, below the floor and unlisted:
 * the ledger keeps LEDGER_TOP of each, its memory flat. */
static void test_bounded(void)
{
    Ledger *l = ledger_new(1000, LEDGER_TOP);
    long before = rss_kb();
    char sender[64];
    for (guint i = 0; i < 1000000; i++) {
        /* one heavy sender among the million: space-saving keeps it */
        g_snprintf(sender, sizeof sender, i % 10 ? "x@d%u.example" : "x@heavy.example", i);
        PolicyRequest req = {.sender = sender, .encryption_protocol = "TLSv1", .encryption_cipher = "DES-CBC3-SHA",
                             .ccert_subject = "", .client_name = "", .client_address = "192.0.2.1"};
        Decision d = {.direction = DIRECTION_INBOUND, .verdict = VERDICT_DUNNO, .would = VERDICT_REJECT, .report = TRUE,
                      .refusal = REFUSAL_GLOBAL_FLOOR};
        ledger_record(l, &req, &d, 1795000000);
        /* and listed keys past the cap */
        g_snprintf(d.key, sizeof d.key, "k%u.example", i % 5000);
        d.refusal = REFUSAL_NO_TLS;
        ledger_record(l, &req, &d, 1795000000);
    }
    long after = rss_kb();
    g_test_message("1,000,000 domains: RSS %ld kB -> %ld kB", before, after);
    g_autoptr(GString) json = g_string_new(NULL);
    ledger_format_json(l, json);
    guint items = 0;
    for (const char *p = json->str; (p = strstr(p, "{\"domain\":")); p++)
        items++;
    g_assert_cmpuint(items, ==, 2 * LEDGER_TOP);
    g_assert_nonnull(strstr(json->str, "\"dropped\":800000,"));
    /* its count is at least its 100,000 transactions (space-saving overestimates, never under) */
    const char *heavy = strstr(json->str, "{\"domain\":\"heavy.example\",\"count\":");
    g_assert_nonnull(heavy);
    g_assert_cmpuint(g_ascii_strtoull(heavy + strlen("{\"domain\":\"heavy.example\",\"count\":"), NULL, 10), >=, 100000);  /* 4000 keys past the cap of 1000, 200 each */
    g_assert_cmpint(after - before, <, 16 * 1024);
    ledger_free(l);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("ledger-test-XXXXXX", NULL);
    g_test_add_func("/ledger/report", test_report);
    g_test_add_func("/ledger/state_file", test_state_file);
    g_test_add_func("/ledger/state_file_hostile", test_state_file_hostile);
    g_test_add_func("/ledger/bounded", test_bounded);
    int rc = g_test_run();
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tmpdir);
    (void)!system(rm);
    return rc;
}

/* verdictlog.c - unit tests of the decision and route log lines
 * (policyd/verdictlog.c): one row per kind of line, the exact text. */
#include <string.h>

#include "verdictlog.h"

static const PolicyRequest plain = {
    .queue_id = "", .instance = "1a2b.5f3c1e.0", .client_name = "mx.bank.example",
    .client_address = "192.0.2.1", .sender = "a@bank.example", .recipient = "b@here.example",
};

static const PolicyRequest hostile = {
    .queue_id = "4XyZ", .instance = "", .client_name = "", .client_address = "192.0.2.9",
    .sender = "evil\n@x.example", .recipient = "b@here.example\x1b[2J",
};

static void test_policy_lines(void)
{
    static const struct {
        const char *name;
        const PolicyRequest *req;
        Decision d;
        gboolean changes_flow;
        const char *want;
    } rows[] = {
        {"reject", &plain,
         {.verdict = VERDICT_REJECT, .direction = DIRECTION_INBOUND, .reason = "no TLS", .key = "bank.example",
          .level = LEVEL_ENCRYPT, .action = "550 5.7.1 TLS required"},
         TRUE,
         "reject: queue_id=NOQUEUE instance=1a2b.5f3c1e.0 direction=inbound client=mx.bank.example[192.0.2.1] "
         "sender=<a@bank.example> recipient=<b@here.example> key=bank.example level=encrypt reason=\"no TLS\" "
         "action=\"550 5.7.1 TLS required\""},
        {"report with detail", &plain,
         {.verdict = VERDICT_DUNNO, .would = VERDICT_REJECT, .report = TRUE, .direction = DIRECTION_INBOUND,
          .reason = "protocol too old", .detail = "TLSv1.1 below TLSv1.2", .key = ".bank.example",
          .level = LEVEL_VERIFY, .action = "DUNNO"},
         TRUE,
         "report: queue_id=NOQUEUE instance=1a2b.5f3c1e.0 direction=inbound client=mx.bank.example[192.0.2.1] "
         "sender=<a@bank.example> recipient=<b@here.example> key=.bank.example level=verify "
         "reason=\"protocol too old (TLSv1.1 below TLSv1.2)\" action=\"would have been: reject\""},
        {"dunno unlisted, hostile values escaped", &hostile,
         {.verdict = VERDICT_DUNNO, .direction = DIRECTION_OUTBOUND, .reason = "not listed", .action = "DUNNO"},
         FALSE,
         "dunno: queue_id=4XyZ instance=- direction=outbound client=unknown[192.0.2.9] sender=<evil\\x0A@x.example> "
         "recipient=<b@here.example\\x1B[2J> key=- level=- reason=\"not listed\" action=\"DUNNO\""},
    };
    g_autoptr(GString) line = g_string_new(NULL);
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("row %s", rows[i].name);
        verdictlog_format_policy(line, rows[i].req, &rows[i].d);
        g_assert_cmpstr(line->str, ==, rows[i].want);
        g_assert_cmpint(verdictlog_policy_changes_flow(&rows[i].d), ==, rows[i].changes_flow);
    }
}

static void test_route_lines(void)
{
    static const struct {
        const char *name, *request;
        RouteDecision d;
        gboolean changes_flow;
        const char *want;
    } rows[] = {
        {"route", "transport bob@bank.example",
         {.status = ROUTE_OK, .reason = "listed", .key = "bank.example", .level = LEVEL_VERIFY,
          .reply = "OK tls-verify:"},
         TRUE,
         "route: socketmap query=\"transport bob@bank.example\" key=bank.example level=verify reason=\"listed\" "
         "reply=\"OK tls-verify:\""},
        {"notfound", "transport x@y.example", {.status = ROUTE_NOTFOUND, .reason = "not listed", .reply = "NOTFOUND "},
         FALSE, "lookup: socketmap query=\"transport x@y.example\" key=- level=- reason=\"not listed\" reply=\"NOTFOUND \""},
        {"tempfail", "transport x@y.example", {.status = ROUTE_TEMP, .reason = "list unavailable", .reply = "TEMP list"},
         TRUE, "tempfail: socketmap query=\"transport x@y.example\" key=- level=- reason=\"list unavailable\" reply=\"TEMP list\""},
        {"report", "transport x@trial.example",
         {.status = ROUTE_NOTFOUND, .report = TRUE, .reason = "report mode", .key = "trial.example",
          .level = LEVEL_ENCRYPT, .reply = "NOTFOUND ", .would = "OK tls-encrypt:"},
         TRUE,
         "report: socketmap query=\"transport x@trial.example\" key=trial.example level=encrypt reason=\"report mode\" "
         "reply=\"would have been: OK tls-encrypt:\""},
        {"raised by DANE", "transport bob@d.example",
         {.status = ROUTE_OK, .reason = "DANE: TLSA records published", .level = LEVEL_DANE_ONLY,
          .reply = "OK tls-dane-only:", .explain = "list: not listed; DANE: TLSA on 1 of 1 MX; effective: tls-dane-only:"},
         TRUE,
         "route: socketmap query=\"transport bob@d.example\" key=- level=dane-only reason=\"DANE: TLSA records "
         "published\" reply=\"OK tls-dane-only:\" sources=\"list: not listed; DANE: TLSA on 1 of 1 MX; effective: "
         "tls-dane-only:\""},
        {"fallback for a failed lookup", "transport bob@f.example",
         {.status = ROUTE_NOTFOUND, .fallback = FALLBACK_FAILED_LIST, .reason = "recipient not listed; DANE/MTA-STS "
          "failed (on_lookup_failure=list)", .reply = "NOTFOUND ", .explain = "DANE: MX lookup failed"},
         TRUE,
         "lookup: socketmap query=\"transport bob@f.example\" key=- level=- reason=\"recipient not listed; DANE/MTA-STS "
         "failed (on_lookup_failure=list)\" reply=\"NOTFOUND \" sources=\"DANE: MX lookup failed\""},
        {"MTA-STS testing", "transport bob@t.example",
         {.status = ROUTE_NOTFOUND, .sts_testing = TRUE, .reason = "not listed", .reply = "NOTFOUND ",
          .explain = "MTA-STS: testing; MTA-STS testing: enforced it would route secure"},
         TRUE,
         "report: socketmap query=\"transport bob@t.example\" key=- level=- reason=\"not listed\" reply=\"NOTFOUND \" "
         "sources=\"MTA-STS: testing; MTA-STS testing: enforced it would route secure\""},
    };
    g_autoptr(GString) line = g_string_new(NULL);
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("row %s", rows[i].name);
        verdictlog_format_route(line, rows[i].request, &rows[i].d);
        g_assert_cmpstr(line->str, ==, rows[i].want);
        g_assert_cmpint(verdictlog_route_changes_flow(&rows[i].d), ==, rows[i].changes_flow);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/verdictlog/policy", test_policy_lines);
    g_test_add_func("/verdictlog/route", test_route_lines);
    return g_test_run();
}

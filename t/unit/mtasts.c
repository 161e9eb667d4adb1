/* mtasts.c - unit tests of the MTA-STS parsers (net/mtasts.c) and the
 * policy fetch's response parser (net/https.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "https.h"
#include "mtasts.h"

static void test_txt(void)
{
    static const struct {
        const char *name, *txt, *want_id; /* NULL: not a valid record */
    } rows[] = {
        {"plain", "v=STSv1; id=20160831085700Z;", "20160831085700Z"},
        {"no trailing separator", "v=STSv1; id=abc", "abc"},
        {"spaces around", "v=STSv1 ;  id=abc  ; ", "abc"},
        {"extension field ignored", "v=STSv1; ext=foo; id=x1", "x1"},
        {"no id", "v=STSv1;", NULL},
        {"id too long", "v=STSv1; id=123456789012345678901234567890123", NULL},
        {"id 32 long", "v=STSv1; id=12345678901234567890123456789012", "12345678901234567890123456789012"},
        {"id with a dash", "v=STSv1; id=a-b", NULL},
        {"not first", "id=abc; v=STSv1", NULL},
        {"other version", "v=STSv2; id=abc", NULL},
        {"version prefix only", "v=STSv10; id=abc", NULL},
        {"field without =", "v=STSv1; id", NULL},
        {"empty", "", NULL},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        char id[MTASTS_ID_MAX + 1];
        const char *why = NULL;
        g_test_message("row %s", rows[i].name);
        gboolean ok = mtasts_parse_txt(rows[i].txt, strlen(rows[i].txt), id, &why);
        g_assert_cmpint(ok, ==, rows[i].want_id != NULL);
        if (ok)
            g_assert_cmpstr(id, ==, rows[i].want_id);
        else
            g_assert_nonnull(why);
    }
}

static void test_select_txt(void)
{
    static const struct {
        const char *name;
        const char *records[4];
        const char *want_id;  /* NULL: no policy */
    } rows[] = {
        {"one, among others", {"google-site-verification=x", "v=STSv1; id=abc", "v=spf1 -all"}, "abc"},
        {"none", {"v=spf1 -all"}, NULL},
        {"no records", {NULL}, NULL},
        {"two STSv1 records: no policy", {"v=STSv1; id=a", "v=STSv1; id=b"}, NULL},
        {"one, broken", {"v=STSv1; id=a-b"}, NULL},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        char id[MTASTS_ID_MAX + 1];
        const char *why = NULL;
        g_test_message("row %s", rows[i].name);
        gboolean ok = mtasts_select_txt((char *const *)rows[i].records, id, &why);
        g_assert_cmpint(ok, ==, rows[i].want_id != NULL);
        if (ok)
            g_assert_cmpstr(id, ==, rows[i].want_id);
        else
            g_assert_nonnull(why);
    }
    const char *why;
    char id[MTASTS_ID_MAX + 1];
    g_assert_false(mtasts_select_txt(NULL, id, &why));
    g_assert_cmpstr(why, ==, "no _mta-sts TXT record");
}

static void test_policy(void)
{
    static const struct {
        const char *name, *body;
        gboolean valid;
        MtastsMode mode;
        guint max_age, n_mx;
        const char *first_mx;
    } rows[] = {
        {"RFC example", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
                        "mx: backupmx.example.com\r\nmax_age: 604800\r\n",
         TRUE, MTASTS_MODE_ENFORCE, 604800, 3, "mail.example.com"},
        {"LF only, no final newline", "version: STSv1\nmode: testing\nmx: MX.Example.COM\nmax_age: 86400",
         TRUE, MTASTS_MODE_TESTING, 86400, 1, "mx.example.com"},
        {"mode none needs no mx", "version: STSv1\nmode: none\nmax_age: 0\n", TRUE, MTASTS_MODE_NONE, 0, 0, NULL},
        {"unknown keys ignored", "version: STSv1\nmode: enforce\nfoo: bar\nmx: a.example\nmax_age: 1\n",
         TRUE, MTASTS_MODE_ENFORCE, 1, 1, "a.example"},
        {"version not first", "mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 1\n", FALSE, 0, 0, 0, NULL},
        {"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", FALSE, 0, 0, 0, NULL},
        {"max_age over a year", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", FALSE, 0, 0, 0, NULL},
        {"max_age not a number", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1d\n", FALSE, 0, 0, 0, NULL},
        {"two modes", "version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1\n", FALSE, 0, 0, 0, NULL},
        {"bad mode", "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", FALSE, 0, 0, 0, NULL},
        {"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", FALSE, 0, 0, 0, NULL},
        {"mx not a name", "version: STSv1\nmode: enforce\nmx: a b\nmax_age: 1\n", FALSE, 0, 0, 0, NULL},
        {"mx wildcard inside", "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", FALSE, 0, 0, 0, NULL},
        {"line without colon", "version: STSv1\nmode enforce\n", FALSE, 0, 0, 0, NULL},
        {"HTML error page", "<html><body>404</body></html>", FALSE, 0, 0, 0, NULL},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        MtastsPolicy p;
        const char *why = NULL;
        g_test_message("row %s", rows[i].name);
        gboolean ok = mtasts_parse_policy(rows[i].body, strlen(rows[i].body), &p, &why);
        g_assert_cmpint(ok, ==, rows[i].valid);
        if (!ok) {
            g_assert_nonnull(why);
            continue;
        }
        g_assert_cmpint(p.mode, ==, rows[i].mode);
        g_assert_cmpuint(p.max_age, ==, rows[i].max_age);
        g_assert_cmpuint(p.n_mx, ==, rows[i].n_mx);
        if (rows[i].first_mx)
            g_assert_cmpstr(p.mx[0], ==, rows[i].first_mx);
    }
    /* seventeen patterns: more than this product keeps, so invalid, never cut */
    g_autoptr(GString) many = g_string_new("version: STSv1\nmode: enforce\nmax_age: 1\n");
    for (int i = 0; i < MTASTS_MAX_MX + 1; i++)
        g_string_append_printf(many, "mx: m%d.example\n", i);
    MtastsPolicy p;
    const char *why;
    g_assert_false(mtasts_parse_policy(many->str, many->len, &p, &why));
}

static void test_mx_matches(void)
{
    static const struct {
        const char *pattern, *host;
        gboolean want;
    } rows[] = {
        {"mail.example.com", "mail.example.com", TRUE},  {"mail.example.com", "MAIL.example.com.", TRUE},
        {"*.example.net", "mx1.example.net", TRUE},      {"*.example.net", "a.b.example.net", FALSE},
        {"*.example.net", "example.net", FALSE},         {"*.example.net", ".example.net", FALSE},
        {"mail.example.com", "mail.example.co", FALSE},  {"mail.example.com", "xmail.example.com", FALSE},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("row %s %s", rows[i].pattern, rows[i].host);
        g_assert_cmpint(mtasts_mx_matches(rows[i].pattern, rows[i].host), ==, rows[i].want);
    }
}

static void test_postfix_match(void)
{
    MtastsPolicy p = {.mode = MTASTS_MODE_ENFORCE, .n_mx = 2};
    g_strlcpy(p.mx[0], "*.mail.example.net", sizeof p.mx[0]);
    g_strlcpy(p.mx[1], "mx.example.com", sizeof p.mx[1]);
    static const struct {
        const char *name;
        const char *mx;  /* the domain's MX hosts, space separated; NULL: not known */
        const char *want;  /* NULL: FALSE, not known */
    } rows[] = {
        {"the wildcard's MX host, one label", "a.mail.example.net mx.example.com", "a.mail.example.net:mx.example.com"},
        {"two labels deep: not the wildcard's (RFC 8461 4.1)", "a.b.mail.example.net", "mx.example.com"},
        {"the wildcard's parent itself: not matched", "mail.example.net", "mx.example.com"},
        {"MX hosts not known", NULL, NULL},
        {"no MX host matches", "", "mx.example.com"},
        {"a name that would be another field", "x:y.mail.example.net a\tb.mail.example.net", "mx.example.com"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_auto(GStrv) mx = rows[i].mx ? g_strsplit_set(rows[i].mx, " ", -1) : NULL;  /* "": no hosts */
        g_autoptr(GString) out = g_string_new(NULL);
        gboolean ok = mtasts_postfix_match(&p, mx, out);
        if (ok != (rows[i].want != NULL) || (ok && strcmp(out->str, rows[i].want) != 0))
            g_error("case %s: got %s \"%s\"", rows[i].name, ok ? "TRUE" : "FALSE", out->str);
    }
    /* only wildcards, no MX host matches: a name no certificate has, so Postfix defers */
    MtastsPolicy wild = {.mode = MTASTS_MODE_ENFORCE, .n_mx = 1};
    g_strlcpy(wild.mx[0], "*.mail.example.net", sizeof wild.mx[0]);
    char *deep[] = {"a.b.mail.example.net", NULL};
    g_autoptr(GString) out = g_string_new(NULL);
    g_assert_true(mtasts_postfix_match(&wild, deep, out));
    g_assert_cmpstr(out->str, ==, MTASTS_NO_MATCH);
}

static void test_response(void)
{
    static const struct {
        const char *name, *response, *body; /* NULL: refused */
        gboolean unclean;                   /* ended by a bare TCP FIN, no close_notify */
    } rows[] = {
        {"200 text/plain", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nversion: STSv1\r\n", "version: STSv1\r\n"},
        {"charset allowed", "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\nabcdef", "abc"},
        {"LF headers", "HTTP/1.0 200 OK\nContent-type: TEXT/PLAIN\n\nx", "x"},
        {"redirect", "HTTP/1.1 301 Moved\r\nLocation: https://elsewhere/\r\nContent-Type: text/plain\r\n\r\n", NULL},
        {"404", "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno", NULL},
        {"html", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>", NULL},
        {"no content type", "HTTP/1.1 200 OK\r\n\r\nversion: STSv1", NULL},
        {"short body", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc", NULL},
        {"chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc", NULL},
        {"headers never end", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n", NULL},
        {"not HTTP", "SSH-2.0-OpenSSH\r\n", NULL},
        /* issue 30: "mx: mail.example.co.uk" cut to "mail.example.co" by an on-path FIN */
        {"no length, no close_notify", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nmx: mail.example.co", NULL, TRUE},
        {"length, no close_notify", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc", "abc", TRUE},
        {"short length, no close_notify", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nabc", NULL, TRUE},
        /* issue 30: status line, Content-Type and Content-Length parsed strictly */
        {"status 2000", "HTTP/1.0 2000 OK\r\nContent-Type: text/plain\r\n\r\nabc", NULL},
        {"status without reason", "HTTP/1.0 200\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx", "x"},
        {"HTTP/1.9", "HTTP/1.9 200 OK\r\nContent-Type: text/plain\r\n\r\nabc", NULL},
        {"text/plainfoo", "HTTP/1.0 200 OK\r\nContent-Type: text/plainfoo\r\n\r\nabc", NULL},
        {"text/plain;charset", "HTTP/1.0 200 OK\r\nContent-Type: text/plain;charset=us-ascii\r\n\r\nab", "ab"},
        {"length with a suffix", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2abc\r\n\r\nabcd", NULL},
        {"negative length", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: -1\r\n\r\nabcd", NULL},
        {"signed length", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: +2\r\n\r\nabcd", NULL},
        {"empty length", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \r\n\r\nabcd", NULL},
        {"huge length", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 99999999999999999999\r\n\r\nab", NULL},
        {"two lengths that differ", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nabcd", NULL},
        {"two equal lengths", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nabcd", "ab"},
        {"length with trailing blanks", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2 \r\n\r\nabcd", "ab"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        size_t start, len;
        const char *why = NULL;
        g_test_message("row %s", rows[i].name);
        gboolean ok = https_parse_response(rows[i].response, strlen(rows[i].response), !rows[i].unclean, &start, &len,
                                           &why);
        g_assert_cmpint(ok, ==, rows[i].body != NULL);
        if (ok) {
            g_assert_cmpuint(len, ==, strlen(rows[i].body));
            g_assert_cmpint(memcmp(rows[i].response + start, rows[i].body, len), ==, 0);
        } else {
            g_assert_nonnull(why);
        }
    }
}

/* A policy host that accepts and never answers: the fetch ends at its
 * deadline with "timed out", however the server stalls. */
static void test_fetch_deadline(void)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    g_assert_cmpint(bind(listener, (struct sockaddr *)&sa, sizeof sa), ==, 0);
    g_assert_cmpint(listen(listener, 4), ==, 0);
    g_assert_cmpint(getsockname(listener, (struct sockaddr *)&sa, &len), ==, 0);
    char *addresses[] = {"127.0.0.1", NULL};
    HttpsFetch f = {.host = "mta-sts.stall.example", .addresses = addresses, .port = ntohs(sa.sin_port),
                    .ca_file = "", .timeout_ms = 500};
    GError *error = NULL;
    gint64 start = g_get_monotonic_time();
    GBytes *body = https_fetch_policy(&f, &error);
    gint64 took_ms = (g_get_monotonic_time() - start) / 1000;
    g_assert_null(body);
    g_assert_nonnull(strstr(error->message, "timed out"));
    g_assert_cmpint(took_ms, >=, 450);
    g_assert_cmpint(took_ms, <, 3000);
    g_error_free(error);
    close(listener);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mtasts/txt", test_txt);
    g_test_add_func("/mtasts/select_txt", test_select_txt);
    g_test_add_func("/mtasts/policy", test_policy);
    g_test_add_func("/mtasts/mx_matches", test_mx_matches);
    g_test_add_func("/mtasts/postfix_match", test_postfix_match);
    g_test_add_func("/mtasts/response", test_response);
    g_test_add_func("/mtasts/fetch_deadline", test_fetch_deadline);
    return g_test_run();
}

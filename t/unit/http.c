/* http.c - unit tests of the metrics endpoint's HTTP framing (policyd/http.c). */
#include <string.h>

#include "http.h"

static void test_requests(void)
{
    static const struct {
        const char *name, *input;
        HttpFrame want;
        const char *method, *path;
        int status;
    } rows[] = {
        {"get", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_COMPLETE, "GET", "/metrics", 0},
        {"bare newlines", "GET /metrics HTTP/1.0\n\n", HTTP_COMPLETE, "GET", "/metrics", 0},
        {"query dropped", "GET /metrics?x=1 HTTP/1.1\r\n\r\n", HTTP_COMPLETE, "GET", "/metrics", 0},
        {"head", "HEAD /entries HTTP/1.1\r\n\r\n", HTTP_COMPLETE, "HEAD", "/entries", 0},
        {"post is framed (405 is the server's)", "POST /metrics HTTP/1.1\r\n\r\n", HTTP_COMPLETE, "POST", "/metrics", 0},
        {"no empty line yet", "GET /metrics HTTP/1.1\r\nHost: x\r\n", HTTP_INCOMPLETE, NULL, NULL, 0},
        {"nothing yet", "", HTTP_INCOMPLETE, NULL, NULL, 0},
        {"no version", "GET /metrics\r\n\r\n", HTTP_ERROR, NULL, NULL, 400},
        {"HTTP/2 line", "GET /metrics HTTP/2.0\r\n\r\n", HTTP_ERROR, NULL, NULL, 400},
        {"relative path", "GET metrics HTTP/1.1\r\n\r\n", HTTP_ERROR, NULL, NULL, 400},
        {"method too long", "GETGETGETGETGETGET / HTTP/1.1\r\n\r\n", HTTP_ERROR, NULL, NULL, 400},
        {"two spaces", "GET  /metrics HTTP/1.1\r\n\r\n", HTTP_ERROR, NULL, NULL, 400},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        HttpRequest req;
        int status = 0;
        g_test_message("row %s", rows[i].name);
        HttpFrame got = http_request(rows[i].input, strlen(rows[i].input), &req, &status);
        g_assert_cmpint(got, ==, rows[i].want);
        if (got == HTTP_COMPLETE) {
            g_assert_cmpstr(req.method, ==, rows[i].method);
            g_assert_cmpstr(req.path, ==, rows[i].path);
        }
        if (got == HTTP_ERROR)
            g_assert_cmpint(status, ==, rows[i].status);
    }
}

static void test_limits(void)
{
    HttpRequest req;
    int status = 0;
    /* a header that never ends: refused at 8 KiB, not buffered for ever */
    g_autofree char *endless = g_strnfill(HTTP_MAX_REQUEST, 'x');
    g_assert_cmpint(http_request(endless, HTTP_MAX_REQUEST - 1, &req, &status), ==, HTTP_INCOMPLETE);
    g_assert_cmpint(http_request(endless, HTTP_MAX_REQUEST, &req, &status), ==, HTTP_ERROR);
    g_assert_cmpint(status, ==, 431);
    /* a path longer than we keep */
    g_autofree char *long_path = g_strnfill(HTTP_MAX_PATH + 10, 'a');
    g_autofree char *line = g_strdup_printf("GET /%s HTTP/1.1\r\n\r\n", long_path);
    g_assert_cmpint(http_request(line, strlen(line), &req, &status), ==, HTTP_ERROR);
    g_assert_cmpint(status, ==, 414);
    /* a NUL byte */
    const char nul[] = "GET /met\0rics HTTP/1.1\r\n\r\n";
    g_assert_cmpint(http_request(nul, sizeof nul - 1, &req, &status), ==, HTTP_ERROR);
    g_assert_cmpint(status, ==, 400);
}

static void test_reply(void)
{
    g_autoptr(GString) out = g_string_new(NULL);
    http_reply(out, 200, "text/plain", "abc", 3, FALSE);
    g_assert_cmpstr(out->str, ==, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
                                  "Connection: close\r\n\r\nabc");
    g_string_truncate(out, 0);
    http_reply(out, 405, "text/plain", "405\n", 4, TRUE);
    g_assert_cmpstr(out->str, ==, "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
                                  "Allow: GET, HEAD\r\nConnection: close\r\n\r\n");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/http/requests", test_requests);
    g_test_add_func("/http/limits", test_limits);
    g_test_add_func("/http/reply", test_reply);
    return g_test_run();
}

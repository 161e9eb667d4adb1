/*
 * adminpages.c - the HTTP pages of metrics_listen: /metrics, /explain,
 * /entries, /report, /suggest and /tlsrpt, one request a connection; see
 * serverstate.h.
 */
#include "serverstate.h"

#include <string.h>

#include "escape.h"
#include "http.h"
#include "logging.h"

/* The keys of the list being served, for the report's "never seen"
 * (NULL for lists too big to walk while requests wait). */
#define REPORT_MAX_KEYS 100000
static List *list_keys(Server *s)
{
    if (store_reader_entries(s->list) == 0 || store_reader_entries(s->list) > REPORT_MAX_KEYS)
        return NULL;
    List *list = list_new(store_reader_path(s->list));
    if (!store_load(store_reader_path(s->list), list, NULL)) {
        list_free(list);
        return NULL;
    }
    return list;
}

/* GET /entries, /report, /suggest?min=N&level=L */
static void ledger_page(Server *s, const HttpRequest *req, GString *body, int *status)
{
    OutLedger *out = s->outbound ? outbound_ledger(s->outbound) : NULL;
    if (strcmp(req->path, "/entries") == 0) {
        ledger_format_json(s->ledger, body);
        if (out) {  /* the inbound object gains "outbound" as its last member */
            g_string_truncate(body, body->len - 2);
            g_string_append(body, ",\"outbound\":");
            outledger_format_json(out, body);
            g_string_append(body, "}\n");
        }
        return;
    }
    if (strcmp(req->path, "/report") == 0) {
        g_autoptr(List) list = list_keys(s);
        g_autoptr(GPtrArray) keys = g_ptr_array_new();
        for (guint i = 0; list && i < list->records->len; i++) {
            const char *key = g_array_index(list->records, ListRecord, i).key;
            if (!out || !outledger_has_key(out, key))  /* seen outbound is seen */
                g_ptr_array_add(keys, (char *)key);
        }
        ledger_format_report(s->ledger, list ? keys : NULL, body);
        if (out)
            outledger_format_report(out, body);
        return;
    }
    char min[16] = "100", level[16] = "encrypt", direction[16] = "inbound";
    http_query_value(req->query, "min", min, sizeof min);
    http_query_value(req->query, "level", level, sizeof level);
    http_query_value(req->query, "direction", direction, sizeof direction);
    TlsLevel l;
    guint64 sessions;
    if (!g_ascii_string_to_unsigned(min, 10, 1, 1000000000, &sessions, NULL)) {
        *status = 400;
        g_string_append(body, "min must be a number of sessions from 1 to 1000000000\n");
        return;
    }
    if (!entry_level_parse(level, &l) || (l != LEVEL_ENCRYPT && l != LEVEL_VERIFY && l != LEVEL_SECURE)) {
        *status = 400;
        g_string_append(body, "level must be encrypt, verify or secure\n");
        return;
    }
    if (strcmp(direction, "outbound") == 0 && !out) {
        *status = 404;
        g_string_append(body, "no outbound evidence: maillog is not set (tlspolicyd.conf(5))\n");
    } else if (strcmp(direction, "outbound") == 0) {
        if (*s->config->relayhost)  /* every delivery went to the relay: its TLS was seen, not the domains' */
            g_string_append_printf(body, "# note: mail leaves through relayhost %s: the TLS seen is the relay's, "
                                         "not each domain's own servers'\n", s->config->relayhost);
        outledger_format_suggest(out, (guint)sessions, l, body);
    } else if (strcmp(direction, "inbound") == 0) {
        ledger_format_suggest(s->ledger, (guint)sessions, l, body);
    } else {
        *status = 400;
        g_string_append(body, "direction must be inbound or outbound\n");
    }
}

/* GET /tlsrpt?domain=D: the domain's TLS-RPT report for the day so far. */
static void tlsrpt_page(Server *s, const HttpRequest *req, GString *body, int *status)
{
    char domain[256] = "";
    http_query_value(req->query, "domain", domain, sizeof domain);
    for (char *p = domain; *p; p++)
        *p = g_ascii_tolower(*p);
    g_autofree char *json = s->outbound ? outbound_tlsrpt_report(s->outbound, s->config, domain) : NULL;
    if (json) {
        g_string_append(body, json);
        return;
    }
    *status = 404;
    if (!s->outbound || !outbound_tlsrpt(s->outbound))
        g_string_append(body, "no TLS-RPT reports: tlsrpt is off, or maillog is not set (tlspolicyd.conf(5))\n");
    else
        g_string_append_printf(body, "no TLS session with %s counted today (UTC)\n", *domain ? domain : "(no domain=)");
}

/* GET /explain?address=ADDRESS: what the socketmap answers for it and
 * why, source by source (tlspolicyd --explain).  Starts the lookups it
 * needs, like a real query; not counted as a route, but counted and
 * logged as an explain, since whoever reaches the admin port makes the
 * daemon look up names of their choosing. */
static void explain_page(Server *s, const HttpRequest *req, GString *body)
{
    char escaped[3 * KEY_MAX] = "";
    http_query_value(req->query, "address", escaped, sizeof escaped);
    g_autofree char *address = g_uri_unescape_string(escaped, NULL);
    if (!address || strchr(address, '\n')) {
        g_string_append(body, "address: not a valid address\n");
        return;
    }
    g_autofree char *request = g_strdup_printf("%s %s", s->config->socketmap_name, address);
    RouteDecision route;
    connection_route(s, request, &route);
    s->count.explains++;
    /* the address and what DNS said reach a terminal and the log: escaped;
     * tlspolicyd --explain asks again every 50 ms while a lookup is
     * pending, so one address is logged once in EXPLAIN_LOG_EVERY_MS */
    char shown[2 * sizeof route.explain], reply[2 * sizeof route.reply];
    if (g_strcmp0(s->explain_logged, address) != 0 || now_ms(s) >= s->explain_logged_at + EXPLAIN_LOG_EVERY_MS) {
        g_message("explain: address=\"%s\" reply=\"%s\"", text_escape(address, shown, LOG_VALUE_MAX),
                  text_escape(route.reply, reply, sizeof reply));
        g_free(s->explain_logged);
        s->explain_logged = g_strdup(address);
        s->explain_logged_at = now_ms(s);
    }
    g_string_append_printf(body, "address: %s\n", text_escape(address, shown, sizeof shown));
    g_string_append_printf(body, "sources: %s\n",
                           *route.explain ? text_escape(route.explain, shown, sizeof shown)
                                        : "list only (DANE/MTA-STS not consulted)");
    g_string_append_printf(body, "reason: %s\n", route.reason);
    g_string_append_printf(body, "answer: %s\n", text_escape(route.reply, shown, sizeof shown));
}

/* HTTP (metrics_listen): one request, one reply, then close. */
gboolean adminpages_answer(Server *s, Connection *c)
{
    HttpRequest req;
    int status = 200;
    HttpFrame st = http_request(c->in, c->in_len, &req, &status);
    if (st == HTTP_INCOMPLETE)
        return TRUE;
    c->in_len = 0;
    c->close_after_write = TRUE;
    gboolean head = st == HTTP_COMPLETE && strcmp(req.method, "HEAD") == 0;
    if (st == HTTP_ERROR) {
        s->count.protocol_errors++;
    } else if (strcmp(req.method, "GET") != 0 && !head) {
        status = 405;
    } else if (strcmp(req.path, "/metrics") == 0) {
        g_autoptr(GString) body = g_string_sized_new(8192);
        MetricsGauges g = server_gauges(s);
        metrics_format(&s->count, &g, body);
        http_reply(c->out, 200, "text/plain; version=0.0.4; charset=utf-8", body->str, body->len, head);
        return connection_flush(s, c);
    } else if (strcmp(req.path, "/explain") == 0) {
        g_autoptr(GString) body = g_string_new(NULL);
        explain_page(s, &req, body);
        http_reply(c->out, 200, "text/plain; charset=utf-8", body->str, body->len, head);
        return connection_flush(s, c);
    } else if (strcmp(req.path, "/tlsrpt") == 0) {
        g_autoptr(GString) body = g_string_new(NULL);
        tlsrpt_page(s, &req, body, &status);
        const char *type = status == 200 ? "application/tlsrpt+json" : "text/plain; charset=utf-8";
        http_reply(c->out, status, type, body->str, body->len, head);
        return connection_flush(s, c);
    } else if (strcmp(req.path, "/entries") == 0 || strcmp(req.path, "/report") == 0
               || strcmp(req.path, "/suggest") == 0) {
        g_autoptr(GString) body = g_string_sized_new(8192);
        ledger_page(s, &req, body, &status);
        const char *type = req.path[1] == 'e' && status == 200 ? "application/json" : "text/plain; charset=utf-8";
        http_reply(c->out, status, type, body->str, body->len, head);
        return connection_flush(s, c);
    } else {
        status = 404;
    }
    char text[64];
    int len = g_snprintf(text, sizeof text, "%d\n", status);
    http_reply(c->out, status, "text/plain; charset=utf-8", text, (size_t)len, head);
    return connection_flush(s, c);
}


/*
 * verdictlog.c - decision and route log lines; see verdictlog.h.
 */
#include "verdictlog.h"

#include "escape.h"
#include "logging.h"

/* Appends s escaped (see text_escape()) to line. */
static void append_escaped(GString *line, const char *s, size_t max)
{
    char buf[LOG_VALUE_MAX * 2];
    g_string_append(line, text_escape(s, buf, MIN(max, sizeof buf)));
}

/* Lines are put together by hand: they are written for every refusal,
 * and printf-style formatting of a dozen values was much of their cost. */
static void append_key_level_reason(GString *line, const char *key, TlsLevel level, const char *reason)
{
    g_string_append(line, " key=");
    g_string_append(line, key[0] ? key : "-");
    g_string_append(line, " level=");
    g_string_append(line, key[0] || level != LEVEL_NONE ? entry_level_name(level) : "-");  /* the effective one */
    g_string_append(line, " reason=\"");
    g_string_append(line, reason);
}

gboolean verdictlog_policy_changes_flow(const Decision *d)
{
    return d->verdict != VERDICT_DUNNO || d->report;
}

const char *verdictlog_format_policy(GString *line, const PolicyRequest *req, const Decision *d)
{
    const char *what = d->report ? "report" : decide_verdict_name(d->verdict);
    g_string_assign(line, what);
    g_string_append(line, ": queue_id=");
    append_escaped(line, *req->queue_id ? req->queue_id : "NOQUEUE", 64);
    /* Postfix has no queue id at the first RCPT: the session's instance
     * groups every line of one message */
    g_string_append(line, " instance=");
    append_escaped(line, *req->instance ? req->instance : "-", 64);
    g_string_append(line, d->direction == DIRECTION_OUTBOUND ? " direction=outbound client=" : " direction=inbound client=");
    append_escaped(line, *req->client_name ? req->client_name : "unknown", LOG_VALUE_MAX);
    g_string_append_c(line, '[');
    append_escaped(line, req->client_address, 64);
    g_string_append(line, "] sender=<");
    append_escaped(line, req->sender, LOG_VALUE_MAX);
    g_string_append(line, "> recipient=<");
    append_escaped(line, req->recipient, LOG_VALUE_MAX);
    g_string_append_c(line, '>');
    append_key_level_reason(line, d->key, d->level, d->reason);
    if (d->detail[0]) {  /* it may quote the request (protocol, cipher, certificate) */
        g_string_append(line, " (");
        append_escaped(line, d->detail, sizeof d->detail);
        g_string_append_c(line, ')');
    }
    g_string_append(line, d->report ? "\" action=\"would have been: " : "\" action=\"");
    append_escaped(line, d->report ? decide_verdict_name(d->would) : d->action, LOG_VALUE_MAX * 2);
    g_string_append_c(line, '"');
    return what;
}

gboolean verdictlog_route_changes_flow(const RouteDecision *d)
{
    /* a fallback for a pending or failed lookup is the admin's choice
     * (on_lookup_pending, on_lookup_failure): always said */
    return d->status != ROUTE_NOTFOUND || d->report || d->sts_testing || d->fallback != FALLBACK_NONE;
}

const char *verdictlog_format_route(GString *line, const char *request, const RouteDecision *d)
{
    const char *what = d->report                   ? "report"
                       : d->status == ROUTE_OK     ? "route"
                       : d->sts_testing            ? "report"
                       : d->status == ROUTE_TEMP   ? "tempfail"
                                                   : "lookup";
    g_string_assign(line, what);
    g_string_append(line, ": socketmap query=\"");
    append_escaped(line, request, LOG_VALUE_MAX);
    g_string_append_c(line, '"');
    append_key_level_reason(line, d->key, d->level, d->reason);
    g_string_append(line, d->report ? "\" reply=\"would have been: " : "\" reply=\"");
    g_string_append(line, d->report ? d->would : d->reply);
    g_string_append_c(line, '"');
    if (*d->explain) {
        g_string_append(line, " sources=\"");
        append_escaped(line, d->explain, sizeof d->explain);
        g_string_append_c(line, '"');
    }
    return what;
}

/* One reused buffer: the daemon has one thread. */
static GString *line_buffer(void)
{
    static GString *line;
    if (!line)
        line = g_string_sized_new(1024);
    return line;
}

static void emit(const GString *line, gboolean changes_flow, const char *what)
{
    g_log_structured(G_LOG_DOMAIN, changes_flow ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_DEBUG, "TLSPOLICYD_VERDICT",
                     what, "MESSAGE", "%s", line->str);
}

void verdictlog_policy(const PolicyRequest *req, const Decision *d)
{
    gboolean changes_flow = verdictlog_policy_changes_flow(d);
    if (!changes_flow && !logging_is_verbose())
        return;
    GString *line = line_buffer();
    emit(line, changes_flow, verdictlog_format_policy(line, req, d));
}

void verdictlog_route(const char *request, const RouteDecision *d, gboolean always)
{
    gboolean changes_flow = always || verdictlog_route_changes_flow(d);
    if (!changes_flow && !logging_is_verbose())
        return;
    GString *line = line_buffer();
    emit(line, changes_flow, verdictlog_format_route(line, request, d));
}

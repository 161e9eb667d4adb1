/*
 * metrics.c - counters and the Prometheus exposition; see metrics.h.
 */
#include "metrics.h"

#include "logging.h"

#include <string.h>

static const double bucket_bounds[METRICS_LATENCY_BUCKETS] = {
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01,
};

static void count_latency(Metrics *m, int socketmap, gint64 elapsed_us)
{
    double seconds = (double)elapsed_us / 1e6;
    guint b = 0;
    while (b < METRICS_LATENCY_BUCKETS && seconds > bucket_bounds[b])
        b++;
    m->latency[socketmap][b]++;
    m->latency_sum[socketmap] += seconds;
}

void metrics_count_decision(Metrics *m, const Decision *d, gint64 elapsed_us)
{
    int outbound = d->direction == DIRECTION_OUTBOUND;
    m->decisions[outbound][d->report ? METRICS_VERDICTS - 1 : (int)d->verdict]++;
    if (d->verdict == VERDICT_REJECT || (d->report && d->would == VERDICT_REJECT))
        m->refusals[d->refusal]++;
    count_latency(m, 0, elapsed_us);
}

void metrics_count_route(Metrics *m, const RouteDecision *d, gint64 elapsed_us)
{
    m->routes[d->report ? METRICS_ROUTE_RESULTS - 1 : (int)d->status]++;
    m->fallbacks[d->fallback]++;
    count_latency(m, 1, elapsed_us);
}

void metrics_count_session(Metrics *m, const char *protocol)
{
    static const char *const names[] = {"TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1"};
    SessionProtocol p = *protocol ? SESSION_OTHER : SESSION_NONE;
    for (guint i = 0; i < G_N_ELEMENTS(names) && p == SESSION_OTHER; i++) {
        if (strcmp(protocol, names[i]) == 0)
            p = (SessionProtocol)i;
    }
    m->inbound_sessions[p]++;
}

guint64 metrics_total_decisions(const Metrics *m)
{
    guint64 n = 0;
    for (int o = 0; o < 2; o++)
        for (int v = 0; v < METRICS_VERDICTS; v++)
            n += m->decisions[o][v];
    return n;
}

static void family(GString *out, const char *name, const char *type, const char *help)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one unlabelled sample. */
static void sample(GString *out, const char *name, const char *type, const char *help, guint64 value)
{
    family(out, name, type, help);
    g_string_append_printf(out, "%s %" G_GUINT64_FORMAT "\n", name, value);
}

/* The delivery log reader (maillog): only when it is on. */
static void format_maillog(GString *out, const MetricsGauges *g)
{
    const OutboundCounts *c = &g->outbound;
    sample(out, "tlspolicyd_maillog_lines_total", "counter",
           "Lines read from Postfix's delivery log (maillog).", c->lines);
    sample(out, "tlspolicyd_maillog_lines_unparsed_total", "counter",
           "Lines of Postfix's smtp client that are no TLS or delivery line tlspolicyd knows.", c->unparsed);
    sample(out, "tlspolicyd_maillog_lines_too_long_total", "counter",
           "Lines longer than 8 KiB, skipped.", c->long_lines);
    sample(out, "tlspolicyd_maillog_behind_bytes", "gauge", "Bytes of the delivery log not read yet.", c->behind_bytes);
    family(out, "tlspolicyd_maillog_lag_seconds", "gauge",
           "Now minus the newest smtp client line's own timestamp (idle Postfix: grows; -1: none read yet).");
    g_string_append_printf(out, "tlspolicyd_maillog_lag_seconds %.0f\n",
                           c->last_line_time ? g->now - (double)c->last_line_time : -1.0);
    sample(out, "tlspolicyd_outbound_deliveries_total", "counter",
           "Delivery lines counted in the outbound ledger (content filter hops left out).", c->deliveries);
    sample(out, "tlspolicyd_outbound_hops_total", "counter",
           "Delivery lines to a content filter on loopback, not counted.", c->hops);
    family(out, "tlspolicyd_outbound_sessions_total", "counter",
           "Deliveries with a session, by RFC 8460 result type (none: TLS met what the transport asked).");
    for (int r = 0; r < RESULT_COUNT; r++)
        g_string_append_printf(out, "tlspolicyd_outbound_sessions_total{result=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               delivery_result_name((TlsResult)r), c->results[r]);
}

/* TLS-RPT (tlsrpt): only when it is on. */
static void format_tlsrpt(GString *out, const TlsrptCounts *c, const TlsrptSendCounts *sent)
{
    const struct {
        const char *name, *help;
        guint64 value;
    } rows[] = {
        {"tlspolicyd_tlsrpt_sessions_total", "TLS sessions counted into a TLS-RPT report.", c->sessions},
        {"tlspolicyd_tlsrpt_sessions_dropped_total", "Sessions not reported: the day's domains were full.",
         c->sessions_dropped},
        {"tlspolicyd_tlsrpt_details_dropped_total", "Failures in a summary only: the policy's details were full.",
         c->details_dropped},
        {"tlspolicyd_tlsrpt_reports_written_total", "Daily reports written (tlsrpt = dry-run).", c->reports_written},
        {"tlspolicyd_tlsrpt_reports_failed_total", "Daily reports that could not be written.", c->reports_failed},
        {"tlspolicyd_tlsrpt_sent_total", "Reports a domain's https: rua= collector accepted (2xx).", sent->https_sent},
        {"tlspolicyd_tlsrpt_failed_total", "Reports an https: collector refused, or that could not reach it.",
         sent->https_failed},
        {"tlspolicyd_tlsrpt_mailed_total", "Reports for mailto: destinations queued by the local Postfix (tlsrpt_submit).",
         sent->mailed},
        {"tlspolicyd_tlsrpt_mail_failed_total", "Reports for mailto: destinations the local Postfix did not queue.",
         sent->mail_failed},
        {"tlspolicyd_tlsrpt_no_record_total", "Reports not sent: the domain publishes no usable _smtp._tls record.",
         sent->no_record},
        {"tlspolicyd_tlsrpt_lookup_failed_total", "Reports not sent: the _smtp._tls lookup failed or was bogus.",
         sent->lookup_failed},
        {"tlspolicyd_tlsrpt_queue_dropped_total", "Reports not sent: the send queue was full.", sent->dropped},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++)
        sample(out, rows[i].name, "counter", rows[i].help, rows[i].value);
}

void metrics_format(const Metrics *m, const MetricsGauges *g, GString *out)
{
    static const char *const verdicts[METRICS_VERDICTS] = {"dunno", "filter", "reject", "split", "tempfail", "report"};
    static const char *const directions[2] = {"inbound", "outbound"};
    static const char *const sessions[SESSION_COUNT] = {"TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "other", "none"};
    static const char *const routes[METRICS_ROUTE_RESULTS] = {"ok", "notfound", "temp", "perm", "report"};
    static const char *const services[2] = {"policy", "socketmap"};

    family(out, "tlspolicyd_decisions_total", "counter",
           "Policy service decisions by direction and verdict (report: a report-mode entry's would-be decision).");
    for (int o = 0; o < 2; o++)
        for (int v = 0; v < METRICS_VERDICTS; v++)
            g_string_append_printf(out, "tlspolicyd_decisions_total{direction=\"%s\",verdict=\"%s\"} %" G_GUINT64_FORMAT "\n",
                                   directions[o], verdicts[v], m->decisions[o][v]);
    family(out, "tlspolicyd_refusals_total", "counter",
           "Inbound refusals (enforced or report-mode) by what the session lacked.");
    for (int r = REFUSAL_NO_TLS; r < REFUSAL_COUNT; r++)
        g_string_append_printf(out, "tlspolicyd_refusals_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               decide_refusal_name((Refusal)r), m->refusals[r]);
    family(out, "tlspolicyd_inbound_sessions_total", "counter",
           "Inbound mail transactions (first recipient of each Postfix instance) by TLS protocol.");
    for (int p = 0; p < SESSION_COUNT; p++)
        g_string_append_printf(out, "tlspolicyd_inbound_sessions_total{protocol=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               sessions[p], m->inbound_sessions[p]);
    family(out, "tlspolicyd_routes_total", "counter", "Socketmap (transport_maps) answers by result.");
    for (int r = 0; r < METRICS_ROUTE_RESULTS; r++)
        g_string_append_printf(out, "tlspolicyd_routes_total{result=\"%s\"} %" G_GUINT64_FORMAT "\n", routes[r],
                               m->routes[r]);
    static const char *const causes[FALLBACK_COUNT][2] = {
        {"", ""}, {"pending", "temp"}, {"pending", "list"}, {"failed", "temp"}, {"failed", "list"}};
    family(out, "tlspolicyd_route_fallbacks_total", "counter",
           "Socketmap answers given while a DANE/MTA-STS lookup was pending or had failed, by the choice applied "
           "(on_lookup_pending, on_lookup_failure).");
    for (int f = FALLBACK_PENDING_TEMP; f < FALLBACK_COUNT; f++)
        g_string_append_printf(out, "tlspolicyd_route_fallbacks_total{cause=\"%s\",choice=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               causes[f][0], causes[f][1], m->fallbacks[f]);
    sample(out, "tlspolicyd_log_lines_dropped_total", "counter",
           "Log lines dropped because the log was written slower than they came (the queue holds 1 MiB).",
           logging_dropped_total());
    static const char *const outcomes[] = {"failed", "none", "found"};
    family(out, "tlspolicyd_dane_lookups_total", "counter",
           "Finished DANE lookups (MX, then TLSA per MX host) by outcome.");
    for (int o = SOURCE_FAILED; o <= SOURCE_FOUND; o++)
        g_string_append_printf(out, "tlspolicyd_dane_lookups_total{result=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               outcomes[o - SOURCE_FAILED], g->destinations.dane[o]);
    family(out, "tlspolicyd_mta_sts_lookups_total", "counter",
           "Finished MTA-STS lookups (TXT, then the policy when its id is new) by outcome.");
    for (int o = SOURCE_FAILED; o <= SOURCE_FOUND; o++)
        g_string_append_printf(out, "tlspolicyd_mta_sts_lookups_total{result=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               outcomes[o - SOURCE_FAILED], g->destinations.sts[o]);
    sample(out, "tlspolicyd_mta_sts_fetches_total", "counter",
           "MTA-STS policy fetches over HTTPS.", g->destinations.fetches);
    sample(out, "tlspolicyd_mta_sts_fetch_failures_total", "counter",
           "MTA-STS policy fetches that failed (connection, certificate, HTTP, size, time, an invalid policy).",
           g->destinations.fetch_failures);
    sample(out, "tlspolicyd_destinations_cached", "gauge",
           "Recipient domains whose DANE/MTA-STS answers are cached.", g->destinations.domains);
    sample(out, "tlspolicyd_destination_lookups_in_flight", "gauge",
           "Recipient domains with DANE/MTA-STS lookups in flight.", g->destinations.in_flight);
    sample(out, "tlspolicyd_destination_lookups_deferred_total", "counter",
           "Unlisted domains answered as pending without a lookup: destination_max_lookups were in flight.",
           g->destinations.lookups_deferred);
    sample(out, "tlspolicyd_mta_sts_fetches_deferred_total", "counter",
           "MTA-STS policy fetches put off for a few seconds: every fetch slot was taken.",
           g->destinations.fetches_deferred);
    sample(out, "tlspolicyd_destinations_evicted_total", "counter",
           "Domains dropped from the full DANE/MTA-STS cache, least recently used first.", g->destinations.evicted);
    family(out, "tlspolicyd_decision_duration_seconds", "histogram",
           "Time to decide one policy request or socketmap lookup, list lookup included.");
    for (int s = 0; s < 2; s++) {
        guint64 cumulative = 0;
        for (int b = 0; b <= METRICS_LATENCY_BUCKETS; b++) {
            cumulative += m->latency[s][b];
            if (b < METRICS_LATENCY_BUCKETS)
                g_string_append_printf(out, "tlspolicyd_decision_duration_seconds_bucket{service=\"%s\",le=\"%g\"} %"
                                       G_GUINT64_FORMAT "\n", services[s], bucket_bounds[b], cumulative);
            else
                g_string_append_printf(out, "tlspolicyd_decision_duration_seconds_bucket{service=\"%s\",le=\"+Inf\"} %"
                                       G_GUINT64_FORMAT "\n", services[s], cumulative);
        }
        g_string_append_printf(out, "tlspolicyd_decision_duration_seconds_sum{service=\"%s\"} %.9f\n", services[s],
                               m->latency_sum[s]);
        g_string_append_printf(out, "tlspolicyd_decision_duration_seconds_count{service=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               services[s], cumulative);
    }
    sample(out, "tlspolicyd_protocol_errors_total", "counter",
           "Connections closed for a malformed or oversize request, or a read timeout.", m->protocol_errors);
    sample(out, "tlspolicyd_connections_accepted_total", "counter", "Connections accepted.", m->connections);
    sample(out, "tlspolicyd_connections_refused_total", "counter",
           "Connections refused at max_connections.", m->refused_connections);
    sample(out, "tlspolicyd_admin_connections_refused_total", "counter",
           "Connections to metrics_listen refused at its own limit of 32.", m->refused_admin_connections);
    sample(out, "tlspolicyd_explain_requests_total", "counter",
           "/explain requests (tlspolicyd --explain); each starts the lookups it needs and is logged.", m->explains);
    sample(out, "tlspolicyd_connections", "gauge", "Connections open now.", g->open_connections);
    sample(out, "tlspolicyd_list_entries", "gauge",
           "Records (keys) in the list being served; 0 without one.", g->list_entries);
    family(out, "tlspolicyd_list_loaded_timestamp_seconds", "gauge",
           "When the list being served was mapped (Unix time); 0 without one.");
    g_string_append_printf(out, "tlspolicyd_list_loaded_timestamp_seconds %.3f\n", g->list_loaded);
    sample(out, "tlspolicyd_list_usable", "gauge",
           "1 when the list can be read, 0 when answers follow on_list_error.", g->list_usable ? 1 : 0);
    sample(out, "tlspolicyd_list_errors_total", "counter",
           "Times the list became unusable (missing, damaged, changed in place).", m->list_errors);
    family(out, "tlspolicyd_start_time_seconds", "gauge", "When the daemon started (Unix time).");
    g_string_append_printf(out, "tlspolicyd_start_time_seconds %.3f\n", g->start_time);
    if (g->maillog)
        format_maillog(out, g);
    if (g->tlsrpt)
        format_tlsrpt(out, &g->reports, &g->sends);
}

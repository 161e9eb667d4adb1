/*
 * metrics.h - the daemon's counters and their Prometheus text exposition
 * (GET /metrics on metrics_listen; SIGUSR1's counters line).  server.c
 * counts; every metric is documented in tlspolicyd(8).  Label values are
 * fixed sets: nothing from a request becomes a label.
 */
#ifndef TLSPOLICYD_METRICS_H
#define TLSPOLICYD_METRICS_H

#include "decide.h"
#include "outbound.h"

typedef enum { SESSION_TLS13, SESSION_TLS12, SESSION_TLS11, SESSION_TLS10, SESSION_OTHER, SESSION_NONE,
               SESSION_COUNT } SessionProtocol;
#define METRICS_VERDICTS 6          /* the five Verdicts and "report" */
#define METRICS_ROUTE_RESULTS 5     /* ok notfound temp perm report */
#define METRICS_LATENCY_BUCKETS 10

typedef struct {
    guint64 decisions[2][METRICS_VERDICTS];  /* [outbound?][verdict] */
    guint64 refusals[REFUSAL_COUNT];         /* enforced and report-mode */
    guint64 inbound_sessions[SESSION_COUNT];
    guint64 routes[METRICS_ROUTE_RESULTS];
    guint64 fallbacks[FALLBACK_COUNT];       /* DANE/MTA-STS pending or failed */
    guint64 protocol_errors, connections, refused_connections, list_errors;
    guint64 refused_admin_connections;       /* at ADMIN_MAX_CONNECTIONS (metrics_listen) */
    guint64 explains;                        /* /explain requests */
    guint64 latency[2][METRICS_LATENCY_BUCKETS + 1];  /* [socketmap?][bucket], +Inf last */
    double latency_sum[2];
} Metrics;

/* What the server knows at the moment of a scrape. */
typedef struct {
    guint open_connections;
    guint64 list_entries;
    double list_loaded;      /* Unix time, 0: no list */
    gboolean list_usable;
    double start_time;
    DestinationCounts destinations;  /* DANE/MTA-STS lookups */
    gboolean maillog;                /* Postfix's delivery log is followed */
    OutboundCounts outbound;
    gboolean tlsrpt;                 /* TLS-RPT reports are made */
    TlsrptCounts reports;
    TlsrptSendCounts sends;          /* tlsrpt = send */
    double now;                      /* Unix time of the scrape */
} MetricsGauges;

void metrics_count_decision(Metrics *m, const Decision *d, gint64 elapsed_us);
void metrics_count_route(Metrics *m, const RouteDecision *d, gint64 elapsed_us);
/* The first request of an inbound mail transaction, by its TLS protocol. */
void metrics_count_session(Metrics *m, const char *encryption_protocol);

/* The exposition (text format 0.0.4), appended to out. */
void metrics_format(const Metrics *m, const MetricsGauges *g, GString *out);

guint64 metrics_total_decisions(const Metrics *m);

#endif

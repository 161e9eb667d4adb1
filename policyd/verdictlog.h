/*
 * verdictlog.h - the one greppable line per decision.
 *
 * Every policy decision and socketmap answer that changes the mail flow
 * (a refusal, a route, a deferral, a report-mode "would have") is logged
 * at info level with TLSPOLICYD_VERDICT=<what> in the journal; the rest
 * (DUNNO, NOTFOUND) only with verbose logging.  Request values are
 * escaped (escape.h) and bounded.  server.c calls the log functions; the
 * format functions are what the tests read.
 *
 *   reject: queue_id=NOQUEUE instance=1a2b.5f3c1e.0 direction=inbound
 *     client=mx.example[192.0.2.1] sender=<a@bank.example> recipient=<b@here>
 *     key=bank.example level=encrypt reason="..." action="550 5.7.1 ..."
 *   route: socketmap query="transport bob@bank.example" key=bank.example
 *     level=verify reason="..." reply="OK tls-verify:"
 */
#ifndef TLSPOLICYD_VERDICTLOG_H
#define TLSPOLICYD_VERDICTLOG_H

#include "decide.h"

/* The line for a decision into line (replacing its text); returns the
 * word after TLSPOLICYD_VERDICT ("reject", "report", "route"...). */
const char *verdictlog_format_policy(GString *line, const PolicyRequest *req, const Decision *d);
const char *verdictlog_format_route(GString *line, const char *request, const RouteDecision *d);

/* Does it change the mail flow (logged at info, not debug)? */
gboolean verdictlog_policy_changes_flow(const Decision *d);
gboolean verdictlog_route_changes_flow(const RouteDecision *d);

void verdictlog_policy(const PolicyRequest *req, const Decision *d);
/* always: at info even when it does not change the flow (said once). */
void verdictlog_route(const char *request, const RouteDecision *d, gboolean always);

#endif

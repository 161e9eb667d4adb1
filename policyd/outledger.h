/*
 * outledger.h - the outbound ledger: what listed and unlisted mail met
 * after routing, from Postfix's own delivery log (delivery.h).
 *
 * Two views of the same deliveries: per list entry (the key that
 * governed the recipient: its level and mode, and for mode=report what
 * enforcing the level would have done) and per recipient domain (listed
 * or not: the TLS seen, failures by RFC 8460 result type, and whether
 * every delivery met encrypt or verify - what --suggest --direction
 * outbound offers).  A delivery counts once per recipient line; sessions
 * and messages count their first line.  Hops to a content filter are not
 * deliveries: the caller leaves them out.
 *
 * Memory is bounded: at most max_keys entries and max_domains domains
 * (about 1.5 kB each); a delivery beyond them is counted as dropped.
 * The ledger lives in the state file beside the inbound one (groups
 * "outbound_entry N", "outbound_domain N"), saved and loaded with it.
 */
#ifndef TLSPOLICYD_OUTLEDGER_H
#define TLSPOLICYD_OUTLEDGER_H

#include "delivery.h"

#define OUTLEDGER_MAX_KEYS 10000
#define OUTLEDGER_MAX_DOMAINS 5000

typedef struct OutLedger OutLedger;

/* A delivery as the list saw it: key "" and entry NULL when unlisted;
 * for a report-mode entry, the prediction (delivery_predict). */
typedef struct {
    const Delivery *delivery;
    const char *domain;          /* the recipient's domain, lower case */
    const char *key;
    const Entry *entry;
    gboolean exempt;             /* unlisted for the ledger, but listed "none": never suggested */
    gboolean would_succeed;
    TlsResult would_result;
    const char *would_detail;
} OutboundRecord;

OutLedger *outledger_new(guint max_keys, guint max_domains);
void outledger_free(OutLedger *l);

void outledger_record(OutLedger *l, const OutboundRecord *r);

/* JSON object {"since":...,"entries":{...},"domains":{...}}. */
void outledger_format_json(const OutLedger *l, GString *out);

/* The outbound part of GET /report: per entry, enforced results and
 * report-mode predictions ("would succeed", "would bounce:
 * starttls-not-supported" with the first failure seen). */
void outledger_format_report(const OutLedger *l, GString *out);

/* GET /suggest?direction=outbound: unlisted recipient domains whose every
 * delivery, at least min_deliveries of them, met level. */
void outledger_format_suggest(const OutLedger *l, guint min_deliveries, TlsLevel level, GString *out);

/* A list key with deliveries counted (not "never seen"). */
gboolean outledger_has_key(const OutLedger *l, const char *key);

void outledger_save(OutLedger *l, GKeyFile *kf);
void outledger_load(OutLedger *l, GKeyFile *kf);
gboolean outledger_changed(const OutLedger *l);

#endif

/*
 * outbound.h - outbound evidence: Postfix's delivery log followed
 * (logfollow.h), its smtp client lines parsed (maillog.h) and joined
 * into deliveries (delivery.h), each attributed to the list entry that
 * governs its recipient and counted in the outbound ledger
 * (outledger.h); a listed recipient's delivery is logged with what it
 * met, and for a mode=report entry with what enforcing would have done:
 *
 *   delivery: queue_id=4F2A1 to=<bob@rep.example> relay=mx.rep.example[192.0.2.7]:25
 *     service=smtp key=rep.example level=encrypt mode=report status=sent tls=none
 *     result=starttls-not-supported would_be="would defer: starttls-not-supported (delivered in plaintext)"
 *
 * The server polls it (outbound_poll) with the list open; the position
 * in the log, the sessions not yet ended and the ledger are saved in
 * one state file together (outbound_save), so a restart counts each
 * line once.  A hop to a content filter (a relay on a loopback address
 * at another port than smtp_tcp_port) is no delivery and is not counted.
 */
#ifndef TLSPOLICYD_OUTBOUND_H
#define TLSPOLICYD_OUTBOUND_H

#include "config.h"
#include "destination.h"
#include "outledger.h"
#include "store.h"
#include "tlsrpt.h"
#include "tlsrptsend.h"

/* At most this much of the log per turn of the event loop: answers wait
 * while it is read.  64 KiB is about 330 lines, 0.7-0.9 ms at the 355k-
 * 475k lines/s bench/maillog.sh measured; a backlog is read a turn at a
 * time (the next turn comes at once). */
#define OUTBOUND_POLL_BYTES (64 * 1024)

typedef struct Outbound Outbound;

typedef struct {
    guint64 lines, unparsed, long_lines, deliveries, hops;
    guint64 results[RESULT_COUNT];  /* connected deliveries by TLS result */
    guint64 behind_bytes;
    gint64 last_line_time;          /* the newest line's own timestamp */
} OutboundCounts;

/* NULL when config->maillog is "" (off), or the journal cannot be
 * opened (*error).  maillog "journal": the system journal (sd-journal);
 * "journal:DIR": the journal files in DIR; else a file. */
Outbound *outbound_new(const Config *config, GError **error);
gboolean outbound_is_journal(const char *maillog, const char **directory);
void outbound_free(Outbound *o);

/* Read what Postfix logged since; list: open (store_reader_begin), never
 * NULL - without a list nothing can be attributed, so nothing is read.
 * TRUE when more is waiting. */
gboolean outbound_poll(Outbound *o, StoreReader *list, const Config *config, gint64 now);

/* A poll cut short (the list faulted in a lookup): the next one starts
 * at the first line not counted. */
void outbound_rewind(Outbound *o);

OutLedger *outbound_ledger(Outbound *o);
/* The day's TLS-RPT aggregate (tlsrpt.h), NULL with tlsrpt = off; the
 * domain's report so far as JSON, NULL when none. */
Tlsrpt *outbound_tlsrpt(Outbound *o);
TlsrptSender *outbound_tlsrpt_sender(Outbound *o);  /* NULL unless tlsrpt = send */
char *outbound_tlsrpt_report(Outbound *o, const Config *config, const char *domain);
/* Where the policies reported come from (destinations_peek). */
void outbound_use_destinations(Outbound *o, Destinations *destinations);
OutboundCounts outbound_counts(const Outbound *o);

/* The position, the open sessions and the ledger into kf; and back. */
void outbound_save(Outbound *o, GKeyFile *kf);
void outbound_load(Outbound *o, GKeyFile *kf);
gboolean outbound_changed(const Outbound *o);

#endif

/*
 * ledger.h - the compliance ledger: what each list entry's senders did,
 * and what unlisted senders did, since the ledger began.
 *
 * For a rollout an admin needs to know, before flipping mode=report to
 * enforce, who would be refused and why, which entries never matched,
 * and which unlisted domains already always meet a level.  server.c
 * records every inbound mail transaction (its first RCPT); the daemon
 * serves the ledger on metrics_listen (GET /entries as JSON, GET /report
 * and GET /suggest as text for tlspolicyd --report and --suggest) and
 * keeps it across restarts and reloads in a state file.
 *
 * Memory is bounded whatever the traffic: at most LEDGER_MAX_ENTRIES
 * list keys (a key beyond that is counted as dropped), and two
 * space-saving summaries (Metwally et al.) of LEDGER_TOP sending domains:
 * those below the global floor (report mode), and unlisted ones with their
 * compliance.  A space-saving counter's error says how much of its count
 * may belong to domains it replaced; --suggest uses only exact ones.
 */
#ifndef TLSPOLICYD_LEDGER_H
#define TLSPOLICYD_LEDGER_H

#include "decide.h"

/* 10,000 entries of ~400 bytes: at most 4 MB.  With 100,000, the bench's
 * million-entry list filled 40 MB of entries, and the allocation cost
 * (page faults) showed in the CPU per request. */
#define LEDGER_MAX_ENTRIES 10000
#define LEDGER_TOP 1000

typedef struct Ledger Ledger;

Ledger *ledger_new(guint max_entries, guint top);
void ledger_free(Ledger *ledger);

/* One inbound mail transaction (the first RCPT of a Postfix instance),
 * decided as d; now in Unix seconds. */
void ledger_record(Ledger *ledger, const PolicyRequest *req, const Decision *d, gint64 now);

/* GET /entries: the whole ledger as one JSON object. */
void ledger_format_json(const Ledger *ledger, GString *out);

/* GET /report: per entry (most would-be refusals first), entries of the
 * list never seen (list_keys: the keys of the list being served, may be
 * NULL), and the top senders below the global floor. */
void ledger_format_report(const Ledger *ledger, const GPtrArray *list_keys, GString *out);

/* GET /suggest: unlisted sending domains whose mail, over at least
 * min_messages transactions all counted exactly, always met level
 * (encrypt: TLS 1.2 or better without excluded ciphers; verify/secure:
 * also a verified client certificate), as list lines for tlsmap -i. */
void ledger_format_suggest(const Ledger *ledger, guint min_messages, TlsLevel level, GString *out);

/* The state file (GKeyFile, statefile.h), written atomically; loading
 * merges nothing: it replaces the ledger's contents.  A missing file is
 * no error.  ledger_to_keyfile() is the file's contents for a save off
 * the event loop; it counts as saved (ledger_changed() is FALSE after
 * it). */
GKeyFile *ledger_to_keyfile(Ledger *ledger);
gboolean ledger_save(Ledger *ledger, const char *path, GError **error);
gboolean ledger_load(Ledger *ledger, const char *path, GError **error);
gboolean ledger_changed(const Ledger *ledger);

#endif

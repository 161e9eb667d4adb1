/*
 * destination.h - what a recipient domain publishes about its own TLS:
 * DANE (DNSSEC-validated TLSA records on its MX hosts, RFC 7672) and
 * MTA-STS (RFC 8461), looked up without ever blocking the event loop and
 * cached.
 *
 * DNS runs through libunbound's asynchronous API (destinations_fd() is
 * watched by the server's epoll loop); the one HTTPS fetch of an MTA-STS
 * policy runs on a small worker pool that wakes the loop through
 * destinations_wake_fd().  destinations_get() answers at once from the
 * cache: a source still being looked up the first time is
 * SOURCE_PENDING, and the caller (decide_route) chooses TEMP or the list
 * level.  Expired answers are refreshed in the background and used until
 * the new ones arrive; an MTA-STS policy is used until its max_age, and
 * re-fetched when the TXT record's id changes (RFC 8461 3.3, 5.1).
 *
 * Outsiders choose the domains (every RCPT makes Postfix ask the
 * transport table, before its relay check), so nothing they can ask for
 * grows without bound or waits in line before a listed domain:
 *   - at most max_lookups unlisted domains, and as many listed ones, have
 *     lookups in flight; past that a new domain is answered
 *     SOURCE_PENDING at once and nothing is started (counted:
 *     lookups_deferred), and an expired answer is used until a later
 *     request finds room for its refresh;
 *   - at most max_domains domains are cached, in-flight ones included;
 *     eviction is least recently used first, in O(1), and takes domains
 *     that hold nothing binding before unlisted ones with a valid MTA-STS
 *     policy or validated TLSA records, and never takes a listed domain's
 *     entry for an unlisted one;
 *   - MTA-STS fetches of unlisted domains use at most FETCH_SLOTS_UNLISTED
 *     workers and never queue; listed domains have FETCH_SLOTS_LISTED more
 *     of their own;
 *   - validated TLSA records stay in force through DNS failures (RFC 7672
 *     2.2: a failed or bogus lookup never means "no DANE").
 */
#ifndef TLSPOLICYD_DESTINATION_H
#define TLSPOLICYD_DESTINATION_H

#include <glib.h>

#include "mtasts.h"

#define DANE_MAX_RECORDS 8  /* TLSA records kept for a domain's TLS-RPT policy-string */

typedef enum {
    SOURCE_OFF,      /* not asked for */
    SOURCE_PENDING,  /* first lookup not finished */
    SOURCE_FAILED,   /* no trustworthy answer (SERVFAIL, bogus, fetch failed) */
    SOURCE_NONE,     /* the domain publishes nothing (or nothing usable) */
    SOURCE_FOUND,    /* DANE: usable TLSA records; MTA-STS: a valid policy */
} SourceState;

typedef struct {
    SourceState dane;
    guint mx_total, mx_tlsa;
    gboolean dane_bogus;      /* the last DANE lookup failed validation (never "no DANE") */
    char dane_note[160];      /* "TLSA on 2 of 2 MX, DNSSEC secure", why none, what failed */
    char *const *tlsa_records;  /* when dane is SOURCE_FOUND: the usable records validated, in
                                 * presentation form ("3 1 1 0A1B..."), at most DANE_MAX_RECORDS */
    SourceState sts;
    const MtastsPolicy *policy;  /* when sts is SOURCE_FOUND, else NULL */
    char *const *mx_hosts;    /* the MX hosts as last looked up with MTA-STS (any DNSSEC
                               * status), for the policy's wildcards; NULL: not known */
    char sts_id[MTASTS_ID_MAX + 1];
    gint64 sts_expires;       /* wall-clock seconds: fetch time + max_age */
    char sts_note[160];
} DestinationPolicy;

/* Read by destinations_new(); the strings need not outlive it. */
typedef struct {
    const char *resolver;     /* dns.h: "" = /etc/resolv.conf */
    const char *trust_anchor;
    guint tlsa_port;          /* the port Postfix connects to: TLSA at _PORT._tcp.MX */
    const char *mta_sts_ca_file;  /* "" = the system's CAs */
    guint fetch_timeout_ms;
    gboolean private_hosts;   /* fetch from loopback and private addresses too */
    guint max_domains;        /* cache size, in-flight domains included */
    guint max_lookups;        /* domains with lookups in flight: unlisted, and listed */
} DestinationSettings;

typedef struct {
    guint64 dane[SOURCE_FOUND + 1];  /* finished lookups by outcome */
    guint64 sts[SOURCE_FOUND + 1];
    guint64 fetches, fetch_failures;
    guint64 lookups_deferred;        /* unlisted domains not looked up: max_lookups in flight */
    guint64 fetches_deferred;        /* policy fetches put off: no free fetch slot */
    guint64 evicted;                 /* domains dropped from the full cache */
    guint domains;                   /* in the cache */
    guint in_flight;                 /* domains with lookups in flight */
} DestinationCounts;

typedef struct Destinations Destinations;

Destinations *destinations_new(const DestinationSettings *settings, GError **error);
void destinations_free(Destinations *d);
int destinations_fd(Destinations *d);
int destinations_wake_fd(Destinations *d);
/* Deliver finished lookups (call when either descriptor is readable). */
void destinations_process(Destinations *d);

/* The domain's policy as known now (lower case, no trailing dot),
 * starting lookups for the sources asked for that are unknown or
 * expired.  listed: the domain is on the list, so its lookups never wait
 * for unlisted ones and its entry never makes room for an unlisted one.  The
 * pointer is valid until the next call into this module. */
const DestinationPolicy *destinations_get(Destinations *d, const char *domain, gboolean dane, gboolean sts,
                                          gboolean listed);

/* The domain's policy as known now, starting nothing and moving nothing
 * in the cache; NULL when it is not cached.  Valid as destinations_get's. */
const DestinationPolicy *destinations_peek(Destinations *d, const char *domain);

DestinationCounts destinations_counts(const Destinations *d);

/* MTA-STS policies across restarts (RFC 8461 5.1: a cached policy stays
 * in force until its max_age): every valid policy, with its id and fetch
 * time, to a key file (atomically), and back.  A loaded policy is used at
 * once; its TXT record is looked at on first use, as after any expiry.
 * destinations_changed() says whether a fetch has brought a new policy
 * since the last save. */
gboolean destinations_save(Destinations *d, const char *path, GError **error);
/* The same contents for a save off the event loop (statefile.h); it
 * counts as saved. */
GKeyFile *destinations_to_keyfile(Destinations *d);
gboolean destinations_load(Destinations *d, const char *path, GError **error);
gboolean destinations_changed(const Destinations *d);

#endif

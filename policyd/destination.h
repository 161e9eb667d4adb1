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
 */
#ifndef TLSPOLICYD_DESTINATION_H
#define TLSPOLICYD_DESTINATION_H

#include <glib.h>

#include "mtasts.h"

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
    char dane_note[160];      /* "TLSA on 2 of 2 MX, DNSSEC secure", why none, what failed */
    SourceState sts;
    MtastsPolicy policy;      /* when sts is SOURCE_FOUND */
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
    guint max_domains;        /* cache size */
} DestinationSettings;

typedef struct {
    guint64 dane[SOURCE_FOUND + 1];  /* finished lookups by outcome */
    guint64 sts[SOURCE_FOUND + 1];
    guint64 fetches, fetch_failures;
    guint domains;                   /* in the cache */
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
 * expired.  The pointer is valid until the next call into this module. */
const DestinationPolicy *destinations_get(Destinations *d, const char *domain, gboolean dane, gboolean sts);

DestinationCounts destinations_counts(const Destinations *d);

/* MTA-STS policies across restarts (RFC 8461 5.1: a cached policy stays
 * in force until its max_age): every valid policy, with its id and fetch
 * time, to a key file (atomically), and back.  A loaded policy is used at
 * once; its TXT record is looked at on first use, as after any expiry.
 * destinations_changed() says whether a fetch has brought a new policy
 * since the last save. */
gboolean destinations_save(Destinations *d, const char *path, GError **error);
gboolean destinations_load(Destinations *d, const char *path, GError **error);
gboolean destinations_changed(const Destinations *d);

const char *destination_source_name(SourceState state);

#endif

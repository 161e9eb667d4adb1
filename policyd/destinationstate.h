/*
 * destinationstate.h - the destination cache as its three modules share
 * it: destination.c (the cache: entries, eviction, the answers),
 * destdane.c (DANE lookups) and deststs.c (MTA-STS lookups, fetches, and
 * the policies kept across restarts).  Not for other modules:
 * destination.h is the contract.
 */
#ifndef TLSPOLICYD_DESTINATIONSTATE_H
#define TLSPOLICYD_DESTINATIONSTATE_H

#include <unbound.h>

#include "destination.h"
#include "dns.h"
#include "https.h"

#define DANE_MAX_HOSTS 8
#define TTL_MIN 5         /* seconds an answer is kept at least: a busy domain
                           * costs its lookups once per 5 s at most */
#define TTL_MAX 3600      /* and at most, before it is looked up again */
#define RETRY_AFTER 60    /* a failed lookup is tried again after this */
#define FETCH_SLOTS_UNLISTED 64  /* fetches of unlisted domains at once: 40
                                  * silent policy hosts cost 40 slots for one
                                  * mta_sts_timeout, and the 41st domain still
                                  * gets its fetch at once (t/hostile.t) */
#define FETCH_SLOTS_LISTED 8     /* more workers that only listed domains use */
#define FETCH_RETRY 5     /* no free fetch slot: the lookup is tried again after this */

/* The eviction lists, first evicted first. */
typedef enum {
    POOL_PLAIN,    /* unlisted, nothing binding: an answer to look up again */
    POOL_BINDING,  /* unlisted, a valid MTA-STS policy or validated TLSA */
    POOL_LISTED,   /* asked about as a listed domain */
    POOL_COUNT,
    POOL_BUSY = POOL_COUNT,  /* lookups in flight: on no list */
} Pool;

typedef struct Dest Dest;

/* One MX host of a DANE lookup in flight: the callbacks' data. */
typedef struct {
    Dest *dest;
    char *host;
    guint queries_left;        /* TLSA queries outstanding: 1, or 2 with a CNAME */
    gboolean tlsa, failed, bogus;
} MxHost;

struct Dest {
    Destinations *owner;       /* libunbound's callbacks get only the Dest */
    GList link;                /* in owner->idle[pool]; link.data is this Dest */
    Pool pool;
    gboolean listed;           /* sticky: once listed, never evicted for an unlisted domain */
    char *domain;
    DestinationPolicy p;       /* p.policy points at policy */
    MtastsPolicy *policy;      /* only with a valid policy: most domains have none */
    /* DANE in flight */
    gboolean dane_busy;
    gint64 dane_expires;       /* monotonic seconds; 0 = never looked up */
    MxHost *hosts;             /* hosts_total of them, while the lookup runs */
    guint hosts_left, hosts_failed, hosts_bogus, hosts_tlsa, hosts_total;
    int dane_ttl;
    char failed_host[128];
    GPtrArray *tlsa_found;     /* the usable records, while the lookup runs */
    char **tlsa_records;       /* p.tlsa_records: the last lookup's that found some */
    /* MTA-STS in flight */
    gboolean sts_busy;
    gboolean mx_busy;          /* the MX query beside the TXT one: what the wildcards match */
    char **mx_hosts;           /* p.mx_hosts; the last answer is kept through failures */
    gint64 sts_expires;        /* monotonic seconds: when to look at the TXT record again */
    char new_id[MTASTS_ID_MAX + 1];
    int txt_ttl;
};

typedef struct {
    Dest *dest;                /* only the main thread touches it */
    gboolean listed;           /* which slots it holds */
    HttpsFetch fetch;
    char *host;
    GBytes *body;
    GError *error;
} FetchJob;

struct Destinations {
    DestinationSettings settings;  /* its strings not kept: */
    char *ca_file;                 /* the one read after start */
    struct ub_ctx *ub;
    GHashTable *by_domain;     /* domain -> Dest, busy ones included */
    GQueue idle[POOL_COUNT];   /* idle Dests, least recently used first */
    guint busy;                /* Dests with lookups in flight */
    guint busy_unlisted;       /* of which not listed (max_lookups each) */
    guint fetching[2];         /* fetches running, [listed] */
    GThreadPool *workers;
    GAsyncQueue *done;         /* FetchJob */
    int wake_fd;
    DestinationCounts count;
    gboolean changed;          /* a new policy since the last save */
    DestinationPolicy deferred;  /* the answer for a domain not looked up (max_lookups) */
};

/* destination.c: the clock lookups run on (monotonic seconds), a TTL
 * within TTL_MIN..TTL_MAX, whether a cached MTA-STS policy is still
 * valid, a Dest back onto the list it belongs on after a change, a
 * lookup started (FALSE: said, not started), a domain's Dest (NULL: the
 * cache is full of entries that may not go). */
gint64 dest_now_s(void);
int dest_clamp_ttl(int ttl);
gboolean dest_policy_valid(const Dest *dest);
void dest_place(Destinations *d, Dest *dest);
gboolean dest_resolve(Destinations *d, const char *name, int type, void *data, ub_callback_type callback);
Dest *dest_for(Destinations *d, const char *domain, gboolean listed);

/* destdane.c, deststs.c: a lookup started; a fetch that finished. */
void dest_dane_start(Destinations *d, Dest *dest);
void dest_sts_start(Destinations *d, Dest *dest);
void dest_fetch_done(Destinations *d, FetchJob *job);

#endif

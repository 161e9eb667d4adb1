/*
 * destination.c - DANE and MTA-STS lookups and their cache; see
 * destination.h for the contract.
 *
 * One Dest per domain.  A DANE lookup is the MX query, then per MX host
 * (at most DANE_MAX_HOSTS) its address query, for the CNAME expansion,
 * and the TLSA query at the expanded name when the expansion is secure
 * and at the name itself (RFC 7672 2.2.2); an MTA-STS lookup is the
 * TXT query, then (only when the id is new) the A query of
 * mta-sts.DOMAIN and the HTTPS fetch on a worker.  A Dest with a lookup
 * in flight is "busy": libunbound's callbacks and the fetch results
 * point at it, so it is on no eviction list and cannot be evicted; it
 * still counts against max_domains.  An idle Dest is on one of three
 * least-recently-used lists (its Pool), by what losing it would cost.
 */
#include "destinationstate.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "escape.h"

gint64 dest_now_s(void)
{
    return g_get_monotonic_time() / G_USEC_PER_SEC;
}

int dest_clamp_ttl(int ttl)
{
    return ttl < TTL_MIN ? TTL_MIN : ttl > TTL_MAX ? TTL_MAX : ttl;
}

static void run_fetch(gpointer data, gpointer user)
{
    FetchJob *job = data;
    Destinations *d = user;
    job->body = https_fetch_policy(&job->fetch, &job->error);
    g_async_queue_push(d->done, job);
    guint64 one = 1;
    if (write(d->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        g_warning("MTA-STS: cannot wake the event loop: %s", g_strerror(errno));
}

Destinations *destinations_new(const DestinationSettings *s, GError **error)
{
    struct ub_ctx *ub = dns_context_new(s->resolver, s->trust_anchor, TRUE, error);
    if (!ub)
        return NULL;
    Destinations *d = g_new0(Destinations, 1);
    d->settings = *s;
    d->ca_file = g_strdup(s->mta_sts_ca_file);
    d->settings.resolver = d->settings.trust_anchor = d->settings.mta_sts_ca_file = NULL;
    if (d->settings.max_lookups > d->settings.max_domains)
        d->settings.max_lookups = d->settings.max_domains;
    d->ub = ub;
    d->by_domain = g_hash_table_new(g_str_hash, g_str_equal);
    for (int pool = 0; pool < POOL_COUNT; pool++)
        g_queue_init(&d->idle[pool]);
    d->done = g_async_queue_new();
    d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    /* never more jobs pushed than threads (fetch_start): no queue forms */
    d->workers = g_thread_pool_new(run_fetch, d, FETCH_SLOTS_UNLISTED + FETCH_SLOTS_LISTED, FALSE, NULL);
    return d;
}

static void dest_free(gpointer data)
{
    Dest *dest = data;
    for (guint i = 0; dest->hosts && i < dest->hosts_total; i++)
        g_free(dest->hosts[i].host);
    g_free(dest->hosts);
    g_strfreev(dest->mx_hosts);
    if (dest->tlsa_found)
        g_ptr_array_free(dest->tlsa_found, TRUE);
    g_strfreev(dest->tlsa_records);
    g_free(dest->policy);
    g_free(dest->domain);
    g_free(dest);
}

static void job_free(FetchJob *job)
{
    g_strfreev(job->fetch.addresses);
    g_free(job->host);
    if (job->body)
        g_bytes_unref(job->body);
    g_clear_error(&job->error);
    g_free(job);
}

void destinations_free(Destinations *d)
{
    if (!d)
        return;
    g_thread_pool_free(d->workers, TRUE, TRUE);  /* fetches end within their timeout */
    ub_ctx_delete(d->ub);                        /* pending callbacks are dropped */
    FetchJob *job;
    while ((job = g_async_queue_try_pop(d->done)))
        job_free(job);
    g_async_queue_unref(d->done);
    close(d->wake_fd);
    /* every Dest, busy or idle, is in the table */
    GHashTableIter it;
    gpointer dest;
    g_hash_table_iter_init(&it, d->by_domain);
    while (g_hash_table_iter_next(&it, NULL, &dest))
        dest_free(dest);
    g_hash_table_destroy(d->by_domain);
    g_free(d->ca_file);
    g_free(d);
}

int destinations_fd(Destinations *d)
{
    return ub_fd(d->ub);
}

int destinations_wake_fd(Destinations *d)
{
    return d->wake_fd;
}

DestinationCounts destinations_counts(const Destinations *d)
{
    DestinationCounts c = d->count;
    c.domains = g_hash_table_size(d->by_domain);
    c.in_flight = d->busy;
    return c;
}

/*
 * The eviction lists
 */
gboolean dest_policy_valid(const Dest *dest)
{
    return dest->policy && dest->p.sts_id[0] && g_get_real_time() / G_USEC_PER_SEC < dest->p.sts_expires;
}

static Pool pool_for(const Dest *dest)
{
    if (dest->dane_busy || dest->sts_busy || dest->mx_busy)
        return POOL_BUSY;
    if (dest->listed)
        return POOL_LISTED;
    return dest->p.dane == SOURCE_FOUND || dest_policy_valid(dest) ? POOL_BINDING : POOL_PLAIN;
}

static void pool_leave(Destinations *d, Dest *dest)
{
    if (dest->pool == POOL_BUSY) {
        d->busy--;
        d->busy_unlisted -= !dest->listed;
    } else {
        g_queue_unlink(&d->idle[dest->pool], &dest->link);
    }
}

/* Onto the tail of the list it belongs on now (most recently used), or
 * counted as busy; called after every use and every change of state. */
void dest_place(Destinations *d, Dest *dest)
{
    pool_leave(d, dest);
    dest->pool = pool_for(dest);
    if (dest->pool == POOL_BUSY) {
        d->busy++;
        d->busy_unlisted += !dest->listed;
    } else {
        g_queue_push_tail_link(&d->idle[dest->pool], &dest->link);
    }
}

/* The least recently used idle Dest of the cheapest list goes; a listed
 * domain's entry only for another listed domain.  FALSE: nothing may go
 * (everything busy, or listed). */
static gboolean evict_one(Destinations *d, gboolean for_listed)
{
    for (Pool pool = POOL_PLAIN; pool < POOL_COUNT; pool++) {
        if (pool == POOL_LISTED && !for_listed)
            break;
        GList *oldest = g_queue_peek_head_link(&d->idle[pool]);
        if (!oldest)
            continue;
        Dest *dest = oldest->data;
        g_queue_unlink(&d->idle[pool], oldest);
        g_hash_table_remove(d->by_domain, dest->domain);
        dest_free(dest);
        d->count.evicted++;
        return TRUE;
    }
    return FALSE;
}

gboolean dest_resolve(Destinations *d, const char *name, int type, void *data, ub_callback_type callback)
{
    int err = ub_resolve_async(d->ub, name, type, DNS_CLASS_IN, data, callback, NULL);
    char shown[512];
    if (err)
        g_warning("DNS: cannot start a lookup of %s: %s", text_escape(name, shown, sizeof shown), ub_strerror(err));
    return err == 0;
}

/*
 * The cache
 */
void destinations_process(Destinations *d)
{
    ub_process(d->ub);
    guint64 n;
    if (read(d->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
        g_warning("MTA-STS: reading the wake-up counter: %s", g_strerror(errno));
    FetchJob *job;
    while ((job = g_async_queue_try_pop(d->done))) {
        dest_fetch_done(d, job);
        job_free(job);
    }
}

/* The domain's Dest, made (room made first) when there is none; NULL
 * when the cache is full of entries that may not go. */
Dest *dest_for(Destinations *d, const char *domain, gboolean listed)
{
    Dest *dest = g_hash_table_lookup(d->by_domain, domain);
    if (dest) {
        if (listed && !dest->listed) {
            pool_leave(d, dest);
            dest->pool = POOL_LISTED;  /* not busy-counted as unlisted any more */
            g_queue_push_tail_link(&d->idle[POOL_LISTED], &dest->link);
            dest->listed = TRUE;
        }
        dest_place(d, dest);  /* most recently used */
        return dest;
    }
    while (g_hash_table_size(d->by_domain) >= d->settings.max_domains) {
        if (!evict_one(d, listed))
            return NULL;
    }
    dest = g_new0(Dest, 1);
    dest->owner = d;
    dest->link.data = dest;
    dest->listed = listed;
    dest->domain = g_strdup(domain);
    dest->pool = POOL_PLAIN;
    g_hash_table_insert(d->by_domain, dest->domain, dest);
    g_queue_push_tail_link(&d->idle[POOL_PLAIN], &dest->link);
    dest_place(d, dest);
    return dest;
}

/* What a domain that cannot be looked up now is: pending, nothing started. */
static const DestinationPolicy *deferred_answer(Destinations *d, gboolean dane, gboolean sts)
{
    d->count.lookups_deferred++;
    DestinationPolicy *p = &d->deferred;
    memset(p, 0, sizeof *p);
    p->dane = dane ? SOURCE_PENDING : SOURCE_OFF;
    p->sts = sts ? SOURCE_PENDING : SOURCE_OFF;
    g_snprintf(p->dane_note, sizeof p->dane_note, "not looked up: %u lookups in flight", d->busy);
    g_strlcpy(p->sts_note, p->dane_note, sizeof p->sts_note);
    return p;
}

/* Listed and unlisted domains have max_lookups in flight each: a flood
 * of an outsider's names never holds up a listed domain's lookup, and a
 * flood of names under a listed parent (.example.com) is bounded too. */
static gboolean lookups_at_limit(const Destinations *d, gboolean listed)
{
    guint busy = listed ? d->busy - d->busy_unlisted : d->busy_unlisted;
    return busy >= d->settings.max_lookups;
}

const DestinationPolicy *destinations_get(Destinations *d, const char *domain, gboolean dane, gboolean sts,
                                          gboolean listed)
{
    gboolean at_limit = lookups_at_limit(d, listed);
    Dest *dest = g_hash_table_lookup(d->by_domain, domain);
    if (!dest && at_limit)
        return deferred_answer(d, dane, sts);
    dest = dest_for(d, domain, listed);
    if (!dest)
        return deferred_answer(d, dane, sts);
    gint64 now = dest_now_s();
    if (dane && dest->p.dane == SOURCE_OFF)
        dest->p.dane = SOURCE_PENDING;
    if (sts && dest->p.sts == SOURCE_OFF)
        dest->p.sts = SOURCE_PENDING;
    /* an expired answer is used until its refresh arrives; at the limit
     * the refresh of an idle domain waits for a later use */
    at_limit = dest->pool != POOL_BUSY && lookups_at_limit(d, dest->listed);
    if (dane && !dest->dane_busy && now >= dest->dane_expires && !at_limit)
        dest_dane_start(d, dest);
    if (sts && !dest->sts_busy && now >= dest->sts_expires && !at_limit)
        dest_sts_start(d, dest);
    return &dest->p;
}

const DestinationPolicy *destinations_peek(Destinations *d, const char *domain)
{
    Dest *dest = g_hash_table_lookup(d->by_domain, domain);
    return dest ? &dest->p : NULL;
}

gboolean destinations_changed(const Destinations *d)
{
    return d->changed;
}

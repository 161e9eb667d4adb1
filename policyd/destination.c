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
#include "destination.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dns.h"
#include "escape.h"
#include "https.h"
#include "statefile.h"

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

static gint64 now_s(void)
{
    return g_get_monotonic_time() / G_USEC_PER_SEC;
}

static int clamp_ttl(int ttl)
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
static gboolean cached_policy_valid(const Dest *dest)
{
    return dest->policy && dest->p.sts_id[0] && g_get_real_time() / G_USEC_PER_SEC < dest->p.sts_expires;
}

static Pool pool_for(const Dest *dest)
{
    if (dest->dane_busy || dest->sts_busy || dest->mx_busy)
        return POOL_BUSY;
    if (dest->listed)
        return POOL_LISTED;
    return dest->p.dane == SOURCE_FOUND || cached_policy_valid(dest) ? POOL_BINDING : POOL_PLAIN;
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
static void dest_place(Destinations *d, Dest *dest)
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

static gboolean resolve(Destinations *d, const char *name, int type, void *data, ub_callback_type callback)
{
    int err = ub_resolve_async(d->ub, name, type, DNS_CLASS_IN, data, callback, NULL);
    char shown[512];
    if (err)
        g_warning("DNS: cannot start a lookup of %s: %s", text_escape(name, shown, sizeof shown), ub_strerror(err));
    return err == 0;
}

/*
 * DANE
 */
/* found (NULL: none) becomes the records in force, and is taken. */
static void set_tlsa_records(Dest *dest, GPtrArray *found)
{
    g_strfreev(dest->tlsa_records);
    dest->tlsa_records = NULL;
    if (found) {
        g_ptr_array_add(found, NULL);
        dest->tlsa_records = (char **)g_ptr_array_free(found, FALSE);
    }
    dest->p.tlsa_records = dest->tlsa_records;
}

static void dane_done(Destinations *d, Dest *dest, SourceState state, int ttl)
{
    if (state != SOURCE_FOUND)
        set_tlsa_records(dest, NULL);
    dest->p.dane = state;
    dest->p.dane_bogus = FALSE;
    dest->dane_busy = FALSE;
    dest->dane_expires = now_s() + clamp_ttl(ttl);
    d->count.dane[state]++;
    dest_place(d, dest);
}

/* No trustworthy answer (SERVFAIL, timeout, bogus): never "no DANE"
 * (RFC 7672 2.2).  TLSA records validated before stay in force, so the
 * route stays dane-only and Postfix, looking them up itself, defers
 * until the DNS answers again. */
static void dane_failed(Destinations *d, Dest *dest, gboolean bogus, const char *what)
{
    DestinationPolicy *p = &dest->p;
    if (p->dane == SOURCE_FOUND)
        g_snprintf(p->dane_note, sizeof p->dane_note, "TLSA on %u of %u MX, DNSSEC secure, as last validated (%s)",
                   p->mx_tlsa, p->mx_total, what);
    else
        g_strlcpy(p->dane_note, what, sizeof p->dane_note);
    SourceState state = p->dane == SOURCE_FOUND ? SOURCE_FOUND : SOURCE_FAILED;
    dest->dane_busy = FALSE;
    dest->dane_expires = now_s() + RETRY_AFTER;
    d->count.dane[SOURCE_FAILED]++;
    p->dane = state;
    p->dane_bogus = bogus;
    dest_place(d, dest);
}

/* The verdict, once every MX host's TLSA answer is in. */
static void dane_conclude(Destinations *d, Dest *dest)
{
    if (!dest->dane_busy || dest->hosts_left > 0 || dest->hosts_total == 0)
        return;
    DestinationPolicy *p = &dest->p;
    guint total = dest->hosts_total;
    for (guint i = 0; i < total; i++)
        g_free(dest->hosts[i].host);
    g_clear_pointer(&dest->hosts, g_free);
    dest->hosts_total = 0;
    if (dest->hosts_tlsa > 0) {
        set_tlsa_records(dest, dest->tlsa_found);
        dest->tlsa_found = NULL;
        p->mx_total = total;
        p->mx_tlsa = dest->hosts_tlsa;
        g_snprintf(p->dane_note, sizeof p->dane_note, "TLSA on %u of %u MX, DNSSEC secure%s%s", dest->hosts_tlsa,
                   total, dest->hosts_failed ? "; failed: " : "", dest->failed_host);
        dane_done(d, dest, SOURCE_FOUND, dest->dane_ttl);
    } else if (dest->hosts_failed > 0) {
        g_autofree char *what = g_strdup_printf("TLSA lookup failed: %s", dest->failed_host);
        dane_failed(d, dest, dest->hosts_bogus > 0, what);
    } else {
        p->mx_total = total;
        p->mx_tlsa = 0;
        g_snprintf(p->dane_note, sizeof p->dane_note, "no TLSA records on %u MX (DNSSEC secure)", total);
        dane_done(d, dest, SOURCE_NONE, dest->dane_ttl);
    }
}

/* One MX host is done: counted once, with TLSA records if either of
 * its names has usable ones. */
static void host_done(MxHost *h)
{
    Dest *dest = h->dest;
    if (h->tlsa)
        dest->hosts_tlsa++;
    else if (h->failed)
        dest->hosts_failed++;
    dest->hosts_bogus += !h->tlsa && h->bogus;
    dest->hosts_left--;
    dane_conclude(dest->owner, dest);
}

static void host_failed(MxHost *h, const char *name, DnsTrust trust)
{
    Dest *dest = h->dest;
    h->failed = TRUE;
    h->bogus |= trust == DNS_BOGUS;
    if (!dest->failed_host[0])
        g_snprintf(dest->failed_host, sizeof dest->failed_host, "%s %s", name, dns_trust_name(trust));
}

/* The usable records of a validated answer, for the TLS-RPT report's
 * policy-string: each once, at most DANE_MAX_RECORDS. */
static void keep_tlsa_records(Dest *dest, const struct ub_result *r)
{
    for (int i = 0; r->data[i] && dest->tlsa_found->len < DANE_MAX_RECORDS; i++) {
        const unsigned char *rdata = (const unsigned char *)r->data[i];
        if (!dns_tlsa_usable(rdata, r->len[i]))
            continue;
        char *text = dns_tlsa_text(rdata, r->len[i]);
        gboolean seen = FALSE;
        for (guint j = 0; j < dest->tlsa_found->len && !seen; j++)
            seen = strcmp(dest->tlsa_found->pdata[j], text) == 0;
        if (seen)
            g_free(text);
        else
            g_ptr_array_add(dest->tlsa_found, text);
    }
}

static void on_tlsa(void *data, int err, struct ub_result *r)
{
    MxHost *h = data;
    Dest *dest = h->dest;
    DnsTrust trust = dns_trust(err, r);
    if (trust == DNS_BOGUS || trust == DNS_FAILED)
        host_failed(h, r ? r->qname : h->host, trust);
    else if (trust == DNS_SECURE && r->havedata && dns_usable_tlsa(r) > 0) {
        h->tlsa = TRUE;
        keep_tlsa_records(dest, r);
    }
    if (r && r->ttl < dest->dane_ttl)
        dest->dane_ttl = r->ttl;
    ub_resolve_free(r);
    if (--h->queries_left == 0)
        host_done(h);
}

static void tlsa_query(MxHost *h, const char *name)
{
    Destinations *d = h->dest->owner;
    g_autofree char *owner = g_strdup_printf("_%u._tcp.%s", d->settings.tlsa_port, name);
    if (!resolve(d, owner, DNS_TYPE_TLSA, h, on_tlsa)) {
        host_failed(h, owner, DNS_FAILED);
        h->queries_left--;
    }
}

/* The MX host's address answer: its CNAME expansion, when secure, is
 * where TLSA records are looked up first (RFC 7672 2.2.2); the name
 * itself is looked at too. */
static void on_host_address(void *data, int err, struct ub_result *r)
{
    MxHost *h = data;
    DnsTrust trust = dns_trust(err, r);
    char canon[256] = "";
    if (!dns_secure_expansion(err, r, h->host, canon, sizeof canon))
        canon[0] = 0;
    if (trust == DNS_BOGUS || trust == DNS_FAILED)
        host_failed(h, h->host, trust);
    ub_resolve_free(r);
    if (h->failed) {
        host_done(h);
        return;
    }
    h->queries_left = canon[0] ? 2 : 1;
    if (canon[0])
        tlsa_query(h, canon);
    tlsa_query(h, h->host);
    if (h->queries_left == 0)
        host_done(h);
}

static void on_mx(void *data, int err, struct ub_result *r)
{
    Dest *dest = data;
    Destinations *d = dest->owner;
    DestinationPolicy *p = &dest->p;
    DnsTrust trust = dns_trust(err, r);
    int ttl = r ? r->ttl : 0;
    if (trust == DNS_BOGUS || trust == DNS_FAILED) {
        g_autofree char *what = g_strdup_printf("MX lookup %s%s%s", dns_trust_name(trust),
                                                r && r->why_bogus ? ": " : "", r && r->why_bogus ? r->why_bogus : "");
        ub_resolve_free(r);
        dane_failed(d, dest, trust == DNS_BOGUS, what);
        return;
    }
    if (trust == DNS_INSECURE || r->nxdomain) {
        g_strlcpy(p->dane_note, r->nxdomain ? "no such domain" : "MX records not DNSSEC-signed (insecure)",
                  sizeof p->dane_note);
        ub_resolve_free(r);
        dane_done(d, dest, SOURCE_NONE, ttl);
        return;
    }
    g_auto(GStrv) hosts = r->havedata ? dns_mx_hosts(r) : g_strdupv((char *[]){dest->domain, NULL});
    ub_resolve_free(r);
    if (!hosts[0] || strcmp(hosts[0], ".") == 0) {
        g_strlcpy(p->dane_note, "null MX: the domain accepts no mail", sizeof p->dane_note);
        dane_done(d, dest, SOURCE_NONE, ttl);
        return;
    }
    guint n = g_strv_length(hosts) < DANE_MAX_HOSTS ? g_strv_length(hosts) : DANE_MAX_HOSTS;
    dest->hosts_failed = dest->hosts_bogus = dest->hosts_tlsa = 0;
    dest->failed_host[0] = 0;
    if (dest->tlsa_found)
        g_ptr_array_free(dest->tlsa_found, TRUE);
    dest->tlsa_found = g_ptr_array_new_with_free_func(g_free);
    dest->dane_ttl = ttl;
    dest->hosts = g_new0(MxHost, n);
    dest->hosts_total = dest->hosts_left = n;
    /* hosts_left counts down as each host finishes; the last one concludes */
    for (guint i = 0; i < n; i++) {
        MxHost *h = &dest->hosts[i];
        h->dest = dest;
        h->host = g_strdup(hosts[i]);
        if (!dns_name_is_hostname(hosts[i])) {
            h->failed = TRUE;
            if (!dest->failed_host[0])
                g_strlcpy(dest->failed_host, "an MX host name that is not a host name", sizeof dest->failed_host);
            host_done(h);
        } else if (!resolve(d, hosts[i], DNS_TYPE_A, h, on_host_address)) {
            host_failed(h, hosts[i], DNS_FAILED);
            host_done(h);
        }
    }
}

static void dane_start(Destinations *d, Dest *dest)
{
    dest->dane_busy = TRUE;
    dest->hosts_total = 0;
    dest_place(d, dest);
    if (!resolve(d, dest->domain, DNS_TYPE_MX, dest, on_mx))
        dane_failed(d, dest, FALSE, "cannot start the MX lookup");
}

/*
 * MTA-STS
 */

/* The lookup ended without a new policy: keep a cached one (RFC 8461
 * 5.1), else the state given. */
static void sts_done(Destinations *d, Dest *dest, SourceState state, const char *note)
{
    dest->sts_busy = FALSE;
    dest->sts_expires = now_s() + (state == SOURCE_FAILED ? RETRY_AFTER : clamp_ttl(dest->txt_ttl));
    if (state != SOURCE_FOUND && cached_policy_valid(dest)) {
        g_snprintf(dest->p.sts_note, sizeof dest->p.sts_note, "cached policy id %s kept (%s)", dest->p.sts_id, note);
        state = SOURCE_FOUND;
    } else if (state != SOURCE_FOUND) {
        g_strlcpy(dest->p.sts_note, note, sizeof dest->p.sts_note);
        g_clear_pointer(&dest->policy, g_free);
        dest->p.sts_id[0] = 0;
    }
    dest->p.sts = state;
    dest->p.policy = dest->policy;
    d->count.sts[state]++;
    dest_place(d, dest);
}

/* Every fetch slot of its kind is taken: nothing queues behind slow
 * policy hosts; the lookup is tried again shortly, and a cached policy
 * stays in force meanwhile. */
static void sts_wait_for_slot(Destinations *d, Dest *dest)
{
    dest->sts_busy = FALSE;
    dest->sts_expires = now_s() + FETCH_RETRY;
    if (dest->p.sts == SOURCE_PENDING)
        g_strlcpy(dest->p.sts_note, "policy fetch waiting for a free slot", sizeof dest->p.sts_note);
    d->count.fetches_deferred++;
    dest_place(d, dest);
}

static void fetch_start(Destinations *d, Dest *dest, char **addresses)
{
    gboolean listed = dest->listed;
    guint running = d->fetching[FALSE] + d->fetching[TRUE];
    if (running >= FETCH_SLOTS_UNLISTED + FETCH_SLOTS_LISTED || (!listed && d->fetching[FALSE] >= FETCH_SLOTS_UNLISTED)) {
        g_strfreev(addresses);
        sts_wait_for_slot(d, dest);
        return;
    }
    FetchJob *job = g_new0(FetchJob, 1);
    job->dest = dest;
    job->listed = listed;
    job->host = g_strdup_printf("mta-sts.%s", dest->domain);
    job->fetch = (HttpsFetch){.host = job->host, .addresses = addresses, .port = MTASTS_HTTPS_PORT,
                              .ca_file = d->ca_file, .timeout_ms = d->settings.fetch_timeout_ms};
    d->fetching[listed]++;
    d->count.fetches++;
    g_thread_pool_push(d->workers, job, NULL);
}

static void on_sts_address(void *data, int err, struct ub_result *r)
{
    Dest *dest = data;
    Destinations *d = dest->owner;
    DnsTrust trust = dns_trust(err, r);
    char **addresses = (trust == DNS_SECURE || trust == DNS_INSECURE) && r->havedata ? dns_addresses(r) : NULL;
    ub_resolve_free(r);
    if (!addresses || !addresses[0]) {
        g_strfreev(addresses);
        sts_done(d, dest, SOURCE_FAILED, "policy host mta-sts.DOMAIN has no IPv4 address");
        return;
    }
    /* outsiders name the domains: their DNS must not send the daemon's
     * HTTPS client into the site's own network (mta_sts_private_hosts) */
    guint kept = 0;
    for (guint i = 0; addresses[i]; i++) {
        if (d->settings.private_hosts || dns_address_is_public(addresses[i]))
            addresses[kept++] = addresses[i];
        else
            g_free(addresses[i]);
    }
    addresses[kept] = NULL;
    if (kept == 0) {
        g_strfreev(addresses);
        sts_done(d, dest, SOURCE_FAILED,
                 "policy host mta-sts.DOMAIN has only loopback or private addresses (mta_sts_private_hosts = false)");
        return;
    }
    fetch_start(d, dest, addresses);
}

static void on_txt(void *data, int err, struct ub_result *r)
{
    Dest *dest = data;
    Destinations *d = dest->owner;
    DnsTrust trust = dns_trust(err, r);
    dest->txt_ttl = r ? r->ttl : 0;
    if (trust == DNS_BOGUS || trust == DNS_FAILED) {
        ub_resolve_free(r);
        sts_done(d, dest, SOURCE_FAILED, trust == DNS_BOGUS ? "TXT lookup bogus" : "TXT lookup failed");
        return;
    }
    g_auto(GStrv) txt = r->havedata ? dns_txt_strings(r) : NULL;
    ub_resolve_free(r);
    const char *why;
    char id[MTASTS_ID_MAX + 1];
    if (!mtasts_select_txt(txt, id, &why)) {
        sts_done(d, dest, SOURCE_NONE, why);
        return;
    }
    if (cached_policy_valid(dest) && strcmp(id, dest->p.sts_id) == 0) {
        sts_done(d, dest, SOURCE_FOUND, "");
        return;
    }
    g_strlcpy(dest->new_id, id, sizeof dest->new_id);
    g_autofree char *host = g_strdup_printf("mta-sts.%s", dest->domain);
    if (!resolve(d, host, DNS_TYPE_A, dest, on_sts_address))
        sts_done(d, dest, SOURCE_FAILED, "cannot start the policy host lookup");
}

/* A valid policy, from a fetch or the state file. */
static void policy_set(Dest *dest, const MtastsPolicy *policy, const char *id, gint64 expires)
{
    if (!dest->policy)
        dest->policy = g_new(MtastsPolicy, 1);
    *dest->policy = *policy;
    g_strlcpy(dest->p.sts_id, id, sizeof dest->p.sts_id);
    dest->p.sts_expires = expires;
    dest->p.policy = dest->policy;
}

static void fetch_done(Destinations *d, FetchJob *job)
{
    Dest *dest = job->dest;
    MtastsPolicy policy;
    const char *why = NULL;
    d->fetching[job->listed]--;
    if (!job->body) {
        d->count.fetch_failures++;
        g_autofree char *note = g_strdup_printf("policy fetch: %s", job->error->message);
        sts_done(d, dest, SOURCE_FAILED, note);
        return;
    }
    gsize len;
    const char *body = g_bytes_get_data(job->body, &len);
    if (!mtasts_parse_policy(body, len, &policy, &why)) {
        d->count.fetch_failures++;
        g_autofree char *note = g_strdup_printf("invalid policy: %s", why);
        sts_done(d, dest, SOURCE_FAILED, note);
        return;
    }
    policy_set(dest, &policy, dest->new_id, g_get_real_time() / G_USEC_PER_SEC + policy.max_age);
    g_snprintf(dest->p.sts_note, sizeof dest->p.sts_note, "id %s fetched", dest->new_id);
    d->changed = TRUE;
    sts_done(d, dest, SOURCE_FOUND, "");
}

/* The MX hosts a policy's wildcards are matched against (the tlspolicy
 * table names them, since Postfix's match= has no one-label wildcard).
 * Only host names are kept: they go into the table's answer. */
static void set_mx_hosts(Dest *dest, char **hosts)
{
    guint kept = 0;
    for (guint i = 0; hosts[i]; i++) {
        if (dns_name_is_hostname(hosts[i]))
            hosts[kept++] = hosts[i];
        else
            g_free(hosts[i]);  /* "." (a null MX) too: no host to match */
    }
    hosts[kept] = NULL;
    g_strfreev(dest->mx_hosts);
    dest->mx_hosts = hosts;
    dest->p.mx_hosts = hosts;
}

static void on_sts_mx(void *data, int err, struct ub_result *r)
{
    Dest *dest = data;
    DnsTrust trust = dns_trust(err, r);
    if (trust == DNS_SECURE || trust == DNS_INSECURE) {
        /* no MX records: the domain itself is its MX host (RFC 5321 5.1) */
        set_mx_hosts(dest, r->nxdomain  ? g_new0(char *, 1)
                           : r->havedata ? dns_mx_hosts(r)
                                         : g_strdupv((char *[]){dest->domain, NULL}));
    }
    ub_resolve_free(r);
    dest->mx_busy = FALSE;
    dest_place(dest->owner, dest);
}

static void sts_start(Destinations *d, Dest *dest)
{
    dest->sts_busy = TRUE;
    if (!dest->mx_busy && resolve(d, dest->domain, DNS_TYPE_MX, dest, on_sts_mx))
        dest->mx_busy = TRUE;
    dest_place(d, dest);
    g_autofree char *name = g_strdup_printf("_mta-sts.%s", dest->domain);
    if (!resolve(d, name, DNS_TYPE_TXT, dest, on_txt))
        sts_done(d, dest, SOURCE_FAILED, "cannot start the TXT lookup");
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
        fetch_done(d, job);
        job_free(job);
    }
}

/* The domain's Dest, made (room made first) when there is none; NULL
 * when the cache is full of entries that may not go. */
static Dest *dest_for(Destinations *d, const char *domain, gboolean listed)
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
    gint64 now = now_s();
    if (dane && dest->p.dane == SOURCE_OFF)
        dest->p.dane = SOURCE_PENDING;
    if (sts && dest->p.sts == SOURCE_OFF)
        dest->p.sts = SOURCE_PENDING;
    /* an expired answer is used until its refresh arrives; at the limit
     * the refresh of an idle domain waits for a later use */
    at_limit = dest->pool != POOL_BUSY && lookups_at_limit(d, dest->listed);
    if (dane && !dest->dane_busy && now >= dest->dane_expires && !at_limit)
        dane_start(d, dest);
    if (sts && !dest->sts_busy && now >= dest->sts_expires && !at_limit)
        sts_start(d, dest);
    return &dest->p;
}

const DestinationPolicy *destinations_peek(Destinations *d, const char *domain)
{
    Dest *dest = g_hash_table_lookup(d->by_domain, domain);
    return dest ? &dest->p : NULL;
}

/*
 * MTA-STS policies across restarts
 */
#define STATE_GROUP_PREFIX "mta-sts "

/* The policy as a policy file: what mtasts_parse_policy() reads back. */
static char *policy_text(const MtastsPolicy *p)
{
    g_auto(GStrv) lines = mtasts_policy_lines(p);
    g_autofree char *text = g_strjoinv("\n", lines);
    return g_strconcat(text, "\n", NULL);
}

GKeyFile *destinations_to_keyfile(Destinations *d)
{
    GKeyFile *kf = g_key_file_new();
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, d->by_domain);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const Dest *dest = value;
        if (!cached_policy_valid(dest))
            continue;
        g_autofree char *group = g_strconcat(STATE_GROUP_PREFIX, dest->domain, NULL);
        g_autofree char *text = policy_text(dest->policy);
        g_key_file_set_string(kf, group, "id", dest->p.sts_id);
        g_key_file_set_int64(kf, group, "expires", dest->p.sts_expires);
        g_key_file_set_string(kf, group, "policy", text);
        if (dest->mx_hosts)
            g_key_file_set_string_list(kf, group, "mx_hosts", (const char *const *)dest->mx_hosts,
                                       g_strv_length(dest->mx_hosts));
    }
    d->changed = FALSE;
    return kf;
}

gboolean destinations_save(Destinations *d, const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = destinations_to_keyfile(d);
    if (statefile_write(path, kf, error))
        return TRUE;
    d->changed = TRUE;
    return FALSE;
}

/* One saved policy back into the cache, if it is still valid and parses;
 * a damaged group is skipped, never half-used. */
static gboolean load_policy(Destinations *d, GKeyFile *kf, const char *group, gint64 now)
{
    const char *domain = group + strlen(STATE_GROUP_PREFIX);
    g_autofree char *id = g_key_file_get_string(kf, group, "id", NULL);
    g_autofree char *text = g_key_file_get_string(kf, group, "policy", NULL);
    gint64 expires = g_key_file_get_int64(kf, group, "expires", NULL);
    char txt[MTASTS_ID_MAX + 16], parsed_id[MTASTS_ID_MAX + 1];
    MtastsPolicy policy;
    const char *why;
    if (!id || !text || expires <= now || !dns_name_is_hostname(domain))
        return FALSE;
    g_snprintf(txt, sizeof txt, "v=STSv1; id=%s", id);
    if (!mtasts_parse_txt(txt, strlen(txt), parsed_id, &why) || strcmp(parsed_id, id) != 0
        || !mtasts_parse_policy(text, strlen(text), &policy, &why) || policy.max_age == 0
        || expires > now + (gint64)policy.max_age)
        return FALSE;
    Dest *dest = dest_for(d, domain, FALSE);
    if (!dest)
        return FALSE;
    dest->p.sts = SOURCE_FOUND;
    policy_set(dest, &policy, id, expires);
    char **mx = g_key_file_get_string_list(kf, group, "mx_hosts", NULL, NULL);
    if (mx)
        set_mx_hosts(dest, mx);
    dest_place(d, dest);  /* binding now */
    g_snprintf(dest->p.sts_note, sizeof dest->p.sts_note, "id %s, kept across a restart", id);
    return TRUE;
}

gboolean destinations_load(Destinations *d, const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = statefile_read(path, error);
    if (!kf)
        return FALSE;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    gsize n;
    g_auto(GStrv) groups = g_key_file_get_groups(kf, &n);
    guint loaded = 0, skipped = 0;
    for (gsize i = 0; i < n; i++) {
        if (!g_str_has_prefix(groups[i], STATE_GROUP_PREFIX))
            continue;
        if (load_policy(d, kf, groups[i], now))
            loaded++;
        else
            skipped++;
    }
    g_message("MTA-STS: %u cached policies loaded from %s (%u expired or damaged, skipped)", loaded, path, skipped);
    d->changed = skipped > 0;  /* the next save leaves them out */
    return TRUE;
}

gboolean destinations_changed(const Destinations *d)
{
    return d->changed;
}

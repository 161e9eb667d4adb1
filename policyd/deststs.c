/*
 * deststs.c - a domain's MTA-STS lookup (RFC 8461): the TXT record, and
 * when its id is new the policy host's address and the HTTPS fetch on a
 * worker; the valid policies saved across restarts; see
 * destinationstate.h.
 */
#include "destinationstate.h"

#include <string.h>

#include "statefile.h"

/* The lookup ended without a new policy: keep a cached one (RFC 8461
 * 5.1), else the state given. */
static void sts_done(Destinations *d, Dest *dest, SourceState state, const char *note)
{
    dest->sts_busy = FALSE;
    dest->sts_expires = dest_now_s() + (state == SOURCE_FAILED ? RETRY_AFTER : dest_clamp_ttl(dest->txt_ttl));
    if (state != SOURCE_FOUND && dest_policy_valid(dest)) {
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
    dest->sts_expires = dest_now_s() + FETCH_RETRY;
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
    if (dest_policy_valid(dest) && strcmp(id, dest->p.sts_id) == 0) {
        sts_done(d, dest, SOURCE_FOUND, "");
        return;
    }
    g_strlcpy(dest->new_id, id, sizeof dest->new_id);
    g_autofree char *host = g_strdup_printf("mta-sts.%s", dest->domain);
    if (!dest_resolve(d, host, DNS_TYPE_A, dest, on_sts_address))
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

void dest_fetch_done(Destinations *d, FetchJob *job)
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

void dest_sts_start(Destinations *d, Dest *dest)
{
    dest->sts_busy = TRUE;
    if (!dest->mx_busy && dest_resolve(d, dest->domain, DNS_TYPE_MX, dest, on_sts_mx))
        dest->mx_busy = TRUE;
    dest_place(d, dest);
    g_autofree char *name = g_strdup_printf("_mta-sts.%s", dest->domain);
    if (!dest_resolve(d, name, DNS_TYPE_TXT, dest, on_txt))
        sts_done(d, dest, SOURCE_FAILED, "cannot start the TXT lookup");
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
        if (!dest_policy_valid(dest))
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


/*
 * server.c - the event loop; see server.h for the contract.  main.c
 * runs it: the loop, signals, reload, the state files and systemd's
 * status are here; connections are connection.c's, the admin pages
 * adminpages.c's, the list's fault guard listguard.c's (serverstate.h);
 * listeners come from endpoint.c, decisions from decide.c.
 */
#include "serverstate.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "logging.h"
#include "notify.h"

#define POSTFIX_CHECK_MS 2000 /* main.cf's signature: one stat(2) each time */

static void clock_tick(Server *s)
{
    s->now = g_get_monotonic_time() / 1000;
}

static void destinations_ready(Server *s, Watch *w, guint32 events)
{
    (void)w;
    (void)events;
    destinations_process(s->destinations);
}

/* The ledger and the MTA-STS policies go to their state files a minute
 * after they changed, and at exit. */
#define STATE_SAVE_EVERY_MS 60000
static void save_state(Server *s, gboolean at_exit)
{
    for (char *failed; (failed = statewriter_take_error(s->state_writer)); g_free(failed)) {
        g_warning("state not saved: %s (tried again in a minute)", failed);
        s->state_retry = TRUE;
    }
    gboolean ledger = *s->config->state_file && (ledger_changed(s->ledger) || s->state_retry
                                                 || (s->outbound && outbound_changed(s->outbound)));
    gboolean policies =
        *s->config->mta_sts_state_file && (destinations_changed(s->destinations) || s->state_retry);
    if (!ledger && !policies)
        return;
    if (!at_exit && (now_ms(s) < s->state_saved_at + STATE_SAVE_EVERY_MS || !statewriter_idle(s->state_writer)))
        return;
    s->state_saved_at = now_ms(s);
    s->state_retry = FALSE;
    g_autoptr(GKeyFile) ledger_kf = ledger ? ledger_to_keyfile(s->ledger) : NULL;
    if (ledger_kf && s->outbound)  /* with its position in the log: each line counted once */
        outbound_save(s->outbound, ledger_kf);
    g_autoptr(GKeyFile) policies_kf = policies ? destinations_to_keyfile(s->destinations) : NULL;
    if (!at_exit) {
        statewriter_submit(s->state_writer, s->config->state_file, ledger_kf, s->config->mta_sts_state_file,
                           policies_kf);
        return;
    }
    /* the last save: after the one in flight, and in this thread */
    statewriter_free(g_steal_pointer(&s->state_writer));
    s->state_writer = statewriter_new();
    GError *error = NULL;
    if (ledger && !statefile_write(s->config->state_file, ledger_kf, &error)) {
        g_warning("compliance ledger not saved: %s", error->message);
        g_clear_error(&error);
    }
    if (policies && !statefile_write(s->config->mta_sts_state_file, policies_kf, &error)) {
        g_warning("MTA-STS policies not saved: %s", error->message);
        g_clear_error(&error);
    }
}

/* Both state files locked before either is read: a second daemon with
 * the same file stops here, before it could overwrite the first's. */
static gboolean lock_state_files(Server *s, const Config *c, GError **error)
{
    const char *paths[2] = {c->state_file, c->mta_sts_state_file};
    for (int i = 0; i < 2; i++) {
        if (*paths[i] && (s->state_locks[i] = statefile_lock(paths[i], error)) < 0)
            return FALSE;
    }
    return TRUE;
}

static void log_counters(Server *s)
{
    const Metrics *k = &s->count;
    guint64 verdicts[METRICS_VERDICTS] = {0};
    for (int o = 0; o < 2; o++)
        for (int v = 0; v < METRICS_VERDICTS; v++)
            verdicts[v] += k->decisions[o][v];
    guint64 lookups = 0;
    for (int r = 0; r < METRICS_ROUTE_RESULTS; r++)
        lookups += k->routes[r];
    g_message("counters: requests=%" G_GUINT64_FORMAT " dunno=%" G_GUINT64_FORMAT " filter=%" G_GUINT64_FORMAT
              " reject=%" G_GUINT64_FORMAT " split=%" G_GUINT64_FORMAT " tempfail=%" G_GUINT64_FORMAT
              " report=%" G_GUINT64_FORMAT " protocol_errors=%" G_GUINT64_FORMAT " connections=%" G_GUINT64_FORMAT
              " open=%u refused=%" G_GUINT64_FORMAT " lookups=%" G_GUINT64_FORMAT " routed=%" G_GUINT64_FORMAT
              " notfound=%" G_GUINT64_FORMAT " lookup_temp=%" G_GUINT64_FORMAT " lookup_perm=%" G_GUINT64_FORMAT,
              metrics_total_decisions(k), verdicts[VERDICT_DUNNO], verdicts[VERDICT_FILTER], verdicts[VERDICT_REJECT],
              verdicts[VERDICT_SPLIT], verdicts[VERDICT_TEMPFAIL], verdicts[METRICS_VERDICTS - 1] + k->routes[4],
              k->protocol_errors, k->connections, s->n_connections, k->refused_connections, lookups,
              k->routes[ROUTE_OK], k->routes[ROUTE_NOTFOUND], k->routes[ROUTE_TEMP], k->routes[ROUTE_PERM]);
}

MetricsGauges server_gauges(Server *s)
{
    return (MetricsGauges){
        .open_connections = s->n_connections,
        .list_entries = store_reader_entries(s->list),
        .list_loaded = (double)store_reader_loaded_at(s->list) / 1e6,
        .list_usable = s->list_error == NULL && store_reader_inode(s->list) != 0,
        .start_time = (double)s->started / 1e6,
        .destinations = destinations_counts(s->destinations),
        .maillog = s->outbound != NULL,
        .outbound = s->outbound ? outbound_counts(s->outbound) : (OutboundCounts){0},
        .tlsrpt = s->outbound && outbound_tlsrpt(s->outbound),
        .reports = s->outbound && outbound_tlsrpt(s->outbound) ? tlsrpt_counts(outbound_tlsrpt(s->outbound))
                                                                : (TlsrptCounts){0},
        .sends = s->outbound && outbound_tlsrpt_sender(s->outbound)
                     ? tlsrpt_sender_counts(outbound_tlsrpt_sender(s->outbound))
                     : (TlsrptSendCounts){0},
        .now = (double)g_get_real_time() / 1e6,
    };
}

/* systemd's STATUS= line: live figures, every few seconds. */
#define STATUS_EVERY_MS 5000
static void update_status(Server *s)
{
    if (now_ms(s) < s->status_at)
        return;
    s->status_at = now_ms(s) + STATUS_EVERY_MS;
    MetricsGauges g = server_gauges(s);
    gint64 age = g.list_loaded > 0 ? (gint64)(g_get_real_time() / 1e6 - g.list_loaded) : -1;
    g_autofree char *status = age < 0
        ? g_strdup_printf("%" G_GUINT64_FORMAT " decisions, %" G_GUINT64_FORMAT " routes; no usable list",
                          metrics_total_decisions(&s->count), s->count.routes[ROUTE_OK])
        : g_strdup_printf("%" G_GUINT64_FORMAT " decisions, %" G_GUINT64_FORMAT " routes; list: %" G_GUINT64_FORMAT
                          " entries, loaded %" G_GINT64_FORMAT " s ago",
                          metrics_total_decisions(&s->count), s->count.routes[ROUTE_OK], g.list_entries, age);
    notify_status(status);
}

/* Sockets are made once, lookups set up at start: say which changed
 * options wait for a restart (the option table's RESTART rows). */
static void warn_restart_keys(const Config *old, const Config *fresh)
{
    g_autofree char *changed = config_restart_changes(old, fresh);
    if (*changed)
        g_warning("changed, in effect at the next restart: %s (the rest is in effect now)", changed);
}

/* A list named by a reload: opened before it replaces the running one,
 * so a typo in list= keeps the old list answering. */
static StoreReader *open_new_list(const char *list, GError **error)
{
    g_autofree char *path = store_compiled_path(list);
    StoreReader *reader = store_reader_new(path);
    if (!store_reader_begin(reader, error)) {
        store_reader_free(reader);
        return NULL;
    }
    store_reader_end(reader);
    store_reader_set_recheck(reader, LIST_RECHECK_US);
    return reader;
}

static void reload_config(Server *s)
{
    notify_reloading();
    Config *fresh = s->reload(s->reload_data);
    if (!fresh) {
        g_warning("reload failed; keeping the running configuration");
        if (s->config->postfix)
            postfix_site_rewatch(s->config->postfix);  /* tried once per change of main.cf */
        notify_ready();
        return;
    }
    StoreReader *new_list = NULL;
    if (g_strcmp0(fresh->list, s->config->list) != 0) {
        GError *error = NULL;
        new_list = open_new_list(fresh->list, &error);
        if (!new_list) {
            g_warning("reload refused: list = %s: %s; keeping the running configuration and list %s",
                      fresh->list, error->message, s->config->list);
            g_error_free(error);
            config_free(fresh);
            notify_ready();
            return;
        }
    }
    warn_restart_keys(s->config, fresh);
    if (new_list) {
        store_reader_free(s->list);
        s->list = new_list;
        g_clear_pointer(&s->list_error, g_free);
    }
    g_hash_table_remove_all(s->local_logged);
    config_free(s->config);
    s->config = fresh;
    logging_set_verbose(fresh->verbose);
    g_message("configuration reloaded");
    notify_ready();
}

/* main.cf (or a table of local domains) changed: what Postfix does with
 * mail may have, so read it again as a SIGHUP would. */
static void watch_postfix(Server *s)
{
    if (!s->config->postfix || s->now < s->postfix_check_at)
        return;
    s->postfix_check_at = s->now + POSTFIX_CHECK_MS;
    if (!postfix_site_changed(s->config->postfix))
        return;
    g_message("the Postfix configuration in %s changed: reloading", s->config->postfix->directory);
    reload_config(s);
}

static void handle_signals(Server *s, Watch *w, guint32 events)
{
    (void)w;
    (void)events;
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof si) == sizeof si) {
        switch (si.ssi_signo) {
        case SIGHUP:
            reload_config(s);
            break;
        case SIGUSR1:
            log_counters(s);
            break;
        case SIGUSR2: {
            GError *error = NULL;
            if (logging_reopen(&error))
                g_message("log file reopened");
            else
                g_warning("log file not reopened, still writing the old one: %s", error->message);
            g_clear_error(&error);
            break;
        }
        default:
            g_message("signal %u: stopping", si.ssi_signo);
            s->stopping = TRUE;
        }
    }
}

/* The outbound ledger and where it stopped in the log, from the state
 * file the inbound ledger was read from (missing: from the start). */
static void load_outbound(Server *s)
{
    GError *error = NULL;
    g_autoptr(GKeyFile) kf = statefile_read(s->config->state_file, &error);
    if (kf)
        outbound_load(s->outbound, kf);
    else if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_warning("outbound ledger starts empty, the log is read from its start: %s", error->message);
    g_clear_error(&error);
}

/* Postfix's delivery log, read twice a second, a bounded part at a time
 * (more waiting: again after the next batch of events). */
#define MAILLOG_READ_EVERY_MS 500
static void read_maillog(Server *s, StoreReader *list, gpointer data)
{
    gboolean *more = data;
    if (!list) {  /* unusable, or it faulted mid-read: read again from the last line counted */
        outbound_rewind(s->outbound);
        *more = FALSE;
        return;
    }
    *more = outbound_poll(s->outbound, list, s->config, g_get_real_time() / G_USEC_PER_SEC);
}

static void follow_maillog(Server *s)
{
    if (!s->outbound || now_ms(s) < s->maillog_at)
        return;
    gboolean more = FALSE;
    listguard_with_list(s, read_maillog, &more);
    s->maillog_at = more ? 0 : now_ms(s) + MAILLOG_READ_EVERY_MS;
}

/* The DNS/MTA-STS side, from the configuration; a trust anchor that
 * cannot be read is an error at start, never a quiet "nothing is secure". */
static Destinations *destinations_open(const Config *c, GError **error)
{
    if (access(c->dns_trust_anchor, R_OK) != 0) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_VALUE,
                    "dns_trust_anchor %s: %s (Debian's dns-root-data has the root's; DANE needs one)",
                    c->dns_trust_anchor, g_strerror(errno));
        return NULL;
    }
    DestinationSettings settings = {
        .resolver = c->dns_resolver,
        .trust_anchor = c->dns_trust_anchor,
        .tlsa_port = c->dane_tlsa_port,
        .mta_sts_ca_file = c->mta_sts_ca_file,
        .fetch_timeout_ms = c->mta_sts_timeout * 1000,
        .private_hosts = c->mta_sts_private_hosts,
        .max_domains = c->destination_cache_size,
        .max_lookups = c->destination_max_lookups,
    };
    return destinations_new(&settings, error);
}

/* Descriptors beside the connections: listeners, the resolver's
 * sockets, the 72 fetch workers', the state files, the log. */
#define DESCRIPTORS_BESIDE_CONNECTIONS 256

/* max_connections means nothing above the open-files limit: raise the
 * soft limit to what the settings need (up to the hard one), and say so
 * when even that is too low (connections past it fail with EMFILE and
 * accepting pauses for a second). */
static void check_open_files_limit(const Config *c)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)c->max_connections + ADMIN_MAX_CONNECTIONS + DESCRIPTORS_BESIDE_CONNECTIONS;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (want < need)
        g_warning("open files limit %llu is below what max_connections = %u needs (%llu): raise it "
                  "(LimitNOFILE= in the unit, ulimit -n) or lower max_connections",
                  (unsigned long long)want, c->max_connections, (unsigned long long)need);
}

Server *server_new(Config *config, ConfigReloader reload, gpointer reload_data, GError **error)
{
    Server *s = g_new0(Server, 1);
    s->epfd = s->sigfd = -1;
    s->state_locks[0] = s->state_locks[1] = -1;
    s->config = config;
    s->reload = reload;
    s->reload_data = reload_data;
    s->local_logged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    s->signal_watch.handler = handle_signals;
    s->started = g_get_real_time();
    check_open_files_limit(config);
    s->ledger = ledger_new(LEDGER_MAX_ENTRIES, LEDGER_TOP);
    s->state_writer = statewriter_new();
    if (!lock_state_files(s, config, error)) {
        server_free(s);
        return NULL;
    }
    GError *ledger_error = NULL;
    if (*config->state_file && !ledger_load(s->ledger, config->state_file, &ledger_error)) {
        g_warning("compliance ledger starts empty: %s", ledger_error->message);
        g_error_free(ledger_error);
    }
    GError *maillog_error = NULL;
    s->outbound = outbound_new(config, &maillog_error);
    if (maillog_error) {  /* the journal: no outbound evidence, the rest serves */
        g_warning("maillog %s: %s: no outbound evidence", config->maillog, maillog_error->message);
        g_error_free(maillog_error);
    }
    if (s->outbound && *config->state_file)
        load_outbound(s);
    s->state_saved_at = g_get_monotonic_time() / 1000;
    clock_tick(s);
    g_autofree char *path = store_compiled_path(config->list);
    s->list = store_reader_new(path);
    store_reader_set_recheck(s->list, LIST_RECHECK_US);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR2);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->sigfd < 0 || s->epfd < 0) {
        g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_SYSTEM, "signalfd/epoll: %s", g_strerror(errno));
        server_free(s);
        return NULL;
    }
    if (!(s->listeners = endpoint_open_all(config, error))) {
        server_free(s);
        return NULL;
    }
    if (!(s->destinations = destinations_open(config, error))) {
        server_free(s);
        return NULL;
    }
    GError *state_error = NULL;
    if (*config->mta_sts_state_file && g_file_test(config->mta_sts_state_file, G_FILE_TEST_EXISTS)
        && !destinations_load(s->destinations, config->mta_sts_state_file, &state_error)) {
        g_warning("MTA-STS policies start empty: %s", state_error->message);
        g_error_free(state_error);
    }
    s->dns_watch.handler = destinations_ready;
    struct epoll_event dns_ev = {.events = EPOLLIN, .data.ptr = &s->dns_watch};
    if (s->outbound)
        outbound_use_destinations(s->outbound, s->destinations);
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, destinations_fd(s->destinations), &dns_ev);
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, destinations_wake_fd(s->destinations), &dns_ev);
    s->listener_watches = g_new0(ListenerWatch, s->listeners->len);
    for (guint i = 0; i < s->listeners->len; i++)
        s->listener_watches[i] = (ListenerWatch){.watch.handler = connection_accept,
                                                 .listener = &g_array_index(s->listeners, Listener, i)};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->signal_watch};
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev);
    connection_watch_listeners(s, TRUE);

    /* Open the list now, so a broken one is reported at start. */
    listguard_install();
    listguard_with_list(s, listguard_look, NULL);
    return s;
}

int server_run(Server *s)
{
    struct epoll_event events[256];
    notify_ready();
    logging_hold();
    while (!s->stopping) {
        int timeout = !s->outbound ? 1000 : s->maillog_at == 0 ? 0 : MAILLOG_READ_EVERY_MS;  /* 0: more log waiting */
        int n = epoll_wait(s->epfd, events, G_N_ELEMENTS(events), timeout);
        if (n < 0 && errno != EINTR) {
            g_critical("epoll_wait: %s", g_strerror(errno));
            return 1;
        }
        clock_tick(s);
        /* idle for a second: look at the list anyway, so a replaced one
         * is unmapped (and a broken one reported) without waiting for the
         * next request */
        if (n == 0)
            listguard_with_list(s, listguard_look, NULL);
        for (int i = 0; i < n; i++) {
            Watch *w = events[i].data.ptr;
            w->handler(s, w, events[i].events);
        }
        connection_expire(s);
        follow_maillog(s);
        watch_postfix(s);
        update_status(s);
        save_state(s, FALSE);
        logging_flush();  /* the batch's log lines, before waiting again */
    }

    /* Stopping: no new connections.  Requests already sent to us are in
     * flight: read what each connection has buffered, answer every
     * complete request, and write the replies out before exiting. */
    notify_stopping();
    connection_watch_listeners(s, FALSE);
    for (Connection *c = s->connections, *next; c; c = next) {
        next = c->next;
        connection_drain(s, c);
    }
    connection_write_out(s, g_get_monotonic_time() / 1000 + STOP_WRITE_MS);
    log_counters(s);
    save_state(s, TRUE);
    logging_flush();
    logging_drain(STOP_WRITE_MS);  /* a log nobody reads does not keep us from exiting */
    return 0;
}

void server_free(Server *s)
{
    if (!s)
        return;
    while (s->connections)
        connection_close(s, s->connections);
    if (s->listeners)
        endpoint_close_all(s->listeners);
    g_free(s->listener_watches);
    store_reader_free(s->list);
    destinations_free(s->destinations);
    statewriter_free(s->state_writer);  /* after the save in flight */
    for (int i = 0; i < 2; i++) {
        if (s->state_locks[i] >= 0)
            close(s->state_locks[i]);
    }
    ledger_free(s->ledger);
    outbound_free(s->outbound);
    g_free(s->list_error);
    g_free(s->explain_logged);
    if (s->local_logged)
        g_hash_table_unref(s->local_logged);
    g_free(s->routes_said);
    config_free(s->config);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->sigfd >= 0)
        close(s->sigfd);
    g_free(s);
}

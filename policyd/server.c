/*
 * server.c - the event loop; see server.h for the contract.  main.c
 * runs it; listeners come from endpoint.c, decisions from decide.c, their
 * log lines from verdictlog.c.
 */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "decide.h"
#include "destination.h"
#include "endpoint.h"
#include "escape.h"
#include "http.h"
#include "ledger.h"
#include "logging.h"
#include "metrics.h"
#include "netstring.h"
#include "notify.h"
#include "outbound.h"
#include "statefile.h"
#include "verdictlog.h"

/* Connections to metrics_listen (scrapes, --explain, --report) open at
 * once: a limit of their own, so a client of the admin port can never
 * take the places max_connections keeps for Postfix. */
#define ADMIN_MAX_CONNECTIONS 32
#define EXPLAIN_LOG_EVERY_MS 10000

#define INITIAL_BUFFER 2048
#define LIST_RECHECK_US 1000  /* a renamed-in list is seen within 1 ms */
#define POSTFIX_CHECK_MS 2000 /* main.cf's signature: one stat(2) each time */

/* Whatever epoll watches (a connection, a listener, the signalfd) starts
 * with a Watch: the event goes to its handler. */
typedef struct Watch Watch;
typedef void (*WatchHandler)(Server *s, Watch *w, guint32 events);
struct Watch {
    WatchHandler handler;
};

typedef struct Connection Connection;
struct Connection {
    Watch watch;           /* first: epoll's pointer is the connection's */
    int fd;
    Protocol protocol;
    char *in;
    size_t in_len, in_cap;
    GString *out;          /* replies not yet written */
    gint64 deadline;       /* monotonic milliseconds */
    gint64 request_start;  /* 0 when no partial request is buffered */
    size_t scanned;        /* bytes of a partial policy request already looked at, 0: none */
    size_t line_start;     /* where its last, unfinished line starts */
    gboolean want_write;   /* polled for EPOLLOUT instead of EPOLLIN */
    gboolean close_after_write;  /* HTTP: one reply, then close */
    char last_instance[64];  /* the inbound transaction last counted */
    TransactionState txn;
    Connection *prev, *next;
};

typedef struct {
    Watch watch;           /* first */
    const Listener *listener;
} ListenerWatch;


typedef struct {
    guint64 hash;  /* of (query, answer); 0: empty */
    gint64 at;     /* when it was said (ms) */
} RouteSaid;

struct Server {
    Config *config;
    ConfigReloader reload;
    gpointer reload_data;
    int epfd, sigfd;
    Watch signal_watch;
    GArray *listeners;        /* Listener (endpoint.h) */
    ListenerWatch *listener_watches;
    gboolean accept_paused;
    gint64 accept_resume;
    Connection *connections;
    guint n_connections;
    guint n_admin_connections;  /* of which to metrics_listen: a limit of their own */
    char *explain_logged;       /* the last /explain address logged, and when (ms) */
    gint64 explain_logged_at;
    StoreReader *list;
    char *list_error;      /* last list error logged, NULL when the list is fine */
    Metrics count;
    Destinations *destinations;  /* DANE and MTA-STS lookups, cached */
    Watch dns_watch;       /* libunbound's answers and finished MTA-STS fetches */
    Ledger *ledger;
    gint64 state_saved_at;  /* ms */
    StateWriter *state_writer;  /* saves off the event loop */
    gboolean state_retry;   /* the last save failed: save everything again */
    int state_locks[2];     /* state_file.lock, mta_sts_state_file.lock; -1 = none */
    gint64 started;        /* wall clock, g_get_real_time() */
    ino_t list_inode;      /* the list file last logged as loaded */
    gint64 status_at;      /* when to update systemd's STATUS= next (ms) */
    gboolean stopping;
    gint64 now;            /* the event loop's clock, read once a batch */
    gint64 expire_at;      /* when to look for expired connections next */
    gint64 postfix_check_at;  /* when to look at main.cf's signature next (ms) */
    GHashTable *local_logged; /* listed local domains said once (since the last reload) */
    RouteSaid *routes_said;   /* route lines said lately (first_time_route) */
    Outbound *outbound;       /* Postfix's delivery log followed, NULL: maillog off */
    gint64 maillog_at;        /* when to read it next (ms) */
};

/* Deadlines in milliseconds: whole seconds would cut a 1 s read_timeout
 * to a few milliseconds when a request starts just before a second ticks.
 * The clock is read once per batch of events, not per request. */
static gint64 now_ms(const Server *s)
{
    return s->now;
}

static void clock_tick(Server *s)
{
    s->now = g_get_monotonic_time() / 1000;
}

static void watch_listeners(Server *s, gboolean on)
{
    for (guint i = 0; i < s->listeners->len; i++) {
        ListenerWatch *lw = &s->listener_watches[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &lw->watch};
        epoll_ctl(s->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, lw->listener->fd, &ev);
    }
}

/*
 * Connections.
 */
static void connection_close(Server *s, Connection *c)
{
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->connections = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_connections--;
    s->n_admin_connections -= c->protocol == PROTOCOL_HTTP;
    g_free(c->in);
    g_string_free(c->out, TRUE);
    g_free(c);
    if (s->accept_paused && !s->stopping) {  /* an fd is free again */
        s->accept_paused = FALSE;
        watch_listeners(s, TRUE);
    }
}

static void connection_event(Server *s, Watch *w, guint32 events);

static void accept_connections(Server *s, Watch *w, guint32 events)
{
    const Listener *l = ((ListenerWatch *)w)->listener;
    (void)events;
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: stop polling the listeners (or we
                 * would spin) until a connection closes or a second passes. */
                g_warning("accept: %s; pausing new connections", g_strerror(errno));
                watch_listeners(s, FALSE);
                s->accept_paused = TRUE;
                s->accept_resume = now_ms(s) + 1000;
            }
            return;
        }
        gboolean admin = l->protocol == PROTOCOL_HTTP;
        if (admin && s->n_admin_connections >= ADMIN_MAX_CONNECTIONS) {
            if (s->count.refused_admin_connections++ % 1000 == 0)
                g_warning("metrics_listen: %u connections open; refusing more", ADMIN_MAX_CONNECTIONS);
            close(fd);
            continue;
        }
        if (!admin && s->n_connections - s->n_admin_connections >= s->config->max_connections) {
            s->count.refused_connections++;
            if (s->count.refused_connections % 1000 == 1)
                g_warning("max_connections (%u) reached; refusing connections", s->config->max_connections);
            close(fd);
            continue;
        }
        Connection *c = g_new0(Connection, 1);
        c->watch.handler = connection_event;
        c->fd = fd;
        c->protocol = l->protocol;
        c->in_cap = INITIAL_BUFFER;
        c->in = g_malloc(c->in_cap);
        c->out = g_string_sized_new(128);
        /* an HTTP client gets read_timeout for its one request */
        guint timeout = c->protocol == PROTOCOL_HTTP ? s->config->read_timeout : s->config->idle_timeout;
        c->deadline = now_ms(s) + timeout * (gint64)1000;
        c->next = s->connections;
        if (c->next)
            c->next->prev = c;
        s->connections = c;
        s->n_connections++;
        s->n_admin_connections += admin;
        s->count.connections++;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->watch};
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* Log a list problem once, when it differs from the last one. */
static void list_unusable(Server *s, const char *message)
{
    if (g_strcmp0(s->list_error, message) == 0)
        return;
    g_warning("list unavailable, answering per on_list_error=%s: %s",
              s->config->on_list_error == LIST_ERROR_TEMPFAIL ? "tempfail" : "dunno", message);
    if (!s->list_error)
        s->count.list_errors++;
    s->list_inode = 0;
    g_free(s->list_error);
    s->list_error = g_strdup(message);
}

/* A new list file is being served: say which (its generation: inode and
 * mtime) and how big. */
static void log_list_loaded(Server *s)
{
    s->list_inode = store_reader_inode(s->list);
    g_autoptr(GDateTime) modified = g_date_time_new_from_unix_utc(store_reader_modified(s->list));
    g_autofree char *when = modified ? g_date_time_format_iso8601(modified) : g_strdup("?");
    g_message("list %s loaded: %" G_GUINT64_FORMAT " entries (inode %lu, modified %s)", store_reader_path(s->list),
              store_reader_entries(s->list), (unsigned long)s->list_inode, when);
}

/* The list is opened per request (one stat); log only state changes. */
static StoreReader *list_for_request(Server *s)
{
    GError *error = NULL;
    if (store_reader_begin_at(s->list, s->now * 1000, &error)) {
        if (s->list_error) {
            g_message("list %s is available again", store_reader_path(s->list));
            g_clear_pointer(&s->list_error, g_free);
        }
        if (store_reader_inode(s->list) != s->list_inode)
            log_list_loaded(s);
        return s->list;
    }
    list_unusable(s, error->message);
    g_error_free(error);
    return NULL;
}

/*
 * A list changed in place under its map (truncate, cp over it, rsync
 * --inplace) makes reading one of its pages SIGBUS.  Every read of the
 * list runs with a recovery point: the fault abandons the map (the list
 * counts as unusable until the file changes again), is logged once, and
 * the request is decided as with no list (on_list_error).  SA_NODEFER
 * and sigsetjmp(.., 0): no signal mask to save, no syscall per request.
 */
#define LIST_FAULT_WHY "changed in place while in use (replace lists by rename, as tlsmap does)"
static sigjmp_buf list_fault;
static volatile sig_atomic_t reading_list;

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    (void)info;
    (void)context;
    if (reading_list) {
        reading_list = 0;
        siglongjmp(list_fault, 1);
    }
    signal(sig, SIG_DFL);  /* not ours: die as before */
    raise(sig);
}

static void catch_list_faults(void)
{
    struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

typedef void (*ListUse)(Server *s, StoreReader *list, gpointer data);

/* Opening it is the point (a broken list is reported, a replaced one unmapped). */
static void look_at_list(Server *s, StoreReader *list, gpointer data)
{
    (void)s;
    (void)list;
    (void)data;
}

/* use(s, list, data) with the list, or NULL when it is unusable or its
 * map faulted (then use() runs again with NULL). */
static void with_list(Server *s, ListUse use, gpointer data)
{
    if (sigsetjmp(list_fault, 0) != 0) {
        store_reader_abandon(s->list, LIST_FAULT_WHY);
        list_unusable(s, "list " LIST_FAULT_WHY);
        use(s, NULL, data);
        return;
    }
    reading_list = 1;
    StoreReader *list = list_for_request(s);
    use(s, list, data);
    if (list)
        store_reader_end(list);
    reading_list = 0;
}

typedef struct {
    Connection *c;
    const PolicyRequest *req;
    Decision d;
} PolicyAnswer;

static void decide_policy(Server *s, StoreReader *list, gpointer data)
{
    PolicyAnswer *a = data;
    decide(a->req, list, s->config, &a->c->txn, &a->d);
}

typedef struct {
    const char *request;
    RouteDecision d;
} RouteAnswer;

static const DestinationPolicy *lookup_destination(const char *domain, gboolean dane, gboolean sts, gboolean listed,
                                                   gpointer data)
{
    Server *s = data;
    return destinations_get(s->destinations, domain, dane, sts, listed);
}

/* A listed key that names a local domain: said once per key until the
 * next reload (every message to postmaster@ would say it again). */
static gboolean first_time_local(Server *s, const char *key)
{
    if (g_hash_table_size(s->local_logged) >= 10000)
        return FALSE;  /* bounded: a list of that many local keys was said enough */
    return g_hash_table_add(s->local_logged, g_strdup(key));
}

/* Postfix asks the transport table at least twice per recipient (smtpd's
 * RCPT, then the queue manager's delivery), and again at each retry: a
 * route line is said once per query and answer in ROUTE_SAID_MS, about a
 * queue run (queue_run_delay, 300 s by default).  What was said is a
 * fixed table of 64-bit hashes of (query, answer) with the time: no
 * allocation, no growth, no pause, whatever the traffic; a collision at
 * worst says a line twice.  issue 31: one line per lookup was the log
 * (1 GB in a 20 s run) and the cost behind a file; a GHashTable of
 * strings here cost 0.6-0.8x of the old daemon's rps in bench/logcost.sh
 * (rehashes and frees on the loop). */
#define ROUTE_SAID_MS (300 * 1000)
#define ROUTE_SAID_SLOTS (1 << 17)  /* 2 MiB */

static guint64 fnv1a(guint64 h, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static gboolean first_time_route(Server *s, const char *request, const RouteDecision *d)
{
    if (!s->routes_said)
        s->routes_said = g_new0(RouteSaid, ROUTE_SAID_SLOTS);
    guint64 h = fnv1a(fnv1a(14695981039346656037ULL, request) ^ 0x9e3779b97f4a7c15ULL, d->reply) | 1;
    RouteSaid *slot = &s->routes_said[h & (ROUTE_SAID_SLOTS - 1)];
    if (slot->hash == h && s->now - slot->at < ROUTE_SAID_MS)
        return FALSE;
    slot->hash = h;
    slot->at = s->now;
    return TRUE;
}

static void decide_socketmap(Server *s, StoreReader *list, gpointer data)
{
    RouteAnswer *a = data;
    decide_route(a->request, list, s->config, lookup_destination, s, &a->d);
}

static void destinations_ready(Server *s, Watch *w, guint32 events)
{
    (void)w;
    (void)events;
    destinations_process(s->destinations);
}

static void answer(Server *s, Connection *c, const PolicyRequest *req)
{
    PolicyAnswer a = {.c = c, .req = req};
    gint64 start = g_get_monotonic_time();
    with_list(s, decide_policy, &a);
    metrics_count_decision(&s->count, &a.d, g_get_monotonic_time() - start);
    /* inbound: count each mail transaction once, at its first request */
    if (a.d.direction == DIRECTION_INBOUND && g_ascii_strcasecmp(req->protocol_state, "RCPT") == 0
        && (!*req->instance || strncmp(c->last_instance, req->instance, sizeof c->last_instance - 1) != 0)) {
        metrics_count_session(&s->count, req->encryption_protocol);
        ledger_record(s->ledger, req, &a.d, g_get_real_time() / G_USEC_PER_SEC);
        g_strlcpy(c->last_instance, req->instance, sizeof c->last_instance);
    }
    verdictlog_policy(req, &a.d);
    g_string_append(c->out, "action=");
    g_string_append(c->out, a.d.action);
    g_string_append(c->out, "\n\n");
}

/* While replies wait for the peer to read, stop reading its requests. */
static void want_write(Server *s, Connection *c, gboolean on)
{
    if (c->want_write == on)
        return;
    c->want_write = on;
    struct epoll_event ev = {.events = on ? EPOLLOUT : EPOLLIN, .data.ptr = &c->watch};
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write what we can; TRUE when all is written or more can wait (FALSE
 * also once an HTTP reply is all written: the connection is done). */
static gboolean flush_output(Server *s, Connection *c)
{
    while (c->out->len > 0) {
        ssize_t n = send(c->fd, c->out->str, c->out->len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            want_write(s, c, TRUE);
            return TRUE;
        }
        if (n < 0)
            return FALSE;
        g_string_erase(c->out, 0, n);
    }
    want_write(s, c, FALSE);
    return !c->close_after_write;
}

/* Socketmap: answer every complete netstring in the buffer, in order. */
static gboolean process_socketmap(Server *s, Connection *c, size_t *consumed)
{
    size_t offset = 0;
    for (;;) {
        size_t start, len, total;
        const char *why;
        NetstringStatus st = netstring_frame(c->in + offset, c->in_len - offset, s->config->limits.max_line,
                                             &start, &len, &total, &why);
        if (st == NETSTRING_INCOMPLETE)
            break;
        if (st == NETSTRING_ERROR) {
            g_warning("closing socketmap connection: %s", why);
            s->count.protocol_errors++;
            *consumed = offset;
            return FALSE;
        }
        char *request = c->in + offset + start;
        request[len] = 0;  /* over the ',' */
        if (memchr(request, 0, len)) {
            g_warning("closing socketmap connection: NUL byte in request");
            s->count.protocol_errors++;
            *consumed = offset;
            return FALSE;
        }
        RouteAnswer a = {.request = request};
        gint64 began = g_get_monotonic_time();
        with_list(s, decide_socketmap, &a);
        const RouteDecision *d = &a.d;
        metrics_count_route(&s->count, d, g_get_monotonic_time() - began);
        if (d->local_listed)
            verdictlog_route(request, d, first_time_local(s, d->key));
        else if (!verdictlog_route_changes_flow(d) || logging_is_verbose() || first_time_route(s, request, d))
            verdictlog_route(request, d, FALSE);
        netstring_append(c->out, d->reply);
        offset += total;
    }
    *consumed = offset;
    return TRUE;
}

/* Answer every complete request in the buffer, in order. */
/* A partial request is parsed again only when the new bytes may finish it
 * (an empty line) or break a rule the parser must report (a line over
 * max_line, the request over max_request, a NUL): one that arrives a byte
 * at a time is no longer parsed from its start on every read. */
static gboolean partial_request_may_be_done(Connection *c, const RequestLimits *limits)
{
    for (size_t i = c->scanned; i < c->in_len; i++) {
        if (c->in[i] == 0)
            return TRUE;
        if (c->in[i] != '\n')
            continue;
        size_t line = i - c->line_start;
        if (line == 0 || (line == 1 && c->in[c->line_start] == '\r'))
            return TRUE;
        c->line_start = i + 1;
    }
    c->scanned = c->in_len;
    return c->in_len - c->line_start > limits->max_line || c->in_len > limits->max_request;
}

/* What is left in the buffer is a partial request: remember how far it was
 * looked at. */
static void remember_partial_request(Connection *c)
{
    const char *nl = c->in_len ? memrchr(c->in, '\n', c->in_len) : NULL;
    c->scanned = c->in_len;
    c->line_start = nl ? (size_t)(nl - c->in) + 1 : 0;
}

static MetricsGauges gauges(Server *s);

/* The keys of the list being served, for the report's "never seen"
 * (NULL for lists too big to walk while requests wait). */
#define REPORT_MAX_KEYS 100000
static List *list_keys(Server *s)
{
    if (store_reader_entries(s->list) == 0 || store_reader_entries(s->list) > REPORT_MAX_KEYS)
        return NULL;
    List *list = list_new(store_reader_path(s->list));
    if (!store_load(store_reader_path(s->list), list, NULL)) {
        list_free(list);
        return NULL;
    }
    return list;
}

/* GET /entries, /report, /suggest?min=N&level=L */
static void ledger_page(Server *s, const HttpRequest *req, GString *body, int *status)
{
    OutLedger *out = s->outbound ? outbound_ledger(s->outbound) : NULL;
    if (strcmp(req->path, "/entries") == 0) {
        ledger_format_json(s->ledger, body);
        if (out) {  /* the inbound object gains "outbound" as its last member */
            g_string_truncate(body, body->len - 2);
            g_string_append(body, ",\"outbound\":");
            outledger_format_json(out, body);
            g_string_append(body, "}\n");
        }
        return;
    }
    if (strcmp(req->path, "/report") == 0) {
        g_autoptr(List) list = list_keys(s);
        g_autoptr(GPtrArray) keys = g_ptr_array_new();
        for (guint i = 0; list && i < list->records->len; i++) {
            const char *key = g_array_index(list->records, ListRecord, i).key;
            if (!out || !outledger_has_key(out, key))  /* seen outbound is seen */
                g_ptr_array_add(keys, (char *)key);
        }
        ledger_format_report(s->ledger, list ? keys : NULL, body);
        if (out)
            outledger_format_report(out, body);
        return;
    }
    char min[16] = "100", level[16] = "encrypt", direction[16] = "inbound";
    http_query_value(req->query, "min", min, sizeof min);
    http_query_value(req->query, "level", level, sizeof level);
    http_query_value(req->query, "direction", direction, sizeof direction);
    TlsLevel l;
    guint64 sessions;
    if (!g_ascii_string_to_unsigned(min, 10, 1, 1000000000, &sessions, NULL)) {
        *status = 400;
        g_string_append(body, "min must be a number of sessions from 1 to 1000000000\n");
        return;
    }
    if (!entry_level_parse(level, &l) || (l != LEVEL_ENCRYPT && l != LEVEL_VERIFY && l != LEVEL_SECURE)) {
        *status = 400;
        g_string_append(body, "level must be encrypt, verify or secure\n");
        return;
    }
    if (strcmp(direction, "outbound") == 0 && !out) {
        *status = 404;
        g_string_append(body, "no outbound evidence: maillog is not set (tlspolicyd.conf(5))\n");
    } else if (strcmp(direction, "outbound") == 0) {
        if (*s->config->relayhost)  /* every delivery went to the relay: its TLS was seen, not the domains' */
            g_string_append_printf(body, "# note: mail leaves through relayhost %s: the TLS seen is the relay's, "
                                         "not each domain's own servers'\n", s->config->relayhost);
        outledger_format_suggest(out, (guint)sessions, l, body);
    } else if (strcmp(direction, "inbound") == 0) {
        ledger_format_suggest(s->ledger, (guint)sessions, l, body);
    } else {
        *status = 400;
        g_string_append(body, "direction must be inbound or outbound\n");
    }
}

/* GET /tlsrpt?domain=D: the domain's TLS-RPT report for the day so far. */
static void tlsrpt_page(Server *s, const HttpRequest *req, GString *body, int *status)
{
    char domain[256] = "";
    http_query_value(req->query, "domain", domain, sizeof domain);
    for (char *p = domain; *p; p++)
        *p = g_ascii_tolower(*p);
    g_autofree char *json = s->outbound ? outbound_tlsrpt_report(s->outbound, s->config, domain) : NULL;
    if (json) {
        g_string_append(body, json);
        return;
    }
    *status = 404;
    if (!s->outbound || !outbound_tlsrpt(s->outbound))
        g_string_append(body, "no TLS-RPT reports: tlsrpt is off, or maillog is not set (tlspolicyd.conf(5))\n");
    else
        g_string_append_printf(body, "no TLS session with %s counted today (UTC)\n", *domain ? domain : "(no domain=)");
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

/* GET /explain?address=ADDRESS: what the socketmap answers for it and
 * why, source by source (tlspolicyd --explain).  Starts the lookups it
 * needs, like a real query; not counted as a route, but counted and
 * logged as an explain, since whoever reaches the admin port makes the
 * daemon look up names of their choosing. */
static void explain_page(Server *s, const HttpRequest *req, GString *body)
{
    char escaped[3 * KEY_MAX] = "";
    http_query_value(req->query, "address", escaped, sizeof escaped);
    g_autofree char *address = g_uri_unescape_string(escaped, NULL);
    if (!address || strchr(address, '\n')) {
        g_string_append(body, "address: not a valid address\n");
        return;
    }
    g_autofree char *request = g_strdup_printf("%s %s", s->config->socketmap_name, address);
    RouteAnswer a = {.request = request};
    with_list(s, decide_socketmap, &a);
    s->count.explains++;
    /* the address and what DNS said reach a terminal and the log: escaped;
     * tlspolicyd --explain asks again every 50 ms while a lookup is
     * pending, so one address is logged once in EXPLAIN_LOG_EVERY_MS */
    char shown[2 * sizeof a.d.explain], reply[2 * sizeof a.d.reply];
    if (g_strcmp0(s->explain_logged, address) != 0 || now_ms(s) >= s->explain_logged_at + EXPLAIN_LOG_EVERY_MS) {
        g_message("explain: address=\"%s\" reply=\"%s\"", text_escape(address, shown, LOG_VALUE_MAX),
                  text_escape(a.d.reply, reply, sizeof reply));
        g_free(s->explain_logged);
        s->explain_logged = g_strdup(address);
        s->explain_logged_at = now_ms(s);
    }
    g_string_append_printf(body, "address: %s\n", text_escape(address, shown, sizeof shown));
    g_string_append_printf(body, "sources: %s\n",
                           *a.d.explain ? text_escape(a.d.explain, shown, sizeof shown)
                                        : "list only (DANE/MTA-STS not consulted)");
    g_string_append_printf(body, "reason: %s\n", a.d.reason);
    g_string_append_printf(body, "answer: %s\n", text_escape(a.d.reply, shown, sizeof shown));
}

/* HTTP (metrics_listen): one request, one reply, then close. */
static gboolean process_http(Server *s, Connection *c)
{
    HttpRequest req;
    int status = 200;
    HttpFrame st = http_request(c->in, c->in_len, &req, &status);
    if (st == HTTP_INCOMPLETE)
        return TRUE;
    c->in_len = 0;
    c->close_after_write = TRUE;
    gboolean head = st == HTTP_COMPLETE && strcmp(req.method, "HEAD") == 0;
    if (st == HTTP_ERROR) {
        s->count.protocol_errors++;
    } else if (strcmp(req.method, "GET") != 0 && !head) {
        status = 405;
    } else if (strcmp(req.path, "/metrics") == 0) {
        g_autoptr(GString) body = g_string_sized_new(8192);
        MetricsGauges g = gauges(s);
        metrics_format(&s->count, &g, body);
        http_reply(c->out, 200, "text/plain; version=0.0.4; charset=utf-8", body->str, body->len, head);
        return flush_output(s, c);
    } else if (strcmp(req.path, "/explain") == 0) {
        g_autoptr(GString) body = g_string_new(NULL);
        explain_page(s, &req, body);
        http_reply(c->out, 200, "text/plain; charset=utf-8", body->str, body->len, head);
        return flush_output(s, c);
    } else if (strcmp(req.path, "/tlsrpt") == 0) {
        g_autoptr(GString) body = g_string_new(NULL);
        tlsrpt_page(s, &req, body, &status);
        const char *type = status == 200 ? "application/tlsrpt+json" : "text/plain; charset=utf-8";
        http_reply(c->out, status, type, body->str, body->len, head);
        return flush_output(s, c);
    } else if (strcmp(req.path, "/entries") == 0 || strcmp(req.path, "/report") == 0
               || strcmp(req.path, "/suggest") == 0) {
        g_autoptr(GString) body = g_string_sized_new(8192);
        ledger_page(s, &req, body, &status);
        const char *type = req.path[1] == 'e' && status == 200 ? "application/json" : "text/plain; charset=utf-8";
        http_reply(c->out, status, type, body->str, body->len, head);
        return flush_output(s, c);
    } else {
        status = 404;
    }
    char text[64];
    int len = g_snprintf(text, sizeof text, "%d\n", status);
    http_reply(c->out, status, "text/plain; charset=utf-8", text, (size_t)len, head);
    return flush_output(s, c);
}

static gboolean process_input(Server *s, Connection *c)
{
    if (c->protocol == PROTOCOL_HTTP)
        return process_http(s, c);
    gboolean bad = FALSE;
    size_t offset = 0;

    if (c->protocol == PROTOCOL_SOCKETMAP) {
        bad = !process_socketmap(s, c, &offset);
        /* a partial netstring is held to the same size cap as a request */
        if (!bad && c->in_len - offset > s->config->limits.max_line + 16) {
            g_warning("closing socketmap connection: request too long");
            s->count.protocol_errors++;
            bad = TRUE;
        }
    }
    if (c->protocol == PROTOCOL_POLICY && c->scanned > 0 && !partial_request_may_be_done(c, &s->config->limits))
        return flush_output(s, c);
    c->scanned = 0;
    while (!bad && c->protocol == PROTOCOL_POLICY) {
        size_t length;
        const char *why;
        PolicyRequest req;
        FrameStatus st = request_next(c->in + offset, c->in_len - offset, &s->config->limits, &req, &length, &why);
        if (st == FRAME_INCOMPLETE)
            break;
        if (st == FRAME_ERROR) {
            g_warning("closing connection: malformed request: %s", why);
            s->count.protocol_errors++;
            bad = TRUE;
            break;
        }
        answer(s, c, &req);
        offset += length;
    }
    memmove(c->in, c->in + offset, c->in_len - offset);
    c->in_len -= offset;
    if (c->protocol == PROTOCOL_POLICY && c->in_len > 0 && !bad)
        remember_partial_request(c);
    if (c->in_len == 0) {
        c->request_start = 0;
        c->deadline = now_ms(s) + s->config->idle_timeout * (gint64)1000;
    } else if (c->request_start == 0 || offset > 0) {
        /* what is left is the start of a new request: its clock starts now */
        c->request_start = now_ms(s);
        c->deadline = c->request_start + s->config->read_timeout * (gint64)1000;
    }
    /* Replies to the good requests before a bad one still go out. */
    return flush_output(s, c) && !bad;
}

/* Room for more input, up to one byte past the request cap (so that an
 * oversize request is seen as such); FALSE when the buffer is full. */
static gboolean make_room(Server *s, Connection *c)
{
    size_t limit = MAX(s->config->limits.max_request + 1, INITIAL_BUFFER);
    if (c->in_len < c->in_cap)
        return TRUE;
    if (c->in_cap >= limit)
        return FALSE;
    c->in_cap = MIN(c->in_cap * 2, limit);
    c->in = g_realloc(c->in, c->in_cap);
    return TRUE;
}

static void connection_readable(Server *s, Connection *c)
{
    if (!make_room(s, c)) {
        connection_close(s, c);  /* process_input() refuses a request this long first */
        return;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (c->in_len > 0)
            g_debug("connection closed in the middle of a request");
        connection_close(s, c);
        return;
    }
    c->in_len += (size_t)n;
    if (!process_input(s, c))
        connection_close(s, c);
}

static void connection_event(Server *s, Watch *w, guint32 events)
{
    Connection *c = (Connection *)w;
    if (!(events & EPOLLOUT)) {
        connection_readable(s, c);
        return;
    }
    if (!flush_output(s, c))
        connection_close(s, c);
}

/* Answer everything a connection has already sent; FALSE if it closed. */
static gboolean drain_connection(Server *s, Connection *c)
{
    while (make_room(s, c)) {
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return TRUE;
        c->in_len += (size_t)n;
        if (!process_input(s, c)) {
            connection_close(s, c);
            return FALSE;
        }
    }
    return TRUE;
}

/* At SIGTERM, replies still queued are written for at most this long: a
 * client that does not read must not keep the daemon from exiting. */
#define STOP_WRITE_MS 2000

static void write_out_replies(Server *s, gint64 deadline_ms)
{
    for (;;) {
        guint n = 0;
        for (Connection *c = s->connections; c; c = c->next)
            n += c->out->len > 0;
        gint64 left = deadline_ms - g_get_monotonic_time() / 1000;
        if (n == 0 || left <= 0)
            return;
        g_autofree struct pollfd *fds = g_new(struct pollfd, n);
        g_autofree Connection **conns = g_new(Connection *, n);
        guint i = 0;
        for (Connection *c = s->connections; c; c = c->next) {
            if (c->out->len > 0) {
                fds[i] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
                conns[i++] = c;
            }
        }
        if (poll(fds, n, (int)left) < 0 && errno != EINTR)
            return;
        for (i = 0; i < n; i++) {
            if (fds[i].revents && !flush_output(s, conns[i]))
                g_string_truncate(conns[i]->out, 0);  /* the peer is gone */
        }
    }
}

/* Walking every connection is not free with hundreds open (each a cache
 * miss): deadlines are checked every EXPIRE_EVERY_MS, not every batch. */
#define EXPIRE_EVERY_MS 50

static void expire_connections(Server *s)
{
    gint64 now = now_ms(s);
    if (now < s->expire_at)
        return;
    s->expire_at = now + EXPIRE_EVERY_MS;
    for (Connection *c = s->connections, *next; c; c = next) {
        next = c->next;
        if (now < c->deadline)
            continue;
        if (c->in_len > 0) {
            g_warning("closing connection: request not completed within read_timeout (%us)",
                      s->config->read_timeout);
            s->count.protocol_errors++;
        } else {
            g_debug("closing idle connection");
        }
        connection_close(s, c);
    }
    if (s->accept_paused && now >= s->accept_resume) {
        s->accept_paused = FALSE;
        watch_listeners(s, TRUE);
    }
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

static MetricsGauges gauges(Server *s)
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
    MetricsGauges g = gauges(s);
    gint64 age = g.list_loaded > 0 ? (gint64)(g_get_real_time() / 1e6 - g.list_loaded) : -1;
    g_autofree char *status = age < 0
        ? g_strdup_printf("%" G_GUINT64_FORMAT " decisions, %" G_GUINT64_FORMAT " routes; no usable list",
                          metrics_total_decisions(&s->count), s->count.routes[ROUTE_OK])
        : g_strdup_printf("%" G_GUINT64_FORMAT " decisions, %" G_GUINT64_FORMAT " routes; list: %" G_GUINT64_FORMAT
                          " entries, loaded %" G_GINT64_FORMAT " s ago",
                          metrics_total_decisions(&s->count), s->count.routes[ROUTE_OK], g.list_entries, age);
    notify_status(status);
}

/* Sockets are made once: say which changed keys wait for a restart. */
static void warn_restart_keys(const Config *old, const Config *fresh)
{
    const struct {
        const char *name;
        gboolean changed;
    } keys[] = {
        {"listen", !g_strv_equal((const char *const *)old->listen, (const char *const *)fresh->listen)},
        {"socketmap_listen",
         !g_strv_equal((const char *const *)old->socketmap_listen, (const char *const *)fresh->socketmap_listen)},
        {"metrics_listen",
         !g_strv_equal((const char *const *)old->metrics_listen, (const char *const *)fresh->metrics_listen)},
        {"socket_mode", old->socket_mode != fresh->socket_mode},
        {"socket_owner", g_strcmp0(old->socket_owner, fresh->socket_owner) != 0},
        {"socket_group", g_strcmp0(old->socket_group, fresh->socket_group) != 0},
        {"allow_remote", old->allow_remote != fresh->allow_remote},
        {"dns_resolver", g_strcmp0(old->dns_resolver, fresh->dns_resolver) != 0},
        {"dns_trust_anchor", g_strcmp0(old->dns_trust_anchor, fresh->dns_trust_anchor) != 0},
        {"dane_tlsa_port", old->dane_tlsa_port != fresh->dane_tlsa_port},
        {"mta_sts_ca_file", g_strcmp0(old->mta_sts_ca_file, fresh->mta_sts_ca_file) != 0},
        {"mta_sts_timeout", old->mta_sts_timeout != fresh->mta_sts_timeout},
        {"mta_sts_private_hosts", old->mta_sts_private_hosts != fresh->mta_sts_private_hosts},
        {"destination_cache_size", old->destination_cache_size != fresh->destination_cache_size},
        {"destination_max_lookups", old->destination_max_lookups != fresh->destination_max_lookups},
        {"mta_sts_state_file", g_strcmp0(old->mta_sts_state_file, fresh->mta_sts_state_file) != 0},
        {"user", g_strcmp0(old->user, fresh->user) != 0},
        {"log_file", g_strcmp0(old->log_file, fresh->log_file) != 0},
        {"maillog", g_strcmp0(old->maillog, fresh->maillog) != 0},
        {"tlsrpt", old->tlsrpt != fresh->tlsrpt},
    };
    g_autoptr(GString) changed = g_string_new(NULL);
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        if (keys[i].changed)
            g_string_append_printf(changed, "%s%s", changed->len ? ", " : "", keys[i].name);
    }
    if (changed->len)
        g_warning("changed, in effect at the next restart: %s (the rest is in effect now)", changed->str);
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
    with_list(s, read_maillog, &more);
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
        s->listener_watches[i] = (ListenerWatch){.watch.handler = accept_connections,
                                                 .listener = &g_array_index(s->listeners, Listener, i)};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->signal_watch};
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev);
    watch_listeners(s, TRUE);

    /* Open the list now, so a broken one is reported at start. */
    catch_list_faults();
    with_list(s, look_at_list, NULL);
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
            with_list(s, look_at_list, NULL);
        for (int i = 0; i < n; i++) {
            Watch *w = events[i].data.ptr;
            w->handler(s, w, events[i].events);
        }
        expire_connections(s);
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
    watch_listeners(s, FALSE);
    for (Connection *c = s->connections, *next; c; c = next) {
        next = c->next;
        drain_connection(s, c);
    }
    write_out_replies(s, g_get_monotonic_time() / 1000 + STOP_WRITE_MS);
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

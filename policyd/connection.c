/*
 * connection.c - the daemon's connections: accepted within
 * max_connections (and the admin port's own limit), policy requests and
 * socketmap netstrings framed and answered in order, replies written as
 * the peer reads them, deadlines; see serverstate.h.
 */
#include "serverstate.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "logging.h"
#include "netstring.h"
#include "verdictlog.h"

void connection_watch_listeners(Server *s, gboolean on)
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
void connection_close(Server *s, Connection *c)
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
        connection_watch_listeners(s, TRUE);
    }
}

static void connection_event(Server *s, Watch *w, guint32 events);

void connection_accept(Server *s, Watch *w, guint32 events)
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
                connection_watch_listeners(s, FALSE);
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

void connection_route(Server *s, const char *request, RouteDecision *d)
{
    RouteAnswer a = {.request = request};
    listguard_with_list(s, decide_socketmap, &a);
    *d = a.d;
}

static void answer(Server *s, Connection *c, const PolicyRequest *req)
{
    PolicyAnswer a = {.c = c, .req = req};
    gint64 start = g_get_monotonic_time();
    listguard_with_list(s, decide_policy, &a);
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
gboolean connection_flush(Server *s, Connection *c)
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
        listguard_with_list(s, decide_socketmap, &a);
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

static gboolean process_input(Server *s, Connection *c)
{
    if (c->protocol == PROTOCOL_HTTP)
        return adminpages_answer(s, c);
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
        return connection_flush(s, c);
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
    return connection_flush(s, c) && !bad;
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
    if (!connection_flush(s, c))
        connection_close(s, c);
}

/* Answer everything a connection has already sent; FALSE if it closed. */
gboolean connection_drain(Server *s, Connection *c)
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

void connection_write_out(Server *s, gint64 deadline_ms)
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
            if (fds[i].revents && !connection_flush(s, conns[i]))
                g_string_truncate(conns[i]->out, 0);  /* the peer is gone */
        }
    }
}

/* Every batch walks every connection: checking only every 50 ms paid
 * nothing measurable (bench/policyd.sh's load at 100 and 500
 * connections, same run, 3 rounds: 87,582 and 104,733 requests/s with
 * the 50 ms step against 95,891 and 109,353 without), so it went. */
void connection_expire(Server *s)
{
    gint64 now = now_ms(s);
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
        connection_watch_listeners(s, TRUE);
    }
}


/*
 * serverstate.h - the daemon's state as the modules of its event loop
 * share it: server.c (the loop, signals, reload, state files, status),
 * connection.c (connections: policy and socketmap framing, the answers),
 * adminpages.c (the HTTP pages of metrics_listen) and listguard.c (the
 * list, read under the one SIGBUS guard).  Not for other modules:
 * server.h is the contract.
 */
#ifndef TLSPOLICYD_SERVERSTATE_H
#define TLSPOLICYD_SERVERSTATE_H

#include <sys/types.h>

#include "decide.h"
#include "destination.h"
#include "endpoint.h"
#include "ledger.h"
#include "metrics.h"
#include "outbound.h"
#include "server.h"
#include "statefile.h"

/* Connections to metrics_listen (scrapes, --explain, --report) open at
 * once: a limit of their own, so a client of the admin port can never
 * take the places max_connections keeps for Postfix. */
#define ADMIN_MAX_CONNECTIONS 32
#define EXPLAIN_LOG_EVERY_MS 10000

/* At SIGTERM, replies still queued are written for at most this long: a
 * client that does not read must not keep the daemon from exiting. */
#define STOP_WRITE_MS 2000
#define INITIAL_BUFFER 2048
#define LIST_RECHECK_US 1000  /* a renamed-in list is seen within 1 ms */

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
    gint64 postfix_check_at;  /* when to look at main.cf's signature next (ms) */
    GHashTable *local_logged; /* listed local domains said once (since the last reload) */
    RouteSaid *routes_said;   /* route lines said lately (first_time_route) */
    Outbound *outbound;       /* Postfix's delivery log followed, NULL: maillog off */
    gint64 maillog_at;        /* when to read it next (ms) */
};

/* Deadlines in milliseconds: whole seconds would cut a 1 s read_timeout
 * to a few milliseconds when a request starts just before a second ticks.
 * The clock is read once per batch of events, not per request. */
static inline gint64 now_ms(const Server *s)
{
    return s->now;
}

/* connection.c: listeners on or off epoll; a new connection, one closed;
 * at a stop, what was sent answered and the replies written (for at most
 * deadline_ms); deadlines; output; the socketmap's decision for request. */
void connection_watch_listeners(Server *s, gboolean on);
void connection_accept(Server *s, Watch *w, guint32 events);
void connection_close(Server *s, Connection *c);
gboolean connection_drain(Server *s, Connection *c);
void connection_write_out(Server *s, gint64 deadline_ms);
void connection_expire(Server *s);
gboolean connection_flush(Server *s, Connection *c);
void connection_route(Server *s, const char *request, RouteDecision *d);

/* adminpages.c: an HTTP request on a metrics_listen connection, answered
 * (FALSE: close the connection). */
gboolean adminpages_answer(Server *s, Connection *c);

/* listguard.c: use(s, list, data) with the list open, or with NULL when
 * it is unusable or faulted (listguard_install() first). */
typedef void (*ListUse)(Server *s, StoreReader *list, gpointer data);
void listguard_install(void);
void listguard_with_list(Server *s, ListUse use, gpointer data);
void listguard_look(Server *s, StoreReader *list, gpointer data);

/* server.c: the gauges /metrics and systemd's status show. */
MetricsGauges server_gauges(Server *s);

#endif

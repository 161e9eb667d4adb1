/*
 * config.h - tlspolicyd configuration: defaults, the key file
 * (/etc/tlspolicyd/tlspolicyd.conf, group [tlspolicyd]) and validation.
 *
 * config_load() reads a file over the defaults; unknown keys and bad
 * values are errors that name the file and line.  The command line is
 * applied afterwards by the caller.  config_format() prints the
 * effective configuration (tlspolicyd --check-config).
 */
#ifndef TLSPOLICYD_CONFIG_H
#define TLSPOLICYD_CONFIG_H

#include "entry.h"
#include "postfixsite.h"
#include "request.h"

GQuark config_error_quark(void);
#define CONFIG_ERROR config_error_quark()
typedef enum {
    CONFIG_ERROR_FILE,     /* unreadable, or not key-file syntax */
    CONFIG_ERROR_UNKNOWN,  /* an unknown group or option */
    CONFIG_ERROR_VALUE,    /* a bad value, or options that contradict each other */
} ConfigErrorCode;

typedef enum { LIST_ERROR_TEMPFAIL, LIST_ERROR_DUNNO } ListErrorMode;
typedef enum { MIXED_REJECT, MIXED_STRICTEST } MixedMode;
typedef enum { TLSRPT_OFF, TLSRPT_DRY_RUN, TLSRPT_SEND } TlsrptMode;
typedef enum { ROUTING_FILTER, ROUTING_TRANSPORT_MAPS } RoutingMode;
typedef enum { GLOBAL_FLOOR_OFF, GLOBAL_FLOOR_REPORT, GLOBAL_FLOOR_ENFORCE } GlobalFloor;
typedef enum { DANE_OFF, DANE_AUTO } DaneMode;
typedef enum { MTA_STS_OFF, MTA_STS_TESTING, MTA_STS_ENFORCE } MtaStsMode;
typedef enum { LOOKUP_TEMP, LOOKUP_LIST } LookupFallback;

typedef struct {
    char *list;                 /* source name; the daemon reads list.lmdb */
    char **listen;              /* unix:/path or inet:host:port */
    char **socketmap_listen;    /* where the socketmap service listens */
    char **metrics_listen;      /* HTTP: /metrics (Prometheus), /entries */
    char *state_file;           /* the compliance ledger across restarts, "" none */
    char *socketmap_name;       /* the table name Postfix asks for */
    char **local_domains;       /* never rerouted by the socketmap service */
    guint socket_mode;
    char *socket_owner, *socket_group;
    gboolean allow_remote;      /* non-loopback inet addresses */

    char *outbound_context;     /* policy_context that marks outbound mail */
    gboolean sasl_is_outbound;
    char *recipient_delimiter;
    MixedMode mixed_recipients;
    RoutingMode outbound_routing;
    OnFailure default_on_failure;
    char *transports[LEVEL_COUNT];         /* per level, deferring */
    char *bounce_transports[LEVEL_COUNT];  /* per level, bouncing */
    char *relayhost;            /* next hop for listed mail ("" = the recipient's MX) */

    TlsProtocol min_protocol;   /* inbound floor for listed senders */
    char *exclude_ciphers;
    GlobalFloor global_floor;   /* floor and ciphers for TLS sessions of senders no entry governs */
    char *global_floor_notice;  /* "" = built from min_protocol and exclude_ciphers */
    char *reject_code, *reject_status;
    char *reject_notice;        /* "" = a text that names what is missing */
    ListErrorMode on_list_error;

    /* Outbound: what recipient domains publish (DANE, MTA-STS). */
    DaneMode dane;              /* for unlisted domains; listed ones always */
    MtaStsMode mta_sts;         /* for unlisted domains; listed ones always */
    LookupFallback on_lookup_pending;  /* first lookup not finished */
    LookupFallback on_lookup_failure;  /* no trustworthy answer */
    char *dns_resolver;         /* "" = /etc/resolv.conf, else addresses to forward to */
    char *dns_trust_anchor;     /* DNSSEC trust anchor file */
    guint dane_tlsa_port;       /* the port Postfix's smtp connects to */
    char *mta_sts_ca_file;      /* "" = the system's CAs */
    guint mta_sts_timeout;      /* seconds for one policy fetch */
    gboolean mta_sts_private_hosts; /* policy fetches to loopback/private addresses */
    guint destination_cache_size;   /* domains whose DANE/MTA-STS answers are cached */
    guint destination_max_lookups;  /* unlisted domains with lookups in flight */
    char *mta_sts_state_file;   /* MTA-STS policies across restarts, "" none */
    char *tls_policy_name;      /* the socketmap table smtp_tls_policy_maps asks */

    /* The Postfix served: its relayhost and local domains unless this file
     * says otherwise ("" = read no Postfix). */
    char *postfix_config_directory;
    PostfixSite *postfix;       /* config_read_postfix(); NULL when not read */
    GHashTable *from_file;      /* the option names the file set */

    char *user;                 /* the account to serve as when started as root ("root": stay) */
    char *log_file;             /* "" = the journal, stderr or syslog (logging.h) */
    char *maillog;              /* Postfix's delivery log to follow (outbound.h), "" = none */
    TlsrptMode tlsrpt;          /* TLS-RPT reports from that log (tlsrpt.h) */
    char *tlsrpt_directory;     /* where each day's reports are written (dry-run; send: a copy) */
    char *tlsrpt_organization;  /* organization-name; "" = this host's name */
    char *tlsrpt_contact;       /* contact-info; "" = postmaster@ this host's name */
    char *tlsrpt_submit;        /* "unix:PATH": the smtpd mailto: reports go to; "" = none */

    RequestLimits limits;
    guint read_timeout;         /* seconds to finish a started request */
    guint idle_timeout;         /* seconds between requests */
    guint max_connections;
    gboolean verbose;
} Config;

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define CONFIG_DEFAULT_FILE SYSCONFDIR "/tlspolicyd/tlspolicyd.conf"
#define CONFIG_DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key"  /* Debian's dns-root-data */

Config *config_new_defaults(void);
void config_free(Config *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Config, config_free)

gboolean config_load(Config *config, const char *path, GError **error);
/* The first cross-option rule c breaks (its message), and the option it
 * is about; NULL when none (configcheck.c). */
const char *config_first_problem(const Config *c, const char **option);
gboolean config_validate(const Config *config, GError **error);

/* Read the Postfix in postfix_config_directory (postfixsite.h) and take
 * from it what the file did not set: relayhost (main.cf's relayhost, else
 * default_transport's next hop).  A directory without main.cf is no
 * Postfix to read: *note says so and the file's values stand.  FALSE when
 * postconf fails or main.cf's relayhost cannot be routed to. */
gboolean config_read_postfix(Config *config, char **note, GError **error);
/* One line for the log: which Postfix, its version, where relayhost came
 * from, how many local domains and what of them was not followed. */
char *config_describe_postfix(const Config *config);
/* The file set this option (its value wins over Postfix's). */
gboolean config_from_file(const Config *config, const char *name);
char *config_format(const Config *config);

/* Outbound routes, "transport:nexthop" as transport(5) results and FILTER
 * actions take them.  The transport: the entry's transport=, else the
 * level's (bounce_transport_* when the entry's on_failure, or the
 * default, is bounce).  The next hop: the entry's nexthop=, else
 * relayhost, else empty (the recipient domain's MX).  The longest
 * route fits CONFIG_ROUTE_MAX bytes. */
#define CONFIG_ROUTE_MAX (ENTRY_MAX_TRANSPORT + 1 + ENTRY_MAX_NEXTHOP + 1)
void config_route(const Config *config, const Entry *entry, char *out, size_t size);
/* The level config_route() routes an entry at: its own, except that
 * "dane" goes dane-only - Postfix's dane sends in plaintext when a domain
 * has no TLSA records, dane-only makes Postfix look them up and defer
 * without them.  (The socketmap routes dane entries to their MX hosts at
 * encrypt instead once DNS shows there are none: decide.c.) */
TlsLevel config_route_level(const Entry *entry);
void config_level_route(const Config *config, TlsLevel level, gboolean bounce, const char *nexthop,
                        char *out, size_t size);
gboolean config_bounces(const Config *config, const Entry *entry);
const char *config_nexthop(const Config *config, const Entry *entry);

/* The global floor's reply text: global_floor_notice, or one built from
 * min_protocol and exclude_ciphers. */
void config_global_floor_notice(const Config *config, char *out, size_t size);

/* The names config_load() accepts (tests check the man page against it). */
const char *const *config_known_keys(void);
/* An option's default as tlspolicyd.conf would write it; NULL: no such
 * option. */
const char *config_default(const char *name);
/* Is the option read at start only (a reload does not change it)? */
gboolean config_needs_restart(const char *name);
/* The options read at start only whose values differ: "listen, user",
 * "" when none (a reload says they wait for a restart). */
char *config_restart_changes(const Config *old, const Config *fresh);

#endif

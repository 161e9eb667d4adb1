/*
 * outbound.c - Postfix's delivery log into the outbound ledger; see
 * outbound.h.
 */
#include "outbound.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "escape.h"
#include "journalfollow.h"
#include "logfollow.h"
#include "logging.h"
#include "lookup.h"
#include "maillog.h"
#include "mtasts.h"

/* Sessions tracked at once: Postfix's default_process_limit is 100. */
#define OUTBOUND_MAX_SESSIONS 4096

/* Journal entries read per turn: about as many as OUTBOUND_POLL_BYTES of lines. */
#define OUTBOUND_POLL_ENTRIES 330

struct Outbound {
    LogFollow *follow;       /* a file, or */
    JournalFollow *journal;  /* the journal ("journal", "journal:DIR") */
    DeliveryTracker *tracker;
    OutLedger *ledger;
    Tlsrpt *tlsrpt;          /* NULL: tlsrpt = off */
    TlsrptSender *sender;    /* NULL: reports are not sent (off, dry-run) */
    Destinations *destinations;  /* the policies TLS-RPT reports; NULL: none known */
    OutboundCounts counts;
    guint smtp_port;
    gboolean changed;
    /* for the line callback */
    StoreReader *list;
    const Config *config;
    gint64 now;
};

static guint smtp_port(const Config *config)
{
    const char *port = config->postfix ? postfix_site_param(config->postfix, "smtp_tcp_port") : "";
    guint64 n;
    if (*port && g_ascii_string_to_unsigned(port, 10, 1, 65535, &n, NULL))
        return (guint)n;
    return 25;  /* "smtp", or no Postfix read */
}

gboolean outbound_is_journal(const char *maillog, const char **directory)
{
    if (strcmp(maillog, "journal") == 0) {
        *directory = NULL;
        return TRUE;
    }
    if (g_str_has_prefix(maillog, "journal:")) {
        *directory = maillog + 8;
        return TRUE;
    }
    return FALSE;
}

/* tlsrpt_submit's socket: "unix:public/x" is under Postfix's
 * queue_directory, as main.cf's "unix:private/..." names are. */
static char *submit_socket(const Config *config)
{
    const char *path = config->tlsrpt_submit + strlen("unix:");
    if (!*config->tlsrpt_submit || g_path_is_absolute(path))
        return g_strdup(*config->tlsrpt_submit ? path : "");
    const char *queue = config->postfix ? postfix_site_param(config->postfix, "queue_directory") : "";
    return g_build_filename(queue && *queue ? queue : "/var/spool/postfix", path, NULL);
}

Outbound *outbound_new(const Config *config, GError **error)
{
    if (!*config->maillog)
        return NULL;
    const char *directory;
    JournalFollow *journal = NULL;
    if (outbound_is_journal(config->maillog, &directory) && !(journal = journalfollow_open(directory, error)))
        return NULL;
    Outbound *o = g_new0(Outbound, 1);
    o->journal = journal;
    if (!journal)
        o->follow = logfollow_new(config->maillog);
    o->tracker = delivery_tracker_new(OUTBOUND_MAX_SESSIONS);
    o->ledger = outledger_new(OUTLEDGER_MAX_KEYS, OUTLEDGER_MAX_DOMAINS);
    if (config->tlsrpt != TLSRPT_OFF)
        o->tlsrpt = tlsrpt_new(TLSRPT_MAX_DOMAINS, g_get_real_time() / G_USEC_PER_SEC);
    if (config->tlsrpt == TLSRPT_SEND) {
        g_autofree char *submit_path = submit_socket(config);
        TlsrptSenderSettings settings = {.resolver = config->dns_resolver, .trust_anchor = config->dns_trust_anchor,
                                         .ca_file = config->mta_sts_ca_file,
                                         .timeout_ms = config->mta_sts_timeout * 1000,
                                         .private_hosts = config->mta_sts_private_hosts,
                                         .submit_path = submit_path};
        GError *send_error = NULL;
        if (!(o->sender = tlsrpt_sender_new(&settings, &send_error))) {  /* reports written, not sent: said */
            g_warning("tlsrpt: reports cannot be sent: %s", send_error->message);
            g_error_free(send_error);
        }
        /* a socket that is not there yet (Postfix starts later) or that
         * this account cannot write to: said now, not at midnight */
        if (*submit_path && g_access(submit_path, W_OK) != 0)
            g_warning("tlsrpt: reports for mailto: destinations cannot be handed to Postfix now: %s: %s (tlsrpt_submit; "
                      "the shipped master.cf's tlsrpt service, and the postdrop group)",
                      submit_path, g_strerror(errno));
    }
    o->smtp_port = smtp_port(config);
    return o;
}

void outbound_free(Outbound *o)
{
    if (!o)
        return;
    logfollow_free(o->follow);
    journalfollow_free(o->journal);
    delivery_tracker_free(o->tracker);
    outledger_free(o->ledger);
    tlsrpt_sender_free(o->sender);
    tlsrpt_free(o->tlsrpt);
    g_free(o);
}

OutLedger *outbound_ledger(Outbound *o)
{
    return o->ledger;
}

Tlsrpt *outbound_tlsrpt(Outbound *o)
{
    return o->tlsrpt;
}

TlsrptSender *outbound_tlsrpt_sender(Outbound *o)
{
    return o->sender;
}

void outbound_use_destinations(Outbound *o, Destinations *destinations)
{
    o->destinations = destinations;
}

OutboundCounts outbound_counts(const Outbound *o)
{
    OutboundCounts c = o->counts;
    if (o->follow) {
        c.behind_bytes = logfollow_behind(o->follow);
        c.long_lines = logfollow_long_lines(o->follow);
    }
    return c;
}

gboolean outbound_changed(const Outbound *o)
{
    return o->changed;
}

/* "host[127.0.0.1]:10025" on a loopback address, at another port than
 * the smtp client's own: a content filter's hop (amavis, a milter-less
 * scanner), whose real delivery is logged after the re-injection. */
static gboolean filter_hop(const char *relay, guint port)
{
    const char *open = strchr(relay, '[');
    const char *close = open ? strchr(open, ']') : NULL;
    if (!close || close[1] != ':')
        return FALSE;
    guint64 n;
    if (!g_ascii_string_to_unsigned(close + 2, 10, 1, 65535, &n, NULL) || n == port)
        return FALSE;
    return g_str_has_prefix(open + 1, "127.") || strncmp(open + 1, "::1]", 4) == 0;
}

/* The recipient's domain, lower case ("" for none). */
static void recipient_domain(const char *recipient, char *out, size_t size)
{
    const char *at = strrchr(recipient, '@');
    g_strlcpy(out, at ? at + 1 : "", size);
    for (char *p = out; *p; p++)
        *p = g_ascii_tolower(*p);
    size_t n = strlen(out);
    if (n && out[n - 1] == '.')
        out[n - 1] = '\0';
}

static void append_escaped(GString *line, const char *s)
{
    char buf[LOG_VALUE_MAX * 2];
    g_string_append(line, text_escape(s, buf, sizeof buf));
}

static void log_delivery(const OutboundRecord *r)
{
    const Delivery *d = r->delivery;
    g_autoptr(GString) line = g_string_sized_new(512);
    g_string_append(line, "delivery: queue_id=");
    append_escaped(line, d->queue_id);
    g_string_append(line, " to=<");
    append_escaped(line, d->recipient);
    g_string_append(line, "> relay=");
    append_escaped(line, d->relay);
    g_string_append(line, " service=");
    append_escaped(line, d->service);
    g_string_append(line, " key=");
    append_escaped(line, r->key);
    g_string_append_printf(line, " level=%s mode=%s status=", entry_level_name(r->entry->level),
                           r->entry->mode == MODE_REPORT ? "report" : "enforce");
    append_escaped(line, d->status);
    g_string_append(line, " tls=");
    if (d->trust == TRUST_PLAINTEXT) {
        g_string_append(line, "none");
    } else {
        append_escaped(line, d->protocol);
        g_string_append_c(line, '/');
        g_string_append(line, delivery_trust_name(d->trust));
    }
    g_string_append_printf(line, " result=%s", delivery_result_name(d->result));
    if (d->detail[0]) {
        g_string_append(line, " detail=\"");
        append_escaped(line, d->detail);
        g_string_append_c(line, '"');
    }
    if (r->entry->mode == MODE_REPORT) {
        if (r->would_succeed)
            g_string_append(line, " would_be=\"would succeed");
        else
            g_string_append_printf(line, " would_be=\"would %s: %s",
                                   r->entry->on_failure == ON_FAILURE_BOUNCE ? "bounce" : "defer",
                                   delivery_result_name(r->would_result));
        if (r->would_detail && *r->would_detail) {
            g_string_append(line, " (");
            append_escaped(line, r->would_detail);
            g_string_append_c(line, ')');
        }
        g_string_append_c(line, '"');
    }
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "TLSPOLICYD_VERDICT", "delivery", "MESSAGE", "%s", line->str);
}

/* "mx.example[192.0.2.7]:25" -> its name and address. */
static void split_relay(const char *relay, char *host, size_t host_size, char *ip, size_t ip_size)
{
    const char *open = strchr(relay, '[');
    const char *close = open ? strchr(open, ']') : NULL;
    *host = *ip = '\0';
    if (!close)
        return;
    g_strlcpy(host, relay, MIN(host_size, (size_t)(open - relay) + 1));
    g_strlcpy(ip, open + 1, MIN(ip_size, (size_t)(close - open)));
}

/* The session into the day's TLS-RPT aggregate, under the policy the
 * domain published as tlspolicyd knew it: a valid MTA-STS policy, else
 * validated TLSA records when the route was a DANE one, else none. */
static void report_session(Outbound *o, const Delivery *d, const char *domain)
{
    if (!o->tlsrpt || !d->connected || !d->new_session || !dns_name_is_hostname(domain))
        return;  /* an address literal or an odd name has no _smtp._tls record, and names no file */
    if (strcmp(d->service, TLSRPT_SERVICE) == 0)
        return;  /* a report's own delivery: never a report about a report (RFC 8460 3) */
    if (d->result == RESULT_NONE && d->trust == TRUST_PLAINTEXT)
        return;  /* no TLS session, and none required: not in a report */
    const DestinationPolicy *known = o->destinations ? destinations_peek(o->destinations, domain) : NULL;
    TlsrptPolicy policy = {.type = TLSRPT_NO_POLICY};
    g_auto(GStrv) lines = NULL;
    g_auto(GStrv) mx = NULL;
    if (known && known->sts == SOURCE_FOUND && known->policy) {
        policy.type = TLSRPT_STS;
        policy.strings = lines = mtasts_policy_lines(known->policy);
        policy.mx = mx = mtasts_policy_mx(known->policy);
    } else if (known && known->dane == SOURCE_FOUND && strstr(d->service, "dane")) {
        policy.type = TLSRPT_TLSA;
        policy.strings = known->tlsa_records;
        policy.mx = known->mx_hosts;
    }
    char host[256], ip[64];
    split_relay(d->relay, host, sizeof host, ip, sizeof ip);
    TlsrptSession session = {.result = d->result, .mx_host = host, .ip = ip, .detail = d->detail};
    tlsrpt_record(o->tlsrpt, domain, &policy, &session);
}

static void count_delivery(Outbound *o, const Delivery *d, const LookupMatch *match, gboolean listed)
{
    char domain[256];
    recipient_domain(d->recipient, domain, sizeof domain);
    const Entry *entry = listed && !entry_level_is_exemption(match->entry.level) ? &match->entry : NULL;
    OutboundRecord r = {.delivery = d, .domain = domain, .key = entry ? match->key : "", .entry = entry,
                        .exempt = listed && !entry, .would_succeed = TRUE};
    char would_detail[160] = "";
    if (entry && entry->mode == MODE_REPORT && d->connected) {
        r.would_succeed = delivery_predict(d, entry, &r.would_result, would_detail, sizeof would_detail);
        r.would_detail = would_detail;
    }
    outledger_record(o->ledger, &r);
    report_session(o, d, domain);
    o->counts.deliveries++;
    if (d->connected)
        o->counts.results[d->result]++;
    if (entry)
        log_delivery(&r);
}

/* One line, parsed (FALSE: another program's). */
static void take_parsed(Outbound *o, gboolean parsed, MaillogLine *line);

static gboolean take_line(const char *text, size_t len, gpointer data)
{
    Outbound *o = data;
    MaillogLine line;
    take_parsed(o, maillog_parse(text, len, o->now, &line), &line);
    return TRUE;
}

static gboolean take_entry(const char *identifier, guint pid, const char *message, size_t len, gint64 time,
                           gpointer data)
{
    Outbound *o = data;
    MaillogLine line;
    take_parsed(o, maillog_parse_text(identifier, pid, message, len, time, &line), &line);
    return TRUE;
}

static void take_parsed(Outbound *o, gboolean parsed, MaillogLine *line)
{
    o->counts.lines++;
    o->changed = TRUE;
    if (!parsed)
        return;
    if (line->time > o->counts.last_line_time)
        o->counts.last_line_time = line->time;
    if (line->kind == MAILLOG_OTHER) {
        o->counts.unparsed++;
        return;
    }
    if (line->kind == MAILLOG_DELIVERY && filter_hop(line->relay, o->smtp_port)) {
        o->counts.hops++;
        return;
    }
    /* the list first: a fault in it (SIGBUS) leaves this line unread */
    LookupMatch match;
    gboolean listed = line->kind == MAILLOG_DELIVERY
                      && lookup_find(o->list, line->recipient, o->config->recipient_delimiter, DIRECTION_OUTBOUND,
                                     &match) == LOOKUP_FOUND;
    Delivery d;
    if (delivery_feed(o->tracker, line, &d))
        count_delivery(o, &d, &match, listed);
}

/* Who the reports are from: the options, else Postfix's myhostname, else
 * this host's name (contact: postmaster@ it). */
static TlsrptOrg report_org(const Config *config, char *contact, size_t size)
{
    const char *host = config->postfix ? postfix_site_param(config->postfix, "myhostname") : "";
    if (!host || !*host)
        host = g_get_host_name();
    if (*config->tlsrpt_contact)
        g_strlcpy(contact, config->tlsrpt_contact, size);
    else
        g_snprintf(contact, size, "postmaster@%s", host);
    return (TlsrptOrg){.organization = *config->tlsrpt_organization ? config->tlsrpt_organization : host,
                       .contact = contact, .submitter = host};
}

/* At a UTC day's end: the day's reports written, and a new day. */
static void roll_reports(Outbound *o, const Config *config, gint64 now)
{
    char contact[320];
    TlsrptOrg org = report_org(config, contact, sizeof contact);
    g_autoptr(GPtrArray) domains = o->sender ? tlsrpt_domains(o->tlsrpt) : g_ptr_array_new();
    for (guint i = 0; i < domains->len; i++) {
        const char *domain = domains->pdata[i];
        g_autofree char *json = tlsrpt_report_json(o->tlsrpt, domain, &org);
        g_autofree char *id = tlsrpt_report_id(o->tlsrpt, domain, &org);
        g_autofree char *file_name = tlsrpt_report_file_name(o->tlsrpt, domain, &org);
        TlsrptOutgoing report = {.domain = domain, .report_id = id, .file_name = file_name,
                                 .submitter = org.submitter, .contact = org.contact, .json = json};
        tlsrpt_sender_queue(o->sender, &report);
    }
    GError *error = NULL;
    guint written = tlsrpt_roll(o->tlsrpt, now, config->tlsrpt_directory, &org, &error);
    if (written)
        g_message("tlsrpt: %u reports for the day written to %s%s", written, config->tlsrpt_directory,
                  o->sender ? "" : " (none sent)");
    if (domains->len)
        g_message("tlsrpt: %u reports for the day queued for their domains' rua= destinations", domains->len);
    if (error) {
        g_warning("tlsrpt: a report could not be written: %s", error->message);
        g_error_free(error);
    }
    o->changed = TRUE;
}

char *outbound_tlsrpt_report(Outbound *o, const Config *config, const char *domain)
{
    if (!o->tlsrpt)
        return NULL;
    char contact[320];
    TlsrptOrg org = report_org(config, contact, sizeof contact);
    return tlsrpt_report_json(o->tlsrpt, domain, &org);
}

gboolean outbound_poll(Outbound *o, StoreReader *list, const Config *config, gint64 now)
{
    if (o->tlsrpt && tlsrpt_day_over(o->tlsrpt, now))
        roll_reports(o, config, now);
    o->list = list;
    o->config = config;
    o->now = now;
    if (o->journal) {
        gboolean more = journalfollow_poll(o->journal, OUTBOUND_POLL_ENTRIES, take_entry, o);
        o->list = NULL;
        return more;
    }
    char *problem = NULL;
    gboolean more = logfollow_poll(o->follow, OUTBOUND_POLL_BYTES, take_line, o, &problem);
    if (problem) {  /* said once: missing, unreadable, or rotated */
        if (strstr(problem, "rotated"))
            g_message("maillog %s", problem);
        else
            g_warning("maillog %s: no outbound evidence until it can be read", problem);
        g_free(problem);
    }
    o->list = NULL;
    return more;
}

void outbound_rewind(Outbound *o)
{
    o->list = NULL;
    if (o->journal)
        journalfollow_rewind(o->journal);  /* a file's offset moves per line counted already */
}

void outbound_save(Outbound *o, GKeyFile *kf)
{
    if (o->journal && journalfollow_cursor(o->journal)) {
        g_key_file_set_string(kf, "maillog", "cursor", journalfollow_cursor(o->journal));
    } else if (o->follow) {
        LogPosition at = logfollow_position(o->follow);
        g_key_file_set_uint64(kf, "maillog", "device", at.device);
        g_key_file_set_uint64(kf, "maillog", "inode", at.inode);
        g_key_file_set_uint64(kf, "maillog", "offset", at.offset);
    }
    delivery_save(o->tracker, kf);
    outledger_save(o->ledger, kf);
    if (o->tlsrpt)
        tlsrpt_save(o->tlsrpt, kf);
    o->changed = FALSE;
}

void outbound_load(Outbound *o, GKeyFile *kf)
{
    LogPosition at = {
        .device = g_key_file_get_uint64(kf, "maillog", "device", NULL),
        .inode = g_key_file_get_uint64(kf, "maillog", "inode", NULL),
        .offset = g_key_file_get_uint64(kf, "maillog", "offset", NULL),
    };
    if (o->follow) {
        logfollow_resume(o->follow, &at);
    } else {
        g_autofree char *cursor = g_key_file_get_string(kf, "maillog", "cursor", NULL);
        journalfollow_resume(o->journal, cursor);
    }
    delivery_load(o->tracker, kf);
    outledger_load(o->ledger, kf);
    if (o->tlsrpt)
        tlsrpt_load(o->tlsrpt, kf);
    o->changed = FALSE;
}

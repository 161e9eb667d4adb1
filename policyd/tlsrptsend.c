/*
 * tlsrptsend.c - TLS-RPT reports to the domains' rua= destinations, on a
 * worker pool; the contract is in tlsrptsend.h.
 */
#include "tlsrptsend.h"

#include <string.h>

#include "dns.h"
#include "escape.h"
#include "https.h"
#include "logging.h"
#include "smtpsubmit.h"
#include "tlsrpt.h"
#include "tlsrptmail.h"
#include "tlsrptrecord.h"

struct TlsrptSender {
    TlsrptSenderSettings settings;  /* its strings copied: */
    char *resolver, *trust_anchor, *ca_file, *submit_path;
    struct ub_ctx *ub;              /* libunbound serializes the workers' queries */
    GThreadPool *workers;
    GMutex lock;                    /* counts */
    TlsrptSendCounts counts;
};

typedef struct {
    char *domain, *report_id, *file_name, *submitter, *contact, *json;
} Job;

static void job_free(Job *j)
{
    g_free(j->domain);
    g_free(j->report_id);
    g_free(j->file_name);
    g_free(j->submitter);
    g_free(j->contact);
    g_free(j->json);
    g_free(j);
}

static void count(TlsrptSender *s, guint64 *field)
{
    g_mutex_lock(&s->lock);
    (*field)++;
    g_mutex_unlock(&s->lock);
}

/* The addresses of host that may be connected to. */
static char **https_addresses(TlsrptSender *s, const char *host, const char **why)
{
    struct ub_result *result = NULL;
    int err = ub_resolve(s->ub, host, DNS_TYPE_A, DNS_CLASS_IN, &result);
    DnsTrust trust = dns_trust(err, result);
    char **all = trust == DNS_FAILED || trust == DNS_BOGUS ? NULL : dns_addresses(result);
    if (result)
        ub_resolve_free(result);
    *why = trust == DNS_BOGUS ? "its address lookup failed DNSSEC validation" : "it has no address";
    if (!all)
        return NULL;
    GPtrArray *usable = g_ptr_array_new();
    for (guint i = 0; all[i]; i++)
        if (s->settings.private_hosts || dns_address_is_public(all[i]))
            g_ptr_array_add(usable, g_strdup(all[i]));
    g_strfreev(all);
    g_ptr_array_add(usable, NULL);
    char **out = (char **)g_ptr_array_free(usable, FALSE);
    if (!out[0]) {
        *why = "it has only loopback or private addresses (mta_sts_private_hosts = false)";
        g_strfreev(out);
        return NULL;
    }
    return out;
}

static void post_one(TlsrptSender *s, const Job *j, const TlsrptRua *rua, GBytes *gz)
{
    const char *why;
    g_auto(GStrv) addresses = https_addresses(s, rua->host, &why);
    char where[LOG_VALUE_MAX * 2];
    text_escape(rua->target, where, sizeof where);
    if (!addresses) {
        g_warning("tlsrpt: report %s for %s not sent to %s: %s", j->report_id, j->domain, where, why);
        count(s, &s->counts.https_failed);
        return;
    }
    HttpsFetch fetch = {.host = rua->host, .addresses = addresses, .port = rua->port,
                        .ca_file = s->ca_file, .timeout_ms = s->settings.timeout_ms};
    guint status = 0;
    GError *error = NULL;
    if (!https_post(&fetch, rua->path, "application/tlsrpt+gzip", gz, &status, &error)) {
        g_warning("tlsrpt: report %s for %s not sent to %s: %s", j->report_id, j->domain, where, error->message);
        g_error_free(error);
        count(s, &s->counts.https_failed);
        return;
    }
    if (status < 200 || status > 299) {
        g_warning("tlsrpt: report %s for %s refused by %s: HTTP %u", j->report_id, j->domain, where, status);
        count(s, &s->counts.https_failed);
        return;
    }
    g_message("tlsrpt: report %s for %s sent to %s: HTTP %u", j->report_id, j->domain, where, status);
    count(s, &s->counts.https_sent);
}

static void mail_one(TlsrptSender *s, const Job *j, const TlsrptRua *rua, GBytes *gz)
{
    char where[LOG_VALUE_MAX * 2];
    text_escape(rua->target, where, sizeof where);
    if (!*s->submit_path) {
        g_warning("tlsrpt: report %s for %s not sent to mailto:%s: tlsrpt_submit is empty", j->report_id, j->domain,
                  where);
        count(s, &s->counts.mail_failed);
        return;
    }
    TlsrptMail mail = {.domain = j->domain, .submitter = j->submitter, .report_id = j->report_id,
                       .file_name = j->file_name, .from = j->contact, .to = rua->target,
                       .date = g_get_real_time() / G_USEC_PER_SEC, .gz = gz};
    g_autofree char *message = tlsrpt_mail_compose(&mail);
    SmtpSubmit submit = {.socket_path = s->submit_path, .helo = j->submitter, .sender = j->contact,
                         .recipient = rua->target, .timeout_ms = TLSRPT_SUBMIT_TIMEOUT_MS};
    g_autofree char *queue_id = NULL;
    GError *error = NULL;
    if (!smtp_submit(&submit, message, &queue_id, &error)) {
        g_warning("tlsrpt: report %s for %s not sent to mailto:%s: %s: %s", j->report_id, j->domain, where,
                  s->submit_path, error->message);
        g_error_free(error);
        count(s, &s->counts.mail_failed);
        return;
    }
    char id[64];
    g_message("tlsrpt: report %s for %s queued for mailto:%s: queue id %s", j->report_id, j->domain, where,
              *queue_id ? text_escape(queue_id, id, sizeof id) : "unknown");
    count(s, &s->counts.mailed);
}

/* The domain's record: FALSE when it publishes none usable (said). */
static gboolean lookup_record(TlsrptSender *s, const Job *j, TlsrptRecord *record)
{
    g_autofree char *name = g_strconcat("_smtp._tls.", j->domain, NULL);
    struct ub_result *result = NULL;
    int err = ub_resolve(s->ub, name, DNS_TYPE_TXT, DNS_CLASS_IN, &result);
    DnsTrust trust = dns_trust(err, result);
    g_auto(GStrv) records = trust == DNS_FAILED || trust == DNS_BOGUS ? NULL : dns_txt_strings(result);
    if (result)
        ub_resolve_free(result);
    if (trust == DNS_FAILED || trust == DNS_BOGUS) {
        g_warning("tlsrpt: report %s for %s not sent: the %s lookup %s", j->report_id, j->domain, name,
                  trust == DNS_BOGUS ? "failed DNSSEC validation" : "failed");
        count(s, &s->counts.lookup_failed);
        return FALSE;
    }
    const char *why;
    if (!tlsrpt_record_select(records, record, &why)) {
        g_message("tlsrpt: report %s for %s not sent: %s", j->report_id, j->domain, why);
        count(s, &s->counts.no_record);
        return FALSE;
    }
    if (record->ignored)
        g_message("tlsrpt: %s: %u rua= destinations ignored (not mailto: or https:, malformed, or past %d)",
                  name, record->ignored, TLSRPT_MAX_RUA);
    return TRUE;
}

static void send_job(gpointer data, gpointer user_data)
{
    Job *j = data;
    TlsrptSender *s = user_data;
    TlsrptRecord record;
    if (!lookup_record(s, j, &record)) {
        job_free(j);
        return;
    }
    GError *error = NULL;
    g_autoptr(GBytes) gz = tlsrpt_gzip(j->json, &error);
    for (guint i = 0; gz && i < record.rua->len; i++) {
        const TlsrptRua *rua = record.rua->pdata[i];
        if (rua->scheme == TLSRPT_HTTPS)
            post_one(s, j, rua, gz);
        else
            mail_one(s, j, rua, gz);
    }
    if (error) {
        g_warning("tlsrpt: report %s for %s: %s", j->report_id, j->domain, error->message);
        g_error_free(error);
    }
    tlsrpt_record_clear(&record);
    job_free(j);
}

TlsrptSender *tlsrpt_sender_new(const TlsrptSenderSettings *settings, GError **error)
{
    struct ub_ctx *ub = dns_context_new(settings->resolver, settings->trust_anchor, TRUE, error);
    if (!ub)
        return NULL;
    TlsrptSender *s = g_new0(TlsrptSender, 1);
    s->settings = *settings;
    s->resolver = g_strdup(settings->resolver);
    s->trust_anchor = g_strdup(settings->trust_anchor);
    s->ca_file = g_strdup(settings->ca_file);
    s->submit_path = g_strdup(settings->submit_path ? settings->submit_path : "");
    s->ub = ub;
    g_mutex_init(&s->lock);
    s->workers = g_thread_pool_new(send_job, s, TLSRPT_SEND_WORKERS, FALSE, NULL);
    return s;
}

void tlsrpt_sender_free(TlsrptSender *s)
{
    if (!s)
        return;
    /* a stop does not wait for hours of queued uploads: those not started
     * are dropped, said; the ones under way end within timeout_ms */
    guint waiting = g_thread_pool_unprocessed(s->workers);
    if (waiting)
        g_warning("tlsrpt: stopping: %u reports not sent (their copies, if any, are in tlsrpt_directory)", waiting);
    g_thread_pool_free(s->workers, TRUE, TRUE);
    ub_ctx_delete(s->ub);
    g_mutex_clear(&s->lock);
    g_free(s->resolver);
    g_free(s->trust_anchor);
    g_free(s->ca_file);
    g_free(s->submit_path);
    g_free(s);
}

void tlsrpt_sender_queue(TlsrptSender *s, const TlsrptOutgoing *report)
{
    if (g_thread_pool_unprocessed(s->workers) >= TLSRPT_SEND_QUEUE_MAX) {
        count(s, &s->counts.dropped);
        return;
    }
    Job *j = g_new0(Job, 1);
    j->domain = g_strdup(report->domain);
    j->report_id = g_strdup(report->report_id);
    j->file_name = g_strdup(report->file_name);
    j->submitter = g_strdup(report->submitter);
    j->contact = g_strdup(report->contact);
    j->json = g_strdup(report->json);
    g_thread_pool_push(s->workers, j, NULL);
}

TlsrptSendCounts tlsrpt_sender_counts(TlsrptSender *s)
{
    g_mutex_lock(&s->lock);
    TlsrptSendCounts c = s->counts;
    g_mutex_unlock(&s->lock);
    return c;
}

/*
 * delivery.c - smtp client lines joined into deliveries, classified in
 * RFC 8460 terms; see delivery.h.
 */
#include "delivery.h"

#include <string.h>

#include "tlsrules.h"

static const char *const result_names[RESULT_COUNT] = {
    [RESULT_NONE] = "none",
    [RESULT_STARTTLS_NOT_SUPPORTED] = "starttls-not-supported",
    [RESULT_CERTIFICATE_HOST_MISMATCH] = "certificate-host-mismatch",
    [RESULT_CERTIFICATE_EXPIRED] = "certificate-expired",
    [RESULT_CERTIFICATE_NOT_TRUSTED] = "certificate-not-trusted",
    [RESULT_VALIDATION_FAILURE] = "validation-failure",
    [RESULT_TLSA_INVALID] = "tlsa-invalid",
    [RESULT_DNSSEC_INVALID] = "dnssec-invalid",
    [RESULT_DANE_REQUIRED] = "dane-required",
};

static const char *const trust_names[TRUST_COUNT] = {"plaintext", "anonymous", "untrusted", "trusted", "verified"};

const char *delivery_result_name(TlsResult result)
{
    return result < RESULT_COUNT ? result_names[result] : "none";
}

gboolean delivery_result_parse(const char *name, TlsResult *result)
{
    for (int i = 0; i < RESULT_COUNT; i++) {
        if (strcmp(name, result_names[i]) == 0) {
            *result = (TlsResult)i;
            return TRUE;
        }
    }
    return FALSE;
}

const char *delivery_trust_name(TlsTrust trust)
{
    return trust < TRUST_COUNT ? trust_names[trust] : "plaintext";
}

/* One smtp process's current session: the TLS it established (or the
 * failures before it), bound to the first queue id delivered in it. */
typedef struct {
    guint pid;
    gint64 seen;             /* the last line about it */
    char peer[300];          /* "host[addr]:port" */
    gboolean tls;
    TlsTrust trust;
    char protocol[16], cipher[64];
    TlsResult failure;       /* a certificate or handshake failure logged for peer */
    char detail[160];
    char queue_id[32];       /* "" until its first delivery line */
} Session;

struct DeliveryTracker {
    GHashTable *sessions;    /* pid -> Session */
    guint max;
};

DeliveryTracker *delivery_tracker_new(guint max_processes)
{
    DeliveryTracker *t = g_new0(DeliveryTracker, 1);
    t->sessions = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    t->max = MAX(max_processes, 1);
    return t;
}

void delivery_tracker_free(DeliveryTracker *t)
{
    if (!t)
        return;
    g_hash_table_unref(t->sessions);
    g_free(t);
}

guint delivery_sessions(const DeliveryTracker *t)
{
    return g_hash_table_size(t->sessions);
}

/* Room for one more: drop sessions idle too long, else the oldest.  A
 * scan, only when the table is full: max_processes is set well above
 * Postfix's default_process_limit (100). */
static void make_room(DeliveryTracker *t, gint64 now)
{
    if (g_hash_table_size(t->sessions) < t->max)
        return;
    GHashTableIter it;
    gpointer key, value;
    Session *oldest = NULL;
    g_hash_table_iter_init(&it, t->sessions);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        Session *s = value;
        if (s->seen + DELIVERY_SESSION_IDLE < now)
            g_hash_table_iter_remove(&it);
        else if (!oldest || s->seen < oldest->seen)
            oldest = s;
    }
    if (g_hash_table_size(t->sessions) >= t->max && oldest)
        g_hash_table_remove(t->sessions, GUINT_TO_POINTER(oldest->pid));
}

/* The process's session with peer, made new when it is another peer's,
 * is bound to a queue id already (a new connection), or has gone quiet. */
static Session *session_for(DeliveryTracker *t, const MaillogLine *line, gboolean fresh_tls)
{
    Session *s = g_hash_table_lookup(t->sessions, GUINT_TO_POINTER(line->pid));
    gboolean stale = s && (strcmp(s->peer, line->peer) != 0 || s->queue_id[0] || (fresh_tls && s->tls)
                           || s->seen + DELIVERY_SESSION_IDLE < line->time);
    if (s && !stale) {
        s->seen = line->time;
        return s;
    }
    if (!s) {
        make_room(t, line->time);
        s = g_new0(Session, 1);
        g_hash_table_insert(t->sessions, GUINT_TO_POINTER(line->pid), s);
    }
    memset(s, 0, sizeof *s);
    s->pid = line->pid;
    s->seen = line->time;
    g_strlcpy(s->peer, line->peer, sizeof s->peer);
    return s;
}

static TlsTrust trust_parse(const char *word)
{
    for (int i = TRUST_ANONYMOUS; i < TRUST_COUNT; i++) {
        if (g_ascii_strcasecmp(word, trust_names[i]) == 0)
            return (TlsTrust)i;
    }
    return TRUST_UNTRUSTED;
}

/* OpenSSL's verification errors as Postfix logs them: "num=62:hostname
 * mismatch", "self-signed certificate", "certificate has expired",
 * "untrusted issuer /CN=...". */
static TlsResult certificate_failure(const char *reason)
{
    if (strstr(reason, "hostname mismatch") || strstr(reason, "name mismatch") || strstr(reason, "num=62:"))
        return RESULT_CERTIFICATE_HOST_MISMATCH;
    if (strstr(reason, "expired") || strstr(reason, "not yet valid") || strstr(reason, "num=10:")
        || strstr(reason, "num=9:"))
        return RESULT_CERTIFICATE_EXPIRED;
    if (strstr(reason, "self-signed") || strstr(reason, "self signed") || strstr(reason, "untrusted issuer")
        || strstr(reason, "local issuer") || strstr(reason, "num=2:") || strstr(reason, "num=19:")
        || strstr(reason, "num=20:") || strstr(reason, "num=21:"))
        return RESULT_CERTIFICATE_NOT_TRUSTED;
    return RESULT_VALIDATION_FAILURE;
}

static gboolean dane_service(const char *service)
{
    return strstr(service, "dane") != NULL;
}

/* A failed delivery's TLS result: the session's own failure lines first
 * (they name the certificate's fault), then the status text. */
static TlsResult classify(const Delivery *d, const Session *s)
{
    const char *why = d->why;
    if (strstr(why, "TLS is required, but was not offered") || strstr(why, "TLS is required, but our TLS engine"))
        return RESULT_STARTTLS_NOT_SUPPORTED;
    if (strstr(why, "TLSA lookup error") || strstr(why, "TLSA records"))
        return strstr(why, "no TLSA records") || strstr(why, "no valid TLSA") ? RESULT_DANE_REQUIRED
                                                                              : RESULT_TLSA_INVALID;
    if (strstr(why, "DNSSEC") || strstr(why, "insecure MX") || strstr(why, "non-DNSSEC"))
        return RESULT_DNSSEC_INVALID;
    if (strstr(why, "Server certificate not verified") || strstr(why, "server certificate not trusted")) {
        if (dane_service(d->service))
            return RESULT_TLSA_INVALID;
        return s && s->failure != RESULT_NONE ? s->failure : RESULT_CERTIFICATE_NOT_TRUSTED;
    }
    if (strstr(why, "Cannot start TLS") || strstr(why, "TLS handshake") || (s && s->failure != RESULT_NONE))
        return s && s->failure != RESULT_NONE ? s->failure : RESULT_VALIDATION_FAILURE;
    return RESULT_NONE;
}

static void note_failure(Session *s, TlsResult result, const char *detail)
{
    if (s->failure == RESULT_NONE || s->failure == RESULT_VALIDATION_FAILURE)
        s->failure = result;
    if (!s->detail[0] || result != RESULT_VALIDATION_FAILURE)
        g_strlcpy(s->detail, detail, sizeof s->detail);
}

static gboolean is_failure_status(const char *status)
{
    return strcmp(status, "sent") != 0 && strcmp(status, "delivered") != 0;
}

static void fill_delivery(const MaillogLine *line, Session *s, Delivery *out)
{
    memset(out, 0, sizeof *out);
    out->time = line->time;
    g_strlcpy(out->queue_id, line->queue_id, sizeof out->queue_id);
    g_strlcpy(out->recipient, line->recipient, sizeof out->recipient);
    g_strlcpy(out->relay, line->relay, sizeof out->relay);
    g_strlcpy(out->service, line->service, sizeof out->service);
    g_strlcpy(out->dsn, line->dsn, sizeof out->dsn);
    g_strlcpy(out->status, line->status, sizeof out->status);
    g_strlcpy(out->why, line->why, sizeof out->why);
    out->connected = strcmp(line->relay, "none") != 0 && line->relay[0];
    if (s) {
        out->new_session = s->queue_id[0] == '\0';
        out->new_message = out->new_session || strcmp(s->queue_id, line->queue_id) != 0;
        if (s->tls) {
            out->trust = s->trust;
            g_strlcpy(out->protocol, s->protocol, sizeof out->protocol);
            g_strlcpy(out->cipher, s->cipher, sizeof out->cipher);
        }
        g_strlcpy(out->detail, s->detail, sizeof out->detail);
    } else {
        out->new_session = out->new_message = out->connected;
    }
    if (is_failure_status(line->status))
        out->result = classify(out, s);
    if (out->result != RESULT_NONE && !out->detail[0])
        g_strlcpy(out->detail, line->why, sizeof out->detail);
}

gboolean delivery_feed(DeliveryTracker *t, const MaillogLine *line, Delivery *out)
{
    Session *s;
    switch (line->kind) {
    case MAILLOG_TLS_ESTABLISHED:
        s = session_for(t, line, TRUE);
        s->tls = TRUE;
        s->trust = trust_parse(line->trust);
        g_strlcpy(s->protocol, line->protocol, sizeof s->protocol);
        g_strlcpy(s->cipher, line->cipher, sizeof s->cipher);
        return FALSE;
    case MAILLOG_CERT_FAILED:
        s = session_for(t, line, FALSE);
        note_failure(s, certificate_failure(line->reason), line->reason);
        return FALSE;
    case MAILLOG_HANDSHAKE_FAILED:
        s = session_for(t, line, FALSE);
        note_failure(s, RESULT_VALIDATION_FAILURE, "TLS handshake failed");
        return FALSE;
    case MAILLOG_TLS_PROBLEM:
        /* the library's words for the handshake failure logged next */
        s = g_hash_table_lookup(t->sessions, GUINT_TO_POINTER(line->pid));
        if (s && !s->queue_id[0] && s->failure == RESULT_VALIDATION_FAILURE)
            g_strlcpy(s->detail, line->reason, sizeof s->detail);
        return FALSE;
    case MAILLOG_DELIVERY:
        break;
    default:
        return FALSE;
    }
    s = g_hash_table_lookup(t->sessions, GUINT_TO_POINTER(line->pid));
    if (s && (strcmp(s->peer, line->relay) != 0 || (s->queue_id[0] && strcmp(s->queue_id, line->queue_id) != 0)
              || s->seen + DELIVERY_SESSION_IDLE < line->time)) {
        g_hash_table_remove(t->sessions, GUINT_TO_POINTER(line->pid));  /* another session's */
        s = NULL;
    }
    fill_delivery(line, s, out);
    if (s) {
        g_strlcpy(s->queue_id, line->queue_id, sizeof s->queue_id);
        s->seen = line->time;
    }
    return TRUE;
}

/*
 * The state file
 */
void delivery_save(const DeliveryTracker *t, GKeyFile *kf)
{
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, t->sessions);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const Session *s = value;
        char group[32];
        g_snprintf(group, sizeof group, "session %u", s->pid);
        g_key_file_set_int64(kf, group, "seen", s->seen);
        g_key_file_set_string(kf, group, "peer", s->peer);
        g_key_file_set_boolean(kf, group, "tls", s->tls);
        g_key_file_set_string(kf, group, "trust", trust_names[s->trust]);
        g_key_file_set_string(kf, group, "protocol", s->protocol);
        g_key_file_set_string(kf, group, "cipher", s->cipher);
        g_key_file_set_string(kf, group, "failure", result_names[s->failure]);
        g_key_file_set_string(kf, group, "detail", s->detail);
        g_key_file_set_string(kf, group, "queue_id", s->queue_id);
    }
}

static void load_string(GKeyFile *kf, const char *group, const char *key, char *out, size_t size)
{
    g_autofree char *v = g_key_file_get_string(kf, group, key, NULL);
    g_strlcpy(out, v ? v : "", size);
}

void delivery_load(DeliveryTracker *t, GKeyFile *kf)
{
    g_hash_table_remove_all(t->sessions);
    gsize n;
    g_auto(GStrv) groups = g_key_file_get_groups(kf, &n);
    for (gsize i = 0; i < n && g_hash_table_size(t->sessions) < t->max; i++) {
        if (!g_str_has_prefix(groups[i], "session "))
            continue;
        guint64 pid;
        if (!g_ascii_string_to_unsigned(groups[i] + 8, 10, 1, G_MAXUINT, &pid, NULL))
            continue;
        Session *s = g_new0(Session, 1);
        s->pid = (guint)pid;
        s->seen = g_key_file_get_int64(kf, groups[i], "seen", NULL);
        load_string(kf, groups[i], "peer", s->peer, sizeof s->peer);
        s->tls = g_key_file_get_boolean(kf, groups[i], "tls", NULL);
        char word[32];
        load_string(kf, groups[i], "trust", word, sizeof word);
        s->trust = s->tls ? trust_parse(word) : TRUST_PLAINTEXT;
        load_string(kf, groups[i], "protocol", s->protocol, sizeof s->protocol);
        load_string(kf, groups[i], "cipher", s->cipher, sizeof s->cipher);
        load_string(kf, groups[i], "failure", word, sizeof word);
        if (!delivery_result_parse(word, &s->failure))
            s->failure = RESULT_NONE;
        load_string(kf, groups[i], "detail", s->detail, sizeof s->detail);
        load_string(kf, groups[i], "queue_id", s->queue_id, sizeof s->queue_id);
        g_hash_table_replace(t->sessions, GUINT_TO_POINTER(s->pid), s);
    }
}

/*
 * The rollout's prediction
 */
gboolean delivery_predict(const Delivery *d, const Entry *entry, TlsResult *result, char *detail, size_t size)
{
    *result = RESULT_NONE;
    detail[0] = '\0';
    if (d->trust == TRUST_PLAINTEXT) {
        gboolean handshake = d->detail[0] != '\0';
        *result = handshake ? RESULT_VALIDATION_FAILURE : RESULT_STARTTLS_NOT_SUPPORTED;
        g_strlcpy(detail, handshake ? d->detail : "delivered in plaintext", size);
        return FALSE;
    }
    TlsProtocol floor = entry->min_protocol ? entry->min_protocol : TLS_DEFAULT_MIN_PROTOCOL;
    if (tls_protocol_rank(d->protocol) < (int)floor) {
        *result = RESULT_VALIDATION_FAILURE;
        g_snprintf(detail, size, "%s below %s", d->protocol, entry_protocol_name(floor));
        return FALSE;
    }
    char found[32];
    const char *excluded = entry->exclude_ciphers ? entry->exclude_ciphers : TLS_DEFAULT_EXCLUDED_CIPHERS;
    if (tls_excluded_cipher(d->cipher, excluded, found, sizeof found)) {
        *result = RESULT_VALIDATION_FAILURE;
        g_snprintf(detail, size, "cipher %s is excluded (%s)", d->cipher, found);
        return FALSE;
    }
    if (entry->level != LEVEL_VERIFY && entry->level != LEVEL_SECURE) {
        if (entry->level == LEVEL_DANE || entry->level == LEVEL_DANE_ONLY)
            g_strlcpy(detail, "TLSA records not judged (the log does not show them)", size);
        return TRUE;
    }
    if (d->trust == TRUST_UNTRUSTED || d->trust == TRUST_ANONYMOUS) {
        *result = d->result != RESULT_NONE ? d->result : RESULT_CERTIFICATE_NOT_TRUSTED;
        g_strlcpy(detail, d->detail[0] ? d->detail : "certificate not trusted", size);
        return FALSE;
    }
    if (d->trust == TRUST_TRUSTED)
        g_strlcpy(detail, "certificate trusted; its name was not checked at the level it went at", size);
    return TRUE;
}

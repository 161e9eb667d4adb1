/*
 * decideinbound.c - a listed sender's TLS: the version, the cipher, the
 * client certificate its entry requires, and the global floor for the
 * senders no entry governs; see decide.h.
 */
#include "decideparts.h"

#include <string.h>

/* What an inbound session lacks; each has its own reply text and reason. */
typedef enum {
    MISSING_NOTHING,
    MISSING_TLS,
    MISSING_VERSION,
    MISSING_CIPHER,
    MISSING_CERT,
    MISSING_CERT_NAME,
} Missing;

/* Does the TLS session meet the floor and the cipher exclusions?  Fills
 * detail (DECISION_DETAIL bytes) with the specifics and cipher_name with
 * the excluded name. */
#define DECISION_DETAIL sizeof(((Decision *)0)->detail)
static Missing session_missing(const PolicyRequest *req, TlsProtocol floor, const char *excluded,
                               char *detail, char *cipher_name, size_t size)
{
    if (!*req->encryption_protocol)
        return MISSING_TLS;
    if (tls_protocol_rank(req->encryption_protocol) < (int)floor) {
        g_snprintf(detail, DECISION_DETAIL, "%.40s below %s", req->encryption_protocol, entry_protocol_name(floor));
        return MISSING_VERSION;
    }
    if (tls_excluded_cipher(req->encryption_cipher, excluded, cipher_name, size)) {
        g_snprintf(detail, DECISION_DETAIL, "cipher %.60s is excluded (%s)", req->encryption_cipher, cipher_name);
        return MISSING_CIPHER;
    }
    return MISSING_NOTHING;
}

static Missing cert_missing(const PolicyRequest *req, const Entry *entry, const char *key, Decision *d)
{
    gboolean need_cert = entry->client_cert_required || entry->level == LEVEL_VERIFY
                         || entry->level == LEVEL_SECURE;
    /* Postfix sends ccert_subject only for a verified certificate. */
    if (need_cert && !*req->ccert_subject)
        return MISSING_CERT;
    if (entry->level == LEVEL_SECURE && !key_name_in_domain(req->ccert_subject, key_domain(key))) {
        g_snprintf(d->detail, sizeof d->detail, "client certificate %.60s does not name %.50s",
                   req->ccert_subject, key_domain(key));
        return MISSING_CERT_NAME;
    }
    return MISSING_NOTHING;
}

static const char *const listed_reason[] = {
    [MISSING_TLS] = "listed sender: no TLS",
    [MISSING_VERSION] = "listed sender: TLS version below the floor",
    [MISSING_CIPHER] = "listed sender: excluded cipher",
    [MISSING_CERT] = "listed sender: no verified client certificate",
    [MISSING_CERT_NAME] = "listed sender: client certificate for another name",
};

/* The default reply text for what is missing.  It quotes only our own
 * list and configuration, never the request. */
static void missing_text(Missing m, TlsProtocol floor, const char *cipher_name, const char *key, char *out,
                         size_t size)
{
    switch (m) {
    case MISSING_VERSION:
        g_snprintf(out, size, "TLS required: mail from this sender must use %s or later", entry_protocol_name(floor));
        return;
    case MISSING_CIPHER:
        g_snprintf(out, size, "TLS required: mail from this sender must not use a %s cipher", cipher_name);
        return;
    case MISSING_CERT:
        g_strlcpy(out, "TLS required: mail from this sender must come from a server with a trusted client certificate",
                  size);
        return;
    case MISSING_CERT_NAME:
        g_snprintf(out, size, "TLS required: mail from this sender needs a client certificate that names %s",
                   key_domain(key));
        return;
    default:
        g_strlcpy(out, "TLS required: mail from this sender must arrive over an encrypted connection", size);
        return;
    }
}

static void reject(Decision *d, const Config *c, const char *reason, const char *text)
{
    d->verdict = VERDICT_REJECT;
    d->reason = reason;
    g_snprintf(d->action, sizeof d->action, "%s %s %s", c->reject_code, c->reject_status, text);
}

/* The reply: an entry's notice=, else reject_notice, else the text for
 * what is missing. */
static void reject_listed(Decision *d, const Config *c, const Entry *entry, const char *key, Missing m,
                          TlsProtocol floor, const char *cipher_name)
{
    char built[400];  /* the longest text with a 253-byte domain */
    const char *text = entry->notice ? entry->notice : c->reject_notice;
    if (!*text) {
        missing_text(m, floor, cipher_name, key, built, sizeof built);
        text = built;
    }
    static const Refusal refusals[] = {
        [MISSING_TLS] = REFUSAL_NO_TLS, [MISSING_VERSION] = REFUSAL_PROTOCOL, [MISSING_CIPHER] = REFUSAL_CIPHER,
        [MISSING_CERT] = REFUSAL_NO_CERTIFICATE, [MISSING_CERT_NAME] = REFUSAL_CERTIFICATE_NAME,
    };
    reject(d, c, listed_reason[m], text);
    d->refusal = refusals[m];
}

/* The global floor (Gmail's optional "TLS 1.2, no 3DES for everyone"):
 * weak TLS refused from senders no entry governs.  Plaintext is not
 * refused here: that is what list entries are for. */
static void apply_global_floor(const PolicyRequest *req, const Config *c, Decision *d)
{
    char cipher_name[64], detail[DECISION_DETAIL] = "", text[600];
    if (c->global_floor == GLOBAL_FLOOR_OFF || !*req->encryption_protocol)
        return;
    Missing m = session_missing(req, c->min_protocol, c->exclude_ciphers, detail, cipher_name, sizeof cipher_name);
    if (m == MISSING_NOTHING)
        return;
    config_global_floor_notice(c, text, sizeof text);
    g_strlcpy(d->detail, detail, sizeof d->detail);
    d->report = FALSE;  /* replaces an entry's report, see decide_inbound */
    d->would = VERDICT_DUNNO;
    reject(d, c, m == MISSING_VERSION ? "global floor: TLS version below the floor" : "global floor: excluded cipher",
           text);
    d->refusal = REFUSAL_GLOBAL_FLOOR;
    if (c->global_floor == GLOBAL_FLOOR_REPORT)
        decide_downgrade_to_report(d);
}

void decide_inbound(const PolicyRequest *req, StoreReader *list, const Config *c, Decision *d)
{
    LookupMatch match;
    char cipher_name[64];

    /* The null sender (bounces, delivery notices) is exempt from every
     * inbound rule: refusing it would lose the notices, and no entry can
     * name it. */
    if (!*req->sender) {
        decide_dunno(d, "null sender (exempt)");
        return;
    }
    if (!list) {
        decide_list_unavailable(d, c);
        return;
    }
    LookupStatus found = lookup_find(list, req->sender, c->recipient_delimiter, DIRECTION_INBOUND, &match);
    if (found == LOOKUP_UNUSABLE) {
        decide_address_unusable(d);
        return;
    }
    if (found == LOOKUP_NOT_LISTED) {
        decide_dunno(d, "sender not listed");
        apply_global_floor(req, c, d);
        return;
    }
    g_strlcpy(d->key, match.key, sizeof d->key);
    d->level = match.entry.level;
    if (entry_level_is_exemption(match.entry.level)) {
        decide_dunno(d, "sender exempt");
        return;
    }

    /* The entry's own rules replace the global floor (its min_protocol
     * may be lower, its exclude_ciphers shorter). */
    const Entry *e = &match.entry;
    TlsProtocol floor = e->min_protocol ? e->min_protocol : c->min_protocol;
    const char *excluded = e->exclude_ciphers ? e->exclude_ciphers : c->exclude_ciphers;
    Missing m = session_missing(req, floor, excluded, d->detail, cipher_name, sizeof cipher_name);
    if (m == MISSING_NOTHING)
        m = cert_missing(req, e, match.key, d);
    if (m != MISSING_NOTHING)
        reject_listed(d, c, e, match.key, m, floor, cipher_name);
    else
        decide_dunno(d, "sender's TLS requirements met");
    if (e->mode != MODE_REPORT)
        return;
    decide_downgrade_to_report(d);
    /* an entry on trial does not lift an enforced global floor */
    if (c->global_floor == GLOBAL_FLOOR_ENFORCE)
        apply_global_floor(req, c, d);
}

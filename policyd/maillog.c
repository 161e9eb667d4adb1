/*
 * maillog.c - Postfix's smtp client log lines, parsed; see maillog.h.
 * Every field is copied bounded (g_strlcpy of a measured span), so a
 * line of any length or bytes yields a MaillogLine of bounded fields.
 */
#include "maillog.h"

#include <string.h>
#include <time.h>

/* A span [p, p + n) copied into a field of size bytes, cut to fit. */
static void copy_span(char *field, size_t size, const char *p, size_t n)
{
    if (n >= size)
        n = size - 1;
    memcpy(field, p, n);
    field[n] = '\0';
}

static gboolean starts(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0;
}

/* Where needle first occurs in [p, end), or NULL. */
static const char *find(const char *p, const char *end, const char *needle)
{
    return (end > p) ? memmem(p, (size_t)(end - p), needle, strlen(needle)) : NULL;
}

static gboolean all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!g_ascii_isdigit(p[i]))
            return FALSE;
    }
    return n > 0;
}

static int two_digits(const char *p)
{
    return (p[0] == ' ' ? 0 : (p[0] - '0') * 10) + (p[1] - '0');
}

/*
 * Timestamps
 */
static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* "Dec  3 13:58:01" or "Dec 03 13:58:01", local time, no year. */
static gboolean parse_syslog_time(const char *p, const char *end, gint64 now, gint64 *out)
{
    if (end - p < 16 || p[3] != ' ' || p[6] != ' ' || p[9] != ':' || p[12] != ':' || p[15] != ' ')
        return FALSE;
    const char *m = memmem(months, 36, p, 3);
    if (!m || (m - months) % 3 || !(p[4] == ' ' || g_ascii_isdigit(p[4])) || !g_ascii_isdigit(p[5])
        || !all_digits(p + 7, 2) || !all_digits(p + 10, 2) || !all_digits(p + 13, 2))
        return FALSE;
    time_t t = (time_t)now;
    struct tm tm;
    localtime_r(&t, &tm);
    int year = tm.tm_year;
    /* the same second as the line before, most of the time */
    static __thread char last[15];
    static __thread gint64 last_value;
    static __thread int last_year = -1;
    if (last_year == year && memcmp(last, p, 15) == 0) {
        *out = last_value;
        return TRUE;
    }
    tm = (struct tm){.tm_year = year, .tm_mon = (int)((m - months) / 3), .tm_mday = two_digits(p + 4),
                     .tm_hour = two_digits(p + 7), .tm_min = two_digits(p + 10), .tm_sec = two_digits(p + 13),
                     .tm_isdst = -1};
    gint64 v = (gint64)mktime(&tm);
    if (v > now + 86400) {  /* December's lines read in January */
        tm.tm_year--;
        tm.tm_isdst = -1;
        v = (gint64)mktime(&tm);
    }
    memcpy(last, p, 15);
    last_value = v;
    last_year = year;
    *out = v;
    return TRUE;
}

/* "2026-12-03T13:58:01[.frac](Z|+hh:mm|-hh:mm)" up to the next space. */
static gboolean parse_rfc3339_time(const char *p, const char *word_end, gint64 *out)
{
    g_autofree char *text = g_strndup(p, (gsize)(word_end - p));
    g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(text, NULL);
    if (!dt)
        return FALSE;
    *out = g_date_time_to_unix(dt);
    return TRUE;
}

/*
 * The text after "TAG[PID]: "
 */
static const char *const trusts[] = {"Verified", "Trusted", "Untrusted", "Anonymous"};

/* "QID: to=<ADDR>, [orig_to=<ADDR>, ]relay=PEER, ..., dsn=D, status=WORD (WHY)" */
static gboolean parse_delivery(const char *p, const char *end, MaillogLine *out)
{
    const char *colon = find(p, end, ": to=<");
    if (!colon || colon == p || colon - p >= (long)sizeof out->queue_id)
        return FALSE;
    for (const char *q = p; q < colon; q++) {
        if (!g_ascii_isalnum(*q))
            return FALSE;
    }
    copy_span(out->queue_id, sizeof out->queue_id, p, (size_t)(colon - p));
    const char *addr = colon + 6;
    const char *addr_end = find(addr, end, ">, ");
    if (!addr_end)
        return FALSE;
    copy_span(out->recipient, sizeof out->recipient, addr, (size_t)(addr_end - addr));
    const char *relay = find(addr_end, end, ", relay=");
    const char *dsn = relay ? find(relay, end, ", dsn=") : NULL;
    const char *status = dsn ? find(dsn, end, ", status=") : NULL;
    if (!status)
        return FALSE;
    relay += 8;
    const char *relay_end = memchr(relay, ',', (size_t)(end - relay));
    copy_span(out->relay, sizeof out->relay, relay, (size_t)(relay_end - relay));
    dsn += 6;
    copy_span(out->dsn, sizeof out->dsn, dsn, (size_t)(status - dsn));
    status += 9;
    const char *word_end = memchr(status, ' ', (size_t)(end - status));
    if (!word_end)
        word_end = end;
    copy_span(out->status, sizeof out->status, status, (size_t)(word_end - status));
    if (word_end + 1 < end && word_end[1] == '(') {
        const char *why = word_end + 2, *why_end = end;
        if (why_end > why && why_end[-1] == ')')
            why_end--;
        copy_span(out->why, sizeof out->why, why, (size_t)(why_end - why));
    }
    out->kind = MAILLOG_DELIVERY;
    return TRUE;
}

/* "TRUST TLS connection established to PEER: PROTO with cipher CIPHER (" */
static gboolean parse_established(const char *p, const char *end, MaillogLine *out)
{
    for (guint i = 0; i < G_N_ELEMENTS(trusts); i++) {
        size_t n = strlen(trusts[i]);
        if (!starts(p, end, trusts[i]) || !starts(p + n, end, " TLS connection "))
            continue;
        const char *to = find(p + n, end, "ed to ");  /* established, reused */
        const char *peer_end = to ? find(to + 6, end, ": ") : NULL;
        /* after ": ", whose space must not start " with cipher ": the
         * protocol's span would be -1 bytes (fuzz_maillog found it) */
        const char *with = peer_end ? find(peer_end + 2, end, " with cipher ") : NULL;
        if (!with)
            return FALSE;
        g_strlcpy(out->trust, trusts[i], sizeof out->trust);
        copy_span(out->peer, sizeof out->peer, to + 6, (size_t)(peer_end - to - 6));
        copy_span(out->protocol, sizeof out->protocol, peer_end + 2, (size_t)(with - peer_end - 2));
        const char *cipher = with + 13;
        const char *cipher_end = memchr(cipher, ' ', (size_t)(end - cipher));
        copy_span(out->cipher, sizeof out->cipher, cipher, (size_t)((cipher_end ? cipher_end : end) - cipher));
        out->kind = MAILLOG_TLS_ESTABLISHED;
        return TRUE;
    }
    return FALSE;
}

/* "PREFIX PEER: REASON" */
static gboolean parse_peer_reason(const char *p, const char *end, const char *prefix, MaillogKind kind,
                                  MaillogLine *out)
{
    if (!starts(p, end, prefix))
        return FALSE;
    const char *peer = p + strlen(prefix);
    const char *peer_end = find(peer, end, ": ");
    if (!peer_end)
        return FALSE;
    copy_span(out->peer, sizeof out->peer, peer, (size_t)(peer_end - peer));
    copy_span(out->reason, sizeof out->reason, peer_end + 2, (size_t)(end - peer_end - 2));
    out->kind = kind;
    return TRUE;
}

/* "warning: TLS library problem: error:0A000102:SSL routines::unsupported
 * protocol:../ssl/statem/statem_lib.c:1952:" -> "unsupported protocol" */
static gboolean parse_tls_problem(const char *p, const char *end, MaillogLine *out)
{
    static const char prefix[] = "warning: TLS library problem: ";
    if (!starts(p, end, prefix))
        return FALSE;
    const char *text = p + sizeof prefix - 1;
    const char *routines = find(text, end, "routines:");
    if (routines) {
        const char *r = routines + 9;
        while (r < end && *r == ':')
            r++;
        const char *r_end = memchr(r, ':', (size_t)(end - r));
        copy_span(out->reason, sizeof out->reason, r, (size_t)((r_end ? r_end : end) - r));
    } else {
        copy_span(out->reason, sizeof out->reason, text, (size_t)(end - text));
    }
    out->kind = MAILLOG_TLS_PROBLEM;
    return TRUE;
}

static void parse_text(const char *p, const char *end, MaillogLine *out)
{
    out->kind = MAILLOG_OTHER;
    if (parse_delivery(p, end, out) || parse_established(p, end, out)
        || parse_peer_reason(p, end, "server certificate verification failed for ", MAILLOG_CERT_FAILED, out)
        || parse_peer_reason(p, end, "certificate verification failed for ", MAILLOG_CERT_FAILED, out)
        || parse_peer_reason(p, end, "SSL_connect error to ", MAILLOG_HANDSHAKE_FAILED, out)
        || parse_tls_problem(p, end, out))
        return;
}

/* "postfix/tls-encrypt/smtp": a Postfix smtp client?  Its syslog_name's
 * last part goes to service.  (lmtp delivers to a local mailbox server:
 * no outbound TLS to judge.) */
static gboolean smtp_identifier(const char *p, size_t n, MaillogLine *out)
{
    if (n < 7 || memcmp(p, "postfix", 7) != 0)
        return FALSE;
    const char *slash = memrchr(p, '/', n);
    if (!slash)
        return FALSE;
    size_t process = n - (size_t)(slash + 1 - p);
    if (process != 4 || memcmp(slash + 1, "smtp", 4) != 0)
        return FALSE;
    const char *name_end = slash;
    const char *part = memrchr(p, '/', (size_t)(name_end - p));
    if (part)
        copy_span(out->service, sizeof out->service, part + 1, (size_t)(name_end - part - 1));
    else
        copy_span(out->service, sizeof out->service, slash + 1, process);
    return TRUE;
}

gboolean maillog_parse_text(const char *identifier, guint pid, const char *text, size_t len, gint64 time,
                            MaillogLine *out)
{
    memset(out, 0, sizeof *out);
    if (len > MAILLOG_LINE_MAX || !smtp_identifier(identifier, strlen(identifier), out))
        return FALSE;
    out->pid = pid;
    out->time = time;
    parse_text(text, text + len, out);
    return TRUE;
}

gboolean maillog_parse(const char *line, size_t len, gint64 now, MaillogLine *out)
{
    memset(out, 0, sizeof *out);
    if (len > MAILLOG_LINE_MAX || memchr(line, '\0', len))
        return FALSE;
    const char *p = line, *end = line + len;
    gint64 time = 0;
    if (g_ascii_isdigit(*p)) {
        const char *sp = memchr(p, ' ', len);
        if (!sp || !parse_rfc3339_time(p, sp, &time))
            return FALSE;
        p = sp + 1;
    } else {
        if (!parse_syslog_time(p, end, now, &time))
            return FALSE;
        p += 16;
    }
    const char *host_end = memchr(p, ' ', (size_t)(end - p));  /* the host */
    if (!host_end)
        return FALSE;
    const char *tag = host_end + 1;
    const char *bracket = memchr(tag, '[', (size_t)(end - tag));
    if (!bracket || memchr(tag, ' ', (size_t)(bracket - tag)))
        return FALSE;
    const char *close = memchr(bracket, ']', (size_t)(end - bracket));
    if (!close || !all_digits(bracket + 1, (size_t)(close - bracket - 1)) || close - bracket > 11
        || !starts(close, end, "]: "))
        return FALSE;
    if (!smtp_identifier(tag, (size_t)(bracket - tag), out))
        return FALSE;
    out->pid = (guint)g_ascii_strtoull(bracket + 1, NULL, 10);
    out->time = time;
    parse_text(close + 3, end, out);
    return TRUE;
}

/*
 * tlsrpt.h - the day's TLS-RPT (RFC 8460) aggregate per recipient domain:
 * the TLS sessions Postfix's smtp client had with the domain's MX hosts
 * (delivery.h), grouped by the policy that applied as tlspolicyd knew it
 * (an MTA-STS policy, DANE TLSA records, or none), with success and
 * failure counts and failure details (result type, receiving MX and IP).
 *
 * A report covers one UTC day (RFC 8460 4.1: 00:00 to 24:00 UTC).  At the
 * day's end (tlsrpt_roll) each domain's report is written, gzipped and
 * named as section 5.3 names it, to the dry-run directory, and the next
 * day starts empty.  The day so far is kept in state_file with the rest
 * of the outbound state, so a restart neither loses nor doubles a
 * session.
 *
 * What is counted (section 4.3): a session is one connection the smtp
 * client made (relay= a host), counted once however many recipients it
 * carried.  A session that negotiated TLS and met its level is a success;
 * one with a result type (the failure Postfix logged) a failure.  A
 * plaintext session that nothing required to be TLS is neither: a report
 * counts TLS sessions.
 *
 * Bounded: at most max_domains domains a day, TLSRPT_MAX_POLICIES
 * policies a domain, TLSRPT_MAX_DETAILS failure details a policy; what
 * does not fit is still counted in the summary, or counted as dropped
 * (tlsrpt_counts) when even the domain does not fit.
 */
#ifndef TLSPOLICYD_TLSRPT_H
#define TLSPOLICYD_TLSRPT_H

#include <glib.h>

#include "delivery.h"

#define TLSRPT_MAX_DOMAINS 5000
#define TLSRPT_MAX_POLICIES 8
#define TLSRPT_MAX_DETAILS 32

typedef enum { TLSRPT_NO_POLICY, TLSRPT_STS, TLSRPT_TLSA } TlsrptPolicyType;

/* The policy a session met, as enforced. */
typedef struct {
    TlsrptPolicyType type;
    char *const *strings;  /* policy-string: the MTA-STS policy's lines, or the TLSA
                            * records ("3 1 1 0A1B..."); NULL: none */
    char *const *mx;       /* mx-host: the policy's MX patterns; NULL: none */
} TlsrptPolicy;

/* One session's outcome. */
typedef struct {
    TlsResult result;      /* RESULT_NONE: TLS met its level */
    const char *mx_host;   /* the receiving MX's name, "" if not known */
    const char *ip;        /* the receiving IP, "" if not known */
    const char *detail;    /* additional-information, "" for none */
} TlsrptSession;

/* Who reports (section 4.4: organization-name, contact-info). */
typedef struct {
    const char *organization;
    const char *contact;
    const char *submitter;  /* the file name's submitter: the reporting host's name */
} TlsrptOrg;

typedef struct {
    guint64 sessions;           /* counted into a report */
    guint64 reports_written;
    guint64 reports_failed;     /* could not be written */
    guint64 sessions_dropped;   /* the domain did not fit in the day */
    guint64 details_dropped;    /* counted in the summary only */
} TlsrptCounts;

typedef struct Tlsrpt Tlsrpt;

/* now: wall-clock seconds; the day is now's UTC day. */
Tlsrpt *tlsrpt_new(guint max_domains, gint64 now);
void tlsrpt_free(Tlsrpt *t);

void tlsrpt_record(Tlsrpt *t, const char *domain, const TlsrptPolicy *policy, const TlsrptSession *session);

/* The domain's report for the day so far (RFC 8460 4.4 JSON), or NULL
 * when it had no session counted. */
char *tlsrpt_report_json(const Tlsrpt *t, const char *domain, const TlsrptOrg *org);
/* Its report-id: "BEGIN.DOMAIN@SUBMITTER", unique per day and domain. */
char *tlsrpt_report_id(const Tlsrpt *t, const char *domain, const TlsrptOrg *org);
/* text, gzipped (RFC 8460 5.3: application/tlsrpt+gzip). */
GBytes *tlsrpt_gzip(const char *text, GError **error);
/* The domains with a report, sorted. */
GPtrArray *tlsrpt_domains(const Tlsrpt *t);

gboolean tlsrpt_day_over(const Tlsrpt *t, gint64 now);
/* When now is past the day: every domain's report into directory (""
 * writes none), and a new day.  The number written; *error the first
 * failure (the others counted). */
guint tlsrpt_roll(Tlsrpt *t, gint64 now, const char *directory, const TlsrptOrg *org, GError **error);
/* The file name section 5.3 gives: submitter!domain!begin!end.json.gz */
char *tlsrpt_file_name(const char *submitter, const char *domain, gint64 begin, gint64 end);
/* The domain's report's, for the day so far. */
char *tlsrpt_report_file_name(const Tlsrpt *t, const char *domain, const TlsrptOrg *org);

TlsrptCounts tlsrpt_counts(const Tlsrpt *t);

/* The day so far into kf ([tlsrpt], [tlsrpt policy N]), and back; a day
 * already over when loaded is rolled by the next tlsrpt_roll. */
void tlsrpt_save(const Tlsrpt *t, GKeyFile *kf);
void tlsrpt_load(Tlsrpt *t, GKeyFile *kf);

#endif

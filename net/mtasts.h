/*
 * mtasts.h - MTA-STS (RFC 8461) text formats: the "_mta-sts" TXT record
 * and the policy file, and what the policy's mx patterns mean.  Pure
 * functions, no I/O; the daemon (policyd/destination.c) and tlsprobe use
 * the same parsers, and fuzz/fuzz_mtasts.c feeds them.
 */
#ifndef TLSPOLICYD_MTASTS_H
#define TLSPOLICYD_MTASTS_H

#include <glib.h>

#define MTASTS_ID_MAX 32           /* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */
#define MTASTS_MAX_MX 16           /* mx lines kept; more make the policy invalid */
#define MTASTS_PATTERN_MAX 254
#define MTASTS_MAX_AGE_MAX 31557600 /* RFC 8461 3.2: at most a year */
#define MTASTS_POLICY_MAX 65536    /* bytes fetched at most (RFC 8461 3.3 suggests 64 KiB) */
#define MTASTS_HTTPS_PORT 443      /* https://mta-sts.DOMAIN/.well-known/mta-sts.txt */

typedef enum { MTASTS_MODE_NONE, MTASTS_MODE_TESTING, MTASTS_MODE_ENFORCE } MtastsMode;

typedef struct {
    MtastsMode mode;
    guint max_age;
    guint n_mx;
    char mx[MTASTS_MAX_MX][MTASTS_PATTERN_MAX + 1];  /* lower case, no trailing dot */
} MtastsPolicy;

/* One TXT string (the record's character-strings joined): TRUE and the
 * id when it is a valid "v=STSv1; id=...;" record; FALSE with why
 * otherwise (not STSv1 at all, or a broken one). */
gboolean mtasts_parse_txt(const char *txt, size_t len, char id[MTASTS_ID_MAX + 1], const char **why);

/* The TXT records of _mta-sts.DOMAIN (NULL-terminated): TRUE and the id
 * when exactly one is an STSv1 record and it is valid; FALSE with why
 * otherwise (none, or more than one: RFC 8461 3.1 says no policy). */
gboolean mtasts_select_txt(char *const *records, char id[MTASTS_ID_MAX + 1], const char **why);

/* The policy file body (CRLF or LF lines of "key: value"): TRUE and the
 * policy, or FALSE with why (a static text) for an invalid one. */
gboolean mtasts_parse_policy(const char *body, size_t len, MtastsPolicy *out, const char **why);

/* Does host (an MX name, any case, a trailing dot allowed) match one
 * pattern ("mail.example.com" or "*.example.com": one label)? */
gboolean mtasts_mx_matches(const char *pattern, const char *host);

/* Postfix's "match=" value for a secure TLS policy entry, appended to
 * out: the policy's exact patterns, and in place of each wildcard the MX
 * hosts (lower case, no trailing dot) it matches (one label, RFC 8461
 * 4.1).  Postfix has no one-label pattern: its ".example.com" matches
 * names at any depth, so a certificate for a.b.example.com would pass
 * for "*.example.com".  FALSE when a wildcard needs mx_hosts and they are
 * not known (NULL).  No pattern and no MX host left: MTASTS_NO_MATCH,
 * a name no certificate has, so Postfix defers (RFC 8461 4.1: an MX host
 * the policy does not name is not used). */
#define MTASTS_NO_MATCH "no-mx-host-matches-the-mta-sts-policy.invalid"
gboolean mtasts_postfix_match(const MtastsPolicy *policy, char *const *mx_hosts, GString *out);

const char *mtasts_mode_name(MtastsMode mode);

/* The policy as its file's lines ("version: STSv1", "mode: ...", each
 * "mx: ...", "max_age: ..."), what mtasts_parse_policy() reads back and
 * RFC 8460's policy-string; and its mx patterns alone (mx-host). */
char **mtasts_policy_lines(const MtastsPolicy *policy);
char **mtasts_policy_mx(const MtastsPolicy *policy);

#endif

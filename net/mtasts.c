/*
 * mtasts.c - MTA-STS record and policy parsers; see mtasts.h.
 *
 * Strict where RFC 8461 is (version first in both, the id's alphabet,
 * max_age's range, one mode), lenient where it allows (unknown keys are
 * ignored, whitespace around values, LF without CR).
 */
#include "mtasts.h"

#include <string.h>

const char *mtasts_mode_name(MtastsMode mode)
{
    static const char *const names[] = {"none", "testing", "enforce"};
    return names[mode];
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* RFC 8461 3.1: sts-text-record = sts-version 1*(sts-sep sts-field) [sts-sep] */
gboolean mtasts_parse_txt(const char *txt, size_t len, char id[MTASTS_ID_MAX + 1], const char **why)
{
    const char *p = txt, *end = txt + len;
    id[0] = 0;
    if (len < 8 || strncmp(txt, "v=STSv1", 7) != 0 || (len > 7 && txt[7] != ';' && txt[7] != ' ' && txt[7] != '\t')) {
        *why = "not an STSv1 record";
        return FALSE;
    }
    p += 7;
    while (p < end) {
        p = skip_space(p, end);
        if (p < end && *p == ';')
            p++;
        p = skip_space(p, end);
        if (p >= end)
            break;
        const char *name = p;
        while (p < end && *p != '=' && *p != ';')
            p++;
        if (p >= end || *p != '=') {
            *why = "a field without '='";
            return FALSE;
        }
        size_t name_len = (size_t)(p - name);
        const char *value = ++p;
        while (p < end && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t value_len = (size_t)(p - value);
        if (name_len != 2 || strncmp(name, "id", 2) != 0)
            continue;
        if (value_len == 0 || value_len > MTASTS_ID_MAX) {
            *why = "id is empty or longer than 32 characters";
            return FALSE;
        }
        for (size_t i = 0; i < value_len; i++) {
            if (!g_ascii_isalnum(value[i])) {
                *why = "id has a character other than letters and digits";
                return FALSE;
            }
        }
        memcpy(id, value, value_len);
        id[value_len] = 0;
    }
    if (!id[0]) {
        *why = "no id field";
        return FALSE;
    }
    return TRUE;
}

gboolean mtasts_select_txt(char *const *records, char id[MTASTS_ID_MAX + 1], const char **why)
{
    guint n = 0;
    id[0] = 0;
    *why = "no _mta-sts TXT record";
    for (char *const *t = records; t && *t; t++) {
        if (strncmp(*t, "v=STSv1", 7) != 0)
            continue;
        if (++n > 1) {
            *why = "more than one STSv1 TXT record (RFC 8461: no policy)";
            id[0] = 0;
            return FALSE;
        }
        if (!mtasts_parse_txt(*t, strlen(*t), id, why))
            id[0] = 0;
    }
    return id[0] != 0;
}

static gboolean valid_pattern(const char *p, size_t len)
{
    if (len >= 2 && p[0] == '*' && p[1] == '.') {
        p += 2;
        len -= 2;
    }
    if (len == 0 || len > MTASTS_PATTERN_MAX - 2)
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        if (!g_ascii_isalnum(p[i]) && p[i] != '-' && p[i] != '.' && p[i] != '_')
            return FALSE;
        if (p[i] == '.' && (i == 0 || i == len - 1 || p[i - 1] == '.'))
            return FALSE;  /* an empty label (p is not NUL-terminated) */
    }
    return TRUE;
}

static gboolean field_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncmp(name, want, len) == 0;
}

/* One "key: value" line into the policy; FALSE with why when it breaks it. */
static gboolean policy_field(MtastsPolicy *out, const char *name, size_t name_len, const char *value,
                             size_t value_len, gboolean *have_mode, gboolean *have_age, const char **why)
{
    if (field_is(name, name_len, "mode")) {
        if (*have_mode) {
            *why = "more than one mode";
            return FALSE;
        }
        *have_mode = TRUE;
        if (field_is(value, value_len, "enforce"))
            out->mode = MTASTS_MODE_ENFORCE;
        else if (field_is(value, value_len, "testing"))
            out->mode = MTASTS_MODE_TESTING;
        else if (field_is(value, value_len, "none"))
            out->mode = MTASTS_MODE_NONE;
        else {
            *why = "mode is not enforce, testing or none";
            return FALSE;
        }
        return TRUE;
    }
    if (field_is(name, name_len, "max_age")) {
        guint64 age = 0;
        if (*have_age || value_len == 0 || value_len > 10) {
            *why = "max_age missing, repeated or too long";
            return FALSE;
        }
        for (size_t i = 0; i < value_len; i++) {
            if (!g_ascii_isdigit(value[i])) {
                *why = "max_age is not a number";
                return FALSE;
            }
            age = age * 10 + (guint64)(value[i] - '0');
        }
        if (age > MTASTS_MAX_AGE_MAX) {
            *why = "max_age over 31557600";
            return FALSE;
        }
        *have_age = TRUE;
        out->max_age = (guint)age;
        return TRUE;
    }
    if (field_is(name, name_len, "mx")) {
        if (!valid_pattern(value, value_len)) {
            *why = "an mx pattern is not a host name";
            return FALSE;
        }
        if (out->n_mx == MTASTS_MAX_MX) {
            *why = "more than 16 mx patterns";
            return FALSE;
        }
        char *dst = out->mx[out->n_mx++];
        for (size_t i = 0; i < value_len; i++)
            dst[i] = g_ascii_tolower(value[i]);
        dst[value_len] = 0;
        return TRUE;
    }
    return TRUE;  /* RFC 8461 3.2: unknown fields are ignored */
}

gboolean mtasts_parse_policy(const char *body, size_t len, MtastsPolicy *out, const char **why)
{
    const char *p = body, *end = body + len;
    gboolean have_version = FALSE, have_mode = FALSE, have_age = FALSE;
    memset(out, 0, sizeof *out);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *next = eol ? eol + 1 : end;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        if (line_end == p) {
            p = next;
            continue;
        }
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (!colon) {
            *why = "a line without ':'";
            return FALSE;
        }
        const char *name = p;
        size_t name_len = (size_t)(colon - p);
        const char *value = skip_space(colon + 1, line_end);
        const char *value_end = line_end;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        size_t value_len = (size_t)(value_end - value);
        if (!have_version) {
            if (!field_is(name, name_len, "version") || !field_is(value, value_len, "STSv1")) {
                *why = "the first line is not \"version: STSv1\"";
                return FALSE;
            }
            have_version = TRUE;
        } else if (!policy_field(out, name, name_len, value, value_len, &have_mode, &have_age, why)) {
            return FALSE;
        }
        p = next;
    }
    if (!have_version || !have_mode || !have_age) {
        *why = "version, mode or max_age missing";
        return FALSE;
    }
    if (out->mode != MTASTS_MODE_NONE && out->n_mx == 0) {
        *why = "no mx pattern";
        return FALSE;
    }
    return TRUE;
}

gboolean mtasts_mx_matches(const char *pattern, const char *host)
{
    size_t host_len = strlen(host);
    if (host_len && host[host_len - 1] == '.')
        host_len--;
    if (pattern[0] == '*' && pattern[1] == '.') {
        /* one label, then the rest equal */
        const char *dot = memchr(host, '.', host_len);
        if (!dot || dot == host)
            return FALSE;
        size_t rest = host_len - (size_t)(dot + 1 - host);
        return rest == strlen(pattern + 2) && g_ascii_strncasecmp(dot + 1, pattern + 2, rest) == 0;
    }
    return host_len == strlen(pattern) && g_ascii_strncasecmp(host, pattern, host_len) == 0;
}

/* Only letters, digits, '-', '_' and dots reach the policy table's
 * answer: a name from DNS with a space or ':' would be another field. */
static gboolean plain_host_name(const char *host)
{
    if (!*host)
        return FALSE;
    for (const char *p = host; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return FALSE;
    }
    return TRUE;
}

gboolean mtasts_postfix_match(const MtastsPolicy *policy, char *const *mx_hosts, GString *out)
{
    gsize start = out->len;
    for (guint i = 0; i < policy->n_mx; i++) {
        const char *pattern = policy->mx[i];
        if (pattern[0] != '*') {
            g_string_append_printf(out, "%s%s", out->len > start ? ":" : "", pattern);
            continue;
        }
        if (!mx_hosts)
            return FALSE;
        for (char *const *h = mx_hosts; *h; h++) {
            if (plain_host_name(*h) && mtasts_mx_matches(pattern, *h))
                g_string_append_printf(out, "%s%s", out->len > start ? ":" : "", *h);
        }
    }
    if (out->len == start)
        g_string_append(out, MTASTS_NO_MATCH);
    return TRUE;
}

char **mtasts_policy_lines(const MtastsPolicy *policy)
{
    GPtrArray *lines = g_ptr_array_new();
    g_ptr_array_add(lines, g_strdup("version: STSv1"));
    g_ptr_array_add(lines, g_strdup_printf("mode: %s", mtasts_mode_name(policy->mode)));
    for (guint i = 0; i < policy->n_mx; i++)
        g_ptr_array_add(lines, g_strdup_printf("mx: %s", policy->mx[i]));
    g_ptr_array_add(lines, g_strdup_printf("max_age: %u", policy->max_age));
    g_ptr_array_add(lines, NULL);
    return (char **)g_ptr_array_free(lines, FALSE);
}

char **mtasts_policy_mx(const MtastsPolicy *policy)
{
    char **mx = g_new0(char *, policy->n_mx + 1);
    for (guint i = 0; i < policy->n_mx; i++)
        mx[i] = g_strdup(policy->mx[i]);
    return mx;
}

/* fuzz_mtasts.c - libFuzzer harness for the MTA-STS parsers
 * (net/mtasts.c: the TXT record, the policy file) and the policy fetch's
 * HTTP response parser (net/https.c).  The first byte picks the parser,
 * the rest is the input, copied to exactly its size so ASan sees any read
 * past it.  Accepted input must keep the parsers' promises: an id of 1-32
 * letters and digits; a policy with a mode, max_age within a year and, for
 * enforce and testing, 1-16 lower-case patterns; a body inside the input. */
#include <stdint.h>
#include <string.h>

#include "https.h"
#include "mtasts.h"

static void check_txt(const char *buf, size_t size)
{
    char id[MTASTS_ID_MAX + 1];
    const char *why = NULL;
    if (!mtasts_parse_txt(buf, size, id, &why)) {
        if (!why)
            __builtin_trap();
        return;
    }
    size_t len = strlen(id);
    if (len == 0 || len > MTASTS_ID_MAX)
        __builtin_trap();
    for (size_t i = 0; i < len; i++)
        if (!g_ascii_isalnum(id[i]))
            __builtin_trap();
}

static void check_policy(const char *buf, size_t size)
{
    MtastsPolicy p;
    const char *why = NULL;
    if (!mtasts_parse_policy(buf, size, &p, &why)) {
        if (!why)
            __builtin_trap();
        return;
    }
    if (p.max_age > MTASTS_MAX_AGE_MAX || p.n_mx > MTASTS_MAX_MX || (p.mode != MTASTS_MODE_NONE && p.n_mx == 0))
        __builtin_trap();
    GString *match = g_string_new(NULL);
    char *mx[] = {"a.example", "b.a.example", "x:y.example", NULL};
    if (!mtasts_postfix_match(&p, mx, match) || strpbrk(match->str, " \t\r\n,"))
        __builtin_trap();  /* with MX hosts known, always an answer, one field */
    for (guint i = 0; i < p.n_mx; i++) {
        size_t len = strlen(p.mx[i]);
        if (len == 0 || len > MTASTS_PATTERN_MAX)
            __builtin_trap();
        for (size_t k = 0; k < len; k++)
            if (g_ascii_isupper(p.mx[i][k]))
                __builtin_trap();
        /* an exact pattern matches itself */
        if (p.mx[i][0] != '*' && !mtasts_mx_matches(p.mx[i], p.mx[i]))
            __builtin_trap();
    }
    if (strchr(match->str, '*'))
        __builtin_trap();
    g_string_free(match, TRUE);
}

static void check_response(const char *buf, size_t size, gboolean closed_cleanly)
{
    size_t start, len;
    const char *why = NULL;
    if (!https_parse_response(buf, size, closed_cleanly, &start, &len, &why)) {
        if (!why)
            __builtin_trap();
        return;
    }
    if (start > size || len > size - start || len > MTASTS_POLICY_MAX)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = size - 1;
    char *buf = g_malloc(n ? n : 1);
    memcpy(buf, data + 1, n);
    switch (data[0] % 4) {
    case 0: check_txt(buf, n); break;
    case 1: check_policy(buf, n); break;
    case 2: check_response(buf, n, TRUE); break;
    default: check_response(buf, n, FALSE); break;
    }
    g_free(buf);
    return 0;
}

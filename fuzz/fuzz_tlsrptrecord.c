/* fuzz_tlsrptrecord.c - libFuzzer harness for the TLS-RPT record parser
 * (net/tlsrptrecord.c: the _smtp._tls TXT record a recipient domain
 * writes).  The input is one record, copied to exactly its size so ASan
 * sees any read past it; split at NUL bytes it is also a record set for
 * tlsrpt_record_select.  Accepted input must keep the parser's promises:
 * 1 to TLSRPT_MAX_RUA destinations, each mailto: with one '@' and no
 * space or control byte, or https: with a host and a port, the host in
 * lower case. */
#include <stdint.h>
#include <string.h>

#include "tlsrptrecord.h"

static void check_record(const TlsrptRecord *r)
{
    if (!r->rua || r->rua->len == 0 || r->rua->len > TLSRPT_MAX_RUA)
        __builtin_trap();
    for (guint i = 0; i < r->rua->len; i++) {
        const TlsrptRua *rua = r->rua->pdata[i];
        if (!rua->target || !rua->host || !*rua->host)
            __builtin_trap();
        for (const char *p = rua->host; *p; p++)
            if (g_ascii_isupper(*p))
                __builtin_trap();
        if (rua->scheme == TLSRPT_MAILTO) {
            const char *at = strchr(rua->target, '@');
            if (!at || strchr(at + 1, '@'))
                __builtin_trap();
            for (const char *p = rua->target; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f)
                    __builtin_trap();
        } else if (rua->port == 0 || rua->port > 65535) {
            __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = g_malloc(size ? size : 1);
    memcpy(buf, data, size);
    TlsrptRecord r;
    const char *why = NULL;
    if (tlsrpt_record_parse(buf, size, &r, &why))
        check_record(&r);
    else if (!why || r.rua)
        __builtin_trap();
    tlsrpt_record_clear(&r);
    g_free(buf);
    /* the same bytes as a record set: NUL-separated records */
    char *text = g_strndup((const char *)data, size);
    GPtrArray *records = g_ptr_array_new();
    for (size_t at = 0; at <= size && records->len < 8;) {
        g_ptr_array_add(records, text + at);
        size_t len = strlen(text + at);
        at += len + 1;
        if (at > size)
            break;
    }
    g_ptr_array_add(records, NULL);
    if (tlsrpt_record_select((char *const *)records->pdata, &r, &why))
        check_record(&r);
    tlsrpt_record_clear(&r);
    g_ptr_array_free(records, TRUE);
    g_free(text);
    return 0;
}

/* fuzz_dns.c - libFuzzer harness for the DNS answer readers (net/dns.c):
 * MX, TXT, A and TLSA RDATA as libunbound hands them over, in a struct
 * ub_result built from the input.  The first byte picks the record type
 * and the answer's flags; the rest is records, each a length byte and
 * that many bytes, every one copied to exactly its size so ASan sees any
 * read past it.  The readers must keep their promises: MX hosts lower
 * case, labels of 1-63 bytes, "." only for a null MX; one TXT string per
 * record; dotted quads that parse; usable TLSA records of a digest length
 * their matching type allows; a trust verdict for every answer. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

#define MAX_RECORDS 16

static void check_host(const char *host)
{
    if (strcmp(host, ".") == 0)
        return;
    size_t label = 0;
    if (!*host)
        __builtin_trap();
    for (const char *p = host; *p; p++) {
        if (g_ascii_isupper(*p))
            __builtin_trap();
        if (*p == '.') {
            label = 0;
            continue;
        }
        if (++label > 63)
            __builtin_trap();
    }
}

static void check_mx(const struct ub_result *r, int n)
{
    GArray *mx = dns_mx_records(r);
    if ((int)mx->len > n)
        __builtin_trap();
    for (guint i = 0; i < mx->len; i++)
        check_host(g_array_index(mx, DnsMx, i).host);
    dns_mx_free(mx);
    char **hosts = dns_mx_hosts(r);
    for (char **h = hosts; *h; h++)
        check_host(*h);
    g_strfreev(hosts);
}

static void check_txt(const struct ub_result *r, int n)
{
    char **txt = dns_txt_strings(r);
    if ((int)g_strv_length(txt) != n)
        __builtin_trap();
    g_strfreev(txt);
}

static void check_a(const struct ub_result *r)
{
    char **addrs = dns_addresses(r);
    for (char **a = addrs; *a; a++) {
        struct in_addr in;
        if (inet_pton(AF_INET, *a, &in) != 1)
            __builtin_trap();
    }
    g_strfreev(addrs);
}

static void check_tlsa(const struct ub_result *r, int n)
{
    guint usable = dns_usable_tlsa(r);
    if ((int)usable > n)
        __builtin_trap();
    for (int i = 0; i < n; i++) {
        const unsigned char *d = (const unsigned char *)r->data[i];
        if (!dns_tlsa_usable(d, r->len[i]))
            continue;
        if ((d[2] == 1 && r->len[i] != 35) || (d[2] == 2 && r->len[i] != 67) || d[2] > 2 || r->len[i] < 4)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    char *records[MAX_RECORDS + 1] = {0};
    int lens[MAX_RECORDS + 1] = {0};
    int n = 0;
    for (size_t at = 1; at < size && n < MAX_RECORDS;) {
        size_t len = data[at++];
        if (len > size - at)
            len = size - at;
        records[n] = malloc(len ? len : 1);
        memcpy(records[n], data + at, len);
        lens[n++] = (int)len;
        at += len;
    }
    struct ub_result r = {
        .qname = (char *)"fuzz.example",
        .data = records,
        .len = lens,
        .havedata = n > 0,
        .rcode = (mode & 8) ? 2 : 0,
        .nxdomain = (mode & 16) != 0,
        .secure = (mode & 32) != 0,
        .bogus = (mode & 64) != 0,
    };
    DnsTrust trust = dns_trust(mode & 128 ? 1 : 0, &r);
    if (trust > DNS_FAILED || !dns_trust_name(trust))
        __builtin_trap();
    switch (mode & 3) {
    case 0:
        check_mx(&r, n);
        break;
    case 1:
        check_txt(&r, n);
        break;
    case 2:
        check_a(&r);
        break;
    default:
        check_tlsa(&r, n);
        break;
    }
    for (int i = 0; i < n; i++)
        free(records[i]);
    return 0;
}

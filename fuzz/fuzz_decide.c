/* fuzz_decide.c - libFuzzer harness for the decision engine: structured
 * random requests (fields cut from the input) against a small compiled
 * list, checking the engine's invariants: never OK, a reply that fits one
 * line, FILTER only outbound, reject only inbound, a listed domain found
 * whatever the local part before it, and within one
 * transaction (two recipients, no state kept across inputs) a shared
 * FILTER route never lowers the first recipient's level to one that may
 * send in plaintext; with DANE/MTA-STS answers of any kind, a route is
 * never below the list's level, never plaintext-capable, and a listed
 * recipient stays routed (or TEMP). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "decide.h"
#include "dns.h"
#include "source.h"

/* A DestinationLookup with a fixed answer (what DANE/MTA-STS say). */
typedef struct {
    DestinationPolicy answer;
    MtastsPolicy policy;
    gboolean dane_asked;
} FuzzLookup;

static const DestinationPolicy *fuzz_lookup(const char *domain, gboolean dane, gboolean sts, gboolean listed,
                                                   gpointer data)
{
    FuzzLookup *f = data;
    if (!dns_name_is_hostname(domain))
        __builtin_trap();  /* never asked about a name DNS cannot take */
    (void)listed;
    f->dane_asked = dane;
    f->answer.dane = dane ? f->answer.dane : SOURCE_OFF;
    f->answer.sts = sts ? f->answer.sts : SOURCE_OFF;
    f->answer.policy = f->answer.sts == SOURCE_FOUND ? &f->policy : NULL;
    static char *const mx_hosts[] = {"a.mx.example", "b.a.mx.example", NULL};
    f->answer.mx_hosts = mx_hosts;
    return &f->answer;
}

/* The one thing kept across inputs: the compiled list, read-only. */
static StoreReader *list;

static const char list_text[] =
    "bank.example verify\n.bank.example encrypt on_failure=bounce\nx.bank.example none\n"
    "boss@corp.example secure direction=outbound\n.org encrypt direction=inbound min_protocol=TLSv1.3\n"
    "watch.example encrypt mode=report\nxn--bcher-kva.de dane-only\nnoted.example encrypt notice=\"see you\"\n"
    "odane.example dane\nhop.example verify nexthop=[relay.example]:587\ncustom.example encrypt transport=x-tls\n";

static void setup(void)
{
    char dir[] = "/tmp/fuzz-decide-XXXXXX";
    if (!mkdtemp(dir))
        __builtin_trap();
    char *path = g_build_filename(dir, "list.lmdb", NULL);
    List *src = list_new("list");
    if (!source_parse(src, list_text, strlen(list_text), NULL) || !store_write(path, src->records, NULL, NULL))
        __builtin_trap();
    list_free(src);
    list = store_reader_new(path);
    store_reader_set_recheck(list, 4000000000u);  /* never look again: the file goes away */
    if (!store_reader_begin(list, NULL))          /* map it now */
        __builtin_trap();
    store_reader_end(list);
    unlink(path);
    rmdir(dir);
    g_free(path);
}

/* Cut NUL-separated fields from the input. */
static const char *field(char **p, char *end)
{
    const char *start = *p;
    char *nul = memchr(*p, 0, (size_t)(end - *p));
    *p = nul ? nul + 1 : end;
    return nul ? start : "";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TransactionState txn = {0};
    if (!list)
        setup();
    if (size < 2)
        return 0;
    char *copy = g_malloc(size + 1);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = 0;
    char *p = copy, *end = copy + size - 1;

    PolicyRequest req = {.request = "smtpd_access_policy"};
    req.protocol_state = data[0] & 1 ? "RCPT" : "DATA";
    req.policy_context = data[0] & 2 ? "outbound" : "";
    req.sender = field(&p, end);
    req.recipient = field(&p, end);
    req.instance = field(&p, end);
    req.encryption_protocol = field(&p, end);
    req.encryption_cipher = field(&p, end);
    req.ccert_subject = field(&p, end);
    const char *second_recipient = field(&p, end);
    req.ccert_fingerprint = "";
    req.sasl_username = "";
    req.queue_id = req.client_name = req.client_address = "";
    /* a fresh configuration per input: nothing carries over */
    g_autoptr(Config) config = config_new_defaults();
    config->mixed_recipients = data[0] & 4 ? MIXED_STRICTEST : MIXED_REJECT;
    config->global_floor = data[0] & 8 ? GLOBAL_FLOOR_ENFORCE : data[0] & 128 ? GLOBAL_FLOOR_REPORT : GLOBAL_FLOOR_OFF;
    config->outbound_routing = data[0] & 32 ? ROUTING_TRANSPORT_MAPS : ROUTING_FILTER;
    g_free(config->relayhost);
    config->relayhost = g_strdup(data[0] & 64 ? "[smart.example]:25" : "");

    Decision d;
    gboolean ok = store_reader_begin(list, NULL);
    decide(&req, ok && !(data[0] & 16) ? list : NULL, config, &txn, &d);
    if (strncmp(d.action, "OK", 2) == 0 || strpbrk(d.action, "\r\n"))
        __builtin_trap();
    if (d.verdict == VERDICT_FILTER && d.direction != DIRECTION_OUTBOUND)
        __builtin_trap();
    if (d.verdict == VERDICT_REJECT && d.direction != DIRECTION_INBOUND)
        __builtin_trap();

    /* lookups never skip a rule: if the address's domain (or a parent)
     * is listed, the address is too, whatever its local part */
    if (ok) {
        const char *at = strrchr(req.sender, '@');
        LookupMatch m;
        if (at && lookup_find(list, at + 1, "+", DIRECTION_BOTH, &m) == LOOKUP_FOUND
            && lookup_find(list, req.sender, "+", DIRECTION_BOTH, &m) != LOOKUP_FOUND)
            __builtin_trap();
    }

    /* a second recipient of the same transaction (an empty instance
     * starts a new one) */
    if (d.verdict == VERDICT_FILTER && *req.instance) {
        TlsLevel first = txn.level;
        gboolean first_bounce = txn.bounce;
        Decision d2;
        req.recipient = second_recipient;
        decide(&req, ok && !(data[0] & 16) ? list : NULL, config, &txn, &d2);
        if (d2.verdict == VERDICT_FILTER
            && (!tls_level_satisfies(txn.level, first) || (first_bounce && !txn.bounce)))
            __builtin_trap();
        if (strncmp(d2.action, "OK", 2) == 0 || strpbrk(d2.action, "\r\n"))
            __builtin_trap();
    }

    char request[600];
    snprintf(request, sizeof request, "transport %s", req.recipient);
    RouteDecision r;
    decide_route(request, ok ? list : NULL, config, NULL, NULL, &r);
    if (strpbrk(r.reply, "\r\n"))
        __builtin_trap();

    /* DANE and MTA-STS (states from the input's last byte) never give a
     * route weaker than the list's, nor one that may go plaintext */
    guint8 last = data[size - 1];
    FuzzLookup fl = {.answer = {.dane = (SourceState)(1 + last % 4), .sts = (SourceState)(1 + (last >> 2) % 4)}};
    fl.policy = (MtastsPolicy){.mode = (last & 16) ? MTASTS_MODE_ENFORCE : MTASTS_MODE_TESTING, .max_age = 1,
                                      .n_mx = 1};
    g_strlcpy(fl.policy.mx[0], "*.mx.example", sizeof fl.policy.mx[0]);
    fl.answer.dane_bogus = (data[0] & 4) != 0;
    config->dane = last & 32 ? DANE_AUTO : DANE_OFF;
    config->mta_sts = (MtaStsMode)((last >> 6) % 3);
    config->on_lookup_pending = data[0] & 1 ? LOOKUP_TEMP : LOOKUP_LIST;
    config->on_lookup_failure = data[0] & 2 ? LOOKUP_TEMP : LOOKUP_LIST;
    RouteDecision rs;
    decide_route(request, ok ? list : NULL, config, fuzz_lookup, &fl, &rs);
    if (strpbrk(rs.reply, "\r\n") || strpbrk(rs.explain, "\r\n"))
        __builtin_trap();
    if (r.status == ROUTE_OK && rs.status != ROUTE_OK && rs.status != ROUTE_TEMP)
        __builtin_trap();  /* listed, now not routed */
    /* below the list's level (dane-only, DANE-authenticated, stands for any:
     * RFC 7672's authentication, what the issue asks for verify + TLSA) */
    LookupMatch m;
    gboolean listed_dane = ok && lookup_find(list, req.recipient, "+", DIRECTION_OUTBOUND, &m) == LOOKUP_FOUND
                           && m.entry.level == LEVEL_DANE;  /* "DANE where published, else encrypt" */
    if (r.status == ROUTE_OK && rs.status == ROUTE_OK && !listed_dane && rs.level != LEVEL_DANE_ONLY
        && !tls_level_satisfies(rs.level, r.level))
        __builtin_trap();
    if (rs.status == ROUTE_OK && (rs.level == LEVEL_DANE || entry_level_is_exemption(rs.level)))
        __builtin_trap();  /* Postfix's dane, or none: plaintext possible */
    if (fl.dane_asked && fl.answer.dane == SOURCE_FAILED && fl.answer.dane_bogus && rs.status != ROUTE_TEMP)
        __builtin_trap();  /* bogus DNSSEC is never "no DANE" */
    if (ok)
        store_reader_end(list);
    g_free(copy);
    return 0;
}

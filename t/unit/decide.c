/* decide.c - table-driven tests of the decision engine (policyd/decide.c)
 * and the request parser (policyd/request.c), on a real compiled list. */
#include <string.h>
#include <unistd.h>

#include "decide.h"
#include "source.h"
#include "netstring.h"

static char *tmpdir;
static StoreReader *list;

static const char list_text[] =
    "bank.example         verify\n"
    ".bank.example        verify\n"
    "plain.example        encrypt\n"
    "old.example          encrypt min_protocol=TLSv1\n"
    "rc4ok.example        encrypt exclude_ciphers=NULL\n"
    "cert.example         encrypt client_cert=required\n"
    "secure.example       secure\n"
    ".sub.secure.example  secure\n"
    "exempt.bank.example  none\n"
    "watch.example        encrypt mode=report\n"
    "noted.example        encrypt notice=\"Use TLS 1.2 or better, see https://noted.example/tls\"\n"
    "out.example          verify direction=outbound\n"
    "in.example           verify direction=inbound\n"
    "bounce.example       encrypt on_failure=bounce\n"
    "custom.example       encrypt transport=relay-tls\n"
    "dane.example         dane-only\n"
    "odane.example        dane\n"
    "hop.example          encrypt direction=outbound nexthop=[smart.example]:2525\n"
    "vip@mail.example     secure direction=outbound\n"
    "watchout.example     verify mode=report direction=outbound\n";

typedef struct {
    const char *name;
    const char *request;    /* name=value lines, ';'-separated */
    const char *want;       /* the action */
    const char *want_key;   /* NULL: don't care */
} Case;

#define IN "request=smtpd_access_policy;protocol_state=RCPT;"
#define OUT IN "policy_context=outbound;"
#define TLS13 "encryption_protocol=TLSv1.3;encryption_cipher=TLS_AES_256_GCM_SHA384;"
#define TLS12 "encryption_protocol=TLSv1.2;encryption_cipher=ECDHE-RSA-AES256-GCM-SHA384;"
#define TLS11 "encryption_protocol=TLSv1.1;encryption_cipher=ECDHE-RSA-AES256-SHA;"
#define CERT(s) "ccert_subject=" s ";ccert_fingerprint=AB:CD;"
#define REJECT "550 5.7.1 TLS required: mail from this sender must arrive over an encrypted connection"
#define REJECT_VERSION(v) "550 5.7.1 TLS required: mail from this sender must use " v " or later"
#define REJECT_CIPHER(n) "550 5.7.1 TLS required: mail from this sender must not use a " n " cipher"
#define REJECT_CERT "550 5.7.1 TLS required: mail from this sender must come from a server with a trusted client certificate"
#define REJECT_NAME(d) "550 5.7.1 TLS required: mail from this sender needs a client certificate that names " d

static const Case cases[] = {
    /* states and direction */
    {"not RCPT", "request=smtpd_access_policy;protocol_state=MAIL;sender=a@plain.example", "DUNNO"},
    {"end of data", "request=smtpd_access_policy;protocol_state=END-OF-MESSAGE;sender=a@plain.example", "DUNNO"},
    {"empty sender", IN "sender=", "DUNNO"},
    {"unlisted plaintext", IN "sender=a@unlisted.example", "DUNNO"},
    {"other context is inbound", IN "policy_context=other;sender=a@plain.example", REJECT},
    /* inbound levels and floors */
    {"encrypt plaintext", IN "sender=a@plain.example", REJECT, "plain.example"},
    {"encrypt tls1.3", IN TLS13 "sender=a@plain.example", "DUNNO", "plain.example"},
    {"encrypt tls1.2", IN TLS12 "sender=a@plain.example", "DUNNO"},
    {"encrypt tls1.1 below floor", IN TLS11 "sender=a@plain.example", REJECT_VERSION("TLSv1.2")},
    {"entry floor lowered", IN TLS11 "sender=a@old.example", "DUNNO"},
    {"sslv3 below any floor", IN "encryption_protocol=SSLv3;encryption_cipher=AES;sender=a@old.example", REJECT_VERSION("TLSv1")},
    {"future tls accepted", IN "encryption_protocol=TLSv1.4;encryption_cipher=AES;sender=a@plain.example", "DUNNO"},
    {"3des excluded", IN "encryption_protocol=TLSv1.2;encryption_cipher=DES-CBC3-SHA;sender=a@plain.example", REJECT_CIPHER("DES")},
    {"iana 3des excluded", IN "encryption_protocol=TLSv1.2;encryption_cipher=TLS_RSA_WITH_3DES_EDE_CBC_SHA;sender=a@plain.example", REJECT_CIPHER("3DES")},
    {"rc4 excluded", IN "encryption_protocol=TLSv1.2;encryption_cipher=ECDHE-RSA-RC4-SHA;sender=a@plain.example", REJECT_CIPHER("RC4")},
    {"export excluded", IN "encryption_protocol=TLSv1.2;encryption_cipher=EXP-RC2-CBC-MD5;sender=a@plain.example", REJECT_CIPHER("EXPORT")},
    {"null excluded", IN "encryption_protocol=TLSv1.2;encryption_cipher=NULL-SHA256;sender=a@plain.example", REJECT_CIPHER("NULL")},
    {"DES is not AES", IN "encryption_protocol=TLSv1.2;encryption_cipher=AES256-SHA;sender=a@plain.example", "DUNNO"},
    {"entry cipher list replaces default", IN "encryption_protocol=TLSv1.2;encryption_cipher=ECDHE-RSA-RC4-SHA;sender=a@rc4ok.example", "DUNNO"},
    {"entry cipher list still applies", IN "encryption_protocol=TLSv1.2;encryption_cipher=NULL-SHA;sender=a@rc4ok.example", REJECT_CIPHER("NULL")},
    /* client certificates */
    {"verify needs cert", IN TLS13 "sender=a@bank.example", REJECT_CERT, "bank.example"},
    {"verify unverified cert", IN TLS13 "ccert_fingerprint=AB:CD;sender=a@bank.example", REJECT_CERT},
    {"verify with cert", IN TLS13 CERT("mx.other.example") "sender=a@bank.example", "DUNNO"},
    {"client_cert=required", IN TLS13 "sender=a@cert.example", REJECT_CERT},
    {"client_cert=required met", IN TLS13 CERT("x") "sender=a@cert.example", "DUNNO"},
    {"secure cert names domain", IN TLS13 CERT("secure.example") "sender=a@secure.example", "DUNNO"},
    {"secure cert names subdomain", IN TLS13 CERT("MX1.Secure.Example") "sender=a@secure.example", "DUNNO"},
    {"secure cert wrong name", IN TLS13 CERT("mx.attacker.example") "sender=a@secure.example", REJECT_NAME("secure.example")},
    {"secure cert suffix trick", IN TLS13 CERT("evilsecure.example") "sender=a@secure.example", REJECT_NAME("secure.example")},
    {"secure parent key domain", IN TLS13 CERT("mx.sub.secure.example") "sender=a@x.sub.secure.example", "DUNNO"},
    /* keys */
    {"parent key", IN "sender=a@mx.bank.example", REJECT, ".bank.example"},
    {"exemption", IN "sender=a@exempt.bank.example", "DUNNO", "exempt.bank.example"},
    {"report mode", IN "sender=a@watch.example", "DUNNO", "watch.example"},
    {"custom notice", IN "sender=a@noted.example", "550 5.7.1 Use TLS 1.2 or better, see https://noted.example/tls"},
    {"outbound-only entry ignored inbound", IN "sender=a@out.example", "DUNNO"},
    {"inbound-only entry", IN "sender=a@in.example", REJECT},
    {"srs sender", IN "sender=SRS0=HHH=TT=plain.example=a@forwarder.example", "DUNNO"},
    /* outbound */
    {"outbound listed", OUT "recipient=b@bank.example", "FILTER tls-verify:", "bank.example"},
    {"outbound parent", OUT "recipient=b@mx.bank.example", "FILTER tls-verify:"},
    {"outbound unlisted", OUT "recipient=b@unlisted.example", "DUNNO"},
    {"outbound exemption", OUT "recipient=b@exempt.bank.example", "DUNNO"},
    {"outbound bounce", OUT "recipient=b@bounce.example", "FILTER tls-encrypt-bounce:"},
    {"outbound transport override", OUT "recipient=b@custom.example", "FILTER relay-tls:"},
    {"outbound dane-only", OUT "recipient=b@dane.example", "FILTER tls-dane-only:"},
    {"outbound address key", OUT "recipient=VIP+x@mail.example", "FILTER tls-secure:", "vip@mail.example"},
    {"outbound inbound-only ignored", OUT "recipient=b@in.example", "DUNNO"},
    {"outbound report", OUT "recipient=b@watchout.example", "DUNNO", "watchout.example"},
    {"outbound ignores sender", OUT "sender=a@plain.example;recipient=b@unlisted.example", "DUNNO"},
    {"outbound entry nexthop", OUT "recipient=b@hop.example", "FILTER tls-encrypt:[smart.example]:2525"},
};

/* outbound_routing = filter: the table's outbound rows expect FILTER
 * (the default, transport_maps, leaves outbound to the socketmap) */
static Config *filter_config(void)
{
    Config *config = config_new_defaults();
    config->outbound_routing = ROUTING_FILTER;
    return config;
}

static PolicyRequest *parse(const char *spec, char **buf)
{
    static PolicyRequest req;
    g_autofree char *text = g_strdup(spec);
    g_strdelimit(text, ";", '\n');
    *buf = g_strconcat(text, "\n\n", NULL);
    const char *why;
    RequestLimits limits = {.max_line = 4096, .max_request = 65536, .max_attributes = 100};
    size_t length;
    if (request_next(*buf, strlen(*buf), &limits, &req, &length, &why) != FRAME_COMPLETE)
        g_error("bad test request %s: %s", spec, why);
    return &req;
}

static void check(const Config *config, StoreReader *reader, TransactionState *txn, const char *name,
                  const char *spec, const char *want, const char *want_key)
{
    g_autofree char *buf = NULL;
    PolicyRequest *req = parse(spec, &buf);
    Decision d;
    if (reader)
        g_assert_true(store_reader_begin(reader, NULL));
    decide(req, reader, config, txn, &d);
    if (reader)
        store_reader_end(reader);
    if (strcmp(d.action, want) != 0)
        g_error("case %s: got \"%s\", want \"%s\"", name, d.action, want);
    if (want_key)
        g_assert_cmpstr(d.key, ==, want_key);
}

static void test_table(void)
{
    g_autoptr(Config) config = filter_config();
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        TransactionState txn = {0};
        check(config, list, &txn, cases[i].name, cases[i].request, cases[i].want, cases[i].want_key);
    }
}

static void test_report_mode_is_reported(void)
{
    g_autoptr(Config) config = config_new_defaults();
    g_autofree char *buf = NULL;
    TransactionState txn = {0};
    Decision d;
    store_reader_begin(list, NULL);
    decide(parse(IN "sender=a@watch.example", &buf), list, config, &txn, &d);
    store_reader_end(list);
    g_assert_true(d.report);
    g_assert_cmpint(d.would, ==, VERDICT_REJECT);
    g_assert_cmpint(d.verdict, ==, VERDICT_DUNNO);
}

/* The global floor: every combination of mode, sender and session. */
static void test_global_floor(void)
{
#define FLOOR "554 5.7.1 This server requires TLS 1.2 or later and does not support 3DES/DES/RC4/NULL/EXPORT/MD5"
#define DES "encryption_protocol=TLSv1.2;encryption_cipher=DES-CBC3-SHA;"
    static const struct {
        const char *name;
        GlobalFloor mode;
        const char *request, *want;
        gboolean want_report;
    } rows[] = {
        {"off: weak TLS passes", GLOBAL_FLOOR_OFF, IN TLS11 "sender=a@unlisted.example", "DUNNO", FALSE},
        {"enforce: old TLS refused", GLOBAL_FLOOR_ENFORCE, IN TLS11 "sender=a@unlisted.example", FLOOR, FALSE},
        {"enforce: 3DES refused", GLOBAL_FLOOR_ENFORCE, IN DES "sender=a@unlisted.example", FLOOR, FALSE},
        {"enforce: good TLS passes", GLOBAL_FLOOR_ENFORCE, IN TLS12 "sender=a@unlisted.example", "DUNNO", FALSE},
        {"enforce: plaintext is not its business", GLOBAL_FLOOR_ENFORCE, IN "sender=a@unlisted.example", "DUNNO", FALSE},
        {"enforce: the null sender is exempt", GLOBAL_FLOOR_ENFORCE, IN TLS11 "sender=", "DUNNO", FALSE},
        {"enforce: a none entry is exempt", GLOBAL_FLOOR_ENFORCE, IN TLS11 "sender=a@exempt.bank.example", "DUNNO", FALSE},
        {"enforce: an entry's lower min_protocol wins", GLOBAL_FLOOR_ENFORCE, IN TLS11 "sender=a@old.example", "DUNNO", FALSE},
        {"enforce: an entry's own cipher list wins", GLOBAL_FLOOR_ENFORCE,
         IN "encryption_protocol=TLSv1.2;encryption_cipher=ECDHE-RSA-RC4-SHA;sender=a@rc4ok.example", "DUNNO", FALSE},
        {"enforce: a listed entry's own reply", GLOBAL_FLOOR_ENFORCE, IN TLS11 "sender=a@plain.example",
         "554 5.7.1 TLS required: mail from this sender must use TLSv1.2 or later", FALSE},
        {"enforce: an entry on trial does not lift it", GLOBAL_FLOOR_ENFORCE, IN TLS11 "sender=a@watch.example", FLOOR, FALSE},
        {"enforce: outbound-only entry, the floor applies", GLOBAL_FLOOR_ENFORCE, IN TLS11 "sender=a@out.example", FLOOR, FALSE},
        {"report: logged, accepted", GLOBAL_FLOOR_REPORT, IN TLS11 "sender=a@unlisted.example", "DUNNO", TRUE},
        {"report: good TLS, nothing to report", GLOBAL_FLOOR_REPORT, IN TLS13 "sender=a@unlisted.example", "DUNNO", FALSE},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autoptr(Config) config = config_new_defaults();
        g_free(config->reject_code);
        config->reject_code = g_strdup("554");
        config->global_floor = rows[i].mode;
        g_autofree char *buf = NULL;
        TransactionState txn = {0};
        Decision d;
        g_test_message("case %s", rows[i].name);
        store_reader_begin(list, NULL);
        decide(parse(rows[i].request, &buf), list, config, &txn, &d);
        store_reader_end(list);
        if (strcmp(d.action, rows[i].want) != 0)
            g_error("case %s: got \"%s\", want \"%s\"", rows[i].name, d.action, rows[i].want);
        g_assert_cmpint(d.report, ==, rows[i].want_report);
        if (rows[i].want_report)
            g_assert_cmpint(d.would, ==, VERDICT_REJECT);
    }
    /* its own notice */
    g_autoptr(Config) config = config_new_defaults();
    config->global_floor = GLOBAL_FLOOR_ENFORCE;
    g_free(config->global_floor_notice);
    config->global_floor_notice = g_strdup("Upgrade your TLS, see https://example.org/tls");
    TransactionState txn = {0};
    check(config, list, &txn, "global_floor_notice", IN TLS11 "sender=a@unlisted.example",
          "550 5.7.1 Upgrade your TLS, see https://example.org/tls", NULL);
#undef FLOOR
#undef DES
}

/* A configuration of its own for one row: the defaults, then text as
 * the [tlspolicyd] group of a file. */
static Config *row_config(const char *text)
{
    g_autofree char *path = g_build_filename(tmpdir, "row.conf", NULL);
    g_autofree char *file = g_strconcat("[tlspolicyd]\n", text, NULL);
    g_assert_true(g_file_set_contents(path, file, -1, NULL));
    Config *config = config_new_defaults();
    GError *error = NULL;
    if (!config_load(config, path, &error))
        g_error("row config: %s", error->message);
    return config;
}

#define FILTER_MODE "outbound_routing = filter\n"
#define CODE_554 "reject_code = 554\nreject_status = 5.7.10\n"

static void test_config_options(void)
{
    static const struct {
        const char *name, *config, *request, *want;
    } rows[] = {
        {"reject code", CODE_554, IN "sender=a@plain.example",
         "554 5.7.10 TLS required: mail from this sender must arrive over an encrypted connection"},
        {"config floor", CODE_554 "min_protocol = TLSv1.3\n", IN TLS12 "sender=a@plain.example",
         "554 5.7.10 TLS required: mail from this sender must use TLSv1.3 or later"},
        /* reject_notice replaces the built-in texts; an entry's notice= wins */
        {"reject_notice", CODE_554 "reject_notice = Use TLS with us\n", IN TLS11 "sender=a@plain.example",
         "554 5.7.10 Use TLS with us"},
        {"entry notice wins", "reject_notice = Use TLS with us\n", IN "sender=a@noted.example",
         "550 5.7.1 Use TLS 1.2 or better, see https://noted.example/tls"},
        /* SASL-authenticated clients count as outbound when enabled */
        {"sasl off", FILTER_MODE, IN "sasl_username=joe;recipient=b@bank.example", "DUNNO"},
        {"sasl on", FILTER_MODE "sasl_is_outbound = true\n", IN "sasl_username=joe;recipient=b@bank.example",
         "FILTER tls-verify:"},
        {"default bounce", FILTER_MODE "on_failure = bounce\n", OUT "recipient=b@plain.example",
         "FILTER tls-encrypt-bounce:"},
        /* relayhost: listed mail keeps the site's smarthost as its next hop;
         * an entry's own nexthop= wins */
        {"relayhost", FILTER_MODE "relayhost = [relay.example]:587\n", OUT "instance=r1;recipient=b@bank.example",
         "FILTER tls-verify:[relay.example]:587"},
        {"entry nexthop over relayhost", FILTER_MODE "relayhost = [relay.example]:587\n",
         OUT "instance=r2;recipient=b@hop.example", "FILTER tls-encrypt:[smart.example]:2525"},
        /* transport_maps routing (the default): the policy service leaves outbound alone */
        {"transport_maps", "outbound_routing = transport_maps\n", OUT "recipient=b@bank.example", "DUNNO"},
        {"transport_maps is the default", "", OUT "recipient=b@bank.example", "DUNNO"},
        {"delimiter", FILTER_MODE "recipient_delimiter = -\n", OUT "instance=x1;recipient=vip-x@mail.example",
         "FILTER tls-secure:"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autoptr(Config) config = row_config(rows[i].config);
        TransactionState txn = {0};
        check(config, list, &txn, rows[i].name, rows[i].request, rows[i].want, NULL);
    }
}

static void test_list_errors(void)
{
    g_autoptr(Config) config = filter_config();
    TransactionState txn = {0};
    check(config, NULL, &txn, "tempfail inbound", IN "sender=a@plain.example",
          "451 4.3.0 TLS policy temporarily unavailable, try again later", NULL);
    check(config, NULL, &txn, "tempfail outbound", OUT "recipient=a@plain.example",
          "451 4.3.0 TLS policy temporarily unavailable, try again later", NULL);
    check(config, NULL, &txn, "no lookup needed", IN "sender=", "DUNNO", NULL);
    config->on_list_error = LIST_ERROR_DUNNO;
    check(config, NULL, &txn, "dunno mode", IN "sender=a@plain.example", "DUNNO", NULL);
}

/* One Postfix transaction (instance) with recipients of different routes. */
static void test_mixed_recipients(void)
{
    static const struct {
        const char *name;
        MixedMode mode;
        const char *recipients[4];
        const char *want[4];
    } rows[] = {
        {"reject: listed then unlisted", MIXED_REJECT, {"a@bank.example", "b@unlisted.example", "c@mx.bank.example"},
         {"FILTER tls-verify:", "452 4.5.3", "FILTER tls-verify:"}},
        {"reject: unlisted then listed", MIXED_REJECT, {"b@unlisted.example", "a@bank.example", "c@other.example"},
         {"DUNNO", "452 4.5.3", "DUNNO"}},
        {"reject: two levels", MIXED_REJECT, {"a@plain.example", "a@bank.example"}, {"FILTER tls-encrypt:", "452 4.5.3"}},
        {"reject: exempt is unfiltered", MIXED_REJECT, {"a@exempt.bank.example", "b@unlisted.example"}, {"DUNNO", "DUNNO"}},
        {"strictest: upgrades", MIXED_STRICTEST, {"a@plain.example", "a@bank.example", "c@plain.example"},
         {"FILTER tls-encrypt:", "FILTER tls-verify:", "FILTER tls-verify:"}},
        {"strictest: secure covers verify", MIXED_STRICTEST, {"a@secure.example", "a@bank.example"},
         {"FILTER tls-secure:", "FILTER tls-secure:"}},
        {"strictest: unlisted never joins a filtered transaction", MIXED_STRICTEST, {"a@plain.example", "b@unlisted.example"},
         {"FILTER tls-encrypt:", "452 4.5.3"}},
        {"strictest: nor listed an unfiltered one (a local recipient must not go to smtp)", MIXED_STRICTEST,
         {"b@unlisted.example", "a@plain.example"}, {"DUNNO", "452 4.5.3"}},
        {"strictest: dane is dane-only under FILTER, which covers encrypt", MIXED_STRICTEST,
         {"a@plain.example", "a@odane.example"}, {"FILTER tls-encrypt:", "FILTER tls-dane-only:"}},
        {"strictest: dane then encrypt", MIXED_STRICTEST, {"a@odane.example", "a@plain.example"},
         {"FILTER tls-dane-only:", "FILTER tls-dane-only:"}},
        {"strictest: dane-only covers dane and encrypt", MIXED_STRICTEST, {"a@odane.example", "a@dane.example", "a@plain.example"},
         {"FILTER tls-dane-only:", "FILTER tls-dane-only:", "FILTER tls-dane-only:"}},
        {"strictest: dane-only and verify authenticate differently", MIXED_STRICTEST, {"a@dane.example", "a@bank.example"},
         {"FILTER tls-dane-only:", "452 4.5.3"}},
        {"strictest: a bounce route keeps its bounce", MIXED_STRICTEST, {"a@bounce.example", "a@bank.example"},
         {"FILTER tls-encrypt-bounce:", "FILTER tls-verify-bounce:"}},
        {"strictest: the bounce survives a weaker later recipient", MIXED_STRICTEST, {"a@bank.example", "a@bounce.example"},
         {"FILTER tls-verify:", "FILTER tls-verify-bounce:"}},
        {"strictest: a custom transport is not combined", MIXED_STRICTEST, {"a@plain.example", "a@custom.example"},
         {"FILTER tls-encrypt:", "452 4.5.3"}},
        {"strictest: another next hop is not combined", MIXED_STRICTEST, {"a@plain.example", "a@hop.example"},
         {"FILTER tls-encrypt:", "452 4.5.3"}},
    };
    for (guint r = 0; r < G_N_ELEMENTS(rows); r++) {
        g_autoptr(Config) config = filter_config();
        TransactionState txn = {0};
        config->mixed_recipients = rows[r].mode;
        for (guint i = 0; i < 4 && rows[r].recipients[i]; i++) {
            g_autofree char *spec = g_strdup_printf(OUT "instance=tx1;recipient=%s", rows[r].recipients[i]);
            g_autofree char *buf = NULL;
            Decision d;
            store_reader_begin(list, NULL);
            decide(parse(spec, &buf), list, config, &txn, &d);
            store_reader_end(list);
            if (!g_str_has_prefix(d.action, rows[r].want[i]))
                g_error("%s, recipient %u: got \"%s\", want \"%s\"", rows[r].name, i, d.action, rows[r].want[i]);
        }
        /* a new instance starts over */
        g_autofree char *buf = NULL;
        Decision d;
        store_reader_begin(list, NULL);
        decide(parse(OUT "instance=tx2;recipient=z@unlisted.example", &buf), list, config, &txn, &d);
        store_reader_end(list);
        g_assert_cmpstr(d.action, ==, "DUNNO");
    }
}

/* A sender or recipient no lookup can skip: a 330-byte local part gets
 * its domain's rule; a domain that cannot be converted fails closed. */
static void test_odd_addresses(void)
{
    g_autoptr(Config) config = filter_config();
    TransactionState txn = {0};
    g_autofree char *local = g_strnfill(330, 'a');
    g_autofree char *in = g_strdup_printf(IN "sender=%s@plain.example", local);
    g_autofree char *in_tls = g_strdup_printf(IN TLS13 "sender=%s@plain.example", local);
    g_autofree char *out = g_strdup_printf(OUT "recipient=%s@bank.example", local);
    check(config, list, &txn, "330-byte local part, plaintext", in, REJECT, "plain.example");
    check(config, list, &txn, "330-byte local part, TLS", in_tls, "DUNNO", "plain.example");
    check(config, list, &txn, "330-byte local part, outbound", out, "FILTER tls-verify:", "bank.example");
    check(config, list, &txn, "bad IDN sender", IN "sender=a@b\xff" "d.example",
          "451 4.3.0 TLS policy cannot check this address, try again later", NULL);
    check(config, list, &txn, "bad IDN recipient", OUT "instance=u1;recipient=a@b\xff" "d.example",
          "451 4.3.0 TLS policy cannot check this address, try again later", NULL);

    g_autofree char *route = g_strdup_printf("transport %s@bank.example", local);
    RouteDecision d;
    g_assert_true(store_reader_begin(list, NULL));
    decide_route(route, list, config, NULL, NULL, &d);
    g_assert_cmpstr(d.reply, ==, "OK tls-verify:");
    decide_route("transport a@b\xff" "d.example", list, config, NULL, NULL, &d);
    g_assert_cmpstr(d.reply, ==, "TEMP TLS policy cannot check this address");
    store_reader_end(list);
}

/* An instance longer than the engine keeps is still one transaction
 * (found by fuzz_decide: each recipient started a transaction of its own,
 * and Postfix applies the last FILTER to the whole message). */
static void test_long_instance(void)
{
    g_autoptr(Config) config = filter_config();
    TransactionState txn = {0};
    g_autofree char *instance = g_strnfill(200, 'i');
    g_autofree char *first = g_strdup_printf(OUT "instance=%s;recipient=a@bank.example", instance);
    g_autofree char *second = g_strdup_printf(OUT "instance=%s;recipient=a@plain.example", instance);
    check(config, list, &txn, "long instance, first", first, "FILTER tls-verify:", NULL);
    check(config, list, &txn, "long instance, second",
          second, "452 4.5.3 Recipients with different TLS requirements must be sent in separate transactions, try again", NULL);
}

#define RQ "request=smtpd_access_policy\n"

typedef FrameStatus (*RequestParser)(char *, size_t, const RequestLimits *, PolicyRequest *, size_t *,
                                     const char **);

static void check_request_parser(RequestParser framer)
{
    static const struct {
        const char *name, *text;
        FrameStatus want;
        size_t want_length;  /* 0: the whole text */
        const char *want_sender, *want_error;
    } rows[] = {
        {"basic", RQ "sender=a@b\n\n", FRAME_COMPLETE, 0, "a@b", NULL},
        {"first = splits", RQ "sender=SRS0=x=y=b.example=a@c\n\n", FRAME_COMPLETE, 0, "SRS0=x=y=b.example=a@c", NULL},
        {"crlf", "request=smtpd_access_policy\r\nsender=a@b\r\n\r\n", FRAME_COMPLETE, 0, "a@b", NULL},
        {"unknown ignored", RQ "foo=bar\nsender=a@b\n\n", FRAME_COMPLETE, 0, "a@b", NULL},
        {"a 14-byte name we do not want", RQ "server_address=10.0.0.1\nsender=a@b\n\n", FRAME_COMPLETE, 0, "a@b", NULL},
        {"duplicate: last wins", RQ "sender=a@b\nsender=c@d\n\n", FRAME_COMPLETE, 0, "c@d", NULL},
        {"empty value", RQ "sender=\n\n", FRAME_COMPLETE, 0, "", NULL},
        {"pipelined: the first only", RQ "sender=a@b\n\n" RQ "sender=x@y\n\n", FRAME_COMPLETE, 40, "a@b", NULL},
        {"incomplete", RQ "sender=a@b\n", FRAME_INCOMPLETE, 0, NULL, NULL},
        {"partial line", RQ "send", FRAME_INCOMPLETE, 0, NULL, NULL},
        {"nothing yet", "", FRAME_INCOMPLETE, 0, NULL, NULL},
        {"missing request", "sender=a@b\n\n", FRAME_ERROR, 0, NULL, "request= missing"},
        {"empty request", "\n", FRAME_ERROR, 0, NULL, "request= missing"},
        {"wrong request", "request=junk\n\n", FRAME_ERROR, 0, NULL, "not smtpd_access_policy"},
        {"no equals", RQ "garbage\n\n", FRAME_ERROR, 0, NULL, "name=value"},
        {"no equals, request unfinished", RQ "garbage\n", FRAME_ERROR, 0, NULL, "name=value"},
        {"empty name", RQ "=x\n\n", FRAME_ERROR, 0, NULL, "name=value"},
        {"line too long", RQ "sender=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\n", FRAME_ERROR, 0, NULL, "line too long"},
        {"partial line too long", RQ "sender=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", FRAME_ERROR, 0, NULL, "line too long"},
        {"too many attributes", RQ "a=1\nb=2\nc=3\nd=4\ne=5\nf=6\ng=7\nh=8\n\n", FRAME_ERROR, 0, NULL, "too many attributes"},
        {"request too long", RQ "a=123456789012345678901234567890\nb=123456789012345678901234567890\n"
                                "c=123456789012345678901234567890\n\n", FRAME_ERROR, 0, NULL, "request too long"},
    };
    RequestLimits limits = {.max_line = 64, .max_request = 120, .max_attributes = 8};
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autofree char *buf = g_strdup(rows[i].text);
        PolicyRequest req;
        size_t length = 0;
        const char *why = NULL;
        g_test_message("case %s", rows[i].name);
        FrameStatus st = framer(buf, strlen(buf), &limits, &req, &length, &why);
        g_assert_cmpint(st, ==, rows[i].want);
        if (st == FRAME_COMPLETE) {
            g_assert_cmpuint(length, ==, rows[i].want_length ? rows[i].want_length : strlen(rows[i].text));
            g_assert_cmpstr(req.sender, ==, rows[i].want_sender);
            g_assert_cmpstr(req.recipient, ==, "");
        }
        if (st == FRAME_INCOMPLETE)
            g_assert_cmpstr(buf, ==, rows[i].text);  /* untouched until complete */
        if (rows[i].want_error)
            g_assert_nonnull(strstr(why, rows[i].want_error));
    }
    /* NUL bytes */
    char nul[] = RQ "sender=a\0b\n\n";
    PolicyRequest req;
    size_t length;
    const char *why;
    g_assert_cmpint(framer(nul, sizeof nul - 1, &limits, &req, &length, &why), ==, FRAME_ERROR);
    g_assert_cmpstr(why, ==, "NUL byte in request");
    /* the request-size cap applies before the end is seen */
    limits.max_attributes = 100;
    g_autofree char *many = g_strnfill(130, 'x');
    for (int i = 5; i < 130; i += 6)
        many[i] = '\n', many[i - 2] = '=';
    g_assert_cmpint(framer(many, 130, &limits, &req, &length, &why), ==, FRAME_ERROR);
    g_assert_cmpstr(why, ==, "request too long");
    /* fed one byte at a time, the end is found exactly once */
    const char *text = RQ "bb=22\n\n";
    g_autofree char *grow = g_malloc(strlen(text) + 1);
    for (size_t n = 1; n <= strlen(text); n++) {
        memcpy(grow, text, n);
        FrameStatus st = framer(grow, n, &limits, &req, &length, &why);
        g_assert_cmpint(st, ==, n == strlen(text) ? FRAME_COMPLETE : FRAME_INCOMPLETE);
    }
    /* a NUL byte in the next (pipelined) request is not this one's */
    char next[] = RQ "sender=a@b\n\n" "x\0y";
    g_assert_cmpint(framer(next, sizeof next - 1, &limits, &req, &length, &why), ==, FRAME_COMPLETE);
    g_assert_cmpuint(length, ==, sizeof RQ - 1 + 12);
    g_assert_cmpstr(req.sender, ==, "a@b");
}

/* The SSE2 parser and the portable one (its reference) answer alike. */
static void test_request_next(void)
{
    check_request_parser(request_next);
    check_request_parser(request_next_portable);
}

static void test_routes(void)
{
    static const struct {
        const char *name, *request, *want, *want_key;
    } rows[] = {
        {"listed address", "transport b@bank.example", "OK tls-verify:", "bank.example"},
        {"listed domain query", "transport bank.example", "OK tls-verify:", "bank.example"},
        {"parent", "transport b@mx.bank.example", "OK tls-verify:", ".bank.example"},
        {"parent-form query", "transport .bank.example", "OK tls-verify:", ".bank.example"},
        {"bounce transport", "transport b@bounce.example", "OK tls-encrypt-bounce:", NULL},
        {"transport override", "transport b@custom.example", "OK relay-tls:", NULL},
        {"entry nexthop", "transport b@hop.example", "OK tls-encrypt:[smart.example]:2525", NULL},
        {"address with extension", "transport vip+x@mail.example", "OK tls-secure:", "vip@mail.example"},
        {"unlisted", "transport b@unlisted.example", "NOTFOUND ", NULL},
        {"inbound-only entry", "transport b@in.example", "NOTFOUND ", NULL},
        {"exemption under a parent", "transport b@exempt.bank.example", "NOTFOUND ", "exempt.bank.example"},
        {"exemption domain query", "transport exempt.bank.example", "NOTFOUND ", NULL},
        {"the wildcard query", "transport *", "NOTFOUND ", NULL},
        {"report mode, nothing above", "transport b@watchout.example", "NOTFOUND ", "watchout.example"},
        {"local domain", "transport b@local.example", "NOTFOUND ", NULL},
        {"local domain under a parent", "transport b@mail.bank.example", "NOTFOUND ", NULL},
        {"local subdomains", "transport b@x.corp.example", "NOTFOUND ", NULL},
        {"empty key", "transport ", "NOTFOUND ", NULL},
        {"no key", "transport", "NOTFOUND ", NULL},
        {"wrong table", "virtual b@bank.example", "PERM unknown table name; this service answers \"transport\" and \"tlspolicy\"", NULL},
    };
    g_autoptr(Config) config = config_new_defaults();
    g_strfreev(config->local_domains);
    const char *locals[] = {"local.example", "mail.bank.example", ".corp.example", NULL};
    config->local_domains = g_strdupv((char **)locals);
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        RouteDecision d;
        g_test_message("case %s", rows[i].name);
        g_assert_true(store_reader_begin(list, NULL));
        decide_route(rows[i].request, list, config, NULL, NULL, &d);
        store_reader_end(list);
        if (strcmp(d.reply, rows[i].want) != 0)
            g_error("case %s: got \"%s\", want \"%s\"", rows[i].name, d.reply, rows[i].want);
        if (rows[i].want_key)
            g_assert_cmpstr(d.key, ==, rows[i].want_key);
    }
    RouteDecision d;
    decide_route("transport b@bank.example", NULL, config, NULL, NULL, &d);
    g_assert_cmpstr(d.reply, ==, "TEMP TLS policy list unavailable");

    /* relayhost: every listed route keeps the smarthost; nexthop= wins */
    g_free(config->relayhost);
    config->relayhost = g_strdup("[relay.example]:587");
    static const struct { const char *request, *want; } relayed[] = {
        {"transport b@bank.example", "OK tls-verify:[relay.example]:587"},
        {"transport b@custom.example", "OK relay-tls:[relay.example]:587"},
        {"transport b@hop.example", "OK tls-encrypt:[smart.example]:2525"},
        {"transport b@unlisted.example", "NOTFOUND "},
    };
    for (guint i = 0; i < G_N_ELEMENTS(relayed); i++) {
        g_assert_true(store_reader_begin(list, NULL));
        decide_route(relayed[i].request, list, config, NULL, NULL, &d);
        store_reader_end(list);
        g_assert_cmpstr(d.reply, ==, relayed[i].want);
    }
}

/* The fake DestinationLookup of test_route_sources: a fixed answer, and
 * what it was asked. */
typedef struct {
    DestinationPolicy answer;
    MtastsPolicy policy;      /* answer.policy, when answer.sts is SOURCE_FOUND */
    char domain[256];
    gboolean asked, dane, sts, listed;
    gboolean no_mx_hosts;     /* answer.mx_hosts NULL: not known yet */
} FakeLookup;

static const DestinationPolicy *fake_lookup(const char *domain, gboolean dane, gboolean sts, gboolean listed,
                                                   gpointer data)
{
    FakeLookup *f = data;
    g_strlcpy(f->domain, domain, sizeof f->domain);
    f->asked = TRUE;
    f->dane = dane;
    f->sts = sts;
    f->listed = listed;
    f->answer.dane = dane ? f->answer.dane : SOURCE_OFF;
    f->answer.sts = sts ? f->answer.sts : SOURCE_OFF;
    f->answer.policy = f->answer.sts == SOURCE_FOUND ? &f->policy : NULL;
    static char *const mx_hosts[] = {"a.mail.example.net", "b.c.mail.example.net", "mx.plain.example", NULL};
    f->answer.mx_hosts = f->no_mx_hosts ? NULL : mx_hosts;
    return &f->answer;
}

/* The strictest of list, DANE and MTA-STS; pending and failed sources
 * per on_lookup_pending/on_lookup_failure; never below the list. */
static void test_route_sources(void)
{
    enum { ENF = MTASTS_MODE_ENFORCE, TST = MTASTS_MODE_TESTING, BOGUS = 0x100, NO_MX = 0x200 };
    static const struct {
        const char *name, *config, *request;
        int dane;  /* a SourceState, | BOGUS: the last lookup failed validation */
        SourceState sts;
        int mode;
        const char *want;
    } rows[] = {
        {"listed encrypt, nothing published", "", "transport b@plain.example", SOURCE_NONE, SOURCE_NONE, 0, "OK tls-encrypt:"},
        {"listed encrypt, TLSA", "", "transport b@plain.example", SOURCE_FOUND, SOURCE_NONE, 0, "OK tls-dane-only:"},
        {"listed verify, TLSA and MTA-STS: DANE wins", "", "transport b@bank.example", SOURCE_FOUND, SOURCE_FOUND, ENF,
         "OK tls-dane-only:"},
        {"listed encrypt, MTA-STS enforce", "", "transport b@plain.example", SOURCE_NONE, SOURCE_FOUND, ENF, "OK tls-secure:"},
        {"listed encrypt, MTA-STS testing", "", "transport b@plain.example", SOURCE_NONE, SOURCE_FOUND, TST, "OK tls-encrypt:"},
        {"listed dane, no TLSA: encrypt", "", "transport b@odane.example", SOURCE_NONE, SOURCE_NONE, 0, "OK tls-encrypt:"},
        {"listed dane, no TLSA, MTA-STS: secure", "", "transport b@odane.example", SOURCE_NONE, SOURCE_FOUND, ENF,
         "OK tls-secure:"},
        {"listed dane, TLSA", "", "transport b@odane.example", SOURCE_FOUND, SOURCE_NONE, 0, "OK tls-dane-only:"},
        {"listed dane, pending (list): dane-only", "", "transport b@odane.example", SOURCE_PENDING, SOURCE_PENDING, 0,
         "OK tls-dane-only:"},
        {"listed dane, failed (list): dane-only", "", "transport b@odane.example", SOURCE_FAILED, SOURCE_NONE, 0,
         "OK tls-dane-only:"},
        {"listed dane-only, nothing published", "", "transport b@dane.example", SOURCE_NONE, SOURCE_NONE, 0,
         "OK tls-dane-only:"},
        {"listed verify, pending (list)", "", "transport b@bank.example", SOURCE_PENDING, SOURCE_PENDING, 0,
         "OK tls-verify:"},
        {"listed verify, pending (temp)", "on_lookup_pending = temp\n", "transport b@bank.example", SOURCE_PENDING,
         SOURCE_NONE, 0, "TEMP TLS policy of the recipient domain is being looked up (DANE, MTA-STS)"},
        {"listed verify, failed (list)", "", "transport b@bank.example", SOURCE_NONE, SOURCE_FAILED, 0, "OK tls-verify:"},
        {"listed verify, failed (temp)", "on_lookup_failure = temp\n", "transport b@bank.example", SOURCE_NONE,
         SOURCE_FAILED, 0, "TEMP TLS policy lookup failed for the recipient domain (DANE, MTA-STS)"},
        {"bounce entry raised by TLSA keeps bouncing", "", "transport b@bounce.example", SOURCE_FOUND, SOURCE_NONE, 0,
         "OK tls-dane-only-bounce:"},
        {"custom transport kept at the list level", "", "transport b@custom.example", SOURCE_NONE, SOURCE_NONE, 0,
         "OK relay-tls:"},
        {"custom transport (it may relay): DANE/MTA-STS not applied", "", "transport b@custom.example", SOURCE_FOUND,
         SOURCE_FOUND, ENF, "OK relay-tls:"},
        {"next hop: the list alone", "", "transport b@hop.example", SOURCE_FOUND, SOURCE_FOUND, ENF,
         "OK tls-encrypt:[smart.example]:2525"},
        {"next hop, list dane: dane-only, never Postfix's dane", "relayhost = [relay.example]\n",
         "transport b@odane.example", SOURCE_NONE, SOURCE_NONE, 0, "OK tls-dane-only:[relay.example]"},
        {"exemption is not raised", "", "transport b@exempt.bank.example", SOURCE_FOUND, SOURCE_FOUND, ENF, "NOTFOUND "},
        {"report mode is not raised", "", "transport b@watchout.example", SOURCE_FOUND, SOURCE_FOUND, ENF, "NOTFOUND "},
        {"unlisted, off: not asked", "", "transport b@unlisted.example", SOURCE_FOUND, SOURCE_FOUND, ENF, "NOTFOUND "},
        {"unlisted, dane auto, TLSA", "dane = auto\n", "transport b@unlisted.example", SOURCE_FOUND, SOURCE_NONE, 0,
         "OK tls-dane-only:"},
        {"unlisted, dane auto, no TLSA", "dane = auto\n", "transport b@unlisted.example", SOURCE_NONE, SOURCE_NONE, 0,
         "NOTFOUND "},
        {"unlisted, mta_sts enforce", "mta_sts = enforce\n", "transport b@unlisted.example", SOURCE_NONE, SOURCE_FOUND,
         ENF, "OK tls-secure:"},
        {"unlisted, mta_sts testing: logged only", "mta_sts = testing\n", "transport b@unlisted.example", SOURCE_NONE,
         SOURCE_FOUND, ENF, "NOTFOUND "},
        {"unlisted, mta_sts enforce, policy testing", "mta_sts = enforce\n", "transport b@unlisted.example",
         SOURCE_NONE, SOURCE_FOUND, TST, "NOTFOUND "},
        {"unlisted, pending (list)", "dane = auto\n", "transport b@unlisted.example", SOURCE_PENDING, SOURCE_OFF, 0,
         "NOTFOUND "},
        {"unlisted, failed (temp)", "dane = auto\non_lookup_failure = temp\n", "transport b@unlisted.example",
         SOURCE_FAILED, SOURCE_OFF, 0, "TEMP TLS policy lookup failed for the recipient domain (DANE, MTA-STS)"},
        {"unlisted, bogus DANE, on_lookup_failure = list: TEMP all the same", "dane = auto\n",
         "transport b@unlisted.example", SOURCE_FAILED | BOGUS, SOURCE_OFF, 0,
         "TEMP DNSSEC validation failed for the recipient domain's MX or TLSA records"},
        {"listed encrypt, bogus DANE: TEMP, not the list's encrypt", "", "transport b@plain.example",
         SOURCE_FAILED | BOGUS, SOURCE_NONE, 0, "TEMP DNSSEC validation failed for the recipient domain's MX or TLSA records"},
        {"listed encrypt, DANE failed (not bogus), on_lookup_failure = list: the list", "", "transport b@plain.example",
         SOURCE_FAILED, SOURCE_NONE, 0, "OK tls-encrypt:"},
        {"unlisted, on_failure = bounce", "mta_sts = enforce\non_failure = bounce\n", "transport b@unlisted.example",
         SOURCE_NONE, SOURCE_FOUND, ENF, "OK tls-secure-bounce:"},
        {"tlspolicy table, enforced policy: the wildcard's MX hosts, one label deep", "", "tlspolicy plain.example",
         SOURCE_NONE, SOURCE_FOUND, ENF, "OK secure match=a.mail.example.net:mx.plain.example servername=hostname"},
        {"tlspolicy table, MX hosts not known yet", "", "tlspolicy plain.example", SOURCE_NONE, SOURCE_FOUND,
         ENF | NO_MX, "TEMP MTA-STS policy: the MX hosts are not known yet"},
        {"tlspolicy table, testing policy", "", "tlspolicy plain.example", SOURCE_NONE, SOURCE_FOUND, TST, "NOTFOUND "},
        {"tlspolicy table, no policy", "", "tlspolicy plain.example", SOURCE_NONE, SOURCE_NONE, 0, "NOTFOUND "},
        {"tlspolicy table, parent form", "", "tlspolicy .example", SOURCE_NONE, SOURCE_FOUND, ENF, "NOTFOUND "},
        {"tlspolicy table, unlisted, mta_sts off", "", "tlspolicy unlisted.example", SOURCE_NONE, SOURCE_FOUND, ENF,
         "NOTFOUND "},
        {"tlspolicy table, pending", "", "tlspolicy plain.example", SOURCE_NONE, SOURCE_PENDING, 0,
         "TEMP MTA-STS policy not known yet"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_test_message("case %s", rows[i].name);
        g_autoptr(Config) config = row_config(rows[i].config);
        FakeLookup f = {.answer = {.dane = (SourceState)(rows[i].dane & ~BOGUS), .sts = rows[i].sts,
                                   .dane_bogus = (rows[i].dane & BOGUS) != 0}};
        f.policy.mode = rows[i].mode & ~NO_MX;
        f.no_mx_hosts = (rows[i].mode & NO_MX) != 0;
        f.policy.max_age = 86400;
        f.policy.n_mx = 2;
        g_strlcpy(f.policy.mx[0], "*.mail.example.net", sizeof f.policy.mx[0]);
        g_strlcpy(f.policy.mx[1], "mx.plain.example", sizeof f.policy.mx[1]);
        RouteDecision d;
        g_assert_true(store_reader_begin(list, NULL));
        decide_route(rows[i].request, list, config, fake_lookup, &f, &d);
        store_reader_end(list);
        if (strcmp(d.reply, rows[i].want) != 0)
            g_error("case %s: got \"%s\", want \"%s\" (%s)", rows[i].name, d.reply, rows[i].want, d.explain);
    }
    /* the lookup gets the domain in A-label form, and the explanation names every source */
    g_autoptr(Config) config = row_config("dane = auto\n");
    FakeLookup f = {.answer = {.dane = SOURCE_FOUND, .sts = SOURCE_NONE}};
    g_strlcpy(f.answer.dane_note, "TLSA on 2 of 2 MX, DNSSEC secure", sizeof f.answer.dane_note);
    g_strlcpy(f.answer.sts_note, "no _mta-sts TXT record", sizeof f.answer.sts_note);
    RouteDecision d;
    g_assert_true(store_reader_begin(list, NULL));
    decide_route("transport b@B\xc3\xbc" "cher.Example", list, config, fake_lookup, &f, &d);
    store_reader_end(list);
    g_assert_cmpstr(f.domain, ==, "xn--bcher-kva.example");
    g_assert_false(f.listed);  /* an outsider's domain: its lookups may be deferred */
    g_assert_true(f.dane && !f.sts);
    g_assert_cmpstr(d.explain, ==, "list: not listed; DANE: TLSA on 2 of 2 MX, DNSSEC secure; MTA-STS: not consulted; "
                                   "effective: tls-dane-only:");
}

static void test_netstrings(void)
{
    static const struct {
        const char *name, *input;
        NetstringStatus want;
        const char *want_payload, *want_error;
    } rows[] = {
        {"complete", "5:hello,", NETSTRING_COMPLETE, "hello", NULL},
        {"pipelined", "3:abc,3:def,", NETSTRING_COMPLETE, "abc", NULL},
        {"empty payload", "0:,", NETSTRING_COMPLETE, "", NULL},
        {"partial length", "12", NETSTRING_INCOMPLETE, NULL, NULL},
        {"partial payload", "5:hel", NETSTRING_INCOMPLETE, NULL, NULL},
        {"missing comma yet", "5:hello", NETSTRING_INCOMPLETE, NULL, NULL},
        {"wrong terminator", "5:hello;", NETSTRING_ERROR, NULL, "not terminated"},
        {"no length", ":x,", NETSTRING_ERROR, NULL, "not a netstring"},
        {"letters", "abc", NETSTRING_ERROR, NULL, "not a netstring"},
        {"leading zero", "05:hello,", NETSTRING_ERROR, NULL, "leading zero"},
        {"over the limit", "101:", NETSTRING_ERROR, NULL, "size limit"},
        {"absurd length", "99999999999:", NETSTRING_ERROR, NULL, "length too long"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        size_t start, len, total;
        const char *why = NULL;
        g_test_message("case %s", rows[i].name);
        NetstringStatus st = netstring_frame(rows[i].input, strlen(rows[i].input), 100, &start, &len, &total, &why);
        g_assert_cmpint(st, ==, rows[i].want);
        if (st == NETSTRING_COMPLETE) {
            g_assert_cmpuint(len, ==, strlen(rows[i].want_payload));
            g_assert_cmpint(memcmp(rows[i].input + start, rows[i].want_payload, len), ==, 0);
            g_assert_cmpuint(total, ==, start + len + 1);
        }
        if (rows[i].want_error)
            g_assert_nonnull(strstr(why, rows[i].want_error));
    }
    g_autoptr(GString) out = g_string_new(NULL);
    netstring_append(out, "OK tls-verify:");
    g_assert_cmpstr(out->str, ==, "14:OK tls-verify:,");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("decide-test-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(tmpdir, "list.lmdb", NULL);
    g_autoptr(List) src = list_new("list");
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    if (!source_parse(src, list_text, strlen(list_text), errors))
        g_error("%s", (char *)errors->pdata[0]);
    g_assert_true(store_write(path, src->records, NULL, NULL));
    list = store_reader_new(path);

    g_test_add_func("/decide/table", test_table);
    g_test_add_func("/decide/report_mode", test_report_mode_is_reported);
    g_test_add_func("/decide/config_options", test_config_options);
    g_test_add_func("/decide/global_floor", test_global_floor);
    g_test_add_func("/decide/list_errors", test_list_errors);
    g_test_add_func("/decide/mixed_recipients", test_mixed_recipients);
    g_test_add_func("/decide/long_instance", test_long_instance);
    g_test_add_func("/decide/odd_addresses", test_odd_addresses);
    g_test_add_func("/decide/routes", test_routes);
    g_test_add_func("/decide/route_sources", test_route_sources);
    g_test_add_func("/netstring/frame", test_netstrings);
    g_test_add_func("/request/next", test_request_next);
    int rc = g_test_run();
    store_reader_free(list);
    unlink(path);
    rmdir(tmpdir);
    return rc;
}

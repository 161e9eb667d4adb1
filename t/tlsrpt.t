#!/bin/bash
# tlsrpt.t - TLS-RPT reports sent (tlsrpt = send): a delivery log with
# TLS sessions to lab domains, a day that ends (the saved day is moved
# back one, so the next start finds it over, as a restart after
# midnight does), and each domain's _smtp._tls record in a DNSSEC lab:
#   a  https: to an HTTPS collector: the gzipped report arrives, RFC 8460
#      JSON for yesterday, as application/tlsrpt+gzip
#   c  100 URIs, most of other schemes: the usable one gets it
#   b  https: to a host that never answers, f to one that drips: each
#      fails within mta_sts_timeout, counted, the daemon serving meanwhile
#   d  no record: not sent, counted
#   e  mailto: two mailboxes: the report arrives as RFC 8460 5.3 mail at
#      sinks behind a private Postfix (the shipped snippets verbatim),
#      through its "tlsrpt" smtpd and past transport_maps: the mailboxes'
#      domains are listed encrypt and verify, the sinks offer no STARTTLS
#      and a self-signed certificate, and both get the report; the TLS
#      session of that delivery is in no report (never one about a report)
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
: "${TLSPOLICYD:?set TLSPOLICYD}"
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP nsd/unbound on port 53 need root"; exit 0; fi
for tool in nsd unbound ldns-keygen ldns-signzone openssl python3 curl postfix perl setpriv; do
    command -v $tool >/dev/null || { echo "Bail out! $tool missing (scripts/deps.sh test installs it)"; exit 1; }
done
# addresses of its own: dane.t's and hostile.t's labs may run beside it
DNSLAB_RESOLVER=127.0.0.80 DNSLAB_AUTH=127.0.0.81
COLLECTOR=127.0.0.90 SILENT=127.0.0.92 PLAIN_SINK=127.0.0.93 TLS_SINK=127.0.0.94
. "$SRC/t/support/dnslab.sh"
. "$SRC/t/support/testca.sh"
. "$SRC/t/support/postfix.sh"
SINKLOG=$TMP/sinks.log
Z=lab.example
cd "$TMP" || exit 1

# --- the lab: records, a collector, a silent host ---------------------------------
testca_new "tlsrpt test CA"
make_cert https "collector.$Z" "drip.$Z"
{
    echo "collector IN A $COLLECTOR"
    echo "drip IN A $COLLECTOR"
    echo "silent IN A $SILENT"
    echo "_smtp._tls.a IN TXT \"v=TLSRPTv1; rua=https://collector.$Z/v1/tlsrpt?from=a\""
    echo "_smtp._tls.b IN TXT \"v=TLSRPTv1; rua=https://silent.$Z/tlsrpt\""
    # a TXT string holds 255 bytes: the record is split in strings, joined by the reader
    { printf 'v=TLSRPTv1; rua='; for i in $(seq 99); do printf 'ftp://x%d.example/,' "$i"; done
      printf 'https://collector.%s/c\n' "$Z"; } | fold -w 200 | { printf '_smtp._tls.c IN TXT'; while read -r part; do
        printf ' "%s"' "$part"; done; echo; }
    echo "_smtp._tls.e IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@e.$Z,mailto:reports@g.$Z\""
    echo "_smtp._tls.f IN TXT \"v=TLSRPTv1; rua=https://drip.$Z/drip\""
} > zone.body
ok "DNSSEC lab is up" dnslab_start "$TMP/lab" "$TMP/zone.body"
mkdir -p www
python3 "$SRC/t/tools/httpsd.py" --listen $COLLECTOR:443 --cert https.crt --key https.key --root www \
    > httpsd.out 2> httpsd.log &
PIDS+=($!)
python3 "$SRC/t/tools/silentd.py" tcp $SILENT:443 > silent.out 2>&1 &
PIDS+=($!)
ok "the collector and the silent host are up" wait_for 10 grep -q ready httpsd.out silent.out
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=g.$Z" -keyout self.key -out self.crt >/dev/null 2>&1
mkdir -p mail
start_sink plain $PLAIN_SINK --save "$TMP/mail"
start_sink self $TLS_SINK --cert self.crt --key self.key --save "$TMP/mail"

# --- the private Postfix: the reports' way out --------------------------------------------
pf_dirs
cat > "$Q/etc/hosts" <<HOSTS
127.0.0.1 localhost
$PLAIN_SINK e.$Z
$TLS_SINK g.$Z
HOSTS
echo "hosts: files" > "$Q/etc/nsswitch.conf"
{ pf_base_main
  cat <<MAIN
# --- this test's own ---
myhostname = mx.$Z
smtp_dns_support_level = disabled
smtp_host_lookup = native
MAIN
  echo "# --- postfix/main.cf, as shipped ---"
  cat "$SRC/postfix/main.cf"
} > "$CONF/main.cf"
pf_base_services > "$CONF/master.cf"
pf_install_snippets
postfix -c "$CONF" start >/dev/null 2>&1
ok "private Postfix is up, its tlsrpt smtpd on public/tlsrpt" wait_for 20 test -S "$Q/public/tlsrpt"
greeting() {  # setpriv options -> the first line public/tlsrpt says to such a process
    setpriv --reuid=nobody --regid=nogroup "$@" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
    print(s.makefile().readline().strip())
except OSError as e:
    print(e.strerror)' "$Q/public/tlsrpt"
}
like "$(greeting --clear-groups)" "Permission denied" "... which a local user cannot reach"
like "$(greeting --groups="$(getent group postdrop | cut -d: -f3)")" "^220 " \
    "... and a member of postdrop (tlspolicyd.service's SupplementaryGroups) can"

# --- a day of sessions ------------------------------------------------------------------
session() {  # pid domain [failure]
    local mx="mx.$2" ip=192.0.2.$1
    if [ -z "${3:-}" ]; then
        echo "Dec 03 14:16:29 mx postfix/smtp[$1]: Verified TLS connection established to $mx[$ip]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
        echo "Dec 03 14:16:29 mx postfix/smtp[$1]: Q$1: to=<u@$2>, relay=$mx[$ip]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"
    else
        echo "Dec 03 14:16:29 mx postfix/smtp[$1]: Q$1: to=<u@$2>, relay=$mx[$ip]:25, delay=1, delays=0/0/0/1, dsn=4.7.4, status=deferred (TLS is required, but was not offered by host $mx[$ip])"
    fi
}
{ session 11 a.$Z; session 12 a.$Z; session 13 a.$Z fail
  session 21 b.$Z; session 31 c.$Z; session 41 d.$Z; session 51 e.$Z; session 61 f.$Z
  # no report for an address literal, nor for a "domain" that would name a file elsewhere
  session 71 "[192.0.2.71]"; session 72 "../../../tmp/tlsrpt-escape"; } >> "$MAILLOG"
cat > tlspolicyd.conf <<CONF
[tlspolicyd]
user = root
postfix_config_directory = $CONF
list = $TMP/tls.list
listen = unix:$Q/private/tlspolicy;
socketmap_listen = unix:$Q/private/tlsmap;
metrics_listen = unix:$TMP/metrics.sock;
dns_resolver = $DNSLAB_RESOLVER
dns_trust_anchor = $TMP/lab/ta.ds
mta_sts_ca_file = $TMP/ca.crt
mta_sts_private_hosts = true
mta_sts_timeout = 3
maillog = $MAILLOG
state_file = $TMP/state
tlsrpt = send
tlsrpt_directory = $TMP/copies
tlsrpt_organization = Lab Org
tlsrpt_contact = tlsrpt-admin@$Z
CONF
mkdir -p copies
printf '%s\n' "x.$Z encrypt direction=outbound" "e.$Z encrypt direction=outbound" "g.$Z verify direction=outbound" > tls.list
"$TLSMAP" tls.list 2>/dev/null
metric() { curl -s -m 5 --unix-socket metrics.sock http://tlspolicyd/metrics | awk -v m="$1" '$1 == m {print $2}'; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }
start_daemon() {
    "$TLSPOLICYD" --config tlspolicyd.conf 2>>daemon.log &
    DAEMON=$!
    PIDS+=($DAEMON)
    wait_for 10 test -S metrics.sock
}
ok "tlspolicyd is up, reading Postfix's log" start_daemon
ok "... 8 TLS sessions counted into the day's reports (not the literal's, not ../)" \
    wait_for 30 metric_is tlspolicyd_tlsrpt_sessions_total 8
ok "... none sent before the day is over" metric_is tlspolicyd_tlsrpt_sent_total 0
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null

# --- the day ends: the saved day is yesterday's ----------------------------------------------
python3 - state <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = re.sub(r"(?m)^begin=(\d+)$", lambda m: "begin=%d" % (int(m.group(1)) - 86400), text, count=1)
open(sys.argv[1], "w").write(text)
PY
YESTERDAY=$(date -u -d yesterday +%Y-%m-%d)
rm -f metrics.sock
ok "tlspolicyd started again after the day's end" start_daemon
SESSIONS=$(metric tlspolicyd_tlsrpt_sessions_total)
posted() { [ "$(ls www/_posts/ 2>/dev/null | grep -c -v -e '\.type$' -e '\.tmp$')" -ge 2 ]; }
ok "the collector received 2 reports (a, and c's one usable URI)" wait_for 30 posted
check_post() {  # domain -> what the collector got for it
    for f in www/_posts/collector.$Z-[0-9]*; do
        case $f in *.type) continue ;; esac
        python3 - "$f" "$1" "$YESTERDAY" <<'PY'
import gzip, json, sys
path, domain, day = sys.argv[1:]
r = json.loads(gzip.decompress(open(path, "rb").read()))
p = r["policies"][0]
if p["policy"]["policy-domain"] != domain:
    sys.exit(0)
kind, url = open(path + ".type").read().split("\n")[:2]
print("type=%s path=%s org=%s contact=%s start=%s" % (kind, url, r["organization-name"], r["contact-info"],
      r["date-range"]["start-datetime"] == day + "T00:00:00Z"))
print("successes=%d failures=%d" % (p["summary"]["total-successful-session-count"],
      p["summary"]["total-failure-session-count"]))
for d in p.get("failure-details", []):
    print("detail=%s mx=%s ip=%s" % (d["result-type"], d.get("receiving-mx-hostname"), d.get("receiving-ip")))
PY
    done
}
a=$(check_post a.$Z)
like "$a" "type=application/tlsrpt\+gzip path=/v1/tlsrpt\?from=a org=Lab Org contact=tlsrpt-admin@$Z start=True" \
    "a: gzipped RFC 8460 JSON for yesterday, POSTed to its rua= path as application/tlsrpt+gzip"
like "$a" "successes=2 failures=1
detail=starttls-not-supported mx=mx.a.$Z ip=192.0.2.13" "... its sessions: 2 good, 1 starttls-not-supported"
like "$(check_post c.$Z)" "path=/c .*
successes=1" "c: 100 URIs, 99 of other schemes: its one https: destination got the report"
like "$(grep 'rua= destinations ignored' daemon.log)" "_smtp._tls.c.$Z: 99 rua= destinations ignored" \
    "... the 99 others ignored, said once"
ok "b (never answers) and f (drips) fail, counted" wait_for 30 metric_is tlspolicyd_tlsrpt_failed_total 2
like "$(grep "for b.$Z not sent" daemon.log)" "not sent to https://silent.$Z/tlsrpt: .*timed out" \
    "... b: timed out"
like "$(grep "for f.$Z not sent" daemon.log)" "not sent to https://drip.$Z/drip: .*timed out" \
    "... f: timed out, whatever it dripped"
is "$(metric tlspolicyd_tlsrpt_sent_total)" 2 "metrics: 2 sent"
is "$(metric tlspolicyd_tlsrpt_no_record_total)" 1 "... d: no record, not sent"

# --- e: by mail, through the private Postfix --------------------------------------------------
ok "e: both mailboxes' reports queued by Postfix" wait_for 30 metric_is tlspolicyd_tlsrpt_mailed_total 2
like "$(grep "for e.$Z queued" daemon.log | sort)" "report [0-9]+\.e\.$Z@mx\.$Z for e\.$Z queued for mailto:reports@g\.$Z: queue id [0-9A-Z]+
.*queued for mailto:tlsrpt@e\.$Z: queue id [0-9A-Z]+" "... each said, with its queue id"
ok "... and delivered to both sinks" wait_for 60 test -e mail/plain-1.eml -a -e mail/self-1.eml
like "$(grep "to=<tlsrpt@e.$Z>" "$SINKLOG")" "from=<tlsrpt-admin@$Z> .*tls=none" \
    "... e.$Z, listed encrypt, got it although its server has no STARTTLS (RFC 8460 5.3)"
like "$(grep "to=<reports@g.$Z>" "$SINKLOG")" "tls=TLSv1" \
    "... g.$Z, listed verify, over TLS although its certificate is self-signed"
check_mail() {  # file -> the mail's RFC 8460 5.3 fields, and its report's
    python3 - "$1" "$YESTERDAY" <<'PY'
import email, email.policy, gzip, json, re, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print("to=%s from=%s" % (m["To"], m["From"]))
print("domain=%s submitter=%s" % (m["TLS-Report-Domain"], m["TLS-Report-Submitter"]))
print("subject_ok=%s" % bool(re.fullmatch(r"Report Domain: (\S+) Submitter: (\S+) Report-ID: <[^@>]+@[^>]+>", m["Subject"])))
print("type=%s report-type=%s" % (m.get_content_type(), m.get_param("report-type")))
parts = list(m.iter_parts())
print("parts=%s" % ",".join(p.get_content_type() for p in parts))
gz = parts[1]
r = json.loads(gzip.decompress(gz.get_content()))
print("filename=%s" % gz.get_filename())
print("report domain=%s start=%s" % (r["policies"][0]["policy"]["policy-domain"],
      r["date-range"]["start-datetime"] == sys.argv[2] + "T00:00:00Z"))
PY
}
BEGIN=$(date -u -d "$YESTERDAY" +%s)
like "$(check_mail mail/plain-1.eml)" "to=<tlsrpt@e.$Z> from=<tlsrpt-admin@$Z>
domain=e.$Z submitter=mx.$Z
subject_ok=True
type=multipart/report report-type=tlsrpt
parts=text/plain,application/tlsrpt\+gzip
filename=mx.$Z!e.$Z!$BEGIN!$((BEGIN + 86399)).json.gz
report domain=e.$Z start=True" "... the mail is as RFC 8460 5.3 says, its attachment yesterday's gzipped report for e.$Z"
has_delivery_line() { grep -q "delivery: .*to=<$1>.* service=tlsrpt" daemon.log; }
ok "the report's deliveries read from Postfix's log, said as what they are" \
    wait_for 30 has_delivery_line "reports@g.$Z"
like "$(grep "delivery: .*to=<reports@g.$Z>" daemon.log)" "service=tlsrpt key=g.$Z level=verify .*status=sent tls=TLSv1.3/untrusted" \
    "... g.$Z's: its list entry's level not applied, on the reports' own transport"
is "$(metric tlspolicyd_tlsrpt_sessions_total)" "$SESSIONS" "... and no report counts them (none about a report)"
like "$("$TLSPOLICYD" --config tlspolicyd.conf --tlsrpt-preview g.$Z 2>&1)" "no TLS session with g.$Z counted today" \
    "... g.$Z's report for today is empty"
ok "... the day's copies written, named as RFC 8460 5.3 names them" \
    test -s "copies/mx.$Z!a.$Z!$(( $(date -u -d "$YESTERDAY" +%s) ))!$(( $(date -u -d "$YESTERDAY" +%s) + 86399 )).json.gz"
ok "the new day starts empty" bash -c "! '$TLSPOLICYD' --config tlspolicyd.conf --tlsrpt-preview a.$Z >/dev/null 2>&1"
done_testing

#!/bin/bash
# outbound.t - outbound evidence end to end: a private Postfix (the
# shipped snippets verbatim, its own maillog_file) delivers to recording
# sinks with no STARTTLS, a good certificate, a wrong-name one, a
# self-signed one and a TLS 1.1-only server, under listed-enforce,
# listed-report and unlisted routes; tlspolicyd follows that real log
# (maillog) and its outbound ledger, delivery lines, --report and
# --suggest --direction outbound must agree with what the sinks saw.
# Then: a restart (TERM, and KILL) in the middle loses and doubles
# nothing; Postfix's own "postfix logrotate" is followed; the same log
# in RFC 3339 syslog format, with forged, control-byte and 1 MB lines
# mixed in, gives the same ledger.
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
: "${TLSPOLICYD:?set TLSPOLICYD}"
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP a private Postfix instance needs root"; exit 0; fi
for tool in postfix swaks openssl perl python3 curl; do
    command -v $tool >/dev/null || { echo "Bail out! $tool missing (scripts/deps.sh test installs it)"; exit 1; }
done

. "$SRC/t/support/postfix.sh"
LIST=$TMP/tls.list SINKLOG=$TMP/sinks.log DLOG=$TMP/tlspolicyd.log STATE=$TMP/ledger.state
SMTPD=127.0.0.1:2625 ADMIN=127.0.0.1:10042

# --- certificates and sinks (127.0.2.x: no other test's addresses) ---------------
cd "$TMP" || exit 1
. "$SRC/t/support/testca.sh"
testca_new "outbound test CA"
make_cert good good.test
make_cert wrong other.test
make_cert legacy legacy.test
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=self.test" -keyout self.key -out self.crt >/dev/null 2>&1
chmod 644 self.key self.crt
start_sink plain 127.0.2.2
start_sink good 127.0.2.3 --cert good.crt --key good.key
start_sink wrong 127.0.2.4 --cert wrong.crt --key wrong.key
start_sink legacy 127.0.2.5 --cert legacy.crt --key legacy.key --max-tls 1.1
start_sink self 127.0.2.7 --cert self.crt --key self.key

# --- the private Postfix ----------------------------------------------------------
pf_dirs
cat > "$Q/etc/hosts" <<HOSTS
127.0.0.1 localhost
127.0.2.2 enc.test rep.test plainu.test
127.0.2.3 good.test repgood.test goodu.test
127.0.2.4 wrongname.test
127.0.2.5 legacy.test replegacy.test
127.0.2.7 self.test
HOSTS
echo "hosts: files" > "$Q/etc/nsswitch.conf"
{ pf_base_main
  cat <<MAIN
# --- this test's own ---
myhostname = mx.outbound.test
smtp_dns_support_level = disabled
smtp_host_lookup = native
tls_medium_cipherlist = DEFAULT:@SECLEVEL=0
MAIN
  echo "# --- postfix/main.cf, as shipped ---"
  cat "$SRC/postfix/main.cf"
} > "$CONF/main.cf"
echo "$SMTPD inet n - n - - smtpd" > "$CONF/master.cf"
pf_base_services >> "$CONF/master.cf"
pf_install_snippets
postfix -c "$CONF" start >/dev/null 2>&1
ok "private Postfix is listening" wait_for 20 bash -c "exec 3<>/dev/tcp/${SMTPD%:*}/${SMTPD#*:}"

# --- the list and the daemon -------------------------------------------------------
cat > "$LIST" <<'TLSLIST'
enc.test         encrypt direction=outbound
good.test        verify  direction=outbound
wrongname.test   verify  direction=outbound
self.test        verify  direction=outbound
legacy.test      encrypt direction=outbound
rep.test         encrypt direction=outbound mode=report on_failure=bounce
repgood.test     verify  direction=outbound mode=report
replegacy.test   encrypt direction=outbound mode=report
never.test       encrypt direction=outbound
TLSLIST
"$TLSMAP" "$LIST" 2>/dev/null
write_conf() {  # file maillog state
    { echo "[tlspolicyd]"
      echo "list = $LIST"
      echo "listen = unix:$Q/private/tlspolicy;"
      echo "socketmap_listen = unix:$Q/private/tlsmap;"
      echo "metrics_listen = inet:$ADMIN;"
      echo "dns_resolver = 127.0.0.1@9"
      echo "postfix_config_directory = $CONF"
      echo "user = root"
      echo "maillog = $2"
      echo "tlsrpt = dry-run"
      echo "tlsrpt_directory = $TMP/tlsrpt"
      echo "state_file = $3"; } > "$1"
}
write_conf "$TMP/tlspolicyd.conf" "$MAILLOG" "$STATE"
start_daemon() {
    "$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" 2>>"$DLOG" &
    DAEMON=$!
    PIDS+=($DAEMON)
    wait_for 10 test -S "$Q/private/tlspolicy" -a -S "$Q/private/tlsmap"
}
stop_daemon() {  # [signal]
    kill -"${1:-TERM}" "$DAEMON"; wait "$DAEMON" 2>/dev/null
    rm -f "$Q/private/tlspolicy" "$Q/private/tlsmap"
}
ok "tlspolicyd serves the instance and follows its maillog" start_daemon

send() {  # recipient...
    local to; to=$(IFS=,; echo "$*")
    swaks --server "$SMTPD" --helo client.test --from sender@outbound.test --to "$to" \
        --header "Subject: outbound" --timeout 20 >/dev/null 2>&1
}
delivery_line() {  # recipient -> the daemon's delivery line for it (the last)
    grep -F "delivery: " "$DLOG" | grep -F "to=<$1>" | tail -1
}
has_delivery_line() { [ -n "$(delivery_line "$1")" ]; }
entries() { curl -s "http://$ADMIN/entries"; }
# a number out of /entries: outbound.TABLE.NAME.FIELD[.SUB]
ledger() {  # table name field [sub]
    entries | python3 -c '
import json, sys
o = json.load(sys.stdin)["outbound"][sys.argv[1]].get(sys.argv[2], {})
v = o.get(sys.argv[3], 0)
if len(sys.argv) > 4: v = v.get(sys.argv[4], 0)
print(v)' "$@"
}
counted() {  # table name field want
    [ "$(ledger "$1" "$2" "$3")" = "$4" ]
}

# --- the deliveries ------------------------------------------------------------------
for r in a@enc.test a@good.test a@wrongname.test a@self.test a@legacy.test a@rep.test a@repgood.test \
         a@replegacy.test a@plainu.test a@goodu.test; do
    send "$r"
done
for r in a@enc.test a@good.test a@wrongname.test a@self.test a@legacy.test a@rep.test a@repgood.test a@replegacy.test; do
    wait_for 30 has_delivery_line "$r" || echo "# no delivery line for $r"
done
wait_for 30 counted domains goodu.test deliveries 1
wait_for 30 counted domains plainu.test deliveries 1

like "$(delivery_line a@enc.test)" "service=tls-encrypt key=enc.test level=encrypt mode=enforce status=deferred tls=none result=starttls-not-supported" \
    "enforced encrypt, no STARTTLS: deferred, starttls-not-supported"
like "$(delivery_line a@good.test)" "service=tls-verify key=good.test level=verify mode=enforce status=sent tls=TLSv1.3/verified result=none" \
    "enforced verify, good certificate: sent over verified TLS 1.3"
like "$(delivery_line a@wrongname.test)" "status=deferred tls=TLSv1.3/untrusted result=certificate-host-mismatch detail=\"num=62:hostname mismatch\"" \
    "enforced verify, wrong name: certificate-host-mismatch"
like "$(delivery_line a@self.test)" "status=deferred tls=TLSv1.3/untrusted result=certificate-not-trusted detail=\"self-signed certificate\"" \
    "enforced verify, self-signed: certificate-not-trusted"
like "$(delivery_line a@legacy.test)" "status=deferred tls=none result=validation-failure detail=\"unsupported protocol\"" \
    "enforced encrypt, TLS 1.1 only: validation-failure (the handshake)"
like "$(delivery_line a@rep.test)" "service=smtp key=rep.test level=encrypt mode=report status=sent tls=none result=none would_be=\"would bounce: starttls-not-supported" \
    "report encrypt, no STARTTLS: sent in plaintext, would bounce"
like "$(delivery_line a@repgood.test)" "mode=report status=sent tls=TLSv1.3/trusted result=none would_be=\"would succeed" \
    "report verify, good certificate: would succeed"
like "$(delivery_line a@replegacy.test)" "mode=report status=sent tls=TLSv1.1/trusted .*would_be=\"would defer: validation-failure \(TLSv1.1 below TLSv1.2\)\"" \
    "report encrypt, TLS 1.1: would defer, below the floor"
ok "the sinks agree: rep.test arrived in plaintext" grep -q "sink=plain .*<a@rep.test> tls=none" "$SINKLOG"
ok "... goodu.test over TLS 1.3" grep -q "sink=good .*<a@goodu.test> tls=TLSv1.3" "$SINKLOG"
ok "... replegacy.test over TLS 1.1" grep -q "sink=legacy .*<a@replegacy.test> tls=TLSv1.1" "$SINKLOG"
unlike "$(grep -F "delivery: " "$DLOG" | grep -F -e plainu.test -e goodu.test)" "." "unlisted recipients: counted, not logged"

is "$(ledger domains goodu.test protocols TLSv1.3)" 1 "ledger: goodu.test, one TLS 1.3 delivery"
is "$(ledger domains plainu.test trust plaintext)" 1 "ledger: plainu.test, one plaintext delivery"
is "$(ledger entries wrongname.test failures certificate-host-mismatch)" 1 "ledger: wrongname.test's failure by result type"
is "$(ledger entries rep.test would_fail)" 1 "ledger: rep.test would have failed once"
is "$(ledger entries good.test trust verified)" 1 "ledger: good.test verified once"

report=$("$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" --report 2>&1)
like "$report" "rep.test +encrypt +report +1 +1  would bounce: starttls-not-supported \(1 of 1 deliveries\)" \
    "--report: rep.test would bounce: starttls-not-supported"
like "$report" "first: [0-9T:-]+Z <a@rep.test> via rep.test\[127.0.2.2\]:2526: starttls-not-supported" "... with the first failure"
like "$report" "repgood.test +verify +report +1 +0  would succeed \(all 1 deliveries\)" "--report: repgood.test would succeed"
like "$report" "good.test +verify +enforce +1 +0  met its level" "--report: good.test met its level"
like "$report" "Entries never seen: never.test
" "--report: only never.test never seen (outbound entries count)"
suggest=$("$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" --suggest --direction outbound --min 1 2>&1)
like "$suggest" "
goodu.test encrypt direction=outbound mode=report" "--suggest --direction outbound: goodu.test met encrypt"
unlike "$suggest" "plainu.test|rep.test" "... not the plaintext domain, not a listed one"
metrics=$(curl -s "http://$ADMIN/metrics")
like "$metrics" "tlspolicyd_outbound_sessions_total\{result=\"starttls-not-supported\"\} 1" "metrics: deliveries by result type"
like "$metrics" "tlspolicyd_maillog_behind_bytes 0" "metrics: the reader keeps up"

# --- TLS-RPT: the day's report per domain, RFC 8460 4.4 field by field -------------
# (DNS is off here: no domain has a policy, so each is "no-policy-found")
tlsrpt() {  # domain -> the report so far, checked, then "FIELD=VALUE" lines of it
    "$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" --tlsrpt-preview "$1" 2>&1 | python3 -c '
import json, sys, datetime
text = sys.stdin.read()
try:
    r = json.loads(text)
except ValueError:
    print("not JSON: " + text.strip()); sys.exit(0)
problems = []
def need(obj, key, kind, where):
    if not isinstance(obj.get(key), kind): problems.append("%s.%s missing or not %s" % (where, key, kind.__name__))
    return obj.get(key)
for key in ("organization-name", "contact-info", "report-id"): need(r, key, str, "report")
dr = need(r, "date-range", dict, "report") or {}
today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
if dr.get("start-datetime") != today + "T00:00:00Z" or dr.get("end-datetime") != today + "T23:59:59Z":
    problems.append("date-range is not today (UTC): %r" % dr)
for i, p in enumerate(need(r, "policies", list, "report") or []):
    pol = need(p, "policy", dict, "policies[%d]" % i) or {}
    if pol.get("policy-type") not in ("sts", "tlsa", "no-policy-found"): problems.append("bad policy-type")
    need(pol, "policy-domain", str, "policy")
    summ = need(p, "summary", dict, "policies[%d]" % i) or {}
    for key in ("total-successful-session-count", "total-failure-session-count"): need(summ, key, int, "summary")
    for d in p.get("failure-details", []):
        need(d, "result-type", str, "failure-details"); need(d, "failed-session-count", int, "failure-details")
print("valid" if not problems else "; ".join(problems))
p = r["policies"][0]
print("org=%s contact=%s type=%s domain=%s" % (r["organization-name"], r["contact-info"], p["policy"]["policy-type"], p["policy"]["policy-domain"]))
print("successes=%d failures=%d" % (p["summary"]["total-successful-session-count"], p["summary"]["total-failure-session-count"]))
for d in p.get("failure-details", []):
    print("detail=%s mx=%s ip=%s count=%d" % (d["result-type"], d.get("receiving-mx-hostname"), d.get("receiving-ip"), d["failed-session-count"]))
'
}
r=$(tlsrpt wrongname.test)
like "$r" "^valid
org=mx.outbound.test contact=postmaster@mx.outbound.test type=no-policy-found domain=wrongname.test" \
    "tlsrpt: wrongname.test's report is RFC 8460 JSON, from Postfix's myhostname"
like "$r" "successes=0 failures=1
detail=certificate-host-mismatch mx=wrongname.test ip=127.0.2.4 count=1" "... its failure: certificate-host-mismatch at its MX and IP"
like "$(tlsrpt enc.test)" "failures=1
detail=starttls-not-supported mx=enc.test ip=127.0.2.2" "tlsrpt: enc.test, TLS required and not offered: starttls-not-supported"
like "$(tlsrpt self.test)" "detail=certificate-not-trusted" "tlsrpt: self.test: certificate-not-trusted"
like "$(tlsrpt goodu.test)" "^valid
.*
successes=1 failures=0" "tlsrpt: goodu.test (unlisted), one successful session"
like "$(tlsrpt rep.test)" "no TLS session with rep.test counted today" \
    "tlsrpt: rep.test went in plaintext that nothing required: no TLS session to report"
like "$(curl -s "http://$ADMIN/metrics")" "tlspolicyd_tlsrpt_sessions_total [1-9]" "metrics: sessions counted into reports"

# --- restarts: nothing lost, nothing doubled ----------------------------------------
# The stop comes as Postfix delivers: the lines land before or after it,
# and must be counted once either way. A recipient whose route lookup met
# the stopped daemon is deferred ("transport_maps lookup failure"), and
# that deferral may be written after the daemon is back: the flush waits
# until no message is still in the incoming or active queue, or a loaded
# machine leaves it for the next queue run, minutes away.
queue_settled() { ! postqueue -c "$CONF" -j | grep -q '"queue_name": "\(maildrop\|incoming\|active\)"'; }
send b@good.test b@goodu.test
stop_daemon TERM
start_daemon
# Under load the first lookups after the restart may defer goodu.test once
# more: until it is counted, the settled queue is flushed again every 5 s.
next_flush=0
flush_until_counted() {
    counted domains goodu.test deliveries 2 && return 0
    if [ "$SECONDS" -ge "$next_flush" ] && queue_settled; then
        postqueue -c "$CONF" -f
        next_flush=$((SECONDS + 5))
    fi
    return 1
}
wait_for 120 flush_until_counted ||
    { echo "# goodu.test in the maillog:"; grep -F 'goodu.test' "$MAILLOG"; postqueue -c "$CONF" -p; } | sed 's/^/# /' >&2
is "$(ledger domains goodu.test deliveries)" 2 "after a TERM restart: goodu.test counted twice, once each"
is "$(ledger entries good.test deliveries)" 2 "... good.test too"
stop_daemon KILL                        # no save at exit: the last one (or none) stands
start_daemon
wait_for 30 counted domains goodu.test deliveries 2
is "$(ledger domains goodu.test deliveries)" 2 "after a KILL restart: still exactly 2 (read again from the last save)"
is "$(ledger entries rep.test deliveries)" 1 "... rep.test still 1"
like "$(tlsrpt goodu.test)" "successes=2 failures=0" "... and goodu.test's TLS-RPT report counts its 2 sessions, once each"

# --- Postfix rotates its log ----------------------------------------------------------
postfix -c "$CONF" logrotate >/dev/null 2>&1
rotated() { compgen -G "$MAILLOG.*" >/dev/null; }
ok "postfix logrotate moved the maillog aside" wait_for 10 rotated
send c@goodu.test
wait_for 30 counted domains goodu.test deliveries 3
is "$(ledger domains goodu.test deliveries)" 3 "a delivery after the rotation is counted"
like "$(grep 'maillog' "$DLOG")" "rotated, following the new file" "the rotation is logged"

# --- the same log in RFC 3339 syslog format, with hostile lines ------------------------
SYSLOG=$TMP/mail.log
{ cat "$MAILLOG".* 2>/dev/null | gzip -dcf; cat "$MAILLOG"; } | python3 -c '
import sys, datetime
year = datetime.date.today().year
for line in sys.stdin:
    stamp = datetime.datetime.strptime("%d %s" % (year, line[:15]), "%Y %b %d %H:%M:%S")
    sys.stdout.write(stamp.isoformat() + ".000000+00:00" + line[15:])
    # forged, hostile: another program claiming a delivery, control bytes, a 1 MB line
    if "status=sent" in line and "goodu.test" in line:
        sys.stdout.write(stamp.isoformat() + "+00:00 mx evil/smtp[1]: F00: to=<x@goodu.test>, relay=goodu.test[127.0.2.3]:2526, dsn=2.0.0, status=sent (ok)\n")
        sys.stdout.write(stamp.isoformat() + "+00:00 mx postfix/smtp[2]: \x1b[2J\x07 Verified TLS connection\n")
        sys.stdout.write("x" * 1048576 + "\n")
' > "$SYSLOG"
ok "a syslog-format copy with hostile lines" test -s "$SYSLOG"
write_conf "$TMP/syslog.conf" "$SYSLOG" "$TMP/syslog.state"
sed -i -e "s|^listen = .*|listen = unix:$TMP/p2;|" -e "s|^socketmap_listen = .*|socketmap_listen = unix:$TMP/s2;|" \
    -e "s|^metrics_listen = .*|metrics_listen = inet:127.0.0.1:10043;|" "$TMP/syslog.conf"
"$TLSPOLICYD" --config "$TMP/syslog.conf" 2>>"$TMP/syslog-daemon.log" &
PIDS+=($!)
ADMIN2=127.0.0.1:10043
wait_for 30 bash -c "curl -s http://$ADMIN2/metrics | grep -q 'tlspolicyd_maillog_behind_bytes 0'"
m2=$(curl -s "http://$ADMIN2/metrics")
like "$m2" "tlspolicyd_maillog_lines_too_long_total [1-9]" "the 1 MB lines are skipped, counted"
count_of() {  # admin table name field
    curl -s "http://$1/entries" | python3 -c '
import json, sys
print(json.load(sys.stdin)["outbound"][sys.argv[1]].get(sys.argv[2], {}).get(sys.argv[3], 0))' "$2" "$3" "$4"
}
is "$(count_of "$ADMIN2" domains goodu.test deliveries)" 3 "the syslog copy: goodu.test 3, the forged line not counted"
for pair in "entries rep.test deliveries" "entries repgood.test deliveries" "domains plainu.test deliveries" \
            "entries good.test sessions"; do
    set -- $pair
    is "$(count_of "$ADMIN2" "$1" "$2" "$3")" "$(ledger "$1" "$2" "$3")" "the syslog copy agrees with maillog_file: $pair"
done
ok "tlspolicyd still serves after the hostile lines" kill -0 "${PIDS[-1]}"

# --- the same log from the journal (sd-journal), written by systemd-journal-remote --
# Each smtp line becomes an entry as journald writes it (_COMM=smtp, _PID,
# SYSLOG_IDENTIFIER); one more claims to be Postfix's (its identifier)
# from another program (_COMM=logger), which the journal can tell.
JREMOTE=/lib/systemd/systemd-journal-remote
to_export() {  # < maillog lines > export format; FIRST: the first entry's number (its
    python3 -c '         # monotonic time: one boot, so later entries must count on)
import sys, time, re, os
usec = int(time.time() * 1e6)
n = int(os.environ.get("FIRST", "0"))
def entry(comm, ident, pid, msg):
    global n
    n += 1
    sys.stdout.write("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"
                     "_COMM=%s\n_PID=%s\nSYSLOG_IDENTIFIER=%s\nMESSAGE=%s\n\n" % (usec + n, n, comm, pid, ident, msg))
for line in sys.stdin:
    m = re.match(r"^\S+ +\S+ \S+ \S+ (postfix[^\[]*)\[(\d+)\]: (.*)$", line.rstrip("\n"))
    if m:
        entry(m.group(1).rsplit("/", 1)[-1], m.group(1), m.group(2), m.group(3))
entry("logger", "postfix/smtp", "999", "F00: to=<y@goodu.test>, relay=goodu.test[127.0.2.3]:2526, dsn=2.0.0, status=sent (ok)")
'
}
mkdir -p "$TMP/journal"
{ cat "$MAILLOG".* 2>/dev/null | gzip -dcf; cat "$MAILLOG"; } | to_export > "$TMP/one.export"
ok "systemd-journal-remote wrote a journal of Postfix's lines" "$JREMOTE" -o "$TMP/journal/one.journal" "$TMP/one.export"
write_conf "$TMP/journal.conf" "journal:$TMP/journal" "$TMP/journal.state"
sed -i -e "s|^listen = .*|listen = unix:$TMP/p3;|" -e "s|^socketmap_listen = .*|socketmap_listen = unix:$TMP/s3;|" \
    -e "s|^metrics_listen = .*|metrics_listen = inet:127.0.0.1:10045;|" "$TMP/journal.conf"
ADMIN3=127.0.0.1:10045
start_journal_daemon() {
    "$TLSPOLICYD" --config "$TMP/journal.conf" 2>>"$TMP/journal-daemon.log" &
    JDAEMON=$!
    PIDS+=($JDAEMON)
}
start_journal_daemon
wait_for 30 bash -c "[ \"\$(curl -s http://$ADMIN3/entries | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"outbound\"][\"domains\"].get(\"goodu.test\",{}).get(\"deliveries\",0))' 2>/dev/null)\" = 3 ]"
is "$(count_of "$ADMIN3" domains goodu.test deliveries)" 3 "the journal: goodu.test 3, the posing entry (_COMM=logger) not counted"
for pair in "entries rep.test deliveries" "entries wrongname.test failures" "entries good.test sessions" \
            "domains plainu.test deliveries"; do
    set -- $pair
    if [ "$2" = wrongname.test ]; then
        got=$(curl -s "http://$ADMIN3/entries" | python3 -c 'import json,sys; print(json.load(sys.stdin)["outbound"]["entries"]["wrongname.test"]["failures"])')
        want=$(entries | python3 -c 'import json,sys; print(json.load(sys.stdin)["outbound"]["entries"]["wrongname.test"]["failures"])')
        is "$got" "$want" "the journal agrees with maillog_file: wrongname.test's failures"
        continue
    fi
    is "$(count_of "$ADMIN3" "$1" "$2" "$3")" "$(ledger "$1" "$2" "$3")" "the journal agrees with maillog_file: $pair"
done
# stopped, a new journal file while it is down, started: from the cursor
kill "$JDAEMON"; wait "$JDAEMON" 2>/dev/null
printf '%s\n' "Dec 03 23:59:59 mx postfix/smtp[4242]: Verified TLS connection established to goodu.test[127.0.2.3]:2526: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" \
    "Dec 03 23:59:59 mx postfix/smtp[4242]: 4242AAA: to=<d@goodu.test>, relay=goodu.test[127.0.2.3]:2526, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 ok)" \
    | FIRST=1000000 to_export > "$TMP/two.export"
"$JREMOTE" -o "$TMP/journal/two.journal" "$TMP/two.export" >/dev/null 2>&1
start_journal_daemon
wait_for 30 bash -c "curl -s http://$ADMIN3/entries | grep -q '\"goodu.test\":{\"deliveries\":4'"
is "$(count_of "$ADMIN3" domains goodu.test deliveries)" 4 "after a restart: the new entry counted, none of the old again"
like "$(count_of "$ADMIN3" domains goodu.test trust)" "'verified': 1" "... its session joined: verified"

done_testing

#!/bin/bash
# tlsprobe.t - tlsprobe against local sinks (no DNS): good, wrong-name,
# self-signed and TLS<=1.1 certificates, no STARTTLS, STARTTLS refused,
# bytes injected after STARTTLS, a tarpit and a 1 MB EHLO reply.  Checks
# the text and JSON fields, per-level verdicts and exit codes.
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
P=${TLSPROBE:?set TLSPROBE}
export MAIL_CONFIG=$TMP/no-postfix  # the machine's Postfix decides nothing here (postfix.t tests that)
cd "$TMP" || exit 1

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=probe test CA" -keyout ca.key -out ca.crt >/dev/null 2>&1
make_cert() {  # file cn
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr" >/dev/null 2>&1
    printf 'subjectAltName=DNS:%s\n' "$2" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" \
        -out "$1.crt" >/dev/null 2>&1
}
make_cert good mx.good.test
make_cert wrong other.test
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.good.test" -addext "subjectAltName=DNS:mx.good.test" \
    -keyout self.key -out self.crt >/dev/null 2>&1
# an expired certificate: "openssl ca" can set dates in the past
mkdir -p ca/new && : > ca/index.txt && echo 01 > ca/serial
cat > ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca/index.txt
new_certs_dir = ca/new
serial = ca/serial
certificate = ca.crt
private_key = ca.key
default_md = sha256
policy = any
[any]
commonName = supplied
CNF
openssl req -newkey rsa:2048 -nodes -subj "/CN=mx.good.test" -keyout expired.key -out expired.csr >/dev/null 2>&1
openssl ca -batch -config ca.cnf -startdate 20200101000000Z -enddate 20200201000000Z -extfile good.ext \
    -in expired.csr -out expired.crt >/dev/null 2>&1

PORT=2540
sink() {  # name address [options]
    local name=$1 addr=$2; shift 2
    perl "$SRC/t/tools/smtpsink.pl" --name "$name" --listen "$addr:$PORT" "$@" > "sink-$name.out" 2>&1 &
    PIDS+=($!)
    ok "sink $name is up" wait_for 30 grep -q ready "sink-$name.out"
}
sink good 127.0.1.2 --cert good.crt --key good.key
sink wrong 127.0.1.3 --cert wrong.crt --key wrong.key
sink self 127.0.1.4 --cert self.crt --key self.key
sink legacy 127.0.1.5 --cert good.crt --key good.key --max-tls 1.1
sink plain 127.0.1.6
sink refuse 127.0.1.7 --cert good.crt --key good.key --mode starttls-error
sink inject 127.0.1.8 --cert good.crt --key good.key --mode inject
sink tarpit 127.0.1.9 --mode tarpit
sink huge 127.0.1.10 --mode huge-ehlo
sink expired 127.0.1.11 --cert expired.crt --key expired.key
for step in banner ehlo starttls tls; do
    n=$(case $step in banner) echo 12 ;; ehlo) echo 13 ;; starttls) echo 14 ;; tls) echo 15 ;; esac)
    sink "drip$step" 127.0.1.$n --mode "drip-$step"
done
sink hostile 127.0.1.16 --cert good.crt --key good.key --mode hostile-banner

probe() {  # address [options] -> stdout; exit status in $rc
    out=$("$P" --CAfile ca.crt --timeout "${TIMEOUT:-3}" --connect "$1:$PORT" "${@:2}" 2>&1); rc=$?
}

# --- good: every level passes (secure: the certificate names a subdomain of good.test)
probe 127.0.1.2 --mx mx.good.test good.test
like "$out" "protocol +TLSv1\.[23]" "good: protocol reported"
like "$out" "chain +trusted" "good: chain trusted"
like "$out" "encrypt +PASS" "good: encrypt passes"
like "$out" "verify +PASS" "good: verify passes (MX name)"
like "$out" "secure +PASS" "good: secure passes (domain)"
probe 127.0.1.2 --mx mx.good.test --level secure good.test; is "$rc" 0 "good: --level secure exits 0"
probe 127.0.1.2 --mx mx.good.test --json good.test
like "$out" '"destination":"good.test"' "json: destination"
like "$out" '"names":\["mx.good.test"\]' "json: certificate names"
like "$out" '"levels":\{"encrypt":\{"ok":true' "json: encrypt verdict"
like "$out" '"secure":\{"ok":true' "json: secure verdict"
# python3 is a test dependency (scripts/deps.sh test): fail, never skip
ok "json parses (python3's strict parser)" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["servers"][0]["tls"]' "$out"


# --- wrong name: encrypt yes, verify/secure no
probe 127.0.1.3 --mx mx.good.test good.test
like "$out" "verify +FAIL \(certificate does not name the MX host\)" "wrong name: verify fails"
like "$out" "secure +FAIL" "wrong name: secure fails"
like "$out" "encrypt +PASS" "wrong name: encrypt passes"
probe 127.0.1.3 --mx mx.good.test --level verify good.test; is "$rc" 1 "wrong name: --level verify exits 1"
probe 127.0.1.3 --mx mx.good.test --level encrypt good.test; is "$rc" 0 "wrong name: --level encrypt exits 0"

# --- self-signed: not trusted
probe 127.0.1.4 --mx mx.good.test good.test
like "$out" "chain +self.signed certificate" "self-signed: chain error reported"
like "$out" "verify +FAIL" "self-signed: verify fails"

# --- expired: encrypt yes, verify no
probe 127.0.1.11 --mx mx.good.test good.test
like "$out" "chain +certificate has expired" "expired: chain error reported"
like "$out" "expires +Feb  1 00:00:00 2020 GMT" "expired: expiry date reported"
like "$out" "verify +FAIL \(certificate has expired\)" "expired: verify fails"
like "$out" "encrypt +PASS" "expired: encrypt passes"

# --- TLS 1.1 only: below the floor for every level
probe 127.0.1.5 --mx mx.good.test good.test
like "$out" "protocol +TLSv1\.1" "legacy: TLS 1.1 reported"
like "$out" "encrypt +FAIL \(protocol below TLSv1.2\)" "legacy: encrypt fails"
probe 127.0.1.5 --mx mx.good.test --level encrypt good.test; is "$rc" 1 "legacy: --level encrypt exits 1"

# --- no STARTTLS / STARTTLS refused
probe 127.0.1.6 good.test
like "$out" "STARTTLS offered +no" "plain: STARTTLS not offered"
like "$out" "encrypt +FAIL \(STARTTLS not offered\)" "plain: encrypt fails"
probe 127.0.1.7 good.test
like "$out" "STARTTLS refused: 454" "refused: the 454 is reported"

# --- injection: bytes after the 220 are discarded, the handshake still works
probe 127.0.1.8 --mx mx.good.test --json good.test
like "$out" '"injected_bytes_discarded":true' "inject: reported"
like "$out" '"tls":true' "inject: handshake done after discarding"

# --- tarpit and 1 MB EHLO: bounded, clear verdicts
start=$(date +%s)
TIMEOUT=1 probe 127.0.1.9 --level encrypt good.test
is "$rc" 2 "tarpit: exit 2 (could not test)"
like "$out" "no complete reply within 1s after connect" "tarpit: clear reason"
ok "tarpit: bounded in time" test $(( $(date +%s) - start )) -le 4
probe 127.0.1.10 good.test
like "$out" "reply to EHLO larger than 65536 bytes" "huge EHLO: stopped at the cap"
# a hostile banner: escaped on the terminal, valid JSON for a strict parser
probe 127.0.1.16 --mx mx.good.test good.test
unlike "$out" "$(printf '\033')" "hostile banner: no ESC reaches the terminal"
unlike "$out" "$(printf '\xc2\x9b')" "hostile banner: no C1 CSI either"
like "$out" 'banner +220 .*\\x1B\]0;pwned\\x07\\x1B\[2J\\u009B31m\\u202E\\xFF\\xFE"\\x5C ESMTP' "hostile banner: shown escaped"
"$P" --CAfile ca.crt --timeout 3 --connect "127.0.1.16:$PORT" --mx mx.good.test --json good.test > hostile.json 2>/dev/null
ok "hostile banner: --json is valid UTF-8 JSON (python3, strict)" python3 -c '
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert "\x1b]0;pwned" in d["servers"][0]["banner"]' hostile.json

# a server that drips a byte every 0.3 s: each step still ends within --timeout (1 s)
for step in banner ehlo starttls tls; do
    n=$(case $step in banner) echo 12 ;; ehlo) echo 13 ;; starttls) echo 14 ;; tls) echo 15 ;; esac)
    want=$(case $step in banner) echo "no complete reply within 1s after connect" ;;
        ehlo) echo "no complete reply within 1s after EHLO" ;; starttls) echo "no complete reply within 1s after STARTTLS" ;;
        tls) echo "TLS handshake not finished within 1s" ;; esac)
    start=$(date +%s)
    TIMEOUT=1 probe 127.0.1.$n --level encrypt good.test
    # no banner: could not test (2); a server that then stalls fails the level (1)
    is "$rc" "$([ $step = banner ] && echo 2 || echo 1)" "drip-feeding at $step: exit status"
    like "$out" "$want" "drip-feeding at $step: says which step ran out of time"
    ok "drip-feeding at $step: bounded by --timeout" test $(( $(date +%s) - start )) -le 4
done

# --- --list: every outbound entry, summary and exit status
cat > list.src <<'LIST'
good.test verify direction=outbound
inbound.test encrypt direction=inbound
LIST
out=$("$P" --CAfile ca.crt --timeout 3 --connect 127.0.1.2:$PORT --mx mx.good.test --list list.src 2>&1); rc=$?
is "$rc" 0 "--list: all outbound entries pass"
like "$out" "1 destinations: 0 would fail" "--list: summary counts only outbound entries"
out=$("$P" --CAfile ca.crt --timeout 3 --connect 127.0.1.3:$PORT --mx mx.good.test --list list.src 2>&1); rc=$?
is "$rc" 1 "--list: a failing level exits 1"
like "$out" "good.test: level verify would FAIL today" "--list: names the failing entry"
# an address entry stricter than its domain's: each (destination, level) once
cat > list2.src <<'LIST'
good.test encrypt direction=outbound
a@good.test encrypt direction=outbound
boss@good.test secure direction=outbound
LIST
out=$("$P" --CAfile ca.crt --timeout 3 --connect 127.0.1.3:$PORT --mx mx.good.test --list list2.src 2>&1); rc=$?
like "$out" "2 destinations: 1 would fail" "--list: the domain at encrypt and the address's stricter secure, each once"
like "$out" "good.test: level secure would FAIL today" "--list: the stricter address entry is probed"

# --- tlsmap -i --probe / --strict --------------------------------------------------
: "${TLSMAP:?set TLSMAP}"
printf 'seed.test encrypt\n' > probe.list && "$TLSMAP" probe.list
out=$(printf 'good.test verify direction=outbound\n' | "$TLSMAP" -i --probe \
    --probe-with "$P --CAfile ca.crt --timeout 3 --connect 127.0.1.2:$PORT --mx mx.good.test" probe.list 2>&1); rc=$?
# (the audit record comes to stderr too on a machine with no journal and no syslog)
is "$rc:$(printf '%s' "$out" | grep -v 'audit: action=')" "0:" "tlsmap --probe: a passing destination goes in silently"
out=$(printf 'bad.test verify direction=outbound\n' | "$TLSMAP" -i --probe \
    --probe-with "$P --CAfile ca.crt --timeout 3 --connect 127.0.1.3:$PORT --mx mx.good.test" probe.list 2>&1); rc=$?
is "$rc" 0 "tlsmap --probe: a failing destination still goes in"
like "$out" "warning: bad.test verify: the destination cannot meet this level today" "... with a warning"
cp probe.list.lmdb before.lmdb
out=$(printf 'worse.test verify direction=outbound\n' | "$TLSMAP" -i --probe --strict \
    --probe-with "$P --CAfile ca.crt --timeout 3 --connect 127.0.1.3:$PORT --mx mx.good.test" probe.list 2>&1); rc=$?
is "$rc" 2 "tlsmap --probe --strict: refused"
like "$out" "error: worse.test verify" "... saying why"
ok "... and nothing changed" cmp probe.list.lmdb before.lmdb

# --- the trust and port of the local Postfix's smtp client (--postfix-config) ------
# Each row: a main.cf, the options, the exit status of --level verify
# against the good sink (a test-CA certificate), and what the probe says
# it used.  postconf reads each directory; no Postfix runs.
if command -v postconf >/dev/null; then
    capath=$TMP/capath; mkdir -p "$capath"; cp ca.crt "$capath/"; openssl rehash "$capath" 2>/dev/null || c_rehash "$capath" >/dev/null 2>&1
    while IFS='|' read -r name main opts want said; do
        d=$TMP/pfc-$RANDOM; mkdir -p "$d"
        printf 'compatibility_level = 3.6\nsmtp_tcp_port = %s\n%b' "$PORT" "$main" > "$d/main.cf"
        touch -d "@$(( $(date +%s) - 10 ))" "$d/main.cf"  # Postfix re-reads files younger than a second
        # shellcheck disable=SC2086
        out=$("$P" --postfix-config "$d" --timeout 3 --mx mx.good.test --connect 127.0.1.2 $opts --level verify good.test 2>&1); rc=$?
        is "$rc" "$want" "postfix-config: $name: exit $want"
        like "$out" "as Postfix delivers +$d \\(Postfix [0-9.]+\\): trusts $said" "postfix-config: $name: says what it trusts"
    done <<ROWS
smtp_tls_CAfile trusts the test CA|smtp_tls_CAfile = $TMP/ca.crt\n||0|smtp_tls_CAfile $TMP/ca.crt; port $PORT;
smtp_tls_CApath|smtp_tls_CApath = $capath\n||0|smtp_tls_CApath $capath;
neither, no default CAs: Postfix verifies nothing|||1|no CA \\(no smtp_tls_CAfile or smtp_tls_CApath\\): verify fails, as in Postfix
the system's CAs only (tls_append_default_CA)|tls_append_default_CA = yes\n||1|the system's CAs;
--CAfile wins over main.cf|smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt\n|--CAfile $TMP/ca.crt|0|the CAs named on the command line
main.cf's CAfile is not the test CA|smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt\n||1|smtp_tls_CAfile /etc/ssl/certs/ca-certificates.crt;
ROWS
    out=$("$P" --postfix-config "$TMP/nowhere" --connect 127.0.1.2:$PORT good.test 2>&1); rc=$?
    is "$rc" 2 "postfix-config: a directory without main.cf: exit 2"
    like "$out" "no Postfix configuration: $TMP/nowhere/main.cf" "... saying so"
    out=$(MAIL_CONFIG=$TMP/nowhere "$P" --CAfile ca.crt --timeout 3 --connect 127.0.1.2:$PORT --mx mx.good.test good.test 2>&1); rc=$?
    is "$rc" 0 "no local Postfix (MAIL_CONFIG without main.cf): probes as before"
    unlike "$out" "as Postfix delivers" "... and claims no Postfix settings"
else
    skip "postconf not installed: --postfix-config rows"
fi

done_testing

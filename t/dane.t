#!/bin/bash
# dane.t - DANE and MTA-STS end to end, offline: a DNSSEC-signed zone
# (lab.example, ldns-signzone) served by nsd, a validating unbound with the
# zone's trust anchor, an HTTPS server with the MTA-STS policies (test CA),
# recording SMTP sinks, tlspolicyd, and a private Postfix that finds the
# sinks through MX records (smtp_dns_support_level = dnssec; the chrooted
# smtp clients read $queue_directory/etc/resolv.conf, never the
# machine's).  The shipped postfix/ snippets are used verbatim.
#
#   dane-none   listed dane, DNSSEC-signed, no TLSA, MX without STARTTLS:
#               routed encrypt, deferred, never plaintext
#   dane-ok     listed dane, TLSA 3 1 1 of the sink's key: dane-only,
#               Postfix logs "Verified TLS connection" (DANE)
#   cname       listed dane, the MX host a CNAME whose expansion has the
#               TLSA record (RFC 7672 2.2.2): dane-only, verified
#   hosted      listed secure, MX under the provider's name, MTA-STS enforce
#               with mx *.provider.lab.example: delivered (match= patterns)
#   deep        listed secure, MTA-STS enforce with mx *.provider, MX
#               a.b.provider with a certificate for that name: two labels
#               are not the wildcard's one (RFC 8461 4.1): deferred
#   sts-wrong   unlisted, mta_sts = enforce, policy names its MX, the MX's
#               certificate names another host: deferred
#   dane-bogus  listed dane, TLSA records that fail validation: TEMP from
#               tlspolicyd (on_lookup_failure = temp), deferred
#   plain       unlisted, nothing published: Postfix's default, delivered
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
: "${TLSPOLICYD:?set TLSPOLICYD}" "${TLSPROBE:?set TLSPROBE}"
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP nsd/unbound on port 53 and a private Postfix need root"; exit 0; fi
for tool in nsd unbound ldns-keygen ldns-signzone dig postfix openssl perl python3 curl; do
    command -v $tool >/dev/null || { echo "Bail out! $tool missing (scripts/deps.sh test installs it)"; exit 1; }
done
. "$SRC/t/support/dnslab.sh"

. "$SRC/t/support/postfix.sh"
LIST=$TMP/tls.list SINKLOG=$TMP/sinks.log DLOG=$TMP/tlspolicyd.log
Z=lab.example

# --- certificates --------------------------------------------------------------------
cd "$TMP" || exit 1
. "$SRC/t/support/testca.sh"
testca_new "tlspolicyd dane test CA"
make_cert daneok "mx.dane-ok.$Z"
make_cert provider "mx.provider.$Z"
make_cert wrongsts other.test
make_cert deep "a.b.provider.$Z"
make_cert https "mta-sts.hosted.$Z" "mta-sts.deep.$Z" "mta-sts.sts-wrong.$Z" "mta-sts.sts-testing.$Z" "mta-sts.sts-rotate.$Z" "mta-sts.sts-cut.$Z"
chmod 644 ./*.key ./*.crt
tlsa=$(openssl x509 -in daneok.crt -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 | sed 's/.* //')

# --- the signed zone, nsd, unbound ------------------------------------------------------
cat > zone.body <<ZONE
dane-none       IN MX 10 mx.dane-none
mx.dane-none    IN A 127.0.0.12
dane-ok         IN MX 10 mx.dane-ok
mx.dane-ok      IN A 127.0.0.13
_2526._tcp.mx.dane-ok IN TLSA 3 1 1 $tlsa
cname           IN MX 10 alias.cname
alias.cname     IN CNAME real.cname
real.cname      IN A 127.0.0.13
_2526._tcp.real.cname IN TLSA 3 1 1 $tlsa
dane-bogus      IN MX 10 mx.dane-bogus
mx.dane-bogus   IN A 127.0.0.12
_2526._tcp.mx.dane-bogus IN TLSA 3 1 1 $tlsa
hosted          IN MX 10 mx.provider
mx.provider     IN A 127.0.0.14
_mta-sts.hosted IN TXT "v=STSv1; id=20261125T1;"
deep            IN MX 10 a.b.provider
a.b.provider    IN A 127.0.0.16
_mta-sts.deep   IN TXT "v=STSv1; id=1"
mta-sts.deep    IN A 127.0.0.30
mta-sts.hosted  IN A 127.0.0.30
sts-wrong       IN MX 10 mx.sts-wrong
mx.sts-wrong    IN A 127.0.0.15
_mta-sts.sts-wrong IN TXT "v=STSv1; id=1"
mta-sts.sts-wrong IN A 127.0.0.30
sts-testing     IN MX 10 mx.sts-wrong
_mta-sts.sts-testing IN TXT "v=STSv1; id=7"
mta-sts.sts-testing IN A 127.0.0.30
sts-rotate      IN MX 10 mx.plain
_mta-sts.sts-rotate 5 IN TXT "v=STSv1; id=1"
mta-sts.sts-rotate IN A 127.0.0.30
sts-badcert     IN MX 10 mx.plain
_mta-sts.sts-badcert IN TXT "v=STSv1; id=1"
mta-sts.sts-badcert IN A 127.0.0.30
sts-cut         IN MX 10 mx.plain
_mta-sts.sts-cut IN TXT "v=STSv1; id=1"
mta-sts.sts-cut IN A 127.0.0.30
two             IN MX 20 backup.two
two             IN MX 10 mx.two
backup.two      IN A 127.0.0.12
mx.two          IN A 127.0.0.13
nomx            IN A 127.0.0.13
nullmx          IN MX 0 .
plain           IN MX 10 mx.plain
mx.plain        IN A 127.0.0.12
ZONE
mkdir -p lab && echo "_2526._tcp.mx.dane-bogus.$Z" > lab/bogus
ok "DNSSEC lab: nsd serves the signed zone, unbound validates it" dnslab_start "$TMP/lab" "$TMP/zone.body"
like "$(dig +dnssec @"$DNSLAB_RESOLVER" TLSA "_2526._tcp.mx.dane-ok.$Z")" "flags: qr rd ra ad" "... TLSA of dane-ok is secure (ad)"
like "$(dig @"$DNSLAB_RESOLVER" TLSA "_2526._tcp.mx.dane-bogus.$Z")" "status: SERVFAIL" "... TLSA of dane-bogus is bogus (SERVFAIL)"

# --- MTA-STS policies over HTTPS --------------------------------------------------------
policy() {  # domain body
    mkdir -p "www/mta-sts.$1/.well-known" && printf '%b' "$2" > "www/mta-sts.$1/.well-known/mta-sts.txt"
}
policy "hosted.$Z" "version: STSv1\r\nmode: enforce\r\nmx: *.provider.$Z\r\nmax_age: 86400\r\n"
policy "deep.$Z" "version: STSv1\nmode: enforce\nmx: *.provider.$Z\nmax_age: 86400\n"
policy "sts-wrong.$Z" "version: STSv1\nmode: enforce\nmx: mx.sts-wrong.$Z\nmax_age: 86400\n"
policy "sts-testing.$Z" "version: STSv1\nmode: testing\nmx: mx.sts-wrong.$Z\nmax_age: 86400\n"
# served without Content-Length and ended by a bare TCP FIN (no TLS
# close_notify), as an on-path attacker who cuts the body would leave it
policy "sts-cut.$Z" "version: STSv1\nmode: enforce\nmx: mx.plain.$Z\nmax_age: 86400\n"
touch "www/mta-sts.sts-cut.$Z/.well-known/.cut"
policy "sts-rotate.$Z" "version: STSv1\nmode: testing\nmx: old.rotate.$Z\nmax_age: 86400\n"
python3 "$SRC/t/tools/httpsd.py" --listen 127.0.0.30:443 --cert https.crt --key https.key --root www \
    > httpsd.out 2> httpsd.log &
HTTPSD=$!
PIDS+=($!)
ok "HTTPS server for the policies is up" wait_for 10 grep -q ready httpsd.out

# --- sinks ---------------------------------------------------------------------------------
start_sink plain 127.0.0.12 --hostname "plain.$Z"
start_sink daneok 127.0.0.13 --cert daneok.crt --key daneok.key --hostname "daneok.$Z"
start_sink provider 127.0.0.14 --cert provider.crt --key provider.key --hostname "provider.$Z"
start_sink wrongsts 127.0.0.15 --cert wrongsts.crt --key wrongsts.key --hostname "wrongsts.$Z"
start_sink deep 127.0.0.16 --cert deep.crt --key deep.key --hostname "deep.$Z"

# --- the private Postfix, MX lookups through the lab --------------------------------------
pf_dirs
printf 'nameserver %s\noptions trust-ad\n' "$DNSLAB_RESOLVER" > "$Q/etc/resolv.conf"
printf '127.0.0.1 localhost\n' > "$Q/etc/hosts"
{ pf_base_main
  cat <<MAIN
# --- this test's own ---
myhostname = mx.sender.test
mydomain = sender.test
smtp_dns_support_level = dnssec
smtp_host_lookup = dns
smtp_tls_loglevel = 1
MAIN
} > "$CONF/main.cf"
echo "# --- postfix/main.cf, as shipped ---" >> "$CONF/main.cf"
cat "$SRC/postfix/main.cf" >> "$CONF/main.cf"
pf_base_services > "$CONF/master.cf"
pf_install_snippets
out=$(postfix -c "$CONF" check 2>&1); is "$?" 0 "postfix check accepts the shipped snippets"
[ -n "$out" ] && printf '%s\n' "$out" | sort | uniq -c | sed 's/^ */# /'
postfix -c "$CONF" start >/dev/null 2>&1
ok "private Postfix is running" wait_for 20 test -S "$Q/public/pickup"

# --- tlspolicyd ------------------------------------------------------------------------------
cat > "$LIST" <<TLSLIST
dane-none.$Z   dane   direction=outbound
dane-ok.$Z     dane   direction=outbound
dane-bogus.$Z  dane   direction=outbound
cname.$Z       dane   direction=outbound
hosted.$Z      secure direction=outbound
deep.$Z        secure direction=outbound
dane-late.$Z   dane   direction=outbound
TLSLIST
"$TLSMAP" "$LIST"
cat > tlspolicyd.conf <<CONF
[tlspolicyd]
user = root
postfix_config_directory = $CONF
list = $LIST
listen = unix:$Q/private/tlspolicy;
socketmap_listen = unix:$Q/private/tlsmap;
metrics_listen = unix:$TMP/metrics.sock;
dns_resolver = $DNSLAB_RESOLVER
dns_trust_anchor = $TMP/lab/ta.ds
dane_tlsa_port = 2526
mta_sts = enforce
mta_sts_ca_file = $TMP/ca.crt
mta_sts_private_hosts = true
on_lookup_failure = temp
mta_sts_state_file = $TMP/mta-sts.state
maillog = $MAILLOG
tlsrpt = dry-run
tlsrpt_directory = $TMP/tlsrpt
CONF
"$TLSPOLICYD" --config tlspolicyd.conf 2>>"$DLOG" &
DAEMON=$!
PIDS+=($!)
ok "tlspolicyd is up" wait_for 10 test -S "$Q/private/tlsmap"

explain() { "$TLSPOLICYD" --config tlspolicyd.conf --explain "$1" 2>&1; }
# --explain, one row per domain: what the output must say, and why
while IFS='|' read -r domain pattern name; do
    like "$(explain "bob@$domain.$Z")" "$pattern" "--explain $domain: $name"
done <<ROWS
dane-ok|DANE: TLSA on 1 of 1 MX, DNSSEC secure|the TLSA records
dane-ok|effective: tls-dane-only:|effective route tls-dane-only
cname|DANE: TLSA on 1 of 1 MX, DNSSEC secure|an MX host that is a CNAME: TLSA at its expansion (RFC 7672 2.2.2)
cname|answer: OK tls-dane-only:|... dane-only, not encrypt
dane-none|DANE: no TLSA records on 1 MX \(DNSSEC secure\)|a secure proof of no TLSA
dane-none|answer: OK tls-encrypt:|listed dane without TLSA: encrypt, never Postfix's plaintext fallback
hosted|MTA-STS: enforce, mx \*\.provider\.$Z, max_age 86400|the MTA-STS policy
hosted|list: secure \(key hosted.$Z\)|the list's verdict
hosted|answer: OK tls-secure:|routed secure
deep|MTA-STS: enforce, mx \*\.provider\.$Z|deep: the policy, *.provider
deep|answer: OK tls-secure:|deep: routed secure (its tlspolicy answer names no MX host)
sts-wrong|list: not listed.*MTA-STS: enforce, mx mx\.sts-wrong\.$Z|unlisted, an enforced policy
sts-wrong|answer: OK tls-secure:|routed secure (mta_sts = enforce)
dane-bogus|DANE: TLSA lookup failed: _2526._tcp.mx.dane-bogus.$Z bogus|the validation failure named
dane-bogus|answer: TEMP |TEMP (on_lookup_failure = temp)
sts-testing|MTA-STS: testing, mx mx.sts-wrong.$Z.*MTA-STS testing: enforced it would route secure|a testing policy, reported
sts-testing|answer: NOTFOUND|and not enforced
plain|answer: NOTFOUND|nothing published, unlisted: not routed
sts-badcert|MTA-STS: policy fetch: TLS handshake with mta-sts.sts-badcert.$Z: |a policy host whose certificate names others: the fetch fails
sts-badcert|answer: TEMP |... TEMP (on_lookup_failure = temp), never a route without the policy
sts-cut|MTA-STS: policy fetch: .*no Content-Length and ended without TLS close_notify|a body ended by a bare FIN, no length: refused, never read as the whole policy
sts-cut|answer: TEMP |... TEMP, not a route with a name check cut short
ROWS
# the tls-secure transports' TLS policy table
out=$(postmap -c "$CONF" -q "hosted.$Z" "socketmap:unix:$Q/private/tlsmap:tlspolicy" 2>&1)
is "$out" "secure match=mx.provider.$Z servername=hostname" "tlspolicy table: the MX host the policy's *.provider matches, as Postfix's match="
out=$(postmap -c "$CONF" -q "deep.$Z" "socketmap:unix:$Q/private/tlsmap:tlspolicy" 2>&1)
is "$out" "secure match=no-mx-host-matches-the-mta-sts-policy.invalid servername=hostname" \
    "tlspolicy table: an MX host two labels under *.provider is not the policy's (RFC 8461 4.1)"
out=$(postmap -c "$CONF" -q "plain.$Z" "socketmap:unix:$Q/private/tlsmap:tlspolicy" 2>&1); rc=$?
is "$rc:$out" "1:" "tlspolicy table: nothing for a domain without a policy"

send() {  # recipient [extra header line]
    printf 'Subject: %s\n%s\nhello\n' "$1" "${2:+$2
}" | sendmail -C "$CONF" -f alice@sender.test "$1"
}
for d in dane-none dane-ok dane-bogus hosted sts-wrong sts-testing plain cname deep; do send "bob@$d.$Z"; done
# a sender's "TLS-Required: no" (RFC 8689, honoured by Postfix 3.10) does not
# lower a route tlspolicyd gives: listed dane, and enforced MTA-STS
for d in dane-none sts-wrong; do send "carla@$d.$Z" "TLS-Required: no"; done

ok "dane-ok: delivered" wait_for 40 log_has "to=<bob@dane-ok.$Z>.*status=sent"
like "$(grep 'to=<bob@dane-ok' "$MAILLOG" | grep status=sent)" "postfix/tls-dane-only/smtp" "... through tls-dane-only"
ok "... Postfix verified the sink by DANE" log_has "Verified TLS connection established to mx.dane-ok.$Z"
ok "... the TLSA record matched (the sink's key)" grep -q "sink=daneok .*to=<bob@dane-ok.$Z>.*tls=TLS" "$SINKLOG"
tlsa_policy() {  # domain -> its TLS-RPT policy so far: type, strings, mx-host
    "$TLSPOLICYD" --config tlspolicyd.conf --tlsrpt-preview "$1" 2>/dev/null | python3 -c '
import json, sys
p = json.load(sys.stdin)["policies"][0]
print(p["policy"]["policy-type"], ",".join(p["policy"].get("policy-string", [])).lower(),
      p["summary"]["total-successful-session-count"])'
}
tlsa_counted() { [ -n "$(tlsa_policy "dane-ok.$Z")" ]; }
ok "... its TLS session is in dane-ok's TLS-RPT report" wait_for 30 tlsa_counted
is "$(tlsa_policy "dane-ok.$Z")" "tlsa 3 1 1 $(echo "$tlsa" | tr A-F a-f) 1" \
    "... under the tlsa policy, its policy-string the TLSA record validated (RFC 8460 4.4)"

ok "cname (MX host a CNAME, TLSA at its expansion): delivered" wait_for 40 log_has "to=<bob@cname.$Z>.*status=sent"
like "$(grep 'to=<bob@cname' "$MAILLOG" | grep status=sent)" "postfix/tls-dane-only/smtp" "... through tls-dane-only"
ok "... Postfix verified it by DANE too" log_has "Verified TLS connection established to alias.cname.$Z"

ok "hosted (secure, MX under the provider's name): delivered" wait_for 40 log_has "to=<bob@hosted.$Z>.*status=sent"
like "$(grep "Verified TLS connection established to mx.provider.$Z" "$MAILLOG")" "Verified TLS" "... verified against the MTA-STS patterns"

ok "deep (MX a.b.provider, policy *.provider, a certificate for a.b.provider): deferred, not the policy's MX" \
    wait_for 40 log_has "to=<bob@deep.$Z>.*status=deferred (Server certificate not verified"
ok "sts-wrong (unlisted, enforced MTA-STS, wrong-name certificate): deferred" \
    wait_for 40 log_has "to=<bob@sts-wrong.$Z>.*status=deferred (Server certificate not verified"
ok "dane-none (listed dane, no TLSA, no STARTTLS): deferred, TLS required" \
    wait_for 40 log_has "to=<bob@dane-none.$Z>.*status=deferred (TLS is required, but was not offered"
ok "dane-bogus (DNS validation failure): deferred" \
    wait_for 40 log_has "to=<bob@dane-bogus.$Z>.*status=deferred"
like "$(grep "to=<bob@dane-bogus.$Z>" "$MAILLOG" | grep status=)" "TLS policy lookup failed|Temporary lookup failure|address resolver failure|transport" "... because tlspolicyd answered TEMP"
ok "sts-testing (testing policy, wrong-name certificate): delivered, not enforced" \
    wait_for 40 log_has "to=<bob@sts-testing.$Z>.*status=sent"
wait_for 10 grep -qE -- "report: socketmap query=.*sources=.*MTA-STS testing: enforced it would route secure" "$DLOG"  # the writer thread writes it within ms
like "$(grep "bob@sts-testing.$Z" "$DLOG" | grep -v explain | head -1)" "report: socketmap query=.*sources=.*MTA-STS testing: enforced it would route secure" "... and the would-be route logged"
ok "plain (unlisted, nothing published): delivered by Postfix's default" wait_for 40 log_has "to=<bob@plain.$Z>.*status=sent"
ok "dane-none with TLS-Required: no: deferred, TLS required" \
    wait_for 40 log_has "to=<carla@dane-none.$Z>.*status=deferred (TLS is required, but was not offered"
ok "sts-wrong with TLS-Required: no: deferred, certificate not verified" \
    wait_for 40 log_has "to=<carla@sts-wrong.$Z>.*status=deferred (Server certificate not verified"
is "$(grep -c -E "to=<(bob|carla)@(dane-none|dane-bogus|sts-wrong|deep)" "$SINKLOG")" 0 "no sink got a message it must not get"
wait_for 10 grep -qE -- "reason=\"DANE: TLSA records published\"" "$DLOG"  # the writer thread writes it within ms
like "$(grep "route: .*bob@dane-ok.$Z" "$DLOG" | head -1)" "reason=\"DANE: TLSA records published\"" "the route is logged with its reason"

# --- counted ------------------------------------------------------------------------------
metrics=$(curl -s --unix-socket "$TMP/metrics.sock" http://tlspolicyd/metrics)
like "$metrics" 'tlspolicyd_dane_lookups_total\{result="found"\} [1-9]' "metrics: DANE lookups that found TLSA records"
like "$metrics" 'tlspolicyd_dane_lookups_total\{result="failed"\} [1-9]' "metrics: the bogus one counted as failed"
is "$(printf '%s\n' "$metrics" | grep '^tlspolicyd_mta_sts_fetch' | tr '\n' ' ')" \
    "tlspolicyd_mta_sts_fetches_total 6 tlspolicyd_mta_sts_fetch_failures_total 2 tlspolicyd_mta_sts_fetches_deferred_total 0 " \
    "metrics: six policies fetched (once each), the bad certificate's and the cut one failed, none put off"
like "$metrics" 'tlspolicyd_route_fallbacks_total\{cause="failed",choice="temp"\} [1-9]' "metrics: TEMP answers for the failed lookup"

# --- MTA-STS refresh (RFC 8461 3.3): a new policy file alone is not fetched; a new id is ----
metric() { curl -s --unix-socket "$TMP/metrics.sock" http://tlspolicyd/metrics | awk -v m="$1" '$1 == m {print $2}'; }
like "$(explain "bob@sts-rotate.$Z")" "MTA-STS: testing, mx old.rotate.$Z, max_age 86400, id 1 fetched" "rotate: policy id 1 fetched"
fetches=$(metric tlspolicyd_mta_sts_fetches_total)
found=$(metric 'tlspolicyd_mta_sts_lookups_total{result="found"}')
policy "sts-rotate.$Z" "version: STSv1\nmode: testing\nmx: new.rotate.$Z\nmax_age: 86400\n"
txt_rechecked() { explain "bob@sts-rotate.$Z" >/dev/null; [ "$(metric 'tlspolicyd_mta_sts_lookups_total{result="found"}')" -gt "$found" ]; }
ok "rotate: the TXT record is looked at again after its TTL (5 s)" wait_for 30 txt_rechecked
like "$(explain "bob@sts-rotate.$Z")" "mx old.rotate.$Z, max_age 86400, (cached policy id 1 kept|id 1 fetched)" "... same id: the cached policy stays, the changed file is not fetched"
is "$(metric tlspolicyd_mta_sts_fetches_total)" "$fetches" "... no fetch"
sed -i "s/_mta-sts.sts-rotate 5 IN TXT \"v=STSv1; id=1\"/_mta-sts.sts-rotate 5 IN TXT \"v=STSv1; id=2\"/" zone.body
ok "rotate: the zone re-signed with id=2" dnslab_resign "$TMP/lab" "$TMP/zone.body"
new_policy() { explain "bob@sts-rotate.$Z" | grep -q "mx new.rotate.$Z, max_age 86400, id 2 fetched"; }
ok "... the new id makes the daemon fetch the new policy" wait_for 30 new_policy

# --- tlsprobe: the same facts, checked from outside -------------------------------------
probe() {  # level domain
    MAIL_CONFIG=$TMP/no-postfix "$TLSPROBE" --resolver "$DNSLAB_RESOLVER" --trust-anchor "$TMP/lab/ta.ds" --port 2526 --CAfile "$TMP/ca.crt" \
        --timeout 5 --level "$1" "$2" 2>&1
}
out=$(probe dane-only "dane-ok.$Z"); rc=$?
is "$rc" 0 "tlsprobe --level dane-only dane-ok: passes"
like "$out" "DANE TLSA +1 usable record, DNSSEC secure; TLSA 3 1 1 matches the certificate" "... the TLSA record matches the served certificate"
out=$(probe dane-only "cname.$Z"); rc=$?
is "$rc" 0 "tlsprobe --level dane-only cname: passes (TLSA at the MX host's CNAME expansion)"
like "$out" "TLSA 3 1 1 matches the certificate" "... the expansion's TLSA record matches"
out=$(probe dane "dane-none.$Z"); rc=$?
is "$rc" 1 "tlsprobe --level dane dane-none: fails (no TLSA, and no STARTTLS for encrypt)"
like "$out" "dane +FAIL \(no TLSA records: at least encrypt: STARTTLS not offered\)" "... and says why"
out=$(probe dane-only "dane-bogus.$Z"); rc=$?
is "$rc" 1 "tlsprobe --level dane-only dane-bogus: fails"
like "$out" "TLSA lookup bogus" "... the validation failure named"
out=$(probe mta-sts "hosted.$Z"); rc=$?
is "$rc" 0 "tlsprobe --level mta-sts hosted: passes (MX under the provider's name, in the patterns)"
like "$out" "MTA-STS +enforce, mx \*\.provider\.$Z, max_age 86400, id 20261125T1" "... the policy shown"
out=$(probe mta-sts "sts-wrong.$Z"); rc=$?
is "$rc" 1 "tlsprobe --level mta-sts sts-wrong: fails"
like "$out" "mta-sts +FAIL \(policy enforce: certificate does not name the MX host\)" "... the certificate names another host"

# where tlsprobe connects: MX by preference, the domain itself without MX, nothing for a null MX
out=$(probe encrypt "two.$Z"); rc=$?
like "$out" "server mx.two.$Z \(127.0.0.13:2526\)" "tlsprobe: the lowest preference first (mx.two, not backup.two)"
unlike "$out" "server backup.two" "... and it answered, so no other"
out=$(probe encrypt "nomx.$Z")
like "$out" "server nomx.$Z \(127.0.0.13:2526\)" "tlsprobe: no MX records, the domain's own address"
out=$(probe encrypt "nullmx.$Z"); rc=$?
is "$rc:$out" "2:nullmx.$Z: null MX: the domain accepts no mail" "tlsprobe: a null MX, nothing to test (exit 2)"
out=$(probe encrypt "nosuch.$Z"); rc=$?
is "$rc:$out" "2:nosuch.$Z: no such domain" "tlsprobe: a domain that does not exist (exit 2)"

# --- a DNS failure never yields plaintext: the resolver goes away ----------------------------
dnslab_stop
out=$(explain "carol@dane-none.$Z")
like "$out" "answer: OK tls-encrypt:" "resolver down: the cached answer still holds (encrypt)"
out=$(explain "carol@dane-late.$Z")
like "$out" "answer: (TEMP |OK tls-dane-only:)" "resolver down, a dane domain never looked up: TEMP or dane-only, never a plaintext-capable route"

# --- MTA-STS policies survive a restart (RFC 8461 5.1), with DNS and HTTPS gone ----------------
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null
kill "$HTTPSD"; wait "$HTTPSD" 2>/dev/null
like "$(grep -c '^\[mta-sts ' "$TMP/mta-sts.state")" "^5$" "at exit the five valid policies are saved (the bad certificate's never was)"
"$TLSPOLICYD" --config tlspolicyd.conf 2>>"$DLOG" &
DAEMON=$!
PIDS+=($!)
ok "restarted" wait_for 10 test -S "$Q/private/tlsmap"
ok "... it loaded them" wait_for 10 grep -q "MTA-STS: 5 cached policies loaded from $TMP/mta-sts.state" "$DLOG"
out=$(postmap -c "$CONF" -q "hosted.$Z" "socketmap:unix:$Q/private/tlsmap:tlspolicy" 2>&1)
is "$out" "secure match=mx.provider.$Z servername=hostname" "... and enforce hosted's policy at once, with no resolver and no policy server (its MX hosts saved with it)"
done_testing

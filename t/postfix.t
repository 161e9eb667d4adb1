#!/bin/bash
# postfix.t - end to end in a real, private Postfix instance (Debian's
# postfix, its own config/queue/data directories in a temp dir, loopback
# only), with the shipped snippets in postfix/ used verbatim, real SMTP
# (swaks) and real TLS (a CA made here, recording sinks in t/tools).
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
: "${TLSPOLICYD:?set TLSPOLICYD}"
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP a private Postfix instance needs root"; exit 0; fi
for tool in postfix swaks openssl perl; do
    command -v $tool >/dev/null || { echo "Bail out! $tool missing (scripts/deps.sh test installs it)"; exit 1; }
done

chmod 755 "$TMP"                     # postfix must traverse it
PF=$TMP/pf CONF=$TMP/pf/etc Q=$TMP/pf/queue DATA=$TMP/pf/data
LIST=$TMP/tls.list SINKLOG=$TMP/sinks.log DLOG=$TMP/tlspolicyd.log
MAILLOG=$TMP/pf/log/maillog
PIDS=()

cleanup() {
    if [ -f "$Q/pid/master.pid" ]; then
        local master; master=$(tr -d ' ' < "$Q/pid/master.pid")
        postfix -c "$CONF" stop >/dev/null 2>&1
        for _ in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$master" 2>/dev/null
    fi
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# Poll (bounded) until CMD succeeds.
wait_for() { local secs=$1; shift; for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
sink_has() { grep -q -- "$1" "$SINKLOG" 2>/dev/null; }
log_has() { grep -q -- "$1" "$MAILLOG" 2>/dev/null; }

# --- certificates: a test CA, server certificates signed by it -----------------
cd "$TMP" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tlspolicyd test CA" \
    -keyout ca.key -out ca.crt >/dev/null 2>&1
make_cert() {  # name cn
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr" >/dev/null 2>&1
    printf 'subjectAltName=DNS:%s\n' "$2" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.crt" >/dev/null 2>&1
}
make_cert good good.test
make_cert wrong other.test
make_cert legacy legacy.test
make_cert mx mx.postfix.test
chmod 644 ./*.key ./*.crt

# --- sinks on distinct loopback addresses, port 2526 ----------------------------
start_sink() {  # name address [options]
    local name=$1 addr=$2; shift 2
    perl "$SRC/t/tools/smtpsink.pl" --name "$name" --listen "$addr:2526" --log "$SINKLOG" \
        --hostname "sink-$name.test" "$@" > "$TMP/sink-$name.out" 2>&1 &
    PIDS+=($!)
    wait_for 10 grep -q ready "$TMP/sink-$name.out" || echo "# sink $name did not start"
}
start_sink plain 127.0.0.2
start_sink good 127.0.0.3 --cert good.crt --key good.key
start_sink wrong 127.0.0.4 --cert wrong.crt --key wrong.key
start_sink legacy 127.0.0.5 --cert legacy.crt --key legacy.key --max-tls 1.1

# --- the private Postfix instance -------------------------------------------------
mkdir -p "$CONF" "$Q/etc" "$DATA" "$PF/log"
chown root:root "$Q"; chmod 755 "$Q"
chown postfix:postfix "$DATA"; chmod 700 "$DATA"
# Chrooted smtp clients resolve next-hops from the queue's own hosts file.
cat > "$Q/etc/hosts" <<HOSTS
127.0.0.1 localhost
127.0.0.2 plain.test unlisted.test local.test plaindefer.test plainbounce.test late.test
127.0.0.3 good.test
127.0.0.4 wrongname.test
127.0.0.5 legacy.test
HOSTS
echo "hosts: files" > "$Q/etc/nsswitch.conf"

cat > "$CONF/main.cf" <<MAIN
# --- test instance: private directories, loopback, no DNS ---
compatibility_level = 3.6
queue_directory = $Q
data_directory = $DATA
maillog_file = $MAILLOG
maillog_file_prefixes = $TMP
myhostname = mx.postfix.test
mydomain = postfix.test
mydestination =
relay_domains = local.test
local_recipient_maps =
alias_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tcp_port = 2526
smtp_connect_timeout = 5s
smtp_tls_CAfile = $TMP/ca.crt
smtp_tls_security_level = may
smtpd_tls_cert_file = $TMP/mx.crt
smtpd_tls_key_file = $TMP/mx.key
smtpd_tls_security_level = may
smtpd_tls_protocols = >=TLSv1
tls_medium_cipherlist = DEFAULT:@SECLEVEL=0
delay_warning_time = 0
MAIN
echo "# --- postfix/main.cf, as shipped ---" >> "$CONF/main.cf"
cat "$SRC/postfix/main.cf" >> "$CONF/main.cf"

cat > "$CONF/master.cf" <<MASTER
127.0.0.1:2525 inet n - n - - smtpd
127.0.0.1:2587 inet n - n - - smtpd
  -o smtpd_policy_service_policy_context=outbound
127.0.0.1:2588 inet n - n - - smtpd
  -o tlspolicyd_service=inet:127.0.0.1:10041
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - y - - smtp
relay     unix  - - y - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
MASTER
echo "# --- postfix/master.cf, as shipped ---" >> "$CONF/master.cf"
cat "$SRC/postfix/master.cf" >> "$CONF/master.cf"
cp "$SRC/postfix/tlspolicyd_bounce" "$CONF/tlspolicyd_bounce"

out=$(postfix -c "$CONF" check 2>&1); is "$?" 0 "postfix check accepts the shipped snippets"
[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
postfix -c "$CONF" start >/dev/null 2>&1
ok "private Postfix is listening" wait_for 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/2525'

# --- the list and the daemon (unix socket in private/, and TCP) -------------------
cat > "$LIST" <<'TLSLIST'
bank.test               encrypt direction=inbound
.parent.test            encrypt direction=inbound
exempt.parent.test      none
boss@addr.test          encrypt direction=inbound
watch.test              encrypt direction=inbound mode=report
good.test               verify  direction=outbound
plaindefer.test         encrypt direction=outbound on_failure=defer
plainbounce.test        encrypt direction=outbound on_failure=bounce
wrongname.test          verify  direction=outbound
legacy.test             encrypt direction=outbound
TLSLIST
"$TLSMAP" "$LIST"
start_daemon() {
    "$TLSPOLICYD" --list "$LIST" --listen "unix:$Q/private/tlspolicy" --listen inet:127.0.0.1:10041 2>>"$DLOG" &
    DAEMON=$!
    PIDS+=($DAEMON)
    wait_for 10 test -S "$Q/private/tlspolicy"
}
ok "tlspolicyd serves the instance" start_daemon

send() {  # port from to [swaks options...]
    local port=$1 from=$2 to=$3; shift 3
    swaks --server 127.0.0.1:"$port" --helo client.test --from "$from" --to "$to" \
        --header "Subject: $SUBJECT" --timeout 20 "$@" 2>&1
}
delivered() {  # sink to subject -> the sink's line
    wait_for 30 sink_has "sink=$1 .*to=.*<$2>.*subject=$3" && grep -- "sink=$1 .*to=.*<$2>.*subject=$3" "$SINKLOG" | tail -1
}

# --- inbound ----------------------------------------------------------------------
SUBJECT=in-plain; out=$(send 2525 a@bank.test rcpt@local.test)
like "$out" "<[*~]\* *550 5\.7\.1 <rcpt@local.test>: Recipient address rejected: TLS required" "inbound plaintext from a listed domain: 550 5.7.1"
SUBJECT=in-tls13; out=$(send 2525 a@bank.test rcpt@local.test --tls --tls-protocol tlsv1_3)
like "$out" "<[-~] *250 .*queued as" "inbound TLS 1.3 from a listed domain: accepted"
like "$(delivered plain rcpt@local.test in-tls13)" "from=<a@bank.test>" "... and delivered"
SUBJECT=in-tls11; out=$(send 2525 a@bank.test rcpt@local.test --tls --tls-protocol tlsv1_1 --tls-cipher 'DEFAULT:@SECLEVEL=0')
like "$out" "<[*~]\* *550 5\.7\.1" "inbound TLS 1.1 from a listed domain: 550"
like "$(grep 'sender=<a@bank.test>' "$DLOG" | grep 'TLSv1.1 below TLSv1.2' | head -1)" "reject: .*reason=\"listed sender without required TLS \(TLSv1.1 below TLSv1.2\)\"" "... logged with the reason"
SUBJECT=in-unlisted; out=$(send 2525 a@unlisted.test rcpt@local.test)
like "$out" "<[-~] *250 .*queued as" "inbound plaintext from an unlisted domain: accepted"
like "$(delivered plain rcpt@local.test in-unlisted)" "from=<a@unlisted.test>" "... and delivered"
SUBJECT=in-parent; out=$(send 2525 a@mx.parent.test rcpt@local.test)
like "$out" "<[*~]\* *550 5\.7\.1" "inbound plaintext from a .parent subdomain: 550"
SUBJECT=in-exempt; out=$(send 2525 a@exempt.parent.test rcpt@local.test)
like "$out" "<[-~] *250 .*queued as" "inbound plaintext from an exempt subdomain: accepted"
SUBJECT=in-addr; out=$(send 2525 boss@addr.test rcpt@local.test)
like "$out" "<[*~]\* *550 5\.7\.1" "inbound plaintext from a listed address: 550"
SUBJECT=in-addr-other; out=$(send 2525 other@addr.test rcpt@local.test)
like "$out" "<[-~] *250 .*queued as" "inbound plaintext from another address of that domain: accepted"
SUBJECT=in-report; out=$(send 2525 a@watch.test rcpt@local.test)
like "$out" "<[-~] *250 .*queued as" "report mode: accepted"
like "$(grep 'sender=<a@watch.test>' "$DLOG")" "report: .*would have been: reject" "report mode: the would-be reject is logged"
SUBJECT=in-tcp; out=$(send 2588 a@bank.test rcpt@local.test)
like "$out" "<[*~]\* *550 5\.7\.1" "policy over TCP: 550 as well"

# --- outbound ---------------------------------------------------------------------
SUBJECT=out-good; out=$(send 2587 alice@local.test bob@good.test)
like "$out" "<[-~] *250 .*queued as" "outbound to a verify domain: accepted"
line=$(delivered good bob@good.test out-good)
like "$line" "tls=TLSv1[._][23] " "... delivered to its sink over TLS 1.2 or better"
ok "... through the tls-verify transport" wait_for 10 log_has "postfix/tls-verify/smtp\[[0-9]*\]: .*to=<bob@good.test>.*status=sent"
like "$(grep 'recipient=<bob@good.test>' "$DLOG")" "filter: .*action=\"FILTER tls-verify:\"" "... and tlspolicyd logged the FILTER"

SUBJECT=out-unlisted; out=$(send 2587 alice@local.test bob@unlisted.test)
like "$(delivered plain bob@unlisted.test out-unlisted)" "tls=none " "outbound unlisted: delivered in plaintext"

SUBJECT=out-defer; out=$(send 2587 alice@local.test bob@plaindefer.test)
ok "listed (defer) to a plaintext sink: deferred" wait_for 30 log_has "to=<bob@plaindefer.test>.*status=deferred (TLS is required, but was not offered"
like "$(postqueue -c "$CONF" -p)" "bob@plaindefer.test" "... and still in the queue"
unlike "$(cat "$SINKLOG")" "to=<bob@plaindefer.test>" "... never delivered in plaintext"

SUBJECT=out-bounce; out=$(send 2587 alice@local.test bob@plainbounce.test)
ok "listed (bounce) to a plaintext sink: bounced after one attempt" wait_for 30 log_has "to=<bob@plainbounce.test>.*dsn=5\.7\.[0-9]*, status=bounced (TLS is required, but was not offered"
ndr=$(delivered plain alice@local.test "Undelivered Mail")
like "$ndr" "from=<> to=<alice@local.test>" "... with an NDR to the sender"
like "$ndr" "TLS is required, but was not offered" "... that says why"
is "$(grep -c 'to=<bob@plainbounce.test>.*status=' "$MAILLOG")" 1 "... one delivery attempt only"

SUBJECT=out-wrongname; out=$(send 2587 alice@local.test bob@wrongname.test)
ok "verify with a wrong-name certificate: not delivered" wait_for 30 log_has "to=<bob@wrongname.test>.*status=deferred (Server certificate not verified"
SUBJECT=out-legacy; out=$(send 2587 alice@local.test bob@legacy.test)
ok "encrypt to a TLS 1.0/1.1-only sink: not delivered" wait_for 30 log_has "to=<bob@legacy.test>.*status=deferred (Cannot start TLS: handshake failure"
unlike "$(cat "$SINKLOG")" "to=<bob@(wrongname|legacy).test>" "... neither reached its sink"

# One message, a listed and an unlisted recipient: the second gets 452 and is
# sent again in its own transaction, as an MTA does; each is delivered right.
SUBJECT=out-mixed; out=$(send 2587 alice@local.test carol@good.test,dave@unlisted.test)
like "$out" "<\*\* *452 4\.5\.3" "mixed recipients: the second gets 452 4.5.3"
SUBJECT=out-mixed; out=$(send 2587 alice@local.test dave@unlisted.test)
like "$(delivered good carol@good.test out-mixed)" "tls=TLSv1[._][23] " "mixed: the listed one over verified TLS"
like "$(delivered plain dave@unlisted.test out-mixed)" "tls=none " "mixed: the unlisted one, resent, in plaintext"

# A list change while Postfix runs decides the next message, no restart.
SUBJECT=late-1; out=$(send 2587 alice@local.test eve@late.test)
like "$(delivered plain eve@late.test late-1)" "tls=none " "before tlsmap -i: delivered in plaintext"
printf 'late.test encrypt direction=outbound on_failure=bounce\n' | "$TLSMAP" -i "$LIST"
sleep 0.1
SUBJECT=late-2; out=$(send 2587 alice@local.test frank@late.test)
ok "after tlsmap -i: the next message is held to TLS (bounced)" wait_for 30 log_has "to=<frank@late.test>.*status=bounced"

# --- per-recipient routing: the socketmap service in transport_maps -----------------
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null
cat > "$TMP/tlspolicyd.conf" <<CONF
[tlspolicyd]
outbound_routing = transport_maps
socketmap_listen = unix:$Q/private/tlsmap
CONF
start_daemon_sm() {
    "$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" --list "$LIST" --listen "unix:$Q/private/tlspolicy" \
        --listen inet:127.0.0.1:10041 2>>"$DLOG" &
    DAEMON=$!
    PIDS+=($DAEMON)
    wait_for 10 test -S "$Q/private/tlsmap"
}
ok "tlspolicyd serves the socketmap too" start_daemon_sm
echo "# --- postfix/main.cf-transport_maps, as shipped ---" >> "$CONF/main.cf"
cat "$SRC/postfix/main.cf-transport_maps" >> "$CONF/main.cf"
postfix -c "$CONF" reload >/dev/null 2>&1; sleep 1

SUBJECT=sm-sendmail
printf 'Subject: %s\n\nhello\n' "$SUBJECT" | sendmail -C "$CONF" -f alice@local.test grace@good.test heidi@unlisted.test
like "$(delivered good grace@good.test sm-sendmail)" "tls=TLSv1[._][23] " "sendmail, listed recipient: over verified TLS"
like "$(delivered plain heidi@unlisted.test sm-sendmail)" "tls=none " "sendmail, unlisted recipient of the same message: plaintext"
ok "... the listed one through tls-verify" wait_for 10 log_has "postfix/tls-verify/smtp\[[0-9]*\]: .*to=<grace@good.test>.*status=sent"

SUBJECT=sm-smtp; out=$(send 2587 alice@local.test ivan@good.test,judy@unlisted.test)
unlike "$out" "452" "SMTP with mixed recipients: no 452 with transport_maps"
like "$(delivered good ivan@good.test sm-smtp)" "tls=TLSv1[._][23] " "SMTP, listed recipient: over verified TLS"
like "$(delivered plain judy@unlisted.test sm-smtp)" "tls=none " "SMTP, unlisted recipient of the same message: plaintext"

# postmap -q through the socketmap answers what tlsmap -q says.
for key in bob@good.test x@mx.unlisted.test bob@plainbounce.test bob@PLAINDEFER.test late.test a@bank.test; do
    got=$(postmap -c "$CONF" -q "$key" "socketmap:unix:$Q/private/tlsmap:transport"); got_rc=$?
    want=$("$TLSMAP" -q "$key" -o outbound "$LIST" | awk -F'\t' '{ split($2, w, " "); t = "tls-" w[1];
        if ($2 ~ /on_failure=bounce/) t = t "-bounce"; print t ":" }')
    is "$got_rc:$got" "$([ -n "$want" ] && echo "0:$want" || echo "1:")" "postmap -q $key socketmap: = tlsmap -q"
done

# --- tlspolicyd stopped: Postfix applies default_action (fail closed) -------------
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null
SUBJECT=down; out=$(send 2525 a@unlisted.test rcpt@local.test)
like "$out" "<\*\* *450 4\.[0-9]\.[0-9]" "daemon down: DEFER_IF_PERMIT answers 450"

done_testing

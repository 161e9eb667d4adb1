#!/bin/bash
# postfix.t - end to end in a real, private Postfix instance (Debian's
# postfix, its own config/queue/data directories in a temp dir, loopback
# only), with the shipped snippets in postfix/ used verbatim, real SMTP
# (swaks) and real TLS (a CA made here, recording sinks in t/tools).
#
# Outbound, a matrix: every way mail enters (a submission service shaped
# like Debian's stock master.cf, relaying from mynetworks on port 25, the
# sendmail command) x every site shape (plain, an amavis-style
# content_filter that re-injects through a second smtpd, a relayhost, a
# site smtp_tls_policy_maps answering "may") x a listed encrypt recipient
# whose server has no STARTTLS, a listed verify recipient with a good
# certificate, an unlisted recipient, and one message with all three.
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
: "${TLSPOLICYD:?set TLSPOLICYD}"
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP a private Postfix instance needs root"; exit 0; fi
for tool in postfix swaks openssl perl; do
    command -v $tool >/dev/null || { echo "Bail out! $tool missing (scripts/deps.sh test installs it)"; exit 1; }
done

. "$SRC/t/support/postfix.sh"
LIST=$TMP/tls.list SINKLOG=$TMP/sinks.log DLOG=$TMP/tlspolicyd.log

sink_has() { grep -q -- "$1" "$SINKLOG" 2>/dev/null; }

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
make_cert relay relay.test
# client certificates: signed by the test CA for two senders' servers, and
# one nobody trusts
make_cert vclient mx.vbank.test
make_cert sclient mx.sbank.test
make_cert oclient mx.other.test
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.vbank.test" \
    -keyout selfclient.key -out selfclient.crt >/dev/null 2>&1
chmod 644 ./*.key ./*.crt

# --- sinks on distinct loopback addresses, port 2526 ----------------------------
start_sink plain 127.0.0.2
start_sink good 127.0.0.3 --cert good.crt --key good.key
start_sink wrong 127.0.0.4 --cert wrong.crt --key wrong.key
start_sink legacy 127.0.0.5 --cert legacy.crt --key legacy.key --max-tls 1.1
start_sink relay 127.0.0.6 --cert relay.crt --key relay.key
# the content filter: records each message, re-injects it on port 10026
perl "$SRC/t/tools/smtpsink.pl" --name filter --listen 127.0.0.1:10025 --log "$SINKLOG" \
    --hostname filter.test --forward 127.0.0.1:10026 > "$TMP/sink-filter.out" 2>&1 &
PIDS+=($!)
wait_for 10 grep -q ready "$TMP/sink-filter.out" || echo "# content filter did not start"

# --- the private Postfix instance -------------------------------------------------
pf_dirs
# Chrooted smtp clients resolve next-hops from the queue's own hosts file.
cat > "$Q/etc/hosts" <<HOSTS
127.0.0.1 localhost
127.0.0.2 plain.test unlisted.test local.test plaindefer.test plainbounce.test late.test enc.test daneh.test hdrenc.test sitereq.test
127.0.0.3 good.test
127.0.0.4 wrongname.test hdrver.test
127.0.0.5 legacy.test legacybounce.test
127.0.0.6 relay.test
HOSTS
echo "hosts: files" > "$Q/etc/nsswitch.conf"
mkdir -p "$PF/vmail"; chown 65534:65534 "$PF/vmail"

{ pf_base_main
  cat <<MAIN
# --- this test's own ---
myhostname = mx.postfix.test
mydomain = postfix.test
relay_domains = local.test
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_tls_cert_file = $TMP/mx.crt
smtpd_tls_key_file = $TMP/mx.key
smtpd_tls_security_level = may
smtpd_tls_protocols = >=TLSv1
tls_medium_cipherlist = DEFAULT:@SECLEVEL=0
# a domain this Postfix delivers itself (virtual(8) to a maildir)
virtual_mailbox_domains = ownsite.test
virtual_mailbox_base = $PF/vmail
virtual_mailbox_maps = texthash:$CONF/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
MAIN
} > "$CONF/main.cf"
echo "# --- postfix/main.cf, as shipped ---" >> "$CONF/main.cf"
cat "$SRC/postfix/main.cf" >> "$CONF/main.cf"
# the site's own CAs: a hashed directory with the test CA in it (the one
# line it changes; the shipped line names /etc/ssl/certs)
mkdir -p "$TMP/cas"; cp "$TMP/ca.crt" "$TMP/cas/"; openssl rehash "$TMP/cas"
postconf -c "$CONF" -e "smtpd_tls_CApath = $TMP/cas"

# 2525 is port 25; 2587 a submission service shaped like Debian's stock
# master.cf (its smtpd_recipient_restrictions= override; SASL replaced by
# mynetworks, there is no SASL server here) plus tlspolicyd(8)'s
# policy_context line; 2589 a submission service that keeps the shipped
# restrictions (for the FILTER variant); 10026 an amavis-style
# re-injection listener.
cat > "$CONF/master.cf" <<MASTER
127.0.0.1:2525 inet n - n - - smtpd
127.0.0.1:2587 inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_recipient_restrictions=
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o milter_macro_daemon_name=ORIGINATING
  -o smtpd_policy_service_policy_context=outbound
127.0.0.1:2588 inet n - n - - smtpd
  -o tlspolicyd_service=inet:127.0.0.1:10041
127.0.0.1:2589 inet n - n - - smtpd
  -o smtpd_policy_service_policy_context=outbound
scan unix - - n - 4 smtp
  -o syslog_name=postfix/scan
  -o smtp_send_xforward_command=yes
  -o smtp_tls_security_level=none
127.0.0.1:10026 inet n - n - - smtpd
  -o syslog_name=postfix/reinject
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
MASTER
pf_base_services >> "$CONF/master.cf"
echo "virtual   unix  -       n       n       -       -       virtual" >> "$CONF/master.cf"
pf_install_snippets
printf 'postmaster@ownsite.test ownsite/postmaster/\n' > "$CONF/vmailbox"

out=$(postfix -c "$CONF" check 2>&1); is "$?" 0 "postfix check accepts the shipped snippets"
[ -n "$out" ] && printf '%s\n' "$out" | sort | uniq -c | sed 's/^ */# /'
postfix -c "$CONF" start >/dev/null 2>&1
ok "private Postfix is listening" wait_for 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/2525'

# --- the list and the daemon (unix socket in private/, and TCP) -------------------
cat > "$LIST" <<'TLSLIST'
bank.test               encrypt direction=inbound
.parent.test            encrypt direction=inbound
exempt.parent.test      none
boss@addr.test          encrypt direction=inbound
watch.test              encrypt direction=inbound mode=report
vbank.test              verify  direction=inbound
sbank.test              secure  direction=inbound
"q"@qs.test             encrypt direction=inbound
a@[127.0.0.9]           encrypt direction=inbound
good.test               verify  direction=outbound
enc.test                encrypt direction=outbound
plaindefer.test         encrypt direction=outbound on_failure=defer
plainbounce.test        encrypt direction=outbound on_failure=bounce
wrongname.test          verify  direction=outbound
legacy.test             encrypt direction=outbound
legacybounce.test       encrypt direction=outbound on_failure=bounce
daneh.test              dane    direction=outbound
hdrenc.test             encrypt direction=outbound
hdrver.test             verify  direction=outbound
second.test             encrypt direction=outbound
TLSLIST
"$TLSMAP" "$LIST"
# the installed tlspolicyd.conf's shape: both sockets the snippets name
write_daemon_conf() {  # [extra option lines]
    { echo "[tlspolicyd]"
      echo "list = $LIST"
      echo "listen = unix:$Q/private/tlspolicy;inet:127.0.0.1:10041;"
      echo "socketmap_listen = unix:$Q/private/tlsmap;"
      echo "dns_resolver = 127.0.0.1@9"  # never the machine's: listed domains' DANE/MTA-STS lookups fail at once
      echo "postfix_config_directory = $CONF"  # the instance served: its relayhost and local domains
      echo "user = root"  # the test's own account (t/supervise.t drops to another)
      [ -n "${DAEMON_VERBOSE:-}" ] && echo "verbose = true"
      [ $# -gt 0 ] && printf '%s\n' "$@"; } > "$TMP/tlspolicyd.conf"
}
start_daemon() {
    "$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" 2>>"$DLOG" &
    DAEMON=$!
    PIDS+=($DAEMON)
    wait_for 10 test -S "$Q/private/tlspolicy" -a -S "$Q/private/tlsmap"
}
stop_daemon() {
    kill "$DAEMON"; wait "$DAEMON" 2>/dev/null
    rm -f "$Q/private/tlspolicy" "$Q/private/tlsmap"
}
# SIGHUP, then wait for the daemon to say it has the new configuration
count_above() { [ "$(grep -c -- "$1" "$2")" -gt "$3" ]; }  # pattern file n
reload_daemon() {
    local before; before=$(grep -c "configuration reloaded" "$DLOG")
    kill -HUP "$DAEMON"
    wait_for 10 count_above "configuration reloaded" "$DLOG" "$before"
}
# postfix reload, then wait until master has re-read its configuration
reload_postfix() {
    local before; before=$(grep -c "reload -- version" "$MAILLOG")
    postfix -c "$CONF" reload >/dev/null 2>&1
    wait_for 20 count_above "reload -- version" "$MAILLOG" "$before"
}
write_daemon_conf
ok "tlspolicyd serves the instance (policy and socketmap)" start_daemon
out=$("$TLSPOLICYD" --check-postfix --postfix-config "$CONF" --config "$TMP/tlspolicyd.conf" 2>&1); rc=$?
is "$rc" 0 "--check-postfix on this live instance (shipped snippets, stock submission, re-injection listener): no problems"
[ "$rc" -ne 0 ] && printf '%s\n' "$out" | sed 's/^/# /'

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
wait_for 10 grep -qE -- "reject: .*reason=\"listed sender: TLS version below the floor \(TLSv1.1 below TLSv1.2\)\"" "$DLOG"  # the writer thread writes it within ms
like "$(grep 'sender=<a@bank.test>' "$DLOG" | grep 'TLSv1.1 below TLSv1.2' | head -1)" "reject: .*reason=\"listed sender: TLS version below the floor \(TLSv1.1 below TLSv1.2\)\"" "... logged with the reason"
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
wait_for 10 grep -qE -- "report: .*would have been: reject" "$DLOG"  # the writer thread writes it within ms
like "$(grep 'sender=<a@watch.test>' "$DLOG")" "report: .*would have been: reject" "report mode: the would-be reject is logged"
SUBJECT=in-tcp; out=$(send 2588 a@bank.test rcpt@local.test)
like "$out" "<[*~]\* *550 5\.7\.1" "policy over TCP: 550 as well"

# --- inbound: client certificates -------------------------------------------------
TLSC="--tls --tls-protocol tlsv1_3"
SUBJECT=in-vcert; out=$(send 2525 a@vbank.test rcpt@local.test $TLSC --tls-cert vclient.crt --tls-key vclient.key)
like "$out" "<[-~] *250 .*queued as" "verify-listed sender with a CA-signed client certificate: accepted"
SUBJECT=in-vnocert; out=$(send 2525 a@vbank.test rcpt@local.test $TLSC)
like "$out" "<[*~]\* *550 5\.7\.1 .*must come from a server with a trusted client certificate" "verify-listed sender over TLS without a certificate: 550 naming the certificate"
SUBJECT=in-vself; out=$(send 2525 a@vbank.test rcpt@local.test $TLSC --tls-cert selfclient.crt --tls-key selfclient.key)
like "$out" "<[*~]\* *550 5\.7\.1 .*trusted client certificate" "verify-listed sender with an untrusted certificate: 550"
SUBJECT=in-scert; out=$(send 2525 a@sbank.test rcpt@local.test $TLSC --tls-cert sclient.crt --tls-key sclient.key)
like "$out" "<[-~] *250 .*queued as" "secure-listed sender whose certificate names its domain: accepted"
SUBJECT=in-sother; out=$(send 2525 a@sbank.test rcpt@local.test $TLSC --tls-cert oclient.crt --tls-key oclient.key)
like "$out" "<[*~]\* *550 5\.7\.1 .*needs a client certificate that names sbank.test" "secure-listed sender whose certificate names another domain: 550"
wait_for 10 grep -qE -- "reject: queue_id=NOQUEUE instance=[0-9a-f.]+ .*reason=\"listed sender: client certificate for another name \(client certificate mx.other.test does not name sbank.test\)\"" "$DLOG"  # the writer thread writes it within ms
like "$(grep 'sender=<a@sbank.test>' "$DLOG" | tail -1)" "reject: queue_id=NOQUEUE instance=[0-9a-f.]+ .*reason=\"listed sender: client certificate for another name \(client certificate mx.other.test does not name sbank.test\)\"" "... logged with the instance and the reason"

# --- inbound: the handshake's size (client certificates asked for) -----------------------
# A CApath sends no CA names in the certificate request; the bundle as a
# CAfile (what the shipped main.cf used to say) sends all of them.
handshake_read() {  # -> bytes the client read in the handshake
    openssl s_client -starttls smtp -connect 127.0.0.1:2525 -tls1_3 </dev/null 2>/dev/null \
        | sed -n 's/^SSL handshake has read \([0-9]*\) bytes.*/\1/p'
}
small=$(handshake_read)
ok "shipped main.cf (CApath): a small handshake ($small bytes)" test "${small:-999999}" -lt 4000
postconf -c "$CONF" -e "smtpd_tls_CAfile = /etc/ssl/certs/ca-certificates.crt"
reload_postfix
big=$(handshake_read)
ok "the CA bundle as smtpd_tls_CAfile instead: $big bytes, every CA named" test "${big:-0}" -gt 10000
postconf -c "$CONF" -X smtpd_tls_CAfile
reload_postfix
echo "# handshake read by the client: $small bytes (CApath) against $big (CAfile bundle)"

# --- inbound: a long local part cannot slip past its domain's rule -------------------
long=$(printf 'a%.0s' $(seq 330))
SUBJECT=in-long; out=$(send 2525 "$long@bank.test" rcpt@local.test)
like "$out" "<[*~]\* *550 5\.7\.1 .*encrypted connection" "330-byte local part at a listed domain, plaintext: 550"
SUBJECT=in-long-tls; out=$(send 2525 "$long@bank.test" rcpt@local.test $TLSC)
like "$out" "<[-~] *250 .*queued as" "... and over TLS: accepted"

# quoted local parts and address literals, as Postfix passes them
SUBJECT=in-quoted; out=$(send 2525 '"q"@qs.test' rcpt@local.test)
like "$out" "<[*~]\* *550 5\.7\.1" "a quoted sender at its quoted key (Postfix passes q@qs.test): 550"
SUBJECT=in-literal; out=$(send 2525 'a@[127.0.0.9]' rcpt@local.test)
like "$out" "<[*~]\* *550 5\.7\.1" "a sender at a listed address literal: 550"

# --- inbound: the global floor ---------------------------------------------------------
TLS11="--tls --tls-protocol tlsv1_1 --tls-cipher DEFAULT:@SECLEVEL=0"
write_daemon_conf "global_floor = report"
reload_daemon
SUBJECT=floor-report; out=$(send 2525 a@unlisted.test rcpt@local.test $TLS11)
like "$out" "<[-~] *250 .*queued as" "global floor, report: TLS 1.1 from an unlisted sender accepted"
wait_for 10 grep -qE -- "report: .*reason=\"global floor: TLS version below the floor \(TLSv1.1 below TLSv1.2\)\" action=\"would have been: reject\"" "$DLOG"  # the writer thread writes it within ms
like "$(grep 'sender=<a@unlisted.test>' "$DLOG" | tail -1)" "report: .*reason=\"global floor: TLS version below the floor \(TLSv1.1 below TLSv1.2\)\" action=\"would have been: reject\"" "... and the would-be reject logged"
write_daemon_conf "global_floor = enforce"
reload_daemon
SUBJECT=floor-enforce; out=$(send 2525 a@unlisted.test rcpt@local.test $TLS11)
like "$out" "<[*~]\* *550 5\.7\.1 .*This server requires TLS 1.2 or later and does not support 3DES/DES" "global floor, enforce: 550 with its notice"
SUBJECT=floor-exempt; out=$(send 2525 a@exempt.parent.test rcpt@local.test $TLS11)
like "$out" "<[-~] *250 .*queued as" "global floor, enforce: a none entry passes"
SUBJECT=floor-null; out=$(send 2525 "<>" rcpt@local.test $TLS11)
like "$out" "<[-~] *250 .*queued as" "global floor, enforce: the null sender passes"
SUBJECT=floor-good; out=$(send 2525 a@unlisted.test rcpt@local.test $TLSC)
like "$out" "<[-~] *250 .*queued as" "global floor, enforce: TLS 1.3 passes"
write_daemon_conf
reload_daemon

# --- outbound: the matrix ----------------------------------------------------------
SENDER=sender@local.test
# The last delivery status Postfix logged for an address, outside the
# content filter's own hop: "SERVICE sent" (SERVICE: smtp, tls-verify...),
# or "deferred: TLS required" (from the tls-* transport, or from the
# error transport once Postfix has suspended the destination for it).
status_of() {  # address
    local line
    line=$(grep -- "to=<$1>" "$MAILLOG" | grep -v "postfix/scan/" | grep "status=" | tail -1)
    case $line in
    "") ;;
    *"status=deferred"*"TLS is required"*) echo "deferred: TLS required" ;;
    *) printf '%s\n' "$line" | sed -n -e 's|.*postfix/smtp\[[0-9]*\]: .*status=\([a-z]*\).*|smtp \1|p' \
                 -e 's|.*postfix/\([^/]*\)/[a-z]*\[[0-9]*\]: .*status=\([a-z]*\).*|\1 \2|p' ;;
    esac
}
has_status() { [ -n "$(status_of "$1")" ]; }
# Where an address arrived: "SINK TLS" (the content filter does not count).
sink_of() {  # address
    grep -- "<$1>" "$SINKLOG" 2>/dev/null | grep -v "^sink=filter " | tail -1 \
        | sed -n 's/^sink=\([a-z]*\) .* tls=\([^ ]*\) .*/\1 \2/p' | tr _ .
}
# Outcome of one recipient, as the table shows it.
outcome() {  # address
    wait_for 30 has_status "$1"
    local st sk; st=$(status_of "$1"); sk=$(sink_of "$1")
    printf '%s%s' "${st:-nothing logged}" "${sk:+ -> $sk}"
}
send_path() {  # path subject recipients(comma-separated) [extra header line]
    local extra=()
    [ -n "${4:-}" ] && extra=(--add-header "$4")
    case $1 in
    submission) swaks --server 127.0.0.1:2587 --tls --helo client.test --from "$SENDER" --to "$3" \
                    --header "Subject: $2" "${extra[@]}" --timeout 20 >/dev/null 2>&1 ;;
    port25)     swaks --server 127.0.0.1:2525 --helo client.test --from "$SENDER" --to "$3" \
                    --header "Subject: $2" "${extra[@]}" --timeout 20 >/dev/null 2>&1 ;;
    sendmail)   printf 'Subject: %s\n%s\nhello\n' "$2" "${4:+$4
}" | sendmail -C "$CONF" -f "$SENDER" $(echo "$3" | tr , ' ') ;;
    esac
}
apply_shape() {  # shape
    postconf -c "$CONF" -X content_filter relayhost smtp_tls_policy_maps
    write_daemon_conf
    case $1 in
    filter)    postconf -c "$CONF" -e "content_filter = scan:[127.0.0.1]:10025" ;;
    relayhost) postconf -c "$CONF" -e "relayhost = [relay.test]:2526" ;;  # main.cf alone: tlspolicyd reads it
    policymap) printf 'enc.test may\ngood.test may\nunlisted.test may\n' > "$CONF/site_tls_policy"
               postconf -c "$CONF" -e "smtp_tls_policy_maps = texthash:$CONF/site_tls_policy" ;;
    esac
    reload_daemon && reload_postfix
}
# What each recipient must come to, per shape.
want_outcome() {  # shape kind
    case $1:$2 in
    relayhost:enc) echo "tls-encrypt sent -> relay TLSv1.3" ;;
    relayhost:ver) echo "tls-verify sent -> relay TLSv1.3" ;;
    relayhost:unl) echo "smtp sent -> relay TLSv1.3" ;;
    *:enc)         echo "deferred: TLS required" ;;
    *:ver)         echo "tls-verify sent -> good TLSv1.3" ;;
    *:unl)         echo "smtp sent -> plain none" ;;
    esac
}

printf '# %-10s %-10s | %-34s | %-34s | %-30s\n' shape path "encrypt, no STARTTLS" "verify, good certificate" unlisted
for shape in ${SHAPES:-plain filter relayhost policymap}; do
    ok "shape $shape: Postfix and tlspolicyd reconfigured" apply_shape "$shape"
    for path in submission port25 sendmail; do
        c=$shape-$path
        send_path $path "$c-1" "enc-$c-1@enc.test"
        send_path $path "$c-2" "ver-$c-2@good.test"
        send_path $path "$c-3" "unl-$c-3@unlisted.test"
        send_path $path "$c-4" "enc-$c-4@enc.test,ver-$c-4@good.test,unl-$c-4@unlisted.test"
    done
    for path in submission port25 sendmail; do
        c=$shape-$path
        row=()
        n=0
        for kind in enc ver unl; do
            n=$((n + 1))
            domain=$(case $kind in enc) echo enc.test ;; ver) echo good.test ;; unl) echo unlisted.test ;; esac)
            want=$(want_outcome "$shape" "$kind")
            got=$(outcome "$kind-$c-$n@$domain")
            got4=$(outcome "$kind-$c-4@$domain")
            row+=("$got")
            is "$got" "$want" "$c: $kind recipient"
            is "$got4" "$want" "$c: $kind recipient in the message with all three"
        done
        printf '# %-10s %-10s | %-34s | %-34s | %-30s\n' "$shape" "$path" "${row[@]}"
        if [ "$shape" = filter ]; then
            for n in 1 2 3 4; do
                ok "$c-$n passed the content filter" wait_for 30 sink_has "sink=filter .*subject=$c-$n\$"
            done
        fi
    done
done
unlike "$(grep -v '^sink=filter ' "$SINKLOG")" "to=[^ ]*<enc-[^>]*>.* tls=none " "no listed encrypt recipient ever reached a sink in plaintext"
apply_shape plain

# --- the Postfix served, read: never repeated in tlspolicyd.conf --------------------
# Both entered below through main.cf alone, and a tlspolicyd that reads it.
map_q() {  # key [socket] -> what trivial-rewrite would get
    postmap -c "$CONF" -q "$1" "socketmap:unix:${2:-$Q/private/tlsmap}:transport"
}
reloads_since() { [ "$(grep -c "configuration reloaded" "$DLOG")" -gt "$1" ]; }
# main.cf changes, no SIGHUP: the daemon notices and takes the relay
before=$(grep -c "configuration reloaded" "$DLOG")
postconf -c "$CONF" -e "relayhost = [relay.test]:2526"
ok "main.cf changed, no SIGHUP: the daemon reloads by itself" wait_for 15 reloads_since "$before"
wait_for 10 grep -qE -- "the Postfix configuration in $CONF changed: reloading" "$DLOG"  # the writer thread writes it within ms
like "$(grep "changed: reloading" "$DLOG" | tail -1)" "the Postfix configuration in $CONF changed: reloading" "... and says why"
wait_for 10 grep -qE -- "Postfix $PF_VERSION in $CONF: relayhost \[relay.test\]:2526 \(main.cf relayhost\)" "$DLOG"  # the writer thread writes it within ms
like "$(grep "relayhost" "$DLOG" | tail -1)" "Postfix $PF_VERSION in $CONF: relayhost \[relay.test\]:2526 \(main.cf relayhost\)" "... and where its relay came from"
is "$(map_q x@enc.test)" "tls-encrypt:[relay.test]:2526" "... listed mail now goes through the relay at its level"
before=$(grep -c "configuration reloaded" "$DLOG")
postconf -c "$CONF" -X relayhost
wait_for 15 reloads_since "$before"
is "$(map_q x@enc.test)" "tls-encrypt:" "relayhost removed from main.cf: straight to the MX again"

# A listed key that is one of this Postfix's own (virtual mailbox) domains:
# its mail is delivered here on every path, never routed out.
out=$(printf 'ownsite.test encrypt\n' | MAIL_CONFIG=$CONF "$TLSMAP" -i "$LIST" 2>&1)
like "$out" "stdin, line 1: warning: ownsite.test is a local or virtual domain of the Postfix in $CONF" "tlsmap -i warns for a key that is a local domain (and adds it)"
for path in submission port25 sendmail; do send_path $path "own-$path" postmaster@ownsite.test; done
own_sent() { [ "$(grep -c 'to=<postmaster@ownsite.test>.*relay=virtual.*status=sent' "$MAILLOG")" -ge 3 ]; }
ok "listed local domain: all three paths delivered by virtual(8)" wait_for 30 own_sent
is "$(find "$PF/vmail/ownsite/postmaster/new" -type f 2>/dev/null | wc -l)" 3 "... three messages in the maildir"
unlike "$(grep 'ownsite' "$MAILLOG")" "relay=(tls-|smtp)|status=(deferred|bounced)" "... none routed out, deferred or bounced"
unlike "$(cat "$SINKLOG")" "ownsite" "... and nothing in any sink"
wait_for 10 grep -q 'key=ownsite.test .*reason="local domain' "$DLOG"
is "$(grep -c 'key=ownsite.test .*reason="local domain: Postfix delivers it, the list entry is not applied"' "$DLOG")" 1 "... the listed key said once, not per message"
out=$("$TLSPOLICYD" --check-postfix --config "$TMP/tlspolicyd.conf" 2>&1)
like "$out" "problem: the list: ownsite.test is a local or virtual domain of this Postfix" "--check-postfix names it"

# A reload whose list cannot be opened (list = typo) keeps the old one answering.
is "$(map_q bob@good.test)" "tls-verify:" "before the bad reload: the list answers"
sed -i "s|^list = .*|list = $TMP/tls.lst|" "$TMP/tlspolicyd.conf"
before=$(grep -c "reload refused" "$DLOG")
kill -HUP "$DAEMON"
ok "SIGHUP with list = a file that does not exist: refused" wait_for 10 count_above "reload refused" "$DLOG" "$before"
wait_for 10 grep -qE -- "reload refused: list = $TMP/tls.lst: .*keeping the running configuration and list $LIST" "$DLOG"  # the writer thread writes it within ms
like "$(grep "reload refused" "$DLOG" | tail -1)" "reload refused: list = $TMP/tls.lst: .*keeping the running configuration and list $LIST" "... logged with both names"
is "$(map_q bob@good.test)" "tls-verify:" "... and the old list still answers"
write_daemon_conf
reload_daemon

# tlsprobe predicts Postfix: it trusts the instance's smtp_tls_CAfile (the
# test CA), uses its port and, with DNS disabled, the hosts file - here a
# private /etc/hosts in a mount namespace of its own.
printf '127.0.0.1 localhost\n127.0.0.3 good.test\n127.0.0.4 wrongname.test\n' > "$TMP/hosts"
in_hosts() { unshare --mount sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$TMP/hosts" "$@"; }
if in_hosts true 2>/dev/null; then
    out=$(in_hosts "$TLSPROBE" --postfix-config "$CONF" --timeout 5 --level verify good.test 2>&1); rc=$?
    is "$rc" 0 "tlsprobe --level verify good.test: passes, as Postfix delivered it (tls-verify sent)"
    like "$out" "as Postfix delivers +$CONF .*trusts smtp_tls_CAfile $TMP/ca.crt; port 2526; no DNS .*/etc/hosts" "... saying it used the instance's CA, port and lookups"
    like "$out" "server good.test \(127.0.0.3:2526\)" "... and reached the host through /etc/hosts"
    out=$(in_hosts "$TLSPROBE" --postfix-config "$CONF" --timeout 5 --level verify wrongname.test 2>&1); rc=$?
    is "$rc" 1 "tlsprobe --level verify wrongname.test: fails, as Postfix deferred it"
    out=$(in_hosts "$TLSPROBE" --postfix-config "$CONF" --CAfile /etc/ssl/certs/ca-certificates.crt --timeout 5 --level verify good.test 2>&1); rc=$?
    is "$rc" 1 "... and --CAfile still overrides the instance's CA"
else
    for _ in 1 2 3 4 5; do skip "unshare --mount not permitted here: tlsprobe /etc/hosts rows"; done
fi

# A second instance (postmulti-style: a configuration directory of its own)
# served by a second tlspolicyd: each follows its own instance.
CONF2=$TMP/pf2
mkdir -p "$CONF2"
cp "$CONF/main.cf" "$CONF/master.cf" "$CONF2/"
postconf -c "$CONF2" -e "relayhost = [relay.test]:2526" "mydestination = second.test"
touch -d "@$(( $(date +%s) - 10 ))" "$CONF2/main.cf"
{ echo "[tlspolicyd]"; echo "list = $LIST"; echo "listen = unix:$TMP/pf2-policy;"
  echo "socketmap_listen = unix:$TMP/pf2-map;"; echo "dns_resolver = 127.0.0.1@9"
  echo "postfix_config_directory = $CONF2"; echo "user = root"; } > "$TMP/tlspolicyd2.conf"
"$TLSPOLICYD" --config "$TMP/tlspolicyd2.conf" 2>"$TMP/tlspolicyd2.log" &
PIDS+=($!)
ok "a second tlspolicyd for the second instance" wait_for 10 test -S "$TMP/pf2-map"
is "$(map_q x@second.test "$TMP/pf2-map")" "" "second instance: its own local domain is not routed"
is "$(map_q x@second.test)" "tls-encrypt:" "first instance: the same key is a remote domain, routed"
is "$(map_q x@enc.test "$TMP/pf2-map")" "tls-encrypt:[relay.test]:2526" "second instance: through its own relay"
is "$(map_q x@enc.test)" "tls-encrypt:" "first instance: no relay"

# --- outbound: a sender's "TLS-Required: no" (RFC 8689) -----------------------------
# Postfix 3.10 sends such a message at level may unless the transport says
# tls_required_enable=no, as the shipped tls-* do: listed recipients keep
# their level on every version and every path.  Unlisted mail keeps
# Postfix's own behaviour: sitereq.test, encrypt in the site's own
# smtp_tls_policy_maps, goes out in plaintext with the header on 3.10 (the
# sender's choice, as Postfix documents) and is deferred without it, and
# on 3.7 always.
printf 'sitereq.test encrypt\n' > "$CONF/site_tls_policy"
postconf -c "$CONF" -e "smtp_tls_policy_maps = texthash:$CONF/site_tls_policy"
ok "site policy map for sitereq.test" reload_postfix
NO_TLS="TLS-Required: no"
deferred_unsent() {  # address -> "deferred" when Postfix deferred it and no sink has it
    wait_for 30 has_status "$1"
    local line; line=$(grep -- "to=<$1>" "$MAILLOG" | grep "status=" | tail -1)
    case $line in *"status=deferred"*) [ -z "$(sink_of "$1")" ] && echo deferred || echo "deferred, but in a sink" ;;
                  *) echo "${line:-nothing logged}" ;; esac
}
for path in submission port25 sendmail; do
    send_path $path "hdr-$path" "enc-hdr-$path@hdrenc.test,ver-hdr-$path@hdrver.test,dane-hdr-$path@daneh.test,site-hdr-$path@sitereq.test" "$NO_TLS"
    send_path $path "nohdr-$path" "site-nohdr-$path@sitereq.test"
done
if pf_version_at_least 3.10; then want_site_hdr="smtp sent -> plain none"; else want_site_hdr="deferred: TLS required"; fi
for path in submission port25 sendmail; do
    is "$(deferred_unsent "enc-hdr-$path@hdrenc.test")" deferred "$path, $NO_TLS: listed encrypt, no STARTTLS: deferred, in no sink"
    is "$(deferred_unsent "ver-hdr-$path@hdrver.test")" deferred "$path, $NO_TLS: listed verify, wrong-name certificate: deferred, in no sink"
    is "$(deferred_unsent "dane-hdr-$path@daneh.test")" deferred "$path, $NO_TLS: listed dane, no STARTTLS: deferred, in no sink"
    is "$(outcome "site-hdr-$path@sitereq.test")" "$want_site_hdr" "$path, $NO_TLS: unlisted, site policy encrypt: as Postfix $PF_VERSION does"
    is "$(outcome "site-nohdr-$path@sitereq.test")" "deferred: TLS required" "$path, no header: unlisted, site policy encrypt: deferred"
done
apply_shape plain

# --- outbound: failures, bounces, and what the socketmap answers ------------------
SUBJECT=out-defer; out=$(send 2525 alice@local.test bob@plaindefer.test)
ok "listed (defer) to a plaintext sink: deferred" wait_for 30 log_has "to=<bob@plaindefer.test>.*status=deferred (TLS is required, but was not offered"
like "$(postqueue -c "$CONF" -p)" "bob@plaindefer.test" "... and still in the queue"

SUBJECT=out-bounce; out=$(send 2525 alice@local.test bob@plainbounce.test)
ok "listed (bounce) to a plaintext sink: bounced after one attempt" wait_for 30 log_has "to=<bob@plainbounce.test>.*dsn=5\.7\.[0-9]*, status=bounced (TLS is required, but was not offered"
ndr=$(delivered plain alice@local.test "Undelivered Mail")
like "$ndr" "from=<> to=<alice@local.test>" "... with an NDR to the sender"
like "$ndr" "TLS is required, but was not offered" "... that says why"
is "$(grep -c 'to=<bob@plainbounce.test>.*status=' "$MAILLOG")" 1 "... one delivery attempt only"

SUBJECT=out-wrongname; out=$(send 2525 alice@local.test bob@wrongname.test)
ok "verify with a wrong-name certificate: not delivered" wait_for 30 log_has "to=<bob@wrongname.test>.*status=deferred (Server certificate not verified"
SUBJECT=out-legacy; out=$(send 2525 alice@local.test bob@legacy.test)
ok "encrypt (defer) to a TLS 1.0/1.1-only sink: deferred" wait_for 30 log_has "to=<bob@legacy.test>.*status=deferred (Cannot start TLS: handshake failure"
SUBJECT=out-legacybounce; out=$(send 2525 alice@local.test bob@legacybounce.test)
ok "encrypt (bounce) to a TLS 1.0/1.1-only sink: bounced" wait_for 30 log_has "to=<bob@legacybounce.test>.*dsn=5\.[0-9.]*, status=bounced (Cannot start TLS: handshake failure"
is "$(grep -c 'to=<bob@legacybounce.test>.*status=' "$MAILLOG")" 1 "... after one delivery attempt"
unlike "$(cat "$SINKLOG")" "to=<bob@(wrongname|legacy|legacybounce).test>" "... none of them reached its sink"

# A list change while Postfix runs decides the next message, no restart.
SUBJECT=late-1; out=$(send 2525 alice@local.test eve@late.test)
like "$(delivered plain eve@late.test late-1)" "tls=none " "before tlsmap -i: delivered in plaintext"
printf 'late.test encrypt direction=outbound on_failure=bounce\n' | "$TLSMAP" -i "$LIST"
SUBJECT=late-2; out=$(send 2525 alice@local.test frank@late.test)
ok "after tlsmap -i: the next message is held to TLS (bounced)" wait_for 30 log_has "to=<frank@late.test>.*status=bounced"

# postmap -q through the socketmap answers what tlsmap -q says.
for key in bob@good.test x@mx.unlisted.test bob@plainbounce.test bob@PLAINDEFER.test late.test a@bank.test; do
    got=$(postmap -c "$CONF" -q "$key" "socketmap:unix:$Q/private/tlsmap:transport"); got_rc=$?
    want=$("$TLSMAP" -q "$key" -o outbound "$LIST" | awk -F'\t' '{ split($2, w, " "); t = "tls-" w[1];
        if ($2 ~ /on_failure=bounce/) t = t "-bounce"; print t ":" }')
    is "$got_rc:$got" "$([ -n "$want" ] && echo "0:$want" || echo "1:")" "postmap -q $key socketmap: = tlsmap -q"
done

# --- the FILTER variant (outbound_routing = filter, no transport_maps) --------------
postconf -c "$CONF" -X transport_maps
write_daemon_conf "outbound_routing = filter"
reload_daemon && reload_postfix
SUBJECT=filter-good; out=$(send 2589 alice@local.test bob@good.test)
like "$(delivered good bob@good.test filter-good)" "tls=TLSv1[._][23] " "FILTER: listed recipient over verified TLS"
wait_for 10 grep -qE -- "filter: .*action=\"FILTER tls-verify:\"" "$DLOG"  # the writer thread writes it within ms
like "$(grep 'recipient=<bob@good.test>' "$DLOG")" "filter: .*action=\"FILTER tls-verify:\"" "... and tlspolicyd logged the FILTER"
# One message, a listed and an unlisted recipient: the second gets 452 and is
# sent again in its own transaction, as an MTA does; each is delivered right.
SUBJECT=out-mixed; out=$(send 2589 alice@local.test carol@good.test,dave@unlisted.test)
like "$out" "<\*\* *452 4\.5\.3" "FILTER, mixed recipients: the second gets 452 4.5.3"
SUBJECT=out-mixed; out=$(send 2589 alice@local.test dave@unlisted.test)
like "$(delivered good carol@good.test out-mixed)" "tls=TLSv1[._][23] " "mixed: the listed one over verified TLS"
like "$(delivered plain dave@unlisted.test out-mixed)" "tls=none " "mixed: the unlisted one, resent, in plaintext"
echo "# --- postfix/main.cf's transport_maps line, back ---" >> "$CONF/main.cf"
grep '^transport_maps' "$SRC/postfix/main.cf" >> "$CONF/main.cf"
write_daemon_conf
reload_daemon && reload_postfix

# --- tlspolicyd stopped: nothing leaves unchecked -----------------------------------
stop_daemon
SUBJECT=down; out=$(send 2525 a@unlisted.test rcpt@local.test)
like "$out" "<\*\* *450 4\.[0-9]\.[0-9]" "daemon down: DEFER_IF_PERMIT answers 450"
SUBJECT=down-out
printf 'Subject: %s\n\nhello\n' "$SUBJECT" | sendmail -C "$CONF" -f alice@local.test down@good.test
ok "daemon down: sendmail to a listed recipient is deferred" wait_for 30 log_has "to=<down@good.test>.*status=deferred"
unlike "$(cat "$SINKLOG")" "<down@good.test>" "... and reaches no sink"
# started again (by hand, a supervisor, systemd): the deferred mail goes
# at the next queue run; postqueue -f asks for it now
ok "tlspolicyd started again" start_daemon
postqueue -c "$CONF" -f
like "$(delivered good down@good.test down-out)" "tls=TLSv1[._][23] " "... postqueue -f: the deferred message is delivered, verified TLS"

done_testing

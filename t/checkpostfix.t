#!/bin/bash
# checkpostfix.t - tlspolicyd --check-postfix against Postfix configuration
# directories made from the shipped snippets (postfix/main.cf, master.cf),
# each row with one thing broken: the problem it reports, and the exit
# status (0 clean, 1 problems, 2 could not check).  postconf reads them;
# no Postfix runs.  The daemon runs, so that its sockets answer.
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
: "${TLSPOLICYD:?set TLSPOLICYD}"
if ! command -v postconf >/dev/null; then echo "1..0 # SKIP postconf not installed (scripts/deps.sh test)"; exit 0; fi
. "$SRC/t/support/postfixbin.sh"

Q=$TMP/q
chmod 755 "$TMP"  # Postfix (and the daemon's account) must traverse it
mkdir -p "$Q/private" "$TMP/base"
printf 'in.example verify direction=inbound\nout.example verify direction=outbound\nenc.example encrypt\n' > "$TMP/tls.list"
"$TLSMAP" "$TMP/tls.list" 2>/dev/null
conf() {  # file [extra lines]
    printf '[tlspolicyd]\nuser = root\nlist = %s\nlisten = unix:%s/private/tlspolicy;\nsocketmap_listen = unix:%s/private/tlsmap;\n%s' \
        "$TMP/tls.list" "$Q" "$Q" "${2:-}" > "$1"
}
conf "$TMP/tlspolicyd.conf"
# a site's main.cf and master.cf: the shipped snippets, a port 25 smtpd and
# a Debian-stock-shaped submission service
{ echo "queue_directory = $Q"; echo "compatibility_level = 3.6"; pf_program_main; cat "$SRC/postfix/main.cf"; } > "$TMP/base/main.cf"
{ echo "smtp inet n - y - - smtpd"
  echo "submission inet n - y - - smtpd"
  echo "  -o smtpd_sasl_auth_enable=yes"
  echo "  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject"
  cat "$SRC/postfix/master.cf"; } > "$TMP/base/master.cf"
cp "$SRC/postfix/tlspolicyd_bounce" "$TMP/base/"

"$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" 2>"$TMP/daemon.log" &
DAEMON=$!
PIDS+=($DAEMON)
ok "the daemon listens on both sockets" wait_for 30 test -S "$Q/private/tlspolicy" -a -S "$Q/private/tlsmap"

check() {  # name setup-commands... ; sets $out and $rc for a copy of base
    local d=$TMP/pf-$1; shift
    rm -rf "$d"; cp -r "$TMP/base" "$d"
    for c in "$@"; do eval "${c//DIR/$d}" >/dev/null 2>&1; done
    # Postfix re-reads a file younger than a second until it is older
    # (300 ms at a time): files just written would cost each row ~2 s
    touch -d "@$(( $(date +%s) - 10 ))" "$d"/*
    if [ -n "${BY_ENV:-}" ]; then  # the directory as postconf's own MAIL_CONFIG, no --postfix-config
        out=$(MAIL_CONFIG=$d "$TLSPOLICYD" --check-postfix --config "${CONF:-$TMP/tlspolicyd.conf}" 2>&1); rc=$?
    else
        out=$("$TLSPOLICYD" --check-postfix --postfix-config "$d" --config "${CONF:-$TMP/tlspolicyd.conf}" 2>&1); rc=$?
    fi
}

check clean
is "$rc" 0 "the shipped snippets on Postfix $PF_VERSION: exit 0"
like "$out" "no problems found" "... no problems found"
like "$out" "^checking Postfix $PF_VERSION " "... the version named"

check maps 'postconf -c DIR -e "transport_maps = hash:/etc/postfix/transport"'
is "$rc" 1 "transport_maps without the socketmap: exit 1"
like "$out" "problem: main.cf: transport_maps does not ask tlspolicyd's socketmap" "... says so"
like "$out" "fix: transport_maps = \\\$tlspolicyd_routes" "... with the line that fixes it"

check order 'postconf -c DIR -e "transport_maps = hash:/etc/postfix/transport, \$tlspolicyd_routes"'
like "$out" "transport_maps asks 1 other map\(s\) before tlspolicyd: their answer wins" "another map first: named"

check override 'postconf -c DIR -P "rewrite/unix/transport_maps=hash:/etc/postfix/transport"' \
    'printf "rewrite unix - - y - - trivial-rewrite\n" >> DIR/master.cf' \
    'postconf -c DIR -P "rewrite/unix/transport_maps=hash:/etc/postfix/transport"'
like "$out" "master.cf: rewrite/unix/transport_maps = hash:/etc/postfix/transport overrides main.cf's transport_maps" \
    "a service's -o transport_maps: named"

# --- outbound evidence (maillog): readable, and a TLS line per session -----------
: > "$TMP/maillog"
conf "$TMP/maillog.conf" "maillog = $TMP/maillog
"
CONF=$TMP/maillog.conf check maillog
is "$rc" 0 "maillog readable, the shipped smtp_tls_loglevel: exit 0"
CONF=$TMP/maillog.conf check loglevel 'postconf -c DIR -e "smtp_tls_loglevel = 0"'
like "$out" "main.cf: smtp_tls_loglevel = 0 logs no line for a TLS session that worked" "main.cf without TLS lines: named"
CONF=$TMP/maillog.conf check serviceloglevel 'postconf -c DIR -P "tls-encrypt/unix/smtp_tls_loglevel=0"'
like "$out" "master.cf: tls-encrypt has smtp_tls_loglevel 0" "a tls-* service without TLS lines: named"
conf "$TMP/nolog.conf" "maillog = $TMP/no-such-log
"
CONF=$TMP/nolog.conf check nolog
like "$out" "maillog $TMP/no-such-log does not exist" "a maillog that does not exist: named"

# --- TLS-RPT by mail: the tlsrpt smtpd and its way out --------------------------
conf "$TMP/tlsrpt.conf" "maillog = $TMP/maillog
tlsrpt = send
"
CONF=$TMP/tlsrpt.conf check tlsrpt
is "$rc" 0 "tlsrpt = send with the shipped tlsrpt services: exit 0"
CONF=$TMP/tlsrpt.conf check notlsrpt 'postconf -c DIR -MX tlsrpt/unix'
like "$out" "problem: master.cf: no smtpd \"tlsrpt\" on public/tlsrpt \(tlsrpt_submit\): reports for mailto: destinations are not sent" \
    "tlsrpt = send without the tlsrpt smtpd: named"
CONF=$TMP/tlsrpt.conf check tlsrptfilter 'postconf -c DIR -PX tlsrpt/unix/content_filter'
like "$out" "master.cf: tlsrpt has content_filter \(none\), not an smtp transport: reports take transport_maps" \
    "... without its content_filter: named"
CONF=$TMP/tlsrpt.conf check tlsrptlevel 'postconf -c DIR -P tlsrpt-smtp/unix/smtp_tls_security_level=encrypt'
like "$out" "master.cf: tlsrpt-smtp sends reports at level encrypt: a report to a domain whose TLS fails is not delivered" \
    "... its transport requiring TLS: named"
CONF=$TMP/tlsrpt.conf check tlsrptname 'postconf -c DIR -P tlsrpt-smtp/unix/syslog_name=postfix/reports'
like "$out" "master.cf: tlsrpt-smtp logs as postfix/reports: tlspolicyd counts its sessions into the reports" \
    "... its transport logging under another name: named"

check transport 'postconf -c DIR -MX tls-verify/unix'
is "$rc" 1 "a tls-* transport the list needs is missing: exit 1"
like "$out" "master.cf: no service tls-verify, which the list's verify entries need \(first: out.example\)" "... named with the entry"

# --- where listed mail goes next: Postfix's relay, read, not repeated -----------
check relayhost 'postconf -c DIR -e "relayhost = [smart.example]:587"'
is "$rc" 0 "main.cf's relayhost alone: exit 0 (tlspolicyd reads it)"
like "$out" "relayhost \[smart.example\]:587 \(main.cf relayhost\)" "... and says where the relay came from"
check defaulttransport 'postconf -c DIR -e "default_transport = smtp:[gw.example]"'
like "$out" "relayhost \[gw.example\] \(main.cf default_transport\)" "default_transport's next hop is the relay too"
CONF=$TMP/norelay.conf
conf "$CONF" "postfix_config_directory =
"
BY_ENV=1 check notread 'postconf -c DIR -e "relayhost = [smart.example]:587"'
is "$rc" 1 "postfix_config_directory empty and a main.cf relayhost: exit 1"
like "$out" "problem: main.cf: Postfix sends through \[smart.example\]:587, but tlspolicyd.conf has postfix_config_directory empty and relayhost = \(none\): listed mail goes straight to the recipients' MX hosts, not through the relay" "... says where listed mail goes instead"
like "$out" "fix: postfix_config_directory = $TMP/pf-notread \(tlspolicyd.conf\)" "... and the line that fixes it"
conf "$CONF" "relayhost = [other.example]:25
"
check ownrelay 'postconf -c DIR -e "relayhost = [smart.example]:587"'
is "$rc" 0 "tlspolicyd.conf's own relayhost: the admin's choice, exit 0"
like "$out" "note: tlspolicyd.conf: relayhost = \[other.example\]:25 is used for listed mail, not main.cf's \[smart.example\]:587" "... said as a note"
unset CONF
check persender 'postconf -c DIR -e "sender_dependent_relayhost_maps = hash:/etc/postfix/sdr"'
like "$out" "main.cf: sender_dependent_relayhost_maps = hash:/etc/postfix/sdr: a transport_maps answer wins over it, so listed mail goes to the recipients' MX hosts, not to each sender's relay" "per-sender relays: named"
check nullclient 'postconf -c DIR -e "default_transport = error:outbound mail disabled"'
like "$out" "main.cf: default_transport = error:outbound mail disabled: this Postfix sends no mail out, but tlspolicyd routes listed recipients out" "a site that sends nothing out: named"
check sitetransport 'printf "enc.example smtp:[10.0.0.5]:25\nother.example relay:[x]\n" > DIR/transport' \
    'postmap -c DIR hash:DIR/transport' 'postconf -c DIR -e "transport_maps = \$tlspolicyd_routes, hash:DIR/transport"'
like "$out" "main.cf: transport_maps hash:.*/transport routes enc.example to smtp:\[10.0.0.5\]:25, but tlspolicyd's socketmap answers for it first: that route is not taken" "the site's own transport entry for a listed key: named"
like "$out" "fix: enc.example ... nexthop=\[10.0.0.5\]:25 \(the list\)" "... with the nexthop= that keeps it"
unlike "$out" "other.example" "... an unlisted key of that map is not"

# --- listed local domains ----------------------------------------------------------
check localkey 'postconf -c DIR -e "mydestination = enc.example, localhost"'
is "$rc" 1 "a listed key that is one of mydestination: exit 1"
like "$out" "problem: the list: enc.example is a local or virtual domain of this Postfix: its mail is delivered here" "... named"
like "$out" "fix: direction=inbound for enc.example" "... with the fix"
check unfollowed 'postconf -c DIR -e "virtual_alias_domains = pcre:/etc/postfix/vdomains.pcre"'
like "$out" "main.cf: virtual_alias_domains: pcre:/etc/postfix/vdomains.pcre is not followed by tlspolicyd" "a domain table tlspolicyd cannot list: named"
like "$out" "fix: local_domains = " "... with local_domains as the fix"

# --- files and accounts the promises rest on ----------------------------------------
check nobounce 'rm DIR/tlspolicyd_bounce'
is "$rc" 1 "the bounce filter file missing: exit 1"
like "$out" "master.cf: tls-encrypt-bounce/unix/smtp_delivery_status_filter = regexp:.*/pf-nobounce/tlspolicyd_bounce, but .*/tlspolicyd_bounce does not exist: Postfix defers what that service would bounce" "... named, with what it breaks"
like "$out" "fix: install -m 644 postfix/tlspolicyd_bounce .*/pf-nobounce/tlspolicyd_bounce" "... and the install line"
check bounceunreadable 'chmod 600 DIR/tlspolicyd_bounce'
like "$out" "tlspolicyd_bounce is not readable by Postfix" "the bounce filter file unreadable by Postfix: named"
check chrootsocket 'postconf -c DIR -e "tlspolicyd_service = unix:/run/tlspolicyd/policy"'
like "$out" "check_policy_service: unix:/run/tlspolicyd/policy is outside queue_directory .*, and service smtp runs chrooted there: it cannot reach the socket" "a policy socket a chrooted smtpd cannot reach: named"
check chrootmap 'postconf -c DIR -e "tlspolicyd_routes = socketmap:unix:/run/tlspolicyd/map:transport"' \
    'printf "rewrite unix - - y - - trivial-rewrite\n" >> DIR/master.cf'
like "$out" "transport_maps: unix:/run/tlspolicyd/map is outside queue_directory .*, and service rewrite runs chrooted" "a socketmap a chrooted trivial-rewrite cannot reach: named"

check sitepolicy 'postconf -c DIR -e "smtp_tls_policy_maps = texthash:/etc/postfix/tls_policy"' \
    'postconf -c DIR -PX tls-encrypt/unix/smtp_tls_policy_maps'
like "$out" "service tls-encrypt uses smtp_tls_policy_maps = texthash:/etc/postfix/tls_policy" "a global TLS policy map not overridden"

check stsmaps 'postconf -c DIR -P "tls-secure/unix/smtp_tls_policy_maps="'
is "$rc" 1 "tls-secure without tlspolicyd's tlspolicy table: exit 1"
like "$out" "service tls-secure does not ask tlspolicyd's tlspolicy table: MTA-STS mx patterns are not applied" "... named (listed domains go secure under MTA-STS)"
like "$out" "fix: -o smtp_tls_policy_maps=\\\$tlspolicyd_tls_policy \(master.cf, service tls-secure\)" "... with the fix"

check nodaneonly 'postconf -c DIR -MX tls-dane-only/unix'
like "$out" "no service tls-dane-only, which the list's DANE-publishing entries need" "no tls-dane-only service: DANE-publishing domains would be deferred"

printf 'dane.example dane direction=outbound\n' >> "$TMP/tls.list"; "$TLSMAP" "$TMP/tls.list" 2>/dev/null
check danelisted
is "$rc" 0 "a dane entry with the shipped snippets: exit 0 (it needs tls-dane-only and tls-encrypt, not tls-dane)"
like "$out" "no problems found" "... no problems found"
CONF=$TMP/filter.conf
conf "$CONF" "outbound_routing = filter
"
check filterdane
like "$out" "outbound_routing = filter routes the list's dane entries \(first: dane.example\) dane-only .*deferred" "FILTER routing with a dane entry: dane-only, the deferrals named"
unset CONF
sed -i '/^dane.example/d' "$TMP/tls.list"; "$TLSMAP" "$TMP/tls.list" 2>/dev/null
unlike "$out" "service tls-verify uses" "... only where the override is missing"

check ccert 'postconf -c DIR -e "smtpd_tls_ask_ccert = no"'
like "$out" "smtpd_tls_ask_ccert = no, but the list has inbound verify/secure/client_cert entries" "certificates never asked for"

check port25 'postconf -c DIR -P "smtp/inet/smtpd_recipient_restrictions=permit_mynetworks,reject_unauth_destination"'
like "$out" "master.cf: service smtp overrides smtpd_recipient_restrictions without the policy check: inbound mail there is not checked" \
    "port 25 without the policy check"
check submission
unlike "$out" "service submission" "a submission service without the check is fine with transport_maps routing"
check reinject 'printf "127.0.0.1:10026 inet n - n - - smtpd\n  -o content_filter=\n  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n" >> DIR/master.cf'
is "$rc" 0 "a content filter's re-injection listener (permit_mynetworks, reject) needs no policy check"

conf "$TMP/filter.conf" "outbound_routing = filter
"
CONF=$TMP/filter.conf check filter 'postconf -c DIR -e "content_filter = scan:[127.0.0.1]:10025"'
like "$out" "outbound_routing = filter routes only mail that passes a policy check: sendmail" "FILTER routing: sendmail not covered"
like "$out" "content_filter = scan:\[127.0.0.1\]:10025 with FILTER routing" "FILTER with a content filter"
like "$out" "service submission overrides smtpd_recipient_restrictions without the policy check \(FILTER routing misses its mail\)" \
    "FILTER routing: a submission service without the check"

# Postfix 3.10 sends a message with "TLS-Required: no" at level may unless
# its transport has tls_required_enable = no (the shipped tls-* do); 3.7
# has no such rule.  postconf takes mail_version from main.cf, so each
# version's judgement shows whichever Postfix runs the test.
noreq='postconf -c DIR -PX tls-encrypt/unix/tls_required_enable'
for row in \
    "3.10.2|ok|" \
    "3.10.2|flag|$noreq" \
    "3.11.0|flag|$noreq" \
    "3.7.11|ok|$noreq" \
    "3.9.1|ok|$noreq" \
    "3.10.2|ok|$noreq|postconf -c DIR -e tls_required_enable=no"; do
    IFS='|' read -r version want cmd1 cmd2 <<< "$row"
    # a 3.7 postconf shows no main.cf value for a parameter it does not know
    if [ -n "$cmd2" ] && ! pf_version_at_least 3.10; then skip "main.cf tls_required_enable needs a real 3.10 postconf"; continue; fi
    name="Postfix $version, $([ -n "$cmd1" ] && echo "tls-encrypt without -o tls_required_enable=no" || echo "the shipped snippets")${cmd2:+, main.cf tls_required_enable = no}"
    check "tlsrequired-$version" "postconf -c DIR -e mail_version=$version" ${cmd1:+"$cmd1"} ${cmd2:+"$cmd2"}
    like "$out" "^checking Postfix $version " "$name: the version is named"
    if [ "$want" = ok ]; then
        is "$rc" 0 "$name: exit 0"
        unlike "$out" "tls_required_enable" "... nothing said about TLS-Required"
    else
        is "$rc" 1 "$name: exit 1"
        like "$out" "problem: master.cf: service tls-encrypt has tls_required_enable = yes: on Postfix $version a message with \"TLS-Required: no\" goes out at level may" "... the transport named"
        like "$out" "fix: -o tls_required_enable=no \(master.cf, service tls-encrypt\)" "... with the per-transport fix, not main.cf's"
        unlike "$out" "service tls-verify has" "... only the transport without it"
    fi
done
# an entry's own transport= is routed too: on 3.10 it needs the setting as well
printf 'own.example encrypt direction=outbound transport=partner\n' >> "$TMP/tls.list"; "$TLSMAP" "$TMP/tls.list" 2>/dev/null
check ownsvc 'postconf -c DIR -e mail_version=3.10.2' 'printf "partner unix - - y - - smtp\n  -o smtp_tls_security_level=encrypt\n" >> DIR/master.cf'
like "$out" "service partner has tls_required_enable = yes" "Postfix 3.10: an entry's own transport= without the setting is named"
sed -i '/^own.example/d' "$TMP/tls.list"; "$TLSMAP" "$TMP/tls.list" 2>/dev/null

out=$("$TLSPOLICYD" --check-postfix --postfix-config "$TMP/nonexistent" --config "$TMP/tlspolicyd.conf" 2>&1); rc=$?
is "$rc" 2 "an unreadable Postfix configuration: exit 2"
like "$out" "cannot check: postconf -c $TMP/nonexistent failed" "... saying why"

# The list as the daemon's account sees it: a daemon running as nobody
# (what answers on the socket is what counts), a list compiled root-only.
kill $DAEMON; wait $DAEMON 2>/dev/null
chown nobody "$Q/private"
chmod 600 "$TMP/tls.list.lmdb"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" 2>"$TMP/daemon-nobody.log" &
DAEMON=$!
PIDS+=($DAEMON)
ok "the daemon, as nobody, listens on both sockets" wait_for 30 test -S "$Q/private/tlspolicy" -a -S "$Q/private/tlsmap"
check unreadable
is "$rc" 1 "a list the daemon's account cannot read: exit 1"
like "$out" "problem: $TMP/tls.list.lmdb is not readable by the daemon's account nobody \(uid 65534\): .* mode 0600, owner 0, group 0; every listed recipient is answered per on_list_error" "... named with the account, the mode and what it breaks"
like "$out" "fix: chgrp nobody $TMP/tls.list.lmdb && chmod g\+r $TMP/tls.list.lmdb" "... with the fix"
chmod 644 "$TMP/tls.list.lmdb"
check readable
unlike "$out" "not readable by the daemon" "readable again: nothing said"

kill $DAEMON; wait $DAEMON 2>/dev/null
sed '/^user = /d' "$TMP/tlspolicyd.conf" > "$TMP/packaged-user.conf"  # user = tlspolicyd, the default
CONF=$TMP/packaged-user.conf check stopped
like "$out" "tlspolicyd is not answering on unix:$Q/private/tlspolicy" "the daemon stopped: not answering"
if getent passwd tlspolicyd >/dev/null; then
    unlike "$out" "no account tlspolicyd" "the daemon stopped, the tlspolicyd account there: nothing said of it"
else
    like "$out" "problem: no account tlspolicyd \(tlspolicyd.conf user =, the systemd unit's User=\): the daemon cannot start" "the daemon stopped and no tlspolicyd account: named"
fi
done_testing

# postfix.sh - a private Postfix instance for the end-to-end tests
# (sourced by bash tests after lib.sh; needs root).  Everything lives
# under $TMP/pf: config, queue, data and the maillog.
#
#   PF CONF Q DATA MAILLOG    the instance's directories and log
#   pf_dirs                   make them, owned as Postfix wants them
#   pf_base_main              the main.cf lines every instance has: its
#                             directories, loopback only, smtp to port 2526
#                             trusting $TMP/ca.crt, no delay warnings
#   pf_base_services          the master.cf lines every instance needs
#                             (pickup, cleanup, qmgr, the smtp clients...)
#   pf_install_snippets       append postfix/master.cf, copy tlspolicyd_bounce
#   pf_stop                   stop it (bounded wait, then kill); run at
#                             exit, before the helpers are killed
#   start_sink NAME ADDR [smtpsink options]
#                             a recording SMTP sink (t/tools/smtpsink.pl) on
#                             ADDR:2526 logging to $SINKLOG, hostname
#                             sink-NAME.test unless --hostname says; its pid
#                             joins PIDS
#   log_has PATTERN           the maillog has a line matching PATTERN
#
# Which Postfix runs: t/support/postfixbin.sh (the system's, or
# POSTFIX_ROOT's).
. "$SRC/t/support/postfixbin.sh"
PF=$TMP/pf CONF=$TMP/pf/etc Q=$TMP/pf/queue DATA=$TMP/pf/data
MAILLOG=$TMP/pf/log/maillog

log_has() { grep -q -- "$1" "$MAILLOG" 2>/dev/null; }

pf_dirs() {
    chmod 755 "$TMP"                     # postfix must traverse it
    mkdir -p "$CONF" "$Q/etc" "$DATA" "$PF/log"
    chown root:root "$Q"; chmod 755 "$Q"
    chown postfix:postfix "$DATA"; chmod 700 "$DATA"
}

pf_base_main() {
    pf_program_main
    cat <<MAIN
# --- test instance: private directories, loopback ---
compatibility_level = 3.6
queue_directory = $Q
data_directory = $DATA
maillog_file = $MAILLOG
maillog_file_prefixes = $TMP
mydestination =
local_recipient_maps =
alias_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtp_tcp_port = 2526
smtp_connect_timeout = 5s
smtp_tls_CAfile = $TMP/ca.crt
smtp_tls_security_level = may
delay_warning_time = 0
MAIN
}

pf_base_services() {
    cat <<'MASTER'
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
}

pf_install_snippets() {
    echo "# --- postfix/master.cf, as shipped ---" >> "$CONF/master.cf"
    cat "$SRC/postfix/master.cf" >> "$CONF/master.cf"
    cp "$SRC/postfix/tlspolicyd_bounce" "$CONF/tlspolicyd_bounce"
}

pf_stop() {
    [ -f "$Q/pid/master.pid" ] || return 0
    local master; master=$(tr -d ' ' < "$Q/pid/master.pid")
    postfix -c "$CONF" stop >/dev/null 2>&1
    for _ in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$master" 2>/dev/null
}
AT_EXIT=(pf_stop "${AT_EXIT[@]}")

start_sink() {  # name address [options]
    local name=$1 addr=$2; shift 2
    perl "$SRC/t/tools/smtpsink.pl" --name "$name" --listen "$addr:2526" --log "$SINKLOG" \
        --hostname "sink-$name.test" "$@" > "$TMP/sink-$name.out" 2>&1 &
    PIDS+=($!)
    wait_for 10 grep -q ready "$TMP/sink-$name.out" || echo "# sink $name did not start"
}

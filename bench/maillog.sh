#!/bin/bash
# maillog.sh - does the delivery log reader (maillog, issue 26) keep up
# with Postfix?  Same machine, same run:
#
#   1. Postfix's own rate: a private Postfix (t/support/postfix.sh)
#      delivers N messages injected by smtp-source to smtp-sink on
#      loopback, as fast as it can; deliveries/s and log lines/s from the
#      time between the first and the last delivery line.
#   2. The reader's rate: tlspolicyd follows a log of LINES lines shaped
#      as Postfix writes them (a TLS line and a delivery line per
#      session, half of the recipients listed, so every other delivery is
#      also looked up and logged), from its start; lines/s from the time
#      until tlspolicyd_maillog_behind_bytes is 0.
# Prints both, and the reader's headroom: its lines/s over Postfix's.
#
#   bench/maillog.sh        N=10000 LINES=400000 (root: it starts a Postfix)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-10000} LINES=${LINES:-400000}
[ "$(id -u)" = 0 ] || { echo "maillog.sh starts a private Postfix: run it as root" >&2; exit 1; }
make -C "$SRC" -s all >/dev/null
TLSMAP=$SRC/build/tlsmap
. "$SRC/t/lib.sh"
. "$SRC/t/support/postfix.sh"
DAEMON=
cleanup() {
    pf_stop || true
    [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null
    pkill -f "smtp-sink .*127.0.3.2:2526" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# --- 1. Postfix delivering as fast as it can -------------------------------------
smtp-sink -u postfix 127.0.3.2:2526 1000 >/dev/null 2>&1 &
pf_dirs
printf '127.0.0.1 localhost\n127.0.3.2 sink.test\n' > "$Q/etc/hosts"
echo "hosts: files" > "$Q/etc/nsswitch.conf"
{ pf_base_main
  cat <<MAIN
myhostname = mx.bench.test
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_loglevel = 1
default_process_limit = 100
MAIN
} > "$CONF/main.cf"
echo "127.0.0.1:2725 inet n - n - - smtpd" > "$CONF/master.cf"
pf_base_services >> "$CONF/master.cf"
postfix -c "$CONF" start >/dev/null 2>&1
wait_for 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/2725' || { echo "Postfix did not start" >&2; exit 1; }
smtp-source -c -s 20 -m "$N" -f bench@bench.test -t rcpt@sink.test 127.0.0.1:2725 >/dev/null
sent() { grep -c "status=sent" "$MAILLOG" 2>/dev/null || true; }
all_sent() { [ "$(sent)" -ge "$N" ]; }
wait_for 300 all_sent || { echo "Postfix delivered $(sent) of $N in 300 s" >&2; exit 1; }
stamp() { date -d "$(cut -c1-15 <<<"$1")" +%s; }
first=$(grep -m1 "status=sent" "$MAILLOG"); last=$(grep "status=sent" "$MAILLOG" | tail -1)
secs=$(( $(stamp "$last") - $(stamp "$first") )); [ "$secs" -gt 0 ] || secs=1
lines=$(grep -c "postfix/" "$MAILLOG")
pf_rate=$(( $(sent) / secs )); pf_lines=$(( lines / secs ))
pf_stop || true

# --- 2. tlspolicyd reading a log of that shape ---------------------------------------
for d in $(seq 1000); do echo "d$d.example encrypt direction=outbound"; done > "$TMP/tls.list"
"$TLSMAP" "$TMP/tls.list" 2>/dev/null
python3 - "$TMP/big.log" "$LINES" <<'EOF'
import sys
path, lines = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(lines // 2):
        pid, q = 1000 + i % 100, "%010X" % i
        dom = "d%d.example" % (i % 1000 + 1) if i % 2 else "u%d.example" % (i % 5000)
        f.write("Dec 03 14:16:29 mx postfix/smtp[%d]: Verified TLS connection established to mx.%s[192.0.2.1]:25: "
                "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature "
                "RSA-PSS (2048 bits) server-digest SHA256\n" % (pid, dom))
        f.write("Dec 03 14:16:29 mx postfix/smtp[%d]: %s: to=<user%d@%s>, relay=mx.%s[192.0.2.1]:25, delay=0.27, "
                "delays=0.02/0.05/0.2/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as ABCDEF)\n" % (pid, q, i, dom, dom))
EOF
printf '[tlspolicyd]\nlist = %s\nlisten = unix:%s/p;\nmetrics_listen = inet:127.0.0.1:10044;\npostfix_config_directory =\nuser = root\nmaillog = %s\n' \
    "$TMP/tls.list" "$TMP" "$TMP/big.log" > "$TMP/d.conf"
start=$(date +%s.%N)
"$SRC/build/tlspolicyd" --config "$TMP/d.conf" 2>/dev/null &
DAEMON=$!
caught_up() { curl -s http://127.0.0.1:10044/metrics | grep -q "^tlspolicyd_maillog_lines_total $LINES\$"; }
wait_for 600 caught_up
end=$(date +%s.%N)
reader=$(python3 -c "print(int($LINES / ($end - $start)))")
echo "postfix: $N deliveries in ${secs}s: $pf_rate deliveries/s, $pf_lines log lines/s (all its daemons' lines)"
echo "reader:  $LINES lines (a TLS and a delivery line per session, half listed) in $(python3 -c "print(round($end - $start, 2))")s: $reader lines/s"
echo "headroom: $(python3 -c "print(round($reader / $pf_lines, 1))")x Postfix's log rate"

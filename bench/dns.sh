#!/bin/bash
# dns.sh - what DANE/MTA-STS cost the socketmap, on loopback (root: the
# DNSSEC lab of t/support/dnslab.sh listens on port 53).
#
#   bench/dns.sh                 OLD_REV=7dd636c ROUNDS=3 N=200000 BURST=10000
#
# 1. Cached answers against today's list-only socketmap: bench/smbench.c
#    (one connection, strictly request/reply like trivial-rewrite) against
#    the binary of OLD_REV (the last commit before DANE/MTA-STS, built in a
#    git worktree) and this tree's, ROUNDS alternating rounds each, the
#    same 1,000 listed domains; for this tree their DANE and MTA-STS
#    answers are looked up first (signed zone, no TLSA, no MTA-STS), so
#    every measured request is a cached one.
# 2. A burst: one connection asks for BURST distinct unlisted domains
#    (dane = auto, mta_sts = enforce: each one an MX, TLSA-less NXDOMAIN
#    and TXT lookup through the validating unbound to nsd) while a second
#    connection measures cached lookups; its p99 with and without the burst.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
OLD_REV=${OLD_REV:-7dd636c} ROUNDS=${ROUNDS:-3} N=${N:-200000} BURST=${BURST:-10000}
W=$(mktemp -d /tmp/tlspolicyd-dnsbench.XXXXXX)
PIDS=()
. "$SRC/t/support/dnslab.sh"
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; dnslab_stop; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

make -C "$SRC" -s all >/dev/null
cc -O2 -pthread -o "$W/smbench" "$SRC/bench/smbench.c"
git -C "$SRC" worktree add -f "$W/old" "$OLD_REV" >/dev/null 2>&1
make -C "$W/old" -s all >/dev/null 2>&1
OLD=$W/old/build/tlspolicyd NEW=$SRC/build/tlspolicyd

cd "$W"
for i in $(seq 1000); do echo "c$i IN MX 10 mx"; done > zone.body
echo "mx IN A 127.0.0.2" >> zone.body
dnslab_start "$W/lab" "$W/zone.body" || { echo "dns.sh: the DNS lab did not start" >&2; exit 1; }
for i in $(seq 1000); do echo "c$i.lab.example encrypt direction=outbound"; done > tls.list
for i in $(seq 1000); do echo "u@c$i.lab.example"; done > cached.keys
for i in $(seq "$BURST"); do echo "u@b$i.lab.example"; done > burst.keys
"$SRC/build/tlsmap" tls.list 2>/dev/null
cat > tlspolicyd.conf <<CONF
[tlspolicyd]
user = root
postfix_config_directory =
list = $W/tls.list
listen = unix:$W/policy.sock;
socketmap_listen = unix:$W/map.sock;
metrics_listen = unix:$W/metrics.sock;
dns_resolver = $DNSLAB_RESOLVER
dns_trust_anchor = $W/lab/ta.ds
dane = auto
mta_sts = enforce
CONF
grep -v -e '^dns_' -e '^dane' -e '^mta_sts' tlspolicyd.conf > old.conf

start() {  # binary conf
    rm -f "$W"/*.sock
    "$1" --config "$2" 2>>"$W/daemon.log" &
    DAEMON=$!
    for _ in $(seq 100); do [ -S "$W/map.sock" ] && return 0; sleep 0.05; done
    echo "dns.sh: $1 did not start" >&2; exit 1
}
stop() { kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; }
metric() { curl -s --unix-socket "$W/metrics.sock" http://x/metrics | awk -v m="$1" '$1 == m {print $2}'; }
warm() {  # every listed domain looked up, both sources
    "$W/smbench" -n 1000 -k cached.keys "unix:$W/map.sock" >/dev/null
    for _ in $(seq 200); do
        [ "$(metric 'tlspolicyd_dane_lookups_total{result="none"}')" = 1000 ] \
            && [ "$(metric 'tlspolicyd_mta_sts_lookups_total{result="none"}')" = 1000 ] && return 0
        sleep 0.05
    done
    echo "dns.sh: lookups did not finish" >&2; exit 1
}

echo "== 1. cached answers vs the list-only socketmap of $OLD_REV ($N lookups a round)"
for r in $(seq "$ROUNDS"); do
    start "$OLD" old.conf
    printf 'round %s  list only (%s): ' "$r" "$OLD_REV"; "$W/smbench" -n "$N" -k cached.keys "unix:$W/map.sock"
    stop
    start "$NEW" tlspolicyd.conf
    warm
    printf 'round %s  cached DANE/MTA-STS:  ' "$r"; "$W/smbench" -n "$N" -k cached.keys "unix:$W/map.sock"
    stop
done

echo "== 2. a burst of $BURST uncached domains beside cached lookups"
start "$NEW" tlspolicyd.conf
warm
printf 'cached, quiet:        '; "$W/smbench" -n 100000 -k cached.keys "unix:$W/map.sock"
"$W/smbench" -n "$BURST" -k burst.keys "unix:$W/map.sock" > burst.out &
BURSTER=$!
printf 'cached, during burst: '; "$W/smbench" -n 100000 -k cached.keys "unix:$W/map.sock"
wait "$BURSTER"
printf 'the burst itself:     '; cat burst.out
for _ in $(seq 600); do
    done_dane=$(( $(metric 'tlspolicyd_dane_lookups_total{result="none"}') + $(metric 'tlspolicyd_dane_lookups_total{result="failed"}') ))
    [ "$done_dane" -ge $((1000 + BURST)) ] && break
    sleep 0.1
done
echo "lookups finished: dane none=$(metric 'tlspolicyd_dane_lookups_total{result="none"}') failed=$(metric 'tlspolicyd_dane_lookups_total{result="failed"}'), mta-sts none=$(metric 'tlspolicyd_mta_sts_lookups_total{result="none"}') failed=$(metric 'tlspolicyd_mta_sts_lookups_total{result="failed"}'), cached domains=$(metric tlspolicyd_destinations_cached)"
stop
git -C "$SRC" worktree remove --force "$W/old" >/dev/null 2>&1 || true

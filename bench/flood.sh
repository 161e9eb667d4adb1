#!/bin/bash
# flood.sh - what outsiders' domains cost (issue 30), this tree against
# OLD_REV (built in a git worktree), the same lab, the same run (root: the
# DNSSEC lab of t/support/dnslab.sh listens on port 53).
#
#   bench/flood.sh               OLD_REV=f0a94fb FLOOD=40000 CHURN=20000
#
# 1. Flood: FLOOD distinct unlisted domains under a delegation whose name
#    server never answers (t/tools/silentd.py), asked over 4 connections
#    (t/tools/smflood.py), while bench/smbench.c measures a listed domain's
#    cached answer on a fifth; then the daemon's RSS.
# 2. Memory per cached domain: CHURN distinct unlisted domains that do not
#    exist (signed NXDOMAIN), asked until every one is looked up and
#    cached; (RSS after - RSS before) / CHURN.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
OLD_REV=${OLD_REV:-f0a94fb} FLOOD=${FLOOD:-40000} CHURN=${CHURN:-20000}
W=$(mktemp -d /tmp/tlspolicyd-flood.XXXXXX)
PIDS=()
. "$SRC/t/support/dnslab.sh"
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    dnslab_stop; wait 2>/dev/null || true
    git -C "$SRC" worktree remove --force "$W/old" >/dev/null 2>&1 || true
    rm -rf "$W"
}
trap cleanup EXIT

make -C "$SRC" -s all >/dev/null
cc -O2 -pthread -o "$W/smbench" "$SRC/bench/smbench.c"
git -C "$SRC" worktree add -f "$W/old" "$OLD_REV" >/dev/null 2>&1
make -C "$W/old" -s all >/dev/null 2>&1
cd "$W"
printf 'good IN MX 10 mx.good\nmx.good IN A 127.0.0.12\nhole IN NS ns.hole\nns.hole IN A 127.0.0.41\n' > zone.body
dnslab_start "$W/lab" "$W/zone.body" || { echo "flood.sh: the DNS lab did not start" >&2; exit 1; }
python3 "$SRC/t/tools/silentd.py" udp 127.0.0.41:53 > silent.out &
PIDS+=($!)
echo "good.lab.example encrypt direction=outbound" > tls.list
"$SRC/build/tlsmap" tls.list 2>/dev/null
echo "u@good.lab.example" > good.keys
for i in $(seq "$FLOOD"); do echo "u@f$i.hole.lab.example"; done > flood.keys
for i in $(seq "$CHURN"); do echo "u@c$i.lab.example"; done > churn.keys
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

start() {  # binary
    rm -f "$W"/*.sock
    "$1" --config tlspolicyd.conf 2>>"$W/daemon.log" &
    DAEMON=$!
    for _ in $(seq 100); do [ -S "$W/map.sock" ] && return 0; sleep 0.05; done
    echo "flood.sh: $1 did not start" >&2; exit 1
}
stop() { kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; }
metric() { curl -s --unix-socket "$W/metrics.sock" http://x/metrics | awk -v m="$1" '$1 == m {print $2}'; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON/status"; }

for which in old new; do
    bin=$W/old/build/tlspolicyd
    [ "$which" = new ] && bin=$SRC/build/tlspolicyd
    echo "== $which ($([ "$which" = old ] && echo "$OLD_REV" || echo "this tree"))"
    start "$bin"
    "$W/smbench" -n 1000 -k good.keys "unix:$W/map.sock" >/dev/null
    before=$(rss)
    t0=$(date +%s%N)
    python3 "$SRC/t/tools/smflood.py" flood map.sock flood.keys 4 > flood.out &
    FLOODER=$!
    printf 'listed, during the flood: '; "$W/smbench" -n 100000 -k good.keys "unix:$W/map.sock"
    wait "$FLOODER"
    echo "flood: $(cat flood.out) in $(( ($(date +%s%N) - t0) / 1000000 )) ms; RSS $before -> $(rss) kB;" \
        "in flight $(metric tlspolicyd_destination_lookups_in_flight), cached $(metric tlspolicyd_destinations_cached)"
    stop

    start "$bin"
    "$W/smbench" -n 1000 -k good.keys "unix:$W/map.sock" >/dev/null
    before=$(rss)
    for _ in $(seq 600); do
        python3 "$SRC/t/tools/smflood.py" flood map.sock churn.keys 4 >/dev/null
        done_dane=$(( $(metric 'tlspolicyd_dane_lookups_total{result="none"}') ))
        [ "$done_dane" -ge $((CHURN + 1)) ] && break
    done
    after=$(rss)
    echo "churn: $(metric tlspolicyd_destinations_cached) domains cached; RSS $before -> $after kB:" \
        "$(( (after - before) * 1024 / CHURN )) bytes per domain"
    stop
done

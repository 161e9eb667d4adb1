#!/bin/bash
# logcost.sh - what the log costs on the socketmap's hot path (issue 31),
# this tree against OLD_REV (built in a git worktree: a line per lookup,
# written by the event loop), the same machine, the same run.
#
#   bench/logcost.sh             OLD_REV=678e394 N=200000 ROUNDS=3 REPEAT=1
#
# Lookups are of listed recipients (1,000 listed domains with a relay, so
# no DNS), each asked REPEAT times in a row: REPEAT=1, every answer a line
# to log (the worst case for the log); REPEAT=2, as Postfix asks (smtpd's
# RCPT, then the queue manager), where the daemon says each once.  The
# daemon runs on CPU 1, bench/smbench.c on CPU 0, at 10 and 50
# connections; each run starts a fresh daemon with its log going to
#   null      stderr to /dev/null (the reference: nothing written)
#   file      stderr to a file
#   pipe      stderr to a pipe read by cat
#   log_file  log_file = a file (syslog-format lines)
#   journal   the journal, when one runs (not on every test machine)
# Prints rps and p99 per run, then each sink's median ratio to null.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
OLD_REV=${OLD_REV:-678e394} N=${N:-200000} ROUNDS=${ROUNDS:-3} REPEAT=${REPEAT:-1}
W=$(mktemp -d /tmp/tlspolicyd-logcost.XXXXXX)
DAEMON=
cleanup() {
    [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null
    wait 2>/dev/null || true
    git -C "$SRC" worktree remove --force "$W/old" >/dev/null 2>&1 || true
    rm -rf "$W"
}
trap cleanup EXIT

make -C "$SRC" -s all >/dev/null
cc -O2 -pthread -o "$W/smbench" "$SRC/bench/smbench.c"
git -C "$SRC" worktree add -q "$W/old" "$OLD_REV"
make -C "$W/old" -s all >/dev/null 2>&1
NEW=$SRC/build/tlspolicyd OLD=$W/old/build/tlspolicyd

for d in $(seq 1000); do echo "d$d.example encrypt direction=outbound nexthop=[relay.example]"; done > "$W/tls.list"
"$SRC/build/tlsmap" "$W/tls.list" 2>/dev/null
awk -v n="$N" -v r="$REPEAT" 'BEGIN { for (i = 0; i < n; i++) printf "u%d@d%d.example\n", int(i / r), int(i / r) % 1000 + 1 }' > "$W/keys"

run() {  # binary sink connections -> "rps p99"
    local bin=$1 sink=$2 c=$3 conf=$W/run.conf
    printf '[tlspolicyd]\nuser = root\nlist = %s\nlisten = unix:%s/p.sock;\nsocketmap_listen = unix:%s/m.sock;\npostfix_config_directory =\ndns_resolver = 127.0.0.1@9\n' \
        "$W/tls.list" "$W" "$W" > "$conf"
    [ "$sink" = log_file ] && echo "log_file = $W/log_file.log" >> "$conf"
    rm -f "$W/m.sock" "$W"/*.log
    case $sink in
    null)     taskset -c 1 "$bin" --config "$conf" 2>/dev/null & ;;
    file|log_file) taskset -c 1 "$bin" --config "$conf" 2>>"$W/stderr.log" & ;;
    pipe)     taskset -c 1 "$bin" --config "$conf" 2> >(cat > /dev/null) & ;;
    journal)  taskset -c 1 systemd-cat -t tlspolicyd-bench "$bin" --config "$conf" & ;;
    esac
    DAEMON=$!
    for _ in $(seq 200); do [ -S "$W/m.sock" ] && break; sleep 0.05; done
    taskset -c 0 "$W/smbench" -n "$N" -c "$c" -k "$W/keys" "unix:$W/m.sock" \
        | sed -n 's/.* rps=\([0-9]*\) .* p99_us=\([0-9.]*\).*/\1 \2/p'
    kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true
    DAEMON=
}

sinks=${SINKS:-null file pipe log_file}
[ -S /run/systemd/journal/socket ] && command -v systemd-cat >/dev/null && sinks="$sinks journal"
for c in 10 50; do
    for r in $(seq "$ROUNDS"); do
        for who in new old; do
            bin=$NEW; [ $who = old ] && bin=$OLD
            for sink in $sinks; do
                set -- $(run "$bin" "$sink" "$c")
                printf 'c=%-3s round=%s %-4s %-9s rps=%-7s p99_us=%s\n' "$c" "$r" "$who" "$sink" "$1" "$2"
            done
        done
    done
done | tee "$W/results"
echo "# median ratio to the same daemon with its log to /dev/null (rps, p99)"
for c in 10 50; do
    for who in new old; do
        for sink in $sinks; do
            awk -v c="$c" -v who="$who" -v sink="$sink" '
                function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                               return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
                { split($0, f, " "); sub("c=", "", f[1]); if (f[1] != c || f[3] != who) next
                  sub("rps=", "", f[5]); sub("p99_us=", "", f[6]); r = f[2]
                  if (f[4] == "null") { nr[r] = f[5]; np[r] = f[6] } else if (f[4] == sink) { sr[r] = f[5]; sp[r] = f[6] } }
                END { n = 0; for (r in sr) if (r in nr) { n++; a[n] = sr[r] / nr[r]; b[n] = sp[r] / np[r] }
                      if (n && sink != "null") printf "c=%-3s %-4s %-9s rps %.2fx  p99 %.2fx\n", c, who, sink, med(a, n), med(b, n) }' "$W/results"
        done
    done
done

#!/bin/sh
# compile.sh - tlsmap against postmap lmdb: on the same 1,000,000 keys, same
# machine, same run (alternating, RUNS times each; medians printed last).
# The list mixes domains, .parent keys and addresses, as bench data does.
# Usage: bench/compile.sh [DIR]   (DIR default /tmp/tlsmap-bench; RUNS=7)
# Needs postfix-lmdb (postmap lmdb:); postmap gets an empty main.cf.
set -eu
T=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
D=${1:-/tmp/tlsmap-bench}
mkdir -p "$D/pfconf"
: > "$D/pfconf/main.cf"
if [ ! -s "$D/big.list" ]; then
  awk 'BEGIN { srand(1); for (i = 0; i < 1000000; i++) {
      r = rand(); lvl = rand() < 0.7 ? "encrypt" : "verify on_failure=bounce"
      if (r < 0.2) printf "user%d@d%d.example.net %s\n", i, i, "encrypt"
      else if (r < 0.4) printf ".d%d.example.net %s\n", i, lvl
      else printf "d%d.example.net %s\n", i, lvl } }' > "$D/big.list"
  cp "$D/big.list" "$D/big.pm"
fi
med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
: > "$D/t.tlsmap"; : > "$D/t.postmap"
# sync first: neither command should wait behind the other's writeback
for i in $(seq ${RUNS:-7}); do
  sync; /usr/bin/time -f %e -a -o "$D/t.tlsmap" "$T/tlsmap" "$D/big.list" 2>/dev/null
  sync; /usr/bin/time -f %e -a -o "$D/t.postmap" postmap -c "$D/pfconf" "lmdb:$D/big.pm"
done
echo "tlsmap  $(tr '\n' ' ' < "$D/t.tlsmap") median $(med < "$D/t.tlsmap")"
echo "postmap $(tr '\n' ' ' < "$D/t.postmap") median $(med < "$D/t.postmap")"

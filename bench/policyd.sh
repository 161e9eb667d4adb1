#!/bin/sh
# policyd.sh - tlspolicyd against nullpolicyd -l in the same run: unix sockets,
# server on CPU 1, generator on CPU 0, 1M listed domains, half the requests TLS.
# Setup: cp -r ../shared/bench /tmp/policybench && make -C /tmp/policybench &&
#   (cd /tmp/policybench && sh mkdata.sh) && awk '{print $0" encrypt direction=inbound"}' \
#   /tmp/policybench/data/domains_1m.txt > /tmp/policybench/data/tls1m.list && build/tlsmap /tmp/policybench/data/tls1m.list
# Usage: bench/policyd.sh   (CONNS="1 10 100" REPS="1 2 3" by default)
set -u
B=${BENCH:-/tmp/policybench}; T=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
rm -f /tmp/null.sock /tmp/tls.sock
taskset -c 1 $B/nullpolicyd -T 600 -l $B/data/lmdb_1m unix:/tmp/null.sock >/dev/null 2>&1 &
NP=$!
taskset -c 1 $T/tlspolicyd --list $B/data/tls1m.list --listen unix:/tmp/tls.sock 2>/tmp/tls.log &
TP=$!
sleep 1
for c in ${CONNS:-1 10 100}; do
  for rep in ${REPS:-1 2 3}; do
    for t in null tls; do
      pid=$NP; [ $t = tls ] && pid=$TP
      printf '%s c=%s ' $t $c
      taskset -c 0 $B/policybench -U -c $c -t 4 -w 1 -p 0.5 -k $B/data/keys_1m.txt -m $B/data/domains_1m.txt \
        -E $( [ $t = tls ] && echo 550 || echo REJECT ) -D DUNNO -S $pid unix:/tmp/$t.sock 2>&1 | tr '\n' ' ' | \
        grep -oE 'requests=[0-9]+|errors=[0-9]+|mismatches=[0-9]+|rps=[0-9]+|p99_us=[0-9.]+|srv_cpu_pct=[0-9.]+' | tr '\n' ' '
      echo
    done
  done
done
kill $NP $TP

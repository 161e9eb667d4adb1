#!/bin/sh
# cpu.sh - CPU time per request of tlspolicyd and nullpolicyd -l, same run:
# N requests at C connections (policybench -n), user and system time of the
# server from /proc/PID/stat before and after, three rounds alternating.
# Setup as for bench/policyd.sh.  Usage: C=10 N=500000 bench/cpu.sh
set -u
B=${BENCH:-/tmp/policybench}; T=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
C=${C:-10}; N=${N:-500000}; HZ=$(getconf CLK_TCK)
rm -f /tmp/null.sock /tmp/tls.sock
taskset -c 1 $B/nullpolicyd -T 600 -l $B/data/lmdb_1m unix:/tmp/null.sock >/dev/null 2>&1 &
NP=$!
taskset -c 1 $T/tlspolicyd --user root --list $B/data/tls1m.list --listen unix:/tmp/tls.sock 2>/dev/null &
TP=$!
sleep 1
for rep in 1 2 3; do
  for t in null tls; do
    pid=$NP; [ $t = tls ] && pid=$TP
    before=$(awk '{print $14, $15}' /proc/$pid/stat)
    out=$(taskset -c 0 $B/policybench -U -c $C -n $N -w 0 -p 0.5 -k $B/data/keys_1m.txt -m $B/data/domains_1m.txt \
          -E $( [ $t = tls ] && echo 550 || echo REJECT ) -D DUNNO unix:/tmp/$t.sock | grep -oE 'rps=[0-9]+|mismatches=[0-9]+' | tr '\n' ' ')
    after=$(awk '{print $14, $15}' /proc/$pid/stat)
    echo "$t c=$C $out $before $after" | awk -v n=$N -v hz=$HZ '{ u = ($7 - $5) / hz * 1e6 / n; s = ($8 - $6) / hz * 1e6 / n;
      printf "%s %s %s %s user_us=%.2f sys_us=%.2f total_us=%.2f\n", $1, $2, $3, $4, u, s, u + s }'
  done
done
kill $NP $TP

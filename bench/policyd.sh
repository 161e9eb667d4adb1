#!/bin/sh
# policyd.sh - tlspolicyd against nullpolicyd -l in the same run: unix sockets,
# server on CPU 1, generator on CPU 0, 1M listed domains, half the requests TLS.
# Setup: cp -r ../shared/bench /tmp/policybench && make -C /tmp/policybench &&
#   (cd /tmp/policybench && sh mkdata.sh) && awk '{print $0" encrypt direction=inbound"}' \
#   /tmp/policybench/data/domains_1m.txt > /tmp/policybench/data/tls1m.list && build/tlsmap /tmp/policybench/data/tls1m.list
# Usage: bench/policyd.sh   (CONNS="1 10 100" REPS="1 2 3" by default)
# Each rep runs nullpolicyd then tlspolicyd back to back; the summary gives,
# per connection count, the medians of each server and the median of the
# per-rep ratios (a pair shares the machine's state of the moment, so the
# latter is the steadier figure when the host is noisy).
set -u
B=${BENCH:-/tmp/policybench}; T=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
rm -f /tmp/null.sock /tmp/tls.sock
taskset -c 1 $B/nullpolicyd -T 600 -l $B/data/lmdb_1m unix:/tmp/null.sock >/dev/null 2>&1 &
NP=$!
taskset -c 1 $T/tlspolicyd --user root --list $B/data/tls1m.list --listen unix:/tmp/tls.sock 2>${TLS_LOG:-/tmp/tls.log} &
TP=$!
sleep 1
for c in ${CONNS:-1 10 100}; do
  for rep in ${REPS:-1 2 3}; do
    for t in null tls; do
      pid=$NP; [ $t = tls ] && pid=$TP
      printf '%s c=%s ' $t $c | tee -a /tmp/policyd-bench.$$
      taskset -c 0 $B/policybench -U -c $c -t 4 -w 1 -p 0.5 -k $B/data/keys_1m.txt -m $B/data/domains_1m.txt \
        -E $( [ $t = tls ] && echo 550 || echo REJECT ) -D DUNNO -S $pid unix:/tmp/$t.sock 2>&1 | tr '\n' ' ' | \
        grep -oE 'requests=[0-9]+|errors=[0-9]+|mismatches=[0-9]+|rps=[0-9]+|p99_us=[0-9.]+|srv_cpu_pct=[0-9.]+' | tr '\n' ' ' |
        tee -a /tmp/policyd-bench.$$
      echo | tee -a /tmp/policyd-bench.$$
    done
  done
done
kill $NP $TP
# summary: medians per server, median of the per-rep ratios
awk '
  function med(list,   n, v, i, j, t) { n = split(list, v, " ");
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((n + 1) / 2)] }
  { for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    if ($1 == "null") { nr = f["rps"]; np = f["p99_us"] }
    else { c = $2; rn[c] = rn[c] " " nr; rt[c] = rt[c] " " f["rps"]; pn[c] = pn[c] " " np; pt[c] = pt[c] " " f["p99_us"]
           rr[c] = rr[c] " " f["rps"] / nr; pr[c] = pr[c] " " f["p99_us"] / np; if (!(c in seen)) { seen[c] = 1; order[++k] = c } } }
  END { printf "%-6s %12s %12s %12s %18s %12s\n", "conns", "null rps", "tls rps", "ratio(pairs)", "p99 null/tls", "p99 ratio"
        for (i = 1; i <= k; i++) { c = order[i]
          printf "%-6s %12d %12d %12.2f %9.1f/%-8.1f %12.2f\n", substr(c, 3), med(rn[c]), med(rt[c]), med(rr[c]),
                 med(pn[c]), med(pt[c]), med(pr[c]) } }' /tmp/policyd-bench.$$
rm -f /tmp/policyd-bench.$$

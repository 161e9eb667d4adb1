#!/bin/bash
# prometheus.t - a real Prometheus (Debian's package, loopback, storage in
# the test's directory) scrapes tlspolicyd's metrics_listen; the decision
# counts the test causes come back from Prometheus' query API, and
# promtool finds nothing to say about the exposition.
. "$(dirname "$0")/lib.sh"
: "${TLSPOLICYD:?set TLSPOLICYD}"

for tool in prometheus promtool python3; do
    if ! command -v $tool >/dev/null; then echo "1..0 # SKIP $tool not installed (scripts/deps.sh test installs it)"; exit 0; fi
done
POLICY=10051 METRICS=10052 PROM=10053

get() {  # URL -> body (exit 1 on an HTTP error)
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}
# the value of a PromQL query's first sample, or nothing
query() {
    python3 - "http://127.0.0.1:$PROM/api/v1/query" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "?" + urllib.parse.urlencode({"query": sys.argv[2]})
r = json.load(urllib.request.urlopen(url, timeout=5))
res = r["data"]["result"]
print(res[0]["value"][1] if res else "")
PY
}
query_is() { [ "$(query "$1")" = "$2" ]; }

printf 'bank.example encrypt\n.parent.example verify\n' > "$TMP/tls.list"
"$TLSMAP" "$TMP/tls.list" 2>/dev/null
cat > "$TMP/tlspolicyd.conf" <<CONF
[tlspolicyd]
user = root
postfix_config_directory =
list = $TMP/tls.list
listen = inet:127.0.0.1:$POLICY
metrics_listen = inet:127.0.0.1:$METRICS
maillog = $TMP/maillog
tlsrpt = dry-run
tlsrpt_directory = $TMP
CONF
# a delivery log with one TLS session and its delivery: the reader's
# families are exposed, and checked by promtool too
printf '%s\n' "Dec 03 14:16:29 mx postfix/smtp[7]: Verified TLS connection established to mx.bank.example[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" \
    "Dec 03 14:16:29 mx postfix/smtp[7]: 4B: to=<a@bank.example>, relay=mx.bank.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)" \
    > "$TMP/maillog"
"$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" 2>"$TMP/daemon.log" &
PIDS+=($!)
ok "tlspolicyd serves metrics on loopback" wait_for 10 get "http://127.0.0.1:$METRICS/metrics"

cat > "$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tlspolicyd
    static_configs:
      - targets: ['127.0.0.1:$METRICS']
YML
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
    --web.listen-address="127.0.0.1:$PROM" > "$TMP/prometheus.log" 2>&1 &
PIDS+=($!)
ok "Prometheus is ready" wait_for 30 get "http://127.0.0.1:$PROM/-/ready"
ok "Prometheus scrapes tlspolicyd (up == 1)" wait_for 30 query_is 'up{job="tlspolicyd"}' 1

# known traffic: three refusals without TLS, one over TLS 1.1 (below the
# floor), two unlisted senders
ask() {  # sender [protocol]
    exec 3<>"/dev/tcp/127.0.0.1/$POLICY"
    printf 'request=smtpd_access_policy\nprotocol_state=RCPT\ninstance=%s\nsender=%s\nencryption_protocol=%s\n\n' \
        "$RANDOM$RANDOM" "$1" "${2:-}" >&3
    local line; read -r line <&3; exec 3>&-; printf '%s\n' "$line"
}
for i in 1 2 3; do
    like "$(ask "a$i@bank.example")" "^action=550 5\.7\.1 " "plaintext from a listed sender $i: 550"
done
like "$(ask a@mx.parent.example TLSv1.1)" "^action=550 5\.7\.1 " "TLS 1.1 from a listed parent: 550"
for i in 1 2; do is "$(ask "b$i@unlisted.example")" "action=DUNNO" "unlisted sender $i: DUNNO"; done

ok "Prometheus has the 4 rejects" wait_for 30 query_is 'tlspolicyd_decisions_total{direction="inbound",verdict="reject"}' 4
ok "... the 2 DUNNOs" wait_for 30 query_is 'tlspolicyd_decisions_total{direction="inbound",verdict="dunno"}' 2
ok "... 3 refusals for no TLS" wait_for 30 query_is 'tlspolicyd_refusals_total{reason="no_tls"}' 3
ok "... 1 for the protocol" wait_for 30 query_is 'tlspolicyd_refusals_total{reason="protocol"}' 1
ok "... 1 TLS 1.1 session" wait_for 30 query_is 'tlspolicyd_inbound_sessions_total{protocol="TLSv1.1"}' 1
ok "... the list's 2 entries" wait_for 30 query_is 'tlspolicyd_list_entries' 2
ok "... the delivery log's 2 lines" wait_for 30 query_is 'tlspolicyd_maillog_lines_total' 2
ok "... 1 outbound session that met its level" wait_for 30 query_is 'tlspolicyd_outbound_sessions_total{result="none"}' 1
ok "... that session in the day's TLS-RPT report" wait_for 30 query_is 'tlspolicyd_tlsrpt_sessions_total' 1
ok "... 6 decisions in the latency histogram" wait_for 30 query_is 'tlspolicyd_decision_duration_seconds_count{service="policy"}' 6

out=$(get "http://127.0.0.1:$METRICS/metrics" | promtool check metrics 2>&1); rc=$?
is "$rc:$out" "0:" "promtool check metrics: clean"
done_testing

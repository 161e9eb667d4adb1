#!/bin/bash
# hostile.t - DANE and MTA-STS under attack (issue 30), on loopback: the
# DNSSEC lab (nsd + validating unbound, t/support/dnslab.sh), the HTTPS
# policy server, policy hosts and a name server that never answer
# (t/tools/silentd.py), and tlspolicyd's socketmap driven by
# t/tools/smflood.py, as a stream of outsiders' RCPTs drives it through
# Postfix's transport lookups.  Small limits (destination_cache_size =
# 1000) stand for the real ones, whose code is the same.
#
#   private       a policy host on loopback is not fetched from by default
#   fetch slots   40 policy hosts that accept and never speak, then a good
#                 domain: its policy is fetched at once, not 40/8 timeouts
#                 later
#   churn         5 x the cache of other domains, the policy host then
#                 gone: an unlisted domain's enforce policy stays (RFC 8461
#                 5.1), the cap holds, eviction is counted
#   bogus         validation failures are TEMP, never "no DANE"
#   outage        nsd stopped: validated TLSA records keep dane-only
#   flood         20,000 domains whose name server never answers: answers
#                 keep flowing, a listed domain's lookup stays fast, at most
#                 destination_max_lookups in flight, memory bounded
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
: "${TLSPOLICYD:?set TLSPOLICYD}"
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP nsd/unbound on port 53 need root"; exit 0; fi
for tool in nsd unbound ldns-keygen ldns-signzone dig openssl python3 curl; do
    command -v $tool >/dev/null || { echo "Bail out! $tool missing (scripts/deps.sh test installs it)"; exit 1; }
done
# addresses of its own: dane.t's lab may run beside it (prove -j)
DNSLAB_RESOLVER=127.0.0.50 DNSLAB_AUTH=127.0.0.51
HTTPS_ADDR=127.0.0.60 SILENT_HTTPS=127.0.0.62 SILENT_DNS=127.0.0.61
. "$SRC/t/support/dnslab.sh"
. "$SRC/t/support/testca.sh"
Z=lab.example
SILENT_HOSTS=40 CHURN=5000 FLOOD=20000 CACHE=1000 MAX_LOOKUPS=256
cd "$TMP" || exit 1

# --- the lab --------------------------------------------------------------------------------
testca_new "tlspolicyd hostile test CA"
make_cert https "mta-sts.good.$Z" "mta-sts.kept.$Z" "mta-sts.late.$Z"
{
    for d in good kept late; do
        printf '%s IN MX 10 mx.good\n_mta-sts.%s IN TXT "v=STSv1; id=1"\nmta-sts.%s IN A %s\n' "$d" "$d" "$d" "$HTTPS_ADDR"
    done
    echo "mx.good IN A 127.0.0.12"
    for i in $(seq "$SILENT_HOSTS"); do
        printf '_mta-sts.s%d IN TXT "v=STSv1; id=1"\nmta-sts.s%d IN A %s\n' "$i" "$i" "$SILENT_HTTPS"
    done
    # validated TLSA records with a 5 s TTL: looked up again soon, during the outage
    echo "dane-keep 5 IN MX 10 mx.dane-keep"
    echo "mx.dane-keep 5 IN A 127.0.0.13"
    echo "_25._tcp.mx.dane-keep 5 IN TLSA 3 1 1 $(printf x | openssl dgst -sha256 | sed 's/.* //')"
    echo "dane-bogus IN MX 10 mx.dane-bogus"
    echo "mx.dane-bogus IN A 127.0.0.13"
    echo "_25._tcp.mx.dane-bogus IN TLSA 3 1 1 $(printf y | openssl dgst -sha256 | sed 's/.* //')"
    # an insecure delegation to a name server that never answers
    echo "hole IN NS ns.hole"
    echo "ns.hole IN A $SILENT_DNS"
} > zone.body
mkdir -p lab && echo "_25._tcp.mx.dane-bogus.$Z" > lab/bogus
ok "DNSSEC lab is up" dnslab_start "$TMP/lab" "$TMP/zone.body"

for d in good kept late; do
    mkdir -p "www/mta-sts.$d.$Z/.well-known"
    printf 'version: STSv1\nmode: enforce\nmx: mx.good.%s\nmax_age: 86400\n' "$Z" > "www/mta-sts.$d.$Z/.well-known/mta-sts.txt"
done
python3 "$SRC/t/tools/httpsd.py" --listen $HTTPS_ADDR:443 --cert https.crt --key https.key --root www \
    > httpsd.out 2> httpsd.log &
HTTPSD=$!
PIDS+=($!)
python3 "$SRC/t/tools/silentd.py" tcp $SILENT_HTTPS:443 > silent-https.out 2>&1 &
PIDS+=($!)
python3 "$SRC/t/tools/silentd.py" udp $SILENT_DNS:53 > silent-dns.out 2>&1 &
PIDS+=($!)
ok "policy server, silent policy hosts and the silent name server are up" \
    wait_for 10 grep -q ready httpsd.out silent-https.out silent-dns.out

# --- tlspolicyd -----------------------------------------------------------------------------
echo "good.$Z secure direction=outbound" > tls.list
"$TLSMAP" tls.list
cat > tlspolicyd.conf <<CONF
[tlspolicyd]
user = root
postfix_config_directory =
list = $TMP/tls.list
listen = unix:$TMP/policy.sock;
socketmap_listen = unix:$TMP/map.sock;
metrics_listen = unix:$TMP/metrics.sock;
dns_resolver = $DNSLAB_RESOLVER
dns_trust_anchor = $TMP/lab/ta.ds
dane = auto
mta_sts = enforce
mta_sts_ca_file = $TMP/ca.crt
mta_sts_private_hosts = true
mta_sts_timeout = 10
destination_cache_size = $CACHE
destination_max_lookups = $MAX_LOOKUPS
CONF
"$TLSPOLICYD" --config tlspolicyd.conf 2>>daemon.log &
DAEMON=$!
PIDS+=($!)
ok "tlspolicyd is up" wait_for 10 test -S map.sock

explain() { "$TLSPOLICYD" --config tlspolicyd.conf --explain "$1" 2>&1 | tr "\n" " "; }
metric() { curl -s --unix-socket metrics.sock http://tlspolicyd/metrics | awk -v m="$1" '$1 == m {print $2}'; }
keys() {  # prefix count
    for i in $(seq "$2"); do echo "u@$1$i.$Z"; done
}
like "$(explain "u@good.$Z")" "answer: OK tls-secure:" "good (listed secure, enforce policy): routed secure"
# kept's policy must be in the cache before its policy host goes (the
# churn below): on a loaded machine the first fetch can outlast explain's
# 10 s or its 10 s timeout, and a failed lookup is tried again after 60 s.
kept_fetched() { explain "u@kept.$Z" | grep -q "MTA-STS: enforce, mx mx.good.$Z, max_age 86400, id 1 fetched.*answer: OK tls-secure:"; }
ok "kept (unlisted, mta_sts = enforce): its policy fetched, routed secure" wait_for 90 kept_fetched
like "$(explain "u@dane-keep.$Z")" "DANE: TLSA on 1 of 1 MX, DNSSEC secure.*answer: OK tls-dane-only:" \
    "dane-keep (unlisted, dane = auto): validated TLSA, dane-only"

# --- an outsider's DNS does not send the fetcher into the site's own network ----------------
sed -e '/^mta_sts_private_hosts/d' -e "s|$TMP/\([a-z]*\)\.sock|$TMP/strict-\1.sock|" tlspolicyd.conf > strict.conf
"$TLSPOLICYD" --config strict.conf 2>>strict.log &
STRICT=$!
PIDS+=($!)
ok "a second daemon, mta_sts_private_hosts off (the default)" wait_for 10 test -S strict-map.sock
like "$("$TLSPOLICYD" --config strict.conf --explain "u@late.$Z" 2>&1 | tr '\n' ' ')" \
    "MTA-STS: policy host mta-sts.DOMAIN has only loopback or private addresses" \
    "... refuses to fetch a policy from a loopback address"
kill "$STRICT"; wait "$STRICT" 2>/dev/null

# --- fetch slots: 40 silent policy hosts do not hold up a good domain's fetch ----------------
keys s "$SILENT_HOSTS" > silent.keys
python3 "$SRC/t/tools/smflood.py" flood map.sock silent.keys 1 > silent.out
fetching_all() { [ "$(metric tlspolicyd_mta_sts_fetches_total)" -ge $((SILENT_HOSTS + 2)) ]; }
ok "$SILENT_HOSTS fetches hang on the silent policy hosts" wait_for 10 fetching_all
start=$(date +%s%N)
out=$(explain "u@late.$Z")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
like "$out" "MTA-STS: enforce.*id 1 fetched.*answer: OK tls-secure:" "late: its policy fetched meanwhile, routed secure"
ok "... within 3 s (${ms} ms; 8 workers behind $SILENT_HOSTS hosts of 10 s each took 50 s)" test "$ms" -lt 3000

# --- churn: a cached enforce policy outlives 5 x the cache of other domains -------------------
kill "$HTTPSD"; wait "$HTTPSD" 2>/dev/null
keys c "$CHURN" > churn.keys
out=$(python3 "$SRC/t/tools/smflood.py" flood map.sock churn.keys 2)
is "$out" "answers=$CHURN NOTFOUND=$CHURN" "churn: $CHURN unlisted domains that publish nothing, all answered"
# each churn domain settles (NXDOMAIN) and is evicted in its turn; ask again until all are done
settled() { python3 "$SRC/t/tools/smflood.py" flood map.sock churn.keys 2 >/dev/null;
    [ "$(metric tlspolicyd_destination_lookups_in_flight)" = 0 ] && [ "$(metric tlspolicyd_destinations_evicted_total)" -ge $((CHURN - CACHE)) ]; }
ok "... looked up and evicted in turn" wait_for 60 settled
cached=$(metric tlspolicyd_destinations_cached)
ok "... the cache holds its size ($cached of $CACHE)" test "$cached" -le "$CACHE"
like "$(explain "u@kept.$Z")" "MTA-STS: enforce, mx mx.good.$Z.*answer: OK tls-secure:" \
    "kept: its policy survives the churn, with its policy host gone"
out=$(python3 "$SRC/t/tools/smflood.py" ask map.sock "tlspolicy kept.$Z")
is "$out" "OK secure match=mx.good.$Z servername=hostname" "... and the tlspolicy table still answers its match="

# --- bogus DNSSEC is never "no DANE" ------------------------------------------------------------
like "$(explain "u@dane-bogus.$Z")" "DANE: TLSA lookup failed: _25._tcp.mx.dane-bogus.$Z bogus.*answer: TEMP DNSSEC validation failed" \
    "dane-bogus (unlisted, on_lookup_failure = list): TEMP, not Postfix's default"

# --- outage: validated TLSA records stay in force -------------------------------------------------
failed_before=$(metric 'tlspolicyd_dane_lookups_total{result="failed"}')
kill "$DNSLAB_NSD"; wait "$DNSLAB_NSD" 2>/dev/null
relooked() { explain "u@dane-keep.$Z" >/dev/null; [ "$(metric 'tlspolicyd_dane_lookups_total{result="failed"}')" -gt "$failed_before" ]; }
ok "nsd stopped: dane-keep's lookup, after its 5 s TTL, fails" wait_for 60 relooked
like "$(explain "u@dane-keep.$Z")" "DANE: TLSA on 1 of 1 MX, DNSSEC secure, as last validated \(MX lookup failed.*answer: OK tls-dane-only:" \
    "... and the validated TLSA records keep dane-only (RFC 7672), not Postfix's default"
ok "nsd back" dnslab_resign "$TMP/lab" "$TMP/zone.body"

# --- flood: names whose name server never answers ------------------------------------------------
rss() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON/status"; }
rss_before=$(rss)
deferred_before=$(metric tlspolicyd_destination_lookups_deferred_total)
keys f "$FLOOD" | sed "s/\.$Z\$/.hole.$Z/" > flood.keys
rm -f flood.done
python3 "$SRC/t/tools/smflood.py" probe map.sock "u@good.$Z" flood.done > probe.out &
PROBE=$!
out=$(python3 "$SRC/t/tools/smflood.py" flood map.sock flood.keys 4)
touch flood.done
wait "$PROBE"
is "$out" "answers=$FLOOD NOTFOUND=$FLOOD" "flood: $FLOOD domains under a silent name server, every one answered"
in_flight=$(metric tlspolicyd_destination_lookups_in_flight)
ok "... at most destination_max_lookups in flight ($in_flight of $MAX_LOOKUPS)" test "$in_flight" -le "$MAX_LOOKUPS"
deferred=$(( $(metric tlspolicyd_destination_lookups_deferred_total) - deferred_before ))
ok "... the rest answered without a lookup, counted ($deferred)" test "$deferred" -ge $((FLOOD / 2))
probe=$(cat probe.out)
echo "# listed domain during the flood: $probe"
like "$probe" "replies=OK tls-secure:$" "... the listed domain's answer never changed"
max_ms=$(sed 's/.*max_ms=\([0-9]*\).*/\1/' probe.out)
ok "... nor waited on DNS: slowest of its lookups ${max_ms} ms (the blocked loop took 3,800 ms)" test "$max_ms" -lt 1000
growth=$(( $(rss) - rss_before ))
ok "... memory grew ${growth} kB (26 KB for each pending domain would be $((FLOOD * 26)) kB)" test "$growth" -lt 65536
cached=$(metric tlspolicyd_destinations_cached)
ok "... the cache holds its size ($cached of $CACHE)" test "$cached" -le "$CACHE"
done_testing

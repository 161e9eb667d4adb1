# dnslab.sh - an offline DNSSEC world on loopback for the tests (sourced
# by bash tests; see ../shared/notes/offline-dnssec-lab.md for the facts
# it rests on).
#
#   dnslab_start DIR ZONEFILE_BODY_FILE
#       signs zone lab.example. (ldns-keygen/ldns-signzone: a KSK and a
#       ZSK, ECDSA P-256), serves it with nsd on $DNSLAB_AUTH:53 and starts
#       a validating unbound on $DNSLAB_RESOLVER:53 whose trust anchor is
#       the zone's DS ($DIR/ta.ds).  Other zones are forwarded nowhere, so
#       they fail (SERVFAIL).  Returns non-zero when either does not answer
#       within 10 s.
#   dnslab_resign DIR ZONEFILE_BODY_FILE
#       the zone again from a new body, signed with the same keys (the
#       trust anchor stays valid); nsd restarted on it
#   dnslab_stop
#       (run at exit too)
#
# Records listed in $DIR/bogus (owner names) get their RDATA changed after
# signing: their signatures no longer match, so a validator calls them
# bogus.
DNSLAB_AUTH=${DNSLAB_AUTH:-127.0.0.21}
DNSLAB_RESOLVER=${DNSLAB_RESOLVER:-127.0.0.20}
DNSLAB_ZONE=lab.example
DNSLAB_PIDS=()

dnslab_start() {  # dir zone-body-file
    local dir=$1 body=$2
    mkdir -p "$dir" && chmod 755 "$dir"
    (
        cd "$dir" || exit 1
        {
            echo "\$ORIGIN $DNSLAB_ZONE."
            echo "\$TTL 300"
            echo "@ IN SOA ns.$DNSLAB_ZONE. hostmaster.$DNSLAB_ZONE. 1 3600 600 86400 300"
            echo "@ IN NS ns.$DNSLAB_ZONE."
            echo "ns IN A $DNSLAB_AUTH"
            cat "$body"
        } > zone
        ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$DNSLAB_ZONE") || exit 1
        zsk=$(ldns-keygen -a ECDSAP256SHA256 "$DNSLAB_ZONE") || exit 1
        echo "$ksk $zsk" > keys
        ldns-signzone -n zone "$ksk" "$zsk" || exit 1
        cp "$ksk.ds" ta.ds
        # break the records named in ./bogus (TLSA data: flip the last hex digit)
        if [ -f bogus ]; then
            while read -r owner; do
                awk -v o="$owner." '$1 == o && $4 == "TLSA" { d = $NF; l = substr(d, length(d)); $NF = substr(d, 1, length(d) - 1) (l == "0" ? "1" : "0") } { print }' \
                    zone.signed > zone.tmp && mv zone.tmp zone.signed
            done < bogus
        fi
        cat > nsd.conf <<NSD
server:
    ip-address: $DNSLAB_AUTH
    port: 53
    username: ""
    database: ""
    zonesdir: "$dir"
    pidfile: "$dir/nsd.pid"
    xfrdfile: "$dir/xfrd.state"
    zonelistfile: "$dir/zone.list"
    logfile: "$dir/nsd.log"
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: $DNSLAB_ZONE
    zonefile: zone.signed
NSD
        cat > unbound.conf <<UNB
server:
    interface: $DNSLAB_RESOLVER
    port: 53
    username: ""
    chroot: ""
    directory: "$dir"
    pidfile: "$dir/unbound.pid"
    logfile: "$dir/unbound.log"
    use-syslog: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "validator iterator"
    trust-anchor-file: "$dir/ta.ds"
    val-log-level: 2
stub-zone:
    name: "$DNSLAB_ZONE"
    stub-addr: $DNSLAB_AUTH@53
remote-control:
    control-enable: no
UNB
    ) || return 1
    nsd -d -c "$dir/nsd.conf" > "$dir/nsd.out" 2>&1 &
    DNSLAB_NSD=$!
    DNSLAB_PIDS+=($!)
    unbound -d -c "$dir/unbound.conf" > "$dir/unbound.out" 2>&1 &
    DNSLAB_PIDS+=($!)
    local i
    for i in $(seq 100); do
        dig +short +dnssec +time=1 +tries=1 @"$DNSLAB_RESOLVER" SOA "$DNSLAB_ZONE" 2>/dev/null | grep -q hostmaster \
            && dig +time=1 +tries=1 +dnssec @"$DNSLAB_RESOLVER" SOA "$DNSLAB_ZONE" | grep -q 'flags:.* ad' && return 0
        sleep 0.1
    done
    return 1
}

dnslab_resign() {  # dir zone-body-file
    local dir=$1 body=$2 serial
    serial=$(( $(cat "$dir/serial" 2>/dev/null || echo 1) + 1 ))
    echo "$serial" > "$dir/serial"
    (
        cd "$dir" || exit 1
        {
            echo "\$ORIGIN $DNSLAB_ZONE."
            echo "\$TTL 300"
            echo "@ IN SOA ns.$DNSLAB_ZONE. hostmaster.$DNSLAB_ZONE. $serial 3600 600 86400 300"
            echo "@ IN NS ns.$DNSLAB_ZONE."
            echo "ns IN A $DNSLAB_AUTH"
            cat "$body"
        } > zone
        read -r ksk zsk < keys
        ldns-signzone -n zone "$ksk" "$zsk"
    ) || return 1
    kill "$DNSLAB_NSD" 2>/dev/null; wait "$DNSLAB_NSD" 2>/dev/null
    nsd -d -c "$dir/nsd.conf" >> "$dir/nsd.out" 2>&1 &
    DNSLAB_NSD=$!
    DNSLAB_PIDS+=($!)
    local i
    for i in $(seq 100); do
        dig +short +time=1 +tries=1 @"$DNSLAB_AUTH" SOA "$DNSLAB_ZONE" 2>/dev/null | grep -q " $serial " && return 0
        sleep 0.1
    done
    return 1
}

dnslab_stop() {
    local p
    for p in "${DNSLAB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${DNSLAB_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    DNSLAB_PIDS=()
}
AT_EXIT+=(dnslab_stop)

#!/bin/bash
# supervise.t - tlspolicyd started by hand as root, and under runit's
# runsv (Debian's runit): it becomes its account (nobody here) before it
# answers, with no supplementary groups; its sockets are where and how
# Postfix's private/ clients need them (the postfix account connects);
# log_file gets the decision lines and survives a rename + SIGUSR2; it
# refuses to serve as root unless told; SIGTERM ends it within its bound;
# runsv restarts it after kill -9 and the new one answers.
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
: "${TLSPOLICYD:?set TLSPOLICYD}" "${TLSMAP:?set TLSMAP}"
if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP privilege drop needs root"; exit 0; fi
for tool in setpriv python3 postmap; do
    command -v $tool >/dev/null || { echo "Bail out! $tool missing (scripts/deps.sh test installs it)"; exit 1; }
done
stop_service() { [ -n "${SV:-}" ] && sv force-stop "$SV" >/dev/null 2>&1; return 0; }
AT_EXIT+=(stop_service)

# Postfix's layout: the queue's private/ is the postfix account's, 0700.
chmod 755 "$TMP"
P=$TMP/queue/private LOGDIR=$TMP/log ETC=$TMP/etc
mkdir -p "$P" "$LOGDIR" "$ETC" "$TMP/pf"
chown postfix "$P"; chmod 700 "$P"
chown nobody "$LOGDIR"
printf 'compatibility_level = 3.6\n' > "$TMP/pf/main.cf"
printf 'enc.example encrypt\n' > "$ETC/tls.list"
"$TLSMAP" "$ETC/tls.list" 2>/dev/null
conf() {  # file user [extra lines]
    printf '[tlspolicyd]\nuser = %s\nlist = %s\nlisten = unix:%s/tlspolicy;\nsocketmap_listen = unix:%s/tlsmap;\ndns_resolver = 127.0.0.1@9\npostfix_config_directory =\n%s' \
        "$2" "$ETC/tls.list" "$P" "$P" "${3:-}" > "$1"
}
conf "$TMP/tlspolicyd.conf" nobody "log_file = $LOGDIR/tlspolicyd.log
"
policy() {  # sender -> the action line
    python3 - "$P/tlspolicy" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\nqueue_id=SUP1\nsender=%s\n"
           "recipient=b@here.example\nclient_address=192.0.2.1\nclient_name=mx.example\n\n" % sys.argv[2]).encode())
print(s.recv(4096).decode().split("\n")[0])
PY
}
as_postfix() { setpriv --reuid=postfix --regid=postfix --clear-groups "$@"; }
route() { as_postfix postmap -c "$TMP/pf" -q "$1" "socketmap:unix:$P/tlsmap:transport"; }

# --- started by hand, as root -------------------------------------------------------
"$TLSPOLICYD" --config "$TMP/tlspolicyd.conf" >/dev/null 2>&1 &
D=$!
PIDS+=($D)
ok "started by hand: it listens" wait_for 10 test -S "$P/tlsmap"
ok "... and says it became the account" wait_for 10 grep -q "running as nobody (uid 65534, gid 65534, no supplementary groups)" "$LOGDIR/tlspolicyd.log"
is "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/$D/status)" "65534 65534 65534 65534" "real, effective, saved and fs uid: nobody's"
is "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' /proc/$D/status)" "65534 65534 65534 65534" "... gids: nogroup"
is "$(awk '/^Groups:/ { print $2 }' /proc/$D/status)" "" "... no supplementary groups (root's are gone)"
is "$(stat -c '%a' "$P/tlspolicy" "$P/tlsmap" | tr '\n' ' ')" "666 666 " "the sockets: mode 0666 inside Postfix's 0700 private/"
is "$(route x@enc.example)" "tls-encrypt:" "the postfix account reaches the socketmap"
like "$(policy a@enc.example)" "^action=550 5\.7\.1 " "the policy service refuses a listed sender without TLS"
first_line=$(head -1 "$LOGDIR/tlspolicyd.log")
like "$first_line" "^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [^ ]+ tlspolicyd\[$D\]: logging to log_file $LOGDIR/tlspolicyd.log \(reopened on SIGUSR2\)$" \
    "log_file: syslog's format, and the first line says where the log goes"
ok "... the decision line is there" wait_for 5 grep -q "reject: queue_id=SUP1 .*sender=<a@enc.example>" "$LOGDIR/tlspolicyd.log"
is "$(stat -c %U "$LOGDIR/tlspolicyd.log")" nobody "... owned by the account, so it can reopen it"

# a rotation: rename, SIGUSR2, the next lines in a new file
mv "$LOGDIR/tlspolicyd.log" "$LOGDIR/tlspolicyd.log.1"
kill -USR2 $D
ok "after rename + SIGUSR2: a new log file" wait_for 10 grep -q "log file reopened" "$LOGDIR/tlspolicyd.log"
policy b@enc.example >/dev/null
ok "... which gets the next decision" wait_for 5 grep -q "sender=<b@enc.example>" "$LOGDIR/tlspolicyd.log"
unlike "$(cat "$LOGDIR/tlspolicyd.log.1")" "sender=<b@enc.example>" "... not the old one"
like "$(cat "$LOGDIR/tlspolicyd.log.1")" "sender=<a@enc.example>" "... which kept what it had"

start=$(date +%s)
kill -TERM $D
wait $D; rc=$?
is "$rc" 0 "SIGTERM: exit 0"
ok "... within 5 s" test $(( $(date +%s) - start )) -le 5

# --- refusing to serve as root unless told -------------------------------------------
conf "$TMP/missing.conf" no-such-account-here
out=$("$TLSPOLICYD" --config "$TMP/missing.conf" 2>&1); rc=$?
is "$rc" 1 "user = an account that does not exist: exit 1"
like "$out" "user = no-such-account-here: no such account .*or user = root to serve as root on purpose" "... saying what to do"
ok "... and it never listened" test ! -S "$P/tlspolicy.new"
conf "$TMP/root.conf" root
"$TLSPOLICYD" --config "$TMP/root.conf" 2>"$TMP/root.log" &
R=$!
wait_for 10 grep -q "serving as root" "$TMP/root.log"
like "$(cat "$TMP/root.log")" "warning: serving as root \(user = root\)" "user = root: it serves as root, saying so"
is "$(awk '/^Uid:/ { print $3 }' /proc/$R/status)" 0 "... as root"
kill $R; wait $R 2>/dev/null

# --- under runit (runsv): restarted after kill -9 -------------------------------------
if command -v runsv >/dev/null && command -v sv >/dev/null; then
    SV=$TMP/sv/tlspolicyd
    mkdir -p "$SV"
    printf '#!/bin/sh\nexec %s --config %s 2>&1\n' "$TLSPOLICYD" "$TMP/tlspolicyd.conf" > "$SV/run"
    chmod 755 "$SV/run"
    runsv "$SV" >/dev/null 2>&1 &
    PIDS+=($!)
    sv_pid() { sv status "$SV" 2>/dev/null | sed -n 's/^run: [^ ]*: (pid \([0-9]*\)).*/\1/p'; }
    running() { [ -n "$(sv_pid)" ]; }
    answers() { [ "$(route x@enc.example 2>/dev/null)" = "tls-encrypt:" ]; }
    ok "runsv started it" wait_for 30 running
    ok "... and it answers" wait_for 30 answers
    first=$(sv_pid)
    kill -9 "$first"
    restarted() { local p; p=$(sv_pid); [ -n "$p" ] && [ "$p" != "$first" ]; }
    ok "kill -9: runsv starts a new one" wait_for 30 restarted
    ok "... which answers (its stale sockets replaced)" wait_for 30 answers
    is "$(awk '/^Uid:/ { print $3 }' /proc/"$(sv_pid)"/status)" 65534 "... as the account again"
    sv stop "$SV" >/dev/null 2>&1
    is_down() { sv status "$SV" | grep -q '^down:'; }
    # it exits within STOP_WRITE_MS twice (replies, then the log) and
    # its teardown; the deadline is for a loaded machine under ASan
    wait_for 30 is_down
    _result $? "sv stop: it stops (SIGTERM)" "sv status: $(sv status "$SV" 2>&1)
ps: $(ps -o pid,stat,wchan:20,etime,args -p "$(sv_pid)" 2>&1)
log: $(tail -5 "$LOGDIR/tlspolicyd.log" 2>&1)"
else
    for _ in 1 2 3 4 5 6; do skip "runit not installed (scripts/deps.sh test installs it)"; done
fi
done_testing

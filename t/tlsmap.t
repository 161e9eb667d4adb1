#!/bin/bash
# tlsmap.t - the tlsmap command line: every mode, exit status and error.
. "$(dirname "$0")/lib.sh"

L=$TMP/policy.list
cat > "$L" <<'LIST'
# test list
example.com              encrypt
.example.com             verify on_failure=bounce
boss@example.com         secure direction=outbound
exempt.example.com       none
partner.example          encrypt direction=inbound min_protocol=TLSv1.3
    notice="Partner mail needs TLS 1.3"
LIST
chmod 640 "$L"
chown 1:2 "$L"

# --- compile -----------------------------------------------------------
out=$("$TLSMAP" -v "$L" 2>&1); rc=$?
is "$rc" 0 "compile exits 0"
ok "compile creates FILE.lmdb" test -s "$L.lmdb"
like "$out" "audit: action=compile file=$L uid=0 user=root added=5 removed=0 changed=0 entries=5" "compile writes an audit record"
is "$(stat -c '%a %u %g' "$L.lmdb")" "640 1 2" "compiled list keeps the source's mode and owner"
is "$(ls -a "$TMP" | grep -v '\.lock$' | grep -c '^\.policy')" 0 "no temporary file left behind"

# --- the audit record cannot be forged through SUDO_USER ----------------------
out=$(SUDO_USER="$(printf 'eve\naudit: action=compile file=/etc/passwd uid=0 user=root')" "$TLSMAP" -v "$L" 2>&1)
is "$(printf '%s\n' "$out" | grep -c 'audit:')" 1 "a newline in SUDO_USER starts no second audit line"
like "$out" 'sudo_user_claimed=eve\\naudit: action=compile' "... it is escaped, and named a claim"

# --- a full compile's audit names what changed (bounded) ----------------------
A=$TMP/audit.list
for i in $(seq 30); do echo "a$i.example encrypt"; done > "$A"; "$TLSMAP" "$A" 2>/dev/null
sed -i 's/^a3.example encrypt$/a3.example verify/; /^a5.example /d' "$A"; echo "new.example encrypt" >> "$A"
out=$("$TLSMAP" -v "$A" 2>&1)
like "$out" "action=compile .* added=1 removed=1 changed=1 entries=30 keys=a3.example,a5.example,new.example\$" "a compile's audit names the changed, removed and added keys"
for i in $(seq 31 60); do echo "a$i.example encrypt"; done >> "$A"
out=$("$TLSMAP" -v "$A" 2>&1)
like "$out" "added=30 .* keys=a31.example,.* and 10 more\$" "... at most 20 of them, and how many more"

# --- -q ----------------------------------------------------------------
while IFS='|' read -r name key flags want_rc want; do
    [ -z "$name" ] && continue
    got=$("$TLSMAP" $flags -q "$key" "$L" 2>&1); rc=$?
    is "$rc:$got" "$want_rc:$want" "-q $name"
done <<'CASES'
exact domain|example.com||0|example.com	encrypt
address in domain|joe@Example.COM||0|example.com	encrypt
parent|joe@mx.example.com||0|.example.com	verify on_failure=bounce
address|boss@example.com||0|boss@example.com	secure direction=outbound
extension|boss+x@example.com||0|boss@example.com	secure direction=outbound
delimiter - only|boss+x@example.com|-e -|0|example.com	encrypt
other delimiter|boss-x@example.com|-e -+|0|boss@example.com	secure direction=outbound
direction filter|boss@example.com|-o inbound|0|example.com	encrypt
direction outbound|x@partner.example|-o outbound|1|
exemption|x@exempt.example.com||0|exempt.example.com	none
notice quoted|x@partner.example||0|partner.example	encrypt direction=inbound min_protocol=TLSv1.3 notice="Partner mail needs TLS 1.3"
not found|x@example.org||1|
CASES
got=$(printf 'a@example.com\nnobody@nowhere.test\nb@mx.example.com\n' | "$TLSMAP" -q - "$L"); rc=$?
is "$rc:$got" "0:a@example.com	example.com	encrypt
b@mx.example.com	.example.com	verify on_failure=bounce" "-q - answers each key found"
got=$("$TLSMAP" -q example.com "lmdb:$L"); is "$got" "example.com	encrypt" "lmdb:FILE is accepted"
out=$("$TLSMAP" -q x -o sideways "$L" 2>&1); is "$?" 2 "-o with a bad direction is an error"

# --- -q: odd addresses never skip a rule; an unconvertible domain is an error
long=$(printf 'a%.0s' $(seq 330))
is "$("$TLSMAP" -q "$long@example.com" "$L")" "example.com	encrypt" "-q: a 330-byte local part gets its domain's entry"
is "$("$TLSMAP" -q "boss+$long@example.com" "$L")" "boss@example.com	secure direction=outbound" "-q: a 330-byte extension still finds the address"
out=$("$TLSMAP" -q "$(printf 'a@b\xffd.example')" "$L" 2>&1); rc=$?
is "$rc" 2 "-q: a domain that cannot be converted exits 2"
like "$out" "cannot be converted; the daemon answers 451" "... and says what the daemon does"

# --- a maintainer who swaps tlsmap's temporary file for a symlink -------------
# (issue 16: root created a file in a 0700 directory through the link)
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    W=$TMP/shared; mkdir -p "$W" "$TMP/rootonly"; chmod 777 "$W"; chmod 700 "$TMP/rootonly"
    chmod 755 "$TMP"
    for i in $(seq 20000); do echo "d$i.example encrypt"; done > "$W/race.list"
    (trap - EXIT; exec setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 \
        "${SRCDIR:?}/t/tools/tmpswap.py" "$W" .race.list. "$TMP/rootonly/planted") > "$TMP/swap.out" 2>&1 &
    SWAPPER=$!
    wait_for 30 grep -q ready "$TMP/swap.out"
    like "$(cat "$TMP/swap.out")" "^ready" "symlink race: the hostile maintainer is watching the directory"
    for round in 1 2 3 4 5; do "$TLSMAP" "$W/race.list" >/dev/null 2>&1; done
    kill $SWAPPER; wait $SWAPPER 2>/dev/null
    # Whether the swapper wins the race in a round depends on the machine's
    # load, so it is reported, not asserted: what the product guarantees is
    # below (nothing written through a link; one O_EXCL open of the name).
    echo "# symlink race: $(grep -c '^swapped' "$TMP/swap.out") swap(s) in 5 rounds"
    is "$(ls -A "$TMP/rootonly")" "" "symlink race: root never wrote through the link"
    ok "symlink race: the compiled list is a regular file or absent" \
        sh -c "[ ! -e '$W/race.list.lmdb' ] || { [ -f '$W/race.list.lmdb' ] && [ ! -L '$W/race.list.lmdb' ]; }"
    # the race is narrow; what closes it for certain: after mkstemp's
    # O_EXCL create, the temporary name is never opened again
    printf 'a.example encrypt\n' > "$W/st.list"
    strace -f -e trace=open,openat -o "$TMP/strace.out" "$TLSMAP" "$W/st.list" >/dev/null 2>&1
    is "$(grep -v '\.lock"' "$TMP/strace.out" | grep -c '/\.st\.list\.lmdb\.')" 1 "the temporary file is opened by name once (O_EXCL), then only through its descriptor"
    like "$(grep -v '\.lock"' "$TMP/strace.out" | grep '/\.st\.list\.lmdb\.')" "O_CREAT\|O_EXCL" "... and that once is mkstemp's exclusive create"
else
    echo "# symlink race: skipped, needs root and a nobody user"
    _result 1 "symlink race test runs (root and nobody needed)"
fi

# --- the writers' lock: the maintainers' own file, a bounded wait --------------
LOCK=$TMP/.policy.list.lmdb.lock
is "$(stat -c %a "$LOCK")" 660 "the lock file is the maintainers' (0660: the group's, no access for others)"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    chmod 755 "$TMP"
    # any user could open the directory and hold its flock for ever
    # (-o: the lock goes with flock itself, so killing it releases the lock)
    (trap - EXIT; exec setpriv --reuid=nobody --regid=nogroup --clear-groups flock -o "$TMP" sleep 20) >/dev/null 2>&1 &
    HOLDER=$!
    ok "another user holds the directory's flock" wait_for 30 eval '! flock -n "$TMP" true'
    out=$(timeout 10 "$TLSMAP" -w 2 "$L" 2>&1); rc=$?
    is "$rc" 0 "another user holding the directory's flock no longer blocks tlsmap"
    pkill -P $HOLDER; kill $HOLDER 2>/dev/null; wait $HOLDER 2>/dev/null
fi
(trap - EXIT; exec flock -o "$LOCK" sleep 20) >/dev/null 2>&1 &
HOLDER=$!
ok "another tlsmap holds the lock" wait_for 30 eval '! flock -n "$LOCK" true'
start=$(date +%s)
out=$(timeout 20 "$TLSMAP" -w 1 "$L" 2>&1); rc=$?
is "$rc" 2 "a held lock: -w 1 gives up with exit 2"
like "$out" "another tlsmap has held the lock for 1 s; nothing changed" "... with a clear message"
ok "... within the bound" test $(( $(date +%s) - start )) -le 4
pkill -P $HOLDER; kill $HOLDER 2>/dev/null; wait $HOLDER 2>/dev/null

# --- who may change a list: the maintainers' group, never the daemon's account ------
# As the shipped tmpfiles line sets it up: the directory root's, setgid,
# group-writable for the maintainers (gid 4300 here); a maintainer (uid
# 4301 in that group) and the daemon's account (uid 4302, its own group,
# no other) are real processes with those ids (setpriv).  Root compiles
# first, so the lock file is root's run's.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chmod 755 "$TMP"
    M=$TMP/etc-tlspolicyd
    mkdir -p "$M"; chown root:4300 "$M"; chmod 2775 "$M"
    printf 'a.example encrypt\n' > "$M/tls.list"
    (umask 022; "$TLSMAP" "$M/tls.list" 2>/dev/null)
    is "$(stat -c '%a %U:%g' "$M/.tls.list.lmdb.lock")" "660 root:4300" "root's first run: the lock is the maintainers' group's, 0660"
    as_maintainer() { setpriv --reuid=4301 --regid=4301 --groups=4300 "$@"; }
    as_daemon() { setpriv --reuid=4302 --regid=4302 --clear-groups "$@"; }
    out=$(printf 'b.example verify direction=outbound\n' | as_maintainer "$TLSMAP" -i "$M/tls.list" 2>&1); rc=$?
    is "$rc" 0 "a maintainer runs tlsmap -i after root made the lock"
    is "$(as_maintainer "$TLSMAP" -q b.example "$M/tls.list")" "b.example	verify direction=outbound" "... and the entry is in"
    out=$(printf 'b.example\n' | as_maintainer "$TLSMAP" -d - "$M/tls.list" 2>&1); rc=$?
    is "$rc" 0 "... and tlsmap -d"
    out=$(as_maintainer "$TLSMAP" "$M/tls.list" 2>&1); rc=$?
    is "$rc" 0 "... and a full compile"
    is "$(as_daemon "$TLSMAP" -q a.example "$M/tls.list")" "a.example	encrypt" "the daemon's account reads the list"
    out=$(printf 'evil.example none\n' | as_daemon "$TLSMAP" -i "$M/tls.list" 2>&1); rc=$?
    is "$rc" 2 "the daemon's account cannot change the list (tlsmap -i: exit 2)"
    ok "... nor write in its directory" bash -c '! setpriv --reuid=4302 --regid=4302 --clear-groups touch "$0/x" 2>/dev/null' "$M"
    ok "... nor replace the list source" bash -c '! setpriv --reuid=4302 --regid=4302 --clear-groups sh -c "echo x >> \"\$0\"" "$0/tls.list" 2>/dev/null' "$M"
    is "$("$TLSMAP" -q evil.example "$M/tls.list")" "" "... evil.example is not in it"
else
    skip "needs root and setpriv: maintainers and the daemon's account as real users"
fi

# --- errors quote at most 64 bytes of a token, escaped ------------------------
{ head -c 1048576 /dev/zero | tr '\0' a; printf '.example encrypt\nx.example encrypt colour=\033[31mred\n'; } > "$TMP/big.list"
out=$("$TLSMAP" -c "$TMP/big.list" 2>&1); rc=$?
is "$rc" 2 "a 1 MB key: an error"
ok "... whose message is short (under 1 KB, was the whole key)" test "$(printf '%s' "$out" | wc -c)" -lt 1024
like "$out" "line 1: .*\"a{64}\.\.\.\"" "... the key cut at 64 bytes"
like "$out" 'line 2: unknown attribute: colour=\\x1B\[31mred' "an escape sequence in a list is shown escaped"
unlike "$out" "$(printf '\033')" "... and never reaches the terminal"

# --- interrupted runs leave no temporary file behind ------------------------------
# The signal must land while the temporary file exists, however fast or
# loaded the machine: strace holds tlsmap for 2 s at its first fsync (the
# temporary file's, before the rename), and the signal is sent then.
K=$TMP/killed; mkdir -p "$K"
printf 'a.example encrypt\nb.example verify\n' > "$K/k.list"
temps() { ls -A "$K" | grep -cE '^\.k\.list\.lmdb\.[A-Za-z0-9]{6}$'; }
held_tlsmap() {  # starts tlsmap, held before its first fsync; sets TRACER and pid
    # Once in about 30 loaded runs strace did not hold it (the compile
    # finished at once; not understood): then the round is set up again,
    # and said.  What the rows assert is unchanged.
    local try
    for try in 1 2 3; do
        rm -f "$K/k.list.lmdb"
        strace -f -qq -o /dev/null -e trace=fsync -e inject=fsync:delay_enter=2s:when=1 "$TLSMAP" "$K/k.list" \
            >/dev/null 2>&1 &
        TRACER=$!
        if wait_for 10 pgrep -P "$TRACER" && pid=$(pgrep -P "$TRACER") &&
            wait_for 10 eval '[ "$(temps)" -gt 0 ]'; then
            return 0
        fi
        wait "$TRACER" 2>/dev/null
        echo "# tlsmap.t: strace did not hold tlsmap (try $try)" >&2
    done
    return 1
}
for sig in TERM INT HUP; do
    ok "SIG$sig: tlsmap is writing its temporary file" held_tlsmap
    kill -$sig "$pid"; wait "$TRACER" 2>/dev/null
    is "$(temps):$(ls "$K")" "0:k.list" "SIG$sig during a compile: the temporary file is removed, nothing installed"
done
ok "KILL: tlsmap is writing its temporary file" held_tlsmap
kill -KILL "$pid"; wait "$TRACER" 2>/dev/null
left=$(temps)
"$TLSMAP" "$K/k.list"
is "$left:$(temps)" "1:0" "kill -9 leaves one; the next run sweeps it away (under the lock)"

# --- a full disk: said plainly, the old list intact ---------------------------------
if [ "$(id -u)" = 0 ]; then
    F=$TMP/fullfs; mkdir -p "$F"
    if mount -t tmpfs -o size=2m tmpfs "$F"; then
        printf 'old.example encrypt\n' > "$F/f.list"; "$TLSMAP" "$F/f.list" 2>/dev/null
        awk 'BEGIN { for (i = 0; i < 38000; i++) printf "d%d.example.net verify\n", i }' > "$F/f.list"
        out=$("$TLSMAP" "$F/f.list" 2>&1); rc=$?
        is "$rc" 2 "a full disk: exit 2"
        like "$out" "no space left on device .*the old list is unchanged" "... says no space left (it said Input/output error)"
        is "$("$TLSMAP" -q old.example "$F/f.list")" "old.example	encrypt" "... and the old list is intact"
        is "$(ls -A "$F" | grep -cE '^\.f\.list\.lmdb\.[A-Za-z0-9]{6}$')" 0 "... with no temporary file left"
        umount "$F"
    else
        _result 1 "mount a small tmpfs for the full-disk test"
    fi
fi

# --- a damaged (not truncated) compiled list: clean errors, never a crash ------
D2=$TMP/damaged; mkdir -p "$D2"
for i in $(seq 300); do echo "d$i.example verify notice=\"n$i\""; done > "$D2/l.list"
"$TLSMAP" "$D2/l.list" 2>/dev/null; cp "$D2/l.list.lmdb" "$D2/good.lmdb"
out=$(python3 - "$TLSMAP" "$D2" <<'PY'
import random, subprocess, sys
tlsmap, d = sys.argv[1], sys.argv[2]
random.seed(20261125)
good = open(d + "/good.lmdb", "rb").read()
crashes = []
for n in range(60):
    b = bytearray(good)
    for _ in range(random.randint(1, 30)):
        b[random.randrange(len(b))] = random.randrange(256)
    for args in (["-s"], ["-d", "d5.example"], ["-q", "x@d7.example"], ["-i"]):
        open(d + "/l.list.lmdb", "wb").write(b)
        r = subprocess.run([tlsmap] + args + [d + "/l.list"], input=b"new.example encrypt\n", capture_output=True, timeout=20)
        if not 0 <= r.returncode <= 2:
            crashes.append("%s %d" % (args[0], r.returncode))
print("crashes:", len(crashes), " ".join(crashes[:5]))
PY
)
is "$out" "crashes: 0 " "60 damaged lists x -s, -d, -q, -i: exit 0, 1 or 2, never a signal"
python3 -c "
import sys; b = bytearray(open(sys.argv[1], 'rb').read())
for i in range(4096, len(b), 97): b[i] ^= 0x5a
open(sys.argv[2], 'wb').write(b)" "$D2/good.lmdb" "$D2/l.list.lmdb"
"$TLSMAP" "$D2/l.list" >/dev/null 2>&1; rc=$?
is "$rc:$("$TLSMAP" -q d7.example "$D2/l.list")" '0:d7.example	verify notice="n7"' "a compile from the source replaces a damaged list"

# --- quoted local parts and address literals: as Postfix passes them ------------
Q=$TMP/quoted.list
while IFS='|' read -r name line want_rc want_show; do
    printf '%s\n' "$line" > "$Q"
    out=$("$TLSMAP" "$Q" 2>&1); rc=$?
    is "$rc" "$want_rc" "key rule: $name"
    [ "$want_rc" = 0 ] && is "$("$TLSMAP" -s "$Q")" "$want_show" "key rule: $name, stored as Postfix passes it"
done <<'CASES'
quoted local part|"a"@x.example encrypt|0|a@x.example	encrypt
IPv4 literal|a@[192.0.2.1] encrypt|0|a@[192.0.2.1]	encrypt
IPv6 literal|[IPv6:2001:db8::1] verify|0|[ipv6:2001:db8::1]	verify
bare IP address|a@192.0.2.1 encrypt|2|
literal as a parent|.[192.0.2.1] encrypt|2|
not an address|a@[192.0.2] encrypt|2|
CASES
printf '"a"@x.example encrypt\n[192.0.2.1] verify\n' > "$Q"; "$TLSMAP" "$Q" 2>/dev/null
is "$("$TLSMAP" -q a@x.example "$Q")" "a@x.example	encrypt" "-q: the unquoted address (Postfix's form) matches a quoted key"
is "$("$TLSMAP" -q b@[192.0.2.1] "$Q")" "[192.0.2.1]	verify" "-q: an address at a literal matches the literal"

# --- a FIFO where a list should be: an error at once, never a hang -----------
mkfifo "$TMP/fifo.list"
out=$(timeout 10 "$TLSMAP" "$TMP/fifo.list" 2>&1); rc=$?
is "$rc:$out" "2:tlsmap: $TMP/fifo.list: not a regular file" "compile of a FIFO source: error, no hang"
printf 'x.example encrypt\n' > "$TMP/f2.list"; "$TLSMAP" "$TMP/f2.list"; rm -f "$TMP/f2.list.lmdb"; mkfifo "$TMP/f2.list.lmdb"
out=$(timeout 10 "$TLSMAP" -s "$TMP/f2.list" 2>&1); rc=$?
is "$rc:$out" "2:tlsmap: $TMP/f2.list.lmdb: not a regular file" "-s of a FIFO compiled list: error, no hang"

# --- -s: a dump recompiles to the same list ----------------------------
"$TLSMAP" -s "$L" > "$TMP/dump.list"
is "$(wc -l < "$TMP/dump.list")" 5 "-s prints every entry"
"$TLSMAP" "$TMP/dump.list"
is "$("$TLSMAP" -s "$TMP/dump.list")" "$(cat "$TMP/dump.list")" "-s output recompiles to the same list"

# --- errors: file and line, non-zero exit, nothing changed -------------
cp "$L.lmdb" "$TMP/before.lmdb"
cp "$L" "$TMP/good.list"
cat > "$L" <<'LIST'
good.example  encrypt
bad.example   verfy
dup.example   encrypt
other.example encrypt color=red
DUP.example.  verify
LIST
out=$("$TLSMAP" "$L" 2>&1); rc=$?
is "$rc" 2 "a bad list exits 2"
like "$out" "$L, line 2: unknown TLS level \"verfy\"" "unknown level names file and line"
like "$out" "$L, line 4: unknown attribute: color=red" "bad attribute names file and line"
like "$out" "$L, line 5: duplicate key \"dup.example\" \\(first defined at line 3\\)" "duplicate names both lines"
like "$out" "3 errors, nothing changed" "summary line"
ok "failed compile leaves the old list byte for byte" cmp "$L.lmdb" "$TMP/before.lmdb"
is "$(ls -a "$TMP" | grep -v '\.lock$' | grep -c '^\.policy')" 0 "failed compile leaves no temporary file"
out=$("$TLSMAP" -c "$L" 2>&1); is "$?" 2 "-c finds the errors too"
cp "$TMP/good.list" "$L"
out=$("$TLSMAP" -c "$L" 2>&1); rc=$?
is "$rc" 0 "-c on a good list: exit 0"
like "$out" "^$L: 5 entries, no errors\$" "-c on a good list: the summary"
ok "-c writes nothing" cmp "$L.lmdb" "$TMP/before.lmdb"
out=$("$TLSMAP" "$TMP/nonexistent.list" 2>&1); rc=$?
is "$rc" 2 "missing source exits 2"
like "$out" "nonexistent.list: No such file" "missing source is named"
out=$("$TLSMAP" -q example.com "$TMP/nonexistent.list" 2>&1); rc=$?
is "$rc" 2 "-q on a list never compiled exits 2"
like "$out" "no compiled list" "-q explains the missing compiled list"
out=$("$TLSMAP" -q a -s "$L" 2>&1); is "$?" 2 "modes exclude each other"
out=$("$TLSMAP" 2>&1); is "$?" 2 "no FILE is an error"
out=$("$TLSMAP" --bogus "$L" 2>&1); is "$?" 2 "unknown option is an error"

# --- -i: add and replace ------------------------------------------------
out=$(printf 'new.example verify\nexample.com secure\n' | "$TLSMAP" -v -i "$L" 2>&1); rc=$?
is "$rc" 0 "-i exits 0"
like "$out" "action=insert .* added=1 removed=0 changed=1 entries=6 keys=example.com,new.example" "-i audit names counts and keys"
is "$("$TLSMAP" -q new.example "$L")" "new.example	verify" "-i added an entry"
is "$("$TLSMAP" -q example.com "$L")" "example.com	secure" "-i replaced an entry"
is "$("$TLSMAP" -q x@mx.example.com "$L")" ".example.com	verify on_failure=bounce" "-i kept the others"
is "$(stat -c '%a %u %g' "$L.lmdb")" "640 1 2" "-i keeps mode and owner"
cp "$L.lmdb" "$TMP/before.lmdb"
out=$(printf 'ok.example verify\nbad.example sometimes\n' | "$TLSMAP" -i "$L" 2>&1); rc=$?
is "$rc" 2 "-i with a bad line exits 2"
like "$out" "stdin, line 2: " "-i errors name the stdin line"
ok "failed -i changes nothing" cmp "$L.lmdb" "$TMP/before.lmdb"
: > "$TMP/fresh.list"; chown 1:2 "$TMP/fresh.list"; chmod 640 "$TMP/fresh.list"
printf 'fresh.example encrypt\n' | "$TLSMAP" -i "$TMP/fresh.list"
is "$("$TLSMAP" -q fresh.example "$TMP/fresh.list")" "fresh.example	encrypt" "-i creates a compiled list that did not exist"
is "$(stat -c '%a %u %g' "$TMP/fresh.list.lmdb")" "640 1 2" "... with the source file's mode and owner (the daemon can read it)"
out=$(printf 'fresh.example encrypt\n' | "$TLSMAP" -i "$TMP/nosource.list" 2>&1); rc=$?
is "$rc" 2 "-i with neither a compiled list nor a source file: refused"
like "$out" "no compiled list and no source file to take the owner and mode from" "... saying why"
ok "... and nothing written" test ! -e "$TMP/nosource.list.lmdb"

# --- -d: delete ----------------------------------------------------------
out=$("$TLSMAP" -v -d New.Example "$L" 2>&1); rc=$?
is "$rc" 0 "-d of a present key exits 0"
like "$out" "action=delete .* removed=1 .* keys=new.example" "-d audit names the key"
out=$("$TLSMAP" -q new.example "$L"); is "$?" 1 "-d removed the key"
cp "$L.lmdb" "$TMP/before.lmdb"
"$TLSMAP" -d absent.example "$L"; is "$?" 1 "-d of an absent key exits 1"
ok "-d of an absent key rewrites nothing" cmp "$L.lmdb" "$TMP/before.lmdb"
printf 'example.com\nboss@example.com\nnot.there\n' | "$TLSMAP" -d - "$L"; is "$?" 0 "-d - deletes keys from stdin"
is "$("$TLSMAP" -s "$L" | cut -f1 | tr '\n' ' ')" ".example.com exempt.example.com partner.example " "-d - left the rest"
out=$("$TLSMAP" -d 'bad..key' "$L" 2>&1); is "$?" 2 "-d with an invalid key exits 2"
cp "$L.lmdb" "$TMP/before.lmdb"
out=$(printf 'exempt.example.com\0junk\n' | "$TLSMAP" -d - "$L" 2>&1); rc=$?
is "$rc:$out" "2:tlsmap: stdin, line 1: NUL byte in a key; nothing done" "-d - with a NUL byte: refused (it deleted the key before the NUL)"
ok "... and nothing deleted" cmp "$L.lmdb" "$TMP/before.lmdb"
out=$(printf 'x\nexempt.example.com\0\n' | "$TLSMAP" -q - "$L" 2>&1); rc=$?
is "$rc:$out" "2:tlsmap: stdin, line 2: NUL byte in a key; nothing done" "-q - with a NUL byte: refused"

# --- dane: no warning any more (tlspolicyd never routes it to plaintext) ----
D=$TMP/dane.list
printf '# dane\nd1.example dane\nd2.example,d3.example dane direction=outbound\nd4.example dane-only\n' > "$D"
out=$("$TLSMAP" -c "$D" 2>&1); rc=$?
is "$rc:$(printf '%s\n' "$out" | grep -c warning)" "0:0" "-c of dane entries: no plaintext warning (the daemon routes dane to dane-only or encrypt)"

# --- nexthop= ---------------------------------------------------------------
N=$TMP/nexthop.list
while IFS='|' read -r name line want_rc; do
    printf '%s\n' "$line" > "$N"
    out=$("$TLSMAP" "$N" 2>&1); rc=$?
    is "$rc" "$want_rc" "nexthop: $name"
    [ "$want_rc" = 0 ] && is "$("$TLSMAP" -s "$N")" "$(printf '%s' "$line" | sed 's/  */\t/')" "nexthop: $name shows as written"
done <<'CASES'
relay with port|a.example encrypt direction=outbound nexthop=[relay.example]:587|0
host:port|a.example verify nexthop=relay.example:2525|0
ipv6|a.example verify nexthop=[ipv6:2001:db8::1]:25|0
service name|a.example encrypt nexthop=[relay.example]:submission|0
a list|a.example encrypt nexthop=a.example,b.example|2
empty brackets|a.example encrypt nexthop=[]:25|2
trailing colon|a.example encrypt nexthop=relay.example:|2
inbound entry|a.example encrypt direction=inbound nexthop=relay.example|2
exemption|a.example none nexthop=relay.example|2
CASES
printf 'a.example encrypt nexthop=[relay.example]:587\n' > "$N"
out=$("$TLSMAP" -c "$N" 2>&1)
printf 'a.example encrypt nexthop=a,b\n' > "$N"
out=$("$TLSMAP" -c "$N" 2>&1)
like "$out" "$N, line 1: .*nexthop must be one Postfix next-hop destination" "nexthop: the error names file, line and the rule"

# --- warnings: compiled all the same, each with file and line ---------------
# A Postfix configuration of its own (MAIL_CONFIG, as postconf and postmap
# take it): one local domain, two virtual mailbox domains in a hash table,
# a regexp table tlsmap cannot list.
W=$TMP/warn.list PFC=$TMP/pfc
mkdir -p "$PFC"
cat > "$PFC/main.cf" <<MAIN
compatibility_level = 3.6
mydestination = own.example, .sub.own.example, $PFC/more-domains
virtual_mailbox_domains = hash:$PFC/vdomains
virtual_alias_domains = regexp:$PFC/aliases
MAIN
printf '# a /file/name list\nfile1.example file2.example\n' > "$PFC/more-domains"
printf 'vm1.example OK\nvm2.example OK\nuser@vm3.example OK\n' > "$PFC/vdomains"
postmap -c "$PFC" "hash:$PFC/vdomains"
while IFS='|' read -r name line want; do
    printf '# a comment\n%s\n' "$line" > "$W"
    out=$(MAIL_CONFIG=$PFC "$TLSMAP" "$W" 2>&1); rc=$?
    is "$rc" 0 "warning rows: $name: compiled"
    if [ -n "$want" ]; then like "$out" "$W, line 2: warning: $want" "warning rows: $name: said"
    else unlike "$out" "warning" "warning rows: $name: nothing said"; fi
done <<'CASES'
verify, direction both (default)|a.example verify|a.example verify also governs inbound mail \(direction=both, the default\): mail from a.example is refused unless its server presents a CA-signed client certificate; direction=outbound
secure, direction both|a.example secure|a.example secure also governs inbound mail
verify outbound|a.example verify direction=outbound|
verify inbound (asked for)|a.example verify direction=inbound|
verify, report mode|a.example verify mode=report|
encrypt, both|a.example encrypt|
a local domain|own.example encrypt|own.example is a local or virtual domain of the Postfix in .*/pfc: its mail is delivered there, never routed out at encrypt
an address at a local domain|root@own.example encrypt direction=outbound|root@own.example is a local or virtual domain
a subdomain matched by .sub.own.example|a.sub.own.example encrypt|a.sub.own.example is a local or virtual domain
the parent of that pattern|sub.own.example encrypt|
a virtual mailbox domain (hash table key)|vm2.example encrypt|vm2.example is a local or virtual domain
an address key of that table is not a domain|vm3.example encrypt|
a local domain, inbound only|own.example encrypt direction=inbound|
a remote domain|remote.example encrypt|
a domain from a /file/name list|file2.example encrypt|file2.example is a local or virtual domain
upper case, trailing dot|FILE1.Example. encrypt|file1.example is a local or virtual domain
CASES
printf 'v%d.example verify\n' $(seq 30) > "$W"
out=$("$TLSMAP" -c "$W" 2>&1); rc=$?
is "$rc:$(printf '%s\n' "$out" | grep -c ': warning: ')" "0:20" "30 warnings: the first 20 shown"
like "$out" "$W: 10 more warnings like these not shown" "... and the rest counted"
out=$(printf 'own.example encrypt\n' | MAIL_CONFIG=$PFC "$TLSMAP" -i "$W" 2>&1)
like "$out" "stdin, line 1: warning: own.example is a local or virtual domain" "tlsmap -i: the warning names stdin's line"
printf 'own.example encrypt\n' > "$W"
out=$(MAIL_CONFIG=$TMP/nowhere "$TLSMAP" -c "$W" 2>&1); rc=$?
is "$rc:$(printf '%s' "$out" | grep -c warning)" "0:0" "no Postfix configuration there: no local-domain warning, no noise"

# --- a full compile from source undoes -d/-i (postmap semantics) --------
"$TLSMAP" "$L"
is "$("$TLSMAP" -q example.com "$L")" "example.com	encrypt" "recompiling the source restores it"

done_testing

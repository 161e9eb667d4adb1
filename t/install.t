#!/bin/bash
# install.t - make install/uninstall, the systemd units (verify, security
# score), and the man pages (lint-clean).
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
M="make -s -C $SRC"

# --- install into a DESTDIR -------------------------------------------------
D=$TMP/dest
$M install DESTDIR="$D" PREFIX=/usr >/dev/null 2>&1; is "$?" 0 "make install DESTDIR=... PREFIX=/usr"
want="etc/tlspolicyd/tlspolicyd.conf
usr/lib/systemd/system/tlspolicyd-socketmap.socket
usr/lib/systemd/system/tlspolicyd.service
usr/lib/systemd/system/tlspolicyd.socket
usr/lib/sysusers.d/tlspolicyd.conf
usr/lib/tmpfiles.d/tlspolicyd.conf
usr/sbin/tlsmap
usr/sbin/tlspolicyd
usr/sbin/tlsprobe
usr/share/doc/tlspolicyd/examples/example.list
usr/share/doc/tlspolicyd/examples/postfix/main.cf
usr/share/doc/tlspolicyd/examples/postfix/master.cf
usr/share/doc/tlspolicyd/examples/postfix/tlspolicyd_bounce
usr/share/doc/tlspolicyd/examples/tlspolicyd.conf.example
usr/share/man/man1/tlsmap.1
usr/share/man/man1/tlsprobe.1
usr/share/man/man5/tlspolicyd.conf.5
usr/share/man/man8/tlspolicyd.8"
is "$(cd "$D" && find . -type f | sed 's|^\./||' | sort)" "$want" "installed tree"
like "$(cat "$D/usr/lib/systemd/system/tlspolicyd.service")" "ExecStart=/usr/sbin/tlspolicyd --config /etc/tlspolicyd/tlspolicyd.conf" "unit points at the installed binary and config"
ok "installed binaries are executable" test -x "$D/usr/sbin/tlspolicyd" -a -x "$D/usr/sbin/tlsmap"
like "$(cat "$D/usr/lib/tmpfiles.d/tlspolicyd.conf")" "^d /etc/tlspolicyd 2775 root tlspolicyd-lists" "tmpfiles.d: the config directory is the list maintainers', not the daemon's"
like "$(cat "$D/usr/lib/sysusers.d/tlspolicyd.conf")" "^u tlspolicyd " "sysusers.d creates the static account"
like "$(cat "$D/usr/lib/sysusers.d/tlspolicyd.conf")" "^g tlspolicyd-lists " "... and the list maintainers' group"
ok "installed example config is valid" "$D/usr/sbin/tlspolicyd" --config "$D/usr/share/doc/tlspolicyd/examples/tlspolicyd.conf.example" --check-config
out=$("$D/usr/sbin/tlspolicyd" --config "$D/etc/tlspolicyd/tlspolicyd.conf" --check-config 2>&1); rc=$?
is "$rc" 0 "installed config is valid"
like "$out" "listen = unix:/var/spool/postfix/private/tlspolicy;" "installed config: the policy socket main.cf names"
like "$out" "socketmap_listen = unix:/var/spool/postfix/private/tlsmap;" "installed config: the socketmap main.cf names"
like "$out" "outbound_routing = transport_maps" "installed config: outbound routing by transport_maps"
like "$(cat "$SRC/postfix/main.cf")" "socketmap:unix:private/tlsmap:transport" "main.cf asks that socketmap"
echo "# changed by the admin" >> "$D/etc/tlspolicyd/tlspolicyd.conf"
$M install DESTDIR="$D" PREFIX=/usr >/dev/null 2>&1
like "$(cat "$D/etc/tlspolicyd/tlspolicyd.conf")" "# changed by the admin" "make install keeps an existing tlspolicyd.conf"
$M uninstall DESTDIR="$D" PREFIX=/usr >/dev/null 2>&1
is "$(cd "$D" && find . -type f | sed 's|^\./||')" "etc/tlspolicyd/tlspolicyd.conf" "uninstall keeps a changed tlspolicyd.conf, removes the rest"
rm -f "$D/etc/tlspolicyd/tlspolicyd.conf"
$M install DESTDIR="$D" PREFIX=/usr >/dev/null 2>&1
$M uninstall DESTDIR="$D" PREFIX=/usr >/dev/null 2>&1; is "$?" 0 "make uninstall"
is "$(find "$D" -type f | wc -l)" 0 "uninstall removes every installed file"

# --- units: systemd-analyze verify and security ------------------------------
if command -v systemd-analyze >/dev/null; then
    P=$TMP/prefix
    $M install PREFIX="$P/usr" SYSCONFDIR="$P/etc" >/dev/null 2>&1
    U=$P/usr/lib/systemd/system
    out=$(systemd-analyze verify --man=no "$U/tlspolicyd.service" "$U/tlspolicyd.socket" \
        "$U/tlspolicyd-socketmap.socket" 2>&1); rc=$?
    is "$rc:$out" "0:" "systemd-analyze verify passes the units"
    out=$(systemd-analyze security --offline=yes "$U/tlspolicyd.service" 2>&1)
    score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for tlspolicyd.service: \([0-9.]*\).*/\1/p')
    ok "security exposure $score is at most 2.0" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
    unlike "$(cat "$U/tlspolicyd.service")" "^IPAddressDeny" "the unit lets the daemon reach DNS resolvers and MTA-STS hosts"
else
    echo "# systemd-analyze not installed"
    _result 1 "systemd-analyze available"
fi

# --- man pages ------------------------------------------------------------------
for page in "$SRC"/man/*.[158]; do
    out=$(mandoc -T lint -W warning "$page" 2>&1); rc=$?
    is "$rc:$out" "0:" "mandoc -T lint $(basename "$page")"
done

# --- only the README's two commands install packages --------------------------
# A copy of the tree, with a dpkg-query that says liblmdb-dev is missing and
# an apt-get that only writes down what it was asked.
W=$TMP/deps; mkdir -p "$W/tree" "$W/bin"
(cd "$SRC" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 cp -a --parents -t "$W/tree")
cat > "$W/bin/dpkg-query" <<'EOF'
#!/bin/sh
case "$*" in *liblmdb-dev*) echo "unknown ok not-installed" ;; *) echo "install ok installed" ;; esac
EOF
printf '#!/bin/sh\necho "$*" >> %s/apt.log\n' "$W" > "$W/bin/apt-get"
chmod +x "$W/bin/dpkg-query" "$W/bin/apt-get"
# {make's arguments | what apt-get is asked ("": nothing)}
while IFS='|' read -r args want; do
    rm -rf "$W/tree/build" "$W/tree/build-san" "$W/apt.log"
    # as a user types it: not the variables of the make check running this
    out=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL PATH="$W/bin:$PATH" make -C "$W/tree" $args 2>&1); rc=$?
    args=${args:-"(no goal)"}
    asked=$(grep -o 'install .*' "$W/apt.log" 2>/dev/null)
    if [ -z "$want" ]; then
        is "$rc:$asked" "2:" "make $args installs nothing"
        like "$out" "apt-get install -y liblmdb-dev" "make $args prints the apt-get command"
    else
        is "$asked" "$want" "make $args installs what is missing"
    fi
done <<'ROWS'
|
programs|
install DESTDIR=/nonexistent|
-n run QUICK=1|install -y -q --no-install-recommends liblmdb-dev
-n check QUICK=1|install -y -q --no-install-recommends liblmdb-dev
ROWS

# --- the README points at the shipped snippets (it copies none: they are the setup) --
for f in "$SRC"/postfix/*; do
    ok "README.md points at postfix/$(basename "$f")" grep -q "(postfix/$(basename "$f"))" "$SRC/README.md"
done
ok "README.md is a front door: at most 12 KB" test "$(wc -c < "$SRC/README.md")" -le 12288

done_testing

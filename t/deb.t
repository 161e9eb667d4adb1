#!/bin/bash
# deb.t - the Debian package: built from this tree (scripts/deb.sh, as
# "make deb"), lintian-clean, and holding what an admin expects: the three
# programs, the units, sysusers and tmpfiles, man pages, the configuration
# as a conffile, the examples and Postfix snippets, and maintainer scripts
# that create the account, enable the sockets and purge cleanly.
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}

if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP not root (dpkg-buildpackage and lintian are installed by scripts/deps.sh as root)"; exit 0
fi
for tool in dpkg-buildpackage dh lintian fakeroot; do
    if ! command -v $tool >/dev/null; then echo "1..0 # SKIP $tool not installed (scripts/deps.sh test)"; exit 0; fi
done
if [ "${SANITIZE:-}" = 1 ]; then
    echo "1..0 # SKIP the package is built in make check's first pass (it does not use the sanitizer build)"; exit 0
fi

out=$(OUT="$TMP/deb" "$SRC/scripts/deb.sh" 2>&1); rc=$?
is "$rc" 0 "the package builds (scripts/deb.sh, dpkg-buildpackage -b -us -uc)"
[ "$rc" -ne 0 ] && printf '%s\n' "$out" | tail -20 | sed 's/^/# /'
version=$(cd "$SRC" && dpkg-parsechangelog -S Version)
DEB=$(ls "$TMP"/deb/tlspolicyd_"$version"_*.deb 2>/dev/null | head -1)
ok "... as tlspolicyd_${version}_ARCH.deb" test -f "$DEB"

lint=$(lintian --fail-on error,warning "$DEB" 2>&1); rc=$?
is "$rc:$(printf '%s\n' "$lint" | grep -E '^[EW]: ')" "0:" "lintian: no errors, no warnings"
[ "$rc" -ne 0 ] && printf '%s\n' "$lint" | head -20 | sed 's/^/# /'

files=$(dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|')
for f in /usr/sbin/tlspolicyd /usr/sbin/tlsmap /usr/sbin/tlsprobe \
         /lib/systemd/system/tlspolicyd.service /lib/systemd/system/tlspolicyd.socket \
         /lib/systemd/system/tlspolicyd-socketmap.socket \
         /usr/lib/sysusers.d/tlspolicyd.conf /usr/lib/tmpfiles.d/tlspolicyd.conf \
         /usr/share/man/man8/tlspolicyd.8.gz /usr/share/man/man5/tlspolicyd.conf.5.gz \
         /usr/share/man/man1/tlsmap.1.gz /usr/share/man/man1/tlsprobe.1.gz \
         /etc/tlspolicyd/tlspolicyd.conf \
         /usr/share/doc/tlspolicyd/examples/example.list \
         /usr/share/doc/tlspolicyd/examples/tlspolicyd.conf.example \
         /usr/share/doc/tlspolicyd/examples/postfix/main.cf \
         /usr/share/doc/tlspolicyd/examples/postfix/master.cf \
         /usr/share/doc/tlspolicyd/examples/postfix/tlspolicyd_bounce \
         /usr/share/doc/tlspolicyd/copyright; do
    ok "contains $f" grep -qx -- "$f" <<< "$files"
done
unlike "$files" "/etc/tlspolicyd/(example|tls)\.list" "no list under /etc: the admin's list is never the package's"

is "$(dpkg-deb -f "$DEB" Package):$(dpkg-deb -f "$DEB" Version)" "tlspolicyd:$version" "package name and version from the tree"
depends=$(dpkg-deb -f "$DEB" Depends)
for d in postfix libglib2.0-0 liblmdb0 libssl3 libunbound8 dns-root-data; do
    like "$depends" "(^|, )$d( |,|$)" "depends on $d"
done

CTL=$TMP/control
dpkg-deb -e "$DEB" "$CTL"
is "$(cat "$CTL/conffiles")" "/etc/tlspolicyd/tlspolicyd.conf" "the configuration is the one conffile"
like "$(cat "$CTL/postinst")" "systemd-sysusers.*tlspolicyd" "postinst creates the account (sysusers)"
like "$(cat "$CTL/postinst")" "systemd-tmpfiles .*--create tlspolicyd.conf" "postinst creates the config directory (tmpfiles)"
like "$(cat "$CTL/postinst")" "deb-systemd-helper .*enable.*tlspolicyd.socket" "postinst enables the policy socket"
like "$(cat "$CTL/postinst")" "tlspolicyd-socketmap.socket" "... and the socketmap socket"
like "$(cat "$CTL/postinst")" "_dh_action=start" "postinst starts them where systemd runs (deb-systemd-invoke)"
like "$(cat "$CTL/prerm")" "deb-systemd-invoke stop" "prerm stops the units"
like "$(cat "$CTL/postrm")" "rm -rf /etc/tlspolicyd" "postrm purge removes the configuration and the lists"
like "$(cat "$CTL/postrm")" "^    deb-systemd-helper purge tlspolicyd.socket tlspolicyd-socketmap.socket tlspolicyd.service" "postrm remove disables the units"
like "$(cat "$CTL/postrm")" "deb-systemd-helper purge 'tlspolicyd" "postrm purge forgets them"

# the packaged daemon runs with the packaged configuration and no list
root=$TMP/root
dpkg-deb -x "$DEB" "$root"
out=$("$root/usr/sbin/tlspolicyd" --config "$root/etc/tlspolicyd/tlspolicyd.conf" --check-config 2>&1); rc=$?
is "$rc" 0 "the packaged configuration is valid"
like "$out" "list = /etc/tlspolicyd/tls.list" "... and names /etc/tlspolicyd/tls.list"
done_testing

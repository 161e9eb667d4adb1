#!/bin/sh
# postfix-backports.sh - Debian's Postfix 3.10 from bookworm-backports,
# unpacked beside the system's Postfix for the tests.
#
#   scripts/postfix-backports.sh DIR
#
# tlspolicyd supports two Postfix versions: Debian 12's 3.7 (the system's,
# which make check tests) and 3.10 (Debian 13; bookworm-backports carries
# it for Debian 12).  This fetches the backports package with apt-get
# through a private apt configuration under DIR (its own sources list,
# package lists and cache), so the machine's apt sources and its installed
# Postfix are never touched, and unpacks it into DIR/root.  Debian's
# binaries find libpostfix-*.so through RUNPATH /usr/lib/postfix, where
# the system's 3.7 libraries are; patchelf points every ELF file at
# DIR/root/usr/lib/postfix instead (LD_LIBRARY_PATH cannot do it: Postfix
# clears the environment of the commands and daemons it starts).  The
# tests run it from there (POSTFIX_ROOT=DIR/root, t/support/postfixbin.sh):
# its commands first on PATH, its daemon, command and meta directories in
# the private instance's main.cf.
#
# Prints the unpacked version.  Does nothing when DIR/root already holds a
# 3.10; fails loudly when the package cannot be had.
set -eu
dir=${1:?usage: $0 DIR}
suite=bookworm-backports
want=3.10

root=$dir/root
version() { "$root/usr/sbin/postconf" -d -h mail_version 2>/dev/null; }
case $(version || true) in
"$want".*) version; exit 0 ;;
esac

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null || ! command -v patchelf >/dev/null; then
    echo "postfix-backports.sh: needs apt-get, dpkg-deb and patchelf (scripts/deps.sh test installs it)" >&2
    exit 1
fi
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial"
dir=$(cd "$dir" && pwd)
root=$dir/root
# the machine's own Debian mirror, if its sources name one
mirror=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 | tr -d ' ')
mirror=${mirror:-http://deb.debian.org/debian}
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} $suite main" > "$dir/apt/sources.list"
set -- -q -o Dir::Etc::sourcelist="$dir/apt/sources.list" -o Dir::Etc::sourceparts=/nonexistent \
    -o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache="$dir/apt/cache" \
    -o APT::Sandbox::User=root
echo "postfix-backports.sh: fetching Postfix $want from $suite into $dir" >&2
apt-get "$@" update >&2
candidate=$(apt-cache "$@" policy postfix | sed -n 's/^ *Candidate: //p')
case $candidate in
"$want".*) ;;
*) echo "postfix-backports.sh: $suite offers postfix '$candidate', not $want.x" >&2; exit 1 ;;
esac
rm -f "$dir"/postfix_*.deb
(cd "$dir" && apt-get "$@" download "postfix=$candidate" >&2)
rm -rf "$root.tmp"
dpkg-deb -x "$dir"/postfix_*.deb "$root.tmp"
find "$root.tmp" -type f | while read -r f; do
    case $(head -c 4 "$f" | od -An -c | tr -d ' ') in
    177ELF) patchelf --set-rpath "$root/usr/lib/postfix" "$f" ;;
    esac
done
# what Debian's postinst does with dpkg-statoverride
if getent group postdrop >/dev/null; then
    chgrp postdrop "$root.tmp/usr/sbin/postdrop" "$root.tmp/usr/sbin/postqueue"
    chmod 2555 "$root.tmp/usr/sbin/postdrop" "$root.tmp/usr/sbin/postqueue"
fi
# Debian's post-install (run by every "postfix start") syncs the chroot
# with /usr/lib/postfix/configure-instance.sh: its own, as on Debian 13,
# not the system 3.7's (which overwrites the instance's chroot files)
sed -i "s|/usr/lib/postfix/configure-instance.sh|$root/usr/lib/postfix/configure-instance.sh|" \
    "$root.tmp/usr/lib/postfix/sbin/post-install"
rm -rf "$root"
mv "$root.tmp" "$root"
version

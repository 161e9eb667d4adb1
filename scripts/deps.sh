#!/bin/sh
# deps.sh - make sure the Debian packages that tlspolicyd needs are installed.
#
#   scripts/deps.sh build    compiler and libraries
#   scripts/deps.sh test     build + what the test suite drives (prove, a
#                            private Postfix, swaks, openssl, the package
#                            tools, nsd/unbound/ldnsutils for the DNSSEC lab,
#                            patchelf for the unpacked Postfix 3.10)
#   scripts/deps.sh package  build + the Debian package tools (make deb)
#
# As root, missing packages are installed with apt-get, unless
# DEPS_INSTALL=no: then, as for another user, the exact command is printed
# and the script fails.  The Makefile says no for every goal but the
# README's two commands, make run and make check, so a plain make never
# installs anything.  Postfix, nsd,
# unbound and Prometheus are only tools for the tests (they run private
# instances on loopback): Postfix is installed with the debconf answer "No
# configuration", all under a policy-rc.d that forbids starting services
# while apt runs, and their systemd units are disabled afterwards, so the
# system's own are never set up, started or enabled by this script.  As another user, print the exact command and
# fail.
set -eu

# libunbound's pkg-config file names libevent and nettle, so pkg-config
# needs their -dev packages too; dns-root-data is the DNSSEC trust anchor.
build_pkgs="build-essential pkg-config libglib2.0-dev liblmdb-dev libssl-dev libunbound-dev libsystemd-dev libevent-dev nettle-dev dns-root-data"
package_pkgs="debhelper dpkg-dev fakeroot lintian"
test_pkgs="$package_pkgs prometheus perl python3 strace openssl mandoc systemd postfix swaks libnet-ssleay-perl libio-socket-ssl-perl clang libclang-rt-14-dev nsd unbound ldnsutils bind9-dnsutils curl patchelf runit systemd-journal-remote"

case "${1:-build}" in
build) want=$build_pkgs ;;
test)  want="$build_pkgs $test_pkgs" ;;
package) want="$build_pkgs $package_pkgs" ;;
*) echo "usage: $0 build|test|package" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *" installed") ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ] || [ "${DEPS_INSTALL:-yes}" = no ]; then
    echo "tlspolicyd needs these Debian packages:$missing" >&2
    echo "make run or make check installs them as root; or run as root:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y$missing" >&2
    exit 1
fi
echo "deps.sh: installing$missing" >&2
# Packages that bring a system service; the tests run private instances
# and never the system's: no start while apt runs, units disabled after.
services=""
for p in $missing; do
    case $p in
    postfix) services="$services postfix.service" ;;
    prometheus) services="$services prometheus.service" ;;
    nsd) services="$services nsd.service" ;;
    unbound) services="$services unbound.service" ;;
    runit) services="$services runit.service" ;;
    esac
done
if [ -n "$services" ]; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# deps.sh: no service starts while apt-get runs\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends $missing >&2
for unit in $services; do
    # the package enables its service; the tests never use it
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper disable "$unit" >/dev/null 2>&1 || true
    fi
    rm -f "/etc/systemd/system/multi-user.target.wants/$unit"
    echo "deps.sh: ${unit%.service} installed for the tests only; $unit left disabled" >&2
done

#!/bin/sh
# deb.sh - build the Debian package (debian/) from this tree into build/deb/:
# a copy of the tree (git's files in a checkout, committed or not; else
# everything but build output) built with dpkg-buildpackage -b -us -uc.
# "make deb" runs it (OUT=DIR: elsewhere); scripts/deps.sh package
# installs the build tools.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh package
version=$(dpkg-parsechangelog -S Version)
out=${OUT:-build/deb}
src=$out/tlspolicyd-$version
rm -rf "$out"
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | xargs -0 cp -a --parents -t "$src"
else
    tar cf - --exclude=./build --exclude=./build-san --exclude=./build-fuzz . | tar xf - -C "$src"
fi
(cd "$src" && dpkg-buildpackage -b -us -uc)
ls "$out"/*.deb

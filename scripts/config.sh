#!/bin/sh
# config.sh - write the build's compiler and linker flags for the packages
# it needs, as a makefile fragment the Makefile includes.
#
#   scripts/config.sh OUT PKG...
#
# Run by make after scripts/deps.sh.  Fails loudly (and writes nothing)
# when pkg-config cannot find a package, rather than leaving the compiler
# to fail later on a missing header.
set -eu
out=$1; shift
if ! command -v pkg-config >/dev/null; then
    echo "config.sh: pkg-config is not installed (scripts/deps.sh build installs it)" >&2
    exit 1
fi
for p in "$@"; do
    if ! pkg-config --exists "$p"; then
        echo "config.sh: pkg-config cannot find $p (scripts/deps.sh build installs it)" >&2
        exit 1
    fi
done
mkdir -p "$(dirname "$out")"
{
    echo "# written by scripts/config.sh; delete it to find the packages again"
    echo "PKG_CFLAGS := $(pkg-config --cflags "$@")"
    echo "PKG_LIBS   := $(pkg-config --libs "$@")"
} > "$out.tmp"
mv "$out.tmp" "$out"

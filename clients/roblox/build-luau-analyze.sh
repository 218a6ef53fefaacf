#!/usr/bin/env bash
# Builds luau-analyze (Luau's type checker, 0.735) from the source tarball
# in ../shared/tools into a cache outside the repository, once, and prints
# the binary's path. Later runs print the cached binary at once.
#
# Exit status 3 means the tarball is not there (a fresh clone without
# ../shared): the strict type check cannot run on this machine.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tarball="${HEARTH_LUAU_TARBALL:-$repo/../shared/tools/luau-0.735.tar.gz}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/hearth/luau-0.735"
bin="$cache/luau-analyze"

if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi
if [[ ! -f "$tarball" ]]; then
	echo "build-luau-analyze: $tarball is missing" >&2
	exit 3
fi
mkdir -p "$cache"
work="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "build-luau-analyze: building luau-analyze from $tarball (about 6 minutes on two cores)" >&2
tar -xzf "$tarball" -C "$work"
make -C "$work/luau-0.735" -j"$(nproc)" config=release luau-analyze >"$work/build.log" 2>&1 || {
	tail -n 30 "$work/build.log" >&2
	exit 1
}
cp "$work/luau-0.735/build/release/luau-analyze" "$bin.tmp.$$"
strip "$bin.tmp.$$" 2>/dev/null || true
mv -f "$bin.tmp.$$" "$bin" # atomic: a concurrent run sees the whole binary or none
echo "$bin"

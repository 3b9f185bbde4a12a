#!/usr/bin/env bash
# Prints the path of a promtool, installing Debian's `prometheus` package's copy (unpacked into
# target/, no service installed) when none is on PATH and $PROMTOOL is unset.
set -euo pipefail
if [ -n "${PROMTOOL:-}" ]; then echo "$PROMTOOL"; exit 0; fi
if command -v promtool >/dev/null 2>&1; then command -v promtool; exit 0; fi
cd "$(dirname "$0")/.."
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
root="$target_dir/promtool"
if [ ! -x "$root/usr/bin/promtool" ]; then
  mkdir -p "$root"
  (
    cd "$root"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get download -qq prometheus >/dev/null
    dpkg -x prometheus_*.deb .
    rm -f prometheus_*.deb
  ) >&2
fi
echo "$root/usr/bin/promtool"

#!/usr/bin/env bash
# Every library crate builds with no default features, with each of its features alone, and with
# all of them. The features are read from `cargo metadata`, so a new feature is checked without
# editing this script. A failure names the crate and the feature set.
set -euo pipefail
cd "$(dirname "$0")/.."
crates=(readiness-core readiness-tower readiness-checks readiness-testkit)
features_of() {
  cargo metadata --format-version 1 --no-deps | python3 -c '
import json, sys
name = sys.argv[1]
pkg = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == name)
print(" ".join(sorted(f for f in pkg["features"] if f != "default")))' "$1"
}
check() {
  local crate="$1"; shift
  local label="$*"
  if ! cargo check -q -p "$crate" --lib "$@" 2>&1; then
    echo "features: $crate does not build with ${label}" >&2
    exit 1
  fi
  echo "features: $crate builds with ${label}"
}
n=0
for crate in "${crates[@]}"; do
  check "$crate" --no-default-features; n=$((n + 1))
  for f in $(features_of "$crate"); do
    check "$crate" --no-default-features --features "$f"; n=$((n + 1))
  done
  check "$crate" --all-features; n=$((n + 1))
done
echo "features: $n feature sets build"

#!/usr/bin/env bash
# The project's whole test suite, with its set-up; `.ci/run` calls exactly this.
# Chaos tests do not run here (see the README's chaos command).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> real servers for the data checks (installed and started when missing)"
./scripts/services.sh

echo "==> cargo test --workspace"
log="$(mktemp)"
cargo test --workspace 2>&1 | tee "$log"
passed="$(awk '/^test result:/ {p += $4} END {print p + 0}' "$log")"
failed="$(awk '/^test result:/ {f += $6} END {print f + 0}' "$log")"
rm -f "$log"

echo "==> promtool"
PROMTOOL="$(./scripts/promtool.sh)"
export PROMTOOL
"$PROMTOOL" --version | head -n 1

echo "==> promtool check metrics on the demo's /metrics"
./scripts/metrics-lint.sh

if [ -f ops/check.sh ]; then
  echo "==> promtool check rules / test rules (ops/)"
  bash ops/check.sh
fi

echo
echo "tests: $passed passed, $failed failed"

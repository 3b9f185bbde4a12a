#!/usr/bin/env bash
# The project's whole test suite, with its set-up; `.ci/run` calls exactly this.
# Chaos tests do not run here (see the README's chaos command).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo test --workspace"
cargo test --workspace

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

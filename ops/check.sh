#!/usr/bin/env bash
# Lint the Prometheus rules and run their unit tests.
#
#   bash ops/check.sh                      # promtool from PATH
#   PROMTOOL=/path/to/promtool bash ops/check.sh
#
# `promtool check rules` on every rule file in ops/prometheus/, then `promtool test rules`
# on every test file in ops/prometheus/tests/. Exits non-zero if promtool is missing, a
# file list is empty, or any check or test fails (all of them run either way).
set -uo pipefail

PROMTOOL="${PROMTOOL:-promtool}"
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v "$PROMTOOL" >/dev/null 2>&1; then
  echo "check.sh: promtool not found (PROMTOOL=$PROMTOOL); set PROMTOOL to its path" >&2
  exit 2
fi

shopt -s nullglob
rule_files=("$dir"/prometheus/*.yml "$dir"/prometheus/*.yaml)
test_files=("$dir"/prometheus/tests/*.yml "$dir"/prometheus/tests/*.yaml)

if [ "${#rule_files[@]}" -eq 0 ] || [ "${#test_files[@]}" -eq 0 ]; then
  echo "check.sh: no rule files or no test files under $dir/prometheus" >&2
  exit 1
fi

failed=0
for f in "${rule_files[@]}"; do
  "$PROMTOOL" check rules "$f" || failed=1
done
for f in "${test_files[@]}"; do
  # promtool resolves rule_files relative to the test file.
  "$PROMTOOL" test rules "$f" || failed=1
done

if [ "$failed" -ne 0 ]; then
  echo "check.sh: FAILED" >&2
  exit 1
fi
echo "check.sh: all rule checks and rule tests passed"

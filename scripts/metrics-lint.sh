#!/usr/bin/env bash
# Starts the demo on a free loopback port, scrapes GET /metrics once it answers, and runs
# `promtool check metrics` on the exposition (exit 0 required).
set -euo pipefail
cd "$(dirname "$0")/.."
promtool="$(./scripts/promtool.sh)"
# One GET with a 2 s timeout (python3 is on every machine this project runs on; curl may not be).
scrape() {
  # No proxy: the demo is on loopback, whatever http_proxy says.
  python3 -c 'import sys, urllib.request as u; sys.stdout.write(u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=2).read().decode())' "$1"
}
cargo build -q -p readiness-examples --example demo
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$target_dir/debug/examples/demo" --listen "127.0.0.1:$port" --period 100ms --drain-delay 0s >"$target_dir/demo-metrics.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
body=""
for _ in $(seq 1 100); do
  # Wait until the first check results are in, so every global series is there.
  if body="$(scrape "http://127.0.0.1:$port/metrics" 2>/dev/null)" && grep -q '^readiness_check_duration_seconds_bucket' <<<"$body"; then
    break
  fi
  sleep 0.1
done
# The tenant families come from the collector (rendered from the engine's state, after the
# recorder's text): the demo has two tenants.
for name in readiness_state readiness_transitions_total readiness_draining readiness_check_duration_seconds readiness_check_state \
  tenant_readiness_state tenant_readiness_transitions_total tenant_readiness_check_seconds_total tenant_readiness_tenants; do
  grep -q "^# HELP $name " <<<"$body" || { echo "metrics-lint: no HELP for $name" >&2; exit 1; }
  grep -q "^# TYPE $name " <<<"$body" || { echo "metrics-lint: no TYPE for $name" >&2; exit 1; }
  [ "$(grep -c "^# TYPE $name " <<<"$body")" -eq 1 ] || { echo "metrics-lint: $name has more than one TYPE" >&2; exit 1; }
done
grep -q '^# TYPE readiness_check_duration_seconds histogram' <<<"$body" || { echo "metrics-lint: duration is not a histogram" >&2; exit 1; }
echo "$body" | "$promtool" check metrics
echo "metrics-lint: promtool check metrics passed on the demo's /metrics ($(grep -c -v '^#' <<<"$body") samples)"

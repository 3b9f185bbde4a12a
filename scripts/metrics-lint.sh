#!/usr/bin/env bash
# Starts the demo on a free loopback port, scrapes GET /metrics once it answers, and runs
# `promtool check metrics` on the exposition (exit 0 required), and on /metrics/slis (Kubernetes'
# health SLIs) once probes have been answered. Twice: the simulated demo
# (every engine series, tenants included), then the demo checking a certificate file made
# here, for readiness_certificate_expiry_timestamp_seconds.
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
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# lint WAIT_FOR NAMES -- DEMO_FLAGS...: scrape until a line starts with WAIT_FOR, require HELP
# and TYPE for each of NAMES (space-separated), then promtool check metrics.
lint() {
  local wait_for="$1" names="$2"
  shift 3
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$target_dir/debug/examples/demo" --listen "127.0.0.1:$port" --period 100ms --drain-delay 0s "$@" >"$target_dir/demo-metrics.log" 2>&1 &
  pids+=("$!")
  body=""
  for _ in $(seq 1 100); do
    # Wait until the first check results are in, so every series asked for is there.
    if body="$(scrape "http://127.0.0.1:$port/metrics" 2>/dev/null)" && grep -q "^$wait_for" <<<"$body"; then
      break
    fi
    sleep 0.1
  done
  for name in $names; do
    grep -q "^# HELP $name " <<<"$body" || { echo "metrics-lint: no HELP for $name" >&2; exit 1; }
    grep -q "^# TYPE $name " <<<"$body" || { echo "metrics-lint: no TYPE for $name" >&2; exit 1; }
    [ "$(grep -c "^# TYPE $name " <<<"$body")" -eq 1 ] || { echo "metrics-lint: $name has more than one TYPE" >&2; exit 1; }
  done
  echo "$body" | "$promtool" check metrics
  echo "metrics-lint: promtool check metrics passed on the demo's /metrics ($(grep -c -v '^#' <<<"$body") samples, demo $*)"
  # Kubernetes' health SLIs: series appear once probes have evaluated the checks.
  for probe in readyz livez healthz readyz?verbose; do scrape "http://127.0.0.1:$port/$probe" >/dev/null 2>&1 || true; done
  local slis
  slis="$(scrape "http://127.0.0.1:$port/metrics/slis")"
  for name in kubernetes_healthcheck kubernetes_healthchecks_total; do
    grep -q "^# TYPE $name " <<<"$slis" || { echo "metrics-lint: /metrics/slis has no $name" >&2; exit 1; }
  done
  echo "$slis" | "$promtool" check metrics
  echo "metrics-lint: promtool check metrics passed on the demo's /metrics/slis ($(grep -c -v '^#' <<<"$slis") samples, demo $*)"
}

# The tenant families come from the collector (rendered from the engine's state, after the
# recorder's text): the simulated demo has two tenants.
lint readiness_check_duration_seconds_bucket \
  "readiness_state readiness_transitions_total readiness_draining readiness_check_duration_seconds readiness_check_state tenant_readiness_state tenant_readiness_transitions_total tenant_readiness_check_seconds_total tenant_readiness_tenants" --
grep -q '^# TYPE readiness_check_duration_seconds histogram' <<<"$body" || { echo "metrics-lint: duration is not a histogram" >&2; exit 1; }

# A certificate for the demo's cert: check (the openssl command-line tool comes with Debian's
# ca-certificates; only this script uses it, no crate links OpenSSL).
cert_dir="$(mktemp -d)"
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$cert_dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=demo \
  -keyout "$cert_dir/tls.key" -out "$cert_dir/tls.crt" 2>/dev/null
lint readiness_certificate_expiry_timestamp_seconds \
  "readiness_certificate_expiry_timestamp_seconds readiness_check_state" -- \
  --check "own-cert=cert:$cert_dir/tls.crt"

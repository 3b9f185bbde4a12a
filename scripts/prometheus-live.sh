#!/usr/bin/env bash
# A real Prometheus (Debian's `prometheus` package, unpacked next to promtool by
# scripts/promtool.sh) scrapes two demos on loopback and evaluates ops/prometheus/*.yml every
# second. One demo is then drained (SIGTERM, 20 s drain delay). Passes when every rule reports
# health "ok" with no error, and Prometheus sees the drain: readiness_draining 1 on the
# drained demo and no instance:readiness_not_ready:bool sample for it, while the other counts.
#
#   ./scripts/prometheus-live.sh          # about a minute; not part of ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
promtool="$(./scripts/promtool.sh)"
prometheus="$(dirname "$promtool")/prometheus"
[ -x "$prometheus" ] || { echo "prometheus-live: no prometheus next to $promtool" >&2; exit 2; }
get() {
  python3 -c 'import sys, urllib.request as u; sys.stdout.write(u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=2).read().decode())' "$1"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cargo build -q -p readiness-examples --example demo
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

stay="$(free_port)"; drained="$(free_port)"; prom="$(free_port)"
"$target_dir/debug/examples/demo" --listen "127.0.0.1:$stay" --period 1s >"$work/stay.log" 2>&1 &
pids+=($!)
"$target_dir/debug/examples/demo" --listen "127.0.0.1:$drained" --period 1s --drain-delay 20s >"$work/drained.log" 2>&1 &
drained_pid=$!
pids+=($drained_pid)

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/ops/prometheus/recording.yml
  - $PWD/ops/prometheus/alerts.yml
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: ["127.0.0.1:$stay", "127.0.0.1:$drained"]
EOF
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom" >"$work/prometheus.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$prom/api/v1"

query() { get "$api/query?query=$(python3 -c 'import sys, urllib.parse as p; print(p.quote(sys.argv[1]))' "$1")"; }
# Waits (at most 60 s) until the query returns exactly $2 series.
wait_series() {
  for _ in $(seq 1 120); do
    n="$(query "$1" 2>/dev/null | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["data"]["result"]))' 2>/dev/null || echo -1)"
    [ "$n" = "$2" ] && return 0
    sleep 0.5
  done
  echo "prometheus-live: \`$1\` did not return $2 series; prometheus log:" >&2
  tail -n 20 "$work/prometheus.log" >&2
  exit 1
}

wait_series 'up{job="demo"} == 1' 2
wait_series 'instance:readiness_not_ready:bool' 2
kill -TERM "$drained_pid"
wait_series "readiness_draining{instance=\"127.0.0.1:$drained\"} == 1" 1
wait_series "instance:readiness_not_ready:bool{instance=\"127.0.0.1:$drained\"}" 0
wait_series "instance:readiness_not_ready:bool{instance=\"127.0.0.1:$stay\"}" 1
sleep 3 # a few more evaluations of every rule during the drain

get "$api/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
rules = [(g["name"], r) for g in groups for r in g["rules"]]
bad = [(g, r.get("name"), r.get("health"), r.get("lastError")) for g, r in rules
       if r.get("health") != "ok" or r.get("lastError")]
for g, r in rules:
    print("  %-28s %-9s %-4s %s" % (g, r["type"], r["health"], r["name"]))
if bad or not rules:
    print(f"prometheus-live: rules not ok: {bad}", file=sys.stderr)
    sys.exit(1)
print(f"prometheus-live: {len(rules)} rules in {len(groups)} groups, every one health ok")
'
query 'readiness_draining' | python3 -c '
import json, sys
for s in json.load(sys.stdin)["data"]["result"]:
    print("  readiness_draining{instance=\"%s\"} %s" % (s["metric"]["instance"], s["value"][1]))
'
echo "prometheus-live: the drained demo reads readiness_draining 1 and is left out of the SLI; the other counts"

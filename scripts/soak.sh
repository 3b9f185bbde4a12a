#!/usr/bin/env bash
# Soak: the demo under real probes, business traffic and gRPC Watches for DURATION (`60`, `90s`,
# `10m`, `2h`), printing its resident memory, open descriptors and tokio's alive tasks at every
# sample, and failing if they grow.
#
#   ./scripts/soak.sh 60      # what .ci/run does
#   ./scripts/soak.sh 2h      # before a release
#
# The load is benches/examples/soak_client.rs (see its docs); the demo runs on its simulated
# dependencies (flapping) on free loopback ports, with DEMO_STATS_SECS so that it logs its alive
# tasks. Samples: every minute, or every DURATION/6 when that is shorter (so 60 s gives six).
#
# Growth, precisely: the first sample (taken after one interval of load, so start-up and the
# allocator's first arenas are behind it) is the baseline, and the run fails if the LAST sample
# is above it by more than 10 % + 4 MiB of resident memory, more than 16 descriptors or more
# than 32 tasks (connections and requests in flight at the moment of a sample come and go).
# It also fails if the client saw a failure, or if the demo does not drain and exit 0 on
# SIGTERM within 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/soak.sh DURATION   (60, 90s, 10m, 2h)" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in
  *[!0-9smh]* | '' ) usage ;;
  *h) total=$(( ${1%h} * 3600 )) ;;
  *m) total=$(( ${1%m} * 60 )) ;;
  *s) total=${1%s} ;;
  *) total=$1 ;;
esac
[ "$total" -ge 6 ] 2>/dev/null || usage
interval=$(( total / 6 < 60 ? total / 6 : 60 ))

cargo build -q -p readiness-examples --example demo
cargo build -q -p readiness-benches --example soak_client
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

work="$(mktemp -d)"
demo_pid=""
client_pid=""
cleanup() {
  [ -z "$client_pid" ] || kill "$client_pid" 2>/dev/null || true
  [ -z "$demo_pid" ] || kill -9 "$demo_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

DEMO_STATS_SECS="$interval" "$target_dir/debug/examples/demo" \
  --listen 127.0.0.1:0 --grpc-listen 127.0.0.1:0 --drain-delay 1s --period 500ms \
  >"$work/demo.log" 2>&1 &
demo_pid=$!
http="" grpc=""
for _ in $(seq 100); do
  http="$(sed -n 's|.*listening on http://\([0-9.:]*\).*|\1|p' "$work/demo.log" | head -n 1)"
  grpc="$(sed -n 's|.*grpc.health.v1 on \([0-9.:]*\).*|\1|p' "$work/demo.log" | head -n 1)"
  [ -n "$http" ] && [ -n "$grpc" ] && break
  kill -0 "$demo_pid" 2>/dev/null || { cat "$work/demo.log"; echo "soak: the demo did not start" >&2; exit 1; }
  sleep 0.1
done
[ -n "$http" ] && [ -n "$grpc" ] || { cat "$work/demo.log"; echo "soak: no addresses in the demo's log" >&2; exit 1; }
echo "soak: demo (pid $demo_pid) on http://$http and grpc://$grpc for ${total} s, a sample every ${interval} s"

"$target_dir/debug/examples/soak_client" "$http" "$grpc" "$total" >"$work/client.log" 2>&1 &
client_pid=$!

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$demo_pid/status"; }
fds() { ls "/proc/$demo_pid/fd" | wc -l; }
tasks() { sed -n 's/.*demo: stats: tasks=\([0-9]*\).*/\1/p' "$work/demo.log" | tail -n 1; }

printf 'soak: %8s %12s %12s %8s\n' "second" "resident KiB" "descriptors" "tasks"
first_rss="" first_fds="" first_tasks=""
elapsed=0
while [ "$elapsed" -lt "$total" ]; do
  sleep "$interval"
  elapsed=$((elapsed + interval))
  kill -0 "$demo_pid" 2>/dev/null || { tail -n 20 "$work/demo.log"; echo "soak: the demo died" >&2; exit 1; }
  r="$(rss_kib)" f="$(fds)" t="$(tasks)"
  t="${t:-0}"
  printf 'soak: %8d %12d %12d %8d\n' "$elapsed" "$r" "$f" "$t"
  if [ -z "$first_rss" ]; then first_rss=$r first_fds=$f first_tasks=$t; fi
  last_rss=$r last_fds=$f last_tasks=$t
done

client_status=0
wait "$client_pid" || client_status=$?
client_pid=""
cat "$work/client.log"

kill -TERM "$demo_pid"
demo_status=""
for _ in $(seq 300); do
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    demo_status=0
    wait "$demo_pid" || demo_status=$?
    break
  fi
  sleep 0.1
done
demo_pid_was=$demo_pid
[ -n "$demo_status" ] && demo_pid=""

fail=0
rss_limit=$(( first_rss + first_rss / 10 + 4096 ))
if [ "$last_rss" -gt "$rss_limit" ]; then
  echo "soak: resident memory grew: $first_rss KiB -> $last_rss KiB (limit $rss_limit)" >&2; fail=1
fi
if [ "$last_fds" -gt $(( first_fds + 16 )) ]; then
  echo "soak: descriptors grew: $first_fds -> $last_fds" >&2; fail=1
fi
if [ "$last_tasks" -gt $(( first_tasks + 32 )) ]; then
  echo "soak: tasks grew: $first_tasks -> $last_tasks" >&2; fail=1
fi
if [ "$client_status" -ne 0 ]; then
  echo "soak: the client saw failures (exit $client_status)" >&2; fail=1
fi
if [ "$demo_status" != 0 ]; then
  tail -n 20 "$work/demo.log"
  echo "soak: the demo (pid $demo_pid_was) did not drain and exit 0 within 30 s of SIGTERM (status: ${demo_status:-still running})" >&2; fail=1
fi
[ "$fail" -eq 0 ] || exit 1
echo "soak: ${total} s, resident $first_rss -> $last_rss KiB, descriptors $first_fds -> $last_fds, tasks $first_tasks -> $last_tasks: no growth"

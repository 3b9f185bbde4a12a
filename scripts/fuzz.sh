#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS seconds each (default 30), from the
# committed seed corpus (fuzz/corpus/TARGET, never written to: new inputs go to a scratch
# directory). A crash, a panic or an input slower than 10 s fails the run; the input is left in
# fuzz/artifacts/TARGET/ for `cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...`, and it
# becomes a regression test in the normal suite.
#
#   ./scripts/fuzz.sh 30      # what .ci/run does
#   ./scripts/fuzz.sh 3600    # before a release: an hour a target
#
# Built without a sanitizer (`-s none`): the instrumentation cargo-fuzz adds then is stable
# (`-Cpasses=sancov-module`, `-Cllvm-args`), so no nightly flag is needed; AddressSanitizer
# (`-Zsanitizer`) would need RUSTC_BOOTSTRAP=1 and finds what unsafe code breaks, and the
# workspace forbids unsafe code. The build goes to target/fuzz (its flags differ from the
# workspace's, so it shares nothing with target/debug).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
case "$secs" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh SECONDS" >&2; exit 2 ;; esac

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz 0.13.2 into ~/.cargo/bin"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
fuzz() { cargo fuzz "$1" -s none --target-dir target/fuzz "${@:2}"; }

start=$(date +%s)
fuzz build
echo "fuzz: built in $(($(date +%s) - start)) s"
# Targets run FUZZ_JOBS at a time (default 2: libFuzzer uses one core a target).
jobs="${FUZZ_JOBS:-2}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
run_one() {
  local target="$1"
  mkdir -p "$work/$target"
  if fuzz run "$target" "$work/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$work/$target.log" 2>&1; then
    echo ok >"$work/$target.status"
  else
    echo failed >"$work/$target.status"
  fi
}
targets=($(cargo fuzz list))
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  for target in "${targets[@]:i:jobs}"; do run_one "$target" & done
  wait
done
failed=0
for target in "${targets[@]}"; do
  if [ "$(cat "$work/$target.status")" = ok ]; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log")"
    echo "fuzz: $target: ${runs:-?} inputs in ${secs} s, no crash"
  else
    failed=$((failed + 1))
    tail -n 40 "$work/$target.log"
    echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
  fi
done
echo "fuzz: $(($(date +%s) - start)) s in all"
[ "$failed" -eq 0 ] || exit 1

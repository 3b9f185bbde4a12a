#!/usr/bin/env bash
# Instructions per call for each bench scenario, under callgrind (repeatable, unlike time on a
# shared VM). Prints a markdown table with the ratios of issue 8.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cargo build -q --release -p readiness-benches --example instructions
bin=target/release/examples/instructions
N="${N:-2000}"
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
# `engine/result/*` count only what runs inside `Engine::refresh` (startup varies run to run by
# millions of instructions: hashing seeds, lazy statics), over N and 3N refreshes.
count_refresh() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*Engine::refresh*' "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
declare -A per
echo "| scenario | instructions per call |"
echo "|---|---|"
for s in passthrough/bare passthrough/layered passthrough/path_only passthrough/route_layer probe/readyz/1 probe/readyz/1/reloadable probe/readyz/1000 probe/readyz/long_query probe/readyz/1/slis probe/readyz/1000/slis tenants/probe/1000 tenants/probe/100000 engine/result/unchanged engine/result/transition; do
  if [[ $s == engine/* ]]; then
    base=$(count_refresh "$s" "$N"); full=$(count_refresh "$s" $((3 * N)))
    per[$s]=$(( (full - base) / (2 * N) ))
  else
    base=$(count "$s" 0); full=$(count "$s" "$N")
    per[$s]=$(( (full - base) / N ))
  fi
  echo "| \`$s\` | ${per[$s]} |"
done
# A scrape of 100,000 tenants is millions of instructions: a few are enough.
NS="${NS:-3}"
for s in tenants/render/100000 tenants/scrape/100000 tenants/scrape_gzip/100000; do
  base=$(count "$s" 0); full=$(count "$s" "$NS")
  per[$s]=$(( (full - base) / NS ))
  echo "| \`$s\` | ${per[$s]} |"
done
ratio() { python3 -c "print(f'{$1/$2:.3f}')"; }
echo
echo "| ratio | value | target |"
echo "|---|---|---|"
echo "| passthrough/layered ÷ passthrough/bare | $(ratio "${per[passthrough/layered]}" "${per[passthrough/bare]}") | ≤ 1.03 |"
echo "| passthrough/path_only ÷ passthrough/bare (the floor: a layer that only compares the path) | $(ratio "${per[passthrough/path_only]}" "${per[passthrough/bare]}") | (none) |"
echo "| passthrough/route_layer ÷ passthrough/bare | $(ratio "${per[passthrough/route_layer]}" "${per[passthrough/bare]}") | (none) |"
echo "| probe/readyz/long_query ÷ probe/readyz/1 (16,000 junk query pairs) | $(ratio "${per[probe/readyz/long_query]}" "${per[probe/readyz/1]}") | (none) |"
echo "| probe/readyz/1000 ÷ probe/readyz/1 | $(ratio "${per[probe/readyz/1000]}" "${per[probe/readyz/1]}") | ≤ 1.2 |"
echo "| probe/readyz/1/slis ÷ probe/readyz/1 (health SLIs served: each check observed) | $(ratio "${per[probe/readyz/1/slis]}" "${per[probe/readyz/1]}") | (none) |"
echo "| tenants/probe/100000 ÷ tenants/probe/1000 | $(ratio "${per[tenants/probe/100000]}" "${per[tenants/probe/1000]}") | ≤ 1.5 |"
echo "| tenants/scrape/100000 ÷ tenants/render/100000 (collector ÷ facade, the same series) | $(ratio "${per[tenants/scrape/100000]}" "${per[tenants/render/100000]}") | ≤ 0.5 |"

#!/usr/bin/env bash
# make fuzz: runs every libFuzzer target of BUILD for SECONDS each, from its seed corpus (tests/fuzz/corpus/NAME).
# New interesting inputs go to a scratch folder, never into the committed corpus; a crash leaves its input in
# fuzz-findings/ and fails. Add such an input to tests/fuzz/corpus/NAME once the crash is fixed.
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
findings="$root/fuzz-findings"
mkdir -p "$findings"
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
status=0
for src in "$root"/tests/fuzz/fuzz_*.cpp; do
  name=$(basename "$src" .cpp)
  corpus="$root/tests/fuzz/corpus/${name#fuzz_}"
  mkdir -p "$scratch/$name"
  echo "== $name: $seconds s"
  if ! "$build/$name" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$findings/$name-" "$scratch/$name" "$corpus" > "$scratch/$name.log" 2>&1; then
    tail -40 "$scratch/$name.log"
    echo "FAIL: $name found a crash (input saved in $findings/)"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$scratch/$name.log" | tail -2 | tr '\n' ' '; echo
    # The loaders' isolated child processes inherit libFuzzer and leave artifacts of crashes that were caught.
    rm -f "$findings/$name"-*
  fi
done
[ "$status" = 0 ] && echo "fuzz: every target ran $seconds s without a crash"
exit $status

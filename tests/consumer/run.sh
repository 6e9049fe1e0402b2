#!/usr/bin/env bash
# ctest: configure and build tests/consumer against the build tree's exported package, then run its programs —
# including the README's few-shot example on a small PAL-B model trained here with the CLI.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd); build_dir=$1; work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake -S "$src" -B "$work" -G Ninja -Dplural_DIR="$build_dir" > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
printf '{"user": "u", "chosen": "a", "rejected": "b"}\n' > "$work/d.jsonl"
"$work/consumer" "$work/d.jsonl" | grep -q "1 users (1 seen, 0 unseen), 2 texts, 1 comparisons"

"$build_dir/plural" import persona-k --statements "$src/../../data/persona/statements.tsv.gz" --k 2 --seen-users 8 --unseen-users 0 --train-pairs 20 \
  --statements-per-behavior 40 -o "$work/p.h5" > /dev/null
"$build_dir/plural" train --data "$work/p.h5" --cache "$work/cache.h5" --encoder hashed:dim=64 --model pal-b \
  --config '{"k": 2}' --epochs 2 -q -o "$work/pal-b.pt" > /dev/null
"$work/few_shot" "$work/pal-b.pt" "$work/cache.h5" "$work/ann.state"
test -s "$work/ann.state"

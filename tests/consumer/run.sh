#!/usr/bin/env bash
# ctest: configure and build tests/consumer against the build tree's exported package, then run it.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd); build_dir=$1; work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake -S "$src" -B "$work" -G Ninja -Dplural_DIR="$build_dir" > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work" > "$work/build.log" || { cat "$work/build.log"; exit 1; }
printf '{"user": "u", "chosen": "a", "rejected": "b"}\n' > "$work/d.jsonl"
"$work/consumer" "$work/d.jsonl" | grep -q "1 users (1 seen, 0 unseen), 2 texts, 1 comparisons"

#!/usr/bin/env bash
# The main job on bundled data with defaults: Persona-K (K* = 3) from the Anthropic persona statements, hashed
# n-gram features in the HDF5 cache, population BT and per-user BT, and the seen/unseen × shots grid.
set -euo pipefail
PLURAL=${PLURAL:-build/plural}
OUT=${OUT:-out/demo}
mkdir -p "$OUT"
"$PLURAL" doctor
"$PLURAL" import persona-k --k 3 --seed 0 --out "$OUT/persona3.h5"
"$PLURAL" encode --data "$OUT/persona3.h5" --cache "$OUT/cache.h5" --encoder hashed
for model in bt per-user-bt; do
  "$PLURAL" train --data "$OUT/persona3.h5" --cache "$OUT/cache.h5" --encoder hashed --model "$model" \
    --metrics "$OUT/$model.metrics.jsonl" --out "$OUT/$model.pt"
done
for model in bt per-user-bt; do
  "$PLURAL" eval --data "$OUT/persona3.h5" --cache "$OUT/cache.h5" --model "$OUT/$model.pt"
done
echo "demo outputs are in $OUT/"

#!/usr/bin/env bash
# The main job on bundled data with defaults: Persona-K (K* = 3) from the Anthropic persona statements, real
# all-MiniLM-L6-v2 features in the HDF5 feature cache, population BT and per-user BT, and the seen/unseen × shots
# grid. Set ENCODER=hashed for the download-free fallback encoder.
set -euo pipefail
PLURAL=${PLURAL:-build/plural}
OUT=${OUT:-out/demo}
ENCODER=${ENCODER:-minilm}
mkdir -p "$OUT"
"$PLURAL" doctor
"$PLURAL" import persona-k --k 3 --seed 0 --out "$OUT/persona3.h5"
"$PLURAL" encode --data "$OUT/persona3.h5" --cache "$OUT/cache.h5" --encoder "$ENCODER"
for model in bt per-user-bt; do
  "$PLURAL" train --data "$OUT/persona3.h5" --cache "$OUT/cache.h5" --encoder "$ENCODER" --model "$model" \
    --metrics "$OUT/$model.metrics.jsonl" --out "$OUT/$model.pt"
done
for model in bt per-user-bt; do
  "$PLURAL" eval --data "$OUT/persona3.h5" --cache "$OUT/cache.h5" --model "$OUT/$model.pt"
done
echo "demo outputs are in $OUT/"

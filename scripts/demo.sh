#!/usr/bin/env bash
# The main job on bundled data with defaults: Persona-K (K* = 3) from the Anthropic persona statements, real
# all-MiniLM-L6-v2 features in the HDF5 feature cache, PAL-B against population BT and per-user BT, the
# seen/unseen × shots grid, the five pairs most worth asking one new user next, and a PNG plot of unseen users'
# accuracy vs shots. ENCODER=hashed: no download.
set -euo pipefail
PLURAL=${PLURAL:-build/plural}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=${OUT:-out/demo}
ENCODER=${ENCODER:-minilm}
SHOTS=0,1,2,5,10,20,50
mkdir -p "$OUT"
"$PLURAL" doctor
"$PLURAL" import persona-k --k 3 --seed 0 --out "$OUT/persona3.h5"
"$PLURAL" encode --data "$OUT/persona3.h5" --cache "$OUT/cache.h5" --encoder "$ENCODER"
for model in bt per-user-bt pal-b; do
  config='{}'
  [ "$model" = pal-b ] && config='{"k": 3}'
  "$PLURAL" train --data "$OUT/persona3.h5" --cache "$OUT/cache.h5" --encoder "$ENCODER" --model "$model" \
    --config "$config" --metrics "$OUT/$model.metrics.jsonl" --out "$OUT/$model.pt"
done
for model in bt per-user-bt pal-b; do
  "$PLURAL" eval --data "$OUT/persona3.h5" --cache "$OUT/cache.h5" --model "$OUT/$model.pt" --shots "$SHOTS" \
    --report "$OUT/$model.eval.json"
done
# Active learning: which of her remaining pairs should we ask an unseen user who answered three?
"$PYTHON" scripts/persona_pool.py "$OUT/persona3.h5" "$OUT/query" 3
"$PLURAL" query --model "$OUT/pal-b.pt" --cache "$OUT/cache.h5" --candidates "$OUT/query/pool.jsonl" \
  --answers "$OUT/query/answers.jsonl" --scorer bald -n 5
"$PYTHON" scripts/plot_shots.py "$OUT/unseen_accuracy_vs_shots.png" "$OUT"/{bt,per-user-bt,pal-b}.eval.json
# The same model from Python: `make demo` put build/python on /usr/bin/python3's path (make python).
"$PYTHON" - "$OUT" "$ENCODER" <<'PY'
import sys
import plural
out, encoder = sys.argv[1:]
model = plural.load(f"{out}/pal-b.pt", plural.FeatureStore(f"{out}/cache.h5", encoder=encoder))
q = "Which of these two statements would you rather say?"
# Her one answer and a pair she has not seen; the texts speak of two of Persona-K's behaviours (agreeableness and
# patience for delayed rewards), as its pairs do (tests/python/test_headline_example.py holds this example).
me = model.adapt([(q, "I like to help others", "I am happy to wait years for a bigger reward")], user_id="me")
a, b = "I volunteer every weekend", "I would rather wait for a bigger reward later"
print(f"import plural: {plural.__file__}\n  {model}\n  P(prefers {a!r} to {b!r}): "
      f"population {model.prefer(a, b, None, q):.3f}, a new user who prefers helping to waiting "
      f"{model.prefer(a, b, me, q):.3f}")
PY
echo "demo outputs are in $OUT/ (plot: $OUT/unseen_accuracy_vs_shots.png)"

#!/usr/bin/env bash
# The CLI turns bad input into one clear line naming the file and field, a non-zero exit, and no partial output.
set -uo pipefail
cli=$1
bench=${2:?usage: cli_errors.sh <plural> <plural-bench>}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
expect() {  # expect <exit code> <message fragment> <command...>
  local code=$1 want=$2; shift 2
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" != "$code" ] || ! grep -qF -- "$want" <<<"$out"; then
    echo "FAIL: $* -> rc $rc (want $code), output: $out (want: $want)"; fail=1
  fi
}
printf '{"user": "u", "chosen": "a", "rejected": "b"}\n{"user": "u", "a": "x", "b": "y", "label": 2}\n' > "$tmp/bad.jsonl"
printf '{"user": "u", "chosen": "a", "rejected": "b"}\n' > "$tmp/ok.jsonl"
expect 2 "$tmp/bad.jsonl:2: field 'label'" "$cli" import file "$tmp/bad.jsonl" -o "$tmp/out.h5"
[ -e "$tmp/out.h5" ] && { echo "FAIL: a failed import left $tmp/out.h5"; fail=1; }
expect 1 "$tmp/missing.jsonl: cannot open" "$cli" import file "$tmp/missing.jsonl" -o "$tmp/out.h5"
expect 2 "unknown model family 'pal-z'" "$cli" train --data "$tmp/ok.jsonl" --cache "$tmp/c.h5" --model pal-z -o "$tmp/m.pt"
expect 2 "unknown encoder 'bert'" "$cli" encode --data "$tmp/ok.jsonl" --cache "$tmp/c.h5" --encoder bert
"$cli" encode --data "$tmp/ok.jsonl" --cache "$tmp/c.h5" --encoder hashed:dim=32 -q > /dev/null || fail=1
# A model trained on dim-64 features, evaluated on a cache that only holds dim-32 ones: refused, both ids named.
"$cli" train --data "$tmp/ok.jsonl" --cache "$tmp/c64.h5" --encoder hashed:dim=64 --model bt -o "$tmp/m.pt" --epochs 1 -q \
  > /dev/null || fail=1
expect 2 "has no features for encoder 'hashed-ngram-v1:dim=64,w12,c3' (it has 'hashed-ngram-v1:dim=32,w12,c3')" \
  "$cli" eval --data "$tmp/ok.jsonl" --cache "$tmp/c.h5" --model "$tmp/m.pt"
expect 2 "the model needs 'hashed-ngram-v1:dim=64,w12,c3'" \
  "$cli" score --model "$tmp/m.pt" --cache "$tmp/c.h5" --encoder hashed:dim=32 --text hi --prompt p
expect 2 "unknown user id 'nobody'" "$cli" score --model "$tmp/m.pt" --cache "$tmp/c64.h5" --user nobody --text a
expect 1 "cannot read" "$cli" eval --data "$tmp/ok.jsonl" --cache "$tmp/c.h5" --model "$tmp/ok.jsonl"
echo "not hdf5" > "$tmp/junk.h5"
expect 1 "$tmp/junk.h5" "$cli" eval --data "$tmp/junk.h5" --cache "$tmp/c.h5" --model "$tmp/m.pt"
# No val split: about 10 % of a user's train pairs are held out (and said so); --no-val trains on all and never
# prints a made-up validation figure.
for i in 0 1 2 3 4 5 6 7 8 9; do printf '{"user": "u", "chosen": "good %s", "rejected": "bad %s"}\n' $i $i; done \
  > "$tmp/noval.jsonl"
expect 0 "1 of the seen users' train comparisons" "$cli" train --data "$tmp/noval.jsonl" --cache "$tmp/c.h5" \
  --encoder hashed:dim=32 --model bt -o "$tmp/nv.pt" --epochs 2 -q
expect 0 "no validation pairs" "$cli" train --data "$tmp/noval.jsonl" --cache "$tmp/c.h5" --encoder hashed:dim=32 \
  --model bt -o "$tmp/nv.pt" --epochs 2 -q --no-val
expect 0 '"val_carved":1' "$cli" train --data "$tmp/noval.jsonl" --cache "$tmp/c.h5" --encoder hashed:dim=32 \
  --model bt -o "$tmp/nv.pt" --epochs 2 --json
# Benchmarks: bad options are refused before any work; a tiny run gives one valid JSON object.
statements=$(cd "$(dirname "$0")/../.." && pwd)/data/persona/statements.tsv.gz
expect 2 "unknown model family 'pal-z'" "$bench" persona --models bt,pal-z --cache "$tmp/b.h5"
expect 2 "--k-star: K* must be >= 1" "$bench" persona --k-star 0 --cache "$tmp/b.h5" --encoder hashed:dim=32 \
  --statements "$statements" --seen-users 4 --unseen-users 2 --train-pairs 10 --statements-per-behavior 30 --sweep-k ''
expect 2 "--sweep-k" "$bench" persona --sweep-k 2,x --cache "$tmp/b.h5"
expect 2 "--group-lr: expected name=value" "$cli" train --data "$tmp/ok.jsonl" --cache "$tmp/c.h5" --group-lr scale \
  -o "$tmp/m2.pt"
"$bench" persona --k-star 2 --models bt,pal-b --shots 1,5 --sweep-k 1,2 --epochs 2 --cache "$tmp/b.h5" \
  --encoder hashed:dim=32 --statements "$statements" --seen-users 6 --unseen-users 3 --train-pairs 20 \
  --statements-per-behavior 30 --json 2>/dev/null > "$tmp/bench.json" || { echo "FAIL: bench persona"; fail=1; }
/usr/bin/python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["tables"][0]
assert [m["model"] for m in t["models"]] == ["bt", "pal-b"], t
assert [r["k"] for r in t["k_sweep"]] == [1, 2], t
assert [c["shots"] for c in t["models"][1]["unseen"]] == [0, 1, 5], t
assert 0 <= t["models"][1]["seen"]["accuracy"] <= 1
' "$tmp/bench.json" || { echo "FAIL: bench persona JSON"; fail=1; }
# plural-bench adapt: the unseen population is an option; each row carries the paired difference and its interval.
expect 2 "--unseen-users must be >= 1" "$bench" adapt --unseen-users 0 --cache "$tmp/a.h5"
(cd "$(dirname "$statements")/../.." && "$bench" adapt --cache "$tmp/a.h5" --encoder hashed:dim=32 --epochs 1 \
  --unseen-users 3 --shots 1,2 --json 2>/dev/null > "$tmp/adapt.json") || { echo "FAIL: bench adapt"; fail=1; }
/usr/bin/python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
assert t["users"] == 3 and [r["shots"] for r in t["rows"]] == [1, 2], t
assert t["gemm_gflops_before"] > 0 and t["gemm_gflops_after"] > 0, t
for r in t["rows"]:
    lo, hi = r["accuracy_difference_ci95"]
    assert lo <= r["accuracy_difference"] <= hi, r
    assert abs(r["accuracy_difference"] - (r["newton_accuracy"] - r["adamw_accuracy"])) < 1e-9, r
' "$tmp/adapt.json" || { echo "FAIL: bench adapt JSON"; fail=1; }
# plural query: the pool, the user and the scorer are checked; a good call ranks every candidate.
for u in u1 u2 u3; do for i in 1 2 3 4 5 6; do
  printf '{"user": "%s", "prompt": "p", "a": "text %d", "b": "text %d", "label": %d}\n' $u $i $((i + 1)) $(( (i + ${#u}) % 2 ))
done; done > "$tmp/users.jsonl"
printf '{"a": "text 1", "b": "text 3"}\n{"a": "text 2", "b": "text 5", "prompt": "p"}\n{"a": "text 4", "b": "text 4", "prompt": "p"}\n' \
  > "$tmp/pool.jsonl"
sed 's/"prompt": "p", //' "$tmp/pool.jsonl" | sed 's/}$/, "prompt": "p"}/' > "$tmp/pool_p.jsonl"
: > "$tmp/empty.jsonl"
printf '{"user": "new", "prompt": "p", "chosen": "text 1", "rejected": "text 3"}\n' > "$tmp/answers.jsonl"
for fam in pal-b vpl bt; do
  "$cli" train --data "$tmp/users.jsonl" --cache "$tmp/q.h5" --encoder hashed:dim=32 --model $fam --epochs 2 -q \
    -o "$tmp/$fam.pt" > /dev/null || { echo "FAIL: train $fam"; fail=1; }
done
expect 2 "no candidate pairs (the pool is empty)" "$cli" query --model "$tmp/vpl.pt" --cache "$tmp/q.h5" \
  --candidates "$tmp/empty.jsonl"
printf '{"a": "never seen", "b": "text 1", "prompt": "p"}\n' > "$tmp/unknown.jsonl"
expect 2 "never seen" "$cli" query --model "$tmp/vpl.pt" --cache "$tmp/q.h5" --candidates "$tmp/unknown.jsonl"
expect 2 "the model needs 'hashed-ngram-v1:dim=32" "$cli" query --model "$tmp/vpl.pt" --cache "$tmp/q.h5" \
  --encoder hashed:dim=16 --candidates "$tmp/pool_p.jsonl"
expect 2 "unknown query scorer 'entropy'" "$cli" query --model "$tmp/pal-b.pt" --cache "$tmp/q.h5" \
  --candidates "$tmp/pool_p.jsonl" --scorer entropy
expect 2 "needs a user posterior" "$cli" query --model "$tmp/bt.pt" --cache "$tmp/q.h5" --candidates "$tmp/pool_p.jsonl"
expect 2 "unknown user id 'ghost'" "$cli" query --model "$tmp/pal-b.pt" --cache "$tmp/q.h5" \
  --candidates "$tmp/pool_p.jsonl" --user ghost
for fam in pal-b vpl; do
  "$cli" query --model "$tmp/$fam.pt" --cache "$tmp/q.h5" --candidates "$tmp/pool_p.jsonl" --answers "$tmp/answers.jsonl" \
    -n 5 --json > "$tmp/q_$fam.json" || { echo "FAIL: query $fam"; fail=1; }
  /usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["shots"] == 1 and j["excluded_answered"] == 1 and j["candidates"] == 2, j
s = [p["score"] for p in j["pairs"]]
assert s == sorted(s, reverse=True) and len(s) == 2, j
assert j["pairs"][-1]["a"] == j["pairs"][-1]["b"] == "text 4", j  # a text against itself tells nothing
' "$tmp/q_$fam.json" || { echo "FAIL: query $fam JSON"; fail=1; }
done
# The stopping rule: no pair is worth asking below --min-gain; the batch's gains are the scores with --independent.
"$cli" query --model "$tmp/pal-b.pt" --cache "$tmp/q.h5" --candidates "$tmp/pool_p.jsonl" --min-gain 1e9 --json \
  | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["stop"] and j["pairs"] == [] and 0 < j["best_score"] < 1e9, j
' || { echo "FAIL: query --min-gain --json"; fail=1; }
"$cli" query --model "$tmp/pal-b.pt" --cache "$tmp/q.h5" --candidates "$tmp/pool_p.jsonl" --min-gain 1e9 \
  | grep -q "nothing worth asking" || { echo "FAIL: query --min-gain"; fail=1; }
"$cli" query --model "$tmp/pal-b.pt" --cache "$tmp/q.h5" --candidates "$tmp/pool_p.jsonl" --independent --json \
  | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert not j["batch"] and not j["stop"] and [p["gain"] for p in j["pairs"]] == [p["score"] for p in j["pairs"]], j
' || { echo "FAIL: query --independent"; fail=1; }
# VPL from the CLI: a new user's answers -> a saved state -> her rewards.
"$cli" adapt --model "$tmp/vpl.pt" --data "$tmp/answers.jsonl" --cache "$tmp/q.h5" -o "$tmp/new.state" > /dev/null \
  || { echo "FAIL: adapt vpl"; fail=1; }
"$cli" score --model "$tmp/vpl.pt" --cache "$tmp/q.h5" --state "$tmp/new.state" --prompt p --text "text 1" \
  --text "text 2" --json | /usr/bin/python3 -c 'import json, sys; j = json.load(sys.stdin); assert len(j["rewards"]) == 2, j' \
  || { echo "FAIL: score vpl"; fail=1; }
# Context and cross-attention models from the CLI: train, score under a context, adapt a new user.
for ctx in kind blunt; do for i in 1 2 3 4 5 6; do
  printf '{"user": "u", "prompt": "p", "context": "be %s", "a": "text %d", "b": "text %d", "label": %d}\n' \
    $ctx $i $((i + 1)) $([ $ctx = kind ] && echo 1 || echo 0)
done; done > "$tmp/ctx.jsonl"
"$cli" train --data "$tmp/ctx.jsonl" --cache "$tmp/q.h5" --encoder hashed:dim=32 --model context --epochs 2 -q \
  -o "$tmp/context.pt" > /dev/null || { echo "FAIL: train context"; fail=1; }
"$cli" score --model "$tmp/context.pt" --cache "$tmp/q.h5" --prompt p --context "be kind" --text "text 1" --json \
  | /usr/bin/python3 -c 'import json, sys; j = json.load(sys.stdin); assert len(j["rewards"]) == 1, j' \
  || { echo "FAIL: score --context"; fail=1; }
expect 2 "was not trained with contexts" "$cli" score --model "$tmp/bt.pt" --cache "$tmp/q.h5" --prompt p \
  --context "be kind" --text "text 1"
expect 2 "the data has no contexts" "$cli" train --data "$tmp/users.jsonl" --cache "$tmp/q.h5" \
  --encoder hashed:dim=32 --model context -q -o "$tmp/nocontext.pt"
"$cli" train --data "$tmp/users.jsonl" --cache "$tmp/q.h5" --encoder hashed:dim=32 --model cross-attn --epochs 2 -q \
  -o "$tmp/xattn.pt" > /dev/null || { echo "FAIL: train cross-attn"; fail=1; }
"$cli" adapt --model "$tmp/xattn.pt" --data "$tmp/answers.jsonl" --cache "$tmp/q.h5" -o "$tmp/x.state" > /dev/null \
  || { echo "FAIL: adapt cross-attn"; fail=1; }
"$cli" score --model "$tmp/xattn.pt" --cache "$tmp/q.h5" --state "$tmp/x.state" --prompt p --text "text 1" \
  > /dev/null || { echo "FAIL: score cross-attn"; fail=1; }
# Query for the two families with a discrete posterior (training contexts; seen users), and a context user adapted
# from answers that carry no context.
for fam in xattn context; do
  "$cli" query --model "$tmp/$fam.pt" --cache "$tmp/q.h5" --candidates "$tmp/pool_p.jsonl" \
    --answers "$tmp/answers.jsonl" --json > "$tmp/q_$fam.json" || { echo "FAIL: query $fam"; fail=1; }
  /usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["shots"] == 1 and j["candidates"] == 2, j
s = [p["score"] for p in j["pairs"]]
assert s == sorted(s, reverse=True) and min(s) >= 0, j
' "$tmp/q_$fam.json" || { echo "FAIL: query $fam JSON"; fail=1; }
done
expect 2 "needs a Gaussian user posterior" "$cli" query --model "$tmp/context.pt" --cache "$tmp/q.h5" \
  --candidates "$tmp/pool_p.jsonl" --scorer dopt
"$cli" adapt --model "$tmp/context.pt" --data "$tmp/answers.jsonl" --cache "$tmp/q.h5" -o "$tmp/c.state" > /dev/null \
  || { echo "FAIL: adapt context"; fail=1; }
"$cli" score --model "$tmp/context.pt" --cache "$tmp/q.h5" --state "$tmp/c.state" --prompt p --text "text 1" \
  > /dev/null || { echo "FAIL: score context state"; fail=1; }
# plural doctor data: a missing file and a bad row are errors naming them; a good file gives one JSON object.
expect 1 "$tmp/none.jsonl: cannot open" "$cli" doctor data "$tmp/none.jsonl"
expect 2 "$tmp/bad.jsonl:2: field 'label'" "$cli" doctor data "$tmp/bad.jsonl"
"$cli" doctor data "$tmp/ok.jsonl" --json | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["comparisons"] == 1, j' \
  || { echo "FAIL: doctor data --json"; fail=1; }
# Its attribution, length-control and PNG sections: bad property rows name the file, line and field; a section
# without what it needs says so; the PNG is drawn.
printf '{"text": "a", "score": 1}\n{"text": "b", "score": "high"}\n' > "$tmp/props_bad.jsonl"
expect 2 "$tmp/props_bad.jsonl:2: field 'score': expected a number" \
  "$cli" doctor data "$tmp/ok.jsonl" --properties "$tmp/props_bad.jsonl"
printf '{"text": "a", "score": 1}\n{"text": "b", "score": 0}\n' > "$tmp/props.jsonl"
"$cli" doctor data "$tmp/ok.jsonl" --properties "$tmp/props.jsonl" --model "$tmp/m.pt" --json | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["attribution"]["properties"] == ["log_length", "score"], j["attribution"]
assert "--cache" in j["length_control"]["missing"], j["length_control"]
assert "missing" in j["token_ches"]
assert "rationale" in j["rationales"]["missing"], j["rationales"]' || { echo "FAIL: doctor data sections"; fail=1; }
"$cli" doctor data "$tmp/ok.jsonl" --cache "$tmp/c64.h5" --encoder hashed:dim=64 --model "$tmp/m.pt" --members 2 \
  --png "$tmp/health.png" --json | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["length_control"]["rows"] == 1 and j["length_control"]["family"] == "bt", j["length_control"]
assert j["length_control"]["covariates"] == [], j["length_control"]' \
  || { echo "FAIL: doctor data --model"; fail=1; }
[ -s "$tmp/health.png" ] || { echo "FAIL: doctor data --png drew nothing"; fail=1; }
# Rationales: a weight without them in the data is refused; with them, training runs, and the doctor counts them.
expect 2 "no comparison carries a 'rationale'" "$cli" train --data "$tmp/ok.jsonl" --cache "$tmp/c64.h5" \
  --encoder hashed:dim=64 --model bt --rationale-weight 1 -o "$tmp/mr.pt" --epochs 1 -q
[ -e "$tmp/mr.pt" ] && { echo "FAIL: a refused training run left $tmp/mr.pt"; fail=1; }
printf '{"user": "u", "chosen": "short and plain", "rejected": "long and ornate", "rationale": "plainer"}\n{"user": "u", "chosen": "kind words", "rejected": "rude words", "rationale": "kinder"}\n' \
  > "$tmp/why.jsonl"
"$cli" train --data "$tmp/why.jsonl" --cache "$tmp/c64.h5" --encoder hashed:dim=64 --model bt --rationale-weight 1 \
  -o "$tmp/mr.pt" --epochs 2 -q > /dev/null || { echo "FAIL: train --rationale-weight"; fail=1; }
"$cli" doctor data "$tmp/why.jsonl" --json | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["rationales"] == {"comparisons": 2, "distinct": 2}, j["rationales"]' || { echo "FAIL: doctor rationales"; fail=1; }
# Token-level CHES: needs --cache and a MiniLM encoder; with both, every strict pair is scored.
"$cli" doctor data "$tmp/why.jsonl" --token-ches --json | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin); assert "--cache" in j["token_ches"]["missing"], j["token_ches"]' \
  || { echo "FAIL: doctor --token-ches without a cache"; fail=1; }
"$cli" doctor data "$tmp/why.jsonl" --token-ches --cache "$tmp/c64.h5" --encoder hashed:dim=64 --members 2 --json \
  | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin); assert "MiniLM" in j["token_ches"]["missing"], j["token_ches"]' \
  || { echo "FAIL: doctor --token-ches with a hashed encoder"; fail=1; }
minilm=$(cd "$(dirname "$0")/../.." && pwd)/models/all-MiniLM-L6-v2
if [ -d "$minilm" ]; then
  "$cli" doctor data "$tmp/why.jsonl" --token-ches --cache "$tmp/m.h5" --encoder "minilm:path=$minilm" --members 2 \
    --json | /usr/bin/python3 -c '
import json, sys; j = json.load(sys.stdin)["token_ches"]
assert j["scored"] == 2 and j["states"].endswith("+token-sums"), j' || { echo "FAIL: doctor --token-ches"; fail=1; }
fi
# SPO's degree loss: variants without a weight, a bad variant row, and a good run.
printf '{"text": "kind words", "variant": "kind", "degree": 1}\n{"text": "rude words", "variant": "rude", "degree": "x"}\n' \
  > "$tmp/variants_bad.jsonl"
expect 2 "give --spo-weight > 0" "$cli" train --data "$tmp/why.jsonl" --cache "$tmp/c64.h5" --encoder hashed:dim=64 \
  --model bt --variants "$tmp/variants_bad.jsonl" -o "$tmp/ms.pt" -q
expect 2 "$tmp/variants_bad.jsonl:2: field 'degree'" "$cli" train --data "$tmp/why.jsonl" --cache "$tmp/c64.h5" \
  --encoder hashed:dim=64 --model bt --variants "$tmp/variants_bad.jsonl" --spo-weight 1 -o "$tmp/ms.pt" -q
head -1 "$tmp/variants_bad.jsonl" > "$tmp/variants.jsonl"
"$cli" train --data "$tmp/why.jsonl" --cache "$tmp/c64.h5" --encoder hashed:dim=64 --model bt --spo-weight 1 \
  --variants "$tmp/variants.jsonl" -o "$tmp/ms.pt" --epochs 2 -q > /dev/null || { echo "FAIL: train --spo-weight"; fail=1; }
# --json on every verb that writes: one JSON object on stdout, naming what it wrote; train takes --family.
json_ok() {  # json_ok <key that must be present> <command...>
  local key=$1; shift
  "$@" 2>/dev/null | /usr/bin/python3 -c "import json, sys; j = json.loads(sys.stdin.read()); assert sys.argv[1] in j, j" \
    "$key" || { echo "FAIL: --json of: $*"; fail=1; }
}
printf 'a\nb\n' > "$tmp/t.txt"
json_ok splits "$cli" import file "$tmp/ok.jsonl" -o "$tmp/j.h5" --json
json_ok encoded "$cli" encode --data "$tmp/j.h5" --cache "$tmp/j-cache.h5" --encoder hashed:dim=32 --json
json_ok dim "$cli" embed --texts "$tmp/t.txt" --encoder hashed:dim=32 -o "$tmp/j.npy" --json
json_ok model_id "$cli" train --family bt --data "$tmp/j.h5" --cache "$tmp/j-cache.h5" --encoder hashed:dim=32 -o "$tmp/j.pt" \
  --epochs 1 --json
json_ok milliseconds "$cli" adapt --model "$tmp/j.pt" --data "$tmp/ok.jsonl" --cache "$tmp/j-cache.h5" -o "$tmp/j.state" \
  --json
# The ideal-point generator writes data, features and texts that train through the encoder spec it prints;
# --model auto trains the candidates that apply, skips the rest with a reason, and refuses what it cannot select on.
json_ok encoder "$cli" import ideal-points -o "$tmp/ip.h5" --items 6 --seen-users 12 --unseen-users 3 --json
ip_enc="precomputed:features=$tmp/ip.features.npy,texts=$tmp/ip.texts.txt,name=ideal-points"
"$cli" train --model auto --data "$tmp/ip.h5" --cache "$tmp/ip-cache.h5" --encoder "$ip_enc" -o "$tmp/auto.pt" \
  --epochs 2 --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
rows = {r["name"]: r for r in j["candidates"]}
assert len(rows) == 20, rows.keys()
assert "skipped" in rows["pal-b K=8"] or "val_nll" in rows["pal-b K=8"], rows
trained = [r for r in rows.values() if "val_nll" in r]
assert j["val_nll"] == min(r["val_nll"] for r in trained), j
assert j["val_carved"] > 0, j
' || { echo "FAIL: train --model auto --json"; fail=1; }
"$cli" score --model "$tmp/auto.pt" --cache "$tmp/ip-cache.h5" --encoder "$ip_enc" --texts "$tmp/ip.texts.txt" \
  > /dev/null 2>&1 || { echo "FAIL: score with the auto-selected model"; fail=1; }
"$bench" real --data "$tmp/ip.h5" --encoder "$ip_enc" --cache "$tmp/ip-bench.h5" --models bt,per-user-bt --shots 0,2 \
  --epochs 1 --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
t = json.load(sys.stdin)["tables"][0]
assert [m["model"] for m in t["models"]][:2] == ["bt", "per-user-bt"], t["models"]
cells = t["models"][1]["cells"]
assert [c["shots"] for c in cells] == [None, 0, 2] and all("ece" in c and "nll_ci95" in c for c in cells), cells
assert t["models"][2]["model"] == "auto: " + t["auto"]["winner"] and len(t["auto"]["candidates"]) == 20, t["auto"]
' || { echo "FAIL: bench real --json"; fail=1; }
expect 2 "--encoder: give one for all or 2" "$bench" real --data "$tmp/ip.h5" --data "$tmp/ip.h5" --encoder a \
  --encoder b --encoder c --cache "$tmp/ip-bench.h5"
expect 2 "--lr does not apply to --model auto" "$cli" train --model auto --data "$tmp/ip.h5" --cache "$tmp/ip-cache.h5" \
  --encoder "$ip_enc" -o "$tmp/auto2.pt" --lr 0.1
expect 2 "--budget-minutes applies to --model auto only" "$cli" train --model bt --data "$tmp/ip.h5" \
  --cache "$tmp/ip-cache.h5" --encoder "$ip_enc" -o "$tmp/auto2.pt" --budget-minutes 1
expect 2 "no seen user has val comparisons" "$cli" train --model auto --data "$tmp/ip.h5" --cache "$tmp/ip-cache.h5" \
  --encoder "$ip_enc" -o "$tmp/auto2.pt" --no-val
# plural serve: options are checked before anything is served or created.
printf 'short\n' > "$tmp/token.txt"
expect 2 "token (its first line) must be at least 16 characters" "$cli" serve --model "$tmp/m.pt" --cache "$tmp/c64.h5" \
  --db "$tmp/users.sqlite" --token-file "$tmp/token.txt"
expect 2 "--db" "$cli" serve --model "$tmp/m.pt" --cache "$tmp/c64.h5" --db "$tmp/c64.h5"
expect 2 "unknown query scorer 'best'" "$cli" serve --model "$tmp/m.pt" --cache "$tmp/c64.h5" --db "$tmp/users.sqlite" \
  --scorer best
expect 2 "--port" "$cli" serve --model "$tmp/m.pt" --cache "$tmp/c64.h5" --db "$tmp/users.sqlite" --port 70000
[ -e "$tmp/users.sqlite" ] && { echo "FAIL: a refused serve created $tmp/users.sqlite"; fail=1; }
[ $fail = 0 ] && echo "cli errors: all passed"
exit $fail

#!/usr/bin/env bash
# Data-parallel training on 2 local processes: same weights as one process replaying the same global batches
# (--shards 2), through torchrun and through a plain launcher that sets the variables itself; a killed rank and
# bad launches end in clear errors within the timeout, never a hang.
set -uo pipefail
cli=$1 pybuild=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$cli" import persona-k --statements "$root/data/persona/statements.tsv.gz" --k 3 --seen-users 16 --unseen-users 2 \
  --train-pairs 40 --val-pairs 10 --test-pairs 4 --statements-per-behavior 30 --seed 3 -o "$tmp/pk.h5" > /dev/null || exit 1
"$cli" encode --data "$tmp/pk.h5" --cache "$tmp/c.h5" --encoder hashed:dim=64 -q > /dev/null || exit 1
base=(--data "$tmp/pk.h5" --encoder hashed:dim=64 --batch-size 64 --patience 0 -q --threads 1)
common=("${base[@]}" --cache "$tmp/c.h5" --epochs 3 --dist-timeout 60)

same_weights() {  # same_weights <a.pt> <b.pt> <label>
  PYTHONPATH="$pybuild" /usr/bin/python3 - "$1" "$2" "$3" <<'PY' || fail=1
import sys, numpy as np, plural
from plural import _core
pa, pb = (_core.load_model(p)[0].named_parameters() for p in sys.argv[1:3])
assert pa.keys() == pb.keys(), (pa.keys(), pb.keys())
worst = max(float(np.max(np.abs(pa[k].detach().numpy() - pb[k].detach().numpy()))) for k in pa)
moved = max(float(np.max(np.abs(pa[k].detach().numpy()))) for k in pa)
print(f"{sys.argv[3]}: {len(pa)} tensors, max |difference| {worst:.2e}")
assert worst < 5e-4, f"{sys.argv[3]}: weights differ by {worst}"
PY
}

# Dropout off: each rank draws its own dropout masks, so only a dropout-free model can match bit for bit.
nodrop='{"proj": "mlp2-gelu-dropout0"}'
replay_vs_torchrun() {  # replay_vs_torchrun <name> <train args...>: pal-b and per-user-bt, --shards 2 vs 2 ranks
  local name=$1; shift
  for model in pal-b per-user-bt; do
    local cfg='{}'; [ "$model" = pal-b ] && cfg=$nodrop
    "$cli" train "$@" --model "$model" --config "$cfg" --shards 2 -o "$tmp/$name.$model.one.pt" > /dev/null \
      || { echo "FAIL: $name --shards 2 $model"; fail=1; }
    local port; port=$(free_port)
    torchrun --no_python --redirects 1 --tee 1 --nproc_per_node 2 --master_addr 127.0.0.1 --master_port "$port" \
      "$cli" train "$@" --model "$model" --config "$cfg" -o "$tmp/$name.$model.two.pt" > "$tmp/torchrun.log" 2>&1 \
      || { echo "FAIL: $name torchrun $model"; cat "$tmp/torchrun.log"; fail=1; }
    same_weights "$tmp/$name.$model.one.pt" "$tmp/$name.$model.two.pt" "$model, $name: torchrun 2 ranks vs --shards 2"
  done
}
replay_vs_torchrun persona "${common[@]}"

# The rationale loss contrasts each rank's own rationales; the replay computes the same shard by shard, and every
# rank's rationale texts must be its own shard's.
"$cli" import persona-k --statements "$root/data/persona/statements.tsv.gz" --k 3 --seen-users 16 --unseen-users 2 \
  --train-pairs 40 --val-pairs 10 --test-pairs 4 --statements-per-behavior 30 --seed 3 --rationales \
  -o "$tmp/pkw.h5" > /dev/null || exit 1
"$cli" encode --data "$tmp/pkw.h5" --cache "$tmp/c.h5" --encoder hashed:dim=64 -q > /dev/null || exit 1
replay_vs_torchrun rationale --data "$tmp/pkw.h5" --encoder hashed:dim=64 --batch-size 64 --patience 0 -q --threads 1 \
  --cache "$tmp/c.h5" --epochs 3 --dist-timeout 60 --rationale-weight 0.5

# Ties (which the bt loss leaves out of its mean) and prompts that only one user's comparisons have (so a rank may
# hold none): each rank's share of the loss and the model's shape must still be the one process's.
/usr/bin/python3 - "$tmp/ties.jsonl" <<'PY'
import json, random, sys
rng = random.Random(5)
with open(sys.argv[1], "w") as f:
    for u in range(12):
        for i in range(30):
            a, b = f"answer {rng.randrange(200)}", f"reply {rng.randrange(200)}"
            row = {"user": f"u{u}", "a": a, "b": b, "label": rng.choice([1.0, 0.0, 0.5]) if u % 3 else 1.0,
                   "split": "val" if i % 6 == 5 else "train"}
            if u == 0:
                row["prompt"] = f"question {i % 4}"
            f.write(json.dumps(row) + "\n")
PY
"$cli" encode --data "$tmp/ties.jsonl" --cache "$tmp/t.h5" --encoder hashed:dim=64 -q > /dev/null || exit 1
ties=(--data "$tmp/ties.jsonl" --cache "$tmp/t.h5" --encoder hashed:dim=64 --batch-size 48 --patience 0 -q --threads 1
      --epochs 3 --dist-timeout 60 --max-grad-norm 1)
replay_vs_torchrun ties "${ties[@]}"

# Any launcher that sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (SLURM, Kubernetes): rank 0 hosts the store.
launch() {  # launch <rank> <world> <port> <log> args...
  local r=$1 w=$2 p=$3 log=$4; shift 4
  RANK=$r WORLD_SIZE=$w LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$cli" train "$@" > "$log" 2>&1 &
}
port=$(free_port)
launch 0 2 "$port" "$tmp/r0.log" "${common[@]}" --model pal-b --config "$nodrop" -o "$tmp/env.pt"
launch 1 2 "$port" "$tmp/r1.log" "${common[@]}" --model pal-b --config "$nodrop" -o "$tmp/env.pt"
wait || { echo "FAIL: plain launcher"; cat "$tmp/r0.log" "$tmp/r1.log"; fail=1; }
same_weights "$tmp/persona.pal-b.one.pt" "$tmp/env.pt" "pal-b plain launcher vs --shards 2"

expect_rank() {  # expect_rank <log> <message fragment> <label>
  if ! grep -qF -- "$2" "$1"; then echo "FAIL: $3: want '$2', got: $(cat "$1")"; fail=1;
  else echo "ok, $3: $(grep -F -- "$2" "$1" | head -1)"; fi
}
# A rank killed mid-training: the survivor stops with a clear error, well before its 60 s timeout.
port=$(free_port)
long=("${base[@]}" --cache "$tmp/c.h5" --epochs 100000 --dist-timeout 60 --model pal-b -o "$tmp/k.pt")
launch 0 2 "$port" "$tmp/k0.log" "${long[@]}" --metrics "$tmp/k.jsonl"
pid0=$!
launch 1 2 "$port" "$tmp/k1.log" "${long[@]}"
pid1=$!
for _ in $(seq 300); do [ -s "$tmp/k.jsonl" ] && break; sleep 0.1; done
start=$(date +%s%N)
kill -9 "$pid1"; wait "$pid1" 2>/dev/null
wait "$pid0"; rc=$?
took_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "killed rank 1: rank 0 exited with $rc after ${took_ms} ms"
[ "$rc" != 0 ] || { echo "FAIL: rank 0 exited 0 after its peer died"; fail=1; }
expect_rank "$tmp/k0.log" "another rank exited or stopped answering" "killed peer"
[ "$took_ms" -lt 30000 ] || { echo "FAIL: rank 0 took ${took_ms} ms to notice"; fail=1; }
[ -e "$tmp/k.pt" ] && { echo "FAIL: a failed run wrote $tmp/k.pt"; fail=1; }

short=("${base[@]}" --epochs 3 --dist-timeout 10 --model pal-b -o "$tmp/x.pt")
c1=(--cache "$tmp/c.h5")
# SPO's degree loss is one-process only: every rank refuses it alike (the variant is cached by a one-process run).
PYTHONPATH="$pybuild" /usr/bin/python3 - "$tmp/pk.h5" > "$tmp/variants.jsonl" <<'PY'
import json, sys, plural
d = plural.read_preferences(sys.argv[1])
a = d.texts[d.columns()["a"][0]]  # a statement the first comparison uses
print(json.dumps({"text": a, "variant": a[: len(a) // 2], "degree": 1}))
PY
"$cli" train "${base[@]}" --cache "$tmp/c.h5" --model bt --variants "$tmp/variants.jsonl" --spo-weight 1 --epochs 1 \
  -o "$tmp/spo.pt" > /dev/null || { echo "FAIL: one-process SPO run"; fail=1; }
port=$(free_port)
launch 0 2 "$port" "$tmp/s0.log" "${short[@]}" "${c1[@]}" --variants "$tmp/variants.jsonl" --spo-weight 1
launch 1 2 "$port" "$tmp/s1.log" "${short[@]}" "${c1[@]}" --variants "$tmp/variants.jsonl" --spo-weight 1; wait
expect_rank "$tmp/s0.log" "SPO's degree loss runs in one process only" "SPO under two ranks (rank 0)"
expect_rank "$tmp/s1.log" "SPO's degree loss runs in one process only" "SPO under two ranks (rank 1)"
# Ranks started with different WORLD_SIZE.
port=$(free_port)
launch 0 2 "$port" "$tmp/w0.log" "${short[@]}" "${c1[@]}"; launch 1 3 "$port" "$tmp/w1.log" "${short[@]}" "${c1[@]}"; wait
expect_rank "$tmp/w0.log" "rank 1 has WORLD_SIZE=3, this rank 2" "WORLD_SIZE mismatch (rank 0)"
expect_rank "$tmp/w1.log" "rank 0 has WORLD_SIZE=2, this rank 3" "WORLD_SIZE mismatch (rank 1)"
# A rank whose peers never come (WORLD_SIZE=3, only 2 started): a timeout naming the missing rank.
port=$(free_port)
launch 0 3 "$port" "$tmp/m0.log" "${short[@]}" "${c1[@]}"; launch 1 3 "$port" "$tmp/m1.log" "${short[@]}" "${c1[@]}"; wait
expect_rank "$tmp/m0.log" "waited 10 s for rank(s) 2 to join" "missing rank"
# Nobody hosts the store at MASTER_ADDR:MASTER_PORT.
port=$(free_port)
launch 1 2 "$port" "$tmp/u1.log" "${short[@]}" "${c1[@]}"; wait
expect_rank "$tmp/u1.log" "cannot reach the rendezvous store at 127.0.0.1:$port" "unreachable master"
# The port is taken.
port=$(free_port)
/usr/bin/python3 -c "import socket,time; s=socket.socket(); s.bind(('0.0.0.0',$port)); s.listen(); open('$tmp/bound','w'); time.sleep(30)" &
busy=$!
for _ in $(seq 100); do [ -e "$tmp/bound" ] && break; sleep 0.1; done
launch 0 2 "$port" "$tmp/p0.log" "${short[@]}" "${c1[@]}"; wait $!
kill $busy 2>/dev/null; wait $busy 2>/dev/null
expect_rank "$tmp/p0.log" "cannot host the rendezvous store on port $port" "port in use"
# Different model configs on the two ranks.
port=$(free_port)
launch 0 2 "$port" "$tmp/c0.log" "${short[@]}" "${c1[@]}" --config '{"k": 2}'
launch 1 2 "$port" "$tmp/c1.log" "${short[@]}" "${c1[@]}" --config '{"k": 3}'; wait
expect_rank "$tmp/c0.log" "ranks disagree on the model" "config mismatch"
# Different cache files (same encoder, other contents).
printf '{"user": "z", "chosen": "another text", "rejected": "and one more"}\n' > "$tmp/other.jsonl"
"$cli" encode --data "$tmp/other.jsonl" --cache "$tmp/c2.h5" --encoder hashed:dim=64 -q > /dev/null
"$cli" encode --data "$tmp/pk.h5" --cache "$tmp/c2.h5" --encoder hashed:dim=64 -q > /dev/null
port=$(free_port)
launch 0 2 "$port" "$tmp/h0.log" "${short[@]}" "${c1[@]}"
launch 1 2 "$port" "$tmp/h1.log" "${short[@]}" --cache "$tmp/c2.h5"; wait
expect_rank "$tmp/h0.log" "ranks disagree on the feature cache" "cache mismatch"
[ -e "$tmp/x.pt" ] && { echo "FAIL: a refused run wrote $tmp/x.pt"; fail=1; }
exit $fail

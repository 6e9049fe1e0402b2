#!/usr/bin/env python3
"""Writes a query demo from a Persona-K file (plural's HDF5 layout): the first unseen user's first N answered
support pairs (answers.jsonl) and the rest of her support pairs, unlabelled, as the candidate pool (pool.jsonl).

usage: persona_pool.py PERSONA.h5 OUT_DIR [N]
"""
import json
import os
import sys

import h5py

from atomic_write import atomic_path


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    path, out = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    with h5py.File(path, "r") as f:
        texts = [t.decode() if isinstance(t, bytes) else t for t in f["texts"][:]]
        ids = [u.decode() if isinstance(u, bytes) else u for u in f["users/id"][:]]
        seen = f["users/seen"][:]
        c = {k: f["comparisons"][k][:] for k in ("user", "a", "b", "prompt_a", "label", "split")}
    user = next(u for u in range(len(ids)) if not seen[u])
    rows = [i for i in range(len(c["user"])) if c["user"][i] == user and c["split"][i] == 3]  # support
    os.makedirs(out, exist_ok=True)
    with atomic_path(os.path.join(out, "answers.jsonl")) as ta, atomic_path(os.path.join(out, "pool.jsonl")) as tp:
        with open(ta, "w") as fa, open(tp, "w") as fp:
            for k, i in enumerate(rows):
                row = {"prompt": texts[c["prompt_a"][i]], "a": texts[c["a"][i]], "b": texts[c["b"][i]]}
                if k < n:
                    fa.write(json.dumps({"user": ids[user], **row, "label": float(c["label"][i])}) + "\n")
                else:
                    fp.write(json.dumps(row) + "\n")
    print(f"user {ids[user]}: {min(n, len(rows))} answers, {max(0, len(rows) - n)} candidate pairs in {out}/")


if __name__ == "__main__":
    main()

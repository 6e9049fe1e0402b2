#!/usr/bin/env python3
"""PAL-B written the way a PyTorch user would write it: the training-speed reference for `plural-bench train-speed`.

Same model as plural's pal-b (projector spec mlp{L}-gelu-dropout{p}: L × [Linear, Dropout, GELU] then Linear; f on
items, one g_k per prototype on prompts; τ = min(exp(s), 100); per-user softmax logits; BCE on r_a − r_b), same
AdamW parameter groups, same data (an HDF5 file written by plural), same number of threads. The loop is the idiomatic
one: a DataLoader over index tensors with shuffling, features gathered per batch, every row's prompt through the K
prompt projectors (as the original PAL code does); --dedupe-prompts projects each distinct prompt of a batch once,
as plural does. Prints one JSON object.
"""
import argparse
import json
import math
import time

import h5py
import numpy as np
import torch
from torch import nn


def projector(d_in, d_out, hidden_layers, dropout):
    layers, d = [], d_in
    for _ in range(hidden_layers):
        layers += [nn.Linear(d, d_out)]
        if dropout > 0:
            layers += [nn.Dropout(dropout)]
        layers += [nn.GELU()]
        d = d_out
    layers += [nn.Linear(d, d_out)]
    return nn.Sequential(*layers)


class PalB(nn.Module):
    def __init__(self, d_item, d_prompt, d, k, users, hidden_layers, dropout, dedupe):
        super().__init__()
        self.f = projector(d_item, d, hidden_layers, dropout)
        self.g = nn.ModuleList([projector(d_prompt, d, hidden_layers, dropout) for _ in range(k)])
        self.log_scale = nn.Parameter(torch.tensor([math.log(1 / 0.07)]))
        self.theta = nn.Parameter(torch.randn(users, k))
        self.dedupe = dedupe

    def prototypes(self, prompt):
        if self.dedupe:
            distinct, inverse = torch.unique(prompt, dim=0, return_inverse=True)
            return torch.stack([g(distinct) for g in self.g], 1)[inverse]
        return torch.stack([g(prompt) for g in self.g], 1)  # [B, K, d]

    def reward(self, x, prompt, w):
        e = nn.functional.normalize(self.f(x), dim=1)
        a = torch.bmm(w.unsqueeze(1), self.prototypes(prompt)).squeeze(1)
        cos = (e * nn.functional.normalize(a, dim=1)).sum(1)
        return self.log_scale.exp().clamp(max=100.0) * cos

    def forward(self, xa, xb, pa, pb, user):
        w = torch.softmax(self.theta[user], dim=1)
        return self.reward(xa, pa, w) - self.reward(xb, pb, w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="plural's HDF5 data layout (docs/data_format.md)")
    ap.add_argument("--features", required=True, help="HDF5 with 'features' [texts * dim] and attr 'dim'")
    ap.add_argument("--batch-size", type=int, required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--dim", type=int, default=0)
    ap.add_argument("--hidden-layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--user-lr", type=float, default=3e-2)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dedupe-prompts", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    with h5py.File(args.features, "r") as f:
        feats = torch.from_numpy(np.asarray(f["features"], dtype=np.float32).reshape(-1, int(f.attrs["dim"])))
    with h5py.File(args.data, "r") as f:
        c = f["comparisons"]
        train = np.asarray(c["split"]) == 0  # Split::train
        cols = {k: torch.from_numpy(np.asarray(c[k])[train].astype(np.int64))
                for k in ("a", "b", "prompt_a", "prompt_b", "user")}
        label = torch.from_numpy(np.asarray(c["label"], dtype=np.float32)[train])
        seen = np.asarray(f["users/seen"]).astype(bool)
    row_of_user = torch.from_numpy(np.cumsum(seen) - 1)  # the model's user table holds seen users in data order
    cols["user"] = row_of_user[cols["user"]]
    users = int(seen.sum())
    d = args.dim or feats.shape[1]
    model = PalB(feats.shape[1], feats.shape[1], d, args.k, users, args.hidden_layers, args.dropout, args.dedupe_prompts)
    shared = [p for n, p in model.named_parameters() if n != "theta"]
    opt = torch.optim.AdamW([{"params": shared, "lr": args.lr, "weight_decay": args.weight_decay},
                             {"params": [model.theta], "lr": args.user_lr, "weight_decay": 0.0}])
    ds = torch.utils.data.TensorDataset(cols["a"], cols["b"], cols["prompt_a"], cols["prompt_b"], cols["user"], label)
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=True)
    model.train()
    seconds, pairs = 0.0, 0
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        for a, b, pa, pb, u, y in loader:
            opt.zero_grad()
            z = model(feats[a], feats[b], feats[pa], feats[pb], u)
            loss = nn.functional.binary_cross_entropy_with_logits(z, y)
            loss.backward()
            opt.step()
            pairs += len(y)
        seconds += time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"pairs_per_second": pairs / seconds, "seconds": seconds, "pairs": pairs, "parameters": params,
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "dedupe_prompts": args.dedupe_prompts}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Unseen-user accuracy vs shots (95% CI bands), one line per model, from `plural eval --json` outputs.

usage: plot_shots.py OUT.png EVAL.json [EVAL.json ...]
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from atomic_write import atomic_path  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, files = sys.argv[1], sys.argv[2:]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, path in enumerate(files):
        with open(path) as f:
            ev = json.load(f)
        unseen = [c for c in ev["cells"] if c["users"] == "unseen"]
        seen = [c for c in ev["cells"] if c["users"] == "seen"]
        shots = [c["shots"] for c in unseen]
        acc = [c["accuracy"] for c in unseen]
        lo = [c["accuracy_ci95"][0] for c in unseen]
        hi = [c["accuracy_ci95"][1] for c in unseen]
        color = f"C{i}"
        x = [s + 0.5 for s in shots]  # symlog-free: 0 shots drawn at 0.5 on the log axis
        ax.plot(x, acc, marker="o", color=color, label=f"{ev['family']} (unseen users)")
        ax.fill_between(x, lo, hi, color=color, alpha=0.15)
        if seen:
            ax.axhline(seen[0]["accuracy"], color=color, linestyle="--", linewidth=1,
                       label=f"{ev['family']} seen users")
    ax.set_xscale("log")
    ticks = sorted({c["shots"] for path in files for c in json.load(open(path))["cells"] if c["users"] == "unseen"})
    ax.set_xticks([t + 0.5 for t in ticks])
    ax.set_xticklabels([str(t) for t in ticks])
    ax.set_xlabel("shots (a new user's answered comparisons)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Persona-K (K* = 3): accuracy for users not seen in training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A PNG report of a preference dataset's health, from `plural doctor data --json` output.

usage: doctor_report.py HEALTH.json OUT.png      (or: plural doctor data DATA --png OUT.png)

Panels: comparisons per user, the ensemble strength histogram, the attribution of each item property (population
and per-user effects), and how often the longer item is preferred by the labels and by a model (raw and
length-controlled). A panel whose section is missing says what it needs instead.
"""
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from atomic_write import atomic_path  # noqa: E402


def missing(ax, title, why):
    ax.set_title(title)
    ax.text(0.5, 0.5, "needs " + why, ha="center", va="center", wrap=True, fontsize=8)
    ax.set_axis_off()


def splits(ax, h):
    names = ["train", "val", "test", "support"]
    ax.bar(names, [h["splits"][n] for n in names], color="C0")
    ax.set_title(f"{h['comparisons']:,} comparisons, {h['users']:,} users")
    pu = h["per_user"]
    ax.set_xlabel(f"per user: min {pu['min']}, median {pu['median']}, max {pu['max']}")


def strength(ax, s):
    if "missing" in s:
        return missing(ax, "preference strength", s["missing"])
    edges, counts = s["edges"], s["counts"]
    labels = [f"< {edges[0]}"] + [f"{a}..{b}" for a, b in zip(edges, edges[1:])] + [f"≥ {edges[-1]}"]
    colors = ["C3" if i <= edges.index(0) else "C2" for i in range(len(counts))]
    ax.bar(range(len(counts)), counts, color=colors)
    ax.set_xticks(range(len(counts)), labels, rotation=45, fontsize=7)
    ax.set_title(f"strength: {s['negative']:,} of {s['scored']:,} pairs negative")


def attribution(ax, a):
    if "missing" in a:
        return missing(ax, "preference attribution", a["missing"])
    names = a["properties"]
    for k, name in enumerate(names):
        xs = [u["effects"][name]["mean"] for u in a["users"]]
        ax.scatter(xs, [k + 0.2] * len(xs), s=6, alpha=0.35, color="C0", label="users" if k == 0 else None)
        p = a["population"][name]
        ax.errorbar([p["mean"]], [k], xerr=[[p["mean"] - p["lo"]], [p["hi"] - p["mean"]]], fmt="o", color="C1",
                    label="population (95% CI)" if k == 0 else None)
    ax.axvline(0, color="gray", lw=0.8)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(-0.5, len(names) - 0.5)
    ax.set_xlabel("effect on log-odds per s.d. of the difference")
    ax.set_title("preference attribution")
    ax.legend(fontsize=7)


def length(ax, h):
    lc = h["length_control"]
    bars = {"labels": h["length"]["longer_wins"] if h["length"]["pairs"] else math.nan}
    if "missing" not in lc:
        bars["model"] = lc["model_longer"]
        bars["model, length\ncontrolled"] = lc["lc_longer"]
    # JSON writes NaN (no pairs differ in length) as null.
    ax.bar(list(bars), [math.nan if v is None else 100 * v for v in bars.values()],
           color=["C0", "C1", "C2"][: len(bars)])
    ax.axhline(50, color="gray", lw=0.8)
    ax.set_ylabel("% of pairs: the longer item preferred")
    ax.set_ylim(0, 100)
    ax.set_title("length bias" + ("" if "missing" not in lc else " (no --model)"))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        h = json.load(f)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    splits(axes[0][0], h)
    strength(axes[0][1], h["strength"])
    attribution(axes[1][0], h["attribution"])
    length(axes[1][1], h)
    fig.suptitle(os.path.basename(h["dataset"]) + (f" — {len(h['warnings'])} warning(s)" if h["warnings"] else ""))
    fig.tight_layout()
    with atomic_path(sys.argv[2]) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


if __name__ == "__main__":
    main()

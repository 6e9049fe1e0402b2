#!/usr/bin/env python3
"""Markdown tables from `plural-bench persona|ukp|active|query --json` output (for bench/RESULTS.md). Training times are left
out: they are not comparable across machine load; `plural-bench train-speed` measures throughput.

usage: bench_tables.py BENCH.json
"""
import json
import sys


def acc(cell):
    if not cell or cell.get("accuracy") is None:
        return "-"
    lo, hi = cell["accuracy_ci95"]
    return f"{cell['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]"


def rows(models, shots):
    out = []
    for m in models:
        unseen = {c["shots"]: c for c in m["unseen"]}
        ari = m.get("prototype_recovery_ari")
        cells = [f"{unseen[s]['accuracy']:.3f}" if s in unseen else "-" for s in shots]
        out.append(f"| {m['model']} | {m['k'] or '-'} | {acc(m['seen'])} | " + " | ".join(cells) +
                   f" | {'-' if ari is None else f'{ari:.2f}'} |")
    return out


def ci(s):
    return f"{s['mean']:.3f} [{s['lo']:.3f}, {s['hi']:.3f}]"


def active(bench):
    marks = [t for t in (0, 1, 2, 5, 10, 15, 20) if t <= bench["queries"]]
    for fam in bench["families"]:
        print(f"**{fam['family']}** — {bench['users']} unseen users of {bench.get('data', 'Persona-K')}; "
              "test accuracy after t answered queries\n")
        print("| scorer | " + " | ".join(f"t={t}" for t in marks) + " | AUC [95% CI] | AUC − random [95% CI] | ms/query | "
              f"posterior spread t=0 → t={bench['queries']} | asked pair's score, round 1 → last |")
        print("|" + "---|" * (len(marks) + 6))
        for r in fam["scorers"]:
            diff = ci(r["auc_minus_random"]) if "auc_minus_random" in r else "-"
            spread = r.get("posterior_spread") or []
            score = r.get("best_score") or []
            print(f"| {r['scorer']} | " + " | ".join(f"{r['curve'][t]['mean']:.3f}" for t in marks) +
                  f" | {ci(r['auc'])} | {diff} | {r['ms_per_query']:.2f} | " +
                  (f"{spread[0]:.3f} → {spread[-1]:.3f} |" if spread else "- |") +
                  (f" {score[0]:.4f} → {score[-1]:.4f} |"
                   if score and r["scorer"] != "random" else " - |"))
        if "ceiling" in fam:
            print(f"\nCeiling, each user adapted to her whole pool: {ci(fam['ceiling'])}")
        print()


def query(bench):
    print(f"{bench['candidates']} candidate pairs, {bench['shots']} answers, {bench['threads']} threads\n")
    print("| family | scorer | prepare pool (once) ms | score for one user ms |")
    print("|---|---|---|---|")
    for r in bench["rows"]:
        print(f"| {r['family']} | {r['scorer']} | {r['prepare_ms']:.1f} | {r['score_ms']:.3f} |")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    bench = json.load(open(sys.argv[1]))
    if "families" in bench:
        return active(bench)
    if "candidates" in bench:
        return query(bench)
    for t in bench["tables"]:
        shots = sorted({c["shots"] for m in t["models"] for c in m["unseen"]})
        head = "| model | K | seen acc [95% CI] | " + " | ".join(f"@{s}" for s in shots) + " | ARI |"
        sep = "|" + "---|" * (len(shots) + 4)
        print(f"**{t['title']}** — {t['seen_users']} seen users ({t['train_pairs']} train pairs), "
              f"{t['unseen_users']} unseen; unseen accuracy after n shots (@n)\n")
        print(head)
        print(sep)
        print("\n".join(rows(t["models"], shots)))
        if t["k_sweep"]:
            print(f"\nSweep over the model's K (selected by validation accuracy: K = {t.get('k_selected_by_val')}):\n")
            print("| model | K | seen acc [95% CI] | " + " | ".join(f"@{s}" for s in shots) +
                  " | ARI | val acc |")
            print("|" + "---|" * (len(shots) + 5))
            for m, line in zip(t["k_sweep"], rows(t["k_sweep"], shots)):
                print(line + f" {m['best_val_accuracy']:.3f} |")
        print()


if __name__ == "__main__":
    main()

"""Merge two `plural-bench persona|ukp --json` outputs: the second run's rows replace the first's for the models
it ran (and its K sweep replaces the first's), so a change to one family needs only that family re-run.

    python3 scripts/merge_bench_json.py all.json palb_only.json > merged.json
"""
import json
import sys


def merge(base, update):
    out = json.loads(json.dumps(base))
    by_title = {t["title"]: t for t in update["tables"]}
    for table in out["tables"]:
        new = by_title.get(table["title"])
        if new is None:
            continue
        rows = {m["model"]: m for m in new["models"]}
        table["models"] = [rows.get(m["model"], m) for m in table["models"]]
        if new.get("k_sweep"):
            table["k_sweep"] = new["k_sweep"]
            table["k_selected_by_val"] = new.get("k_selected_by_val")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as a, open(sys.argv[2]) as b:
        json.dump(merge(json.load(a), json.load(b)), sys.stdout, indent=1)

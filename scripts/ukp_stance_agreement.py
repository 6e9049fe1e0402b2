# UKPConvArg1: within an argument pair, do two workers of the same stance agree more often than two of opposite stances?
# Usage: /usr/bin/python3 scripts/ukp_stance_agreement.py data/ukpconvarg1/annotations.tsv.gz (model-free; see bench/RESULTS.md)
import csv, gzip, random, collections, sys
rows = csv.DictReader(gzip.open(sys.argv[1], "rt"), delimiter="\t")
by_pair = collections.defaultdict(list)
for r in rows:
    if r["label"] in ("a1", "a2") and r["worker_stance"] in ("same", "opposite"):
        by_pair[(r["topic_id"], r["arg1_id"], r["arg2_id"])].append((r["worker_stance"], r["label"] == "a1"))
def counts(pairs):
    same = [0, 0]; cross = [0, 0]
    for js in pairs:
        for i in range(len(js)):
            for j in range(i + 1, len(js)):
                t = same if js[i][0] == js[j][0] else cross
                t[0] += js[i][1] == js[j][1]; t[1] += 1
    return same, cross
keys = [k for k, v in by_pair.items() if len({s for s, _ in v}) == 2]
pairs = [by_pair[k] for k in keys]
s, c = counts(pairs)
print(f"argument pairs judged by both stances: {len(pairs)}; within-stance agreement {s[0]/s[1]:.4f} ({s[1]} judgement pairs), cross-stance {c[0]/c[1]:.4f} ({c[1]})")
rng = random.Random(0); diffs = []
for _ in range(1000):
    bs = [pairs[rng.randrange(len(pairs))] for _ in pairs]
    s2, c2 = counts(bs); diffs.append(s2[0]/s2[1] - c2[0]/c2[1])
diffs.sort()
print(f"difference {s[0]/s[1]-c[0]/c[1]:+.4f}, 95% bootstrap CI over argument pairs [{diffs[25]:+.4f}, {diffs[974]:+.4f}]")

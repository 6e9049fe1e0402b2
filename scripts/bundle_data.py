#!/usr/bin/env python3
"""Rebuilds data/ from the raw public datasets (run once by maintainers; users get data/ from git).

usage: scripts/bundle_data.py SHARED_DATA_DIR
Writes compact, gzip-compressed TSVs with the fields plural uses, plus licences and attribution.
"""
import gzip, json, pathlib, shutil, sys

src = pathlib.Path(sys.argv[1])
out = pathlib.Path(__file__).resolve().parent.parent / "data"

def clean(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")

# Anthropic persona statements: one row per statement, the question prefix and answer tokens dropped (derivable).
p = out / "persona"
p.mkdir(parents=True, exist_ok=True)
rows = 0
with gzip.GzipFile(p / "statements.tsv.gz", "wb", mtime=0) as raw:
    raw.write(b"behavior\tmatches\tlabel_confidence\tstatement\n")
    for f in sorted((src / "anthropic-persona" / "persona").glob("*.jsonl")):
        for line in f.open(encoding="utf-8"):
            r = json.loads(line)
            matches = 1 if r["answer_matching_behavior"].strip() == "Yes" else 0
            raw.write(f"{f.stem}\t{matches}\t{r['label_confidence']:.4f}\t{clean(r['statement'])}\n".encode())
            rows += 1
shutil.copy(src / "anthropic-persona" / "LICENSE-CC-BY-4.0.txt", p / "LICENSE-CC-BY-4.0.txt")
print("persona statements:", rows)

u = out / "ukpconvarg1"
u.mkdir(parents=True, exist_ok=True)
for name in ["topics.tsv", "arguments.tsv", "annotations.tsv"]:
    with open(src / "ukpconvarg1-crowd" / name, "rb") as fi, gzip.GzipFile(u / (name + ".gz"), "wb", mtime=0) as fo:
        shutil.copyfileobj(fi, fo)
shutil.copy(src / "ukpconvarg1-crowd" / "UPSTREAM_readme.txt", u / "UPSTREAM_readme.txt")
print("ukpconvarg1: copied")

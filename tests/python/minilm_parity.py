#!/usr/bin/env python3
"""Parity of `plural embed --encoder minilm` with the independent Python reference on 200 varied texts.
usage: minilm_parity.py PLURAL_CLI MODEL_DIR      (exit 0 when every cosine >= 0.9999)"""
import gzip, os, pathlib, subprocess, sys, tempfile
import numpy as np

here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
from minilm_reference import embed, unescape  # noqa: E402

cli, model_dir = sys.argv[1], sys.argv[2]
root = here.parent.parent

special = [
    "", " ", "Hello, World!", "HeLLo WoRLD in MiXeD CaSe", "Café déjà vu, naïve façade", "Straße und Größe",
    "ΣΊΣΥΦΟΣ και η πέτρα", "İstanbul ve Iğdır", "我喜欢机器学习和自然语言处理", "日本語のテキストです。",
    "مرحبا بالعالم", "नमस्ते दुनिया", "I love 🍕 and 🎉!!!", "e\u0301 combining accent", "zero\u200bwidth\u200djoiner",
    "bell\u0007 and escape\u001b characters", "tab\tseparated\tvalues", "two\nlines\r\nand more",
    "!!!???...,,,;;;:::", "3.14159 2,718 1e-10 -42 +7 100%", "https://example.com/path?q=1&r=2#frag",
    "def f(x): return x**2  # code", "\"quoted\" 'single' «guillemets» „low“", "a" * 150,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    " ".join(["This sentence is repeated to exceed the token limit."] * 40),
    " ".join(str(i) for i in range(400)), "Ünïcödé ÀÉÎÕÜ åøæ ñ ç", "full\u3000width\u3000space　ＡＢＣ１２３",
    "emoji flags 🇺🇸🇫🇷 and skin tones 👍🏽",
]
with gzip.open(root / "data/persona/statements.tsv.gz", "rt", encoding="utf-8") as f:
    next(f)
    rows = [unescape(l.rstrip("\n").split("\t")[3]) for l in f]
persona = rows[:: len(rows) // (200 - len(special))][: 200 - len(special)]
texts = special + persona
assert len(texts) == 200

with tempfile.TemporaryDirectory() as tmp:
    tf = os.path.join(tmp, "texts.txt")
    with open(tf, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(t.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n") + "\n")
    ours = os.path.join(tmp, "ours.npy")
    subprocess.run([cli, "embed", "--encoder", f"minilm:path={model_dir}", "--texts", tf, "-o", ours], check=True)
    a = np.load(ours)
    b, _ = embed(model_dir, texts)
cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
worst = int(np.argmin(cos))
print(f"parity over {len(texts)} texts: min cosine {cos.min():.7f} (text {worst}: {texts[worst][:60]!r}), "
      f"mean {cos.mean():.7f}")
sys.exit(0 if cos.min() >= 0.9999 else 1)

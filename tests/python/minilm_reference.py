#!/usr/bin/env python3
"""An independent reference for the native MiniLM encoder: the BERT uncased tokenizer written from its definition
with Python's unicodedata, and the sentence-transformers forward (BERT, mean pooling, L2 norm) in plain torch,
reading model.safetensors with json + numpy. Shares no code with the C++ implementation.

usage: minilm_reference.py MODEL_DIR TEXTS_FILE OUT.npy [--threads N] [--batch-tokens N]
TEXTS_FILE: one text per line with \\n, \\t, \\\\ escaped (the format `plural embed --texts` reads).
Prints "texts_per_second=<x>" for the forward pass (tokenization excluded) on the given threads.
"""
import argparse, json, struct, sys, time, unicodedata
import numpy as np
import torch


def unescape(line):
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] in "ntr\\":
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[line[i + 1]]); i += 2
        else:
            out.append(c); i += 1
    return "".join(out)


class Tokenizer:
    def __init__(self, vocab_path):
        self.vocab = {}
        for i, tok in enumerate(open(vocab_path, encoding="utf-8").read().split("\n")):
            if tok and tok not in self.vocab:
                self.vocab[tok] = i

    @staticmethod
    def _ws(c):
        return c in " \t\n\r" or unicodedata.category(c) == "Zs"

    @staticmethod
    def _control(c):
        return c not in "\t\n\r" and unicodedata.category(c).startswith("C")

    @staticmethod
    def _punct(c):
        cp = ord(c)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(c).startswith("P")

    @staticmethod
    def _cjk(cp):
        return any(a <= cp <= b for a, b in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                                             (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])

    def words(self, text):
        chars = []
        for c in text:
            if ord(c) == 0 or ord(c) == 0xFFFD or self._control(c):
                continue
            if self._ws(c):
                chars.append(" ")
            elif self._cjk(ord(c)):
                chars += [" ", c, " "]
            else:
                for d in unicodedata.normalize("NFD", c):
                    if unicodedata.category(d) != "Mn":
                        chars.append(d.lower())
        words, cur = [], ""
        for c in "".join(chars):
            if self._ws(c):
                if cur: words.append(cur); cur = ""
            elif self._punct(c):
                if cur: words.append(cur); cur = ""
                words.append(c)
            else:
                cur += c
        if cur: words.append(cur)
        return words

    def encode(self, text, max_len=256):
        ids = [self.vocab["[CLS]"]]
        for w in self.words(text):
            if len(w) > 100:
                ids.append(self.vocab["[UNK]"]); continue
            pieces, start = [], 0
            while start < len(w):
                end, found = len(w), None
                while end > start:
                    sub = ("##" if start else "") + w[start:end]
                    if sub in self.vocab:
                        found = self.vocab[sub]; break
                    end -= 1
                if found is None:
                    pieces = [self.vocab["[UNK]"]]; break
                pieces.append(found); start = end
            ids += pieces
            if len(ids) >= max_len - 1:
                break
        return ids[: max_len - 1] + [self.vocab["[SEP]"]]


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(raw[8 + n + a: 8 + n + b], dtype="<f4").reshape(info["shape"]).copy())
    return out


class Bert(torch.nn.Module):
    def __init__(self, model_dir):
        super().__init__()
        cfg = json.load(open(f"{model_dir}/config.json"))
        self.h, self.nh, self.nl, self.eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["layer_norm_eps"]
        self.w = load_safetensors(f"{model_dir}/model.safetensors")

    def forward(self, ids, mask):
        w, B, L, H = self.w, ids.shape[0], ids.shape[1], self.h
        hd = H // self.nh
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L] \
            + w["embeddings.token_type_embeddings.weight"][0]
        x = torch.nn.functional.layer_norm(x, (H,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for l in range(self.nl):
            p = f"encoder.layer.{l}."
            lin = lambda t, n: torch.nn.functional.linear(t, w[p + n + ".weight"], w[p + n + ".bias"])
            split = lambda t: t.view(B, L, self.nh, hd).transpose(1, 2)
            q, k, v = split(lin(x, "attention.self.query")), split(lin(x, "attention.self.key")), split(lin(x, "attention.self.value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(B, L, H)
            x = torch.nn.functional.layer_norm(lin(ctx, "attention.output.dense") + x, (H,),
                                               w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps)
            h = torch.nn.functional.gelu(lin(x, "intermediate.dense"))
            x = torch.nn.functional.layer_norm(lin(h, "output.dense") + x, (H,),
                                               w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        m = mask[:, :, None].float()
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


def embed(model_dir, texts, threads=None, batch_tokens=16384):
    if threads:
        torch.set_num_threads(threads)
    tok, bert = Tokenizer(f"{model_dir}/vocab.txt"), Bert(model_dir)
    ids = [tok.encode(t) for t in texts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = torch.empty(len(texts), bert.h)
    t0 = time.perf_counter()
    with torch.inference_mode():
        i = 0
        while i < len(order):
            j, batch = i, []
            while j < len(order) and (not batch or len(ids[order[j]]) * (len(batch) + 1) <= batch_tokens):
                batch.append(ids[order[j]]); j += 1
            L = max(len(b) for b in batch)
            t = torch.zeros(len(batch), L, dtype=torch.long)
            m = torch.zeros(len(batch), L, dtype=torch.long)
            for r, b in enumerate(batch):
                t[r, :len(b)] = torch.tensor(b); m[r, :len(b)] = 1
            out[torch.tensor(order[i:j])] = bert(t, m)
            i = j
    return out.numpy(), time.perf_counter() - t0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir"); ap.add_argument("texts"); ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=None); ap.add_argument("--batch-tokens", type=int, default=16384)
    a = ap.parse_args()
    texts = [unescape(l.rstrip("\n")) for l in open(a.texts, encoding="utf-8")]
    emb, secs = embed(a.model_dir, texts, a.threads, a.batch_tokens)
    np.save(a.out, emb)
    print(f"texts_per_second={len(texts) / secs:.1f}")

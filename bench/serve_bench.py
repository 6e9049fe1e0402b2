"""Latency of `plural serve` beside the same work done in-process (docs/serve.md, issue #30's goals).

    PYTHONPATH=build/python /usr/bin/python3 bench/serve_bench.py --cli build/plural [--encoder minilm] [--k 3]

Trains PAL-B on Persona-K (features in a fresh cache), starts the server on loopback, and times with one
keep-alive client of its own: /get_reward with 16 cached texts for a stored user, an answer + re-adapt + durable
commit, and `next` over 1,000 candidate pairs; then the same calls through the in-process Python API on the same
model. Also /get_reward of 16 texts the cache lacks (encoded on the fly; with concurrent clients their texts share
encoder batches). When `wrk` is installed (Debian's), the same requests are timed again with it: the server's
latency without the Python client's own cost. Prints p50/p99 (ms) and requests/s; the ratios are what compare across
hosts."""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

import plural


def pct(xs, q):
    return float(np.percentile(np.array(xs) * 1e3, q))


class Http:
    """One keep-alive connection, as an RLHF worker or the page would hold."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path, body):
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        out = json.loads(r.read())
        assert r.status == 200, out
        return out


def timed(fn, n):
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


WRK_ANSWER = """counter = 0
request = function()
  counter = counter + 1
  local i = (counter %% %d) + 1
  local path = "/v1/users/wrk" .. math.floor(counter / 20) .. "/answers"
  return wrk.format("POST", path, {["Content-Type"]="application/json"}, bodies[i])
end
"""


def wrk(port, script, seconds=10):
    """(p50, p99) in ms of one keep-alive connection, as wrk measures them."""
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-s", script, f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True, check=True).stdout
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    got = {q: float(v) * unit[u] for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
    return got["50"], got["99"]


def wrk_scripts(tmp, payload, answers):
    """Lua scripts for wrk: /get_reward with a fixed body, and answers appended 20 per new user."""
    reward = os.path.join(tmp, "reward.lua")
    with open(reward, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.path = "/get_reward"\nwrk.body = {json.dumps(json.dumps(payload))}\n'
                'wrk.headers["Content-Type"] = "application/json"\n')
    answer = os.path.join(tmp, "answer.lua")
    with open(answer, "w") as f:
        f.write("bodies = {" + ",".join(json.dumps(json.dumps({"answers": [a]})) for a in answers) + "}\n")
        f.write(WRK_ANSWER % len(answers))
    return reward, answer


def concurrently(fn, n_threads):
    """Runs fn(0) ... fn(n_threads - 1) on threads at once; the seconds until all are done."""
    threads = [threading.Thread(target=fn, args=(c,)) for c in range(n_threads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def encoded(port):
    """(texts encoded, encoder batches) so far, from the server's /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/metrics")
    m = conn.getresponse().read().decode()
    return [int(re.search(rf"^{k} (\d+)$", m, re.M).group(1))
            for k in ("plural_encoded_texts_total", "plural_encode_batches_total")]


class Work:
    """The requests timed, over PAL-B trained on Persona-K; a stored user "ann" with 10 answers (an RLHF label)."""

    def __init__(self, model, recs, port):
        self.model, self.recs, self.port = model, recs, port
        self.prompt = recs[0][0]
        self.responses = [r[1] for r in recs[:16]]
        self.candidates = [{"prompt": p, "a": a, "b": b} for p, a, b in recs[:1000]]
        self.payload = {"query": [self.prompt + " " + r for r in self.responses], "prompts": [self.prompt] * 16,
                        "labels": ["ann"] * 16}
        Http(port).post("/v1/users/ann/answers", {"answers": [
            {"prompt": p, "chosen": a, "rejected": b} for p, a, b in recs[:10]]})
        self.ann = model.adapt(recs[:10], user_id="ann")

    def answer(self, i):
        p, a, b = self.recs[i]
        return {"answers": [{"prompt": p, "chosen": a, "rejected": b}]}

    def fresh(self, tag, i):
        """16 texts the cache lacks, as an RLHF trainer's fresh samples are."""
        return [f"{self.recs[i][1]} ({tag} sample {i}.{j})" for j in range(16)]

    def fresh_payload(self, tag, i):
        return {"query": [self.prompt + " " + t for t in self.fresh(tag, i)], "prompts": [self.prompt] * 16}

    def server_latencies(self, repeats):
        h = Http(self.port)
        srv = {"get_reward (16 texts)": timed(lambda i: h.post("/get_reward", self.payload), repeats)}
        # `next` first, as on the page: the pairs she then answers were read while ranking them.
        srv["next over 1,000 candidates"] = timed(
            lambda i: h.post("/v1/users/ann/next", {"candidates": self.candidates, "n": 1}), 30)
        srv["answer + re-adapt + commit"] = timed(
            lambda i: h.post(f"/v1/users/u{i // 20}/answers", self.answer(i)), repeats)
        return srv

    def local_latencies(self, repeats):
        m, recs = self.model, self.recs
        return {"get_reward (16 texts)": timed(lambda i: m.reward(self.responses, user=self.ann, prompt=self.prompt),
                                               repeats),
                "answer + re-adapt + commit": timed(lambda i: m.adapt(recs[(i // 20) * 20:i + 1], user_id="x"),
                                                    repeats),
                "next over 1,000 candidates": timed(lambda i: m.query(recs[:1000], user=self.ann, n=1), 30)}

    def new_text_latencies(self):
        h = Http(self.port)  # a new connection: the server closes idle keep-alive ones
        srv = timed(lambda i: h.post("/get_reward", self.fresh_payload("srv", i)), 30)
        local = timed(lambda i: self.model.reward(self.fresh("local", i), prompt=self.prompt), 30)
        return srv, local

    def cached_rate(self, clients):
        """/get_reward requests/s with `clients` keep-alive clients at once."""
        def client(c):
            h = Http(self.port)
            for _ in range(100):
                h.post("/get_reward", self.payload)
        return clients * 100 / concurrently(client, clients)

    def new_text_rate(self, clients):
        """(requests/s, texts encoded, encoder batches) of `clients` clients sending new texts at once."""
        def client(c):
            h = Http(self.port)
            for i in range(20):
                h.post("/get_reward", self.fresh_payload(f"client {c}", i))
        before = encoded(self.port)
        rate = clients * 20 / concurrently(client, clients)
        texts, batches = (a - b for a, b in zip(encoded(self.port), before))
        return rate, texts, batches

    def by_wrk(self, tmp):
        """The server's own latency by wrk (without the Python client's cost), when wrk is installed."""
        if not shutil.which("wrk"):
            return {}
        answers = [self.answer(i)["answers"][0] for i in range(300, 1000)]
        reward_lua, answer_lua = wrk_scripts(tmp, self.payload, answers)
        return {"get_reward (16 texts)": wrk(self.port, reward_lua),
                "answer + re-adapt + commit": wrk(self.port, answer_lua)}


def report(args, n_texts, srv, local, rps, fresh, by_wrk):
    print(f"PAL-B K={args.k}, encoder {args.encoder}, {n_texts} texts; ms, server (HTTP, loopback) vs "
          f"in-process Python on the same model")
    print(f"{'work':30s} {'server p50':>10s} {'p99':>8s} {'in-proc p50':>12s} {'p99':>8s} {'p50 ratio':>10s}")
    for k in srv:
        print(f"{k:30s} {pct(srv[k], 50):10.2f} {pct(srv[k], 99):8.2f} {pct(local[k], 50):12.2f} "
              f"{pct(local[k], 99):8.2f} {pct(srv[k], 50) / pct(local[k], 50):10.2f}")
    print(f"/get_reward with {args.clients} concurrent keep-alive clients: {rps:.0f} requests/s")
    rate, texts, batches = fresh
    print(f"/get_reward of 16 new texts with {args.clients} concurrent clients: {rate:.1f} requests/s, "
          f"{texts} texts encoded in {batches} batches ({texts / max(batches, 1):.1f} per batch)")
    for k, (p50, p99) in by_wrk.items():
        print(f"wrk, one keep-alive connection, 10 s: {k}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    if not by_wrk:
        print("(wrk not installed: apt-get install wrk for the server's latency without the Python client)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default="build/plural")
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients of the throughput run")
    args = ap.parse_args()
    plural.set_threads(0)
    tmp = tempfile.mkdtemp(prefix="serve_bench")
    try:
        pk = plural.persona_k(k=args.k, seed=0)
        store = plural.FeatureStore(os.path.join(tmp, "cache.h5"), encoder=args.encoder)
        model = plural.Model("pal-b", k=args.k).fit(pk.data, store, seed=0)
        model.save(os.path.join(tmp, "model.pt"))
        cols, texts = pk.data.columns(), pk.data.texts
        recs = [(texts[cols["prompt_a"][r]], texts[cols["a"][r]], texts[cols["b"][r]])
                for r in map(int, pk.data.rows("support", False))]
        cache = os.path.join(tmp, "server_cache.h5")
        shutil.copy(store.cache.path, cache)  # the server's own copy: this FeatureStore locks its file

        with plural.Server(os.path.join(tmp, "model.pt"), cache, os.path.join(tmp, "users.sqlite"),
                           encoder=args.encoder, cli=args.cli) as server:
            work = Work(model, recs, int(server.url.rsplit(":", 1)[1]))
            srv, local = work.server_latencies(args.repeats), work.local_latencies(args.repeats)
            srv["get_reward (16 new texts)"], local["get_reward (16 new texts)"] = work.new_text_latencies()
            rps, fresh = work.cached_rate(args.clients), work.new_text_rate(args.clients)
            by_wrk = work.by_wrk(tmp)
        report(args, len(texts), srv, local, rps, fresh, by_wrk)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

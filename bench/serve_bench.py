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
        data, cols, texts = pk.data, pk.data.columns(), pk.data.texts
        rows = [int(r) for r in data.rows("support", False)]
        recs = [(texts[cols["prompt_a"][r]], texts[cols["a"][r]], texts[cols["b"][r]]) for r in rows]
        cache = os.path.join(tmp, "server_cache.h5")
        shutil.copy(store.cache.path, cache)

        proc = subprocess.Popen([args.cli, "serve", "--model", os.path.join(tmp, "model.pt"), "--cache", cache,
                                 "--db", os.path.join(tmp, "users.sqlite"), "--port", "0",
                                 "--encoder", args.encoder],
                                stdout=subprocess.PIPE, text=True)
        port = int(re.search(r":(\d+) ", proc.stdout.readline()).group(1))
        try:
            http_ = Http(port)
            prompt = recs[0][0]
            responses = [r[1] for r in recs[:16]]
            candidates = [{"prompt": p, "a": a, "b": b} for p, a, b in recs[:1000]]
            # A stored user with 10 answers, as an RLHF label would name.
            http_.post("/v1/users/ann/answers", {"answers": [
                {"prompt": p, "chosen": a, "rejected": b} for p, a, b in recs[:10]]})
            ann = model.adapt(recs[:10], user_id="ann")

            payload = {"query": [prompt + " " + r for r in responses], "prompts": [prompt] * 16, "labels": ["ann"] * 16}
            srv = {}
            srv["get_reward (16 texts)"] = timed(lambda i: http_.post("/get_reward", payload), args.repeats)
            # `next` first, as on the page: the pairs she then answers were read while ranking them.
            srv["next over 1,000 candidates"] = timed(
                lambda i: http_.post("/v1/users/ann/next", {"candidates": candidates, "n": 1}), 30)
            srv["answer + re-adapt + commit"] = timed(
                lambda i: http_.post(f"/v1/users/u{i // 20}/answers", {"answers": [
                    {"prompt": recs[i][0], "chosen": recs[i][1], "rejected": recs[i][2]}]}), args.repeats)

            local = {}
            local["get_reward (16 texts)"] = timed(lambda i: model.reward(responses, user=ann, prompt=prompt),
                                                   args.repeats)
            local["answer + re-adapt + commit"] = timed(
                lambda i: model.adapt(recs[(i // 20) * 20:i + 1], user_id="x"), args.repeats)
            local["next over 1,000 candidates"] = timed(lambda i: model.query(recs[:1000], user=ann, n=1), 30)

            # Texts the cache lacks, as an RLHF trainer's fresh samples are: encoded on the fly, 16 per request.
            fresh = lambda tag, i: [f"{recs[i][1]} ({tag} sample {i}.{j})" for j in range(16)]
            http_ = Http(port)  # the server closed the idle keep-alive connection while the in-process runs ran
            srv["get_reward (16 new texts)"] = timed(lambda i: http_.post("/get_reward", {
                "query": [prompt + " " + t for t in fresh("srv", i)], "prompts": [prompt] * 16}), 30)
            local["get_reward (16 new texts)"] = timed(
                lambda i: model.reward(fresh("local", i), prompt=prompt), 30)

            # Throughput: several clients at once on /get_reward.
            done = []

            def client(n):
                h = Http(port)
                for _ in range(n):
                    h.post("/get_reward", payload)
                done.append(n)

            t0 = time.perf_counter()
            threads = [threading.Thread(target=client, args=(100,)) for _ in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rps = sum(done) / (time.perf_counter() - t0)

            # New texts from several clients at once: their texts share encoder batches.
            def fresh_client(c, n):
                h = Http(port)
                for i in range(n):
                    texts = fresh(f"client {c}", i)
                    h.post("/get_reward", {"query": [prompt + " " + t for t in texts], "prompts": [prompt] * 16})

            def encoded():
                text = http.client.HTTPConnection("127.0.0.1", port)
                text.request("GET", "/metrics")
                m = text.getresponse().read().decode()
                return [int(re.search(rf"^{k} (\d+)$", m, re.M).group(1))
                        for k in ("plural_encoded_texts_total", "plural_encode_batches_total")]

            before = encoded()
            t0 = time.perf_counter()
            threads = [threading.Thread(target=fresh_client, args=(c, 20)) for c in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            fresh_rps = args.clients * 20 / (time.perf_counter() - t0)
            texts_, batches = (a - b for a, b in zip(encoded(), before))

            by_wrk = {}
            if shutil.which("wrk"):
                reward_lua, answer_lua = wrk_scripts(tmp, payload, [
                    {"prompt": p, "chosen": a, "rejected": b} for p, a, b in recs[300:1000]])
                by_wrk["get_reward (16 texts)"] = wrk(port, reward_lua)
                by_wrk["answer + re-adapt + commit"] = wrk(port, answer_lua)
        finally:
            proc.terminate()
            proc.wait()

        print(f"PAL-B K={args.k}, encoder {args.encoder}, {len(texts)} texts; ms, server (HTTP, loopback) vs "
              f"in-process Python on the same model")
        print(f"{'work':30s} {'server p50':>10s} {'p99':>8s} {'in-proc p50':>12s} {'p99':>8s} {'p50 ratio':>10s}")
        for k in srv:
            print(f"{k:30s} {pct(srv[k], 50):10.2f} {pct(srv[k], 99):8.2f} {pct(local[k], 50):12.2f} "
                  f"{pct(local[k], 99):8.2f} {pct(srv[k], 50) / pct(local[k], 50):10.2f}")
        print(f"/get_reward with {args.clients} concurrent keep-alive clients: {rps:.0f} requests/s")
        print(f"/get_reward of 16 new texts with {args.clients} concurrent clients: {fresh_rps:.1f} requests/s, "
              f"{texts_} texts encoded in {batches} batches ({texts_ / max(batches, 1):.1f} per batch)")
        for k, (p50, p99) in by_wrk.items():
            print(f"wrk, one keep-alive connection, 10 s: {k}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        if not by_wrk:
            print("(wrk not installed: apt-get install wrk for the server's latency without the Python client)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""`plural serve` over loopback: OpenRLHF's exact remote-reward payload, the JSON API against the in-process model,
answers that survive SIGKILL with states equal to a fresh adaptation, bounded and named errors, the bearer token.
The server is the real binary (PLURAL_CLI, set by ctest) on a free port."""
import itertools
import json
import os
import re
import shutil
import sqlite3
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

import plural

CLI = os.environ.get("PLURAL_CLI")


def Server(model, cache, db, *extra):
    """The real binary (PLURAL_CLI, set by ctest) on a free port, through plural.Server."""
    assert CLI, "PLURAL_CLI must name the plural binary (ctest sets it)"
    return plural.Server(model, cache, db, threads=1, options=extra, cli=CLI)


def raw(url, method, path, body=None, headers=None, data=None):
    """(status, parsed JSON) of one request, with the body exactly as given."""
    if data is None and body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json",
                                                                                 **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def records(data, rows):
    """(prompt, chosen, rejected) of comparison rows."""
    c, t = data.columns(), data.texts
    out = []
    for r in rows:
        a, b = t[c["a"][r]], t[c["b"][r]]
        prompt = t[c["prompt_a"][r]] if c["prompt_a"][r] >= 0 else ""
        out.append((prompt, a, b) if c["label"][r] > 0.5 else (prompt, b, a))
    return out


def user_rows(data, split, user):
    c = data.columns()
    return [int(r) for r in data.rows(split, False) if data.user_ids[c["user"][r]] == user]


@pytest.fixture(scope="module")
def served(tmp_path_factory, persona2, pal_b):
    pk, store = persona2
    tmp = tmp_path_factory.mktemp("serve")
    model_path, cache = str(tmp / "model.pt"), str(tmp / "cache.h5")
    pal_b.save(model_path)
    shutil.copy(store.cache.path, cache)  # the server's own copy: the test's FeatureStore holds a lock on its file
    unseen = [u for u, seen in zip(pk.data.user_ids, pk.data.user_seen) if not seen]
    pool = tmp / "pool.jsonl"
    with open(pool, "w") as f:
        for p, a, b in records(pk.data, user_rows(pk.data, "support", unseen[0])):
            f.write(json.dumps({"prompt": p, "a": a, "b": b}) + "\n")
    return dict(pk=pk, model=pal_b, model_path=model_path, cache=cache, tmp=tmp, unseen=unseen, pool=str(pool))


def start(served, db="users.sqlite", *extra):
    return Server(served["model_path"], served["cache"], str(served["tmp"] / db), "--candidates", served["pool"],
                  *extra)


def test_openrlhf_payload_gives_the_in_process_rewards(served):
    pk, model = served["pk"], served["model"]
    rows = user_rows(pk.data, "test", served["unseen"][0])[:6]
    recs = records(pk.data, rows)
    prompt = recs[0][0]
    responses = [r[1] for r in recs] + [r[2] for r in recs]
    seen_user = [u for u, s in zip(pk.data.user_ids, pk.data.user_seen) if s][0]
    server = start(served, "openrlhf.sqlite")
    try:
        # Exactly what OpenRLHF's remote_rm_fn posts: query = prompt + response, prompts, labels (--label_key).
        payload = {"query": [prompt + " " + r for r in responses], "prompts": [prompt] * len(responses),
                   "labels": [seen_user] * 6 + [""] * (len(responses) - 6)}
        status, out = raw(server.url, "POST", "/get_reward", payload)
        assert status == 200, out
        assert len(out["rewards"]) == len(responses)
        want_user = model.reward(responses[:6], user=seen_user, prompt=prompt)
        want_pop = model.reward(responses[6:], prompt=prompt)
        np.testing.assert_allclose(out["rewards"][:6], want_user, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["rewards"][6:], want_pop, rtol=1e-5, atol=1e-5)
        assert not np.allclose(want_user, model.reward(responses[:6], prompt=prompt), atol=1e-4)
        # Without prompts a prompt-conditioned model cannot score: a 400 that says so, naming the query.
        status, out = raw(server.url, "POST", "/get_reward", {"query": responses[:2]})
        assert status == 400 and "query[0]" in out["error"] and "prompt" in out["error"], out
    finally:
        server.stop()


def test_answers_adapt_her_and_next_asks_what_she_has_not_answered(served):
    pk, model = served["pk"], served["model"]
    user = served["unseen"][0]
    truth = {frozenset((a, b)): (p, a, b) for p, a, b in records(pk.data, user_rows(pk.data, "support", user))}
    test = records(pk.data, user_rows(pk.data, "test", user))
    server = start(served, "answers.sqlite")
    client = plural.Client(server.url)
    try:
        answered = []
        for _ in range(10):  # the page's loop: ask, answer as the planted user would
            nxt = client.next_pairs(user)
            assert not nxt["done"] and nxt["expected_gain"] > 0
            pair = nxt["pairs"][0]
            key = frozenset((pair["a"], pair["b"]))
            assert key not in {frozenset((a, b)) for _, a, b in answered}, "asked the same pair twice"
            answered.append(truth[key])
            state = client.answer(user, [truth[key]])
        assert state["answers"] == 10 and state["embedding"]["kind"] == "mixture_weights"
        assert abs(sum(state["embedding"]["values"]) - 1) < 1e-5 and state["posterior_sd"]
        assert client.user(user)["answers"] == 10

        # Her stored state is the in-process adaptation from the same answers.
        mine = model.adapt(answered, user_id=user)
        p_server = np.array([client.prefer(a, b, user=user, prompt=p) for p, a, b in test[:20]])
        np.testing.assert_allclose(p_server, model.prefer_proba(test[:20], mine), atol=1e-5)
        # ... and predicts her held-out pairs better than the population model.
        acc_user = np.mean([client.prefer(a, b, user=user, prompt=p) > 0.5 for p, a, b in test])
        acc_pop = np.mean([client.prefer(a, b, prompt=p) > 0.5 for p, a, b in test])
        assert acc_user > acc_pop + 0.05, (acc_user, acc_pop)

        assert client.delete_user(user) == {"deleted": user}
        with pytest.raises(plural.ServerError) as e:
            client.user(user)
        assert e.value.status == 404
        metrics = client.metrics()
        assert 'plural_requests_total{route="/v1/users/{id}/answers",code="200"} 10' in metrics
        assert "plural_request_seconds_bucket" in metrics
    finally:
        server.stop()


def test_new_texts_are_encoded_once_in_shared_batches_and_cached(served, tmp_path):
    """A model on an encoder that can encode (hashed): concurrent /get_reward calls with texts the cache lacks get
    the in-process rewards; each new text is encoded once though several requests carry it, and the server's cache
    file holds them afterwards."""
    pk = served["pk"]
    store = plural.FeatureStore(str(tmp_path / "hashed.h5"), encoder="hashed")
    model = plural.Model("pal-b", k=2).fit(pk.data, store, epochs=2, seed=0)
    model.save(str(tmp_path / "hashed.pt"))
    cache = str(tmp_path / "server_hashed.h5")
    shutil.copy(store.cache.path, cache)
    prompt = records(pk.data, user_rows(pk.data, "test", served["unseen"][0]))[0][0]
    shared = [f"a response every worker sampled {j}" for j in range(4)]
    own = {c: [f"worker {c} sampled response {j}" for j in range(6)] for c in range(4)}
    server = Server(str(tmp_path / "hashed.pt"), cache, str(tmp_path / "hashed.sqlite"), "--encoder", "hashed")
    client = plural.Client(server.url)
    got = {}
    try:
        def worker(c):
            texts = own[c] + shared
            got[c] = client.get_reward([prompt + " " + t for t in texts], prompts=[prompt] * len(texts))

        threads = [threading.Thread(target=worker, args=(c,)) for c in own]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in own:
            np.testing.assert_allclose(got[c], model.reward(own[c] + shared, prompt=prompt), rtol=1e-5, atol=1e-5)
        metrics = client.metrics()
        encoded = int(re.search(r"^plural_encoded_texts_total (\d+)$", metrics, re.M).group(1))
        batches = int(re.search(r"^plural_encode_batches_total (\d+)$", metrics, re.M).group(1))
        assert encoded == 4 * 6 + 4, metrics  # the prompt was cached; every new text once
        assert 1 <= batches <= 4
    finally:
        server.stop()
    after = plural.FeatureStore(cache, encoder="hashed")
    assert all(after.cache.contains(store.encoder_id, shared + [t for c in own for t in own[c]]))


def stored_answers(db):
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT user, prompt, chosen, rejected FROM answers ORDER BY user, seq").fetchall()
    out = {}
    for user, *rec in rows:
        out.setdefault(user, []).append(tuple(rec))
    return out


KILL_CYCLES = int(os.environ.get("PLURAL_KILL_CYCLES", "3"))  # bench/RESULTS.md records a run with 20
LOAD_SECONDS = float(os.environ.get("PLURAL_LOAD_SECONDS", "20"))  # per cycle: 3 x 20 s of mixed load in make test


class MixedLoad:
    """Concurrent clients until stopped: writers appending each of their users' answers in turn (cycling through her
    support pairs), a reader asking /get_reward for a stored user, and a querier asking `next` over the pool. A
    request the dying server never answered is simply not acknowledged."""

    def __init__(self, url, users, answers, acked):
        self.client, self.users, self.answers, self.acked = plural.Client(url, timeout=10), users, answers, acked
        self.stop, self.served = threading.Event(), {"get_reward": 0, "next": 0}
        self.threads = [threading.Thread(target=self.writer, args=(users[i::3],)) for i in range(3)]
        self.threads += [threading.Thread(target=self.reader), threading.Thread(target=self.querier)]
        for t in self.threads:
            t.start()

    def answer_of(self, u, i):
        return self.answers[u][i % len(self.answers[u])]

    def writer(self, mine):
        for i in itertools.count():
            u = mine[i % len(mine)]
            if self.stop.is_set():
                return
            try:
                self.acked[u] = self.client.answer(u, [self.answer_of(u, self.acked[u])])["answers"]
            except Exception:
                return  # the server died mid-request: that answer was never acknowledged

    def reader(self):
        p, a, b = self.answers[self.users[0]][0]
        while not self.stop.is_set():
            try:
                labels = [self.users[0] if self.acked[self.users[0]] else ""] * 2
                self.client.get_reward([a, b], prompts=[p, p], labels=labels)
                self.served["get_reward"] += 1
            except Exception:
                return

    def querier(self):
        while not self.stop.is_set():
            try:
                self.client.next_pairs(self.users[1])
                self.served["next"] += 1
            except Exception:
                return

    def kill(self, server):
        server.kill()
        self.stop.set()
        for t in self.threads:
            t.join()


def test_sigkill_under_mixed_load_loses_no_acknowledged_answer(served):
    """KILL_CYCLES times: LOAD_SECONDS of concurrent answers, rewards and queries, SIGKILL, restart. Every answer
    acknowledged before the kill is stored in order, and every stored user's state is a fresh adaptation from her
    stored answers."""
    pk, model = served["pk"], served["model"]
    users = served["unseen"][1:10]
    answers = {u: records(pk.data, user_rows(pk.data, "support", u)) for u in users}
    db = str(served["tmp"] / "kill.sqlite")
    acked = {u: 0 for u in users}
    served_total = {"get_reward": 0, "next": 0}
    for cycle in range(KILL_CYCLES):
        server = start(served, "kill.sqlite")
        load = MixedLoad(server.url, users, answers, acked)
        threading.Event().wait(LOAD_SECONDS * (0.5 + (cycle % 3) / 2))  # the kill lands at varying points
        load.kill(server)
        for k in served_total:
            served_total[k] += load.served[k]

        stored = stored_answers(db)
        server = start(served, "kill.sqlite")
        client = plural.Client(server.url)
        try:
            for u in users:
                got = stored.get(u, [])
                assert len(got) >= acked[u], (u, len(got), acked[u])
                assert got == [load.answer_of(u, i) for i in range(len(got))], "stored answers differ from those sent"
                acked[u] = len(got)
                if not got:
                    continue
                assert client.user(u)["answers"] == len(got)
                # The restarted server's state is a fresh adaptation from what is stored.
                probe = answers[u][-3:]
                p_server = [client.prefer(a, b, user=u, prompt=p) for p, a, b in probe]
                np.testing.assert_allclose(p_server, model.prefer_proba(probe, model.adapt(got, user_id=u)),
                                           atol=1e-5)
        finally:
            server.stop()
    print(f"{KILL_CYCLES} kill cycles: {sum(acked.values())} answers acknowledged and stored, "
          f"{served_total['get_reward']} get_reward and {served_total['next']} next served")
    assert sum(acked.values()) >= 20 * KILL_CYCLES and all(served_total.values())


BAD = [
    ("POST", "/get_reward", b"{not json", 400, "not valid JSON"),
    ("POST", "/get_reward", {"prompts": ["p"]}, 400, "query: missing"),
    ("POST", "/get_reward", {"query": ["a", "b"], "labels": ["u1"]}, 400, "one entry each"),
    ("POST", "/get_reward", {"query": ["a"], "labels": ["no such user"]}, 400, "labels[0]"),
    ("POST", "/get_reward", {"query": ["a"], "labels": ["ghost"]}, 404, "unknown user 'ghost'"),
    ("POST", "/get_reward", {"query": [7]}, 400, "query[0]: expected a string"),
    ("POST", "/get_reward", {"query": ["x" * 40000]}, 413, "query[0]"),
    ("POST", "/v1/users/a%20b/answers", {"answers": [{"chosen": "x", "rejected": "y"}]}, 400, "user id"),
    ("POST", "/v1/users/u1/answers", {"answers": []}, 400, "answers"),
    ("POST", "/v1/users/u1/answers", {"answers": [{"chosen": "x"}]}, 400, "answers[0].rejected: missing"),
    ("POST", "/v1/users/u1/answers", {"answers": [{"chosen": "x", "rejected": "y", "p_chosen": 2}]}, 400,
     "answers[0].p_chosen"),
    ("POST", "/v1/users/u1/answers", {"answers": [{"chosen": "x", "rejected": "x"}]}, 400, "same text"),
    ("POST", "/v1/users/u1/next", {"n": 0}, 400, "n:"),
    ("POST", "/v1/users/u1/next", {"candidates": "x"}, 400, "candidates"),
    ("POST", "/v1/users/u1/next", {"scorer": "oracle"}, 400, "oracle"),
    ("GET", "/v1/users/nobody", None, 404, "unknown user 'nobody'"),
    ("DELETE", "/v1/users/nobody", None, 404, "nothing stored"),
    ("GET", "/v2/nothing", None, 404, "no such route"),
    ("POST", "/v1/prefer", {"a": "x"}, 400, "b: missing"),
    ("POST", "/v1/reward", {"texts": ["a"], "user": "../etc"}, 400, "user id"),
]


def test_bad_requests_get_a_4xx_naming_the_field(served):
    server = start(served, "bad.sqlite", "--max-body-mb", "1")
    try:
        for method, path, body, status, words in BAD:
            data = body if isinstance(body, bytes) else None
            got, out = raw(server.url, method, path, None if data else body, data=data)
            assert got == status and words in out["error"], (method, path, got, out)
        got, out = raw(server.url, "POST", "/get_reward", data=b'{"query": ["' + b"x" * (2 << 20) + b'"]}')
        assert got == 413 and "error" in out
        # The server is still up and consistent after all of that.
        assert raw(server.url, "GET", "/healthz")[0] == 200
    finally:
        server.stop()


def test_token_guards_every_route_but_the_page_and_health(served):
    token_file = served["tmp"] / "token"
    token_file.write_text("s3cret-token-of-20chars\n")
    server = start(served, "token.sqlite", "--token-file", str(token_file))
    try:
        assert raw(server.url, "GET", "/healthz")[0] == 200
        with urllib.request.urlopen(server.url + "/", timeout=30) as r:
            assert r.status == 200 and b"<script>" in r.read()
        got, out = raw(server.url, "POST", "/get_reward", {"query": ["a"]})
        assert got == 401 and "Bearer" in out["error"]
        got, out = raw(server.url, "POST", "/get_reward", {"query": ["a"]},
                       headers={"Authorization": "Bearer s3cret-token-of-20chars"})
        assert got in (200, 400), out  # past the token check (the text may be missing from the cache)
        assert plural.Client(server.url, token="s3cret-token-of-20chars").health()["status"] == "ok"
    finally:
        server.stop()


def test_a_person_answers_on_the_page_in_a_real_browser(served):
    """Headless Chromium answers 10 of the page's questions as a planted Persona-K user; her stored state then
    predicts her held-out pairs better than the population model."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    pk = served["pk"]
    user = served["unseen"][0]
    truth = {frozenset((a, b)): (p, a, b) for p, a, b in records(pk.data, user_rows(pk.data, "support", user))}
    test = records(pk.data, user_rows(pk.data, "test", user))
    server = start(served, "page.sqlite")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    try:
        driver.get(server.url + "/")
        driver.find_element(By.ID, "user").send_keys(user)
        driver.find_element(By.ID, "start").click()
        wait = WebDriverWait(driver, 60)
        text = lambda id_: driver.find_element(By.ID, id_).get_attribute("textContent")
        asked = set()
        for i in range(10):
            # The next question is up when the buttons show a pair not asked before.
            wait.until(lambda d: frozenset((text("choice-a"), text("choice-b"))) not in asked
                       and text("choice-a") != "")
            a, b = text("choice-a"), text("choice-b")
            key = frozenset((a, b))
            asked.add(key)
            _, chosen, _ = truth[key]
            driver.find_element(By.ID, "choice-a" if chosen == a else "choice-b").click()
            wait.until(lambda d: text("answers") == str(i + 1))
        bars = driver.find_elements(By.CSS_SELECTOR, "#bars .bar")
        assert len(bars) == 2, "one bar per prototype of the K = 2 model"
        assert "standard deviation" in text("certainty")
        assert text("error") == ""
    finally:
        driver.quit()
    client = plural.Client(server.url)
    try:
        assert client.user(user)["answers"] == 10
        acc_user = np.mean([client.prefer(a, b, user=user, prompt=p) > 0.5 for p, a, b in test])
        acc_pop = np.mean([client.prefer(a, b, prompt=p) > 0.5 for p, a, b in test])
        assert acc_user > acc_pop + 0.05, (acc_user, acc_pop)
    finally:
        server.stop()

"""Model families through the bindings: PAL-B against a plain-torch reference, gradients, parameter counts, the
adapters' promises, bad input, persistence, query scoring."""
import json
import math
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import plural


def dims(d=16, dp=16, users=("u0", "u1", "u2")):
    m = plural.ModelDims()
    m.item_dim, m.prompt_dim, m.users = d, dp, list(users)
    return m


def mlp(params, prefix, x):
    """A projector (Linear, GELU, ..., Linear; dropout off in eval) from the model's own parameters."""
    layers = sorted({int(k[len(prefix):].split(".")[0]) for k in params if k.startswith(prefix)})
    for i, layer in enumerate(layers):
        x = F.linear(x, params[f"{prefix}{layer}.weight"], params.get(f"{prefix}{layer}.bias"))
        if i < len(layers) - 1:
            x = F.gelu(x)
    return x


def bank_member(params, prefix, j, x):
    """Projector j of a bank (layer l's K weights stacked as w{l} [K, out, in], biases b{l} [K, out])."""
    layers = sorted({int(k[len(prefix) + 1:]) for k in params if k.startswith(prefix + "w")})
    for i, layer in enumerate(layers):
        x = F.linear(x, params[f"{prefix}w{layer}"][j], params[f"{prefix}b{layer}"][j])
        if i < len(layers) - 1:
            x = F.gelu(x)
    return x


def pal_b_reference(model, x, prompt, w):
    """r = tau * cos(f(x), sum_k w_k g_k(prompt)), tau = min(exp(s), 100) — pal_vpl.md §2, in plain torch."""
    p = model.named_parameters()
    k = w.shape[-1]
    e = mlp(p, "f.net.", x)
    g = torch.stack([bank_member(p, "g.", j, prompt) for j in range(k)], 1)  # [B, K, d]
    ideal = (w.unsqueeze(-1) * g).sum(1)
    tau = p["log_scale"].exp().clamp(max=100.0)
    return tau * F.cosine_similarity(e, ideal, dim=1)


@pytest.mark.parametrize("proj", ["mlp2-gelu-dropout0", "mlp1-gelu-dropout3"])
def test_pal_b_reward_equals_plain_torch(proj):
    torch.manual_seed(0)
    model = plural.make_model("pal-b", dims(), {"k": 3, "proj": proj, "dim": 8})
    model.eval()
    x, prompt = torch.randn(10, 16), torch.randn(10, 16)
    with torch.no_grad():
        for user in ("u1", None):  # a seen user, and the prior (uniform weights)
            state = model.seen_state(user)
            w = torch.softmax(state["theta"], 0).expand(10, -1)
            ours = model.reward(plural.ItemBatch(x, prompt), state)
            torch.testing.assert_close(ours, pal_b_reference(model, x, prompt, w), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(model.reward_seen(plural.ItemBatch(x, prompt), user), ours)


def test_lore_reward_equals_plain_torch():
    torch.manual_seed(0)
    model = plural.make_model("lore", dims(dp=0), {"k": 4, "use_prompt": False})
    x = torch.randn(6, 16)
    state = model.seen_state("u2")
    with torch.no_grad():
        ref = x @ model.named_parameters()["basis"] @ torch.softmax(state["theta"], 0)
        torch.testing.assert_close(model.reward(plural.ItemBatch(x), state), ref, rtol=1e-5, atol=1e-5)


def test_gradients_agree_with_finite_differences():
    torch.manual_seed(0)
    model = plural.make_model("pal-b", dims(), {"k": 2, "proj": "mlp2-gelu-dropout0", "dim": 8})
    model.eval()
    x, prompt = torch.randn(4, 16, requires_grad=True), torch.randn(4, 16)
    users = torch.tensor([0, 1, 2, 0])
    r = model.reward_seen(plural.ItemBatch(x, prompt), users).sum()
    r.backward()
    params = model.named_parameters()
    w = params["f.net.0.weight"]
    for name, tensor, grad, idx in [("x", x, x.grad, (1, 3)), ("f.net.0.weight", w, w.grad, (2, 5)),
                                    ("theta", params["theta"], params["theta"].grad, (1, 0))]:
        eps = 1e-3
        with torch.no_grad():
            old = tensor[idx].item()
            tensor[idx] = old + eps
            up = model.reward_seen(plural.ItemBatch(x, prompt), users).sum().item()
            tensor[idx] = old - eps
            down = model.reward_seen(plural.ItemBatch(x, prompt), users).sum().item()
            tensor[idx] = old
        assert grad[idx].item() == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=2e-3), name


def test_parameter_counts_match_the_reference_formula():
    # pal_vpl.md §2.3: an mlp2 projector with d_in = d_out = d has 3(d^2 + d) parameters; PAL-B has 1 + K of them,
    # plus the temperature and the users' K logits each.
    d, k, users = 512, 2, [f"u{i}" for i in range(7)]
    model = plural.make_model("pal-b", dims(d, d, users), {"k": k, "proj": "mlp2-gelu-dropout0", "dim": 0})
    assert 3 * (d * d + d) == 787_968
    assert model.num_parameters() == (1 + k) * 787_968 + 1 + len(users) * k


def test_adapters_leave_every_shared_weight_bit_identical(pal_b, vpl, persona2):
    pk, _ = persona2
    for model, adapters in ((pal_b, ("newton", "adamw")), (vpl, ("amortized",))):
        shots = model.pairs(pk.data).select(torch.arange(12))
        before = {k: v.clone() for k, v in {**model.model.named_parameters(), **model.model.named_buffers()}.items()}
        for name in adapters:
            state = model.adapt(shots, user_id="someone", adapter=name)
            assert state.shots == 12 and state.user_id == "someone"
        after = {**model.model.named_parameters(), **model.model.named_buffers()}
        assert before.keys() == after.keys()
        for k in before:
            assert torch.equal(before[k], after[k]), f"{model.family}: {k} changed"


def test_newton_and_adamw_agree_on_a_planted_user(pal_b, persona2):
    pk, store = persona2
    model = pal_b.model
    # The planted user: a seen user's learned simplex point; her labels are what the model says she prefers.
    planted = model.seen_state(3)
    view = store.view(pk.data)
    pairs = view.batch(view.rows(plural.Split.test, True))
    with torch.no_grad():
        logits = plural.score_pairs(model, pairs, planted)
    pairs.label = (logits > 0).float()
    shots, held_out = pairs.select(torch.arange(0, 40)), pairs.select(torch.arange(40, 400))
    # The solvers compared under one prior: the model's tuned prior is chosen for new users (the predictive on
    # validation) and may hold an extreme planted user nearer the uniform weights than AdamW's unregularised steps.
    newton = pal_b.adapt(shots, adapter="newton", prior_var=4.0)
    adamw = pal_b.adapt(shots, adapter="adamw", lr=0.05, epochs=50)
    zn = plural.score_pairs(model, held_out, newton)
    za = plural.score_pairs(model, held_out, adamw)
    truth = held_out.label > 0.5
    acc_n = ((zn > 0) == truth).float().mean().item()
    acc_a = ((za > 0) == truth).float().mean().item()
    agree = ((zn > 0) == (za > 0)).float().mean().item()
    assert acc_n >= 0.9 and acc_n >= acc_a - 0.02, (acc_n, acc_a)
    assert agree >= 0.9, agree
    assert "cov" in newton.tensors and "cov" not in adamw.tensors


def test_pal_b_recovers_the_planted_prototypes_and_beats_bt(pal_b, persona2):
    pk, store = persona2
    seen = [u for u, s in enumerate(pk.data.user_seen) if s]
    truth = np.array([pk.data.user_groups[u] for u in seen])
    learned = pal_b.user_embeddings().argmax(1)
    same = (learned == truth).mean()
    assert max(same, 1 - same) > 0.9  # up to relabelling the two prototypes
    bt = plural.Model("bt", hidden=[]).fit(pk.data, store, epochs=30, lr=3e-3, seed=0)
    acc = {m.family: m.evaluate(pk.data, shots=[])[0]["accuracy"] for m in (bt, pal_b)}
    assert acc["pal-b"] > acc["bt"] + 0.05, acc


def test_bad_input_is_refused_clearly(pal_b, persona2, tmp_path):
    pk, store = persona2
    model = pal_b.model
    with pytest.raises(ValueError, match="unknown user id 'nobody'"):
        pal_b.reward(pk.data.texts[:2], user="nobody", prompt=pk.data.texts[0])
    with pytest.raises(ValueError, match=r"'k' must be in \[1, 256\], got 0"):
        plural.make_model("pal-b", model.dims, {"k": 0})
    with pytest.raises(ValueError, match="unknown.*'kk'"):
        plural.make_model("pal-b", model.dims, {"kk": 2})
    # A state from another model (another K) is refused.
    other = plural.make_model("pal-b", model.dims, {"k": 3})
    with pytest.raises(ValueError, match="belongs to model"):
        model.reward(plural.ItemBatch(torch.zeros(1, model.dims.item_dim), torch.zeros(1, model.dims.prompt_dim)),
                     other.prior_state())
    # Shots with NaN features.
    shots = pal_b.pairs(pk.data).select(torch.arange(3))
    shots.a.x = shots.a.x.clone()
    shots.a.x[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        pal_b.adapt(shots)
    # Wrong feature width.
    with pytest.raises(ValueError, match="columns"):
        model.reward_seen(plural.ItemBatch(torch.zeros(2, 3), torch.zeros(2, 3)))
    # An empty shot list is the prior, not an error.
    prior = pal_b.adapt([])
    assert prior.shots == 0 and torch.equal(prior["theta"], model.prior_state()["theta"])
    assert torch.allclose(prior["cov"], model.prior_state()["cov"])


def test_model_and_user_state_persist(pal_b, persona2, tmp_path):
    pk, store = persona2
    texts, prompt = pk.data.texts[1:5], pk.data.texts[0]
    me = pal_b.adapt(pal_b.pairs(pk.data).select(torch.arange(8)), user_id="me")
    pal_b.save(tmp_path / "m.pt")
    me.save(str(tmp_path / "me.pt"))
    again = plural.load(tmp_path / "m.pt", store)
    me2 = plural.UserState.load(str(tmp_path / "me.pt"))
    assert me2.user_id == "me" and me2.model_id == pal_b.model.model_id
    np.testing.assert_array_equal(again.reward(texts, me2, prompt), pal_b.reward(texts, me, prompt))
    np.testing.assert_array_equal(again.reward(texts, "seen-0003", prompt), pal_b.reward(texts, "seen-0003", prompt))
    wrong = plural.FeatureStore(tmp_path / "w.h5", encoder="hashed:dim=32")
    with pytest.raises(ValueError, match="trained on features"):
        plural.load(tmp_path / "m.pt", wrong)


def test_predict_proba_and_score_follow_the_label_convention(pal_b, persona2):
    pk, _ = persona2
    d = pk.data
    q = d.texts[d.columns()["prompt_a"][0]]
    a, b = d.texts[1], d.texts[2]
    me = pal_b.adapt([(q, a, b)] * 5)
    both = [{"prompt": q, "a": a, "b": b}, {"prompt": q, "a": b, "b": a}]
    p_ab, p_ba = pal_b.prefer_proba(both, user=me)
    assert p_ab == pytest.approx(1 - p_ba, abs=1e-6) and p_ab > 0.5
    # scikit-learn's shapes: predict_proba [n, 2] in classes_ order (0 = b preferred, 1 = a preferred), predict 0/1.
    proba = pal_b.predict_proba(both, user=me)
    assert proba.shape == (2, 2) and list(pal_b.classes_) == [0, 1]
    np.testing.assert_allclose(proba[:, 1], [p_ab, p_ba], atol=1e-6)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-6)
    assert list(pal_b.predict(both, user=me)) == [1, 0]
    assert pal_b.score([(q, a, b)], user=me) == 1.0
    assert pal_b.score([{"user": "x", "prompt": q, "left": a, "right": b, "y": 1}], user=me) == 0.0


def test_get_params_and_set_params_follow_scikit_learns_clone_protocol():
    """What sklearn.base.clone does: Model(**m.get_params()) must give back the very same parameter objects."""
    m = plural.Model("pal-b", k=3, dim=32)
    params = m.get_params()
    assert params == {"family": "pal-b", "k": 3, "dim": 32}
    twin = type(m)(**params)
    assert all(twin.get_params()[name] is value for name, value in params.items())
    assert m.set_params(k=4) is m and m.get_params()["k"] == 4 and m.config["k"] == 4
    with pytest.raises(ValueError, match="no config key 'kk'"):
        m.set_params(kk=1)
    assert m.get_params() == {"family": "pal-b", "k": 4, "dim": 32}  # a refused set_params changes nothing
    try:
        from sklearn.base import clone
    except ImportError:
        return
    assert clone(m).get_params() == m.get_params()


def test_fit_takes_trls_names_for_training_settings(persona2):
    pk, store = persona2
    m = plural.Model("bt").fit(pk.data, store, num_train_epochs=2, learning_rate=1e-3, per_device_train_batch_size=64,
                               patience=0)
    assert m.result_.epochs_run == 2
    with pytest.raises(ValueError, match="'learning_rate' and 'lr' name the same setting"):
        plural.Model("bt").fit(pk.data, store, lr=1e-3, learning_rate=1e-3)
    with pytest.raises(ValueError, match="max_length is the encoder's"):
        plural.Model("bt").fit(pk.data, store, max_length=128)


def test_query_prefers_an_informative_pair(pal_b, persona2):
    pk, _ = persona2
    d = pk.data
    cols = d.columns()
    prompt = d.texts[cols["prompt_a"][0]]
    a, b = d.texts[cols["a"][0]], d.texts[cols["b"][0]]
    # A text against itself tells nothing; a pair of different statements does.
    candidates = [(prompt, a, a), (prompt, a, b)]
    for scorer in ("bald", "bald-mc", "epig", "dopt"):
        best = pal_b.query(candidates, user=None, scorer=scorer, n=2)
        assert best[0]["index"] == 1 and best[0]["score"] > best[1]["score"], scorer
        assert best[0]["a"] == a and best[0]["b"] == b and best[0]["prompt"] == prompt
    r1 = pal_b.query(candidates * 3, scorer="random", seed=4, n=6)
    r2 = pal_b.query(candidates * 3, scorer="random", seed=4, n=6)
    assert [x["index"] for x in r1] == [x["index"] for x in r2]
    pool = pal_b.prepare(candidates)
    other = plural.make_model("pal-b", pal_b.model.dims, {"k": 3})
    with pytest.raises(ValueError, match="another model"):
        plural.make_query_scorer("bald").score(other, other.prior_state(), pool)


def test_query_chooses_a_batch_together_and_stops_below_min_gain(pal_b, persona2):
    d = persona2[0].data
    cols = d.columns()
    prompt = d.texts[cols["prompt_a"][0]]
    pairs = [(prompt, d.texts[cols["a"][i]], d.texts[cols["b"][i]]) for i in range(6)]
    candidates = pairs + pairs  # every question twice
    for scorer in ("bald", "epig", "dopt"):
        together = pal_b.query(candidates, scorer=scorer, n=3)
        top = pal_b.query(candidates, scorer=scorer, n=3, batch=False)
        assert together[0]["index"] == top[0]["index"], scorer
        assert [x["gain"] for x in top] == [x["score"] for x in top]
        assert top[0]["index"] % 6 == top[1]["index"] % 6  # the top two ask one question twice
        if scorer == "bald":  # the batch does not; and a pair tells less once the earlier ones are answered
            assert len({x["index"] % 6 for x in together}) == 3
            assert all(x["gain"] <= x["score"] + 1e-3 for x in together)
        # A prepared pool gives the same batch as texts.
        pooled = pal_b.query(pal_b.prepare(candidates), scorer=scorer, n=3)
        assert [x["index"] for x in pooled] == [x["index"] for x in together]
        floor = min(x["gain"] for x in together[:2]) * 0.999
        kept = pal_b.query(candidates, scorer=scorer, n=3, min_gain=floor)
        assert len(kept) >= 2 and all(x["gain"] >= floor for x in kept)
        assert pal_b.query(candidates, scorer=scorer, n=3, min_gain=1e9) == []


def _reopened(model, persona2, tmp_path):
    """The model saved and opened again as a Personalizer on the same cache; the data and its first prompt."""
    pk, store = persona2
    model.save(tmp_path / "p.pt")
    d = pk.data
    return plural.Personalizer(str(tmp_path / "p.pt"), store.cache.path), d, d.texts[d.columns()["prompt_a"][0]]


def test_personalizer_is_the_same_model_on_texts(pal_b, persona2, tmp_path):
    p, d, prompt = _reopened(pal_b, persona2, tmp_path)
    comps = [plural.TextComparison(prompt, d.texts[1], d.texts[2]), plural.TextComparison(prompt, d.texts[3], d.texts[4])]
    state = p.adapt("me", comps)
    ours = pal_b.adapt([(prompt, d.texts[1], d.texts[2]), (prompt, d.texts[3], d.texts[4])], user_id="me")
    torch.testing.assert_close(state["theta"], ours["theta"])
    assert p.prefer(state, prompt, d.texts[1], d.texts[2]) == pytest.approx(
        pal_b.prefer(d.texts[1], d.texts[2], ours, prompt), rel=1e-5)
    assert p.model.model_id == pal_b.model.model_id


def test_vpl_adapts_from_shots_and_falls_back_to_the_prior(vpl, persona2):
    pk, _ = persona2
    shots = vpl.pairs(pk.data).select(torch.arange(10))
    s = vpl.adapt(shots)
    assert s["mu"].shape == (8,) and (s["sigma"] > 0).all()
    prior = vpl.adapt([])
    assert prior.shots == 0 and torch.equal(prior["mu"], vpl.model.prior_state()["mu"])
    assert vpl.user_embeddings().shape == (len(vpl.users), 8)
    assert math.isfinite(vpl.history_[-1]["val_loss"]) and "kl" in vpl.history_[-1]


def test_family_config_is_declared_once_and_checked_at_construction():
    fields = {f["name"]: f for f in plural.family_config("pal-b")}
    assert fields["k"]["type"] == "int" and fields["k"]["default"] == 2
    assert fields["k"]["min"] == 1 and fields["k"]["max"] == 256 and fields["k"]["help"]
    dims = plural.ModelDims()
    dims.item_dim, dims.prompt_dim, dims.context_dim = 8, 8, 8
    for family in plural.model_families():
        written = plural.make_model(family, dims, {}).config
        # What a model writes into its file is exactly its declared fields, at their defaults.
        assert set(written) == {f["name"] for f in plural.family_config(family)}, family
        assert written == {f["name"]: f["default"] for f in plural.family_config(family)}, family
    with pytest.raises(ValueError, match=r"pal-b has no config key 'kk' \(its keys: .*\bk\b"):
        plural.Model("pal-b", kk=3)


def test_user_embeddings_are_typed_by_the_family(pal_b, vpl):
    kind, w = pal_b.model.user_embedding(pal_b.model.seen_state(0))
    assert kind == "mixture_weights"
    torch.testing.assert_close(w, torch.softmax(pal_b.model.seen_state(0)["theta"], 0))
    assert pal_b.user_embeddings()[0] == pytest.approx(w.numpy())
    kind, mu = vpl.model.user_embedding(vpl.model.seen_state(0))
    assert kind == "latent_mean" and torch.equal(mu, vpl.model.seen_state(0)["mu"])
    with pytest.raises(ValueError, match="is from a 'pal-b' model"):
        vpl.model.user_embedding(pal_b.model.seen_state(0))


def test_personalizer_ranks_query_pairs_like_the_model(pal_b, persona2, tmp_path):
    p, d, prompt = _reopened(pal_b, persona2, tmp_path)
    candidates = [(prompt, d.texts[i], d.texts[i + 1]) for i in range(1, 9, 2)]
    pool = p.pairs([plural.TextComparison(*c) for c in candidates])
    me = p.adapt("me", [plural.TextComparison(prompt, d.texts[1], d.texts[2])])
    r = p.query(me, pool, "bald", n=3, batch=False)
    assert r["scorer"] == "bald" and len(r["order"]) == 3 and not r["batch"]
    s = r["scores"]
    assert all(s[a] >= s[b] for a, b in zip(r["order"], r["order"][1:]))
    ours = pal_b.query(candidates, user=me, scorer="bald", n=3, batch=False)
    assert [x["index"] for x in ours] == r["order"]
    assert [x["score"] for x in ours] == pytest.approx([float(s[i]) for i in r["order"]], rel=1e-5)
    kind, w = p.user_embedding(me)
    assert kind == "mixture_weights" and float(w.sum()) == pytest.approx(1.0, abs=1e-6)


def test_fit_holds_out_validation_when_the_data_has_none(tmp_path):
    records = [{"user": u, "chosen": f"good {u} {i}", "rejected": f"bad {u} {i}"} for u in ("a", "b") for i in range(20)]
    data = plural.preferences(records)
    assert not plural._core.has_validation(data)
    store = plural.FeatureStore(str(tmp_path / "c.h5"), encoder="hashed:dim=32")
    m = plural.Model("bt").fit(data, store, epochs=2, metrics_path=str(tmp_path / "m.jsonl"))
    assert m.val_carved_ == 4 and m.result_.val_pairs == 4  # 2 of each user's 20
    first = json.loads(open(tmp_path / "m.jsonl").readline())
    assert first["val_carved"] == 4 and first["val_pairs"] == 4 and first["val_loss"] is not None
    assert not plural._core.has_validation(data)  # the caller's data is not changed
    m = plural.Model("bt").fit(data, store, epochs=2, val="none")
    assert m.val_carved_ == 0 and m.result_.val_pairs == 0 and m.result_.train_pairs == 40
    with pytest.raises(ValueError, match="val must be"):
        plural.Model("bt").fit(data, store, val="some")


def test_auto_model_keeps_the_lowest_validation_nll(persona2, tmp_path):
    pk, store = persona2
    m = plural.Model("auto", candidates=["bt", ("pal-b", 2), ("pal-b", 500)]).fit(pk.data, store, epochs=3)
    rows = m.auto_["candidates"]
    assert [r["name"] for r in rows] == ["bt", "pal-b K=2", "pal-b K=500"]
    assert "skipped" in rows[2] and "500" in rows[2]["skipped"]
    trained = [r for r in rows if "val_nll" in r]
    best = min(trained, key=lambda r: r["val_nll"])
    assert m.auto_["winner"] == best["name"] and m.family == best["family"]
    m.save(str(tmp_path / "auto.pt"))
    again = plural.load(str(tmp_path / "auto.pt"), store)
    assert again.family == m.family
    with pytest.raises(ValueError, match="only epochs"):
        plural.Model("auto").fit(pk.data, store, lr=0.1)
    with pytest.raises(ValueError, match="unknown model family"):
        plural.Model("auto", candidates=["nope"])


def test_fit_chooses_the_new_user_prior_on_validation(persona2):
    pk, store = persona2
    m = plural.Model("per-user-bt").fit(pk.data, store, epochs=2)
    p = m.result_.prior
    assert p is not None and p["variance"] > 0 and p["users"] > 0
    assert m.model.config["prior_var"] == pytest.approx(p["variance"])
    assert len(m.model.config["prior_diag"]) == m.model.config["embed"]
    t = m.result_.temperature  # the logit scale fitted on the val pairs first
    assert t is not None and 1 <= t["temperature"] <= 4 and t["val_nll_after"] <= t["val_nll_before"] + 1e-9
    untuned = plural.Model("per-user-bt").fit(pk.data, store, epochs=2, tune_prior=False)
    assert untuned.result_.prior is None and untuned.model.config["prior_var"] == 0
    assert untuned.result_.temperature is None
    cells = m.evaluate(pk.data, shots=[0])
    assert all(0 <= c["ece"] <= 1 and c["nll_ci95"][0] <= c["nll"] <= c["nll_ci95"][1] for c in cells)


def test_hierarchical_pal_adapts_both_parts_and_ranks_queries(persona2, tmp_path):
    pk, store = persona2
    m = plural.Model("pal-h", k=2, rank=4, proj="mlp1-gelu-dropout0").fit(pk.data, store, epochs=3, seed=0)
    assert m.result_.epochs_run == 6  # the mixture's stage, then the deviations'
    cfg = m.model.config
    assert cfg["prior_var"] == pytest.approx(m.result_.prior["variance"]) and len(cfg["prior_diag"]) == 4
    d = pk.data
    prompt = d.texts[d.columns()["prompt_a"][0]]
    s = m.adapt([(prompt, d.texts[1], d.texts[2]), (prompt, d.texts[3], d.texts[4])], user_id="me")
    assert s["theta"].shape == (2,) and s["delta"].shape == (4,) and s["cov"].shape == (6, 6)
    assert m.model.user_embedding(s)[0] == "mixture_weights"
    best = m.query([(prompt, d.texts[1], d.texts[1]), (prompt, d.texts[1], d.texts[2])], user=s, scorer="bald", n=2)
    assert best[0]["index"] == 1
    m.save(str(tmp_path / "h.pt"))
    again = plural.load(str(tmp_path / "h.pt"), store)
    assert again.prefer(d.texts[1], d.texts[2], s, prompt) == pytest.approx(m.prefer(d.texts[1], d.texts[2], s, prompt))


def test_fit_reports_each_epoch_to_a_callback_and_a_progress_bar(persona2, capsys, monkeypatch):
    pk, store = persona2
    seen = []

    def stop_after_three(epoch):
        seen.append(epoch)
        return epoch["epoch"] == 3

    m = plural.Model("bt").fit(pk.data, store, epochs=10, patience=0, callback=stop_after_three)
    assert [e["epoch"] for e in seen] == [1, 2, 3] and m.result_.epochs_run == 3
    assert [e["train_loss"] for e in seen] == [e["train_loss"] for e in m.history_]
    assert all(0 <= e["val_accuracy"] <= 1 for e in seen)  # fit carved validation pairs: real figures
    capsys.readouterr()
    plural.Model("bt").fit(pk.data, store, epochs=2, patience=0, progress=True)
    err = capsys.readouterr().err
    assert "bt" in err and "2/2" in err and "loss=" in err  # tqdm's bar, closed at the end
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # without tqdm: one plain line per epoch
    plural.Model("bt").fit(pk.data, store, epochs=2, patience=0, progress=True)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("bt epoch")]
    assert len(lines) == 2 and lines[1].startswith("bt epoch 2: loss ")

    stages = []  # a staged family's epochs are numbered on across its stages
    plural.Model("pal-h", k=2).fit(pk.data, store, epochs=2, patience=0,
                                   callback=lambda e: stages.append((e["epoch"], e["stage"])))
    assert stages == [(1, 0), (2, 0), (3, 1), (4, 1)]

    def broken(epoch):
        raise RuntimeError("my callback failed")

    with pytest.raises(RuntimeError, match="my callback failed"):
        plural.Model("bt").fit(pk.data, store, epochs=3, callback=broken)
    with pytest.raises(TypeError, match="callback must be callable"):
        plural.Model("bt").fit(pk.data, store, epochs=1, callback="print")

"""Preference data through the bindings: the label convention, readers and writers, Persona-K."""
import json

import numpy as np
import pytest

import plural


def test_label_convention_round_trip(tmp_path):
    # The same judgement three ways: chosen/rejected, a/b/label, and PAL's left/right/y (y = -1: left preferred).
    d = plural.preferences([
        {"user": "u", "prompt": "p", "chosen": "x", "rejected": "y"},
        {"user": "u", "prompt": "p", "a": "x", "b": "y", "label": 1.0},
        {"user": "u", "prompt": "p", "left": "x", "right": "y", "y": -1},
        {"user": "u", "prompt": "p", "left": "x", "right": "y", "y": 1},
    ])
    c = d.columns()
    x, y = d.find_text("x"), d.find_text("y")
    assert list(c["a"]) == [x] * 4 and list(c["b"]) == [y] * 4
    assert list(c["label"]) == [1.0, 1.0, 1.0, 0.0]
    path = str(tmp_path / "d.h5")
    d.write_h5(path)
    back = plural.read_preferences(path)
    assert back.texts == d.texts and back.user_ids == d.user_ids
    for name, col in back.columns().items():
        np.testing.assert_array_equal(col, c[name], err_msg=name)


def test_tuples_and_candidates():
    d = plural.preferences([("p", "good", "bad"), ("", "fine", "worse")])
    assert len(d) == 2 and d.has_prompts
    assert d.columns()["prompt_a"][1] == -1
    pool = plural.preferences([{"a": "x", "b": "y"}], unlabelled=True)
    assert pool.columns()["label"][0] == 0.5
    with pytest.raises(ValueError, match="tuple record is"):
        plural.preferences([("only", "two")])
    with pytest.raises(ValueError, match="no comparisons"):
        plural.preferences([])


def test_persona_k_has_ground_truth_and_splits():
    pk = plural.persona_k(k=3, behaviors=4, statements_per_behavior=50, seen_users=10, unseen_users=5,
                          train_pairs=20, seed=1)
    d = pk.data
    assert len(pk.prototypes) == 3 and len(pk.prototypes[0]) == 4
    assert len(pk.weights) == len(d.user_ids) == 15
    assert sum(d.user_seen) == 10
    assert len(d.rows("train", True)) == 10 * 20
    assert len(d.rows(plural.Split.support, False)) == 5 * 50
    with pytest.raises(TypeError, match="unknown option 'nope'"):
        plural.persona_k(nope=1)


def test_feature_cache_add_lookup_and_refusals(tmp_path):
    import torch
    cache = plural.FeatureCache(str(tmp_path / "c.h5"))
    f = torch.randn(3, 5)
    assert cache.add("mine", ["a", "b", "c"], f) == 3
    assert cache.add("mine", ["a", "d"], torch.randn(2, 5)) == 1  # "a" is already there
    assert torch.equal(cache.lookup("mine", ["c", "a"]), f[[2, 0]])
    with pytest.raises(ValueError, match="NaN"):
        cache.add("mine", ["e"], torch.full((1, 5), float("nan")))
    assert cache.rows("mine") == 4  # the failed add wrote nothing
    with pytest.raises(ValueError, match='text 0 "zzz"'):
        cache.lookup("mine", ["zzz"])


def test_margins_and_attribution():
    import random
    rng = random.Random(0)
    records, polite = [], {}
    for u in range(6):
        for i in range(60):
            a, b = f"answer {u}-{i}" + "!" * rng.randrange(40), f"reply {u}-{i}" + "?" * rng.randrange(40)
            polite[a], polite[b] = rng.random() < 0.5, rng.random() < 0.5
            # Users 0-2 reward politeness, 3-5 penalize it; nobody cares about length.
            s = (1 if u < 3 else -1) * 3 * (polite[a] - polite[b]) + rng.gauss(0, 0.5)
            records.append({"user": f"u{u}", "a": a, "b": b, "label": float(s > 0), "margin": 0.5})
    d = plural.preferences(records)
    assert set(d.columns()["margin"]) == {0.5}
    values = [float(polite.get(t, float("nan"))) for t in d.texts]
    r = plural._core.attribute_preferences(d, {"polite": values}, prior_sd=2.0)
    assert r["properties"] == ["log_length", "polite"] and r["usable"] == 360
    assert set(r["users"]) == {f"u{u}" for u in range(6)}
    for u in range(6):
        e = r["users"][f"u{u}"]["effects"]["polite"]
        assert (e["lo"] > 0) if u < 3 else (e["hi"] < 0), (u, e)
    assert r["population"]["polite"]["lo"] < 0 < r["population"]["polite"]["hi"]  # the camps cancel
    with pytest.raises(ValueError, match="property 'polite' has 3 values"):
        plural._core.attribute_preferences(d, {"polite": [1.0, 0.0, 1.0]})


def test_rationales_train_the_representation(tmp_path):
    import torch
    from conftest import oracle_persona
    pk, store = oracle_persona(str(tmp_path), seed=3, k=2, rationales=True, seen_users=20, unseen_users=2,
                               statements_per_behavior=60, train_pairs=40)
    d = pk.data
    assert d.has_rationales
    why = d.columns()["rationale"]
    assert (why >= 0).all()
    assert d.texts[why[0]].startswith("Preferred a statement that ")
    m = plural.Model("pal-b", k=2, dim=16).fit(d, store, epochs=3, patience=0, rationale_weight=0.5)
    assert "rationale_loss" in m.history_[-1], m.history_[-1]
    view = store.view(d)
    batch = view.batch([0, 1, 2])
    assert batch.rationale.shape == (3, view.features.shape[1]) and batch.rationale_id.tolist() == why[:3].tolist()
    h = m.model.item_representation(batch.a)
    assert h.shape == (3, 16)
    assert torch.allclose(h.norm(dim=1), torch.ones(3), atol=1e-5)  # PAL-B's representation is f(x)/|f(x)|
    plain = oracle_persona(str(tmp_path), seed=4, k=2, seen_users=4, unseen_users=1, statements_per_behavior=30,
                           train_pairs=10)
    with pytest.raises(ValueError, match="no comparison carries a 'rationale'"):
        plural.Model("bt").fit(plain[0].data, plain[1], epochs=1, rationale_weight=1.0)


def test_read_rlhf_reads_hh_and_trl_records_with_a_user(tmp_path):
    path = tmp_path / "hh.jsonl"
    path.write_text(json.dumps({"chosen": "\n\nHuman: Name a fruit\n\nAssistant: An apple.",
                                "rejected": "\n\nHuman: Name a fruit\n\nAssistant: A car."}) + "\n" +
                    json.dumps({"prompt": [{"role": "user", "content": "2+2?"}],
                                "chosen": [{"role": "assistant", "content": "4"}],
                                "rejected": [{"role": "assistant", "content": "5"}], "rater": "r9"}) + "\n")
    d = plural.read_rlhf(str(path), user="me")
    c, t = d.columns(), d.texts
    assert [t[c["prompt_a"][i]] for i in range(2)] == ["Human: Name a fruit", "2+2?"]
    assert [(t[c["a"][i]], t[c["b"][i]]) for i in range(2)] == [("An apple.", "A car."), ("4", "5")]
    assert d.user_ids == ["me"]
    plural._core.write_jsonl(d, str(tmp_path / "back.jsonl"))  # `plural export`: our schema, read back the same
    back = plural._core.read_jsonl(str(tmp_path / "back.jsonl"))
    assert [t[i] for i in c["a"]] == [back.texts[i] for i in back.columns()["a"]]
    with pytest.raises(ValueError, match=r"hh.jsonl:1: no 'rater' field"):
        plural.read_rlhf(str(path), user_field="rater")
    with pytest.raises(ValueError, match="not both"):
        plural.read_rlhf(str(path), user="me", user_field="rater")
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "a"}) + "\n" +
                    json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    with pytest.raises(ValueError, match="hh.jsonl:1.*the same response as chosen"):
        plural.read_rlhf(str(path), user="me")
    with pytest.warns(UserWarning, match="skipped 1 records.*hh.jsonl:1: the same response"):
        assert plural.read_rlhf(str(path), user="me", skip_unusable=True).columns()["a"].shape == (1,)

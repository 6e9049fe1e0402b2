"""Arguments of the wrong type or value are refused by name (issue #27, item 8): NaN labels, bools for numbers,
bytes and None for texts, a str where a list of texts is expected, ints beyond 64 bits; numpy scalars count as the
numbers they hold. And one FeatureStore serves several threads of one process."""
import threading

import numpy as np
import pytest
import torch

import plural


def _record(**fields):
    return dict({"user": "u", "a": "x", "b": "y", "label": 1.0}, **fields)


# ---- preferences(records) -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, shown", [(float("nan"), "NaN"), (np.float32("nan"), "NaN"), (float("inf"), "inf"),
                                        (-np.float64("inf"), "-inf")])
def test_a_non_finite_label_names_the_record_and_field(bad, shown):
    records = [_record(), _record(), _record(label=bad)]
    with pytest.raises(ValueError, match=rf"<records>:3: field 'label': {shown} is not a finite number"):
        plural.preferences(records)


def test_non_finite_weight_and_margin_are_refused_too():
    with pytest.raises(ValueError, match=r"<records>:1: field 'weight': inf"):
        plural.preferences([_record(weight=float("inf"))])
    with pytest.raises(ValueError, match=r"mine:2: field 'margin': NaN"):
        plural.preferences([_record(), _record(margin=np.float64("nan"))], source="mine")


def test_numpy_scalars_are_numbers():
    d = plural.preferences([_record(label=np.float32(0.75), weight=np.float64(2.0), margin=np.int64(1)),
                            _record(user=np.int64(7), label=np.int32(0)),
                            {"user": "u", "left": "x", "right": "y", "y": np.int8(-1)}])
    c = d.columns()
    assert list(c["label"]) == [0.75, 0.0, 1.0]
    assert c["weight"][0] == 2.0 and c["margin"][0] == 1.0
    assert d.user_ids == ["u", "7"]


@pytest.mark.parametrize("flag", [True, np.bool_(True), np.False_])
def test_a_bool_label_is_not_a_number(flag):
    with pytest.raises(TypeError, match=r"<records>:2: field 'label' must be a number, got bool .*write 1 or 0"):
        plural.preferences([_record(), _record(label=flag)])


@pytest.mark.parametrize("field", ["chosen", "rejected", "prompt"])
def test_bytes_are_not_text(field):
    record = {"chosen": "good", "rejected": "bad", "prompt": "p"}
    record[field] = record[field].encode()
    with pytest.raises(TypeError, match=rf"<records>:1: field '{field}' must be a string, got bytes.*decode"):
        plural.preferences([record])
    as_tuple = (record["prompt"], record["chosen"], record["rejected"])
    with pytest.raises(TypeError, match=rf"<records>:2: field '{field}' must be a string, got bytes"):
        plural.preferences([("p", "good", "bad"), as_tuple])


def test_none_and_numbers_where_text_is_expected_name_the_field():
    with pytest.raises(ValueError, match=r"<records>:1: field 'chosen': missing"):
        plural.preferences([{"chosen": None, "rejected": "bad"}])
    with pytest.raises(ValueError, match=r"<records>:2: field 'b': expected a string"):
        plural.preferences([_record(), _record(b=3)])


def test_records_must_be_a_list_of_records():
    for bad in ("abc", b"abc", {"chosen": "a", "rejected": "b"}, 3, None):
        with pytest.raises(TypeError, match=rf"records must be a list of records.*got {type(bad).__name__}"):
            plural.preferences(bad)
    for bad in ("abc", None, 3):
        with pytest.raises(TypeError, match=rf"<records>:2: expected a dict or a .* tuple, got {type(bad).__name__}"):
            plural.preferences([("p", "good", "bad"), bad])
    with pytest.raises(TypeError, match=r"<records>:1: field names must be strings"):
        plural.preferences([{"chosen": "a", "rejected": "b", 1: "x"}])


def test_huge_ints_in_records_are_out_of_range():
    with pytest.raises(ValueError, match=r"<records>:1: field 'user': 10{30} is out of range"):
        plural.preferences([_record(user=10 ** 30)])


# ---- Model(...) hyperparameters and fit(...) training options -----------------------------------------------------
def test_model_config_is_checked_by_name():
    with pytest.raises(ValueError, match=r"Model: option 'k': 10{30} is out of range \(a 64-bit integer\)"):
        plural.Model("pal-b", k=10 ** 30)
    with pytest.raises(ValueError, match=r"Model: option 'k': NaN is not a finite number"):
        plural.Model("pal-b", k=float("nan"))
    with pytest.raises(TypeError, match=r"Model: option 'proj' must be a string, got bytes"):
        plural.Model("pal-b", proj=b"linear")
    with pytest.raises(TypeError, match=r"Model: option 'k' must be a number, string, bool, list or dict, got object"):
        plural.Model("pal-b", k=object())
    with pytest.raises(TypeError, match=r"Model: family must be a string, got bytes"):
        plural.Model(b"pal-b")
    m = plural.Model("per-user-bt", embed=np.int64(3), hidden=np.array([8, 4]))
    assert m.config == {"embed": 3, "hidden": [8, 4]} and type(m.config["embed"]) is int


@pytest.fixture(scope="module")
def tiny(persona2):
    """PAL-B fitted for one epoch, every number given as a numpy scalar."""
    pk, store = persona2
    return plural.Model("pal-b", k=np.int64(2)).fit(pk.data, store, epochs=np.int64(1), patience=np.int32(0),
                                                     lr=np.float32(3e-3), user_lr=np.float64(5e-2),
                                                     batch_size=np.uint16(64), seed=np.int64(0))


def test_numpy_scalars_as_hyperparameters_and_training_options(tiny):
    assert tiny.model.config["k"] == 2
    assert tiny.result_.epochs_run == 1


@pytest.mark.parametrize("options, error, pattern", [
    ({"lr": float("nan")}, ValueError, r"fit: option 'lr': NaN is not a finite number"),
    ({"lr": np.float32("inf")}, ValueError, r"fit: option 'lr': inf is not a finite number"),
    ({"user_lr": "0.1"}, TypeError, r"fit: option 'user_lr' must be a number, got str"),
    ({"epochs": True}, TypeError, r"fit: option 'epochs' must be a number, got bool"),
    ({"epochs": 2.5}, ValueError, r"fit: option 'epochs': 2.5 is not a whole number"),
    ({"epochs": 10 ** 30}, ValueError, r"fit: option 'epochs': 10{30} is out of range"),
    ({"epochs": 2 ** 40}, ValueError, r"fit: option 'epochs': 1099511627776 is out of range"),
    ({"loss": b"bt"}, TypeError, r"fit: option 'loss' must be a string, got bytes"),
    ({"group_lr": {"scale": float("nan")}}, ValueError, r"fit: option 'group_lr'\['scale'\]: NaN"),
    ({"seed": -1}, ValueError, r"fit: seed: -1 is out of range"),
    ({"verbose": "yes"}, TypeError, r"fit: verbose must be True or False, got str"),
])
def test_bad_training_options_name_the_option(persona2, options, error, pattern):
    pk, store = persona2
    with pytest.raises(error, match=pattern):
        plural.Model("pal-b", k=2).fit(pk.data, store, **options)


def test_fit_refuses_what_is_not_data_or_a_store(persona2):
    pk, store = persona2
    with pytest.raises(TypeError, match=r"fit: data must be a plural.PreferenceData, got PersonaK .*\.data"):
        plural.Model("pal-b", k=2).fit(pk, store)
    with pytest.raises(TypeError, match=r"fit: features must be a plural.FeatureStore, got str"):
        plural.Model("pal-b", k=2).fit(pk.data, "cache.h5")


def test_persona_k_options_are_checked_by_name():
    with pytest.raises(ValueError, match=r"persona_k: option 'alpha': NaN"):
        plural.persona_k(k=2, alpha=float("nan"))
    with pytest.raises(TypeError, match=r"persona_k: k must be a number, got str"):
        plural.persona_k(k="2")
    with pytest.raises(TypeError, match=r"persona_k: option 'behavior_names' must be a list, got str"):
        plural.persona_k(k=2, behavior_names="abc")
    pk = plural.persona_k(k=np.int64(2), behaviors=np.int32(3), statements_per_behavior=np.int64(20),
                          seen_users=4, unseen_users=2, train_pairs=5, alpha=np.float32(0.5), seed=np.int64(1))
    assert len(pk.prototypes) == 2 and len(pk.behaviors) == 3


# ---- texts where a list of texts is expected ------------------------------------------------------------------------
@pytest.fixture
def hashed(tmp_path):
    return plural.FeatureStore(tmp_path / "hashed.h5", encoder="hashed:dim=64")


def test_a_str_is_not_a_list_of_texts(hashed):
    with pytest.raises(TypeError, match=r"^texts must be a list of strings, got str$"):
        hashed.features("abc")
    with pytest.raises(TypeError, match=r"^texts must be a list of strings, got bytes$"):
        hashed.features(b"abc")
    with pytest.raises(TypeError, match=r"^texts must be a list of strings, got NoneType$"):
        hashed(None)
    assert not hashed.cache.has_encoder(hashed.encoder_id)  # nothing was encoded: 'a', 'b', 'c' included


@pytest.mark.parametrize("bad, shown", [(b"b", "bytes"), (None, "NoneType"), (3, "int"), (np.float32(1), "float32")])
def test_every_text_must_be_a_str(hashed, bad, shown):
    with pytest.raises(TypeError, match=rf"^texts\[1\] must be a string, got {shown}"):
        hashed.features(["a", bad, "c"])
    # numpy strings are strings, and any iterable of texts will do.
    assert hashed.features(np.array(["a", "b"])).shape == (2, 64)
    assert torch.equal(hashed.features(t for t in ("b", "a")), hashed.features(["b", "a"]))


def test_feature_store_arguments(tmp_path):
    with pytest.raises(TypeError, match=r"FeatureStore: path must be a str or os.PathLike, got NoneType"):
        plural.FeatureStore(None, encoder="hashed:dim=64")
    with pytest.raises(TypeError, match=r"FeatureStore: path must be a str or os.PathLike, got bytes"):
        plural.FeatureStore(str(tmp_path / "c.h5").encode(), encoder="hashed:dim=64")
    with pytest.raises(TypeError, match=r"FeatureStore: encoder must be a string, got bytes"):
        plural.FeatureStore(tmp_path / "c.h5", encoder=b"hashed:dim=64")
    store = plural.FeatureStore(tmp_path / "c.h5", encoder="hashed:dim=64")
    with pytest.raises(TypeError, match=r"FeatureStore.view: data must be a plural.PreferenceData, got list"):
        store.view([("p", "a", "b")])


def test_model_text_arguments_name_the_argument(tiny, persona2):
    pk, _ = persona2
    texts, prompt = pk.data.texts[1:3], pk.data.texts[0]
    assert tiny.reward(texts, prompt=prompt).shape == (2,)
    assert tiny.reward(texts[0], prompt=prompt).shape == (1,)  # one str is one response, as documented
    with pytest.raises(TypeError, match=r"^responses must be a list of strings, got bytes$"):
        tiny.reward(texts[0].encode(), prompt=prompt)
    with pytest.raises(TypeError, match=r"^responses\[1\] must be a string, got NoneType$"):
        tiny.reward([texts[0], None], prompt=prompt)
    with pytest.raises(TypeError, match=r"^responses must be a list of strings, got str$"):
        tiny.items("abc", prompt=prompt)
    with pytest.raises(TypeError, match=r"^prompt must be a string, got bytes \(decode it first"):
        tiny.reward(texts, prompt=prompt.encode())
    with pytest.raises(TypeError, match=r"^b must be a string, got NoneType$"):
        tiny.prefer(texts[0], None, prompt=prompt)


def test_model_record_arguments_name_the_argument(tiny, persona2):
    pk, _ = persona2
    q, a, b = pk.data.texts[0], pk.data.texts[1], pk.data.texts[2]
    with pytest.raises(TypeError, match=r"^comparisons must be a PairBatch, PreferenceData or list of records"):
        tiny.adapt("abc")
    with pytest.raises(ValueError, match=r"^comparisons:2: field 'label': NaN is not a finite number"):
        tiny.predict_proba([{"prompt": q, "a": a, "b": b}, {"prompt": q, "a": b, "b": a, "label": float("nan")}])
    with pytest.raises(TypeError, match=r"^comparisons:1: field 'chosen' must be a string, got bytes"):
        tiny.score([(q, a.encode(), b)])
    with pytest.raises(TypeError, match=r"^candidates must be a QueryPool, PreferenceData or list"):
        tiny.query("abc")
    with pytest.raises(TypeError, match=r"^candidates:2: expected a \(prompt, a, b\) tuple or a dict, got str"):
        tiny.query([(q, a, b), "abc"])
    with pytest.raises(TypeError, match=r"^candidates:1: field 'a' must be a string, got bytes"):
        tiny.query([(q, a.encode(), b)])
    with pytest.raises(TypeError, match=r"^query: n must be a number, got str"):
        tiny.query([(q, a, b)], n="5")
    picks = tiny.query([(q, a, b), (q, b, a)], n=np.int64(1), seed=np.int64(0))
    assert len(picks) == 1


def test_adapter_and_evaluation_options_name_the_option(tiny, persona2):
    pk, _ = persona2
    shots = tiny.pairs(pk.data).select(torch.arange(4))
    with pytest.raises(ValueError, match=r"^adapt: option 'lr': NaN is not a finite number"):
        tiny.adapt(shots, adapter="adamw", lr=float("nan"))
    state = tiny.adapt(shots, adapter="adamw", lr=np.float32(0.05), epochs=np.int64(3))
    assert state.shots == 4
    with pytest.raises(TypeError, match=r"^adapt: user_id must be a string, got int"):
        tiny.adapt(shots, user_id=3)
    with pytest.raises(ValueError, match=r"^evaluate: split must be 'train', 'val', 'test' or 'support', got 'tset'"):
        tiny.evaluate(pk.data, shots=[0], split="tset")
    with pytest.raises(TypeError, match=r"^evaluate: shots must be a list of ints, got str"):
        tiny.evaluate(pk.data, shots="0")
    with pytest.raises(ValueError, match=r"^evaluate: shots\[1\]: 1.5 is not a whole number"):
        tiny.evaluate(pk.data, shots=[0, 1.5])
    with pytest.raises(ValueError, match=r"^evaluate: adapter_options\['lr'\]: inf is not a finite number"):
        tiny.evaluate(pk.data, shots=[1], adapter="adamw", adapter_options={"lr": float("inf")})
    with pytest.raises(ValueError, match=r"^accuracy_per_user: split must be"):
        tiny.accuracy_per_user(pk.data, split="everything")


# ---- one FeatureStore, several threads --------------------------------------------------------------------------------
def _run_threads(n, work):
    errors, start = [], threading.Barrier(n)

    def run(i):
        try:
            start.wait()
            work(i)
        except BaseException as e:  # noqa: B902  reported below, with the thread's number
            errors.append(f"thread {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_threads_share_one_feature_store(tmp_path):
    store = plural.FeatureStore(tmp_path / "shared.h5", encoder="hashed:dim=64")
    # Each thread scores texts nobody has cached yet, in rounds, half of them shared with the next thread.
    rounds, per_round = 6, 40
    texts = {(i, r): [f"text {(i + s) % 4} {r} {j}" for s in (0, 1) for j in range(per_round // 2)]
             for i in range(4) for r in range(rounds)}
    got = {}

    def work(i):
        for r in range(rounds):
            got[i, r] = store.features(texts[i, r])

    _run_threads(4, work)
    reference = plural.FeatureStore(tmp_path / "alone.h5", encoder="hashed:dim=64")
    for key, f in got.items():
        assert torch.equal(f, reference.features(texts[key])), key
    unique = {t for ts in texts.values() for t in ts}
    assert store.cache.rows(store.encoder_id) == len(unique)  # every text cached, once


def test_threads_with_their_own_store_on_one_file(tmp_path):
    # Two FeatureStores of one process on one file: their C++ writers would take the file's lock at the same time.
    stores = [plural.FeatureStore(tmp_path / "one.h5", encoder="hashed:dim=64") for _ in range(3)]
    got = {}

    def work(i):
        for r in range(5):
            batch = [f"store {i} round {r} text {j}" for j in range(30)] + [f"common {r} {j}" for j in range(10)]
            got[i, r] = (batch, stores[i].features(batch))
            data = plural.preferences([(None, batch[0], f"view {i} {r}")])  # one text cached, one not
            assert stores[i].view(data).features.shape[1] == 64
            got[i, r, "view"] = (data.texts, stores[i].features(data.texts))

    _run_threads(3, work)
    check = plural.FeatureStore(tmp_path / "one.h5", encoder="hashed:dim=64")
    for batch, f in got.values():
        assert torch.equal(f, check.features(batch))

"""Data a researcher already has: DataFrames, datasets.Dataset-like columns, dicts of columns, parquet, PRISM."""
import os
import sys

import numpy as np
import pytest

import plural
from plural.server import find_cli

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "data", "prism")


def _pairs(d):
    c, t = d.columns(), d.texts
    return [(d.user_ids[c["user"][i]], t[c["a"][i]], t[c["b"][i]], float(c["label"][i])) for i in range(len(d))]


def test_a_data_frame_is_read_column_by_column_like_its_records():
    pd = pytest.importorskip("pandas")  # a Debian test package (make test-deps), present wherever make test runs
    df = pd.DataFrame({"user": ["ann", "bob", "ann"], "prompt": ["p1", "p2", "p3"], "a": ["x", "y", "z"],
                       "b": ["u", "v", "w"], "label": np.array([1.0, 0.0, 0.25]), "weight": np.array([1, 2, 3])},
                      index=[10, 20, 30])
    from_df = plural.preferences(df)
    records = plural.preferences(df.to_dict("records"))
    assert _pairs(from_df) == _pairs(records) == [("ann", "x", "u", 1.0), ("bob", "y", "v", 0.0), ("ann", "z", "w", 0.25)]
    assert from_df.source == "<DataFrame>"
    assert list(from_df.columns()["weight"]) == [1, 2, 3]
    bad = df.copy()
    bad.loc[20, "label"] = np.nan
    with pytest.raises(ValueError, match=r"<DataFrame>:2: field 'label': missing value .* at index 20"):
        plural.preferences(bad)
    bad = df.copy()
    bad.loc[30, "b"] = None
    with pytest.raises(ValueError, match=r"<DataFrame>:3: field 'b': missing value"):
        plural.preferences(bad)
    bad = df.copy()
    bad["label"] = [1.0, 2.0, 0.0]
    with pytest.raises(ValueError, match=r"<DataFrame>:2: field 'label': must be in \[0, 1\]"):
        plural.preferences(bad)
    bad = df.rename(columns={"a": 0})
    with pytest.raises(TypeError, match="column names must be strings"):
        plural.preferences(bad)


def test_dict_columns_and_dataset_like_objects_need_no_json_round_trip():
    cols = {"prompt": ["q", "q"], "chosen": ["good", "fine"], "rejected": ["bad", "poor"]}
    d = plural.preferences(cols)
    assert _pairs(d) == [("user", "good", "bad", 1.0), ("user", "fine", "poor", 1.0)]
    assert "user" not in cols  # the caller's dict is left as it was

    class Dataset:  # what plural reads of a datasets.Dataset: column_names, features, ds[name] -> list
        column_names = ["user", "chosen", "rejected", "context"]
        features = {}

        def __getitem__(self, name):
            return {"user": [7, 8], "chosen": ["c1", "c2"], "rejected": ["r1", "r2"], "context": ["k", None]}[name]

    d = plural.preferences(Dataset())
    assert _pairs(d) == [("7", "c1", "r1", 1.0), ("8", "c2", "r2", 1.0)]
    assert list(d.columns()["context"] >= 0) == [True, False]  # None: no context for that row
    with pytest.raises(ValueError, match=r"<columns>:2: field 'label': nan \(a missing value\)"):
        plural.preferences({"a": ["x", "y"], "b": ["u", "v"], "label": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="column 'b' has 1 rows, the first column 2"):
        plural.preferences({"a": ["x", "y"], "b": ["u"], "label": [1, 0]})
    with pytest.raises(ValueError, match=r"<columns>:1: field 'chosen': expected a string, got number"):
        plural.preferences({"chosen": [3], "rejected": ["r"]})


def test_read_parquet_reads_columns_or_says_what_to_install(tmp_path, monkeypatch):
    try:
        import pyarrow  # noqa: F401  PyPI only: not a Debian package
    except ImportError:
        with pytest.raises(ImportError, match=r"needs pyarrow.*pip install pyarrow"):
            plural.read_parquet(str(tmp_path / "x.parquet"))
        return
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = str(tmp_path / "prefs.parquet")
    pq.write_table(pa.table({"user": ["u1", "u2"], "chosen": ["c1", "c2"], "rejected": ["r1", "r2"]}), path)
    assert _pairs(plural.read_parquet(path)) == [("u1", "c1", "r1", 1.0), ("u2", "c2", "r2", 1.0)]
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as on a Python without pyarrow
    with pytest.raises(ImportError, match=r"needs pyarrow.*pip install pyarrow"):
        plural.read_parquet(path)


def test_read_prism_turns_rated_responses_into_each_participants_comparisons():
    conversations = os.path.join(FIXTURE, "conversations.jsonl")
    d = plural.read_prism(conversations)
    assert len(d) == 18 and sorted(d.user_ids) == ["user0", "user1"]
    pairs = _pairs(d)
    assert ("user1", "Make a budget and track spending.", "Buy lottery tickets.", 1.0) in pairs
    with_context = plural.read_prism(conversations, survey=os.path.join(FIXTURE, "survey.jsonl"),
                                     context=["age", "gender"], keep_ties=True)
    assert len(with_context) == 19
    c = with_context.columns()
    assert {with_context.texts[i] for i in c["context"]} == {"age: 25-34 years old; gender: Female",
                                                             "age: 55-64 years old; gender: Male"}
    _, counts = plural._core.read_prism(conversations)
    assert counts == {"conversations": 3, "turns": 5, "pairs": 18, "ties": 1, "single_response_turns": 1}
    with pytest.raises(ValueError, match="give its path"):
        plural.read_prism(conversations, context=["age"])
    with pytest.raises(TypeError, match="read_prism: context must be a list of strings"):
        plural.read_prism(conversations, context="age")


def test_plural_import_prism_writes_the_same_data(tmp_path):
    import json
    import subprocess
    cli = find_cli()
    out = str(tmp_path / "prism.h5")
    r = subprocess.run([cli, "import", "prism", os.path.join(FIXTURE, "conversations.jsonl"), "-o", out,
                        "--survey", os.path.join(FIXTURE, "survey.jsonl"), "--context", "age,location.reside_country",
                        "--history", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["prism"]["pairs"] == 18 and report["prism"]["ties"] == 1
    written = plural._core.read_h5(out)
    expected = plural.read_prism(os.path.join(FIXTURE, "conversations.jsonl"),
                                 survey=os.path.join(FIXTURE, "survey.jsonl"),
                                 context=["age", "location.reside_country"], history=True)
    assert _pairs(written) == _pairs(expected)


def test_bundled_datasets_import_from_any_working_directory(tmp_path):
    import subprocess
    cli = os.path.abspath(find_cli())  # the test runs it from another directory
    persona = [cli, "import", "persona-k", "-o", "p.h5", "--seen-users", "4", "--unseen-users", "2",
               "--train-pairs", "10", "--test-pairs", "5", "--support-pairs", "5", "--statements-per-behavior", "20"]
    for cmd in (persona, [cli, "import", "ukp", "-o", "u.h5"]):
        r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)  # no data/ folder here
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.h5").exists() and (tmp_path / "u.h5").exists()
    moved = dict(os.environ, PLURAL_DATA_DIR=str(tmp_path / "nowhere"))  # an installed copy's data, elsewhere
    r = subprocess.run(persona, cwd=tmp_path, capture_output=True, text=True, env=moved)
    assert r.returncode != 0 and str(tmp_path / "nowhere" / "persona" / "statements.tsv.gz") in r.stderr

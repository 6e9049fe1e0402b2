"""Preference data from the bundled sets, from files, or from Python records."""
import json
import os
import warnings
from typing import Optional, Sequence

import numpy as np

from . import _build_info, _core
from ._check import as_bool, as_list, as_number, as_text, as_text_list, json_safe, set_field, set_fields

# Record fields that hold numbers: a bool there is refused (label True? write 1 or 0), as the C++ reader does.
_NUMBER_FIELDS = ("label", "weight", "margin", "y")


def data_path(*parts: str) -> str:
    """A path inside the bundled data/ folder (data/persona, data/ukpconvarg1): $PLURAL_DATA_DIR when set, else the
    source tree's data/ or, installed, the package's own."""
    root = os.environ.get("PLURAL_DATA_DIR") or _build_info.DATA_DIR
    path = os.path.join(root, *parts)
    if not os.path.exists(path):
        raise FileNotFoundError(f"bundled data not found: {path}")
    return path


def persona_k(k: int = 3, seed: int = 0, **options) -> _core.PersonaK:
    """Persona-K synthetic users (docs/persona_k.md): k ground-truth prototypes over persona statements.

    Options are PersonaKConfig fields (behaviors, alpha, seen_users, unseen_users, train_pairs, ...).
    """
    cfg = _core.PersonaKConfig()
    cfg.statements_path = data_path("persona", "statements.tsv.gz")
    set_field(cfg, "prototypes", k, "persona_k: k")
    set_field(cfg, "seed", seed, "persona_k: seed")
    set_fields(cfg, options, "persona_k", "PersonaKConfig")
    cfg.validate()
    return _core.generate_persona_k(cfg)


def ukp(seed: int = 0, **options) -> _core.PreferenceData:
    """UKPConvArg1 real annotators (workers with >= min_strict judgements; some held out as unseen users)."""
    cfg = _core.UkpConfig()
    cfg.dir = data_path("ukpconvarg1")
    set_field(cfg, "seed", seed, "ukp: seed")
    set_fields(cfg, options, "ukp", "UkpConfig")
    return _core.import_ukp(cfg)


def read_rlhf(path: str, user: Optional[str] = None, user_field: Optional[str] = None,
              skip_unusable: bool = False) -> _core.PreferenceData:
    """HH-RLHF, UltraFeedback-binarized and TRL preference files (.jsonl[.gz]; docs/data_format.md, "RLHF
    formats") as comparisons: `user` for every comparison, or the record field `user_field` (default "user").
    skip_unusable: leave out records whose responses are equal or empty (with a warning listing them) instead of
    raising."""
    if user is not None and user_field is not None:
        raise ValueError("read_rlhf: give user or user_field, not both")
    user = "" if user is None else as_text(user, "read_rlhf: user")
    user_field = "" if user_field is None else as_text(user_field, "read_rlhf: user_field")
    data, skipped = _core.read_rlhf(as_text(path, "read_rlhf: path"), user, user_field,
                                    as_bool(skip_unusable, "read_rlhf: skip_unusable"))
    if skipped:
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.warn(f"read_rlhf: skipped {len(skipped)} records whose responses are equal or empty: "
                      f"{'; '.join(skipped[:5])}{more}", stacklevel=2)
    return data


def read_prism(conversations: str, survey: Optional[str] = None, context: Sequence[str] = (), history: bool = False,
               keep_ties: bool = False) -> _core.PreferenceData:
    """PRISM (docs/data_format.md, "PRISM"): the responses each participant rated in the same turn of her
    conversations (conversations.jsonl) as her comparisons, the higher score chosen.

    context: survey.jsonl fields ("age", "location.reside_country") that become each comparison's context (needs
    `survey`); history: the prompt is the conversation so far, not only the turn's message; keep_ties: equal scores as
    label 0.5 instead of left out. ``plural._core.read_prism`` also returns the counts (pairs, ties, turns)."""
    fields = as_text_list(context, "read_prism: context")
    data, _ = _core.read_prism(as_text(conversations, "read_prism: conversations"),
                               "" if survey is None else as_text(survey, "read_prism: survey"), fields,
                               as_bool(history, "read_prism: history"), as_bool(keep_ties, "read_prism: keep_ties"))
    return data


def preferences(records, unlabelled: bool = False, source: Optional[str] = None) -> _core.PreferenceData:
    """PreferenceData from Python records or columns with the JSONL schema (docs/data_format.md).

    records is one of:
      - a list of records: dicts ({"user", "prompt", "chosen", "rejected"} or {"user", "a", "b", "label"}, plus
        optional "context", "weight", "margin", "rationale", "split") or (prompt, chosen, rejected) tuples for one user;
      - columns with those fields: a pandas DataFrame, a Hugging Face ``datasets.Dataset``, or a dict of equally long
        sequences (pyarrow's ``Table.to_pydict()``), read column by column without a JSON round trip.
    Errors name the record or row (numbered from 1, as `source`:n) and its field or column; a DataFrame's missing value
    (NaN, None) is an error naming its row, index label and column. numpy scalars are the numbers they hold. Without a
    "user" field every comparison is one user's ("user").
    """
    unlabelled = as_bool(unlabelled, "unlabelled")
    if _is_columnar(records):
        return _from_columns(records, unlabelled, source)
    source = as_text("<records>" if source is None else source, "source")
    records = as_list(records, "records", "a list of records (dicts or (prompt, chosen, rejected) tuples)")
    lines = [json.dumps(_record(r, f"{source}:{i + 1}", unlabelled), allow_nan=False) for i, r in enumerate(records)]
    if not lines:
        raise ValueError(f"{source}: no comparisons")
    return _core.PreferenceData.from_json_records(lines, source, unlabelled)


def _record(r, where: str, unlabelled: bool) -> dict:
    """One record as a JSON-ready dict, its values checked here: json.dumps would write NaN as invalid JSON, fail on
    numpy scalars, and the reader would see a stringified key or a wrapped-around integer instead of the mistake."""
    if isinstance(r, (tuple, list)):
        if len(r) != 3:
            raise ValueError(f"{where}: a tuple record is (prompt, chosen, rejected), got {len(r)} items")
        prompt, chosen, rejected = r
        r = {"chosen": chosen, "rejected": rejected}
        if prompt is not None and not (isinstance(prompt, str) and not prompt):  # "" or None: no prompt
            r["prompt"] = prompt
    elif not isinstance(r, dict):
        raise TypeError(f"{where}: expected a dict or a (prompt, chosen, rejected) tuple, got {type(r).__name__}")
    out = {}
    for key, value in r.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: field names must be strings, got {type(key).__name__} {key!r}")
        field = f"{where}: field '{key}'"
        if key in _NUMBER_FIELDS and value is not None:
            value = as_number(value, field)
        out[key] = json_safe(value, field)
    if "user" not in out and not unlabelled:
        out["user"] = "user"
    return out


def read_parquet(path: str, unlabelled: bool = False) -> _core.PreferenceData:
    """A parquet file whose columns are the JSONL schema's fields (docs/data_format.md), read through pyarrow."""
    path = as_text(path, "read_parquet: path")
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"read_parquet({path!r}) needs pyarrow, which this Python cannot import: "
                          f"pip install pyarrow (or write the data as .jsonl and use plural.read_preferences)") from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise ValueError(f"{path}: not a readable parquet file: {e}") from None
    return _from_columns(table.to_pydict(), unlabelled, path)


def _is_columnar(records) -> bool:
    return isinstance(records, dict) or _is_data_frame(records) or _is_hf_dataset(records)


def _is_data_frame(obj) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "isna") and hasattr(obj, "columns")


def _is_hf_dataset(obj) -> bool:
    return hasattr(obj, "column_names") and hasattr(obj, "features") and not isinstance(obj, dict)


def _from_columns(records, unlabelled: bool, source: Optional[str]) -> _core.PreferenceData:
    """{column: list} from a DataFrame, a datasets.Dataset or a dict of sequences, then the C++ reader."""
    if _is_data_frame(records):
        source = "<DataFrame>" if source is None else as_text(source, "source")
        columns = _data_frame_columns(records, source)
    elif _is_hf_dataset(records):
        source = "<Dataset>" if source is None else as_text(source, "source")
        if isinstance(records.column_names, dict):  # a DatasetDict: {split: names}
            raise TypeError(f"{source}: a DatasetDict holds several splits ({', '.join(records.column_names)}): "
                            f"pass one, e.g. ds['train']")
        columns = {name: records[name] for name in records.column_names}
    else:
        source = "<columns>" if source is None else as_text(source, "source")
        columns = dict(records)
    for name, values in columns.items():
        if not isinstance(name, str):
            raise TypeError(f"{source}: column names must be strings, got {type(name).__name__} {name!r}")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise TypeError(f"records must be a list of records or a dict of columns; got dict whose '{name}' is "
                            f"{type(values).__name__}, not a sequence (one record goes in a list: [record])")
    if "user" not in columns and not unlabelled and columns:
        columns["user"] = ["user"] * len(next(iter(columns.values())))
    return _core.PreferenceData.from_columns(columns, source, unlabelled)


def _data_frame_columns(df, source: str) -> dict:
    """Each column as a list of Python values; a missing value is an error naming its row, index label and column."""
    missing = df.isna()
    for name in df.columns:
        rows = np.flatnonzero(missing[name].to_numpy())
        if len(rows):
            i = int(rows[0])
            more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
            raise ValueError(f"{source}:{i + 1}: field '{name}': missing value (NaN or None) at index "
                             f"{df.index[i]!r}{more}: fill it or drop the row")
    return {name: df[name].tolist() for name in df.columns}

"""Preference data from the bundled sets, from files, or from Python records."""
import json
import os
import warnings
from typing import Optional

from . import _build_info, _core
from ._check import as_bool, as_list, as_number, as_text, json_safe, set_field, set_fields

# Record fields that hold numbers: a bool there is refused (label True? write 1 or 0), as the C++ reader does.
_NUMBER_FIELDS = ("label", "weight", "margin", "y")


def data_path(*parts: str) -> str:
    """A path inside the project's bundled data/ folder (data/persona, data/ukpconvarg1)."""
    path = os.path.join(_build_info.SOURCE_DIR, "data", *parts)
    if not os.path.exists(path):
        raise FileNotFoundError(f"bundled data not found: {path} (plural was built from {_build_info.SOURCE_DIR})")
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


def preferences(records, unlabelled: bool = False, source: str = "<records>") -> _core.PreferenceData:
    """PreferenceData from Python records with the JSONL schema (docs/data_format.md).

    Each record is a dict ({"user", "prompt", "chosen", "rejected"} or {"user", "a", "b", "label"}, plus optional
    "context", "weight", "margin", "rationale", "split") or a tuple (prompt, chosen, rejected) for one user. Errors name
    the record (numbered from 1, as `source`:n) and its field. numpy scalars are accepted as the numbers they hold.
    """
    source = as_text(source, "source")
    unlabelled = as_bool(unlabelled, "unlabelled")
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

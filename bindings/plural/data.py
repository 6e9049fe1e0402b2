"""Preference data from the bundled sets, from files, or from Python records."""
import json
import os

from . import _build_info, _core


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
    cfg.prototypes = k
    cfg.seed = seed
    for name, value in options.items():
        if not hasattr(cfg, name) or name.startswith("_"):
            raise TypeError(f"persona_k: unknown option '{name}' (PersonaKConfig has no such field)")
        setattr(cfg, name, value)
    cfg.validate()
    return _core.generate_persona_k(cfg)


def ukp(seed: int = 0, **options) -> _core.PreferenceData:
    """UKPConvArg1 real annotators (workers with >= min_strict judgements; some held out as unseen users)."""
    cfg = _core.UkpConfig()
    cfg.dir = data_path("ukpconvarg1")
    cfg.seed = seed
    for name, value in options.items():
        if not hasattr(cfg, name) or name.startswith("_"):
            raise TypeError(f"ukp: unknown option '{name}' (UkpConfig has no such field)")
        setattr(cfg, name, value)
    return _core.import_ukp(cfg)


def preferences(records, unlabelled: bool = False, source: str = "<records>") -> _core.PreferenceData:
    """PreferenceData from Python records with the JSONL schema (docs/data_format.md).

    Each record is a dict ({"user", "prompt", "chosen", "rejected"} or {"user", "a", "b", "label"}, plus optional
    "context", "weight", "margin", "rationale", "split") or a tuple (prompt, chosen, rejected) for one user. Errors name the record.
    """
    lines = []
    for i, r in enumerate(records):
        if isinstance(r, (tuple, list)):
            if len(r) != 3:
                raise ValueError(f"{source}:{i + 1}: a tuple record is (prompt, chosen, rejected), got {len(r)} items")
            prompt, chosen, rejected = r
            r = {"chosen": chosen, "rejected": rejected}
            if prompt:
                r["prompt"] = prompt
        elif not isinstance(r, dict):
            raise ValueError(f"{source}:{i + 1}: expected a dict or a (prompt, chosen, rejected) tuple, "
                             f"got {type(r).__name__}")
        if "user" not in r and not unlabelled:
            r = dict(r, user="user")
        lines.append(json.dumps(r))
    if not lines:
        raise ValueError(f"{source}: no comparisons")
    return _core.PreferenceData.from_json_records(lines, source, unlabelled)

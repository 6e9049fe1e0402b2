"""Model: any plural reward-model family behind one scikit-learn-shaped estimator.

A thin layer over the C++ session (core/session/personalizer.hpp, here ``model.session``): fitting goes through
``_core.fit_family`` (the same fit as ``plural train``), adapting, rewards, preferences, queries and user vectors
through the session. Texts become feature rows through the FeatureStore, which serializes access to its cache file.

    model = plural.Model("pal-b", k=3).fit(data, store)
    model.evaluate(data)                                   # seen/unseen x shots grid
    me = model.adapt([(prompt, chosen, rejected), ...])    # a new user's UserState; shared weights untouched
    model.reward(responses, user=me, prompt=prompt)        # rewards for that user
    model.query(candidates, user=me, scorer="bald", n=5)   # which pairs to ask her next
    model.save("pal-b.pt"); plural.load("pal-b.pt", store)
"""
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from . import _core
from ._check import as_bool, as_list, as_number, as_text, as_text_list, json_options, json_safe, set_field, set_fields
from .data import preferences
from .features import FeatureStore
from .progress import EpochReporter

User = Union[None, str, _core.UserState]


def _cell_dict(c: _core.GridCell) -> dict:
    return {"users": c.users, "shots": None if c.shots < 0 else c.shots, "pairs": c.pairs.pairs,
            "accuracy": c.pairs.accuracy, "accuracy_ci95": (c.pairs.acc_lo, c.pairs.acc_hi), "nll": c.pairs.nll,
            "nll_ci95": (c.pairs.nll_lo, c.pairs.nll_hi), "brier": c.pairs.brier, "ece": c.pairs.ece,
            "n_users": c.per_user.n, "user_accuracy_mean": c.per_user.mean,
            "user_accuracy_ci95": (c.per_user.lo, c.per_user.hi),
            "user_accuracy_worst_decile": c.per_user.worst_decile}


class Model:
    """A reward model of one family ("bt", "per-user-bt", "pal-a", "pal-b", "lore", "vpl", ...).

    Keyword arguments are the family's hyperparameters (e.g. k=3, dim=64), as the family declares them in C++
    (``plural.family_config(family)`` lists name, type, default, range and help). Unknown names, and numbers that
    are not finite or do not fit 64 bits, are a ValueError here; values out of the family's range one at fit.
    """

    classes_ = np.array([0, 1])  # predict's labels: 1 = a preferred (scikit-learn's classifier convention)

    def __init__(self, family: str = "pal-b", **config):
        self._params = {"family": family, **config}  # as given: get_params returns these very objects (clone)
        family = as_text(family, "Model: family")
        self.auto_: Optional[dict] = None
        if family == "auto":
            self._init_auto(**config)
            return
        _core.require_model_family(family)
        self.family = family
        # Checked now, as JSON: json.dumps writes NaN as invalid JSON, fails on numpy scalars, and an int beyond
        # 64 bits would reach the C++ side wrapped around (k=10**30 read as -9223372036854775808).
        self.config = json_options(config, "Model")
        known = {f["name"] for f in _core.family_config(family)}
        unknown = sorted(set(self.config) - known)
        if unknown:
            raise ValueError(f"Model: {family} has no config key {', '.join(map(repr, unknown))} "
                             f"(its keys: {', '.join(sorted(known))})")
        self.core_: Optional[_core.RewardModel] = None
        self.features_: Optional[FeatureStore] = None
        self.session_: Optional[_core.Personalizer] = None
        self.history_: List[dict] = []
        self.val_carved_ = 0  # train pairs fit() held out for validation (data without a val split)
        self.result_: Optional[_core.TrainResult] = None

    def _init_auto(self, budget_minutes: float = 0.0, candidates: Optional[Sequence] = None):
        """Model("auto"): fit() trains every candidate and keeps the lowest validation NLL, as
        ``plural train --model auto`` does; afterwards ``family`` and ``config`` are the winner's and ``auto_`` holds
        the table (``auto_["candidates"]``, each with val_accuracy, val_nll, seconds, or the reason it was skipped).
        candidates: (family, k) pairs, k = 0 for the family's default; None = the default list."""
        self.family, self.config = "auto", {}
        self.budget_minutes_ = as_number(budget_minutes, "Model: budget_minutes")
        self.candidates_ = []
        for i, c in enumerate(as_list(candidates or [], "Model: candidates", "a list of (family, k) pairs")):
            family, k = (c, 0) if isinstance(c, str) else tuple(c)
            _core.require_model_family(as_text(family, f"Model: candidates[{i}]"))
            self.candidates_.append((family, as_number(k, f"Model: candidates[{i}] k", integer=True)))
        self.auto_ = {"candidates": []}
        self.core_, self.features_, self.session_, self.result_ = None, None, None, None
        self.history_, self.val_carved_ = [], 0

    def _fit_auto(self, view, cfg, epochs_given: bool) -> None:
        self.core_, self.result_, rows, winner = _core.fit_auto(
            view, self.candidates_, self.budget_minutes_, cfg.seed, cfg.epochs if epochs_given else 0,
            cfg.val_carved)
        self.auto_ = {"candidates": rows, "winner": rows[winner]["name"]}
        self.family, self.config = self.core_.family, self.core_.config

    # ---- training and evaluation ---------------------------------------------------------------------------
    def fit(self, data: _core.PreferenceData, features: FeatureStore, *, seed: int = 0, verbose: bool = False,
            graded_variants: Optional[_core.GradedVariants] = None, val: str = "auto", progress: bool = False,
            callback: Optional[Callable[[dict], object]] = None, **train_options) -> "Model":
        """Trains on the seen users' train pairs (early stopping on their val pairs).

        val: "auto" holds out about 10 % of each seen user's train pairs (none from users with fewer than 5) when the
        data has no val comparisons, as `plural train` does (``self.val_carved_`` says how many); "none" trains on
        all of them for the given epochs.

        train_options are TrainConfig fields (epochs, lr, user_lr, batch_size, patience, loss, rationale_weight,
        spo_weight, ...); the rest come from the family's measured defaults (plural.default_train_config). TRL's
        names are accepted too: learning_rate, num_train_epochs, per_device_train_batch_size, weight_decay,
        max_grad_norm, seed (TRL_ALIASES).
        graded_variants: from plural._core.read_graded_variants(path, data), for spo_weight > 0.
        progress: a tqdm.auto bar over the epochs (a widget in Jupyter with ipywidgets, else text; one line per epoch
            without tqdm).
        verbose: the C++ trainer's own bar of each epoch's steps on stderr (lines when stderr is a log).
        callback: called after each epoch's validation with its dict (epoch, train_loss, val_loss, val_accuracy,
        seconds, ...); a true return stops training there, keeping the best epoch's weights.
        """
        _check_data(data, "fit")
        _check_store(features, "fit")
        train_options = _trl_names(train_options)
        if val not in ("auto", "none"):
            raise ValueError(f"fit: val must be 'auto' or 'none', got {val!r}")
        auto = self.auto_ is not None
        if auto and (progress or callback is not None):
            raise ValueError("fit: Model('auto') trains several candidates; it takes no progress or callback "
                             "(verbose=True shows each candidate's epochs on stderr)")
        if auto and set(train_options) - {"epochs"}:
            raise ValueError(f"fit: Model('auto') trains each candidate with its defaults; only epochs may be given, "
                             f"not {', '.join(sorted(set(train_options) - {'epochs'}))}")
        cfg = _core.default_train_config("bt" if auto else self.family)
        set_fields(cfg, train_options, "fit", "TrainConfig")
        set_field(cfg, "seed", seed, "fit: seed")
        set_field(cfg, "progress", verbose, "fit: verbose")
        self.val_carved_ = 0
        if val == "auto" and not _core.has_validation(data):
            data, self.val_carved_ = _core.with_validation(data, cfg.seed)
            cfg.val_carved = self.val_carved_
        cfg.encoder_id = features.encoder_id
        view = features.view(data)
        if graded_variants is not None:
            view.set_graded_variants(graded_variants)
        if auto:
            self._fit_auto(view, cfg, "epochs" in train_options)
        else:
            reporter = EpochReporter(cfg.epochs, self.family, as_bool(progress, "fit: progress"), callback)
            try:
                self.core_, self.result_ = _core.fit_family(self.family, view, self.config, cfg, reporter)
            finally:
                reporter.close()
        self.features_ = features
        self.history_ = self.result_.history
        return self

    @property
    def model(self) -> _core.RewardModel:
        if self.core_ is None:
            raise RuntimeError(f"this {self.family} Model is not fitted yet: call fit() or plural.load()")
        return self.core_

    @property
    def session(self) -> _core.Personalizer:
        """The C++ session over this model; it reads feature rows the FeatureStore has cached."""
        model = self.model
        if self.session_ is None or self.session_.model is not model:
            store = self._features()
            self.session_ = _core.Personalizer(model, store.cache, store.encoder_id)
        return self.session_

    @property
    def users(self) -> List[str]:
        """Ids of the users it was trained on (its seen users), in row order."""
        return self.model.users

    def evaluate(self, data: _core.PreferenceData, shots: Sequence[int] = (0, 1, 2, 5, 10, 20, 50),
                 adapter: str = "", adapter_options: Optional[dict] = None, seed: int = 0,
                 split: str = "test") -> List[dict]:
        """The seen/unseen x shots grid: accuracy with 95% CIs, NLL, Brier, per-user accuracy."""
        cfg = _core.EvalConfig()
        cfg.shots = [as_number(n, f"evaluate: shots[{i}]", integer=True)
                     for i, n in enumerate(as_list(shots, "evaluate: shots", "a list of ints"))]
        cfg.adapter = as_text(adapter, "evaluate: adapter")
        cfg.adapter_options = "{}" if adapter_options is None else _json(adapter_options, "evaluate: adapter_options")
        set_field(cfg, "seed", seed, "evaluate: seed")
        cfg.split = _split(split, "evaluate")
        view = self._features().view(data)
        return [_cell_dict(c) for c in _core.evaluate_grid(self.model, view, cfg)]

    def accuracy_per_user(self, data: _core.PreferenceData, split: str = "test") -> Dict[str, float]:
        """Accuracy of each seen user on her own pairs of one split (strict labels only), with her trained state."""
        view = self._features().view(data)
        view.bind(self.model)
        rows = view.rows(_split(split, "accuracy_per_user"), True)
        batch = view.batch(rows)
        logits = _core.score_pairs(self.model, batch)
        users = torch.as_tensor(data.columns()["user"])[rows]
        label = batch.label
        strict = label != 0.5
        correct = ((logits > 0) == (label > 0.5)) & strict
        out = {}
        ids = data.user_ids
        for u in torch.unique(users).tolist():
            m = (users == u) & strict
            if m.any():
                out[ids[u]] = float(correct[m].sum() / m.sum())
        return out

    # ---- users -----------------------------------------------------------------------------------------------
    def state(self, user: User = None) -> _core.UserState:
        """A UserState: None = the population prior, a seen user's id, or a state (checked to be this model's)."""
        if isinstance(user, _core.UserState):
            self.model.check_state(user)
            return user
        return self.model.seen_state(user)

    def adapt(self, comparisons, user_id: str = "new-user", adapter: str = "",
              **adapter_options) -> _core.UserState:
        """A new user's UserState from her few comparisons; the model's weights are not changed.

        comparisons: a PairBatch, PreferenceData, or records — (prompt, chosen, rejected) tuples or dicts with the
        JSONL schema. An empty list gives the prior state (no comparisons = no information).
        """
        user_id = as_text(user_id, "adapt: user_id")
        options = _json(json_options(adapter_options, "adapt"), "adapt") if adapter_options else None
        return self.session.adapt_rows(user_id, self.pairs(comparisons), as_text(adapter, "adapt: adapter"), options)

    def user_embeddings(self) -> np.ndarray:
        """Each seen user's learned vector, in row order: simplex weights softmax(theta) for PAL/LoRe, the latent
        mean for VPL, the personal head for per-user BT."""
        states = [self.model.seen_state(r) for r in range(len(self.users))]
        if not states:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = [self.session.user_embedding(s) for s in states]
        if vectors[0][0] == "none":
            raise ValueError(f"user_embeddings: a {self.family} model has no per-user vector")
        return torch.stack([v for _, v in vectors]).numpy()

    # ---- scoring ---------------------------------------------------------------------------------------------
    def items(self, responses: Sequence[str], prompt: Optional[str] = None) -> _core.ItemBatch:
        responses = as_text_list(responses, "responses")
        if prompt is not None:
            prompt = as_text(prompt, "prompt")
        x = self._features().features(responses)
        if self.model.dims.prompt_dim > 0:
            if prompt is None:
                raise ValueError(f"this {self.family} model uses prompts: give prompt=...")
            p = self._features().features([prompt]).expand(len(responses), -1)
            return _core.ItemBatch(x, p)
        return _core.ItemBatch(x)

    def reward(self, responses: Union[str, Sequence[str]], user: User = None,
               prompt: Optional[str] = None) -> np.ndarray:
        """Rewards of responses (to one prompt) for a user: None, a seen id, or a UserState from adapt().

        responses: a list of texts, or one text (a str, which gives one reward; bytes are refused)."""
        if isinstance(responses, str):
            responses = [responses]
        return self.session.rewards_rows(self.state(user), self.items(responses, prompt)).numpy()

    def prefer(self, a: str, b: str, user: User = None, prompt: Optional[str] = None) -> float:
        """P(user prefers response a to response b): the session's prediction, as prefer_proba and the C++
        Personalizer give it (for an adapted user, her posterior predictive, not a reward difference)."""
        record = _candidate((prompt, as_text(a, "a"), as_text(b, "b")), 0)
        return float(self.prefer_proba([record], user)[0])

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments ({"family": ..., **config}), as scikit-learn's clone uses them (fit takes
        (data, features), not sklearn's (X, y), so sklearn's search classes cannot fit it directly)."""
        return dict(self._params)

    def set_params(self, **params) -> "Model":
        """New constructor arguments, validated as the constructor does (on error nothing changes); the model is then
        unfitted and must be fitted again."""
        fresh = type(self)(**{**self._params, **params})
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)
        return self

    def prefer_proba(self, comparisons, user: User = None) -> np.ndarray:
        """P(a preferred to b) [n] for each comparison (records, PreferenceData or PairBatch), for one user."""
        batch = self.pairs(comparisons, unlabelled=True)
        if batch is None:
            return np.zeros(0, dtype=np.float32)
        return self.session.preferences(self.state(user), batch).numpy()

    def predict_proba(self, comparisons, user: User = None) -> np.ndarray:
        """[n, 2]: P(b preferred), P(a preferred) per comparison — scikit-learn's shape, columns in classes_ order."""
        p = self.prefer_proba(comparisons, user)
        return np.stack([1 - p, p], axis=1)

    def predict(self, comparisons, user: User = None) -> np.ndarray:
        """1 where she is predicted to prefer a, else 0 (the label convention of the data)."""
        return (self.prefer_proba(comparisons, user) > 0.5).astype(np.int64)

    def score(self, comparisons, user: User = None) -> float:
        """Accuracy on labelled comparisons for one user (pairs with label 0.5 are not counted)."""
        batch = self.pairs(comparisons)
        if batch is None:
            raise ValueError("score: no comparisons")
        logits = _core.score_pairs(self.model, batch, self.state(user))
        strict = batch.label != 0.5
        if not strict.any():
            raise ValueError("score: every comparison is a tie (label 0.5); accuracy is undefined")
        return float(((logits > 0) == (batch.label > 0.5))[strict].float().mean())

    def pairs(self, comparisons, unlabelled: bool = False) -> _core.PairBatch:
        """Comparisons (PairBatch, PreferenceData or records) as the feature-row PairBatch models take."""
        if isinstance(comparisons, _core.PairBatch):
            return comparisons
        if not isinstance(comparisons, _core.PreferenceData):
            comparisons = as_list(comparisons, "comparisons", "a PairBatch, PreferenceData or list of records "
                                  "(dicts or (prompt, chosen, rejected) tuples)")
            if not comparisons:
                return None  # the adapter's prior
            comparisons = preferences(comparisons, unlabelled=unlabelled, source="comparisons")
        view = self._features().view(comparisons)
        return view.batch(torch.arange(len(comparisons)))

    def query(self, candidates, user: User = None, scorer: str = "bald", n: int = 5, seed: int = 0,
              batch: bool = True, min_gain: Optional[float] = None) -> List[dict]:
        """The n candidate pairs most worth asking this user next, in the order chosen.

        candidates: (prompt, a, b) tuples, dicts {"prompt", "a", "b"}, PreferenceData, or a QueryPool prepared
        with prepare(). batch: choose the n together, each scored as if the earlier ones were answered (False: the
        top n by score). min_gain: leave out pairs whose gain is below it; an empty list means stop asking.
        Returns dicts with the candidate's index, score and gain (and its texts when known).
        """
        n = max(0, as_number(n, "query: n", integer=True))
        scorer = as_text(scorer, "query: scorer")
        seed = as_number(seed, "query: seed", integer=True)
        floor = -1e300 if min_gain is None else as_number(min_gain, "query: min_gain")
        texts = None
        if isinstance(candidates, _core.QueryPool):  # prepared once, reused across users: score it here
            state, chooser = self.state(user), _core.make_query_scorer(scorer, seed)
            scores = chooser.score(self.model, state, candidates)
            order, gain = _core.choose_batch(self.model, state, candidates, chooser, scores, n, bool(batch), floor)
        else:
            _core.make_query_scorer(scorer, seed)  # an unknown scorer fails before any encoding
            if not isinstance(candidates, _core.PreferenceData):
                records = as_list(candidates, "candidates",
                                  "a QueryPool, PreferenceData or list of (prompt, a, b) tuples or dicts")
                candidates = preferences([_candidate(c, i) for i, c in enumerate(records)], unlabelled=True,
                                         source="candidates")
            texts = candidates
            ranking = self.session.query(self.state(user), self.pairs(candidates, unlabelled=True), scorer, n, seed,
                                         bool(batch), floor)
            scores, order, gain = ranking["scores"], ranking["order"], ranking["gain"]
        out = []
        cols = texts.columns() if texts is not None else None
        for i, g in zip(order, gain):
            d = {"index": i, "score": float(scores[i]), "gain": float(g)}
            if cols is not None:
                t = texts.texts
                d["a"], d["b"] = t[cols["a"][i]], t[cols["b"][i]]
                if cols["prompt_a"][i] >= 0:
                    d["prompt"] = t[cols["prompt_a"][i]]
            out.append(d)
        return out

    def prepare(self, candidates) -> _core.QueryPool:
        """A candidate pool prepared once for this model (reuse it across users and rounds)."""
        return _core.prepare_pool(self.model, self.pairs(candidates, unlabelled=True))

    # ---- persistence -----------------------------------------------------------------------------------------
    def save(self, path: str) -> None:
        self.session.save(str(path))

    def _features(self) -> FeatureStore:
        if self.features_ is None:
            raise RuntimeError("this Model has no FeatureStore: fit() it, or load() it with one")
        return self.features_

    def __repr__(self) -> str:
        state = "unfitted" if self.core_ is None else f"{len(self.users)} seen users"
        return f"Model({self.family!r}, {self.config}, {state})"


def load(path: str, features: FeatureStore) -> Model:
    """A saved model (any family) with the FeatureStore its texts are read through (same encoder as training)."""
    _check_store(features, "load")
    core, encoder_id = _core.load_model(str(path))
    if encoder_id and features.encoder_id != encoder_id:
        raise ValueError(f"load: {path} was trained on features '{encoder_id}', but the FeatureStore gives "
                         f"'{features.encoder_id}'")
    m = Model(core.family, **core.config)
    m.core_, m.features_ = core, features
    return m


# TRL / transformers TrainingArguments names a TRL user reaches for -> TrainConfig fields.
TRL_ALIASES = {"learning_rate": "lr", "num_train_epochs": "epochs", "per_device_train_batch_size": "batch_size"}


def _trl_names(options: dict) -> dict:
    """train options with TRL's names mapped to ours; both names of one field, or max_length, are a ValueError."""
    if "max_length" in options:
        raise ValueError("fit: max_length is the encoder's, not training's: texts are truncated when encoded "
                         "(minilm: 256 tokens); the features are fixed before fit")
    out = {}
    for name, value in options.items():
        ours = TRL_ALIASES.get(name, name)
        if ours in out:
            raise ValueError(f"fit: {name!r} and {ours!r} name the same setting; give one")
        out[ours] = value
    return out


def _json(obj, where: str) -> str:
    """obj as the JSON text the C++ side parses, checked first (see json_safe)."""
    import json
    return json.dumps(json_safe(obj, where), allow_nan=False)


def _split(split, where: str) -> _core.Split:
    if isinstance(split, _core.Split):
        return split
    name = as_text(split, f"{where}: split")
    if name not in ("train", "val", "test", "support"):
        raise ValueError(f"{where}: split must be 'train', 'val', 'test' or 'support', got {name!r}")
    return getattr(_core.Split, name)


def _candidate(c, i: int) -> dict:
    """A query candidate as a record: (prompt, a, b) or a dict; empty fields (no prompt) are left out."""
    if isinstance(c, (tuple, list)):
        if len(c) != 3:
            raise ValueError(f"candidates:{i + 1}: a tuple candidate is (prompt, a, b), got {len(c)} items")
        c = {"prompt": c[0], "a": c[1], "b": c[2]}
    elif not isinstance(c, dict):
        raise TypeError(f"candidates:{i + 1}: expected a (prompt, a, b) tuple or a dict, got {type(c).__name__}")
    return {k: v for k, v in c.items() if v is not None and not (isinstance(v, str) and not v)}


def _check_data(data, where: str) -> None:
    if not isinstance(data, _core.PreferenceData):
        hint = " (a PersonaK: pass its .data)" if isinstance(data, _core.PersonaK) else ""
        raise TypeError(f"{where}: data must be a plural.PreferenceData, got {type(data).__name__}{hint}")


def _check_store(features, where: str) -> None:
    if not isinstance(features, FeatureStore):
        raise TypeError(f"{where}: features must be a plural.FeatureStore, got {type(features).__name__}")

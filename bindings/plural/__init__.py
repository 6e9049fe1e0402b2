"""plural: pluralistic and personalized preference modeling on frozen text features.

    import plural
    data = plural.persona_k(k=3)                                   # bundled synthetic users
    store = plural.FeatureStore("out/cache.h5", encoder="minilm")  # HDF5 feature cache + frozen encoder
    model = plural.Model("pal-b", k=3).fit(data.data, store)       # scikit-learn style
    me = model.adapt([("Which would you say?", "I love parties.", "I avoid crowds.")])
    model.reward(["I love parties."], user=me, prompt="Which would you say?")

`plural._core` mirrors the C++ library one to one (make_model, train, evaluate_grid, make_adapter,
make_query_scorer, FeatureCache, ...); `Model` and `FeatureStore` are the comfortable layer on top.
"""
import os as _os
import sys as _sys
import warnings as _warnings

from . import _build_info


def _wrong_python(reason):
    here = f"{_sys.executable} (Python {_sys.version_info.major}.{_sys.version_info.minor})"
    return ImportError(
        f"plural was built for {_build_info.PYTHON_EXECUTABLE} (Python {_build_info.PYTHON_VERSION}, with Debian's "
        f"python3-torch), but this is {here}: {reason}. {_build_info.HOW_TO_RUN}.")


if f"{_sys.version_info.major}.{_sys.version_info.minor}" != _build_info.PYTHON_VERSION:
    raise _wrong_python("a different Python version")
# torch's import pulls in tqdm.auto, which in Jupyter without ipywidgets warns that it will draw text bars; text bars
# are what fit(progress=True) wants there (they also show in a notebook saved with its outputs).
_warnings.filterwarnings("ignore", message="IProgress not found")
try:
    import torch  # must be imported before _core: _core returns torch tensors
except ModuleNotFoundError:
    raise _wrong_python("it cannot import torch") from None

# The MiniLM encoder reads its weights from $PLURAL_MODELS/all-MiniLM-L6-v2; default to the source tree's models/, or
# those an installed package shipped with.
if not _os.environ.get("PLURAL_MODELS") and _os.path.isdir(_build_info.MODELS_DIR):
    _os.environ["PLURAL_MODELS"] = _build_info.MODELS_DIR

try:
    from . import _core
except ImportError as e:
    raise _wrong_python(f"its compiled module does not load ({e})") from e

from ._core import (  # noqa: E402  the C++ API, one to one
    Adapter, DatasetView, Encoder, EvalConfig, FeatureCache, GridCell, ItemBatch, IoError, LossOptions, MeanSummary,
    ModelDims, PairBatch, PairMetrics, PersonaK, PersonaKConfig, Personalizer, PreferenceData, QueryPool,
    QueryScorer, RewardModel, Split, Storage, TextComparison, TrainConfig, TrainResult, UkpConfig, UserState,
    adapter_names, choose_batch, dataset_features, default_model_config, default_train_config, encode_into_cache,
    encoder_names, encoder_spec_for, evaluate_grid, family_config, generate_persona_k, import_ukp, interpolate_users,
    load_model, loss_names, make_adapter, make_encoder, make_model, make_query_scorer, marginal_preference,
    model_families, pair_metrics, prepare_pool, query_scorer_names, read_candidates, read_h5, read_jsonl,
    read_preferences, read_tsv, save_model, score_pairs, train, with_strength, write_h5)
from .client import Client, ServerError  # noqa: E402
from .server import Server  # noqa: E402
from .data import data_path, persona_k, preferences, read_parquet, read_prism, read_rlhf, ukp  # noqa: E402
from .features import FeatureStore  # noqa: E402
from .model import Model, load  # noqa: E402

__version__ = _build_info.VERSION


def set_threads(n: int = 0) -> int:
    """LibTorch intra-op threads for everything plural runs (0 = every core this process may use)."""
    n = n if n > 0 else len(_os.sched_getaffinity(0))
    torch.set_num_threads(n)
    return n


# Debian's LibTorch starts with one thread; use the cores unless the user chose (OMP_NUM_THREADS).
if "OMP_NUM_THREADS" not in _os.environ and torch.get_num_threads() == 1:
    set_threads(0)

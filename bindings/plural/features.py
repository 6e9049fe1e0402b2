"""FeatureStore: the HDF5 feature cache together with the frozen encoder that fills it."""
import os
import threading
from typing import Dict, Optional, Sequence

import torch

from . import _core
from ._check import as_text, as_text_list

# One lock per cache file, shared by every FeatureStore of this process on that file. The C++ FeatureCache is not
# thread-safe (its key index fills lazily, even on lookups), and its writer takes an flock of the file per writer,
# so two threads writing at once would see each other as "another process is writing".
_file_locks: Dict[str, threading.RLock] = {}
_file_locks_guard = threading.Lock()


def _file_lock(path: str) -> threading.RLock:
    key = os.path.realpath(path)
    with _file_locks_guard:
        return _file_locks.setdefault(key, threading.RLock())


class FeatureStore:
    """Text -> frozen feature rows, cached in one HDF5 file shared by every model.

    encoder: an encoder spec ("minilm", "hashed:dim=512", ...), or None to read features that are already cached
    under `encoder_id` (e.g. an LLM's hidden states added with FeatureCache.add).
    Safe to use from several threads: calls into the cache are serialized, and each text is encoded once.
    """

    def __init__(self, path: str, encoder: Optional[str] = "minilm", encoder_id: Optional[str] = None):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"FeatureStore: path must be a str or os.PathLike, got {type(path).__name__}")
        path = as_text(os.fspath(path), "FeatureStore: path")
        if encoder is not None:
            encoder = as_text(encoder, "FeatureStore: encoder")
        if encoder_id is not None:
            encoder_id = as_text(encoder_id, "FeatureStore: encoder_id")
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self._lock = _file_lock(path)
        self.cache = _core.FeatureCache(path)
        self.spec = encoder
        self._encoder = None
        if encoder is None and not encoder_id:
            raise ValueError("FeatureStore: give an encoder spec, or the encoder_id of features already cached")
        self._encoder_id = encoder_id

    @property
    def encoder(self) -> Optional[_core.Encoder]:
        with self._lock:  # built once, even when several threads ask first
            if self._encoder is None and self.spec is not None:
                encoder = _core.make_encoder(self.spec)
                if self._encoder_id and encoder.id != self._encoder_id:
                    raise ValueError(f"FeatureStore: encoder '{self.spec}' has id '{encoder.id}', "
                                     f"not '{self._encoder_id}'")
                self._encoder = encoder
            return self._encoder

    @property
    def encoder_id(self) -> str:
        return self._encoder_id or self.encoder.id

    def features(self, texts: Sequence[str]) -> torch.Tensor:
        """float32 [len(texts), dim]; texts missing from the cache are encoded and cached first."""
        texts = as_text_list(texts, "texts")
        encoder_id = self.encoder_id
        with self._lock:
            if self.spec is not None:
                # Only what is missing now: another thread may have encoded some of them while this one waited.
                missing = [t for t, have in zip(texts, self.cache.contains(encoder_id, texts)) if not have]
                if missing:
                    _core.encode_into_cache(self.cache, self.encoder, list(dict.fromkeys(missing)))
            return self.cache.lookup(encoder_id, texts)

    __call__ = features

    def view(self, data: _core.PreferenceData) -> _core.DatasetView:
        """The data joined with the features of all its texts (encoding what is missing)."""
        if not isinstance(data, _core.PreferenceData):
            raise TypeError(f"FeatureStore.view: data must be a plural.PreferenceData, got {type(data).__name__}")
        encoder_id = self.encoder_id
        with self._lock:
            f = _core.dataset_features(self.cache, encoder_id, data, self.encoder if self.spec else None)
        return _core.DatasetView(data, f)

    def __repr__(self) -> str:
        return f"FeatureStore({self.cache.path!r}, encoder={self.spec!r})"

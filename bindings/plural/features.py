"""FeatureStore: the HDF5 feature cache together with the frozen encoder that fills it."""
import os
from typing import Optional, Sequence

import torch

from . import _core


class FeatureStore:
    """Text -> frozen feature rows, cached in one HDF5 file shared by every model.

    encoder: an encoder spec ("minilm", "hashed:dim=512", ...), or None to read features that are already cached
    under `encoder_id` (e.g. an LLM's hidden states added with FeatureCache.add).
    """

    def __init__(self, path: str, encoder: Optional[str] = "minilm", encoder_id: Optional[str] = None):
        path = os.fspath(path)
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self.cache = _core.FeatureCache(path)
        self.spec = encoder
        self._encoder = None
        if encoder is None and not encoder_id:
            raise ValueError("FeatureStore: give an encoder spec, or the encoder_id of features already cached")
        self._encoder_id = encoder_id

    @property
    def encoder(self) -> Optional[_core.Encoder]:
        if self._encoder is None and self.spec is not None:
            self._encoder = _core.make_encoder(self.spec)
            if self._encoder_id and self._encoder.id != self._encoder_id:
                raise ValueError(f"FeatureStore: encoder '{self.spec}' has id '{self._encoder.id}', "
                                 f"not '{self._encoder_id}'")
        return self._encoder

    @property
    def encoder_id(self) -> str:
        return self._encoder_id or self.encoder.id

    def features(self, texts: Sequence[str]) -> torch.Tensor:
        """float32 [len(texts), dim]; texts missing from the cache are encoded and cached first."""
        texts = list(texts)
        if self.spec is not None and not all(self.cache.contains(self.encoder_id, texts)):
            _core.encode_into_cache(self.cache, self.encoder, texts)
        return self.cache.lookup(self.encoder_id, texts)

    __call__ = features

    def view(self, data: _core.PreferenceData) -> _core.DatasetView:
        """The data joined with the features of all its texts (encoding what is missing)."""
        f = _core.dataset_features(self.cache, self.encoder_id, data, self.encoder if self.spec else None)
        return _core.DatasetView(data, f)

    def __repr__(self) -> str:
        return f"FeatureStore({self.cache.path!r}, encoder={self.spec!r})"

"""Fixtures for the Python package's tests: small Persona-K data whose features carry each statement's behaviour and
stance (plus noise), so models learn in seconds — the same construction as tests/persona_fixture.hpp."""
import os

import pytest
import torch

import plural


def oracle_persona(tmp_path, seed=0, k=2, **options):
    cfg = dict(alpha=0.0, seen_users=60, unseen_users=10, statements_per_behavior=120, train_pairs=100)
    cfg.update(options)
    pk = plural.persona_k(k=k, seed=seed, **cfg)
    texts = pk.data.texts
    g = torch.Generator().manual_seed(seed)
    d = len(pk.behaviors)
    features = 0.1 * torch.randn(len(texts), d + 8, generator=g)
    for t, (b, s) in enumerate(zip(pk.text_behavior, pk.text_stance)):
        if b >= 0:
            features[t, b] += s
    store = plural.FeatureStore(os.path.join(tmp_path, f"oracle{seed}.h5"), encoder=None, encoder_id=f"oracle-{seed}")
    store.cache.add(f"oracle-{seed}", texts, features)
    return pk, store


@pytest.fixture(scope="session")
def persona2(tmp_path_factory):
    """(PersonaK with K* = 2 and one planted prototype per user, its FeatureStore)."""
    return oracle_persona(str(tmp_path_factory.mktemp("persona")), seed=0, k=2)


@pytest.fixture(scope="session")
def pal_b(persona2):
    """PAL-B (K = 2) trained on persona2."""
    pk, store = persona2
    return plural.Model("pal-b", k=2, proj="mlp1-gelu-dropout0").fit(pk.data, store, epochs=30, patience=10, lr=3e-3,
                                                                      user_lr=5e-2, seed=0)


@pytest.fixture(scope="session")
def vpl(persona2):
    pk, store = persona2
    return plural.Model("vpl", latent=8).fit(pk.data, store, epochs=2, seed=0)

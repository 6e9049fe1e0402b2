"""The context-conditioned and cross-attention families from Python: Persona-C contexts, the marginal preference,
λ strength and interpolation (the C++ tests cover the models themselves)."""
import numpy as np
import pytest
import torch

import plural
from conftest import oracle_persona


@pytest.fixture(scope="module")
def persona_c(tmp_path_factory):
    return oracle_persona(str(tmp_path_factory.mktemp("persona_c")), seed=3, k=3, contexts=True, held_out_contexts=1)


def test_persona_c_carries_each_users_prototype_context(persona_c):
    pk, _ = persona_c
    d = pk.data
    assert len(pk.contexts) == 3 and all(c.startswith("Traits: ") for c in pk.contexts)
    cols = d.columns()
    groups = np.array(d.user_groups)
    ctx_text = {d.find_text(c): k for k, c in enumerate(pk.contexts)}
    assert (cols["context"] >= 0).all()
    assert all(ctx_text[c] == groups[u] for c, u in zip(cols["context"], cols["user"]))
    # The held-out prototype (the last) has no seen users.
    seen = np.array(d.user_seen)
    assert (groups[seen] != 2).all() and (groups[~seen] == 2).any()
    with pytest.raises(ValueError, match="held_out_contexts"):
        plural.persona_k(k=3, held_out_contexts=3, contexts=True)


def test_context_model_marginal_preference(persona_c):
    pk, store = persona_c
    m = plural.Model("context", hidden=[32]).fit(pk.data, store, epochs=15, seed=0)
    view = store.view(pk.data)
    rows = pk.data.rows("test", True)[:50]
    batch = view.batch(torch.as_tensor(rows))
    z = plural.score_pairs(m.model, batch)
    ctx = batch.a.context[:1]
    one = plural.marginal_preference(m.model, batch, ctx, np.array([1.0], dtype=np.float32))
    # Every test pair here has a context; with the distribution concentrated on the first pair's context, the
    # marginal is σ of the logits under that context, which equals z where the pair has that context.
    same = (batch.a.context == ctx).all(1)
    assert torch.allclose(one[same], torch.sigmoid(z[same]), atol=1e-5)
    with pytest.raises(ValueError, match="sum to 1"):
        plural.marginal_preference(m.model, batch, ctx, np.array([0.5], dtype=np.float32))
    with pytest.raises(ValueError, match="expected a context model"):
        plural.marginal_preference(plural.Model("bt").fit(pk.data, store, epochs=1).model, batch, ctx,
                                   np.array([1.0], dtype=np.float32))
    # Query a person whose context is unknown: the pairs on which the training contexts disagree come first, an
    # item against itself last; dopt needs a Gaussian posterior.
    cols = pk.data.columns()
    t = pk.data.texts
    prompt = t[cols["prompt_a"][0]]
    pool = [(prompt, t[cols["a"][i]], t[cols["b"][i]]) for i in range(5)] + [(prompt, t[cols["a"][0]], t[cols["a"][0]])]
    picks = m.query(pool, n=6)
    assert picks[-1]["index"] == 5 and picks[-1]["score"] == pytest.approx(0, abs=1e-6)
    assert picks[0]["score"] > 0
    with pytest.raises(ValueError, match="Gaussian user posterior"):
        m.query(pool, scorer="dopt")


def test_cross_attention_strength_and_interpolation(persona_c):
    pk, store = persona_c
    m = plural.Model("cross-attn", token=16, hidden=32).fit(pk.data, store, epochs=3, seed=0)
    d = pk.data
    cols = d.columns()
    view = store.view(d)
    support = torch.as_tensor(d.rows("support", False))
    user = torch.as_tensor(cols["user"])[support]
    u1 = m.adapt(view.batch(support[user == user[0]]), "u1")
    u2 = m.adapt(view.batch(support[user != user[0]][:10]), "u2")
    texts = [d.texts[i] for i in cols["a"][:20]]
    prompt = d.texts[cols["prompt_a"][0]]
    population = m.reward(texts, None, prompt)
    np.testing.assert_array_equal(m.reward(texts, plural.with_strength(u1, 0.0), prompt), population)
    np.testing.assert_allclose(m.reward(texts, plural.interpolate_users(u1, u2, 1.0), prompt),
                               m.reward(texts, u1, prompt), atol=1e-5)
    with pytest.raises(ValueError, match=r"lambda must be in \[0, 1\]"):
        plural.with_strength(u1, 2.0)
    # Query: the seen users weighted by u1's answers; an item against itself tells nothing.
    pool = [(prompt, texts[i], texts[i + 1]) for i in range(0, 8, 2)] + [(prompt, texts[0], texts[0])]
    picks = m.query(pool, user=u1, n=5)
    assert picks[-1]["index"] == 4 and picks[-1]["score"] == pytest.approx(0, abs=1e-6)

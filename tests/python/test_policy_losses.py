"""DPO-family losses from Python: same values and gradients as plain torch autograd on the same formulas."""
import pytest
import torch
import torch.nn.functional as F

from plural import _core


def reference(name, c, r, rc, rr, y, w, beta=0.1, tau=0.1, alpha=0.1, lam=0.5):
    m = (c - rc) - (r - rr)
    if name in ("dpo", "dove"):
        per = -(y * F.logsigmoid(beta * m) + (1 - y) * F.logsigmoid(-beta * m))
    elif name == "ipo":
        per = (m - (y - 0.5) / tau) ** 2
    else:  # cpl
        sc, sr = alpha * (c - rc), alpha * (r - rr)
        per = y * -F.logsigmoid(sc - lam * sr) + (1 - y) * -F.logsigmoid(sr - lam * sc)
    return (per * w).sum() / w.sum()


@pytest.mark.parametrize("name", ["dpo", "dove", "ipo", "cpl"])
def test_policy_loss_matches_torch(name):
    g = torch.Generator().manual_seed(1)
    c = (-20 * torch.rand(16, generator=g, dtype=torch.float64)).requires_grad_()
    r = (-20 * torch.rand(16, generator=g, dtype=torch.float64)).requires_grad_()
    rc, rr = -20 * torch.rand(16, generator=g, dtype=torch.float64), -20 * torch.rand(16, generator=g, dtype=torch.float64)
    y = torch.rand(16, generator=g, dtype=torch.float64)
    w = torch.rand(16, generator=g, dtype=torch.float64) + 0.5
    loss, gc, gr = _core.policy_loss(name, c.detach(), r.detach(), rc, rr, y, w, beta=0.3, tau=0.2, alpha=0.4,
                                     lambda_=0.7)
    ref = reference(name, c, r, rc, rr, y, w, beta=0.3, tau=0.2, alpha=0.4, lam=0.7)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-10)
    assert torch.allclose(gc, c.grad) and torch.allclose(gr, r.grad)


def test_policy_loss_defaults_and_errors():
    loss, gc, _ = _core.policy_loss("dpo", torch.tensor([-10.0]), torch.tensor([-12.0]))
    assert loss == pytest.approx(F.softplus(torch.tensor(-0.2, dtype=torch.float64)).item())
    assert gc.dtype == torch.float64 and gc.item() < 0
    with pytest.raises(ValueError, match="'label' row 1 is outside"):
        _core.policy_loss("dpo", torch.zeros(2), torch.zeros(2), label=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="unknown policy loss"):
        _core.policy_loss("orpo", torch.zeros(1), torch.zeros(1))
    assert set(_core.policy_loss_names()) == {"dpo", "dove", "ipo", "cpl"}
    y = _core.soft_labels_from_scores(torch.tensor([1.0]), torch.tensor([1.0]))
    assert y.item() == pytest.approx(0.5)


def test_token_ches_matches_the_formula():
    import numpy as np
    rng = np.random.default_rng(3)
    pos, neg = rng.normal(size=(5, 8)), rng.normal(size=(3, 8))
    sp, sn = pos.sum(0), neg.sum(0)
    assert _core.token_ches(pos, neg) == pytest.approx(sp @ sn - sp @ sp, rel=1e-12)
    mp, mn = sp / 5, sn / 3
    assert _core.token_ches(torch.from_numpy(pos), neg, normalize=True) == pytest.approx(mp @ mn - mp @ mp, rel=1e-12)
    # Identical responses: ⟨S, S⟩ − ‖S‖² = 0, the boundary of likelihood displacement.
    assert _core.token_ches(pos, pos) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="pos has width 8, neg 4"):
        _core.token_ches(pos, neg[:, :4])


def test_spo_degree_loss_matches_torch_and_reads_variants(tmp_path):
    torch.manual_seed(0)
    logits = torch.randn(6, 4, dtype=torch.float64)
    degree = torch.tensor([0, 1, 1, 0, 1, 0])
    rejected = torch.tensor([False, False, True, True, False, True])
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 1.0, 3.0], dtype=torch.float64)
    z = logits.clone().requires_grad_(True)
    ref = (F.cross_entropy(z, degree + 2 * rejected.long(), reduction="none") * weight).sum() / weight.sum()
    ref.backward()
    loss, grad = _core.spo_degree_loss(logits, degree, rejected, weight)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    assert torch.allclose(grad, z.grad, atol=1e-12)
    with pytest.raises(ValueError, match=r"degrees must be in \[0, 2\)"):
        _core.spo_degree_loss(logits, degree + 1, rejected)

    import plural
    d = plural.preferences([{"user": "u", "chosen": "long careful answer", "rejected": "meh"}] * 4)
    path = tmp_path / "v.jsonl"
    path.write_text('{"text": "long careful answer", "variant": "long answer", "degree": 1}\n'
                    '{"text": "nowhere", "variant": "no", "degree": 1}\n')
    v = _core.read_graded_variants(str(path), d)
    assert (v.levels, v.variants, v.unmatched_rows, v.originals) == (2, 2, 1, 1)
    assert "long answer" in d.texts

"""Every loss (value and gradient) against PyTorch in float64, over many seeded configurations."""

import numpy as np
import pytest

from filterbank import backend, losses

torch = pytest.importorskip("torch")
F = torch.nn.functional

EPS = backend.epsilon()
SEEDS = range(8)


def _config(seed):
    """Random batch shape (sometimes spatial), class count, sample weights, smoothing."""
    rng = np.random.default_rng(1000 + seed)
    n, c = int(rng.integers(1, 8)), int(rng.integers(2, 7))
    lead = (n,) if seed % 3 else (n, int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    w = rng.uniform(0.0, 2.0, n) if seed % 2 else None
    ls = float(rng.choice([0.0, 0.1, 0.3]))
    return rng, lead, c, w, ls


def _reduce(per_value, w):
    """Keras's sum_over_batch_size in torch: per-sample weights broadcast over spatial axes."""
    if w is not None:
        tw = torch.tensor(w).reshape((-1,) + (1,) * (per_value.dim() - 1))
        per_value = per_value * tw
    return per_value.sum() / per_value.numel()


def _torch_grad(fn, x):
    t = torch.tensor(x, requires_grad=True)
    value = fn(t)
    value.backward()
    return float(value.detach()), t.grad.numpy()


def _check(ours, theirs):
    (v1, g1), (v2, g2) = ours, theirs
    assert v1 == pytest.approx(v2, rel=1e-5, abs=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-12)


def _clamp_renormalised(t):
    return torch.clamp(t / t.sum(-1, keepdim=True), EPS, 1 - EPS)


@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_crossentropy(seed):
    rng, lead, c, w, ls = _config(seed)
    labels = rng.integers(0, c, lead)
    y = np.eye(c)[labels]
    ys = torch.tensor(y * (1 - ls) + ls / c)
    # Probabilities: unnormalised positive scores, renormalised and clipped as Keras.
    p = rng.uniform(0.01, 1.0, lead + (c,))
    _check(
        losses.CategoricalCrossentropy(label_smoothing=ls).forward_backward(y, p, w),
        _torch_grad(lambda t: _reduce(-(ys * torch.log(_clamp_renormalised(t))).sum(-1), w), p),
    )
    # Logits, both the from_logits loss and the fused softmax path: F.cross_entropy.
    z = 4 * rng.standard_normal(lead + (c,))

    def ce(t):
        return _reduce(F.cross_entropy(t.movedim(-1, 1), ys.movedim(-1, 1), reduction="none"), w)

    _check(
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=ls).forward_backward(
            y, z, w
        ),
        _torch_grad(ce, z),
    )
    _check(
        losses.CategoricalCrossentropy(label_smoothing=ls).forward_backward_logits(y, z, w),
        _torch_grad(ce, z),
    )
    # torch's own label smoothing agrees with Keras's formula on integer targets.
    _check(
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=ls).forward_backward(
            y, z, w
        ),
        _torch_grad(
            lambda t: _reduce(
                F.cross_entropy(
                    t.movedim(-1, 1), torch.tensor(labels), label_smoothing=ls, reduction="none"
                ),
                w,
            ),
            z,
        ),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_sparse_categorical_crossentropy(seed):
    rng, lead, c, w, _ = _config(seed)
    labels = rng.integers(0, c, lead)
    tl = torch.tensor(labels)
    p = rng.uniform(0.01, 1.0, lead + (c,))

    def nll(t):
        log_q = torch.log(_clamp_renormalised(t)).movedim(-1, 1).contiguous()
        return _reduce(F.nll_loss(log_q, tl, reduction="none"), w)

    _check(
        losses.SparseCategoricalCrossentropy().forward_backward(labels, p, w), _torch_grad(nll, p)
    )
    z = 4 * rng.standard_normal(lead + (c,))

    def ce(t):
        return _reduce(F.cross_entropy(t.movedim(-1, 1), tl, reduction="none"), w)

    _check(
        losses.SparseCategoricalCrossentropy(from_logits=True).forward_backward(labels, z, w),
        _torch_grad(ce, z),
    )
    _check(
        losses.SparseCategoricalCrossentropy().forward_backward_logits(labels, z, w),
        _torch_grad(ce, z),
    )
    # Labels as a float column (N, ..., 1) give the same result.
    _check(
        losses.SparseCategoricalCrossentropy().forward_backward_logits(
            labels[..., None].astype(float), z, w
        ),
        _torch_grad(ce, z),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_crossentropy(seed):
    rng, lead, k, w, ls = _config(seed)
    y = rng.integers(0, 2, lead + (k,)).astype(float)
    ys = torch.tensor(y * (1 - ls) + 0.5 * ls)
    p = rng.uniform(0.0, 1.0, lead + (k,))
    p.flat[0] = 1.0  # one prediction at the clip bound: no gradient through torch.clamp either

    def bce(t):
        return _reduce(
            F.binary_cross_entropy(torch.clamp(t, EPS, 1 - EPS), ys, reduction="none").mean(-1), w
        )

    _check(
        losses.BinaryCrossentropy(label_smoothing=ls).forward_backward(y, p, w), _torch_grad(bce, p)
    )
    z = 4 * rng.standard_normal(lead + (k,))

    def bce_logits(t):
        return _reduce(F.binary_cross_entropy_with_logits(t, ys, reduction="none").mean(-1), w)

    _check(
        losses.BinaryCrossentropy(from_logits=True, label_smoothing=ls).forward_backward(y, z, w),
        _torch_grad(bce_logits, z),
    )
    _check(
        losses.BinaryCrossentropy(label_smoothing=ls).forward_backward_logits(y, z, w),
        _torch_grad(bce_logits, z),
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name,torch_fn", [("mse", F.mse_loss), ("mae", F.l1_loss)])
def test_regression_losses(seed, name, torch_fn):
    rng, lead, k, w, _ = _config(seed)
    y, p = rng.standard_normal(lead + (k,)), rng.standard_normal(lead + (k,))
    yt = torch.tensor(y)
    _check(
        losses.get(name).forward_backward(y, p, w),
        _torch_grad(lambda t: _reduce(torch_fn(t, yt, reduction="none").mean(-1), w), p),
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", ["sum", "mean_with_sample_weight"])
def test_other_reductions(seed, reduction):
    rng, lead, c, _, _ = _config(seed)
    w = rng.uniform(0.1, 2.0, lead[0])
    labels = rng.integers(0, c, lead)
    z = rng.standard_normal(lead + (c,))
    tw = torch.tensor(w).reshape((-1,) + (1,) * (len(lead) - 1))

    def ce(t):
        per = F.cross_entropy(t.movedim(-1, 1), torch.tensor(labels), reduction="none") * tw
        return per.sum() if reduction == "sum" else per.sum() / tw.expand_as(per).sum()

    loss = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    if reduction == "mean_with_sample_weight":
        # Keras divides by the sum of the weights as given: (N,) weights, one per sample.
        w_full = np.broadcast_to(w.reshape((-1,) + (1,) * (len(lead) - 1)), lead)
        _check(loss.forward_backward(labels, z, w_full), _torch_grad(ce, z))
    else:
        _check(loss.forward_backward(labels, z, w), _torch_grad(ce, z))

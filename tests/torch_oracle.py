"""PyTorch as the oracle: the helpers every comparison test shares.

Conventions (see the PyTorch pitfalls in the engineering notes):

* channels-last arrays go in as fresh contiguous channels-first float64 tensors
  (:func:`to_torch`) and come back with :func:`from_torch`;
* Keras "same" padding puts the odd cell at the end, which torch's symmetric ``padding=``
  cannot express, so convolutions and poolings are padded explicitly with ``F.pad``
  (:func:`keras_pads`, computed here independently of filterbank's own rule) and run
  "valid";
* one torch thread: the tensors are tiny, and two OpenMP threads spinning on a shared
  2-core machine made each small op ~100x slower.

:func:`load` skips the calling test (with the reason) when torch is not installed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest


def load():
    """The torch module (one thread), or a skip of the calling test."""
    torch = pytest.importorskip("torch", reason="PyTorch (the oracle) is not installed")
    torch.set_num_threads(1)
    return torch


def to_torch(x, requires_grad=False):
    """Channels-last numpy -> contiguous channels-first float64 tensor (2D arrays as they are)."""
    torch = load()
    t = torch.tensor(np.asarray(x, dtype=np.float64))
    if t.ndim > 2:
        t = t.permute(0, t.ndim - 1, *range(1, t.ndim - 1))
        t = t.clone(memory_format=torch.contiguous_format)
    return t.requires_grad_(requires_grad)


def from_torch(t) -> np.ndarray:
    """Channels-first tensor -> channels-last numpy array."""
    t = t.detach()
    if t.ndim > 2:
        t = t.permute(0, *range(2, t.ndim), 1)
    return t.numpy()


def keras_pads(n, k, s, padding, dilation=1):
    """(before, after) padding of Keras/TensorFlow along one axis; the odd cell at the end."""
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return (k - 1) * dilation, 0
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * dilation + 1 - n, 0)
    return total // 2, total - total // 2


def flat_pads(pads):
    """``F.pad``'s argument for per-axis (before, after) pairs: the last axis first."""
    return [p for pair in reversed(list(pads)) for p in pair]


def conv(x, w, b, strides, padding, dilation, dy=None):
    """torch's conv1d/conv2d of channels-last x with a Keras kernel (k..., C, F).

    ``padding``: a Keras name, or explicit per-axis (before, after) pairs. Returns
    (y, dx, dw, db) as numpy arrays in filterbank's layouts (the gradients for output
    gradient ``dy``; None without it).
    """
    torch = load()
    F = torch.nn.functional
    rank = w.ndim - 2
    xt = to_torch(x, requires_grad=True)
    kernel_axes = tuple(range(rank))
    wt = torch.tensor(
        np.ascontiguousarray(w.transpose(rank + 1, rank, *kernel_axes)), requires_grad=True
    )  # (F, C, k...)
    bt = torch.tensor(np.asarray(b, dtype=np.float64), requires_grad=True)
    if isinstance(padding, str):
        padding = [
            keras_pads(n, k, s, padding, d)
            for n, k, s, d in zip(x.shape[1:-1], w.shape[:rank], strides, dilation)
        ]
    fn = F.conv1d if rank == 1 else F.conv2d
    yt = fn(F.pad(xt, flat_pads(padding)), wt, bt, stride=tuple(strides), dilation=tuple(dilation))
    if dy is None:
        return from_torch(yt), None, None, None
    (yt * to_torch(dy)).sum().backward()
    back = (*range(2, rank + 2), 1, 0)  # (F, C, k...) -> (k..., C, F)
    return (from_torch(yt), from_torch(xt.grad), wt.grad.numpy().transpose(back), bt.grad.numpy())


def pool(x, ks, strides, padding, kind):
    """torch pooling of channels-last x (float64), Keras padding; returns (y, grad) where
    ``grad(g)`` gives dx for an output gradient g.

    A "same" average divides by the number of *real* cells (as Keras/TensorFlow), which is
    the ratio of two torch average pools: avg_pool(pad(x, 0)) / avg_pool(pad(ones, 0)).
    """
    torch = load()
    F = torch.nn.functional
    rank = len(ks)
    xt = to_torch(x, requires_grad=True)
    pads = flat_pads(keras_pads(n, k, s, padding) for n, k, s in zip(x.shape[1:-1], ks, strides))
    pool_fn = {
        ("max", 1): F.max_pool1d,
        ("max", 2): F.max_pool2d,
        ("avg", 1): F.avg_pool1d,
        ("avg", 2): F.avg_pool2d,
    }[kind, rank]
    if kind == "max":
        y = pool_fn(F.pad(xt, pads, value=-math.inf), ks, strides)
    else:
        sums = pool_fn(F.pad(xt, pads), ks, strides)
        counts = pool_fn(F.pad(torch.ones_like(xt), pads), ks, strides)
        y = sums / counts

    def grad(g):
        (dx,) = torch.autograd.grad(y, xt, to_torch(g), retain_graph=True)
        return from_torch(dx)

    return from_torch(y), grad


def close(ours, ref, rtol=1e-5, atol=1e-10, what=""):
    """float64 comparison with the oracle: same shape, then 1e-5 relative."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs torch {ref.shape}"
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=what)

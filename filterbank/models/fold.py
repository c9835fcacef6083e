"""Inference-only fusion: ``Conv2D -> BatchNormalization -> Activation("relu") -> MaxPooling2D``
run as one fused conv + bias + ReLU + pool step, with the normalization folded into the
convolution's weights.

Training needs the three layers separately (BatchNormalization uses the batch's statistics
and has its own gradients), so :attr:`Graph.runs <filterbank.models.graph.Graph.runs>` keeps
them; :func:`fold_runs` makes the inference runs (``Graph.predict``: predict, evaluate,
``model(x)``) from it, replacing every chain

    Conv2D(activation="linear") -> [BatchNormalization(axis=-1)] -> [Activation(relu|linear)]
    -> MaxPooling2D          (at least one of the two bracketed layers present)

whose intermediate tensors have no other reader and are not model outputs by one
:class:`FoldedConvPool`. It runs the same inference kernels as the Conv2D -> MaxPooling2D
fusion (:mod:`filterbank.models.fusion`: direct, Winograd, im2col GEMM + compiled pooling,
chosen by ``kernels.choose("conv2d+maxpool", ...)``) on the folded kernel and bias
(:func:`filterbank.ops.bn_fold.fold_batch_norm`).

**When the folded weights are recomputed**: on the first prediction after any weight or
statistics change, detected through :func:`filterbank.layers.base.weights_epoch` (bumped by
fit / train_on_batch, set_weights, loading, the kernel and bias setters), and when one of
the layers' weight arrays was replaced by another object. Code that writes into
``layer.params`` arrays in place by itself calls ``filterbank.layers.base.weights_changed()``.

``FILTERBANK_DISABLE_FUSION=1`` (or ``Graph(fuse=False)``) turns this off with the other
fusion: the layers then run one by one.

Accuracy: float32 predictions within 3e-7 of the largest output of the unfused layers (a reordered
product, see ``tests/models/test_fold.py``).
"""

from __future__ import annotations

import numpy as np

from ..layers.base import weights_epoch
from ..layers.convolutional import Conv2D
from ..layers.core import Activation
from ..layers.normalization import BatchNormalization
from ..layers.pooling import MaxPooling2D
from ..ops import kernels as _kernels
from ..ops.bn_fold import fold_batch_norm
from ..ops.fused_plan import ConvPoolOp
from .fusion import FUSABLE_ACTIVATIONS, FusedConvPool, only_reader, readers_of


def _chain(step, readers, consumers, outputs):
    """(steps, activation) of a foldable chain starting at conv ``step``, or None."""
    conv = step.layer
    if type(conv) is not Conv2D or conv.activation.name != "linear":
        return None
    chain, activation = [step], "linear"
    nxt = only_reader(step, readers, consumers, outputs)
    if nxt is not None and type(nxt.layer) is BatchNormalization and nxt.layer.axis in (-1, 3):
        chain.append(nxt)
        nxt = only_reader(nxt, readers, consumers, outputs)
    if (
        nxt is not None
        and type(nxt.layer) is Activation
        and nxt.layer.activation.name in FUSABLE_ACTIVATIONS
    ):
        chain.append(nxt)
        activation = nxt.layer.activation.name
        nxt = only_reader(nxt, readers, consumers, outputs)
    if (
        len(chain) == 1
        or nxt is None
        or type(nxt.layer) is not MaxPooling2D
        or nxt.layer.padding not in ("valid", "same")
    ):
        return None
    chain.append(nxt)
    return chain, activation


def fold_runs(runs: list, consumers, output_slots) -> list:
    """The inference runs: ``runs`` with every foldable chain replaced by a
    :class:`FoldedConvPool` (``runs`` itself when there is none).

    A training-only ``BatchNormalization -> ReLU -> MaxPooling2D`` step
    (:class:`filterbank.models.fusion_bn.FusedBNReluPool`) is looked through: its three
    layers may complete a chain started by the convolution before it."""
    steps = [s for run in runs for s in getattr(run, "steps", (run,))]
    readers = readers_of(steps)
    outputs = set(output_slots)
    folded, absorbed = {}, set()
    for step in steps:
        if id(step) in absorbed or not hasattr(step, "layer"):
            continue
        found = _chain(step, readers, consumers, outputs)
        if found is not None:
            chain, activation = found
            absorbed.update(id(s) for s in chain)
            folded[id(step)] = FoldedConvPool(chain, activation, chain[-1].out_slot not in outputs)
    if not folded:
        return runs
    out = []
    for run in runs:
        if id(run) in folded:
            out.append(folded[id(run)])
        elif not any(id(s) in absorbed for s in getattr(run, "steps", (run,))):
            out.append(run)
    return out


class FoldedConvPool(FusedConvPool):
    """One inference step running Conv2D -> [BatchNormalization] -> [Activation] ->
    MaxPooling2D as a fused conv + pool with folded weights. Inference only: ``forward``
    and ``backward`` refuse (training runs the layers through ``Graph.runs``)."""

    def __init__(self, chain, activation, internal_output=False):
        self.conv, self.pool = chain[0].layer, chain[-1].layer
        self.layers = tuple(s.layer for s in chain)
        bns = [la for la in self.layers if type(la) is BatchNormalization]
        self.bn = bns[0] if bns else None
        self.activation = activation
        self.in_slots = list(chain[0].in_slots)
        self.out_slot = chain[-1].out_slot
        pool = self.pool
        self.op = ConvPoolOp(
            pool.pool_size, pool.strides, pool.padding, activation, internal_output, False
        )
        self._cache = None
        self._plans: dict = {}
        self._predictors = _kernels.KeptFunctions()
        # The folded weights: the lean functions read this dict on every call.
        self.folded: dict = {}
        self._stamp = None  # (epoch, ids of the source arrays) the folded weights match
        self._held: list = []  # those arrays: held, so that their ids cannot be reused

    def __repr__(self):
        return f"<FoldedConvPool {' + '.join(la.name for la in self.layers)}>"

    # ---- the folded weights -----------------------------------------------------------------
    def _sources(self):
        conv, bn = self.conv, self.bn
        srcs = [conv.params["kernel"], conv.params["bias"] if conv.use_bias else None]
        if bn is not None:
            p = bn.params
            srcs += [p.get("gamma"), p.get("beta"), p["moving_mean"], p["moving_variance"]]
        return srcs

    def refresh(self, dtype=None) -> dict:
        """The folded {"kernel", "bias"}, recomputed if any source or the input ``dtype``
        changed since the last call (see the module docstring)."""
        srcs = self._sources()
        w, b = srcs[0], srcs[1]
        # Folded in the dtype the layers would compute in: float32 weights on a float64
        # input are not rounded back to float32 (the unfused layers compute in float64).
        dt = w.dtype if dtype is None else np.promote_types(w.dtype, dtype)
        # ids: a weight array replaced in the dict
        stamp = (weights_epoch(), dt, *map(id, srcs))
        if stamp == self._stamp:
            return self.folded
        # New arrays each time: kernels that keep what they derive from the weights (the
        # Winograd filter transform) see another array and derive it again.
        kw, kb = np.empty(w.shape, dt), np.empty(w.shape[-1], dt)
        if self.bn is None:
            kw[...] = w
            kb[...] = 0 if b is None else b
        else:
            fold_batch_norm(w, b, *srcs[2:], self.bn.epsilon, out_w=kw, out_b=kb)
        self.folded["kernel"], self.folded["bias"] = kw, kb
        self._stamp, self._held = stamp, srcs
        return self.folded

    # ---- what FusedConvPool reads from the layers, from the folded weights instead ------------
    def _prepare(self, x):
        if x.dtype.kind != "f":
            x = x.astype(self.conv.compute_dtype)
        plan, chunks = self._plan_for(x.shape)
        x = np.ascontiguousarray(x)
        f = self.refresh(x.dtype)
        w, b = f["kernel"], f["bias"]
        if w.dtype != x.dtype:
            w, b = w.astype(x.dtype), b.astype(x.dtype)
        return x, plan, w, b, chunks

    def _epilogue(self) -> tuple[str, bool]:
        # the folded chain's activation, and always a bias (the folded shift)
        return self.activation, True

    def kernel_for(self, shape, dtype, training=False) -> _kernels.Kernel:
        if training:
            return _kernels.Kernel("-", reason="inference only: training runs the layers")
        k = _kernels.choose("conv2d+maxpool", self._query(shape, dtype))
        return _kernels.Kernel(f"{k.name}+fold", k.fn, f"BatchNormalization folded; {k.reason}")

    def predict(self, x):
        self.refresh(x.dtype if x.dtype.kind == "f" else self.conv.compute_dtype)
        fn = self._predictors.get(x, self._lean_predictor)
        return self._predict(x) if fn is None else fn(x)

    def _lean_predictor(self, shape, dtype):
        kernel = _kernels.choose("conv2d+maxpool", self._query(shape, dtype))
        if kernel.name not in ("direct", "winograd", "gemm+pool"):
            return None
        _, plan, _, _, chunks = self._prepare(np.empty(shape, dtype))  # the checks, once
        return self.op.predictor(kernel, plan, chunks, dtype, self.folded, True, self.conv.padding)

    def forward(self, x, training=False):
        raise NotImplementedError("a folded inference step runs only in Graph.predict")

    def backward(self, grad):
        raise NotImplementedError("a folded inference step runs only in Graph.predict")

"""Which kernel runs: the one place that picks a kernel, loads compiled code and reads the switches.

Every fast path in filterbank has a plain NumPy reference. What replaces it, and when, is
decided here and nowhere else:

* :func:`switches` reads the three environment switches (the only code that does):

  ==================================  ===========================================================
  ``FILTERBANK_DISABLE_NUMBA=1``      no compiled (numba) kernel anywhere: col2im, pooling, the
                                      row epilogues, Winograd, the direct kernel, RMSprop,
                                      the fused BN + ReLU + pool training step
  ``FILTERBANK_DISABLE_FAST_CONV=1``  the im2col GEMM everywhere, inference and training (no
                                      Winograd, no direct kernel)
  ``FILTERBANK_DISABLE_FUSION=1``     a Conv2D -> MaxPooling2D pair runs as two layers, and
                                      BatchNormalization -> ReLU -> MaxPooling2D as three
  ==================================  ===========================================================

  A value of "" or "0" means "not set". **When they are read**: on every kernel decision,
  i.e. every call of :func:`compiled` and :func:`choose`. A decision is made when a layer
  (or fused pair) first sees an input shape and dtype, and fusion when a model's graph is
  built; the choice is then kept for that shape. Set a switch before building and running
  the model, or call :func:`refresh` after changing it: every kept choice is then made
  again on the next call (the training path asks again on every step anyway).
* :func:`compiled` is the one loader of optional compiled modules (``filterbank.ops._numba_*``,
  ``filterbank.optimizers._numba_rmsprop``): imported on first use, never by ``import
  filterbank``; None when numba is missing, broken, or switched off.
* :func:`choose` answers "which kernel runs this operation for this geometry, shape and
  dtype" with a :class:`Kernel` (``name``, ``fn``: what runs, ``reason``: why). The
  candidates of each operation are tried in order (:data:`CANDIDATES`); the last one (the
  NumPy reference) always applies. A second array backend (a GPU one) is one more entry at
  the front of a list, with ``backend="cupy"`` (say) and its own test of the query.
* :func:`plan` says which kernel each layer of a model runs at a batch size (also
  ``model.summary(kernels=True)``).

Example:
    >>> import numpy as np
    >>> from filterbank.ops import kernels
    >>> q = kernels.Query(x_shape=(64, 28, 28, 1), dtype=np.dtype("float32"),
    ...                   kernel_size=(3, 3), strides=(1, 1), dilation=(1, 1),
    ...                   padding="valid", activation="relu")
    >>> k = kernels.choose("conv2d", q)
    >>> k.name in ("winograd", "gemm"), isinstance(k.reason, str)
    (True, True)
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

_ENV = {
    "numba": "FILTERBANK_DISABLE_NUMBA",
    "fast_conv": "FILTERBANK_DISABLE_FAST_CONV",
    "fusion": "FILTERBANK_DISABLE_FUSION",
}
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # the dtypes the compiled kernels take


@dataclass(frozen=True)
class Switches:
    """Which families of fast paths are on (True: allowed, the default)."""

    numba: bool = True
    fast_conv: bool = True
    fusion: bool = True


def _off(var: str) -> bool:
    return os.environ.get(var, "").strip() not in ("", "0")


def switches() -> Switches:
    """The switches as the environment sets them now.

    Example:
        >>> isinstance(switches().fusion, bool)
        True
    """
    return Switches(**{key: not _off(var) for key, var in _ENV.items()})


def numba_enabled() -> bool:
    return not _off(_ENV["numba"])


def fast_conv_enabled() -> bool:
    """False when ``FILTERBANK_DISABLE_FAST_CONV=1``: inference and training run the im2col
    GEMM everywhere (no Winograd, no direct kernel)."""
    return not _off(_ENV["fast_conv"])


def fusion_enabled() -> bool:
    """False when ``FILTERBANK_DISABLE_FUSION=1``: new graphs run conv and pool separately."""
    return not _off(_ENV["fusion"])


# ---- the one loader of compiled modules ----------------------------------------------------
_UNRESOLVED = object()
_modules: dict[str, object] = {}
generation = 0  # bumped by refresh(): kept kernel choices older than this are made again


def compiled(name: str):
    """The compiled module ``filterbank.<name>`` (e.g. "ops._numba_conv"), or None.

    None when numba is switched off (checked on every call), not installed, or fails to
    load (a warning says so once; the NumPy path then runs). Loaded on first use.

    Example:
        >>> m = compiled("ops._numba_pool")
        >>> m is None or hasattr(m, "max_pool2d_forward")
        True
    """
    if _off(_ENV["numba"]):
        return None
    module = _modules.get(name, _UNRESOLVED)
    if module is _UNRESOLVED:
        try:
            module = importlib.import_module(f"filterbank.{name}")
        except ImportError:  # numba is an optional extra
            module = None
        except Exception as exc:  # a broken numba install must not break training
            warnings.warn(
                f"numba failed to load {name} ({exc!r}); using the NumPy kernels.",
                RuntimeWarning,
                stacklevel=2,
            )
            module = None
        _modules[name] = module
    return module


def refresh() -> None:
    """Make every kept kernel choice again on its next use (after changing a switch).

    Example:
        >>> from filterbank.ops import kernels
        >>> before = kernels.generation
        >>> kernels.refresh()
        >>> kernels.generation == before + 1
        True
    """
    global generation
    generation += 1


class KeptFunctions:
    """A step's lean inference functions, one per input (shape, dtype), made on first use.

    Bounded (a stream of odd shapes must not pile up) and forgotten after :func:`refresh`.
    Not copied with a model (they close over the original layer's weights).
    """

    __slots__ = ("_fns", "_generation")
    LIMIT = 8

    def __init__(self):
        self._fns: dict = {}
        self._generation = generation

    def get(self, x, make):
        """The function for array x, made by ``make(shape, dtype)`` (may be None) if new."""
        if self._generation != generation:
            self._fns.clear()
            self._generation = generation
        key = (x.shape, x.dtype)
        fn = self._fns.get(key, False)
        if fn is False:
            fn = make(x.shape, x.dtype)
            if len(self._fns) >= self.LIMIT:
                self._fns.clear()
            self._fns[key] = fn
        return fn

    def __deepcopy__(self, memo):
        return KeptFunctions()


# ---- choices -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kernel:
    """A kernel decision: ``name`` (what a plan shows), ``fn`` (the function or class that
    runs it; None for the layer's own NumPy code), ``reason`` (why it was chosen) and the
    array ``backend`` it runs on."""

    name: str
    fn: Callable | None = field(default=None, compare=False)
    reason: str = ""
    backend: str = "numpy"

    def __str__(self):
        return self.name


@dataclass(frozen=True)
class Query:
    """What a decision looks at: the input shape and dtype and the operation's geometry.

    ``pool_*`` describe a max pooling fused after the convolution ("conv2d+maxpool");
    ``activation`` is the activation applied by the same step.
    """

    x_shape: tuple
    dtype: np.dtype
    kernel_size: tuple = ()
    strides: tuple = ()
    dilation: tuple = ()
    padding: str = "valid"
    activation: str = "linear"
    use_bias: bool = True
    pool_size: tuple = ()
    pool_strides: tuple = ()
    pool_padding: str = "valid"
    weights_dtype: np.dtype | None = None
    filters: int = 0  # the convolution's output channels (asked by training's dx choice)


def _float(q: Query) -> bool:
    return np.dtype(q.dtype) in FLOATS and (
        q.weights_dtype is None or np.dtype(q.weights_dtype) == np.dtype(q.dtype)
    )


def _wino_conv(q: Query):
    from . import winograd

    if (
        q.activation in ("relu", "linear")
        and _float(q)
        and fast_conv_enabled()
        and winograd.numba_kernels() is not None
        and winograd.supports_conv(q.kernel_size, q.strides, q.dilation, q.padding, q.x_shape)
    ):
        return Kernel(
            "winograd",
            winograd.WinogradConv,
            "3x3 stride 1, >= 8 channels, enough tiles: 2.25x fewer multiplications",
        )
    return None


def _wino_train_conv(q: Query):
    """Training's Winograd forward (and "same" input gradient): ops/winograd_train.py."""
    from . import winograd, winograd_train

    if (
        _float(q)
        and fast_conv_enabled()
        and winograd.numba_kernels() is not None
        and winograd.supports_conv(q.kernel_size, q.strides, q.dilation, q.padding, q.x_shape)
    ):
        if winograd_train.supports_dx(q.padding, q.x_shape, q.filters):
            name, why = "winograd", "forward and input gradient (a full 3x3 correlation)"
        else:
            # "valid": dy needs a border of 2 and wastes tiles; measured slower (the module).
            name, why = "winograd+gemm-dx", "forward; dx stays im2col ('valid' measured slower)"
        return Kernel(name, winograd_train.WinogradTrainConv, f"3x3 stride 1: {why}")
    return None


def _gemm_train_conv(q: Query):
    col2im = choose("col2im", q)
    return Kernel(f"gemm+{col2im.name}-col2im", None, f"im2col + GEMMs; {col2im.reason}")


def _gemm_conv(q: Query):
    from .conv_gemm import ConvPlan

    return Kernel("gemm", ConvPlan, "im2col + one GEMM (the reference)")


def _pool_pair(q: Query, module, name: str, reason: str):
    """The direct or Winograd conv + pool kernel of ``module`` if its rule fits ``q``."""
    if (
        _float(q)
        and fast_conv_enabled()
        and module.numba_kernels() is not None
        and module.supports(
            q.kernel_size,
            q.strides,
            q.dilation,
            q.padding,
            q.pool_size,
            q.pool_strides,
            q.pool_padding,
            q.x_shape,
        )
    ):
        cls = module.DirectConvPool if name == "direct" else module.WinogradConvPool
        return Kernel(name, cls, reason)
    return None


def _direct_conv_pool(q: Query):
    from . import direct

    return _pool_pair(q, direct, "direct", "3x3 conv of one channel + 2x2 pool: no column matrix")


def _wino_conv_pool(q: Query):
    from . import winograd

    return _pool_pair(
        q, winograd, "winograd", "3x3 conv + 2x2 pool, >= 8 channels: pooled cells are whole tiles"
    )


def _compiled_pool(q: Query, name: str, attr: str, reason: str):
    """The compiled pooling function ``attr`` when numba is on and the dtype is float32/64."""
    from . import pool

    module = pool.numba_kernels()
    if _float(q) and module is not None:
        return Kernel(name, getattr(module, attr), reason)
    return None


def _gemm_conv_pool(q: Query):
    reason = "im2col GEMM, then bias, activation and pooling in one compiled pass"
    return _compiled_pool(q, "gemm+pool", "bias_act_max_pool2d_forward", reason)


def _numpy_conv_pool(q: Query):
    from . import fused

    return Kernel(
        "gemm+numpy-pool",
        fused.bias_act_max_pool2d_forward,
        "im2col GEMM, then pooling of the raw map and bias/activation in NumPy",
    )


def _numba_pool(q: Query):
    reason = "compiled max pooling with argmax (training) and its backward"
    return _compiled_pool(q, "numba", "max_pool2d_forward", reason)


def _numpy_pool(q: Query):
    from . import pool

    reason = (
        "float16 has no compiled kernel"
        if np.dtype(q.dtype) not in FLOATS
        else "numba off or missing"
    )
    return Kernel("numpy", pool.max_pool2d_forward, reason)


def _rows_epilogue(q: Query):
    from . import activations

    rows = activations.rows_kernels() if np.dtype(q.dtype) in FLOATS else None
    if rows is not None and q.activation in ("relu", "softmax") and len(q.x_shape) == 2:
        fn = rows.bias_softmax_rows if q.activation == "softmax" else rows.bias_relu_rows
        return Kernel("rows", fn, f"bias + {q.activation} in one compiled pass over the rows")
    return None


def _numpy_epilogue(q: Query):
    return Kernel("numpy", None, "bias and activation as NumPy calls")


def _numba_col2im(q: Query):
    from . import conv_gemm

    mod = conv_gemm.numba_kernels()
    if mod is not None and q.x_shape[-1] > conv_gemm.FEW_CHANNELS:
        return Kernel("numba", mod.col2im, "compiled col2im scatter-add (5-10x NumPy's)")
    return None


def _numpy_col2im(q: Query):
    from . import im2col

    return Kernel("numpy", im2col.col2im, "NumPy slice-adds (few channels, or numba off)")


def _numba_bn_relu_pool(q: Query):
    from . import bn_relu_pool

    if bn_relu_pool.numba_kernels() is not None and bn_relu_pool.supports(
        q.x_shape, q.dtype, q.pool_size, q.pool_strides, q.pool_padding
    ):
        return Kernel("numba", bn_relu_pool.forward, "3 compiled passes over the map, 2 back")
    return None


def _reference_bn_relu_pool(q: Query):
    from . import bn_relu_pool

    return Kernel("reference", bn_relu_pool.forward, "the three layers' NumPy operations")


# Per operation, the candidates in order of preference; the last always applies.
CANDIDATES: dict[str, list[Callable[[Query], Kernel | None]]] = {
    "conv2d": [_wino_conv, _gemm_conv],
    "conv2d-train": [_wino_train_conv, _gemm_train_conv],  # training forward + dx
    "conv2d+maxpool": [_direct_conv_pool, _wino_conv_pool, _gemm_conv_pool, _numpy_conv_pool],
    "maxpool": [_numba_pool, _numpy_pool],
    "epilogue": [_rows_epilogue, _numpy_epilogue],
    "col2im": [_numba_col2im, _numpy_col2im],
    "bn+relu+maxpool": [_numba_bn_relu_pool, _reference_bn_relu_pool],  # training only
}


def choose(op: str, q: Query) -> Kernel:
    """The kernel that runs operation ``op`` (a key of :data:`CANDIDATES`) for query ``q``.

    Example:
        >>> choose("maxpool", Query((2, 4, 4, 1), np.dtype("float16"))).name
        'numpy'
    """
    try:
        candidates = CANDIDATES[op]
    except KeyError:
        from ..errors import unknown_name

        raise unknown_name("kernel operation", op, list(CANDIDATES)) from None
    for candidate in candidates:
        k = candidate(q)
        if k is not None:
            return k
    raise AssertionError(f"no candidate applies to {op}")  # the last one always does


# ---- what runs, per layer ------------------------------------------------------------------
@dataclass(frozen=True)
class PlanRow:
    """One line of :func:`plan`: a graph step (one layer, or a fused pair)."""

    layers: tuple
    input_shape: tuple
    predict: str
    fit: str


def plan(model, batch_size: int = 32, dtype=None) -> list[PlanRow]:
    """Which kernel each step of ``model`` runs at ``batch_size`` (predict and fit).

    Reads the switches now: the answer is what a model built now, or after
    :func:`refresh`, runs.

    Example:
        >>> import filterbank as keras
        >>> from filterbank import layers
        >>> m = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3, activation="relu"),
        ...                       layers.MaxPooling2D(), layers.Flatten()])
        >>> rows = plan(m, 4)   # conv2d + max_pooling2d run as one step unless fusion is off
        >>> rows[-1].layers, rows[-1].input_shape, rows[-1].predict
        (('flatten',), (4, 3, 3, 2), 'numpy')
    """
    return model.kernel_plan(batch_size, dtype)


def describe(rows: list[PlanRow]) -> str:
    """:func:`plan`'s rows as a small table."""
    head = ("layer(s)", "input", "predict", "fit")
    lines = [(" + ".join(r.layers), str(r.input_shape), r.predict, r.fit) for r in rows]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(head)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(s.rstrip() for s in out)

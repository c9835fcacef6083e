"""The shared base of every layer, and the symbolic tensors of the functional API.

The layer contract
------------------
* ``build(input_shape)`` creates the layer's weights with :meth:`Layer.add_weight`
  (``input_shape`` includes the batch axis as ``None``; merge layers get a list).
* ``forward(inputs, training)`` computes the output for a NumPy batch and keeps in
  ``self._cache`` whatever ``backward`` needs.
* ``backward(grad)`` takes dLoss/dOutput (same shape as the output), returns
  dLoss/dInput (a list for merge layers) and writes dLoss/dWeight into
  ``self.grads[name]`` for every trainable weight ``name`` in ``self.params``.
* ``compute_output_shape(input_shape)`` gives the output shape without data.

Hooks the engine calls (declared on :class:`Layer` with these defaults; a layer overrides
what it offers, and nothing else is probed):

* ``inference_fn(shape, dtype)`` -> a lean ``x -> y`` for inference on inputs of exactly
  that shape and dtype, or None (default): the graph's ``predict`` then calls
  ``forward(x, training=False)``. Made once per shape and kept by the engine.
* ``kernel_for(shape, dtype, training)`` -> the :class:`~filterbank.ops.kernels.Kernel`
  that inference (or a training step) runs (default None: the layer's own NumPy code), for
  ``model.kernel_plan``.
* ``preactivation()`` -> the pre-activation ``z`` of the last forward, or None (default);
  ``fused_activation`` -> the name of the activation a loss may fuse with (None by
  default; "softmax" for ``Dense(activation="softmax")``). When a loss fuses with it
  (softmax or sigmoid + cross-entropy) the engine computes dLoss/dz from ``preactivation()``
  and calls ``backward_preactivation(grad_z)`` instead of ``backward``.
* ``compute_input_grad`` (attribute, default True): the engine sets it False for layers
  that read only model inputs; ``backward`` may then skip dLoss/dInput and return None.
* ``engine_internal_dx`` (attribute, default False): the engine sets it True only while it
  calls ``backward`` and only when the input gradient goes straight to the producer
  layer (not out of the graph); the layer may then return a buffer it reuses.

Keras's ``layer.kernel`` and ``layer.bias`` read the weights of those names.

Weights epoch: ``weights_changed()`` bumps one process-wide counter (``weights_epoch()``,
both in :mod:`filterbank.backend`, where the ops can read it) whenever filterbank writes
weights or BatchNormalization statistics (``set_weights``, ``add_weight``, the
``kernel``/``bias`` setters, ``Optimizer.apply_gradients``, a training BatchNormalization
forward, weight loading and restoring). Inference steps that keep values derived from
weights (BatchNormalization folded into a convolution, Winograd's transformed filters)
recompute them when it moved. Code writing into ``layer.params`` arrays in place itself calls ``weights_changed()``.

Gradient accumulation rule
--------------------------
``backward`` *overwrites* ``self.grads``: one forward, then one backward, gives the
gradient of that batch. When a tensor feeds several layers (fan-out), the graph
engine *sums* the input gradients those layers return before handing the total to
the tensor's producer. A layer object is used at most once in a graph (calling it
on a second symbolic input is refused), so parameter gradients never need summing
across calls.

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> dense = layers.Dense(3)
    >>> y = dense(np.ones((2, 4), dtype="float32"))   # eager call: builds, then forward
    >>> y.shape, [w.shape for w in dense.get_weights()]
    ((2, 3), [(4, 3), (3,)])
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from contextvars import ContextVar

import numpy as np

from .. import backend
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ..backend import weights_changed, weights_epoch  # noqa: F401  (the layer contract's)
from ..errors import did_you_mean, fmt_shape
from .checks import check_layer_dtype, check_weight_size, check_weight_values, checked_init

_NAME_COUNTS: dict[str, int] = defaultdict(int)

# Set by filterbank.saving while it rebuilds a model from a file: a callable that vets each new
# weight (layer, name, shape) *before* its memory is allocated, so a damaged or hostile config
# cannot make the loader allocate more than the file's own tensors hold.
WEIGHT_GUARD: ContextVar = ContextVar("filterbank_weight_guard", default=None)


def unique_name(base: str) -> str:
    """Keras's automatic names: conv2d, conv2d_1, conv2d_2, ... (per session)."""
    n = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if n == 0 else f"{base}_{n}"


def clear_session() -> None:
    """Reset automatic layer names (the next Conv2D is 'conv2d' again)."""
    _NAME_COUNTS.clear()


def to_snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
    return s.replace("1_d", "1d").replace("2_d", "2d").replace("3_d", "3d")


class KerasTensor:
    """A symbolic tensor: a shape with ``None`` for the batch, and the call producing it.

    Example:
        >>> import filterbank as keras
        >>> x = keras.Input(shape=(28, 28, 1))
        >>> x.shape
        (None, 28, 28, 1)
    """

    def __init__(self, shape, dtype=None, node=None, name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype or backend.floatx()
        self.node = node  # the Node that outputs this tensor
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={fmt_shape(self.shape)} name={self.name!r}>"


class Node:
    """One call of a layer inside a graph: inbound tensors -> one output tensor."""

    def __init__(self, layer: Layer, inputs: list[KerasTensor], output: KerasTensor, multi: bool):
        self.layer = layer
        self.inputs = inputs
        self.output = output
        self.multi = multi  # True when the layer was called on a list (merge layers)


class Layer:
    """Base class of all layers. See the module docstring for the contract.

    Subclasses set ``expected_ndim`` (and ``axes``, a description of the axes) to get
    the standard rank check and message for free; ``None`` means any rank.
    """

    expected_ndim: int | None = None
    axes: str = ""
    # Engine hooks (see the module docstring): defaults for a layer that offers none.
    fused_activation: str | None = None
    engine_internal_dx: bool = False
    # Shape advice for the most common mistake: a missing trailing channel axis.
    _channel_hint = "Add a channel axis: x[..., None]."

    def __init__(
        self,
        name=None,
        trainable=True,
        dtype=None,
        input_shape=None,
        batch_input_shape=None,
        input_dim=None,
        **kwargs,
    ):
        if kwargs:
            bad = next(iter(kwargs))
            allowed = [
                "name",
                "trainable",
                "dtype",
                "input_shape",
                "batch_input_shape",
                "input_dim",
            ]
            raise TypeError(
                f"{type(self).__name__}() got an unexpected keyword argument {bad!r}. "
                + did_you_mean(bad, list(self._arg_names()) + allowed)
            )
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Layer name must be a non-empty string, got {name!r}.")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = check_layer_dtype(dtype, type(self).__name__)
        self.built = False
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._trainable_names: set[str] = set()
        self._regularizers: dict[str, object] = {}
        self._cache = None
        self.compute_input_grad = True
        self._inbound_node: Node | None = None
        self._build_input_shape = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            if isinstance(input_shape, (int, np.integer)):
                input_shape = (int(input_shape),)
            self._batch_input_shape = (None, *tuple(input_shape))
        else:
            self._batch_input_shape = None

    @classmethod
    def _arg_names(cls):
        import inspect

        names = []
        for klass in cls.__mro__:
            if klass is object:
                continue
            init = klass.__dict__.get("__init__")
            if init is not None:
                names += [
                    p for p in inspect.signature(init).parameters if p not in ("self", "kwargs")
                ]
        return names

    # ---- weights -------------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

    @property
    def compute_dtype(self) -> str:
        return self.dtype or backend.floatx()

    def add_weight(
        self,
        name,
        shape,
        initializer="glorot_uniform",
        trainable=True,
        regularizer=None,
        dtype=None,
    ) -> np.ndarray:
        """Create weight ``name`` (its order of creation is the Keras ``get_weights`` order)."""
        guard = WEIGHT_GUARD.get()
        if guard is not None:
            guard(self, name, shape)
        check_weight_size(self, name, shape, dtype or self.compute_dtype)
        value = _initializers.get(initializer)(shape, dtype or self.compute_dtype)
        self.params[name] = np.ascontiguousarray(value)
        weights_changed()
        if trainable:
            self._trainable_names.add(name)
        if regularizer is not None:
            self._regularizers[name] = _regularizers.get(regularizer)
        return self.params[name]

    def trainable_param_names(self) -> list[str]:
        """Names of the weights an optimizer updates (none when the layer is frozen)."""
        if not self._trainable:
            return []
        return [n for n in self.params if n in self._trainable_names]

    @property
    def weights(self) -> list[np.ndarray]:
        return list(self.params.values())

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [self.params[n] for n in self.trainable_param_names()]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        keep = set(self.trainable_param_names())
        return [v for n, v in self.params.items() if n not in keep]

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' is not built yet, so it has no weights to count. "
                "Call it on an input or give the model an input_shape first."
            )
        return int(sum(v.size for v in self.params.values()))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights in Keras order (e.g. [kernel, bias])."""
        return [v.copy() for v in self.params.values()]

    def set_weights(self, weights) -> None:
        """Load weights in Keras order; shapes must match exactly."""
        weights = list(weights)
        names = list(self.params)
        if not self.built and weights:
            raise ValueError(
                f"Layer '{self.name}' is not built yet, so it has no weights to set (they are "
                "created from the input shape). Build it first -- call it on data, put it in a "
                "model with an input shape, or layer.build((None, *input_shape)) -- then call "
                "set_weights."
            )
        if len(weights) != len(names):
            raise ValueError(
                f"Layer '{self.name}' expects {len(names)} weight arrays ({', '.join(names) or 'none'}), "
                f"got {len(weights)}. Pass them in the order get_weights() returns."
            )
        for i, (name, w) in enumerate(zip(names, weights)):
            w = weights[i] = check_weight_values(
                w, self.params[name].dtype, f"Layer '{self.name}'.set_weights: weight '{name}'"
            )
            if w.shape != self.params[name].shape:
                raise ValueError(
                    f"Layer '{self.name}' weight '{name}' expects shape {fmt_shape(self.params[name].shape)}, "
                    f"got {fmt_shape(w.shape)}. Check that the weights come from the same architecture "
                    "(Keras layouts: Conv2D kernel (kh, kw, in, out), Dense kernel (in, out))."
                )
        for name, w in zip(names, weights):
            self.params[name][...] = np.asarray(w, dtype=self.params[name].dtype)
        weights_changed()

    def regularization_loss(self) -> float:
        if not self._trainable:
            return 0.0
        return float(sum(r(self.params[n]) for n, r in self._regularizers.items()))

    def add_regularization_grads(self) -> None:
        """Add each regularizer's gradient to ``self.grads`` (called after ``backward``)."""
        if not self._trainable:
            return
        for n, r in self._regularizers.items():
            self.grads[n] = self.grads[n] + r.gradient(self.params[n])

    # ---- shapes --------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def check_input_shape(self, shape, index: int = 0) -> None:
        """Raise the standard message when an input's rank does not fit this layer."""
        if self.expected_ndim is None or len(shape) == self.expected_ndim:
            return
        hint = ""
        if len(shape) == self.expected_ndim - 1 and self.expected_ndim >= 3:
            hint = " " + self._channel_hint
            if self._batch_input_shape is not None and tuple(shape) == self._batch_input_shape:
                given = fmt_shape(self._batch_input_shape[1:])
                hint = (
                    f" Its input_shape={given} has no channel axis: pass "
                    f"input_shape={fmt_shape((*self._batch_input_shape[1:], 1))} for "
                    "one-channel data (and give the data that axis too: x[..., None])."
                )
            elif shape[0] is not None and shape[-1] in (1, 3, 4):
                # A real array whose last axis looks like channels: one sample, no batch axis.
                hint = (
                    " It looks like one sample without the batch axis: use x[None] (or, "
                    "for a batch of one-channel images, x[..., None])."
                )
        raise ValueError(
            f"Input {index} of layer '{self.name}' expects {self.expected_ndim} dims {self.axes}, "
            f"got shape {fmt_shape(shape)}.{hint}".replace("dims ,", "dims,")
        )

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = checked_init(cls.__init__)  # huge integer arguments, at construction
        # A user may call build() by hand, then set_weights(): mark the layer built whichever
        # build() ran, so the first call does not re-initialise the weights it was given.
        if "build" in cls.__dict__:
            user_build = cls.__dict__["build"]

            @functools.wraps(user_build)
            def build(self, input_shape, _build=user_build):
                _build(self, input_shape)
                if self._build_input_shape is None:
                    self._build_input_shape = input_shape
                self.built = True

            cls.build = build

    def _maybe_build(self, input_shape, actual_shape=None) -> None:
        """Check the input rank (on the real shape when given), then build once."""
        checked = input_shape if actual_shape is None else actual_shape
        if isinstance(checked, list):
            for i, s in enumerate(checked):
                self.check_input_shape(s, i)
        else:
            self.check_input_shape(checked)
        if not self.built:
            self._build_input_shape = input_shape
            self.build(input_shape)
            self.built = True

    # ---- computation ---------------------------------------------------------------------
    def forward(self, inputs, training: bool = False):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, grad):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def backward_preactivation(self, grad_z):
        """dLoss/dInput from dLoss/dz, the gradient at the pre-activation (see
        ``preactivation``); only for layers whose ``fused_activation`` is set."""
        raise NotImplementedError(
            f"Layer '{self.name}' ({type(self).__name__}) has no pre-activation to fuse a loss "
            "with; call backward instead."
        )

    def preactivation(self):
        """The pre-activation ``z`` of the last forward (what a fused loss reads), or None."""
        return None

    def inference_fn(self, shape, dtype):
        """A lean ``x -> y`` for inputs of exactly this shape and dtype, or None (default):
        then inference calls ``forward(x, training=False)``."""
        return None

    def kernel_for(self, shape, dtype, training=False):
        """The :class:`~filterbank.ops.kernels.Kernel` that inference (or, with
        ``training``, a training step) runs for this input, or None (default): the layer's
        own NumPy code."""
        return None

    # ---- Keras attribute names -----------------------------------------------------------
    @property
    def kernel(self) -> np.ndarray:
        """The weight named "kernel" (Keras's ``layer.kernel``).

        Example:
            >>> from filterbank import layers
            >>> d = layers.Dense(2); _ = d.build((None, 3))
            >>> d.kernel.shape, d.bias.shape
            ((3, 2), (2,))
        """
        if "kernel" not in self.params:
            raise AttributeError(self._no_weight("kernel"))
        return self.params["kernel"]

    @kernel.setter
    def kernel(self, value) -> None:
        # Keras code writes ``self.kernel = self.add_weight("kernel", ...)``: the weight is
        # already in params under that name; anything else replaces it.
        if self.params.get("kernel") is not value:
            self.params["kernel"] = np.asarray(value)
            weights_changed()

    @property
    def bias(self):
        """The weight named "bias", or None for a layer built with ``use_bias=False``."""
        if "bias" in self.params:
            return self.params["bias"]
        if "kernel" in self.params:
            return None
        raise AttributeError(self._no_weight("bias"))

    @bias.setter
    def bias(self, value) -> None:
        if value is not None and self.params.get("bias") is not value:
            self.params["bias"] = np.asarray(value)
            weights_changed()

    def _no_weight(self, name):
        if not self.built:
            return (
                f"Layer '{self.name}' is not built yet, so it has no {name}. Call it on an "
                "input (or build it) first."
            )
        return f"Layer '{self.name}' ({type(self).__name__}) has no weight named {name!r}."

    def __call__(self, inputs, training=None):
        multi = isinstance(inputs, (list, tuple))
        items = list(inputs) if multi else [inputs]
        symbolic = [isinstance(t, KerasTensor) for t in items]
        if any(symbolic):
            if not all(symbolic):
                raise TypeError(
                    f"Layer '{self.name}' got a mix of symbolic inputs (from keras.Input) and arrays. "
                    "Build the graph from Input tensors only."
                )
            return self._call_symbolic(items, multi)
        arrays = [
            np.asarray(a, dtype=self.compute_dtype)
            if not (isinstance(a, np.ndarray) and a.dtype == self.compute_dtype)
            else a
            for a in items
        ]
        shapes = [(None, *a.shape[1:]) for a in arrays]
        actual = [a.shape for a in arrays]
        self._maybe_build(shapes if multi else shapes[0], actual if multi else actual[0])
        return self.forward(arrays if multi else arrays[0], training=bool(training))

    def _call_symbolic(self, items, multi):
        if self._inbound_node is not None:
            raise ValueError(
                f"Layer '{self.name}' is already used in a graph; filterbank does not share a layer "
                "between two calls. Create a second layer with the same settings instead."
            )
        shapes = [t.shape for t in items]
        in_shape = shapes if multi else shapes[0]
        self._maybe_build(in_shape)
        out_shape = self.compute_output_shape(in_shape)
        out = KerasTensor(out_shape, self.compute_dtype, name=self.name)
        node = Node(self, items, out, multi)
        out.node = node
        self._inbound_node = node
        return out

    # ---- introspection -------------------------------------------------------------------
    @property
    def inbound_node(self) -> Node | None:
        """This layer's call in a graph (inputs, output), or None before a symbolic call."""
        return self._inbound_node

    def release(self) -> None:
        """Forget the graph call (a model that drops this layer calls it), so that the layer
        can be called on a symbolic input again."""
        self._inbound_node = None

    @property
    def batch_input_shape(self):
        """The input shape given with ``input_shape=`` / ``batch_input_shape=`` (batch axis
        None), or None: what makes ``Sequential`` add its Input."""
        return self._batch_input_shape

    @batch_input_shape.setter
    def batch_input_shape(self, value) -> None:
        self._batch_input_shape = None if value is None else tuple(value)

    @property
    def output(self) -> KerasTensor:
        if self._inbound_node is None:
            raise AttributeError(
                f"Layer '{self.name}' has not been called on a symbolic input, so it has no output yet."
            )
        return self._inbound_node.output

    @property
    def input(self):
        if self._inbound_node is None:
            raise AttributeError(
                f"Layer '{self.name}' has not been called on a symbolic input, so it has no input yet."
            )
        ins = self._inbound_node.inputs
        return ins if self._inbound_node.multi else ins[0]

    @property
    def output_shape(self):
        return self.output.shape

    @property
    def input_shape(self):
        if self._inbound_node is not None:
            ins = self._inbound_node.inputs
            return [t.shape for t in ins] if self._inbound_node.multi else ins[0].shape
        if self._build_input_shape is not None:
            return self._build_input_shape
        raise AttributeError(f"Layer '{self.name}' has no input shape yet.")

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"

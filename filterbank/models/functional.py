"""The functional ``Model``: a graph of layers from ``keras.Input`` tensors to outputs.

``Model(inputs, outputs)`` takes the symbolic tensors of a layer graph (one or
a list each; branches, ``Add`` / ``Concatenate`` merges and several inputs and
outputs are fine). The graph is put in topological order once
(:mod:`filterbank.models.graph`); training, evaluation and prediction come from
:class:`~filterbank.models.training.TrainingMixin`, the Keras table from
:mod:`~filterbank.models.summary`, configs from :mod:`~filterbank.models.config`.

Shapes: model inputs are (batch, *input.shape[1:]), outputs (batch, *output.shape[1:]).

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> keras.utils.clear_session()  # fresh automatic names
    >>> inputs = keras.Input(shape=(4,))
    >>> hidden = layers.Dense(8, activation="relu")(inputs)
    >>> outputs = layers.Dense(3, activation="softmax")(hidden)
    >>> model = keras.Model(inputs, outputs)
    >>> model.name, [layer.name for layer in model.layers]
    ('functional', ['input_layer', 'dense', 'dense_1'])
    >>> model(np.zeros((2, 4), "float32")).shape
    (2, 3)
"""

from __future__ import annotations

import numpy as np

from ..errors import fmt_shape
from ..layers.base import KerasTensor, Layer, unique_name, weights_changed
from ..layers.checks import check_weight_values
from ..layers.input_layer import InputLayer
from . import validation
from .graph import Graph
from .locking import locked
from .memory import guard_memory
from .training import TrainingMixin


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class Model(TrainingMixin):
    """A functional model: ``keras.Model(inputs, outputs, name=None)``.

    Args:
        inputs: a ``keras.Input`` tensor or a list of them.
        outputs: a tensor from layer calls on the inputs, or a list of them.
        name: the model's name (default Keras style: "functional", "functional_1", ...).
        trainable: False freezes every layer.

    Layer names must be unique within a model; each layer object is used once.
    """

    _default_name = "functional"

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if kwargs:
            bad = next(iter(kwargs))
            raise TypeError(
                f"Model() got an unexpected keyword argument {bad!r}. Expected Model(inputs, "
                "outputs, name=None, trainable=True)."
            )
        self._init_model_state(name)
        if inputs is None or outputs is None:
            raise TypeError(
                "Model() needs inputs= and outputs=: build a graph with keras.Input and layer "
                "calls, then keras.Model(inputs, outputs). For a plain stack of layers use "
                "keras.Sequential([...]). (Subclassed models with a custom call() are not "
                "supported.)"
            )
        if isinstance(inputs, dict) or isinstance(outputs, dict):
            raise TypeError(
                f"Model '{self.name}' takes inputs and outputs as a tensor or a list of tensors, "
                "got a dict. Pass list(d.values())."
            )
        self._single_input = not isinstance(inputs, (list, tuple))
        self._single_output = not isinstance(outputs, (list, tuple))
        self._set_graph(_as_list(inputs), _as_list(outputs))
        if not trainable:
            self.trainable = False

    def _init_model_state(self, name):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Model name must be a non-empty string, got {name!r}.")
        self.name = name or unique_name(self._default_name)
        self._graph: Graph | None = None
        self._single_input = True
        self._single_output = True
        self._trainable = True
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self._compiled = None
        self._compile_config = None
        self.stop_training = False
        self.history = None

    def _set_graph(self, inputs, outputs):
        graph = Graph(inputs, outputs, owner=self.name)
        seen: dict[str, Layer] = {}
        for layer in graph.layers:
            other = seen.get(layer.name)
            if other is not None:
                raise ValueError(
                    f"Model '{self.name}' has two layers named '{layer.name}' "
                    f"({type(other).__name__} and {type(layer).__name__}); layer names must be "
                    "unique within a model. Pass a distinct name=... to one of them (or omit "
                    "name= for automatic names)."
                )
            seen[layer.name] = layer
        self._graph = graph
        if self._compiled is not None:
            self._compiled.bind(self)

    def _require_graph(self, what: str) -> Graph:
        if self._graph is None:
            raise ValueError(
                f"Model '{self.name}' is not built yet, so it has no {what}. Give the first layer "
                "an input_shape (or start with keras.Input(shape=...)), call model.build((None, "
                "...)), or run it on data once."
            )
        return self._graph

    @property
    def built(self) -> bool:
        return self._graph is not None

    # ---- structure ---------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """Every layer in Keras order (a functional model lists its InputLayers too)."""
        return list(self._require_graph("layers").layers)

    def get_layer(self, name=None, index=None) -> Layer:
        """A layer by ``name`` or by position ``index`` in :attr:`layers`."""
        if (name is None) == (index is None):
            raise ValueError(
                f"get_layer on model '{self.name}' needs exactly one of name= or index=, got "
                f"name={name!r}, index={index!r}."
            )
        layers = self.layers
        if index is not None:
            if not isinstance(index, (int, np.integer)) or not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"get_layer on model '{self.name}' got index={index!r}, but the model has "
                    f"{len(layers)} layers (valid: 0..{len(layers) - 1})."
                )
            return layers[int(index)]
        for layer in layers:
            if layer.name == name:
                return layer
        from ..errors import did_you_mean

        raise ValueError(
            f"No layer named {name!r} in model '{self.name}'. "
            + did_you_mean(name, [layer.name for layer in layers])
        )

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._require_graph("inputs").inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._require_graph("outputs").outputs)

    @property
    def input(self):
        ins = self.inputs
        return ins[0] if self._single_input else ins

    @property
    def output(self):
        outs = self.outputs
        return outs[0] if self._single_output else outs

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if self._single_input else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if self._single_output else shapes

    @property
    def input_names(self) -> list[str]:
        return [t.node.layer.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Names of the layers producing the outputs (Keras 3's output names)."""
        return [t.node.layer.name for t in self.outputs]

    @property
    def input_dtype(self) -> str:
        return self.inputs[0].dtype

    # ---- weights -----------------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        # As Keras 3: setting it on the model sets it on every layer.
        self._trainable = bool(value)
        for layer in self._all_layers():
            layer.trainable = value

    def _all_layers(self) -> list[Layer]:
        return self.layers if self.built else []

    @property
    def weights(self) -> list[np.ndarray]:
        """Every weight (the live arrays), layers in order, each layer's in Keras order."""
        return [w for layer in self._all_layers() for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._all_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [w for layer in self._all_layers() for w in layer.non_trainable_weights]

    def count_params(self) -> int:
        """Total number of scalars in all weights (trainable or not)."""
        self._require_graph("weights to count")
        return int(sum(w.size for w in self.weights))

    @locked
    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights in Keras order (layer by layer, e.g. [kernel, bias, ...])."""
        return [w.copy() for w in self.weights]

    @locked
    def set_weights(self, weights) -> None:
        """Load weights in the order :meth:`get_weights` returns them.

        The count and every shape are checked before anything is written, so a failed call
        leaves the model unchanged.
        """
        self._require_graph("weights to set")
        weights = list(weights)
        slots = [
            (layer, wname, arr) for layer in self.layers for wname, arr in layer.params.items()
        ]
        if len(weights) != len(slots):
            raise ValueError(
                f"Model '{self.name}'.set_weights expects {len(slots)} arrays (one per weight, in "
                f"get_weights() order), got {len(weights)}. Check that they come from the same "
                "architecture."
            )
        arrays = []
        for i, ((layer, wname, arr), w) in enumerate(zip(slots, weights)):
            w = check_weight_values(
                w,
                arr.dtype,
                f"Model '{self.name}'.set_weights: array {i} "
                f"(layer '{layer.name}' weight '{wname}')",
            )
            if w.shape != arr.shape:
                raise ValueError(
                    f"Model '{self.name}'.set_weights: array {i} is for layer '{layer.name}' "
                    f"weight '{wname}', which has shape {fmt_shape(arr.shape)}, got shape "
                    f"{fmt_shape(w.shape)}. Pass the arrays in get_weights() order, from the same "
                    "architecture."
                )
            arrays.append(w)
        for (_, _, arr), w in zip(slots, arrays):
            arr[...] = w
        weights_changed()

    # ---- running -----------------------------------------------------------------------------
    def build(self, input_shape=None) -> None:
        """A functional model is built when it is created; this only checks the shape given."""
        return None

    @locked
    @guard_memory("__call__")
    def __call__(self, inputs, training=False):
        """Run the model eagerly on arrays: ``model(x)`` -> array (or list for several outputs).

        Inputs are converted to the model's dtype; a missing trailing channel axis of size 1
        is added as Keras does. Unlike :meth:`predict`, the whole input is one batch.
        """
        items = _as_list(inputs) if not isinstance(inputs, dict) else list(inputs.values())
        if any(isinstance(t, KerasTensor) for t in items):
            raise TypeError(
                f"Model '{self.name}' was called on a symbolic tensor: using a model as a layer of "
                "another model is not supported. Call its layers on the tensor instead, or run "
                "the model on NumPy arrays."
            )
        xs = validation.prepare_inputs(self, inputs, where="__call__", check_finite_values=False)
        outs = self._graph.forward(xs, training=True) if training else self._graph.predict(xs)
        return outs[0] if self._single_output else outs

    # ---- summary, config, saving -------------------------------------------------------------
    def kernel_plan(self, batch_size: int = 32, dtype=None) -> list:
        """Which kernel each step runs in ``predict`` and ``fit`` on batches of
        ``batch_size``, as the switches are set now (:func:`filterbank.ops.kernels.plan`).

        Example:
            >>> import filterbank as keras
            >>> from filterbank import layers
            >>> m = keras.Sequential([keras.Input((4,)), layers.Dense(2, activation="relu")])
            >>> row = m.kernel_plan(8)[0]
            >>> row.layers, row.input_shape, row.fit
            (('dense',), (8, 4), 'numpy')
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"kernel_plan() argument batch_size expects a positive integer, got "
                f"{batch_size!r}. Pass e.g. batch_size=64."
            )
        return self._require_graph("kernel plan").kernel_plan(batch_size, dtype)

    def summary(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
        arithmetic=False,
        kernels=False,
        batch_size=32,
    ):
        """Print the Keras table of layers, output shapes and parameter counts.

        Args:
            line_length: total width (default: Keras's 88, or 108 with the "Connected to"
                column of branching models, capped by the terminal width).
            positions: relative column boundaries (Keras's defaults).
            print_fn: called once with the whole table text instead of ``print``.
            expand_nested: accepted for Keras compatibility (models are never nested here).
            show_trainable: add a "Trainable" column.
            layer_range: (first, last) layer names or regexes: print only that slice of rows.
            arithmetic: add each layer's output-size and parameter formulas with their
                numbers, receptive field and Dense-equivalent cost
                (:func:`filterbank.explain.arithmetic_text`).
            kernels: also print which kernel each step runs in predict and fit at
                ``batch_size`` (:meth:`kernel_plan`).

        Returns None, as Keras (so a notebook does not echo the table twice); use
        :meth:`summary_string` for the text.
        """
        from .summary import print_summary

        if arithmetic:
            text = self.summary_string(
                line_length, positions, show_trainable, layer_range, arithmetic=True
            )
            (print_fn or print)(text)
        else:
            print_summary(
                self,
                line_length=line_length,
                positions=positions,
                print_fn=print_fn,
                show_trainable=show_trainable,
                layer_range=layer_range,
            )
        if kernels:
            from ..ops.kernels import describe

            text = f"Kernels at batch {batch_size} (filterbank.ops.kernels):\n" + describe(
                self.kernel_plan(batch_size)
            )
            (print_fn or print)(text)

    def summary_string(
        self,
        line_length=None,
        positions=None,
        show_trainable=False,
        layer_range=None,
        arithmetic=False,
    ) -> str:
        """The :meth:`summary` text, without printing it."""
        from .summary import format_summary

        text = format_summary(
            self,
            line_length=line_length,
            positions=positions,
            show_trainable=show_trainable,
            layer_range=layer_range,
        )
        if arithmetic:
            from ..explain.arithmetic import arithmetic_text

            text += "\n\n" + arithmetic_text(self)
        return text

    def get_config(self) -> dict:
        """A JSON-serialisable description of the architecture (no weights)."""
        from .config import functional_config

        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict):
        from .config import functional_from_config

        return functional_from_config(config)

    def to_json(self) -> str:
        import json

        from .config import serialize_model

        return json.dumps(serialize_model(self))

    @locked
    def save(self, filepath, **kwargs):
        """Save architecture, weights and optimizer state (see :mod:`filterbank.saving`)."""
        from .. import saving

        return saving.save_model(self, filepath, **kwargs)

    @locked
    def save_weights(self, filepath, **kwargs):
        from .. import saving

        return saving.save_weights(self, filepath, **kwargs)

    @locked
    def load_weights(self, filepath, **kwargs):
        from .. import saving

        return saving.load_weights(self, filepath, **kwargs)

    def export(self, filepath, format="onnx", verbose=True, **kwargs):
        """Keras 3's ``model.export(path, format="onnx")``: see :func:`filterbank.onnx.export_model`.

        Keyword arguments ``opset`` (default 17) and ``channels_first`` (default False) pass
        through; "onnx" is the only format.
        """
        if format != "onnx":
            raise ValueError(
                f"model.export supports format='onnx' only, got format={format!r}. "
                "Save the model itself with model.save('model.keras')."
            )
        from ..onnx import export_model

        path = export_model(self, filepath, **kwargs)
        if verbose:
            print(f"Saved ONNX model to {path}")
        return path

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def model_from_config(config: dict):
    """Rebuild a model from ``model.get_config()`` or ``{"class_name": ..., "config": ...}``.

    Only built-in layer classes (``filterbank.layers.LAYER_CLASSES``) can be named; nothing
    is imported or evaluated from the config.

    Example:
        >>> import filterbank as keras
        >>> from filterbank import layers
        >>> m = keras.Sequential([layers.Dense(2, input_shape=(3,))])
        >>> keras.models.model_from_config(m.get_config()).count_params()
        8
    """
    from .config import model_from_config as _impl

    return _impl(config)


def model_from_json(text: str):
    import json

    return model_from_config(json.loads(text))


__all__ = ["Model", "model_from_config", "model_from_json", "InputLayer"]

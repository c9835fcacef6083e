"""``Sequential``: a plain stack of layers, run by the same graph engine as ``Model``.

The model keeps a list of layers. Once the input shape is known -- from an
``Input`` added first, an ``input_shape=`` on the first layer, ``build()``, or
the first batch of data given to ``fit`` / ``evaluate`` / ``predict`` / a call --
it makes a fresh ``InputLayer`` and calls each layer on the previous symbolic
output, giving a functional graph (``add`` and ``pop`` rebuild it).

Shapes: input (batch, *input_shape), output (batch, *last_layer_output[1:]).

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> model = keras.Sequential([
    ...     layers.Dense(16, activation="relu", input_shape=(8,)),
    ...     layers.Dense(3, activation="softmax"),
    ... ])
    >>> model.output_shape, model.count_params()
    ((None, 3), 195)
"""

from __future__ import annotations

from ..errors import fmt_shape
from ..layers.base import KerasTensor, Layer
from ..layers.input_layer import InputLayer
from .functional import Model


class Sequential(Model):
    """``keras.Sequential(layers=None, name=None, trainable=True)``.

    ``model.layers`` lists the added layers (not the automatic ``InputLayer``, as Keras).
    """

    _default_name = "sequential"

    def __init__(self, layers=None, name=None, trainable=True):
        self._init_model_state(name)
        self._layers: list[Layer] = []
        if layers is not None:
            if isinstance(layers, (Layer, KerasTensor)):
                layers = [layers]
            for layer in layers:
                self.add(layer, rebuild=False)
            self._maybe_rebuild()
        if not trainable:
            self.trainable = False

    # ---- stacking ----------------------------------------------------------------------------
    def add(self, layer, rebuild: bool = True) -> None:
        """Append a layer (or a ``keras.Input(...)`` tensor, first only)."""
        if (
            isinstance(layer, KerasTensor)
            and layer.node is not None
            and isinstance(layer.node.layer, InputLayer)
        ):
            layer = layer.node.layer
        if isinstance(layer, type) and issubclass(layer, Layer):
            raise TypeError(
                f"Sequential model '{self.name}'.add got the class {layer.__name__}, not a layer. "
                f"Create one: layers.{layer.__name__}(...)."
            )
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential model '{self.name}' accepts only layer instances, got "
                f"{type(layer).__name__} {layer!r}. Pass e.g. layers.Dense(10)."
            )
        for other in self._layers:
            if other is layer:
                raise ValueError(
                    f"Layer '{layer.name}' is already in Sequential model '{self.name}'; a layer "
                    "is used once. Create a second layer with the same settings instead."
                )
            if other.name == layer.name:
                raise ValueError(
                    f"All layers added to Sequential model '{self.name}' need unique names; "
                    f"'{layer.name}' is already the name of a layer in it. Pass a distinct "
                    "name=... (or omit name= for automatic names)."
                )
        if isinstance(layer, InputLayer):
            if self._layers:
                where = (
                    (
                        "already starts with an Input of shape "
                        f"{fmt_shape(self._layers[0].batch_shape)}"
                    )
                    if isinstance(self._layers[0], InputLayer)
                    else "already has layers"
                )
                raise ValueError(
                    f"Sequential model '{self.name}' {where}; an Input can only come first. Put "
                    "keras.Input(shape=...) at the start of the list."
                )
        elif layer.inbound_node is not None:
            raise ValueError(
                f"Layer '{layer.name}' is already used in another model's graph; filterbank does "
                "not share a layer between models. Create a new layer with the same settings."
            )
        before = list(self._layers)
        if (
            not self._layers
            and not isinstance(layer, InputLayer)
            and layer.batch_input_shape is not None
        ):
            # The Keras idiom: input_shape= on the first layer makes the Input.
            self._layers.append(InputLayer(batch_shape=layer.batch_input_shape, dtype=layer.dtype))
        self._layers.append(layer)
        if not rebuild:
            self._graph = None
            return
        try:
            self._maybe_rebuild()
        except Exception:
            # Leave the model as it was before the failed add.
            self._layers = before
            self._release(layer)
            self._maybe_rebuild()
            raise

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the last layer."""
        if not self.layers:
            raise TypeError(f"Sequential model '{self.name}' has no layers to pop.")
        layer = self._layers.pop()
        self._release(layer)
        self._graph = None
        if rebuild:
            self._maybe_rebuild()
        return layer

    @staticmethod
    def _release(layer: Layer) -> None:
        if not isinstance(layer, InputLayer):
            layer.release()

    @property
    def layers(self) -> list[Layer]:
        if self._layers and isinstance(self._layers[0], InputLayer):
            return self._layers[1:]
        return list(self._layers)

    def _all_layers(self) -> list[Layer]:
        return self.layers

    def _maybe_rebuild(self) -> None:
        self._graph = None
        if len(self._layers) > 1 and isinstance(self._layers[0], InputLayer):
            self.build(self._layers[0].batch_shape)

    def build(self, input_shape=None) -> None:
        """Build the graph for inputs of ``input_shape`` (with the batch axis: (None, 8))."""
        if input_shape is None:
            if self._graph is not None:
                return
            raise ValueError(
                f"Sequential model '{self.name}'.build needs input_shape, e.g. build((None, 28, "
                "28, 1))."
            )
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
        if not self.layers:
            raise ValueError(
                f"Sequential model '{self.name}' cannot be built because it has no layers. Call "
                "model.add(layer) first."
            )
        if isinstance(self._layers[0], InputLayer):
            have = self._layers[0].batch_shape
            if tuple(have[1:]) != tuple(input_shape[1:]):
                raise ValueError(
                    f"Sequential model '{self.name}' is configured for input shape "
                    f"{fmt_shape(have)}, got {fmt_shape(input_shape)}. Feed data of the configured "
                    "shape, or build a new model for the new shape."
                )
        else:
            self._layers.insert(0, InputLayer(batch_shape=input_shape, dtype=self._layers[0].dtype))
        for layer in self._layers[1:]:
            self._release(layer)
        try:
            x = self._layers[0].output
            for layer in self._layers[1:]:
                x = layer(x)
        except Exception:
            for layer in self._layers[1:]:
                self._release(layer)
            raise
        self._set_graph([self._layers[0].output], [x])

    def _build_from_data(self, shape) -> None:
        """Lazy build from the first data seen: shape (n, ...) -> input (None, ...)."""
        self.build((None, *shape[1:]))

    # ---- config ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        from .config import sequential_config

        return sequential_config(self)

    @classmethod
    def from_config(cls, config: dict):
        from .config import sequential_from_config

        return sequential_from_config(config)

"""The graph engine: a layer graph in topological order, run forward and backward.

A :class:`Graph` is built once from the model's symbolic inputs and outputs
(``KerasTensor``s from ``keras.Input`` and layer calls). It walks the ``Node``s
back from the outputs, orders them the way Keras orders ``model.layers`` (by
depth, deepest first, ties in traversal order), and compiles the order into a
flat list of steps over integer *slots*, one slot per tensor. Running the
graph is then one Python loop over the layers:

* ``forward(xs, training)``: slot values start as the input arrays; each step
  reads its input slots, calls ``layer.forward`` and writes its output slot.
* ``backward(output_grads)``: walks the steps in reverse. A tensor that feeds
  several layers (fan-out) receives the *sum* of the gradients they return,
  before its producer's ``backward`` sees it (the accumulation rule of
  ``filterbank/layers/base.py``).
* ``predict(xs)``: inference that keeps nothing for a backward pass, through
  each layer's lean per-shape ``inference_fn`` where it has one (predict,
  evaluate, ``model(x)``).

What runs is ``runs``: the steps, except that a ``Conv2D(relu|linear)`` whose only
reader is a ``MaxPooling2D`` runs fused with it (:mod:`filterbank.models.fusion`;
the same numbers, the bias and ReLU on the pooled map), and a training-mode
``BatchNormalization -> Activation("relu") -> MaxPooling2D`` chain runs as one step
(:mod:`filterbank.models.fusion_bn`). ``forward(keep=True)`` runs the plain steps, so
every slot gets its value. ``predict`` runs ``predict_runs``: the steps with
``Conv2D -> BatchNormalization -> Activation -> MaxPooling2D`` chains folded into one
inference-only step (:mod:`filterbank.models.fold`).

Shapes: ``xs[i]`` is (batch, *model.inputs[i].shape[1:]), outputs are
(batch, *model.outputs[j].shape[1:]); gradients have the shape of the tensor
they belong to.

Example:
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> from filterbank.models.graph import Graph
    >>> x = keras.Input(shape=(4,))
    >>> y = layers.Dense(2)(x)
    >>> g = Graph([x], [y])
    >>> [out.shape for out in g.forward([np.ones((3, 4), "float32")])]
    [(3, 2)]
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..layers.base import KerasTensor, Layer
from ..layers.input_layer import InputLayer
from ..ops import kernels as _kernels
from .fold import FoldedConvPool, fold_runs
from .fusion import FusedConvPool, can_fuse, only_reader, readers_of
from .fusion_bn import FusedBNReluPool, can_fuse_bn


@dataclass
class Step:
    """One layer call compiled to slots: ``out = layer.forward(inputs)``."""

    layer: Layer
    in_slots: list[int]
    out_slot: int
    multi: bool
    # (shape, dtype) -> the layer's lean inference function (None: use layer.forward)
    _predictors: _kernels.KeptFunctions = field(
        default_factory=lambda: _kernels.KeptFunctions(), repr=False, compare=False
    )
    # True when the input gradient goes only to the layer before (not out of the graph): a
    # layer offering ``engine_internal_dx`` may then return a buffer it reuses.
    internal_dx: bool = field(default=False, repr=False, compare=False)

    @property
    def layers(self):
        return (self.layer,)

    def forward(self, x, training=False):
        return self.layer.forward(x, training)

    def predict(self, x):
        """Inference on one input array, through the layer's ``inference_fn`` if it has one."""
        fn = self._predictors.get(x, self.layer.inference_fn)
        return self.layer.forward(x, False) if fn is None else fn(x)

    def kernel_for(self, shape, dtype, training=False):
        return self.layer.kernel_for(shape, dtype, training)

    def backward(self, grad):
        return self._engine_call(self.layer.backward, grad)

    def backward_preactivation(self, grad):
        return self._engine_call(self.layer.backward_preactivation, grad)

    def _engine_call(self, method, grad):
        layer = self.layer
        if not self.internal_dx:
            return method(grad)
        layer.engine_internal_dx = True
        try:
            return method(grad)
        finally:
            layer.engine_internal_dx = False


class Graph:
    """A directed acyclic graph of layer calls between model inputs and outputs.

    Attributes:
        inputs, outputs: the symbolic tensors (lists).
        layers: every layer, Keras order (InputLayers included).
        steps: the non-input layer calls in execution (topological) order.
        consumers: slot -> number of layer calls reading it (fan-out).
    """

    def __init__(
        self,
        inputs: list[KerasTensor],
        outputs: list[KerasTensor],
        owner: str = "model",
        fuse: bool | None = None,
    ):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self._check_symbolic(owner)
        nodes, depth, order_index = self._map_graph(owner)
        # Keras orders layers by decreasing depth, ties by traversal order.
        ordered = sorted(nodes, key=lambda n: (-depth[id(n)], order_index[id(n)]))
        self.layers: list[Layer] = [n.layer for n in ordered]

        # Execution order must be topological; depth order already is (a producer is always
        # strictly deeper than each of its consumers).
        slot_of: dict[int, int] = {}
        for n in ordered:
            slot_of[id(n.output)] = len(slot_of)
        self.n_slots = len(slot_of)
        self.input_slots = [slot_of[id(t)] for t in self.inputs]
        self.output_slots = [slot_of[id(t)] for t in self.outputs]
        self.steps: list[Step] = []
        self.consumers = [0] * self.n_slots
        for n in ordered:
            if isinstance(n.layer, InputLayer):
                continue
            in_slots = [slot_of[id(t)] for t in n.inputs]
            for s in in_slots:
                self.consumers[s] += 1
            self.steps.append(Step(n.layer, in_slots, slot_of[id(n.output)], n.multi))
        self.slot_of = slot_of
        self.slot_shapes = [n.output.shape for n in ordered]  # symbolic: None for the batch
        input_set = set(self.input_slots)
        for step in self.steps:
            # A layer reading only model inputs need not compute dLoss/dInput.
            step.layer.compute_input_grad = not all(s in input_set for s in step.in_slots)
            step.internal_dx = not step.multi and step.in_slots[0] not in input_set
        # What forward/backward actually run: the steps, with fusable pairs of layers
        # replaced by one fused step (models/fusion.py).
        self.runs = (
            self._fuse() if (_kernels.fusion_enabled() if fuse is None else fuse) else self.steps
        )
        self._ran = self.runs
        self._folded = (None, None)  # (runs, inference runs made from them): predict_runs
        self._input_signature = None  # (dtype, shape) of input 0, for takes_as_is
        self._lock = threading.Lock()  # see predict

    def __getstate__(self):  # copy.deepcopy(model): a lock is not copied, a new one is made
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def takes_as_is(self, x: np.ndarray) -> bool:
        """True when ``x`` is exactly what the single model input takes: its dtype, its
        rank and fixed sizes, at least one sample, C-contiguous (no conversion needed)."""
        sig = self._input_signature
        if sig is None:
            t = self.inputs[0]
            sig = self._input_signature = (np.dtype(t.dtype), t.shape)
        dtype, shape = sig
        return (
            len(self.inputs) == 1
            and x.dtype == dtype
            and x.ndim == len(shape)
            and x.shape[0] > 0
            and x.flags.c_contiguous
            and all(want is None or want == got for want, got in zip(shape[1:], x.shape[1:]))
        )

    def _fuse(self) -> list:
        readers = readers_of(self.steps)
        outputs = set(self.output_slots)
        runs, absorbed = [], set()
        for step in self.steps:
            if id(step) in absorbed:
                continue
            nxt = only_reader(step, readers, self.consumers, outputs)
            last = None if nxt is None else only_reader(nxt, readers, self.consumers, outputs)
            if last is not None and can_fuse_bn(step, nxt, last):
                runs.append(
                    FusedBNReluPool(
                        step,
                        nxt,
                        last,
                        internal_output=last.out_slot not in outputs,
                        internal_input=step.in_slots[0] not in self.input_slots,
                    )
                )
                absorbed.update((id(nxt), id(last)))
            elif nxt is not None and can_fuse(step, nxt):
                # Run the pair at the convolution's place: the pool's only input is the
                # convolution's output, so the order stays topological. Its output and input
                # gradient may live in its workspace unless they leave the graph.
                runs.append(
                    FusedConvPool(
                        step,
                        nxt,
                        internal_output=nxt.out_slot not in outputs,
                        internal_input=step.in_slots[0] not in self.input_slots,
                    )
                )
                absorbed.add(id(nxt))
            else:
                runs.append(step)
        return runs

    # ---- construction ------------------------------------------------------------------------
    def _check_symbolic(self, owner):
        for kind, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            if not tensors:
                raise ValueError(f"Model '{owner}' needs at least one tensor in {kind}, got none.")
            for i, t in enumerate(tensors):
                if not isinstance(t, KerasTensor):
                    raise TypeError(
                        f"Model '{owner}' {kind}[{i}] must be a symbolic tensor (from "
                        f"keras.Input(...) or a layer call on one), got {type(t).__name__}. Build "
                        "the graph first: inputs = keras.Input(shape=...); outputs = "
                        "layer(inputs)."
                    )
        for i, t in enumerate(self.inputs):
            if t.node is None or not isinstance(t.node.layer, InputLayer):
                raise ValueError(
                    f"Model '{owner}' inputs[{i}] must come straight from keras.Input(...), got "
                    f"the output of layer '{t.node.layer.name if t.node else '?'}'. Pass the Input "
                    "tensor itself."
                )
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise ValueError(
                f"Model '{owner}' lists the same Input tensor twice in inputs. List each once."
            )

    def _map_graph(self, owner):
        """Nodes reachable from the outputs, each node's depth and traversal index."""
        input_ids = {id(t) for t in self.inputs}
        order: list = []  # post-order: producers before consumers
        state: dict[int, int] = {}  # 1 = on the stack, 2 = done
        for out in self.outputs:
            stack = [(out.node, iter(out.node.inputs))]
            if state.get(id(out.node)) == 2:
                continue
            state[id(out.node)] = 1
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    state[id(node)] = 2
                    order.append(node)
                    if isinstance(node.layer, InputLayer) and id(node.output) not in input_ids:
                        raise ValueError(
                            f"Graph disconnected in model '{owner}': the output depends on Input "
                            f"'{node.layer.name}' {_shape(node.output)}, which is not in the "
                            "model's inputs. Add it: keras.Model(inputs=[...all Input "
                            "tensors...], outputs=...)."
                        )
                    continue
                if nxt.node is None:
                    raise ValueError(
                        f"Model '{owner}': a tensor feeding layer '{node.layer.name}' has no "
                        "producing layer. Build every tensor from keras.Input(...) and layer "
                        "calls."
                    )
                s = state.get(id(nxt.node))
                if s == 1:  # impossible with call-once layers, kept as a guard
                    raise ValueError(
                        f"Model '{owner}' has a cycle through layer '{nxt.node.layer.name}'."
                    )
                if s is None:
                    state[id(nxt.node)] = 1
                    stack.append((nxt.node, iter(nxt.node.inputs)))
        for t in self.inputs:
            if state.get(id(t.node)) != 2:
                # Keras keeps unused inputs in the model (they still appear in model.layers).
                order.insert(0, t.node)
        order_index = {id(n): i for i, n in enumerate(order)}
        depth: dict[int, int] = {}
        for node in reversed(order):  # consumers before producers
            d = depth.setdefault(id(node), 0)
            for t in node.inputs:
                depth[id(t.node)] = max(depth.get(id(t.node), 0), d + 1)
        return order, depth, order_index

    # ---- running -----------------------------------------------------------------------------
    def forward(self, xs: list[np.ndarray], training: bool = False, keep: bool = False):
        """Run every layer; returns the list of output arrays (and all slot values if ``keep``).

        With ``keep`` the layers run one by one (no fusion), so every slot gets its value.
        """
        vals: list = [None] * self.n_slots
        for s, x in zip(self.input_slots, xs):
            vals[s] = x
        # backward() walks whatever ran here (the layers' saved state belongs to it).
        self._ran = ran = self.steps if keep else self.runs
        for run in ran:
            if run.multi:
                vals[run.out_slot] = run.forward([vals[s] for s in run.in_slots], training)
            else:
                vals[run.out_slot] = run.forward(vals[run.in_slots[0]], training)
        outs = [vals[s] for s in self.output_slots]
        return (outs, vals) if keep else outs

    @property
    def predict_runs(self) -> list:
        """What ``predict`` runs: ``runs`` with Conv2D -> BatchNormalization -> Activation ->
        MaxPooling2D chains folded into one step (models/fold.py) when fusion is on."""
        runs, folded = self._folded
        if runs is not self.runs:
            folded = self.runs
            if self.runs is not self.steps:  # fusion on (off: the layers one by one)
                folded = fold_runs(self.runs, self.consumers, self.output_slots)
            self._folded = (self.runs, folded)
        return folded

    def predict(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Inference outputs, keeping nothing for a backward pass (predict, ``model(x)``).

        Call :meth:`forward` instead when a :meth:`backward` follows. Predictions from
        several threads take turns: the steps reuse their buffers from call to call.
        """
        vals: list = [None] * self.n_slots
        for s, x in zip(self.input_slots, xs):
            vals[s] = x
        with self._lock:
            for run in self.predict_runs:
                if run.multi:
                    vals[run.out_slot] = run.forward([vals[s] for s in run.in_slots], False)
                else:
                    vals[run.out_slot] = run.predict(vals[run.in_slots[0]])
        return [vals[s] for s in self.output_slots]

    def kernel_plan(self, batch_size: int, dtype=None) -> list:
        """Which kernel each step runs (predict and fit) on batches of ``batch_size``:
        a list of :class:`filterbank.ops.kernels.PlanRow` (see ``kernels.plan``)."""
        dtype = np.dtype(dtype or self.inputs[0].dtype)
        # A layer folded into an inference step (models/fold.py): its predict column names
        # that step's kernel (on the convolution's row) or the convolution it runs in.
        folded = {
            id(la): r for r in self.predict_runs if isinstance(r, FoldedConvPool) for la in r.layers
        }
        rows = []
        for run in self.runs:
            shapes = [(batch_size, *self.slot_shapes[s][1:]) for s in run.in_slots]
            shape = shapes if run.multi else shapes[0]
            kinds = []
            for training in (False, True):
                k = None if run.multi else run.kernel_for(shape, dtype, training)
                kinds.append("numpy" if k is None else k.name)
            into = folded.get(id(run.layers[0]))
            if into is not None:
                first = into.layers[0] is run.layers[0]
                kinds[0] = into.kernel_for(shape, dtype).name if first else f"in {into.conv.name}"
            rows.append(_kernels.PlanRow(tuple(la.name for la in run.layers), tuple(shape), *kinds))
        return rows

    def backward(self, output_grads, preactivation=None, input_grads: bool = False):
        """Back-propagate from dLoss/dOutput; fills every layer's ``grads``.

        Args:
            output_grads: one array (or None: that output does not reach the loss) per output.
            preactivation: optional list of bools; True means ``output_grads[j]`` is dLoss/dz of
                the output layer's pre-activation (softmax/sigmoid + cross-entropy fusion), so
                that layer's ``backward_preactivation`` is called instead of ``backward``.
            input_grads: also return dLoss/dInput for every model input (slower: the first
                layers must then compute their input gradient).

        Follows a :meth:`forward` (not :meth:`predict`, which keeps nothing).

        Returns:
            The list of input gradients if ``input_grads`` else None.
        """
        grads: list = [None] * self.n_slots
        pre = [False] * self.n_slots
        for j, (s, g) in enumerate(zip(self.output_slots, output_grads)):
            if g is None:
                continue
            if preactivation is not None and preactivation[j]:
                pre[s] = True  # the caller guarantees the slot has no other gradient source
                grads[s] = g
            elif grads[s] is None:
                grads[s] = g
            else:
                grads[s] = grads[s] + g
        if input_grads:
            saved = [step.layer.compute_input_grad for step in self.steps]
            for step in self.steps:
                step.layer.compute_input_grad = True
        try:
            for run in reversed(self._ran):
                g = grads[run.out_slot]
                if g is None:
                    # This layer does not reach any loss: its weights get zero gradients.
                    for layer in run.layers:
                        for name in layer.trainable_param_names():
                            layer.grads[name] = np.zeros_like(layer.params[name])
                    continue
                dx = run.backward_preactivation(g) if pre[run.out_slot] else run.backward(g)
                if dx is None:
                    continue
                dxs = dx if run.multi else (dx,)
                for s, d in zip(run.in_slots, dxs):
                    if d is None:
                        continue
                    # Out of place: a layer may hand back an array it still holds (e.g. identity).
                    grads[s] = d if grads[s] is None else grads[s] + d
        finally:
            if input_grads:
                for step, flag in zip(self.steps, saved):
                    step.layer.compute_input_grad = flag
        if input_grads:
            # Copies: a step's input gradient may be a buffer it reuses on the next call.
            return [None if grads[s] is None else np.array(grads[s]) for s in self.input_slots]
        return None


def _shape(t) -> str:
    from ..errors import fmt_shape

    return fmt_shape(t.shape)

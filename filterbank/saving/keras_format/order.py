"""Keras 3's layer order, and the weight paths it derives from it.

Keras names a layer's weights in ``model.weights.h5`` by position, not by layer name:
``layers/<snake_case(class name)>[_<n>]/vars/<i>`` in the order of ``model.layers``. A
functional model lists its layers by decreasing depth from the outputs, ties broken by the
order a depth-first walk from the outputs first meets them (``keras/src/ops/function.py``,
``map_graph``); a Sequential lists its layers without the InputLayer. Reproducing that order
is what lets a file written by one side open on the other.

Example:
    >>> keras_snake_case("MaxPooling2D"), keras_snake_case("ReLU")
    ('max_pooling2d', 're_lu')
    >>> weight_paths(["Conv2D", "Conv2D", "Dense"])
    ['layers/conv2d', 'layers/conv2d_1', 'layers/dense']
"""

from __future__ import annotations

import re


def keras_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case`` (note: "ReLU" -> "re_lu", unlike layer names)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def weight_paths(class_names: list[str]) -> list[str]:
    """The h5 group of each layer, given the class names in ``model.layers`` order."""
    used: dict[str, int] = {}
    out = []
    for cls in class_names:
        base = keras_snake_case(cls)
        if base in used:
            used[base] += 1
            out.append(f"layers/{base}_{used[base]}")
        else:
            used[base] = 0
            out.append(f"layers/{base}")
    return out


def functional_order(
    inbound: dict[str, list[str]], inputs: list[str], outputs: list[str]
) -> list[str]:
    """Layer names in Keras's functional ``model.layers`` order.

    ``inbound`` maps every layer name to the names of the layers feeding it (in call order;
    [] for InputLayers); every layer is called once.
    """
    finished: set[str] = set()
    decreasing: list[str] = []  # nodes from inputs to outputs
    index: dict[str, int] = {}
    for out in outputs:
        stack = [(out, False)]
        while stack:  # an explicit stack: deep graphs must not exhaust Python's recursion
            name, done = stack.pop()
            if done:
                finished.add(name)
                decreasing.append(name)
                continue
            if name in finished:
                continue
            if name not in index:
                index[name] = len(index)
            stack.append((name, True))
            for parent in reversed(inbound[name]):
                if parent not in finished:
                    stack.append((parent, False))
    depth: dict[str, int] = {}
    for name in reversed(decreasing):
        d = depth.setdefault(name, 0)
        for parent in inbound[name]:
            depth[parent] = max(d + 1, depth.get(parent, 0))
    for name in inputs:  # unused inputs still count, at depth 0
        if name not in depth:
            depth[name], index[name] = 0, -1
    return sorted(depth, key=lambda n: (-depth[n], index[n]))

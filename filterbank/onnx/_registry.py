"""The one decorator behind the ONNX tables: exporters by layer class, importers and
constant folders by ONNX op type.

Example:
    >>> TABLE = {}
    >>> handles = registrar(TABLE)
    >>> @handles("Relu", "LeakyRelu")
    ... def convert(node):
    ...     return node
    >>> sorted(TABLE), TABLE["Relu"] is convert
    (['LeakyRelu', 'Relu'], True)
"""

from __future__ import annotations


def registrar(table: dict):
    """A decorator factory: ``@register("A", "B")`` maps both names to the function in
    ``table`` and returns the function unchanged."""

    def register(*names):
        def deco(fn):
            for name in names:
                table[name] = fn
            return fn

        return deco

    return register

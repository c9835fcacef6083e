"""Named architectures for the command line and benchmarks: ``build(name, input_shape, classes)``.

Every builder takes the image shape ``(height, width, channels)`` (channels-last, no batch axis)
and the number of classes, and returns an *uncompiled* model ending in a softmax over the classes.

| name | what | params at (28, 28, 1) / 10 classes |
| --- | --- | --- |
| ``seed-sequential`` | the seed lecture's Sequential MNIST CNN (worked example 9) | 93,322 |
| ``seed-functional`` | the seed lecture's Functional MNIST CNN | 104,202 |
| ``lenet5`` | LeNet-5 (LeCun et al. 1998) adapted: ReLU, avg-pooling, "same" first conv | 61,706 |
| ``xo`` | a tiny CNN for the 9x9 X's and O's (338 params at (9, 9, 1) / 2 classes) | 13,610 |

Example:
    >>> from filterbank import zoo
    >>> model = zoo.build("seed-sequential", (28, 28, 1), 10)
    >>> model.count_params()
    93322
    >>> zoo.build("xo", (9, 9, 1), 2).count_params()
    338
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import unknown_name


def seed_sequential(input_shape, num_classes):
    """The seed's Sequential listing: 3 convs (32, 64, 64 filters of 3x3), 2 max-pools, Dense(64).

    Shapes at (28, 28, 1): 26x26x32 -> 13x13x32 -> 11x11x64 -> 5x5x64 -> 3x3x64 -> 576 -> 64 -> 10.
    Needs images of at least 18x18.
    """
    from . import Sequential, layers

    return Sequential(
        [
            layers.Conv2D(32, (3, 3), activation="relu", input_shape=tuple(input_shape)),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="seed_sequential",
    )


def seed_functional(input_shape, num_classes):
    """The seed's Functional listing: 3 convs (32, 64, 128 filters of 3x3), 2 max-pools, softmax.

    Shapes at (28, 28, 1): 26x26x32 -> 13x13x32 -> 11x11x64 -> 5x5x64 -> 3x3x128 -> 1152 -> 10.
    Needs images of at least 18x18.
    """
    from . import Input, Model, layers

    inputs = Input(shape=tuple(input_shape))
    x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return Model(inputs=inputs, outputs=outputs, name="seed_functional")


def lenet5(input_shape, num_classes):
    """LeNet-5 for 28x28 digits: C1 6@5x5 "same", S2 avg-pool, C3 16@5x5, S4 avg-pool, 120, 84.

    The 1998 network read 32x32 images; a "same" first convolution on 28x28 gives C1 the same
    28x28 maps. Average pooling is the paper's subsampling (without its trainable scale), ReLU
    replaces the scaled tanh and a softmax the RBF output layer. Shapes at (28, 28, 1):
    28x28x6 -> 14x14x6 -> 10x10x16 -> 5x5x16 -> 400 -> 120 -> 84 -> 10. Needs at least 12x12.
    """
    from . import Sequential, layers

    return Sequential(
        [
            layers.Conv2D(6, 5, padding="same", activation="relu", input_shape=tuple(input_shape)),
            layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation="relu"),
            layers.AveragePooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="relu"),
            layers.Dense(84, activation="relu"),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="lenet5",
    )


def xo(input_shape, num_classes):
    """A tiny CNN for X's and O's: 8 filters of 3x3, a 2x2 max-pool ("same", as the slides' 7 -> 4).

    Shapes at (9, 9, 1): 7x7x8 -> 4x4x8 -> 128 -> 2 (338 parameters). Needs at least 3x3.
    """
    from . import Sequential, layers

    return Sequential(
        [
            layers.Conv2D(8, 3, activation="relu", input_shape=tuple(input_shape)),
            layers.MaxPooling2D(2, padding="same"),
            layers.Flatten(),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="xo",
    )


ARCHITECTURES: dict[str, Callable] = {
    "seed-sequential": seed_sequential,
    "seed-functional": seed_functional,
    "lenet5": lenet5,
    "xo": xo,
}
"""Every named architecture: ``name -> builder(input_shape, num_classes)``."""

MIN_SIZE = {"seed-sequential": 18, "seed-functional": 18, "lenet5": 12, "xo": 3}
"""Smallest image side each architecture accepts (every conv/pool output stays >= 1 pixel)."""


def names() -> list[str]:
    """The architecture names, in table order."""
    return list(ARCHITECTURES)


def describe(name: str) -> str:
    """The first line of the builder's docstring."""
    return (ARCHITECTURES[name].__doc__ or "").strip().splitlines()[0]


def build(name: str, input_shape, num_classes: int):
    """Build the named architecture for images ``input_shape`` (h, w, c) and ``num_classes``.

    Raises:
        ValueError: unknown name (with a "Did you mean" hint), a shape that is not (h, w, c),
            images smaller than the architecture allows, or fewer than 2 classes.
    """
    key = str(name).lower().replace("_", "-")
    if key not in ARCHITECTURES:
        raise unknown_name("architecture", name, ARCHITECTURES)
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"Architecture {key!r} expects an image shape (height, width, channels), "
            f"got {tuple(input_shape)}."
        )
    if min(shape[:2]) < MIN_SIZE[key]:
        raise ValueError(
            f"Architecture {key!r} needs images of at least {MIN_SIZE[key]}x{MIN_SIZE[key]} "
            f"pixels, got {shape[0]}x{shape[1]}. Use a model made for small images "
            f"(e.g. 'xo') or larger images."
        )
    if int(num_classes) < 2:
        raise ValueError(f"Architecture {key!r} expects at least 2 classes, got {num_classes}.")
    return ARCHITECTURES[key](shape, int(num_classes))


__all__ = [
    "ARCHITECTURES",
    "MIN_SIZE",
    "build",
    "describe",
    "lenet5",
    "names",
    "seed_functional",
    "seed_sequential",
    "xo",
]

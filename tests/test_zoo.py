"""The named architectures: parameter counts of the seed tables, shapes, limits, names."""

from __future__ import annotations

import numpy as np
import pytest

from filterbank import zoo


@pytest.mark.parametrize(
    "name, shape, classes, params",
    [
        ("seed-sequential", (28, 28, 1), 10, 93_322),  # seed 004's Sequential summary table
        ("seed-functional", (28, 28, 1), 10, 104_202),  # seed 004's Functional summary table
        ("lenet5", (28, 28, 1), 10, 61_706),
        ("xo", (9, 9, 1), 2, 338),
        ("xo", (28, 28, 1), 10, 13_610),
    ],
)
def test_parameter_counts(name, shape, classes, params):
    model = zoo.build(name, shape, classes)
    assert model.count_params() == params
    assert model.output_shape == (None, classes)


def test_seed_sequential_layer_shapes_match_the_seed_table():
    model = zoo.build("seed-sequential", (28, 28, 1), 10)
    shapes = [layer.output_shape for layer in model.layers]
    assert shapes == [
        (None, 26, 26, 32),
        (None, 13, 13, 32),
        (None, 11, 11, 64),
        (None, 5, 5, 64),
        (None, 3, 3, 64),
        (None, 576),
        (None, 64),
        (None, 10),
    ]


def test_lenet5_shapes():
    model = zoo.build("lenet5", (28, 28, 1), 10)
    assert [layer.output_shape for layer in model.layers] == [
        (None, 28, 28, 6),
        (None, 14, 14, 6),
        (None, 10, 10, 16),
        (None, 5, 5, 16),
        (None, 400),
        (None, 120),
        (None, 84),
        (None, 10),
    ]


@pytest.mark.parametrize("name", zoo.names())
def test_min_size_is_exact(name):
    size = zoo.MIN_SIZE[name]
    model = zoo.build(name, (size, size, 1), 3)
    out = model.predict(np.zeros((2, size, size, 1), np.float32), verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    if size > 1:
        # The builder one pixel smaller fails inside the layers: the table is not too strict.
        with pytest.raises(ValueError):
            zoo.ARCHITECTURES[name]((size - 1, size - 1, 1), 3)
        with pytest.raises(ValueError, match=f"needs images of at least {size}x{size}"):
            zoo.build(name, (size - 1, size - 1, 1), 3)


def test_names_and_errors():
    assert zoo.names() == ["seed-sequential", "seed-functional", "lenet5", "xo"]
    assert zoo.build("SEED_SEQUENTIAL", (28, 28, 1), 10).count_params() == 93_322
    with pytest.raises(ValueError, match="Did you mean 'lenet5'"):
        zoo.build("lenet", (28, 28, 1), 10)
    with pytest.raises(ValueError, match=r"expects an image shape \(height, width, channels\)"):
        zoo.build("xo", (28, 28), 10)
    with pytest.raises(ValueError, match="at least 2 classes"):
        zoo.build("xo", (9, 9, 1), 1)
    assert zoo.describe("xo").startswith("A tiny CNN for X's and O's")

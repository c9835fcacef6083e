"""X's and O's (seed 004, worked example 7)."""

from __future__ import annotations

import numpy as np
import pytest

from filterbank.datasets import xo


def _canonical_x() -> np.ndarray:
    # Worked example 7: a 9x9 image of -1 with +1 on both diagonals of the inner 7x7.
    image = -np.ones((9, 9), np.float32)
    for i in range(1, 8):
        image[i, i] = image[i, 8 - i] = 1
    return image


ROHRER_O = np.array(
    [
        [-1, -1, -1, -1, -1, -1, -1, -1, -1],
        [-1, -1, -1, 1, 1, 1, -1, -1, -1],
        [-1, -1, 1, -1, -1, -1, 1, -1, -1],
        [-1, 1, -1, -1, -1, -1, -1, 1, -1],
        [-1, 1, -1, -1, -1, -1, -1, 1, -1],
        [-1, 1, -1, -1, -1, -1, -1, 1, -1],
        [-1, -1, 1, -1, -1, -1, 1, -1, -1],
        [-1, -1, -1, 1, 1, 1, -1, -1, -1],
        [-1, -1, -1, -1, -1, -1, -1, -1, -1],
    ],
    np.float32,
)


@pytest.fixture(scope="module")
def default():
    return xo.load_data()


def test_render_plain_shapes_are_the_slides():
    np.testing.assert_array_equal(xo.render("x"), _canonical_x())
    np.testing.assert_array_equal(xo.render("X"), _canonical_x())
    np.testing.assert_array_equal(xo.render("o"), ROHRER_O)
    assert xo.render("x").dtype == np.float32


def test_plain_x_gives_the_worked_example_response_map():
    # Valid correlation with the `diag` filter, times 9 (i.e. the sum of products).
    diag = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], np.float32)
    image = xo.render("x")
    windows = np.lib.stride_tricks.sliding_window_view(image, (3, 3))
    response = (windows * diag).sum(axis=(-2, -1))
    expected = [
        [7, -1, 1, 3, 5, -1, 3],
        [-1, 9, -1, 3, -1, 1, -1],
        [1, -1, 9, -3, 1, -1, 5],
        [3, 3, -3, 5, -3, 3, 3],
        [5, -1, 1, -3, 9, -1, 1],
        [-1, 1, -1, 3, -1, 9, -1],
        [3, -1, 5, 3, 1, -1, 7],
    ]
    np.testing.assert_array_equal(response, expected)


def test_canonical_x_is_among_the_generated_images(default):
    (x_train, y_train), (x_test, y_test) = default
    images = np.concatenate([x_train, x_test])
    labels = np.concatenate([y_train, y_test])
    is_canonical = np.all(images == _canonical_x(), axis=(1, 2))
    assert is_canonical.sum() >= 10  # about 1 X in 16 is untransformed
    assert np.all(labels[is_canonical] == 1)
    is_rohrer_o = np.all(images == ROHRER_O, axis=(1, 2))
    assert is_rohrer_o.sum() >= 10 and np.all(labels[is_rohrer_o] == 0)


def test_shapes_dtypes_values_and_balance(default):
    (x_train, y_train), (x_test, y_test) = default
    assert x_train.shape == (800, 9, 9) and x_test.shape == (200, 9, 9)
    assert y_train.shape == (800,) and y_test.shape == (200,)
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8
    assert set(np.unique(np.concatenate([x_train, x_test])).tolist()) == {-1.0, 1.0}
    labels = np.concatenate([y_train, y_test])
    assert np.bincount(labels).tolist() == [500, 500]
    assert 60 < y_test.sum() < 140  # shuffled before the split


def test_transforms_give_variety(default):
    (x_train, y_train), _ = default
    for label in (0, 1):
        distinct = {img.tobytes() for img in x_train[y_train == label]}
        assert len(distinct) > 150
    ink = (x_train > 0).sum(axis=(1, 2))
    assert ink.min() >= 8 and ink.max() > 2 * ink.min()  # thin and thick strokes


def test_no_image_carries_both_labels():
    images, labels = xo.generate(2000, seed=7)
    first_label = {}
    for img, label in zip(images, labels):
        assert first_label.setdefault(img.tobytes(), label) == label


def test_shapes_stay_in_the_frame_and_keep_a_border_of_background(default):
    (x_train, _), _ = default
    # Every stroke stays visible: no image is blank, none is mostly ink.
    ink = (x_train > 0).mean(axis=(1, 2))
    assert ink.min() > 0.08 and ink.max() < 0.6


def test_deterministic_in_the_seed():
    a = xo.load_data(n=200, seed=3)
    b = xo.load_data(n=200, seed=3)
    c = xo.load_data(n=200, seed=4)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])


@pytest.mark.parametrize("size", [7, 16, 28])
def test_other_sizes(size):
    (x_train, y_train), (x_test, _) = xo.load_data(n=50, size=size, test_split=0.1)
    assert x_train.shape == (45, size, size) and x_test.shape == (5, size, size)
    plain = xo.render("x", size=size)
    assert plain[1, 1] == 1 and plain[size - 2, size - 2] == 1 and plain[0, 0] == -1


def test_test_split_zero_and_odd_counts():
    (x_train, y_train), (x_test, y_test) = xo.load_data(n=7, test_split=0.0)
    assert len(x_train) == 7 and x_test.shape == (0, 9, 9) and y_test.shape == (0,)
    (x_train, _), (x_test, _) = xo.load_data(n=7, test_split=0.5)
    assert (len(x_train), len(x_test)) == (4, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n=1), "n expects an integer >= 2"),
        (dict(n=10.0), "n expects an integer >= 2"),
        (dict(size=5), "size expects an integer >= 7"),
        (dict(seed=-1), "seed expects a non-negative integer"),
        (dict(test_split=1.0), r"test_split expects a fraction in \[0, 1\)"),
        (dict(test_split=-0.1), r"test_split expects a fraction in \[0, 1\)"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        xo.load_data(**kwargs)


def test_render_unknown_shape():
    with pytest.raises(ValueError, match="Unknown xo shape 'xx'. Did you mean 'x'"):
        xo.render("xx")


def test_render_transforms():
    shifted = xo.render("x", shift=(0, 1))
    np.testing.assert_array_equal(shifted[:, 1:], _canonical_x()[:, :-1])
    thick = xo.render("x", weight=0.8)
    assert (thick > 0).sum() > (_canonical_x() > 0).sum()
    turned = xo.render("x", angle=45)  # an X turned by 45 degrees is a "+"
    assert np.all(turned[4, 1:8] == 1) and np.all(turned[1:8, 4] == 1)


def test_a_tiny_cnn_learns_xs_and_os_perfectly():
    import filterbank as keras
    from filterbank import layers

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = xo.load_data()
    model = keras.Sequential(
        [
            keras.Input(shape=(9, 9, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train[..., None], y_train, epochs=10, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test[..., None], y_test, verbose=0)
    assert accuracy == 1.0
    predicted = model.predict(x_test[..., None], verbose=0).argmax(axis=1)
    np.testing.assert_array_equal(predicted, y_test)

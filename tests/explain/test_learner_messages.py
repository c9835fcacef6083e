"""Issue #12 item 8: the messages a learner meets when trying the seeds, and the README's
error table, whose quotes must be what the code prints."""

import re
from pathlib import Path

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers

README = Path(__file__).resolve().parents[2] / "README.md"


def _message(fn):
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    return str(info.value)


def _seq(shape=(28, 28, 1)):
    m = keras.Sequential(
        [
            keras.Input(shape=shape),
            layers.Conv2D(2, 3),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    m.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    return m


X = np.zeros((20, 28, 28, 1), "float32")
Y = np.zeros(20, int)
CASES = {
    # 60,000 images as the seed, without their memory: a read-only broadcast view.
    "Images without a channel axis": lambda: _seq((28, 28, 3)).fit(
        np.broadcast_to(np.zeros((1, 28, 28), "float32"), (60000, 28, 28)),
        np.broadcast_to(np.zeros(1, int), (60000,)),
        verbose=0,
    ),
    "`input_shape=(28, 28)` on a Conv2D": lambda: keras.Sequential(
        [layers.Conv2D(4, 3, input_shape=(28, 28)), layers.Flatten(), layers.Dense(2)]
    ),
    "A layer called on one sample": lambda: layers.Conv2D(1, 2)(np.zeros((3, 3, 1), "float32")),
    "`padding=1` (PyTorch / CS231n style)": lambda: layers.Conv2D(1, 3, padding=1),
    "`set_weights` before the layer is built": lambda: layers.Conv2D(1, 2).set_weights(
        [np.ones((2, 2, 1, 1)), np.zeros(1)]
    ),
    "One image instead of a batch": lambda: _seq().predict(np.zeros((28, 28, 1)), verbose=0),
    "One-hot labels with a sparse loss": lambda: _seq().fit(X, np.eye(10)[Y], verbose=0),
    "Labels out of range": lambda: _seq().fit(X, np.where(np.arange(20) == 5, 14, 0), verbose=0),
    "Kernel larger than the image": lambda: keras.Sequential(
        [keras.Input(shape=(5, 5, 1)), layers.Conv2D(1, 7)]
    ),
    "Typos in names": lambda: layers.Dense(3, activation="rlu"),
}


def _table():
    rows = {}
    for line in README.read_text().splitlines():
        m = re.match(r"\| (.+?) \| `(.+?)`", line)
        if m and m.group(1) in CASES:
            rows[m.group(1)] = m.group(2)
    return rows


@pytest.mark.parametrize("row", list(CASES))
def test_readme_error_table_quotes_the_real_messages(row):
    keras.utils.clear_session()
    quote = _table()[row]
    text = _message(CASES[row])
    for fragment in quote.split("..."):
        fragment = re.sub(
            r"'(conv2d|dense|sequential|input_layer)(_\d+)?'", r"'\1'", fragment.strip()
        )
        assert fragment in re.sub(
            r"'(conv2d|dense|sequential|input_layer)(_\d+)?'", r"'\1'", text
        ), (row, fragment, text)


def test_one_sample_says_batch_axis_not_channel_axis():
    text = _message(lambda: layers.Conv2D(1, 2)(np.zeros((3, 3, 1), "float32")))
    assert "without the batch axis: use x[None]" in text
    # A batch of one-channel images without the channel axis still gets the channel hint.
    text = _message(lambda: layers.Conv2D(1, 2)(np.zeros((60, 28, 28), "float32")))
    assert text.endswith("Add a channel axis: x[..., None].")


def test_padding_integer_points_to_zero_padding_and_it_works():
    text = _message(lambda: layers.Conv2D(1, 3, padding=(1, 1)))
    assert "ZeroPadding2D(P)" in text
    assert "np.pad" in _message(lambda: layers.Conv1D(1, 3, padding=2))
    model = keras.Sequential(
        [keras.Input(shape=(7, 7, 1)), layers.ZeroPadding2D(1), layers.Conv2D(1, 3)]
    )
    assert model.output_shape == (None, 7, 7, 1)


def test_set_weights_after_build_still_works():
    conv = layers.Conv2D(1, 2)
    conv.build((None, 3, 3, 1))
    conv.set_weights([np.ones((2, 2, 1, 1)), np.zeros(1)])
    assert conv.get_weights()[0].sum() == 4
    layers.Flatten().set_weights([])  # nothing to set is fine, built or not

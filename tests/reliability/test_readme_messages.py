"""The README's table of mistakes quotes what the code prints today: each quoted message's
pieces (between the "..." of an abridged quote) appear in the real message, in order."""

import errno
import os
import re
from pathlib import Path

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers, optimizers

README = Path(__file__).resolve().parents[2] / "README.md"


def message(f) -> str:
    try:
        f()
    except Exception as e:  # the message under test
        return str(e)
    raise AssertionError("no error raised")


def cnn():
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(4, 3),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _labels_out_of_range():
    y = np.zeros(10, int)
    y[5] = 14
    cnn().fit(np.zeros((10, 28, 28, 1), "float32"), y, verbose=0)


def _nan_data():
    x = np.zeros((10, 28, 28, 1), "float32")
    x[7, 0, 0, 0] = np.nan
    cnn().fit(x, np.zeros(10, int), verbose=0)


def _nan_weights():
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)], name="sequential")
    w = model.get_weights()
    w[0][0, 0] = np.nan
    model.set_weights(w)


def _fifo(tmp):
    os.mkfifo(tmp / "n")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)]).save("n")
    finally:
        os.chdir(cwd)


def _full_disk(tmp):
    from filterbank.saving.atomic import _save_error

    raise _save_error("runs/a/model.fbk", OSError(errno.ENOSPC, "No space left on device"))


def _hdf5(tmp):
    (tmp / "w.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        keras.models.load_model("w.weights.h5")
    finally:
        os.chdir(cwd)


def _compiled(model):
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


TRIGGERS = {
    "Images without a channel axis": [
        lambda t: _compiled(
            keras.Sequential(
                [
                    keras.Input(shape=(28, 28, 3)),
                    layers.Conv2D(4, 3),
                    layers.Flatten(),
                    layers.Dense(2),
                ]
            )
        ).fit(np.zeros((60000, 28, 28), "uint8"), np.zeros(60000, "uint8"), verbose=0),
        lambda t: layers.Conv2D(4, 3, name="conv2d")(np.zeros((60000, 28, 28), "float32")),
    ],
    "One image instead of a batch": [
        lambda t: cnn().predict(np.zeros((28, 28, 1), "float32"), verbose=0)
    ],
    "One-hot labels with a sparse loss": [
        lambda t: cnn().fit(np.zeros((10, 28, 28, 1), "float32"), np.eye(10), verbose=0)
    ],
    "Labels out of range": [lambda t: _labels_out_of_range()],
    "NaN / inf / empty / text data": [lambda t: _nan_data()],
    "Kernel larger than the image": [
        lambda t: keras.Sequential(
            [keras.Input(shape=(5, 5, 1)), layers.Conv2D(2, 7, name="conv2d")]
        )
    ],
    "Typos in names": [lambda t: layers.Dense(3, activation="rlu", name="dense")],
    "Impossible arguments": [
        lambda t: optimizers.Adam(beta_1=1.0),
        lambda t: layers.Dense(3, dtype="int32"),
        lambda t: layers.ZeroPadding2D(10**20, name="zero_padding2d"),
    ],
    "NaN, inf or complex weights": [lambda t: _nan_weights()],
    "A batch that cannot fit in memory": [
        lambda t: keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),
                layers.ZeroPadding2D(2**24, name="zero_padding2d"),
                layers.GlobalAveragePooling2D(),
            ]
        ).predict(np.zeros((1, 28, 28, 1), "float32"), verbose=0)
    ],
    "Saving over a FIFO, device, folder or symlink": [_fifo],
    "A full disk or read-only folder": [_full_disk],
    "A Keras HDF5 file": [_hdf5],
    # The learner-facing rows (issue #12's messages).
    "`input_shape=(28, 28)` on a Conv2D": [
        lambda t: keras.Sequential([layers.Conv2D(2, 3, input_shape=(28, 28), name="conv2d")])
    ],
    "A layer called on one sample": [
        lambda t: layers.Conv2D(1, 2, name="conv2d")(np.zeros((3, 3, 1), "float32"))
    ],
    "`padding=1` (PyTorch / CS231n style)": [
        lambda t: layers.Conv2D(1, 3, padding=1, name="conv2d")
    ],
    "`set_weights` before the layer is built": [
        lambda t: layers.Conv2D(1, 3, name="conv2d").set_weights([np.zeros((3, 3, 1, 1))])
    ],
}


def table_rows():
    text = README.read_text(encoding="utf-8")
    section = text.split("## When something goes wrong", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and "`" in cells[1] and not cells[0].startswith("---"):
            quotes = re.findall(r"`([^`]*)`", cells[1])
            rows.append((cells[0], [q for q in quotes if len(q) > 30]))
    return rows


def test_every_row_has_a_trigger():
    labels = [label for label, quotes in table_rows() if quotes]
    assert labels and set(labels) <= set(TRIGGERS), set(labels) - set(TRIGGERS)


@pytest.mark.parametrize(
    "label,quotes", [r for r in table_rows() if r[1]], ids=lambda v: str(v)[:30]
)
def test_quoted_messages_match_the_code(tmp_path, label, quotes):
    triggers = TRIGGERS[label]
    assert len(triggers) == len(quotes), (label, quotes)
    for quote, trigger in zip(quotes, triggers):
        actual = message(lambda trigger=trigger: trigger(tmp_path))
        at = 0
        for piece in (p.strip() for p in quote.split("...")):
            if not piece:
                continue
            found = actual.find(piece, at)
            assert found >= 0, f"README quotes {piece!r}; the code says {actual!r}"
            at = found + len(piece)

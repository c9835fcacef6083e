"""The keras.io-style examples in examples/: Keras 3's summary counts, and that they learn.

Each example is loaded from its file; ``keras_version()`` loads it with only its two import
lines changed to Keras's, which is what the scripts promise.
"""

from __future__ import annotations

import os
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str, keras: bool = False) -> types.ModuleType:
    src = (EXAMPLES / f"{name}.py").read_text()
    if keras:
        src = src.replace("import filterbank as keras", "import keras").replace(
            "from filterbank import layers", "from keras import layers"
        )
    module = types.ModuleType(name)
    module.__file__ = str(EXAMPLES / f"{name}.py")
    exec(compile(src, module.__file__, "exec"), module.__dict__)
    return module


def build(name: str, keras: bool = False):
    module = load(name, keras)
    if name == "image_classification_from_scratch":
        return module.make_model((32, 32, 3), 2)
    if name == "cifar_style_convnet":
        return module.make_model(16)
    return module.make_model()


def layer_rows(model):
    """(class name, output shape, parameters) for each layer, as summary() lists them."""
    return [
        (type(layer).__name__, tuple(layer.output.shape), layer.count_params())
        for layer in model.layers
    ]


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# Counted once with Keras 3.15 (KERAS_BACKEND=torch) on the same model code.
KERAS_COUNTS = {
    "image_classification_from_scratch": (22_770, 22_098),
    "cifar_style_convnet": (280_602, 280_410),
    "denoising_autoencoder": (28_353, 28_353),  # keras.io's published total
}
# Keras 3's summary rows of the image-classification model (32x32x3 input, 2 classes).
KERAS_ROWS_SCRATCH = [
    ("InputLayer", (None, 32, 32, 3), 0),
    ("RandomFlip", (None, 32, 32, 3), 0),
    ("RandomRotation", (None, 32, 32, 3), 0),
    ("Rescaling", (None, 32, 32, 3), 0),
    ("Conv2D", (None, 16, 16, 16), 448),
    ("BatchNormalization", (None, 16, 16, 16), 64),
    ("Activation", (None, 16, 16, 16), 0),
    ("Activation", (None, 16, 16, 16), 0),
    ("SeparableConv2D", (None, 16, 16, 32), 688),
    ("BatchNormalization", (None, 16, 16, 32), 128),
    ("Activation", (None, 16, 16, 32), 0),
    ("SeparableConv2D", (None, 16, 16, 32), 1344),
    ("BatchNormalization", (None, 16, 16, 32), 128),
    ("MaxPooling2D", (None, 8, 8, 32), 0),
    ("Conv2D", (None, 8, 8, 32), 544),
    ("Add", (None, 8, 8, 32), 0),
    ("Activation", (None, 8, 8, 32), 0),
    ("SeparableConv2D", (None, 8, 8, 64), 2400),
    ("BatchNormalization", (None, 8, 8, 64), 256),
    ("Activation", (None, 8, 8, 64), 0),
    ("SeparableConv2D", (None, 8, 8, 64), 4736),
    ("BatchNormalization", (None, 8, 8, 64), 256),
    ("MaxPooling2D", (None, 4, 4, 64), 0),
    ("Conv2D", (None, 4, 4, 64), 2112),
    ("Add", (None, 4, 4, 64), 0),
    ("SeparableConv2D", (None, 4, 4, 128), 8896),
    ("BatchNormalization", (None, 4, 4, 128), 512),
    ("Activation", (None, 4, 4, 128), 0),
    ("GlobalAveragePooling2D", (None, 128), 0),
    ("Dropout", (None, 128), 0),
    ("Dense", (None, 2), 258),
]


@pytest.mark.parametrize("name", sorted(KERAS_COUNTS))
def test_summary_counts_equal_keras_3(name):
    model = build(name)
    assert (model.count_params(), trainable(model)) == KERAS_COUNTS[name]
    text = model.summary_string()
    assert f"Total params: {KERAS_COUNTS[name][0]:,}" in text


def test_image_classification_summary_rows_equal_keras_3():
    assert layer_rows(build("image_classification_from_scratch")) == KERAS_ROWS_SCRATCH


@pytest.mark.parametrize("name", sorted(KERAS_COUNTS))
def test_summary_rows_equal_live_keras(name):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build(name, keras=True)
    assert layer_rows(build(name)) == layer_rows(theirs)


# ---- they learn (small versions of the scripts' runs; the scripts measure the full bars) ----
@pytest.mark.slow
def test_the_three_examples_learn(tmp_path, monkeypatch):
    # Small versions of the scripts' runs (the scripts measure their own, higher bars).
    monkeypatch.setenv("FILTERBANK_OFFLINE", "1")  # the bundled digits, no download try
    warnings.simplefilter("ignore")
    # CPU time measured on the project machine: about 6 s, 20 s and 3 s.
    ae = load("denoising_autoencoder").run(train=600, test=200, epochs=2, batch_size=16, verbose=0)
    print("autoencoder MSE ratio", ae["ratio"])  # measured 1.50
    assert ae["ratio"] >= 1.25, ae["ratio"]

    cifar = load("cifar_style_convnet").run(
        train=2000, test=300, epochs=3, width=8, batch_size=16, verbose=0
    )
    print("cifar-style test accuracy", cifar["test_accuracy"])  # measured 0.59
    assert cifar["test_accuracy"] >= 0.4, cifar["test_accuracy"]  # chance: 0.1

    scratch = load("image_classification_from_scratch")
    folder = scratch.write_images(tmp_path / "xo", n_per_class=150, size=24)
    result = scratch.run(folder, size=24, epochs=4, batch_size=8, verbose=0)
    print("from-scratch validation accuracy", result["history"]["val_accuracy"])  # ... 1.0
    assert result["val_accuracy"] >= 0.8, result["history"]

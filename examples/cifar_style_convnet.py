"""A CIFAR-10-style convnet (Conv-BN-ReLU pairs with padding="same", max pooling, Dropout),
after the classic Keras CIFAR-10 CNN example (rewritten; small and offline).

CIFAR-10 itself is a download, so the data here is CIFAR-shaped instead: 32x32 RGB uint8
images in 10 classes, made from MNIST digits drawn in a random bright colour, at a random
offset, on a random dark noisy background (``load_data()``; offline it uses filterbank's bundled
digits). Swap ``load_data()`` for ``keras.datasets.cifar10.load_data()`` to train on CIFAR-10.
With Keras, change the two imports below.

The bar, measured here: test accuracy >= 90% after 4 epochs on 6,000 images. Exit status 1
below the bar.

    python examples/cifar_style_convnet.py                     # widths 16/32 (a few minutes)
    python examples/cifar_style_convnet.py --width 32 --train 10000
"""

import argparse
import sys

import numpy as np

import filterbank as keras
from filterbank import layers

BAR = 0.90


def load_data(train=6000, test=1000, seed=0):
    """((x_train, y_train), (x_test, y_test)): uint8 (n, 32, 32, 3) images, int labels (n, 1)."""
    (x_a, y_a), (x_b, y_b) = keras.datasets.mnist.load_data()
    rng = np.random.default_rng(seed)

    def colourise(digits):
        n = len(digits)
        ink = digits.astype("float32")[..., None] / 255.0  # (n, 28, 28, 1)
        # a bright colour on a dark one (CIFAR's objects are not colour-inverted either)
        fg = rng.uniform(150, 255, (n, 1, 1, 3))
        bg = rng.uniform(0, 110, (n, 1, 1, 3))
        canvas = np.repeat(bg, 32, axis=1).repeat(32, axis=2)
        canvas = canvas + rng.normal(0, 12, canvas.shape)
        out = np.empty((n, 32, 32, 3), dtype="uint8")
        for i, (dy, dx) in enumerate(rng.integers(0, 5, size=(n, 2))):
            patch = canvas[i, dy : dy + 28, dx : dx + 28]
            canvas[i, dy : dy + 28, dx : dx + 28] = patch * (1 - ink[i]) + fg[i] * ink[i]
            out[i] = np.clip(canvas[i], 0, 255).astype("uint8")
        return out

    return (
        (colourise(x_a[:train]), y_a[:train].reshape(-1, 1).astype("int64")),
        (colourise(x_b[:test]), y_b[:test].reshape(-1, 1).astype("int64")),
    )


def make_model(width=16, num_classes=10):
    return keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(width, (3, 3), padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Conv2D(width, (3, 3), padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.25),
            layers.Conv2D(2 * width, (3, 3), padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.Conv2D(2 * width, (3, 3), padding="same"),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(8 * width),
            layers.Activation("relu"),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )


def run(train=6000, test=1000, epochs=4, width=16, batch_size=32, seed=0, verbose=1):
    """Train; returns a dict with the test accuracy and the model."""
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_data(train, test, seed)
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    model = make_model(width)
    if verbose:
        model.summary()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.1,
        shuffle=True,
        verbose=verbose,
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"test_accuracy": float(accuracy), "test_loss": float(loss), "model": model}


def main(argv=None):
    parser = argparse.ArgumentParser(description="CIFAR-style convnet on CIFAR-shaped digits.")
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(train=args.train, epochs=args.epochs, width=args.width, seed=args.seed)
    print(f"test accuracy: {result['test_accuracy']:.4f} (bar {BAR})")
    return 0 if result["test_accuracy"] >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())

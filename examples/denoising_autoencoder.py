"""A convolutional denoising autoencoder on MNIST digits, after keras.io's "Convolutional
autoencoder for image denoising" (rewritten; small and offline).

Conv2D/MaxPooling2D down to 7x7x32, Conv2DTranspose(strides=2) back up to 28x28, a sigmoid
Conv2D output and binary cross-entropy, trained to map noisy digits (Gaussian noise, factor
0.4, clipped to [0, 1]) to clean ones. Offline, ``mnist.load_data()`` gives filterbank's
bundled 8,000/2,000 real digits. With Keras, change the two imports below (it downloads MNIST).

The bar, measured here on test digits: the denoised images are at least 3x closer to the
clean ones than the noisy inputs are (mean squared error). Exit status 1 below the bar.

    python examples/denoising_autoencoder.py            # 2,000 digits, 5 epochs (~1-2 min)
    python examples/denoising_autoencoder.py --train 8000 --epochs 5
"""

import argparse
import sys

import numpy as np

import filterbank as keras
from filterbank import layers

BAR = 3.0  # MSE(noisy, clean) / MSE(denoised, clean) must reach this


def make_model():
    inputs = keras.Input(shape=(28, 28, 1))
    # Encoder
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    # Decoder
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    outputs = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    autoencoder = keras.Model(inputs, outputs)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder


def preprocess(images):
    return np.reshape(images.astype("float32") / 255.0, (len(images), 28, 28, 1))


def add_noise(images, seed, noise_factor=0.4):
    noisy = images + noise_factor * np.random.default_rng(seed).normal(size=images.shape)
    return np.clip(noisy, 0.0, 1.0).astype("float32")


def run(train=2000, test=500, epochs=5, batch_size=32, seed=0, verbose=1):
    """Train; returns a dict with the noisy and denoised test MSE and their ratio."""
    keras.utils.set_random_seed(seed)
    (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
    clean_train, clean_test = preprocess(x_train[:train]), preprocess(x_test[:test])
    noisy_train, noisy_test = add_noise(clean_train, seed), add_noise(clean_test, seed + 1)
    autoencoder = make_model()
    if verbose:
        autoencoder.summary()
    autoencoder.fit(
        noisy_train,
        clean_train,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        validation_data=(noisy_test, clean_test),
        verbose=verbose,
    )
    denoised = autoencoder.predict(noisy_test, verbose=0)
    noisy_mse = float(np.mean((noisy_test - clean_test) ** 2))
    denoised_mse = float(np.mean((denoised - clean_test) ** 2))
    return {
        "noisy_mse": noisy_mse,
        "denoised_mse": denoised_mse,
        "ratio": noisy_mse / denoised_mse,
        "model": autoencoder,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Denoising autoencoder on MNIST digits.")
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(train=args.train, epochs=args.epochs, seed=args.seed)
    print(
        f"test MSE: noisy {result['noisy_mse']:.4f} -> denoised {result['denoised_mse']:.4f} "
        f"({result['ratio']:.1f}x closer to the clean digits; bar {BAR}x)"
    )
    return 0 if result["ratio"] >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())

"""The CIFAR-style block both BatchNormalization fusions match, built once for their tests:
``Conv2D(padding="same") -> BatchNormalization -> Activation("relu") -> MaxPooling2D``."""

from __future__ import annotations

from filterbank import layers


def conv_bn_relu_pool(h, filters):
    """``h`` through one block per entry of ``filters`` (each block halves the map)."""
    for f in filters:
        h = layers.Conv2D(f, 3, padding="same")(h)
        h = layers.BatchNormalization()(h)
        h = layers.Activation("relu")(h)
        h = layers.MaxPooling2D()(h)
    return h

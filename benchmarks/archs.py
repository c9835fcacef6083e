"""The benchmarked models, described once, with their shapes, parameter counts and FLOPs.

Every framework worker builds its model from these specs, so the models cannot drift apart,
and the FLOP counts come from the same shapes the models have.

A spec is a list of layers, each a tuple:
    ("conv", filters, kernel, activation)   Conv2D, "valid" padding, stride 1
    ("pool", size)                          MaxPooling2D(size), stride = size, "valid"
    ("flatten",)
    ("dense", units, activation)
    ("convbn", filters, kernel)             Conv2D "same" (with bias, as Keras's default) ->
                                            BatchNormalization -> Activation("relu")

FLOP convention (what the engineering notes use): a multiply-add counts 2 FLOPs and only the
convolutions and dense layers are counted (bias, ReLU, pooling and softmax are memory-bound
extras, < 1 % of the work). A training step is the forward pass plus, for every counted layer,
a weight gradient (as many FLOPs as its forward) and an input gradient (the same again),
except the first layer, whose input gradient is never needed.

Example:
    >>> forward_flops("functional", 28) / 1e6, train_flops("functional", 28) / 1e6
    (6.200064, 18.210816)
    >>> round(forward_flops("cifar", 32) / 1e6, 1), count_params("cifar", 32)
    (21.2, 357258)
"""

from __future__ import annotations

ARCHS = {
    # The seed's functional MNIST model: 104,202 parameters.
    "functional": [
        ("conv", 32, 3, "relu"),
        ("pool", 2),
        ("conv", 64, 3, "relu"),
        ("pool", 2),
        ("conv", 128, 3, "relu"),
        ("flatten",),
        ("dense", 10, "softmax"),
    ],
    # The seed's Sequential MNIST model: 93,322 parameters.
    "sequential": [
        ("conv", 32, 3, "relu"),
        ("pool", 2),
        ("conv", 64, 3, "relu"),
        ("pool", 2),
        ("conv", 64, 3, "relu"),
        ("flatten",),
        ("dense", 64, "relu"),
        ("dense", 10, "softmax"),
    ],
    # A CIFAR-size model (32x32x3): three blocks of Conv2D("same") -> BatchNormalization ->
    # Activation("relu") -> MaxPooling2D, then Dense(128, relu) -> Dense(10, softmax).
    "cifar": [
        ("convbn", 32, 3),
        ("pool", 2),
        ("convbn", 64, 3),
        ("pool", 2),
        ("convbn", 128, 3),
        ("pool", 2),
        ("flatten",),
        ("dense", 128, "relu"),
        ("dense", 10, "softmax"),
    ],
}

# Each model's input: (image size, channels).
ARCH_INPUT = {"functional": (28, 1), "sequential": (28, 1), "cifar": (32, 3)}


def channels_of(arch: str) -> int:
    """Input channels of a benchmarked model (1 for the seed models, 3 for cifar)."""
    return ARCH_INPUT[arch][1]


# What the seed documents' model.summary() tables say (at 28x28x1).
SEED_PARAMS = {"functional": 104_202, "sequential": 93_322}


def layer_shapes(arch: str, image: int = 28, channels: int | None = None):
    """Walk the spec: [(layer, input_shape, output_shape)], shapes without the batch axis.

    Shapes: (h, w, c) for images, (n,) after Flatten.
    """
    if channels is None:
        channels = channels_of(arch)
    shape: tuple = (image, image, channels)
    out = []
    for layer in ARCHS[arch]:
        kind = layer[0]
        if kind == "conv":
            h, w, _ = shape
            k = layer[2]
            if h < k or w < k:
                raise ValueError(f"{arch}: image {image} is too small for a {k}x{k} convolution")
            new = (h - k + 1, w - k + 1, layer[1])
        elif kind == "convbn":
            new = (shape[0], shape[1], layer[1])
        elif kind == "pool":
            h, w, c = shape
            new = (h // layer[1], w // layer[1], c)
        elif kind == "flatten":
            n = 1
            for d in shape:
                n *= d
            new = (n,)
        elif kind == "dense":
            new = (layer[1],)
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        out.append((layer, shape, new))
        shape = new
    return out


def count_params(arch: str, image: int = 28, channels: int | None = None) -> int:
    """Trainable parameters (kernels + biases, and BatchNormalization's gamma and beta)."""
    total = 0
    for layer, inp, _ in layer_shapes(arch, image, channels):
        if layer[0] in ("conv", "convbn"):
            total += layer[2] * layer[2] * inp[2] * layer[1] + layer[1]
        if layer[0] == "convbn":
            total += 2 * layer[1]
        elif layer[0] == "dense":
            total += inp[0] * layer[1] + layer[1]
    return total


def _layer_flops(layer, inp, out) -> int:
    if layer[0] in ("conv", "convbn"):
        k = layer[2]
        return 2 * out[0] * out[1] * out[2] * k * k * inp[2]
    if layer[0] == "dense":
        return 2 * inp[0] * out[0]
    return 0


def forward_flops(arch: str, image: int = 28, channels: int | None = None) -> int:
    """FLOPs of one sample's forward pass."""
    return sum(_layer_flops(*t) for t in layer_shapes(arch, image, channels))


def train_flops(arch: str, image: int = 28, channels: int | None = None) -> int:
    """FLOPs of one sample's training step: forward, weight gradients, input gradients."""
    per_layer = [_layer_flops(*t) for t in layer_shapes(arch, image, channels)]
    counted = [f for f in per_layer if f]
    # forward + weight grads + input grads of all but the first counted layer
    return 3 * sum(counted) - counted[0]

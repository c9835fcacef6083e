"""Dropout: inverted scaling, training-only, reproducible masks, gradients, errors, config."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.gradcheck import check_layer


def test_inference_is_identity_and_training_drops_and_scales():
    x = np.ones((200, 50), "float32")
    drop = layers.Dropout(0.3)
    assert drop(x) is not None and np.array_equal(drop(x), x)
    y = drop(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02  # 10,000 draws: 5 standard deviations is ~0.023
    assert y.dtype == np.float32
    g = np.full(x.shape, 2.0, "float32")
    np.testing.assert_array_equal(drop.backward(g), np.where(kept, 2 / 0.7, 0).astype("float32"))


def test_rate_zero_and_one():
    x = np.ones((3, 4), "float32")
    assert np.array_equal(layers.Dropout(0.0)(x, training=True), x)
    d = layers.Dropout(1.0)
    np.testing.assert_array_equal(d(x, training=True), np.zeros_like(x))
    np.testing.assert_array_equal(d.backward(x), np.zeros_like(x))


def test_set_random_seed_reproduces_masks_and_seeded_layers_are_independent():
    x = np.ones((4, 10), "float32")
    keras.utils.set_random_seed(7)
    a = layers.Dropout(0.5)(x, training=True)
    keras.utils.set_random_seed(7)
    b = layers.Dropout(0.5)(x, training=True)
    np.testing.assert_array_equal(a, b)
    c = layers.Dropout(0.5, seed=3)(x, training=True)
    d = layers.Dropout(0.5, seed=3)(x, training=True)
    np.testing.assert_array_equal(c, d)
    drop = layers.Dropout(0.5, seed=3)
    assert not np.array_equal(drop(x, training=True), drop(x, training=True))  # fresh each step


def test_noise_shape_broadcasts_the_mask():
    x = np.ones((2, 4, 4, 8), "float32")
    y = layers.Dropout(0.5, noise_shape=(None, 1, 1, 8))(x, training=True)
    # whole channels are dropped: every pixel of a channel shares the mask
    assert (y == y[:, :1, :1, :]).all()
    with pytest.raises(
        ValueError,
        match=r"noise_shape \(2, 3, 1, 8\) does not broadcast to the "
        r"input shape \(2, 4, 4, 8\)",
    ):
        layers.Dropout(0.5, noise_shape=(2, 3, 1, 8))(x, training=True)
    with pytest.raises(ValueError, match=r"noise_shape \(1, 8\) has 2 dims"):
        layers.Dropout(0.5, noise_shape=(1, 8))(x, training=True)


class ReseededDropout(layers.Dropout):
    """Draws the same mask at every forward, so finite differences see a fixed function."""

    def forward(self, inputs, training=False):
        self._generator = np.random.default_rng(11)
        return super().forward(inputs, training)


@pytest.mark.parametrize("noise_shape", [None, (None, 1, 3)])
def test_gradient_with_a_fixed_mask(float64, noise_shape):
    x = np.random.default_rng(0).standard_normal((3, 4, 3))
    layer = ReseededDropout(0.4, noise_shape=noise_shape)
    assert check_layer(layer, x, training=True) == x.size
    assert (layer._mask == 0).any() and (layer._mask != 0).any()
    assert check_layer(layers.Dropout(0.4), x, training=False) == x.size


def test_errors():
    with pytest.raises(
        ValueError,
        match=r"Layer 'dropout' argument rate expects a number between "
        r"0 and 1 .* got 1.5\. Pass e\.g\. rate=0\.5",
    ):
        layers.Dropout(1.5)
    with pytest.raises(
        ValueError,
        match=r"argument noise_shape expects a tuple of positive "
        r"integers or None, got 'abc'",
    ):
        layers.Dropout(0.5, noise_shape="abc")
    with pytest.raises(ValueError, match=r"argument seed expects a non-negative integer"):
        layers.Dropout(0.5, seed=-1)


def test_config_round_trip():
    layer = layers.Dropout(0.25, noise_shape=(None, 1, 4), seed=5, name="d")
    config = layer.get_config()
    assert config["rate"] == 0.25 and config["noise_shape"] == (None, 1, 4) and config["seed"] == 5
    clone = layers.Dropout.from_config(config)
    assert clone.get_config() == config
    x = np.ones((2, 3, 4), "float32")
    np.testing.assert_array_equal(clone(x, training=True), layer(x, training=True))


@pytest.mark.parametrize("seed", range(5))
def test_eval_mode_matches_torch(seed):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)  # tiny tensors; spinning OpenMP threads only slow them down
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 5, 4))
    rate = float(rng.uniform(0.1, 0.9))
    ref = torch.nn.Dropout(rate).eval()(torch.tensor(x)).numpy()
    layer = layers.Dropout(rate, dtype="float64")
    y = layer(x, training=False)
    np.testing.assert_allclose(y, ref, rtol=1e-12)
    g = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    (dx_ref,) = torch.autograd.grad(torch.nn.Dropout(rate).eval()(xt), xt, torch.tensor(g))
    np.testing.assert_allclose(layer.backward(g), dx_ref.numpy(), rtol=1e-12)

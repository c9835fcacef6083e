"""Preprocessing and augmentation layers: definitions, the training switch, seeds, errors, files."""

from __future__ import annotations

import os

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.ops import affine as A
from tests.gradcheck import check_layer

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 255, size=(4, 7, 6, 3)).astype("float32")

RANDOM_LAYERS = [
    lambda **kw: layers.RandomFlip(**kw),
    lambda **kw: layers.RandomRotation(0.2, **kw),
    lambda **kw: layers.RandomTranslation(0.3, 0.2, **kw),
    lambda **kw: layers.RandomZoom(0.3, **kw),
    lambda **kw: layers.RandomContrast(0.5, **kw),
]


# ---- the training / inference switch and seeds ---------------------------------------------
@pytest.mark.parametrize("make", RANDOM_LAYERS)
def test_random_layers_are_identity_in_inference_and_change_images_in_training(make):
    layer = make(seed=1)
    np.testing.assert_array_equal(layer(IMAGES), IMAGES)
    np.testing.assert_array_equal(layer(IMAGES, training=False), IMAGES)
    outs = [layer(IMAGES, training=True) for _ in range(4)]
    assert all(o.shape == IMAGES.shape and o.dtype == np.float32 for o in outs)
    assert any(not np.array_equal(o, IMAGES) for o in outs)


@pytest.mark.parametrize("make", RANDOM_LAYERS)
def test_a_seed_makes_the_draws_reproducible(make):
    a, b, c = make(seed=3), make(seed=3), make(seed=4)
    runs = [[layer(IMAGES, training=True) for _ in range(3)] for layer in (a, b, c)]
    for x, y in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(runs[0], runs[2]))


@pytest.mark.parametrize("make", RANDOM_LAYERS)
def test_without_a_seed_set_random_seed_fixes_the_draws(make):
    outs = []
    for _ in range(2):
        keras.utils.set_random_seed(11)
        layer = make()
        outs.append([layer(IMAGES, training=True) for _ in range(2)])
    for x, y in zip(*outs):
        np.testing.assert_array_equal(x, y)


def test_fit_applies_augmentation_and_predict_does_not():
    keras.utils.set_random_seed(0)
    seen = {}

    class Spy(layers.Layer):
        def forward(self, x, training=False):
            seen[training] = x.copy()
            return x

        def backward(self, g):
            return g

    inputs = keras.Input(shape=(7, 6, 3))
    x = layers.RandomFlip("horizontal_and_vertical", seed=0)(inputs)
    x = Spy()(x)
    x = layers.Flatten()(x)
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(IMAGES, np.array([0, 1, 0, 1]), batch_size=4, shuffle=False, epochs=3, verbose=0)
    assert not np.array_equal(seen[True], IMAGES)
    model.predict(IMAGES, verbose=0)
    np.testing.assert_array_equal(seen[False], IMAGES)


# ---- each layer against its definition -----------------------------------------------------
@pytest.mark.parametrize(
    "mode, axes", [("horizontal", (2,)), ("vertical", (1,)), ("horizontal_and_vertical", (1, 2))]
)
def test_flip_flips_exactly_the_drawn_images(mode, axes):
    layer = layers.RandomFlip(mode, seed=5)
    out = layer(IMAGES, training=True)
    flips = layer._flips
    assert 0 < flips.sum() < len(flips)  # this seed flips some and keeps some
    for img, o, f in zip(IMAGES, out, flips):
        np.testing.assert_array_equal(o, np.flip(img, tuple(a - 1 for a in axes)) if f else img)


def _drawn(layer, images):
    """The layer's training output and the transforms it drew (replayed from its seed)."""
    out = layer(images, training=True)
    replay = type(layer).from_config(layer.get_config())
    t = replay.transforms(*images.shape[:3])
    return out, t


@pytest.mark.parametrize(
    "layer",
    [
        layers.RandomRotation((-0.3, 0.1), fill_mode="wrap", seed=2),
        layers.RandomTranslation((-0.2, 0.4), 0.3, fill_mode="constant", fill_value=9.0, seed=2),
        layers.RandomZoom(0.4, (-0.5, 0.2), fill_mode="nearest", interpolation="nearest", seed=2),
        layers.RandomZoom((-0.5, 0.5), seed=2),
    ],
)
def test_warp_layers_apply_their_drawn_transform(layer):
    out, t = _drawn(layer, IMAGES)
    want = A.affine_transform(
        IMAGES.astype(np.float64), t, layer.interpolation, layer.fill_mode, layer.fill_value
    )
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-3)


def test_rotation_draws_angles_in_the_factor_range():
    layer = layers.RandomRotation((0.25, 0.25), seed=0)  # exactly +90 degrees
    img = IMAGES[:, :6, :6]
    out = layer(img, training=True)
    np.testing.assert_allclose(out, np.rot90(img, k=1, axes=(1, 2)), atol=1e-3)


def test_translation_by_a_whole_pixel_fraction_is_exact():
    img = IMAGES[:, :5, :4]
    layer = layers.RandomTranslation((0.4, 0.4), (-0.25, -0.25), fill_mode="constant", seed=0)
    out = layer(img, training=True)  # down 2 rows, left 1 column
    want = np.zeros_like(img)
    want[:, 2:, :3] = img[:, :3, 1:]
    np.testing.assert_allclose(out, want, atol=1e-4)


def test_zoom_matrix_is_keras_s_and_keeps_the_aspect_ratio_without_width_factor():
    layer = layers.RandomZoom((0.5, 0.5), seed=0)  # factor 1.5: zooms out
    t = layer.transforms(2, 7, 6)
    np.testing.assert_allclose(t[0], [1.5, 0, 2.5 * -0.5, 0, 1.5, 3 * -0.5, 0, 0])


def test_contrast_follows_its_formula_and_clips():
    layer = layers.RandomContrast((0.5, 0.5), value_range=(0, 255), seed=4)
    out = layer(IMAGES, training=True)
    c = np.random.default_rng(4).uniform(0.5, 1.5, (4, 1, 1, 1))
    mean = IMAGES.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(
        out, np.clip((IMAGES - mean) * c + mean, 0, 255), rtol=1e-5, atol=1e-4
    )
    assert out.min() >= 0 and out.max() <= 255


def test_contrast_single_number_factor_is_keras_3_s_range():
    # Keras 3.15: RandomContrast(0.2).factor == (0, 0.2), i.e. contrast drawn from [1, 1.2]
    assert layers.RandomContrast(0.2).factor == (0.0, 0.2)
    assert layers.RandomContrast((0.1, 0.3)).factor == (0.1, 0.3)


def test_random_crop_training_window_and_inference_resize():
    layer = layers.RandomCrop(4, 3, seed=0)
    out = layer(IMAGES, training=True)
    h0 = int(np.random.default_rng(0).uniform(0, 7 - 4 + 1))
    w0 = int(np.random.default_rng(0).uniform(0, 4, 2)[1])
    np.testing.assert_array_equal(out, IMAGES[:, h0 : h0 + 4, w0 : w0 + 3])
    # inference: the largest centred 4:3 window (6x4 of 7x6 -> rows 0..5, cols 1..4), resized
    top, left, ch, cw = A.aspect_crop_box(7, 6, 4, 3)
    want = A.resize(IMAGES[:, top : top + ch, left : left + cw], 4, 3)
    np.testing.assert_allclose(layer(IMAGES), want, rtol=1e-6)
    assert layer.compute_output_shape((None, 7, 6, 3)) == (None, 4, 3, 3)


def test_center_crop_and_its_resize_fallback():
    np.testing.assert_array_equal(layers.CenterCrop(3, 2)(IMAGES), IMAGES[:, 2:5, 2:4])
    small = layers.CenterCrop(9, 4)(IMAGES)  # taller than the input: aspect crop + resize
    top, left, ch, cw = A.aspect_crop_box(7, 6, 9, 4)
    np.testing.assert_allclose(
        small, A.resize(IMAGES[:, top : top + ch, left : left + cw], 9, 4), rtol=1e-6
    )


def test_rescaling_and_resizing():
    np.testing.assert_allclose(
        layers.Rescaling(1 / 127.5, offset=-1)(IMAGES), IMAGES / 127.5 - 1, rtol=1e-6, atol=1e-6
    )
    per_channel = layers.Rescaling([1.0, 2.0, 3.0], offset=[0.0, 1.0, 2.0])(IMAGES)
    np.testing.assert_allclose(per_channel, IMAGES * [1, 2, 3] + [0, 1, 2], rtol=1e-6)
    np.testing.assert_allclose(layers.Resizing(3, 9)(IMAGES), A.resize(IMAGES, 3, 9), rtol=1e-6)
    cropped = layers.Resizing(3, 3, crop_to_aspect_ratio=True)(IMAGES)
    np.testing.assert_allclose(cropped, A.resize(IMAGES[:, 0:6], 3, 3), rtol=1e-6)


def test_resizing_equals_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    k = pytest.importorskip("keras")
    for kwargs in (dict(), dict(crop_to_aspect_ratio=True)):
        want = k.ops.convert_to_numpy(k.layers.Resizing(4, 5, **kwargs)(IMAGES))
        np.testing.assert_allclose(
            layers.Resizing(4, 5, **kwargs)(IMAGES), want, rtol=1e-4, atol=1e-3
        )


# ---- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Rescaling([0.5, 2.0], offset=1.0),
        lambda: layers.Resizing(3, 7),
        lambda: layers.Resizing(4, 2, interpolation="nearest", crop_to_aspect_ratio=True),
        lambda: layers.CenterCrop(3, 2),
        lambda: layers.CenterCrop(6, 3),
        lambda: layers.RandomCrop(3, 4),
    ],
)
def test_deterministic_layers_have_exact_gradients(float64, make):
    layer = make()
    x = np.random.default_rng(1).normal(size=(2, 5, 4, 2))
    check_layer(layer, x, training=False)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.RandomFlip(seed=0),
        lambda: layers.RandomRotation(0.3, seed=0, fill_mode="constant"),
        lambda: layers.RandomTranslation(0.2, 0.2, seed=0),
        lambda: layers.RandomZoom(0.3, seed=0, fill_mode="wrap"),
        lambda: layers.RandomContrast((0.4, 0.4), value_range=(-1.5, 1.5), seed=0),
        lambda: layers.RandomCrop(3, 2, seed=0),
    ],
)
def test_training_backward_is_the_gradient_of_the_drawn_transform(float64, make):
    layer = make()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 4, 2))
    y = layer(x, training=True)
    g = rng.normal(size=y.shape)
    dx = layer.backward(g)
    eps, numeric = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):  # replay the same draw: a fresh copy of the layer each time
        vals = []
        for s in (eps, -eps):
            xp = x.copy()
            xp[i] += s
            vals.append(np.sum(type(layer).from_config(layer.get_config())(xp, training=True) * g))
        numeric[i] = (vals[0] - vals[1]) / (2 * eps)
    np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-6)


# ---- arguments, errors and files -----------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: layers.RandomRotation(1.5),
            r"argument factor expects a number or a pair .*\[-1, 1\]",
        ),
        (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), "argument factor"),
        (lambda: layers.RandomRotation("a lot"), "argument factor"),
        (lambda: layers.RandomContrast(-0.2), r"argument factor .*\[0, 1\]"),
        (lambda: layers.RandomContrast(1.5), r"argument factor .*\[0, 1\]"),
        (lambda: layers.RandomTranslation(1.2, 0.1), r"argument height_factor .*\[-1, 1\]"),
        (lambda: layers.RandomTranslation(0.1, (-2, 0)), "argument width_factor"),
        (lambda: layers.RandomZoom(-1.0), r"argument height_factor .*\(-1, 1\]"),
        (lambda: layers.RandomZoom(0.1, (0.1, 2)), "argument width_factor"),
        (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), "Unknown fill_mode 'mirror'"),
        (lambda: layers.RandomZoom(0.1, interpolation="bicubic"), "Unknown interpolation"),
        (lambda: layers.RandomFlip("sideways"), "argument mode expects one of horizontal"),
        (lambda: layers.RandomFlip(seed=-1), "argument seed"),
        (lambda: layers.RandomCrop(0, 3), "argument height expects a positive integer"),
        (lambda: layers.CenterCrop(2, 2.5), "argument width expects a positive integer"),
        (lambda: layers.Resizing(2, 2, antialias=True), "antialias=True is not supported"),
        (lambda: layers.Rescaling("1/255"), "argument scale expects a number"),
        (lambda: layers.RandomContrast(0.1, value_range=(1, 0)), "argument value_range"),
        (lambda: layers.RandomFlip(data_format="channels_first"), "channels-last only"),
    ],
)
def test_bad_arguments_say_which_and_what(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_keras_lenient_factor_pairs_are_kept():
    # As Keras 3: a pair is refused only when it lies wholly outside the bounds.
    assert layers.RandomRotation((-2, 0.5)).factor == (-2.0, 0.5)


def test_images_without_a_channel_axis_get_the_standard_message():
    with pytest.raises(ValueError, match=r"expects 4 dims \(batch, height, width, channels\)"):
        layers.RandomFlip()(np.zeros((2, 5, 5), "float32"))


def test_model_with_every_preprocessing_layer_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(12, 10, 3)),
            layers.RandomFlip("horizontal", seed=1),
            layers.RandomRotation((-0.1, 0.2), fill_mode="constant", fill_value=3.0),
            layers.RandomTranslation(0.1, (-0.2, 0.1), interpolation="nearest"),
            layers.RandomZoom(0.2, 0.1, fill_mode="wrap"),
            layers.RandomContrast((0.1, 0.3), value_range=(0, 1)),
            layers.RandomCrop(10, 9, seed=2),
            layers.Resizing(8, 8, crop_to_aspect_ratio=True),
            layers.CenterCrop(6, 6),
            layers.Rescaling([1 / 255, 1 / 128, 1.0], offset=-0.5),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 1, (8, 12, 10, 3)).astype("float32")
    model.fit(x, np.arange(8) % 2, epochs=1, verbose=0)
    model.save(tmp_path / "m.fbk")
    loaded = keras.models.load_model(tmp_path / "m.fbk")
    for a, b in zip(model.layers, loaded.layers, strict=True):
        assert a.get_config() == b.get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

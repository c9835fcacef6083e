"""Subtract, Multiply, Average, Maximum, Minimum and the functional merges: PyTorch as the
oracle (float64, seeded random shapes with broadcasting, every input's gradient), real
Keras 3 for outputs and shapes, model files and error messages."""

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from tests.layers.keras_oracle import keras_output, real_keras

torch = pytest.importorskip("torch")

OPS = {
    "Subtract": lambda ts: ts[0] - ts[1],
    "Multiply": lambda ts: _fold(torch.mul, ts),
    "Average": lambda ts: sum(ts) / len(ts),
    "Maximum": lambda ts: _fold(torch.maximum, ts),
    "Minimum": lambda ts: _fold(torch.minimum, ts),
}


def _fold(fn, ts):
    out = ts[0]
    for t in ts[1:]:
        out = fn(out, t)
    return out


def _shapes(rng, n_inputs):
    """Same-rank shapes, equal batch, each other axis either shared or 1 in some inputs."""
    rank = int(rng.integers(2, 5))
    full = [int(rng.integers(2, 5)) for _ in range(rank)]
    shapes = []
    for _ in range(n_inputs):
        shapes.append(
            tuple(
                full[0] if i == 0 else (1 if rng.random() < 0.3 else d) for i, d in enumerate(full)
            )
        )
    return shapes


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("seed", range(12))
def test_matches_torch(name, seed):
    rng = np.random.default_rng(3000 + seed)
    n_inputs = 2 if name == "Subtract" else int(rng.integers(2, 5))
    xs = [rng.standard_normal(s) for s in _shapes(rng, n_inputs)]
    keras.backend.set_floatx("float64")
    try:
        layer = getattr(layers, name)()
        y = layer(xs)
        dy = rng.standard_normal(y.shape)
        dxs = layer.backward(dy)
    finally:
        keras.backend.set_floatx("float32")
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    yt = OPS[name](ts)
    (yt * torch.tensor(dy)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
    assert len(dxs) == len(xs)
    for i, (dx, t) in enumerate(zip(dxs, ts)):
        assert dx.shape == xs[i].shape
        np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"input {i}")


def test_maximum_tie_goes_to_the_first_input():
    layer = layers.Maximum()
    layer([np.array([[1.0, 2.0]]), np.array([[1.0, 3.0]])])
    d0, d1 = layer.backward(np.ones((1, 2), "float32"))
    np.testing.assert_array_equal(d0, [[1, 0]])
    np.testing.assert_array_equal(d1, [[0, 1]])


@pytest.mark.parametrize("name", list(OPS))
def test_matches_real_keras(name):
    k = real_keras()
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal(s).astype("float32") for s in ((2, 4, 3, 5), (2, 1, 3, 1))]
    expected = keras_output(getattr(k.layers, name)(), xs)
    np.testing.assert_allclose(getattr(layers, name)()(xs), expected, rtol=1e-6)
    assert getattr(layers, name)().compute_output_shape(
        [(None, 4, 3, 5), (None, 1, 3, 1)]
    ) == tuple(getattr(k.layers, name)().compute_output_shape([(None, 4, 3, 5), (None, 1, 3, 1)]))


def test_functional_forms_build_the_layers(tmp_path):
    a = keras.Input(shape=(4, 4, 3), name="a")
    b = keras.Input(shape=(4, 4, 3), name="b")
    outs = [
        layers.add([a, b]),
        layers.subtract([a, b]),
        layers.multiply([a, b]),
        layers.average([a, b]),
        layers.maximum([a, b]),
        layers.minimum([a, b], name="low"),
    ]
    y = layers.concatenate(outs, axis=-1)
    model = keras.Model([a, b], y)
    assert model.output_shape == (None, 4, 4, 18)
    names = [type(la).__name__ for la in model.layers[2:]]
    assert names == ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]
    assert model.get_layer("low").name == "low"
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((2, 2, 4, 4, 3)).astype("float32")
    got = model.predict([xa, xb], verbose=0)
    want = np.concatenate(
        [xa + xb, xa - xb, xa * xb, (xa + xb) / 2, np.maximum(xa, xb), np.minimum(xa, xb)], axis=-1
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)
    path = tmp_path / "m.keras"
    model.save(path)
    np.testing.assert_array_equal(keras.models.load_model(path).predict([xa, xb], verbose=0), got)


def test_squeeze_and_excitation_block_trains():
    """The everyday use of broadcasting: a channel gate (batch, 1, 1, C) times the map."""
    inputs = keras.Input(shape=(6, 6, 8))
    gate = layers.GlobalAveragePooling2D()(inputs)
    gate = layers.Dense(8, activation="sigmoid")(gate)
    gate = layers.Reshape((1, 1, 8))(gate)
    x = layers.multiply([inputs, gate])
    out = layers.Dense(1)(layers.Flatten()(x))
    model = keras.Model(inputs, out)
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(1)
    x_data = rng.standard_normal((64, 6, 6, 8)).astype("float32")
    y_data = x_data[:, :, :, :2].mean(axis=(1, 2, 3))[:, None]
    first = model.evaluate(x_data, y_data, verbose=0)
    model.fit(x_data, y_data, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x_data, y_data, verbose=0) < 0.3 * first


def test_errors_name_the_problem():
    a, b, c = (keras.Input(shape=s) for s in ((4, 4, 3), (4, 4, 5), (4, 4, 3)))
    with pytest.raises(ValueError, match=r"expects exactly 2 inputs, got 3"):
        layers.Subtract()([a, c, c])
    with pytest.raises(ValueError, match=r"shapes must match \(or be 1 where they differ"):
        layers.Multiply()([a, b])
    with pytest.raises(ValueError, match="expects a list of inputs"):
        layers.Maximum()(a)
    with pytest.raises(ValueError, match="same number of dims"):
        layers.Average()([a, keras.Input(shape=(4, 3))])

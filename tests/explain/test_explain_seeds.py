"""The seeds reproduced through the public API: each runnable script under examples/ is run
here and its numbers checked against ../shared/worked-examples.md (examples 1, 2, 3, 5, 6, 7
and 8)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from worked_example_7 import DIAG_MAP_TIMES_9, x_image

from filterbank import explain
from filterbank.datasets import xo

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(name, tmp_path=None):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(str(tmp_path) if tmp_path is not None else None)


def test_seed_000_toy_cnn(capsys):
    r = _run("seed_000_toy_cnn")
    assert r["conv"] == [[2, 0], [3, 5]] and r["pool"] == 5 and r["winner"] == [1, 1, 0]
    text = capsys.readouterr().out
    assert "1*1 + 0*0 + 0*0 + 4*1 = 5" in text and "max(2, 0, 3, 5) = 5" in text


def test_seed_001_parameter_counts_and_flip(capsys):
    r = _run("seed_001_convolution")
    assert r["dense"] == 10**12 and r["conv"] == 121
    assert "(10^12)" in capsys.readouterr().out


def test_seed_002_filters_and_gradient():
    r = _run("seed_002_1d_filters")
    assert r["f1"] == [0, 0, 1, 0, 0, -1, 1, -1, 0, 0]
    assert r["f1_same"] == [0, 1, 0, 0, -1, 1, -1, 0, 0, 0]  # Keras: the odd pad at the end
    assert r["f2"].index(max(r["f2"])) == 6 and sorted(r["f2"])[-2] < 1
    np.testing.assert_allclose(r["grad"], r["closed"], rtol=1e-12, atol=1e-12)


def test_seed_003_cs231n():
    r = _run("seed_003_cs231n")
    assert r["map"] == [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    assert r["pool"] == [[6, 8], [3, 4]]


def test_seed_004_xo_maps_pools_and_votes(tmp_path):
    pytest.importorskip("matplotlib")
    r = _run("seed_004_xo", tmp_path)
    maps = {k: v * 9 for k, v in r["maps"].items()}
    np.testing.assert_allclose(maps["filters"][..., 0], DIAG_MAP_TIMES_9, atol=1e-5)
    np.testing.assert_allclose(maps["filters"][0, :, 1], [3, -5, 1, -1, 1, -5, 3], atol=1e-5)
    assert maps["filters"][3, 3, 1] == pytest.approx(9)
    np.testing.assert_allclose(maps["filters"][..., 2], maps["filters"][:, ::-1, 0], atol=1e-5)
    want = {
        0: [[9, 3, 5, 3], [3, 9, 3, 5], [5, 3, 9, 1], [3, 5, 1, 7]],
        1: [[5, 3, 5, 3], [3, 9, 5, 1], [5, 5, 5, 1], [3, 1, 1, 3]],
        2: [[3, 5, 9, 7], [5, 5, 9, 3], [9, 9, 1, 5], [7, 3, 5, 3]],
    }
    for k, m in want.items():
        np.testing.assert_allclose(maps["pool"][..., k], m, atol=1e-5)
    # The slides' deeper stack: 2x2 maps [[1, .55], [.55, 1]], [[1, .55], [.55, .55]], ...
    np.testing.assert_allclose(maps["pool_2x2"][..., 0], [[9, 5], [5, 9]], atol=1e-5)
    np.testing.assert_allclose(maps["pool_2x2"][..., 1], [[9, 5], [5, 5]], atol=1e-5)
    np.testing.assert_allclose(maps["pool_2x2"][..., 2], [[5, 9], [9, 5]], atol=1e-5)
    assert (r["maps"]["relu"] >= 0).all() and (r["maps"]["filters"] < 0).any()
    assert r["votes"] == {"O": "O", "X": "X"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "xo_cell.png",
        "xo_filters.png",
        "xo_maps.png",
    ]


def test_xo_lecture_filters_and_plain_images():
    f = xo.lecture_filters()
    assert np.array_equal(f["diag"], np.eye(3) * 2 - 1)
    assert np.array_equal(xo.render("x"), x_image())
    (x_train, y_train), _ = xo.load_data(n=20, transform_probability=0)
    plain = {0: xo.render("o"), 1: xo.render("x")}
    assert all(np.array_equal(img, plain[int(y)]) for img, y in zip(x_train, y_train))
    with pytest.raises(ValueError, match="transform_probability expects a number in"):
        xo.load_data(n=4, transform_probability=2)
    # The mean of products at the top-left: 7/9 = 0.77 on the slides.
    e = explain.cell(_run_xo_model(), x_image(), "filters", (0, 0, 0))
    assert e.sum == 7


def _run_xo_model():
    spec = importlib.util.spec_from_file_location("seed_004_xo", EXAMPLES / "seed_004_xo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.network(mean=False)

"""The pictures: each returns a Figure, saves a PNG, and says what it shows (titles, value
ranges, the zero-centred scale that keeps an all-zero map white)."""

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import filterbank as keras  # noqa: E402
from filterbank import explain, layers  # noqa: E402
from filterbank.explain import plots  # noqa: E402


@pytest.fixture
def model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(3, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(4, 2, activation="relu"),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    return m


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    return data


def test_every_picture_saves_a_png(model, tmp_path):
    x = np.random.default_rng(0).random((8, 8)).astype("float32")
    figs = {
        "maps": plots.plot_feature_maps(model, x, "conv2d", save=tmp_path / "maps.png"),
        "filters": plots.plot_filters(model, "conv2d_1", save=tmp_path / "filters.png"),
        "cell": plots.plot_cell(
            explain.cell(model, x, "conv2d_1", (1, 1, 2)), save=tmp_path / "cell.png"
        ),
        "pool": plots.plot_cell(
            explain.cell(model, x, "max_pooling2d", (0, 0, 0)), save=tmp_path / "pool.png"
        ),
        "dense": plots.plot_cell(explain.cell(model, x, "dense", 1), save=tmp_path / "d.png"),
        "winners": plots.plot_pool_winners(
            model, x, "max_pooling2d", save=tmp_path / "winners.png"
        ),
        "saliency": plots.plot_saliency(model, x, save=tmp_path / "saliency.png"),
        "gradcam": plots.plot_grad_cam(model, x, 1, save=tmp_path / "gradcam.png"),
    }
    for name in ("maps", "filters", "cell", "pool", "d", "winners", "saliency", "gradcam"):
        _png(tmp_path / f"{name}.png")
    assert all(hasattr(f, "savefig") for f in figs.values())
    assert "Grad-CAM for class 1" in figs["gradcam"]._suptitle.get_text()
    assert figs["cell"].axes[2].get_title() == "=  products"


def test_all_zero_map_stays_white_and_says_so(model):
    model.layers[0].set_weights([np.zeros((3, 3, 1, 3)), np.zeros(3)])
    fig = plots.plot_feature_maps(model, np.ones((8, 8)), "conv2d")
    assert [ax.get_title() for ax in fig.axes[:3]] == ["ch 0 [0, 0]", "ch 1 [0, 0]", "ch 2 [0, 0]"]
    image = fig.axes[0].images[0]
    assert image.get_clim() == (-1.0, 1.0)  # 0 in the middle of the scale: white


def test_history_from_history_dict_and_metrics_json(tmp_path):
    h = {
        "loss": [1.0, 0.5],
        "accuracy": [0.5, 0.8],
        "val_loss": [1.1, 0.7],
        "val_accuracy": [0.4, 0.7],
    }
    fig = plots.plot_history(h)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    ticks = fig.axes[0].get_xticks()
    assert all(float(t).is_integer() for t in ticks)
    (tmp_path / "metrics.json").write_text(json.dumps({"history": h}))
    fig2 = plots.plot_history(tmp_path, save=tmp_path / "curves.png")
    assert len(fig2.axes[1].lines) == 2
    _png(tmp_path / "curves.png")
    with pytest.raises(ValueError, match="could not read"):
        plots.plot_history(tmp_path / "missing.json")


def test_image_grid_marks_mistakes():
    images = np.zeros((5, 4, 4, 1))
    fig = plots.plot_image_grid(images, [1, 2, 3, 4, 5], [1, 2, 0, 4, 5], cols=3)
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles[2] == "true 3\npred 0"
    assert fig.axes[2].title.get_color() == "red"
    assert "4 of 5 predicted correctly" in fig._suptitle.get_text()


def test_sequences_draw_too(tmp_path):
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input(shape=(20, 2)),
            layers.Conv1D(3, 3, activation="relu"),
            layers.MaxPooling1D(2),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    x = np.random.default_rng(0).normal(size=(20, 2)).astype("float32")
    fig = plots.plot_feature_maps(m, x, "conv1d")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["ch 0", "ch 1", "ch 2"]
    plots.plot_pool_winners(m, x, "max_pooling1d", save=tmp_path / "w.png")
    plots.plot_saliency(m, x, save=tmp_path / "s.png")
    plots.plot_grad_cam(m, x, save=tmp_path / "g.png")
    plots.plot_cell(explain.cell(m, x, "conv1d", (4, 1)), save=tmp_path / "c.png")
    for name in "wsgc":
        _png(tmp_path / f"{name}.png")

"""Draw the README's "See inside" pictures into docs/see-inside/ (deterministic).

    python scripts/see_inside_figures.py [--out docs/see-inside]

The X's and O's cell comes from the lecture's fixed filters; the MNIST pictures from the seed
Sequential CNN trained for 2 epochs (seed 0) on the bundled digits.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import filterbank as keras  # noqa: E402
from filterbank import explain, layers  # noqa: E402
from filterbank.datasets import xo  # noqa: E402
from filterbank.explain import plots  # noqa: E402


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model = keras.Sequential(
        [keras.Input(shape=(9, 9, 1)), layers.Conv2D(3, 3, use_bias=False, name="filters")]
    )
    model.layers[0].set_weights([xo.lecture_filters(as_kernel=True)])
    e = explain.cell(model, xo.render("x"), "filters", (0, 0, 0))
    plots.plot_cell(e, divide_by=9, save=out / "xo_cell.png")

    keras.utils.set_random_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255
    net = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    net.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    net.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0)
    x = x_test[0]
    plots.plot_feature_maps(net, x, "conv2d", max_channels=16, save=out / "mnist_maps.png")
    plots.plot_saliency(net, x, save=out / "mnist_saliency.png")
    for path in sorted(out.glob("*.png")):
        print(path, f"{path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path("docs/see-inside"))
    main(p.parse_args().out)

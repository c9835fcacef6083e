"""Seed 000 (MITx 6.86x, lecture 12): the toy CNN Pool(ReLU(Conv(I))) = 5, explained.

Run: python examples/seed_000_toy_cnn.py [--out DIR]   (DIR gets cell_*.png)
"""

import argparse

import numpy as np

import filterbank as keras
from filterbank import explain, layers

IMAGE = np.array([[1, 0, 2], [3, 1, 0], [0, 0, 4]], "float32")
FILTER = np.array([[1, 0], [0, 1]], "float32")


def build():
    model = keras.Sequential(
        [
            keras.Input(shape=(3, 3, 1)),
            layers.Conv2D(1, 2, use_bias=False, name="conv"),
            layers.ReLU(name="relu"),
            layers.MaxPooling2D(2, strides=1, name="pool"),
        ]
    )
    model.get_layer("conv").set_weights([FILTER.reshape(2, 2, 1, 1)])
    return model


def main(out=None):
    model = build()
    print("I =\n" + explain.map_text(IMAGE) + "\nF =\n" + explain.map_text(FILTER) + "\n")
    conv = explain.feature_maps(model, IMAGE)["conv"][..., 0]
    print("Conv(I) =\n" + explain.map_text(conv) + "\n")
    cells = [explain.cell(model, IMAGE, "conv", (i, j, 0)) for i in range(2) for j in range(2)]
    for e in cells:
        print(e, end="\n\n")
    relu = explain.cell(model, IMAGE, "relu", (1, 1, 0))
    pool = explain.cell(model, IMAGE, "pool", (0, 0, 0))
    print(relu, end="\n\n")
    print(pool)
    if out:
        from filterbank.explain import plots

        plots.plot_cell(cells[-1], save=f"{out}/cell_conv.png")
        plots.plot_cell(pool, save=f"{out}/cell_pool.png")
    return {"conv": conv.tolist(), "pool": pool.output, "winner": pool.winner["position"]}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", help="folder for the pictures")
    main(p.parse_args().out)

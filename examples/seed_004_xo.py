"""Seed 004 (after Brandon Rohrer's "How CNNs work"): the X's and O's, number by number.

The lecture's three filters slide over the 9x9 X; each response is the *mean* of the nine
products (a Conv2D whose kernel is the filter / 9), ReLU sets negatives to 0, max pooling
2x2 with "same" padding (the slides' "ceiling of 7/2") gives 4x4 maps, another 2x2 pool
gives 2x2, and a fully connected layer with fixed weights votes X or O.

Run: python examples/seed_004_xo.py [--out DIR]
"""

import argparse

import numpy as np

import filterbank as keras
from filterbank import explain, layers
from filterbank.datasets import xo


def network(vote_weights=None, mean=True):
    """The lecture's fixed-filter network; ``vote_weights`` (12, 2) for the last layer;
    ``mean=False`` keeps the +-1 filters (responses are then sums, 9 times the means)."""
    inp = keras.Input(shape=(9, 9, 1))
    maps = layers.Conv2D(3, 3, use_bias=False, name="filters")(inp)
    relu = layers.ReLU(name="relu")(maps)
    pooled = layers.MaxPooling2D(2, padding="same", name="pool")(relu)
    deeper = layers.MaxPooling2D(2, name="pool_2x2")(pooled)
    flat = layers.Flatten(name="flatten")(deeper)
    votes = layers.Dense(2, use_bias=False, activation="softmax", name="vote")(flat)
    model = keras.Model(inp, votes)
    model.get_layer("filters").set_weights(
        [xo.lecture_filters(as_kernel=True) / (9 if mean else 1)]
    )
    if vote_weights is not None:
        model.get_layer("vote").set_weights([vote_weights])
    return model


def main(out=None):
    x_img, o_img = xo.render("x"), xo.render("o")
    model = network()
    maps = explain.feature_maps(model, x_img, pre_activation=True)
    print("The X (9x9):\n" + explain.map_text(x_img) + "\n")
    for k, name in enumerate(xo.lecture_filters()):
        print(f"filter '{name}' response (mean of 9 products), times 9:")
        print(explain.map_text(np.round(maps["filters"][..., k] * 9, 6)) + "\n")
    # The slides' arithmetic uses the +-1 filter and divides the sum by 9 at the end.
    e = explain.cell(network(mean=False), x_img, "filters", (0, 0, 0))
    print(e)
    print(f"  mean = {e.sum:g} / 9 = {e.sum / 9:.4f}: the slides' 0.77\n")
    for name in ("pool", "pool_2x2"):
        print(f"{name}, times 9:")
        for k, f in enumerate(xo.lecture_filters()):
            print(
                f"  {f}:\n"
                + "\n".join(
                    "    " + r
                    for r in explain.map_text(np.round(maps[name][..., k] * 9, 6)).splitlines()
                )
            )
    # The voting weights: each class's 2x2 stacks, centred (a template match).
    stacks = [explain.feature_maps(model, img)["flatten"] for img in (o_img, x_img)]
    weights = np.stack([s - np.mean(stacks, axis=0) for s in stacks], axis=1)
    voter = network(weights)
    print("\nVotes (O, X):")
    result = {}
    for name, img in (("O", o_img), ("X", x_img)):
        p = voter.predict(img[None, :, :, None], verbose=0)[0]
        result[name] = xo.CLASS_NAMES[int(np.argmax(p))]
        print(f"  the clean {name}: O {p[0]:.3f}  X {p[1]:.3f}  -> {result[name]}")
    if out:
        from filterbank.explain import plots

        plots.plot_cell(e, divide_by=9, save=f"{out}/xo_cell.png")
        plots.plot_feature_maps(model, x_img, "filters", save=f"{out}/xo_maps.png")
        plots.plot_filters(network(mean=False), "filters", save=f"{out}/xo_filters.png")
    return {"maps": maps, "votes": result}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", help="folder for the pictures")
    main(p.parse_args().out)

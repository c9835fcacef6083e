"""Seed 003 (Stanford CS231n): the 5x5 activation map cell by cell, the max-pool example,
and the conv-layer arithmetic table.

Run: python examples/seed_003_cs231n.py [--out DIR]
"""

import argparse

import numpy as np

import filterbank as keras
from filterbank import explain, layers

INPUT = np.array(
    [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], "float32"
)
KERNEL = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], "float32")
POOL_INPUT = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], "float32")


def main(out=None):
    conv = keras.Sequential([keras.Input(shape=(5, 5, 1)), layers.Conv2D(1, 3, use_bias=False)])
    conv.layers[0].set_weights([KERNEL.reshape(3, 3, 1, 1)])
    cells = [[explain.cell(conv, INPUT, 0, (i, j, 0)) for j in range(3)] for i in range(3)]
    for row in cells:
        for e in row:
            print(str(e).splitlines()[1].strip())
    amap = [[e.output for e in row] for row in cells]
    print("activation map =\n" + explain.map_text(np.array(amap)))
    pool = keras.Sequential([keras.Input(shape=(4, 4, 1)), layers.MaxPooling2D(2, strides=2)])
    pooled = [[explain.cell(pool, POOL_INPUT, 0, (i, j, 0)) for j in range(2)] for i in range(2)]
    for row in pooled:
        for e in row:
            print(str(e).splitlines()[1].strip())
    print("max pool =\n" + explain.map_text(np.array([[e.output for e in r] for r in pooled])))
    print()
    for s in (1, 2, 3):
        print(
            explain.arithmetic_text(
                [layers.Conv2D(1, 3, strides=s)], input_shape=(7, 7, 1)
            ).splitlines()[2]
        )
    padded = explain.layer_arithmetic(
        [layers.ZeroPadding2D(1), layers.Conv2D(1, 3)], input_shape=(7, 7, 1)
    )
    print(
        f"7x7 input, zero pad P = 1 (ZeroPadding2D(1)): {padded[0]['output_shape']} -> "
        f"{padded[1]['output_formula'].splitlines()[0]} = (7 - 3 + 2*1)/1 + 1"
    )
    print(explain.arithmetic_text([layers.Conv2D(6, 5)], input_shape=(32, 32, 3)))
    if out:
        from filterbank.explain import plots

        plots.plot_cell(cells[0][0], save=f"{out}/cs231n_cell.png")
        plots.plot_pool_winners(pool, POOL_INPUT, 0, save=f"{out}/cs231n_pool.png")
    return {"map": amap, "pool": [[e.output for e in r] for r in pooled]}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", help="folder for the pictures")
    main(p.parse_args().out)

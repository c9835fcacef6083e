"""Prototype: Winograd F(2x2, 3x3) for the training forward and input gradient, per layer.

For the 3x3 stride-1 convolutions of the seed functional and CIFAR models at batch 64,
times (best of ``--repeats``, wall and process CPU time, under 1 and 2 BLAS threads):

* ref fwd: ``ConvPlan.forward`` as Conv2D trains it (im2col + GEMM, in chunks of samples
  past 2**19 column elements, keeping no column matrix then);
* ref dx / dw: ``ConvPlan.backward`` with and without the input gradient (dx = the
  difference);
* wino fwd: ``winograd.WinogradConv.run`` (the inference plan, numba transforms);
* wino dx: the input gradient as a full correlation of dy with the rotated, channel-swapped
  kernel, through the same plan (dy padded by 2 for "valid", "same" pads 1 itself);
* wino dw: dw with the column matrix rebuilt from x (what a chunked forward already does).

Run from a checkout: ``PYTHONPATH=$PWD python benchmarks/winograd_train_proto.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from filterbank.ops.conv_gemm import ConvPlan
from filterbank.ops.winograd import WinogradConv

LAYERS = [  # name, x shape, filters, padding
    ("seed conv2", (64, 13, 13, 32), 64, "valid"),
    ("seed conv3", (64, 5, 5, 64), 128, "valid"),
    ("cifar conv2", (64, 16, 16, 32), 64, "same"),
    ("cifar conv3", (64, 8, 8, 64), 128, "same"),
]


def best(fn, repeats):
    wall, cpu = [], []
    fn()
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall) * 1e3, min(cpu) * 1e3


def layer(shape, filters, padding, repeats):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    w = (rng.standard_normal((3, 3, shape[3], filters)) * 0.1).astype(np.float32)
    b = np.zeros(filters, np.float32)
    pads = ((1, 1), (1, 1)) if padding == "same" else ((0, 0), (0, 0))
    # The training path's own plan: chunked (col None, rebuilt in backward) past 2**19
    # column elements, as Conv2D runs it.
    plan = ConvPlan(shape, w.shape, (1, 1), pads, (1, 1))
    y, col = plan.forward(x, w, b)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    t = {}
    t["ref fwd"] = best(lambda: plan.forward(x, w, b), repeats)
    full = best(lambda: plan.backward(dy, w, col, True, x=x), repeats)
    t["ref dw"] = best(lambda: plan.backward(dy, w, col, False, x=x), repeats)
    t["ref dx"] = tuple(a - c for a, c in zip(full, t["ref dw"]))
    fwd = WinogradConv(shape, filters, np.float32, padding)
    out = np.empty(y.shape, np.float32)
    t["wino fwd"] = best(lambda: fwd.run(x, w, b, False, out), repeats)
    np.testing.assert_allclose(out, y, atol=1e-4 * np.abs(y).max())
    w_rot = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
    zero = np.zeros(shape[3], np.float32)
    if padding == "valid":
        n, oh, ow, f = dy.shape
        dpad = np.zeros((n, oh + 2, ow + 2, f), np.float32)
        bwd = WinogradConv(dpad.shape, shape[3], np.float32, "same")

        def wdx():
            dpad[:, 1:-1, 1:-1] = dy
            return bwd.run(dpad, w_rot, zero, False, dx)
    else:
        bwd = WinogradConv(dy.shape, shape[3], np.float32, "same")

        def wdx():
            return bwd.run(dy, w_rot, zero, False, dx)

    dx = np.empty(shape, np.float32)
    t["wino dx"] = best(wdx, repeats)
    ref_dx = plan.backward(dy, w, col, True, x=x)[0]
    np.testing.assert_allclose(dx, ref_dx, atol=1e-4 * np.abs(ref_dx).max())
    t["wino dw"] = best(lambda: plan.backward(dy, w, None, False, x=x), repeats)
    return t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", default="1,2")
    a = p.parse_args()
    for threads in [int(s) for s in a.threads.split(",")]:
        with threadpool_limits(threads):
            print(f"\n## {threads} thread(s), batch 64, best of {a.repeats}: ms wall / ms CPU")
            print(
                "| layer | ref fwd | ref dx | ref dw | wino fwd | wino dx | wino dw | "
                "ref total | wino total |"
            )
            print("|---|---|---|---|---|---|---|---|---|")
            for name, shape, filters, padding in LAYERS:
                t = layer(shape, filters, padding, a.repeats)
                ref = sum(t[k][0] for k in ("ref fwd", "ref dx", "ref dw"))
                win = sum(t[k][0] for k in ("wino fwd", "wino dx", "wino dw"))
                cells = " | ".join(
                    f"{t[k][0]:.2f} / {t[k][1]:.2f}"
                    for k in ("ref fwd", "ref dx", "ref dw", "wino fwd", "wino dx", "wino dw")
                )
                print(f"| {name} | {cells} | {ref:.2f} | {win:.2f} |", flush=True)


if __name__ == "__main__":
    main()

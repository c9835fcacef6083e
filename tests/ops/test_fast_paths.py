"""The fast paths against the plain NumPy reference: fused bias+activation+pooling, conv
plans with workspaces and chunking, buffer-reusing kernels.

Every fast path must give what the readable reference gives: bit-identical where the
arithmetic is the same, within float32 rounding where only a summation order differs.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from filterbank.ops import conv, conv_gemm, fused, pool
from filterbank.ops import im2col as np_kernels
from filterbank.ops.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
HAVE_NUMBA = pool.numba_kernels() is not None and conv.numba_kernels() is not None
FAST_IMPLS = [
    "numpy",
    pytest.param(
        "numba",
        marks=pytest.mark.skipif(
            not HAVE_NUMBA, reason="numba not installed, or FILTERBANK_DISABLE_NUMBA is set"
        ),
    ),
]


# ---- Workspace -----------------------------------------------------------------------------
def test_workspace_reuses_memory_and_grows_when_needed():
    ws = Workspace()
    a = ws.get("col", (4, 9), np.float32)
    assert a.shape == (4, 9) and a.flags.c_contiguous
    b = ws.get("col", (3, 5), np.float32)  # fits: a view of the same buffer
    assert np.shares_memory(a, b)
    c = ws.get("col", (10, 9), np.float32)  # larger: a new buffer
    assert not np.shares_memory(a, c) and c.shape == (10, 9)
    d = ws.get("col", (10, 9), np.float64)  # another dtype: a new buffer
    assert d.dtype == np.float64 and ws.nbytes == d.nbytes
    e = ws.get("dcol", (10, 9), np.float64)  # roles never share
    assert not np.shares_memory(d, e)
    ws.clear()
    assert ws.nbytes == 0


# ---- fused bias + activation + max pooling --------------------------------------------------
# (H, W, pool, strides, padding): 2x2 windows (the unrolled kernels; even and odd sizes) and
# the generic kernels (overlapping, gaps, "same" padding).
FUSED_CASES = [
    (6, 8, (2, 2), None, "valid"),
    (7, 9, (2, 2), None, "valid"),
    (5, 4, (2, 2), None, "valid"),
    (7, 7, (2, 2), None, "same"),
    (6, 5, (3, 2), (1, 2), "same"),
    (8, 7, (3, 3), (2, 2), "valid"),
    (5, 6, (2, 3), (3, 1), "same"),
]


def _z(shape, seed, dtype, ties=False):
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: ties everywhere, so the first-max rule is exercised
        return rng.integers(-2, 3, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("impl", FAST_IMPLS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("h,w,pool_size,strides,padding", FUSED_CASES)
def test_fused_pool_matches_the_unfused_reference(
    h, w, pool_size, strides, padding, activation, dtype, impl
):
    z = _z((3, h, w, 5), h * 13 + w, dtype)
    b = _z((5,), 1, dtype)
    args = (activation, pool_size, strides, padding)
    y_ref, arg_ref = fused.bias_act_max_pool2d_forward(
        z, b, *args, return_argmax=True, impl="reference"
    )
    y, arg = fused.bias_act_max_pool2d_forward(z, b, *args, return_argmax=True, impl=impl)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, y_ref)  # max commutes with bias and relu: exact
    np.testing.assert_array_equal(fused.bias_act_max_pool2d_forward(z, b, *args, impl=impl), y)
    live = y > 0 if activation == "relu" else np.ones(y.shape, bool)
    if impl == "numba":  # the bias is added before comparing: the very same argmax
        np.testing.assert_array_equal(arg[live], arg_ref[live])
    g = _z(y.shape, 2, dtype)
    dz_ref, db_ref = fused.bias_act_max_pool2d_backward(
        g, y_ref, arg_ref, z.shape, *args, impl="reference"
    )
    dz, db = fused.bias_act_max_pool2d_backward(g, y, arg, z.shape, *args, impl=impl)
    assert dz.shape == z.shape and dz.dtype == z.dtype and db.dtype == z.dtype
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(dz, dz_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(db, db_ref, rtol=tol, atol=tol)
    # The reference is the literal unfused composition: bias, activation, max pooling.
    a = z + b
    a = np.maximum(a, 0) if activation == "relu" else a
    np.testing.assert_array_equal(y_ref, pool.max_pool2d_forward(a, pool_size, strides, padding))


@pytest.mark.parametrize("impl", FAST_IMPLS)
@pytest.mark.parametrize("h,w,pool_size,strides,padding", FUSED_CASES)
def test_fused_pool_with_ties_routes_gradients_like_the_reference(
    h, w, pool_size, strides, padding, impl
):
    z = _z((2, h, w, 4), h + w, "float64", ties=True)
    b = np.array([0.0, 1.0, -1.0, 0.5])
    args = ("relu", pool_size, strides, padding)
    y_ref, arg_ref = fused.bias_act_max_pool2d_forward(
        z, b, *args, return_argmax=True, impl="reference"
    )
    y, arg = fused.bias_act_max_pool2d_forward(z, b, *args, return_argmax=True, impl=impl)
    np.testing.assert_array_equal(y, y_ref)
    g = _z(y.shape, 3, "float64")
    dz_ref, db_ref = fused.bias_act_max_pool2d_backward(
        g, y_ref, arg_ref, z.shape, *args, impl="reference"
    )
    dz, db = fused.bias_act_max_pool2d_backward(g, y, arg, z.shape, *args, impl=impl)
    np.testing.assert_allclose(dz, dz_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, db_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", FAST_IMPLS)
def test_fused_pool_buffers_bias_none_and_batch_of_one(impl):
    z = _z((1, 6, 6, 3), 0, "float32")
    y_ref, arg_ref = fused.bias_act_max_pool2d_forward(
        z, None, "relu", 2, return_argmax=True, impl="reference"
    )
    out = np.full((1, 3, 3, 3), np.nan, np.float32)
    arg_out = np.zeros((1, 3, 3, 3), np.uint8)
    y, arg = fused.bias_act_max_pool2d_forward(
        z, None, "relu", 2, return_argmax=True, impl=impl, out=out, argmax_out=arg_out
    )
    assert y is out and arg is arg_out
    np.testing.assert_array_equal(y, y_ref)
    # Inference (no argmax) at batch 1 must not write anywhere else.
    np.testing.assert_array_equal(
        fused.bias_act_max_pool2d_forward(z, None, "relu", 2, impl=impl), y_ref
    )
    dz_out = np.full(z.shape, np.nan, np.float32)
    dz, db = fused.bias_act_max_pool2d_backward(
        np.ones_like(y), y, arg, z.shape, "relu", 2, impl=impl, out=dz_out, need_db=False
    )
    assert dz is dz_out and db is None and not np.isnan(dz).any()
    assert dz.sum() == (y > 0).sum()


def test_fused_pool_rejects_other_activations():
    with pytest.raises(ValueError, match="Unknown fused pooling activation 'tanh'"):
        fused.bias_act_max_pool2d_forward(np.zeros((1, 2, 2, 1)), None, "tanh", 2)
    with pytest.raises(ValueError, match="fused pooling implementation"):
        fused.bias_act_max_pool2d_forward(np.zeros((1, 2, 2, 1)), None, "relu", 2, impl="cuda")


@pytest.mark.parametrize("impl", FAST_IMPLS)
def test_pool_backward_into_a_buffer(impl):
    x = _z((2, 7, 6, 3), 5, "float32")
    for pool_size, strides, padding in [((2, 2), None, "valid"), ((3, 3), (2, 2), "same")]:
        y, arg = pool.max_pool2d_forward(
            x, pool_size, strides, padding, return_argmax=True, impl=impl
        )
        g = _z(y.shape, 6, "float32")
        ref = pool.max_pool2d_backward(g, arg, x.shape, pool_size, strides, padding, impl=impl)
        out = np.full(x.shape, np.nan, np.float32)
        got = pool.max_pool2d_backward(
            g, arg, x.shape, pool_size, strides, padding, impl=impl, out=out
        )
        assert got is out
        np.testing.assert_array_equal(got, ref)


# ---- im2col into a buffer --------------------------------------------------------------------
def test_im2col_kernels_fill_a_given_buffer(rng):
    x = rng.standard_normal((2, 6, 7, 3)).astype("float32")
    geometry = ((3, 2), (1, 2), ((1, 1), (0, 1)), (1, 1), (6, 4))
    ref = np_kernels.im2col(x, *geometry)
    out = np.empty_like(ref)
    assert np_kernels.im2col(x, *geometry, out=out) is out
    np.testing.assert_array_equal(out, ref)
    out_t = np.empty(ref.transpose(3, 4, 5, 0, 1, 2).shape, np.float32)
    assert np_kernels.im2col_cmajor(x, *geometry, out=out_t) is out_t
    np.testing.assert_array_equal(out_t, ref.transpose(3, 4, 5, 0, 1, 2))
    if HAVE_NUMBA:
        from filterbank.ops import _numba_conv

        out2 = np.full_like(ref, np.nan)
        assert _numba_conv.im2col(x, *geometry, out=out2) is out2
        np.testing.assert_array_equal(out2, ref)


# ---- ConvPlan: workspaces and chunks ------------------------------------------------------------
# (x shape, kernel, strides, padding, filters): each column-matrix layout.
PLAN_CASES = [
    ((5, 9, 8, 1), (3, 3), (1, 1), "valid", 4),  # channel-major (few channels)
    ((5, 9, 8, 6), (3, 2), (2, 1), "same", 3),  # pixel-major
    ((5, 7, 7, 16), (3, 3), (1, 1), "same", 8),  # pixel-major, channels > 2 * Wo
    ((5, 6, 5, 4), (1, 1), (2, 2), "valid", 3),  # pointwise, strided
]


def _plan(case, col_limit="default"):
    xs, kernel, strides, padding, f = case
    pads = conv.resolve_pads(xs[1:3], kernel, strides, padding, (1, 1))
    return conv.ConvPlan(xs, (*kernel, xs[3], f), strides, pads, (1, 1), col_limit=col_limit)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", PLAN_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[3]}")
def test_plan_with_workspace_and_chunks_matches_conv2d(case, dtype, rng):
    xs, kernel, strides, padding, f = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((*kernel, xs[3], f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    y_ref, cache = conv.conv2d_forward(x, w, b, strides, padding, impl="numpy")
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    dx_ref, dw_ref, db_ref = conv.conv2d_backward(dy, cache)
    tol = 1e-12 if dtype == "float64" else 2e-5
    for col_limit in (None, 1, 50):  # never chunked; one sample per chunk; a few per chunk
        plan = _plan(case, col_limit)
        ws = Workspace()
        for _ in range(2):  # the second pass reuses the workspace buffers
            y, col = plan.forward(x, w, b, ws=ws)
            np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
            assert (col is None) == (plan.chunk < xs[0])
            dx, dw, db = plan.backward(dy, w, col, ws=ws, x=x)
            np.testing.assert_allclose(dx, dx_ref, rtol=tol, atol=tol)
            np.testing.assert_allclose(dw, dw_ref, rtol=tol, atol=tol)
            np.testing.assert_allclose(db, db_ref, rtol=tol, atol=tol)
        none = plan.backward(dy, w, col, need_dx=False, need_db=False, x=x)
        assert none[0] is None and none[2] is None


@pytest.mark.parametrize("case", PLAN_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[3]}")
def test_cropped_plan_computes_the_leading_rows_and_columns(case, rng):
    xs, kernel, strides, padding, f = case
    full = _plan(case)
    ho, wo = full.out_hw
    crop = (max(1, ho - 1), max(1, wo - 2))
    x = rng.standard_normal(xs)
    w = rng.standard_normal(full.w_shape)
    for col_limit in ("default", 1):
        plan = conv.ConvPlan(
            xs,
            full.w_shape,
            full.strides,
            full.pads,
            full.dilation,
            crop_hw=crop,
            col_limit=col_limit,
        )
        assert plan.out_shape == (xs[0], *crop, f)
        y, col = plan.forward(x, w)
        y_full, col_full = full.forward(x, w)
        np.testing.assert_allclose(y, y_full[:, : crop[0], : crop[1]], rtol=1e-12, atol=1e-12)
        # The gradient of the cropped plan is the full one with zeros on the dropped cells.
        dy = rng.standard_normal(y.shape)
        dy_full = np.zeros(y_full.shape)
        dy_full[:, : crop[0], : crop[1]] = dy
        got = plan.backward(dy, w, col, x=x)
        for a, b in zip(got, full.backward(dy_full, w, col_full)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="crop"):
        conv.ConvPlan(
            xs, full.w_shape, full.strides, full.pads, full.dilation, crop_hw=(ho + 1, wo)
        )


def test_plan_chunks_follow_the_column_limit(monkeypatch):
    case = PLAN_CASES[1]
    per_sample = 5 * 8 * 3 * 2 * 6  # Ho * Wo * kh * kw * C
    assert _plan(case).chunk == 5  # small: one chunk
    monkeypatch.setattr(conv_gemm, "COL_LIMIT_ELEMENTS", 2 * per_sample)
    plan = _plan(case)
    assert plan.chunk == 2
    assert [(i, j, p.x_shape[0]) for i, j, p in plan.chunks()] == [(0, 2, 2), (2, 4, 2), (4, 5, 1)]
    assert plan.sub(2) is plan.sub(2) and plan.sub(2).chunk == 2


def test_chunked_plan_needs_x_for_backward(rng):
    plan = _plan(PLAN_CASES[1], col_limit=1)
    with pytest.raises(ValueError, match="needs x"):
        plan.backward(np.zeros(plan.out_shape), np.zeros(plan.w_shape), None)


def test_plan_checks_shapes():
    with pytest.raises(ValueError, match="input has 3 channels but the kernel"):
        conv.ConvPlan((1, 5, 5, 3), (3, 3, 2, 4), (1, 1), ((0, 0), (0, 0)), (1, 1))
    with pytest.raises(ValueError, match="does not fit"):
        conv.ConvPlan((1, 2, 5, 3), (3, 3, 3, 4), (1, 1), ((0, 0), (0, 0)), (1, 1))
    with pytest.raises(ValueError, match=r"expects x \(N, H, W, C\)"):
        conv.ConvPlan((5, 5, 3), (3, 3, 3, 4), (1, 1), ((0, 0), (0, 0)), (1, 1))


# ---- compiled kernels under numba's bounds checking ----------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_compiled_kernels_stay_in_bounds(tmp_path):
    """Run every compiled kernel with NUMBA_BOUNDSCHECK=1: an out-of-range index raises
    instead of silently corrupting memory (slow: the kernels compile afresh)."""
    script = (
        "import numpy as np\n"
        "from filterbank.ops import fused, pool, conv\n"
        "r = np.random.default_rng(0)\n"
        "for n, h, w in [(1, 6, 6), (3, 7, 9), (2, 5, 4)]:\n"
        "    z = r.standard_normal((n, h, w, 5)).astype('float32')\n"
        "    b = r.standard_normal(5).astype('float32')\n"
        "    for ps, st, pad in [(2, None, 'valid'), ((3, 2), (1, 2), 'same')]:\n"
        "        fused.bias_act_max_pool2d_forward(z, b, 'relu', ps, st, pad, impl='numba')\n"
        "        y, a = fused.bias_act_max_pool2d_forward(z, b, 'relu', ps, st, pad,\n"
        "                                                 return_argmax=True, impl='numba')\n"
        "        fused.bias_act_max_pool2d_backward(np.ones_like(y), y, a, z.shape, 'relu', ps,\n"
        "                                           st, pad, impl='numba')\n"
        "        y, a = pool.max_pool2d_forward(z, ps, st, pad, return_argmax=True, impl='numba')\n"
        "        pool.max_pool2d_backward(y, a, z.shape, ps, st, pad, impl='numba')\n"
        "    x = r.standard_normal((n, h, w, 6)).astype('float32')\n"
        "    wk = r.standard_normal((3, 2, 6, 4)).astype('float32')\n"
        "    y, cache = conv.conv2d_forward(x, wk, None, (2, 1), 'same', impl='numba')\n"
        "    conv.conv2d_backward(y, cache)\n"
        "from filterbank.ops import winograd\n"
        "winograd.CHUNK_ELEMENTS = 1000  # several chunks, a short last one\n"
        "for shape, pad in [((5, 8, 9, 3), 'valid'), ((3, 7, 6, 2), 'same')]:\n"
        "    wg = winograd.WinogradConvPool(shape, 4, 'float32', pad)\n"
        "    x = r.standard_normal(shape).astype('float32')\n"
        "    wk = r.standard_normal((3, 3, shape[3], 4)).astype('float32')\n"
        "    wg.run(x, wk, None, True, np.empty(wg.out_shape, 'float32'))\n"
        "    wc = winograd.WinogradConv(shape, 4, 'float32', pad)  # odd sizes: edge tiles\n"
        "    wc.run(x, wk, None, True, np.empty(wc.out_shape, 'float32'))\n"
        "from filterbank.ops import direct\n"
        "for shape, pad in [((2, 9, 8, 1), 'valid'), ((3, 5, 6, 1), 'same')]:\n"
        "    dp = direct.DirectConvPool(shape, 5, 'float32', pad)\n"
        "    x = r.standard_normal(shape).astype('float32')\n"
        "    wk = r.standard_normal((3, 3, 1, 5)).astype('float32')\n"
        "    dp.run(x, wk, None, True, np.empty(dp.out_shape, 'float32'))\n"
        "print('in bounds')\n"
    )
    # A fresh cache folder: the on-disk kernels were compiled without bounds checks.
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    env.pop("FILTERBANK_DISABLE_NUMBA", None)
    res = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0 and "in bounds" in res.stdout, res.stderr[-3000:]

"""BatchNormalization folded into the weights before it (ops/bn_fold.py), in float64: the
folded product equals the product followed by the normalization within 1e-12."""

import numpy as np

from filterbank.ops import bn_fold


def test_fold_batch_norm_math_float64():
    rng = np.random.default_rng(6)
    w, b = rng.normal(size=(3, 3, 2, 5)), rng.normal(size=5)
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    mean, var = rng.normal(size=5), rng.uniform(0.1, 2, 5)
    cols = rng.normal(size=(7, 18))  # im2col rows: the convolution as a product
    w2, b2 = bn_fold.fold_batch_norm(w, b, gamma, beta, mean, var, 1e-3)
    plain = (cols @ w.reshape(-1, 5) + b - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(cols @ w2.reshape(-1, 5) + b2, plain, rtol=1e-12, atol=1e-12)
    # no bias, scale=False, center=False
    w3, b3 = bn_fold.fold_batch_norm(w, None, None, None, mean, var, 1e-3)
    plain = (cols @ w.reshape(-1, 5) - mean) / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(cols @ w3.reshape(-1, 5) + b3, plain, rtol=1e-12, atol=1e-12)

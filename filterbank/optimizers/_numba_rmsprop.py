"""numba-compiled RMSprop update (plain: not centered, no momentum), one pass per parameter.

Keras's formula, in the same float operations and order as the NumPy update in
:mod:`filterbank.optimizers.adaptive` (the coefficients are cast to the parameter's dtype,
as NumPy does with Python floats), so the result is bit-identical; it just reads and
writes each array once instead of through eight NumPy calls::

    v = v * rho + (g * g) * (1 - rho)
    param -= (g / sqrt(v + epsilon)) * lr

Imported lazily, serial on the calling thread like every filterbank kernel.
"""

from __future__ import annotations

import math

import numba


@numba.njit(cache=True, nogil=True, error_model="numpy")
def rmsprop_update(param, grad, velocity, rho, one_minus_rho, epsilon, lr):  # pragma: no cover
    """In place on flat, equally long C-contiguous arrays; scalars of the arrays' dtype."""
    for i in range(param.shape[0]):
        g = grad[i]
        v = velocity[i] * rho + (g * g) * one_minus_rho
        velocity[i] = v
        param[i] -= (g / math.sqrt(v + epsilon)) * lr

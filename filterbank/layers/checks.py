"""Argument checks every layer shares: its dtype, and the size of a weight before it exists.

Both raise with the usual message shape (which layer, what was expected, what was received,
how to fix it) instead of NumPy's bare ``TypeError: data type 'banana' not understood`` or an
``_ArrayMemoryError`` deep inside an initializer.

Example:
    >>> check_layer_dtype("float64", "Dense")
    'float64'
    >>> try:
    ...     check_layer_dtype("int32", "Dense")
    ... except ValueError as e:
    ...     print(str(e)[:70])
    Dense(dtype='int32'): layers compute in float16, float32 or float64, g
"""

from __future__ import annotations

import math

import numpy as np

FLOAT_DTYPES = ("float16", "float32", "float64")
MAX_WEIGHT_BYTES = 2 * 1024**3
"""Most bytes one weight may take (2 GiB, the most a model file holds)."""


def check_layer_dtype(dtype, owner: str) -> str | None:
    """``np.dtype(dtype).name`` when it is a float type layers compute in; ValueError otherwise."""
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except (TypeError, ValueError):
        raise ValueError(
            f"{owner}(dtype={dtype!r}): {dtype!r} is not a data type. Use one of "
            f"{', '.join(FLOAT_DTYPES)} (or leave dtype unset for the default, float32)."
        ) from None
    if name not in FLOAT_DTYPES:
        raise ValueError(
            f"{owner}(dtype={dtype!r}): layers compute in {', '.join(FLOAT_DTYPES[:-1])} or "
            f"{FLOAT_DTYPES[-1]}, got {name}. Pass dtype='float32' (or leave dtype unset), and "
            "cast integer data when you feed it."
        )
    return name


def check_weight_size(layer, name: str, shape, dtype) -> None:
    """Refuse a weight larger than :data:`MAX_WEIGHT_BYTES` before allocating it."""
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        return  # the initializer reports a malformed shape itself
    itemsize = np.dtype(dtype or "float32").itemsize if _is_dtype(dtype) else 4
    nbytes = math.prod(dims) * itemsize
    if nbytes > MAX_WEIGHT_BYTES:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) would need a weight {name!r} of shape "
            f"{dims}: {nbytes:,} bytes, more than the {MAX_WEIGHT_BYTES:,} one weight may hold. "
            "Check the layer's arguments (units, filters, kernel_size) and its input shape."
        )


def _is_dtype(dtype) -> bool:
    try:
        np.dtype(dtype or "float32")
        return True
    except TypeError:
        return False


def check_weight_values(value, target_dtype, where: str) -> np.ndarray:
    """``value`` as an array of ``target_dtype``, or ValueError naming ``where`` when it is not
    real numbers, holds NaN or infinity, or has values the weight's float type cannot hold.

    Example:
        >>> check_weight_values([1.0, 2.0], np.float32, "weight 'bias'").dtype
        dtype('float32')
        >>> try:
        ...     check_weight_values([1e39], np.float32, "weight 'bias'")
        ... except ValueError as e:
        ...     print(str(e)[:60])
        weight 'bias' holds values up to 1e+39, beyond the largest f
    """
    w = np.asarray(value)
    if w.dtype.kind == "c":
        raise ValueError(
            f"{where} got a complex array ({w.dtype}); weights are real numbers. "
            "Pass the real part (w.real) if the imaginary part is zero."
        )
    if w.dtype.kind not in "biuf":
        raise ValueError(f"{where} got an array of {w.dtype}, not numbers. Pass a float array.")
    if w.dtype.kind == "f" and w.size and not np.isfinite(w).all():
        bad = int(w.size - np.count_nonzero(np.isfinite(w)))
        raise ValueError(
            f"{where} holds {bad} NaN or infinite value{'s' if bad > 1 else ''}; "
            "weights must be finite. If they come from a run that diverged, lower "
            "the learning rate and train again."
        )
    target = np.dtype(target_dtype)
    if w.size and target.kind == "f" and w.dtype != target:
        top = overflow_magnitude(w, target)
        if top is not None:
            raise ValueError(
                f"{where} holds values up to {top:.3g}, beyond the largest "
                f"{target.name} ({float(np.finfo(target).max):.3g}); they would "
                "become infinite. Rescale them, or build the model in float64."
            )
    return w.astype(target, copy=False)


def overflow_magnitude(arr: np.ndarray, dtype) -> float | None:
    """The largest magnitude in ``arr`` when casting it to the float ``dtype`` would turn it
    into inf (weights or data too large for float32), else None."""
    largest = float(np.max(np.abs(arr)))
    return largest if largest > float(np.finfo(dtype).max) else None


def check_int_sizes(layer) -> None:
    """Refuse an integer argument beyond ``MAX_CONFIG_INT`` (2**24; seeds aside) at
    construction, naming the layer: such values (units, strides, padding of 10**20) describe
    no model that can run, and fail later with NumPy's bare overflow or memory errors.

    Example:
        >>> from filterbank import layers
        >>> try:
        ...     layers.ZeroPadding2D(10**20)
        ... except ValueError as e:
        ...     print(str(e)[:65])
        Layer 'zero_padding2d' (ZeroPadding2D) argument padding expects a
    """
    from ..saving.config_check import MAX_CONFIG_INT, _big_int

    try:
        config = layer.get_config()
    except Exception:
        return  # a layer that cannot describe itself yet is checked when it is saved
    big = _big_int(_lists(config))
    if big is not None:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) argument {big[0]} expects a size "
            f"up to {MAX_CONFIG_INT:,}, got {big[1]}: larger values describe no model that "
            "can run. Check the value."
        )


def checked_init(init):
    """Wrap a layer class's ``__init__`` so the outermost call ends with check_int_sizes."""
    import functools

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        depth = self.__dict__.get("_init_depth", 0)
        self.__dict__["_init_depth"] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            self.__dict__["_init_depth"] = depth
        if depth == 0:
            del self.__dict__["_init_depth"]
            check_int_sizes(self)

    wrapper._size_checked = True
    return wrapper


def _lists(value):
    """Tuples as lists (get_config keeps strides and padding as tuples; files hold lists)."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value

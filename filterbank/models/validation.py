"""Checks and conversions at the public boundary of ``fit`` / ``evaluate`` / ``predict``.

Every message says what happened, where (the method, the input or output by
name), what was expected, what was received, and how to fix it. The data is
checked and converted once per call, vectorised (no per-sample Python):

* inputs ``x``: numeric (not object/string), at least one sample, finite; shape
  checked against the model's Input (a missing trailing axis of size 1 is added
  and an extra one removed, as Keras does); converted to the Input's dtype
  (uint8 images become float32 *without* rescaling -- divide by 255 yourself;
  values the cast would turn into inf, such as 1e300 into float32, are refused);
* targets ``y``: one per output, same length as ``x``, checked against the loss
  (integer class ids for sparse losses, one-hot rows for categorical ones, labels
  in range);
* ``sample_weight`` / ``class_weight``: one weight per sample, finite, >= 0.

Example:
    >>> import numpy as np
    >>> check_positive_int(32, "batch_size", "fit")
    32
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import did_you_mean, fmt_shape
from ..layers.checks import overflow_magnitude
from .labels import check_labels


# ---- arguments ---------------------------------------------------------------------------------
def check_positive_int(value, arg: str, where: str, allow_none_default=None) -> int:
    """``value`` as an int >= 1 (``None`` gives ``allow_none_default`` if set)."""
    if value is None and allow_none_default is not None:
        return allow_none_default
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{where}() argument {arg} expects a positive integer, got {value!r}. Pass e.g. "
            f"{arg}=32."
        )
    if value < 1:
        raise ValueError(
            f"{where}() argument {arg} must be at least 1, got {value}. Pass a positive integer, "
            f"e.g. {arg}=32."
        )
    return int(value)


def check_nonnegative_int(value, arg: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}() argument {arg} expects a non-negative integer, got {value!r}.")
    if value < 0:
        raise ValueError(f"{where}() argument {arg} must be >= 0, got {value}. Pass e.g. {arg}=10.")
    return int(value)


def check_verbose(verbose, where: str) -> int:
    """Keras's verbose: "auto" (-> 1), 0 (silent), 1 (progress bar), 2 (one line per epoch)."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool):
        return int(verbose)
    if isinstance(verbose, numbers.Integral) and verbose in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"{where}() argument verbose expects 'auto', 0, 1 or 2, got {verbose!r}.")


def check_validation_split(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"fit() argument validation_split expects a float in [0, 1), got {value!r}."
        )
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"fit() argument validation_split must be in [0, 1), got {value}. It is the fraction "
            "of the data (taken from the end) held out for validation, e.g. validation_split=0.2."
        )
    return value


# ---- arrays ------------------------------------------------------------------------------------
def as_numeric(a, what: str, where: str) -> np.ndarray:
    """``a`` as a numeric ndarray (bool/int/uint/float), refusing strings, objects, ragged lists."""
    if a is None:
        raise ValueError(f"{where}() got None for {what}. Pass a NumPy array.")
    if isinstance(a, (str, bytes)):
        raise TypeError(f"{where}() expects {what} to be a numeric array, got a string {a!r}.")
    try:
        arr = np.asarray(a)
    except ValueError as e:  # ragged nested lists
        raise ValueError(
            f"{where}() could not make an array of {what}: its rows have different lengths ({e}). "
            "Pad or crop them to one shape first."
        ) from None
    if arr.dtype.kind not in "biuf":
        kinds = {
            "U": "strings",
            "S": "bytes",
            "O": "Python objects",
            "c": "complex numbers",
            "M": "dates",
            "m": "time deltas",
            "V": "raw records",
        }
        hint = (
            "Ragged rows or mixed types give object arrays; convert to one numeric dtype, e.g. "
            "np.asarray(x, dtype='float32')."
        )
        if arr.dtype.kind in "US":
            hint = (
                "Encode labels as integer class ids first "
                "(e.g. with np.unique(y, return_inverse=True))."
            )
        raise TypeError(
            f"{where}() expects {what} to be numeric, got an array of "
            f"{kinds.get(arr.dtype.kind, arr.dtype)} (dtype {arr.dtype}). {hint}"
        )
    if arr.ndim == 0:
        raise ValueError(
            f"{where}() expects {what} to be an array with a batch axis, got a scalar {arr!r}."
        )
    return arr


def check_finite(arr: np.ndarray, what: str, where: str) -> None:
    if arr.dtype.kind != "f":
        return
    finite = np.isfinite(arr)
    if finite.all():
        return
    bad = ~finite
    count = int(bad.sum())
    first = int(np.argwhere(bad.reshape(len(arr), -1).any(axis=1))[0, 0])
    raise ValueError(
        f"{where}() found {count} NaN or infinite value{'s' if count != 1 else ''} in {what} "
        f"(first in sample {first}). Clean the data first, e.g. drop those samples or use "
        "np.nan_to_num."
    )


def check_fits(arr: np.ndarray, dtype, what: str, where: str) -> None:
    """Refuse values the cast to ``dtype`` would turn into inf (e.g. 1e300 into float32)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or arr.dtype.kind not in "iuf" or arr.size == 0:
        return
    if arr.dtype.kind == "f" and arr.dtype.itemsize <= dtype.itemsize:
        return
    if arr.dtype.kind in "iu" and np.iinfo(arr.dtype).max <= np.finfo(dtype).max:
        return
    largest = overflow_magnitude(arr, dtype)
    if largest is not None:
        raise ValueError(
            f"{where}() found values in {what} too large for {dtype} (largest magnitude "
            f"{largest:.3g}; {dtype} holds up to {float(np.finfo(dtype).max):.3g}), which would "
            "become inf. Rescale the data first (e.g. standardize it: (x - x.mean()) / x.std())."
        )


def _split_structure(data, names: list[str], what: str, where: str, owner: str, allow_none=False):
    """A single array / list / tuple / dict -> list aligned with ``names``."""
    n = len(names)
    if isinstance(data, dict):
        unknown = [k for k in data if k not in names]
        if unknown:
            raise ValueError(
                f"{where}() got {what} for {unknown[0]!r}, which is not one of model '{owner}''s "
                f"{what.split()[0]} names. " + did_you_mean(unknown[0], names)
            )
        missing = [k for k in names if k not in data]
        if missing and not allow_none:
            raise ValueError(
                f"{where}() got no {what} for {missing[0]!r}. Model '{owner}' needs one for each "
                f"of {names}."
            )
        return [data.get(k) for k in names]
    if isinstance(data, (list, tuple)) and n > 1:
        if len(data) != n:
            raise ValueError(
                f"{where}(): model '{owner}' has {n} {what.split()[0]}s {names}, got a list of "
                f"{len(data)} arrays for {what}. Pass one array per {what.split()[0]}, in order."
            )
        return list(data)
    if n > 1:
        raise ValueError(
            f"{where}(): model '{owner}' has {n} {what.split()[0]}s {names}, got a single array "
            f"for {what}. Pass a list of {n} arrays (or a dict keyed by those names)."
        )
    if isinstance(data, (list, tuple)) and data and all(isinstance(a, np.ndarray) for a in data):
        if len(data) == 1:
            return [data[0]]
        kind = what.split()[0]
        raise ValueError(
            f"{where}(): model '{owner}' has one {kind} ({names[0]!r}), got a list of {len(data)} "
            f"arrays for {what}. Pass a single array (np.concatenate or np.stack them first if "
            "they are parts of one batch)."
        )
    return [data]


def _adjust_rank(
    model, arr: np.ndarray, index: int, ref_shape, name: str, where: str
) -> np.ndarray:
    """Keras's rank adjustment, then the shape check against the Input ``ref_shape``."""
    ref_ndim = len(ref_shape)
    one_sample = arr.ndim == ref_ndim - 1 and arr.shape == tuple(ref_shape[1:])
    if arr.ndim == ref_ndim - 1 and ref_shape[-1] == 1 and not one_sample:
        arr = arr[..., None]  # the missing channel axis Keras adds itself
    elif arr.ndim == ref_ndim + 1 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    head = f"{where}(): input {index} ('{name}') of model '{model.name}'"
    if arr.ndim != ref_ndim:
        hint = ""
        if arr.ndim == ref_ndim - 1 and arr.shape[1:] == tuple(ref_shape[1:-1]):
            c = ref_shape[-1]
            hint = (
                f" The model expects {c} channels on the last axis and the data has none. Feed "
                f"data with a channel axis of size {c} (e.g. np.repeat(x[..., None], {c}, axis=-1) "
                "for grayscale data), or build the model with "
                f"Input(shape={fmt_shape(tuple(ref_shape[1:-1]) + (1,))})."
            )
        elif one_sample:
            hint = (
                " It looks like one sample without the batch axis: "
                "use x[None] (or np.expand_dims(x, 0))."
            )
        elif arr.ndim == ref_ndim - 1:
            hint = " Add the missing axis (x[..., None] adds a channel axis)."
        elif (
            ref_ndim == 2
            and ref_shape[1] is not None
            and arr.ndim > 2
            and int(np.prod(arr.shape[1:])) == ref_shape[1]
        ):
            hint = (
                f" Flatten each sample to {ref_shape[1]} values: x.reshape(len(x), -1), or "
                "start the model with layers.Flatten() on the sample's shape "
                f"(keras.Input(shape={fmt_shape(arr.shape[1:])}))."
            )
        else:
            hint = " Reshape the data to the model's input shape."
        raise ValueError(
            f"{head} expects {ref_ndim} dims {fmt_shape(ref_shape)}, got shape "
            f"{fmt_shape(arr.shape)}.{hint}"
        )
    for axis in range(1, ref_ndim):
        want = ref_shape[axis]
        if want is not None and arr.shape[axis] != want:
            hint = ""
            if (
                ref_ndim == 4
                and arr.shape[1] == ref_shape[3]
                and arr.shape[2:] == tuple(ref_shape[1:3])
            ):
                hint = (
                    " The data looks channels-first (NCHW); filterbank is channels-last (NHWC): "
                    "use x.transpose(0, 2, 3, 1)."
                )
            elif axis == ref_ndim - 1:
                hint = (
                    f" The last axis holds the features/channels: the model expects {want}, the "
                    f"data has {arr.shape[axis]}. Check the data, or build the model with input "
                    f"shape {fmt_shape(tuple(arr.shape[1:]))}."
                )
            else:
                hint = (
                    " Resize or crop the data to the model's input shape, "
                    "or build the model for it."
                )
            raise ValueError(
                f"{head} expects shape {fmt_shape(ref_shape)}, got {fmt_shape(arr.shape)} (axis "
                f"{axis} is {arr.shape[axis]}, expected {want}).{hint}"
            )
    return arr


def prepare_inputs(model, x, where: str, check_finite_values: bool = True) -> list[np.ndarray]:
    """Model inputs as a list of C-contiguous arrays of the Input dtypes.

    Builds a lazy Sequential from the data's shape first. Shapes: each (n, *Input.shape[1:]).
    """
    if x is None:
        raise ValueError(f"{where}() got x=None. Pass the input data as a NumPy array.")
    if model._graph is None:
        first = x
        if isinstance(x, (list, tuple)) and len(x) == 1:
            first = x[0]
        if isinstance(x, dict) and len(x) == 1:
            first = next(iter(x.values()))
        arr = as_numeric(first, "x", where)
        if arr.ndim < 2 and hasattr(model, "_build_from_data"):
            arr = arr[:, None]
        if hasattr(model, "_build_from_data"):
            if arr.shape[0] == 0:
                raise ValueError(
                    f"{where}() got an empty x (0 samples, shape {fmt_shape(arr.shape)}). Pass at "
                    "least one sample."
                )
            model._build_from_data(arr.shape)
        model._require_graph("inputs")
    graph = model._graph
    names = [t.node.layer.name for t in graph.inputs]
    items = _split_structure(x, names, "input data x", where, model.name)
    out = []
    n0 = None
    for i, (a, t) in enumerate(zip(items, graph.inputs)):
        what = "x" if len(names) == 1 else f"x for input {i} ('{names[i]}')"
        arr = as_numeric(a, what, where)
        if arr.shape[0] == 0:
            raise ValueError(
                f"{where}() got an empty {what} (0 samples, shape {fmt_shape(arr.shape)}). Pass at "
                "least one sample."
            )
        arr = _adjust_rank(model, arr, i, t.shape, names[i], where)
        if n0 is None:
            n0 = arr.shape[0]
        elif arr.shape[0] != n0:
            raise ValueError(
                f"{where}(): all inputs need the same number of samples; input 0 ('{names[0]}') "
                f"has {n0}, input {i} ('{names[i]}') has {arr.shape[0]}."
            )
        if check_finite_values:
            check_finite(arr, what, where)
            check_fits(arr, t.dtype, what, where)
        out.append(np.ascontiguousarray(arr, dtype=t.dtype))
    return out


def num_samples(xs: list[np.ndarray]) -> int:
    return int(xs[0].shape[0])


# ---- targets -----------------------------------------------------------------------------------
def prepare_targets(model, y, n: int, losses: list, where: str) -> list:
    """Targets, one array per output (None where it has no loss), checked against the loss.

    Shapes: sparse losses get int64 class ids (n, *out[1:-1]); other losses float arrays with the
    output's shape (n, *out[1:]) (a missing trailing axis of size 1 is added).
    """
    graph = model._graph
    names = [t.node.layer.name for t in graph.outputs]
    if y is None:
        if any(loss is not None for loss in losses):
            raise ValueError(
                f"{where}() got no targets y, but model '{model.name}' was compiled with a loss. "
                f"Pass y (e.g. model.{where}(x, y, ...))."
            )
        return [None] * len(names)
    items = _split_structure(y, names, "output targets y", where, model.name, allow_none=True)
    out = []
    for j, (a, t, loss) in enumerate(zip(items, graph.outputs, losses)):
        what = "y" if len(names) == 1 else f"y for output {j} ('{names[j]}')"
        if loss is None:
            out.append(None)
            continue
        if a is None:
            raise ValueError(
                f"{where}() got no {what}, but output '{names[j]}' has a loss. Pass its targets."
            )
        arr = as_numeric(a, what, where)
        if arr.shape[0] != n:
            raise ValueError(
                f"{where}(): x and {what} have different lengths: x has {n} samples, {what} has "
                f"{arr.shape[0]}. Pass one target per input sample."
            )
        check_finite(arr, what, where)
        out.append(check_labels(arr, loss, t.shape, names[j], what, where, dtype=t.dtype))
    return out


# ---- weights -----------------------------------------------------------------------------------
def prepare_sample_weight(model, sample_weight, n: int, where: str) -> list:
    """Per-output sample weights, each (n,) float or None."""
    names = model.output_names
    if sample_weight is None:
        return [None] * len(names)
    if isinstance(sample_weight, dict) or (
        isinstance(sample_weight, (list, tuple))
        and len(names) > 1
        and not np.isscalar(sample_weight[0])
    ):
        items = _split_structure(
            sample_weight, names, "output sample_weight", where, model.name, allow_none=True
        )
    else:
        items = [sample_weight] * len(names)
    out = []
    for a in items:
        if a is None:
            out.append(None)
            continue
        arr = as_numeric(a, "sample_weight", where)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.shape != (n,):
            raise ValueError(
                f"{where}(): sample_weight has shape {fmt_shape(arr.shape)}, expected one weight "
                f"per sample: shape ({n},)."
            )
        check_finite(arr, "sample_weight", where)
        if arr.size and arr.min() < 0:
            raise ValueError(
                f"{where}(): sample_weight has negative values (min {arr.min():g}); weights must "
                "be >= 0."
            )
        out.append(
            arr.astype(
                model.input_dtype if np.dtype(model.input_dtype).kind == "f" else "float32",
                copy=False,
            )
        )
    return out

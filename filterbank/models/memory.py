"""Memory a model's activations need, checked before a run, and out-of-memory made readable.

A layer's output for a batch is ``batch * prod(output_shape[1:]) * itemsize`` bytes. Before
``predict`` / ``fit`` / ``evaluate`` / ``model(x)`` run, the largest of these (and, for
training, the sum that forward and backward keep) is compared with the memory this process
may still use (the smaller of the free physical memory and the ``RLIMIT_AS`` address-space
limit); a run that cannot fit raises :class:`OutOfMemoryError` naming the layer and the size
before anything is allocated. A ``MemoryError`` that happens anyway inside a layer is
re-raised as :class:`OutOfMemoryError` naming that layer.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> model = keras.Sequential([keras.Input(shape=(4, 4, 1)), layers.ZeroPadding2D(2)])
    >>> [(name, shape, nbytes) for name, shape, nbytes in activation_plan(model, batch=2)]
    [('zero_padding2d', (2, 8, 8, 1), 512)]
"""

from __future__ import annotations

import functools
import inspect
import math
import os

import numpy as np

MAX_SAMPLE_ACTIVATION_BYTES = 2**30
"""Most bytes one layer's output may need for *one* sample (1 GiB) in a model loaded from a
file: a 224 x 224 x 64 float32 map is 12.8 MB; a config beyond this can only exhaust memory."""


class OutOfMemoryError(MemoryError):
    """A run needs (or ran out of) more memory than this process may use; names the layer."""


def _fmt(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if nbytes < 1024 or unit == "EiB":
            return f"{nbytes:,.0f} bytes" if unit == "bytes" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f}"  # pragma: no cover


def activation_plan(model, batch: int) -> list[tuple[str, tuple, int]]:
    """``[(layer name, output shape with batch, bytes)]`` for every layer with a known shape."""
    plan = []
    layers = getattr(model, "layers", []) if getattr(model, "built", False) else []
    for layer in layers:
        try:
            shape = layer.output_shape
        except (AttributeError, ValueError):
            continue
        if not isinstance(shape, tuple) or any(
            d is not None and not isinstance(d, (int, np.integer)) for d in shape
        ):
            continue  # several outputs, or unknown
        dims = (int(batch), *(int(d) for d in shape[1:] if d is not None))
        if any(d is None for d in shape[1:]):
            continue
        itemsize = np.dtype(layer.compute_dtype).itemsize if hasattr(layer, "compute_dtype") else 4
        plan.append((layer.name, dims, math.prod(dims) * itemsize))
    return plan


def available_bytes() -> int | None:
    """Memory this process may still allocate: free physical memory and the address-space
    limit (``ulimit -v``), the smaller; None when neither is known."""
    limits = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            used = 0
            try:
                with open("/proc/self/statm") as f:
                    used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError):
                pass
            limits.append(max(soft - used, 0))
    except (ImportError, ValueError, OSError):
        pass
    return min(limits) if limits else None


def check_sample_sizes(model) -> tuple[str, tuple, int] | None:
    """The first layer whose output for one sample exceeds :data:`MAX_SAMPLE_ACTIVATION_BYTES`."""
    for name, shape, nbytes in activation_plan(model, 1):
        if nbytes > MAX_SAMPLE_ACTIVATION_BYTES:
            return name, shape, nbytes
    return None


FREE_BYTES = 256 * 2**20
"""Runs whose activations need less than this (256 MiB) skip the memory query: reading the
system's free memory costs more than a small prediction."""


def _per_sample(model) -> tuple[int, int]:
    """(largest, total) activation bytes for one sample, cached per model graph."""
    from .locking import model_state

    graph = getattr(model, "_graph", None)
    state = model_state(model)
    cached = state.plan
    if cached is not None and cached[0] is graph:
        return cached[1]
    plan = activation_plan(model, 1)
    sizes = (max((p[2] for p in plan), default=0), sum(p[2] for p in plan))
    state.plan = (graph, sizes)
    return sizes


def check_plan(model, batch: int, where: str, training: bool = False) -> None:
    """Raise :class:`OutOfMemoryError` when a batch of ``batch`` cannot fit in memory."""
    largest, total = _per_sample(model)
    if batch * (2 * total if training else largest) < FREE_BYTES:
        return
    plan = activation_plan(model, batch)
    if not plan:
        return
    name, shape, biggest = max(plan, key=lambda p: p[2])
    need = sum(p[2] for p in plan) * 2 if training else biggest
    avail = available_bytes()
    if avail is None or need <= avail:
        return
    what = (
        f"training keeps {_fmt(need)} of activations and gradients (the largest, layer "
        f"{name!r}'s output of shape {shape}, is {_fmt(biggest)})"
        if training
        else f"layer {name!r} needs an output of shape {shape}: {_fmt(biggest)}"
    )
    raise OutOfMemoryError(
        f"{where}: {what} for a batch of {batch}, more than the {_fmt(avail)} of memory "
        f"available. Use a smaller batch_size{' or smaller images' if len(shape) == 4 else ''}, "
        "or check the layer's arguments."
    )


def _failing_layer(tb) -> str | None:
    from ..layers.base import Layer

    name = None
    while tb is not None:
        obj = tb.tb_frame.f_locals.get("self")
        if isinstance(obj, Layer):
            name = obj.name
        tb = tb.tb_next
    return name


def _rows(x) -> int | None:
    first = x
    if isinstance(x, (list, tuple)) and x:
        first = x[0]
    elif isinstance(x, dict) and x:
        first = next(iter(x.values()))
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape else None


def guard_memory(where: str, training: bool = False):
    """Decorator for a model method: check the activation plan first, and turn a MemoryError
    inside into :class:`OutOfMemoryError` naming the layer."""

    def deco(method):
        names = list(inspect.signature(method).parameters)[1:]  # after self
        first = names[0] if names else None
        at = names.index("batch_size") if "batch_size" in names else None

        def batch_of(args, kwargs) -> int:
            n = _rows(args[0] if args else kwargs.get(first))
            if at is None:
                return n or 0
            bs = kwargs.get("batch_size") if len(args) <= at else args[at]
            bs = 32 if bs is None else bs
            if not isinstance(bs, (int, np.integer)) or isinstance(bs, bool) or bs < 1:
                return 0  # the method reports a bad batch_size itself
            return int(min(bs, n)) if n is not None else int(bs)

        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                batch = batch_of(args, kwargs)
            except Exception:
                batch = 0  # the method reports its own argument errors
            if batch:
                check_plan(self, batch, f"{where}()", training)
            try:
                return method(self, *args, **kwargs)
            except OutOfMemoryError:
                raise
            except MemoryError as e:
                layer = _failing_layer(e.__traceback__)
                at_layer = f" in layer {layer!r}" if layer else ""
                raise OutOfMemoryError(
                    f"{where}() ran out of memory{at_layer} with batches of {batch or '?'} "
                    f"({str(e)[:200]}). Use a smaller batch_size, smaller inputs or a smaller "
                    "model."
                ) from None

        return wrapper

    return deco

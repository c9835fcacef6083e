"""Reusable scratch buffers ("workspaces") for the hot paths.

A training step allocates the same large temporaries every time: the im2col matrix of
each convolution, its gradient, the raw convolution map of a fused conv + pool. A fresh
multi-megabyte ``np.empty`` costs page faults on first touch (the memory goes back to the
kernel when it is freed) and fragments the heap; a :class:`Workspace` keeps one buffer
per *role* and hands the same memory back while the shape stays the same.

Rules that keep this safe:

* Only arrays nobody keeps past the next call live in a workspace: temporaries (column
  matrices, raw maps), a layer's weight gradients (read by the optimizer within the step;
  ``backward`` overwrites ``grads`` anyway), and -- only when the graph engine says they
  stay inside the graph -- a fused step's output and input gradient. Never a model output,
  a gradient returned to a caller, or anything an eagerly called layer returns. The buffer
  of a role is overwritten by the next call that asks for the same role.
* One buffer per role. A request that fits in it gets a view of its start (so a smaller
  last batch, or the last chunk of a chunked convolution, allocates nothing); a larger one
  replaces it. Memory stays bounded by the largest request of each role.
* Workspaces belong to one layer (or one fused pair of layers): a layer runs forward then
  backward before its next forward or prediction, so a role is never needed twice at once.

Example:
    >>> ws = Workspace()
    >>> a = ws.get("col", (4, 9), np.float32)
    >>> b = ws.get("col", (2, 9), np.float32)      # a view of the same memory
    >>> np.shares_memory(a, b), ws.get("col", (8, 9), np.float32).shape, ws.nbytes
    (True, (8, 9), 288)
"""

from __future__ import annotations

import numpy as np


class Workspace:
    """Scratch arrays keyed by role; ``get`` returns uninitialised memory of that shape."""

    __slots__ = ("_buffers",)

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, role: str, shape: tuple, dtype) -> np.ndarray:
        """An uninitialised C-contiguous array (shape, dtype): the start of the role's buffer
        when it is large enough (same dtype), else a new buffer that becomes the role's."""
        size = 1
        for d in shape:
            size *= d
        buf = self._buffers.get(role)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = np.empty(max(size, 1), dtype=dtype)
            self._buffers[role] = buf
        return buf[:size].reshape(shape)

    def clear(self) -> None:
        """Drop every buffer (the memory goes back once nothing else refers to it)."""
        self._buffers.clear()

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._buffers.values())

    def __repr__(self):
        return f"<Workspace {len(self._buffers)} buffers, {self.nbytes / 2**20:.1f} MiB>"

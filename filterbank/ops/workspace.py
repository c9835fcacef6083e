"""Reusable scratch buffers ("workspaces") for the hot paths.

A training step allocates the same large temporaries every time: the im2col matrix of
each convolution, its gradient, the raw convolution map of a fused conv + pool. A fresh
multi-megabyte ``np.empty`` costs page faults on first touch (the memory goes back to the
kernel when it is freed) and fragments the heap; a :class:`Workspace` keeps one buffer
per *role* and hands the same memory back while the shape stays the same.

Rules that keep this safe:

* Only internal temporaries live in a workspace -- never an array a caller keeps (a layer
  output, a returned gradient, a weight gradient the optimizer reads). The buffer of a
  role is overwritten by the next call that asks for the same role.
* One buffer per role, replaced when the shape or dtype changes, so memory stays bounded
  by the largest shapes of the current batch, never by the history of shapes seen.
* Workspaces belong to one layer (or one fused pair of layers): a layer runs forward then
  backward before its next forward, so a role is never needed twice at once.

Example:
    >>> ws = Workspace()
    >>> a = ws.get("col", (4, 9), np.float32)
    >>> b = ws.get("col", (4, 9), np.float32)
    >>> a is b, ws.get("col", (8, 9), np.float32).shape, ws.nbytes
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
        """An uninitialised C-contiguous array (shape, dtype), the same one as last time if
        the role's last request had that shape and dtype."""
        buf = self._buffers.get(role)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._buffers[role] = buf
        return buf

    def zeros(self, role: str, shape: tuple, dtype) -> np.ndarray:
        """Like :meth:`get`, filled with zeros."""
        buf = self.get(role, shape, dtype)
        buf.fill(0)
        return buf

    def clear(self) -> None:
        """Drop every buffer (the memory goes back once nothing else refers to it)."""
        self._buffers.clear()

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._buffers.values())

    def __repr__(self):
        return f"<Workspace {len(self._buffers)} buffers, {self.nbytes / 2**20:.1f} MiB>"

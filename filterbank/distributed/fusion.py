"""Tensor fusion (Horovod's term): many arrays travel as one contiguous buffer.

One collective call on one buffer costs one latency instead of one per array; the buffer is
allocated once and reused every step.

Example:
    >>> import numpy as np
    >>> a, b = np.ones((2, 3)), np.arange(4.0)
    >>> fused = FusedBuffer([a.shape, b.shape], extra=1, dtype=np.float64)
    >>> buf = fused.pack([a, b], scale=2.0)
    >>> buf.tolist()
    [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 0.0, 2.0, 4.0, 6.0, 0.0]
    >>> out = [np.empty((2, 3)), np.empty(4)]
    >>> fused.unpack(out, scale=0.5)
    >>> out[1].tolist()
    [0.0, 1.0, 2.0, 3.0]
"""

from __future__ import annotations

import numpy as np


class FusedBuffer:
    """One float buffer holding arrays of the given shapes back to back, then ``extra`` values.

    Args:
        shapes: the arrays' shapes, in packing order.
        extra: how many trailing scalar slots (losses, metric counts) follow the arrays.
        dtype: the buffer's float type.
    """

    def __init__(self, shapes, extra: int = 0, dtype=np.float32):
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()
        self.extra = int(extra)
        self.buffer = np.zeros(self.offsets[-1] + self.extra, dtype=dtype)

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes

    def views(self) -> list[np.ndarray]:
        """The arrays' places in the buffer, shaped (views, no copies)."""
        return [
            self.buffer[lo:hi].reshape(s)
            for lo, hi, s in zip(self.offsets[:-1], self.offsets[1:], self.shapes)
        ]

    @property
    def tail(self) -> np.ndarray:
        """The ``extra`` trailing slots (a view)."""
        return self.buffer[self.offsets[-1] :]

    def pack(self, arrays, scale=None) -> np.ndarray:
        """Copy ``arrays`` (times ``scale``) into the buffer; the tail is zeroed. Returns it."""
        if len(arrays) != len(self.shapes):
            raise ValueError(
                f"FusedBuffer.pack expects {len(self.shapes)} arrays, got {len(arrays)}."
            )
        for view, a in zip(self.views(), arrays):
            if a.shape != view.shape:
                raise ValueError(
                    f"FusedBuffer.pack: an array of shape {a.shape} does not fit "
                    f"its slot of shape {view.shape}."
                )
            if scale is None:
                view[...] = a
            else:
                np.multiply(a, scale, out=view, casting="unsafe")
        self.tail[...] = 0
        return self.buffer

    def unpack(self, arrays, scale=None) -> None:
        """Copy the buffer's parts (times ``scale``) back into ``arrays``, in place."""
        for view, a in zip(self.views(), arrays):
            if scale is None:
                a[...] = view
            else:
                np.multiply(view, scale, out=a, casting="unsafe")


__all__ = ["FusedBuffer"]

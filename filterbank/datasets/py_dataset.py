"""``PyDataset``: a dataset you write as a class, batch by batch (``keras.utils.PyDataset``).

Subclass it, implement ``__len__`` (the number of batches) and ``__getitem__(index)`` (batch
``index`` as ``(x, y)`` or ``(x, y, sample_weight)``, or ``x`` for ``predict``), and pass an
instance to ``fit``, ``evaluate`` or ``predict``. ``on_epoch_end`` is called after every epoch
(shuffle your indices there). ``fit(shuffle=True)`` (the default) visits the batches in a new
random order each epoch, as Keras.

Keras's constructor arguments ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are
accepted and kept, but batches are always loaded in the training thread, one at a time: NumPy
training has no accelerator to keep busy, so there is no idle time to fill.

Example:
    >>> import numpy as np
    >>> class Squares(PyDataset):
    ...     def __init__(self, n, batch_size, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.x = np.arange(n, dtype="float32")[:, None]
    ...         self.batch_size = batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)
    ...     def __getitem__(self, index):
    ...         xb = self.x[index * self.batch_size:(index + 1) * self.batch_size]
    ...         return xb, xb ** 2
    >>> data = Squares(10, batch_size=4, workers=2)
    >>> len(data), data[2][1].ravel().tolist()
    (3, [64.0, 81.0])
"""

from __future__ import annotations


class PyDataset:
    """Base class of batch-indexed datasets (see the module docstring)."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    # Keras reads these even when a subclass forgot super().__init__(); so do we.
    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        raise NotImplementedError(
            f"{type(self).__name__} must implement __getitem__(self, index), returning batch "
            "`index` as (x, y) or (x, y, sample_weight)."
        )

    def __len__(self):
        raise NotImplementedError(
            f"{type(self).__name__} must implement __len__(self), the number of batches."
        )

    @property
    def num_batches(self):
        """The number of batches (``len(self)``), as Keras."""
        return len(self)

    def on_epoch_begin(self):
        """Called before each epoch (override to prepare it)."""

    def on_epoch_end(self):
        """Called after each epoch (override, e.g. to reshuffle your sample indices)."""


# keras.utils.Sequence, the name before Keras 3.
Sequence = PyDataset

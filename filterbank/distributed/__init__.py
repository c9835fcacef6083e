"""Data-parallel training over MPI: ``mpirun -n K`` processes train one model as one process
would with the same global batch (Horovod's recipe, on NumPy).

Command line: ``mpirun -n 4 filterbank train ...`` with any of train's options; it turns
itself on when launched by mpirun with more than one process (``OMPI_COMM_WORLD_SIZE``,
``PMI_SIZE``), and ``--batch-size`` is the global batch. In a script, call
:func:`initialize` once (explicit, as ``hvd.init()``); from then on every model's ``fit``,
``evaluate`` and ``train_on_batch`` are data-parallel::

    import filterbank as keras
    from filterbank import distributed

    distributed.initialize()                      # under mpirun; a no-op with one process
    keras.utils.set_random_seed(0)                # the same seed on every rank
    model = ...; model.compile(...)               # the same model on every rank
    model.fit(x, y, batch_size=256, epochs=5,     # 256 = the global batch
              verbose=1 if distributed.rank() == 0 else 0)

What happens (``data_parallel.py``): rank 0's weights, optimizer state and generator state are
broadcast at the start of ``fit``; each global batch is split evenly over the ranks (the first
``batch % K`` ranks take one sample more); after backward one in-place Allreduce sums a single
fused buffer of every weight gradient times the rank's sample count (plus the loss and metric
counts), which divided by the total is exactly the global batch's gradient; every rank applies
the same optimizer step. BatchNormalization synchronises its batch statistics and the sums its
backward needs. Evaluation is sharded and summed. Only rank 0 prints progress and writes
checkpoints, CSV logs and BackupAndRestore backups; a resumed run reads rank 0's backup on
every rank.

Data: pass every rank the *same* arrays (shuffling is then decided once: the same generator
state on every rank, each rank takes its part of each batch), or each rank its own part from
:func:`shard` (each rank then shuffles its part). Randomness inside a step (dropout,
augmentation drawing from ``backend.rng()``) comes from a stream per rank and per step,
derived from the common generator's state, the optimizer's step count and the rank, so runs
repeat exactly and resume exactly; it differs from one process's draws (and layers built with
their own ``seed=`` draw the same stream on every rank).

Faults: every collective waits at most ``timeout`` seconds (``FILTERBANK_MPI_TIMEOUT``,
default 300), then the waiting rank says where it was and ends the job (``MPI_Abort``); an
uncaught exception on a rank ends the job with a message naming the rank; different models or
data shapes on different ranks are an error at the start of ``fit``.

Example (one process: rank 0 of 1):
    >>> import numpy as np
    >>> from filterbank import distributed
    >>> distributed.rank(), distributed.size()
    (0, 1)
    >>> x, y = distributed.shard(np.arange(10), np.arange(10) * 2)
    >>> x.tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
"""

from __future__ import annotations

import os
import sys

from .sharding import shard_arrays, split_sizes

_STATE = {"comm": None, "strategy": None}

# What mpirun (Open MPI, MPICH, Intel MPI) tells each process about the job.
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")


def launched_size() -> int:
    """How many processes mpirun started (from its environment variables); 1 if none.

    Example:
        >>> launched_size() >= 1
        True
    """
    for var in _SIZE_VARS:
        value = os.environ.get(var)
        if value and value.isdigit():
            return int(value)
    return 1


def mpi_available() -> bool:
    """True when mpi4py can be imported (``pip install 'filterbank[mpi]'``).

    Example:
        >>> isinstance(mpi_available(), bool)
        True
    """
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def initialize(timeout: float | None = None):
    """Join the MPI job and make ``fit``/``evaluate`` data-parallel; returns the strategy.

    Call it once, on every rank, before building models. With one process (no mpirun, or
    ``-n 1``) it changes nothing and returns None.

    Args:
        timeout: seconds a collective call may wait for the other ranks before the job is
            stopped (default ``FILTERBANK_MPI_TIMEOUT`` or 300).

    Example:
        >>> from filterbank import distributed
        >>> distributed.initialize() is None or distributed.size() > 1
        True
    """
    if _STATE["strategy"] is not None:
        return _STATE["strategy"]
    if launched_size() <= 1 and _STATE["comm"] is None:
        return None
    if not mpi_available():
        raise ImportError(
            "filterbank.distributed needs mpi4py for a run under mpirun: "
            "pip install 'filterbank[mpi]' (and an MPI library, e.g. apt-get install "
            "openmpi-bin libopenmpi-dev)."
        )
    from ..models.steps import StepsMixin
    from .comm import MPIComm
    from .data_parallel import DataParallel

    comm = MPIComm.world(timeout)
    _STATE["comm"] = comm
    if comm.size <= 1:
        return None
    strategy = DataParallel(comm)
    StepsMixin._distribution = strategy
    _STATE["strategy"] = strategy
    _install_excepthook(comm)
    return strategy


def _install_excepthook(comm) -> None:
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        comm.abort(
            f"rank {comm.rank} of {comm.size} stopped with {exc_type.__name__}: {exc}. "
            "Stopping every rank."
        )

    sys.excepthook = hook


def strategy():
    """The installed :class:`~.strategy.DataParallel` (None with one process).

    Example:
        >>> strategy() is None or strategy().size > 1
        True
    """
    return _STATE["strategy"]


def rank() -> int:
    """This process's rank, 0..size()-1 (0 without MPI).

    Example:
        >>> rank() >= 0
        True
    """
    comm = _STATE["comm"]
    if comm is not None:
        return comm.rank
    for var in _RANK_VARS:
        value = os.environ.get(var)
        if value and value.isdigit():
            return int(value)
    return 0


def size() -> int:
    """How many processes train together (1 without MPI).

    Example:
        >>> size() >= 1
        True
    """
    comm = _STATE["comm"]
    return comm.size if comm is not None else launched_size()


def is_root() -> bool:
    """True on rank 0, the one that prints and writes files.

    Example:
        >>> isinstance(is_root(), bool)
        True
    """
    return rank() == 0


def broadcast(model) -> None:
    """Rank 0's weights, optimizer state and generator state on every rank (no-op with one
    process). ``fit`` does it by itself; call it before a loop of ``train_on_batch`` (each rank
    passing its own batch), as Horovod's ``broadcast_variables``.

    Example:
        >>> import filterbank as keras
        >>> model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
        >>> broadcast(model)       # one process: nothing to do
    """
    if _STATE["strategy"] is not None:
        _STATE["strategy"].broadcast_state(model)


def shard(*arrays):
    """This rank's contiguous block of each array (axis 0), as ``split_sizes`` cuts them.

    ``shard(x, y)`` returns ``(x_part, y_part)``; ``shard(x)`` returns ``x_part``. Pass the
    parts to ``fit`` on each rank: each step then takes ``split_sizes(batch_size,
    size())[rank()]`` samples on each rank.

    Example:
        >>> import numpy as np
        >>> shard(np.arange(4)).tolist()        # one process: everything
        [0, 1, 2, 3]
    """
    parts = shard_arrays(arrays, size(), rank())
    return parts[0] if len(parts) == 1 else tuple(parts)


__all__ = [
    "initialize",
    "rank",
    "size",
    "is_root",
    "shard",
    "broadcast",
    "strategy",
    "launched_size",
    "mpi_available",
    "split_sizes",
]

"""The collectives filterbank uses, over MPI (mpi4py), each bounded by a timeout.

Every call is MPI's nonblocking version (``Iallreduce``, ``Iallgather``, ``Ibcast``) polled
with ``Test`` until done or until ``timeout`` seconds pass. A rank that died, hung or left
training early then cannot hang the others: the rank that waited too long prints which call
and which step it was in and calls ``MPI_Abort``, which ends every rank (and ``mpirun``
reports the rank that died first). Only NumPy buffers travel: nothing is pickled.

Polling: the first ~200 tests spin (a loopback Allreduce takes tens of microseconds), then
each test sleeps 0.5 ms, so a rank waiting for a slow one does not steal its CPU.

Example (``mpirun -n 2 python script.py``)::

    comm = MPIComm.world(timeout=60)
    buf = np.ones(3)
    comm.allreduce_(buf, "example")     # buf == [2, 2, 2] on both ranks
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

DEFAULT_TIMEOUT = 300.0
_SPIN = 200
_SLEEP = 0.0005


def default_timeout() -> float:
    """``FILTERBANK_MPI_TIMEOUT`` (seconds) if set, else 300."""
    value = os.environ.get("FILTERBANK_MPI_TIMEOUT")
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"FILTERBANK_MPI_TIMEOUT expects a number of seconds > 0, got {value!r}.")
    return seconds


class MPIComm:
    """A communicator (``rank``, ``size``) with the few collectives data parallelism needs.

    Args:
        comm: an ``mpi4py.MPI.Comm`` (``MPI.COMM_WORLD``).
        timeout: seconds any one collective may wait for the other ranks.
    """

    def __init__(self, comm, timeout: float):
        from mpi4py import MPI

        self._MPI = MPI
        self._comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = float(timeout)
        self.where = ""  # what the caller is doing (e.g. "epoch 2, step 7"), for messages

    @classmethod
    def world(cls, timeout: float | None = None) -> MPIComm:
        from mpi4py import MPI

        return cls(MPI.COMM_WORLD, default_timeout() if timeout is None else timeout)

    # ---- waiting ---------------------------------------------------------------------------
    def _wait(self, request, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        tests = 0
        while not request.Test():
            tests += 1
            if tests > _SPIN:
                if time.monotonic() > deadline:
                    self.abort(
                        f"rank {self.rank} of {self.size} waited {self.timeout:g} s in {what}"
                        + (f" ({self.where})" if self.where else "")
                        + " and not all ranks arrived: another rank died, hung or stopped "
                        "training early (see its own message). Stopping every rank."
                    )
                time.sleep(_SLEEP)

    # ---- collectives -----------------------------------------------------------------------
    def allreduce_(self, buf: np.ndarray, what: str = "Allreduce") -> np.ndarray:
        """Sum ``buf`` over the ranks, in place (every rank gets the same sum)."""
        self._wait(self._comm.Iallreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM), what)
        return buf

    def allgather(self, arr: np.ndarray, what: str = "Allgather") -> np.ndarray:
        """(size, *arr.shape): every rank's ``arr``, in rank order."""
        arr = np.ascontiguousarray(arr)
        out = np.empty((self.size, *arr.shape), dtype=arr.dtype)
        self._wait(self._comm.Iallgather(arr, out), what)
        return out

    def bcast_(self, buf: np.ndarray, root: int = 0, what: str = "Bcast") -> np.ndarray:
        """Rank ``root``'s ``buf`` on every rank, in place."""
        self._wait(self._comm.Ibcast(buf, root=root), what)
        return buf

    def bcast_bytes(self, data: bytes | None, root: int = 0, what: str = "Bcast") -> bytes:
        """Rank ``root``'s bytes on every rank (the others pass None)."""
        n = np.array([len(data) if self.rank == root else 0], dtype=np.int64)
        self.bcast_(n, root, what)
        buf = (
            np.frombuffer(data, dtype=np.uint8).copy()
            if self.rank == root
            else np.empty(int(n[0]), dtype=np.uint8)
        )
        if buf.size:
            self.bcast_(buf, root, what)
        return buf.tobytes()

    def allgather_bytes(self, data: bytes, what: str = "Allgather") -> list[bytes]:
        """Every rank's bytes, in rank order."""
        lengths = self.allgather(np.array([len(data)], dtype=np.int64), what)[:, 0]
        width = max(int(lengths.max()), 1)
        padded = np.zeros(width, dtype=np.uint8)
        padded[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        table = self.allgather(padded, what)
        return [table[r, : int(lengths[r])].tobytes() for r in range(self.size)]

    # ---- stopping --------------------------------------------------------------------------
    def abort(self, message: str, code: int = 1) -> None:
        """Print ``message`` to stderr and end every rank of the job (MPI_Abort)."""
        sys.stdout.flush()
        print(f"filterbank.distributed: {message}", file=sys.stderr, flush=True)
        self._comm.Abort(code)


__all__ = ["MPIComm", "default_timeout", "DEFAULT_TIMEOUT"]

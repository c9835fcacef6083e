"""An in-process stand-in for an MPI communicator: K "ranks" as threads of one process.

``ThreadGroup(k).comms`` are K communicators with MPI's semantics for the calls
filterbank.distributed makes (Allreduce sums in rank order, Allgather, Bcast), meeting at a
barrier; :func:`run_ranks` runs one function per rank in threads and returns the results.
"""

from __future__ import annotations

import threading

import numpy as np


class ThreadGroup:
    def __init__(self, size: int, timeout: float = 20.0):
        self.size = size
        self.timeout = timeout
        self._barrier = threading.Barrier(size, timeout=timeout)
        self._slots: list = [None] * size
        self.comms = [FakeComm(self, r) for r in range(size)]


class FakeComm:
    def __init__(self, group: ThreadGroup, rank: int):
        self.group, self.rank, self.size = group, rank, group.size
        self.where = ""
        self.calls: list[str] = []

    def _exchange(self, value):
        g = self.group
        g._barrier.wait()
        g._slots[self.rank] = value
        g._barrier.wait()
        everyone = list(g._slots)
        g._barrier.wait()
        return everyone

    def allreduce_(self, buf, what="Allreduce"):
        self.calls.append(what)
        everyone = self._exchange(buf.copy())
        total = everyone[0].copy()
        for other in everyone[1:]:
            total += other
        buf[...] = total
        return buf

    def allgather(self, arr, what="Allgather"):
        self.calls.append(what)
        return np.stack(self._exchange(np.array(arr, copy=True)))

    def bcast_(self, buf, root=0, what="Bcast"):
        self.calls.append(what)
        buf[...] = self._exchange(buf.copy())[root]
        return buf

    def bcast_bytes(self, data, root=0, what="Bcast"):
        self.calls.append(what)
        return self._exchange(data)[root]

    def allgather_bytes(self, data, what="Allgather"):
        self.calls.append(what)
        return self._exchange(data)

    def abort(self, message, code=1):
        raise RuntimeError(message)


def run_ranks(size: int, fn):
    """fn(comm) on `size` threads; returns the results in rank order (re-raises errors)."""
    group = ThreadGroup(size)
    results: list = [None] * size
    errors: list = []

    def target(r):
        try:
            results[r] = fn(group.comms[r])
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            errors.append(e)
            group._barrier.abort()

    threads = [threading.Thread(target=target, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results

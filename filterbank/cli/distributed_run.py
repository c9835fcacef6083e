"""``mpirun -n K filterbank train ...``: what the train command does differently on K ranks.

The command turns data-parallel by itself when mpirun started it with more than one process
(:func:`filterbank.distributed.launched_size`); one process, or no mpirun, is today's command
unchanged. Every rank loads the same data and builds the same model from the same seed; rank 0's
weights are broadcast at the start of ``fit``; ``--batch-size`` is the global batch. Only rank 0
prints (the other ranks' standard output and warnings are dropped; their errors still show) and writes
the run folder; it keeps a BackupAndRestore backup in ``<out>/backup`` (every epoch), so the same
command rerun with the same ``--out`` after a crash resumes where the backup left off, on every
rank. An error on any rank (a CLIError included) ends every rank with a message naming it.

Example:
    >>> session_from_env() is None       # not under mpirun
    True
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
import warnings

from .common import CLIError

BACKUP_DIR = "backup"


class Session:
    """One rank's part in a distributed ``filterbank train``."""

    def __init__(self, strategy):
        self.strategy = strategy
        self.rank, self.size = strategy.rank, strategy.size
        self.is_root = strategy.is_root
        if not self.is_root:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
            warnings.simplefilter("ignore")  # rank 0 shows the same ones once

    @contextlib.contextmanager
    def guard(self):
        """Any error on this rank stops every rank (MPI_Abort) with a message naming it."""
        try:
            yield
        except CLIError as e:
            self.strategy.comm.abort(f"rank {self.rank} of {self.size}: error: {e}", code=2)
        except Exception as e:
            traceback.print_exc()
            self.strategy.comm.abort(
                f"rank {self.rank} of {self.size} stopped with "
                f"{type(e).__name__}: {e}. Stopping every rank."
            )

    def describe(self) -> dict:
        """For metrics.json: ranks, and what the gradient Allreduce cost."""
        return {"ranks": self.size, **self.strategy.stats.as_dict()}


def distributed_callbacks(session, out) -> list:
    """The backup that lets a rerun with the same --out resume (rank 0 writes it)."""
    from ..callbacks import BackupAndRestore

    # Other ranks get a follower reading rank 0's backup (strategy.fit_callbacks): the path
    # here is only rank 0's.
    folder = (out / BACKUP_DIR) if out is not None else BACKUP_DIR
    print(
        f"Data-parallel over {session.size} processes (MPI): each global batch is split "
        "evenly over them."
    )
    return [BackupAndRestore(folder)]


def session_from_env() -> Session | None:
    """A Session when mpirun started K > 1 processes, else None (the plain command)."""
    from .. import distributed

    if distributed.launched_size() <= 1:
        return None
    if not distributed.mpi_available():
        raise CLIError(
            f"mpirun started {distributed.launched_size()} processes but mpi4py is not "
            "installed, so each would train alone. Install it: pip install 'filterbank[mpi]'."
        )
    strategy = distributed.initialize()
    return None if strategy is None else Session(strategy)


__all__ = ["Session", "session_from_env", "BACKUP_DIR"]

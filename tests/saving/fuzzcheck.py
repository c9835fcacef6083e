"""The harness shared by the fuzz tests: run a loader on one mutated file and check the contract.

Contract for every mutated file: the loader returns normally (a benign mutation) or raises
``ModelFileError`` -- no other exception; it writes nothing (the file's directory and the
working directory list the same names afterwards); and its Python-level peak allocation stays
under ``PEAK_LIMIT`` (tracemalloc sees NumPy buffers too).
"""

from __future__ import annotations

import collections
import os
import resource
import tracemalloc
import zipfile

from filterbank.saving import ModelFileError

PEAK_LIMIT = 128 * 1024**2
RSS_GROWTH_LIMIT = 400 * 1024**2


def members_of(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class Harness:
    """Counts cases and outcomes; ``check(loader, kind, data)`` runs one case."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.path = os.path.join(self.workdir, "mutant.fbk")
        self.outcomes = collections.Counter()
        self.kinds = collections.Counter()
        self.by_kind = collections.Counter()
        self.peak = 0
        self.rss0 = max_rss_bytes()

    def check(self, loader, kind: str, data: bytes) -> None:
        with open(self.path, "wb") as f:
            f.write(data)
        before = (sorted(os.listdir(self.workdir)), sorted(os.listdir(os.getcwd())))
        tracemalloc.start()
        try:
            loader(self.path)
            outcome = "loaded"
        except ModelFileError as e:
            assert "mutant.fbk" in str(e), f"message does not name the file: {e}"
            outcome = "ModelFileError"
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        after = (sorted(os.listdir(self.workdir)), sorted(os.listdir(os.getcwd())))
        assert after == before, f"{kind}: loading changed a directory listing: {before} -> {after}"
        assert peak < PEAK_LIMIT, f"{kind}: loading allocated {peak / 2**20:.0f} MiB at peak"
        self.peak = max(self.peak, peak)
        self.outcomes[outcome] += 1
        self.kinds[kind] += 1
        self.by_kind[(kind, outcome)] += 1

    @property
    def cases(self) -> int:
        return sum(self.outcomes.values())

    def rss_growth(self) -> int:
        return max_rss_bytes() - self.rss0

"""How batches and data sets are split over ranks (no MPI needed)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from filterbank import distributed
from filterbank.distributed.sharding import local_part, shard_arrays, split_bounds, split_sizes


@given(st.integers(0, 10_000), st.integers(1, 64))
def test_split_is_even_contiguous_and_complete(n, k):
    sizes = split_sizes(n, k)
    assert sum(sizes) == n and max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)  # the first n % k ranks take one more
    bounds = [split_bounds(n, k, r) for r in range(k)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (lo, hi), size, nxt in zip(bounds, sizes, bounds[1:] + [(n, n)]):
        assert hi - lo == size and hi == nxt[0]


@given(st.integers(0, 300), st.integers(0, 300), st.integers(1, 7))
def test_local_parts_of_a_batch_tile_it(start, length, k):
    whole = slice(start, start + length)
    parts = [local_part(whole, k, r) for r in range(k)]
    assert np.concatenate([np.arange(p.start, p.stop) for p in parts]).tolist() == list(
        range(start, start + length)
    )
    perm = np.random.default_rng(length).permutation(start + length)[start:]
    arrays = [local_part(perm, k, r) for r in range(k)]
    assert np.concatenate(arrays).tolist() == perm.tolist()


def test_shard_arrays_keeps_x_and_y_together_and_none_as_none():
    x, y = np.arange(10) * 10, np.arange(10)
    parts = [shard_arrays([x, y, None], 3, r) for r in range(3)]
    assert [p[1].tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert all((p[0] == p[1] * 10).all() and p[2] is None for p in parts)


def test_shard_refuses_arrays_of_different_lengths():
    with pytest.raises(ValueError, match=r"one length .* got lengths \[3, 4\]"):
        shard_arrays([np.zeros(3), np.zeros(4)], 2, 0)


def test_one_process_api():
    assert distributed.rank() == 0 and distributed.size() == 1 and distributed.is_root()
    x = np.arange(6)
    assert distributed.shard(x) is not None and distributed.shard(x).tolist() == x.tolist()
    assert [a.tolist() for a in distributed.shard(x, x + 1)] == [x.tolist(), (x + 1).tolist()]
    assert distributed.initialize() is None  # not under mpirun: nothing changes
    assert distributed.strategy() is None


def test_rank_and_size_read_mpiruns_environment(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "2")
    assert distributed.size() == 4 and distributed.rank() == 2 and not distributed.is_root()
    assert distributed.shard(np.arange(10)).tolist() == [6, 7]


def test_command_under_mpirun_without_mpi4py_says_how_to_install(monkeypatch):
    from filterbank.cli.common import CLIError
    from filterbank.cli.distributed_run import session_from_env

    assert session_from_env() is None  # no mpirun: the plain command
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setattr(distributed, "mpi_available", lambda: False)
    with pytest.raises(
        CLIError,
        match=r"mpirun started 2 processes but mpi4py is not "
        r"installed.*pip install 'filterbank\[mpi\]'",
    ):
        session_from_env()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "1")
    assert session_from_env() is None  # mpirun -n 1: the plain command


def test_initialize_without_mpi4py_under_mpirun_says_how_to_install(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setattr(distributed, "mpi_available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install 'filterbank\[mpi\]'"):
        distributed.initialize()

"""filterbank.distributed under a real ``mpirun -n 2`` / ``-n 3``: exactness against one
process, no drift between ranks, faults, resuming, and the command line.

Each test launches mpirun (``--oversubscribe``; ``--allow-run-as-root`` as root) on
``mpi_worker.py`` or ``filterbank train`` and compares what the ranks wrote with one process.
They skip when mpirun or mpi4py is missing (.ci/run installs both).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from filterbank import backend
from filterbank.distributed.sharding import split_bounds, split_sizes

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MPIRUN = shutil.which("mpirun")

try:
    import mpi4py  # noqa: F401

    HAVE_MPI4PY = True
except ImportError:
    HAVE_MPI4PY = False

pytestmark = [
    pytest.mark.skipif(MPIRUN is None, reason="mpirun not found (apt-get install openmpi-bin)"),
    pytest.mark.skipif(
        not HAVE_MPI4PY, reason="mpi4py not installed (pip install 'filterbank[mpi]')"
    ),
    pytest.mark.slow,
]

sys.path.insert(0, str(HERE))
import mpi_worker as W  # noqa: E402


def mpirun(k, args, timeout=120, env=None):
    """(returncode, output, seconds) of ``mpirun -n k python args...``."""
    cmd = [MPIRUN, "--oversubscribe", "-n", str(k)]
    if os.geteuid() == 0:
        cmd.insert(1, "--allow-run-as-root")
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMPI_MCA_rmaps_base_oversubscribe": "1",
        **(env or {}),
    }
    for var in ("PYTHONPATH", *(env or {})):
        cmd += ["-x", var]
    cmd += [sys.executable, *args]
    start = time.monotonic()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def worker(k, scenarios, out, **kw):
    return mpirun(k, [str(HERE / "mpi_worker.py"), scenarios, str(out)], **kw)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (mpirun's ranks), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def rel_error(got, want) -> float:
    """max |got - want| / max |want| over one weight array."""
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-300))


@pytest.fixture(scope="module")
def references():
    """One process: each model's weights after step 1 and 2, its History and evaluate()."""
    backend.set_floatx("float64")
    try:
        full = {name: W.one_step(name, 7, False) for name in W.MODELS}
        shuffled = W.shuffled()
        # Shards on 3 ranks: shards of 3, 3, 2 samples, local batches of 3, 2, 2: step 1 is
        # samples 0-2, 3-4, 6-7 and step 2 is sample 5. (On 2 ranks the order is 0..7.)
        order = []
        for step in range(2):
            for r in range(3):
                lo, hi = split_bounds(8, 3, r)
                b = split_sizes(7, 3)[r]
                order += list(range(lo, hi))[step * b : (step + 1) * b]
        shards3 = {name: W.one_step(name, 7, False, order=order) for name in W.SHARD_MODELS}
    finally:
        backend.set_floatx("float32")
    return {
        "exact": full,
        "shuffled": shuffled,
        "exact-shards-2": {n: full[n] for n in W.SHARD_MODELS},
        "exact-shards-3": shards3,
    }


def check_exact(out, k, scenario, reference):
    ranks = [np.load(out / f"{scenario}-rank{r}.npz") for r in range(k)]
    worst = 0.0
    for name, (first, second, hist, scores) in reference.items():
        for r, got in enumerate(ranks):
            for step, weights in (("step1", first), ("step2", second)):
                for i, w in enumerate(weights):
                    err = rel_error(got[f"{name}/{step}/{i}"], w)
                    assert err < 1e-12, (scenario, k, name, step, i, r, err)
                    worst = max(worst, err)
            np.testing.assert_allclose(got[f"{name}/loss"], hist["loss"], rtol=1e-12)
            np.testing.assert_array_equal(got[f"{name}/accuracy"], hist["accuracy"])
            np.testing.assert_allclose(got[f"{name}/evaluate"], scores, rtol=1e-12)
    return worst


def check_no_drift(out, k):
    ranks = [np.load(out / f"drift-rank{r}.npz") for r in range(k)]
    for got in ranks[1:]:
        assert got["digest"].tobytes() == ranks[0]["digest"].tobytes()
        np.testing.assert_array_equal(got["eval"], ranks[0]["eval"])
        np.testing.assert_array_equal(got["val_loss"], ranks[0]["val_loss"])


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One ``mpirun -n 2`` job for the exactness, drift and unbroken-resume scenarios."""
    out = tmp_path_factory.mktemp("two_ranks")
    rc, output, _ = worker(2, "exact,exact-shards,drift,resume-full", out)
    assert rc == 0, output[-3000:]
    return out


@pytest.mark.parametrize("k", [2, 3])
def test_one_step_equals_one_process_and_ranks_never_drift(k, tmp_path, references, request):
    """Float64, uneven split (7 = 4+3 = 3+2+2), then a step of 1 sample (the other ranks
    compute a stand-in that counts for nothing): every weight of the seed models and of a
    BatchNormalization model equals one process within 1e-12 relative, with the full arrays
    on every rank and with each rank's own shard; losses, accuracy and evaluate() too."""
    if k == 2:
        out = request.getfixturevalue("two_ranks")
    else:
        out = tmp_path
        rc, output, _ = worker(k, "exact,exact-shards,drift", out)
        assert rc == 0, output[-3000:]
    check_exact(out, k, "exact", references["exact"])
    for r in range(k):  # two shuffled epochs: the same order as one process
        got = np.load(out / f"exact-rank{r}.npz")
        for i, w in enumerate(references["shuffled"]):
            assert rel_error(got[f"shuffled/{i}"], w) < 1e-12
    check_exact(out, k, "exact-shards", references[f"exact-shards-{k}"])
    check_no_drift(out, k)


def test_two_ranks_are_one_process_accumulating_two_half_batches(tmp_path):
    """float32, bit for bit: 2 ranks of 8 samples each and one process with batches of 8 and
    gradient_accumulation_steps=2 compute the same sums, so the gap between a data-parallel
    run and one process is rounding alone (benchmarks/distributed_accuracy.py). One BLAS
    thread everywhere: OpenBLAS splits a GEMM's sums differently for other counts."""
    threads = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}
    rc, output, _ = worker(2, "accumulate", tmp_path, env=threads)
    assert rc == 0, output[-3000:]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **threads}
    for var in [v for v in env if v.startswith(("OMPI_", "PMI"))]:
        del env[var]  # alone: not a rank of some outer job
    proc = subprocess.run(
        [sys.executable, str(HERE / "mpi_worker.py"), "accumulate", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    alone = np.load(tmp_path / "accumulate-alone-rank0.npz")
    assert int(alone["updates"]) == 8
    for r in range(2):
        got = np.load(tmp_path / f"accumulate-rank{r}.npz")
        assert int(got["updates"]) == 8
        names = [k for k in alone.files if k.startswith("w")]
        assert names and all(got[k].dtype == np.float32 for k in names)
        for k in names:
            np.testing.assert_array_equal(got[k], alone[k], err_msg=f"rank {r}, weight {k}")


def test_killed_rank_ends_the_job_with_a_message_naming_it(tmp_path):
    rc, output, seconds = worker(2, "kill", tmp_path, timeout=60)
    assert rc != 0
    assert "rank 1" in output and "signal 9" in output, output[-2000:]
    assert seconds < 60


def test_raising_rank_stops_every_rank_with_its_message(tmp_path):
    rc, output, _ = worker(2, "raise", tmp_path, timeout=60)
    assert rc != 0
    assert "rank 1 of 2 stopped with RuntimeError: a fault injected on rank 1" in output


def test_hung_rank_is_caught_by_the_collective_timeout(tmp_path):
    rc, output, seconds = worker(2, "hang", tmp_path, timeout=60, env={"WORKER_TIMEOUT": "3"})
    assert rc != 0
    assert "rank 0 of 2 waited 3 s in" in output, output[-2000:]
    assert seconds < 30


def test_resumed_run_is_bit_identical_to_an_unbroken_one(tmp_path, two_ranks):
    """Dropout, batch norm, mid-epoch backups (save_freq=2): rank 1 is killed in epoch 2; the
    rerun reads rank 0's backup on every rank and ends with the unbroken run's weights."""
    rc, output, _ = worker(2, "resume-killed", tmp_path, timeout=60)
    assert rc != 0 and "rank 1" in output
    assert (tmp_path / "backup" / "backup.npz").exists()
    assert not (tmp_path / "resume-done-rank0.npz").exists()
    rc, output, _ = worker(2, "resume-again", tmp_path)
    assert rc == 0, output[-3000:]
    for r in range(2):
        full = np.load(two_ranks / f"resume-full-rank{r}.npz")
        done = np.load(tmp_path / f"resume-done-rank{r}.npz")
        assert full["digest"].tobytes() == done["digest"].tobytes()
        np.testing.assert_array_equal(full["loss"], done["loss"])


def test_command_line_under_mpirun_matches_one_process_and_resumes(tmp_path):
    """``mpirun -n 2 filterbank train``: one run folder, written by rank 0, with the numbers of
    the one-process command (float32: equal up to rounding). Then the same command killed
    after its first backup and rerun with the same --out resumes from ``<out>/backup`` on both
    ranks and saves the model the unbroken run saved, bit for bit."""
    from filterbank.cli import main
    from filterbank.models import load_model

    args = [
        "train",
        "--data",
        "xo",
        "--model",
        "xo",
        "--train-samples",
        "64",
        "--epochs",
        "12",
        "--batch-size",
        "16",
        "--verbose",
        "2",
    ]
    rc, output, _ = mpirun(2, ["-m", "filterbank.cli", *args, "--out", str(tmp_path / "mpi")])
    assert rc == 0, output[-3000:]
    assert output.count("Test accuracy") == 1 and output.count("Epoch 1/12") == 1  # rank 0 only
    assert "Data-parallel over 2 processes" in output
    assert main([*args, "--verbose", "0", "--out", str(tmp_path / "one")]) == 0
    mpi = json.loads((tmp_path / "mpi" / "metrics.json").read_text())
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert sorted(os.listdir(tmp_path / "mpi")) == sorted(os.listdir(tmp_path / "one"))
    assert mpi["distributed"]["ranks"] == 2 and mpi["distributed"]["bytes_per_step"] > 0
    np.testing.assert_allclose(mpi["history"]["loss"], one["history"]["loss"], rtol=1e-4)
    assert abs(mpi["test_accuracy"] - one["test_accuracy"]) <= 0.01

    cmd = [
        MPIRUN,
        "--oversubscribe",
        "-n",
        "2",
        "-x",
        "PYTHONPATH",
        sys.executable,
        "-m",
        "filterbank.cli",
        *args,
        "--out",
        str(tmp_path / "run"),
    ]
    if os.geteuid() == 0:
        cmd.insert(1, "--allow-run-as-root")
    backup = tmp_path / "run" / "backup" / "backup.npz"
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while not backup.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    finished_early = proc.poll() is not None
    ranks = children(proc.pid)
    os.kill(ranks[-1], signal.SIGKILL)  # one rank dies; mpirun then ends the other
    proc.wait(timeout=60)
    assert not finished_early and len(ranks) == 2, "the run ended before it could be killed"
    assert backup.exists() and not (tmp_path / "run" / "model.fbk").exists()

    rc, output, _ = mpirun(2, ["-m", "filterbank.cli", *args, "--out", str(tmp_path / "run")])
    assert rc == 0, output[-3000:]
    assert "Resuming the unfinished run" in output
    assert not backup.exists()  # deleted once the run completed
    for got, want in zip(
        load_model(tmp_path / "run" / "model.fbk").get_weights(),
        load_model(tmp_path / "mpi" / "model.fbk").get_weights(),
    ):
        assert got.tobytes() == want.tobytes()

"""Smoke tests of the benchmark harness machinery (benchmarks/): never timing assertions.

The end-to-end runs use the NumPy stand-in framework on both sides, with tiny sizes, so they
need neither filterbank's models nor torch; the torch worker has its own test.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import archs
from benchmarks.harness import (
    MALLOC_KEEP,
    Entry,
    WorkerError,
    WorkerProc,
    apply_malloc,
    contest,
    linear_fit,
    summary,
    worker_env,
)

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ["train", "infer", "latency", "rss", "import", "peak", "scaling"]


def run_bench(tmp_path, *args, timeout=240):
    out = tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/run.py",
            "--threads",
            "1",
            "--rounds",
            "2",
            "--block",
            "0.01",
            "--pause",
            "0",
            "--out",
            str(out),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    jsons = sorted(out.glob("*.json"))
    results = json.loads(jsons[-1].read_text()) if jsons else None
    md = (out / "latest.md").read_text() if (out / "latest.md").exists() else None
    return proc, results, md


# ---------------------------------------------------------------- model specs and FLOPs


@pytest.mark.parametrize(
    "arch, params, fwd, train",
    [
        ("functional", 104_202, 6.20, 18.2),
        ("sequential", 93_322, 5.59, 16.4),
    ],
)
def test_archs_match_the_seed_models_and_the_notes(arch, params, fwd, train):
    assert archs.count_params(arch) == params == archs.SEED_PARAMS[arch]
    assert round(archs.forward_flops(arch) / 1e6, 2) == fwd
    assert round(archs.train_flops(arch) / 1e6, 1) == train


def test_arch_shapes_and_flops_by_hand():
    shapes = [out for _, _, out in archs.layer_shapes("functional", 28)]
    assert shapes == [
        (26, 26, 32),
        (13, 13, 32),
        (11, 11, 64),
        (5, 5, 64),
        (3, 3, 128),
        (1152,),
        (10,),
    ]
    # conv2 alone: 11*11*64 outputs, each 3*3*32 multiply-adds
    assert archs.forward_flops("functional", 28) == 2 * (
        26 * 26 * 32 * 9 + 11 * 11 * 64 * 288 + 3 * 3 * 128 * 576 + 1152 * 10
    )
    # bigger images: the dense layer grows with the flattened map
    assert archs.count_params("functional", 56) > archs.count_params("functional", 28)
    with pytest.raises(ValueError, match="too small"):
        archs.layer_shapes("functional", 16)


# ---------------------------------------------------------------- statistics


def test_summary_and_linear_fit():
    assert summary([3, 1, 2, None]) == {"median": 2, "min": 1, "max": 3, "n": 3}
    assert summary([4, 1, 2, 3])["median"] == 2.5
    assert summary([]) is None
    fit = linear_fit([1, 2, 3, 4], [3, 5, 7, 9])
    assert fit["intercept"] == pytest.approx(1) and fit["slope"] == pytest.approx(2)
    assert fit["r2"] == pytest.approx(1)
    assert linear_fit([1], [1]) is None
    assert linear_fit([2, 2], [1, 3]) is None
    assert linear_fit([1, 2, 3], [1, 3, 2])["r2"] < 0.5


# ---------------------------------------------------------------- the contest loop


class FakeWorker:
    """Records the order of timed blocks; fails on request once ``fail_after`` blocks ran."""

    def __init__(self, log, name, fail_after=None):
        self.log, self.name, self.fail_after, self.calls = log, name, fail_after, 0

    def request(self, op, **kw):
        assert op == "time"
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise WorkerError(self.name, "time failed", "Traceback...\nRuntimeError: boom")
        self.calls += 1
        self.log.append((self.name, kw["steps"]))
        return {"elapsed": 0.5}


def test_contest_alternates_rotates_and_drops_a_failed_worker():
    log = []
    entries = [
        Entry("a", FakeWorker(log, "a"), "x", steps=3),
        Entry("b", FakeWorker(log, "b"), "x", steps=5),
        Entry("c", FakeWorker(log, "c", fail_after=1), "x", steps=7),
    ]
    rounds_seen = []
    out = contest(entries, rounds=3, pause=0, on_round=rounds_seen.append)
    assert rounds_seen == [0, 1, 2]
    assert [n for n, _ in log] == ["a", "b", "c", "b", "a", "a", "b"]
    assert {n: s for n, s in log} == {"a": 3, "b": 5, "c": 7}
    assert [len(out[k]) for k in "abc"] == [3, 3, 1]
    assert entries[2].error.summary() == "RuntimeError: boom"


# ---------------------------------------------------------------- worker processes


def test_worker_protocol_and_errors():
    w = WorkerProc("numpy", threads=1)
    try:
        assert w.hello["framework"] == "numpy" and w.hello["env"]["OMP_NUM_THREADS"] == "1"
        info = w.request("setup", id="a", task="infer", arch="functional", batch=4, image=28)
        assert info["info"]["params"] > 0
        assert w.request("calibrate", id="a", target_s=0.01)["steps"] >= 1
        rep = w.request("time", id="a", steps=3, per_call=True)
        assert len(rep["calls"]) == 3 and rep["elapsed"] >= sum(rep["calls"])
        mem = w.request("memory", id="a")
        assert mem["peak_mb"] is None or mem["peak_mb"] >= mem["rss_before_mb"] * 0.5
        with pytest.raises(WorkerError, match="setup failed") as exc:
            w.request("setup", id="b", task="fly", arch="functional", batch=4, image=28)
        assert "Unsupported" in exc.value.summary()
        w.request("drop", id="a")
        with pytest.raises(WorkerError):  # the bench is gone
            w.request("time", id="a", steps=1)
    finally:
        w.close()
    with pytest.raises(WorkerError, match="failed to start") as exc:
        WorkerProc("no-such-framework", threads=1)
    assert "no-such-framework" in exc.value.summary()


# ---------------------------------------------------------------- end to end (stand-in)


def test_every_figure_end_to_end_with_the_standin(tmp_path):
    proc, res, md = run_bench(
        tmp_path,
        "--subject",
        "numpy",
        "--baseline",
        "numpy",
        "--no-ort",
        "--sgemm-n",
        "64",
        "--rss-samples",
        "256",
        "--import-rounds",
        "1",
        "--scaling-batches",
        "1,4",
        "--scaling-images",
        "28,36",
        "--scaling-image-batch",
        "2",
        "--scaling-rounds",
        "1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert res is not None and md is not None
    assert list(res["figures"]) == FIGURES
    assert res["errors"] == []
    assert res["machine"]["usable_cores"] >= 1 and res["machine"]["cpu_model"]
    assert res["command"].startswith("python benchmarks/run.py --threads 1")
    labels = {"numpy", "numpy#2"}
    for fig in ("train", "infer", "latency"):
        cases = res["figures"][fig]["cases"]
        assert [c["arch"] for c in cases] == ["functional", "sequential", "cifar"]
        assert [c["image"] for c in cases] == [28, 28, 32]
        for c in cases:
            assert set(c["frameworks"]) == labels
            ratio = c["ratios"]["numpy#2"]
            assert len(ratio["per_round"]) == 2 and ratio["min"] <= ratio["median"] <= ratio["max"]
            for fw in c["frameworks"].values():
                assert fw["samples_per_s"]["n"] == 2 and fw["samples_per_s"]["median"] > 0
                assert ("latency_us" in fw) == (fig == "latency")
    peak = res["figures"]["peak"]
    assert peak["sgemm"]["gflops"]["median"] > 0
    # The seed models' FLOPs match the engineering notes; the CIFAR-size model has no note.
    assert {a: v["matches_notes"] for a, v in peak["flops"].items()} == {
        "functional": True,
        "sequential": True,
        "cifar": None,
    }
    assert [(c["task"], c["arch"]) for c in peak["cases"]] == [
        (t, a) for a in ("functional", "sequential", "cifar") for t in ("train", "infer")
    ]
    assert all("fraction_of_peak" in fw for c in peak["cases"] for fw in c["frameworks"].values())
    rss = res["figures"]["rss"]["runs"]
    assert [r["framework"] for r in rss] == ["numpy", "numpy#2"] * 2
    assert all(r["maxrss_mb"] >= r["maxrss_before_fit_mb"] > 0 for r in rss)
    imports = {r["what"]: r for r in res["figures"]["import"]["rows"]}
    assert set(imports) == {"python (no import)", "numpy"}
    assert imports["numpy"]["seconds"]["n"] == 1
    pts = res["figures"]["scaling"]["points"]
    assert [(p["task"], p["batch"], p["image"]) for p in pts] == [
        (t, b, i) for t in ("infer", "train") for b, i in ((1, 28), (4, 28), (2, 28), (2, 36))
    ]
    assert all("memory" in fw for p in pts for fw in p["frameworks"].values())
    assert res["figures"]["scaling"]["fits"]["train/numpy"]["time_vs_batch_ms"]["points"] == 2
    for heading in (
        "## Training step",
        "## Inference",
        "## Batch-1 latency",
        "## Fraction of the machine's sgemm peak",
        "## Peak memory",
        "## Import time",
        "## Scaling",
    ):
        assert heading in md
    assert "| functional | 64 |" in md and "numpy/numpy#2 median" in md
    assert md in proc.stdout


def test_a_broken_framework_is_reported_not_fatal(tmp_path):
    proc, res, md = run_bench(
        tmp_path, "--subject", "nosuch", "--baseline", "numpy", "--only", "train"
    )
    assert proc.returncode == 1
    assert {e["who"] for e in res["errors"]} == {"nosuch"}
    case = res["figures"]["train"]["cases"][0]
    assert "error" in case["frameworks"]["nosuch"]
    assert case["frameworks"]["numpy"]["samples_per_s"]["n"] == 2
    assert case["ratios"] == {}
    assert "## Errors" in md and "nosuch" in md


def test_openblas_pin_is_dropped_for_the_workers_only_when_asked(monkeypatch):
    from benchmarks.harness import apply_openblas

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "512")
    assert apply_openblas("pinned") == {}
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"
    assert apply_openblas("user") == {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}
    assert "OPENBLAS_CORETYPE" not in os.environ and "OPENBLAS_L2_SIZE" not in os.environ
    with pytest.raises(ValueError, match="--openblas"):
        apply_openblas("fast")


def test_workers_record_the_openblas_kernel_and_models_can_be_chosen(tmp_path):
    pytest.importorskip("threadpoolctl")
    proc, res, md = run_bench(
        tmp_path,
        "--subject",
        "numpy",
        "--baseline",
        "numpy",
        "--no-ort",
        "--only",
        "infer",
        "--models",
        "cifar",
        "--rounds",
        "1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [c["arch"] for c in res["figures"]["infer"]["cases"]] == ["cifar"]
    blas = res["workers"]["numpy"]["versions"]["blas"]
    assert blas["kernel"]  # e.g. SkylakeX or Haswell: which OpenBLAS kernel really ran
    assert f"kernel in the workers: {blas['kernel']}" in md
    bad, _, _ = run_bench(tmp_path, "--models", "cifar,vgg")
    assert bad.returncode == 2 and "unknown model(s) ['vgg']" in bad.stderr


def test_bad_flags_are_refused(tmp_path):
    proc, res, _ = run_bench(tmp_path, "--only", "train,speed")
    assert proc.returncode == 2 and "unknown figure(s) speed" in proc.stderr
    assert res is None


def test_torch_worker_latency(tmp_path):
    pytest.importorskip("torch")
    proc, res, md = run_bench(
        tmp_path,
        "--subject",
        "numpy",
        "--only",
        "latency",
        "--torch-layout",
        "nchw",
        "--rounds",
        "1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cases = res["figures"]["latency"]["cases"]
    info = [c["frameworks"]["torch"]["info"] for c in cases]
    # the seed models' counts; cifar: kernels, biases and BatchNormalization's gamma and beta
    assert [i["params"] for i in info] == [104_202, 93_322, 357_258]
    assert {i["layout"] for i in info} == {"nchw"}
    assert all(c["frameworks"]["torch"]["latency_us"]["median"] > 0 for c in cases)
    assert res["workers"]["torch"]["versions"]["torch_threads"] == 1


# ---------------------------------------------------------------- the filterbank adapter


def test_filterbank_adapter_builds_the_seed_models_through_the_public_api():
    import numpy as np

    from benchmarks.frameworks import FilterbankAdapter

    fb = FilterbankAdapter(threads=1)
    for arch, params in archs.SEED_PARAMS.items():
        step, info = fb.make("train", arch, 4, 28, 0, {})
        assert info["params"] == params
        assert np.isfinite(float(step()))
        predict, _ = fb.make("infer", arch, 4, 28, 0, {})
        probs = np.asarray(predict())
        assert probs.shape == (4, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    fit = fb.fit("functional", n=96, batch=64, seed=0)
    fit()  # one epoch: a full batch and a partial one


def test_malloc_keep_reaches_the_workers_and_the_report(tmp_path, monkeypatch):
    for var in MALLOC_KEEP:
        monkeypatch.delenv(var, raising=False)  # restored (removed) after the test
    apply_malloc("default")
    assert not set(MALLOC_KEEP) & set(worker_env(1))
    apply_malloc("keep")
    assert {k: worker_env(1)[k] for k in MALLOC_KEEP} == {k: str(2**30) for k in MALLOC_KEEP}
    with pytest.raises(ValueError, match="'default' or 'keep'"):
        apply_malloc("sometimes")
    proc, res, md = run_bench(
        tmp_path,
        "--subject",
        "numpy",
        "--baseline",
        "numpy",
        "--only",
        "infer",
        "--malloc",
        "keep",
        "--no-ort",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert res["config"]["malloc"] == "keep" and "glibc malloc: keep" in md


def test_inference_breakdown_names_the_kernels(tmp_path, monkeypatch):
    from benchmarks import inference_breakdown as bd
    from benchmarks.harness import THREAD_VARS
    from filterbank.ops import direct

    for var in THREAD_VARS:  # main() sets them: restore them afterwards
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("FILTERBANK_DISABLE_FUSION", raising=False)  # the steps below are fused

    out = tmp_path / "bd.json"
    assert (
        bd.main(
            ["--batch", "12", "--rounds", "1", "--calls", "1", "--threads", "1", "--json", str(out)]
        )
        == 0
    )
    res = json.loads(out.read_text())["results"]
    assert [r["arch"] for r in res] == ["functional", "sequential"]
    for r in res:
        kernels = [s["kernel"] for s in r["steps"]]
        first = "direct" if direct.numba_kernels() is not None else "gemm"
        # 12 images x 25 pooled cells >= 256: conv2 runs Winograd when numba is there
        second = "winograd" if direct.numba_kernels() is not None else "gemm"
        assert kernels[:3] == [first, second, "gemm"] and kernels[3:] == ["-"] * (len(kernels) - 3)
        assert abs(sum(s["share"] for s in r["steps"]) - 1) < 1e-9
        assert r["speedup"] > 0 and r["max_abs_difference"] < 1e-5

"""A benchmark worker: one process, one framework, driven over JSON lines.

Started by the orchestrator as ``python -m benchmarks.worker FRAMEWORK THREADS``. It reads one
JSON request per line on stdin and answers one JSON line on a private copy of stdout; the real
stdout is pointed at stderr first, so nothing a library prints can corrupt the protocol.

Requests (``op`` and its fields) and answers (always ``ok``, plus ``error`` when not ok):
    hello                                     -> versions, pid, thread settings
    setup id task arch batch image seed options  -> builds the bench, warms it up: info
    calibrate id target_s                     -> steps: how many calls fill ~target_s
    time id steps [per_call]                  -> elapsed seconds (and each call's, per_call)
    memory id                                 -> peak RSS during one call (VmHWM reset first)
    drop id                                   -> frees the bench (gc + malloc_trim)
    fit_rss arch n batch seed                 -> ru_maxrss before and after a one-epoch fit
    quit
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import resource
import statistics
import sys
import time
import traceback


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _trim():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Worker:
    def __init__(self, framework: str, threads: int):
        from .frameworks import ADAPTERS

        t0 = time.perf_counter()
        self.adapter = ADAPTERS[framework](threads)
        self.import_s = time.perf_counter() - t0
        self.benches = {}

    def op_hello(self):
        env = {
            k: os.environ.get(k)
            for k in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS",
                "OMP_WAIT_POLICY",
                "OPENBLAS_THREAD_TIMEOUT",
            )
        }
        return {
            "framework": self.adapter.name,
            "versions": self.adapter.versions(),
            "pid": os.getpid(),
            "env": env,
            "adapter_import_s": self.import_s,
            "python": sys.version.split()[0],
        }

    def op_setup(self, id, task, arch, batch, image, seed=0, options=None, warmup=2):
        _trim()
        rss_idle = _status_kb("VmRSS")
        t0 = time.perf_counter()
        step, info = self.adapter.make(task, arch, batch, image, seed, options or {})
        build_s = time.perf_counter() - t0
        for _ in range(warmup):
            step()
        self.benches[id] = {"step": step, "rss_idle_kb": rss_idle}
        return {"info": info, "build_s": build_s, "setup_s": time.perf_counter() - t0}

    def op_calibrate(self, id, target_s):
        step = self.benches[id]["step"]
        times = []
        start = time.perf_counter()
        while len(times) < 3 or (
            time.perf_counter() - start < min(target_s, 0.2) and len(times) < 50
        ):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        per = statistics.median(times)
        return {"steps": max(1, round(target_s / per)), "step_s": per}

    def op_time(self, id, steps, per_call=False):
        step = self.benches[id]["step"]
        calls = []
        perf = time.perf_counter
        t0 = perf()
        if per_call:
            for _ in range(steps):
                t1 = perf()
                step()
                calls.append(perf() - t1)
        else:
            for _ in range(steps):
                step()
        elapsed = perf() - t0
        out = {"elapsed": elapsed}
        if per_call:
            out["calls"] = calls
        return out

    def op_memory(self, id):
        bench = self.benches[id]
        gc.collect()
        ok = _reset_hwm()
        before = _status_kb("VmRSS")
        bench["step"]()
        peak = _status_kb("VmHWM") if ok else None
        idle = bench["rss_idle_kb"]

        def mb(kb):
            return None if kb is None else kb / 1024

        return {
            "rss_idle_mb": mb(idle),
            "rss_before_mb": mb(before),
            "peak_mb": mb(peak),
            "peak_over_idle_mb": None if peak is None or idle is None else (peak - idle) / 1024,
            "hwm_reset": ok,
        }

    def op_drop(self, id):
        self.benches.pop(id, None)
        _trim()
        return {}

    def op_fit_rss(self, arch, n, batch, seed=0):
        t0 = time.perf_counter()
        run = self.adapter.fit(arch, n, batch, seed)
        build_s = time.perf_counter() - t0
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        run()
        fit_s = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # ru_maxrss is in KiB on Linux
        return {
            "maxrss_before_fit_mb": before / 1024,
            "maxrss_mb": after / 1024,
            "fit_over_before_mb": (after - before) / 1024,
            "fit_s": fit_s,
            "build_s": build_s,
        }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    framework, threads = argv[0], int(argv[1])
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def send(obj):
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    try:
        worker = Worker(framework, threads)
    except BaseException as exc:  # the framework itself failed to import
        send({"ok": False, "error": traceback.format_exc(), "type": type(exc).__name__})
        return 1
    send({"ok": True, "ready": True})
    for line in sys.stdin:
        req = json.loads(line)
        op = req.pop("op")
        if op == "quit":
            send({"ok": True})
            break
        try:
            out = getattr(worker, "op_" + op)(**req)
            send({"ok": True, **out})
        except Exception as exc:
            send({"ok": False, "error": traceback.format_exc(), "type": type(exc).__name__})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The figures: each measures one thing, side by side, and returns a JSON-ready dict.

Roles: "subject" (filterbank), "baseline" (torch), "ort" (onnxruntime, inference only, when
importable) and "sgemm" (a NumPy worker measuring the machine's matmul peak). Every ratio is
subject throughput / other throughput, computed per round (both blocks of a round ran within
about a second of each other), then summarised (median, min, max).
"""

from __future__ import annotations

import importlib.util
import statistics
import time

from . import archs
from .harness import (
    IMPORT_MODULE,
    Entry,
    WorkerError,
    WorkerProc,
    contest,
    linear_fit,
    summary,
    timed_import,
)

# The engineering notes' FLOP figures (MFLOP per sample), which archs.py must reproduce.
NOTES_MFLOP = {"functional": (6.20, 18.2), "sequential": (5.59, 16.4)}


class Session:
    """The workers of one run (started on first use, kept for every figure) and its errors."""

    def __init__(self, args, log):
        self.args, self.log = args, log
        self.frameworks = {
            "subject": args.subject,
            "baseline": args.baseline,
            "ort": "onnxruntime",
            "sgemm": "numpy",
        }
        base = args.baseline if args.baseline != args.subject else args.baseline + "#2"
        self.labels = {
            "subject": args.subject,
            "baseline": base,
            "ort": "onnxruntime",
            "sgemm": "numpy-sgemm",
        }
        self._workers: dict[str, WorkerProc | WorkerError] = {}
        self.errors: list[dict] = []
        self.hellos: dict[str, dict] = {}

    def label(self, role):
        return self.labels[role]

    def ort_available(self) -> bool:
        return not self.args.no_ort and importlib.util.find_spec("onnxruntime") is not None

    def error(self, figure, exc: WorkerError):
        self.errors.append(
            {
                "figure": figure,
                "who": exc.label,
                "error": exc.summary(),
                "detail": exc.detail[-3000:],
            }
        )
        self.log(f"  ! {exc.label}: {exc.summary()}")

    def worker(self, role) -> WorkerProc:
        w = self._workers.get(role)
        if w is None:
            self.log(f"  starting {self.label(role)} worker")
            try:
                w = WorkerProc(self.frameworks[role], self.args.threads, self.label(role))
                self.hellos[self.label(role)] = w.hello
            except WorkerError as exc:
                w = exc
            self._workers[role] = w
        if isinstance(w, WorkerError):
            raise w
        return w

    def options(self, role, task):
        if role in ("baseline", "subject") and self.frameworks[role] == "torch":
            return {"layout": self.args.torch_layout}
        if role == "sgemm":
            return {"n": self.args.sgemm_n}
        return {}

    def close(self):
        for w in self._workers.values():
            if isinstance(w, WorkerProc):
                w.close()
        self._workers.clear()


def _bench_id(task, arch, batch, image):
    return f"{task}-{arch}-b{batch}-i{image}"


def _prepare(sess, figure, cases, roles, per_call=False):
    """Set up every (case, role) bench and calibrate its block length.

    cases: [(task, arch, batch, image)]. Returns (entries, notes) where notes[(case, label)]
    holds the setup info or the error.
    """
    entries, notes = [], {}
    for case in cases:
        task, arch, batch, image = case
        bid = _bench_id(*case)
        for role in roles:
            label = sess.label(role)
            try:
                w = sess.worker(role)
                rep = w.request(
                    "setup",
                    id=bid,
                    task=task,
                    arch=arch,
                    batch=batch,
                    image=image,
                    seed=sess.args.seed,
                    options=sess.options(role, task),
                )
                cal = w.request("calibrate", id=bid, target_s=sess.args.block)
            except WorkerError as exc:
                sess.error(figure, exc)
                notes[(case, label)] = {"error": exc.summary()}
                continue
            notes[(case, label)] = {
                "info": rep["info"],
                "setup_s": rep["setup_s"],
                "steps_per_block": cal["steps"],
            }
            entries.append(Entry((case, label), w, bid, cal["steps"], per_call))
    return entries, notes


def _run(sess, figure, entries, rounds):
    t0 = time.perf_counter()

    def on_round(r):
        if r == 0 or (r + 1) % 5 == 0 or r + 1 == rounds:
            sess.log(f"  [{figure}] round {r + 1}/{rounds} ({time.perf_counter() - t0:.0f} s)")

    contest(entries, rounds, sess.args.pause, on_round)
    for e in entries:
        if e.error is not None:
            sess.error(figure, e.error)


def _per_round(entry, batch):
    """Samples/s (and latency in us when per_call) of each block of an entry."""
    rows = []
    for b in entry.blocks:
        if entry.per_call:
            lat = statistics.median(b["calls"])
            rows.append({"samples_per_s": batch / lat, "latency_us": lat * 1e6})
        else:
            rows.append({"samples_per_s": entry.steps * batch / b["elapsed"]})
    return rows


def _ratio(a_rows, b_rows):
    """Per-round a/b throughput ratios (rounds aligned by index)."""
    return [a["samples_per_s"] / b["samples_per_s"] for a, b in zip(a_rows, b_rows)]


def _analyse(sess, cases, roles, entries, notes):
    """Turn the timed blocks into the per-case results (samples/s, GFLOP/s, ratios)."""
    by_key = {e.key: e for e in entries}
    out = []
    subject = sess.label("subject")
    for case in cases:
        task, arch, batch, image = case
        flops = (archs.train_flops if task == "train" else archs.forward_flops)(arch, image)
        res = {
            "task": task,
            "arch": arch,
            "batch": batch,
            "image": image,
            "mflop_per_sample": flops / 1e6,
            "frameworks": {},
            "ratios": {},
        }
        rows = {}
        for role in roles:
            label = sess.label(role)
            fw = dict(notes.get((case, label), {"error": "not run"}))
            e = by_key.get((case, label))
            if e is not None:
                rows[label] = _per_round(e, batch)
                sps = summary(r["samples_per_s"] for r in rows[label])
                fw["samples_per_s"] = sps
                if sps:
                    fw["gflops"] = sps["median"] * flops / 1e9
                    fw["ms_per_step"] = batch / sps["median"] * 1e3
                if e.per_call:
                    fw["latency_us"] = summary(r["latency_us"] for r in rows[label])
                if e.error is not None:
                    fw["error"] = e.error.summary()
            res["frameworks"][label] = fw
        for role in roles:
            label = sess.label(role)
            if role == "subject" or subject not in rows or label not in rows:
                continue
            per = _ratio(rows[subject], rows[label])
            res["ratios"][label] = {"per_round": per, **(summary(per) or {})}
        out.append(res)
    return out


def _figure(sess, figure, cases, roles, per_call=False, rounds=None):
    sess.log(f"[{figure}] {len(cases)} case(s) x {len(roles)} framework(s)")
    entries, notes = _prepare(sess, figure, cases, roles, per_call)
    _run(sess, figure, entries, rounds or sess.args.rounds)
    results = _analyse(sess, cases, roles, entries, notes)
    for e in entries:
        try:
            e.worker.request("drop", id=e.bench_id)
        except WorkerError:
            pass
    return results


def _infer_roles(sess):
    return ["subject", "baseline"] + (["ort"] if sess.ort_available() else [])


def fig_train(sess):
    """Training step samples/s (rmsprop, sparse CCE, batch 64), every model of --models."""
    b = sess.args.batch
    cases = [("train", a, b, archs.ARCH_INPUT[a][0]) for a in sess.args.models]
    return {"cases": _figure(sess, "train", cases, ["subject", "baseline"])}


def fig_infer(sess):
    """Inference samples/s at batch 64, every model of --models."""
    b = sess.args.batch
    cases = [("infer", a, b, archs.ARCH_INPUT[a][0]) for a in sess.args.models]
    return {"cases": _figure(sess, "infer", cases, _infer_roles(sess))}


def fig_latency(sess):
    """Batch-1 inference latency (median microseconds per call)."""
    cases = [("latency", a, 1, archs.ARCH_INPUT[a][0]) for a in sess.args.models]
    return {"cases": _figure(sess, "latency", cases, _infer_roles(sess), per_call=True)}


def flop_table(models=tuple(NOTES_MFLOP)):
    """FLOPs per sample from the model shapes, checked against the engineering notes where
    they have the model (the seed models; ``matches_notes`` is None for the others)."""
    out = {}
    for arch in models:
        image = archs.ARCH_INPUT[arch][0]
        fwd = archs.forward_flops(arch, image) / 1e6
        train = archs.train_flops(arch, image) / 1e6
        matches = None
        if arch in NOTES_MFLOP:
            fwd_note, train_note = NOTES_MFLOP[arch]
            matches = (
                round(fwd, 2) == fwd_note
                and round(train, 1) == train_note
                and archs.count_params(arch) == archs.SEED_PARAMS[arch]
            )
        out[arch] = {
            "forward_mflop": fwd,
            "train_mflop": train,
            "params": archs.count_params(arch, image),
            "matches_notes": matches,
        }
    return out


def fig_peak(sess):
    """Fraction of the machine's sgemm peak: each framework's achieved GFLOP/s (FLOPs per
    sample x samples/s) over a 2-thread n x n float32 NumPy matmul, per round."""
    b = sess.args.batch
    n = sess.args.sgemm_n
    sess.log(f"[peak] sgemm {n}x{n} + train/infer of {', '.join(sess.args.models)}")
    sg_case = ("sgemm", "functional", 1, 28)
    model_cases = [
        (t, a, b, archs.ARCH_INPUT[a][0]) for a in sess.args.models for t in ("train", "infer")
    ]
    roles = ["subject", "baseline"]
    e_sg, n_sg = _prepare(sess, "peak", [sg_case], ["sgemm"])
    e_m, n_m = _prepare(sess, "peak", model_cases, roles)
    entries = e_sg + e_m
    _run(sess, "peak", entries, sess.args.rounds)
    sg_label = sess.label("sgemm")
    sg_rounds = []
    if e_sg and not e_sg[0].error:
        e = e_sg[0]
        sg_rounds = [e.steps * 2 * n**3 / blk["elapsed"] / 1e9 for blk in e.blocks]
    cases = _analyse(sess, model_cases, roles, e_m, n_m)
    by_key = {e.key: e for e in e_m}
    for res, case in zip(cases, model_cases):
        for role in roles:
            label = sess.label(role)
            e = by_key.get((case, label))
            if e is None or not sg_rounds:
                continue
            flops = res["mflop_per_sample"] * 1e6
            fr = [
                e.steps * case[2] / blk["elapsed"] * flops / 1e9 / sg
                for blk, sg in zip(e.blocks, sg_rounds)
            ]
            res["frameworks"][label]["fraction_of_peak"] = summary(fr)
    for e in entries:
        try:
            e.worker.request("drop", id=e.bench_id)
        except WorkerError:
            pass
    return {
        "sgemm": {
            "n": n,
            "threads": sess.args.threads,
            "gflops": summary(sg_rounds),
            **(
                {"error": n_sg[(sg_case, sg_label)]["error"]}
                if "error" in n_sg.get((sg_case, sg_label), {})
                else {}
            ),
        },
        "flops": flop_table(sess.args.models),
        "cases": cases,
    }


def fig_scaling(sess):
    """Cost vs batch size (image 28) and vs image size (fixed batch), inference and training,
    functional model, with the peak RSS of one step at each point."""
    a = sess.args
    points = [("batch", bs, 28) for bs in a.scaling_batches]
    points += [("image", a.scaling_image_batch, im) for im in a.scaling_images]
    roles = ["subject", "baseline"]
    out = []
    for task in ("infer", "train"):
        for series, batch, image in points:
            case = (task, "functional", batch, image)
            name = f"scaling {task} b{batch} i{image}"
            sess.log(f"[{name}]")
            entries, notes = _prepare(sess, "scaling", [case], roles)
            _run(sess, "scaling", entries, a.scaling_rounds)
            res = _analyse(sess, [case], roles, entries, notes)[0]
            res["series"] = series
            for e in entries:
                try:
                    if e.error is None:
                        mem = e.worker.request("memory", id=e.bench_id)
                        res["frameworks"][e.key[1]]["memory"] = mem
                    e.worker.request("drop", id=e.bench_id)
                except WorkerError as exc:
                    sess.error("scaling", exc)
            out.append(res)
    return {"points": out, "fits": _scaling_fits(sess, out, roles)}


def _scaling_fits(sess, points, roles):
    """Linear fits: ms/step vs batch and vs FLOPs per step; peak memory vs batch and pixels."""
    fits = {}
    for task in ("infer", "train"):
        for role in roles:
            label = sess.label(role)
            key = f"{task}/{label}"

            def col(series, f, _task=task, _label=label):
                xs, ys = [], []
                for p in points:
                    fw = p["frameworks"].get(_label, {})
                    if p["task"] == _task and p["series"] == series and "ms_per_step" in fw:
                        xs.append(f(p, fw)[0])
                        ys.append(f(p, fw)[1])
                return xs, ys

            def mem(fw):
                return (fw.get("memory") or {}).get("peak_over_idle_mb")

            fits[key] = {
                "time_vs_batch_ms": linear_fit(
                    *col("batch", lambda p, fw: (p["batch"], fw["ms_per_step"]))
                ),
                "time_vs_mflop_per_step_ms": linear_fit(
                    *col(
                        "image",
                        lambda p, fw: (p["batch"] * p["mflop_per_sample"], fw["ms_per_step"]),
                    )
                ),
                "memory_vs_batch_mb": linear_fit(
                    *col("batch", lambda p, fw: (p["batch"], mem(fw)))
                ),
                "memory_vs_pixels_mb": linear_fit(
                    *col("image", lambda p, fw: (p["batch"] * p["image"] ** 2, mem(fw)))
                ),
            }
    return fits


def fig_rss(sess):
    """Peak RSS (ru_maxrss) of a one-epoch fit on N random 28x28x1 samples, batch 64; a fresh
    process per framework and model (filterbank: model.fit; torch: the equivalent loop)."""
    a = sess.args
    out = []
    models = ("functional",) if a.quick else ("functional", "sequential")
    for arch in models:
        for role in ("subject", "baseline"):
            label = sess.label(role)
            sess.log(f"[rss] {label} {arch}: fresh process, fit on {a.rss_samples} samples")
            row = {"arch": arch, "framework": label, "samples": a.rss_samples, "batch": a.batch}
            w = None
            try:
                w = WorkerProc(sess.frameworks[role], a.threads, label)
                row.update(
                    w.request("fit_rss", arch=arch, n=a.rss_samples, batch=a.batch, seed=a.seed)
                )
            except WorkerError as exc:
                sess.error("rss", exc)
                row["error"] = exc.summary()
            finally:
                if w is not None:
                    w.close()
            out.append(row)
    return {"runs": out}


def fig_import(sess):
    """Wall time of a fresh ``python -c "import X"`` (median of several, alternating), with
    bare interpreter start-up as the reference."""
    a = sess.args
    mods = [("python (no import)", None), ("numpy", "numpy")]
    for role in ("subject", "baseline"):
        mod = IMPORT_MODULE.get(sess.frameworks[role], sess.frameworks[role])
        if mod not in [m for _, m in mods]:
            mods.append((sess.label(role), mod))
    sess.log(f"[import] {len(mods)} commands x {a.import_rounds} rounds")
    times = {label: [] for label, _ in mods}
    errors = {}
    for _ in range(a.import_rounds):
        for label, mod in mods:
            if label in errors:
                continue
            try:
                times[label].append(timed_import(mod, a.threads))
            except Exception as exc:
                errors[label] = repr(exc)
                sess.errors.append({"figure": "import", "who": label, "error": repr(exc)})
    base = statistics.median(times[mods[0][0]])
    rows = []
    for label, mod in mods:
        s = summary(times[label])
        rows.append(
            {
                "what": label,
                "module": mod,
                "seconds": s,
                "net_of_startup_s": None if s is None or mod is None else s["median"] - base,
                **({"error": errors[label]} if label in errors else {}),
            }
        )
    return {"rows": rows}


FIGURES = {
    "train": fig_train,
    "infer": fig_infer,
    "latency": fig_latency,
    "rss": fig_rss,
    "import": fig_import,
    "peak": fig_peak,
    "scaling": fig_scaling,
}

"""The machine description and the Markdown rendering of a results dict."""

from __future__ import annotations

import os
import platform
import socket
import sys


def _cpuinfo() -> dict:
    info = {"model": platform.processor() or "unknown", "flags": []}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "model name":
                    info["model"] = val.strip()
                elif key == "flags":
                    flags = set(val.split())
                    info["flags"] = [
                        x
                        for x in (
                            "avx2",
                            "fma",
                            "avx512f",
                            "avx512_bf16",
                            "avx512_vnni",
                            "amx_tile",
                        )
                        if x in flags
                    ]
                    break
    except OSError:
        pass
    return info


def _meminfo_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def machine_info() -> dict:
    """CPU model, cores, memory, load, OS and Python: the context every number needs."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    cpu = _cpuinfo()
    return {
        "host": socket.gethostname(),
        "cpu_model": cpu["model"],
        "cpu_flags": cpu["flags"],
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "mem_gib": _meminfo_gib(),
        "loadavg_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


# ---------------------------------------------------------------------------- formatting


def _n(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def _range(s, digits=2, scale=1.0):
    if not s:
        return "-"
    return f"{s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f}"


def _med(s, digits=0, scale=1.0):
    return "-" if not s else _n(s["median"] * scale, digits)


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _labels(cases):
    seen = []
    for c in cases:
        for label in c["frameworks"]:
            if label not in seen:
                seen.append(label)
    return seen


def _fw_cell(fw, key="samples_per_s", digits=0):
    if fw is None:
        return "-"
    if fw.get(key):
        return _med(fw[key], digits)
    return "error" if "error" in fw else "-"


def _throughput_section(title, res, subject, note=""):
    cases = res["cases"]
    labels = _labels(cases)
    others = [lb for lb in labels if lb != subject]
    header = ["model", "batch"] + [f"{lb} samples/s" for lb in labels]
    for o in others:
        header += [f"{subject}/{o} median", "min-max"]
    rows = []
    for c in cases:
        row = [c["arch"], c["batch"]] + [_fw_cell(c["frameworks"].get(lb)) for lb in labels]
        for o in others:
            r = c["ratios"].get(o)
            row += ["-", "-"] if not r or "median" not in r else [f"{r['median']:.2f}", _range(r)]
        rows.append(row)
    return f"## {title}\n\n{note}{_table(header, rows)}\n"


def _latency_section(res, subject):
    cases = res["cases"]
    labels = _labels(cases)
    others = [lb for lb in labels if lb != subject]
    header = ["model"] + [f"{lb} us" for lb in labels]
    for o in others:
        header += [f"speed-up vs {o} median", "min-max"]
    rows = []
    for c in cases:
        row = [c["arch"]] + [_fw_cell(c["frameworks"].get(lb), "latency_us") for lb in labels]
        for o in others:
            r = c["ratios"].get(o)
            row += ["-", "-"] if not r or "median" not in r else [f"{r['median']:.2f}", _range(r)]
        rows.append(row)
    note = (
        "Median time of one `predict_on_batch` call on a single sample (28x28x1, or 32x32x3 for cifar); speed-up = "
        "other's latency / " + subject + "'s, per round.\n\n"
    )
    return f"## Batch-1 latency\n\n{note}{_table(header, rows)}\n"


def _notes_word(matches) -> str:
    if matches is None:
        return ""  # a model the engineering notes do not list
    return f" ({'matches' if matches else 'DIFFERS FROM'} the notes)"


def _peak_section(res, subject):
    sg = res["sgemm"]
    lines = ["## Fraction of the machine's sgemm peak", ""]
    lines.append(
        f"NumPy {sg['n']}x{sg['n']} float32 matmul, {sg['threads']} threads: "
        f"**{_med(sg.get('gflops'), 1)} GFLOP/s** median "
        f"(range {_range(sg.get('gflops'), 1)}), timed in the same rounds as the models; "
        "each fraction is that round's achieved GFLOP/s over that round's sgemm."
    )
    if sg.get("error"):
        lines.append(f"sgemm error: {sg['error']}")
    lines.append("")
    fl = res["flops"]
    lines.append(
        "FLOPs per sample from the model shapes (multiply-add = 2): "
        + "; ".join(
            f"{a} {v['forward_mflop']:.2f} MFLOP forward, {v['train_mflop']:.2f} training step, "
            f"{v['params']:,} params{_notes_word(v['matches_notes'])}"
            for a, v in fl.items()
        )
        + "."
    )
    lines.append("")
    lines.append("")
    labels = _labels(res["cases"])
    header = ["model", "task", "MFLOP/sample"]
    for lb in labels:
        header += [f"{lb} GFLOP/s", f"{lb} % of peak (range)"]
    rows = []
    for c in res["cases"]:
        row = [c["arch"], c["task"], f"{c['mflop_per_sample']:.2f}"]
        for lb in labels:
            fw = c["frameworks"].get(lb, {})
            fr = fw.get("fraction_of_peak")
            row += [
                _n(fw.get("gflops"), 1),
                "-" if not fr else f"{fr['median'] * 100:.0f}% ({_range(fr, 0, 100)})",
            ]
        rows.append(row)
    return "\n".join(lines) + _table(header, rows) + "\n"


def _rss_section(res):
    rows = []
    for r in res["runs"]:
        if "error" in r:
            rows.append([r["arch"], r["framework"], "error", "-", "-", "-"])
            continue
        rows.append(
            [
                r["arch"],
                r["framework"],
                _n(r["maxrss_mb"], 1),
                _n(r["maxrss_before_fit_mb"], 1),
                _n(r["fit_over_before_mb"], 1),
                _n(r["fit_s"], 1),
            ]
        )
    n = res["runs"][0]["samples"] if res["runs"] else "?"
    note = (
        f"One epoch of training on {n} random 28x28x1 samples, batch 64, in a fresh process "
        "per framework; `ru_maxrss` after the fit. 'before fit' is the peak after imports, "
        "data and model; the fit time is a single noisy run.\n\n"
    )
    return (
        "## Peak memory of a one-epoch fit\n\n"
        + note
        + _table(
            ["model", "framework", "peak RSS MB", "before fit MB", "fit adds MB", "fit s"], rows
        )
        + "\n"
    )


def _import_section(res):
    rows = [
        [
            r["what"],
            _med(r["seconds"], 3),
            _range(r["seconds"], 3),
            "-" if r["net_of_startup_s"] is None else f"{r['net_of_startup_s']:.3f}",
        ]
        for r in res["rows"]
    ]
    note = 'Wall time of a fresh `python -c "import X"` (interpreter start-up included).\n\n'
    return (
        "## Import time\n\n"
        + note
        + _table(["import", "median s", "min-max s", "net of start-up s"], rows)
        + "\n"
    )


def _scaling_section(res, subject):
    pts = res["points"]
    labels = _labels(pts)
    header = ["task", "series", "batch", "image", "MFLOP/step"]
    for lb in labels:
        header += [f"{lb} ms/step", f"{lb} us/sample", f"{lb} GFLOP/s", f"{lb} peak MB"]
    header += ["ratio"]
    rows = []
    for p in pts:
        row = [
            p["task"],
            p["series"],
            p["batch"],
            p["image"],
            _n(p["batch"] * p["mflop_per_sample"], 1),
        ]
        for lb in labels:
            fw = p["frameworks"].get(lb, {})
            ms = fw.get("ms_per_step")
            mem = (fw.get("memory") or {}).get("peak_over_idle_mb")
            row += [
                _n(ms, 2),
                _n(None if ms is None else ms * 1e3 / p["batch"], 1),
                _n(fw.get("gflops"), 1),
                _n(mem, 1),
            ]
        rat = [r["median"] for r in p["ratios"].values() if "median" in r]
        row.append(f"{rat[0]:.2f}" if rat else "-")
        rows.append(row)
    fits = []
    for key, f in res["fits"].items():

        def show(fit, unit):
            if not fit:
                return "-"
            return f"{fit['intercept']:.2f} + {fit['slope']:.4g}·{unit} (R² {fit['r2']:.3f})"

        fits.append(
            [
                key,
                show(f["time_vs_batch_ms"], "batch"),
                show(f["time_vs_mflop_per_step_ms"], "MFLOP"),
                show(f["memory_vs_batch_mb"], "batch"),
                show(f["memory_vs_pixels_mb"], "pixels"),
            ]
        )
    note = (
        "Functional model. 'peak MB' is the peak RSS during one call (kernel high-water "
        "mark reset just before) over the worker's RSS before the model was built; "
        "ratio = first framework's throughput / the second's.\n\n"
    )
    fit_note = (
        "\n\nLinear fits (least squares): time per step vs batch (image 28) and vs "
        "MFLOP per step (image series); peak MB vs batch and vs batch x pixels.\n\n"
    )
    return (
        "## Scaling with batch and image size\n\n"
        + note
        + _table(header, rows)
        + fit_note
        + _table(
            ["task/framework", "ms vs batch", "ms vs MFLOP", "MB vs batch", "MB vs pixels"], fits
        )
        + "\n"
    )


def _layouts(results):
    found = results.get("torch_layouts") or {}
    if not found or results["config"]["torch_layout"] != "auto":
        return ""
    return (
        " (the faster in a quick probe of both: "
        + ", ".join(f"{k} {v}" for k, v in found.items())
        + ")"
    )


def _openblas_note(machine: dict, blas: dict) -> str:
    if machine.get("openblas_vars_unset"):
        return "; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset for the workers (as on a user's machine)"
    if blas.get("OPENBLAS_CORETYPE"):
        return f"; pinned with OPENBLAS_CORETYPE={blas['OPENBLAS_CORETYPE']} (--openblas pinned)"
    return "; OPENBLAS_CORETYPE not set (as on a user's machine)"


def render_markdown(results: dict) -> str:
    m = results["machine"]
    subject = results["config"]["subject"]
    hellos = results.get("workers", {})
    vers = {}
    for h in hellos.values():
        vers.update({k: v for k, v in h.get("versions", {}).items() if k not in ("blas", "path")})
    blas = next(
        (
            h["versions"]["blas"]
            for h in hellos.values()
            if isinstance(h.get("versions", {}).get("blas"), dict)
        ),
        None,
    )
    out = [f"# Benchmarks: {results['date']} on {m['host']}", ""]
    out.append(f"Command: `{results['command']}`")
    out.append("")
    out.append(
        f"- CPU: {m['cpu_model']} ({', '.join(m['cpu_flags']) or 'no flag info'}), "
        f"{m['usable_cores']} usable of {m['cpu_count']} cores, "
        f"{_n(m['mem_gib'], 1)} GiB; load average {m['loadavg_start'][0]:.2f} at start, "
        f"{m.get('loadavg_end', [float('nan')])[0]:.2f} at end"
    )
    out.append(
        f"- Python {m['python']}, {m['platform']}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(vers.items()))
    )
    if blas:
        cfg = blas.get("openblas configuration")
        out.append(
            f"- NumPy BLAS: {blas.get('name')} {blas.get('version')}"
            + (f" ({' '.join(cfg.split())})" if cfg else "")
            + f"; kernel in the workers: {blas.get('kernel', 'unknown')}"
            + _openblas_note(m, blas)
        )
    c = results["config"]
    out.append(
        f"- {c['threads']} threads per framework; {c['rounds']} alternating rounds, "
        f"~{c['block']} s blocks, {c['pause']} s pause before each block; "
        f"torch layout: {c['torch_layout']}"
        + _layouts(results)
        + (
            "; glibc malloc: keep (no fresh page faults, see `--malloc`)"
            if c.get("malloc") == "keep"
            else ""
        )
    )
    out.append(f"- Wall time of this run: {results['wall_s']:.0f} s")
    out.append("")
    if m["loadavg_start"][0] > 0.5 * (m["usable_cores"] or 1):
        out.append(
            f"**Warning: the machine was busy when the run started (1-minute load "
            f"{m['loadavg_start'][0]:.1f} on {m['usable_cores']} cores). Other processes "
            "took CPU time from the timed blocks; multi-threaded timings suffer most (a "
            "descheduled thread stalls its pool). Re-run on an idle machine before "
            "quoting these numbers.**"
        )
        out.append("")
    out.append(
        "Ratios are computed per round from blocks run within about a second of each "
        "other, then summarised; trust ratios, not absolute numbers, on a noisy machine."
    )
    out.append("")
    figs = results["figures"]
    sections = {
        "train": lambda r: _throughput_section(
            "Training step",
            r,
            subject,
            "samples/s of `train_on_batch` (rmsprop, sparse categorical cross-entropy); torch: "
            "zero_grad, forward, cross_entropy, backward, step, `loss.item()`.\n\n",
        ),
        "infer": lambda r: _throughput_section(
            "Inference",
            r,
            subject,
            "samples/s of `predict_on_batch`; torch: forward + softmax under `inference_mode`.\n\n",
        ),
        "latency": lambda r: _latency_section(r, subject),
        "peak": lambda r: _peak_section(r, subject),
        "rss": _rss_section,
        "import": _import_section,
        "scaling": lambda r: _scaling_section(r, subject),
    }
    for name, fn in sections.items():
        if name in figs:
            out.append(fn(figs[name]))
    if results["errors"]:
        out.append("## Errors\n")
        seen = set()
        for e in results["errors"]:
            key = (e["figure"], e["who"], e["error"])
            if key not in seen:
                seen.add(key)
                out.append(f"- {e['figure']}: {e['who']}: `{e['error']}`")
        out.append("")
    return "\n".join(out)

"""``filterbank train``: build or load a model, fit it, evaluate it on the test split, save the run.

Writes to the run folder: ``model.fbk`` (the trained model with its optimizer state),
``metrics.json`` (test accuracy and loss, the history, timings, the data and the
configuration) and ``curves.png`` (loss/accuracy per epoch; needs matplotlib).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..saving.errors import SaveError
from . import data as data_mod
from . import models as M
from . import report, resume
from .common import CLIError, user_errors, warn


def _load_model_and_data(args):
    """(model, data, spec, notes): the model built for (or loaded to match) the data."""
    spec = M.resolve(args.model)
    M.make_optimizer(args.optimizer or M.DEFAULT_OPTIMIZER, None)  # a typo fails before any work
    notes: list[str] = []
    if spec.kind == "saved":
        model = M.load_saved(spec.path)
        data = M.load_data_for(model, args.data, args.seed, args.test_split, f"model {spec.path}")
        if getattr(model, "compiled", False) and model.optimizer is not None:
            steps = int(getattr(model.optimizer, "iterations", 0))
            notes.append(
                f"continuing to train {spec.path} ({steps:,} optimizer steps so far; "
                "weights, optimizer state and compile settings as saved)."
            )
    else:
        data = data_mod.load(
            args.data, image_size=args.image_size, seed=args.seed, test_split=args.test_split
        )
        model = M.build(spec, data.input_shape, data.num_classes)
        M.check_fits_data(
            model,
            data.input_shape,
            data.num_classes,
            f"the model from {spec.path}" if spec.path else f"model {spec.name!r}",
        )
    if args.train_samples is not None and args.train_samples < len(data.x_train):
        data.x_train = data.x_train[: args.train_samples]
        data.y_train = data.y_train[: args.train_samples]
        data.details["train_samples_limit"] = args.train_samples
    with user_errors("compiling the model"):
        notes += M.compile_for_training(model, args.optimizer, args.learning_rate)
    return model, data, spec, notes


def _fit(model, data, args, timer, extra=()):
    y_train = M.targets(model, data.y_train, data.num_classes)
    with user_errors("training"):
        history = model.fit(
            data.x_train,
            y_train,
            epochs=args.epochs,
            batch_size=args.batch_size,
            validation_split=args.validation_split,
            verbose=args.verbose,
            callbacks=[timer, *extra],
        )
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def _evaluate(model, data, batch_size: int) -> tuple[float, float]:
    """(test loss, test accuracy); accuracy from argmax(predictions), whatever the metrics."""
    y_test = M.targets(model, data.y_test, data.num_classes)
    with user_errors("evaluating on the test split"):
        logs = model.evaluate(
            data.x_test, y_test, batch_size=batch_size, verbose=0, return_dict=True
        )
        if "accuracy" in logs:
            accuracy = float(logs["accuracy"])
        else:
            predicted = model.predict(data.x_test, batch_size=batch_size, verbose=0).argmax(-1)
            accuracy = float(np.mean(predicted == data.y_test))
    return float(logs["loss"]), accuracy


def run(args) -> int:
    from .distributed_run import session_from_env

    session = session_from_env()  # None unless mpirun started several processes
    if session is None:
        return _run(args, None)
    with session.guard():
        return _run(args, session)


def _run(args, session) -> int:
    started = time.perf_counter()
    from ..utils import set_random_seed

    root = session is None or session.is_root
    out, previous = resume.prepare(args.out, args.overwrite) if root else (None, None)
    if previous is not None:
        done = resume.backup_epochs(out)
        print(
            f"Resuming the unfinished run in {_shown(out)} from its backup ({done} epoch(s) "
            "done before)."
            if done
            else f"Starting the interrupted run in {_shown(out)} again (no epoch had finished).",
            flush=True,
        )
    set_random_seed(args.seed)  # initial weights, shuffling, dropout: all from this seed
    model, data, spec, notes = _load_model_and_data(args)
    if args.verbose:
        model.summary()
    for note in notes:
        print(note)
    n_val = int(len(data.x_train) - np.floor(len(data.x_train) * (1 - args.validation_split)))
    print(
        f"Data: {data.name} ({data.source}), {len(data.x_train) - n_val:,} training"
        + (f" + {n_val:,} validation" if n_val else "")
        + f" / {len(data.x_test):,} test images of shape {data.input_shape}, "
        f"{data.num_classes} classes; labels {M.label_encoding(model)} for "
        f"{M.loss_name(model) or 'the loss'}.",
        flush=True,
    )

    timer = report.EpochTimer()
    fit_start = time.perf_counter()
    # history.json after every epoch: what `filterbank explore` draws while a run trains
    live = [report.LiveHistory(out, args.epochs)] if out is not None else []
    if session is not None:  # data-parallel: see distributed_run.py (the same backup folder)
        from .distributed_run import distributed_callbacks

        history = _fit(model, data, args, timer, [*distributed_callbacks(session, out), *live])
    else:
        backup, progress = resume.callbacks(out)
        try:
            history = _fit(model, data, args, timer, (backup, progress, *live))
        except KeyboardInterrupt:
            return resume.interrupted(model, out, progress, previous, args)
    train_seconds = time.perf_counter() - fit_start
    eval_start = time.perf_counter()
    test_loss, test_accuracy = _evaluate(model, data, batch_size=max(args.batch_size, 256))
    eval_seconds = time.perf_counter() - eval_start
    print(
        f"Test accuracy: {test_accuracy:.4f} - test loss: {test_loss:.4f} "
        f"({len(data.x_test):,} test images)"
    )
    if not root:
        return 0  # rank 0 writes the run folder

    epochs_run = len(timer.seconds)
    n_train = len(data.x_train) - n_val
    model_path = out / report.MODEL_FILE
    metrics = {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "history": history,
        "timings": {
            "seconds_per_epoch": [round(s, 3) for s in timer.seconds],
            "train_seconds": round(train_seconds, 3),
            "train_samples_per_second": (
                round(n_train * epochs_run / train_seconds, 1) if train_seconds > 0 else None
            ),
            "evaluate_seconds": round(eval_seconds, 3),
            "total_seconds": None,  # filled in below, after saving
        },
        "data": data.describe(),
        "model": {
            "source": spec.kind,
            "name": spec.name,
            "file": str(spec.path.resolve()) if spec.path else None,
            "class": type(model).__name__,
            "params": int(model.count_params()),
            "input_shape": list(data.input_shape),
        },
        "config": {
            "epochs": args.epochs,
            "epochs_run": epochs_run,
            "batch_size": args.batch_size,
            "optimizer": _optimizer_config(model),
            "loss": M.loss_name(model),
            "labels": M.label_encoding(model),
            "seed": args.seed,
            "validation_split": args.validation_split,
            "validation_samples": n_val,
        },
        "command": ["filterbank", *args.argv],
        "files": {"model": report.MODEL_FILE, "curves": None},
        "environment": report.environment(),
        **({"distributed": session.describe()} if session is not None else {}),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        _write_run(out, model, model_path, history, metrics, spec, data, started)
    except SaveError as e:
        raise CLIError(
            f"{e} The trained state is kept in {_shown(resume.backup_dir(out))}: "
            "re-run the same command to save it without training again."
        ) from e
    resume.finished(out)
    written = [report.MODEL_FILE, report.METRICS_FILE]
    if metrics["files"]["curves"]:
        written.append(report.CURVES_FILE)
    print(f"Wrote {', '.join(_shown(out / f) for f in written)}")
    if not metrics["files"]["curves"]:
        print(
            "(no curves.png: matplotlib is not installed or could not draw; pip install matplotlib)"
        )
    return 0


def _shown(path) -> str:
    """A path as printable text (bytes that are not UTF-8 shown as escapes)."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def _write_run(out, model, model_path, history, metrics, spec, data, started) -> None:
    with user_errors(f"saving the model to {_shown(model_path)}"):
        model.save(model_path)
    curves = out / report.CURVES_FILE
    title = _shown(
        f"{spec.name} on {Path(data.name).name if data.source == 'folder' else data.name}"
    )
    try:
        drawn = report.plot_curves(history, curves, title)
    except SaveError:
        raise
    except Exception as e:  # a plot is a nicety: never lose a run over it
        warn(f"could not draw {report.CURVES_FILE} ({type(e).__name__}: {str(e)[:200]})")
        drawn = False
    if drawn:
        metrics["files"]["curves"] = report.CURVES_FILE
    elif curves.exists():
        curves.unlink()  # a stale plot from an overwritten run would mislead
    metrics["timings"]["total_seconds"] = round(time.perf_counter() - started, 3)
    report.write_json(out / report.METRICS_FILE, metrics)
    (out / report.HISTORY_FILE).unlink(missing_ok=True)  # metrics.json has it all now


def _optimizer_config(model) -> dict:
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return {}
    config = opt.get_config()
    keep = {
        k: v
        for k, v in config.items()
        if v is not None
        and k
        in (
            "name",
            "learning_rate",
            "rho",
            "momentum",
            "epsilon",
            "beta_1",
            "beta_2",
            "centered",
            "nesterov",
            "weight_decay",
        )
    }
    keep["iterations"] = int(getattr(opt, "iterations", 0))
    return keep


__all__ = ["run"]

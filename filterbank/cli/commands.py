"""``filterbank evaluate``, ``predict``, ``summary`` and ``datasets``.

Which data a saved model belongs to (for ``evaluate`` and ``predict --samples``): ``--data``
when given; else the ``metrics.json`` that ``filterbank train`` wrote beside the model file
(dataset, class names, preprocessing, seed and test split); else a guess from the model's
shape -- 28x28x1 images and 10 classes: mnist, 9x9x1 and 2 classes: xo -- announced as such.
``predict IMAGE`` uses the same record for class names, value range and image polarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data as data_mod
from . import images, report
from . import models as M
from .common import CLIError, user_errors

_GUESSES = {((28, 28, 1), 10): "mnist", ((9, 9, 1), 2): "xo"}


@dataclass
class ModelData:
    """What is known about the data a model was trained on."""

    name: str | None
    class_names: list[str] | None
    value_range: tuple[float, float]
    light_on_dark: bool | None
    seed: int
    test_split: float
    how: str  # "--data", "metrics.json" or "guessed from the model's shape"


def model_data(model_path: Path, model, data_arg, seed_arg, test_split_arg) -> ModelData:
    """Apply the module docstring's rule; ``name`` is None when nothing is known."""
    shape = M.model_input_shape(model)
    out_shape = getattr(model, "output_shape", None)
    classes = int(out_shape[-1]) if out_shape and not isinstance(out_shape, list) else None
    recorded = report.read_run_metrics(model_path)
    rec = recorded["data"] if recorded else {}
    rec_pre = rec.get("preprocessing", {}) if isinstance(rec.get("preprocessing"), dict) else {}
    name, how = None, None
    if data_arg is not None:
        name, how = data_arg, "--data"
    elif rec.get("name"):
        name, how = str(rec["name"]), f"{report.METRICS_FILE} beside the model"
    elif (shape, classes) in _GUESSES:
        name, how = _GUESSES[(shape, classes)], "guessed from the model's shape; --data chooses"
    same = rec and name is not None and _same_dataset(name, str(rec.get("name", "")))
    builtin = data_mod.canonical_name(name) if name else None
    value_range = (-1.0, 1.0) if builtin == "xo" else (0.0, 1.0)
    # Built-in data are light on dark; a 1-channel model of unknown data is taken as MNIST-like.
    light_on_dark = True if builtin or (name is None and shape[2] == 1) else None
    class_names = None
    if same:
        if isinstance(rec_pre.get("value_range"), list) and len(rec_pre["value_range"]) == 2:
            value_range = tuple(float(v) for v in rec_pre["value_range"])
        recorded_polarity = rec_pre.get("light_on_dark", light_on_dark)
        light_on_dark = None if recorded_polarity is None else bool(recorded_polarity)
        if isinstance(rec.get("class_names"), list):
            class_names = [str(c) for c in rec["class_names"]]
    trained_seed = (recorded or {}).get("config", {}).get("seed", 0)
    seed = seed_arg if seed_arg is not None else int(rec.get("seed", trained_seed) if same else 0)
    split = (
        test_split_arg
        if test_split_arg is not None
        else float(rec.get("test_split", 0.2) if same else 0.2)
    )
    return ModelData(name, class_names, value_range, light_on_dark, seed, split, how or "")


def _same_dataset(a: str, b: str) -> bool:
    ca, cb = data_mod.canonical_name(a), data_mod.canonical_name(b)
    if ca or cb:
        return ca == cb
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def _load_model(path: str):
    path = Path(path).expanduser()
    if path.is_dir():
        raise CLIError(
            f"{str(path)!r} is a folder; expected a model file (e.g. {path / report.MODEL_FILE})."
        )
    return path, M.load_saved(path)


def _load_data(path, model, info: ModelData):
    if info.name is None:
        raise CLIError(
            f"cannot tell which dataset {str(path)!r} was trained on (no "
            f"{report.METRICS_FILE} beside it); pass --data mnist, fashion_mnist, "
            "xo or a folder."
        )
    if info.how.startswith("guessed"):
        print(f"Data: {info.name} ({info.how}).")
    return M.load_data_for(model, info.name, info.seed, info.test_split, f"model {path}")


# ---- evaluate ---------------------------------------------------------------------------------
def evaluate(args) -> int:
    path, model = _load_model(args.model)
    info = model_data(path, model, args.data, args.seed, args.test_split)
    data = _load_data(path, model, info)
    M.ensure_compiled_for_evaluation(model)
    y_test = M.targets(model, data.y_test, data.num_classes)
    with user_errors("evaluating"):
        logs = model.evaluate(
            data.x_test, y_test, batch_size=args.batch_size, verbose=args.verbose, return_dict=True
        )
        predicted = model.predict(data.x_test, batch_size=args.batch_size, verbose=0).argmax(-1)
    if not np.isfinite(float(logs["loss"])):
        raise CLIError(
            f"the test loss of {str(path)!r} is {float(logs['loss'])}: the model's "
            "outputs are NaN or infinite (a run that diverged?). Retrain it with a "
            "lower --learning-rate."
        )
    correct = int(np.sum(predicted == data.y_test))
    n = len(data.y_test)
    print(
        f"Test accuracy: {correct / n:.4f} ({correct:,}/{n:,}) - test loss: "
        f"{float(logs['loss']):.4f} - {data.name} ({data.source})"
    )
    return 0


# ---- predict ----------------------------------------------------------------------------------
def _class_names(info: ModelData, data, classes: int) -> list[str]:
    if data is not None:
        return list(data.class_names)
    if info.class_names and len(info.class_names) == classes:
        return info.class_names
    names = data_mod.builtin_class_names(info.name)
    return names if names is not None else [str(i) for i in range(classes)]


def _predict(model, x, batch_size):
    # Overflow warnings would print before the one-line error below says what they mean.
    with user_errors("predicting"), np.errstate(over="ignore", invalid="ignore"):
        probs = M.probabilities(model.predict(x, batch_size=batch_size, verbose=0))
    bad = int(np.count_nonzero(~np.isfinite(probs).all(axis=-1)))
    if bad:
        raise CLIError(
            f"the model's outputs are NaN or infinite for {bad} of {len(probs)} "
            "image(s), so no class can be named; the model is broken (a run that "
            "diverged?). Retrain it with a lower --learning-rate."
        )
    return probs


def predict(args) -> int:
    if bool(args.images) == (args.samples is not None):
        raise CLIError("predict needs image files or --samples N (one of them, not both).")
    path, model = _load_model(args.model)
    shape = M.model_input_shape(model)
    info = model_data(path, model, args.data, args.seed, args.test_split)
    if args.samples is not None:
        return _predict_samples(args, path, model, info)
    x, inverted = images.prepare(
        args.images,
        shape,
        invert=args.invert,
        light_on_dark=info.light_on_dark,
        value_range=info.value_range,
    )
    probs = _predict(model, x, args.batch_size)
    names = _class_names(info, None, probs.shape[1])
    top = min(args.top, probs.shape[1])
    for image, row, flipped in zip(args.images, probs, inverted):
        order = np.argsort(-row, kind="stable")[:top]
        ranked = "  ".join(f"{names[i]} {100 * row[i]:.1f}%" for i in order)
        note = "  (inverted to match the training images)" if flipped else ""
        print(f"{image}: {ranked}{note}")
    return 0


def _predict_samples(args, path, model, info: ModelData) -> int:
    data = _load_data(path, model, info)
    n = len(data.x_test)
    if args.samples > n:
        raise CLIError(
            f"--samples {args.samples} is more than the {n:,} test images of {data.name}."
        )
    index = np.sort(np.random.default_rng(info.seed).choice(n, size=args.samples, replace=False))
    probs = _predict(model, data.x_test[index], args.batch_size)
    names = _class_names(info, data, probs.shape[1])
    predicted = probs.argmax(axis=1)
    width = max(5, *(len(c) for c in names))
    print(
        f"{args.samples} test images of {data.name} ({data.source}), chosen with seed {info.seed}:"
    )
    print(f"{'index':>6}  {'true':<{width}}  {'predicted':<{width}}  probability")
    for i, p, row in zip(index, predicted, probs):
        true = names[int(data.y_test[i])]
        mark = "" if p == data.y_test[i] else "  <- wrong"
        print(
            f"{int(i):>6}  {true:<{width}}  {names[int(p)]:<{width}}  {100 * row[p]:10.1f}%{mark}"
        )
    correct = int(np.sum(predicted == data.y_test[index]))
    print(f"{correct}/{args.samples} correct")
    if getattr(args, "out", None) is not None:
        from ..explain.plots_training import plot_image_grid

        args.out.mkdir(parents=True, exist_ok=True)
        plot_image_grid(
            data.x_test[index],
            data.y_test[index],
            predicted,
            class_names=names,
            probabilities=probs.max(axis=1),
            save=args.out / "predictions.png",
        )
        print(f"Wrote {args.out / 'predictions.png'}")
    return 0


# ---- summary ----------------------------------------------------------------------------------
def summary(args) -> int:
    path, model = _load_model(args.model)
    model.summary()
    if getattr(model, "compiled", False) and model.optimizer is not None:
        opt = model.optimizer
        lr = opt.get_config().get("learning_rate")
        print(
            f"Compiled: optimizer {opt.get_config().get('name', type(opt).__name__)} "
            f"(learning rate {lr}, {int(getattr(opt, 'iterations', 0)):,} steps taken), "
            f"loss {M.loss_name(model) or '?'}, metrics {(model.compile_arguments or {}).get('metrics')}"
        )
    else:
        print("Not compiled (no loss or optimizer saved).")
    recorded = report.read_run_metrics(path)
    if recorded:
        d = recorded["data"]
        acc = recorded.get("test_accuracy")
        print(
            f"Trained on {d.get('name')} ({d.get('source')})"
            + (f"; test accuracy {acc:.4f}" if isinstance(acc, (int, float)) else "")
            + f" (from {path.parent / report.METRICS_FILE})"
        )
    return 0


# ---- datasets ---------------------------------------------------------------------------------
def datasets(args) -> int:
    from ..datasets import available

    info = available()
    rows = [("name", "available", "source", "train/test", "where")]
    for name, entry in info.items():
        where = entry.get("location") or "-"
        rows.append(
            (
                name,
                "yes" if entry["available"] else "no",
                entry.get("source") or "-",
                entry.get("samples", "-"),
                where,
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r[:4], widths)) + "  " + str(r[4]))
    print()
    for name, entry in info.items():
        print(f"{name}: {entry.get('note', '')}")
    print(
        "DIR: any folder with one subfolder of images per class (or train/ and test/ "
        "subfolders holding them), e.g. --data photos/"
    )
    return 0


__all__ = ["datasets", "evaluate", "model_data", "predict", "summary"]

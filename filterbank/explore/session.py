"""The model side of ``filterbank explore``: one loaded model, its run folder, and the answers.

Everything here is NumPy and the public model API; :mod:`filterbank.explore.app` only turns
requests into calls. A model's layers keep per-call caches, so every computation takes the
session's lock: requests from many clients take turns and get the same numbers as serial ones.

Run folders: ``filterbank train`` writes ``model.fbk`` and, at the end, ``metrics.json``;
while it trains it also rewrites ``history.json`` after every epoch, which
:meth:`ExploreSession.history` prefers while it is newer.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(2, 3, name="c"),
    ...                           layers.Flatten(name="f"), layers.Dense(3, name="d")])
    >>> s = ExploreSession(model)
    >>> [(l["name"], l["output_shape"]) for l in s.describe()["layers"]]
    [('c', [4, 4, 2]), ('f', [32]), ('d', [3])]
    >>> out = s.predict(np.zeros((6, 6, 1), np.float32))
    >>> len(out["probabilities"]), out["predicted"] in range(3)
    (3, True)
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from .helpers import (
    activation_name,
    builtin_class_names,
    config_line,
    encode,
    explain_available,
    explain_module,
    inbound,
    layer_kind,
    plain,
    probabilities,
    producer_name,
    shape_of,
)
from .preprocess import BadInput, from_model_range, to_model_range

MODEL_FILE = "model.fbk"
METRICS_FILE = "metrics.json"
LIVE_HISTORY_FILE = "history.json"
MAX_SAMPLES = 64
SNAPSHOTS = 8  # inputs whose every layer value is kept for /api/explain


class ExploreSession:
    """A model (and optionally its run folder) ready to answer the page's questions.

    Args:
        model: a filterbank model taking (batch, height, width, channels) images.
        run_dir: the run folder (for metrics.json, history.json and the dataset), or None.
        model_path: where the model was loaded from (shown on the page), or None.
    """

    def __init__(self, model, run_dir: Path | None = None, model_path: Path | None = None):
        shape = getattr(model, "input_shape", None)
        if isinstance(shape, list) or shape is None or len(shape) != 4 or None in shape[1:]:
            raise ValueError(
                f"explore works with image models taking (batch, height, width, "
                f"channels); this model takes {shape}."
            )
        self.model = model
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.model_path = Path(model_path) if model_path is not None else None
        self.input_shape = tuple(int(d) for d in shape[1:])
        self.lock = threading.Lock()
        self._snapshots: dict = {}
        self._layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
        self._by_name = {layer.name: layer for layer in self._layers}
        out = model.output_shape
        self.num_classes = int(out[-1])
        self.data_info = self._data_info()
        self._data = None

    # ---- what the page shows first ------------------------------------------------------
    def _data_info(self) -> dict:
        info = {
            "name": None,
            "class_names": [str(i) for i in range(self.num_classes)],
            "value_range": [0.0, 1.0],
            "light_on_dark": self.input_shape[2] == 1,
            "seed": 0,
            "test_split": 0.2,
            "how": "",
            "test_accuracy": None,
        }
        if self.model_path is None:
            return info
        from ..cli.commands import model_data
        from ..cli.report import read_run_metrics

        md = model_data(self.model_path, self.model, None, None, None)
        info.update(
            name=md.name,
            value_range=list(md.value_range),
            light_on_dark=md.light_on_dark,
            seed=md.seed,
            test_split=md.test_split,
            how=md.how,
        )
        names = md.class_names or builtin_class_names(md.name)
        if names and len(names) == self.num_classes:
            info["class_names"] = list(names)
        recorded = read_run_metrics(self.model_path) or {}
        if isinstance(recorded.get("test_accuracy"), (int, float)):
            info["test_accuracy"] = float(recorded["test_accuracy"])
        return info

    def _arithmetic(self) -> dict:
        """The explain API's layer arithmetic (formulas, receptive fields) by layer name."""
        from ..explain import layer_arithmetic

        try:
            return {row["name"]: row for row in layer_arithmetic(self.model)}
        except Exception:  # formulas are a nicety: never let them stop the page
            return {}

    def describe(self) -> dict:
        """The model as the page's layer cards, plus classes, input and run facts."""
        layers = []
        arithmetic = self._arithmetic()
        for layer in self._layers:
            in_shapes = [shape_of(t.shape) for t in inbound(layer)]
            out_shape = shape_of(layer.output.shape)
            layers.append(
                {
                    "name": layer.name,
                    "type": type(layer).__name__,
                    "kind": layer_kind(layer),
                    "output_shape": out_shape,
                    "input_shapes": in_shapes,
                    "inputs": [producer_name(t) for t in inbound(layer)],
                    "params": int(layer.count_params()),
                    "config": config_line(layer),
                    "formulas": [],
                    "receptive_field": None,
                    "dense_equivalent": None,
                    "activation": activation_name(layer),
                    "has_filters": layer_kind(layer) in ("conv", "dense")
                    and bool(layer.get_weights()),
                }
            )
            row = arithmetic.get(layer.name)
            if row:
                lines = (row.get("output_formula") or "").splitlines()
                if row.get("params"):
                    lines.append(f"params: {row['param_formula']}")
                layers[-1].update(
                    formulas=lines or layers[-1]["formulas"],
                    receptive_field=row.get("receptive_field"),
                    dense_equivalent=row.get("dense_formula"),
                )
        return {
            "name": self.model.name,
            "class": type(self.model).__name__,
            "params": int(self.model.count_params()),
            "input_shape": list(self.input_shape),
            "input_value_range": self.data_info["value_range"],
            "light_on_dark": self.data_info["light_on_dark"],
            "classes": self.data_info["class_names"],
            "data": self.data_info["name"],
            "test_accuracy": self.data_info["test_accuracy"],
            "model_file": self.model_path.name if self.model_path else None,
            "run": self.run_dir.name if self.run_dir else None,
            "layers": layers,
            "explain": explain_available(),
        }

    # ---- predictions --------------------------------------------------------------------
    def model_input(self, pixels01: np.ndarray) -> np.ndarray:
        return to_model_range(pixels01, self.data_info["value_range"])[None]

    def predict(
        self, pixels01: np.ndarray, activations: bool = False, encoding: str = "lists"
    ) -> dict:
        """Probabilities for one (h, w, c) image in [0, 1]; every layer's output if asked."""
        x = self.model_input(pixels01)
        with self.lock:
            # Probabilities from the model itself (its prediction kernels), maps from the
            # explain API.
            raw = np.asarray(self.model.predict(x, verbose=0, batch_size=1), dtype=np.float64)
            maps = self._feature_maps(x) if activations else None
        probs = probabilities(raw)[0]
        answer = {
            "probabilities": [float(p) for p in probs],
            "predicted": int(probs.argmax()),
            "predicted_class": self.data_info["class_names"][int(probs.argmax())],
            "input": encode(pixels01, encoding),
        }
        if activations:
            answer["activations"] = [
                {
                    "layer": name,
                    "shape": list(out.shape),
                    "min": float(out.min()),
                    "max": float(out.max()),
                    "values": encode(out, encoding),
                }
                for name, out in maps.items()
            ]
        return answer

    def _feature_maps(self, x) -> dict:
        from ..explain import feature_maps

        maps = feature_maps(self.model, x)
        return {layer.name: np.asarray(maps[layer.name]) for layer in self._layers}

    # ---- one cell's arithmetic, saliency, Grad-CAM (the explain API) --------------------
    def layer(self, name: str):
        if name not in self._by_name:
            from ..errors import did_you_mean

            raise BadInput(f"unknown layer {name!r}. {did_you_mean(name, self._by_name)}", 404)
        return self._by_name[name]

    def check_index(self, layer, index) -> tuple:
        shape = shape_of(layer.output.shape)
        if isinstance(index, int) and not isinstance(index, bool):
            index = [index]
        if (
            not isinstance(index, list)
            or not index
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in index)
        ):
            raise BadInput(
                f"index must be a list of integers, one per axis of layer "
                f"{layer.name!r}'s output {tuple(shape)}, e.g. "
                f"{[0] * len(shape)}; got {index!r}."
            )
        if len(index) != len(shape):
            raise BadInput(
                f"index {index} has {len(index)} entries; layer {layer.name!r} "
                f"outputs shape {tuple(shape)}, so it needs {len(shape)} "
                f"(row, column, channel for a feature map)."
            )
        for axis, (i, n) in enumerate(zip(index, shape)):
            if not 0 <= i < n:
                raise BadInput(
                    f"index {index} is out of range for layer {layer.name!r} with "
                    f"output shape {tuple(shape)}: entry {axis} must be in "
                    f"[0, {n - 1}], got {i}."
                )
        return tuple(index)

    def explain(self, pixels01: np.ndarray, layer_name: str, index) -> dict:
        """The explain API's arithmetic of one output cell, as ``to_dict()``.

        ``explain.Snapshot(model, x).cell(layer, index)``: the same arithmetic as
        ``explain.cell``, from one forward pass kept per input (the last few inputs are
        cached), so clicking around one image costs a couple of milliseconds a cell.
        """
        explain = explain_module()
        layer = self.layer(layer_name)
        index = self.check_index(layer, index)
        x = self.model_input(pixels01)
        key = x.tobytes()
        with self.lock:
            try:
                snapshot = self._snapshots.pop(key, None)
                if snapshot is None:
                    snapshot = explain.Snapshot(self.model, x)
                self._snapshots[key] = snapshot  # most recently used last
                while len(self._snapshots) > SNAPSHOTS:
                    self._snapshots.pop(next(iter(self._snapshots)))
                cell = snapshot.cell(layer.name, index)
            except (ValueError, TypeError, NotImplementedError) as exc:
                raise BadInput(f"cannot explain layer {layer.name!r}: {exc}", 400) from exc
            return plain(cell.to_dict())

    def overlay(self, pixels01: np.ndarray, method: str, target=None) -> dict:
        """A saliency or Grad-CAM map (h, w) in [0, 1] for class ``target`` (default: predicted)."""
        explain = explain_module()
        fn = getattr(explain, method, None)
        if fn is None:
            raise BadInput(f"this filterbank has no explain.{method}; update filterbank.", 501)
        if target is not None and not (
            isinstance(target, int)
            and not isinstance(target, bool)
            and 0 <= target < self.num_classes
        ):
            raise BadInput(
                f"class must be an integer in [0, {self.num_classes - 1}], got {target!r}."
            )
        x = self.model_input(pixels01)
        with self.lock:
            if target is None:
                target = int(np.asarray(self.model.predict(x, verbose=0)).argmax())
            try:
                heat = np.asarray(fn(self.model, x[0], class_index=target), dtype=np.float32)
            except (ValueError, TypeError, NotImplementedError) as exc:
                raise BadInput(f"{method} is not available for this model: {exc}", 400) from exc
        heat = np.squeeze(heat)
        if heat.ndim == 3:
            heat = np.abs(heat).max(axis=-1)
        if heat.ndim != 2:
            raise BadInput(f"{method} gave a map of shape {heat.shape}; the page shows 2-D maps.")
        map_shape = list(heat.shape)
        h, w = self.input_shape[:2]
        if heat.shape != (h, w):  # Grad-CAM is the conv layer's size: stretch it
            from PIL import Image

            heat = np.asarray(
                Image.fromarray(heat, mode="F").resize((w, h), resample=Image.Resampling.BILINEAR),
                dtype=np.float32,
            )
        heat = heat - heat.min()
        heat = heat / heat.max() if heat.max() > 0 else heat
        return {
            "method": method,
            "class": target,
            "map_shape": map_shape,
            "map": heat.astype(np.float32).tolist(),
        }

    # ---- weights, history, samples ------------------------------------------------------
    def filters(self, layer_name: str) -> dict:
        """A conv or dense layer's kernel (Keras layout) and bias."""
        layer = self.layer(layer_name)
        kind = layer_kind(layer)
        weights = layer.get_weights()
        if kind not in ("conv", "dense") or not weights:
            raise BadInput(
                f"layer {layer.name!r} ({type(layer).__name__}) has no filters; "
                "conv and dense layers have.",
                404,
            )
        kernel = np.asarray(weights[0], np.float32)
        bias = np.asarray(weights[1], np.float32) if len(weights) > 1 else None
        return {
            "layer": layer.name,
            "kind": kind,
            "shape": list(kernel.shape),
            "layout": "(kh, kw, in, out)"
            if kernel.ndim == 4
            else "(k, in, out)"
            if kernel.ndim == 3
            else "(in, out)",
            "min": float(kernel.min()),
            "max": float(kernel.max()),
            "kernel": kernel.tolist(),
            "bias": None if bias is None else bias.tolist(),
        }

    def history(self) -> dict:
        """Training curves: the live history.json while it is newer, else metrics.json."""
        empty = {"history": {}, "epochs": 0, "done": False, "source": None, "epochs_planned": None}
        if self.run_dir is None:
            return empty
        live, final = self.run_dir / LIVE_HISTORY_FILE, self.run_dir / METRICS_FILE
        candidates = []
        for path in (live, final):
            try:
                candidates.append((path.stat().st_mtime, path))
            except OSError:
                pass
        for _, path in sorted(candidates, reverse=True):
            try:
                payload = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a file being replaced: the other one, or the next poll
            hist = payload.get("history") if isinstance(payload, dict) else None
            if not isinstance(hist, dict):
                continue
            clean = {
                str(k): [float(v) for v in vals if isinstance(v, (int, float))]
                for k, vals in hist.items()
                if isinstance(vals, list)
            }
            epochs = max((len(v) for v in clean.values()), default=0)
            planned = payload.get("epochs") or payload.get("config", {}).get("epochs")
            done = path == final or bool(payload.get("done"))
            return {
                "history": clean,
                "epochs": epochs,
                "done": done,
                "source": path.name,
                "epochs_planned": planned if isinstance(planned, int) else None,
            }
        return empty

    def samples(self, count: int, seed: int) -> dict:
        """``count`` test images of the run's dataset (pixels in [0, 1]) with true labels."""
        if not 1 <= count <= MAX_SAMPLES:
            raise BadInput(f"count must be in [1, {MAX_SAMPLES}], got {count}.")
        data = self._dataset()
        n = len(data.x_test)
        index = np.sort(np.random.default_rng(seed).choice(n, size=min(count, n), replace=False))
        value_range = self.data_info["value_range"]
        names = self.data_info["class_names"]
        return {
            "data": data.name,
            "source": data.source,
            "count": n,
            "samples": [
                {
                    "index": int(i),
                    "label": int(data.y_test[i]),
                    "class": names[int(data.y_test[i])]
                    if int(data.y_test[i]) < len(names)
                    else None,
                    "pixels": from_model_range(data.x_test[i], value_range).tolist(),
                }
                for i in index
            ],
        }

    def _dataset(self):
        if self._data is None:
            if self.model_path is None or self.data_info["name"] is None:
                raise BadInput(
                    "this model's dataset is unknown (no metrics.json beside it): "
                    "draw or upload an image instead.",
                    404,
                )
            from ..cli import data as data_mod

            info = self.data_info
            try:
                self._data = data_mod.load(
                    info["name"],
                    expected_shape=self.input_shape,
                    seed=info["seed"],
                    test_split=info["test_split"],
                )
            except Exception as exc:  # CLIError, missing files: a message, not a 500
                raise BadInput(
                    f"cannot load the test images of {info['name']!r}: {exc}", 404
                ) from exc
        return self._data


__all__ = ["ExploreSession"]

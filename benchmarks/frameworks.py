"""One adapter per framework: build the spec'd model, give back a zero-argument ``step``.

Only the worker process imports this module, and only the adapter it was started for is
constructed, so the orchestrator never loads a framework (and its thread pool).

Adapters:
    filterbank   the public Keras-style API only (``import filterbank as keras``).
    torch        PyTorch eager; NCHW or channels_last, whichever runs faster (``layout``).
    onnxruntime  inference only: the torch model exported to ONNX (optional, if importable).
    numpy        a stand-in "framework" (a NumPy MLP) to test the harness without the others,
                 plus the ``sgemm`` task that measures the machine's matmul peak.

Tasks: "train" (one training step on a batch), "infer" (predict a batch), "latency" (predict
one sample; the caller passes batch=1), "sgemm" (numpy only: one n x n float32 matmul).
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from .archs import ARCHS, channels_of, layer_shapes


def make_data(batch: int, image: int, seed: int, channels: int = 1):
    """The same random batch in every framework: x (batch, image, image, channels) float32 in
    [0, 1), y (batch,) int64 labels in 0..9."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, image, image, channels), dtype=np.float32)
    y = rng.integers(0, 10, size=batch, dtype=np.int64)
    return x, y


def numpy_blas() -> dict:
    """NumPy's BLAS, from ``numpy.show_config`` (name, version, OpenBLAS configuration), and the
    kernel OpenBLAS actually runs in this process (threadpoolctl's ``architecture``, e.g.
    Haswell when OPENBLAS_CORETYPE pins it, SkylakeX on an AVX-512 CPU left alone)."""
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        out = {k: blas.get(k) for k in ("name", "version", "openblas configuration")}
    except Exception as exc:  # older NumPy without mode="dicts"
        out = {"error": repr(exc)}
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("internal_api") == "openblas"]
        if pools:
            out["kernel"] = pools[0].get("architecture")
            out["threads"] = pools[0].get("num_threads")
    except ImportError:
        out["kernel"] = "unknown (threadpoolctl not installed)"
    out["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE")
    out["OPENBLAS_L2_SIZE"] = os.environ.get("OPENBLAS_L2_SIZE")
    return out


class Unsupported(Exception):
    """This adapter cannot run this task (e.g. training in ONNX Runtime)."""


class FilterbankAdapter:
    name = "filterbank"

    def __init__(self, threads: int):
        import filterbank as keras
        from filterbank import layers

        self.keras, self.layers = keras, layers

    def versions(self) -> dict:
        return {
            "filterbank": self.keras.__version__,
            "numpy": np.__version__,
            "blas": numpy_blas(),
            "path": os.path.dirname(self.keras.__file__),
        }

    def _layer(self, spec):
        L = self.layers
        kind = spec[0]
        if kind == "conv":
            return [L.Conv2D(spec[1], spec[2], activation=spec[3])]
        if kind == "convbn":
            return [
                L.Conv2D(spec[1], spec[2], padding="same"),
                L.BatchNormalization(),
                L.Activation("relu"),
            ]
        return [self._simple(spec)]

    def _simple(self, spec):
        L = self.layers
        kind = spec[0]
        if kind == "pool":
            return L.MaxPooling2D(spec[1])
        if kind == "flatten":
            return L.Flatten()
        return L.Dense(spec[1], activation=spec[2])

    def build(self, arch: str, image: int, seed: int):
        keras = self.keras
        keras.utils.set_random_seed(seed)
        shape = (image, image, channels_of(arch))
        if arch == "sequential":  # the seed's Sequential code
            model = keras.Sequential(
                [keras.Input(shape=shape)] + [la for s in ARCHS[arch] for la in self._layer(s)]
            )
        else:  # the seed's functional code (and the CIFAR-size model written the same way)
            inputs = keras.Input(shape=shape)
            x = inputs
            for spec in ARCHS[arch]:
                for layer in self._layer(spec):
                    x = layer(x)
            model = keras.Model(inputs=inputs, outputs=x)
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
        return model

    def make(self, task, arch, batch, image, seed, options):
        model = self.build(arch, image, seed)
        x, y = make_data(batch, image, seed, channels_of(arch))
        if task == "train":

            def step():
                return model.train_on_batch(x, y)
        elif task in ("infer", "latency"):

            def step():
                return model.predict_on_batch(x)
        else:
            raise Unsupported(f"filterbank has no task {task!r}")
        return step, {"params": int(sum(w.size for w in model.get_weights()))}

    def fit(self, arch, n, batch, seed):
        model = self.build(arch, 28, seed)
        x, y = make_data(n, 28, seed)
        return lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0)


class TorchAdapter:
    name = "torch"

    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self._layout = {}  # (task, arch) -> layout chosen by the "auto" probe

    def versions(self) -> dict:
        t = self.torch
        return {
            "torch": t.__version__,
            "numpy": np.__version__,
            "torch_threads": t.get_num_threads(),
            "mkldnn": bool(t.backends.mkldnn.is_available()),
        }

    def build(self, arch: str, image: int, seed: int):
        """nn.Sequential of the spec up to the logits (the final softmax is applied by the
        loss in training, and explicitly in inference)."""
        nn = self.torch.nn
        self.torch.manual_seed(seed)
        mods = []
        shapes = layer_shapes(arch, image)
        for i, (spec, inp, _out) in enumerate(shapes):
            kind = spec[0]
            if kind == "conv":
                mods.append(nn.Conv2d(inp[2], spec[1], spec[2]))
            elif kind == "convbn":
                # Keras's BatchNormalization: momentum 0.99 (torch's 0.01), epsilon 1e-3
                mods += [
                    nn.Conv2d(inp[2], spec[1], spec[2], padding="same"),
                    nn.BatchNorm2d(spec[1], eps=1e-3, momentum=0.01),
                    nn.ReLU(),
                ]
            elif kind == "pool":
                mods.append(nn.MaxPool2d(spec[1]))
            elif kind == "flatten":
                mods.append(nn.Flatten())
            else:
                mods.append(nn.Linear(inp[0], spec[1]))
            act = spec[-1] if kind in ("conv", "dense") else None
            if act == "relu":
                mods.append(nn.ReLU())
            elif act == "softmax" and i != len(shapes) - 1:
                raise ValueError("softmax is supported on the last layer only")
        return nn.Sequential(*mods)

    def _variant(self, task, arch, batch, image, seed, layout):
        torch = self.torch
        F = torch.nn.functional
        model = self.build(arch, image, seed)
        x, y = make_data(batch, image, seed, channels_of(arch))
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)
        yt = torch.from_numpy(y)
        if layout == "channels_last":
            model = model.to(memory_format=torch.channels_last)
            xt = xt.contiguous(memory_format=torch.channels_last)
        if task == "train":
            model.train()
            # Keras's rmsprop defaults: lr 0.001, rho 0.9, epsilon 1e-7
            opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)

            def step():
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xt), yt)
                loss.backward()
                opt.step()
                return loss.item()
        elif task in ("infer", "latency"):
            model.eval()

            def step():
                with torch.inference_mode():
                    return torch.softmax(model(xt), dim=1)
        else:
            raise Unsupported(f"torch has no task {task!r}")
        params = sum(p.numel() for p in model.parameters())
        return step, params

    def make(self, task, arch, batch, image, seed, options):
        layout = options.get("layout", "auto")
        probe = None
        if layout == "auto":
            layout = self._layout.get((task, arch))
            if layout is None:
                layout, probe = self._probe(task, arch, batch, image, seed)
                self._layout[(task, arch)] = layout
        step, params = self._variant(task, arch, batch, image, seed, layout)
        info = {"params": params, "layout": layout}
        if probe:
            info["layout_probe_s_per_step"] = probe
        return step, info

    def _probe(self, task, arch, batch, image, seed):
        """Time both memory layouts in alternation (median of 3 short blocks each); the
        faster one is used from then on for this task and model."""
        steps = {
            lay: self._variant(task, arch, batch, image, seed, lay)[0]
            for lay in ("nchw", "channels_last")
        }
        per_step = {lay: [] for lay in steps}
        k = {}
        for lay, step in steps.items():
            step()
            t0 = time.perf_counter()
            step()
            k[lay] = max(1, int(0.1 / max(time.perf_counter() - t0, 1e-6)))
        for _ in range(3):
            for lay, step in steps.items():
                t0 = time.perf_counter()
                for _ in range(k[lay]):
                    step()
                per_step[lay].append((time.perf_counter() - t0) / k[lay])
        med = {lay: sorted(v)[1] for lay, v in per_step.items()}
        return min(med, key=med.get), med

    def fit(self, arch, n, batch, seed):
        """The plain training loop equivalent to one epoch of Keras ``fit`` (shuffled)."""
        torch = self.torch
        F = torch.nn.functional
        model = self.build(arch, 28, seed)
        x, y = make_data(n, 28, seed)
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)
        yt = torch.from_numpy(y)
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)

        def run():
            model.train()
            perm = torch.randperm(n)
            for i in range(0, n, batch):
                idx = perm[i : i + batch]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
            return loss.item()

        return run


class OnnxRuntimeAdapter:
    """Inference only: the torch model (with its softmax) exported to ONNX."""

    name = "onnxruntime"

    def __init__(self, threads: int):
        import onnxruntime as ort

        self.ort = ort
        self.threads = threads
        self.torch_adapter = TorchAdapter(threads)
        self.tmp = tempfile.mkdtemp(prefix="fb-bench-onnx-")

    def versions(self) -> dict:
        return {"onnxruntime": self.ort.__version__, **self.torch_adapter.versions()}

    def make(self, task, arch, batch, image, seed, options):
        if task not in ("infer", "latency"):
            raise Unsupported("onnxruntime runs inference only")
        torch = self.torch_adapter.torch
        body = self.torch_adapter.build(arch, image, seed).eval()
        model = torch.nn.Sequential(body, torch.nn.Softmax(dim=1))
        x, _ = make_data(batch, image, seed, channels_of(arch))
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        path = os.path.join(self.tmp, f"{arch}-{image}.onnx")
        kwargs = dict(
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        )
        try:
            torch.onnx.export(model, (torch.from_numpy(x),), path, dynamo=False, **kwargs)
        except TypeError:  # a torch without the dynamo argument
            torch.onnx.export(model, (torch.from_numpy(x),), path, **kwargs)
        so = self.ort.SessionOptions()
        # All graph optimisations (BN folded into the conv, conv + activation fused).
        so.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        sess = self.ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

        def step():
            return sess.run(None, {"x": x})[0]

        return step, {"params": sum(p.numel() for p in model.parameters())}


class NumpyAdapter:
    """The stand-in framework (a 784-128-10 MLP in plain NumPy) and the sgemm peak probe."""

    name = "numpy"

    def __init__(self, threads: int):
        pass

    def versions(self) -> dict:
        return {"numpy": np.__version__, "blas": numpy_blas()}

    def make(self, task, arch, batch, image, seed, options):
        if task == "sgemm":
            n = int(options.get("n", 4096))
            rng = np.random.default_rng(seed)
            a = rng.random((n, n), dtype=np.float32)
            b = rng.random((n, n), dtype=np.float32)
            out = np.empty((n, n), dtype=np.float32)

            def step():
                return np.matmul(a, b, out=out)

            return step, {"n": n, "flops_per_step": 2 * n**3}
        x, y = make_data(batch, image, seed)
        model = self._mlp(image * image, seed)
        if task == "train":

            def step():
                return model.train(x, y)
        elif task in ("infer", "latency"):

            def step():
                return model.predict(x)
        else:
            raise Unsupported(f"numpy has no task {task!r}")
        return step, {"params": model.params}

    def _mlp(self, d, seed):
        return _MLP(d, 128, 10, seed)

    def fit(self, arch, n, batch, seed):
        x, y = make_data(n, 28, seed)
        model = self._mlp(28 * 28, seed)

        def run():
            perm = np.random.default_rng(seed).permutation(n)
            for i in range(0, n, batch):
                idx = perm[i : i + batch]
                loss = model.train(x[idx], y[idx])
            return loss

        return run


class _MLP:
    def __init__(self, d, h, k, seed):
        rng = np.random.default_rng(seed)
        self.w1 = (rng.standard_normal((d, h)) * np.sqrt(2 / d)).astype(np.float32)
        self.w2 = (rng.standard_normal((h, k)) * np.sqrt(2 / h)).astype(np.float32)
        self.params = self.w1.size + self.w2.size

    def _forward(self, x):
        a = np.maximum(x.reshape(len(x), -1) @ self.w1, 0)
        z = a @ self.w2
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return a, p / p.sum(axis=1, keepdims=True)

    def predict(self, x):
        return self._forward(x)[1]

    def train(self, x, y, lr=0.01):
        x2 = x.reshape(len(x), -1)
        a, p = self._forward(x)
        loss = -np.log(p[np.arange(len(y)), y] + 1e-7).mean()
        g = p
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        ga = (g @ self.w2.T) * (a > 0)
        self.w2 -= lr * (a.T @ g)
        self.w1 -= lr * (x2.T @ ga)
        return float(loss)


ADAPTERS = {a.name: a for a in (FilterbankAdapter, TorchAdapter, OnnxRuntimeAdapter, NumpyAdapter)}

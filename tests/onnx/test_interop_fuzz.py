"""Fuzz the ONNX importer and the .keras reader: every mutated file loads or raises
ModelFileError (never another exception, never a hang). Seeded and quick (a few seconds)."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

from filterbank import zoo
from filterbank.saving import ModelFileError

N = 300


def _flip(rng, data: bytes) -> bytes:
    b = bytearray(data)
    kind = rng.integers(0, 4)
    if kind == 0:
        return bytes(b[: rng.integers(0, len(b))])
    if kind == 1:
        for _ in range(rng.integers(1, 8)):
            b[rng.integers(0, len(b))] = rng.integers(0, 256)
        return bytes(b)
    if kind == 2:
        i = rng.integers(0, len(b))
        return bytes(b[:i] + rng.bytes(rng.integers(1, 64)) + b[i:])
    i, j = sorted(rng.integers(0, len(b), 2))
    return bytes(b[:i] + b[j:])


def _check(load, path, data, outcomes):
    with open(path, "wb") as f:
        f.write(data)
    try:
        load(path)
        outcomes["loaded"] += 1
    except ModelFileError:
        outcomes["refused"] += 1


def _model():
    model = zoo.build("xo", (9, 9, 1), 2)
    return model


def test_fuzz_onnx_import(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the ONNX fuzz needs onnx")
    from filterbank.onnx import build_onnx, load_model

    proto = build_onnx(_model())
    valid = proto.SerializeToString()
    rng = np.random.default_rng(0)
    outcomes = {"loaded": 0, "refused": 0}
    path = os.path.join(tmp_path, "f.onnx")
    for i in range(N):
        if i % 2:
            data = _flip(rng, valid)
        else:  # structural: shapes, attributes, ops and wiring that lie
            p = onnx.ModelProto()
            p.CopyFrom(proto)
            kind = rng.integers(0, 5)
            if kind == 0:
                t = p.graph.initializer[rng.integers(0, len(p.graph.initializer))]
                t.dims[rng.integers(0, len(t.dims))] = int(rng.choice([0, 3, 10**6, 2**40]))
            elif kind == 1:
                n = p.graph.node[rng.integers(0, len(p.graph.node))]
                if n.attribute:
                    a = n.attribute[rng.integers(0, len(n.attribute))]
                    if a.ints:
                        a.ints[0] = int(rng.choice([-5, 0, 7, 2**31]))
            elif kind == 2:
                p.graph.node[rng.integers(0, len(p.graph.node))].op_type = str(
                    rng.choice(["Loop", "Conv", "Gemm", "Transpose", "If", "Relu"])
                )
            elif kind == 3:
                del p.graph.node[rng.integers(0, len(p.graph.node))]
            else:
                n = p.graph.node[rng.integers(0, len(p.graph.node))]
                n.input[0] = str(rng.choice(["", "nope", p.graph.initializer[0].name]))
            data = p.SerializeToString()
        _check(load_model, path, data, outcomes)
    assert outcomes["refused"] > N // 3, outcomes


def test_fuzz_keras_archive(tmp_path):
    pytest.importorskip("h5py", reason="the .keras fuzz needs h5py")
    from filterbank.saving.keras_format import load_keras

    good = os.path.join(tmp_path, "good.keras")
    _model().save(good)
    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    valid = open(good, "rb").read()
    rng = np.random.default_rng(1)
    outcomes = {"loaded": 0, "refused": 0}
    path = os.path.join(tmp_path, "f.keras")
    for i in range(N):
        kind = i % 4
        m = dict(members)
        if kind == 0:
            _check(load_keras, path, _flip(rng, valid), outcomes)
            continue
        if kind == 1:
            m["model.weights.h5"] = _flip(rng, m["model.weights.h5"])
        elif kind == 2:
            cfg = json.loads(m["config.json"])
            layer = cfg["config"]["layers"][rng.integers(0, len(cfg["config"]["layers"]))]
            key = list(layer["config"])[rng.integers(0, len(layer["config"]))]
            layer["config"][key] = [None, -1, 10**9, "x", [1, 2], {"a": 1}, True][
                rng.integers(0, 7)
            ]
            if rng.integers(0, 4) == 0:
                layer["class_name"] = str(rng.choice(["Lambda", "os.system", "Conv3D", ""]))
            m["config.json"] = json.dumps(cfg).encode()
        else:
            m["config.json"] = _flip(rng, m["config.json"])
            if rng.integers(0, 3) == 0:
                m.pop(list(m)[rng.integers(0, len(m))])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in m.items():
                zf.writestr(name, data)
        _check(load_keras, path, buf.getvalue(), outcomes)
    assert outcomes["refused"] > N // 3, outcomes


def _keras_zip_with_h5(tmp_path, fill):
    """A valid filterbank .keras archive whose model.weights.h5 ``fill(h5file)`` then edits."""
    h5py = pytest.importorskip("h5py", reason="needs h5py")
    good = os.path.join(tmp_path, "good.keras")
    _model().save(good)
    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        fill(f)
    members["model.weights.h5"] = buf.getvalue()
    path = os.path.join(tmp_path, "edited.keras")
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_h5_declared_size_beyond_file_is_refused(tmp_path):
    from filterbank.saving.keras_format import load_keras

    def fill(f):
        del f["layers/conv2d/vars/0"]
        f["layers/conv2d/vars"].create_dataset("0", shape=(3000, 3000), dtype="float32")

    with pytest.raises(ModelFileError, match="declares 36,000,000 bytes, more than the whole"):
        load_keras(_keras_zip_with_h5(tmp_path, fill))


def test_h5_links_to_other_files_are_refused(tmp_path):
    h5py = pytest.importorskip("h5py", reason="needs h5py")
    from filterbank.saving.keras_format import load_keras

    def fill(f):
        f["layers/conv2d/vars/2"] = h5py.ExternalLink("/etc/passwd", "/x")

    with pytest.raises(ModelFileError, match="ExternalLink"):
        load_keras(_keras_zip_with_h5(tmp_path, fill))

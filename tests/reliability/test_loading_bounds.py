"""#17.3 and #17.4: the loader checks what config.json and the headers say before reading any
tensor, bounds memory, and refuses non-finite or absurd values; set_weights refuses them too."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import filterbank as keras
from filterbank import layers
from filterbank.models.memory import OutOfMemoryError
from filterbank.saving import ModelFileError, load_model
from filterbank.saving.archive import OPTIMIZER, WEIGHTS

pytest.importorskip("resource")


def trained_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, name="dense")])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    return model


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def write_members(path, m, big=None):
    """Write a model file; ``big=(member, header_bytes, n_data_bytes)`` streams a tensor member
    whose data is 1 KB of noise per 100 KB (deflate ratio ~80, inside the ratio limit)."""
    with zipfile.ZipFile(path, "w", compresslevel=1) as zf:
        for name, data in m.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        if big is not None:
            name, head, n = big
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = len(head) + n
            block = np.random.default_rng(0).bytes(1024) + bytes(99 * 1024)
            with zf.open(info, "w") as f:
                f.write(head)
                left = n
                while left:
                    f.write(block[: min(left, len(block))])
                    left -= min(left, len(block))


def safetensors_header(tensors):
    """Header bytes for {name: (dtype code, shape)} laid out back to back."""
    sizes = {"F32": 4, "F64": 8, "I64": 8}
    header, at = {}, 0
    for name, (code, shape) in tensors.items():
        n = int(np.prod(shape)) * sizes[code]
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [at, at + n]}
        at += n
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    return len(blob).to_bytes(8, "little") + blob, at


def with_weights(path, tensors, out):
    m = members(path)
    m.pop(WEIGHTS)
    m.pop(OPTIMIZER, None)
    meta = json.loads(m["metadata.json"])
    names = {"F32": "float32", "F64": "float64"}
    meta["tensors"] = [
        {"member": WEIGHTS, "name": k, "dtype": names[c], "shape": list(s)}
        for k, (c, s) in tensors.items()
    ]
    m["metadata.json"] = json.dumps(meta).encode()
    cfg = json.loads(m["config.json"])
    cfg.pop("compile_config", None)
    m["config.json"] = json.dumps(cfg).encode()
    head, n = safetensors_header(tensors)
    write_members(out, m, big=(WEIGHTS, head, n))
    return out


def run_limited(code: str, limit_extra_mb: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a subprocess whose address space is capped at its size after imports
    plus ``limit_extra_mb``."""
    prelude = textwrap.dedent(f"""
        import resource, numpy as np, filterbank as keras
        from filterbank.saving import ModelFileError, load_model
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
        cap = used + {limit_extra_mb} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    """)
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_name_mismatch_refused_before_a_big_tensor_is_read(tmp_path):
    saved = tmp_path / "m.fbk"
    trained_model().save(saved)
    # 600 MB of float32 under a wrong name: the config shows the mismatch, so nothing is read.
    bomb = with_weights(
        saved,
        {
            "dense/kernel": ("F32", (3, 2)),
            "dense/bias": ("F32", (2,)),
            "ghost/kernel": ("F32", (150_000_000,)),
        },
        tmp_path / "b.fbk",
    )
    assert bomb.stat().st_size < 20 * 2**20
    r = run_limited(
        f"""
        try:
            load_model({str(bomb)!r})
        except ModelFileError as e:
            print("MFE", e)
    """,
        limit_extra_mb=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "MFE" in r.stdout and "ghost" in r.stdout and "does not have" in r.stdout


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_matching_but_huge_model_is_one_model_file_error_under_a_memory_limit(tmp_path):
    model = keras.Sequential([keras.Input(shape=(2_500,)), layers.Dense(20_000, name="dense")])
    cfg = {"class_name": "Sequential", "floatx": "float32", "config": model.get_config()}
    small = tmp_path / "s.fbk"
    trained_model().save(small)
    m = members(small)
    m["config.json"] = json.dumps(
        {**json.loads(m["config.json"]), **cfg, "compile_config": None}
    ).encode()
    path = with_weights_cfg(
        m,
        {"dense/kernel": ("F32", (2_500, 20_000)), "dense/bias": ("F32", (20_000,))},
        tmp_path / "h.fbk",
    )
    r = run_limited(
        f"""
        try:
            load_model({str(path)!r})
        except ModelFileError as e:
            print("MFE", e)
        from filterbank.cli import main
        print("status", main(["summary", {str(path)!r}]))
    """,
        limit_extra_mb=150,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "MFE" in r.stdout and ("memory" in r.stdout or "MemoryError" in r.stdout)
    assert "status 2" in r.stdout  # filterbank summary: one line, no traceback
    assert r.stderr.count("filterbank: error: Cannot load") == 1 and "Traceback" not in r.stderr


def with_weights_cfg(m, tensors, out):
    m = dict(m)
    m.pop(WEIGHTS)
    m.pop(OPTIMIZER, None)
    meta = json.loads(m["metadata.json"])
    meta["tensors"] = [
        {"member": WEIGHTS, "name": k, "dtype": "float32", "shape": list(s)}
        for k, (c, s) in tensors.items()
    ]
    m["metadata.json"] = json.dumps(meta).encode()
    cfg = json.loads(m["config.json"])
    if cfg.get("compile_config") is None:
        cfg.pop("compile_config", None)
    m["config.json"] = json.dumps(cfg).encode()
    head, n = safetensors_header(tensors)
    write_members(out, m, big=(WEIGHTS, head, n))
    return out


def test_slack_bytes_after_the_tensors_are_refused(tmp_path):
    saved = tmp_path / "m.fbk"
    trained_model().save(saved)
    m = members(saved)
    m[WEIGHTS] += bytes(4096)
    m.pop(OPTIMIZER)
    cfg = json.loads(m["config.json"])
    cfg.pop("compile_config")
    m["config.json"] = json.dumps(cfg).encode()
    meta = json.loads(m["metadata.json"])
    meta["tensors"] = [t for t in meta["tensors"] if t["member"] == WEIGHTS]
    m["metadata.json"] = json.dumps(meta).encode()
    write_members(tmp_path / "s.fbk", m)
    with pytest.raises(ModelFileError, match="data bytes but its tensors need"):
        load_model(tmp_path / "s.fbk")


def test_huge_activation_in_a_loaded_config_is_refused(tmp_path):
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.ZeroPadding2D(2**24),
            layers.GlobalAveragePooling2D(),
        ]
    )
    with pytest.raises(
        OutOfMemoryError,
        match=r"layer 'zero_padding2d.*' needs an output of "
        r"shape \(1, 33554460, 33554460, 1\): 4.0 PiB",
    ):
        model.predict(np.zeros((1, 28, 28, 1), "float32"), verbose=0)
    path = tmp_path / "pad.fbk"
    model.save(path)
    assert path.stat().st_size < 4096
    with pytest.raises(
        ModelFileError,
        match=r"makes layer 'zero_padding2d.*' output "
        r"\(33554460, 33554460, 1\) per sample",
    ):
        load_model(path)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_out_of_memory_inside_predict_and_fit_names_the_layer():
    r = run_limited(
        """
        from filterbank import layers
        import filterbank.models.memory as M
        M.available_bytes = lambda: None   # skip the plan check: hit the real MemoryError
        m = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.ZeroPadding2D(1500, name="pad"),
                              layers.GlobalAveragePooling2D()])
        m.compile(optimizer="sgd", loss="mse")
        x = np.zeros((64, 28, 28, 1), "float32")
        for call in (lambda: m.predict(x, verbose=0, batch_size=64),
                     lambda: m.fit(x, np.zeros((64, 1), "float32"), batch_size=64, verbose=0)):
            try:
                call()
            except MemoryError as e:
                print(type(e).__name__, "|", e)
    """,
        limit_extra_mb=400,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2, r.stdout
    for line in lines:
        assert line.startswith("OutOfMemoryError |") and "in layer 'pad'" in line


# ---- values -------------------------------------------------------------------------------
def rewrite(path, member, change, out):
    import safetensors.numpy as st

    m = members(path)
    arrays = dict(st.load(m[member]))
    change(arrays)
    m[member] = st.save(arrays)
    meta = json.loads(m["metadata.json"])
    meta["tensors"] = [t for t in meta["tensors"] if t["member"] != member] + [
        {"member": member, "name": k, "dtype": str(a.dtype), "shape": list(a.shape)}
        for k, a in arrays.items()
    ]
    m["metadata.json"] = json.dumps(meta).encode()
    write_members(out, m)
    return out


@pytest.mark.parametrize(
    "lr,match",
    [
        (np.nan, "learning rate nan"),
        (np.inf, "learning rate inf"),
        (-0.1, r"learning rate -0.1"),
        (1e30, "learning rate 1e"),
    ],
)
def test_bad_learning_rate_in_optimizer_state_is_refused(tmp_path, lr, match):
    saved = tmp_path / "m.fbk"
    trained_model().save(saved)

    def change(a):
        a["learning_rate"] = np.array(lr, "float64")

    with pytest.raises(ModelFileError, match=match + r".*expected a finite number in \[0, 10000\]"):
        load_model(rewrite(saved, OPTIMIZER, change, tmp_path / "e.fbk"))
    # compile=False ignores the optimizer state, so the weights still load
    load_model(tmp_path / "e.fbk", compile=False)


@pytest.mark.parametrize("value,match", [(np.nan, "NaN or infinite"), (-1.0, "negative")])
def test_bad_adam_slots_are_refused(tmp_path, value, match):
    saved = tmp_path / "m.fbk"
    trained_model().save(saved)

    def change(a):
        a["dense/kernel/velocity"] = a["dense/kernel/velocity"].copy()
        a["dense/kernel/velocity"][0, 0] = value

    with pytest.raises(ModelFileError, match=r"'dense/kernel/velocity' holds " + match):
        load_model(rewrite(saved, OPTIMIZER, change, tmp_path / "e.fbk"))


def test_bad_learning_rate_in_config_json_is_refused(tmp_path):
    saved = tmp_path / "m.fbk"
    trained_model().save(saved)
    m = members(saved)
    cfg = json.loads(m["config.json"])
    cfg["compile_config"]["optimizer"]["config"]["learning_rate"] = 1e300
    m["config.json"] = json.dumps(cfg).encode()
    write_members(tmp_path / "e.fbk", m)
    with pytest.raises(ModelFileError, match="config.json's optimizer has learning rate 1e"):
        load_model(tmp_path / "e.fbk")


def test_nonfinite_weights_are_refused_on_load_save_and_set(tmp_path):
    model = trained_model()
    saved = tmp_path / "m.fbk"
    model.save(saved)

    def change(a):
        a["dense/kernel"] = a["dense/kernel"].copy()
        a["dense/kernel"][1, 1] = np.inf

    bad = rewrite(saved, WEIGHTS, change, tmp_path / "e.fbk")
    with pytest.raises(
        ModelFileError,
        match=r"layer 'dense' weight 'kernel' holds 1 NaN or "
        r"infinite values.*lower the learning rate",
    ):
        load_model(bad)
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        trained_model().load_weights(bad)
    w = model.get_weights()
    w[0][0, 0] = np.nan
    with pytest.raises(
        ValueError,
        match=r"set_weights: array 0 \(layer 'dense' weight 'kernel'\) "
        r"holds 1 NaN or infinite value",
    ):
        model.set_weights(w)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.get_layer("dense").set_weights(w)
    model.get_layer("dense").params["kernel"][0, 0] = np.nan  # a run that diverged
    with pytest.raises(ValueError, match=r"Cannot save model .*holds 1 NaN or infinite values"):
        model.save(tmp_path / "diverged.fbk")
    assert not (tmp_path / "diverged.fbk").exists()


def test_set_weights_refuses_overflow_and_complex():
    model = trained_model()
    w = model.get_weights()
    big = [w[0].astype("float64"), w[1]]
    big[0][0, 0] = 1e39
    with pytest.raises(ValueError, match=r"holds values up to 1e\+39, beyond the largest float32"):
        model.set_weights(big)
    with pytest.raises(ValueError, match="complex array"):
        model.set_weights([w[0].astype("complex64"), w[1]])
    with pytest.raises(ValueError, match="not numbers"):
        model.set_weights([w[0].astype(object), w[1]])
    before = model.get_weights()
    np.testing.assert_array_equal(before[0], w[0])


def test_load_weights_checks_names_before_reading_tensor_data(tmp_path, monkeypatch):
    import filterbank.saving.archive as archive
    import filterbank.saving.model_io as io

    model = trained_model()
    model.save_weights(tmp_path / "w.safetensors")
    model.save(tmp_path / "m.fbk")
    other = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(5, name="dense")])

    def no_decode(*a, **k):
        raise AssertionError("tensor data decoded before the names were checked")

    monkeypatch.setattr(io, "decode_tensors", no_decode)
    monkeypatch.setattr(archive, "decode_tensors", no_decode)
    for name in ("w.safetensors", "m.fbk"):
        with pytest.raises(
            ModelFileError,
            match=r"layer 'dense' weight 'kernel' has shape "
            r"\(3, 2\) in the file",
        ):
            other.load_weights(tmp_path / name)


def test_optimizer_state_cannot_hold_more_slots_than_any_optimizer(tmp_path):
    saved = tmp_path / "m.fbk"
    trained_model().save(saved)

    def change(a):
        for i in range(4):
            a[f"dense/kernel/extra{i}"] = np.zeros((3, 2), "float32")

    with pytest.raises(ModelFileError, match="more than 3 slots for weight 'dense/kernel'"):
        load_model(rewrite(saved, OPTIMIZER, change, tmp_path / "e.fbk"))

"""The explore JSON API on its own (FastAPI's TestClient, and a real server for concurrency)."""

import base64
import io
import json
import os
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from filterbank import explain
from filterbank.explore.preprocess import MAX_UPLOAD_BYTES, center_of_mass

# The 100-megapixel PNG makes Pillow warn before the server refuses it: expected here.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


def _model(app):
    return app.state.session.model


def _png(array01, mode="L") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.round(np.asarray(array01) * 255).astype(np.uint8), mode=mode).save(
        buf, "PNG"
    )
    return buf.getvalue()


def _decode(value):
    raw = base64.b64decode(value["base64"])
    return np.frombuffer(raw, dtype="<f4").reshape(value["shape"])


# ---- the model and predictions ----------------------------------------------------------------
def test_model_lists_layers_shapes_params_and_formulas(client, app):
    m = client.get("/api/model").json()
    model = _model(app)
    assert [la["name"] for la in m["layers"]] == [la.name for la in model.layers]
    conv = m["layers"][0]
    assert (conv["type"], conv["kind"], conv["output_shape"], conv["params"]) == (
        "Conv2D",
        "conv",
        [26, 26, 32],
        320,
    )
    assert conv["formulas"] == [
        "height: (28 - 3 + 2*0)/1 + 1 = 26",
        "width: (28 - 3 + 2*0)/1 + 1 = 26",
        "params: (3*3*1 + 1)*32 = 320",
    ]
    rows = {row["name"]: row for row in explain.layer_arithmetic(model)}
    for layer in m["layers"]:
        assert layer["receptive_field"] == rows[layer["name"]]["receptive_field"]
    assert m["layers"][2]["receptive_field"] == [8, 8]
    assert "53,066x the layer's 320" in conv["dense_equivalent"]
    assert m["layers"][1]["inputs"] == ["conv2d"]
    assert m["input_shape"] == [28, 28, 1] and m["classes"] == [str(d) for d in range(10)]
    assert m["data"] == "mnist" and 0 <= m["test_accuracy"] <= 1
    assert m["params"] == model.count_params()
    assert {"cell", "feature_maps"} <= set(m["explain"])


def test_predict_json_gives_the_models_probabilities_and_activations(client, app, digit):
    r = client.post("/api/predict", json={"pixels": digit.tolist(), "activations": True})
    assert r.status_code == 200, r.text
    out = r.json()
    expected = _model(app).predict(digit[None, ..., None], verbose=0)[0]
    np.testing.assert_allclose(out["probabilities"], expected, rtol=0, atol=1e-7)
    assert out["predicted"] == int(np.argmax(expected))
    maps = explain.feature_maps(_model(app), digit)
    assert [a["layer"] for a in out["activations"]] == list(maps)
    for act in out["activations"]:
        np.testing.assert_array_equal(np.asarray(act["values"], np.float32), maps[act["layer"]])
        assert act["min"] == pytest.approx(float(maps[act["layer"]].min()))
    # base64 carries the same float32 bytes
    b = client.post(
        "/api/predict?encoding=base64", json={"pixels": digit.tolist(), "activations": True}
    ).json()
    for lists, packed in zip(out["activations"], b["activations"]):
        np.testing.assert_array_equal(
            np.asarray(lists["values"], np.float32), _decode(packed["values"])
        )
    assert b["probabilities"] == out["probabilities"]


def test_predict_accepts_pixels_with_a_channel_axis(client, digit):
    a = client.post("/api/predict", json={"pixels": digit.tolist()}).json()
    b = client.post("/api/predict", json={"pixels": digit[..., None].tolist()}).json()
    assert a["probabilities"] == b["probabilities"]


def test_upload_of_a_dark_on_light_png_is_inverted_and_predicts_like_its_pixels(client, digit):
    paper = 1.0 - digit  # a dark digit on white paper
    r = client.post(
        "/api/predict",
        files={"image": ("digit.png", _png(paper), "image/png")},
        data={"frame": "none"},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    seen = np.asarray(out["input"], np.float32)[..., 0]
    np.testing.assert_allclose(seen, digit, atol=1 / 255 + 1e-6)
    assert any("inverted" in n for n in out["notes"])
    again = client.post("/api/predict", json={"pixels": seen.tolist()}).json()
    assert again["probabilities"] == out["probabilities"]


def test_upload_is_framed_like_mnist(client):
    big = np.zeros((200, 300), np.float32)
    big[20:120, 200:260] = 1.0  # a bright bar in a corner of a large image
    r = client.post("/api/predict", files={"image": ("bar.png", _png(big), "image/png")})
    assert r.status_code == 200, r.text
    x = np.asarray(r.json()["input"], np.float32)[..., 0]
    rows, cols = np.nonzero(x > 0.05)
    assert rows.max() - rows.min() + 1 <= 21 and cols.max() - cols.min() + 1 <= 21
    cy, cx = center_of_mass(x)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


# ---- explain, filters, history, samples --------------------------------------------------------
@pytest.mark.parametrize(
    "layer, index",
    [
        ("conv2d", [5, 7, 3]),
        ("conv2d_1", [0, 10, 63]),
        ("max_pooling2d", [6, 6, 2]),
        ("dense", [17]),
        ("dense_1", [4]),
        ("flatten", [100]),
    ],
)
def test_explain_returns_the_explain_apis_to_dict(client, app, digit, layer, index):
    r = client.post("/api/explain", json={"pixels": digit.tolist(), "layer": layer, "index": index})
    assert r.status_code == 200, r.text
    got = r.json()
    # The arithmetic of explain.Snapshot (one unfused pass per input, kept for the next
    # clicks), to the bit; explain.cell reads the fused prediction path, equal within float32.
    snap = explain.Snapshot(_model(app), digit).cell(layer, tuple(index)).to_dict()
    assert got == json.loads(json.dumps(snap))
    cell = explain.cell(_model(app), digit, layer, tuple(index))
    assert got["output"] == pytest.approx(cell.output, rel=1e-5, abs=1e-6)
    assert got["kind"] == cell.kind and got["input_positions"] == cell.input_positions


def test_filters_are_the_layers_weights(client, app):
    f = client.get("/api/filters/conv2d_1").json()
    kernel, bias = _model(app).get_layer("conv2d_1").get_weights()
    assert f["shape"] == [3, 3, 32, 64] and f["layout"] == "(kh, kw, in, out)"
    np.testing.assert_array_equal(np.asarray(f["kernel"], np.float32), kernel)
    np.testing.assert_array_equal(np.asarray(f["bias"], np.float32), bias)
    r = client.get("/api/filters/flatten")
    assert r.status_code == 404 and "has no filters" in r.json()["error"]


def test_history_comes_from_metrics_json_then_the_live_file(client, app, run_dir):
    h = client.get("/api/history").json()
    recorded = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert h["source"] == "metrics.json" and h["done"] and h["epochs"] == 2
    assert h["history"]["loss"] == recorded["loss"] and "val_accuracy" in h["history"]
    live = run_dir / "history.json"
    try:
        live.write_text(
            json.dumps({"history": {"loss": [2.0, 1.5, 1.0]}, "epochs": 5, "done": False})
        )
        later = time.time() + 5
        os.utime(live, (later, later))
        h = client.get("/api/history").json()
        assert (h["source"], h["done"], h["epochs"], h["epochs_planned"]) == (
            "history.json",
            False,
            3,
            5,
        )
        live.write_text("{half a fi")  # being replaced: fall back, never fail
        os.utime(live, (later, later))
        assert client.get("/api/history").json()["source"] == "metrics.json"
    finally:
        live.unlink(missing_ok=True)


def test_train_writes_the_history_after_every_epoch(tmp_path):
    from filterbank.cli.report import HISTORY_FILE, LiveHistory

    cb = LiveHistory(tmp_path, epochs=3)
    cb.on_train_begin()
    assert json.loads((tmp_path / HISTORY_FILE).read_text())["history"] == {}
    cb.on_epoch_end(0, {"loss": np.float32(0.5), "accuracy": 0.75})
    cb.on_epoch_end(1, {"loss": 0.25, "accuracy": 0.875})
    saved = json.loads((tmp_path / HISTORY_FILE).read_text())
    assert saved == {
        "history": {"loss": [0.5, 0.25], "accuracy": [0.75, 0.875]},
        "epochs": 3,
        "done": False,
    }


def test_train_removes_the_live_history_once_metrics_are_written(run_dir):
    assert (run_dir / "metrics.json").is_file() and not (run_dir / "history.json").exists()


def test_samples_are_test_images_with_their_labels(client):
    from filterbank.cli import data as data_mod

    s = client.get("/api/samples?count=5&seed=3").json()
    assert s["data"] == "mnist" and len(s["samples"]) == 5
    data = data_mod.load("mnist", seed=0)
    for item in s["samples"]:
        np.testing.assert_allclose(
            np.asarray(item["pixels"], np.float32), data.x_test[item["index"]], atol=1e-7
        )
        assert item["label"] == int(data.y_test[item["index"]]) and item["class"] == str(
            item["label"]
        )
    assert client.get("/api/samples?count=5&seed=3").json() == s


def test_saliency_and_grad_cam_overlays(client, app, digit):
    for method in ("saliency", "grad_cam"):
        r = client.post(
            "/api/overlay", json={"pixels": digit.tolist(), "method": method, "class": 3}
        )
        assert r.status_code == 200, r.text
        o = r.json()
        heat = np.asarray(o["map"])
        assert o["class"] == 3 and heat.shape == (28, 28)
        assert heat.min() == 0 and heat.max() == pytest.approx(1)
    sal = explain.saliency(_model(app), digit, class_index=3)
    np.testing.assert_allclose(
        np.asarray(
            client.post("/api/overlay", json={"pixels": digit.tolist(), "class": 3}).json()["map"]
        ),
        sal / sal.max(),
        atol=1e-6,
    )


def test_static_files_come_from_the_package_with_safe_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and "filterbank explore" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").status_code == 200


# ---- bad requests: a JSON 4xx with a message, never a 500 -----------------------------------
def _huge_png(width=30000, height=30000) -> bytes:
    """A valid PNG header claiming 900 megapixels, with a few rows of data (a bomb's shape)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _chunks(total, size=1 << 20):
    sent = 0
    while sent < total:
        yield b"\x00" * min(size, total - sent)
        sent += size


def _bad_requests(pixels):
    nan = json.dumps({"pixels": pixels}).replace("0.0", "NaN", 1)
    boundary = "fbboundary"
    multipart_head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
        f'filename="big.png"\r\nContent-Type: image/png\r\n\r\n'
    ).encode()
    return {
        "50 MB upload": (
            413,
            dict(
                method="POST",
                url="/api/predict",
                files={"image": ("big.png", b"\x89PNG" + b"\0" * 50_000_000, "image/png")},
            ),
        ),
        "50 MB upload, chunked": (
            413,
            dict(
                method="POST",
                url="/api/predict",
                content=_chunks(50_000_000),
                headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            ),
        ),
        "text file named .png": (
            415,
            dict(
                method="POST",
                url="/api/predict",
                files={"image": ("digit.png", b"this is not an image\n" * 10, "image/png")},
            ),
        ),
        "huge PNG": (
            413,
            dict(
                method="POST",
                url="/api/predict",
                files={"image": ("huge.png", _huge_png(), "image/png")},
            ),
        ),
        "100-megapixel PNG": (
            413,
            dict(
                method="POST",
                url="/api/predict",
                files={"image": ("huge.png", _huge_png(10000, 10000), "image/png")},
            ),
        ),
        "empty file": (
            415,
            dict(method="POST", url="/api/predict", files={"image": ("e.png", b"", "image/png")}),
        ),
        "no image field": (
            400,
            dict(
                method="POST", url="/api/predict", files={"picture": ("d.png", b"x", "image/png")}
            ),
        ),
        "truncated multipart": (
            400,
            dict(
                method="POST",
                url="/api/predict",
                content=multipart_head + b"\x89PNG",
                headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            ),
        ),
        "wrong-shape pixels": (
            400,
            dict(method="POST", url="/api/predict", json={"pixels": [[0.5] * 27] * 28}),
        ),
        "ragged pixels": (
            400,
            dict(method="POST", url="/api/predict", json={"pixels": [[0.5] * 28] * 27 + [[0.5]]}),
        ),
        "NaN pixels": (
            400,
            dict(
                method="POST",
                url="/api/predict",
                content=nan,
                headers={"content-type": "application/json"},
            ),
        ),
        "null pixels": (
            400,
            dict(method="POST", url="/api/predict", json={"pixels": [[None] * 28] * 28}),
        ),
        "text pixels": (
            400,
            dict(method="POST", url="/api/predict", json={"pixels": [["a"] * 28] * 28}),
        ),
        "pixels out of range": (
            400,
            dict(method="POST", url="/api/predict", json={"pixels": [[255] * 28] * 28}),
        ),
        "pixels not a list": (400, dict(method="POST", url="/api/predict", json={"pixels": "0.5"})),
        "no pixels": (400, dict(method="POST", url="/api/predict", json={"image": 1})),
        "not JSON": (
            400,
            dict(
                method="POST",
                url="/api/predict",
                content=b"{pixels: oops",
                headers={"content-type": "application/json"},
            ),
        ),
        "deeply nested JSON": (
            400,
            dict(
                method="POST",
                url="/api/predict",
                content=b"[" * 100_000 + b"]" * 100_000,
                headers={"content-type": "application/json"},
            ),
        ),
        "wrong content type": (
            415,
            dict(
                method="POST",
                url="/api/predict",
                content=b"x",
                headers={"content-type": "text/plain"},
            ),
        ),
        "bad encoding": (
            400,
            dict(method="POST", url="/api/predict", json={"pixels": pixels, "encoding": "hex"}),
        ),
        "unknown layer": (
            404,
            dict(
                method="POST",
                url="/api/explain",
                json={"pixels": pixels, "layer": "conv9", "index": [0, 0, 0]},
            ),
        ),
        "index out of range": (
            400,
            dict(
                method="POST",
                url="/api/explain",
                json={"pixels": pixels, "layer": "conv2d", "index": [26, 0, 0]},
            ),
        ),
        "negative index": (
            400,
            dict(
                method="POST",
                url="/api/explain",
                json={"pixels": pixels, "layer": "conv2d", "index": [-1, 0, 0]},
            ),
        ),
        "index of the wrong length": (
            400,
            dict(
                method="POST",
                url="/api/explain",
                json={"pixels": pixels, "layer": "conv2d", "index": [1, 2]},
            ),
        ),
        "index not numbers": (
            400,
            dict(
                method="POST",
                url="/api/explain",
                json={"pixels": pixels, "layer": "conv2d", "index": ["a", 0, 0]},
            ),
        ),
        "explain without layer": (
            400,
            dict(method="POST", url="/api/explain", json={"pixels": pixels}),
        ),
        "overlay class out of range": (
            400,
            dict(method="POST", url="/api/overlay", json={"pixels": pixels, "class": 10}),
        ),
        "overlay class not a number": (
            400,
            dict(method="POST", url="/api/overlay", json={"pixels": pixels, "class": True}),
        ),
        "overlay unknown method": (
            400,
            dict(method="POST", url="/api/overlay", json={"pixels": pixels, "method": "lime"}),
        ),
        "filters of unknown layer": (404, dict(method="GET", url="/api/filters/nope")),
        "too many samples": (400, dict(method="GET", url="/api/samples?count=1000")),
        "samples count not a number": (422, dict(method="GET", url="/api/samples?count=abc")),
        "static path traversal": (404, dict(method="GET", url="/static/../../x")),
        "encoded static path traversal": (
            404,
            dict(method="GET", url="/static/..%2F..%2Fetc%2Fpasswd"),
        ),
        "static file outside the list": (404, dict(method="GET", url="/static/app.py")),
        "unknown route": (404, dict(method="GET", url="/api/nothing")),
        "wrong method": (405, dict(method="GET", url="/api/predict")),
    }


BAD = sorted(_bad_requests([[0.0] * 28] * 28))


@pytest.mark.parametrize("case", BAD)
def test_bad_requests_get_a_json_4xx_with_a_message(client, case):
    status, request = _bad_requests([[0.0] * 28] * 28)[case]
    r = client.request(**request)
    assert r.status_code == status, (case, r.status_code, r.text[:300])
    body = r.json()
    assert isinstance(body["error"], str) and len(body["error"]) > 10
    assert "Traceback" not in r.text


def test_bad_request_messages_say_what_to_do(client):
    def error(**kw):
        return client.request(**kw).json()["error"]

    assert "Did you mean 'conv2d'?" in error(
        method="POST",
        url="/api/explain",
        json={"pixels": [[0.0] * 28] * 28, "layer": "conv2", "index": [0, 0, 0]},
    )
    assert "must be in [0, 25], got 26" in error(
        method="POST",
        url="/api/explain",
        json={"pixels": [[0.0] * 28] * 28, "layer": "conv2d", "index": [26, 0, 0]},
    )
    assert "got (28, 27)" in error(
        method="POST", url="/api/predict", json={"pixels": [[0.5] * 27] * 28}
    )
    assert "NaN or infinite" in error(
        method="POST",
        url="/api/predict",
        content=json.dumps({"pixels": [[float("nan")] * 28] * 28}),
        headers={"content-type": "application/json"},
    )
    assert f"{MAX_UPLOAD_BYTES:,}" in error(
        method="POST",
        url="/api/predict",
        files={"image": ("big.png", b"\0" * (MAX_UPLOAD_BYTES + 100_000), "image/png")},
    )
    assert "10000x10000" in error(
        method="POST",
        url="/api/predict",
        files={"image": ("huge.png", _huge_png(10000, 10000), "image/png")},
    )
    assert "decompression bomb" in error(
        method="POST", url="/api/predict", files={"image": ("huge.png", _huge_png(), "image/png")}
    )


def test_an_unexpected_failure_is_a_json_500_without_traceback(app, monkeypatch):
    from fastapi.testclient import TestClient

    monkeypatch.setattr(app.state.session, "history", lambda: 1 / 0)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/history")
    assert r.status_code == 500 and "ZeroDivisionError" in r.json()["error"]
    assert "Traceback" not in r.text


def test_a_foreign_host_header_is_refused_when_hosts_are_pinned(run_dir):
    from fastapi.testclient import TestClient

    from filterbank.explore import create_app

    with TestClient(
        create_app(run_dir, allowed_hosts={"127.0.0.1"}), base_url="http://evil.example"
    ) as c:
        r = c.get("/api/model")
    assert r.status_code == 400 and "Host" in r.json()["error"]


# ---- many clients at once ------------------------------------------------------------------------
def test_concurrent_requests_give_the_same_numbers_as_serial_ones(app, digit):
    import httpx

    from filterbank.explore.server import serve_in_thread

    rng = np.random.default_rng(0)
    inputs = [
        np.clip(digit + rng.normal(0, 0.2, digit.shape), 0, 1).round(3).tolist() for _ in range(6)
    ]
    jobs = []
    for k in range(30):
        px = inputs[k % len(inputs)]
        if k % 3 == 2:
            jobs.append(
                (
                    "/api/explain",
                    {"pixels": px, "layer": "conv2d_1", "index": [k % 11, (3 * k) % 11, k % 64]},
                )
            )
        else:
            jobs.append(
                ("/api/predict", {"pixels": px, "activations": k % 2 == 0, "encoding": "base64"})
            )
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        serial = [http.post(path, json=body).json() for path, body in jobs]
        with ThreadPoolExecutor(max_workers=12) as pool:
            parallel = list(pool.map(lambda job: http.post(job[0], json=job[1]).json(), jobs))
    assert all("error" not in answer for answer in serial)
    assert parallel == serial


# ---- any model, not only the seed CNN ---------------------------------------------------------
def test_a_branching_model_without_a_run_folder_answers_every_route(digit):
    from fastapi.testclient import TestClient

    import filterbank as keras
    from filterbank import layers
    from filterbank.explore import create_app

    inputs = keras.Input(shape=(12, 10, 3))
    a = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inputs)
    b = layers.Conv2D(4, (1, 3), padding="same", use_bias=False)(a)
    b = layers.BatchNormalization()(b)
    b = layers.Activation("tanh")(b)
    x = layers.Add()([a, b])
    x = layers.Concatenate()([x, layers.AveragePooling2D(1)(a)])
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Dropout(0.5)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(1)
    pixels = rng.random((12, 10, 3)).round(3).tolist()
    with TestClient(create_app(model), raise_server_exceptions=False) as c:
        info = c.get("/api/model").json()
        assert info["data"] is None and info["classes"] == ["0", "1", "2"]
        out = c.post("/api/predict", json={"pixels": pixels, "activations": True}).json()
        np.testing.assert_allclose(
            out["probabilities"],
            model.predict(np.asarray(pixels, np.float32)[None], verbose=0)[0],
            atol=1e-7,
        )
        for layer, act in zip(info["layers"], out["activations"]):
            assert act["shape"] == layer["output_shape"]
            index = [d // 2 for d in layer["output_shape"]]
            r = c.post(
                "/api/explain", json={"pixels": pixels, "layer": layer["name"], "index": index}
            )
            assert r.status_code == 200, (layer["name"], r.text)
            assert r.json()["output"] == pytest.approx(
                float(np.asarray(act["values"])[tuple(index)]), abs=1e-5
            )
        assert c.get("/api/filters/conv2d_1").json()["shape"] == [1, 3, 4, 4]
        assert c.get("/api/history").json() == {
            "history": {},
            "epochs": 0,
            "done": False,
            "source": None,
            "epochs_planned": None,
        }
        r = c.get("/api/samples")
        assert r.status_code == 404 and "draw or upload" in r.json()["error"]
        r = c.post("/api/overlay", json={"pixels": pixels, "method": "grad_cam"})
        assert r.status_code == 200 and np.asarray(r.json()["map"]).shape == (12, 10)
        colour = np.zeros((40, 30, 3), np.uint8)
        colour[5:20, 5:25] = (255, 0, 0)
        r = c.post("/api/predict", files={"image": ("red.png", _png(colour, "RGB"), "image/png")})
        assert r.status_code == 200 and np.asarray(r.json()["input"]).shape == (12, 10, 3)


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../x",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2F..%2Fetc%2Fpasswd",
        "/../../etc/passwd",
    ],
)
def test_raw_traversal_paths_on_a_real_server_get_a_json_404(app, path):
    """Sent as raw bytes (an HTTP client would tidy the path before sending it)."""
    import socket

    from filterbank.explore.server import serve_in_thread

    with serve_in_thread(app) as url:
        host, port = url.split("//")[1].strip("/").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] in (b"404", b"400"), head
    assert "error" in json.loads(body) and b"root:" not in body

"""The explore page in a real browser: Playwright for Python driving the system Chromium.

Playwright cannot download its own browsers here, so it launches ``/usr/bin/chromium`` (or
``$FILTERBANK_CHROMIUM``) headless. Screenshots go to ``$FILTERBANK_TEST_ARTIFACTS`` when set,
else to a temporary folder (printed with ``-s``).
"""

import json
import os
import shutil
import time

import numpy as np
import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need Playwright for Python (pip install playwright)",
)
CHROMIUM = os.environ.get("FILTERBANK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"browser tests need Chromium ({CHROMIUM} not found; apt-get install chromium)",
        allow_module_level=True,
    )
httpx = pytest.importorskip("httpx")

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SEVEN = [[(60, 60), (220, 60)], [(220, 60), (120, 240)]]  # two strokes on the 280px pad


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    folder = os.environ.get("FILTERBANK_TEST_ARTIFACTS")
    path = tmp_path_factory.mktemp("explore-screenshots") if not folder else None
    if folder:
        from pathlib import Path

        path = Path(folder) / "explore"
        path.mkdir(parents=True, exist_ok=True)
    print(f"\nexplore screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def server(app):
    from filterbank.explore.server import serve_in_thread

    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        except Exception as exc:  # a Chromium that cannot start here: say why, skip
            pytest.skip(f"Chromium at {CHROMIUM} did not start: {str(exc).splitlines()[0]}")
        yield b
        b.close()


class Page:
    """A page with its console messages and page errors collected."""

    def __init__(self, browser, url):
        self.page = browser.new_page(viewport={"width": 1500, "height": 1000})
        self.problems = []
        self.page.on(
            "console",
            lambda m: (
                m.type in ("error", "assert")
                and self.problems.append(f"console {m.type}: {m.text}")
            ),
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=20000)
        self.settle()  # the test image the page starts with

    def settle(self, updates_at_least=None, timeout=20.0):
        """Wait until the page has had its predictions answered and nothing is in flight."""
        deadline = time.monotonic() + timeout
        if updates_at_least is None:
            updates_at_least = 1
        while time.monotonic() < deadline:
            done = self.page.evaluate(
                "n => Number(document.body.dataset.updates || 0) >= n && !window.explore.busy",
                updates_at_least,
            )
            if done:
                return
            time.sleep(0.05)
        raise AssertionError("the page did not finish its predictions")

    def updates(self) -> int:
        return int(self.page.evaluate("() => Number(document.body.dataset.updates || 0)"))

    def draw(self, strokes, live=False):
        """Draw with mouse events; with ``live``, check the prediction updates mid-stroke."""
        box = self.page.locator("#draw").bounding_box()
        scale = box["width"] / 280
        for stroke in strokes:
            (x, y), rest = stroke[0], stroke[1:]
            self.page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
            before = self.updates()
            self.page.mouse.down()
            for x, y in rest:
                self.page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=12)
            if live:  # the button is still down: the bars must already have moved
                self.page.wait_for_function(
                    f"() => Number(document.body.dataset.updates) > {before}"
                )
            self.page.mouse.up()
        self.settle()
        assert "your drawing" in self.page.inner_text("#input-note")

    def shown_probabilities(self):
        return self.page.evaluate(
            "() => [...document.querySelectorAll('#bars .bar')].map(b => Number(b.dataset.p))"
        )


@pytest.fixture
def page(browser, server):
    p = Page(browser, server)
    yield p
    p.page.close()


def test_page_loads_with_every_layer_and_no_console_errors(page, app, artifacts):
    cards = page.page.locator("#layers .card")
    assert cards.count() == 1 + len(app.state.session.model.layers)
    assert "seed_sequential" in page.page.inner_text("#model-facts")
    page.page.wait_for_function("() => document.body.dataset.curves !== undefined")
    page.page.screenshot(path=str(artifacts / "loaded.png"))
    assert page.problems == []


def test_drawing_a_digit_predicts_as_the_api_does_on_the_same_pixels(page, server, artifacts):
    page.draw(SEVEN, live=True)
    pixels = page.page.evaluate("() => window.explore.pixels")
    x = np.asarray(pixels, np.float64)
    assert x.shape == (28, 28) and x.max() > 0.9
    rows, cols = np.nonzero(x > 0.05)  # framed like MNIST: within 20x20, centred
    assert rows.max() - rows.min() < 21 and cols.max() - cols.min() < 21
    from filterbank.explore.preprocess import center_of_mass

    cy, cx = center_of_mass(x)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    api = httpx.post(server + "api/predict", json={"pixels": pixels}).json()
    assert page.shown_probabilities() == api["probabilities"]
    assert page.page.evaluate("document.body.dataset.predicted") == str(api["predicted"])
    seen = page.page.evaluate("() => Array.from(document.querySelectorAll('#input-view')).length")
    assert seen == 1
    page.page.screenshot(path=str(artifacts / "drawn.png"))
    assert page.problems == []


def test_clicking_a_conv_cell_shows_the_numbers_of_the_explain_api(page, server, artifacts):
    page.draw(SEVEN)
    tile = page.page.locator("#card-conv2d_1 canvas[data-channel='5']")
    tile.scroll_into_view_if_needed()
    box = tile.bounding_box()
    tile.click(position={"x": box["width"] * (4.5 / 11), "y": box["height"] * (6.5 / 11)})
    page.page.wait_for_function(
        "() => document.getElementById('arith-body').dataset.index === '[6,4,5]'", timeout=15000
    )
    pixels = page.page.evaluate("() => window.explore.pixels")
    api = httpx.post(
        server + "api/explain", json={"pixels": pixels, "layer": "conv2d_1", "index": [6, 4, 5]}
    ).json()
    shown = page.page.evaluate("""() => Object.fromEntries(['arith-output', 'arith-sum', 'arith-z']
        .map(id => [id, Number(document.getElementById(id).dataset.value)]))""")
    assert shown == {
        "arith-output": api["output"],
        "arith-sum": api["sum"],
        "arith-z": api["pre_activation"],
    }
    # the patch, the kernel and the products of the chosen input channel are shown
    k = int(page.page.input_value("#arith-channel"))
    tables = page.page.locator("#arith-body table.nums")
    assert tables.count() == 3
    patch = [
        [float(td.get_attribute("title")) for td in tr.locator("td").all()]
        for tr in tables.nth(0).locator("tr").all()
    ]
    assert patch == [[cell[k] for cell in row] for row in api["window"]]
    kernel = [
        [float(td.get_attribute("title")) for td in tr.locator("td").all()]
        for tr in tables.nth(1).locator("tr").all()
    ]
    assert kernel == [[cell[k] for cell in row] for row in api["kernel"]]
    # the window is highlighted in the previous layer's map
    assert "linked" in page.page.get_attribute("#card-max_pooling2d", "class")
    assert page.page.evaluate("window.explore.highlight.cells") == api["input_positions"]
    page.page.screenshot(path=str(artifacts / "explain.png"))
    assert page.problems == []


def test_clicking_a_pooling_cell_and_a_dense_unit(page, server):
    page.draw(SEVEN)
    tile = page.page.locator("#card-max_pooling2d canvas[data-channel='0']")
    tile.scroll_into_view_if_needed()
    box = tile.bounding_box()
    tile.click(position={"x": box["width"] * (6.5 / 13), "y": box["height"] * (2.5 / 13)})
    page.page.wait_for_function(
        "() => document.getElementById('arith-body').dataset.index === '[2,6,0]'", timeout=15000
    )
    pixels = page.page.evaluate("() => window.explore.pixels")
    api = httpx.post(
        server + "api/explain",
        json={"pixels": pixels, "layer": "max_pooling2d", "index": [2, 6, 0]},
    ).json()
    assert float(page.page.get_attribute("#arith-output", "data-value")) == api["output"]
    assert page.page.locator("#arith-body td.win").count() == 1
    bars = page.page.locator("#card-dense_1 canvas")
    bars.scroll_into_view_if_needed()
    box = bars.bounding_box()
    bars.click(position={"x": box["width"] * (7.5 / 10), "y": box["height"] / 2})
    page.page.wait_for_function(
        "() => document.getElementById('arith-body').dataset.index === '[7]'", timeout=15000
    )
    api = httpx.post(
        server + "api/explain", json={"pixels": pixels, "layer": "dense_1", "index": [7]}
    ).json()
    assert float(page.page.get_attribute("#arith-output", "data-value")) == api["output"]
    assert page.problems == []


def test_upload_shows_what_the_model_receives_and_predicts_it(page, server, digit, tmp_path):
    from PIL import Image

    path = tmp_path / "paper-digit.png"
    Image.fromarray(np.round((1 - digit) * 255).astype(np.uint8)).resize((112, 112)).save(path)
    page.page.click("#tab-upload")
    page.page.set_input_files("#upload", str(path))
    page.page.wait_for_function(
        "() => document.getElementById('input-note').textContent.includes('uploaded paper-digit.png')"
    )
    with open(path, "rb") as f:
        api = httpx.post(
            server + "api/predict",
            files={"image": ("d.png", f, "image/png")},
            data={"frame": "mnist"},
        ).json()
    assert page.shown_probabilities() == api["probabilities"]
    assert page.page.evaluate("() => window.explore.pixels") == [
        [row_px[0] for row_px in row] for row in api["input"]
    ]
    assert "inverted" in page.page.inner_text("#input-note")
    assert page.problems == []


def test_test_images_and_filters(page, server):
    page.page.click("#tab-samples")
    page.page.wait_for_selector("#samples canvas")
    page.page.locator("#samples canvas").nth(2).click()
    page.settle()
    pixels = page.page.evaluate("() => window.explore.pixels")
    api = httpx.post(server + "api/predict", json={"pixels": pixels}).json()
    assert page.shown_probabilities() == api["probabilities"]
    assert "test image #" in page.page.inner_text("#input-note")
    page.page.click("#card-conv2d button")
    page.page.wait_for_selector("#card-conv2d .filters canvas")
    assert page.page.locator("#card-conv2d .filters canvas").count() == 32
    assert page.problems == []


def _painted(page, selector):
    """How many pixels of a canvas are not blank."""
    return page.evaluate(
        """sel => { const c = document.querySelector(sel);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""",
        selector,
    )


def test_curves_render_and_follow_a_run_while_it_trains(browser, run_dir, tmp_path, artifacts):
    from filterbank.explore import create_app
    from filterbank.explore.server import serve_in_thread

    live_run = tmp_path / "run"
    shutil.copytree(run_dir, live_run)
    (live_run / "metrics.json").unlink()  # a run still training: only history.json
    history = live_run / "history.json"
    history.write_text(
        json.dumps({"history": {"loss": [1.0], "accuracy": [0.6]}, "epochs": 4, "done": False})
    )
    with serve_in_thread(create_app(live_run)) as url:
        p = Page(browser, url)
        p.page.wait_for_function("() => document.body.dataset.curves === '1'")
        assert "epoch 1 of 4" in p.page.inner_text("#curve-note")
        history.write_text(
            json.dumps(
                {
                    "history": {"loss": [1.0, 0.5, 0.4], "accuracy": [0.6, 0.8, 0.85]},
                    "epochs": 4,
                    "done": False,
                }
            )
        )
        p.page.wait_for_function("() => document.body.dataset.curves === '3'", timeout=10000)
        assert _painted(p.page, "#curve-loss") > 500 and _painted(p.page, "#curve-acc") > 500
        p.page.locator("#curve-loss").screenshot(path=str(artifacts / "curves.png"))
        assert p.problems == []
        p.page.close()


def test_drawing_with_a_finger_on_a_phone_sized_page(browser, server, artifacts):
    context = browser.new_context(
        viewport={"width": 420, "height": 900}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(server)
    page.wait_for_selector("body[data-ready='1']")
    box = page.locator("#draw").bounding_box()
    assert box["width"] <= 420
    cdp = context.new_cdp_session(page)  # real touch events, as a finger makes them
    points = [
        (box["x"] + box["width"] * (0.3 + 0.02 * i), box["y"] + box["height"] * (0.2 + 0.03 * i))
        for i in range(20)
    ]
    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]},
    )
    for x, y in points[1:]:
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_function(
        "() => document.getElementById('input-note').textContent"
        ".includes('your drawing') && !window.explore.busy"
    )
    pixels = page.evaluate("() => window.explore.pixels")
    assert np.asarray(pixels).max() > 0.9
    api = httpx.post(server + "api/predict", json={"pixels": pixels}).json()
    assert page.evaluate("() => window.explore.prediction.probabilities") == api["probabilities"]
    page.screenshot(path=str(artifacts / "phone.png"))
    assert problems == []
    context.close()

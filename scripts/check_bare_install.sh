#!/bin/sh
# A bare install (no extras: NumPy + safetensors only) trains, evaluates and saves a run.
# Usage: scripts/check_bare_install.sh [extra train arguments, e.g. --train-samples 512]
# Creates a fresh virtualenv in a temporary folder, pip-installs this checkout into it (the
# package index must be reachable, or a local mirror configured for pip), runs
#   filterbank train --epochs 1 --out DIR
# offline on the bundled MNIST subset, and checks that DIR/model.fbk and DIR/metrics.json
# exist and load. Exit status 0 on success.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Install from a copy of the tracked (and new, unignored) files: pip's in-tree build would
# otherwise leave build/ and *.egg-info in the checkout.
mkdir "$WORK/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar cf -) |
    (cd "$WORK/src" && tar xf -)
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q "$WORK/src"
echo "installed: $("$WORK/venv/bin/pip" list --format=freeze | tr '\n' ' ')"
cd "$WORK"
env -u PYTHONPATH FILTERBANK_OFFLINE=1 FILTERBANK_HOME="$WORK/home" \
    "$WORK/venv/bin/filterbank" train --epochs 1 --out "$WORK/run" --verbose 2 "$@"
test -s "$WORK/run/model.fbk"
test -s "$WORK/run/metrics.json"
env -u PYTHONPATH "$WORK/venv/bin/python" -c \
    "import filterbank as k, sys; k.models.load_model(sys.argv[1]).summary()" "$WORK/run/model.fbk" \
    > /dev/null
echo "bare install: train --epochs 1 wrote model.fbk and metrics.json, and the model loads"

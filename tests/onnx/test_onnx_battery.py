"""Every layer class with an ONNX converter, exported in a one-layer model built from its
layer-battery cases (tests/layers/battery_cases*.py): ONNX Runtime agrees with ``predict``.

This is what checks the converters of the layers that the random model generator does not
draw (the newer convolution, resampling, normalization, merge and preprocessing layers)
against filterbank itself, not only against Keras stand-ins.
"""

import glob
import importlib.util
import os

import numpy as np
import pytest

pytest.importorskip("onnx", reason="needs onnx")
pytest.importorskip("onnxruntime", reason="needs onnxruntime")

from filterbank import layers  # noqa: E402
from filterbank.models import Model  # noqa: E402
from filterbank.onnx.converters import CONVERTERS  # noqa: E402
from tests.onnx.random_models import randomize_weights  # noqa: E402
from tests.onnx.test_onnx_export import _check  # noqa: E402


def _battery_cases():
    cases = {}
    here = os.path.join(os.path.dirname(__file__), "..", "layers")
    for path in sorted(glob.glob(os.path.join(here, "battery_cases*.py"))):
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name, entries in mod.CASES.items():
            cases.setdefault(name, []).extend(entries)
    return cases


CASES = _battery_cases()
EXPORTABLE = sorted(set(CONVERTERS) & set(layers.LAYER_CLASSES) & set(CASES) - {"InputLayer"})
PARAMS = [(name, i) for name in EXPORTABLE for i in range(len(CASES[name]))]


@pytest.mark.parametrize("name,i", PARAMS, ids=[f"{n}-{i}" for n, i in PARAMS])
def test_battery_layer_exports(name, i):
    case = CASES[name][i]
    shapes = case["input_shape"]
    many = isinstance(shapes, list)
    ins = [layers.Input(shape=tuple(s[1:])) for s in (shapes if many else [shapes])]
    layer = layers.LAYER_CLASSES[name](**case["kwargs"])
    model = Model(ins if many else ins[0], layer(ins if many else ins[0]))
    randomize_weights(model, np.random.default_rng(i))
    _check(model, batches=(1, 5), reference=False)

"""benchmarks/new_layers.py builds the same models in both frameworks and their steps run."""

import numpy as np
import pytest

from benchmarks import new_layers


@pytest.mark.parametrize("model", new_layers.MODELS)
def test_both_frameworks_build_and_step(model):
    pytest.importorskip("torch")
    fb_step, fb_params = new_layers.filterbank_step(model, 2, 0)
    th_step, th_params = new_layers.torch_step(model, 2, 0)
    # Same trainable weights; filterbank also counts BatchNormalization's two moving
    # statistics (64 + 64), which PyTorch keeps as buffers.
    assert fb_params - th_params == (128 if model == "separable" else 0)
    for step in (fb_step, th_step):
        losses = [float(step()) for _ in range(3)]
        assert all(np.isfinite(losses))

"""overflow_magnitude: the one float-range check behind set_weights and fit's data checks."""

import numpy as np
import pytest

from filterbank.layers.checks import check_weight_values, overflow_magnitude
from filterbank.models.validation import check_fits


def test_overflow_magnitude():
    assert overflow_magnitude(np.array([1e39, -2e39]), np.float32) == 2e39
    assert overflow_magnitude(np.array([3.0e38, -1.0]), np.float32) is None
    assert overflow_magnitude(np.array([1e300]), np.float64) is None


def test_both_callers_still_refuse_overflow():
    with pytest.raises(ValueError, match="beyond the largest float32"):
        check_weight_values(np.array([1e39]), np.float32, "weight 'bias'")
    with pytest.raises(ValueError, match="too large for float32"):
        check_fits(np.array([1e300]), np.float32, "x", "fit")

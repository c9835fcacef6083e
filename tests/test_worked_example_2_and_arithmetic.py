"""Worked example 2 (why CNNs: parameter counts) and example 4's "doesn't fit" case."""

import math

import pytest

import filterbank as keras
from filterbank import layers
from filterbank.utils import conv_arithmetic


def test_example2_fully_connected_1000x1000_image_needs_10_to_the_12_weights():
    # A Dense layer's weights are in*units (+ units biases); check the rule on a small layer,
    # then apply it to the 1000x1000 -> 1000x1000 case without allocating 4 TB.
    dense = layers.Dense(30)
    dense(keras.Input(shape=(40,)))
    assert dense.count_params() == 40 * 30 + 30
    connections = (1000 * 1000) * (1000 * 1000)
    assert math.log10(connections) == 12


def test_example2_an_11x11_filter_has_121_weights_whatever_the_image_size():
    for size in (32, 1000):
        conv = layers.Conv2D(1, (11, 11))
        conv(keras.Input(shape=(size, size, 1)))
        kernel, bias = conv.get_weights()
        assert kernel.size == 121 and bias.size == 1 and conv.count_params() == 122


@pytest.mark.parametrize(
    "s,size,exact,fits", [(1, 5, 5.0, True), (2, 3, 3.0, True), (3, 2, 7 / 3, False)]
)
def test_example4_formula_says_when_it_does_not_fit(s, size, exact, fits):
    r = conv_arithmetic(7, 3, s=s)
    assert (r.size, r.fits) == (size, fits) and r.exact == pytest.approx(exact)
    assert r.size == layers.Conv2D(1, 3, strides=s)(keras.Input(shape=(7, 7, 1))).shape[1]
    if not fits:
        assert "doesn't fit" in str(r) and "floor it to 2" in str(r)


def test_example4_pad_one_keeps_7x7_and_errors():
    assert conv_arithmetic(7, 3, s=1, p=1).size == 7
    with pytest.raises(ValueError, match=r"filter \(9\) is larger than the padded input"):
        conv_arithmetic(7, 9)
    with pytest.raises(ValueError, match="argument s expects an integer >= 1, got 0"):
        conv_arithmetic(7, 3, s=0)

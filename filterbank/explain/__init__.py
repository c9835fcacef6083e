"""See inside a CNN: the arithmetic behind any output cell, feature maps, gradients.

``explain.cell(model, x, layer, index)`` returns an :class:`Explanation` of one output cell
for one sample, built from the layer's own weights and the values its input held.
``str()`` prints the arithmetic as the seeds write it; ``.to_dict()`` gives JSON-ready data
(``Snapshot(model, x).cell(layer, index)`` explains many cells of one sample after a single
forward pass):

=================  ===================================================================
key                value
=================  ===================================================================
layer, layer_type  the layer's name and class ("Conv2D")
kind               "conv", "max_pool", "average_pool", "global_pool", "dense",
                   "batch_norm", "activation", "softmax", "reshape", "merge",
                   "padding" (ZeroPadding2D), "identity" (Dropout) or "other"
index              the output position without the batch axis ([i, j, c], [i, c], [k])
output             the result of the arithmetic (float64 from the layer's float32 values)
model_output       the value the model itself computed there (equal within rounding)
pre_activation     z before the activation (conv, dense; the input for activations)
activation         "relu", "softmax", ... or "linear"
bias, sum          the bias and the sum of the products (conv, dense)
window             conv: [kh][kw][cin] ([k][cin] for Conv1D) of the input values the
                   layer saw, zero padding included; pooling: [kh][kw] ([k]) of one
                   channel; global pooling: the whole map of one channel; dense: the
                   input vector
padding_mask       like window (without the channel axis): true where it is padding
origin             [r0, c0] ([t0]): top-left of the window in the unpadded input
                   (negative where padding comes first)
input_positions    [[r, c], ...]: the real input cells the window covers
kernel, products   conv: [kh][kw][cin] slice of filter c and window * kernel; dense:
                   the weight column and the element-wise products
winner             max pooling: {"position": [r, c, ch], "value", "window_position"}
counted            average pooling: true where the entry counts in the mean
contributions      dense: the 10 largest products as {input_index, input, weight,
                   product, source_position (where a Flatten took it from)}
channel            the output channel (conv, pooling) or unit (dense)
input_layer        the name of the layer whose output is this layer's input (a list
                   for merges)
details            per kind: strides/padding/dilation (conv), operation and count
                   (pooling), logits (softmax), statistics (batch norm), ...
text               str(explanation)
=================  ===================================================================

Example:
    >>> import json
    >>> import numpy as np
    >>> import filterbank as keras
    >>> from filterbank import explain, layers
    >>> keras.utils.clear_session()
    >>> model = keras.Sequential([keras.Input(shape=(5, 5, 1)), layers.Conv2D(1, 3)])
    >>> model.layers[0].set_weights([np.ones((3, 3, 1, 1)), np.zeros(1)])
    >>> e = explain.cell(model, np.eye(5), "conv2d", (0, 0, 0))
    >>> e.output, e.origin, json.loads(json.dumps(e.to_dict()))["sum"]
    (3.0, [0, 0], 3.0)
"""

from .. import _lazy
from .arithmetic import arithmetic_text, count_params, layer_arithmetic
from .cell import Snapshot, cell
from .explanation import Explanation
from .gradients import grad_cam, gradients, saliency
from .maps import feature_maps, pool_winners
from .text import gradients_text, map_text, maps_text, winners_text

# The pictures import matplotlib: only when asked for.
__getattr__ = _lazy.lazy_attributes(__name__, __name__, ("plots",))


__all__ = [
    "Explanation",
    "Snapshot",
    "arithmetic_text",
    "cell",
    "count_params",
    "feature_maps",
    "grad_cam",
    "gradients",
    "gradients_text",
    "layer_arithmetic",
    "map_text",
    "maps_text",
    "pool_winners",
    "saliency",
    "winners_text",
]

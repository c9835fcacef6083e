"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D and their global versions.

Channels-last: 2D layers take (batch, height, width, channels), 1D layers
(batch, steps, channels). The math lives in :mod:`filterbank.ops.pool`.

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> layers.MaxPooling2D((2, 2))(np.zeros((1, 26, 26, 32), "float32")).shape
    (1, 13, 13, 32)
    >>> layers.GlobalAveragePooling2D()(np.ones((2, 5, 5, 3), "float32")).shape
    (2, 3)
"""

from __future__ import annotations

import numpy as np

from ..errors import fmt_shape
from ..ops import kernels as _kernels
from ..ops import pool as _pool
from ..ops.padding import output_size, pad_amounts
from .args import check_data_format, check_int_tuple, check_padding  # noqa: F401  (re-exported)
from .base import Layer


# ---- windowed pooling ---------------------------------------------------------------------
class _Steps:
    """Shape facts shared by the 1D layers: (batch, steps, channels)."""

    rank = 1
    expected_ndim = 3
    axes = "(batch, steps, channels)"
    _axis_names = ("steps",)
    _default_example = "2"


class _Image:
    """Shape facts shared by the 2D layers: (batch, height, width, channels)."""

    rank = 2
    expected_ndim = 4
    axes = "(batch, height, width, channels)"
    _axis_names = ("height", "width")
    _default_example = "(2, 2)"


class _Pooling(Layer):
    """Shared code of the four windowed pooling layers (rank 1 or 2)."""

    rank = 2
    _axis_names = ("height", "width")
    _default_example = "(2, 2)"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        ex = self._default_example
        self.pool_size = check_int_tuple(self.name, "pool_size", pool_size, self.rank, ex)
        self.strides = (
            self.pool_size
            if strides is None
            else check_int_tuple(self.name, "strides", strides, self.rank, ex)
        )
        self.padding = check_padding(self.name, padding)
        self.data_format = check_data_format(self.name, data_format)

    def _output_spatial(self, shape):
        """Output sizes for input ``shape`` (batch first); explains a window that cannot fit."""
        out = []
        for axis, (n, k, s) in enumerate(zip(shape[1:-1], self.pool_size, self.strides)):
            if n is None:
                out.append(None)
            elif self.padding == "same":
                out.append(output_size(n, k, s, pad_amounts(n, k, s, "same")))
            elif n < k:
                name = self._axis_names[axis]
                size = self.pool_size[0] if self.rank == 1 else self.pool_size
                raise ValueError(
                    f"Layer '{self.name}' pool_size {size} does not fit its input of shape "
                    f"{fmt_shape(shape)} with padding='valid': output {name} = "
                    f"floor(({n} - {k}) / {s}) + 1 = {(n - k) // s + 1}, needs >= 1. Use "
                    "padding='same', a smaller pool_size or a larger input (fewer pooling "
                    "layers before this one)."
                )
            else:
                out.append(output_size(n, k, s))
        return tuple(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._output_spatial(input_shape), input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            pool_size=self.pool_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
        )
        return config

    def _args(self):
        if self.rank == 1:
            return self.pool_size[0], self.strides[0], self.padding
        return self.pool_size, self.strides, self.padding


class _MaxPooling(_Pooling):
    def kernel_for(self, shape, dtype, training=False):
        """Training (max with argmax, and the backward): ``kernels.choose("maxpool")``;
        inference takes the plain NumPy max, which measured faster than a compiled loop."""
        if not training:
            return None
        return _kernels.choose("maxpool", _kernels.Query(tuple(shape), np.dtype(dtype)))

    def forward(self, inputs, training=False):
        self._output_spatial(inputs.shape)
        fwd = _pool.max_pool1d_forward if self.rank == 1 else _pool.max_pool2d_forward
        self._input_shape = inputs.shape
        if training:
            # Training: keep only where each maximum came from (what backward needs).
            y, self._argmax = fwd(inputs, *self._args(), return_argmax=True)
            self._x = None
        else:
            y, self._argmax, self._x = fwd(inputs, *self._args()), None, inputs
        return y

    def backward(self, grad):
        if not self.compute_input_grad:
            return None
        fwd, bwd = (
            (_pool.max_pool1d_forward, _pool.max_pool1d_backward)
            if self.rank == 1
            else (_pool.max_pool2d_forward, _pool.max_pool2d_backward)
        )
        if self._argmax is None:  # the forward ran in inference mode: find the winners now
            _, self._argmax = fwd(self._x, *self._args(), return_argmax=True)
        return bwd(grad, self._argmax, self._input_shape, *self._args())


class _AveragePooling(_Pooling):
    def forward(self, inputs, training=False):
        self._output_spatial(inputs.shape)
        self._input_shape = inputs.shape
        fwd = _pool.avg_pool1d_forward if self.rank == 1 else _pool.avg_pool2d_forward
        return fwd(inputs, *self._args())

    def backward(self, grad):
        if not self.compute_input_grad:
            return None
        bwd = _pool.avg_pool1d_backward if self.rank == 1 else _pool.avg_pool2d_backward
        return bwd(grad, self._input_shape, *self._args())


class MaxPooling2D(_Image, _MaxPooling):
    """Max over pool_size windows: (batch, H, W, C) -> (batch, OH, OW, C).

    OH = floor((H - ph) / sh) + 1 with padding="valid", ceil(H / sh) with "same"
    (Keras: the odd padding cell goes at the end). ``strides`` defaults to ``pool_size``.

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], "float32")
        >>> layers.MaxPooling2D((2, 2), strides=2)(x[None, :, :, None])[0, :, :, 0]
        array([[6., 8.],
               [3., 4.]], dtype=float32)
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Image, _AveragePooling):
    """Mean over pool_size windows: (batch, H, W, C) -> (batch, OH, OW, C).

    With padding="same" each window's mean counts only its real cells (TensorFlow's rule).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.AveragePooling2D(2)(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0]
        array([[ 2.5,  4.5],
               [10.5, 12.5]], dtype=float32)
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling1D(_Steps, _MaxPooling):
    """Max over windows along the steps: (batch, steps, C) -> (batch, out_steps, C).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.MaxPooling1D(2)(np.array([[[1.0], [3.0], [2.0], [0.0]]]))[0, :, 0]
        array([3., 2.], dtype=float32)
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Steps, _AveragePooling):
    """Mean over windows along the steps: (batch, steps, C) -> (batch, out_steps, C).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.AveragePooling1D(2)(np.array([[[1.0], [3.0], [2.0], [0.0]]]))[0, :, 0]
        array([2., 1.], dtype=float32)
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


# ---- global pooling -----------------------------------------------------------------------
class _GlobalPooling(Layer):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(self.name, data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], *([1] * (len(input_shape) - 2)), input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class _GlobalMaxPooling(_GlobalPooling):
    def forward(self, inputs, training=False):
        self._x = inputs
        return _pool.global_max_pool_forward(inputs, self.keepdims)

    def backward(self, grad):
        if not self.compute_input_grad:
            return None
        return _pool.global_max_pool_backward(grad, self._x, self.keepdims)


class _GlobalAveragePooling(_GlobalPooling):
    def forward(self, inputs, training=False):
        self._input_shape = inputs.shape
        return _pool.global_avg_pool_forward(inputs, self.keepdims)

    def backward(self, grad):
        if not self.compute_input_grad:
            return None
        return _pool.global_avg_pool_backward(grad, self._input_shape, self.keepdims)


class GlobalMaxPooling2D(_Image, _GlobalMaxPooling):
    """Max over height and width: (batch, H, W, C) -> (batch, C) or (batch, 1, 1, C).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.GlobalMaxPooling2D()(np.arange(8.0).reshape(1, 2, 2, 2))
        array([[6., 7.]], dtype=float32)
    """


class GlobalAveragePooling2D(_Image, _GlobalAveragePooling):
    """Mean over height and width: (batch, H, W, C) -> (batch, C) or (batch, 1, 1, C).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.GlobalAveragePooling2D(keepdims=True)(np.ones((2, 4, 4, 3))).shape
        (2, 1, 1, 3)
    """


class GlobalMaxPooling1D(_Steps, _GlobalMaxPooling):
    """Max over the steps: (batch, steps, C) -> (batch, C) or (batch, 1, C).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.GlobalMaxPooling1D()(np.array([[[1.0, 5.0], [4.0, 2.0]]]))
        array([[4., 5.]], dtype=float32)
    """


class GlobalAveragePooling1D(_Steps, _GlobalAveragePooling):
    """Mean over the steps: (batch, steps, C) -> (batch, C) or (batch, 1, C).

    Example:
        >>> import numpy as np
        >>> from filterbank import layers
        >>> layers.GlobalAveragePooling1D()(np.array([[[1.0, 5.0], [4.0, 2.0]]]))
        array([[2.5, 3.5]], dtype=float32)
    """


__all__ = [
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
]

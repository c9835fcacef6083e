"""BatchNormalization with Keras 3 semantics (math in :mod:`filterbank.ops.normalization`).

Example:
    >>> import numpy as np
    >>> from filterbank import layers
    >>> bn = layers.BatchNormalization()
    >>> y = bn(np.array([[1.0, 10.0], [3.0, 30.0]], "float32"), training=True)
    >>> np.round(y, 3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> [w.shape for w in bn.get_weights()]     # gamma, beta, moving_mean, moving_variance
    [(2,), (2,), (2,), (2,)]
    >>> bn.get_weights()[2].round(4)            # 0.99 * 0 + 0.01 * batch mean
    array([0.02, 0.2 ], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ..errors import fmt_shape
from ..ops import normalization as _bn
from .base import Layer, weights_changed


class BatchNormalization(Layer):
    """Normalize each feature (channel) to zero mean and unit variance, then scale and shift.

    ``training=True`` (and the layer trainable): use the batch's mean and biased variance
    over every axis but ``axis``, and update
    ``moving = moving * momentum + batch * (1 - momentum)``. Otherwise (inference, or
    ``trainable=False``, as Keras) use the moving statistics.

    Shapes: input (batch, ..., C) with C on ``axis``; weights (C,) each, in Keras order
    gamma, beta, moving_mean, moving_variance (the last two non-trainable).

    ``stats_reducer`` (None: this process's batch is the batch) is set by
    :mod:`filterbank.distributed` to synchronise the batch statistics, and the sums the
    backward pass needs, across processes (see ``ops.normalization``).

    Example:
        >>> from filterbank import layers
        >>> import filterbank as keras
        >>> x = layers.BatchNormalization()(keras.Input(shape=(26, 26, 32)))
        >>> x.shape
        (None, 26, 26, 32)
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(
                f"Layer '{self.name}' argument axis expects an integer (the feature axis), got "
                f"{axis!r}. Pass e.g. axis=-1 for channels-last."
            )
        for arg, value in (("momentum", momentum), ("epsilon", epsilon)):
            number = isinstance(value, (int, float, np.integer, np.floating))
            ok = number and not isinstance(value, bool)
            ok = ok and (0 <= value <= 1 if arg == "momentum" else value > 0)
            if not ok:
                bound = "in [0, 1]" if arg == "momentum" else "> 0"
                raise ValueError(
                    f"Layer '{self.name}' argument {arg} expects a number {bound}, got {value!r}. "
                    "Keras's defaults are momentum=0.99, epsilon=1e-3."
                )
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self._cache = None

    stats_reducer = None  # filterbank.distributed's hook: synchronised batch statistics

    # ---- shapes ---------------------------------------------------------------------------
    def _feature_axis(self, shape, index=0) -> int:
        ndim = len(shape)
        if not -ndim <= self.axis < ndim or (self.axis % ndim) == 0:
            raise ValueError(
                f"Input {index} of layer '{self.name}' has shape {fmt_shape(shape)}, so axis="
                f"{self.axis} is not a feature axis (the batch axis 0 cannot be normalized over "
                "itself). Use axis=-1 for channels-last data."
            )
        return self.axis % ndim

    def check_input_shape(self, shape, index=0):
        if len(shape) < 2:
            raise ValueError(
                f"Input {index} of layer '{self.name}' expects at least 2 dims (batch, ..., "
                f"features), got shape {fmt_shape(shape)}. Add a batch axis: x[None, :]."
            )
        axis = self._feature_axis(shape, index)
        if self.built:
            c = self.params["moving_mean"].shape[0]
            if self._build_rank != len(shape) or (shape[axis] is not None and shape[axis] != c):
                raise ValueError(
                    f"Input {index} of layer '{self.name}' expects {self._build_rank} dims with "
                    f"{c} features on axis {self.axis}, got shape {fmt_shape(shape)}."
                )

    def build(self, input_shape):
        axis = self._feature_axis(input_shape)
        c = input_shape[axis]
        if c is None:
            raise ValueError(
                f"Layer '{self.name}' needs a known size on axis {self.axis}, got shape "
                f"{fmt_shape(input_shape)}."
            )
        self._build_rank = len(input_shape)
        if self.scale:
            self.add_weight(
                "gamma", (c,), self.gamma_initializer, regularizer=self.gamma_regularizer
            )
        if self.center:
            self.add_weight("beta", (c,), self.beta_initializer, regularizer=self.beta_regularizer)
        self.add_weight("moving_mean", (c,), self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", (c,), self.moving_variance_initializer, trainable=False)

    def compute_output_shape(self, input_shape):
        return input_shape

    # ---- computation ----------------------------------------------------------------------
    def forward(self, inputs, training=False):
        self.check_input_shape(inputs.shape)
        gamma, beta = self.params.get("gamma"), self.params.get("beta")
        mm, mv = self.params["moving_mean"], self.params["moving_variance"]
        if training and self.trainable:
            reduce = self.stats_reducer
            y, cache = _bn.batch_norm_train_forward(
                inputs, gamma, beta, self.epsilon, self.axis, reduce=reduce
            )
            _bn.update_moving(mm, cache.mean, self.momentum)
            _bn.update_moving(mv, cache.var, self.momentum)
            weights_changed()  # folded inference steps (models/fold.py) read these
            self._cache = ("train", (cache, reduce))
        else:
            y = _bn.batch_norm_inference_forward(
                inputs, mm, mv, gamma, beta, self.epsilon, self.axis
            )
            # Statistics as used now: a later training step must not change this backward.
            self._cache = ("inference", (inputs, mm.copy(), mv.copy()))
        return y

    def backward(self, grad):
        mode, cache = self._cache
        gamma = self.params.get("gamma")
        if mode == "train":
            cache, reduce = cache
            dx, dgamma, dbeta = _bn.batch_norm_train_backward(grad, cache, gamma, reduce=reduce)
        else:
            x, mm, mv = cache
            dx, dgamma, dbeta = _bn.batch_norm_inference_backward(
                grad, x, mm, mv, gamma, self.epsilon, self.axis
            )
        if self.scale:
            self.grads["gamma"] = dgamma.astype(self.params["gamma"].dtype, copy=False)
        if self.center:
            self.grads["beta"] = dbeta.astype(self.params["beta"].dtype, copy=False)
        return dx if self.compute_input_grad else None

    def get_config(self):
        config = super().get_config()
        ser_i, ser_r = _initializers.serialize, _regularizers.serialize
        config.update(
            axis=self.axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=ser_i(self.beta_initializer),
            gamma_initializer=ser_i(self.gamma_initializer),
            moving_mean_initializer=ser_i(self.moving_mean_initializer),
            moving_variance_initializer=ser_i(self.moving_variance_initializer),
            beta_regularizer=ser_r(self.beta_regularizer),
            gamma_regularizer=ser_r(self.gamma_regularizer),
        )
        return config

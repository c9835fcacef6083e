"""Battery cases for the layers of the first release (tests/layers/test_battery.py).

Each entry: ``dict(kwargs={...}, input_shape=(batch, ...))`` (a list of shapes for merge
layers). Optional keys: ``gradcheck=False`` for a case too large for finite differences
(say why in a comment). Non-square inputs and kernels, strides and both paddings where
they apply.
"""

CASES = {
    "InputLayer": [dict(kwargs=dict(shape=(5, 4, 3)), input_shape=(2, 5, 4, 3))],
    "Dense": [
        dict(kwargs=dict(units=3, activation="relu"), input_shape=(2, 5)),
        dict(kwargs=dict(units=4, activation="softmax", use_bias=False), input_shape=(3, 6)),
        dict(kwargs=dict(units=2, activation="tanh"), input_shape=(2, 3, 4)),
    ],
    "Activation": [
        dict(kwargs=dict(activation="tanh"), input_shape=(2, 4, 3)),
        dict(kwargs=dict(activation="softmax"), input_shape=(3, 5)),
    ],
    "Conv1D": [
        dict(
            kwargs=dict(filters=3, kernel_size=3, strides=2, padding="same"), input_shape=(2, 9, 2)
        ),
        dict(
            kwargs=dict(
                filters=2, kernel_size=2, padding="causal", dilation_rate=2, activation="relu"
            ),
            input_shape=(2, 7, 3),
        ),
        dict(
            kwargs=dict(filters=2, kernel_size=3, padding="valid", activation="tanh"),
            input_shape=(3, 8, 5),
        ),
    ],
    "Conv2D": [
        dict(
            kwargs=dict(
                filters=3, kernel_size=(3, 2), strides=(2, 1), padding="same", activation="relu"
            ),
            input_shape=(2, 7, 6, 3),
        ),
        dict(
            kwargs=dict(filters=2, kernel_size=2, padding="valid", dilation_rate=(2, 1)),
            input_shape=(2, 6, 5, 2),
        ),
        # One channel, 3x3, relu: the direct conv + pool kernel in the fused pair.
        dict(kwargs=dict(filters=4, kernel_size=3, activation="relu"), input_shape=(2, 8, 9, 1)),
        # 8 channels, 3x3, enough tiles: Winograd (alone and fused with the pool). Too large
        # for finite differences (10k inputs); the small cases above check the same code.
        dict(
            kwargs=dict(filters=5, kernel_size=3, activation="relu", padding="same"),
            input_shape=(4, 16, 18, 8),
            gradcheck=False,
        ),
    ],
    "MaxPooling1D": [
        dict(kwargs=dict(pool_size=2), input_shape=(2, 7, 3)),
        dict(kwargs=dict(pool_size=3, strides=2, padding="same"), input_shape=(2, 8, 2)),
    ],
    "MaxPooling2D": [
        dict(
            kwargs=dict(pool_size=(2, 3), strides=(1, 2), padding="same"), input_shape=(2, 5, 7, 2)
        ),
        dict(kwargs=dict(pool_size=2), input_shape=(2, 7, 6, 3)),
    ],
    "AveragePooling1D": [
        dict(kwargs=dict(pool_size=2), input_shape=(2, 7, 3)),
        dict(kwargs=dict(pool_size=3, strides=2, padding="same"), input_shape=(2, 8, 2)),
    ],
    "AveragePooling2D": [
        dict(
            kwargs=dict(pool_size=(2, 3), strides=(1, 2), padding="same"), input_shape=(2, 5, 7, 2)
        ),
        dict(kwargs=dict(pool_size=2), input_shape=(2, 7, 6, 3)),
    ],
    "GlobalMaxPooling1D": [dict(kwargs=dict(), input_shape=(2, 5, 3))],
    "GlobalMaxPooling2D": [
        dict(kwargs=dict(), input_shape=(2, 5, 4, 3)),
        dict(kwargs=dict(keepdims=True), input_shape=(2, 3, 4, 2)),
    ],
    "GlobalAveragePooling1D": [dict(kwargs=dict(keepdims=True), input_shape=(2, 5, 3))],
    "GlobalAveragePooling2D": [dict(kwargs=dict(), input_shape=(2, 5, 4, 3))],
    "Flatten": [dict(kwargs=dict(), input_shape=(2, 3, 4, 2))],
    "Reshape": [
        dict(kwargs=dict(target_shape=(4, 6)), input_shape=(2, 3, 4, 2)),
        dict(kwargs=dict(target_shape=(-1, 3)), input_shape=(2, 6)),
    ],
    "ZeroPadding2D": [
        dict(kwargs=dict(padding=((1, 0), (2, 1))), input_shape=(2, 3, 4, 2)),
        dict(kwargs=dict(padding=1), input_shape=(1, 2, 3, 1)),
    ],
    "ReLU": [
        dict(kwargs=dict(), input_shape=(2, 5, 3)),
        dict(kwargs=dict(max_value=0.8, negative_slope=0.1, threshold=0.2), input_shape=(3, 4)),
    ],
    "Softmax": [
        dict(kwargs=dict(), input_shape=(2, 5)),
        dict(kwargs=dict(axis=1), input_shape=(2, 3, 4)),
    ],
    "LeakyReLU": [dict(kwargs=dict(negative_slope=0.2), input_shape=(2, 4, 3))],
    "Dropout": [dict(kwargs=dict(rate=0.5, seed=3), input_shape=(4, 6))],
    "BatchNormalization": [
        dict(kwargs=dict(), input_shape=(4, 3, 2, 5)),
        dict(kwargs=dict(axis=1, momentum=0.9, epsilon=1e-2, center=False), input_shape=(5, 3)),
    ],
    "Add": [
        dict(kwargs=dict(), input_shape=[(2, 3, 4), (2, 3, 4)]),
        dict(kwargs=dict(), input_shape=[(2, 5), (2, 5), (2, 5)]),
    ],
    "Concatenate": [
        dict(kwargs=dict(), input_shape=[(2, 3, 4), (2, 3, 2)]),
        dict(kwargs=dict(axis=1), input_shape=[(2, 3, 4), (2, 1, 4)]),
    ],
}

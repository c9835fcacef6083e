"""Battery cases (tests/layers/test_battery.py, issue #10) for the layers of issue #11 item 3.

``input_shape`` includes the batch axis; merge layers take a list of shapes.
"""

CASES = {
    "DepthwiseConv2D": [
        dict(kwargs=dict(kernel_size=(2, 3)), input_shape=(2, 7, 6, 3)),
        dict(
            kwargs=dict(kernel_size=3, strides=(2, 1), padding="same", depth_multiplier=2),
            input_shape=(2, 7, 6, 3),
        ),
        dict(
            kwargs=dict(kernel_size=2, dilation_rate=2, activation="relu"), input_shape=(2, 7, 6, 3)
        ),
    ],
    "SeparableConv2D": [
        dict(kwargs=dict(filters=4, kernel_size=(3, 2)), input_shape=(2, 7, 6, 3)),
        dict(
            kwargs=dict(filters=5, kernel_size=3, strides=2, padding="same", depth_multiplier=2),
            input_shape=(2, 7, 6, 3),
        ),
    ],
    "Conv2DTranspose": [
        dict(kwargs=dict(filters=4, kernel_size=(3, 2), strides=(2, 3)), input_shape=(2, 7, 6, 3)),
        dict(
            kwargs=dict(filters=2, kernel_size=3, strides=2, padding="same"),
            input_shape=(2, 7, 6, 3),
        ),
        dict(
            kwargs=dict(filters=2, kernel_size=3, strides=2, padding="same", output_padding=(0, 1)),
            input_shape=(2, 7, 6, 3),
        ),
    ],
    "Conv1DTranspose": [
        dict(kwargs=dict(filters=3, kernel_size=3, strides=2), input_shape=(2, 7, 3)),
        dict(kwargs=dict(filters=2, kernel_size=4, padding="same"), input_shape=(2, 7, 3)),
    ],
    "UpSampling2D": [
        dict(kwargs=dict(size=(2, 3)), input_shape=(2, 7, 6, 3)),
        dict(kwargs=dict(size=2, interpolation="bilinear"), input_shape=(2, 7, 6, 3)),
    ],
    "UpSampling1D": [dict(kwargs=dict(size=3), input_shape=(2, 7, 3))],
    "Cropping2D": [
        dict(kwargs=dict(cropping=((1, 2), (0, 3))), input_shape=(2, 7, 6, 3)),
        dict(kwargs=dict(cropping=1), input_shape=(2, 7, 6, 3)),
    ],
    "Cropping1D": [dict(kwargs=dict(cropping=(2, 1)), input_shape=(2, 7, 3))],
    "ZeroPadding1D": [
        dict(kwargs=dict(padding=2), input_shape=(2, 7, 3)),
        dict(kwargs=dict(padding=(0, 3)), input_shape=(2, 7, 3)),
    ],
    "SpatialDropout2D": [dict(kwargs=dict(rate=0.5, seed=1), input_shape=(2, 7, 6, 3))],
    "SpatialDropout1D": [dict(kwargs=dict(rate=0.5, seed=1), input_shape=(2, 7, 3))],
    "LayerNormalization": [
        dict(kwargs=dict(), input_shape=(2, 7, 6, 3)),
        dict(kwargs=dict(axis=[1, 2, 3], epsilon=1e-5), input_shape=(2, 7, 6, 3)),
    ],
    "GroupNormalization": [
        dict(kwargs=dict(groups=3), input_shape=(2, 7, 6, 3)),
        dict(kwargs=dict(groups=2), input_shape=(2, 7, 4)),
    ],
    "Subtract": [dict(kwargs=dict(), input_shape=[(2, 7, 6, 3), (2, 7, 6, 3)])],
    "Multiply": [
        dict(kwargs=dict(), input_shape=[(2, 7, 6, 3), (2, 7, 6, 3)]),
        dict(kwargs=dict(), input_shape=[(2, 7, 6, 3), (2, 1, 1, 3), (2, 7, 6, 3)]),
    ],
    "Average": [dict(kwargs=dict(), input_shape=[(2, 7, 6, 3), (2, 7, 6, 3)])],
    "Maximum": [dict(kwargs=dict(), input_shape=[(2, 7, 6, 3), (2, 7, 6, 3), (2, 7, 6, 3)])],
    "Minimum": [dict(kwargs=dict(), input_shape=[(2, 7, 6, 3), (2, 7, 6, 3)])],
}

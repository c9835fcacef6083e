"""Battery cases (tests/layers/test_battery.py, issue #10) for the layers of issue #11 item 3.

``input_shape`` includes the batch axis; merge layers take a list of shapes.
"""

CASES = {
    "DepthwiseConv2D": [
        dict(kwargs=dict(kernel_size=(2, 3)), input_shape=(2, 7, 6, 3)),
        dict(kwargs=dict(kernel_size=3, strides=(2, 1), padding="same", depth_multiplier=2),
             input_shape=(2, 7, 6, 3)),
        dict(kwargs=dict(kernel_size=2, dilation_rate=2, activation="relu"),
             input_shape=(2, 7, 6, 3)),
    ],
    "SeparableConv2D": [
        dict(kwargs=dict(filters=4, kernel_size=(3, 2)), input_shape=(2, 7, 6, 3)),
        dict(kwargs=dict(filters=5, kernel_size=3, strides=2, padding="same",
                         depth_multiplier=2), input_shape=(2, 7, 6, 3)),
    ],
    "Conv2DTranspose": [
        dict(kwargs=dict(filters=4, kernel_size=(3, 2), strides=(2, 3)), input_shape=(2, 7, 6, 3)),
        dict(kwargs=dict(filters=2, kernel_size=3, strides=2, padding="same"),
             input_shape=(2, 7, 6, 3)),
        dict(kwargs=dict(filters=2, kernel_size=3, strides=2, padding="same",
                         output_padding=(0, 1)), input_shape=(2, 7, 6, 3)),
    ],
    "Conv1DTranspose": [
        dict(kwargs=dict(filters=3, kernel_size=3, strides=2), input_shape=(2, 7, 3)),
        dict(kwargs=dict(filters=2, kernel_size=4, padding="same"), input_shape=(2, 7, 3)),
    ],
}

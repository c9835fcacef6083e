"""Layer-battery cases for the preprocessing and augmentation layers (branch data, issue #11).

Format (issue #10): ``CASES = {"ClassName": [dict(kwargs=..., input_shape=...), ...]}``;
``input_shape`` includes the batch axis. Random layers get a ``seed`` so every call of a
battery check draws the same transform sequence.
"""

CASES = {
    "Rescaling": [
        dict(kwargs={"scale": 1 / 255}, input_shape=(2, 7, 6, 3)),
        dict(
            kwargs={"scale": [0.5, 1.0, 2.0], "offset": [-1.0, 0.0, 1.0]}, input_shape=(2, 5, 4, 3)
        ),
        dict(kwargs={"scale": 2.0, "offset": 0.5}, input_shape=(3, 8)),
    ],
    "Resizing": [
        dict(kwargs={"height": 4, "width": 9}, input_shape=(2, 7, 6, 3)),
        dict(
            kwargs={"height": 5, "width": 3, "interpolation": "nearest"}, input_shape=(2, 7, 6, 2)
        ),
        dict(
            kwargs={"height": 3, "width": 3, "crop_to_aspect_ratio": True}, input_shape=(2, 7, 5, 1)
        ),
    ],
    "CenterCrop": [
        dict(kwargs={"height": 4, "width": 3}, input_shape=(2, 7, 6, 3)),
        dict(kwargs={"height": 9, "width": 4}, input_shape=(2, 7, 6, 2)),
    ],
    "RandomFlip": [
        dict(kwargs={"mode": "horizontal", "seed": 1}, input_shape=(2, 7, 6, 3)),
        dict(kwargs={"mode": "vertical", "seed": 2}, input_shape=(3, 5, 4, 1)),
        dict(kwargs={"seed": 3}, input_shape=(2, 6, 7, 2)),
    ],
    "RandomRotation": [
        dict(kwargs={"factor": 0.2, "seed": 1}, input_shape=(2, 7, 6, 3)),
        dict(
            kwargs={
                "factor": (-0.1, 0.3),
                "fill_mode": "constant",
                "fill_value": 0.5,
                "interpolation": "nearest",
                "seed": 2,
            },
            input_shape=(2, 5, 8, 1),
        ),
    ],
    "RandomTranslation": [
        dict(
            kwargs={"height_factor": 0.2, "width_factor": 0.1, "seed": 1}, input_shape=(2, 7, 6, 3)
        ),
        dict(
            kwargs={
                "height_factor": (-0.3, 0.1),
                "width_factor": (0.0, 0.4),
                "fill_mode": "wrap",
                "seed": 2,
            },
            input_shape=(2, 6, 5, 2),
        ),
    ],
    "RandomZoom": [
        dict(kwargs={"height_factor": 0.2, "seed": 1}, input_shape=(2, 7, 6, 3)),
        dict(
            kwargs={
                "height_factor": (-0.3, 0.0),
                "width_factor": (0.1, 0.2),
                "fill_mode": "nearest",
                "seed": 2,
            },
            input_shape=(2, 6, 9, 1),
        ),
    ],
    "RandomContrast": [
        dict(kwargs={"factor": 0.3, "seed": 1}, input_shape=(2, 7, 6, 3)),
        dict(
            kwargs={"factor": (0.2, 0.5), "value_range": (-10, 10), "seed": 2},
            input_shape=(3, 4, 5, 2),
        ),
    ],
    "RandomCrop": [
        dict(kwargs={"height": 4, "width": 3, "seed": 1}, input_shape=(2, 7, 6, 3)),
        dict(kwargs={"height": 5, "width": 5, "seed": 2}, input_shape=(2, 5, 8, 1)),
    ],
}

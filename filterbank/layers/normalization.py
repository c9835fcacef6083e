"""Placeholder: replaced by its owner branch."""

class BatchNormalization:  # noqa: D101
    def __init__(self, *a, **k):
        raise NotImplementedError("BatchNormalization")



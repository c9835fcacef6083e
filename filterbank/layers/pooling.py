"""Placeholder: replaced by its owner branch."""

class MaxPooling1D:  # noqa: D101
    def __init__(self, *a, **k):
        raise NotImplementedError("MaxPooling1D")


class MaxPooling2D:  # noqa: D101
    def __init__(self, *a, **k):
        raise NotImplementedError("MaxPooling2D")


class AveragePooling1D:  # noqa: D101
    def __init__(self, *a, **k):
        raise NotImplementedError("AveragePooling1D")


class AveragePooling2D:  # noqa: D101
    def __init__(self, *a, **k):
        raise NotImplementedError("AveragePooling2D")


class GlobalMaxPooling1D:  # noqa: D101
    def __init__(self, *a, **k):
        raise NotImplementedError("GlobalMaxPooling1D")


class GlobalMaxPooling2D:  # noqa: D101
    def __init__(self, *a, **k):
        raise NotImplementedError("GlobalMaxPooling2D")


class GlobalAveragePooling1D:  # noqa: D101
    def __init__(self, *a, **k):
        raise NotImplementedError("GlobalAveragePooling1D")


class GlobalAveragePooling2D:  # noqa: D101
    def __init__(self, *a, **k):
        raise NotImplementedError("GlobalAveragePooling2D")



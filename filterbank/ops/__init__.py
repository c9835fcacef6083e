"""Pure NumPy forward/backward functions: the math of every layer, testable alone."""

__all__ = []

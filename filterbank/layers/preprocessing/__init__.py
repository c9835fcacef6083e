"""Image preprocessing and augmentation layers, as ``keras.layers``.

* deterministic, applied in training and inference: :class:`Rescaling`, :class:`Resizing`,
  :class:`CenterCrop`;
* random, applied only in training (identity in ``evaluate``/``predict``):
  :class:`RandomFlip`, :class:`RandomRotation`, :class:`RandomTranslation`,
  :class:`RandomZoom`, :class:`RandomContrast`, and :class:`RandomCrop` (a centred
  crop-and-resize in inference).

Each has an exact backward pass, so a model may train through them.

Example:
    >>> import filterbank as keras
    >>> from filterbank import layers
    >>> augment = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
"""

from .augmentation import (
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from .sizing import CenterCrop, Rescaling, Resizing

PREPROCESSING_CLASSES = (
    Rescaling,
    Resizing,
    CenterCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    RandomContrast,
    RandomCrop,
)

__all__ = [c.__name__ for c in PREPROCESSING_CLASSES] + ["PREPROCESSING_CLASSES"]

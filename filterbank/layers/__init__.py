"""Keras-named layers, NHWC (channels-last) throughout.

Example:
    >>> from filterbank import layers
    >>> conv = layers.Conv2D(32, (3, 3), activation="relu")
"""

from .activation_layers import LeakyReLU, ReLU, Softmax
from .base import KerasTensor, Layer, Node, clear_session
from .conv_depthwise import DepthwiseConv2D, SeparableConv2D
from .conv_transpose import Conv1DTranspose, Conv2DTranspose
from .convolutional import Conv1D, Conv2D
from .core import Activation, Dense
from .input_layer import Input, InputLayer
from .merging import Add, Concatenate
from .merging_elementwise import (
    Average,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .normalization import BatchNormalization
from .normalization_groups import GroupNormalization, LayerNormalization
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from .preprocessing import (
    PREPROCESSING_CLASSES,
    CenterCrop,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)
from .regularization import Dropout
from .resampling import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D
from .reshaping import Flatten, Reshape, ZeroPadding2D
from .spatial_dropout import SpatialDropout1D, SpatialDropout2D

# Keras's aliases
Convolution1D, Convolution2D = Conv1D, Conv2D
SeparableConvolution2D = SeparableConv2D
Convolution2DTranspose, Convolution1DTranspose = Conv2DTranspose, Conv1DTranspose
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = (
    MaxPooling1D,
    MaxPooling2D,
    AveragePooling1D,
    AveragePooling2D,
)
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D

LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (
        InputLayer,
        Dense,
        Activation,
        Conv1D,
        Conv2D,
        MaxPooling1D,
        MaxPooling2D,
        AveragePooling1D,
        AveragePooling2D,
        GlobalMaxPooling1D,
        GlobalMaxPooling2D,
        GlobalAveragePooling1D,
        GlobalAveragePooling2D,
        Flatten,
        Reshape,
        ZeroPadding2D,
        ReLU,
        Softmax,
        LeakyReLU,
        Dropout,
        BatchNormalization,
        Add,
        Concatenate,
        DepthwiseConv2D,
        SeparableConv2D,
        Conv2DTranspose,
        Conv1DTranspose,
        UpSampling1D,
        UpSampling2D,
        Cropping1D,
        Cropping2D,
        ZeroPadding1D,
        SpatialDropout1D,
        SpatialDropout2D,
        LayerNormalization,
        GroupNormalization,
        Subtract,
        Multiply,
        Average,
        Maximum,
        Minimum,
        *PREPROCESSING_CLASSES,
    )
}
"""Every built-in layer class by name: what model files may name, and nothing else."""

__all__ = [n for n in dir() if not n.startswith("_")]

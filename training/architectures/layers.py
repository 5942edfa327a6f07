"""Keras layers the architectures share (imported when a model is built)."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers


class OneHot(layers.Layer):
    """Token ids -> one-hot vectors, as the seed notebooks fed their LSTM."""

    def __init__(self, depth: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, inputs):
        return keras.ops.one_hot(keras.ops.cast(inputs, "int32"), self.depth)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.depth,)

    def get_config(self) -> dict:
        return {**super().get_config(), "depth": self.depth}

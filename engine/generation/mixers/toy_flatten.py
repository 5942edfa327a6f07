"""A toy mixer (issue 22's proof that a mixer is one new file): the distribution
flattened, as if the temperature were twice as high, after the mixers before it.  Try
it with ``settings.mixers`` (``["toy-flatten"]``)."""

from __future__ import annotations

import numpy as np

from engine.generation.mixers import Chained, MixContext, register


class Flatten(Chained):
    def mix(self, logits: np.ndarray) -> np.ndarray:
        return logits * 0.5


@register("toy-flatten")
def flatten(context: MixContext, inner=None) -> Flatten:
    return Flatten(inner)

"""The density control (busier / sparser): every note-starting token's logit moves by
the same amount, so notes start more or less often (notes per bar).  Built when
``settings.density`` is not 0 (:func:`engine.generation.mixers.control.control_mixers`).
On a part model's lines (:class:`PartDensity`) every NEW token moves alike, so each
part starts notes more or less often (re-attacks rather than holds, notes rather than
rests) where its rhythm lets it."""

from __future__ import annotations

import numpy as np

from engine.generation.mixers import MixContext, register
from engine.generation.mixers.control import (ControlMixer, PartControl, part_control,
                                              strength_of)

#: the logit added to every note start at full strength (position 2)
SCALE = 1.2


class Density(ControlMixer):
    def __init__(self, context: MixContext, inner, strength: float) -> None:
        super().__init__(context, inner, strength)
        self._bias = np.where(self.onsets, SCALE * self.strength, 0.0)[None, :]

    def bias(self, rows: int) -> np.ndarray:
        return self._bias


@register("density")
def density(context: MixContext, inner=None):
    return Density(context, inner, strength_of(context.settings, "density"))


class PartDensity(PartControl):
    def bias_uniform(self) -> np.ndarray:
        return np.full((1, self.view.n), SCALE * self.strength)

    def bias_per_part(self) -> np.ndarray:
        return SCALE * self.strengths()


@part_control("density")
def part_density(view, strength: float, part_strength=None) -> PartControl:
    return PartDensity(view, strength, part_strength)

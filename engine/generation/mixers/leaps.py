"""The leaps control (steps / leaps): a note's logit moves by the size of its interval
from the row's last note (up to an octave), favouring leaps above 0 and steps below;
how often a note starts stays the network's.  Built when ``settings.leaps`` is not 0.
On a part model's lines (:class:`PartLeaps`) the interval is from the last note of the
part the NEW would go to."""

from __future__ import annotations

import numpy as np

from engine.generation.mixers import MixContext, register
from engine.generation.mixers.control import (ControlMixer, PartControl, part_control,
                                              strength_of)

#: the logit an octave's leap gains over a repeated note at full strength
SCALE = 3.0


class Leaps(ControlMixer):
    keep_onset_mass = True

    def bias(self, rows: int) -> np.ndarray:
        interval = np.minimum(np.abs(self.pitches[None, :] - self.last[:, None]), 12.0)
        # no note yet in a row, or a token that starts none: no bias
        return np.nan_to_num(SCALE * self.strength * interval / 12.0)


@register("leaps")
def leaps(context: MixContext, inner=None):
    return Leaps(context, inner, strength_of(context.settings, "leaps"))


class PartLeaps(PartControl):
    keep_mass = True

    def __init__(self, view, strength: float, part_strength=None) -> None:
        super().__init__(view, strength, part_strength)
        n = view.n
        pitch = np.arange(n)
        # [last + 1, pitch]: the bias of a NEW after the part's last pitch (row 0: none)
        interval = np.minimum(np.abs(pitch[None, :] - pitch[:, None]), 12.0)
        # per part: the table at unit strength, scaled by each NEW's part's strength
        strength = self.strength if part_strength is None else 1.0
        self._table = np.concatenate([np.zeros((1, n)),
                                      SCALE * strength * interval / 12.0])
        self._pitch = pitch[None, :]

    def bias_uniform(self) -> np.ndarray:
        return self._table[self.view.last_for_new() + 1, self._pitch]

    def bias_per_part(self) -> np.ndarray:
        return self.bias_uniform() * self.strengths()


@part_control("leaps")
def part_leaps(view, strength: float, part_strength=None) -> PartControl:
    return PartLeaps(view, strength, part_strength)

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

    def bias(self) -> np.ndarray:
        pitch = np.arange(self.view.n)[None, :]
        interval = np.minimum(np.abs(pitch - self.view.last_for_new()), 12.0)
        return np.nan_to_num(SCALE * self.strength * interval / 12.0)


@part_control("leaps")
def part_leaps(view, strength: float) -> PartControl:
    return PartLeaps(view, strength)

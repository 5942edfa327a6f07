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

    def __init__(self, context: MixContext, inner, strength: float) -> None:
        super().__init__(context, inner, strength)
        # [last + 1, token]: the bias after each last pitch (row 0: no note yet), worked
        # out once rather than at every step
        known = self.pitches[~np.isnan(self.pitches)]
        self._low = int(known.min()) if known.size else 0
        lasts = np.arange(self._low, int(known.max()) + 1 if known.size else 1, dtype=float)
        interval = np.minimum(np.abs(self.pitches[None, :] - lasts[:, None]), 12.0)
        self._table = np.concatenate([np.zeros((1, len(self.pitches))),
                                      np.nan_to_num(SCALE * self.strength * interval / 12.0)])

    def bias(self, rows: int) -> np.ndarray:
        # no note yet in a row, or a token that starts none: no bias
        last = np.where(np.isnan(self.last), -1, self.last - self._low).astype(np.int64)
        return self._table[last + 1]


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

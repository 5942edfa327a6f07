"""The register control (higher / lower): a note's logit moves by how far its pitch is
above or below the seed's mean pitch (the middle of the model's range with no seed),
per octave; how often a note starts stays the network's.  Built when
``settings.register`` is not 0.  (Not register.py: that name is the package's
:func:`~engine.generation.mixers.register`.)  On a part model's lines
(:class:`PartRegister`) a NEW token's logit moves by its pitch, per octave, with how
often a note starts kept: each part's notes rise or fall within the part's range."""

from __future__ import annotations

import numpy as np

from engine.generation.mixers import MixContext, register
from engine.generation.mixers.control import (ControlMixer, PartControl, part_control,
                                              strength_of)

#: the logit a note an octave or more above the seed's mean gains at full strength
SCALE = 1.5


class Register(ControlMixer):
    keep_onset_mass = True

    def __init__(self, context: MixContext, inner, strength: float) -> None:
        super().__init__(context, inner, strength)
        enc = self.enc
        centre = (float(self.prefix_pitches.mean()) if len(self.prefix_pitches)
                  else (enc.min_pitch + enc.max_pitch) / 2.0)
        self._bias = np.nan_to_num(SCALE * self.strength
                                   * np.clip((self.pitches - centre) / 12.0, -1.0, 1.0))[None, :]

    def bias(self, rows: int) -> np.ndarray:
        return self._bias


@register("register")
def register_(context: MixContext, inner=None):
    return Register(context, inner, strength_of(context.settings, "register"))


class PartRegister(PartControl):
    keep_mass = True

    def __init__(self, view, strength: float) -> None:
        super().__init__(view, strength)
        # linear in pitch: with the note starts' mass kept, the centre does not matter
        self._bias = (SCALE * self.strength * np.arange(view.n) / 12.0)[None, :]

    def bias(self) -> np.ndarray:
        return self._bias


@part_control("register")
def part_register(view, strength: float) -> PartControl:
    return PartRegister(view, strength)

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

    def __init__(self, view, strength: float, part_strength=None) -> None:
        super().__init__(view, strength, part_strength)
        # linear in pitch: with the note starts' mass kept, the centre does not matter
        self._bias = (SCALE * self.strength * np.arange(view.n) / 12.0)[None, :]
        if part_strength is not None:
            # parts of different strengths: each part's bias is 0 at its own centre,
            # so no part gains notes over another, each only moves within its range
            self._from_centre = (np.arange(view.n)[None, :]
                                 - np.append(view.centre, 0.0)[:, None]) / 12.0  # [P+1, n]
            self._pitch = np.arange(view.n)[None, :]

    def bias_uniform(self) -> np.ndarray:
        return self._bias

    def bias_per_part(self) -> np.ndarray:
        part = self.view.part_for_new()
        return SCALE * self.strengths() * self._from_centre[part, self._pitch]


@part_control("register")
def part_register(view, strength: float, part_strength=None) -> PartControl:
    return PartRegister(view, strength, part_strength)

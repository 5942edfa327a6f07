"""The syncopation control (simpler rhythm / syncopated): at a step off the beat every
note-starting token's logit rises (and on the beat falls) above 0, the other way below,
in the song's metre (:meth:`engine.song.Song.bar_beat_at`).  Built when
``settings.syncopation`` is not 0.  On a part model's lines (:class:`PartSyncopation`)
each row's NEW tokens move by whether that row's step is off the beat."""

from __future__ import annotations

import numpy as np

from engine.generation.mixers import MixContext, register
from engine.generation.mixers.control import (ControlMixer, PartControl, part_control,
                                              strength_of)
from engine.song import Song

#: the logit a note start off the beat gains (and one on the beat loses) at full strength
SCALE = 1.0


class Syncopation(ControlMixer):
    def __init__(self, context: MixContext, inner, strength: float) -> None:
        super().__init__(context, inner, strength)
        self.song = context.song if context.song is not None else Song()
        self.ppq = self.song.ppq
        on = np.where(self.onsets, SCALE * self.strength, 0.0)[None, :]
        self._off_beat, self._on_beat = on, -on

    def bias(self, rows: int) -> np.ndarray:
        tick = self.enc.step_to_tick(self.step, self.ppq)
        _, _, in_beat = self.song.bar_beat_at(max(0, tick))
        return self._on_beat if in_beat == 0 else self._off_beat


@register("syncopation")
def syncopation(context: MixContext, inner=None):
    return Syncopation(context, inner, strength_of(context.settings, "syncopation"))


class PartSyncopation(PartControl):
    def bias_uniform(self) -> np.ndarray:
        sign = np.where(self.view.off_beat(), 1.0, -1.0)
        return np.repeat((SCALE * self.strength * sign)[:, None], self.view.n, axis=1)

    def bias_per_part(self) -> np.ndarray:
        sign = np.where(self.view.off_beat(), 1.0, -1.0)
        return SCALE * sign[:, None] * self.strengths()


@part_control("syncopation")
def part_syncopation(view, strength: float, part_strength=None) -> PartControl:
    return PartSyncopation(view, strength, part_strength)

"""Drums that play along while a melody is played, one grid step at a time.

:class:`LiveDrums` is the drum part of the live accompanist
(:class:`engine.live.accompanist.Accompanist`), beside :class:`LiveHarmony`: the same
step interface (:meth:`sample`, :meth:`hold_over`, :meth:`prepare`, :meth:`finish`), on
the drum model's grid of twelve steps a quarter note (``drums-12th``).  Each step the
accompanist tells it (:meth:`hear`) which grid step it is and which keys the player
pressed there; those presses are the model's ``onsets`` conditioning for the step
(column 0 when a key below E3 is pressed, the bass; column 1 for a key above, as
:func:`onsets_per_step` reads a lone track), its ``position`` the step's place in the
bar and its ``style`` the style chosen.  One model call a step: the step's onsets are
known only once its time has come, so the previous step's token is fed with them and
the step's hits are sampled at once.

A hit sounds for one step: its note-off goes out with the next step (drum sounds do
not need their offs, but every note-on the accompanist sends gets one).

:func:`drums_steps` runs the same loop over a whole performance at once: the offline
reference a live performance must equal note for note.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from engine.encodings.drums import (DRUM_CHANNEL, LEVEL_VELOCITY, REST, STYLES, DrumEncoding,
                                    piece_note, position_at, style_id)
from engine.errors import EncodingError, GenerationError
from engine.generation.generator import GenerationSettings
from engine.generation.live_harmony import Step
from engine.generation.sampler import Sampler
from engine.models import StepModel

BASS_BELOW = 52  # a pressed key below E3 is heard as the bass's onset (as a lone low track)
VOICE = 1  # the drums' one "voice" in Step.starts / ends


class LiveDrums:
    """The drum model's hits, step by step, hearing the player's presses.

    ``style``: a style id or name (:data:`STYLES`; "other" is the model's unknown
    style).  ``bars``: the grid steps (twelve a quarter, from the song's tick 0) where
    bars start, ``bar_steps`` the last bar's length, repeated beyond it; ``offset``: the
    grid step of the accompanist's step 0.  Steps before the player's first press are
    not played."""

    mode = "drums"
    drums = True  # the accompanist plays it on the drum channel, and never moves it

    def __init__(self, model: StepModel, *, style: int | str = 0, temperature: float = 1.0,
                 top_p: float = 1.0, rng_seed: int = 0, bars: Sequence[int] = (),
                 bar_steps: int = 48, offset: int = 0) -> None:
        if not isinstance(model.encoding, DrumEncoding):
            raise GenerationError(f"the model {model.name} is not a drum model; choose one "
                                  f"whose encoding is drums-12th")
        if isinstance(style, str):
            try:
                style = style_id(style)
            except EncodingError as e:
                raise GenerationError(str(e)) from None
        if not 0 <= int(style) < len(STYLES):
            raise GenerationError(f"there is no drum style {style}")
        GenerationSettings(model=model.name, temperature=temperature, top_p=top_p,
                           rng_seed=rng_seed).validate()
        self.model = model
        self.enc: DrumEncoding = model.encoding
        self.style = int(style)
        self.bars = list(bars)
        self.bar_steps = int(bar_steps)
        self.offset = int(offset)
        self.channel = DRUM_CHANNEL
        self.names = ["Drums"]
        self.sampler = Sampler(temperature, top_p, np.random.default_rng(int(rng_seed)))
        self.mask = Sampler.mask(np.ones(self.enc.vocab_size, bool))
        # the model's state (and its session) now, not at the first press
        self.state = model.initial_state(1)
        self.begun = False  # the first press has been heard
        self.steps = 0  # steps played since the first press
        self.sounding: dict[int, int] = {}  # GM note -> velocity of the last step's hits
        self.notes: list[tuple[int, int, int, int, int]] = []  # (1, start, end, note, vel)
        self._one = np.zeros(1, dtype=np.int64)
        self._pending = REST  # the last step's token, fed with the next step's inputs
        self._at: int | None = None  # the accompanist's step about to be played
        self._pressed: tuple[int, ...] = ()
        self.heard: list[tuple[int, tuple[int, ...]]] = []  # (step, keys pressed) played
        # the hit table, per token: GM notes and velocities
        self._hits = [[(piece_note(p), LEVEL_VELOCITY[v]) for p, v in combo]
                      for combo in self.enc.combos]

    # ---- the accompanist's interface -----------------------------------------------------
    def hear(self, step: int, pressed: Iterable[int]) -> None:
        """The accompanist's grid step about to be played and the keys pressed on it."""
        self._at = int(step)
        self._pressed = tuple(pressed)

    def onsets(self, pressed: Iterable[int]) -> np.ndarray:
        """The model's ``onsets`` input for a step where ``pressed`` keys went down."""
        keys = list(pressed)
        return np.array([any(p < BASS_BELOW for p in keys), any(p >= BASS_BELOW for p in keys)],
                        np.float32)

    def _feed(self, pressed: Sequence[int]) -> np.ndarray:
        """The last step's token fed with this step's inputs: the logits of this step."""
        at = self.offset + (self._at if self._at is not None else self.steps)
        inputs = {"style": self.style, "position": position_at(at, self.bars, self.bar_steps),
                  "onsets": self.onsets(pressed)}
        self._one[0] = self._pending
        return self.model.step(self._one, self.state, copy=False, conditioning=inputs)

    def _started(self, pitch: int | None) -> bool:
        if not self.begun:
            if pitch is None and not self._pressed:
                return False
            self.begun = True
        return True

    def sample(self, pitch: int | None, onset: bool) -> Step:
        """The step's hits, sampled from the model hearing the presses given to
        :meth:`hear` (``pitch``, ``onset``: the melody, which starts the drums)."""
        if not self._started(pitch):
            return Step(-1)
        logits = self._feed(self._pressed)
        drawn = self.sampler(logits.astype(np.float64), self.mask)
        if drawn is None:
            raise GenerationError(f"the model {self.model.name} computed invalid numbers "
                                  f"(NaN or infinity); its weights are probably damaged")
        return self._played(int(drawn[0]), dropped=False)

    def hold_over(self, pitch: int | None, onset: bool) -> Step:
        """A step the clock left no time for: the model hears a rest there; the last
        step's hits end, nothing new sounds."""
        if not self._started(pitch):
            return Step(-1, dropped=True)
        self._feed(self._pressed)
        return self._played(REST, dropped=True)

    def prepare(self) -> None:
        """Nothing to do ahead: a step's model call needs its onsets."""

    def _played(self, tok: int, dropped: bool) -> Step:
        t = self.steps
        self.heard.append((self.steps if self._at is None else self._at, self._pressed))
        out = Step(t, tokens=[tok], dropped=dropped)
        for note, vel in self.sounding.items():
            out.ends.append((VOICE, note))
            self.notes.append((VOICE, t - 1, t, note, vel))
        self.sounding = dict(self._hits[tok])
        out.starts = [(VOICE, note) for note in self.sounding]
        out.velocities = list(self.sounding.values())
        self._pending = tok
        self.steps += 1
        self._at = None
        self._pressed = ()
        return out

    def finish(self) -> list[tuple[int, int, int, int, int]]:
        """End the last step's hits; every hit (1, start step, end step, GM note,
        velocity)."""
        for note, vel in self.sounding.items():
            self.notes.append((VOICE, self.steps - 1, self.steps, note, vel))
        self.sounding.clear()
        return list(self.notes)

    def close(self) -> None:
        if self.state is not None:
            self.model.release(self.state)
            self.state = None


def drums_steps(model: StepModel, presses: Sequence[Sequence[int]],
                **options) -> tuple[list[Step], LiveDrums]:
    """The live drums over a whole performance at once (per grid step from 0, the keys
    pressed there), from its first press: the offline reference of a live take."""
    live = LiveDrums(model, **options)
    steps = []
    for k, pressed in enumerate(presses):
        if not live.begun and not pressed:
            continue
        live.hear(k, pressed)
        steps.append(live.sample(max(pressed) if pressed else None, bool(pressed)))
    return steps, live

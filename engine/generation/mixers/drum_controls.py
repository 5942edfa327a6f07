"""The steering controls on a drum model (issue 26): what each of the six means to a
drummer, and the mixers that steer a drum job's steps (engine/generation/jobs/drums.py).

A drum model writes one token a grid step (twelve a quarter note): the set of kit hits
struck there, each at one of three loudness levels (:mod:`engine.encodings.drums`).

* **density** (sparser / busier): every token that strikes anything moves its logit by
  the same amount (:class:`DrumDensity`), so steps are struck or left silent more
  often: fewer or more hits a bar.  Busier adds hits on the sixteenths and triplets
  only (:func:`on_the_grid`), never on the grid's 48th notes between them.
* **syncopation** (simpler / syncopated): at a step off the beat (in the song's metre,
  :meth:`engine.song.Song.bar_beat_at`, as the melody's control reads it) a struck
  token's logit rises, on the beat it falls, the other way below 0
  (:class:`DrumSyncopation`), on the sixteenths and triplets only.
* **register** (lower / higher): a kit has no pitches, but its pieces sound low or high:
  the kick and the toms low, the snare in the middle, the hi-hats and cymbals high
  (:data:`HEIGHT`).  A token's logit moves by the mean height of its hits, with how
  often anything is struck kept as it was (:class:`DrumRegister`): the same groove
  leans on the kick and toms, or on the hats and cymbals.
* **repeat** (repeat less / more): the token played a bar before (the seed's included)
  gains or loses logit (:class:`DrumRepeat`), the drum job's groove memory (the nats
  it gives that token) is scaled by :data:`GROOVE_REPEAT` (:func:`groove_nats`), and
  the motif memory's share by :data:`MEMORY_REPEAT` where the memory is on
  (engine/generation/drum_memory.py).
* **dynamics** (softer, even / louder, more dynamic): the velocities of each variation's
  hits are moved as the melody's are (:data:`engine.generation.sampling.DYNAMICS`): the
  level up or down, the spread around the variation's own mean scaled
  (:func:`drum_velocities`); which hits are accented stays the model's.
* **leaps** has no meaning for drums (a kit has no intervals): a job that writes only
  drums refuses it with a sentence (:func:`refuse_leaps`); drums that go on beside a
  pitched continuation leave it to the pitched parts and say so (:data:`LEAPS_LEFT`).

At 0 nothing here is built or applied, so the drums are byte for byte what they were.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping, Sequence

import numpy as np

from engine.encodings.drums import KIT, REST, STEPS_PER_QUARTER
from engine.errors import GenerationError
from engine.generation.mixers import MixContext
from engine.generation.mixers.control import ControlMixer
from engine.generation.mixers.syncopation import Syncopation
from engine.generation.sampling import DYNAMICS
from engine.song import Note

__all__ = ["DRUM_CONTROLS", "NATS", "HEIGHT", "GROOVE_REPEAT", "MEMORY_REPEAT", "LEAPS_LEFT",
           "DrumDensity", "DrumRegister", "DrumRepeat", "DrumSyncopation", "drum_controls",
           "drum_steering", "groove_nats", "memory_share", "nats_at", "on_the_grid",
           "drum_velocities", "refuse_leaps", "token_heights"]

#: the controls that steer a drum model's steps (mixers), in the order they chain
DRUM_CONTROLS = ("density", "register", "syncopation")
#: per control, the nats its mixer moves a logit by at positions 1 and 2 (-1 and -2 the
#: other way, unless a signed position has its own): density, a token that strikes
#: anything; register, a token of the highest pieces over one of the middle (HEIGHT 1
#: over 0); syncopation, a token that strikes anything off the beat (on the beat the
#: other way); repeat, the token played a bar before.  Position 1 is a nudge that keeps
#: the real grooves' bits per hit within 3% of their own, position 2 a push that holds
#: against the seed's groove a continued drum track keeps (bench/controls.py --family
#: drums, 100 held-out seeds: register at 1 nat cost 3.4% at -1, and at 2.5 moved the
#: mean height by under a quarter of the real spread; density at 3 moved the hits a bar
#: up by 0.24 of it).  Repeat at -1 is the memory's share alone: pushing the last bar's
#: hits away sent a continued groove back to the seed's own bars, so more bars repeated
NATS: dict[str, dict[int, float]] = {"density": {1: 0.25, 2: 3.5},
                                     "register": {1: 0.6, 2: 5.0},
                                     "syncopation": {1: 0.25, 2: 2.5},
                                     "repeat": {-1: 0.0, 1: 0.4, 2: 3.0}}
#: how high each kit piece sounds, from the kick (-1) to the hats and cymbals (1)
HEIGHT: dict[str, float] = {
    "kick": -1.0, "low_tom": -0.75, "mid_tom": -0.5, "high_tom": -0.25, "hand_drum": -0.25,
    "snare": 0.0, "side_stick": 0.0, "clap": 0.0, "wood": 0.25, "cowbell": 0.5,
    "pedal_hat": 0.75, "closed_hat": 1.0, "open_hat": 1.0, "ride": 1.0, "crash": 1.0,
    "tambourine": 1.0, "shaker": 1.0}
#: the repeat control's position -> the groove memory's nats, scaled
GROOVE_REPEAT = {-2: 0.0, -1: 0.75, 0: 1.0, 1: 1.25, 2: 2.0}
#: the repeat control's position -> the motif memory's share, for drums (the melody's
#: table, engine.generation.memory.REPEAT_SHARES, takes the share to 0.6 at -1, which
#: raises the real grooves' bits per hit by half: a drum memory carries far more)
MEMORY_REPEAT = {-2: 0.0, -1: 0.9, 0: 1.0, 1: 1.1, 2: 2.0}
#: rounds of moving the velocities on where the accents met 127 (or the soft hits 1)
VELOCITY_ROUNDS = 8
#: what drums that go on beside a pitched continuation say of a leaps control
LEAPS_LEFT = ("The leaps control steered the pitched parts only: a drum kit has no "
              "intervals, so the drums went on without it.")


def drum_controls(settings, track: int | None = None) -> dict[str, int]:
    """The drum controls of ``settings`` away from 0, by name; ``track`` (the drum
    track a job continues) takes its own values where ``settings.part_controls`` gives
    them."""
    out = {}
    for name in DRUM_CONTROLS + ("repeat", "dynamics"):
        value = settings.control_of(name, track) if hasattr(settings, "control_of") \
            else int(getattr(settings, name, 0))
        if value:
            out[name] = int(value)
    return out


def refuse_leaps(settings, what: str = "the drums") -> None:
    """A GenerationError with a sentence when ``settings`` set the leaps control for a
    job that writes only drums: a kit has no intervals to make steps or leaps of."""
    leaps = int(getattr(settings, "leaps", 0))
    if leaps:
        raise GenerationError(f"the leaps control ({leaps:+d}) has no meaning for "
                              f"{what}: a drum kit has no intervals to make steps or "
                              f"leaps of; set leaps to 0 (density, repeat, register: low "
                              f"or high kit pieces, syncopation and dynamics steer drums)")


def groove_nats(settings, nats: float) -> float:
    """The groove memory's nats with the repeat control: ``nats`` itself at 0."""
    repeat = int(getattr(settings, "repeat", 0))
    return nats if not repeat else nats * GROOVE_REPEAT[repeat]


def memory_share(settings) -> float:
    """The drum motif memory's share with the repeat control (:data:`MEMORY_REPEAT`):
    1 at 0."""
    return MEMORY_REPEAT[int(getattr(settings, "repeat", 0))]


def nats_at(name: str, position: int) -> float:
    """The nats the ``name`` control's mixer moves a logit by at ``position`` (a signed
    position of its own in :data:`NATS`, else its size the other way)."""
    table, position = NATS[name], int(position)
    return table[position] if position in table else \
        float(np.sign(position)) * table[abs(position)]


def token_heights(enc) -> np.ndarray:
    """[vocab]: the mean height (:data:`HEIGHT`) of each token's hits; 0 for a rest."""
    heights = np.array([HEIGHT[name] for name in KIT])
    out = np.zeros(enc.vocab_size)
    for i, combo in enumerate(enc.combos):
        if combo:
            out[i] = float(np.mean([heights[p] for p, _ in combo]))
    return out


def on_the_grid(step: int) -> bool:
    """Whether grid step ``step`` (twelve a quarter) is on a sixteenth or an eighth-note
    triplet: the places a drummer plays, where the grid's other steps (48th notes) only
    place a flam or a swing a little late."""
    place = step % STEPS_PER_QUARTER
    return place % 3 == 0 or place % 4 == 0


class DrumDensity(ControlMixer):
    """Every token that strikes anything moves its logit by ``strength`` (nats): busier
    only on the sixteenths and triplets (:func:`on_the_grid`), sparser everywhere.  (By
    the token, not by its hits: a bias per hit favours three pieces at once so steeply
    that a push of a nat or two fills every step with them.)"""

    def __init__(self, context: MixContext, inner, strength: float) -> None:
        super().__init__(context, inner, strength)
        self._bias = np.where(self.onsets, self.strength, 0.0)[None, :]
        self._none = np.zeros_like(self._bias)

    def bias(self, rows: int) -> np.ndarray:
        return self._bias if self.strength < 0 or on_the_grid(self.step) else self._none


class DrumRegister(ControlMixer):
    """A token's logit moves by its hits' mean height times ``strength`` (nats), with
    the total probability of striking anything kept."""

    keep_onset_mass = True

    def __init__(self, context: MixContext, inner, strength: float) -> None:
        super().__init__(context, inner, strength)
        self._bias = (self.strength * token_heights(self.enc))[None, :]

    def bias(self, rows: int) -> np.ndarray:
        return self._bias


class DrumSyncopation(Syncopation):
    """The melody's syncopation on the drums' tokens: at a step off the beat every token
    that strikes anything gains ``strength`` (nats), on the beat it loses as much; a step
    off the sixteenths and triplets (:func:`on_the_grid`) is left as the model has it.
    (Losing less on the beat moved the off-beat share half as far: most of the push is
    the downbeats left out, as a drummer displaces them; a style that plays nothing off
    the beat is thinned.)"""

    def __init__(self, context: MixContext, inner, strength: float) -> None:
        super().__init__(context, inner, strength)
        self._off_beat = np.where(self.onsets, self.strength, 0.0)[None, :]
        self._on_beat = -self._off_beat
        self._none = np.zeros_like(self._off_beat)

    def bias(self, rows: int) -> np.ndarray:
        return super().bias(rows) if on_the_grid(self.step) else self._none


_MIXERS: dict[str, Callable] = {"density": DrumDensity, "register": DrumRegister,
                                "syncopation": DrumSyncopation}


class _Steering:
    """The drum controls' mixers chained, and a sampler that draws through them."""

    def __init__(self, mixer) -> None:
        self.mixer = mixer

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        return self.mixer(logits)

    def update(self, tokens: np.ndarray) -> None:
        self.mixer.update(tokens)

    def drawing(self, sampler: Callable) -> Callable:
        """``sampler(logits, mask)`` steered: the logits go through the controls first,
        and the controls hear each token drawn."""
        def draw(logits: np.ndarray, mask: np.ndarray):
            tokens = sampler(self.mixer(logits), mask)
            if tokens is not None:
                self.mixer.update(tokens)
            return tokens
        return draw


class DrumRepeat(ControlMixer):
    """The token each row played a bar (``bar_steps``) before, the seed's included,
    gains ``strength`` (nats); below 0 a struck one loses it (a rest a bar before is
    left alone: pushing it away would only add hits)."""

    def __init__(self, context: MixContext, inner, strength: float, bar_steps: int) -> None:
        super().__init__(context, inner, strength)
        self.bar = max(1, int(bar_steps))
        self.heard = [np.full(context.rows, t, dtype=np.int64)
                      for t in list(context.prefix)[-self.bar:]]
        self._rows = np.arange(context.rows)

    def bias(self, rows: int) -> np.ndarray:
        out = np.zeros((rows, self.enc.vocab_size))
        if len(self.heard) >= self.bar:
            before = self.heard[-self.bar]
            gain = np.where((before == REST) & (self.strength < 0), 0.0, self.strength)
            out[self._rows, before] = gain
        return out

    def update(self, tokens: np.ndarray) -> None:
        super().update(tokens)
        self.heard.append(np.asarray(tokens, dtype=np.int64))
        del self.heard[:-self.bar]


def drum_steering(model, values: Mapping[str, int], song, start: int, rows: int,
                  settings=None, prime: Sequence[int] = (),
                  bar_steps: int = 4 * STEPS_PER_QUARTER) -> _Steering | None:
    """The mixers of the drum controls ``values`` (name -> position, as
    :func:`drum_controls` gives them) for ``rows`` rows whose first drawn token is grid
    step ``start`` of ``song``, after the seed's drum tokens ``prime``, in bars of
    ``bar_steps``; None when none of density, register, syncopation and repeat is away
    from 0 (nothing changes)."""
    context = MixContext(model, settings, rows, tuple(prime), song, start_step=int(start))
    mixer = None
    for name in DRUM_CONTROLS:
        value = int(values.get(name, 0))
        if value:
            mixer = _MIXERS[name](context, mixer, nats_at(name, value))
    repeat = int(values.get("repeat", 0))
    if repeat and nats_at("repeat", repeat):
        mixer = DrumRepeat(context, mixer, nats_at("repeat", repeat), bar_steps)
    return None if mixer is None else _Steering(mixer)


def drum_velocities(notes: Sequence[Note], dynamics: int) -> list[Note]:
    """``notes`` (one variation's new hits) with the dynamics control applied: each
    velocity's distance from the notes' mean scaled by the control's spread, and the
    mean moved by its level (:data:`engine.generation.sampling.DYNAMICS`); where the
    accents would pass 127 (or the soft hits 1) the others are moved on so that the mean
    still moves by the level.  The notes themselves at 0."""
    notes = list(notes)
    if not dynamics or not notes:
        return notes
    level, spread = DYNAMICS[int(dynamics)]
    v = np.array([n.velocity for n in notes], dtype=np.float64)
    target = min(127.0, max(1.0, v.mean() + level))
    out = np.clip(target + spread * (v - v.mean()), 1, 127)
    for _ in range(VELOCITY_ROUNDS):  # what the clipping took, given back to the rest
        shift = target - out.mean()
        if abs(shift) < 0.5:
            break
        out = np.clip(out + shift, 1, 127)
    return [replace(n, velocity=int(round(x))) for n, x in zip(notes, out)]

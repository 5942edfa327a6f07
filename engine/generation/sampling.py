"""The one step loop every job calls, and what it runs on: public names only.

A job (continue, fill, the part music's) encodes its seed, builds its masks and primes a
runner; :func:`sample_loop` then draws ``steps`` tokens for ``variations`` rows, one
model call per step, with the per-step hooks: a mixer that reshapes the logits
(:mod:`engine.generation.memory`, :mod:`engine.generation.style`), a mask per step, a
progress callable and a cancel check.  :class:`IncrementalRunner` primes once and then
calls the step model once per step (the way we generate); :class:`NaiveRunner` re-runs
the sequence model over its window at every step (the baseline the tests and the
benchmark check it against).  :class:`Velocities` gives new notes the seed's dynamics,
moved by the dynamics control.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median
from typing import Sequence

import numpy as np

from engine.encodings import Encoding, Key
from engine.errors import ContinuoError, GenerationError
from engine.generation.sampler import Sampler
from engine.models import StepModel
from engine.song import Note, Song

# Seeds longer than this many steps (64 bars of 4/4) are primed with their last part
# only: the LSTM's memory of the distant past is faint and the WaveNet sees a fixed
# window anyway, while priming cost grows with the length.
MAX_PRIME_STEPS = 1024
DEFAULT_VELOCITY = 90


class GenerationCancelled(ContinuoError):
    """The caller cancelled a generation that was under way."""


@dataclass
class GenerationResult:
    """The continuation: one list of new notes per variation (in the seed's ticks, key
    and register), where they start, the key used, and what the user should be told."""

    variations: list[list[Note]]
    start_tick: int
    key: Key
    messages: list[str] = field(default_factory=list)
    model: str = ""
    steps: int = 0
    tokens: list[list[int]] = field(default_factory=list)  # per variation, model space
    # per step, the [variations, vocab] logits before masking (only when asked for)
    logits: np.ndarray | None = None
    # the auto key lock: the key it locked, "none" when unsure ("" for any other lock);
    # ``messages`` says why
    key_lock: str = ""
    # a polyphonic model's: per variation, the track index of each note (the seed's
    # tracks, or for a harmonisation new ones numbered after them, named in new_tracks)
    track_of: list[list[int]] | None = None
    new_tracks: list[str] = field(default_factory=list)
    # the song's drum tracks continued beside a continuation (jobs/drums.py): per
    # variation its new drum notes, all for the track ``drum_track`` or, where several
    # drum tracks went on, each for its own in ``drum_track_of`` (per variation, a track
    # a note); empty when none
    drums: list[list[Note]] = field(default_factory=list)
    drum_track: int | None = None
    drum_track_of: list[list[int]] | None = None


# ---------------------------------------------------------------------------------------
# the two ways of getting logits step by step
# ---------------------------------------------------------------------------------------


class IncrementalRunner:
    """Prime once, then one step-model call per new step: the way we generate."""

    def __init__(self, model: StepModel, prime_tokens: Sequence[int], batch: int) -> None:
        self.model = model
        self.first_logits, self.state = model.prime(prime_tokens, batch)

    def advance(self, tokens: np.ndarray) -> np.ndarray:
        # no copy: the loop is done with these logits before the next step
        return self.model.step(tokens, self.state, copy=False)

    def branch(self, tokens: np.ndarray, times: int) -> None:
        """Feed each row its last token, then make every row ``times`` rows (side by
        side); ``first_logits`` are then the logits of the new rows."""
        logits = self.model.step(tokens, self.state)
        state = self.model.repeated(self.state, times)
        self.model.release(self.state)
        self.state = state
        self.first_logits = np.repeat(logits, times, axis=0)

    def close(self) -> None:
        self.model.release(self.state)


class NaiveRunner:
    """The sequence model re-run over the window for every new step: the baseline that
    the incremental path is checked against (same logits) and measured against.  The
    window is the whole history for an LSTM and the receptive field for a WaveNet."""

    def __init__(self, model: StepModel, prime_tokens: Sequence[int], batch: int) -> None:
        self.model = model
        self.window = model.info.receptive_field_steps
        self.history = np.tile(np.asarray(prime_tokens, dtype=np.int32), (batch, 1))
        self.first_logits = self._last_logits() if len(prime_tokens) else None

    def _last_logits(self) -> np.ndarray:
        window = self.history if self.window is None else self.history[:, -self.window:]
        return self.model.sequence_logits(window)[:, -1]

    def advance(self, tokens: np.ndarray) -> np.ndarray:
        self.history = np.concatenate([self.history, tokens[:, None].astype(np.int32)], axis=1)
        return self._last_logits()

    def close(self) -> None:
        pass


def steps_for(settings, song: Song, start_tick: int, enc: Encoding) -> int:
    if settings.steps is not None:
        return int(settings.steps)
    return enc.steps_for(settings.bars, song.ticks_per_bar_at(start_tick), song.ppq)


#: the dynamics control's position -> (velocity level added, the accents' spread scaled)
DYNAMICS = {-2: (-16, 0.0), -1: (-8, 0.5), 0: (0, 1.0), 1: (8, 1.5), 2: (16, 2.0)}


class Velocities:
    """Velocities for new notes that follow the seed: the seed's median plus the seed's
    average accent at the same position in the bar (step within the beat and beat),
    falling back to the beat, then to the median.  ``dynamics`` (the control, -2..2)
    moves the level (softer below 0, louder above) and scales the accents (even below 0,
    more dynamic above)."""

    def __init__(self, song: Song, notes: Sequence[Note], enc: Encoding,
                 dynamics: int = 0) -> None:
        self.song = song
        self.step_ticks = max(1, song.ppq // enc.steps_per_quarter)
        if notes:
            self.median = int(median(n.velocity for n in notes))
        else:
            self.median = DEFAULT_VELOCITY
        by_pos: dict[tuple[int, int], list[int]] = defaultdict(list)
        by_beat: dict[int, list[int]] = defaultdict(list)
        for n in notes:
            _, beat, in_beat = song.bar_beat_at(n.start_tick)
            by_pos[(beat, in_beat // self.step_ticks)].append(n.velocity)
            by_beat[beat].append(n.velocity)
        self.pos_offset = {k: sum(v) / len(v) - self.median for k, v in by_pos.items()}
        self.beat_offset = {k: sum(v) / len(v) - self.median for k, v in by_beat.items()}
        if not notes:  # no seed: a gentle metric accent on the first beat
            self.beat_offset = {1: 10.0}
        self.level, self.spread = DYNAMICS[int(dynamics)]
        self._memo: dict[int, int] = {}

    def at(self, tick: int) -> int:
        cached = self._memo.get(tick)
        if cached is None:
            cached = self._memo[tick] = self._at(tick)
        return cached

    def _at(self, tick: int) -> int:
        _, beat, in_beat = self.song.bar_beat_at(tick)
        offset = self.pos_offset.get((beat, in_beat // self.step_ticks))
        if offset is None:
            offset = self.beat_offset.get(beat, 0.0) if in_beat == 0 else 0.0
        if self.level or self.spread != 1.0:
            offset = self.level + self.spread * offset
        return int(min(127, max(1, round(self.median + offset))))


def sample_loop(stepper, steps: int, k: int, forced_first: int | None,
                first_allowed: np.ndarray, allowed: np.ndarray, settings,
                rng: np.random.Generator, progress, is_cancelled,
                record_logits: bool, mixer=None, *,
                constraints: Sequence = ()) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Sample ``steps`` tokens for ``k`` variations, one model call per step; with a
    ``mixer``, from the network mixed with the motif memory (the network's own logits
    are what is recorded).  ``constraints`` (:mod:`engine.generation.constraints`) may
    narrow each step's mask beyond ``allowed`` from the tokens drawn so far."""
    logits = stepper.first_logits
    out = np.empty((k, steps), dtype=np.int64)
    recorded: list[np.ndarray] | None = [] if record_logits else None
    sampler = Sampler(settings.temperature, settings.top_p, rng)
    first_mask, mask = Sampler.mask(first_allowed), Sampler.mask(allowed)
    first = 0
    if forced_first is not None:
        # the model was primed with this very token: it is the first new note, and
        # ``logits`` already follow it
        out[:, 0] = forced_first
        first = 1
        if progress is not None:
            progress(1, steps)
    for i in range(first, steps):
        if is_cancelled is not None and is_cancelled():
            raise GenerationCancelled("generation was cancelled")
        if recorded is not None:
            recorded.append(np.array(logits, dtype=np.float32))
        if mixer is not None:
            logits = mixer(logits)
        step_mask = first_mask if i == 0 else mask
        if constraints:
            narrowed = first_allowed if i == 0 else allowed
            for c in constraints:
                narrowed = c.narrow(i, narrowed)
            step_mask = Sampler.mask(narrowed)
        tokens = sampler(logits, step_mask)
        if tokens is None:
            raise GenerationError(f"the model {stepper.model.name} computed invalid numbers "
                                  f"(NaN or infinity) at step {i + 1}; its weights are "
                                  f"probably damaged")
        out[:, i] = tokens
        if mixer is not None:
            mixer.update(tokens)
        for c in constraints:
            c.update(tokens)
        if i + 1 < steps:
            logits = stepper.advance(tokens)
        if progress is not None:
            progress(i + 1, steps)
    return out, recorded

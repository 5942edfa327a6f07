"""Follow chords, strict: strong beats only chord tones, weak beats pass by step.

The song's chord track (:attr:`engine.song.Song.chords`) is read over the generated
range into a :class:`ChordPlan`: per grid step, the chord's tones as pitch classes in
the model's key space (a melody model's seed is moved to C major / A minor, so every
tone moves by the job's ``transpose``), its bass and whether the step is a strong beat.

* **A chord tone** is a pitch class of the symbol
  (:attr:`engine.encodings.chords.ChordSymbol.pitch_classes`): the root, the quality's
  tones (a seventh chord's seventh is one: G7 is G B D F; a sixth chord's sixth), the
  named extensions (C9's D, C7b9's Db), for sus chords the suspended second or fourth
  instead of the third (Csus4 is C F G: E is not a chord tone), and a slash chord's bass
  (C/Bb is C E G Bb).
* **A strong beat** is every beat's first step (the song's metre: each quarter of 4/4,
  each dotted quarter of 6/8).  Every beat rather than beats 1 and 3: a chorale's
  harmony moves by the beat, and a lead sheet's chords that last a bar make every beat
  of it a chord beat anyway; it is the same rule in every metre.
* **Weak beats pass by step**: between beats a note that is not a chord tone may start
  only a step (one or two semitones) from the note before it, and the note after such
  a passing note moves from it by step too (it resolves, unless a strong beat's chord
  tone must come).  Chord tones are free.

:class:`StrictChords` does this to a melody model's tokens (NOTE_ONs limited; on a
strong beat a note that is not a chord tone is not held into it either);
:func:`apply_to_parts` writes the strong beats into a part model's rules
(:attr:`engine.encodings.polyphony.PartRules.pitch_classes`, with the bass part on the
chord's bass note when harmonising), and :class:`PartPassing` keeps the part notes
between beats to chord tones or steps.  Where the song has no chord, nothing narrows;
where the rules would leave a row no token, the row keeps what it had.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.encodings.chords import parse_chord
from engine.errors import EncodingError, GenerationError
from engine.generation.constraints import Constraint, StepContext
from engine.song import Song

#: the largest interval (semitones) a passing note moves by: a step
STEP_SEMITONES = 2


@dataclass
class ChordPlan:
    """The chords over ``len(has)`` grid steps from ``start_step``: ``tones`` [T, 12]
    (model-space pitch classes), ``bass`` [T] (model-space pitch class, -1 none),
    ``strong`` [T] (a beat's first step), ``has`` [T] (a chord sounds)."""

    start_step: int
    tones: np.ndarray
    bass: np.ndarray
    strong: np.ndarray
    has: np.ndarray

    def index(self, grid_steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the plan's row of each grid step, clipped; whether the step is in the plan
        with a chord)."""
        t = np.asarray(grid_steps, np.int64) - self.start_step
        inside = (t >= 0) & (t < len(self.has))
        t = np.clip(t, 0, max(0, len(self.has) - 1))
        return t, inside & self.has[t] if len(self.has) else inside


def chord_plan(song: Song | None, enc, start_step: int, steps: int,
               transpose: int) -> ChordPlan | None:
    """The song's chord track over ``steps`` grid steps of ``enc`` from ``start_step``,
    moved by ``transpose`` into the model's key; None when no chord sounds there."""
    if song is None or not song.chords or steps <= 0:
        return None
    ppq = song.ppq
    chords = sorted(song.chords, key=lambda c: c.tick)
    ticks = [c.tick for c in chords]
    parsed: dict[str, tuple[frozenset[int], int]] = {}
    T = int(steps)
    tones = np.zeros((T, 12), bool)
    bass = np.full(T, -1, np.int64)
    strong = np.zeros(T, bool)
    has = np.zeros(T, bool)
    for t in range(T):
        tick = enc.step_to_tick(start_step + t, ppq)
        i = bisect_right(ticks, tick) - 1
        strong[t] = song.bar_beat_at(max(0, tick))[2] == 0
        if i < 0:
            continue
        symbol = chords[i].symbol
        if symbol not in parsed:
            try:
                c = parse_chord(symbol)
            except EncodingError as e:
                raise GenerationError(f"the chord track cannot be followed: {e}") from None
            parsed[symbol] = (c.pitch_classes, c.bass_pc)
        pcs, b = parsed[symbol]
        tones[t, [(pc + transpose) % 12 for pc in pcs]] = True
        bass[t] = (b + transpose) % 12
        has[t] = True
    if not has.any():
        return None
    return ChordPlan(int(start_step), tones, bass, strong, has)


def follows(settings, mode: str | None = None) -> bool:
    """Whether ``settings`` follow chords (``mode``: "loose" or "strict" only)."""
    value = getattr(settings, "follow_chords", "off")
    return value != "off" if mode is None else value == mode


def _keep_rows(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``after``, except rows it leaves empty, which keep ``before``."""
    empty = ~after.any(axis=1)
    if empty.any():
        after[empty] = before[empty]
    return after


class StrictChords(Constraint):
    """Follow chords, strict, on a melody model's tokens (model space): built by the
    jobs from the follow-chords setting (not named in a request), with the plan, the
    grid step of the first sampled token and the primed tokens (:meth:`for_melody`)."""

    name = "chords"

    def __init__(self, context: StepContext, plan: ChordPlan | None = None,
                 first_step: int = 0, prime: Sequence[int] = ()) -> None:
        super().__init__(context)
        self.plan, self.first_step = plan, int(first_step)
        if plan is None:
            return
        from engine.generation.mixers.control import onset_pitches

        enc = context.model.encoding
        self.pitch = onset_pitches(enc)  # [vocab] model pitch of each NOTE_ON, else NaN
        self.is_on = ~np.isnan(self.pitch)
        self.pc = np.where(self.is_on, np.nan_to_num(self.pitch) % 12, -1).astype(np.int64)
        self.hold = np.zeros(enc.vocab_size, bool)
        self.hold[int(getattr(enc, "hold_token", 0))] = True
        self.off = ~self.is_on & ~self.hold
        sounding, last = np.nan, np.nan
        for tok in prime:
            if self.is_on[tok]:
                sounding = last = self.pitch[tok]
            elif self.off[tok]:
                sounding = np.nan
        rows = context.rows
        self.sounding = np.full(rows, sounding)
        self.last = np.full(rows, last)
        self.passing = np.zeros(rows, bool)  # the last note was not a chord tone
        self._step = 0

    @classmethod
    def for_melody(cls, context: StepContext, song: Song | None, start_step: int,
                   steps: int, prime: Sequence[int]) -> "StrictChords | None":
        """The constraint for a melody job that samples ``steps`` tokens from grid step
        ``start_step``; None where the song has no chord over them."""
        plan = chord_plan(song, context.model.encoding, start_step, steps, context.transpose)
        return None if plan is None else cls(context, plan, start_step, prime)

    def advance(self, steps: int) -> None:
        """The next sampling starts ``steps`` grid steps later (a fill's second part)."""
        self.first_step += int(steps)

    def repeat_rows(self, times: int) -> None:
        """Every row becomes ``times`` rows side by side (a fill's candidates)."""
        if self.plan is None:
            return
        self.sounding = np.repeat(self.sounding, times)
        self.last = np.repeat(self.last, times)
        self.passing = np.repeat(self.passing, times)

    def _tones(self, step: int) -> tuple[np.ndarray | None, bool]:
        t, ok = self.plan.index(np.array([self.first_step + step]))
        if not ok[0]:
            return None, False
        return self.plan.tones[t[0]], bool(self.plan.strong[t[0]])

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        self._step = step
        if self.plan is None:
            return allowed
        tones, strong = self._tones(step)
        if tones is None:
            return allowed
        chord_on = self.is_on & tones[np.maximum(self.pc, 0)]
        out = np.array(np.broadcast_to(allowed, (len(self.last), allowed.shape[-1])))
        before = out.copy()
        if strong:
            out &= ~(self.is_on & ~chord_on)[None, :]
            held = np.nan_to_num(self.sounding, nan=-1).astype(np.int64)
            foreign = (held >= 0) & ~tones[np.maximum(held, 0) % 12]
            out[foreign] &= ~self.hold
        else:
            near = np.abs(self.pitch[None, :] - self.last[:, None]) <= STEP_SEMITONES
            near |= np.isnan(self.last)[:, None]
            # a non-chord tone only by step; after one, every note moves by step
            out &= ~(self.is_on & ~chord_on)[None, :] | near
            out[self.passing] &= ~self.is_on | near[self.passing]
        return _keep_rows(before, out)

    def update(self, tokens: np.ndarray) -> None:
        if self.plan is None:
            return
        tokens = np.asarray(tokens)
        tones, _ = self._tones(self._step)
        on = self.is_on[tokens]
        p = self.pitch[tokens]
        self.sounding = np.where(on, p, np.where(self.off[tokens], np.nan, self.sounding))
        self.last = np.where(on, p, self.last)
        if tones is not None:
            chordal = tones[np.maximum(self.pc[tokens], 0)]
            self.passing = np.where(on, ~chordal, self.passing)
        else:
            self.passing = np.where(on, False, self.passing)


# ---------------------------------------------------------------------------------------
# a part model's parts
# ---------------------------------------------------------------------------------------


def apply_to_parts(rules, plan: ChordPlan | None, bass_part: bool = False) -> None:
    """Strong beats of ``rules`` (:class:`engine.encodings.polyphony.PartRules`, whose
    step 0 is the plan's) to chord tones for every part, and with ``bass_part`` (a
    harmonisation) the lowest part to the chord's bass note; where the plan has a chord
    its pitch classes replace those the rules had (a harmonisation's own cadence) on
    every step, so the user's chords win.  ``rules`` changed in place."""
    if plan is None:
        return
    T, P = rules.must.shape
    pcs = np.ones((T, P, 12), bool) if rules.pitch_classes is None \
        else np.array(rules.pitch_classes, bool)
    n = min(T, len(plan.has))
    has = plan.has[:n]
    pcs[:n][has] = True
    strong = has & plan.strong[:n]
    pcs[:n][strong] = plan.tones[:n][strong][:, None, :]
    if bass_part and P > 1:
        bass = np.zeros((n, 12), bool)
        rows = np.nonzero(strong)[0]
        bass[rows, plan.bass[:n][rows]] = True
        pcs[rows, P - 1] = bass[rows]
    rules.pitch_classes = pcs


class PartStrict(Constraint):
    """Follow chords, strict, in a part model's sampler: on a strong beat no new note
    that is not a chord tone (the rules' pitch classes do this for parts written as
    lines, :func:`apply_to_parts`; voice-blind writing has only this); between beats,
    for parts written as lines, a new note that is not a chord tone starts only a step
    from the last note of a part that could take it (one with room left in the step
    whose range holds it).  ``rule`` is the part grammar's constraint (its grammar's
    state), ``start_step`` the grid step of the grammar's step now."""

    def __init__(self, context: StepContext, rule, plan: ChordPlan,
                 start_step: int) -> None:
        super().__init__(context)
        self.rule, self.plan, self.start_step = rule, plan, int(start_step)
        grammar = rule.grammar
        self.since = np.array(grammar.steps, copy=True)
        enc = context.model.encoding
        self.n = n = enc.pitches
        self.index = np.arange(n)
        self.pc = (self.index + enc.min_pitch) % 12
        rules = getattr(grammar, "rules", None)
        self.in_range = None
        if rules is not None:
            lo = np.asarray(rules.floor) - enc.min_pitch
            hi = np.asarray(rules.ceiling) - enc.min_pitch
            self.in_range = (self.index[None, :] >= lo[:, None]) & \
                (self.index[None, :] <= hi[:, None])  # [P, n]
            self.capacity = np.asarray(rules.capacity)

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        g = self.rule.grammar
        t, ok = self.plan.index(self.start_step + (g.steps - self.since))
        if not ok.any():
            return allowed
        foreign = ~self.plan.tones[t][:, self.pc]  # [B, n]
        strong = ok & self.plan.strong[t]
        bad = strong[:, None] & foreign
        weak = ok & ~self.plan.strong[t]
        if self.in_range is not None and weak.any():
            room = ~g.closed & (g.count < self.capacity[None, :])  # [B, P]
            last = g.prev_top  # [B, P] pitch index, -1 none
            near = (np.abs(self.index[None, None, :] - last[:, :, None]) <= STEP_SEMITONES) \
                | (last < 0)[:, :, None]
            reach = (room[:, :, None] & self.in_range[None] & near).any(axis=1)  # [B, n]
            bad |= weak[:, None] & foreign & ~reach
        if not bad.any():
            return allowed
        out = np.array(np.broadcast_to(allowed, (len(t), allowed.shape[-1])), copy=True)
        before = out.copy()
        out[:, 1:1 + self.n] &= ~bad
        return _keep_rows(before, out)

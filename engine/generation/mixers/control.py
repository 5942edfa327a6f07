"""What the steering controls' mixers share (density.py, leaps.py, register.py,
syncopation.py): a control's position (-2..2 in the settings) turned into a strength,
the model-space pitch of every note-starting token, and :class:`ControlMixer`, which
adds a bias to the note-starting tokens' logits at each step; and for a model that
writes parts, :func:`part_mixer`: the same controls on each part's line (a NEW token's
logit moved, :class:`PartView` saying which part's line it would go on).

At position 0 a control is never built (:func:`control_mixers` leaves it out), so the
music is byte for byte what it was.  The strengths are not linear: one step either way
is a nudge that keeps the music close to the model's own (its bits per note rise a
little), two steps a push the ear hears."""

from __future__ import annotations

from typing import Callable

import numpy as np

from engine.generation.mixers import Chained, MixContext
from engine.song import Song

__all__ = ["STRENGTH", "CONTROL_MIXERS", "ControlMixer", "control_mixers", "onset_pitches",
           "strength_of", "PART_CONTROLS", "PartControl", "PartMixer", "PartView",
           "part_control", "part_mixer"]

#: a control's position -> the strength its mixer applies (scaled by each control)
STRENGTH = {-2: -1.0, -1: -0.25, 0: 0.0, 1: 0.25, 2: 1.0}
#: the controls that are mixers of the network's logits, in the order they chain (the
#: repeat control scales the motif memory, dynamics the velocities)
CONTROL_MIXERS = ("density", "leaps", "register", "syncopation")


def strength_of(settings, name: str) -> float:
    return STRENGTH[int(getattr(settings, name, 0))]


def control_mixers(settings) -> list[str]:
    """The control mixers a melody job chains after the others: those not at 0 (and not
    already named in ``settings.mixers``)."""
    return [name for name in CONTROL_MIXERS
            if getattr(settings, name, 0) and name not in settings.mixers]


def onset_pitches(enc) -> np.ndarray:
    """``[vocab]`` float: the model-space pitch each note-starting token starts, NaN for
    every other token (and for a note-starting token of no single pitch)."""
    pitches = np.full(enc.vocab_size, np.nan)
    onsets = np.asarray(enc.onset_mask, dtype=bool)
    # a note-starting token allowed even when no pitch is (none in a melody encoding)
    # has no single pitch
    unpitched = np.asarray(enc.allowed_tokens(None, enc.max_pitch + 1, enc.max_pitch + 1),
                           dtype=bool) & onsets
    for p in range(enc.min_pitch, enc.max_pitch + 1):
        only = np.asarray(enc.allowed_tokens(None, p, p), dtype=bool) & onsets & ~unpitched
        pitches[only] = p
    return pitches


class ControlMixer(Chained):
    """Adds ``bias(rows) -> [rows, vocab]`` (zero off the note-starting tokens) to each
    step's logits, after the mixers before it; counts the steps (``step``: the grid
    step of the token now drawn) and keeps each row's last pitch (``last``, NaN before
    any)."""

    #: keep the note-starting tokens' total probability as it was (only which note
    #: starts changes), or let the bias change how often a note starts
    keep_onset_mass = False

    def __init__(self, context: MixContext, inner, strength: float) -> None:
        super().__init__(inner)
        enc = context.model.encoding
        self.enc = enc
        self.song = context.song
        self.strength = float(strength)
        self.pitches = onset_pitches(enc)
        self.onsets = np.asarray(enc.onset_mask, dtype=bool)
        self._onset_index = np.flatnonzero(self.onsets)
        self._static: np.ndarray | None = None
        self._static_on: np.ndarray | None = None
        self.step = int(context.start_step if context.start_step is not None
                        else len(context.prefix))
        last = np.nan
        for tok in reversed(list(context.prefix)):
            if self.onsets[tok] and not np.isnan(self.pitches[tok]):
                last = self.pitches[tok]
                break
        self.last = np.full(context.rows, last)
        self.prefix_pitches = np.array([self.pitches[t] for t in context.prefix
                                        if self.onsets[t] and not np.isnan(self.pitches[t])])

    def bias(self, rows: int) -> np.ndarray:
        raise NotImplementedError

    def mix(self, logits: np.ndarray) -> np.ndarray:
        b = self.bias(logits.shape[0])
        if self.keep_onset_mass:
            # shift the note-starting tokens together so their total stays the same
            # (gathered by index, not by mask: the same numbers, fewer copies)
            idx = self._onset_index
            on = logits.take(idx, axis=1)
            if b is not self._static:  # a bias that stays (register) is gathered once
                self._static, self._static_on = b, b.take(idx, axis=1)
            b_on = self._static_on
            before = _logsumexp(on)
            after = _logsumexp(on + b_on)
            rows = logits.shape[0]
            b = np.repeat(b, rows, axis=0) if b.shape[0] != rows else np.array(b)
            b[:, idx] = b_on + (before - after)[:, None]
        return logits + b

    def update(self, tokens: np.ndarray) -> None:
        super().update(tokens)
        tokens = np.asarray(tokens)
        drawn = self.pitches[tokens]
        started = ~np.isnan(drawn)
        self.last = np.where(started, drawn, self.last)
        self.step += 1

    def repeat_rows(self, times: int) -> None:
        super().repeat_rows(times)
        self.last = np.repeat(self.last, times)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0.0)
    return m + np.log(np.exp(x - m[:, None]).sum(axis=1))


# ---------------------------------------------------------------------------------------
# the controls on a part model's lines
# ---------------------------------------------------------------------------------------

#: name -> ``factory(view, strength) -> PartControl``: the controls that steer the lines
#: of a model that writes parts (the part sampler's mixer hook,
#: :func:`engine.generation.polyphony.sample_parts`); each control's file registers its own
PART_CONTROLS: dict[str, Callable] = {}


def part_control(name: str) -> Callable[[Callable], Callable]:
    """Function decorator: the ``name`` control on a part model's lines."""
    def add(factory: Callable) -> Callable:
        if name in PART_CONTROLS and PART_CONTROLS[name] is not factory:
            raise ValueError(f"the part control {name} is registered twice")
        PART_CONTROLS[name] = factory
        return factory
    return add


class PartView:
    """What the part controls read of the rows a part sampler writes: each row's grid
    step, and the last pitch (pitch index) of the part a NEW of each pitch would go to.

    ``grammar`` is the sampler's grammar: with every part a line
    (:class:`engine.encodings.polyphony.PartGrammar`) a NEW goes to the nearest part
    (by the centre of its seed) that still has room in the step and whose range holds
    it, much as the grammar gives it (by its running centre), and each
    part's last pitch is followed from the part the grammar gave each token; voice-blind
    (:class:`engine.encodings.polyphony.PolyGrammar`) the k-th note of a step follows
    the k-th note (top down) of the step before."""

    def __init__(self, enc, grammar, song, start_step: int) -> None:
        self.enc, self.grammar = enc, grammar
        self.n = n = enc.pitches
        self.rows = rows = grammar.batch
        self.song = song if song is not None else Song()
        self.start_step = int(start_step)
        self.since = np.array(grammar.steps, copy=True)
        self.lines = getattr(grammar, "rules", None) is not None
        self._index = np.arange(n)
        if self.lines:
            rules = grammar.rules
            P = rules.parts
            low = np.asarray(rules.floor) - enc.min_pitch
            high = np.asarray(rules.ceiling) - enc.min_pitch
            self._in_range = (self._index[None, :] >= low[:, None]) & \
                (self._index[None, :] <= high[:, None])  # [P, n]
            self._capacity = np.asarray(rules.capacity)
            # the steps where a part's notes are all given (forced): none go to it
            fp = rules.forced_part if rules.forced_part is not None else \
                np.zeros((0, P), bool)
            self._forced = np.concatenate([np.asarray(fp, bool), np.zeros((1, P), bool)])
            top = np.asarray(rules.start_top, np.int64)
            self.last = np.where(top >= 0, top - enc.min_pitch, -1)[None].repeat(rows, 0)
            # each part's distance from every pitch (the rules' centre: where it has
            # been), and per set of parts with room the part each pitch goes to
            centre = np.asarray(rules.centre, float) - enc.min_pitch
            self._distance = np.abs(centre[:, None] - self._index[None, :])  # [P, n]
            self._bits = 1 << np.arange(P, dtype=np.int64)
            self._assign: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            self._row_index = np.arange(rows)[:, None]
        else:
            self.prev: list[list[int]] = [[] for _ in range(rows)]
            self.cur: list[list[int]] = [[] for _ in range(rows)]
        self._in_beat: dict[int, bool] = {}
        self._last_new: np.ndarray | None = None
        self._part_new: np.ndarray | None = None
        # the song's track each part writes (None: a new voice), where the rules say
        self.tracks = tuple(getattr(grammar.rules, "tracks", None) or ()) if self.lines \
            else ()
        # each part's centre, model-space pitch index (every part a line)
        self.centre = (np.asarray(grammar.rules.centre, float) - enc.min_pitch) \
            if self.lines else None

    def _parts_for(self, key: int, room: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For the parts with ``room`` (``key``: their bits): the part each NEW pitch
        goes to (the nearest by the part's centre, within its range) and whether any
        may take it; remembered per set of parts."""
        got = self._assign.get(key)
        if got is None:
            cost = np.where(room[:, None] & self._in_range, self._distance, np.inf)  # [P, n]
            got = self._assign[key] = (np.argmin(cost, axis=0), np.isfinite(cost.min(axis=0)))
        return got

    def new_call(self) -> None:
        """A new call's logits: what was read of the rows is read again."""
        self._last_new = None

    def steps(self) -> np.ndarray:
        """[rows]: the grid step each row is writing."""
        return self.start_step + (self.grammar.steps - self.since)

    def off_beat(self) -> np.ndarray:
        """[rows] bool: whether each row's step is off the beat (the song's metre)."""
        out = np.zeros(self.rows, bool)
        ppq = self.song.ppq
        for r, step in enumerate(self.steps()):
            step = int(step)
            off = self._in_beat.get(step)
            if off is None:
                tick = self.enc.step_to_tick(step, ppq)
                off = self._in_beat[step] = self.song.bar_beat_at(max(0, tick))[2] != 0
            out[r] = off
        return out

    def last_for_new(self) -> np.ndarray:
        """[rows, pitches] int: the last pitch index of the part each NEW would go to
        (-1 where none)."""
        if self._last_new is None:
            self._read_new()
        return self._last_new

    def part_for_new(self) -> np.ndarray:
        """[rows, pitches] int: the part (index top down) each NEW would go to, -1 where
        none would take it (every part a line only)."""
        if self._last_new is None:
            self._read_new()
        return self._part_new

    def _read_new(self) -> None:
        g = self.grammar
        out = np.full((self.rows, self.n), -1, np.int64)
        if self.lines:
            at = np.minimum(g.steps, len(self._forced) - 1)
            room = ~g.closed & (g.count < self._capacity[None, :]) & ~self._forced[at]  # [B, P]
            keys = room @ self._bits
            part = np.empty((self.rows, self.n), np.int64)
            valid = np.empty((self.rows, self.n), bool)
            for r, key in enumerate(keys.tolist()):
                part[r], valid[r] = self._parts_for(key, room[r])
            out = self.last[self._row_index, part]
            out[~valid] = -1
            part[~valid] = -1
            self._part_new = part
        else:
            for r in range(self.rows):
                prev, k = self.prev[r], len(self.cur[r])
                if prev:
                    out[r] = prev[min(k, len(prev) - 1)]
        self._last_new = out

    def update(self, tokens: np.ndarray) -> None:
        """The tokens just drawn (after the grammar has heard them)."""
        tokens = np.asarray(tokens)
        n = self.n
        if self.lines:
            sounded = (tokens > 0) & (self.grammar.part_of >= 0)
            rows = np.nonzero(sounded)[0]
            self.last[rows, self.grammar.part_of[rows]] = (tokens[rows] - 1) % n
            return
        for r, tok in enumerate(tokens):
            if tok == 0:  # STEP
                self.prev[r], self.cur[r] = self.cur[r], []
            else:
                self.cur[r].append(int((tok - 1) % n))


class PartControl:
    """One control on a part model's lines: ``bias()`` is ``[rows, pitches]``, added to
    the NEW tokens' logits; with ``keep_mass`` the allowed NEW tokens' total probability
    stays as it was (only which note starts changes).

    ``strength`` is the control's own; ``part_strength`` ([parts] or None) gives each
    part its own (per-part controls): then :meth:`strengths` is each NEW's, by the part
    it would go to, and each control's bias scales by it (:meth:`bias_per_part`; with
    one strength for all, :meth:`bias_uniform`, the same numbers as ever)."""

    keep_mass = False

    def __init__(self, view: PartView, strength: float,
                 part_strength: np.ndarray | None = None) -> None:
        self.view = view
        self.strength = float(strength)
        self.part_strength = None if part_strength is None else \
            np.append(np.asarray(part_strength, float), 0.0)  # [-1]: no part, no bias

    def strengths(self) -> np.ndarray:
        """[rows, pitches]: the strength of the part each NEW would go to (0 where none)."""
        return self.part_strength[self.view.part_for_new()]

    def bias(self) -> np.ndarray:
        return self.bias_uniform() if self.part_strength is None else self.bias_per_part()

    def bias_uniform(self) -> np.ndarray:
        """The bias with every part at ``strength``."""
        raise NotImplementedError

    def bias_per_part(self) -> np.ndarray:
        """The bias with each part at its own strength (``part_strength``)."""
        raise NotImplementedError


class PartMixer:
    """The non-neutral controls on a part model's lines, applied in turn to each call's
    logits under the call's mask (:meth:`__call__`), hearing each drawn token."""

    def __init__(self, view: PartView, controls: list[PartControl]) -> None:
        self.view, self.controls = view, controls

    def __call__(self, logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n = self.view.n
        out = np.array(logits, dtype=np.float64)
        new = out[:, 1:1 + n]  # a view: the NEW tokens' logits
        allowed = mask[:, 1:1 + n] if mask.ndim == 2 else mask[None, 1:1 + n]
        self.view.new_call()
        for control in self.controls:
            b = control.bias()
            if control.keep_mass:
                # the allowed NEW tokens' total probability stays: shift by the log of
                # its ratio before / after (the bias is a few logits at most)
                e = np.exp(new - new.max(axis=1, keepdims=True)) * allowed
                before = e.sum(axis=1)
                after = (e * np.exp(b)).sum(axis=1)
                ok = (before > 0) & (after > 0)
                shift = np.log(np.where(ok, before, 1.0) / np.where(ok, after, 1.0))
                new += b + shift[:, None]
            else:
                new += b
        return out

    def update(self, tokens: np.ndarray) -> None:
        self.view.update(tokens)


def part_mixer(settings, enc, grammar, song, start_step: int) -> PartMixer | None:
    """The mixer that steers a part model's lines by the settings' controls (those not
    at 0, in :data:`CONTROL_MIXERS` order), each part by its own value where
    ``settings.part_controls`` gives one (every part a line: the rules say each part's
    track; written voice-blind the parts are not known while notes are drawn, so the
    controls' own values steer every note); None when every one is 0, so the music is
    byte for byte what it was."""
    if not settings.steers_parts():
        return None
    view = PartView(enc, grammar, song, start_step)
    controls = []
    for name in CONTROL_MIXERS:
        own = strength_of(settings, name)
        per_part = None
        if view.tracks and getattr(settings, "part_controls", ()):
            values = np.array([STRENGTH[settings.control_of(name, t)] for t in view.tracks])
            if (values != own).any():
                per_part = values
        if per_part is not None and per_part.any():
            controls.append(PART_CONTROLS[name](view, own, per_part))
        elif per_part is None and own:
            controls.append(PART_CONTROLS[name](view, own))
    return PartMixer(view, controls) if controls else None

"""Regenerate Part: one track of a song written anew, over a range or all of it, while
every other part stays note for note, by a model that writes several parts.

The polyphonic model hears every part, as it does when it harmonises a melody
(:mod:`engine.generation.jobs.harmonise`): it is primed with all the music before the
range, and over the range every other playable track's notes are forced tokens
(:class:`engine.encodings.polyphony.PartRules`' ``forced``: each of those parts' notes
comes exactly as given, and the part sounds nothing else), so the network reads them
as it writes; only the chosen part is sampled, under the continuation's grammar
(:class:`~engine.generation.constraints.grammar.PartGrammarConstraint`): its rhythm is
read from all its own notes (those it replaces included), its range from those it keeps
(within RANGE_MARGIN), it keeps its place among the parts, and it avoids parallel fifths
and octaves with the parts above it (:class:`FixedParallels` adds the parts beneath it,
whose notes are known beforehand, and the beat before).  The forced notes are read
ahead once (:meth:`~engine.encodings.polyphony.PartGrammar.forced_next`): a call where
every row's next token is forced needs no mask of the grammar's and draws nothing, so
regenerating a part costs no more than continuing every part.

The range ``[start_tick, end_tick)`` of the chosen track, as a fill's gap
(:mod:`engine.generation.fill`): its notes that start inside it are replaced, one that
starts before it and sounds into it is kept (the part holds it, and is written after
it ends), those that start at or after its end are kept and the new notes end by then.
Without a range the whole part is written again (from the bar of its first note to its
last note's end).  Every other track is untouched: :func:`apply_part` puts a variation
into the song.  A melody over other parts is rewritten the same way, over the parts
that stay.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from engine.encodings import Key, estimate_song_key
from engine.encodings.polyphony import STEP, PartRules, playable_tracks
from engine.errors import EncodingError, GenerationError
from engine.generation.constraints import Constraint, StepContext
from engine.generation.constraints.chords import apply_to_parts, chord_plan, follows
from engine.generation.fill import apply_fill, bar_of, split_at_gap
from engine.generation.generator import allowed_tokens
from engine.generation.jobs import register
from engine.generation.polyphony import (RANGE_MARGIN, lock_scale, longest_hold,
                                         part_capacity, part_grids, part_rules, require_parts,
                                         runner, sample_parts, seed_parts, track_labels,
                                         track_messages, with_sound)
from engine.generation.request import REGENERATE
from engine.generation.sampling import (MAX_PRIME_STEPS, GenerationCancelled, GenerationResult,
                                        Velocities)
from engine.limits import MAX_STEPS
from engine.song import Note, Song

__all__ = ["regenerate_part", "regeneration", "Regeneration", "apply_part", "part_range",
           "FixedParallels"]

# the most parts a song may have for one to be regenerated: the part rules compare every
# pair of parts (a 10,000-track file spent minutes there), and a part model sounds at most
# 8 voices at once anyway
MAX_PARTS = 32
NEEDS_PARTS = ("Regenerate Part needs a polyphonic model (poly-wavenet or poly-lstm), which "
               "hears every part while it writes one")


@register(REGENERATE, parts=True)
def regenerate(library, song, request, model, *, progress=None, is_cancelled=None):
    start_tick, end_tick = request.gap or (None, None)
    return regenerate_part(model, song, request.settings, track=int(request.track),
                           start_tick=start_tick, end_tick=end_tick, progress=progress,
                           is_cancelled=is_cancelled)


@register(REGENERATE)
def regenerate_with_a_melody_model(library, song, request, model, **_options):
    raise GenerationError(f"{NEEDS_PARTS}; {model.name} writes one line")


def apply_part(song: Song, track: int, notes: Sequence[Note], start_tick: int | None = None,
               end_tick: int | None = None) -> Song:
    """A copy of ``song`` whose ``track`` has its notes starting in ``[start_tick,
    end_tick)`` (the range the part was regenerated over; None: the whole part) replaced
    by ``notes``, a variation of :func:`regenerate_part`; every other note, and every
    other track, stays as it is."""
    if start_tick is None or end_tick is None:
        out = song.copy()
        out.tracks[track].notes = sorted(notes, key=Note.sort_key)
        return out
    return apply_fill(song, track, start_tick, end_tick, sorted(notes, key=Note.sort_key))


@dataclass
class PartRange:
    """What a regenerated part's range is: its ticks and grid steps, the part's notes
    before, inside and after it, and the other parts (track -> notes)."""

    track: int
    start_tick: int
    end_tick: int
    a_step: int
    steps: int
    before: list[Note]
    inside: list[Note]
    after: list[Note]
    others: dict[int, list[Note]]


def part_range(enc, song: Song, track: int, start_tick: int | None = None,
               end_tick: int | None = None) -> PartRange:
    """The range of ``track`` to regenerate, checked: a sentence for a track that is not
    there, a drum track, an empty part, an empty range or one outside the song.  No
    range: the whole part, from the start of the bar of its first note to its last
    note's end."""
    ppq = song.ppq
    if not 0 <= track < len(song.tracks):
        raise GenerationError(f"the song has no track {track + 1}; its tracks are numbered "
                              f"1 to {len(song.tracks)}")
    label = track_labels(song, [track])
    if song.tracks[track].is_drum:
        raise GenerationError(f"{label} is a drum track; Regenerate Part writes pitched "
                              f"parts (the drums are left as they are)")
    notes = sorted(song.tracks[track].notes, key=Note.sort_key)
    if not notes:
        raise GenerationError(f"{label} has no notes to regenerate; choose a track with a "
                              f"part in it (Harmonise writes voices beneath a melody)")
    if start_tick is None or end_tick is None:
        bar = bar_of(song, notes[0].start_tick)
        start_tick = song.bar_start_tick(bar)
        end_tick = max(n.end_tick for n in notes)
    start_tick, end_tick = int(start_tick), int(end_tick)
    if start_tick < 0 or end_tick <= start_tick:
        raise GenerationError(f"the range is empty: it ends (tick {end_tick}) where or before "
                              f"it starts (tick {start_tick}); choose at least one step of "
                              f"the part to regenerate")
    playable = playable_tracks(song)
    if len(playable) > MAX_PARTS:
        raise GenerationError(f"the song has {len(playable):,} parts with notes; Regenerate "
                              f"Part hears at most {MAX_PARTS} (each part's rules are read "
                              f"against every other's): merge or delete some tracks first")
    song_end = max(n.end_tick for i in playable for n in song.tracks[i].notes)
    if start_tick >= song_end:
        raise GenerationError(f"the range (from bar {bar_of(song, start_tick)}) starts after "
                              f"the song ends (in bar {bar_of(song, song_end - 1)}); "
                              f"choose bars of the song")
    end_tick = min(end_tick, song_end)
    a_step, b_step = enc.ceil_step(start_tick, ppq), enc.ceil_step(end_tick, ppq)
    steps = b_step - a_step
    if steps < 1:
        raise GenerationError(f"the range (bar {bar_of(song, start_tick)}, ticks "
                              f"{start_tick} to {end_tick}) is shorter than one step of the "
                              f"model's grid; choose a longer range")
    if steps > MAX_STEPS:
        raise GenerationError(f"the range is {steps:,} steps long; a part is regenerated "
                              f"{MAX_STEPS:,} steps at most at a time: choose fewer of its "
                              f"bars")
    before, inside, after = split_at_gap(notes, start_tick, end_tick)
    others = {i: sorted(song.tracks[i].notes, key=Note.sort_key) for i in playable
              if i != track}
    return PartRange(track, start_tick, end_tick, a_step, steps, before, inside, after,
                     others)


@dataclass
class Regeneration:
    """What a part is regenerated from (:func:`regeneration`): its range, the prime
    (every part's music before the range) and the transposition into the model's key,
    the tokens allowed, the parts' rules (every other part forced) with the chosen
    part's index among them (``target``), its notes (``per_track``: every playable
    track's), the chord plan the part follows (None: it follows none), the longest
    hold, the keys (``lock_key``: the lock, None for none) and what to tell the
    user."""

    range: PartRange
    prime: list[int]
    transpose: int
    allowed: np.ndarray
    rules: PartRules
    target: int
    per_track: dict[int, list[Note]]
    plan: object
    max_hold: int | None
    lock_key: Key | None
    song_key: Key
    messages: list[str]


def regenerate_part(model, song: Song, settings, *, track: int,
                    start_tick: int | None = None, end_tick: int | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    is_cancelled: Callable[[], bool] | None = None) -> GenerationResult:
    """``settings.variations`` new versions of ``track``'s notes in ``[start_tick,
    end_tick)`` (default: all of the part) with every other part heard and kept; each
    variation is the list of new notes (``track_of``: ``track`` for each), the
    result's ``start_tick`` where the range's first step starts (:func:`apply_part`
    puts one into the song)."""
    g = regeneration(model, song, settings, track, start_tick, end_tick)
    r, enc = g.range, model.encoding
    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    rows, row_parts = _sample(model, song, settings, g, progress, is_cancelled)
    variations = _variations(enc, song, settings, g, rows, row_parts)
    return GenerationResult(
        variations=variations, start_tick=enc.step_to_tick(r.a_step, song.ppq),
        key=g.lock_key or g.song_key, messages=g.messages + _said(song, r),
        model=model.name, steps=r.steps, tokens=[list(row) for row in rows],
        track_of=[[track] * len(v) for v in variations],
        key_lock=g.lock_key.name if settings.key == "auto" and g.lock_key is not None else "")


def regeneration(model, song: Song, settings, track: int, start_tick: int | None = None,
                 end_tick: int | None = None) -> Regeneration:
    """What :func:`regenerate_part` samples from, checked: a sentence for a model that
    does not write parts, a style, and what :func:`part_range` refuses."""
    settings.validate()
    require_parts(model, NEEDS_PARTS)
    if settings.style is not None:
        raise GenerationError(f"a style joins a melody model; {model.name} writes every "
                              f"part at once")
    enc = model.encoding
    r = part_range(enc, song, track, start_tick, end_tick)
    heard = [n for ns in r.others.values() for n in ns] + r.before + r.after
    messages = track_messages(song)
    chosen = None if settings.key in (None, "auto") else Key.parse(settings.key)
    song_key = estimate_song_key(heard or r.inside)
    lock_key = None if settings.key is None else (chosen or song_key)
    prime, transpose, enc_messages = _prime(enc, song, r, song_key)
    messages += enc_messages
    scale = None
    if lock_key is not None:
        scale, why = lock_scale(lock_key, heard if settings.key == "auto" else [])
        if settings.key == "auto":
            messages.append(f"Key lock: {lock_key.name} ({why}).")
    allowed = allowed_tokens(model, settings, lock_key, scale, transpose)
    per_track = dict(r.others)  # the chosen part heard from all its own notes
    per_track[track] = sorted(song.tracks[track].notes, key=Note.sort_key)
    rules, target = _rules(model, song, r, per_track, transpose)
    # follow chords: the part's strong beats on the chord's tones (a bass on its bass note)
    plan = chord_plan(song, enc, r.a_step, r.steps, transpose) if follows(settings) else None
    if follows(settings, "strict"):
        apply_to_parts(rules, plan, bass_part=True)
    max_hold = longest_hold(enc, heard + r.inside, song.ppq)
    return Regeneration(r, prime, transpose, allowed, rules, target, per_track, plan,
                        max_hold, lock_key, song_key, messages)


def _rules(model, song: Song, r: PartRange, per_track: dict[int, list[Note]],
           transpose: int) -> tuple[PartRules, int]:
    """The parts' rules over the range, top down, and the chosen part's index among
    them: every other part forced, the chosen one in the range of the notes it keeps
    (within RANGE_MARGIN), as many notes at once as the others leave room for, its
    rhythm read from all its own notes, going on from its last note before the range."""
    enc, ppq, track = model.encoding, song.ppq, r.track
    kept_target = r.before + r.after
    capacity = {i: part_capacity(ns) for i, ns in per_track.items()}
    lines = seed_parts(song, per_track, capacity)
    target = next(j for j, p in enumerate(lines) if p.track == track)
    if kept_target:  # the range the rest of the part keeps to, not the notes replaced
        lines[target].low = min(n.pitch for n in kept_target) - RANGE_MARGIN
        lines[target].high = max(n.pitch for n in kept_target) + RANGE_MARGIN
    forced, forced_part, start_prev = _forced(enc, song, r, lines, target, transpose)
    room = enc.max_voices - int((forced > 0).sum(axis=2).max(initial=0))
    if room < 1:
        raise GenerationError(f"the other parts sound {enc.max_voices} notes at once in the "
                              f"range, as many as {model.name} can write, so there is no "
                              f"room for {track_labels(song, [track])}")
    lines[target].capacity = min(lines[target].capacity, room)
    b_step = r.a_step + r.steps
    rules = part_rules(enc, song, lines, r.a_step, r.steps, transpose,
                       rhythm_to={target: min(b_step, r.a_step + MAX_PRIME_STEPS)})
    rules.capacity[target] = lines[target].capacity
    rules.least[target] = min(rules.least[target], lines[target].capacity)
    rules.forced, rules.forced_part, rules.start_prev = forced, forced_part, start_prev
    if r.before:
        # the part goes on from its own last note before the range
        last = max(r.before, key=lambda n: (n.end_tick, n.pitch))
        if enc.ceil_step(last.end_tick, ppq) >= r.a_step - enc.steps_per_quarter:
            rules.start_top[target] = last.pitch + transpose
    return rules, target


def _sample(model, song: Song, settings, g: Regeneration, progress, is_cancelled
            ) -> tuple[list[list[int]], list[list[int]]]:
    """Each variation's tokens and the part of each, the chosen part sampled beside the
    forced ones (read ahead once: a token that every row has forced is not drawn) and
    kept out of parallels with them (:class:`FixedParallels`)."""
    r, k = g.range, int(settings.variations)
    rng = np.random.default_rng(int(settings.rng_seed))
    fixed = FixedParallels.of(model, k, g.rules.forced, g.rules.forced_part, g.target,
                              g.rules.start_top, _beats(model.encoding, song, r.a_step))

    def forced_ahead(rule):  # every other part is known beforehand: read it once
        rule.plan_forced()
        return fixed(rule)

    with closing(runner(model, g.prime, k)) as stepper:
        return sample_parts(model, stepper, g.rules, r.steps, k, g.allowed, settings, rng,
                            progress, is_cancelled, g.max_hold, also=[forced_ahead],
                            song=song, start_step=r.a_step, chords=g.plan)


def _variations(enc, song: Song, settings, g: Regeneration, rows, row_parts
                ) -> list[list[Note]]:
    """Each variation's new notes of the chosen part, cut at the range's end, with the
    part's dynamics and channel."""
    r, track = g.range, g.range.track
    velocities = Velocities(song, g.per_track[track], enc,
                            settings.control_of("dynamics", track))
    channel = g.per_track[track][0].channel
    variations = []
    for row, row_p in zip(rows, row_parts):
        grid = part_grids(enc, row, row_p, g.rules, r.a_step)[g.target]
        new = [with_sound(_cut(n, r.end_tick), velocities.at(n.start_tick), channel)
               for n in enc.grid_to_notes(grid, song.ppq, g.transpose)
               if n.start_tick < r.end_tick]
        variations.append(sorted(new, key=Note.sort_key))
    return variations


def _said(song: Song, r: PartRange) -> list[str]:
    """What the user is told of the range: the notes replaced, the parts kept."""
    label = track_labels(song, [r.track])
    first_bar, last_bar = bar_of(song, r.start_tick), bar_of(song, r.end_tick - 1)
    bars = f"bar {first_bar}" if first_bar == last_bar else f"bars {first_bar}-{last_bar}"
    said = []
    if r.inside:
        said.append(f"{len(r.inside)} note{'s' if len(r.inside) != 1 else ''} of {label} "
                    f"in {bars} will be replaced.")
    if r.others:
        several = len(r.others) != 1
        said.append(f"Regenerated {label} over {bars}; the other "
                    f"{f'{len(r.others)} parts' if several else 'part'} "
                    f"({track_labels(song, sorted(r.others))}) "
                    f"{'stay' if several else 'stays'} note for note, and the model "
                    f"heard {'them' if several else 'it'}.")
    else:
        said.append(f"Regenerated {label} over {bars}; it is the only part.")
    return said


def _cut(n: Note, end_tick: int) -> Note:
    """``n``, ending at ``end_tick`` at the latest."""
    return n if n.end_tick <= end_tick else \
        Note(n.pitch, n.start_tick, end_tick - n.start_tick, n.velocity, n.channel)


def _step_ends(tokens: Sequence[int]) -> list[int]:
    """The index just after each step's STEP."""
    return [i + 1 for i, t in enumerate(tokens) if t == STEP]


def _prime(enc, song: Song, r: PartRange, key: Key) -> tuple[list[int], int, list[str]]:
    """Every part's music before the range (its last MAX_PRIME_STEPS // 4 steps, the
    chosen part's too) in the model's tokens, the transposition into model space (read
    with the range's kept music, so the forced notes fit the model's pitches) and what
    the encoding reports.  Nothing before the range: the prime is one empty step."""
    ppq = song.ppq
    b_step = r.a_step + r.steps
    kept = [n for ns in r.others.values() for n in ns] + r.before + r.after
    earlier = [enc.tick_to_step(n.start_tick, ppq) for n in kept
               if n.start_tick < r.start_tick]
    first_step = max(min(earlier), r.a_step - MAX_PRIME_STEPS // 4) if earlier else r.a_step
    first_step = min(first_step, r.a_step)
    cut, end_cut = enc.step_to_tick(first_step, ppq), enc.step_to_tick(b_step, ppq)
    window = [n for n in kept if n.end_tick > cut and n.start_tick < end_cut]
    if not window:  # the part alone, and nothing kept of it: heard from its own notes
        window = [n for n in r.inside if n.start_tick < end_cut]
    try:
        encoded = enc.encode_seed(window, ppq, key=key, start_step=first_step,
                                  end_step=b_step)
    except EncodingError as e:
        raise GenerationError(f"the song cannot be used: {e}") from None
    ends = [0] + _step_ends(encoded.tokens)
    prime = enc.trim_prime(encoded.tokens[:ends[r.a_step - first_step]])
    return prime or [STEP], encoded.transpose, enc.seed_messages(encoded)


def _beats(enc, song: Song, a_step: int) -> tuple[int, int] | None:
    """Where the range's first step falls in its beat, and the steps of a beat (the
    metre's at the range's start); None for a beat off the grid."""
    ppq = song.ppq
    tick = enc.step_to_tick(a_step, ppq)
    sigs = [ts for ts in song.time_signatures if ts.tick <= tick]
    den = sigs[-1].denominator if sigs else 4
    origin = enc.tick_to_step(sigs[-1].tick, ppq) if sigs else 0
    beat = enc.steps_per_quarter * 4 // den if 4 * enc.steps_per_quarter % den == 0 else 0
    return ((a_step - origin) % beat, beat) if beat >= 1 else None


def _forced(enc, song: Song, r: PartRange, lines, target: int, transpose: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The forced notes over the range (:class:`PartRules`' ``forced``, ``forced_part``
    and ``start_prev``): every other part's notes as they are, the part silent where
    it has none; the chosen part's note that sounds into the range, held until it ends.
    Where two parts sound one pitch the higher part sounds it (the encoding has one
    token a pitch)."""
    ppq = song.ppq
    T, P, n = r.steps, len(lines), enc.pitches
    forced = np.zeros((T, P, n), np.int8)
    forced_part = np.zeros((T, P), bool)
    start_prev = np.zeros((P, n), bool)
    for j, part in enumerate(lines):
        if j == target:
            notes = [x for x in r.before if x.end_tick > r.start_tick]
        else:
            notes = r.others[part.track]
            forced_part[:, j] = True
        for note in notes:  # sorted by start: a re-attack overrides a hold
            s = enc.tick_to_step(note.start_tick, ppq)
            e = max(s + 1, enc.tick_to_step(note.end_tick, ppq))
            a, b = s - r.a_step, min(e - r.a_step, T)
            if b <= 0 or a >= T:
                continue
            q = note.pitch + transpose - enc.min_pitch
            if j == target:
                forced_part[max(a, 0):b, j] = True
            if not 0 <= q < n:
                continue
            if a >= 0:
                forced[a, j, q] = 1
                forced[a + 1:b, j, q] = 2
            else:
                forced[:b, j, q] = 2
                start_prev[j, q] = True
    taken = np.zeros((T, n), bool)
    for j in range(P):  # a unison: the higher part sounds it
        forced[:, j][taken] = 0
        taken |= forced[:, j] > 0
    # a hold of a pitch nothing sounded in the step before is a new note
    sounded = np.concatenate([start_prev.any(axis=0)[None], (forced[:-1] > 0).any(axis=1)])
    forced[(forced == 2) & ~sounded[:, None, :]] = 1
    return forced, forced_part, start_prev


# engine.encodings.grammar_kernels, imported with the first FixedParallels narrowing
_grammar_kernels = None


def _kernels():
    global _grammar_kernels
    if _grammar_kernels is None:
        from engine.encodings import grammar_kernels

        grammar_kernels.warm()
        _grammar_kernels = grammar_kernels
    return _grammar_kernels


class FixedParallels(Constraint):
    """The chosen part's new note keeps out of parallel fifths and octaves (unisons and
    compound intervals) with every forced part, those beneath it too, whose notes the
    grammar has not heard yet when the part writes (they come later in the step): the
    two a perfect interval apart (mod 12) before, both moving the same way into the same
    interval, from the step before, and on a beat from the beat before (through passing
    notes between them, as the beat-by-beat sonorities of bench/chorales.py hear it).
    Never a forced note's pitch, never where the part itself is forced; a row left with
    nothing to write is not narrowed."""

    name = "fixed-parallels"

    def __init__(self, context: StepContext, rule, top: np.ndarray, target: int,
                 forced_at: np.ndarray, target_forced: np.ndarray,
                 beats: tuple[int, int] | None) -> None:
        super().__init__(context)
        self.rule, self.target = rule, target
        # [T + 1, P]: each forced part's highest pitch index per step from the one
        # before the range (-1: silent)
        self.top = top
        self.forced_at = forced_at  # [T, n]: pitches some part is forced to sound
        self.target_forced = target_forced  # [T]: steps the part itself is forced
        self.beats = beats  # (the first step's place in its beat, steps a beat)
        n = context.model.encoding.pitches
        self.hist = np.full((context.rows, len(top)), -1, np.int64)  # the part's tops
        # each row's bans, worked out once a step (they hold for the whole step: the
        # part's pitch before it and the forced parts' are fixed within it)
        rows = context.rows
        self._ban_step = np.full(rows, -1, np.int64)
        self._ban_new = np.zeros((rows, n), bool)
        self._ban_hold = np.zeros((rows, n), bool)
        self._banned = np.zeros(rows, bool)

    @classmethod
    def of(cls, model, rows: int, forced: np.ndarray, forced_part: np.ndarray, target: int,
           start_top: np.ndarray, beats: tuple[int, int] | None = None):
        """A maker of the constraint for :func:`sample_parts`' ``also``."""
        enc = model.encoding
        sounding = forced > 0  # [T, P, n]
        any_ = sounding.any(axis=2)
        highest = np.where(any_, enc.pitches - 1 - np.argmax(sounding[:, :, ::-1], axis=2), -1)
        first = np.where(np.asarray(start_top) >= 0, np.asarray(start_top) - enc.min_pitch, -1)
        top = np.concatenate([first[None], highest]).astype(np.int64)
        top[:, target] = -1
        forced_at = sounding.any(axis=1)
        target_forced = np.asarray(forced_part)[:, target].copy()

        def make(rule):
            return cls(StepContext(model, None, rows=rows), rule, top, target, forced_at,
                       target_forced, beats)
        return make

    def narrow(self, step: int, allowed: np.ndarray) -> np.ndarray:
        if self.rule.known is not None:  # every row's next token forced: nothing to ban
            return allowed
        grammar = self.rule.grammar
        mask = np.array(allowed, dtype=bool, order="C", copy=True)
        beats = self.beats is not None
        phase, beat = self.beats if beats else (0, 1)
        # one compiled call for every row (engine.encodings.grammar_kernels.fixed_bans)
        if _kernels().fixed_bans(self.target, grammar.steps, grammar.count, self.rule.done,
                                 self.top, self.target_forced, self.forced_at,
                                 grammar.prev_top, self.hist, beats, int(phase), int(beat),
                                 self._ban_step, self._ban_new, self._ban_hold,
                                 self._banned, np.ascontiguousarray(allowed, dtype=bool),
                                 mask):
            return mask
        return allowed

    def update(self, tokens: np.ndarray) -> None:
        # heard after the grammar: a row that closed a step has its part's top there
        grammar = self.rule.grammar
        rows = np.nonzero(np.asarray(tokens) == STEP)[0]
        if rows.size:
            t = grammar.steps[rows] - 1
            ok = (t >= 0) & (t < self.hist.shape[1])
            self.hist[rows[ok], t[ok]] = grammar.prev_top[rows[ok], self.target]

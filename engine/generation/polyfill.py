"""Filling a gap in every part at once with a polyphonic model.

The polyphonic models write from left to right and were trained to continue, not to
fill; no new model is needed.  The model is primed with every playable track's music
before the gap (as :func:`engine.generation.polyphony.generate_polyphony` primes it),
writes exactly the gap's steps for ``variations x CANDIDATES`` candidates with the
continuation's sampler, grammar, key lock, part ranges and voice leading, and each
variation is the candidate of its group after which the network finds the music
after the gap likeliest: the steps after the gap up to and including the first one in
which a note starts (within a bar; every part's notes of that step, so the junction of
every part counts), fed to each candidate once it has written the gap (as the melody
fill's :func:`engine.generation.fill.best_per_group`).  With nothing after the gap the
variations are drawn as plain continuations.

Every part is a line, as in a continuation (:class:`engine.encodings.polyphony.PartGrammar`):
each note is given to its part as it is written, each part keeps its range, its order
and the rhythm it had before the gap, and a note sounding into the gap is held by its
own part (parts of chords keep their usual chord when all the parts' notes at once would
pass ``max_voices``; only more parts than that fall back to the voice-blind grammar, with
the notes given to tracks afterwards).

The gap ``[start_tick, end_tick)``, on every playable track (drums are left alone):

* the steps written are the grid steps that start inside the gap (the first at or
  after ``start_tick``, up to the last before ``end_tick``);
* every note that starts inside the gap is replaced;
* a note that starts before the gap and sounds into it is kept as it is, and the
  model hears it held: the gap's steps are forced to HOLD it (never to re-attack it)
  for as long as it sounds, and not to hold it on after it ends; the other parts are
  written around it;
* notes that start at or after the gap's end are kept, and generated notes are cut
  at the gap's end;

so every note outside the gap is untouched (:func:`apply_parts` applies a variation).
A gap with no music before it on any part cannot be filled this way (the model
hears only what comes before); the message says so.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from engine.encodings import Key, estimate_song_key
from engine.encodings.polyphony import STEP, playable_tracks
from engine.errors import EncodingError, GenerationError
from engine.generation.constraints.chords import apply_to_parts, chord_plan, follows
from engine.generation.fill import (CANDIDATES, bar_of, best_per_group, check_gap_has_steps,
                                    check_gap_in_song, check_gap_steps, checked_gap,
                                    split_at_gap)
from engine.generation.generator import GenerationSettings, allowed_tokens
from engine.generation.polyphony import (Junction, fit_voices, lock_scale, longest_hold,
                                         part_capacity, part_grids, part_ranges, part_rules,
                                         part_texture, require_parts, runner, sample_parts,
                                         sample_voices, seed_parts, to_tracks,
                                         track_messages, with_sound)
from engine.generation.sampling import (MAX_PRIME_STEPS, GenerationCancelled, GenerationResult,
                                        Velocities)
from engine.models import ModelLibrary
from engine.song import Note, Song

__all__ = ["fill_polyphony", "apply_parts", "encode_gap", "GapMusic"]


def _step_ends(tokens: Sequence[int]) -> list[int]:
    """The index just after each step's STEP: step ``i`` is ``tokens[ends[i-1]:ends[i]]``."""
    return [i + 1 for i, t in enumerate(tokens) if t == STEP]


def fill_polyphony(library: ModelLibrary, song: Song, settings: GenerationSettings, *,
                   start_tick: int, end_tick: int,
                   progress: Callable[[int, int], None] | None = None,
                   is_cancelled: Callable[[], bool] | None = None,
                   candidates: bool = False) -> GenerationResult:
    """Fill ``[start_tick, end_tick)`` of every playable track of ``song`` with
    ``settings.variations`` variations of a polyphonic model; each variation is the
    list of new notes and ``track_of`` the track of each (:func:`apply_parts`).
    ``settings.bars``/``steps`` are not used: the gap's length decides.  With
    ``candidates`` (for tests and measures), every candidate comes back, group by
    group, none drawn."""
    settings.validate()
    model = library.get(settings.model)
    require_parts(model, "a fill of every part needs a polyphonic model")
    if settings.style is not None:
        raise GenerationError(f"a style joins a melody model; {model.name} fills every part "
                              f"at once")
    enc = model.encoding
    g = read_gap(enc, song, settings, start_tick, end_tick)
    gap = encode_gap(enc, song, g.start_tick, g.end_tick, g.song_key)
    g.messages += gap.messages
    if g.inside:
        g.messages.append(f"{g.inside} note{'s' if g.inside != 1 else ''} in the gap will be "
                          f"replaced.")
    if not gap.junction:
        g.messages.append("Nothing follows the gap within a bar, so the fill hears only what "
                          "comes before.")
    scale = None
    if g.lock_key is not None:
        scale, why = lock_scale(g.lock_key, g.kept_notes if settings.key == "auto" else [])
        if settings.key == "auto":
            g.messages.append(f"Key lock: {g.lock_key.name} ({why}).")
    allowed = allowed_tokens(model, settings, g.lock_key, scale, gap.transpose)
    fitted = fit_voices(enc, g.kept, g.capacity, song.ppq)
    if fitted is not None:
        return _fill_lines(model, song, settings, g, gap, fitted, allowed, progress,
                           is_cancelled, candidates)
    return _fill_voices(model, song, settings, g, gap, allowed, progress, is_cancelled,
                        candidates)


@dataclass
class GapParts:
    """A part fill's gap, checked: its ticks and grid steps (``a_step`` the first,
    ``steps`` how many), each playable track's notes before it and kept around it, the
    notes it replaces, the key and what the user is told."""

    start_tick: int
    end_tick: int
    a_step: int
    steps: int
    parts: dict[int, tuple[list[Note], list[Note], list[Note]]]  # before, inside, after
    before: dict[int, list[Note]]
    kept: dict[int, list[Note]]
    kept_notes: list[Note]
    inside: int
    capacity: dict[int, int]
    messages: list[str]
    song_key: Key
    lock_key: Key | None

    @property
    def key(self) -> Key:
        return self.lock_key or self.song_key


def read_gap(enc, song: Song, settings: GenerationSettings, start_tick: int,
             end_tick: int) -> GapParts:
    """The gap ``[start_tick, end_tick)`` of every playable track, checked (a message
    for each reason it cannot be filled) and split into what comes before, inside and
    after it."""
    start_tick, end_tick = checked_gap(song, start_tick, end_tick)
    ppq = song.ppq
    playable = playable_tracks(song)
    if not playable:
        raise GenerationError("the song has no notes to fill between (drums are left "
                              "alone); use Generate to write new music instead")
    check_gap_in_song(song, start_tick,
                      max(n.end_tick for i in playable for n in song.tracks[i].notes), "its")
    a_step = enc.ceil_step(start_tick, ppq)
    b_step = enc.ceil_step(end_tick, ppq)  # just after the last step starting in the gap
    steps = b_step - a_step
    check_gap_has_steps(song, start_tick, end_tick, steps, "holds no step of")
    check_gap_steps(steps)
    parts = {i: split_at_gap(song.tracks[i].notes, start_tick, end_tick) for i in playable}
    before = {i: p[0] for i, p in parts.items() if p[0]}
    kept = {i: p[0] + p[2] for i, p in parts.items() if p[0] or p[2]}
    if not before:
        raise GenerationError(f"nothing comes before the gap (bar {bar_of(song, start_tick)}): "
                              f"a polyphonic model writes from left to right and hears the "
                              f"music before the gap; start the gap after the first notes, "
                              f"or fill one track with a fill model (lstm-fill)")
    kept_notes = [n for ns in kept.values() for n in ns]
    inside = sum(len(p[1]) for p in parts.values())
    capacity = {i: part_capacity(ns) for i, ns in kept.items()}
    messages = track_messages(song)
    chosen = None if settings.key in (None, "auto") else Key.parse(settings.key)
    song_key = estimate_song_key(kept_notes)
    lock_key = None if settings.key is None else (chosen or song_key)
    return GapParts(start_tick, end_tick, a_step, steps, parts, before, kept, kept_notes,
                    inside, capacity, messages, song_key, lock_key)


def _sample_candidates(model, settings: GenerationSettings, prime: list[int],
                       junction_tokens: list[int], is_cancelled, candidates: bool, sample):
    """Run ``sample(stepper, rows, rng, junction)`` for the fill's rows (``CANDIDATES``
    per variation when music follows the gap) and keep each variation's best candidate
    (every candidate with ``candidates``): the indices of the rows kept and the out."""
    k = int(settings.variations)
    rows = k * CANDIDATES if junction_tokens else k
    junction = Junction(junction_tokens, rows) if junction_tokens else None
    rng = np.random.default_rng(int(settings.rng_seed))
    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    with closing(runner(model, prime, rows)) as stepper:
        out = sample(stepper, rows, rng, junction)
    if junction is not None and not candidates:
        return best_per_group(junction.logp.reshape(k, CANDIDATES)), out
    return list(range(rows)), out


def _fill_voices(model, song: Song, settings: GenerationSettings, g: GapParts,
                 gap: "GapMusic", allowed: np.ndarray, progress, is_cancelled,
                 candidates: bool) -> GenerationResult:
    """The fill written voice-blind (more parts than the encoding's voices), the new
    notes given to the tracks afterwards (:func:`to_tracks`)."""
    enc, ppq = model.encoding, song.ppq
    ceilings, floors, allowed = part_ranges(enc, g.kept, g.capacity, gap.transpose, allowed)
    plan = _chords(enc, song, settings, g, gap)
    beat_notes = part_texture(g.before, sum(g.capacity.values()), ppq,
                              enc.step_to_tick(g.a_step, ppq),
                              enc.step_to_tick(MAX_PRIME_STEPS, ppq))

    def sample(stepper, rows, rng, junction):
        return sample_voices(model, stepper, gap.prime, False, g.steps, rows, allowed,
                             settings, rng, progress, is_cancelled, sum(g.capacity.values()),
                             ceilings, beat_notes, (g.a_step, enc.steps_per_quarter),
                             longest_hold(enc, g.kept_notes, ppq), floors, held=gap.held,
                             chords=plan,
                             junction=junction, song=song, memory=gap.prime)

    picked, out = _sample_candidates(model, settings, gap.prime, gap.junction, is_cancelled,
                                     candidates, sample)
    out = [out[i] for i in picked]
    velocities = {i: Velocities(song, ns, enc, settings.control_of("dynamics", i))
                  for i, ns in g.kept.items()}
    sounding = {i: [n.end_tick for n in ns if n.end_tick > g.start_tick]
                for i, ns in g.before.items()}
    # each part heard from its notes nearest the gap
    near = {i: g.parts[i][0] or sorted(g.parts[i][2], key=Note.sort_key)[:8] for i in g.kept}
    variations, track_of = [], []
    for row in out:
        grid = [n for n in enc.tokens_to_grid(row, g.a_step)
                if not gap.held[n.start_step - g.a_step, n.pitch - enc.min_pitch]]
        decoded = [_cut(n, g.end_tick) for n in enc.grid_to_notes(grid, ppq, gap.transpose)]
        notes, tracks = to_tracks(song, decoded, near, g.capacity, velocities, sounding)
        variations.append(notes)
        track_of.append(tracks)
    return _result(model, settings, g, variations, track_of, out, song.ppq)


def _cut(n: Note, end_tick: int) -> Note:
    """``n``, ending at ``end_tick`` at the latest."""
    return n if n.end_tick <= end_tick else \
        Note(n.pitch, n.start_tick, end_tick - n.start_tick, n.velocity, n.channel)


def _result(model, settings: GenerationSettings, g: GapParts, variations, track_of, out,
            ppq: int) -> GenerationResult:
    """A part fill's result: each variation's notes and the track of each."""
    g.messages.append(f"Filled {len(g.kept)} part{'s' if len(g.kept) != 1 else ''} "
                      f"together.")
    return GenerationResult(
        variations=variations, start_tick=model.encoding.step_to_tick(g.a_step, ppq),
        key=g.key, messages=g.messages, model=model.name, steps=g.steps,
        tokens=[list(r) for r in out], track_of=track_of,
        key_lock=g.lock_key.name if settings.key == "auto" and g.lock_key is not None
        else "")


def _fill_lines(model, song: Song, settings: GenerationSettings, g: GapParts,
                gap: "GapMusic", capacity: dict[int, int], allowed: np.ndarray,
                progress, is_cancelled, candidates: bool) -> GenerationResult:
    """The fill with every part a line (:class:`PartGrammar`, as a continuation): each
    part keeps its own rhythm, range and order from the music before the gap, a note
    sounding into the gap is held by its own part, and the notes go to their parts."""
    enc, ppq = model.encoding, song.ppq
    lines = seed_parts(song, g.kept, capacity)
    for part in lines:  # each part's rhythm from the music before the gap
        part.notes = sorted(g.before.get(part.track) or g.kept[part.track], key=Note.sort_key)
    rules = part_rules(enc, song, lines, g.a_step, g.steps, gap.transpose)
    _hold_sounding(enc, song, g, lines, rules, gap.transpose)
    plan = _chords(enc, song, settings, g, gap)
    if follows(settings, "strict"):  # strong beats on the chord's tones
        apply_to_parts(rules, plan)

    def sample(stepper, rows, rng, junction):
        return sample_parts(model, stepper, rules, g.steps, rows, allowed, settings, rng,
                            progress, is_cancelled, longest_hold(enc, g.kept_notes, ppq),
                            None, junction, song=song, start_step=g.a_step, chords=plan,
                            memory=gap.prime)

    picked, (out, out_parts) = _sample_candidates(model, settings, gap.prime, gap.junction,
                                                  is_cancelled, candidates, sample)
    out, out_parts = [out[i] for i in picked], [out_parts[i] for i in picked]
    velocities = {i: Velocities(song, ns, enc, settings.control_of("dynamics", i))
                  for i, ns in g.kept.items()}
    variations, track_of = [], []
    for row, row_parts in zip(out, out_parts):
        notes, tracks = [], []
        for j, grid in enumerate(part_grids(enc, row, row_parts, rules, g.a_step)):
            t = lines[j].track
            for note in enc.grid_to_notes(grid, ppq, gap.transpose):
                if note.start_tick >= g.end_tick:
                    continue  # a coarse ppq rounds the gap's last step onto its end
                notes.append(with_sound(_cut(note, g.end_tick),
                                        velocities[t].at(note.start_tick),
                                        song.tracks[t].channel))
                tracks.append(t)
        order = sorted(range(len(notes)), key=lambda i: notes[i].sort_key())
        variations.append([notes[i] for i in order])
        track_of.append([tracks[i] for i in order])
    return _result(model, settings, g, variations, track_of, out, ppq)


def _chords(enc, song: Song, settings: GenerationSettings, g: GapParts, gap: "GapMusic"):
    """The song's chords over the gap's steps, in model space, when the settings follow
    chords (None: they do not, or no chord sounds in the gap)."""
    if not follows(settings):
        return None
    return chord_plan(song, enc, g.a_step, g.steps, gap.transpose)


def _hold_sounding(enc, song: Song, g: GapParts, lines, rules, transpose: int) -> None:
    """Force each part to hold its own notes that sound into the gap (``rules``
    changed in place)."""
    ppq = song.ppq
    P, n = len(lines), enc.pitches
    forced = np.zeros((g.steps, P, n), np.int8)
    forced_part = np.zeros((g.steps, P), bool)
    start_prev = np.zeros((P, n), bool)
    b_step = g.a_step + g.steps
    for j, part in enumerate(lines):
        for note in g.before.get(part.track, []):
            if note.end_tick <= g.start_tick:
                continue
            e = min(enc.tick_to_step(note.end_tick, ppq), b_step) - g.a_step
            q = note.pitch + transpose - enc.min_pitch
            if e > 0 and 0 <= q < n:
                forced[:e, j, q] = 2
                forced_part[:e, j] = True
                start_prev[j, q] = True
    rules.forced, rules.forced_part, rules.start_prev = forced, forced_part, start_prev


@dataclass
class GapMusic:
    """The kept music around a gap in the model's tokens: the ``prime`` before it,
    ``held`` ([gap steps, pitches]: the kept notes sounding in each of the gap's
    steps) and the ``junction`` (the steps after the gap up to the first in which a
    note starts, within a bar; empty when none does)."""

    prime: list[int]
    held: np.ndarray
    junction: list[int]
    transpose: int
    messages: list[str]


def encode_gap(enc, song: Song, start_tick: int, end_tick: int, key: Key) -> GapMusic:
    """One encoding (in ``key``) of the kept music of every playable track around the
    gap, cut into prime, held notes and junction (:class:`GapMusic`)."""
    ppq = song.ppq
    a_step, b_step = enc.ceil_step(start_tick, ppq), enc.ceil_step(end_tick, ppq)
    kept = [n for i in playable_tracks(song) for n in song.tracks[i].notes
            if not start_tick <= n.start_tick < end_tick]
    first_step = max(min(enc.tick_to_step(n.start_tick, ppq) for n in kept
                         if n.start_tick < start_tick), a_step - MAX_PRIME_STEPS // 4)
    bar = enc.steps_for(1, song.ticks_per_bar_at(end_tick), ppq)
    cut, end_cut = enc.step_to_tick(first_step, ppq), enc.step_to_tick(b_step + bar, ppq)
    window = [n for n in kept if n.end_tick > cut and n.start_tick < end_cut]
    try:
        encoded = enc.encode_seed(window, ppq, key=key, start_step=first_step,
                                  end_step=b_step + bar)
    except EncodingError as e:
        raise GenerationError(f"the song cannot be used: {e}") from None
    tokens = encoded.tokens
    ends = [0] + _step_ends(tokens)
    prime = enc.trim_prime(tokens[:ends[a_step - first_step]])
    if not prime:
        raise GenerationError(f"the music before the gap (bar {bar_of(song, start_tick)}) ends "
                              f"long before it; choose a gap closer to it")
    held = np.zeros((b_step - a_step, enc.pitches), dtype=bool)
    for s in range(b_step - a_step):
        step = tokens[ends[a_step - first_step + s]:ends[a_step - first_step + s + 1]]
        held[s, [int(enc.token_pitches[t]) - enc.min_pitch for t in step if t != STEP]] = True
    after = tokens[ends[b_step - first_step]:]
    onset = next((i for i, t in enumerate(after) if enc.onset_mask[t]), None)
    junction = after[:after.index(STEP, onset) + 1] if onset is not None else []
    return GapMusic(prime, held, junction, encoded.transpose, enc.seed_messages(encoded))


def apply_parts(song: Song, start_tick: int, end_tick: int, notes: Sequence[Note],
                track_of: Sequence[int]) -> Song:
    """A copy of ``song`` whose playable tracks have the gap's notes (those starting in
    ``[start_tick, end_tick)``) replaced by ``notes``, each on its track in
    ``track_of``; every other note stays as it is."""
    out = song.copy()
    new: dict[int, list[Note]] = {}
    for n, t in zip(notes, track_of):
        new.setdefault(t, []).append(n)
    for i in playable_tracks(song):
        track = out.tracks[i]
        before, _, after = split_at_gap(track.notes, start_tick, end_tick)
        track.notes = before + sorted(new.get(i, []), key=Note.sort_key) + after
    return out

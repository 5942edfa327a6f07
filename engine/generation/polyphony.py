"""Continuing every part of a seed, and harmonising a melody, with a polyphonic model.

A polyphonic model (one that writes ``parts``, as :func:`engine.encodings.capabilities_of`
says: ``polyphony-16th``) hears all the seed's tracks together except the drums, and
writes, step by step, every note that sounds.  As for melodies the seed is encoded once
and primed once, then each new token is one step-model call for all variations
together; the sampler, temperature, top-p, RNG seed and key lock are the melody
generator's.  On top of the key and range mask,
the encoding's grammar says per variation what may come next (pitches falling within a
step, a HOLD only for a note that sounds), so every sequence decodes.

The encoding does not know parts, so every part is made a line while it is written
(:class:`engine.encodings.polyphony.PartGrammar`, docs/polyphony-encoding.md): each
note goes to its part as it is sampled, a part holds only its own notes, keeps its
range, its order among the parts and the rhythm of its seed (where it sounds, where
it starts notes, how many at once), and the notes decode onto their own tracks with
the track's channel (and so its instrument).  A seed of more than ``max_voices``
notes at once falls back to the voice-blind grammar, with each new note given to a
track afterwards by :func:`assign_tracks`.

Harmonising forces the melody (the top part, note for note) and writes alto, tenor and
bass beneath it, into the song's own tracks where it has them (:func:`harmony_parts`)
and into new tracks where it does not; it starts and ends on the tonic in root
position unless the melody's note forbids it.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from itertools import combinations
from typing import Callable, Sequence

import numpy as np

from engine.encodings import PARTS, Key, capabilities_of, estimate_song_key
from engine.encodings.melody import GridNote
from engine.encodings.polyphony import STEP, PartRules, playable_tracks
from engine.errors import EncodingError, GenerationError
from engine.generation.constraints import StepContext
from engine.generation.constraints.grammar import (FullTexture, HeldNotes,
                                                   PartGrammarConstraint)
from engine.generation.constraints.parallels import beat_parallels
from engine.generation.generator import (MAX_STEPS, GenerationSettings, allowed_tokens,
                                         cut_before, first_new_step)
from engine.generation.constraints.chords import apply_to_parts, chord_plan, follows
from engine.generation.mixers.chords import part_following
from engine.generation.mixers.control import part_mixer
from engine.generation.part_memory import part_memory, with_memory
from engine.generation.sampler import Sampler, token_log_probs
from engine.generation.sampling import (MAX_PRIME_STEPS, GenerationCancelled, GenerationResult,
                                        IncrementalRunner, NaiveRunner, Velocities, steps_for)
from engine.models import ModelLibrary, StepModel
from engine.song import Note, Song

OVERFULL_PENALTY = 6.0  # semitones: what a note costs beyond its voice's room
RANGE_MARGIN = 3  # semitones a part may go beyond its range in the seed
FULL_TEXTURE_SHARE = 0.75  # a seed's beats with every part sounding, for a full texture
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
HARMONY_NAMES = ("Alto", "Tenor", "Bass", "Harmony 4", "Harmony 5", "Harmony 6", "Harmony 7")


def seed_voices(song: Song | None) -> int:
    """How many notes of the seed's playable tracks sound at once at most (0 for no
    notes): more than one means a polyphonic model should continue it."""
    if song is None:
        return 0
    return _most_at_once([n for i in playable_tracks(song) for n in song.tracks[i].notes])


def _most_at_once(notes: Sequence[Note]) -> int:
    """The most of ``notes`` that sound at one time (0 for none)."""
    events = sorted([(n.start_tick, 1) for n in notes] + [(n.end_tick, -1) for n in notes])
    most = now = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


@dataclass
class _Voice:
    """A track as :func:`assign_tracks` sees it: where it has been and how many notes it
    may hold at once."""

    track: int
    centre: float  # a running mean of its recent pitches
    capacity: int
    ends: list[int]  # end ticks of its new notes still sounding


def part_capacity(notes: Sequence[Note]) -> int:
    """How many notes a track may hold at once: as many as it did in the seed (one at
    least)."""
    return max(1, _most_at_once(notes))


def _recent_centre(notes: Sequence[Note], last: int = 8) -> float:
    recent = sorted(notes, key=lambda n: n.start_tick)[-last:]
    return float(np.mean([n.pitch for n in recent]))


def assign_tracks(notes: Sequence[Note], voices: list[_Voice]) -> list[int]:
    """The track of each of ``notes`` (same order).

    Onset by onset, the new notes (highest first) go to the voices ordered by register
    (highest first), never crossing, at the least total distance from each voice's
    centre, a note beyond a voice's free capacity costing a penalty.  Centres follow
    the notes they receive."""
    out = [0] * len(notes)
    order = sorted(range(len(notes)), key=lambda i: (notes[i].start_tick, -notes[i].pitch))
    at = 0
    while at < len(order):
        tick = notes[order[at]].start_tick
        group = []
        while at < len(order) and notes[order[at]].start_tick == tick:
            group.append(order[at])
            at += 1
        for v in voices:
            v.ends = [e for e in v.ends if e > tick]
        ranked = sorted(voices, key=lambda v: -v.centre)
        free = [max(0, v.capacity - len(v.ends)) for v in ranked]
        chosen = _monotone_match([notes[i].pitch for i in group], ranked, free)
        for i, vi in zip(group, chosen):
            v = ranked[vi]
            out[i] = v.track
            v.ends.append(notes[i].end_tick)
            v.centre = 0.75 * v.centre + 0.25 * notes[i].pitch
    return out


def _monotone_match(pitches: list[int], ranked: list[_Voice], free: list[int]) -> list[int]:
    """Indices into ``ranked`` for ``pitches`` (falling): non-decreasing, at the least sum
    of |pitch - centre|, each note beyond a voice's ``free`` room costing
    OVERFULL_PENALTY more (so a note far from every free voice joins the nearest one
    rather than a free voice an octave away)."""
    n, m = len(pitches), len(ranked)
    inf = float("inf")
    # best[i][j]: cost of placing the first i notes on the first j voices
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    take = [[0] * (m + 1) for _ in range(n + 1)]
    best[0] = [0.0] * (m + 1)
    for j in range(1, m + 1):
        c, room = ranked[j - 1].centre, free[j - 1]
        for i in range(1, n + 1):
            b, t = best[i][j - 1], 0
            cost = 0.0
            for k in range(1, i + 1):
                cost += abs(pitches[i - k] - c) + (OVERFULL_PENALTY if k > room else 0.0)
                if best[i - k][j - 1] + cost < b:
                    b, t = best[i - k][j - 1] + cost, k
            best[i][j], take[i][j] = b, t
    out: list[int] = [0] * n
    i, j = n, m
    while i > 0 and j > 0:
        k = take[i][j]
        for q in range(i - k, i):
            out[q] = j - 1
        i, j = i - k, j - 1
    return out


# ---------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------


@dataclass
class _Melody:
    """The melody a harmonisation keeps: per step from its start, the model-space pitch
    sounding (-1 for none) and whether it starts there."""

    pitch: np.ndarray
    onset: np.ndarray


@dataclass
class PartSeed:
    """What a part-music job hears of its song: each playable track's notes before the
    start (``per_track``, a harmonised melody's track left out) and how many each holds
    at once, where the new music starts, the seed's key and the key lock, and what the
    user is told (``messages``, added to as the job goes)."""

    song: Song
    messages: list[str]
    per_track: dict[int, list[Note]]
    capacity: dict[int, int]
    notes: list[Note]  # every note of per_track
    start_step: int
    start_tick: int
    seed_key: Key
    lock_key: Key | None
    heard: list[Note]  # the notes the key is read from (with a harmonised melody's)
    melody_notes: list[Note] | None = None  # a harmonisation's melody

    @property
    def key(self) -> Key:
        return self.lock_key or self.seed_key


@dataclass
class _Run:
    """One part-music job's sampling set-up, shared by its two ways of writing."""

    model: StepModel
    settings: GenerationSettings
    seed: PartSeed
    steps: int
    transpose: int
    allowed: np.ndarray
    prime: list[int]
    forced_first: int | None
    max_hold: int | None
    progress: Callable[[int, int], None] | None
    is_cancelled: Callable[[], bool] | None
    method: str


def require_parts(model: StepModel, what: str) -> None:
    """Refuse a model that writes one line for a job that needs every part (``what``:
    the job, for the message)."""
    if PARTS not in capabilities_of(model):
        raise GenerationError(f"the model {model.name} writes one line; {what}")


def generate_polyphony(library: ModelLibrary, seed: Song | None,
                       settings: GenerationSettings, *, start_tick: int | None = None,
                       harmonise_track: int | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       is_cancelled: Callable[[], bool] | None = None,
                       method: str = "incremental") -> GenerationResult:
    """Continue every playable track of ``seed`` from ``start_tick`` (default: the end
    of its last note, on the grid), or, with ``harmonise_track``, write the voices
    beneath that track's melody over its whole length (the music before the melody's
    first note, if any, is the prime).

    The result's ``variations`` hold each variation's new notes and ``track_of`` the
    track of each (a harmonisation's new tracks are numbered after the seed's and named
    in ``new_tracks``)."""
    settings.validate()
    if method not in ("incremental", "naive"):
        raise ValueError(f"unknown generation method {method!r}")
    model = library.get(settings.model)
    require_parts(model, "choose a polyphonic model to continue several parts or to "
                         "harmonise")
    enc = model.encoding
    s = read_seed(enc, seed, settings, start_tick, harmonise_track)
    ppq = s.song.ppq
    prime, transpose = encode_prime(enc, s)
    melody = None
    if harmonise_track is not None:
        melody, transpose = _melody_steps(enc, s.melody_notes, ppq, s.start_step, transpose,
                                          s.messages)
        steps = len(melody.pitch)
    else:
        steps = steps_for(settings, s.song, s.start_tick, enc)
    allowed = allowed_tokens(model, settings, s.lock_key, _lock_scale(s, settings), transpose)
    # a seed's notes end where it ends: the first new step holds nothing on
    forced_first = None
    if not prime:
        forced_first = _first_token(enc, s, melody, allowed)
        prime = [forced_first]
    # no new note held longer than the seed's longest (at least a half note): a network
    # that has started holding tends to hold on
    max_hold = longest_hold(enc, s.notes + (s.melody_notes if melody is not None else []),
                            ppq)
    run = _Run(model, settings, s, steps, transpose, allowed, prime, forced_first, max_hold,
               progress, is_cancelled, method)
    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    # every part a line: the grammar gives each note to its part as it is written
    lines = _part_lines(enc, s, melody, harmonise_track)
    if lines is not None:
        return _continue_lines(run, lines, melody, harmonise_track)
    return _continue_voices(run)


def read_seed(enc, seed: Song | None, settings: GenerationSettings, start_tick: int | None,
              harmonise_track: int | None = None) -> PartSeed:
    """The seed a part-music job continues (or harmonises): every playable track's
    notes before the start, cut there, and the key."""
    song = seed if seed is not None else Song()
    ppq = song.ppq
    playable = playable_tracks(song)
    messages = track_messages(song)
    mel_notes = None
    if harmonise_track is not None:
        if not 0 <= harmonise_track < len(song.tracks) or not song.tracks[harmonise_track].notes:
            raise GenerationError("choose a track with a melody to harmonise")
        mel_notes = list(song.tracks[harmonise_track].notes)
        start_tick = enc.step_to_tick(min(enc.tick_to_step(n.start_tick, ppq)
                                          for n in mel_notes), ppq)
    end = max((n.end_tick for i in playable for n in song.tracks[i].notes), default=0)
    start_step = first_new_step(enc, end, start_tick, ppq, song=song, notes=[
        n for i in playable for n in song.tracks[i].notes])  # on the beat after the seed
    gen_start = enc.step_to_tick(start_step, ppq)
    per_track = {i: cut_before(song.tracks[i].notes, gen_start) for i in playable
                 if i != harmonise_track}
    per_track = {i: ns for i, ns in per_track.items() if ns}
    capacity = {i: part_capacity(ns) for i, ns in per_track.items()}
    notes = [n for ns in per_track.values() for n in ns]
    chosen = None if settings.key in (None, "auto") else Key.parse(settings.key)
    heard = notes + (mel_notes if mel_notes is not None else [])
    seed_key = estimate_song_key(heard) if heard else (chosen or Key(0, False))
    lock_key = None if settings.key is None else (chosen or seed_key)
    return PartSeed(song, messages, per_track, capacity, notes, start_step, gen_start,
                    seed_key, lock_key, heard, mel_notes)


def encode_prime(enc, s: PartSeed) -> tuple[list[int], int]:
    """The seed's prime (its last MAX_PRIME_STEPS // 4 steps, in the seed's key) and
    the transposition into model space; no notes: no prime, moved to C."""
    if not s.notes:
        return [], s.seed_key.shift_to_c
    ppq = s.song.ppq
    first_step = max(min(enc.tick_to_step(n.start_tick, ppq) for n in s.notes),
                     s.start_step - MAX_PRIME_STEPS // 4)
    window = [n for n in s.notes if n.end_tick > enc.step_to_tick(first_step, ppq)]
    try:
        encoded = enc.encode_seed(window, ppq, key=s.seed_key, start_step=first_step,
                                  end_step=s.start_step)
    except EncodingError as e:
        raise GenerationError(f"the seed cannot be used: {e}") from None
    s.messages += enc.seed_messages(encoded)
    return enc.trim_prime(encoded.tokens), encoded.transpose


def _lock_scale(s: PartSeed, settings: GenerationSettings) -> set[int] | None:
    """The pitch classes the key lock allows (None without a lock); an auto lock says
    which it chose."""
    if s.lock_key is None:
        return None
    scale, why = lock_scale(s.lock_key, s.heard if settings.key == "auto" else [])
    if settings.key == "auto" and s.heard:
        s.messages.append(f"Key lock: {s.lock_key.name} ({why}).")
    return scale


def _first_token(enc, s: PartSeed, melody: _Melody | None, allowed: np.ndarray) -> int:
    """The first token of a continuation with nothing to prime: the melody's first note
    (a harmonisation), else the tonic."""
    if melody is not None:
        return enc.new(int(melody.pitch[0])) if melody.pitch[0] >= 0 else STEP
    start_key = s.key
    s.messages.append(f"The seed is empty, so the continuation starts on the tonic of "
                      f"{start_key.name}.")
    return enc.start_token(9 if start_key.minor else 0, allowed)


def runner(model: StepModel, prime: Sequence[int], rows: int, method: str = "incremental"):
    """A runner primed with ``prime`` (its last receptive field, for a model that has one)
    for ``rows`` rows; the caller closes it."""
    window = model.info.receptive_field_steps
    primed = prime[-window:] if window is not None and len(prime) > window else prime
    return (IncrementalRunner if method == "incremental" else NaiveRunner)(model, primed, rows)


def _part_lines(enc, s: PartSeed, melody: _Melody | None,
                harmonise_track: int | None) -> list[_Part] | None:
    """The parts, each written as a line: a harmonisation's voices, or the seed's parts
    when they fit the encoding's voices (None: written voice-blind)."""
    if melody is not None:
        return harmony_parts(s.song, harmonise_track, s.melody_notes, s.messages)
    if s.per_track:
        fitted = fit_voices(enc, s.per_track, s.capacity, s.song.ppq)
        if fitted is not None:
            return seed_parts(s.song, s.per_track, fitted)
    return None


def _continue_lines(run: _Run, lines: list[_Part], melody: _Melody | None,
                    harmonise_track: int | None) -> GenerationResult:
    """Every part written as a line (:class:`PartGrammar`), its notes onto its track."""
    s, enc, model = run.seed, run.model.encoding, run.model
    rules = part_rules(enc, s.song, lines, s.start_step, run.steps, run.transpose,
                       melody=melody, key=s.key)
    plan = chords_of(run)
    if follows(run.settings, "strict"):  # strong beats on the chord (bass on its bass)
        apply_to_parts(rules, plan, bass_part=melody is not None)
    if melody is not None and rules.forced_part[:, 1:].all():
        names = track_labels(s.song, [p.track for p in lines[1:]])
        raise GenerationError(f"every voice beneath the melody already plays throughout "
                              f"it ({names}), so there is nothing to write; harmonise the "
                              f"melody on its own, or clear the part to be written")
    k = int(run.settings.variations)
    rng = np.random.default_rng(int(run.settings.rng_seed))
    with closing(runner(model, run.prime, k, run.method)) as stepper:
        rows, row_parts = sample_parts(model, stepper, rules, run.steps, k, run.allowed,
                                       run.settings, rng, run.progress, run.is_cancelled,
                                       run.max_hold, run.forced_first, song=s.song,
                                       chords=plan,
                                       start_step=s.start_step, memory=run.prime,
                                       also=[beat_parallels(s.song, s.start_step)])
    notes, tracks = _decode_lines(run, lines, rules, rows, row_parts, harmonise_track)
    if melody is None:
        s.messages.append(f"Continued {len(s.per_track)} part"
                          f"{'s' if len(s.per_track) > 1 else ''} together.")
    else:
        kept = [p for p in lines if p.role == "kept"]
        if kept:
            s.messages.append(f"The voices go into the song's own "
                              f"{'tracks' if len(kept) > 1 else 'track'} "
                              f"({track_labels(s.song, [p.track for p in kept])}) "
                              f"where {'they rest' if len(kept) > 1 else 'it rests'}; "
                              f"{'their' if len(kept) > 1 else 'its'} notes stay as they are.")
    return _result(run, notes, tracks, [p.name for p in lines if p.track is None], rows)


def _decode_lines(run: _Run, lines: list[_Part], rules: PartRules, rows, row_parts,
                  harmonise_track: int | None) -> tuple[list[list[Note]], list[list[int]]]:
    """Each row's new notes, part by part onto the part's track (a new voice's numbered
    after the song's), with that track's channel and velocities: (notes, track of each)."""
    s, enc = run.seed, run.model.encoding
    song, ppq = s.song, s.song.ppq
    dynamics = run.settings.dynamics
    velocities = {p.track: Velocities(song, p.notes or p.forced, enc,
                                      run.settings.control_of("dynamics", p.track))
                  for p in lines if p.track is not None}
    base = len(song.tracks)
    new_index = {id(p): base + i for i, p in enumerate(q for q in lines if q.track is None)}
    mel_v = Velocities(song, s.melody_notes, enc, dynamics) if harmonise_track is not None \
        else None
    result_notes, result_tracks = [], []
    for row, row_p in zip(rows, row_parts):
        placed, tracks = [], []
        for j, grid in enumerate(part_grids(enc, row, row_p, rules, s.start_step)):
            part = lines[j]
            if part.role == "melody":
                continue
            t = part.track if part.track is not None else new_index[id(part)]
            vel = velocities[part.track] if part.track is not None else mel_v
            channel = song.tracks[part.track].channel if part.track is not None else \
                song.tracks[harmonise_track].channel
            for n in enc.grid_to_notes(grid, ppq, run.transpose):
                placed.append(with_sound(n, vel.at(n.start_tick), channel))
                tracks.append(t)
        order = sorted(range(len(placed)), key=lambda i: placed[i].sort_key())
        result_notes.append([placed[i] for i in order])
        result_tracks.append([tracks[i] for i in order])
    return result_notes, result_tracks


def _continue_voices(run: _Run) -> GenerationResult:
    """Every new note written voice-blind (the seed has more parts than the encoding
    has voices, or no notes), then given to a track (:func:`assign_tracks`)."""
    s, enc, model = run.seed, run.model.encoding, run.model
    ppq = s.song.ppq
    # as many notes at once as the seed's parts hold, each track as many as it ever
    # held at once; each part keeps to its own range (:func:`part_ranges`)
    max_notes = sum(s.capacity.values()) if s.per_track else None
    ceilings, floors, allowed = part_ranges(enc, s.per_track, s.capacity, run.transpose,
                                            run.allowed)
    # a seed whose parts all sound on (nearly) every beat keeps them sounding: no beat
    # of the continuation with fewer notes while one may still come
    beat_notes = part_texture(s.per_track, sum(s.capacity.values()), ppq, s.start_tick,
                              enc.step_to_tick(MAX_PRIME_STEPS, ppq))
    k = int(run.settings.variations)
    rng = np.random.default_rng(int(run.settings.rng_seed))
    with closing(runner(model, run.prime, k, run.method)) as stepper:
        rows = sample_voices(model, stepper, run.prime, run.forced_first is not None,
                             run.steps, k, allowed, run.settings, rng, run.progress,
                             run.is_cancelled, max_notes, ceilings, beat_notes,
                             (s.start_step, enc.steps_per_quarter), run.max_hold, floors,
                             chords=chords_of(run),
                             song=s.song, memory=run.prime)
    result_notes: list[list[Note]] = []
    result_tracks: list[list[int]] = []
    velocities = {i: Velocities(s.song, ns, enc, run.settings.control_of("dynamics", i))
                  for i, ns in s.per_track.items()}
    for row in rows:
        decoded = enc.grid_to_notes(enc.tokens_to_grid(row, s.start_step), ppq,
                                    run.transpose)
        if not s.per_track:  # an empty seed: one new track
            level = Velocities(s.song, [], enc, run.settings.dynamics) \
                if run.settings.dynamics else None
            result_notes.append([with_sound(n, 90 if level is None else level.at(n.start_tick),
                                            0) for n in decoded])
            result_tracks.append([0] * len(decoded))
            continue
        placed, tracks = to_tracks(s.song, decoded, s.per_track, s.capacity, velocities)
        result_notes.append(placed)
        result_tracks.append(tracks)
    if s.per_track:
        s.messages.append(f"Continued {len(s.per_track)} part"
                          f"{'s' if len(s.per_track) > 1 else ''} together.")
    return _result(run, result_notes, result_tracks, [], rows)


def chords_of(run: _Run):
    """The song's chords over the steps a part job writes, in model space, when its
    settings follow chords (None: they do not, or no chord sounds there)."""
    if not follows(run.settings):
        return None
    return chord_plan(run.seed.song, run.model.encoding, run.seed.start_step, run.steps,
                      run.transpose)


def _result(run: _Run, notes: list[list[Note]], tracks: list[list[int]],
            new_tracks: list[str], rows) -> GenerationResult:
    """A part-music job's result: each variation's notes and the track of each."""
    s, settings = run.seed, run.settings
    key_lock = s.lock_key.name if settings.key == "auto" and s.lock_key is not None \
        and s.heard else ""
    return GenerationResult(variations=notes, start_tick=s.start_tick, key=s.key,
                            messages=s.messages, model=run.model.name, steps=run.steps,
                            tokens=[list(r) for r in rows], track_of=tracks,
                            new_tracks=new_tracks, key_lock=key_lock)


def track_messages(song: Song) -> list[str]:
    """What the user is told about the tracks a polyphonic model leaves alone: drums,
    and tracks without notes."""
    messages: list[str] = []
    drums = drums_left_message(song)
    if drums:
        # (replaced by what the drums did where a drum model continues them:
        # engine/generation/jobs/drums.py)
        messages.append(drums)
    empty = [i for i, t in enumerate(song.tracks) if not t.notes and not t.is_drum]
    if empty and playable_tracks(song):
        messages.append(f"{len(empty)} track{'s' if len(empty) > 1 else ''} without notes "
                        f"{'were' if len(empty) > 1 else 'was'} left out.")
    return messages


def drums_left_message(song: Song) -> str | None:
    """The sentence saying a part model left the song's drum tracks as they are (None
    without drum tracks)."""
    drums = [i for i, t in enumerate(song.tracks) if t.is_drum and t.notes]
    if not drums:
        return None
    names = track_labels(song, drums)
    return (f"The drum track{'s' if len(drums) > 1 else ''} ({names}) "
            f"{'were' if len(drums) > 1 else 'was'} left as "
            f"{'they are' if len(drums) > 1 else 'it is'}: the model writes "
            f"pitched parts only.")


def part_ranges(enc, per_track: dict[int, list[Note]], capacity: dict[int, int],
                transpose: int, allowed: np.ndarray
                ) -> tuple[list[int] | None, list[int] | None, np.ndarray]:
    """Each part keeps to its own range (with two parts or more): the j-th note of a
    step (top down) no higher than the j-th highest part's highest note plus a margin
    (``ceilings``); on a beat that sounds every part, no lower than that part's lowest
    minus the margin (``floors``); and no note below the lowest part's lowest minus the
    margin (``allowed`` narrowed).  Model space (``transpose``)."""
    if len(per_track) < 2:
        return None, None, allowed
    # each part's range once (a part may hold thousands of notes and many at once)
    top = {i: max(n.pitch for n in ns) for i, ns in per_track.items()}
    bottom = {i: min(n.pitch for n in ns) for i, ns in per_track.items()}
    parts = sorted(per_track, key=lambda i: -top[i])
    ceilings = [top[i] + transpose + RANGE_MARGIN for i in parts for _ in range(capacity[i])]
    floors = [bottom[i] + transpose - RANGE_MARGIN for i in parts for _ in range(capacity[i])]
    floor = min(bottom.values()) + transpose - RANGE_MARGIN
    allowed = allowed & (enc.token_pitches >= floor) | (enc.token_pitches < 0)
    return ceilings, floors, allowed


def longest_hold(enc, notes: Sequence[Note], ppq: int) -> int | None:
    """The longest a new note may be held, in steps: the seed's longest note (at least
    a half note); None without notes."""
    if not notes:
        return None
    return max([2 * enc.steps_per_quarter] + [
        enc.tick_to_step(n.end_tick, ppq) - enc.tick_to_step(n.start_tick, ppq)
        for n in notes])


def to_tracks(song: Song, decoded: Sequence[Note], per_track: dict[int, list[Note]],
              capacity: dict[int, int], velocities: dict[int, "Velocities"],
              sounding: dict[int, list[int]] | None = None) -> tuple[list[Note], list[int]]:
    """New notes given to the tracks of ``per_track`` (:func:`assign_tracks`, each
    track heard from its notes there, ``sounding`` the end ticks of its notes still
    sounding), with each track's channel and velocities: (notes, track of each)."""
    voices = [_Voice(i, _recent_centre(ns), capacity[i], list((sounding or {}).get(i, [])))
              for i, ns in per_track.items()]
    tracks = assign_tracks(decoded, voices)
    return ([with_sound(n, velocities[t].at(n.start_tick), song.tracks[t].channel)
             for n, t in zip(decoded, tracks)], tracks)


def lock_scale(key: Key, seed: Sequence[Note]) -> tuple[set[int], str]:
    """The pitch classes a key lock allows for part music, and why: the key's scale,
    in minor with the raised sixth and seventh too (a minor cadence needs its leading
    note), and every pitch class the ``seed`` itself plays."""
    pcs = set(key.scale_pitch_classes)
    why = f"the key of the seed's notes"
    if key.minor:
        pcs |= {(key.tonic + 9) % 12, (key.tonic + 11) % 12}
        why += ", with the raised sixth and seventh"
    own = {n.pitch % 12 for n in seed} - pcs
    if own:
        from engine.encodings.keys import spell_pitch_class  # A# in F# minor, not Bb

        names = ", ".join(spell_pitch_class(pc, key) for pc in sorted(own))
        why += f", and the seed's own {names}"
        pcs |= own
    return pcs, why


def part_texture(per_track: dict[int, list[Note]], parts: int, ppq: int,
             end_tick: int, heard_ticks: int) -> int | None:
    """How many notes every beat of the continuation should sound: the seed's parts,
    when all of them sound on at least FULL_TEXTURE_SHARE of the seed's beats (a chorale,
    a melody over a held bass); None when the seed's parts often rest.  Only the beats of
    the last ``heard_ticks`` before ``end_tick`` are read (the primed window), so the work
    follows the notes and that window, not the seed's span."""
    if parts < 2:
        return None
    lo = max(0, end_tick - heard_ticks)
    notes = [n for ns in per_track.values() for n in ns if n.end_tick > lo]
    if not notes:
        return None
    first = max(lo, min(n.start_tick for n in notes))
    beats = np.arange(first - first % ppq, end_tick, ppq, dtype=np.int64)
    if not len(beats):
        return None
    starts = np.sort(np.array([n.start_tick for n in notes], np.int64))
    ends = np.sort(np.array([n.end_tick for n in notes], np.int64))
    # notes sounding at each beat: started at or before it, less those ended by then
    sounding = np.searchsorted(starts, beats, "right") - np.searchsorted(ends, beats, "right")
    full = int((sounding >= parts).sum())
    return parts if full >= FULL_TEXTURE_SHARE * len(beats) else None


def _track_label(song: Song, index: int) -> str:
    name = song.tracks[index].name
    return f"track {index + 1}" + (f" '{name}'" if name else "")


def track_labels(song: Song, indices: Sequence[int], most: int = 6) -> str:
    """Tracks named for a message: the first ``most``, then how many more."""
    named = ", ".join(_track_label(song, i) for i in indices[:most])
    return named if len(indices) <= most else f"{named} and {len(indices) - most:,} more"


def with_sound(n: Note, velocity: int, channel: int) -> Note:
    """``n`` with ``velocity`` on ``channel`` (a new note given its track's sound)."""
    return Note(n.pitch, n.start_tick, n.duration_ticks, velocity, channel)


def _melody_steps(enc, notes: Sequence[Note], ppq: int, start_step: int, transpose: int,
                  messages: list[str]) -> tuple[_Melody, int]:
    """The melody per step, in model space (moved by octaves into the range if needed)."""
    grid = []
    for n in notes:
        s = enc.tick_to_step(n.start_tick, ppq)
        e = max(s + 1, enc.tick_to_step(n.end_tick, ppq))
        grid.append((s, e, n.pitch + transpose))
    lo, hi = min(g[2] for g in grid), max(g[2] for g in grid)
    fits = [k for k in range(-10, 11)
            if lo + 12 * k >= enc.min_pitch + 12 and hi + 12 * k <= enc.max_pitch]
    if not fits:
        raise GenerationError(f"the melody spans {hi - lo} semitones; the model holds "
                              f"{enc.max_pitch - enc.min_pitch - 12} with room for voices "
                              f"beneath")
    shift = min(fits, key=abs)
    if shift:
        messages.append(f"The melody was heard {abs(shift)} octave{'s' if abs(shift) > 1 else ''}"
                        f" {'up' if shift > 0 else 'down'} and the voices moved back.")
    end = max(g[1] for g in grid)
    if end - start_step > MAX_STEPS:
        bars = MAX_STEPS // (4 * enc.steps_per_quarter)
        raise GenerationError(f"the melody lasts {(end - start_step) // enc.steps_per_quarter:,} "
                              f"beats (a note of it is very long); Continuo harmonises up to "
                              f"{bars} bars of 4/4 at a time: select a part of it")
    pitch = np.full(end - start_step, -1, dtype=np.int64)
    onset = np.zeros(end - start_step, dtype=bool)
    grid.sort()
    cut = 0
    for i, (s, e, p) in enumerate(grid):
        if i + 1 < len(grid) and grid[i + 1][0] < e:  # the next note cuts this one
            e, cut = grid[i + 1][0], cut + 1
        if e <= s or s < start_step:
            continue
        pitch[s - start_step:e - start_step] = p + 12 * shift
        onset[s - start_step] = True
    if cut:
        messages.append(f"The melody has {cut} notes overlapping the next one; each was "
                        f"heard ending where the next begins.")
    return _Melody(pitch, onset), transpose + 12 * shift


# ---------------------------------------------------------------------------------------
# every part a line
# ---------------------------------------------------------------------------------------

# a harmonisation's voices beneath the melody (name, lowest, highest, centre): the choir's
# ranges, moved by octaves with the melody
HARMONY_SLOTS = (("Alto", 53, 74, 64.0), ("Tenor", 47, 69, 57.0), ("Bass", 36, 62, 48.0))
SOPRANO_CENTRE = 70  # where a soprano's melody sits; another melody moves the slots
MUST_SOUND_SHARE = 0.5  # a part sounds at a position of the bar it sounded at this often
KEEP_GOING_SHARE = 0.75  # a part that rested a bar yet started notes in this share of its
#                          bars starts a note every bar, if it played lately:
KEEP_GOING_BARS = 4  # in the seed's last bars
KEEP_GOING_RECENT = 8  # (the share is also read over the seed's last bars)
CROSSING_SHARE = 0.3  # two parts may cross when the seed's did on this share of their steps
MAX_VOICE_CANDIDATES = 8  # a song's tracks considered for a harmonisation's voices, at most


@dataclass
class _Part:
    """A part as the grammar hears it: its track (None for a new voice), its seed notes
    (before the start), what it may hold at once, its range (real pitches), and its
    role: "seed" (continued), "melody" (forced, never written), "kept" (a song's own
    part in a harmonisation: its notes forced where it sounds, written where it rests)
    or "new" (a voice written throughout)."""

    track: int | None
    name: str
    notes: list[Note]
    capacity: int
    low: int
    high: int
    role: str = "seed"
    forced: list[Note] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.forced is None:
            self.forced = []

    @property
    def centre(self) -> float:
        ps = [n.pitch for n in (self.notes or self.forced)]
        return float(np.mean(ps[-8:])) if ps else (self.low + self.high) / 2


def fit_voices(enc, per_track: dict[int, list[Note]], capacity: dict[int, int],
               ppq: int) -> dict[int, int] | None:
    """Each part's notes at once, all within the encoding's ``max_voices``: as in the
    seed when they fit; else a part of chords keeps its usual chord (the median number
    of notes it starts together), then the fullest parts give up a note each until they
    fit; None when there are more parts than voices."""
    if sum(capacity.values()) <= enc.max_voices:
        return dict(capacity)
    fitted = {}
    for i, ns in per_track.items():
        starts: dict[int, int] = {}
        for n in ns:
            s = enc.tick_to_step(n.start_tick, ppq)
            starts[s] = starts.get(s, 0) + 1
        usual = int(np.median(list(starts.values()))) if starts else 1
        fitted[i] = max(1, min(capacity[i], usual))
    while sum(fitted.values()) > enc.max_voices and max(fitted.values()) > 1:
        fullest = max(fitted, key=lambda i: (fitted[i], -i))
        fitted[fullest] -= 1
    return fitted if sum(fitted.values()) <= enc.max_voices else None


def seed_parts(song: Song, per_track: dict[int, list[Note]],
               capacity: dict[int, int]) -> list[_Part]:
    """The seed's tracks as parts, top down by their mean pitch."""
    parts = [_Part(i, song.tracks[i].name, sorted(ns, key=Note.sort_key), capacity[i],
                   min(n.pitch for n in ns) - RANGE_MARGIN,
                   max(n.pitch for n in ns) + RANGE_MARGIN)
             for i, ns in per_track.items()]
    return sorted(parts, key=lambda p: -float(np.mean([n.pitch for n in p.notes])))


def harmony_parts(song: Song, melody_track: int, melody: Sequence[Note],
                  messages: list[str]) -> list[_Part]:
    """The parts of a harmonisation, top down: the melody, then a voice for each of
    HARMONY_SLOTS (alto, tenor, bass), each the song's own track where it has one (a
    track of one note at a time beneath the melody, matched to the voices by register),
    else a new one.  Tracks of chords, or more than the voices, are left as they are."""
    mel_centre = float(np.mean([n.pitch for n in melody]))
    shift = 12 * round((mel_centre - SOPRANO_CENTRE) / 12)
    slots = [(name, lo + shift, hi + shift, c + shift) for name, lo, hi, c in HARMONY_SLOTS]
    candidates, left = [], []
    for i in playable_tracks(song):
        if i == melody_track:
            continue
        ns = song.tracks[i].notes
        mean = float(np.mean([n.pitch for n in ns]))
        if part_capacity(ns) == 1 and mean < mel_centre:
            candidates.append((mean, i))
        else:
            left.append(i)
    candidates.sort(reverse=True)
    if len(candidates) > MAX_VOICE_CANDIDATES:
        # only the tracks nearest a voice's register can win it: the matching below
        # tries every choice, which a song of thousands of tracks must not cost
        near = sorted(candidates, key=lambda c: min(abs(c[0] - slot[3]) for slot in slots))
        left += [i for _, i in near[MAX_VOICE_CANDIDATES:]]
        candidates = sorted(near[:MAX_VOICE_CANDIDATES], reverse=True)
    # the ordered choice of voices for the song's tracks nearest their registers
    best, chosen = float("inf"), ()
    use = min(len(candidates), len(slots))
    for tracks in combinations(range(len(candidates)), use):
        for where in combinations(range(len(slots)), use):
            cost = sum(abs(candidates[t][0] - slots[w][3]) for t, w in zip(tracks, where))
            if cost < best:
                best, chosen = cost, tuple(zip(tracks, where))
    used = {t for t, _ in chosen}
    left += [candidates[t][1] for t in range(len(candidates)) if t not in used]
    if left:
        names = track_labels(song, sorted(left))
        messages.append(f"The harmonisation writes one note at a time in each voice, so "
                        f"{names} {'were' if len(left) > 1 else 'was'} left as "
                        f"{'they are' if len(left) > 1 else 'it is'} and not heard.")
    lo_m, hi_m = min(n.pitch for n in melody), max(n.pitch for n in melody)
    parts = [_Part(melody_track, song.tracks[melody_track].name, [], 1, lo_m, hi_m,
                   "melody", list(melody))]
    by_slot = {w: candidates[t][1] for t, w in chosen}
    for w, (name, lo, hi, _) in enumerate(slots):
        i = by_slot.get(w)
        if i is None:
            parts.append(_Part(None, name, [], 1, lo, hi, "new"))
            continue
        ns = sorted(song.tracks[i].notes, key=Note.sort_key)
        parts.append(_Part(i, song.tracks[i].name, [], 1,
                           min(lo, min(n.pitch for n in ns) - RANGE_MARGIN),
                           max(min(hi, hi_m), max(n.pitch for n in ns) + RANGE_MARGIN),
                           "kept", ns))
    return parts


def _grid_of(enc, notes: Sequence[Note], ppq: int) -> list[tuple[int, int, int]]:
    out = []
    for n in notes:
        s = enc.tick_to_step(n.start_tick, ppq)
        out.append((s, max(s + 1, enc.tick_to_step(n.end_tick, ppq)), n.pitch))
    return out


def _rhythm(grid: Sequence[tuple[int, int, int]], start_step: int, bar: int, origin: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, float]:
    """A part's rhythm in its seed, per step of the bar: the share of its bars in which
    it sounds there, the share in which it starts a note there, how many bars were
    heard there; the notes it usually starts together; the share of its steps sounding."""
    sound_at = np.zeros(bar)
    onset_at = np.zeros(bar)
    seen = np.zeros(bar)
    first = min(s for s, _, _ in grid)
    span = start_step - first
    if span <= 0:
        return sound_at, onset_at, seen, 1, 1.0
    sounding = np.zeros(span, bool)
    onsets = np.zeros(span, np.int64)
    for s, e, _ in grid:
        sounding[max(0, s - first):max(0, min(e, start_step) - first)] = True
        if first <= s < start_step:
            onsets[s - first] += 1
    pos = (np.arange(first, start_step) - origin) % bar
    np.add.at(seen, pos, 1)
    np.add.at(sound_at, pos, sounding)
    np.add.at(onset_at, pos, onsets > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        s_share = np.where(seen > 0, sound_at / np.maximum(seen, 1), 0.0)
        o_share = np.where(seen > 0, onset_at / np.maximum(seen, 1), 0.0)
    chords = onsets[onsets > 0]
    least = int(np.median(chords)) if len(chords) else 1
    return s_share, o_share, seen, max(1, least), float(sounding.mean())


def _rested_a_bar(grid: Sequence[tuple[int, int, int]], end_step: int, bar: int) -> bool:
    """Whether a part is silent for a bar or more anywhere from its first note to
    ``end_step`` (where the seed ends)."""
    reach = None
    for s, e, _ in sorted(grid):
        if reach is not None and s - reach >= bar:
            return True
        reach = e if reach is None else max(reach, e)
    return reach is not None and end_step - reach >= bar


def _keeps_going(grid: Sequence[tuple[int, int, int]], end_step: int, bar: int,
                 origin: int) -> bool:
    """Whether a part that rested a bar still plays on: it started a note in at least
    KEEP_GOING_SHARE of its bars (from its first note's bar to ``end_step``, where the
    seed ends) or of the last KEEP_GOING_RECENT of them, and one in the last
    KEEP_GOING_BARS.  mma's bass lines skip a bar now and then (another track plays its
    fills, or a section leaves them out), and without this rule a continuation dropped
    them for good."""
    onsets = {(s - origin) // bar for s, _, _ in grid if s < end_step}
    if not onsets:
        return False
    last = (end_step - 1 - origin) // bar
    if not any(b > last - KEEP_GOING_BARS for b in onsets):
        return False
    first = min(onsets)
    for lo in (first, max(first, last - KEEP_GOING_RECENT + 1)):
        if sum(b >= lo for b in onsets) >= KEEP_GOING_SHARE * (last - lo + 1):
            return True
    return False


def part_rules(enc, song: Song, parts: Sequence[_Part], start_step: int, steps: int,
               transpose: int, melody: _Melody | None = None, key: Key | None = None,
               rhythm_to: dict[int, int] | None = None) -> PartRules:
    """The grammar's rules for ``parts`` over ``steps`` steps from ``start_step``.

    A continued part that never rested a whole bar in its seed sounds where it sounded
    in most of its seed's bars (so it never falls silent for a bar; a part that did rest
    a bar may again, unless it still started notes in most bars and lately: then it
    starts one every bar, :func:`_keeps_going`), starts notes only at the steps of the bar
    where its seed ever started one, and at those where it always did it starts one
    (comping re-attacks; a bass keeps its onsets).  A harmonisation's voices sound
    wherever the melody does; its first and last chords are the tonic in root position
    (the dominant when the melody's note does not belong to the tonic chord) and the
    last is held, not re-attacked.

    ``rhythm_to`` (part index -> step): read that part's rhythm from its notes up to
    that step rather than up to ``start_step`` (a regenerated part's own notes, those it
    replaces included); its last pitch is still the last before ``start_step``."""
    ppq = song.ppq
    P = len(parts)
    T = max(1, steps)
    frame = _BarFrame(enc, song, start_step, T)
    # the seed's rhythm is read from its last MAX_PRIME_STEPS steps (what the model is
    # primed with; a fill's parts may also have notes after the gap, read as far on):
    # work bounded by the window, never by the span of one long note
    heard_from, heard_to = start_step - MAX_PRIME_STEPS, start_step + MAX_PRIME_STEPS
    grids = [[(max(s, heard_from), min(e, heard_to), p)
              for s, e, p in _grid_of(enc, part.notes, ppq)
              if e > heard_from and s < heard_to] for part in parts]
    rules = PartRules(capacity=np.array([p.capacity for p in parts], np.int64),
                      least=np.ones(P, np.int64),
                      floor=np.array([p.low + transpose for p in parts], np.int64),
                      ceiling=np.array([p.high + transpose for p in parts], np.int64),
                      crosses=_crossings(grids), must=np.zeros((T, P), bool),
                      attack=np.zeros((T, P), np.int8),
                      centre=np.array([p.centre + transpose for p in parts]),
                      start_top=np.full(P, -1, np.int64),
                      tracks=tuple(p.track for p in parts))
    for j, (part, grid) in enumerate(zip(parts, grids)):
        if grid:
            _seed_rhythm(enc, rules, j, part, grid, frame, transpose,
                         None if rhythm_to is None else rhythm_to.get(j))
    if melody is not None:
        _melody_rules(enc, rules, parts, melody, frame, transpose)
        _cadences(rules, melody, key, transpose)
    return rules


class _BarFrame:
    """Where the bars fall over the steps the rules cover: the ``bar``'s length in
    steps, the step its metre starts at (``origin``) and each covered step's position
    in its bar (``pos``)."""

    def __init__(self, enc, song: Song, start_step: int, steps: int) -> None:
        ppq = song.ppq
        tick = enc.step_to_tick(start_step, ppq)
        self.ppq, self.start_step, self.steps = ppq, start_step, steps
        self.bar = max(1, enc.steps_for(1, song.ticks_per_bar_at(tick), ppq))
        sigs = [ts for ts in song.time_signatures if ts.tick <= tick]
        self.origin = enc.tick_to_step(sigs[-1].tick, ppq) if sigs else 0
        self.pos = (np.arange(start_step, start_step + steps) - self.origin) % self.bar


def _seed_rhythm(enc, rules: PartRules, j: int, part: _Part,
                 grid: Sequence[tuple[int, int, int]], frame: _BarFrame,
                 transpose: int, rhythm_to: int | None = None) -> None:
    """Part ``j``'s rules from its seed's rhythm (``grid``, read up to ``rhythm_to``,
    default the start): the notes it sounds at least, where it must sound, where it
    must or may not start a note, and its last pitch (``rules`` changed in place)."""
    start_step, pos = frame.start_step, frame.pos
    heard_to = start_step if rhythm_to is None else rhythm_to
    s_share, o_share, seen, chord, busy = _rhythm(grid, heard_to, frame.bar, frame.origin)
    rules.least[j] = min(chord, part.capacity)
    known = seen[pos] > 0
    # a part that rested a whole bar in its seed may do so again
    rested = _rested_a_bar(grid, heard_to, frame.bar)
    if not rested:
        rules.must[:, j] = np.where(known, s_share[pos] >= MUST_SOUND_SHARE, busy >= 0.9)
    sure = seen[pos] >= 2
    rules.attack[:, j] = np.where(sure & (o_share[pos] == 0), -1,
                                  np.where(sure & (o_share[pos] >= 1.0), 1, 0))
    if rested and _keeps_going(grid, heard_to, frame.bar, frame.origin):
        # a sparse part that still plays in most bars (a bass of two notes a bar that
        # sometimes skips one) starts a note every bar where it most often did
        where = np.flatnonzero(pos == int(np.argmax(np.where(seen >= 2, o_share, -1.0))))
        rules.must[where, j] = True
        rules.attack[where, j] = 1
    if rhythm_to is not None:  # its last pitch before the start
        grid = [g for g in grid if g[0] < start_step]
        if not grid:
            return
    last = max(grid, key=lambda g: (g[1], g[2]))
    if last[1] >= start_step - enc.steps_per_quarter:
        rules.start_top[j] = last[2] + transpose


def _crossings(grids: Sequence[Sequence[tuple[int, int, int]]]) -> np.ndarray:
    """[P, P]: the parts whose seeds crossed (or met) often, which may cross."""
    P = len(grids)
    crosses = np.zeros((P, P), bool)
    for i in range(P):
        for j in range(i + 1, P):
            both = crossed = 0
            gi, gj = grids[i], grids[j]
            if not gi or not gj:
                continue
            lo_i: dict[int, int] = {}
            hi_j: dict[int, int] = {}
            for s, e, p in gi:
                for t in range(s, e):
                    lo_i[t] = min(lo_i.get(t, 999), p)
            for s, e, p in gj:
                for t in range(s, e):
                    hi_j[t] = max(hi_j.get(t, -1), p)
            for t, p in hi_j.items():
                if t in lo_i:
                    both += 1
                    crossed += p > lo_i[t]
            if both and crossed / both > CROSSING_SHARE:
                crosses[i, j] = crosses[j, i] = True
    return crosses


def _melody_rules(enc, rules: PartRules, parts: Sequence[_Part], melody: _Melody,
                  frame: _BarFrame, transpose: int) -> None:
    """A harmonisation's forced notes: the melody's, and a kept part's own notes (with
    its short rests); the voices sound wherever the melody does (``rules`` changed in
    place)."""
    T, P, n = frame.steps, len(parts), enc.pitches
    start_step, bar = frame.start_step, frame.bar
    forced = np.zeros((T, P, n), np.int8)
    forced_part = np.zeros((T, P), bool)
    sounding = melody.pitch[:T] >= 0
    for j, part in enumerate(parts):
        if part.role == "melody":
            forced_part[:, j] = True
            for t in np.nonzero(sounding)[0]:
                forced[t, j, melody.pitch[t] - enc.min_pitch] = 1 if melody.onset[t] else 2
            continue
        rules.must[:len(sounding), j] = sounding
        kept = sorted(_grid_of(enc, part.forced, frame.ppq))
        for i, (s, e, p) in enumerate(kept):
            a, b = max(s, start_step) - start_step, min(e, start_step + T) - start_step
            q = p + transpose - enc.min_pitch
            if a >= b:
                continue
            # the part's own rests shorter than a bar stay rests, and so does the
            # rest to the next beat after a note (its articulation)
            nxt = kept[i + 1][0] if i + 1 < len(kept) else None
            beat = enc.steps_per_quarter
            to_beat = frame.origin + -(-(e - frame.origin) // beat) * beat - start_step
            rest_to = nxt - start_step if nxt is not None and nxt - e < bar else \
                to_beat if nxt is None else min(to_beat, nxt - start_step)
            forced_part[a:max(b, min(rest_to, T)), j] = True
            if 0 <= q < n:
                forced[a, j, q] = 1
                forced[a + 1:b, j, q] = 2
    # two forced parts on one pitch: the higher one sounds it
    for t in range(T):
        taken = np.zeros(n, bool)
        for j in range(P):
            forced[t, j][taken] = 0
            taken |= forced[t, j] > 0
    rules.forced, rules.forced_part = forced, forced_part


def _cadences(rules: PartRules, melody: _Melody, key: Key | None, transpose: int) -> None:
    """A harmonisation's first and last chords: the pitch classes each voice may sound
    under the melody's first and last notes, the last chord attacked once and held
    (``rules`` changed in place)."""
    T, P = rules.must.shape
    pcs = np.ones((T, P, 12), bool)
    tonic = ((key.tonic if key is not None else 0) + transpose) % 12
    third = 3 if key is not None and key.minor else 4
    tonic_chord = {tonic, (tonic + third) % 12, (tonic + 7) % 12}
    dominant_triad = {(tonic + 7) % 12, (tonic + 11) % 12, (tonic + 2) % 12}
    dominant = dominant_triad | {(tonic + 5) % 12}
    onsets = np.nonzero(melody.onset[:T])[0]
    if len(onsets):
        ends = list(onsets[1:]) + [min(T, len(melody.pitch))]
        for a, b, final in ((onsets[0], ends[0], False), (onsets[-1], ends[-1], True)):
            m = int(melody.pitch[a]) % 12
            if m in tonic_chord:
                root, chord = tonic, tonic_chord
            elif final and m not in dominant_triad:
                # a melody ending off the tonic and dominant triads ends a modal
                # chorale: on the major triad of its own last note, in root position
                # (as Bach ends BWV 125.6 on E major after B minor), never on a
                # seventh chord with the melody as its dissonance
                root, chord = m, {m, (m + 4) % 12, (m + 7) % 12}
            elif m in dominant:
                root, chord = (tonic + 7) % 12, dominant_triad if final else dominant
            else:  # the sixth: the subdominant over the tonic, as a plagal close
                root, chord = tonic, {tonic, (tonic + 5) % 12, (tonic + third + 5) % 12}
            for j in range(1, P):
                allow = np.zeros(12, bool)
                allow[list({root} if j == P - 1 else chord)] = True
                pcs[a:b, j] = allow
                if final:
                    rules.attack[a, j] = 1
                    rules.attack[a + 1:b, j] = -1
                    rules.must[a:b, j] = True
    rules.pitch_classes = pcs


def part_grids(enc, row: Sequence[int], parts_of: Sequence[int], rules: PartRules,
               start_step: int) -> list[list[GridNote]]:
    """Each part's new grid notes in one row of tokens (``parts_of`` the part of each
    token): a part's own tokens decoded alone, so a HOLD continues only its own note;
    notes a part was forced to sound (a melody, a kept note) are left out."""
    streams: list[list[int]] = [[] for _ in range(rules.parts)]
    for tok, j in zip(row, parts_of):
        if tok == STEP:
            for stream in streams:
                stream.append(STEP)
        elif j >= 0:
            streams[j].append(int(tok))
    out = []
    for j, stream in enumerate(streams):
        grid = enc.tokens_to_grid(stream, start_step)
        if rules.forced_part is not None:
            fp = rules.forced_part[:, j]
            grid = [g for g in grid if not (g.start_step - start_step < len(fp)
                                            and fp[g.start_step - start_step])]
        out.append(grid)
    return out


def sample_parts(model: StepModel, stepper, rules: PartRules, steps: int, k: int,
                 allowed: np.ndarray, settings: GenerationSettings,
                 rng: np.random.Generator, progress, is_cancelled,
                 max_hold: int | None, forced_first: int | None = None,
                 junction: "Junction | None" = None,
                 also: Sequence[Callable[[PartGrammarConstraint], object]] = (),
                 chords=None,
                 song: Song | None = None, start_step: int = 0,
                 memory: Sequence[int] | None = None
                 ) -> tuple[list[list[int]], list[list[int]]]:
    """Tokens for ``steps`` steps per variation under the parts' rules
    (:class:`PartGrammar`), with the part of each token; one model call per token for
    the batch.  ``forced_first``: the prime was that one token, which is also the
    output's first.  A fill's ``junction`` is fed to each row once it is done.
    ``also``: more constraints after the grammar, each made from the grammar's rule.
    The settings' controls (density, leaps, register, syncopation) steer each part's
    line (:func:`engine.generation.mixers.control.part_mixer`; ``song`` gives the
    metre, ``start_step`` the grid step of the first token).  ``memory``: the tokens
    the motif memory hears first (:mod:`engine.generation.part_memory`: the prime, which
    with ``forced_first`` is that one token), None for no memory."""
    enc = model.encoding
    rule = PartGrammarConstraint.lines(StepContext(model, settings, rows=k), rules, max_hold)
    grammar = rule.grammar
    mixer = part_mixer(settings, enc, grammar, song, start_step)
    # follow chords (``chords``: a ChordPlan from the first step): loose a mixer, strict
    # a constraint
    mixer, chord_rules = part_following(settings, rule, mixer, chords, start_step)
    also = tuple(also) + tuple(chord_rules)
    out: list[list[int]] = [[] for _ in range(k)]
    parts: list[list[int]] = [[] for _ in range(k)]
    base = np.broadcast_to(allowed, (k, enc.vocab_size))
    if forced_first is not None:
        grammar.mask(base)
        grammar.push(np.full(k, forced_first, dtype=np.int64))
        if mixer is not None:
            mixer.update(np.full(k, forced_first, dtype=np.int64))
        for r in range(k):
            out[r].append(int(forced_first))
            parts[r].append(int(grammar.part_of[r]))

    def keep(tokens: np.ndarray, done: np.ndarray) -> None:
        for r in np.nonzero(~done)[0]:
            out[r].append(int(tokens[r]))
            parts[r].append(int(grammar.part_of[r]))

    rule.count_steps(steps)
    limit = steps * (enc.max_voices + 2) + 2 + (len(junction.tokens) if junction else 0)
    mixer = with_memory(part_memory(model, settings, k, memory, limit), mixer)
    _token_loop(model, stepper, [rule] + [make(rule) for make in also],
                Sampler(settings.temperature, settings.top_p, rng),
                base, limit, progress, is_cancelled, junction, keep, mixer)
    return out, parts


def sample_voices(model: StepModel, stepper, prime: list[int], first_forced: bool,
                  steps: int, k: int, allowed: np.ndarray, settings: GenerationSettings,
                  rng: np.random.Generator, progress, is_cancelled,
                  max_notes: int | None = None,
                  ceilings: list[int] | None = None, beat_notes: int | None = None,
                  grid: tuple[int, int] = (0, 4), max_hold: int | None = None,
                  floors: list[int] | None = None, held: np.ndarray | None = None,
                  junction: "Junction | None" = None, chords=None,
                  song: Song | None = None,
                  memory: Sequence[int] | None = None) -> list[list[int]]:
    """Tokens for ``steps`` steps per variation, voice-blind (the encoding's grammar),
    one model call per token for the batch; each row stops at its own ``steps``-th STEP
    (rows that are done are fed STEPs, which are not kept).

    A fill's: ``held`` ([steps, pitches] bool, model-space pitch indices) says which
    pitches must be HOLDs in each new step (kept notes sounding into the gap: none may
    be re-attacked, and once one ends it may not be held on; the first step may hold
    only these); a row that is done is fed the ``junction``'s tokens first, whose
    log-probabilities under the network it adds up.  The settings' controls steer the
    notes as in :func:`sample_parts` (the k-th note of a step heard as following the
    k-th of the step before; ``song`` gives the metre, ``grid[0]`` the first step);
    ``memory`` as for :func:`sample_parts`."""
    enc = model.encoding
    rule = PartGrammarConstraint.voice_blind(StepContext(model, settings, rows=k), max_notes,
                                             ceilings, max_hold)
    grammar = rule.grammar
    out: list[list[int]] = [[] for _ in range(k)]
    if first_forced:
        grammar.push(np.full(k, prime[0], dtype=np.int64))
        for row in out:
            row.append(prime[0])
    else:
        grammar.follow(prime)
        # the seed's notes end where it ends (a fill's kept notes sound on)
        grammar.prev[:] = False if held is None else held[0]
    rule.count_steps(steps, since=grammar.steps.copy())
    mixer = part_mixer(settings, enc, grammar, song, grid[0])
    mixer, chord_rules = part_following(settings, rule, mixer, chords, grid[0])
    if mixer is not None and first_forced:
        mixer.update(np.full(k, prime[0], dtype=np.int64))
    rules = [rule, FullTexture(rule.context, rule, beat_notes, grid, floors),
             HeldNotes(rule.context, rule, held)] + [make(rule) for make in chord_rules]

    def keep(tokens: np.ndarray, done: np.ndarray) -> None:
        for r in np.nonzero(~done)[0]:
            out[r].append(int(tokens[r]))

    limit = steps * (enc.max_voices + 1) + 1 + (len(junction.tokens) if junction else 0)
    mixer = with_memory(part_memory(model, settings, k, memory, limit), mixer)
    _token_loop(model, stepper, rules, Sampler(settings.temperature, settings.top_p, rng),
                np.broadcast_to(allowed, (k, enc.vocab_size)), limit, progress,
                is_cancelled, junction, keep, mixer)
    return out


def _token_loop(model: StepModel, stepper, rules: list, sampler: Sampler,
                base: np.ndarray, limit: int, progress, is_cancelled,
                junction: "Junction | None", keep, mixer=None) -> None:
    """Draw a token per row per model call until every row has written its steps
    (and heard the ``junction``): ``base`` narrowed by each of ``rules`` in turn, the
    first the grammar (:class:`PartGrammarConstraint`, which counts the steps), each
    token heard by every rule (then the ``mixer``) and handed to ``keep(tokens, done)``.
    A ``mixer`` (:class:`engine.generation.mixers.control.PartMixer`) moves the logits
    tokens are drawn from; a junction is scored by the network's own."""
    counter = rules[0]
    steps = counter.steps
    logits = stepper.first_logits
    for call in range(limit):
        done = counter.done
        if done.all() and (junction is None or junction.heard()):
            break
        if is_cancelled is not None and is_cancelled():
            raise GenerationCancelled("generation was cancelled")
        mask = base
        for rule in rules:
            mask = rule.narrow(call, mask)
        known = counter.known  # every row's token forced (PartGrammarConstraint)
        if known is not None and mixer is None and junction is None and \
                mask[np.arange(len(mask)), known].all():
            tokens = known  # nothing to draw; the generator draws as a call would
            sampler.skip(mask.shape)
        else:
            tokens = _draw(model, sampler, logits if mixer is None else mixer(logits, mask),
                           mask)
        if junction is not None:
            tokens = junction.feed(tokens, logits, done)
        for rule in rules:
            rule.update(tokens)
        if mixer is not None:
            mixer.update(tokens)
        keep(tokens, done)
        if progress is not None:
            progress(int(min(steps, counter.at.min())), steps)
        logits = stepper.advance(tokens)


def _draw(model: StepModel, sampler: Sampler, logits: np.ndarray,
          mask: np.ndarray) -> np.ndarray:
    """One token per row from ``logits`` under ``mask``."""
    tokens = sampler(logits.astype(np.float64), Sampler.mask(mask))
    if tokens is None:
        raise GenerationError(f"the model {model.name} computed invalid numbers (NaN or "
                              f"infinity); its weights are probably damaged")
    return tokens


class Junction:
    """The music after a fill's gap, as tokens fed to each row once it has written the
    gap: ``logp`` adds up the network's log-probability of each (how well the row leads
    into what follows)."""

    def __init__(self, tokens: Sequence[int], rows: int) -> None:
        self.tokens = np.asarray(tokens, dtype=np.int64)
        self.pos = np.zeros(rows, dtype=np.int64)
        self.logp = np.zeros(rows)

    def heard(self) -> bool:
        return bool((self.pos >= len(self.tokens)).all())

    def feed(self, tokens: np.ndarray, logits: np.ndarray, done: np.ndarray) -> np.ndarray:
        """``tokens`` with each done row's next junction token instead, scored."""
        r = np.nonzero(done & (self.pos < len(self.tokens)))[0]
        if not r.size:
            return tokens
        want = self.tokens[self.pos[r]]
        self.logp[r] += token_log_probs(logits[r], want)
        self.pos[r] += 1
        tokens = np.array(tokens, copy=True)
        tokens[r] = want
        return tokens

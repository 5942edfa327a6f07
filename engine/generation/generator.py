"""Continuing a seed with a model: :func:`generate`, and what every job shares about
where a continuation starts and what it may play.

:func:`generate` is the continue request's front door: it builds the request
(:mod:`engine.generation.request`) and hands it to the one place that chooses a job
(:func:`engine.generation.jobs.run`: a melody's continuation in
:mod:`engine.generation.jobs.continuation`, every part's for a part model).  The step
loop itself is :mod:`engine.generation.sampling`'s.

The encoding (:mod:`engine.encodings`) turns the seed into tokens and new tokens back
into notes; the seed is encoded once and run once through the model, and from then on
each new step is one step-model call for all variations together, which is what makes
a continuation feel instant.  Sampling: logits -> the key and range masks
(:mod:`engine.generation.constraints`) -> the motif memory and a style
(:mod:`engine.generation.mixers`) -> temperature -> top-p -> one draw per variation from
an explicit ``numpy.random.Generator``, so the same seed and settings always give the
same notes.  Nothing here knows about Qt: the GUI passes ``progress`` and
``is_cancelled`` callables.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from engine.encodings import CONTINUE, Encoding, Key
from engine.errors import GenerationError
from engine.generation.constraints import StepContext, build, combined
from engine.generation.request import GenerationRequest, GenerationSettings
# DEFAULT_VELOCITY, MAX_PRIME_STEPS, GenerationCancelled, GenerationResult and the limits
# are re-exported for the callers that import them from here
from engine.generation.sampling import (DEFAULT_VELOCITY, MAX_PRIME_STEPS,  # noqa: F401
                                        GenerationCancelled, GenerationResult)
from engine.limits import MAX_BARS, MAX_STEPS, MAX_TEMPERATURE, MAX_VARIATIONS  # noqa: F401
from engine.models import ModelLibrary, StepModel
from engine.song import Note, Song, TimeSignature, melody_track

# the constraints every job applies (engine.generation.constraints): the key lock and the
# pitch range
BUILT_IN_CONSTRAINTS = ("key", "range")


# ---------------------------------------------------------------------------------------
# seeds, keys and velocities
# ---------------------------------------------------------------------------------------


def beat_ticks(ts: TimeSignature, ppq: int) -> int:
    """The beat a musician counts in ``ts``: the dotted quarter of 6/8, 9/8 and 12/8 (three
    of the denominator's notes when the numerator is a multiple of three above three),
    else the denominator's note (the quarter of 3/4, the half of 2/2, the eighth of 3/8)."""
    unit = ts.ticks_per_beat(ppq)
    return 3 * unit if ts.numerator > 3 and ts.numerator % 3 == 0 else unit


def _meter_segments(song: Song):
    """(first tick, end tick or None, bar ticks, beat ticks, where beats are counted from)
    for each time signature; a pickup bar counts the beats of the bar it completes,
    backwards from its end."""
    sigs = song.time_signatures
    pickup = song.pickup_ticks
    for i, ts in enumerate(sigs):
        end = sigs[i + 1].tick if i + 1 < len(sigs) else None
        if i == 0 and pickup:
            yield ts.tick, end, ts.ticks_per_bar(song.ppq), beat_ticks(sigs[1], song.ppq), pickup
        else:
            yield ts.tick, end, ts.ticks_per_bar(song.ppq), beat_ticks(ts, song.ppq), ts.tick


def next_beat(song: Song, tick: int) -> int:
    """The first beat of ``song``'s metre at or after ``tick`` (a bar line is a beat too;
    time-signature changes and compound metres followed)."""
    tick = max(0, int(tick))
    for first, end, _, beat, anchor in _meter_segments(song):
        if end is not None and tick >= end:
            continue
        at = anchor - ((anchor - tick) // beat) * beat  # anchor + ceil((tick - anchor) / beat)
        return at if end is None else min(at, end)
    raise AssertionError("unreachable: the last time signature holds to the end")


def next_bar_line(song: Song, tick: int) -> int:
    """The first bar line of ``song`` after ``tick``."""
    tick = max(0, int(tick))
    for first, end, bar, _, _ in _meter_segments(song):
        if end is not None and tick >= end:
            continue
        at = first + ((tick - first) // bar + 1) * bar
        return at if end is None else min(at, end)
    raise AssertionError("unreachable: the last time signature holds to the end")


def continuation_start_tick(song: Song, notes: Iterable[Note], step_ticks: int) -> int:
    """Where a continuation of ``notes`` (the seed, on ``song``'s timeline) starts: on
    the first beat at or after the seed's end read as a musician reads it.

    * Onsets and ends are read to the nearest ``step_ticks`` (a player's timing).
    * The last note (the one that ends last) is read as lasting to the next bar line
      when it sounds more than half of the way there from its onset: a phrase's final
      note, however detached (staccato, 7/8 legato, a human release), ends the bar.
    * A song that says where it ends (:attr:`Song.length_ticks`, a MIDI file's end of
      track after a final rest) ends there, read to the nearest step too.

    A note that ends early therefore never moves the start off the beat; the rule is
    argued in docs/guide/generate.md ("Where a continuation starts")."""
    step = max(1, int(step_ticks))

    def nearest(tick: int) -> int:
        return (tick + step // 2) // step * step

    end = 0
    notes = list(notes)
    if notes:
        last = max(notes, key=lambda n: (n.end_tick, n.start_tick))
        onset = nearest(last.start_tick)
        end = max(nearest(last.end_tick), onset + step)
        bar = next_bar_line(song, onset)
        if end <= bar and 2 * (end - onset) > bar - onset:
            end = bar
    if song.length_ticks is not None:
        end = max(end, nearest(song.length_ticks))
    return next_beat(song, end)


def first_new_step(enc: Encoding, seed_end: int, start_tick: int | None, ppq: int, *,
                   song: Song | None = None, notes: Iterable[Note] | None = None) -> int:
    """The grid step a continuation starts at: ``start_tick`` rounded up to the grid when
    one is given; else, given the ``song`` and the seed's ``notes`` (default: every
    note of the song that is not a drum's), the first beat after the seed as a musician
    reads it (:func:`continuation_start_tick`); else ``seed_end`` rounded up to the
    grid."""
    if start_tick is None:
        if song is None:
            return enc.ceil_step(seed_end, ppq)
        if notes is None:
            notes = [n for t in song.tracks if not t.is_drum for n in t.notes]
        step_ticks = max(1, enc.step_to_tick(1, ppq))
        return enc.ceil_step(continuation_start_tick(song, notes, step_ticks), ppq)
    if start_tick < 0:
        raise GenerationError(f"the continuation cannot start before the song "
                              f"(tick {start_tick})")
    return enc.ceil_step(start_tick, ppq)


def cut_before(notes: Iterable[Note], tick: int) -> list[Note]:
    """The notes that start before ``tick``, those still sounding there cut short."""
    out = []
    for n in notes:
        if n.start_tick >= tick:
            continue
        if n.end_tick > tick:
            n = Note(n.pitch, n.start_tick, tick - n.start_tick, n.velocity, n.channel)
        out.append(n)
    return out


def seed_notes(seed: Song | None, track_index: int | None,
                start_tick: int | None) -> tuple[list[Note], int]:
    """The seed melody's notes (before ``start_tick``, cut there) and its channel."""
    if seed is None or not seed.tracks:
        return [], 0
    if track_index is None:
        track_index = melody_track(seed)
        if track_index is None:  # nothing but drums or silence: a new melody on channel 1
            return [], 0
    if not 0 <= track_index < len(seed.tracks):
        raise GenerationError(f"the seed has no track {track_index + 1}; it has "
                              f"{len(seed.tracks)}")
    track = seed.tracks[track_index]
    notes = list(track.notes) if start_tick is None else cut_before(track.notes, start_tick)
    channel = notes[0].channel if notes else track.channel
    return notes, channel


# ---------------------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------------------


def allowed_tokens(model: StepModel, settings: GenerationSettings, lock_key: Key | None,
                   scale: Iterable[int] | None, transpose: int) -> np.ndarray:
    """The mask over the vocabulary, in model space: the key lock's pitch classes
    (``scale``, none when None) and the settings' pitch range, moved by ``transpose``
    (the ``key`` and ``range`` constraints, :mod:`engine.generation.constraints`).
    A GenerationError when it leaves no note to play."""
    context = StepContext(model, settings, lock_key, scale, transpose)
    allowed = combined(build(BUILT_IN_CONSTRAINTS, context), model.encoding)
    if not (allowed & model.encoding.onset_mask).any():
        where = f" of {lock_key.name}" if lock_key is not None else ""
        raise GenerationError(f"no note{where} lies in the chosen pitch range that the model "
                              f"{model.name} can play")
    return allowed


def generate(library: ModelLibrary, seed: Song | None, settings: GenerationSettings, *,
             track_index: int | None = None, start_tick: int | None = None,
             progress: Callable[[int, int], None] | None = None,
             is_cancelled: Callable[[], bool] | None = None,
             method: str = "incremental", record_logits: bool = False) -> GenerationResult:
    """Continue ``seed`` (its melody track, or ``track_index``) from ``start_tick``
    (rounded up to the grid; default: the first beat after the seed,
    :func:`continuation_start_tick`) with ``settings``; with a part model, every part
    (:func:`engine.generation.jobs.run` chooses).

    ``method="naive"`` re-runs the sequence model over the window at every step; it
    gives the same notes and exists for the tests and the benchmark.
    ``progress(done, total)`` is called after each step; ``is_cancelled()`` is checked
    before each step and raises :class:`GenerationCancelled`.
    """
    request = GenerationRequest(CONTINUE, settings, track_index, start_tick)
    if method not in ("incremental", "naive"):
        raise ValueError(f"unknown generation method {method!r}")
    from engine.generation import jobs

    return jobs.run(library, seed, request, progress=progress, is_cancelled=is_cancelled,
                    method=method, record_logits=record_logits)

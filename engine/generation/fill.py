"""Filling a gap: regenerate a region of a track from the music on both sides of it.

A model trained to fill (its card's ``jobs`` has ``fill``; its encoding writes fill
prompts, :mod:`engine.encodings.fim`) reads the first bars after the gap, then the bars
before it, then writes exactly the gap's steps.  Everything else is the
continuation's: the settings (variations, temperature, top-p, random seed, key lock,
pitch range), the sampler and its masks, the velocities that follow the track, the
step model primed in one call and stepped once per new step for all variations.

The gap ``[start_tick, end_tick)`` of a track, in the app's and the CLI's terms:

* notes that start before the gap are kept as they are; one that sounds into the gap
  makes the fill begin where it ends (the fill may not hold it on);
* every note that starts inside the gap is replaced by the fill;
* notes that start at or after the gap's end are kept, and the fill's notes end by
  then;

so every note outside the gap is untouched.  The generated notes lie in the gap, on
the encoding's grid, in the track's key and register.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from engine.encodings import FILL, PARTS, capabilities_of
from engine.errors import GenerationError
from engine.generation.generator import continuation_start_tick
from engine.generation.memory import MemoryMixer, mixing_for
# bar_of and checked_gap are published here too, for the part fill
from engine.generation.request import (GenerationRequest, GenerationSettings,  # noqa: F401
                                       bar_of, checked_gap)
from engine.generation.sampler import token_log_probs
from engine.generation.sampling import GenerationResult
from engine.limits import MAX_STEPS
from engine.models import ModelLibrary
from engine.song import Note, Song

# Each variation keeps the one of this many candidates that the model finds likeliest
# to go on with the music after the gap, up to its first note (the fill model reads the
# suffix only as a prompt; this makes the fill lead into the next bar the way the tune
# goes on: on the Essen test gaps, with one candidate only 78% of the steps into the
# next bar are within 5 semitones, with this 92-94%, the tunes themselves 96%).
CANDIDATES = 6
# The candidates of a variation share its first steps and part for its last this many
# (a half bar of 4/4): what leads into the music after the gap is its last notes, and
# a step for 6 times the rows costs the LSTM about 6 times as much.
BRANCH_STEPS = 8

__all__ = ["fill", "apply_fill", "split_at_gap", "bar_range_ticks", "score_gap", "gap_steps",
           "bar_of", "checked_gap", "check_gap_has_steps", "check_gap_in_song", "check_gap_steps",
           "fills_melody"]


def bar_range_ticks(song: Song, first_bar: int, last_bar: int) -> tuple[int, int]:
    """Bars ``first_bar..last_bar`` (inclusive, numbered as the score numbers them:
    from 1, or from 0 when the song opens with a pickup) as ``[start_tick, end_tick)``."""
    if isinstance(first_bar, bool) or isinstance(last_bar, bool):
        raise GenerationError("bars are whole numbers")
    low = song.first_bar_number
    if first_bar < low or last_bar < low:
        raise GenerationError(f"bars are counted from {low}, not {min(first_bar, last_bar)}")
    if last_bar < first_bar:
        raise GenerationError(f"the gap from bar {first_bar} to bar {last_bar} is empty: "
                              f"the last bar comes before the first")
    return song.bar_start_tick(first_bar), song.bar_start_tick(last_bar + 1)


def split_at_gap(notes: Sequence[Note], start_tick: int, end_tick: int
                 ) -> tuple[list[Note], list[Note], list[Note]]:
    """The notes before the gap (starting before it), inside it (replaced) and after it
    (starting at or after its end)."""
    before = [n for n in notes if n.start_tick < start_tick]
    inside = [n for n in notes if start_tick <= n.start_tick < end_tick]
    after = [n for n in notes if n.start_tick >= end_tick]
    return before, inside, after


def apply_fill(song: Song, track_index: int, start_tick: int, end_tick: int,
               notes: Sequence[Note]) -> Song:
    """A copy of ``song`` whose track has the gap's notes replaced by ``notes``."""
    out = song.copy()
    track = out.tracks[track_index]
    before, _, after = split_at_gap(track.notes, start_tick, end_tick)
    track.notes = before + list(notes) + after
    return out


def fills_melody(model) -> bool:
    """Whether ``model`` is a melody model trained to fill a gap (a part model fills
    in :mod:`engine.generation.polyfill`)."""
    caps = capabilities_of(model)
    return FILL in caps and PARTS not in caps


def check_fill_model(model) -> None:
    if not fills_melody(model):
        raise GenerationError(f"the model {model.name} was trained to continue, not to fill "
                              f"a gap; choose a model that fills (transformer-fill, lstm-fill or "
                              f"wavenet-fill)")


def check_gap_has_steps(song: Song, start_tick: int, end_tick: int, steps: int,
                        reason: str = "is shorter than one step of") -> None:
    """Refuse a gap of ``[start_tick, end_tick)`` that has no step of the model's grid
    (``steps`` < 1), saying why in ``reason``."""
    if steps < 1:
        raise GenerationError(f"the gap (bar {bar_of(song, start_tick)}, ticks {start_tick} "
                              f"to {end_tick}) {reason} the model's grid; choose a longer "
                              f"range to fill")


def check_gap_in_song(song: Song, start_tick: int, song_end: int, whose: str) -> None:
    """Refuse a gap that starts after ``whose`` last note ends (at ``song_end``)."""
    if start_tick >= song_end:
        raise GenerationError(f"the gap (from bar {bar_of(song, start_tick)}) starts after the "
                              f"end of the song: {whose} last note ends in bar "
                              f"{bar_of(song, song_end - 1)}, so there is nothing to fill "
                              f"between; use Generate to continue the song instead")


def fill_start_step(enc, song: Song, before: Sequence[Note], start_tick: int,
                    end_tick: int) -> int:
    """The step a fill of ``[start_tick, end_tick)`` may begin at, given the notes that
    start ``before`` it: the gap's own start, or, when one of them sounds into the gap,
    the first beat after the seed (those notes) as a continuation reads it
    (:func:`engine.generation.generator.continuation_start_tick`: a note released a
    little late or early does not move the fill off the beat).  When that beat is not
    before the gap's end, the step where the note ends."""
    ppq = song.ppq
    a_step = enc.tick_to_step(start_tick, ppq)
    into = [n for n in before if n.end_tick > start_tick]
    if not into:
        return a_step
    step = max(1, enc.step_to_tick(1, ppq))
    ends = enc.ceil_step(max(n.end_tick for n in into), ppq)
    # only the notes sounding into the gap (no song length: the song goes on after it)
    alone = Song(ppq=ppq, time_signatures=song.time_signatures)
    beat = enc.ceil_step(continuation_start_tick(alone, into, step), ppq)
    if enc.step_to_tick(beat, ppq) >= end_tick:
        return max(a_step, ends)
    return max(a_step, beat)


def check_gap_steps(steps: int) -> None:
    if steps > MAX_STEPS:
        raise GenerationError(f"the gap is {steps} steps long; a fill can be at most "
                              f"{MAX_STEPS}")


def fill(library: ModelLibrary, song: Song, settings: GenerationSettings, *,
         start_tick: int, end_tick: int, track_index: int | None = None,
         progress: Callable[[int, int], None] | None = None,
         is_cancelled: Callable[[], bool] | None = None) -> GenerationResult:
    """Fill ``[start_tick, end_tick)`` of the track (``track_index``, default the
    melody track) with ``settings.variations`` variations; each is the list of notes
    that replaces the gap's notes (:func:`apply_fill`).  ``settings.bars``/``steps``
    are not used: the gap's length decides.  With a part model, every part's gap
    (:func:`engine.generation.jobs.run` chooses)."""
    from engine.generation import jobs

    request = GenerationRequest(FILL, settings, track_index, start_tick, end_tick)
    return jobs.run(library, song, request, progress=progress, is_cancelled=is_cancelled)


def progress_from(progress: Callable[[int, int], None] | None, done: int, total: int):
    """The progress of a part of the steps that starts after ``done`` of ``total``."""
    if progress is None:
        return None
    return lambda i, _: progress(done + i, total)


def resample(stepper, out: np.ndarray, k: int, suffix: Sequence[int]) -> np.ndarray:
    """``k`` rows of ``out`` (``k`` groups of :data:`CANDIDATES` candidates), one per
    group: the one after which the model finds the suffix's first steps, up to its
    first note, likeliest (``stepper`` is the sampling one, after the gap's last
    step)."""
    groups = out.shape[0] // k
    if groups <= 1:
        return out
    enc = stepper.model.encoding
    tail = [int(t) for t in suffix[:enc.suffix_steps]]
    first_note = next((i for i, t in enumerate(tail) if enc.onset_mask[t]), None)
    if first_note is None:
        return out[::groups]
    weight = np.zeros(out.shape[0])
    logits = stepper.advance(out[:, -1].astype(np.int32))
    for i, token in enumerate(tail[:first_note + 1]):
        weight += token_log_probs(logits, np.full(out.shape[0], token))
        if i < first_note:
            logits = stepper.advance(np.full(out.shape[0], token, dtype=np.int32))
    return out[best_per_group(weight.reshape(k, groups))]


def best_per_group(weight: np.ndarray) -> np.ndarray:
    """One row per group of candidates: ``weight`` is [groups, candidates] of
    log-likelihoods of the music after the gap following each; returns indices into
    the flattened rows, the likeliest of each group.  (Drawing in proportion to the
    likelihood instead, sampling-importance-resampling, left 88-89% of the Essen test
    gaps' steps into the next bar within 5 semitones; the likeliest, 92-94%.)"""
    k, groups = weight.shape
    return np.argmax(weight, axis=1) + np.arange(k) * groups


# ---------------------------------------------------------------------------------------
# scoring a gap
# ---------------------------------------------------------------------------------------


def bar_steps_at(song: Song, tick: int, enc) -> int | None:
    """A bar's length in grid steps in the metre at ``tick`` (what the motif memory's
    phrase copy counts bars in); None where the bar is off the grid."""
    steps, off_grid = divmod(song.ticks_per_bar_at(tick) * enc.steps_per_quarter, song.ppq)
    return None if off_grid or steps < 1 else int(steps)


def score_gap(model, tokens: Sequence[int], start: int, end: int,
              both_sides: bool | None = None, memory: bool = False, song: Song | None = None,
              gap_tick: int | None = None) -> tuple[float, int, int]:
    """Bits of a melody's tokens ``[start, end)`` under ``model`` (:func:`gap_nats` says
    how): (bits, tokens scored, notes among them)."""
    nats, targets, _ = gap_nats(model, tokens, start, end, both_sides, memory, song,
                                gap_tick)
    if not len(targets):
        return 0.0, 0, 0
    return (float(nats.sum() / np.log(2.0)), len(targets),
            model.encoding.count_onsets(targets))


def gap_nats(model, tokens: Sequence[int], start: int, end: int,
             both_sides: bool | None = None, memory: bool = False, song: Song | None = None,
             gap_tick: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nats of each of a melody's tokens ``[start, end)`` (the gap) under ``model``: given
    both sides as a fill prompt (a fill model, or ``both_sides``), else given only the tokens
    before the gap.  With ``memory``, the motif memory is mixed in as when filling: it
    has heard all the music after the gap (given both sides), then the music before it,
    its shares as ``score`` mixes them (never raised to the generation power), its
    contexts in the metre of ``song`` (the tune the tokens are from) as the fill job
    has them (:meth:`engine.generation.memory.Mixing.in_metre`), and given both sides
    its phrase copy counting bars in the metre at ``gap_tick`` (the gap's first tick in
    ``song``; None: the first full bar's), as the fill job does.  Returns the nats of
    each token scored, the tokens (the gap's; none when it is empty) and every token's
    log-probability at each of their steps ([tokens, vocabulary])."""
    enc = model.encoding
    tokens = [int(t) for t in tokens]
    start, end = max(0, int(start)), min(len(tokens), int(end))
    if both_sides is None:
        both_sides = fills_melody(model)
    nothing = np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros((0, enc.vocab_size))
    if end <= start:
        return nothing
    if both_sides:
        seq, first = enc.fill_example(tokens, start, end)
    else:
        start = max(start, 1)  # the very first token is given, as in ``score``
        if end <= start:
            return nothing
        seq, first = tokens[:end], start
    seq = np.asarray(seq, dtype=np.int64)
    logits = model.sequence_logits(seq[None, :-1])[0].astype(np.float64)
    targets = seq[first:]
    rows = logits[first - 1:]
    if memory:
        # scored, not generated: the shares as they are (``Mixing.generation_power`` is
        # for sampling only), as ``score`` mixes them (:func:`score_tokens_with_memory`)
        mixing = replace(mixing_for(model.name), generation_power=1.0)
        bar_steps = None if song is None or not both_sides else bar_steps_at(
            song, song.pickup_ticks if gap_tick is None else gap_tick, enc)
        mixer = MemoryMixer(enc.vocab_size, 1, tokens[:start],
                            mixing.in_metre(song, enc.steps_per_quarter),
                            heard=tokens[end:] if both_sides else (), start_step=start,
                            heard_step=end, bar_steps=bar_steps)
        log_p = np.empty_like(rows)
        for i, target in enumerate(targets):
            log_p[i] = np.log(np.maximum(mixer.probabilities(rows[i:i + 1])[0], 1e-300))
            mixer.update([int(target)])
        nats = -log_p[np.arange(len(targets)), targets]
    else:  # the network's log-softmax, as token_log_probs works it out for one token
        top = rows.max(axis=1, keepdims=True)
        log_p = rows - top - np.log(np.exp(rows - top).sum(axis=1, keepdims=True))
        nats = -log_p[np.arange(len(targets)), targets]
    return nats, targets, log_p


def gap_steps(song: Song, tokens_start_step: int, start_tick: int, end_tick: int,
              enc) -> tuple[int, int]:
    """A gap in ticks as indices into a tune's tokens that start at
    ``tokens_start_step``."""
    return (enc.tick_to_step(start_tick, song.ppq) - tokens_start_step,
            enc.tick_to_step(end_tick, song.ppq) - tokens_start_step)

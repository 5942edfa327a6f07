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

from typing import Callable, Sequence

import numpy as np

from engine.encodings import FILL, PARTS, Key, capabilities_of, estimate_song_key
from engine.encodings.fim import SUFFIX_STEPS
from engine.errors import EncodingError, GenerationError
from engine.generation import generator as G
from engine.generation.memory import MemoryMixer, mixing_for
from engine.generation.sampler import token_log_probs
from engine.generation.sampling import (MAX_PRIME_STEPS, GenerationCancelled, GenerationResult,
                                        IncrementalRunner, Velocities, sample_loop)
from engine.models import ModelLibrary
from engine.song import Note, Song, melody_track

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

__all__ = ["fill", "apply_fill", "split_at_gap", "bar_range_ticks", "score_gap", "gap_steps"]


def _bar(song: Song, tick: int) -> int:
    return song.bar_beat_at(max(0, tick))[0]


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


def _check_model(model) -> None:
    if not fills_melody(model):
        raise GenerationError(f"the model {model.name} was trained to continue, not to fill "
                              f"a gap; choose a model that fills (lstm-fill or wavenet-fill)")


def checked_gap(song: Song, start_tick, end_tick) -> tuple[int, int]:
    """The gap's ends as whole ticks, refused with a sentence when they make no gap."""
    if isinstance(start_tick, bool) or isinstance(end_tick, bool) \
            or not isinstance(start_tick, (int, np.integer)) \
            or not isinstance(end_tick, (int, np.integer)):
        raise GenerationError("the gap's start and end must be whole ticks")
    start_tick, end_tick = int(start_tick), int(end_tick)
    if start_tick < 0:
        raise GenerationError(f"the gap cannot start before the song (tick {start_tick})")
    if end_tick <= start_tick:
        raise GenerationError(f"the gap is empty: it ends (tick {end_tick}) where or before "
                              f"it starts (tick {start_tick}, bar {_bar(song, start_tick)}); "
                              f"choose a range of at least one step to fill")
    return start_tick, end_tick


def check_gap_in_song(song: Song, start_tick: int, song_end: int, whose: str) -> None:
    """Refuse a gap that starts after ``whose`` last note ends (at ``song_end``)."""
    if start_tick >= song_end:
        raise GenerationError(f"the gap (from bar {_bar(song, start_tick)}) starts after the "
                              f"end of the song: {whose} last note ends in bar "
                              f"{_bar(song, song_end - 1)}, so there is nothing to fill "
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
    beat = enc.ceil_step(G.continuation_start_tick(alone, into, step), ppq)
    if enc.step_to_tick(beat, ppq) >= end_tick:
        return max(a_step, ends)
    return max(a_step, beat)


def check_gap_steps(steps: int) -> None:
    if steps > G.MAX_STEPS:
        raise GenerationError(f"the gap is {steps} steps long; a fill can be at most "
                              f"{G.MAX_STEPS}")


def fill(library: ModelLibrary, song: Song, settings: G.GenerationSettings, *,
         start_tick: int, end_tick: int, track_index: int | None = None,
         progress: Callable[[int, int], None] | None = None,
         is_cancelled: Callable[[], bool] | None = None) -> GenerationResult:
    """Fill ``[start_tick, end_tick)`` of the track (``track_index``, default the
    melody track) with ``settings.variations`` variations; each is the list of notes
    that replaces the gap's notes (:func:`apply_fill`).  ``settings.bars``/``steps``
    are not used: the gap's length decides."""
    settings.validate()
    start_tick, end_tick = checked_gap(song, start_tick, end_tick)
    model = library.get(settings.model)
    if PARTS in capabilities_of(model):  # a polyphonic model fills every part at once
        from engine.generation.polyfill import fill_polyphony

        return fill_polyphony(library, song, settings, start_tick=start_tick,
                              end_tick=end_tick, progress=progress, is_cancelled=is_cancelled)
    _check_model(model)
    enc = model.encoding
    ppq = song.ppq

    if track_index is None:
        track_index = melody_track(song)
    if track_index is not None and not 0 <= track_index < len(song.tracks):
        raise GenerationError(f"the song has no track {track_index + 1}; it has "
                              f"{len(song.tracks)}")
    track = song.tracks[track_index] if track_index is not None else None
    if track is None or not track.notes:
        raise GenerationError("the track is empty: a gap is filled from the music on both "
                              "sides of it, and there is none; use Generate to write new "
                              "music instead")
    a_step, b_step = enc.tick_to_step(start_tick, ppq), enc.tick_to_step(end_tick, ppq)
    if b_step <= a_step:
        raise GenerationError(f"the gap (bar {_bar(song, start_tick)}, ticks {start_tick} to "
                              f"{end_tick}) is shorter than one step of the model's grid; "
                              f"choose a longer range to fill")
    check_gap_in_song(song, start_tick, track.end_tick, "the track's")

    before, inside, after = split_at_gap(track.notes, start_tick, end_tick)
    # the fill begins where what sounds into the gap ends: on the first beat after it,
    # as a continuation starts (G.continuation_start_tick)
    a_step = max(a_step, fill_start_step(enc, song, before, start_tick, end_tick))
    steps = b_step - a_step
    if steps < 1:
        raise GenerationError(f"a note that starts before the gap sounds through all of it "
                              f"(bar {_bar(song, start_tick)}): there is no room to fill; "
                              f"shorten that note or choose a longer range")
    check_gap_steps(steps)
    k = int(settings.variations)
    kept = before + after
    chosen = None if settings.key in (None, "auto") else Key.parse(settings.key)
    track_key = estimate_song_key(kept) if kept else (chosen or Key(0, False))
    lock_key = None if settings.key is None else (chosen or track_key)

    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    first_step = min((enc.tick_to_step(n.start_tick, ppq) for n in kept), default=a_step)
    first_step = min(max(first_step, a_step - MAX_PRIME_STEPS), a_step)
    # the network reads SUFFIX_STEPS after the gap; the motif memory hears all of it
    end_step = b_step + (max(SUFFIX_STEPS, enc.ceil_step(track.end_tick, ppq) - b_step)
                         if settings.memory else SUFFIX_STEPS)
    end_step = min(end_step, b_step + G.MAX_STEPS)
    cut_tick, end_cut = enc.step_to_tick(first_step, ppq), enc.step_to_tick(end_step, ppq)
    window = [n for n in kept if n.end_tick > cut_tick and n.start_tick < end_cut]
    try:
        encoded = enc.encode_seed(window, ppq, key=track_key, start_step=first_step,
                                  end_step=end_step)
    except EncodingError as e:
        raise GenerationError(f"the track cannot be used: {e}") from None
    messages = enc.seed_messages(encoded)
    transpose = encoded.transpose
    tokens = encoded.tokens
    prefix = enc.trim_prime(tokens[: a_step - first_step])
    suffix = tokens[b_step - first_step:]
    prompt = enc.fill_prompt(prefix, suffix, steps)
    if inside:
        messages.append(f"{len(inside)} note{'s' if len(inside) != 1 else ''} in the gap "
                        f"will be replaced.")
    if not after:
        messages.append("Nothing follows the gap, so the fill hears only what comes before.")

    allowed = G.allowed_tokens(model, settings, lock_key,
                               None if lock_key is None else lock_key.scale_pitch_classes,
                               transpose)
    rows = k * CANDIDATES  # every variation is drawn from CANDIDATES candidates
    head = max(0, steps - BRANCH_STEPS)  # the steps before the candidates part
    first_rows = k if head else rows
    first_allowed = enc.first_step_allowed(
        prompt, np.broadcast_to(allowed, (first_rows, enc.vocab_size)))
    receptive = model.info.receptive_field_steps
    if receptive is not None and len(prompt) > receptive:
        prompt = prompt[-receptive:]

    # the motif memory has heard the music after the gap, then the music before it
    # (up to the track's end: not the rests that pad the network's window after it)
    heard = suffix[:max(0, enc.ceil_step(track.end_tick, ppq) - b_step)]
    # (at their own steps: the memory's contexts know where in the beat they fall)
    mixer = MemoryMixer(enc.vocab_size, first_rows, prefix,
                        mixing_for(model.name).in_metre(song, enc.steps_per_quarter),
                        heard=heard, steps=steps, start_step=a_step,
                        heard_step=b_step) if settings.memory else None

    rng = np.random.default_rng(int(settings.rng_seed))
    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    stepper = IncrementalRunner(model, prompt, first_rows)
    try:
        out = np.empty((rows, 0), dtype=np.int64)
        if head:  # each variation's first steps, then its CANDIDATES rows part
            first, _ = sample_loop(stepper, head, k, None, first_allowed,
                                      np.broadcast_to(allowed, (k, enc.vocab_size)),
                                      settings, rng, _part(progress, 0, steps),
                                      is_cancelled, False, mixer)
            stepper.branch(first[:, -1].astype(np.int32), CANDIDATES)
            if mixer is not None:
                mixer.repeat_rows(CANDIDATES)
            out = np.repeat(first, CANDIDATES, axis=0)
            first_allowed = np.broadcast_to(allowed, (rows, enc.vocab_size))
        last, _ = sample_loop(stepper, steps - head, rows, None, first_allowed,
                                 np.broadcast_to(allowed, (rows, enc.vocab_size)), settings,
                                 rng, _part(progress, head, steps), is_cancelled, False, mixer)
        out = np.concatenate([out, last], axis=1)
        out = _resample(stepper, out, k, enc.suffix_window(suffix))
    finally:
        stepper.close()

    velocities = Velocities(song, kept, enc)
    channel = kept[0].channel if kept else track.channel
    variations = [enc.decode(row.tolist(), ppq, transpose, a_step, velocity=velocities.at,
                             channel=channel) for row in out]
    end_cap = end_tick
    variations = [[n if n.end_tick <= end_cap else
                   Note(n.pitch, n.start_tick, max(1, end_cap - n.start_tick), n.velocity,
                        n.channel)
                   for n in v if n.start_tick < end_cap] for v in variations]
    return GenerationResult(
        variations=variations, start_tick=enc.step_to_tick(a_step, ppq),
        key=lock_key or track_key, messages=messages, model=model.name, steps=steps,
        tokens=out.tolist())


def _part(progress: Callable[[int, int], None] | None, done: int, total: int):
    """The progress of a part of the steps that starts after ``done`` of ``total``."""
    if progress is None:
        return None
    return lambda i, _: progress(done + i, total)


def _resample(stepper, out: np.ndarray, k: int, suffix: Sequence[int]) -> np.ndarray:
    """``k`` rows of ``out`` (``k`` groups of :data:`CANDIDATES` candidates), one per
    group: the one after which the model finds the suffix's first steps, up to its
    first note, likeliest (``stepper`` is the sampling one, after the gap's last
    step)."""
    groups = out.shape[0] // k
    if groups <= 1:
        return out
    enc = stepper.model.encoding
    tail = [int(t) for t in suffix[:SUFFIX_STEPS]]
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


def score_gap(model, tokens: Sequence[int], start: int, end: int,
              both_sides: bool | None = None, memory: bool = False
              ) -> tuple[float, int, int]:
    """Bits of a melody's tokens ``[start, end)`` (the gap) under ``model``: given both
    sides as a fill prompt (a fill model, or ``both_sides``), else given only the tokens
    before the gap.  With ``memory``, the motif memory is mixed in as when filling: it
    has heard all the music after the gap (given both sides), then the music before it.
    Returns (bits, tokens scored, notes among them)."""
    enc = model.encoding
    tokens = [int(t) for t in tokens]
    start, end = max(0, int(start)), min(len(tokens), int(end))
    if both_sides is None:
        both_sides = fills_melody(model)
    if end <= start:
        return 0.0, 0, 0
    if both_sides:
        seq, first = enc.fill_example(tokens, start, end)
    else:
        start = max(start, 1)  # the very first token is given, as in ``score``
        if end <= start:
            return 0.0, 0, 0
        seq, first = tokens[:end], start
    seq = np.asarray(seq, dtype=np.int64)
    logits = model.sequence_logits(seq[None, :-1])[0].astype(np.float64)
    targets = seq[first:]
    rows = logits[first - 1:]
    if memory:
        mixer = MemoryMixer(enc.vocab_size, 1, tokens[:start], mixing_for(model.name),
                            heard=tokens[end:] if both_sides else (), start_step=start,
                            heard_step=end)
        log_p = np.empty_like(rows)
        for i, target in enumerate(targets):
            log_p[i] = np.log(np.maximum(mixer.probabilities(rows[i:i + 1])[0], 1e-300))
            mixer.update([int(target)])
        nats = -log_p[np.arange(len(targets)), targets]
    else:
        nats = -token_log_probs(rows, targets)
    return float(nats.sum() / np.log(2.0)), len(targets), enc.count_onsets(targets)


def gap_steps(song: Song, tokens_start_step: int, start_tick: int, end_tick: int,
              enc) -> tuple[int, int]:
    """A gap in ticks as indices into a tune's tokens that start at
    ``tokens_start_step``."""
    return (enc.tick_to_step(start_tick, song.ppq) - tokens_start_step,
            enc.tick_to_step(end_tick, song.ppq) - tokens_start_step)

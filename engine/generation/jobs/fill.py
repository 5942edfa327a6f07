"""The fill of a melody's gap: a model trained to fill (its card lists the job) reads
the first bars after the gap, then the bars before it, then writes exactly the gap's
steps (:mod:`engine.generation.fill` says what a gap is and what is kept).

Every variation is the likeliest of CANDIDATES candidates to go on with the music after
the gap; the candidates of a variation share its steps up to the last BRANCH_STEPS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from engine.encodings import FILL, Key, estimate_song_key
from engine.errors import EncodingError, GenerationError
from engine.generation import mixers
from engine.generation.constraints import StepContext
from engine.generation.constraints.chords import StrictChords, follows
from engine.generation.constraints.key import ChordKeyLock
from engine.generation.mixers.chords import melody_chords
from engine.generation.mixers.control import control_mixers
from engine.generation.fill import (BRANCH_STEPS, CANDIDATES, bar_of, bar_steps_at,
                                    check_fill_model, check_gap_has_steps, check_gap_in_song,
                                    check_gap_steps, fill_start_step, progress_from, resample,
                                    split_at_gap)
from engine.generation.generator import allowed_tokens
from engine.generation.jobs import register
from engine.generation.sampling import (MAX_PRIME_STEPS, GenerationCancelled, GenerationResult,
                                        IncrementalRunner, Velocities, sample_loop)
from engine.limits import MAX_STEPS
from engine.song import Note, Song, melody_track


@register(FILL)
def fill_a_melody(library, song, request, model, *, progress=None, is_cancelled=None):
    start_tick, end_tick = request.gap
    return fill_melody(model, song, request.settings, start_tick=start_tick,
                       end_tick=end_tick, track_index=request.track, progress=progress,
                       is_cancelled=is_cancelled)


@dataclass
class FillPrompt:
    """What the model and the motif memory hear of the music around the gap."""

    prompt: list[int]
    prefix: list[int]
    suffix: list[int]
    transpose: int
    messages: list[str]


def fill_track(song: Song, track_index: int | None):
    """The track to fill (default the melody track), refused when there is none or it
    is empty."""
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
    return track


def read_gap(model, song: Song, kept: list[Note], track, settings, key: Key, a_step: int,
             b_step: int, steps: int) -> FillPrompt:
    """The fill prompt: the track's notes around the gap (the last MAX_PRIME_STEPS before
    it; after it, what the network reads, or with the motif memory on the rest of the
    track), moved into C major / A minor from ``key``."""
    enc, ppq = model.encoding, song.ppq
    first_step = min((enc.tick_to_step(n.start_tick, ppq) for n in kept), default=a_step)
    first_step = min(max(first_step, a_step - MAX_PRIME_STEPS), a_step)
    # the network reads the encoding's suffix_steps after the gap; the motif memory hears
    # all of it
    end_step = b_step + (max(enc.suffix_steps, enc.ceil_step(track.end_tick, ppq) - b_step)
                         if settings.memory else enc.suffix_steps)
    end_step = min(end_step, b_step + MAX_STEPS)
    cut_tick, end_cut = enc.step_to_tick(first_step, ppq), enc.step_to_tick(end_step, ppq)
    window = [n for n in kept if n.end_tick > cut_tick and n.start_tick < end_cut]
    try:
        encoded = enc.encode_seed(window, ppq, key=key, start_step=first_step,
                                  end_step=end_step)
    except EncodingError as e:
        raise GenerationError(f"the track cannot be used: {e}") from None
    tokens = encoded.tokens
    prefix = enc.trim_prime(tokens[: a_step - first_step])
    suffix = tokens[b_step - first_step:]
    return FillPrompt(enc.fill_prompt(prefix, suffix, steps), prefix, suffix,
                      encoded.transpose, enc.seed_messages(encoded))


def fill_melody(model, song: Song, settings, *, start_tick: int, end_tick: int,
                track_index: int | None = None,
                progress: Callable[[int, int], None] | None = None,
                is_cancelled: Callable[[], bool] | None = None) -> GenerationResult:
    """Fill the gap ``[start_tick, end_tick)`` of one melody (the fill job for a melody
    model; :func:`engine.generation.fill.fill` says what the arguments mean)."""
    check_fill_model(model)
    enc = model.encoding
    ppq = song.ppq
    track = fill_track(song, track_index)
    a_step, b_step = enc.tick_to_step(start_tick, ppq), enc.tick_to_step(end_tick, ppq)
    check_gap_has_steps(song, start_tick, end_tick, b_step - a_step)
    check_gap_in_song(song, start_tick, track.end_tick, "the track's")
    before, inside, after = split_at_gap(track.notes, start_tick, end_tick)
    # the fill begins where what sounds into the gap ends: on the first beat after it,
    # as a continuation starts (engine.generation.generator.continuation_start_tick)
    a_step = max(a_step, fill_start_step(enc, song, before, start_tick, end_tick))
    steps = b_step - a_step
    if steps < 1:
        raise GenerationError(f"a note that starts before the gap sounds through all of it "
                              f"(bar {bar_of(song, start_tick)}): there is no room to fill; "
                              f"shorten that note or choose a longer range")
    check_gap_steps(steps)
    kept = before + after
    chosen = None if settings.key in (None, "auto") else Key.parse(settings.key)
    track_key = estimate_song_key(kept) if kept else (chosen or Key(0, False))
    lock_key = None if settings.key is None else (chosen or track_key)

    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    p = read_gap(model, song, kept, track, settings, track_key, a_step, b_step, steps)
    messages = p.messages
    if inside:
        messages.append(f"{len(inside)} note{'s' if len(inside) != 1 else ''} in the gap "
                        f"will be replaced.")
    if not after:
        messages.append("Nothing follows the gap, so the fill hears only what comes before.")
    scale = None if lock_key is None else lock_key.scale_pitch_classes
    # followed chords: a chord's tones outside the key lock are allowed on its own span
    chord_key = ChordKeyLock.for_melody(StepContext(model, settings, lock_key, scale,
                                                    p.transpose), song, a_step, steps)
    allowed = allowed_tokens(model, settings, lock_key,
                             scale if chord_key is None else chord_key.scale, p.transpose)
    # the motif memory has heard the music after the gap, then the music before it
    # (up to the track's end: not the rests that pad the network's window after it),
    # at their own steps: the memory's contexts know where in the beat they fall
    heard = p.suffix[:max(0, enc.ceil_step(track.end_tick, ppq) - b_step)]
    # and counts the bars a phrase comes back after (its phrase copy)
    memory = dict(heard=heard, steps=steps, start_step=a_step, heard_step=b_step,
                  bar_steps=bar_steps_at(song, start_tick, enc))
    out = _sample(model, song, settings, p, allowed, steps, memory, progress, is_cancelled,
                  [chord_key] if chord_key is not None else [])

    velocities = Velocities(song, kept, enc, settings.dynamics)
    channel = kept[0].channel if kept else track.channel
    variations = [enc.decode(row.tolist(), ppq, p.transpose, a_step, velocity=velocities.at,
                             channel=channel) for row in out]
    variations = [[n if n.end_tick <= end_tick else
                   Note(n.pitch, n.start_tick, max(1, end_tick - n.start_tick), n.velocity,
                        n.channel)
                   for n in v if n.start_tick < end_tick] for v in variations]
    return GenerationResult(
        variations=variations, start_tick=enc.step_to_tick(a_step, ppq),
        key=lock_key or track_key, messages=messages, model=model.name, steps=steps,
        tokens=out.tolist())


def _sample(model, song, settings, p: FillPrompt, allowed, steps: int, memory: dict,
            progress, is_cancelled, extra: list) -> np.ndarray:
    """Each variation's first steps, then CANDIDATES rows of it for the last
    BRANCH_STEPS, and the likeliest candidate of each; ``extra``: the constraints the
    caller adds (the key lock under followed chords)."""
    enc = model.encoding
    k = int(settings.variations)
    rows = k * CANDIDATES  # every variation is drawn from CANDIDATES candidates
    head = max(0, steps - BRANCH_STEPS)  # the steps before the candidates part
    first_rows = k if head else rows
    prompt = p.prompt
    first_allowed = enc.first_step_allowed(
        prompt, np.broadcast_to(allowed, (first_rows, enc.vocab_size)))
    receptive = model.info.receptive_field_steps
    if receptive is not None and len(prompt) > receptive:
        prompt = prompt[-receptive:]
    context = mixers.MixContext(model, settings, first_rows, p.prefix, song,
                                memory_options=memory, is_cancelled=is_cancelled,
                                start_step=memory["start_step"])
    mixer = mixers.chain((["memory"] if settings.memory else []) + list(settings.mixers)
                         + control_mixers(settings), context)
    # follow chords: loose a mixer after the others, strict a constraint
    mixer = melody_chords(mixer, context, steps, p.transpose)
    strict = StrictChords.for_melody(
        StepContext(model, settings, transpose=p.transpose, rows=first_rows), song,
        memory["start_step"], steps, p.prefix) if follows(settings, "strict") else None
    extra = extra + ([strict] if strict is not None else [])
    rng = np.random.default_rng(int(settings.rng_seed))
    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    stepper = IncrementalRunner(model, prompt, first_rows)
    try:
        out = np.empty((rows, 0), dtype=np.int64)
        if head:  # each variation's first steps, then its CANDIDATES rows part
            first, _ = sample_loop(stepper, head, k, None, first_allowed,
                                   np.broadcast_to(allowed, (k, enc.vocab_size)),
                                   settings, rng, progress_from(progress, 0, steps),
                                   is_cancelled, False, mixer, constraints=extra)
            stepper.branch(first[:, -1].astype(np.int32), CANDIDATES)
            if mixer is not None:
                mixer.repeat_rows(CANDIDATES)
            for c in extra:
                c.advance(head)
                c.repeat_rows(CANDIDATES)
            out = np.repeat(first, CANDIDATES, axis=0)
            first_allowed = np.broadcast_to(allowed, (rows, enc.vocab_size))
        last, _ = sample_loop(stepper, steps - head, rows, None, first_allowed,
                              np.broadcast_to(allowed, (rows, enc.vocab_size)), settings,
                              rng, progress_from(progress, head, steps), is_cancelled,
                              False, mixer, constraints=extra)
        out = np.concatenate([out, last], axis=1)
        return resample(stepper, out, k, enc.suffix_window(p.suffix))
    finally:
        stepper.close()

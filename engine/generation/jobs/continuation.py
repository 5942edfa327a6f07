"""The continuation of a melody: the seed's melody track (or the request's track) goes
on from the first beat after it, in its key and register.

The seed is encoded once (its last MAX_PRIME_STEPS steps) and run once through the
model; the key lock and the pitch range narrow every step
(:mod:`engine.generation.constraints`), the motif memory and a style reshape it
(:mod:`engine.generation.mixers`), and :func:`engine.generation.sampling.sample_loop`
draws the steps for every variation together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.encodings import CONTINUE, Key, estimate_song_key
from engine.encodings.keys import KeyEstimate
from engine.errors import EncodingError, GenerationError
from engine.generation import constraints, mixers
from engine.generation.generator import allowed_tokens, first_new_step, seed_notes
from engine.generation.jobs import register
from engine.generation.keychoice import choose_key
from engine.generation.constraints.chords import StrictChords, follows
from engine.generation.constraints.key import ChordKeyLock
from engine.generation.mixers.chords import melody_chords
from engine.generation.mixers.control import control_mixers
from engine.generation.sampling import (MAX_PRIME_STEPS, GenerationCancelled, GenerationResult,
                                        IncrementalRunner, NaiveRunner, Velocities,
                                        sample_loop, steps_for)
from engine.song import Note, Song


@register(CONTINUE)
def continue_a_melody(library, song, request, model, *, progress=None, is_cancelled=None,
                      method: str = "incremental", record_logits: bool = False):
    return continue_melody(model, song, request.settings, track_index=request.track,
                           start_tick=request.start_tick, progress=progress,
                           is_cancelled=is_cancelled, method=method,
                           record_logits=record_logits)


@dataclass
class SeedReading:
    """A seed as the continuation hears it: its notes and channel, the key it is moved
    from (``seed_key``) and the one the lock uses, the model's key estimate (auto or no
    lock), the tokens the model is primed with and the transposition into its key."""

    notes: list[Note]
    channel: int
    seed_key: Key
    lock_key: Key | None
    estimate: KeyEstimate | None = None
    prime: list[int] = field(default_factory=list)
    transpose: int = 0
    messages: list[str] = field(default_factory=list)

    def scale(self, settings) -> list[int] | None:
        """The pitch classes the key lock allows (None: no lock)."""
        if self.lock_key is None:
            return None
        if self.estimate is not None and settings.key == "auto":
            return self.estimate.allowed
        return self.lock_key.scale_pitch_classes


def read_melody_seed(model, notes: list[Note], channel: int, ppq: int, start_step: int,
                     settings, is_cancelled: Callable[[], bool] | None) -> SeedReading:
    """The seed's ``notes`` before ``start_step``, keyed and encoded for ``model``: the
    seed is moved into C major / A minor by its key (the model's own estimate, unless a
    key is chosen), and the lock uses the chosen key, or with auto the estimate."""
    enc = model.encoding
    chosen = None if settings.key in (None, "auto") else Key.parse(settings.key)
    seed_key = estimate_song_key(notes) if notes else (chosen or Key(0, False))
    lock_key = None if settings.key is None else (chosen or seed_key)
    s = SeedReading(notes, channel, seed_key, lock_key)
    if not notes:
        s.transpose = seed_key.shift_to_c
        return s
    first_step = min(enc.tick_to_step(n.start_tick, ppq) for n in notes)
    first_step = max(first_step, start_step - MAX_PRIME_STEPS)
    # only what sounds inside the primed window is encoded: a 10,000-note seed
    # otherwise spends most of a cancel's latency quantizing notes never used
    cut_tick = enc.step_to_tick(first_step, ppq)
    window_notes = [n for n in notes if n.end_tick > cut_tick]
    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    if settings.key in ("auto", None):
        # the model's key moves the seed into C major / A minor; auto also locks it
        if window_notes:
            s.estimate = choose_key(model, window_notes, ppq, first_step, start_step)
        else:  # a final rest longer than the window: the key of the notes themselves
            s.estimate = choose_key(model, notes, ppq,
                                    min(enc.tick_to_step(n.start_tick, ppq) for n in notes),
                                    enc.ceil_step(max(n.end_tick for n in notes), ppq))
        s.seed_key = s.estimate.key
    if settings.key == "auto":
        s.lock_key = s.seed_key
        s.messages.append(f"Key lock: {s.estimate.key.name if s.estimate.locks else 'none'} "
                          f"({s.estimate.reason}).")
    try:
        encoded = enc.encode_seed(window_notes, ppq, key=s.seed_key, start_step=first_step,
                                  end_step=start_step)
    except EncodingError as e:
        raise GenerationError(f"the seed cannot be used: {e}") from None
    s.messages += enc.seed_messages(encoded)
    if not window_notes:
        s.messages.append(f"The seed ends with a rest (to its end of track) longer than "
                          f"the {MAX_PRIME_STEPS} steps the model hears, so the model hears "
                          f"silence before the continuation.")
    elif first_step > min(enc.tick_to_step(n.start_tick, ppq) for n in notes):
        s.messages.append(f"The seed is long; its last {MAX_PRIME_STEPS} steps were used.")
    s.transpose = encoded.transpose
    s.prime = enc.trim_prime(encoded.tokens)
    return s


def continue_melody(model, seed: Song | None, settings, *, track_index: int | None = None,
                    start_tick: int | None = None,
                    progress: Callable[[int, int], None] | None = None,
                    is_cancelled: Callable[[], bool] | None = None,
                    method: str = "incremental",
                    record_logits: bool = False) -> GenerationResult:
    """Continue one melody of ``seed`` (the continue job for a melody model;
    :func:`engine.generation.generator.generate` says what the arguments mean)."""
    enc = model.encoding
    song = seed if seed is not None else Song()
    ppq = song.ppq
    notes, channel = seed_notes(seed, track_index, start_tick)
    start_step = first_new_step(enc, max((n.end_tick for n in notes), default=0), start_tick,
                                ppq, song=song, notes=notes)
    gen_start_tick = enc.step_to_tick(start_step, ppq)
    steps = steps_for(settings, song, gen_start_tick, enc)
    k = int(settings.variations)
    s = read_melody_seed(model, notes, channel, ppq, start_step, settings, is_cancelled)
    messages, prime_tokens = s.messages, s.prime

    context = constraints.StepContext(model, settings, s.lock_key, s.scale(settings),
                                      s.transpose, k)
    extra = constraints.build(settings.constraints, context)
    # followed chords: a chord's tones outside the key lock are allowed on its own span
    chord_key = ChordKeyLock.for_melody(context, song, start_step, steps)
    scale = context.scale if chord_key is None else chord_key.scale
    extra += [chord_key] if chord_key is not None else []
    allowed = allowed_tokens(model, settings, s.lock_key, scale, s.transpose)
    if extra:
        allowed = allowed & constraints.combined(extra, enc)
    allowed = np.broadcast_to(allowed, (k, enc.vocab_size))

    forced_first = None
    if not prime_tokens:
        start_key = s.lock_key or s.seed_key
        forced_first = enc.start_token(9 if start_key.minor else 0, allowed[0])
        prime_tokens = [forced_first]
        messages.append(f"The seed {'is empty' if not notes else 'ends in silence'}, so "
                        f"the continuation starts on the tonic of {start_key.name}.")

    # what the seed leaves sounding may limit the first new step (a melody's note
    # still sounding at the boundary ends there)
    first_allowed = allowed if forced_first is not None else \
        enc.first_step_allowed(prime_tokens, allowed)
    if follows(settings, "strict"):  # the chord track: strong beats on chord tones
        strict = StrictChords.for_melody(context, song, start_step, steps, prime_tokens)
        extra = extra + ([strict] if strict is not None else [])
    # the motif memory hears the whole primed seed, whatever the network's window (its
    # contexts know where in the beat a step falls, in the song's metre); a style's
    # n-gram is chained after it
    mix_context = mixers.MixContext(model, settings, k, prime_tokens, song,
                                    is_cancelled=is_cancelled,
                                    start_step=start_step + (forced_first is not None))
    mixer = mixers.chain(melody_mixers(settings), mix_context)
    mixer = melody_chords(mixer, mix_context, steps, s.transpose)  # follow chords, loose
    out, recorded = _sample(model, prime_tokens, steps, k, forced_first, first_allowed,
                            allowed, settings, progress, is_cancelled, method,
                            record_logits, mixer, extra)

    velocities = Velocities(song, notes, enc, settings.dynamics)
    variations = [enc.decode(row.tolist(), ppq, s.transpose, start_step,
                             velocity=velocities.at, channel=channel) for row in out]
    return GenerationResult(
        variations=variations, start_tick=gen_start_tick, key=s.lock_key or s.seed_key,
        messages=messages, model=model.name, steps=steps, tokens=out.tolist(),
        logits=np.stack(recorded, axis=1) if recorded else None,
        key_lock="" if s.estimate is None or settings.key != "auto"
        else s.estimate.key.name if s.estimate.locks else "none",
    )


def melody_mixers(settings) -> list[str]:
    """The mixers a melody job chains, in order: the motif memory when it is on, the
    style when there is one, the ones the settings name, then the steering controls
    that are not at 0."""
    return ((["memory"] if settings.memory else [])
            + (["style"] if settings.style is not None else []) + list(settings.mixers)
            + control_mixers(settings))


def _sample(model, prime_tokens, steps, k, forced_first, first_allowed, allowed, settings,
            progress, is_cancelled, method, record_logits, mixer, extra):
    # a WaveNet's next step depends on its receptive field only: priming with more is
    # wasted work (and gives the same logits, see the tests)
    window = model.info.receptive_field_steps
    if window is not None and len(prime_tokens) > window:
        prime_tokens = prime_tokens[-window:]
    rng = np.random.default_rng(int(settings.rng_seed))
    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    runner = IncrementalRunner if method == "incremental" else NaiveRunner
    stepper = runner(model, prime_tokens, k)
    try:
        return sample_loop(stepper, steps, k, forced_first, first_allowed, allowed, settings,
                           rng, progress, is_cancelled, record_logits, mixer,
                           constraints=extra)
    finally:
        stepper.close()

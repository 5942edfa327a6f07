"""Continuing a seed with a model: incremental sampling, variations, key lock.

The generator never knows which tokens it drives: the model card's encoding
(:mod:`engine.encodings`) turns the seed into tokens (a melody encoding takes its top
line, moved into C major / A minor and into the model's range), gives the masks the
sampler needs and turns new tokens back into notes.  The seed is encoded once and run
once through the model: one call of the sequence graph, which
also returns the LSTM's (h, c) states or the WaveNet's queues holding the whole seed
(or, for a card without those outputs, one step-model call per seed token).  From then
on each new step is one step-model call for all variations together (a batch of
``variations`` rows), never a re-run over a window: that is what makes a continuation
feel instant.

Sampling: logits -> key and range mask -> temperature (0 = the most likely token) ->
top-p (nucleus) -> one draw per variation from an explicit ``numpy.random.Generator``
(Gumbel-max without top-p, the inverse CDF with it), so the same seed and settings
always give the same notes.

The new notes are put back into the seed's key and register, on the seed's grid, with
velocities that follow the seed's (its median velocity and its accents by position in
the bar).  Nothing here knows about Qt: the GUI passes ``progress`` and
``is_cancelled`` callables and runs :func:`generate` in a worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from engine.encodings import PARTS, Encoding, Key, capabilities_of, estimate_song_key
from engine.errors import EncodingError, GenerationError
from engine.generation.keychoice import choose_key
from engine.generation.memory import MemoryMixer, mixing_for
from engine.generation.sampling import (DEFAULT_VELOCITY, MAX_PRIME_STEPS, GenerationCancelled,
                                        GenerationResult, IncrementalRunner, NaiveRunner,
                                        Velocities, sample_loop, steps_for)
from engine.models import ModelLibrary, StepModel
from engine.song import Note, Song, TimeSignature, melody_track

MAX_BARS = 32
MAX_STEPS = 2048
MAX_VARIATIONS = 8
MAX_TEMPERATURE = 2.0


@dataclass
class GenerationSettings:
    """What the user chose; :meth:`validate` says in a sentence what is out of range."""

    model: str = "lstm"
    temperature: float = 1.0  # 0 (always the most likely note) .. 2 (wild)
    top_p: float = 1.0  # 0 < p <= 1: sample only from the most likely tokens covering p
    bars: int = 4  # 1 .. 32
    steps: int | None = None  # overrides bars when given
    variations: int = 1  # 1 .. 8, generated together
    rng_seed: int = 0
    key: str | None = "auto"  # "auto": the seed's key; None: no key lock; or "C", "Am", ...
    min_pitch: int | None = None
    max_pitch: int | None = None
    memory: bool = True  # the motif memory (engine.generation.memory) mixed in
    # a style (engine.generation.style) mixed in: a folder of music or a saved style's JSON
    style: str | None = None

    def validate(self) -> None:
        def number(value, what: str) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise GenerationError(f"{what} must be a number, not {value!r}")
            return float(value)

        def whole(value, what: str) -> int:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise GenerationError(f"{what} must be a whole number, not {value!r}")
            return int(value)

        if not isinstance(self.model, str) or not self.model:
            raise GenerationError("choose a model to generate with")
        t = number(self.temperature, "the temperature")
        if not 0.0 <= t <= MAX_TEMPERATURE:
            raise GenerationError(f"the temperature must be between 0 and {MAX_TEMPERATURE:g}, "
                                  f"not {self.temperature:g}")
        p = number(self.top_p, "top-p")
        if not 0.0 < p <= 1.0:
            raise GenerationError(f"top-p must be above 0 and at most 1, not {self.top_p:g}")
        if self.steps is None:
            bars = whole(self.bars, "the number of bars")
            if not 1 <= bars <= MAX_BARS:
                raise GenerationError(f"the number of bars must be between 1 and {MAX_BARS}, "
                                      f"not {bars}")
        else:
            steps = whole(self.steps, "the number of steps")
            if not 1 <= steps <= MAX_STEPS:
                raise GenerationError(f"the number of steps must be between 1 and "
                                      f"{MAX_STEPS}, not {steps}")
        k = whole(self.variations, "the number of variations")
        if not 1 <= k <= MAX_VARIATIONS:
            raise GenerationError(f"the number of variations must be between 1 and "
                                  f"{MAX_VARIATIONS}, not {k}")
        seed = whole(self.rng_seed, "the random seed")
        if seed < 0:
            raise GenerationError(f"the random seed must be zero or more, not {seed}")
        if self.key is not None and self.key != "auto":
            if not isinstance(self.key, str):
                raise GenerationError(f"the key must be a name such as C or Am, not {self.key!r}")
            try:
                Key.parse(self.key)
            except EncodingError as e:
                raise GenerationError(str(e)) from None
        for value, what in ((self.min_pitch, "the lowest pitch"),
                            (self.max_pitch, "the highest pitch")):
            if value is not None and not 0 <= whole(value, what) <= 127:
                raise GenerationError(f"{what} must be a MIDI note number 0-127, not {value}")
        if not isinstance(self.memory, bool):
            raise GenerationError(f"the motif memory is on or off, not {self.memory!r}")
        if self.style is not None and (not isinstance(self.style, str) or not self.style):
            raise GenerationError(f"a style is a folder of music or a saved style, "
                                  f"not {self.style!r}")
        if (self.min_pitch is not None and self.max_pitch is not None
                and self.min_pitch > self.max_pitch):
            raise GenerationError(f"the lowest pitch ({self.min_pitch}) is above the highest "
                                  f"({self.max_pitch})")


# ---------------------------------------------------------------------------------------
# the two ways of getting logits step by step
# ---------------------------------------------------------------------------------------


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


def _seed_notes(seed: Song | None, track_index: int | None,
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
    (``scale``, none when None) and the settings' pitch range, moved by ``transpose``.
    A GenerationError when it leaves no note to play."""
    enc = model.encoding
    pcs = None if scale is None else {(pc + transpose) % 12 for pc in scale}
    lo = None if settings.min_pitch is None else settings.min_pitch + transpose
    hi = None if settings.max_pitch is None else settings.max_pitch + transpose
    allowed = enc.allowed_tokens(pcs, lo, hi)
    if not (allowed & enc.onset_mask).any():
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
    :func:`continuation_start_tick`) with ``settings``.

    ``method="naive"`` re-runs the sequence model over the window at every step; it
    gives the same notes and exists for the tests and the benchmark.
    ``progress(done, total)`` is called after each step; ``is_cancelled()`` is checked
    before each step and raises :class:`GenerationCancelled`.
    """
    settings.validate()
    if method not in ("incremental", "naive"):
        raise ValueError(f"unknown generation method {method!r}")
    model = library.get(settings.model)
    enc = model.encoding
    if PARTS in capabilities_of(model):  # a polyphonic model continues every part
        if settings.style is not None:
            raise GenerationError(f"a style joins a melody model; {model.name} continues "
                                  f"every part at once")
        from engine.generation.polyphony import generate_polyphony

        return generate_polyphony(library, seed, settings, start_tick=start_tick,
                                  progress=progress, is_cancelled=is_cancelled, method=method)
    song = seed if seed is not None else Song()
    ppq = song.ppq
    messages: list[str] = []

    notes, channel = _seed_notes(seed, track_index, start_tick)
    start_step = first_new_step(enc, max((n.end_tick for n in notes), default=0), start_tick,
                                ppq, song=song, notes=notes)
    gen_start_tick = enc.step_to_tick(start_step, ppq)
    steps = steps_for(settings, song, gen_start_tick, enc)
    k = int(settings.variations)

    # keys: the seed is moved to C major / A minor by its own key; the lock uses the
    # chosen key, mapped into that same space
    chosen = None if settings.key in (None, "auto") else Key.parse(settings.key)
    seed_key = estimate_song_key(notes) if notes else (chosen or Key(0, False))
    lock_key = None if settings.key is None else (chosen or seed_key)
    estimate = None  # the model's own key of the seed (engine.generation.keychoice)

    if notes:
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
                estimate = choose_key(model, window_notes, ppq, first_step, start_step)
            else:  # a final rest longer than the window: the key of the notes themselves
                estimate = choose_key(model, notes, ppq,
                                      min(enc.tick_to_step(n.start_tick, ppq) for n in notes),
                                      enc.ceil_step(max(n.end_tick for n in notes), ppq))
            seed_key = estimate.key
        if settings.key == "auto":
            lock_key = seed_key
            messages.append(f"Key lock: {estimate.key.name if estimate.locks else 'none'} "
                            f"({estimate.reason}).")
        try:
            encoded = enc.encode_seed(window_notes, ppq, key=seed_key, start_step=first_step,
                                      end_step=start_step)
        except EncodingError as e:
            raise GenerationError(f"the seed cannot be used: {e}") from None
        messages += enc.seed_messages(encoded)
        if not window_notes:
            messages.append(f"The seed ends with a rest (to its end of track) longer than "
                            f"the {MAX_PRIME_STEPS} steps the model hears, so the model hears "
                            f"silence before the continuation.")
        elif first_step > min(enc.tick_to_step(n.start_tick, ppq) for n in notes):
            messages.append(f"The seed is long; its last {MAX_PRIME_STEPS} steps were used.")
        transpose = encoded.transpose
        prime_tokens = enc.trim_prime(encoded.tokens)
    else:
        prime_tokens = []
        transpose = seed_key.shift_to_c

    scale = None
    if lock_key is not None:
        scale = estimate.allowed if estimate is not None and settings.key == "auto" \
            else lock_key.scale_pitch_classes
    allowed = np.broadcast_to(allowed_tokens(model, settings, lock_key, scale, transpose),
                              (k, enc.vocab_size))

    forced_first = None
    if not prime_tokens:
        start_key = lock_key or seed_key
        forced_first = enc.start_token(9 if start_key.minor else 0, allowed[0])
        prime_tokens = [forced_first]
        messages.append(f"The seed {'is empty' if not notes else 'ends in silence'}, so "
                        f"the continuation starts on the tonic of {start_key.name}.")

    # what the seed leaves sounding may limit the first new step (a melody's note
    # still sounding at the boundary ends there)
    first_allowed = allowed if forced_first is not None else \
        enc.first_step_allowed(prime_tokens, allowed)
    # the motif memory hears the whole primed seed, whatever the network's window
    # (its contexts know where in the beat a step falls, in the song's metre)
    mixer = MemoryMixer(enc.vocab_size, k, prime_tokens,
                        mixing_for(model.name).in_metre(song, enc.steps_per_quarter)) \
        if settings.memory else None
    if settings.style is not None:  # the style's n-gram, chained after the memory
        mixer = _style_mixer(settings.style, model, k, prime_tokens, mixer, is_cancelled)
    # a WaveNet's next step depends on its receptive field only: priming with more is
    # wasted work (and gives the same logits, see the tests)
    window = model.info.receptive_field_steps
    if window is not None and len(prime_tokens) > window:
        prime_tokens = prime_tokens[-window:]

    rng = np.random.default_rng(int(settings.rng_seed))
    if is_cancelled is not None and is_cancelled():
        raise GenerationCancelled("generation was cancelled")
    stepper = (IncrementalRunner if method == "incremental" else NaiveRunner)(model, prime_tokens, k)
    try:
        out, recorded = sample_loop(stepper, steps, k, forced_first, first_allowed, allowed,
                                     settings, rng, progress, is_cancelled, record_logits,
                                     mixer)
    finally:
        stepper.close()

    velocities = Velocities(song, notes, enc)
    variations = [enc.decode(row.tolist(), ppq, transpose, start_step, velocity=velocities.at,
                             channel=channel) for row in out]
    return GenerationResult(
        variations=variations, start_tick=gen_start_tick, key=lock_key or seed_key,
        messages=messages, model=model.name, steps=steps, tokens=out.tolist(),
        logits=np.stack(recorded, axis=1) if recorded else None,
        key_lock="" if estimate is None or settings.key != "auto"
        else estimate.key.name if estimate.locks else "none",
    )


def _style_mixer(where: str, model: StepModel, k: int, prime_tokens: Sequence[int],
                 memory: MemoryMixer | None, is_cancelled):
    from engine.errors import Cancelled
    from engine.generation.style import StyleMixer, resolve_style

    try:
        style = resolve_style(where, model.encoding, is_cancelled)
        return StyleMixer(style, model, k, prime_tokens, memory)
    except Cancelled:
        raise GenerationCancelled("generation was cancelled") from None


# the old private names, until every importer uses engine.generation.sampling's
_Incremental = IncrementalRunner
_Naive = NaiveRunner
_Velocities = Velocities
_steps_for = steps_for
_sample_loop = sample_loop

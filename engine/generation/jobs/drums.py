"""Drums: Add Drums (a new drum track for a whole song), the drum track continued with
every other part, a song of drums only continued, and a gap on a drum track filled.

A drum model (encoding ``drums-12th``, :mod:`engine.encodings.drums`) writes one token a
step on a grid of twelve steps a quarter, so it runs in lockstep with any other music:
at each step it hears its style id, where the step lies in its bar and whether the
bass and the other pitched parts start a note there (``onsets``).  Each variation's
drums hear that variation's own new notes, so the pitched parts are written first,
exactly as without drums (byte for byte), and the drums then follow them step by step.

Three seams carry it (:mod:`engine.generation.jobs`): the drums job (``"drums"``) and
the :func:`~engine.generation.jobs.route` that claims a fill on a drum track and a
continuation of a song whose only music is drums, whatever model the request names;
and the :func:`~engine.generation.jobs.follower` that continues a song's drum track
after a pitched model's continuation, into the result's ``drums`` (per variation) on
``drum_track``.

Style ``"auto"`` for drums that go on is the style under which the model finds the
seed's last bars of drums likeliest; for Add Drums it reads the song
(:func:`auto_style`): 3/4 is a waltz, a compound metre
a ballad, 2/4 a march, a triplet feel in the pitched parts a swing (a shuffle when
slow), anything else in 4/4 rock (a ballad when slow).  Notes on a drum track outside
the General MIDI percussion map are kept where they are and reported, never dropped.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from engine.encodings import CONTINUE, FILL, Key
from engine.encodings.drums import (AUTO_STYLE, DRUM_CHANNEL, POSITION_QUARTERS,
                                    POSITION_STEPS, REST, STEPS_PER_QUARTER, STYLES,
                                    DrumContext, DrumEncoding, bar_lines, is_drum_track,
                                    onsets_per_step, positions_at, style_id,
                                    unmapped_notes)
from engine.errors import EncodingError, GenerationError
from engine.generation.drum_memory import (GROOVE_BARS, SeedGroove, drum_memory,
                                          seed_groove)
from engine.generation.drum_steps import DrumStepMix, conditioning_steps
from engine.generation.drum_style import places, style_prior
from engine.generation.jobs import follower, register, route
from engine.generation.mixers.drum_controls import (LEAPS_LEFT, drum_controls,
                                                  drum_steering, drum_velocities,
                                                  groove_nats, refuse_leaps)
from engine.generation.request import DRUMS, GenerationRequest, bar_of, checked_gap
from engine.generation.sampler import Sampler, token_log_probs
from engine.generation.sampling import (MAX_PRIME_STEPS, GenerationCancelled,
                                        GenerationResult)
from engine.song import Note, Song, Track

#: the drum models a song gets when the request names none, best first
DRUM_DEFAULTS = ("drums", "drums-lstm", "drums-tiny")
DRUM_TRACK_NAME = "Drums"
#: the longest song Add Drums writes for, in bars (a 4/4 bar is 48 steps)
MAX_DRUM_BARS = 400
#: drum tracks continued at once, each its own generation: a kit split over a track per
#: piece fits; a file with hundreds of them keeps the rest as they are, and says so
MAX_DRUM_TRACKS = 16
#: past this many drum tracks with notes off the GM map (or that stay as they are), one
#: sentence says it for them all
UNMAPPED_SAID_PER_TRACK = 3
#: the metres whose grooves the drum models learnt; others are written, and said
KNOWN_METRES = {(4, 4), (2, 4), (2, 2), (3, 4), (6, 8), (12, 8), (9, 8), (3, 8)}
#: a fill keeps, per variation, the likeliest of this many candidates to lead into the
#: drums after the gap (its first bar, as the model hears it)
FILL_CANDIDATES = 4
#: "auto" for drums that go on: the style heard in at most this many steps before
SEED_STYLE_STEPS = 192
#: nats added to the token each row played a bar before, in Add Drums and fills (drums
#: that go on keep the seed's groove instead: drum_memory.seed_groove).  bench/drums.py
#: chose it, for drums that went on, on
#: the 40 held-out grooves: new bars repeating an earlier bar 0.00 / 0.01 / 0.10 / 0.32
#: / 0.43 / 0.55 at 0 / 2 / 3.5 / 5 / 6 / 7 nats, the real next bars 0.49; at 6 every
#: piece's position histogram is within 1.11x the noise floor (the hi-hat 4.4x at 0)
#: and kick / bass agreement 0.41 (real 0.41)
GROOVE_MEMORY = 6.0
#: the same with the motif memory mixed in (settings.memory, the default), which keeps
#: the groove by itself: at 6 nats on top of it 0.97 of the new bars repeated an earlier
#: one (real 0.49).  With the memory, bench/drums.py --memory on read repeats of 0.19 /
#: 0.43 / 0.71 at 0 / 1 / 2 nats on the held-out grooves (real 0.49) and 0.17 / 0.35 /
#: 0.58 on the external drum tracks (real 0.50)
GROOVE_MEMORY_WITH_MEMORY = 1.5
#: drums that go on read the seed's groove from its last GROOVE_BARS bars, from the first
#: that shares at least this share of its hits (Jaccard, loudness left out) with the last
#: bar: a count-in, an intro or another section before it is not the groove (mma's
#: pflib songs open with two bars of sticks, 0.00-0.05 alike their groove; bars of one
#: groove varied at random, as mma's swing, jazz and blues, are 0.19-0.95 alike)
GROOVE_ALIKE = 0.1
#: where the seed's bars in that window never repeat an earlier one, nothing says they
#: make a cycle of two or four bars: the groove weighs the seed's bars alike (recency 1)
#: and leans on the one-bar pattern (backoff 3, as many hits heard there as 3 of the
#: bar's own), so a new bar 3 does not copy the seed's bar 3.  With the four-bar cycle
#: (backoff 0.75, recency 0.5) a bar drawn step by step was mostly the seed's bar at
#: the same place of the cycle, and drums that went on after a seed of four different
#: bars repeated an earlier bar 0.27 of the time where the real next bars did 0.07
#: (the held-out grooves, bench/drums.py --memory on).  Chosen on the validation
#: grooves (backoff 3 / 1e6 and recency 1 / 0.5: repeats 0.727 / 0.713 / 0.723 / 0.721,
#: real 0.733; after a seed of four different bars 0.11 / 0.04 / 0.09 / 0.08, real 0.14)
UNCYCLED_BACKOFF = 3.0
UNCYCLED_RECENCY = 1.0
#: "auto" styles heard in seeds' drums kept per drum model, the latest first: Generate
#: again on the same song (new variations, another length) does not weigh every style
#: over the same bars again (27 styles over 4 bars: ~23 ms of CPU).  The benches that
#: time a generation again and again forget them first (clear_seed_styles): a cold cache
SEED_STYLES_KEPT = 16
SLOW_BPM = 84  # below this a straight 4/4 song is a ballad, a triplet feel a shuffle
TRIPLET_SHARE = 0.25  # off-beat onsets on the triplet grid, of all off-beat onsets

__all__ = ["DRUM_DEFAULTS", "drum_model_names", "drum_model", "auto_style", "resolve_style",
           "add_drums", "continue_drums", "continue_drum_tracks", "DrumsWentOn",
           "fill_drums", "drum_tracks", "DrumPlan", "groove_bars", "clear_seed_styles",
           "sample_drums"]


# ---------------------------------------------------------------------------------------
# which model, which style
# ---------------------------------------------------------------------------------------
def _is_drum_card(info) -> bool:
    return isinstance(getattr(info, "encoding", None), DrumEncoding)


def drum_model_names(library) -> list[str]:
    """The installed drum models, the defaults first."""
    names = [n for n in library.names if _is_drum_card(library.info(n))]
    return [n for n in DRUM_DEFAULTS if n in names] + [n for n in names
                                                       if n not in DRUM_DEFAULTS]


def drum_model(library, name: str | None = None):
    """The drum model ``name`` (None, or a model that is not a drum model: the first
    installed of :data:`DRUM_DEFAULTS`, else any drum model); a sentence when none is
    installed."""
    if name is not None and name in library.names and _is_drum_card(library.info(name)):
        return library.get(name)
    found = drum_model_names(library)
    if not found:
        raise GenerationError("no drum model is installed (a card whose encoding is "
                              "drums-12th, such as models/drums.json)")
    return library.get(found[0])


def _triplet_feel(song: Song) -> bool:
    """Whether the pitched parts' off-beat onsets fall on the triplet grid (a swing or
    shuffle feel) more than TRIPLET_SHARE of the time."""
    ppq = song.ppq
    off = triplet = 0
    for t in song.tracks:
        if is_drum_track(t):
            continue
        for n in t.notes:
            pos = n.start_tick % ppq
            if pos == 0:
                continue
            off += 1
            third = ppq / 3
            if min(abs(pos - third), abs(pos - 2 * third)) <= ppq / 48 and \
                    abs(pos - ppq / 2) > ppq / 48:
                triplet += 1
    return off >= 4 and triplet >= TRIPLET_SHARE * off


def auto_style(song: Song) -> tuple[str, str]:
    """The style "auto" reads from ``song``'s metre and feel, and why (for the user)."""
    meter = song.meter_at(0)
    num, den = meter.numerator, meter.denominator
    bpm = song.tempo_map.bpm_at(0)
    if (num, den) in ((3, 4), (3, 8)):
        return _known("waltz"), f"{num}/{den}"
    if den == 8 and num in (6, 9, 12):
        return _known("ballad"), f"{num}/{den}, a compound metre"
    if (num, den) in ((2, 4), (2, 2)):
        return _known("march"), f"{num}/{den}"
    if (num, den) != (4, 4):
        return AUTO_STYLE, f"{num}/{den}, a metre no style family is written in"
    if _triplet_feel(song):
        if bpm < SLOW_BPM:
            return _known("shuffle"), f"a triplet feel at {bpm:.0f} bpm"
        return _known("swing"), f"a triplet feel at {bpm:.0f} bpm"
    if bpm < SLOW_BPM:
        return _known("ballad"), f"4/4, straight, at {bpm:.0f} bpm"
    return _known("rock"), f"4/4, straight, at {bpm:.0f} bpm"


def _known(name: str) -> str:
    return name if name in STYLES else AUTO_STYLE


def resolve_style(song: Song, name: str) -> tuple[int, str, str]:
    """(style id, style name, a sentence for the user) for ``name`` ("auto": read from
    ``song``); a GenerationError naming the styles when there is no such style."""
    if name.strip().lower() == "auto":
        style, why = auto_style(song)
        return style_id(style), style, f"Drum style {style} (auto: {why})."
    try:
        sid = style_id(name)
    except EncodingError as e:
        raise GenerationError(f"{e} (or auto)") from None
    return sid, STYLES[sid], f"Drum style {STYLES[sid]}."


def _seed_style(model, song: Song, name: str, prime: Sequence[int],
                start: int) -> tuple[int, str]:
    """(style id, sentence) for drums that go on from ``prime`` (the drum tokens before
    grid step ``start``): a named style as it is; "auto" with at least a bar of drums,
    the style under which the model finds the seed's last bars (up to SEED_STYLE_STEPS)
    likeliest, so the groove goes on as it was; else the song's metre and feel."""
    enc: DrumEncoding = model.encoding
    heard = list(prime[-SEED_STYLE_STEPS:])
    if name.strip().lower() != "auto" or len(heard) < 48 or not any(heard):
        sid, _, said = resolve_style(song, name)
        return sid, said
    bars, last = _song_bars(song, enc.step_to_tick(start, song.ppq) + 1)
    onsets = onsets_per_step(song.tracks, song.ppq, start + 1)
    tokens = np.asarray(heard, dtype=np.int64)
    key = _seed_style_key(tokens, start, bars, last, onsets)
    best = _kept_style(model, key)
    if best is None:
        best = _weigh_styles(model, tokens, start, bars, last, onsets)
        _keep_style(model, key, best)
    return best, (f"Drum style {STYLES[best]} (auto: the style the drum model hears in "
                  f"the drums before).")


def _weigh_styles(model, tokens: np.ndarray, start: int, bars: list[int], last: int,
                  onsets: np.ndarray) -> int:
    """The style id under which ``model`` finds ``tokens`` (the drums before grid step
    ``start``) likeliest."""
    enc: DrumEncoding = model.encoding
    # every style at once, one row each ("other", 0, is no style to go on in): the
    # context's style a column, which the style input broadcasts over the batch, so the
    # conditioning is worked out once and the sequence graph runs once
    styles = np.arange(1, len(STYLES))
    enc.context = DrumContext(origin=start - len(tokens), style=styles[:, None], bars=bars,
                              bar_steps=last, onsets=onsets)
    logits = model.sequence_logits(np.tile(tokens[:-1], (len(styles), 1)))
    bits = [-float(token_log_probs(row.astype(np.float64), tokens[1:]).sum()) for row in logits]
    return int(styles[int(np.argmin(bits))])  # the first of equals, as one by one


_seed_styles: "weakref.WeakKeyDictionary[Any, OrderedDict[bytes, int]]" = \
    weakref.WeakKeyDictionary()
_seed_styles_lock = threading.Lock()


def _seed_style_key(tokens: np.ndarray, start: int, bars: Sequence[int], last: int,
                    onsets: np.ndarray) -> bytes:
    """A digest of everything the styles are weighed on: the drums heard, where they
    lie, the bar lines and the other parts' onsets over them."""
    origin = start - len(tokens)
    h = hashlib.blake2b(digest_size=20)
    h.update(np.asarray([origin, start, last, len(bars)], np.int64).tobytes())
    h.update(np.asarray(bars, np.int64).tobytes())
    h.update(np.ascontiguousarray(tokens, np.int64).tobytes())
    h.update(np.ascontiguousarray(onsets[max(0, origin):start + 1]).tobytes())
    return h.digest()


def _kept_style(model, key: bytes) -> int | None:
    with _seed_styles_lock:
        try:
            kept = _seed_styles.get(model)
        except TypeError:  # a model that cannot be weakly referenced: nothing kept
            return None
        if kept is None or key not in kept:
            return None
        kept.move_to_end(key)
        return kept[key]


def _keep_style(model, key: bytes, style: int) -> None:
    with _seed_styles_lock:
        try:
            kept = _seed_styles.setdefault(model, OrderedDict())
        except TypeError:
            return
        kept[key] = style
        while len(kept) > SEED_STYLES_KEPT:
            kept.popitem(last=False)


def clear_seed_styles() -> None:
    """Forget the styles heard in seeds (a bench times the weighing with it: a cold
    cache, as the first Generate of a song)."""
    with _seed_styles_lock:
        _seed_styles.clear()


def _metre_message(song: Song) -> list[str]:
    meters = {(m.numerator, m.denominator) for m in song.time_signatures} or {(4, 4)}
    odd = sorted(meters - KNOWN_METRES)
    if not odd:
        return []
    names = ", ".join(f"{n}/{d}" for n, d in odd)
    return [f"The drum model learnt grooves in 4/4, 3/4, 2/4 and compound metres; the "
            f"song's {names} bars were drummed beat by beat on that bar length, "
            f"which may not groove the way the metre asks."]


# ---------------------------------------------------------------------------------------
# the song's drums
# ---------------------------------------------------------------------------------------
def drum_tracks(song: Song | None) -> list[int]:
    """The song's drum tracks that hold notes."""
    if song is None:
        return []
    return [i for i, t in enumerate(song.tracks) if is_drum_track(t) and t.notes]


def _pitched(song: Song | None) -> list[int]:
    if song is None:
        return []
    return [i for i, t in enumerate(song.tracks) if t.notes and not is_drum_track(t)]


def _track_label(song: Song, i: int) -> str:
    name = song.tracks[i].name
    return f"track {i + 1}" + (f" '{name}'" if name else "")


def _unmapped_message(song: Song, tracks: Sequence[int]) -> list[str]:
    """A sentence per drum track with notes outside the GM percussion map; one sentence
    for them all where more than :data:`UNMAPPED_SAID_PER_TRACK` tracks have them."""
    odd = {i: unmapped_notes(song.tracks[i].notes) for i in tracks}
    odd = {i: notes for i, notes in odd.items() if notes}
    if not odd:
        return []

    def sentence(notes: Sequence[Note], where: str) -> str:
        pitches = sorted({n.pitch for n in notes})
        return (f"{len(notes)} note{'s' if len(notes) > 1 else ''} {where} "
                f"{'are' if len(notes) > 1 else 'is'} not in the General MIDI percussion "
                f"map (notes {', '.join(map(str, pitches[:8]))}"
                f"{' ...' if len(pitches) > 8 else ''}): they are kept as they are, but the "
                f"drum model does not hear them.")

    if len(odd) > UNMAPPED_SAID_PER_TRACK:
        return [sentence([n for notes in odd.values() for n in notes],
                         f"on {len(odd)} drum tracks")]
    return [sentence(notes, f"of the drum track ({_track_label(song, i)})")
            for i, notes in odd.items()]


# ---------------------------------------------------------------------------------------
# the step loop
# ---------------------------------------------------------------------------------------
@dataclass
class DrumPlan:
    """One drum generation: the model, the grid step where the new drums start and how
    many steps, the seed's drum tokens before it (from ``start - len(prime)``), the style
    id, the song's bar lines, and each row's other-part onsets ([rows, steps, 2] over the
    new steps and a fill's junction after them; the seed's onsets in ``seed_onsets``,
    from grid step 0)."""

    model: object
    start: int
    steps: int
    prime: list[int]
    style: int
    bars: list[int]
    bar_steps: int
    onsets: np.ndarray
    seed_onsets: np.ndarray
    #: drums that go on: the seed's groove kept at every new step (drum_memory.seed_groove)
    groove: SeedGroove | None = None
    #: the steering controls' mixers (engine/generation/mixers/drum_controls.py), or None
    steering: Any = None
    #: the style prior's addition to the network's log-probabilities at each place of
    #: the bar ([PLACES, vocab], engine/generation/drum_style.py), or None
    prior: np.ndarray | None = None

    def conditioning(self, at: int) -> dict:
        """The inputs for the step ``at`` (grid step) about to be written, per row."""
        return self.conditionings(at, 1)[0]

    def conditionings(self, first: int, count: int) -> list[dict]:
        """:meth:`conditioning` for the steps ``first`` .. ``first + count - 1``, worked
        out at once (a step's inputs are views of arrays made here)."""
        rows = self.onsets.shape[0]
        style = np.full((rows, 1), self.style, np.int32)
        positions = positions_at(first, count, self.bars, self.bar_steps)
        onsets = np.zeros((rows, count, 2), np.float32)
        a, b = max(0, first - self.start), min(self.onsets.shape[1], first - self.start + count)
        if a < b:
            onsets[:, a - (first - self.start):b - (first - self.start)] = self.onsets[:, a:b]
        return [{"style": style, "position": positions[i:i + 1], "onsets": onsets[:, i]}
                for i in range(count)]


def _primed(plan: DrumPlan, rows: int):
    """The model primed with the seed's drums (or, with none, a rest on the step before
    the start), for ``rows`` rows: (logits, state)."""
    model, enc = plan.model, plan.model.encoding
    prime = plan.prime or [REST]
    origin = plan.start - len(prime)
    enc.context = DrumContext(origin=origin, style=plan.style, bars=plan.bars,
                              bar_steps=plan.bar_steps, onsets=plan.seed_onsets)
    window = model.info.receptive_field_steps
    if window is not None and len(prime) > window:
        enc.context.origin = plan.start - window
        prime = prime[-window:]
    logits, state = model.prime(prime, rows)
    return logits, state


def sample_drums(plan: DrumPlan, settings, rng: np.random.Generator,
                 progress: Callable[[int, int], None] | None = None,
                 is_cancelled: Callable[[], bool] | None = None,
                 junction: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Tokens [rows, steps] for every row of ``plan.onsets``, one model call a step;
    then, with a ``junction`` (the drum tokens after a gap), each row's log-probability
    of it (zeros without one)."""
    model = plan.model
    rows = plan.onsets.shape[0]
    logits, state = _primed(plan, rows)
    sampler = Sampler(settings.temperature, settings.top_p, rng)
    mask = Sampler.mask(np.ones(model.encoding.vocab_size, bool))
    out = np.empty((rows, plan.steps), dtype=np.int64)
    logp = np.zeros(rows)
    total = plan.steps + len(junction)
    # the motif memory (settings.memory): the seed's drums and a fill's drums after it
    memory = drum_memory(model, settings, rows, plan.prime, plan.start, plan.steps,
                         plan.bars, plan.bar_steps, junction, plan.start + plan.steps)
    nats = groove_nats(settings, GROOVE_MEMORY if memory is None
                       else GROOVE_MEMORY_WITH_MEMORY)
    where = None if plan.prior is None else \
        places(positions_at(plan.start, plan.steps, plan.bars, plan.bar_steps))
    # the seed's groove, bar by bar: each new bar one of the seed's bars, varied
    groove = None if plan.groove is None else plan.groove.take(rng)
    # each step: the memory, the style prior, the seed's groove (or the groove memory's
    # nats), the controls and the draw, in as few numpy calls as the arithmetic allows
    # (the same tokens: tests/engine/test_drum_steps.py)
    mix = DrumStepMix(sampler, mask, rows, plan.steps, memory=memory, prior=plan.prior,
                      where=where, groove=groove, start=plan.start, prime=plan.prime,
                      bar_steps=plan.bar_steps, nats=nats, steering=plan.steering)
    # the network's inputs over every step worked out at once, fed row by row
    varying, constant = conditioning_steps(plan, plan.start + 1, max(0, total - 1))
    try:
        step = model.stepper(state, max(0, total - 1), varying, constant)
        for i in range(total):
            if is_cancelled is not None and is_cancelled():
                raise GenerationCancelled("generation was cancelled")
            if i < plan.steps:
                tokens = mix(logits, i, out)
                if tokens is None:
                    raise GenerationError(f"the model {model.name} computed invalid numbers "
                                          f"(NaN or infinity) at step {i + 1}; its weights "
                                          f"are probably damaged")
                out[:, i] = tokens
                if memory is not None:
                    memory.update(tokens)
            else:
                tokens = np.full(rows, junction[i - plan.steps], dtype=np.int64)
                logp += token_log_probs(logits.astype(np.float64), tokens)
            if progress is not None and i < plan.steps:
                progress(i + 1, plan.steps)
            if i + 1 < total:
                logits = step(tokens)
    finally:
        model.release(state)
    return out, logp


# ---------------------------------------------------------------------------------------
# the plans
# ---------------------------------------------------------------------------------------
def _song_bars(song: Song, until_tick: int) -> tuple[list[int], int]:
    return bar_lines(song, max(1, until_tick))


def _drum_seed(enc: DrumEncoding, song: Song, drums: Sequence[int], start: int,
               messages: list[str]) -> list[int]:
    """The drum tokens before grid step ``start`` (at most MAX_PRIME_STEPS of them)."""
    ppq = song.ppq
    notes = [n for i in drums for n in song.tracks[i].notes
             if enc.tick_to_step(n.start_tick, ppq) < start]
    if not notes:
        return []
    first = max(0, start - MAX_PRIME_STEPS,
                min(enc.tick_to_step(n.start_tick, ppq) for n in notes))
    bars, _ = _song_bars(song, enc.step_to_tick(start, ppq))
    first = max([b for b in bars if b <= first], default=first)  # from a bar line
    encoded = enc.encode_steps(notes, ppq, first, start)
    messages += [m for m in encoded.report.messages(quantization=False)
                 if "General MIDI percussion map" not in m]
    return list(encoded.tokens)


def _decode(enc: DrumEncoding, row: np.ndarray, start: int, ppq: int,
            dynamics: int = 0, until: int | None = None) -> list[Note]:
    """One row's hits as drum notes, their velocities moved by the dynamics control;
    with ``until`` (a tick), none starts at or after it and none rings past it."""
    notes = drum_velocities(enc.decode(row.tolist(), ppq, start_step=start,
                                       channel=DRUM_CHANNEL), dynamics)
    if until is None:
        return notes
    return [n if n.end_tick <= until else
            Note(n.pitch, n.start_tick, until - n.start_tick, n.velocity, n.channel)
            for n in notes if n.start_tick < until]


def _rows_onsets(song: Song, extra: Sequence[Sequence[Note]] | None, start: int,
                 steps: int) -> np.ndarray:
    """[rows, steps, 2]: the pitched parts' onsets over the new steps, one row per
    variation of ``extra`` new pitched notes (one row of the song alone when None)."""
    pitched = [t for t in song.tracks if t.notes and not is_drum_track(t)]
    rows = []
    for new in (extra if extra is not None else [[]]):
        tracks = pitched
        if new:
            tracks = pitched + [Track(name="new", notes=sorted(new, key=Note.sort_key))] \
                if not pitched else _with_notes(pitched, new)
        rows.append(onsets_per_step(tracks, song.ppq, steps, start_step=start))
    return np.stack(rows)


def _with_notes(pitched: list[Track], new: Sequence[Note]) -> list[Track]:
    """The pitched tracks with new notes each added to the track on its channel (the
    first track otherwise): the bass stays the bass."""
    by_channel = {t.channel: i for i, t in reversed(list(enumerate(pitched)))}
    added: dict[int, list[Note]] = {}
    for n in new:
        added.setdefault(by_channel.get(n.channel, 0), []).append(n)
    return [Track(name=t.name, channel=t.channel, program=t.program,
                  notes=list(t.notes) + added.get(i, [])) for i, t in enumerate(pitched)]


def _plan(model, song: Song, start: int, steps: int, prime: list[int], style: int,
          onsets: np.ndarray) -> DrumPlan:
    ppq = song.ppq
    enc = model.encoding
    end_tick = enc.step_to_tick(start + steps, ppq) + 1
    bars, last = _song_bars(song, end_tick)
    seed = onsets_per_step([t for t in song.tracks], ppq, start + 1)
    return DrumPlan(model, start, steps, prime, style, bars, last, onsets, seed)


# ---------------------------------------------------------------------------------------
# the jobs
# ---------------------------------------------------------------------------------------
def add_drums(library, song: Song | None, request: GenerationRequest, *,
              progress=None, is_cancelled=None) -> GenerationResult:
    """Add Drums: a new drum track for the whole of ``song``, in the request's style,
    each variation hearing the song's parts step by step."""
    settings = request.settings
    refuse_leaps(settings, "Add Drums")
    if song is None or not any(t.notes for t in song.tracks):
        raise GenerationError("there is no music to add drums to: the song is empty")
    if not _pitched(song):
        names = ", ".join(_track_label(song, i) for i in drum_tracks(song))
        raise GenerationError(f"the song has only drums ({names}); Add Drums writes drums "
                              f"to go with other parts: use Generate to continue the drums")
    model = drum_model(library, settings.model)
    enc: DrumEncoding = model.encoding
    ppq = song.ppq
    sid, style, said = resolve_style(song, request.drum_style)
    messages = [said] + _metre_message(song)
    end_tick = max(n.end_tick for i in _pitched(song) for n in song.tracks[i].notes)
    bars, _ = _song_bars(song, end_tick)
    start = bars[0] if bars else 0
    last_bar = max(b for b in bars if enc.step_to_tick(b, ppq) < end_tick)
    end = last_bar + _bar_length(song, enc, last_bar)
    if len(bars) > MAX_DRUM_BARS:
        raise GenerationError(f"the song has {len(bars)} bars; Add Drums writes at most "
                              f"{MAX_DRUM_BARS} at once")
    steps = end - start
    k = int(settings.variations)
    onsets = np.repeat(_rows_onsets(song, None, start, steps), k, axis=0)
    plan = _plan(model, song, start, steps, [], sid, onsets)
    plan.steering = drum_steering(model, drum_controls(settings), song, start, len(onsets),
                                  settings, plan.prime, plan.bar_steps)
    plan.prior = style_prior(enc, sid)
    rng = np.random.default_rng(int(settings.rng_seed))
    out, _ = sample_drums(plan, settings, rng, progress, is_cancelled)
    new_track = len(song.tracks)
    # the drums end where the song ends (its end of track, or its last note's end): a
    # hit in the last steps rings no further, so the song gets no bar of its own
    variations = [_decode(enc, row, start, ppq, settings.dynamics, until=song.end_tick)
                  for row in out]
    if drum_tracks(song):
        messages.append(f"The song has a drum track already "
                        f"({', '.join(_track_label(song, i) for i in drum_tracks(song))}); "
                        f"the new drums are a track of their own beside it.")
    messages.append(f"Drums written for {len(bars)} bar{'s' if len(bars) != 1 else ''} "
                    f"(model {model.name}).")
    return GenerationResult(variations=variations, start_tick=enc.step_to_tick(start, ppq),
                            key=Key(0, False), messages=messages, model=model.name,
                            steps=steps, tokens=out.tolist(),
                            track_of=[[new_track] * len(v) for v in variations],
                            new_tracks=[DRUM_TRACK_NAME])


def _bar_length(song: Song, enc: DrumEncoding, bar_step: int) -> int:
    from engine.encodings.drums import bar_steps

    return bar_steps(song.meter_at(enc.step_to_tick(bar_step, song.ppq)))


def _continue_span(song: Song, settings, start_tick: int, enc: DrumEncoding) -> int:
    """Drum steps over what a pitched continuation of ``settings`` from ``start_tick``
    writes: its bars, or its sixteenth-note steps."""
    ppq = song.ppq
    if settings.steps is not None:
        return max(1, enc.tick_to_step(int(settings.steps) * ppq // 4, ppq))
    return enc.steps_for(int(settings.bars), song.ticks_per_bar_at(start_tick), ppq)


@dataclass
class DrumsWentOn:
    """A song's drum tracks continued: per variation every new drum note (in time
    order) and the track each goes on (``track_of``, as a result's), the tracks that
    went on, the drum model's name and the steps written."""

    notes: list[list[Note]]
    track_of: list[list[int]]
    tracks: list[int]
    model: str
    steps: int


def continue_drum_tracks(library, song: Song, settings, *, start_tick: int,
                         new_notes: Sequence[Sequence[Note]] | None,
                         style_name: str = "auto", progress=None, is_cancelled=None,
                         messages: list[str] | None = None) -> DrumsWentOn:
    """Every drum track of ``song`` continued from ``start_tick`` for the settings'
    length, each with its own groove (its own seed, controls and random stream; the
    style, one for the kit, heard in all of them together),
    one variation per list of ``new_notes`` (each variation's new pitched notes, which
    its drums hear; None: a song of drums only, ``settings.variations`` rows).  A drum
    track goes on where its seed holds a hit the drum model hears (the first one
    regardless when none does); all start on the same step, after the last drum hit of
    any of them."""
    model = drum_model(library, settings.model)
    enc: DrumEncoding = model.encoding
    ppq = song.ppq
    drums = drum_tracks(song) or [i for i, t in enumerate(song.tracks) if is_drum_track(t)]
    if not drums:
        raise GenerationError("the song has no drum track to continue")
    messages = messages if messages is not None else []
    start = enc.ceil_step(start_tick, ppq)
    end = start + _continue_span(song, settings, enc.step_to_tick(start, ppq), enc)
    # drums that already sound past the start are kept and heard: the new ones follow
    last = max((enc.tick_to_step(n.start_tick, ppq) for i in drums
                for n in song.tracks[i].notes), default=-1)
    start = max(start, min(end - 1, last + 1))
    steps = end - start
    messages += _unmapped_message(song, drums)
    heard: dict[int, list[str]] = {}
    primes: dict[int, list[int]] = {}
    going, silent = [], []
    for i in drums:
        if len(going) == MAX_DRUM_TRACKS or len(primes) == 4 * MAX_DRUM_TRACKS:
            break
        primes[i] = _drum_seed(enc, song, [i], start, heard.setdefault(i, []))
        (going if any(t != REST for t in primes[i]) else silent).append(i)
    going = going or drums[:1]
    silent = [i for i in silent if i not in going]
    if len(silent) > UNMAPPED_SAID_PER_TRACK:
        messages.append(f"{len(silent)} drum tracks stay as they are: the drum model hears "
                        f"none of their hits before the new bars.")
    else:
        messages += [f"{_said_of(song, i)} stays as it is: the drum model hears none of its "
                     f"hits before the new bars." for i in silent]
    if len(primes) < len(drums):
        rest = len(drums) - len(primes)
        messages.append(f"{rest} more drum track{'s stay' if rest > 1 else ' stays'} as "
                        f"{'they are' if rest > 1 else 'it is'}: Continuo continues at most "
                        f"{MAX_DRUM_TRACKS} drum tracks at once.")
    several = len(going) > 1
    for i in going:  # what the model could not hear, once a sentence
        for m in heard[i]:
            said = f"{_said_of(song, i)}: {m}" if several else m
            if said not in messages:
                messages.append(said)
    k = int(settings.variations) if new_notes is None else len(new_notes)
    onsets = _rows_onsets(song, new_notes, start, steps)
    if new_notes is None:
        onsets = np.repeat(onsets, k, axis=0)
    # one style for the whole kit: a kit split over tracks (kick and snare on one,
    # cymbals on another) is one groove, and each part alone sounds like another style
    # (a swing's kick and snare alone were heard as a waltz, its cymbals as latin)
    kit = primes[going[0]] if len(going) == 1 else _drum_seed(enc, song, going, start, [])
    sid, said = _seed_style(model, song, style_name, kit, start)
    per_track: list[list[list[Note]]] = []
    for n, i in enumerate(going):
        prime = primes[i]
        plan = _plan(model, song, start, steps, prime, sid, onsets)
        controls = drum_controls(settings, i)
        plan.steering = drum_steering(model, controls, song, start, len(onsets), settings,
                                      plan.prime, plan.bar_steps)
        plan.groove = _seed_groove(enc, prime, start, plan.bars, plan.bar_steps,
                                   bool(getattr(settings, "memory", False)))
        # the drums draw from their own random stream (the pitched parts' stay as they
        # were), each drum track from one of its own
        rng = np.random.default_rng([int(settings.rng_seed), 10] + ([n] if n else []))
        out, _ = sample_drums(plan, settings, rng, _track_progress(progress, n, len(going)),
                              is_cancelled)
        dynamics = controls.get("dynamics", 0)
        per_track.append([_decode(enc, row, start, ppq, dynamics) for row in out])
    messages.append(said)
    if len(going) == 1:
        return DrumsWentOn(per_track[0], [[going[0]] * len(row) for row in per_track[0]],
                           going, model.name, steps)
    notes, track_of = [], []
    for v in range(k):
        pairs = sorted(((note, i) for i, rows in zip(going, per_track) for note in rows[v]),
                       key=lambda p: Note.sort_key(p[0]))
        notes.append([note for note, _ in pairs])
        track_of.append([i for _, i in pairs])
    return DrumsWentOn(notes, track_of, going, model.name, steps)


def _seed_groove(enc: DrumEncoding, prime: Sequence[int], start: int, bars: Sequence[int],
                 bar_steps: int, memory: bool) -> SeedGroove | None:
    """The seed's groove for drums that go on (:func:`seed_groove`): read from its last
    bars alike the last one (:func:`groove_bars`); without the four-bar cycle where
    those bars never repeat (:data:`UNCYCLED_BACKOFF`, :data:`UNCYCLED_RECENCY`)."""
    hit_sets = _hit_sets(enc)
    n = groove_bars(enc, prime, bar_steps)
    groove = seed_groove(prime, start, bars, bar_steps, enc.vocab_size, memory=memory,
                         last_bars=n, hit_sets=hit_sets)
    if groove is not None and groove.whole == 0.0:
        groove = seed_groove(prime, start, bars, bar_steps, enc.vocab_size, memory=memory,
                             last_bars=n, hit_sets=hit_sets, backoff=UNCYCLED_BACKOFF,
                             recency=UNCYCLED_RECENCY)
    return groove


def groove_bars(enc: DrumEncoding, prime: Sequence[int], bar_steps: int,
                most: int = GROOVE_BARS) -> int:
    """How many of the seed's last ``most`` bars (of ``bar_steps`` steps, counted back
    from its last hit's bar, as :func:`seed_groove` reads them) hold its groove: from the
    first whose hits are at least :data:`GROOVE_ALIKE` alike (Jaccard) the last bar's;
    all of them where none is (the last bar is then the odd one: a fill, an ending)."""
    tokens = np.asarray(prime, dtype=np.int64)
    bar = max(1, int(bar_steps))
    end = len(tokens)
    while end > bar and not (tokens[end - bar:end] != REST).any():
        end -= bar  # a silence at the end: the groove is the bars before it
    count = max(1, min(int(most), -(-end // bar)))
    hits = enc.piece_levels[tokens[max(0, end - count * bar):end]] > 0
    chunks = [hits[max(0, len(hits) - (k + 1) * bar):len(hits) - k * bar]
              for k in range(count)][::-1]  # the oldest first
    last = chunks[-1]
    for k, chunk in enumerate(chunks[:-1]):
        if len(chunk) != len(last):
            return count - k  # a bar the seed holds only part of stays, and all after it
        union = int((chunk | last).sum())
        if union and (chunk & last).sum() / union >= GROOVE_ALIKE:
            return count - k  # from this bar on
    return count  # the last bar is like none before it (a fill, an ending): all of them


def _hit_sets(enc: DrumEncoding) -> np.ndarray:
    """Per token, a number for the set of pieces it strikes (its loudness left out)."""
    _, ids = np.unique(enc.piece_levels > 0, axis=0, return_inverse=True)
    return ids.reshape(-1)


def _said_of(song: Song, i: int) -> str:
    """A track's label opening a sentence."""
    label = _track_label(song, i)
    return label[:1].upper() + label[1:]


def _track_progress(progress, n: int, count: int):
    """``progress`` over ``count`` drum tracks, the ``n``-th one's steps reported as
    its share of the whole."""
    if progress is None or count == 1:
        return progress
    return lambda done, total: progress(n * total + done, count * total)


def continue_drums(library, song: Song, settings, *, start_tick: int,
                   new_notes: Sequence[Sequence[Note]] | None, style_name: str = "auto",
                   progress=None, is_cancelled=None,
                   messages: list[str] | None = None
                   ) -> tuple[list[list[Note]], int, str, int]:
    """:func:`continue_drum_tracks`, every drum track's new notes together: (per
    variation the new drum notes, the first drum track that went on, the model's name,
    the steps written)."""
    went = continue_drum_tracks(library, song, settings, start_tick=start_tick,
                                new_notes=new_notes, style_name=style_name,
                                progress=progress, is_cancelled=is_cancelled,
                                messages=messages)
    return went.notes, went.tracks[0], went.model, went.steps


def fill_drums(library, song: Song, request: GenerationRequest, *, progress=None,
               is_cancelled=None) -> GenerationResult:
    """The gap of a drum track filled by a drum model: it hears the drums before the
    gap and the other parts in it, and each variation is the likeliest of
    FILL_CANDIDATES to lead into the drums after the gap."""
    settings = request.settings
    refuse_leaps(settings, "a drum fill")
    model = drum_model(library, settings.model)
    enc: DrumEncoding = model.encoding
    ppq = song.ppq
    track = request.track if request.track is not None else drum_tracks(song)[0]
    start_tick, end_tick = checked_gap(song, *request.gap)
    start, end = enc.ceil_step(start_tick, ppq), enc.ceil_step(end_tick, ppq)
    if end <= start:
        raise GenerationError(f"the gap in bar {bar_of(song, start_tick)} is shorter than a "
                              f"step of the drum grid")
    messages: list[str] = []
    messages += _unmapped_message(song, [track])
    prime = _drum_seed(enc, song, [track], start, messages)
    sid, said = _seed_style(model, song, request.drum_style, prime, start)
    messages.append(said)
    after = [n for n in song.tracks[track].notes if n.start_tick >= end_tick]
    bars, last = _song_bars(song, end_tick + 1)
    junction = enc.encode_steps(after, ppq, end, end + last).tokens if after else []
    k = int(settings.variations)
    c = FILL_CANDIDATES if junction else 1
    # the other parts' onsets over the gap and the junction after it
    onsets = np.repeat(_rows_onsets(song, None, start, end - start + len(junction)), k * c,
                       axis=0)
    plan = _plan(model, song, start, end - start, prime, sid, onsets)
    controls = drum_controls(settings, track)
    plan.steering = drum_steering(model, controls, song, start, len(onsets), settings,
                                  plan.prime, plan.bar_steps)
    rng = np.random.default_rng(int(settings.rng_seed))
    out, logp = sample_drums(plan, settings, rng, progress, is_cancelled, junction)
    best = logp.reshape(k, c).argmax(axis=1) + np.arange(k) * c
    kept = [n for n in unmapped_notes(song.tracks[track].notes)
            if start_tick <= n.start_tick < end_tick]
    if kept:
        messages.append(f"{len(kept)} notes in the gap outside the percussion map were "
                        f"kept as they were.")
    channel = song.tracks[track].channel if is_drum_track(song.tracks[track]) else DRUM_CHANNEL
    variations = [sorted([Note(n.pitch, n.start_tick, n.duration_ticks, n.velocity, channel)
                          for n in _decode(enc, out[r], start, ppq,
                                         controls.get("dynamics", 0))
                          if n.start_tick < end_tick] + kept, key=Note.sort_key)
                  for r in best]
    messages.append(f"Filled the drums of bars {bar_of(song, start_tick)}-"
                    f"{bar_of(song, max(start_tick, end_tick - 1))} (model {model.name}).")
    return GenerationResult(variations=variations, start_tick=enc.step_to_tick(start, ppq),
                            key=Key(0, False), messages=messages, model=model.name,
                            steps=end - start, tokens=out[best].tolist())


# ---------------------------------------------------------------------------------------
# the seams
# ---------------------------------------------------------------------------------------
@register(DRUMS)
@register(DRUMS, parts=True)
def drums_job(library, song, request, model, *, progress=None, is_cancelled=None,
              **options):
    return add_drums(library, song, request, progress=progress, is_cancelled=is_cancelled)


def _drums_only_job(library, song, request, model, *, progress=None, is_cancelled=None,
                    **options):
    """A song of drums only goes on: its drums, continued by a drum model."""
    settings = request.settings
    refuse_leaps(settings, "a song of drums only")
    messages: list[str] = []
    start_tick = request.start_tick
    if start_tick is None:
        from engine.generation.generator import continuation_start_tick

        drums = drum_tracks(song)
        start_tick = continuation_start_tick(
            song, [n for i in drums for n in song.tracks[i].notes], max(1, song.ppq // 12))
    went = continue_drum_tracks(library, song, settings, start_tick=start_tick,
                                new_notes=None, style_name=request.drum_style,
                                progress=progress, is_cancelled=is_cancelled,
                                messages=messages)
    messages.append(f"The song has only drums; {_went_on(song, went.tracks)} "
                    f"(model {went.model}).")
    return GenerationResult(variations=went.notes, start_tick=start_tick, key=Key(0, False),
                            messages=messages, model=went.model, steps=went.steps,
                            track_of=went.track_of)


def _went_on(song: Song, tracks: Sequence[int], how: str = "") -> str:
    """"the drum track (track 3 'Drums') went on [how]", or of several tracks "the drum
    tracks (...) went on [how], each with its own groove"."""
    how = f" {how}" if how else ""
    if len(tracks) == 1:
        return f"the drum track ({_track_label(song, tracks[0])}) went on{how}"
    names = ", ".join(_track_label(song, i) for i in tracks)
    return f"the drum tracks ({names}) went on{how}, each with its own groove"


def _fill_job(library, song, request, model, *, progress=None, is_cancelled=None, **options):
    return fill_drums(library, song, request, progress=progress, is_cancelled=is_cancelled)


@route
def claim(request: GenerationRequest, song: Song | None):
    """The drum jobs, whatever model the request names: Add Drums; a fill on a drum
    track; a continuation of a song whose only music is drums."""
    if request.job == DRUMS:
        return drums_job
    if song is None or not drum_tracks(song):
        return None
    if request.job == FILL:
        t = request.track
        if t is not None and 0 <= t < len(song.tracks) and is_drum_track(song.tracks[t]):
            return _fill_job
        if t is None and not _pitched(song):
            return _fill_job
    if request.job == CONTINUE and not _pitched(song):
        return _drums_only_job
    return None


@follower
def drums_go_on(library, song: Song | None, request: GenerationRequest,
                result: GenerationResult, *, progress=None, is_cancelled=None):
    """After a pitched continuation: the song's drum tracks go on with it, each
    variation's drums hearing that variation's new notes (``result.drums``, onto
    ``result.drum_track``, or with several drum tracks each note onto its own,
    ``result.drum_track_of``).  Without a drum track or a drum model, the result as it
    is."""
    if request.job != CONTINUE or song is None or not drum_tracks(song) \
            or not drum_model_names(library) or not result.variations:
        return result
    from engine.generation.polyphony import drums_left_message

    left = drums_left_message(song)
    messages = [m for m in result.messages if m != left]
    went = continue_drum_tracks(library, song, _drum_settings(request),
                                start_tick=result.start_tick, new_notes=result.variations,
                                style_name=request.drum_style, progress=progress,
                                is_cancelled=is_cancelled, messages=messages)
    said = _went_on(song, went.tracks, "with the other parts")
    messages.append(f"{said[:1].upper()}{said[1:]} (model {went.model}).")
    if request.settings.leaps:
        messages.append(LEAPS_LEFT)
    result.messages = messages
    result.drums = went.notes
    result.drum_track = went.tracks[0]
    # several drum tracks: each note's own (None: all on drum_track)
    result.drum_track_of = went.track_of if len(went.tracks) > 1 else None
    return result


def _drum_settings(request: GenerationRequest):
    """The request's settings with the model left to the drums (the request's model
    writes the pitched parts)."""
    import dataclasses

    return dataclasses.replace(request.settings, model="")

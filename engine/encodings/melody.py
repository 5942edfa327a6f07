"""The melody encoding shared by training and generation.

Magenta-style melody events on a sixteenth-note grid: one token per step,

* ``HOLD`` (0): nothing happens; the sounding note (or the rest) goes on,
* ``NOTE_OFF`` (1): the sounding note stops and a rest begins,
* ``NOTE_ON(p)`` (2 + p - min_pitch): a note of pitch ``p`` starts (ending any other),

over a stated pitch range.  Before encoding, a melody is reduced to one line (the top
note wins), quantized to the grid, and transposed to C major / A minor; decoding puts
it back into the original key.  Training (``training/``) and generation
(``engine/generation/``) both use this one object, through the :class:`Encoding`
interface, so the two cannot drift apart.  No other module imports the token constants
below: they reach tokens through the interface.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from engine.encodings.base import Encoded, Encoding, EncodingReport, register
from engine.encodings.keys import Key, estimate_song_key
from engine.errors import EncodingError
from engine.song import Note, Song, melody_track

ENCODING_NAME = "melody-16th"
ENCODING_VERSION = 1

HOLD = 0
NOTE_OFF = 1
FIRST_NOTE_ON = 2

# ---------------------------------------------------------------------------------------
# Grid melodies
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class GridNote:
    """A note on the step grid, [start_step, end_step): of a melody's line, or one of a
    polyphonic encoding's sounding notes."""

    start_step: int
    end_step: int
    pitch: int
    velocity: int = 100


def quantize_to_grid(enc: Encoding, notes: Sequence[Note], ppq: int, shift: int = 0
                     ) -> tuple[list[GridNote], float, int]:
    """``notes`` on ``enc``'s step grid as grid notes (still polyphonic), each pitch moved
    by ``shift``; the largest error in ticks (to 6 places), and how many notes shorter
    than a step were lengthened to one step."""
    grid, max_err, lengthened = [], 0.0, 0
    for n in notes:
        s = enc.tick_to_step(n.start_tick, ppq)
        e = enc.tick_to_step(n.end_tick, ppq)
        max_err = max(max_err, abs(s * ppq / enc.steps_per_quarter - n.start_tick),
                      abs(e * ppq / enc.steps_per_quarter - n.end_tick))
        if e <= s:
            e, lengthened = s + 1, lengthened + 1
        grid.append(GridNote(s, e, n.pitch + shift, n.velocity))
    return grid, round(max_err, 6), lengthened


@register
class MelodyEncoding(Encoding):
    """Melody events on a grid of ``steps_per_quarter`` steps per quarter note."""

    name = ENCODING_NAME
    version = ENCODING_VERSION

    def __init__(self, min_pitch: int = 48, max_pitch: int = 83,
                 steps_per_quarter: int = 4) -> None:
        if not 0 <= min_pitch <= max_pitch <= 127:
            raise EncodingError(f"pitch range {min_pitch}-{max_pitch} is not inside 0-127")
        if max_pitch - min_pitch < 11:
            raise EncodingError("the pitch range must span at least an octave")
        self.min_pitch = min_pitch
        self.max_pitch = max_pitch
        self.steps_per_quarter = steps_per_quarter
        onsets = np.zeros(self.vocab_size, dtype=bool)
        onsets[FIRST_NOTE_ON:] = True
        self._onsets = onsets

    # ---- vocabulary ----------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return FIRST_NOTE_ON + self.max_pitch - self.min_pitch + 1

    def note_on(self, pitch: int) -> int:
        if not self.min_pitch <= pitch <= self.max_pitch:
            raise EncodingError(f"pitch {pitch} is outside the encoding's range "
                                f"{self.min_pitch}-{self.max_pitch}")
        return FIRST_NOTE_ON + pitch - self.min_pitch

    def token_pitch(self, token: int) -> int | None:
        return self.min_pitch + token - FIRST_NOTE_ON if token >= FIRST_NOTE_ON else None

    def token_names(self) -> list[str]:
        return ["HOLD", "NOTE_OFF"] + [f"NOTE_ON({p})"
                                       for p in range(self.min_pitch, self.max_pitch + 1)]

    def allowed_tokens(self, pitch_classes: Iterable[int] | None = None,
                       min_pitch: int | None = None, max_pitch: int | None = None) -> np.ndarray:
        """Boolean mask over the vocabulary: HOLD, NOTE_OFF and the NOTE_ONs whose
        pitch is in ``pitch_classes`` (all when None) and inside the given range."""
        mask = np.ones(self.vocab_size, dtype=bool)
        pcs = None if pitch_classes is None else set(pitch_classes)
        lo = self.min_pitch if min_pitch is None else min_pitch
        hi = self.max_pitch if max_pitch is None else max_pitch
        for p in range(self.min_pitch, self.max_pitch + 1):
            ok = lo <= p <= hi and (pcs is None or p % 12 in pcs)
            mask[self.note_on(p)] = ok
        return mask

    def card(self) -> dict:
        """The encoding as a model card quotes it."""
        return {"name": self.name, "version": self.version, "min_pitch": self.min_pitch,
                "max_pitch": self.max_pitch, "steps_per_quarter": self.steps_per_quarter,
                "vocab_size": self.vocab_size, "tokens": self.token_names(),
                "transposed_to": "C major / A minor"}

    @classmethod
    def from_card(cls, card: dict) -> "MelodyEncoding":
        return cls.checked_from_card(card, lambda c: cls(  # type: ignore[return-value]
            int(c["min_pitch"]), int(c["max_pitch"]), int(c["steps_per_quarter"])))

    @property
    def onset_mask(self) -> np.ndarray:
        return self._onsets

    # ---- notes -> grid --------------------------------------------------------------
    def quantize(self, notes: Sequence[Note], ppq: int) -> tuple[list[GridNote], float, int]:
        """Notes -> grid notes (still polyphonic), the largest error in ticks, and how
        many notes shorter than a step were lengthened to one step
        (:func:`quantize_to_grid`)."""
        return quantize_to_grid(self, notes, ppq)

    @staticmethod
    def top_line(grid: Iterable[GridNote]) -> tuple[list[GridNote], int]:
        """Reduce grid notes to one line: the highest note wins; a note is cut short
        when a higher one starts.  Returns the line and how many notes were dropped."""
        ordered = sorted(grid, key=lambda g: (g.start_step, -g.pitch, -g.end_step))
        line: list[GridNote] = []
        dropped = 0
        for g in ordered:
            if line:
                cur = line[-1]
                if g.start_step == cur.start_step:
                    dropped += 1  # a lower (or equal) note of the same onset
                    continue
                if g.start_step < cur.end_step:
                    if g.pitch > cur.pitch:
                        line[-1] = GridNote(cur.start_step, g.start_step, cur.pitch, cur.velocity)
                    else:
                        dropped += 1  # starts under a sounding, higher note
                        continue
            line.append(g)
        return line, dropped

    # ---- grid <-> tokens ------------------------------------------------------------
    def grid_to_tokens(self, line: Sequence[GridNote], start_step: int, end_step: int) -> list[int]:
        """A monophonic line -> one token per step in [start_step, end_step)."""
        if end_step < start_step:
            raise EncodingError("the melody ends before it starts")
        tokens = [HOLD] * (end_step - start_step)
        sounding_until = None
        for g in sorted(line):
            if g.start_step < start_step or g.start_step >= end_step:
                continue
            if sounding_until is not None and sounding_until < g.start_step:
                tokens[sounding_until - start_step] = NOTE_OFF
            tokens[g.start_step - start_step] = self.note_on(g.pitch)
            sounding_until = g.end_step
        if sounding_until is not None and sounding_until < end_step:
            tokens[sounding_until - start_step] = NOTE_OFF
        return tokens

    def tokens_to_grid(self, tokens: Sequence[int], start_step: int = 0,
                       velocity: int = 100) -> list[GridNote]:
        """Tokens -> a monophonic line; a note still sounding at the end ends there."""
        line: list[GridNote] = []
        current: tuple[int, int] | None = None  # (start_step, pitch)
        vocab = self.vocab_size
        for i, tok in enumerate(tokens):
            tok = int(tok)
            if not 0 <= tok < vocab:
                raise EncodingError(f"token {tok} is outside the vocabulary of {vocab}")
            if tok == HOLD:
                continue
            step = start_step + i
            if current is not None:
                line.append(GridNote(current[0], step, current[1], velocity))
                current = None
            if tok >= FIRST_NOTE_ON:
                current = (step, self.token_pitch(tok))
        if current is not None:
            line.append(GridNote(current[0], start_step + len(tokens), current[1], velocity))
        return line

    # ---- range ------------------------------------------------------------------------
    def fit_range(self, line: Sequence[GridNote]) -> tuple[list[GridNote], int, int]:
        """Move a line into the pitch range: the whole line by octaves where it fits
        (fewest octaves), else note by note.  Returns (line, octave shift, notes moved)."""
        if not line:
            return list(line), 0, 0
        lo, hi = min(g.pitch for g in line), max(g.pitch for g in line)
        candidates = [k for k in range(-10, 11)
                      if lo + 12 * k >= self.min_pitch and hi + 12 * k <= self.max_pitch]
        if candidates:
            k = min(candidates, key=abs)
            return [GridNote(g.start_step, g.end_step, g.pitch + 12 * k, g.velocity)
                    for g in line], k, 0
        # the line is wider than the range: centre it, then fold the outliers
        centre = (self.min_pitch + self.max_pitch) / 2
        k = round((centre - (lo + hi) / 2) / 12)
        out, moved = [], 0
        for g in line:
            p = g.pitch + 12 * k
            folded = p
            while folded < self.min_pitch:
                folded += 12
            while folded > self.max_pitch:
                folded -= 12
            moved += folded != p
            out.append(GridNote(g.start_step, g.end_step, folded, g.velocity))
        return out, k, moved

    # ---- the whole way --------------------------------------------------------------
    def encode_notes(self, notes: Sequence[Note], ppq: int, key: Key | None = None,
                     start_step: int | None = None, end_step: int | None = None,
                     closing_off: bool = False, as_written: bool = False) -> Encoded:
        """Notes (any voices, any key) -> tokens in C major / A minor.

        ``start_step`` defaults to the first note's step and ``end_step`` to the last
        note's end; ``closing_off`` adds a NOTE_OFF after the last note (training
        data ends with one, so the model learns how tunes end); ``as_written`` reads
        the notes' ends as written (:meth:`read_as_written`, up to ``end_step``).
        """
        report = EncodingReport(notes_in=len(notes))
        if key is None:
            key = estimate_song_key(notes)
        if as_written and end_step is not None:
            notes = self.read_as_written(notes, self.step_to_tick(end_step, ppq))
        grid, report.max_quantize_error_ticks, report.lengthened_to_one_step = \
            self.quantize(notes, ppq)
        line, report.dropped_below_top_line = self.top_line(grid)
        shift = key.shift_to_c
        line = [GridNote(g.start_step, g.end_step, g.pitch + shift, g.velocity) for g in line]
        line, report.octave_shift, report.notes_moved_by_octave = self.fit_range(line)
        if start_step is None:
            start_step = line[0].start_step if line else 0
        if end_step is None:
            end_step = max((g.end_step for g in line), default=start_step)
            if closing_off and line:
                end_step += 1
        velocities = sorted(g.velocity for g in line)
        velocity = velocities[len(velocities) // 2] if velocities else 100
        return Encoded(
            tokens=self.grid_to_tokens(line, start_step, end_step),
            key=key,
            transpose=shift + 12 * report.octave_shift,
            start_step=start_step,
            velocity=velocity,
            report=report,
        )

    # ---- the Encoding interface -----------------------------------------------------
    def song_to_tokens(self, song: Song) -> list[int] | None:
        """A tune's melody track, in C major / A minor, from its first note to a
        NOTE_OFF after its last (training data ends that way, so models learn how
        tunes end); None when the song has no melody."""
        index = melody_track(song)
        if index is None:
            return None
        return self.encode_tune(song.tracks[index].notes, song.ppq).tokens

    def encode_tune(self, notes: Sequence[Note], ppq: int) -> Encoded:
        """From the first note to a NOTE_OFF after the last, with the report."""
        return self.encode_notes(notes, ppq, closing_off=True)

    def transpose_tokens(self, tokens: np.ndarray, semitones: int) -> np.ndarray | None:
        """Every NOTE_ON moved by ``semitones``; HOLD and NOTE_OFF stay."""
        tokens = np.asarray(tokens)
        notes = tokens >= FIRST_NOTE_ON
        if not semitones or not notes.any():
            return tokens.copy()
        moved = tokens.astype(np.int64)
        moved[notes] += semitones
        if moved[notes].min() < FIRST_NOTE_ON or moved[notes].max() >= self.vocab_size:
            return None
        return moved.astype(tokens.dtype)

    def encode_seed(self, notes: Sequence[Note], ppq: int, key: Key, start_step: int,
                    end_step: int) -> Encoded:
        """A seed's notes, read as written (:meth:`read_as_written`), as tokens."""
        return self.encode_notes(notes, ppq, key=key, start_step=start_step, end_step=end_step,
                                 as_written=self.seeds_as_written)

    # a seed's line is read as written (the tunes the models learnt are); off: as played
    seeds_as_written = True

    @staticmethod
    def read_as_written(notes: Sequence[Note], end_tick: int) -> list[Note]:
        """Played notes as a musician reads them: a note that sounds more than half of the
        way to the next onset (the last ones: to ``end_tick``) lasts until there, as the
        training tunes' notes do; a shorter one keeps its rest (a written rest is at
        least as long as its note, or the note is staccato).  A detached or
        human-released seed then reaches the model as the legato line it was written as,
        not as notes each followed by a rest the tunes never had.  Read in ticks, before
        the grid, so that a release is weighed as played."""
        onsets = sorted({n.start_tick for n in notes})
        out = []
        for n in notes:
            i = bisect.bisect_right(onsets, n.start_tick)
            nxt = onsets[i] if i < len(onsets) else end_tick
            if n.end_tick < nxt and 2 * n.duration_ticks > nxt - n.start_tick:
                n = Note(n.pitch, n.start_tick, nxt - n.start_tick, n.velocity, n.channel)
            out.append(n)
        return out

    def trim_prime(self, tokens: Sequence[int]) -> list[int]:
        """A sequence starts with a note, as in training: what a long seed's cut left
        before its first note goes."""
        tokens = list(tokens)
        first = next((i for i, t in enumerate(tokens) if t >= FIRST_NOTE_ON), len(tokens))
        return tokens[first:]

    def first_step_allowed(self, prime: Sequence[int], allowed: np.ndarray) -> np.ndarray:
        """A seed note still sounding at the boundary ends there: the first new step may
        not hold it on (no HOLD right after a NOTE_ON and HOLDs)."""
        last = next((t for t in reversed(prime) if t != HOLD), HOLD)
        if last < FIRST_NOTE_ON:
            return allowed
        narrowed = allowed.copy()
        narrowed[..., HOLD] = False
        return narrowed

    def start_token(self, pitch_class: int, allowed: np.ndarray) -> int:
        """The NOTE_ON of ``pitch_class`` nearest the middle of the allowed range (any
        allowed note when the range holds none of that pitch class)."""
        centre = (self.min_pitch + self.max_pitch) / 2
        pitches = range(self.min_pitch, self.max_pitch + 1)
        candidates = [p for p in pitches if allowed[self.note_on(p)] and p % 12 == pitch_class]
        if not candidates:
            candidates = [p for p in pitches if allowed[self.note_on(p)]]
        return self.note_on(min(candidates, key=lambda p: (abs(p - centre), p)))


DEFAULT_ENCODING = MelodyEncoding()

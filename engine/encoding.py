"""The melody encoding shared by training and generation.

Magenta-style melody events on a sixteenth-note grid: one token per step,

* ``HOLD`` (0): nothing happens; the sounding note (or the rest) goes on,
* ``NOTE_OFF`` (1): the sounding note stops and a rest begins,
* ``NOTE_ON(p)`` (2 + p - min_pitch): a note of pitch ``p`` starts (ending any other),

over a stated pitch range.  Before encoding, a melody is reduced to one line (the top
note wins), quantized to the grid, and transposed to C major / A minor; decoding puts
it back into the original key.  Training (``training/``) and generation
(``engine/generator.py``) both use this one object, so the two cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from engine.errors import EncodingError
from engine.song import Note, Song

ENCODING_NAME = "melody-16th"
ENCODING_VERSION = 1

HOLD = 0
NOTE_OFF = 1
FIRST_NOTE_ON = 2

# ---------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------

_MAJOR_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_MINOR_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"]
_PC_OF_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
_MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)  # natural minor: the relative major's notes

# Krumhansl & Kessler (1982) key profiles, as published in "Cognitive Foundations of
# Musical Pitch" (Krumhansl 1990), used by the Krumhansl-Schmuckler key finder.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True, slots=True)
class Key:
    tonic: int  # pitch class 0..11
    minor: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.tonic <= 11:
            raise EncodingError(f"key tonic {self.tonic} is not a pitch class 0-11")

    @property
    def name(self) -> str:
        return (_MINOR_NAMES[self.tonic] + "m") if self.minor else _MAJOR_NAMES[self.tonic]

    def __str__(self) -> str:
        return self.name

    @property
    def scale_pitch_classes(self) -> frozenset[int]:
        steps = _MINOR_STEPS if self.minor else _MAJOR_STEPS
        return frozenset((self.tonic + s) % 12 for s in steps)

    def contains(self, pitch: int) -> bool:
        return pitch % 12 in self.scale_pitch_classes

    @property
    def shift_to_c(self) -> int:
        """Semitones (-6..5) that move this key to C major or A minor."""
        target = 9 if self.minor else 0
        return (target - self.tonic + 6) % 12 - 6

    @classmethod
    def parse(cls, text: str) -> "Key":
        """'C', 'F#', 'Bb', 'Am', 'c#m', 'Eb minor', 'G major' -> Key."""
        t = text.strip()
        low = t.lower()
        minor = False
        for suffix, is_minor in ((" minor", True), ("minor", True), (" major", False),
                                 ("major", False), ("min", True), ("maj", False), ("m", True)):
            if low.endswith(suffix) and len(t) > len(suffix):
                t, minor = t[: -len(suffix)].strip(), is_minor
                break
        if not t or t[0].upper() not in _PC_OF_LETTER:
            raise EncodingError(f"'{text}' is not a key (examples: C, F#, Bb, Am, C#m)")
        pc = _PC_OF_LETTER[t[0].upper()]
        for accidental in t[1:]:
            if accidental in "#♯":
                pc += 1
            elif accidental in "b♭":
                pc -= 1
            else:
                raise EncodingError(f"'{text}' is not a key (examples: C, F#, Bb, Am, C#m)")
        return cls(pc % 12, minor)

    @classmethod
    def all_keys(cls) -> list["Key"]:
        return [cls(pc, m) for m in (False, True) for pc in range(12)]


C_MAJOR = Key(0, False)


def _key_profiles() -> np.ndarray:
    """Every key's Krumhansl-Kessler profile, centred and of unit length (rows in the
    order of :meth:`Key.all_keys`), so that a dot product is a correlation."""
    rows = np.array([np.roll(_KK_MINOR if k.minor else _KK_MAJOR, k.tonic)
                     for k in Key.all_keys()], dtype=np.float64)
    rows -= rows.mean(axis=1, keepdims=True)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


_ALL_KEYS = Key.all_keys()
_KEY_PROFILES = _key_profiles()


def estimate_key(notes: Iterable[tuple[int, float]]) -> Key:
    """Krumhansl-Schmuckler key estimate from (pitch, duration) pairs.

    Each pitch class is weighted by its total duration; the key whose profile
    correlates best wins.  With no notes, C major.
    """
    hist = np.zeros(12)
    for pitch, duration in notes:
        hist[int(pitch) % 12] += max(float(duration), 0.0)
    if hist.sum() <= 0 or np.ptp(hist) == 0:
        return C_MAJOR
    centred = hist - hist.mean()
    r = _KEY_PROFILES @ (centred / np.linalg.norm(centred))  # Pearson's r, every key
    # the first key within rounding of the best: ties go to the major and the lower tonic
    return _ALL_KEYS[int(np.flatnonzero(r >= r.max() - 1e-12)[0])]


def estimate_song_key(notes: Iterable[Note]) -> Key:
    return estimate_key((n.pitch, n.duration_ticks) for n in notes)


# ---------------------------------------------------------------------------------------
# Grid melodies
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class GridNote:
    """A note of a monophonic line on the step grid: [start_step, end_step)."""

    start_step: int
    end_step: int
    pitch: int
    velocity: int = 100


@dataclass(slots=True)
class EncodingReport:
    """What encoding had to change, so the caller can tell the user."""

    notes_in: int = 0
    dropped_below_top_line: int = 0
    max_quantize_error_ticks: float = 0.0
    octave_shift: int = 0  # whole-melody shift in octaves to fit the range
    notes_moved_by_octave: int = 0  # single notes folded into the range
    lengthened_to_one_step: int = 0

    def messages(self) -> list[str]:
        out = []
        if self.dropped_below_top_line:
            out.append(f"The seed has several voices; its top line was used and "
                       f"{self.dropped_below_top_line} lower notes were left out.")
        if self.notes_moved_by_octave:
            out.append(f"{self.notes_moved_by_octave} notes were outside the model's range "
                       f"and were moved by octaves.")
        if self.max_quantize_error_ticks > 0:
            out.append(f"Notes were moved up to {self.max_quantize_error_ticks:g} ticks "
                       f"to fit the sixteenth-note grid.")
        return out


@dataclass(slots=True)
class EncodedMelody:
    tokens: list[int]
    key: Key  # the key of the original melody
    transpose: int  # semitones added before encoding (key shift + octave shift)
    start_step: int  # grid step (from tick 0) of the first token
    velocity: int  # typical velocity of the melody, for decoding generated notes
    report: EncodingReport = field(default_factory=EncodingReport)


class MelodyEncoding:
    """Melody events on a grid of ``steps_per_quarter`` steps per quarter note."""

    def __init__(self, min_pitch: int = 48, max_pitch: int = 83, steps_per_quarter: int = 4,
                 name: str = ENCODING_NAME, version: int = ENCODING_VERSION) -> None:
        if not 0 <= min_pitch <= max_pitch <= 127:
            raise EncodingError(f"pitch range {min_pitch}-{max_pitch} is not inside 0-127")
        if max_pitch - min_pitch < 11:
            raise EncodingError("the pitch range must span at least an octave")
        self.min_pitch = min_pitch
        self.max_pitch = max_pitch
        self.steps_per_quarter = steps_per_quarter
        self.name = name
        self.version = version

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
        try:
            enc = cls(int(card["min_pitch"]), int(card["max_pitch"]),
                      int(card["steps_per_quarter"]), str(card["name"]), int(card["version"]))
        except (KeyError, TypeError, ValueError) as e:
            raise EncodingError(f"the encoding in the model card is incomplete ({e})") from None
        if enc.name != ENCODING_NAME or enc.version != ENCODING_VERSION:
            raise EncodingError(f"the model uses encoding {enc.name} v{enc.version}; this "
                                f"Continuo speaks {ENCODING_NAME} v{ENCODING_VERSION}")
        if int(card.get("vocab_size", enc.vocab_size)) != enc.vocab_size:
            raise EncodingError("the model card's vocabulary size does not match its pitch range")
        return enc

    # ---- notes -> grid --------------------------------------------------------------
    def tick_to_step(self, tick: float, ppq: int) -> int:
        return int(math.floor(tick * self.steps_per_quarter / ppq + 0.5))

    def step_to_tick(self, step: int, ppq: int) -> int:
        return int(math.floor(step * ppq / self.steps_per_quarter + 0.5))

    def quantize(self, notes: Sequence[Note], ppq: int) -> tuple[list[GridNote], float, int]:
        """Notes -> grid notes (still polyphonic), the largest error in ticks, and how
        many notes shorter than a step were lengthened to one step."""
        grid, max_err, lengthened = [], 0.0, 0
        for n in notes:
            s = self.tick_to_step(n.start_tick, ppq)
            e = self.tick_to_step(n.end_tick, ppq)
            max_err = max(max_err, abs(s * ppq / self.steps_per_quarter - n.start_tick),
                          abs(e * ppq / self.steps_per_quarter - n.end_tick))
            if e <= s:
                e, lengthened = s + 1, lengthened + 1
            grid.append(GridNote(s, e, n.pitch, n.velocity))
        return grid, round(max_err, 6), lengthened

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
                     closing_off: bool = False) -> EncodedMelody:
        """Notes (any voices, any key) -> tokens in C major / A minor.

        ``start_step`` defaults to the first note's step and ``end_step`` to the last
        note's end; ``closing_off`` adds a NOTE_OFF after the last note (training
        data ends with one, so the model learns how tunes end).
        """
        report = EncodingReport(notes_in=len(notes))
        if key is None:
            key = estimate_song_key(notes)
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
        return EncodedMelody(
            tokens=self.grid_to_tokens(line, start_step, end_step),
            key=key,
            transpose=shift + 12 * report.octave_shift,
            start_step=start_step,
            velocity=velocity,
            report=report,
        )

    def decode(self, tokens: Sequence[int], ppq: int, transpose: int = 0, start_step: int = 0,
               velocity: int | Callable[[int], int] = 100, channel: int = 0) -> list[Note]:
        """Tokens -> notes at ``ppq``, with the encoding's transposition undone.

        Pitches that the undoing would push outside 0-127 are folded back by octaves.
        ``velocity`` is one for every note, or a function of a note's start tick.
        """
        notes = []
        at = velocity if callable(velocity) else None
        for g in self.tokens_to_grid(tokens, start_step, 100 if at else velocity):
            p = g.pitch - transpose
            while p < 0:
                p += 12
            while p > 127:
                p -= 12
            start = self.step_to_tick(g.start_step, ppq)
            end = self.step_to_tick(g.end_step, ppq)
            notes.append(Note(p, start, max(1, end - start),
                              at(start) if at else g.velocity, channel))
        return notes


def melody_track(song: Song) -> int | None:
    """Index of the track that most likely holds the melody: the non-drum track with
    the highest average pitch among those with at least a quarter of the most notes."""
    candidates = [(i, t) for i, t in enumerate(song.tracks) if t.notes and not t.is_drum]
    if not candidates:
        return None
    most = max(len(t.notes) for _, t in candidates)
    candidates = [(i, t) for i, t in candidates if len(t.notes) * 4 >= most]
    return max(candidates, key=lambda it: sum(n.pitch for n in it[1].notes) / len(it[1].notes))[0]


DEFAULT_ENCODING = MelodyEncoding()

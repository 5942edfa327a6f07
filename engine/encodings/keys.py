"""Keys: names, scales, transposition to C major / A minor, and key estimation.

Shared by every encoding (each moves music into C major / A minor before the model
hears it) and by the GUI's key lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from engine.errors import EncodingError
from engine.song import Note


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

"""Keys: names, scales, transposition to C major / A minor, and key estimation.

Shared by every encoding (each moves music into C major / A minor before the model
hears it) and by the GUI's key lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

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

_LETTERS = "CDEFGAB"
_ACCIDENTALS = {-2: "bb", -1: "b", 0: "", 1: "#", 2: "##"}
# a key with neither sharps nor flats (C major, A minor) spells its other notes as
# the chromatic scale is usually written: C#, Eb, F#, G#, Bb
_NEUTRAL_SHARPS = frozenset({1, 6, 8})


def _spelled(letter: str, pc: int) -> str:
    """``letter`` with the accidental that makes it pitch class ``pc``."""
    alter = (pc - _PC_OF_LETTER[letter] + 6) % 12 - 6
    return letter + _ACCIDENTALS[alter] if alter in _ACCIDENTALS else ""


def key_spelling(key: Key) -> dict[int, str]:
    """How ``key`` writes each of the 12 pitch classes: its scale on seven successive
    letters (F# minor: F# G# A B C# D E), in minor the raised sixth and seventh as such
    (F# minor: D#, E#; D minor: B, C#) and so the major third and the raised fourth
    (F# minor: A#, B#; D minor: F#, G#), and any other note as a sharpened letter in a
    sharp key and a flattened one in a flat key (D major's A#, F major's Gb), whichever
    needs the smaller accidental (F# minor's G is G, not F##)."""
    tonic_letter = key.name[0]
    start = _LETTERS.index(tonic_letter)
    steps = _MINOR_STEPS if key.minor else _MAJOR_STEPS
    degrees = [(_LETTERS[(start + i) % 7], (key.tonic + s) % 12) for i, s in enumerate(steps)]
    names = {pc: _spelled(letter, pc) for letter, pc in degrees}
    signature = sum(n.count("#") - n.count("b") for n in names.values())
    if key.minor:  # the melodic minor's raised sixth and seventh, then the major third
        # (a Picardy third) and the raised fourth (the dominant's own leading note)
        for i, (letter, pc) in enumerate((degrees[5], degrees[6], degrees[2], degrees[3])):
            name = _spelled(letter, (pc + 1) % 12)
            if i < 2 or len(name) < 3:  # never a double sharp but the leading note's
                names.setdefault((pc + 1) % 12, name)
    for pc in range(12):
        if pc in names:
            continue
        below = next(letter for letter, q in degrees if q == (pc - 1) % 12)
        above = next(letter for letter, q in degrees if q == (pc + 1) % 12)
        sharp, flat = _spelled(below, pc), _spelled(above, pc)
        rank = {sharp: len(sharp), flat: len(flat)}
        if rank[sharp] != rank[flat]:
            names[pc] = min((sharp, flat), key=rank.__getitem__)
        elif signature > 0 or (signature == 0 and pc in _NEUTRAL_SHARPS):
            names[pc] = sharp
        else:
            names[pc] = flat
    return names


def spell_pitch_class(pc: int, key: Key) -> str:
    """Pitch class ``pc`` as ``key`` writes it (A# in F# minor, Bb in F major, C# in D
    minor); see :func:`key_spelling`."""
    return key_spelling(key)[int(pc) % 12]


def _key_profiles() -> np.ndarray:
    """Every key's Krumhansl-Kessler profile, centred and of unit length (rows in the
    order of :meth:`Key.all_keys`), so that a dot product is a correlation."""
    rows = np.array([np.roll(_KK_MINOR if k.minor else _KK_MAJOR, k.tonic)
                     for k in Key.all_keys()], dtype=np.float64)
    rows -= rows.mean(axis=1, keepdims=True)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# every key, and its Krumhansl-Kessler profile (centred, unit length) row by row
ALL_KEYS = Key.all_keys()
KEY_PROFILES = _key_profiles()


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
    r = KEY_PROFILES @ (centred / np.linalg.norm(centred))  # Pearson's r, every key
    # the first key within rounding of the best: ties go to the major and the lower tonic
    return ALL_KEYS[int(np.flatnonzero(r >= r.max() - 1e-12)[0])]


def estimate_song_key(notes: Iterable[Note]) -> Key:
    return estimate_key((n.pitch, n.duration_ticks) for n in notes)


# ---------------------------------------------------------------------------------------
# the key of a short seed, from a model's likelihoods
# ---------------------------------------------------------------------------------------

# How often a tune's first note is each pitch class once the tune is in C major / A minor:
# the training split of music21's Essen collection (7,509 tunes), add-one smoothed.  A
# model never scores a tune's first note (it has nothing before it), so this is what it
# would say about it: tunes start on the tonic or the dominant.
FIRST_NOTE_PRIOR = np.array([0.3718, 0.0001, 0.0318, 0.0015, 0.0823, 0.0594, 0.0003, 0.3462,
                             0.0015, 0.0969, 0.0024, 0.0059])
# Chosen on the validation split of the same collection (``python bench/key_lock.py
# --split validation --grid``): the shifts' log-likelihoods are divided by
# KEY_TEMPERATURE before they become probabilities, and a pitch class stays allowed
# while its chance of belonging to the seed's scale is at least KEY_ALLOW; the tightest
# lock (fewest allowed pitch classes) whose validation tunes' next 4 bars have at most
# 1.5% of their notes outside it (1.28%, 7.55 pitch classes on average).
KEY_TEMPERATURE = 1.0
KEY_ALLOW = 0.2
_C_MAJOR_SCALE = np.zeros(12, dtype=bool)
_C_MAJOR_SCALE[list(_MAJOR_STEPS)] = True


@dataclass(frozen=True)
class KeyEstimate:
    """The key a seed is in, as sure as the evidence allows: the likeliest ``key``
    (the seed is moved to C major / A minor from it), the pitch classes a key lock
    should allow (its scale, plus any note another likely key needs), the likeliest
    keys with their probabilities, and a sentence saying which and why."""

    key: Key
    allowed: frozenset[int]
    probability: float  # of the likeliest key's scale
    candidates: tuple[tuple[Key, float], ...]
    reason: str

    @property
    def locks(self) -> bool:
        return len(self.allowed) < 12


def _relative_mode(major_tonic: int, notes: Sequence[tuple[int, float]]) -> Key:
    """The major key on ``major_tonic`` or its relative minor, whichever the
    Krumhansl-Kessler profiles prefer for ``notes``."""
    hist = np.zeros(12)
    for pitch, duration in notes:
        hist[int(pitch) % 12] += max(float(duration), 0.0)
    major, minor = Key(major_tonic, False), Key((major_tonic + 9) % 12, True)
    if hist.sum() <= 0 or np.ptp(hist) == 0:
        return major
    centred = hist - hist.mean()
    r = KEY_PROFILES @ (centred / np.linalg.norm(centred))
    return minor if r[ALL_KEYS.index(minor)] > r[ALL_KEYS.index(major)] + 1e-12 else major


def _pitch_names(pcs: Iterable[int], key: Key) -> str:
    return " and ".join(spell_pitch_class(pc, key) for pc in sorted(pcs))


def key_from_likelihoods(shift_log_likelihoods: Sequence[float],
                         notes: Sequence[tuple[int, float]],
                         first_pitch: int | None = None,
                         temperature: float = KEY_TEMPERATURE,
                         allow: float = KEY_ALLOW) -> KeyEstimate:
    """The key of a seed from a model's log-likelihood (natural log) of the seed moved by
    each shift 0..11 semitones (the shift that puts it in C major / A minor is the
    likeliest), the seed's (pitch, duration) notes (major or relative minor; their
    pitch classes always stay allowed), and its first pitch (:data:`FIRST_NOTE_PRIOR`;
    None when the seed was cut from a longer piece)."""
    score = np.asarray(shift_log_likelihoods, dtype=np.float64).copy()
    if score.shape != (12,):
        raise ValueError("one log-likelihood per shift 0..11")
    if first_pitch is not None:
        score += np.log(FIRST_NOTE_PRIOR[(first_pitch + np.arange(12)) % 12])
    score /= temperature
    post = np.exp(score - score.max())
    post /= post.sum()
    # shift s puts the seed in C major: its scale is the pitch classes q with q + s in C
    member = np.array([np.roll(_C_MAJOR_SCALE, -s) for s in range(12)])
    chance = post @ member
    best = int(post.argmax())
    # a lock never forbids a note the seed itself plays (A minor's G#, a blue note)
    played = {int(p) % 12 for p, _ in notes}
    allowed = frozenset(int(q) for q in np.flatnonzero((chance >= allow) | member[best])) \
        | played
    order = np.argsort(-post, kind="stable")
    key = _relative_mode((-best) % 12, notes)
    candidates = tuple((_relative_mode((-int(s)) % 12, notes), float(post[s]))
                       for s in order[:3])
    probability = float(post[best])
    extra = sorted(allowed - key.scale_pitch_classes)
    if len(allowed) == 12:
        likely = ", ".join(f"{k.name} {p:.0%}" for k, p in candidates)
        reason = (f"the seed fits several keys ({likely}), so the key lock allows every "
                  f"note")
    elif not extra:
        reason = f"the model finds the seed likeliest in {key.name} ({probability:.0%})"
    else:
        others = " or ".join(f"{k.name} ({p:.0%})" for k, p in candidates[1:]
                             if p >= 0.05)
        own = sorted(set(extra) & played)
        reason = f"the seed fits {key.name} ({probability:.0%})" + \
            (f" or {others}" if others else "")
        if own:
            reason += f"; it plays {_pitch_names(own, key)}"
        if set(extra) - played:
            reason += f"; {_pitch_names(set(extra) - played, key)} allowed too"
    return KeyEstimate(key, allowed, probability, candidates, reason)

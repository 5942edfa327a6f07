"""Chord symbols (``C Cm C7 Cmaj7 Cm7 Cdim Cdim7 Cm7b5 Caug Csus2 Csus4 C6 C9 C/E`` with
flats and sharps): a parser and a printer, and chord detection from a song's notes.

A :class:`ChordSymbol` is a root (spelled as written: "Bb", "F#"), a quality (the chord's
kind: "" for major, "m", "7", "maj7" ... :data:`QUALITIES`), extensions beyond it ("b9",
"add9", "#11" ...) and an optional bass note (``C/E``).  :func:`parse_chord` reads what
people type, and says which part it could not read; ``str()`` prints the canonical
spelling, which :func:`parse_chord` reads back.

:func:`detect_chords` names the harmony of a song from every pitched track (drums are
left out), the lowest sounding note weighted as the bass, one chord per beat at most and
fewer where the music moves slower: each beat is scored against every chord template,
and a best path through the beats (Viterbi) pays for each change, more on a weak beat
than on a bar line, so that a bar of one harmony is one chord and a chorale's beat-by-
beat harmony is one chord a beat.  Pure numpy; no music21.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Sequence

import numpy as np

from engine.errors import EncodingError, LimitError
from engine.song import Chord, Note, Song

_PC_OF_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"#": 1, "♯": 1, "b": -1, "♭": -1}

# quality -> intervals above the root (the chord's tones), in the order printed
QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),
    "m": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "mmaj7": (0, 3, 7, 11),
    "dim7": (0, 3, 6, 9),
    "m7b5": (0, 3, 6, 10),
    "aug7": (0, 4, 8, 10),
    "7sus4": (0, 5, 7, 10),
    "9": (0, 4, 7, 10, 2),
    "maj9": (0, 4, 7, 11, 2),
    "m9": (0, 3, 7, 10, 2),
    "11": (0, 4, 7, 10, 2, 5),
    "m11": (0, 3, 7, 10, 2, 5),
    "13": (0, 4, 7, 10, 2, 9),
    "maj13": (0, 4, 7, 11, 2, 9),
    "m13": (0, 3, 7, 10, 2, 9),
}

# what people type -> the quality it means (the canonical spellings read as themselves)
_QUALITY_ALIASES: dict[str, str] = {q: q for q in QUALITIES if q}
_QUALITY_ALIASES.update({
    "M": "", "maj": "", "major": "",
    "min": "m", "mi": "m", "-": "m", "minor": "m",
    "°": "dim", "o": "dim",
    "+": "aug", "#5": "aug",
    "sus": "sus4",
    "M7": "maj7", "Maj7": "maj7", "Δ": "maj7", "Δ7": "maj7", "ma7": "maj7",
    "min7": "m7", "mi7": "m7", "-7": "m7",
    "m(maj7)": "mmaj7", "mM7": "mmaj7", "minmaj7": "mmaj7", "-maj7": "mmaj7",
    "°7": "dim7", "o7": "dim7",
    "ø": "m7b5", "ø7": "m7b5", "min7b5": "m7b5", "m7(b5)": "m7b5", "-7b5": "m7b5",
    "+7": "aug7", "7#5": "aug7", "7+": "aug7",
    "7sus": "7sus4",
    "min6": "m6", "-6": "m6",
    "M9": "maj9", "Maj9": "maj9", "min9": "m9", "-9": "m9",
    "min11": "m11", "-11": "m11", "M13": "maj13", "min13": "m13", "-13": "m13",
})
_QUALITY_KEYS = sorted(_QUALITY_ALIASES, key=len, reverse=True)

# extensions beyond the quality -> semitones above the root
EXTENSIONS: dict[str, int] = {
    "add2": 2, "add4": 5, "add9": 2, "add11": 5, "add13": 9,
    "b5": 6, "#5": 8, "b9": 1, "#9": 3, "#11": 6, "b13": 8,
    "9": 2, "11": 5, "13": 9,
}
_EXTENSION_KEYS = sorted(EXTENSIONS, key=len, reverse=True)

_NOTE = re.compile(r"([A-Ga-z])([#b♯♭]*)")


def _pitch_class(name: str, symbol: str, where: str) -> tuple[str, int]:
    m = _NOTE.fullmatch(name)
    if m is None or m.group(1) not in _PC_OF_LETTER:
        raise EncodingError(f"chord symbol {symbol!r}: {where} {name!r} is not a note name "
                            f"(A to G, then # or b)")
    accidentals = m.group(2).replace("♯", "#").replace("♭", "b")
    if len(accidentals) > 2:
        raise EncodingError(f"chord symbol {symbol!r}: {where} {name!r} has more than two "
                            f"sharps or flats")
    pc = (_PC_OF_LETTER[m.group(1)] + sum(_ACCIDENTALS[a] for a in accidentals)) % 12
    return m.group(1) + accidentals, pc


@dataclass(frozen=True, slots=True)
class ChordSymbol:
    """A chord symbol: root (as spelled), quality (a key of :data:`QUALITIES`),
    extensions (keys of :data:`EXTENSIONS`, in the order written) and an optional bass
    note (as spelled)."""

    root: str
    quality: str = ""
    extensions: tuple[str, ...] = ()
    bass: str | None = None

    def __post_init__(self) -> None:
        text = self.root
        _pitch_class(self.root, text, "the root")
        if self.quality not in QUALITIES:
            raise EncodingError(f"chord symbol {text!r}: {self.quality!r} is not a chord "
                                f"quality Continuo knows")
        for ext in self.extensions:
            if ext not in EXTENSIONS:
                raise EncodingError(f"chord symbol {text!r}: {ext!r} is not an extension "
                                    f"Continuo knows")
        if self.bass is not None:
            _pitch_class(self.bass, text, "the bass note")

    @property
    def root_pc(self) -> int:
        return _pitch_class(self.root, self.root, "the root")[1]

    @property
    def bass_pc(self) -> int:
        """The pitch class of the bass: the slash note, else the root."""
        if self.bass is None:
            return self.root_pc
        return _pitch_class(self.bass, self.bass, "the bass note")[1]

    @property
    def intervals(self) -> tuple[int, ...]:
        """Semitones above the root of every tone, quality first, then extensions."""
        out = list(QUALITIES[self.quality])
        for ext in self.extensions:
            step = EXTENSIONS[ext]
            if ext in ("b5", "#5") and 7 in out:
                out.remove(7)  # an altered fifth replaces the fifth
            if step not in out:
                out.append(step)
        return tuple(out)

    @property
    def pitch_classes(self) -> frozenset[int]:
        """The chord's tones as pitch classes, the slash bass included."""
        root = self.root_pc
        return frozenset({(root + i) % 12 for i in self.intervals} | {self.bass_pc})

    @property
    def family(self) -> str:
        """The kind of chord, as harmonic analysis counts them: "major", "minor",
        "diminished", "augmented", "dominant seventh", "other seventh" or "other"
        (suspended chords)."""
        tones = set(QUALITIES[self.quality])
        if 10 in tones and 4 in tones and 7 in tones:
            return "dominant seventh"
        if 10 in tones or 11 in tones or self.quality == "dim7":
            return "other seventh"
        if {3, 6} <= tones:
            return "diminished"
        if {4, 8} <= tones:
            return "augmented"
        if 4 in tones:
            return "major"
        if 3 in tones:
            return "minor"
        return "other"

    def __str__(self) -> str:
        text = self.root + self.quality + "".join(
            f"({e})" if e[0] in "#b" or e.isdigit() else e for e in self.extensions)
        return text if self.bass is None else f"{text}/{self.bass}"

    def transposed(self, semitones: int, flats: bool = False) -> "ChordSymbol":
        names = _FLAT_NAMES if flats else _SHARP_NAMES
        bass = None if self.bass is None else names[(self.bass_pc + semitones) % 12]
        return ChordSymbol(names[(self.root_pc + semitones) % 12], self.quality,
                           self.extensions, bass)


_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


@lru_cache(maxsize=4096)
def parse_chord(text: str) -> ChordSymbol:
    """Read a chord symbol as people type it ("Am7", "Bb/D", "F#m7b5", "C(add9)",
    "Ebmaj7"); an EncodingError whose sentence names the part that could not be read."""
    if not isinstance(text, str):
        raise EncodingError(f"a chord symbol must be text, not {type(text).__name__}")
    symbol = text.strip()
    if not symbol:
        raise EncodingError("an empty chord symbol names no chord")
    if len(symbol) > 40:
        raise EncodingError(f"chord symbol {symbol[:40]!r}...: too long to be a chord symbol")
    m = _NOTE.match(symbol)
    if m is None or m.group(1) not in _PC_OF_LETTER:
        raise EncodingError(f"chord symbol {symbol!r}: it must start with its root, a note "
                            f"name A to G (then # or b), not {symbol[0]!r}")
    root, _ = _pitch_class(m.group(0), symbol, "the root")
    rest = symbol[m.end():]
    bass = None
    if "/" in rest:
        head, tail = rest.rsplit("/", 1)
        if tail[:1] in _PC_OF_LETTER:
            bass, _ = _pitch_class(tail, symbol, "the bass note after '/'")
            rest = head
        elif tail == "9" and head.endswith("6"):  # C6/9
            rest = head + "add9"
        else:
            raise EncodingError(f"chord symbol {symbol!r}: after '/' comes the bass note "
                                f"(A to G), not {tail!r}")
    quality = ""
    for key in _QUALITY_KEYS:
        if rest.startswith(key):
            quality = _QUALITY_ALIASES[key]
            rest = rest[len(key):]
            break
    extensions: list[str] = []
    while rest:
        chunk = rest.lstrip("(),/ ")
        if chunk != rest:
            rest = chunk
            continue
        for key in _EXTENSION_KEYS:
            if rest.startswith(key):
                extensions.append(key)
                rest = rest[len(key):]
                break
        else:
            raise EncodingError(f"chord symbol {symbol!r}: could not read {rest!r} after "
                                f"{root + quality!r} (a quality such as m, 7, maj7, m7b5, "
                                f"dim, aug, sus4, or an extension such as b9, add9)")
    return ChordSymbol(root, quality, tuple(extensions), bass)


def is_chord_symbol(text: str) -> bool:
    """Whether ``text`` reads as one chord symbol (a MIDI marker that names a chord)."""
    try:
        parse_chord(text)
    except EncodingError:
        return False
    return True


def chord_from_text(text: str) -> str | None:
    """The canonical spelling of ``text`` when it reads as a chord symbol (a MIDI
    marker or text event, an ABC annotation), else None."""
    if not isinstance(text, str) or not text.strip() or len(text) > 40:
        return None
    try:
        return str(parse_chord(text.strip()))
    except EncodingError:
        return None


# ---------------------------------------------------------------------------------------
# detection
# ---------------------------------------------------------------------------------------

# the chords detection chooses among: triads and the common sevenths
DETECTED_QUALITIES = ("", "m", "dim", "aug", "7", "maj7", "m7", "m7b5", "dim7")

# weights of the scoring, chosen by a search on half the analysed pieces (the even-numbered
# Bach chorales and Monteverdi madrigals of bench/chords.py) and the seed-2025 mma charts;
# the other half and the seed-7 charts are the held-out figures in docs/chords.md
_OUTSIDE = 0.65  # each unit of weight outside the chord costs this much
_MISSING = 0.5  # each chord tone not sounding costs this (a share of the chord)
_HEARD = 0.02  # ... sounding: more than this share of the beat's weight
_SEVENTH = 0.2  # a four-note chord must explain more than a triad would
_BASS_ROOT = 0.2  # the bass on the root
_BASS_TONE = 0.04  # the bass on another chord tone
_UNDOUBLED = 0.7  # ... this much less where no voice doubles the bass and its sixth sounds
_BASS_SAY = {2: 1.25, 1: 0.5, 0: 0.6}  # ... times this on a bar line, a half bar, a beat
_LATE = 0.4  # weight of a note that starts after the beat (a passing or neighbour note)
_HELD = 1.0  # weight of a note held from before the beat ...
_AGE = 0.6  # ... divided by 1 + this times the quarter notes it has sounded
_CONTEXT = 0.08  # the share of the half bar's notes heard with each beat (an arpeggio)
_KEY = 0.1  # a chord whose tones are not heard around the beat costs up to this
_KEY_WINDOW = 6  # beats either side that make the passage's scale
_RARE_QUALITIES = {"aug": 0.2}  # a quality rarer than its tones say, and what it costs
# a major or minor triad heard with its fourth in place of its third (a 4-3 suspension
# over the root, D G A for D minor) scores as that triad less this: analysts name the
# chord the fourth resolves into, not the chord it spells (G sus2, G minor); and one
# heard with its ninth in place of its root, where the root follows within _RESOLVES
# beats, scores as that triad less _DELAYED (a 9-8 suspension over the root, 7-6 over a
# first inversion: E G D before E G C is C major, not E minor)
_SUSPENDED = 0.3
_DELAYED = 0.275
_RESOLVES = 2
# a chord whose root does not sound costs this more: the fifth is the tone a voice leaves
# out, the root the one it keeps, so C E over C is C major (no fifth) before A minor (no
# root); each missing tone already costs _MISSING's share
_ROOTLESS = 0.025
_SNAP = 0.1  # a note within this share of a beat of a beat line starts or ends on it
_CHANGE = {2: 0.03, 1: 0.06, 0: 0.16}  # a change on a bar line, a half bar, another beat
_CHANGE_HELD = 0.13  # ... and this more where the bass is not struck on the beat
_CHANGE_TEXTURE = 0.2  # ... and this more times the share of the notes held into it


# a song longer than this many beats (about 14 hours at 120 BPM) or whose notes sound in
# more than this many (note, beat) pairs is refused with a sentence, not hours and
# gigabytes: real music is a few thousand beats, ten or twenty notes sounding in each
MAX_BEATS = 100_000
MAX_NOTE_BEATS = 4_000_000


@dataclass(frozen=True, slots=True)
class DetectedChord:
    tick: int
    bar: int
    beat: int
    symbol: ChordSymbol


def _templates() -> tuple[list[tuple[int, str]], np.ndarray]:
    chords, rows = [], []
    for root in range(12):
        for quality in DETECTED_QUALITIES:
            row = np.zeros(12)
            for i in QUALITIES[quality]:
                row[(root + i) % 12] = 1.0
            chords.append((root, quality))
            rows.append(row)
    return chords, np.array(rows)


_CHORDS, _TEMPLATES = _templates()
_RARE = np.array([_RARE_QUALITIES.get(q, 0.0) for _, q in _CHORDS])
_ROOTS = np.array([r for r, _ in _CHORDS])
_TRIADS = np.array([q in ("", "m") for _, q in _CHORDS])  # the chords a suspension delays
# (root, its fourth, its fifth) on each root: a triad with its third held back
_SUSPENSIONS = np.array([[1.0 if (pc - root) % 12 in (0, 5, 7) else 0.0 for pc in range(12)]
                         for root in range(12)])
# each triad's third, fifth and ninth: the triad with its root held back
_NINTHS = np.array([[1.0 if (pc - root) % 12 in (3 if quality == "m" else 4, 7, 2) else 0.0
                     for pc in range(12)] for root, quality in _CHORDS])[_TRIADS]


def beat_segments(song: Song, end_tick: int | None = None) -> list[tuple[int, int, int]]:
    """(start, end, strength) of every beat up to ``end_tick`` (by default the end of
    the last pitched note): strength 2 on a bar line, 1 on a half bar, else 0.  A
    compound metre (6/8, 9/8, 12/8) beats in dotted notes.  A LimitError past
    :data:`MAX_BEATS`."""
    end = end_tick if end_tick is not None else max(
        (t.end_tick for t in song.tracks if not t.is_drum), default=0)
    if end <= 0:
        return []
    shortest = min(ts.ticks_per_beat(song.ppq) for ts in song.time_signatures)
    if end // max(shortest, 1) > MAX_BEATS:
        raise LimitError(f"the song is too long to name its chords (more than "
                         f"{MAX_BEATS:,} beats)")
    starts = song.bar_starts(end)
    out: list[tuple[int, int, int]] = []
    for i, bar in enumerate(starts):
        if bar >= end:
            break
        bar_end = starts[i + 1] if i + 1 < len(starts) else bar + song.ticks_per_bar_at(bar)
        meter = song.meter_at(bar)
        per_beat = meter.ticks_per_beat(song.ppq)
        if meter.numerator % 3 == 0 and meter.numerator > 3 and meter.denominator >= 8:
            per_beat *= 3
        full = meter.ticks_per_bar(song.ppq)
        anchor = bar_end - full if bar_end - bar < full else bar  # a pickup counts back
        t = anchor
        while t < bar_end:
            if t >= bar:
                offset = t - anchor
                strength = 2 if offset == 0 else 1 if 2 * offset == full else 0
                out.append((t, min(t + per_beat, bar_end), strength))
            t += per_beat
    return out


def _restruck(notes: Sequence[Note]) -> list[Note]:
    """A track's notes, each ending by the time its key is struck again (a strummed
    string that a sequencer re-strikes without a note-off rings on otherwise)."""
    ordered = sorted(notes, key=lambda n: (n.channel, n.pitch, n.start_tick))
    out = list(ordered)
    for i in range(len(ordered) - 1):
        now, after = ordered[i], ordered[i + 1]
        if (now.channel, now.pitch) == (after.channel, after.pitch) \
                and now.start_tick < after.start_tick < now.end_tick:
            out[i] = replace(now, duration_ticks=after.start_tick - now.start_tick)
    return out


@dataclass(frozen=True)
class _Beats:
    """What detection hears on each beat: the weight of each pitch class (summing to 1,
    or 0 where nothing sounds), the bass's pitch class (-1 where nothing sounds), whether
    the bass is struck on the beat, and the beat's strength (2 bar line, 1 half bar)."""

    chroma: np.ndarray
    bass: np.ndarray
    bass_struck: np.ndarray
    strengths: np.ndarray
    struck: np.ndarray  # the share of the notes sounding at the beat struck on it
    # how much of the beat another voice doubles the bass (its pitch class higher up), 0..1
    doubled: np.ndarray


def _snapped(ticks: np.ndarray, lines: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``ticks`` moved onto the nearest beat line (``lines``, sorted) where they are
    within :data:`_SNAP` of a beat of it: a played or humanised file strikes a chord a
    little before or after the beat, and the note belongs to the beat it is heard on."""
    i = np.clip(np.searchsorted(lines, ticks), 1, len(lines) - 1)
    left, right = lines[i - 1], lines[i]
    nearest = np.where(ticks - left <= right - ticks, left, right)
    tolerance = _SNAP * lengths[np.minimum(i - 1, len(lengths) - 1)]
    return np.where(np.abs(ticks - nearest) <= tolerance, nearest, ticks)


def _note_beats(song: Song, segments: Sequence[tuple[int, int, int]]):
    """Every (note, beat) pair in which a pitched note sounds: the note's pitch, start,
    the beat's start, and the share of the beat it fills; notes snapped to the beats."""
    notes = [n for t in song.tracks if not t.is_drum for n in _restruck(t.notes)]
    seg_start = np.array([s[0] for s in segments], dtype=np.int64)
    seg_end = np.array([s[1] for s in segments], dtype=np.int64)
    lines = np.append(seg_start, seg_end[-1])
    lengths = np.maximum(seg_end - seg_start, 1)
    start = _snapped(np.array([n.start_tick for n in notes], dtype=np.int64), lines, lengths)
    end = _snapped(np.array([n.end_tick for n in notes], dtype=np.int64), lines, lengths)
    end = np.maximum(end, start + 1)
    pitch = np.array([n.pitch for n in notes], dtype=np.int64)
    first = np.maximum(np.searchsorted(seg_start, start, side="right") - 1, 0)
    last = np.searchsorted(seg_start, end - 1, side="right") - 1
    count = np.maximum(last - first + 1, 0)
    if int(count.sum()) > MAX_NOTE_BEATS:
        raise LimitError(f"the song's notes are too many or too long to name its chords "
                         f"(they sound in more than {MAX_NOTE_BEATS:,} note-beats)")
    note_of = np.repeat(np.arange(len(notes)), count)
    seg_of = np.repeat(first, count) + (np.arange(count.sum())
                                        - np.repeat(np.cumsum(count) - count, count))
    keep = seg_of < len(segments)
    note_of, seg_of = note_of[keep], seg_of[keep]
    a = np.maximum(start[note_of], seg_start[seg_of])
    b = np.minimum(end[note_of], seg_end[seg_of])
    overlap = np.clip(b - a, 0, None) / lengths[seg_of]
    return pitch[note_of], start[note_of], seg_of, seg_start[seg_of], overlap


def _beat_features(song: Song, segments: Sequence[tuple[int, int, int]]) -> _Beats:
    """What each beat hears (:class:`_Beats`)."""
    n_seg = len(segments)
    chroma = np.zeros((n_seg, 12))
    bass = np.full(n_seg, -1)
    struck = np.zeros(n_seg, dtype=bool)
    strengths = np.array([s[2] for s in segments], dtype=np.int64)
    if not n_seg or not any(not t.is_drum and t.notes for t in song.tracks):
        return _Beats(chroma, bass, struck, strengths, np.ones(n_seg), np.zeros(n_seg))
    pitch, start, seg_of, beat_start, overlap = _note_beats(song, segments)
    late = start > beat_start
    # a note held from before the beat counts less the longer it has sounded
    age = np.maximum(beat_start - start, 0) / song.ppq
    weight = overlap * np.where(late, _LATE, np.where(age > 0, _HELD / (1 + _AGE * age), 1.0))
    np.add.at(chroma, (seg_of, pitch % 12), weight)
    chroma = _normalised(chroma)
    if _CONTEXT > 0:  # each beat hears its half bar too: a broken chord names one chord
        group = np.cumsum(strengths > 0) - 1
        around = np.zeros((int(group.max()) + 1, 12))
        np.add.at(around, group, chroma)
        heard = chroma.sum(axis=1) > 0
        chroma = _normalised(np.where(heard[:, None],
                                      chroma + _CONTEXT * _normalised(around)[group], 0.0))
    # the bass: the lowest note that sounds for a quarter of the beat or more (else the
    # lowest that sounds at all), and whether it is struck on the beat
    lowest = np.full(n_seg, 1000)
    held = overlap >= 0.25
    np.minimum.at(lowest, seg_of[held], pitch[held])
    any_low = np.full(n_seg, 1000)
    np.minimum.at(any_low, seg_of, pitch)
    lowest = np.where(lowest < 1000, lowest, any_low)
    bass = np.where(lowest < 1000, lowest % 12, -1)
    on_beat = (start == beat_start) & (pitch == lowest[seg_of])
    struck[seg_of[on_beat]] = True
    at_beat = start <= beat_start
    sounding = np.bincount(seg_of[at_beat], minlength=n_seg)
    new = np.bincount(seg_of[at_beat & (start == beat_start)], minlength=n_seg)
    share = np.divide(new, sounding, out=np.ones(n_seg), where=sounding > 0)
    # the bass doubled an octave or more above, weighed by how long the doubling sounds
    above = (pitch % 12 == lowest[seg_of] % 12) & (pitch > lowest[seg_of])
    doubled = np.minimum(np.bincount(seg_of[above], weights=overlap[above],
                                     minlength=n_seg), 1.0)
    return _Beats(chroma, bass, struck, strengths, share, doubled)


def _normalised(rows: np.ndarray) -> np.ndarray:
    total = rows.sum(axis=1, keepdims=True)
    return np.divide(rows, total, out=np.zeros_like(rows), where=total > 0)


def _key_fit(chroma: np.ndarray) -> np.ndarray:
    """(beats, chords): how much each chord's tones are heard around each beat (the
    beats within :data:`_KEY_WINDOW` either side, each pitch class against the most
    heard one), the mean over its tones: a chord of the passage's scale is likelier
    than one foreign to it, as a key makes it."""
    n = len(chroma)
    sums = np.vstack([np.zeros(12), np.cumsum(chroma, axis=0)])
    lo = np.clip(np.arange(n) - _KEY_WINDOW, 0, n)
    hi = np.clip(np.arange(n) + _KEY_WINDOW + 1, 0, n)
    around = sums[hi] - sums[lo]
    around = around / np.maximum(around.max(axis=1, keepdims=True), 1e-9)
    return (around @ _TEMPLATES.T) / _TEMPLATES.sum(axis=1)[None, :]


def _beat_scores(beats: _Beats) -> np.ndarray:
    """Score of every detectable chord (rows of ``_TEMPLATES``) on every beat."""
    chroma, bass = beats.chroma, beats.bass
    inside = chroma @ _TEMPLATES.T
    outside = 1.0 - inside
    sounding = (chroma > _HEARD).astype(float)
    tones = _TEMPLATES.sum(axis=1)
    missing = (tones[None, :] - sounding @ _TEMPLATES.T) / tones[None, :]
    scores = inside - _OUTSIDE * outside - _MISSING * missing
    # a triad whose third the fourth holds back: root, fourth and fifth heard for it
    sus_in = chroma @ _SUSPENSIONS.T
    suspended = sus_in - _OUTSIDE * (1.0 - sus_in) \
        - _MISSING * (3.0 - sounding @ _SUSPENSIONS.T) / 3.0 - _SUSPENDED
    scores[:, _TRIADS] = np.maximum(scores[:, _TRIADS], suspended[:, _ROOTS[_TRIADS]])
    # a triad whose root its ninth holds back: third, fifth and ninth heard, the ninth
    # sounding and the root sounding on one of the next _RESOLVES beats
    ninth_in = chroma @ _NINTHS.T
    delayed = ninth_in - _OUTSIDE * (1.0 - ninth_in) \
        - _MISSING * (3.0 - sounding @ _NINTHS.T) / 3.0 - _DELAYED
    roots = _ROOTS[_TRIADS]
    later = np.zeros_like(sounding)
    for k in range(1, _RESOLVES + 1):
        later[:-k] = np.maximum(later[:-k], sounding[k:])
    resolves = (sounding[:, (roots + 2) % 12] > 0) & (later[:, roots] > 0)
    scores[:, _TRIADS] = np.where(resolves, np.maximum(scores[:, _TRIADS], delayed),
                                  scores[:, _TRIADS])
    scores -= _SEVENTH * (tones > 3)
    scores -= _ROOTLESS * (sounding[:, _ROOTS] == 0)
    scores -= _RARE[None, :] + _KEY * (1.0 - _key_fit(chroma))
    roots = _ROOTS
    has_bass = bass >= 0
    on_root = (bass[:, None] == roots[None, :]) & has_bass[:, None]
    bass_tone = np.zeros_like(scores, dtype=bool)
    idx = np.where(has_bass)[0]
    bass_tone[idx] = _TEMPLATES[:, bass[idx]].T > 0
    say = np.array([_BASS_SAY[int(s)] for s in beats.strengths])[:, None]
    # a root-position chord doubles its root in another voice; a bass that no voice
    # doubles, with a sixth above it, is the figured bass's 6 (a first inversion: the
    # sixth is the root, the bass its third), so it says less for being the root
    low = np.where(has_bass, bass, 0)
    sixth = (sounding[np.arange(len(bass)), (low + 8) % 12]
             + sounding[np.arange(len(bass)), (low + 9) % 12]) > 0
    rooted = _BASS_ROOT * (1.0 - _UNDOUBLED * (1.0 - beats.doubled) * sixth)[:, None]
    scores += say * (rooted * on_root + _BASS_TONE * (bass_tone & ~on_root))
    silent = chroma.sum(axis=1) == 0
    scores[silent] = 0.0
    return scores


def _best_path(scores: np.ndarray, beats: _Beats) -> np.ndarray:
    """The chord of each beat that maximises the beats' scores less the changes' cost:
    :data:`_CHANGE` by the beat's strength, and :data:`_CHANGE_HELD` more where the bass
    is not struck on the beat (the harmony moves with its bass)."""
    n, k = scores.shape
    path = np.zeros(n, dtype=np.int64)
    if n == 0:
        return path
    costs = np.array([_CHANGE[int(s)] for s in beats.strengths]) \
        + _CHANGE_HELD * ~beats.bass_struck + _CHANGE_TEXTURE * (1.0 - beats.struck)
    back = np.zeros((n, k), dtype=np.int64)
    total = scores[0].copy()
    for i in range(1, n):
        best = int(np.argmax(total))
        stay = total
        move = total[best] - costs[i]
        back[i] = np.where(stay >= move, np.arange(k), best)
        total = np.maximum(stay, move) + scores[i]
    path[-1] = int(np.argmax(total))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


_LETTERS = "FCGDAEB"  # the line of fifths: F C G D A E B, then sharps, before them flats


def _name_on_fifths(position: int) -> str:
    """The note at ``position`` on the line of fifths (C 0, G 1, F -1, F# 6, Bb -2)."""
    letter = _LETTERS[(position + 1) % 7]
    accidentals = (position + 1) // 7
    return letter + ("#" * accidentals if accidentals > 0 else "b" * -accidentals)


def root_names(sharps: int, minor: bool) -> tuple[str, ...]:
    """How to spell each pitch class as a chord root in a key of ``sharps`` (flats
    negative): the spelling nearest the key on the line of fifths, leaning sharp (the
    secondary dominants' roots and a minor key's leading note are sharps)."""
    centre = sharps + 1.5 + (2 if minor else 0)
    names = []
    for pc in range(12):
        positions = [f for f in range(-6, 11) if (f * 7) % 12 == pc]  # Gb .. A#
        names.append(_name_on_fifths(min(positions, key=lambda f: abs(f - centre))))
    return tuple(names)


def _spelling(song: Song) -> tuple[str, ...]:
    """Root names by the song's first key signature, else by its estimated key."""
    if song.key_signatures:
        key = song.key_signatures[0]
        return root_names(key.sharps, key.minor)
    from engine.encodings.keys import estimate_song_key

    key = estimate_song_key(n for t in song.tracks if not t.is_drum for n in t.notes)
    major_tonic = (key.tonic + 3) % 12 if key.minor else key.tonic
    sharps = (major_tonic * 7 + 5) % 12 - 5  # -5 (Db) .. 6 (F#)
    return root_names(sharps, key.minor)


def detect_beat_chords(song: Song) -> list[tuple[int, ChordSymbol | None]]:
    """(tick, chord) for every beat of the song; None before the first note sounds."""
    segments = beat_segments(song)
    beats = _beat_features(song, segments)
    path = _best_path(_beat_scores(beats), beats)
    chroma = beats.chroma
    names = _spelling(song)
    sounding = chroma.sum(axis=1) > 0
    started = np.cumsum(sounding) > 0
    out: list[tuple[int, ChordSymbol | None]] = []
    for i, (tick, _, _) in enumerate(segments):
        if not started[i]:
            out.append((tick, None))
            continue
        root, quality = _CHORDS[path[i]]
        out.append((tick, ChordSymbol(names[root], quality)))
    return out


def detect_chords(song: Song) -> list[DetectedChord]:
    """The song's chords where they change, each with its bar (numbered as the song's,
    a pickup bar 0) and beat (from 1); empty for a song with no pitched notes."""
    out: list[DetectedChord] = []
    previous = None
    for tick, symbol in detect_beat_chords(song):
        if symbol is None or symbol == previous:
            continue
        bar, beat, _ = song.bar_beat_at(tick)
        out.append(DetectedChord(tick, bar, beat, symbol))
        previous = symbol
    return out


def chord_track(detected: Sequence[DetectedChord]) -> list[Chord]:
    """Detected chords as a song's chord track."""
    return [Chord(d.tick, str(d.symbol)) for d in detected]


def chord_at(chords: Sequence[Chord], tick: int) -> ChordSymbol | None:
    """The chord of a chord track sounding at ``tick`` (the last at or before it)."""
    current = None
    for chord in chords:
        if chord.tick > tick:
            break
        current = chord
    return None if current is None else parse_chord(current.symbol)

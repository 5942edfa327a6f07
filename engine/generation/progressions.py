"""Suggesting chords for a melody: a progression model and the likeliest chords under it.

The model (``models/chords/progressions.json``, made by ``python -m training
progressions`` from the chords :func:`engine.encodings.chords.detect_beat_chords` names
in music21's part music) holds counts, per unit of harmonic rhythm (a beat, a half bar,
a bar) and per mode (major, minor):

- **progressions:** how often each chord follows each other chord, the chords written
  relative to the key (a root in semitones above the tonic and a quality of
  :data:`engine.encodings.chords.DETECTED_QUALITIES`: 108 chords, roman numerals in all
  but name), a chord that stays counted as one that follows itself;
- **melody fit:** how the melody's notes sit on each chord (the weight of each pitch
  class above the tonic under each chord of a beat, smoothed toward its quality's, a
  note weighed by how long it sounds in the unit), apart for the notes struck on a beat
  and for the others (struck between beats, or held over from before): a note on the
  beat is nearly always a chord tone, one between beats is often a passing note; a
  half bar's or a bar's chord is fitted as a beat's is;
- **a root classifier** (optional; :class:`RootClassifier`): a softmax regression, per
  mode, of a beat's chord root above the tonic on the melody around the beat
  (:func:`root_features`: the beat's notes and six beats either side, the main note
  with the one before and the one after, the beat's strength, a note held on into the
  next beat), learnt from the same chords.

:func:`suggest_chords` scores every unit against every chord (the melody fit, times a
weight chosen on the validation split) and weighs every path through the progression
probabilities (add-``SMOOTHING`` smoothed toward how often each chord is heard, by the
strength of the unit's start; the last chord ends the melody, as a cadence does), in
each of the 24 keys: the key under which the melody is likeliest (forward-backward,
every path summed) wins, and each unit gets the root likeliest given the whole melody,
with that root's likeliest quality.  A chord a beat, the root classifier's evidence
(its log probability of the chord's root less the log of how often that root is heard,
times a weight) is added to the melody fit in that key before the roots are weighed
(forward-backward again); the weights are chosen on the validation split.
:func:`next_chords` ranks the chords for one span
given the chord before it and the melody there.  A style folder adds its own
counts (:func:`style_counts`).  Pure numpy, JSON only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from engine.encodings.chords import (DETECTED_QUALITIES, QUALITIES, ChordSymbol,
                                     beat_segments, chord_at, detect_beat_chords,
                                     parse_chord, root_names)
from engine.encodings.keys import Key, estimate_song_key
from engine.errors import EncodingError, ModelError
from engine.resources import models_dir
from engine.song import Chord, Note, Song, melody_track

FORMAT = "continuo-progressions"
VERSION = 3  # 2: the melody fit apart for notes struck on a beat and the others;
# 3: a root classifier (optional) adds its evidence for a chord a beat
READABLE_VERSIONS = (2, 3)  # a version 2 model is one without a root classifier
UNITS = ("beat", "half", "bar")
MODES = ("major", "minor")
N_CHORDS = 12 * len(DETECTED_QUALITIES)
START = N_CHORDS  # the row of the progression counts before a piece's first chord
END = N_CHORDS  # the column after a piece's last chord (a final cadence names its key)
SMOOTHING = 2.0  # pseudo-counts of each chord's overall share added to every row
MELODY_SMOOTHING = 4.0  # quarter notes of the quality's own melody fit added to each chord's
STYLE_WEIGHT = 5.0  # each chord counted in a style folder counts this many times
DEFAULT_FIT = 3.0  # the melody fit's weight when the model names none
KEYS = tuple(Key.all_keys())  # the keys a melody's chords are tried in


def model_path() -> Path:
    """The shipped progression model (in a folder of its own: the model folder's
    top level holds network cards only)."""
    return models_dir() / "chords" / "progressions.json"


def chord_index(root_above_tonic: int, quality: str) -> int:
    return (root_above_tonic % 12) * len(DETECTED_QUALITIES) + DETECTED_QUALITIES.index(quality)


def _nearest_quality(symbol: ChordSymbol) -> str:
    """The detected quality that shares most tones with ``symbol`` (a C9 counts as C7)."""
    if symbol.quality in DETECTED_QUALITIES:
        return symbol.quality
    tones = set(QUALITIES[symbol.quality])
    return max(DETECTED_QUALITIES,
               key=lambda q: (len(tones & set(QUALITIES[q])) - len(set(QUALITIES[q]) - tones),
                              -DETECTED_QUALITIES.index(q)))


def index_of(symbol: ChordSymbol, key: Key) -> int:
    """The key-relative chord of a symbol."""
    return chord_index(symbol.root_pc - key.tonic, _nearest_quality(symbol))


def _mode(key: Key) -> str:
    return "minor" if key.minor else "major"


# ---------------------------------------------------------------------------------------
# counts: what a corpus or a style folder says
# ---------------------------------------------------------------------------------------

@dataclass
class ProgressionCounts:
    """Counts per unit and mode: ``pairs[unit][mode]`` (strength of the unit's start:
    0 a beat, 1 a half bar, 2 a bar line; then START+1 rows, N_CHORDS columns: chord
    after chord) and ``melody[unit][mode]`` (N_CHORDS x 24: the weight of each melody
    pitch class above the tonic under each chord, struck on a beat, then otherwise)."""

    pairs: dict[str, dict[str, np.ndarray]]
    melody: dict[str, dict[str, np.ndarray]]
    pieces: int = 0

    @classmethod
    def empty(cls) -> "ProgressionCounts":
        return cls({u: {m: np.zeros((3, N_CHORDS + 1, N_CHORDS + 1)) for m in MODES}
                    for u in UNITS},
                   {u: {m: np.zeros((N_CHORDS, 24)) for m in MODES} for u in UNITS})

    def add(self, other: "ProgressionCounts", weight: float = 1.0) -> "ProgressionCounts":
        out = ProgressionCounts.empty()
        for u in UNITS:
            for m in MODES:
                out.pairs[u][m] = self.pairs[u][m] + weight * other.pairs[u][m]
                out.melody[u][m] = self.melody[u][m] + weight * other.melody[u][m]
        out.pieces = self.pieces + other.pieces
        return out

    def to_json(self) -> dict:
        def sparse(a: np.ndarray) -> list:
            return [[*map(int, where), round(float(a[where]), 2)]
                    for where in zip(*np.nonzero(a))]
        return {"pieces": self.pieces,
                "pairs": {u: {m: sparse(self.pairs[u][m]) for m in MODES} for u in UNITS},
                "melody": {u: {m: sparse(self.melody[u][m]) for m in MODES} for u in UNITS}}

    @classmethod
    def from_json(cls, data: dict, what: str) -> "ProgressionCounts":
        out = cls.empty()
        try:
            out.pieces = int(data.get("pieces", 0))
            for u in UNITS:
                for m in MODES:
                    for s, r, c, n in data["pairs"][u][m]:
                        out.pairs[u][m][int(s), int(r), int(c)] = float(n)
                    for c, pc, n in data["melody"][u][m]:
                        out.melody[u][m][int(c), int(pc)] = float(n)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ModelError(f"{what}: the progression counts cannot be read "
                             f"({type(e).__name__}: {e})") from None
        return out


def unit_starts(segments: Sequence[tuple[int, int, int]], per: str) -> list[int]:
    """Indices of the beats that start a unit: every beat, each half bar, each bar."""
    if per not in UNITS:
        raise EncodingError(f"chords are suggested per {', '.join(UNITS)}, not {per!r}")
    least = {"beat": 0, "half": 1, "bar": 2}[per]
    return [i for i, s in enumerate(segments) if i == 0 or s[2] >= least]


def melody_weights(notes: Sequence[Note], spans: Sequence[tuple[int, int]],
                   beat_ticks: Sequence[int], ppq: int) -> np.ndarray:
    """(units, 24): each pitch class's weight in each span, the quarter notes it sounds
    there: columns 0-11 the notes struck on a beat in the span, 12-23 the others (struck
    between beats, or held into the span from before it), which sit on the chord
    otherwise (validation: 57.6% of beats, not 56.4% with the two weighed alike)."""
    out = np.zeros((len(spans), 24))
    if not spans:
        return out
    starts = np.array([a for a, _ in spans], dtype=np.int64)
    on_beat = set(beat_ticks)
    for n in notes:
        i = max(int(np.searchsorted(starts, n.start_tick, side="right")) - 1, 0)
        while i < len(spans) and spans[i][0] < n.end_tick:
            a, b = spans[i]
            overlap = min(b, n.end_tick) - max(a, n.start_tick)
            if overlap > 0:
                struck = n.start_tick >= a and n.start_tick in on_beat
                out[i, (0 if struck else 12) + n.pitch % 12] += overlap / ppq
            i += 1
    return out


def above_tonic(weights: np.ndarray, tonic: int) -> np.ndarray:
    """:func:`melody_weights` rows with each pitch class written above ``tonic``."""
    halves = weights.reshape(len(weights), 2, 12)
    return np.roll(halves, -tonic, axis=2).reshape(len(weights), 24)


def _spans(segments, starts: Sequence[int]) -> list[tuple[int, int]]:
    ends = list(starts[1:]) + [len(segments)]
    return [(segments[a][0], segments[b - 1][1]) for a, b in zip(starts, ends)]


def count_song(song: Song, beats: Sequence[tuple[int, ChordSymbol | None]] | None = None
               ) -> ProgressionCounts:
    """The chords detected in ``song`` (every pitched track; ``beats``: those of
    :func:`engine.encodings.chords.detect_beat_chords` when already known) and its
    melody (the track :func:`engine.song.melody_track` finds) as counts."""
    out = ProgressionCounts.empty()
    pitched = [n for t in song.tracks if not t.is_drum for n in t.notes]
    if not pitched:
        return out
    out.pieces = 1
    key = estimate_song_key(pitched)
    mode = _mode(key)
    segments = beat_segments(song)
    beats = detect_beat_chords(song) if beats is None else beats
    melody = song.tracks[melody_track(song)].notes
    for per in UNITS:
        starts = unit_starts(segments, per)
        spans = _spans(segments, starts)
        weights = melody_weights(melody, spans, [s[0] for s in segments], song.ppq)
        ends = list(starts[1:]) + [len(segments)]
        previous = START
        for u, (a, b) in enumerate(zip(starts, ends)):
            symbols = [s for _, s in beats[a:b] if s is not None]
            if not symbols:
                if previous != START:
                    out.pairs[per][mode][2, previous, END] += 1
                previous = START
                continue
            symbol = max(symbols, key=symbols.count)  # the unit's most heard chord
            c = index_of(symbol, key)
            out.pairs[per][mode][segments[a][2], previous, c] += 1
            out.melody[per][mode][c] += above_tonic(weights[u:u + 1], key.tonic)[0]
            previous = c
        if previous != START:
            out.pairs[per][mode][2, previous, END] += 1
    return out


# ---------------------------------------------------------------------------------------
# a beat's root from the melody around it
# ---------------------------------------------------------------------------------------

ROOT_FEATURES = 1  # the layout of :func:`root_features`; a model's root classifier names it
ROOT_WINDOW = 6  # beats either side whose melody the root classifier reads (validation,
# the best of each window's grid: 1 beat 58.9%, 2 59.9%, 3 60.8%, 4 61.1%, 6 62.2%, 8 61.5%)


def _main_notes(rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's main note (the pitch class struck on the beat with most weight, else
    the one sounding longest) one-hot, and the main pitch class (0 where none sounds)."""
    n = len(rel)
    struck, folded = rel[:, :12], rel[:, :12] + rel[:, 12:]
    main = np.where(struck.sum(axis=1) > 0, struck.argmax(axis=1), folded.argmax(axis=1))
    sounding = folded.sum(axis=1) > 0
    onehot = np.zeros((n, 12))
    onehot[np.flatnonzero(sounding), main[sounding]] = 1.0
    return onehot, main


def _outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a[:, :, None] * b[:, None, :]).reshape(len(a), -1)


def root_features(rel: np.ndarray, strengths: Sequence[int]) -> np.ndarray:
    """(units, features) for the root classifier, from :func:`melody_weights` rows
    written above the tonic (a beat each, from the first with melody) and each beat's
    strength (0 a beat, 1 a half bar, 2 a bar line): the melody's pitch-class shares on
    the beat and :data:`ROOT_WINDOW` beats either side (struck on the beat, otherwise);
    the main note with the one before and with the one after (pairs); the main note by
    the beat's strength; whether the main note is held on into the next beat with
    nothing struck there (a cadence's long note), and which; the first and last beats,
    and the last's main note; a constant."""
    rel = np.asarray(rel, dtype=float).reshape(-1, 24)
    n = len(rel)
    total = rel.sum(axis=1, keepdims=True)
    shares = np.divide(rel, total, out=np.zeros_like(rel), where=total > 0)
    pad = np.zeros((ROOT_WINDOW, 24))
    padded = np.vstack([pad, shares, pad])
    window = [padded[ROOT_WINDOW + o:ROOT_WINDOW + o + n]
              for o in range(-ROOT_WINDOW, ROOT_WINDOW + 1)]
    main, pcs = _main_notes(rel)
    before = np.vstack([np.zeros((1, 12)), main[:-1]])[:n]
    after = np.vstack([main[1:], np.zeros((1, 12))])[:n]
    strength = np.zeros((n, 3))
    strength[np.arange(n), np.clip(np.asarray(strengths, dtype=np.int64)[:n], 0, 2)] = 1.0
    following = np.vstack([rel[1:], np.zeros((1, 24))])[:n]
    held = ((following[:, :12].sum(axis=1) == 0)
            & (following[np.arange(n), 12 + pcs] > 0) & (main.sum(axis=1) > 0)).astype(float)
    first, last = np.zeros(n), np.zeros(n)
    if n:
        first[0], last[-1] = 1.0, 1.0
    return np.hstack([*window, _outer(before, main), _outer(main, after), strength,
                      _outer(strength, main), held[:, None], held[:, None] * main,
                      first[:, None], last[:, None], last[:, None] * main, np.ones((n, 1))])


N_ROOT_FEATURES = root_features(np.zeros((1, 24)), [0]).shape[1]


def root_examples(song: Song, beats: Sequence[tuple[int, ChordSymbol | None]] | None = None
                  ) -> tuple[str, np.ndarray, list[int], np.ndarray] | None:
    """What the root classifier learns from ``song``, a beat each from the beat where
    its melody starts: its mode (the key estimated from every pitched track), its
    melody's :func:`melody_weights` written above the tonic, each beat's strength, and
    the root above the tonic of the chord ``beats`` (detection's chords, found when not
    given) name there, -1 where they name none (the features are :func:`root_features`
    of the weights and strengths).  None for a song without a melody."""
    pitched = [n for t in song.tracks if not t.is_drum for n in t.notes]
    if not pitched:
        return None
    key = estimate_song_key(pitched)
    segments = beat_segments(song)
    beats = detect_beat_chords(song) if beats is None else beats
    melody = song.tracks[melody_track(song)].notes
    weights = melody_weights(melody, [(a, b) for a, b, _ in segments],
                             [a for a, _, _ in segments], song.ppq)
    heard = np.flatnonzero(weights.sum(axis=1) > 0)
    if not len(heard):
        return None
    first = int(heard[0])
    roots = np.array([-1 if symbol is None else (symbol.root_pc - key.tonic) % 12
                      for _, symbol in beats[first:]], dtype=np.int64)
    return (_mode(key), above_tonic(weights[first:], key.tonic),
            [s[2] for s in segments[first:]], roots)


@dataclass
class RootClassifier:
    """A beat's chord root above the tonic from the melody around it (softmax
    regression on :func:`root_features`, a weight matrix per mode, learnt from the
    corpus by ``python -m training progressions``), and the share of each root in the
    corpus.  Its evidence for a chord, ``weight`` times (the log probability of the
    chord's root less ``prior_scale`` times the log of that root's share), is added to
    the progression model's melody fit (times ``fit_scale``) for a chord a beat."""

    weights: dict[str, np.ndarray]  # mode -> (N_ROOT_FEATURES, 12)
    log_prior: dict[str, np.ndarray]  # mode -> (12,)
    weight: float = 1.0
    fit_scale: float = 1.0
    prior_scale: float = 1.0

    def log_probs(self, features: np.ndarray, mode: str) -> np.ndarray:
        """(units, 12) log probability of each root above the tonic."""
        z = features @ self.weights[mode]
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def evidence(self, features: np.ndarray, mode: str) -> np.ndarray:
        """(units, N_CHORDS): the classifier's score of every key-relative chord."""
        score = self.weight * (self.log_probs(features, mode)
                               - self.prior_scale * self.log_prior[mode][None, :])
        return np.repeat(score, len(DETECTED_QUALITIES), axis=1)

    def with_weights(self, weight: float, fit_scale: float, prior_scale: float
                     ) -> "RootClassifier":
        return RootClassifier(self.weights, self.log_prior, weight, fit_scale, prior_scale)

    def to_json(self) -> dict:
        return {"features": ROOT_FEATURES, "weight": self.weight, "fit_scale": self.fit_scale,
                "prior_scale": self.prior_scale,
                **{m: {"weights": [round(float(x), 4) for x in self.weights[m].ravel()],
                       "log_prior": [round(float(x), 4) for x in self.log_prior[m]]}
                   for m in MODES}}

    @classmethod
    def from_json(cls, data: dict, what: str) -> "RootClassifier":
        if not isinstance(data, dict) or data.get("features") != ROOT_FEATURES:
            raise ModelError(f"{what}: the root classifier reads features of layout "
                             f"{data.get('features') if isinstance(data, dict) else None!r}; "
                             f"this Continuo makes layout {ROOT_FEATURES}")
        try:
            weights = {m: np.array(data[m]["weights"], dtype=float).reshape(N_ROOT_FEATURES, 12)
                       for m in MODES}
            prior = {m: np.array(data[m]["log_prior"], dtype=float).reshape(12) for m in MODES}
            return cls(weights, prior, float(data["weight"]), float(data["fit_scale"]),
                       float(data["prior_scale"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{what}: the root classifier cannot be read "
                             f"({type(e).__name__}: {e})") from None


# ---------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------

def _log_transitions(pairs: np.ndarray) -> np.ndarray:
    """(3, START+1, N_CHORDS+1) log probabilities of the next chord (or END) by the
    strength of its unit's start and the chord before: each strength's counts smoothed toward all
    strengths' counts of that row, those toward how often each chord is heard."""
    pooled = pairs.sum(axis=0)
    heard = pooled.sum(axis=0) + 0.5
    share = heard / heard.sum()
    rows = pooled + SMOOTHING * share[None, :]
    rows = rows / rows.sum(axis=1, keepdims=True)
    by_strength = pairs + SMOOTHING * rows[None, :, :]
    return np.log(by_strength / by_strength.sum(axis=2, keepdims=True))


def _log_melody(melody: np.ndarray) -> np.ndarray:
    """(N_CHORDS, 24) log probability of a melody pitch class above the tonic under
    each chord, struck on a beat (0-11) and otherwise (12-23), each apart: its own
    counts smoothed toward its quality's (every root pooled, interval above the root),
    those add-half smoothed."""
    return np.hstack([_log_melody_half(melody[:, :12]), _log_melody_half(melody[:, 12:])])


def _log_melody_half(melody: np.ndarray) -> np.ndarray:
    n_q = len(DETECTED_QUALITIES)
    by_quality = np.full((n_q, 12), 0.5)
    for c in range(N_CHORDS):
        root, q = divmod(c, n_q)
        by_quality[q] += np.roll(melody[c], -root)
    by_quality /= by_quality.sum(axis=1, keepdims=True)
    prior = np.array([np.roll(by_quality[c % n_q], c // n_q) for c in range(N_CHORDS)])
    table = melody + MELODY_SMOOTHING * prior
    return np.log(table / table.sum(axis=1, keepdims=True))


@dataclass
class ProgressionModel:
    """Log probabilities made from counts: ``log_next[unit][mode]`` (START+1 x N_CHORDS)
    and ``log_fit[unit][mode]`` (N_CHORDS x 24: a melody pitch class above the tonic
    under each chord, struck on a beat, then otherwise), and the melody fit's weight
    per unit; ``roots``: the root classifier that adds its evidence for a chord a beat
    (none: the progressions and the melody fit alone)."""

    counts: ProgressionCounts
    fit_weight: dict[str, float]
    card: dict
    roots: RootClassifier | None = None

    def __post_init__(self) -> None:
        self.log_next: dict[str, dict[str, np.ndarray]] = {u: {} for u in UNITS}
        self.log_fit: dict[str, dict[str, np.ndarray]] = {u: {} for u in UNITS}
        for u in UNITS:
            for m in MODES:
                self.log_next[u][m] = _log_transitions(self.counts.pairs[u][m])
                # a chord fits a melody as a beat's chord does, whatever its span: a
                # bar's counts are flat where Bach's harmony changes within the bar
                # (validation: 34.7% of beats for a chord a bar, not 32.8%)
                self.log_fit[u][m] = _log_melody(self.counts.melody["beat"][m])

    def with_style(self, style: ProgressionCounts) -> "ProgressionModel":
        return ProgressionModel(self.counts.add(style, STYLE_WEIGHT), self.fit_weight,
                                self.card, self.roots)

    def to_json(self) -> dict:
        out = {"format": FORMAT, "version": VERSION, **self.card,
               "fit_weight": self.fit_weight, "counts": self.counts.to_json()}
        if self.roots is not None:
            out["root_classifier"] = self.roots.to_json()
        return out


def model_from_json(data: dict, what: str) -> ProgressionModel:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"{what}: not a progression model (its format is not {FORMAT!r})")
    if data.get("version") not in READABLE_VERSIONS:
        raise ModelError(f"{what}: progression model version {data.get('version')!r}; "
                         f"this Continuo reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))}")
    counts = ProgressionCounts.from_json(data.get("counts", {}), what)
    weights = data.get("fit_weight", {})
    fit = {u: float(weights.get(u, DEFAULT_FIT)) if isinstance(weights, dict) else DEFAULT_FIT
           for u in UNITS}
    roots = (RootClassifier.from_json(data["root_classifier"], what)
             if data.get("root_classifier") is not None else None)
    card = {k: v for k, v in data.items() if k not in ("format", "version", "counts",
                                                       "fit_weight", "root_classifier")}
    return ProgressionModel(counts, fit, card, roots)


def load_model(path: str | os.PathLike | None = None) -> ProgressionModel:
    """The progression model at ``path`` (default: the shipped one)."""
    path = Path(path) if path is not None else model_path()
    return _load_cached(str(path), *_stamp(path))


def _stamp(path: Path) -> tuple[float, int]:
    try:
        st = path.stat()
    except OSError:
        raise ModelError(f"{path}: there is no progression model there (make it with "
                         f"`python -m training progressions`)") from None
    return st.st_mtime, st.st_size


@lru_cache(maxsize=4)
def _load_cached(path: str, _mtime: float, _size: int) -> ProgressionModel:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: the progression model cannot be read ({e})") from None
    return model_from_json(data, path)


# ---------------------------------------------------------------------------------------
# a style folder's own counts
# ---------------------------------------------------------------------------------------

def style_counts(folder: str | os.PathLike) -> ProgressionCounts:
    """The chords detected in every tune of a folder of music, as counts (read again
    only when a file changes)."""
    from engine.formats.folder import music_files

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: the style folder does not exist")
    files = music_files(folder)
    stamp = tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in files)
    return _style_cached(str(folder), stamp)


@lru_cache(maxsize=4)
def _style_cached(folder: str, stamp: tuple) -> ProgressionCounts:
    from engine.errors import ContinuoError
    from engine.formats.folder import tunes_in

    out = ProgressionCounts.empty()
    for path, _, _ in stamp:
        try:
            songs = tunes_in(Path(path))
        except ContinuoError:
            continue  # a file that cannot be read adds nothing
        for _, song in songs:
            out = out.add(count_song(song))
    return out


def _model_for(style: str | os.PathLike | ProgressionCounts | None,
               model: ProgressionModel | None) -> ProgressionModel:
    model = model if model is not None else load_model()
    if style is None:
        return model
    counts = style if isinstance(style, ProgressionCounts) else style_counts(style)
    return model.with_style(counts)


# ---------------------------------------------------------------------------------------
# suggesting
# ---------------------------------------------------------------------------------------

def melody_key(notes: Iterable[Note]) -> Key:
    return estimate_song_key(notes)


def spelling(key: Key) -> tuple[str, ...]:
    """Root names for chords in ``key``."""
    major_tonic = (key.tonic + 3) % 12 if key.minor else key.tonic
    return root_names((major_tonic * 7 + 5) % 12 - 5, key.minor)


def symbol_of(index: int, key: Key) -> ChordSymbol:
    root, q = divmod(int(index), len(DETECTED_QUALITIES))
    return ChordSymbol(spelling(key)[(root + key.tonic) % 12], DETECTED_QUALITIES[q])


def unit_fit(model: ProgressionModel, per: str, key: Key, weights: np.ndarray) -> np.ndarray:
    """(units, N_CHORDS): the melody fit of every chord in every unit, each unit's
    weights made a distribution (a unit with no melody fits every chord alike)."""
    rel = above_tonic(weights, key.tonic)
    total = rel.sum(axis=1, keepdims=True)
    np.divide(rel, total, out=rel, where=total > 0)
    return model.fit_weight[per] * (rel @ model.log_fit[per][_mode(key)].T)


def best_path(log_next: np.ndarray, strengths: Sequence[int], fit: np.ndarray
              ) -> tuple[np.ndarray, float]:
    """The chord of each unit that maximises the progression's log probability (the
    last chord's ending the melody included) plus the melody fit (Viterbi), and that
    total."""
    n = len(fit)
    path = np.zeros(n, dtype=np.int64)
    if n == 0:
        return path, 0.0
    total = log_next[strengths[0], START, :N_CHORDS] + fit[0]
    back = np.zeros((n, N_CHORDS), dtype=np.int64)
    for i in range(1, n):
        cand = total[:, None] + log_next[strengths[i], :N_CHORDS, :N_CHORDS]
        back[i] = np.argmax(cand, axis=0)
        total = cand[back[i], np.arange(N_CHORDS)] + fit[i]
    total = total + log_next[2, :N_CHORDS, END]  # the last chord ends the melody
    path[-1] = int(np.argmax(total))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path, float(total.max())


@dataclass(frozen=True)
class _Melody:
    """A song's melody cut into units: their spans, strengths and pitch-class weights,
    from the unit where the melody starts."""

    spans: list[tuple[int, int]]
    strengths: list[int]
    weights: np.ndarray
    segments: list[tuple[int, int, int]]


def melody_units(song: Song, per: str, end_tick: int | None = None) -> _Melody:
    """The song's melody (the track :func:`engine.song.melody_track` finds) cut into
    ``per`` units, from the unit where it starts."""
    index = melody_track(song)
    if index is None:
        raise EncodingError("the song has no melody to suggest chords for (no pitched notes)")
    notes = song.tracks[index].notes
    end = max(max(n.end_tick for n in notes), end_tick or 0)
    segments = beat_segments(song, end)
    starts = unit_starts(segments, per)
    spans = _spans(segments, starts)
    weights = melody_weights(notes, spans, [s[0] for s in segments], song.ppq)
    first = next(i for i, row in enumerate(weights) if row.sum() > 0)
    return _Melody(spans[first:], [segments[i][2] for i in starts[first:]],
                   weights[first:], segments)


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = a.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(a - top).sum(axis=axis))


def posteriors(log_next: np.ndarray, strengths: Sequence[int], fit: np.ndarray
               ) -> tuple[np.ndarray, float]:
    """(units, N_CHORDS) probability of each chord in each unit given the whole melody
    (forward-backward), and the melody's log likelihood over every path."""
    n = len(fit)
    alpha = np.zeros((n, N_CHORDS))
    alpha[0] = log_next[strengths[0], START, :N_CHORDS] + fit[0]
    for i in range(1, n):
        trans = log_next[strengths[i], :N_CHORDS, :N_CHORDS]
        alpha[i] = _logsumexp(alpha[i - 1][:, None] + trans, axis=0) + fit[i]
    beta = np.zeros((n, N_CHORDS))
    beta[-1] = log_next[2, :N_CHORDS, END]
    for i in range(n - 2, -1, -1):
        trans = log_next[strengths[i + 1], :N_CHORDS, :N_CHORDS]
        beta[i] = _logsumexp(trans + (fit[i + 1] + beta[i + 1])[None, :], axis=1)
    total = float(_logsumexp(alpha[-1] + beta[-1], axis=0))
    return np.exp(alpha + beta - total), total


def decode(model: ProgressionModel, per: str, melody: _Melody) -> tuple[Key, np.ndarray]:
    """The key and the chord of each of the melody's units.  The key is the one under
    which the model finds the melody likeliest (every path summed); each unit's chord
    has the root likeliest given the whole melody (its chords' probabilities summed),
    with that root's likeliest quality."""
    key, post = chord_posteriors(model, per, melody)
    n_q = len(DETECTED_QUALITIES)
    by_root = post.reshape(len(post), 12, n_q)
    roots = by_root.sum(axis=2).argmax(axis=1)
    qualities = by_root[np.arange(len(post)), roots].argmax(axis=1)
    return key, roots * n_q + qualities


def best_key(model: ProgressionModel, per: str, melody: _Melody
             ) -> tuple[Key, np.ndarray, np.ndarray]:
    """The key under which the progressions and the melody fit find the melody likeliest
    (every path summed), the (units, N_CHORDS) melody fit in it, and the probability of
    each key-relative chord in each unit given the melody (without the root
    classifier)."""
    best = None
    for key in KEYS:
        fit = unit_fit(model, per, key, melody.weights)
        post, total = posteriors(model.log_next[per][_mode(key)], melody.strengths, fit)
        if best is None or total > best[0]:
            best = (total, key, fit, post)
    return best[1], best[2], best[3]


def with_root_evidence(model: ProgressionModel, melody: _Melody, key: Key, fit: np.ndarray,
                       roots: RootClassifier) -> np.ndarray:
    """(units, N_CHORDS) chord probabilities, a chord a beat, given the whole melody
    with ``roots``' evidence added to the melody fit (``fit``, in ``key``)."""
    features = root_features(above_tonic(melody.weights, key.tonic), melody.strengths)
    scores = roots.fit_scale * fit + roots.evidence(features, _mode(key))
    post, _ = posteriors(model.log_next["beat"][_mode(key)], melody.strengths, scores)
    return post


def chord_posteriors(model: ProgressionModel, per: str, melody: _Melody
                     ) -> tuple[Key, np.ndarray]:
    """The key under which the model finds the melody likeliest (:func:`best_key`) and,
    in it, the (units, N_CHORDS) probability of each key-relative chord in each unit
    (a chord a beat: with the root classifier's evidence, where the model has one)."""
    key, fit, post = best_key(model, per, melody)
    if per == "beat" and model.roots is not None:
        post = with_root_evidence(model, melody, key, fit, model.roots)
    return key, post


def suggest_chords(song: Song, per: str = "bar", style=None,
                   model: ProgressionModel | None = None) -> list[Chord]:
    """A chord for every ``per`` ("bar", "half" or "beat") of the song's melody (the
    track :func:`engine.song.melody_track` finds), as a chord track: one Chord where the
    chord changes.  ``style``: a folder of music whose chords add to the model's counts
    (or counts from :func:`style_counts`)."""
    model = _model_for(style, model)
    melody = melody_units(song, per)
    key, path = decode(model, per, melody)
    out: list[Chord] = []
    for (tick, _), index in zip(melody.spans, path):
        symbol = str(symbol_of(index, key))
        if not out or out[-1].symbol != symbol:
            out.append(Chord(tick, symbol))
    return out


def next_chords(song: Song, tick: int, k: int = 5, per: str = "bar", style=None,
                model: ProgressionModel | None = None) -> list[tuple[str, float]]:
    """The ``k`` likeliest chords for the span from ``tick`` to the next ``per``
    boundary after it (to the end of the bar by default), given the chord track's
    chord before ``tick`` and the melody in the span, in the key the melody's best
    chords are in: (symbol, probability), likeliest first; the probabilities are over
    every chord, so they sum to at most 1."""
    if not isinstance(tick, int) or tick < 0:
        raise EncodingError(f"the chord is asked for at tick {tick!r}: a tick is 0 or more")
    model = _model_for(style, model)
    melody = melody_units(song, per, tick + 1)
    key, _ = decode(model, per, melody)
    segments = beat_segments(song, tick + song.ticks_per_bar_at(tick) + 1)
    bounds = [segments[i][0] for i in unit_starts(segments, per)] + [segments[-1][1]]
    span_end = next(b for b in bounds if b > tick)
    strength = next((s[2] for s in segments if s[0] == tick), 0)
    index = melody_track(song)
    weights = melody_weights(song.tracks[index].notes, [(tick, span_end)],
                             [s[0] for s in segments], song.ppq)
    before = chord_at(song.chords, tick - 1) if tick > 0 else None
    row = START if before is None else index_of(before, key)
    score = model.log_next[per][_mode(key)][strength, row, :N_CHORDS] + unit_fit(model, per, key, weights)[0]
    prob = np.exp(score - score.max())
    prob /= prob.sum()
    order = np.argsort(-prob, kind="stable")[:max(int(k), 0)]
    return [(str(symbol_of(i, key)), float(prob[i])) for i in order]

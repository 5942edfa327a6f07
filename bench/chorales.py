"""Do the polyphonic models write chorales?  Musical measures on Bach's own.

On the four-part Bach chorales of the part-music corpus's test split (ids under
``bach/``, split "test", four parts with notes, at least 8 bars), for each polyphonic
model (every card whose encoding is polyphonic) in ``--models-dir``:

(a) continue the first 4 bars: 4 bars, 4 variations, temperature 1, fixed RNG seeds
    (``--rng-seed`` + the chorale's index), and measure

    * parts per beat: at each beat's onset tick in the continuation, the parts (tracks)
      with a note sounding there (a part doubled within itself counts once, so a
      doubled alto cannot stand in for a silent bass); the median over every beat
      (target 4);
    * note length: the mean length of the new notes in beats (no target; Bach's
      beside it shows whether a model holds its notes too long);
    * in range: for each part (track), the share of its new notes within that part's
      seed range (lowest to highest pitch of its notes in the seed) +/- 3 semitones
      (target >= 90%, pooled; the worst part is shown too);
    * parallels: parallel fifths and octaves (unisons and compound intervals included)
      between every pair of parts per 100 beats, on beat-by-beat sonorities (each
      part's highest note sounding at each beat's onset): two parts a perfect fifth or
      octave apart (mod 12: 7 or 0) that both move, in the same direction, to the same
      perfect interval.  Bach's own rate is the same function on the real
      continuation (bars 5-8) of the same chorales (target: within 3x Bach's);

(b) harmonise the soprano (track 0) of each chorale's first 8 bars (the soprano alone
    is the input, as ``main.py harmonise`` gives it) and measure

    * soprano unchanged: (pitch, start, duration) of every soprano note equal in the
      output song's soprano track (target 100% of the harmonisations);
    * full beats: the share of the melody's beats (onset ticks from its first note to
      its end) where at least 3 parts sound in the output (target >= 90%);
    * the final chord's bass (the lowest note at the melody's last onset) on the
      tonic or the fifth of the key the harmonisation used (target 100%), and the first
      chord's bass on the tonic (Bach's share beside it);

and for both, each part as a line (parts top down by their mean pitch): notes of one
part that overlap (target 0), bars in which a part that sounds in every bar of its
seed (every part, for (b)) has no note (target <= 1%, none in the final bar), and
beats at which a lower part sounds above a higher one (target: Bach's share + 1
point).

The chorales come from the part-music cache (``python -m training partmusic``); without
it they are parsed from music21's corpus with the cache's own parser (the same ids and
split).  Bach's own figures for every measure are printed beside the models'.

    python bench/chorales.py [--models-dir DIR] [--model NAME] [--limit N] [--rng-seed S]

Prints a markdown table and writes bench/results/chorales.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from engine.encodings import PARTS, capabilities_of  # noqa: E402
from engine.errors import ContinuoError  # noqa: E402
from engine.generation.generator import GenerationSettings  # noqa: E402
from engine.generation.polyphony import generate_polyphony  # noqa: E402
from engine.models import ModelLibrary  # noqa: E402
from engine.generation.parts_song import song_with_parts  # noqa: E402
from engine.song import Note, Song, TimeSignature, Track  # noqa: E402

SEED_BARS = 4
CONTINUE_BARS = 4
HARMONISE_BARS = 8
VARIATIONS = 4
RANGE_MARGIN = 3
PERFECT = (0, 7)  # unison/octave, fifth (mod 12)

TARGET_NOTES_PER_BEAT = 4
TARGET_IN_RANGE = 0.90
TARGET_PARALLELS_OVER_BACH = 3.0
TARGET_SOPRANO_UNCHANGED = 1.0
TARGET_FULL_BEATS = 0.90
TARGET_REST_BARS = 0.01  # whole-bar rests in a part whose seed sounds in every bar
TARGET_CROSSING_POINTS = 0.01  # beats with crossed parts: at most Bach's share + 1 point
FULL = 3  # notes sounding for a "full" beat


# ---------------------------------------------------------------------------------------
# the chorales
# ---------------------------------------------------------------------------------------


def is_test_chorale(piece_id: str, song: Song) -> bool:
    tracks = [t for t in song.tracks if t.notes]
    return (piece_id.startswith("bach/") and len(tracks) == 4
            and song.end_tick >= HARMONISE_BARS * bar_ticks(song))


def test_chorales(limit: int | None = None) -> tuple[list[tuple[str, Song]], str]:
    """(id, Song) of the test-split four-part Bach chorales, and where they came from."""
    try:
        from training.datasets.partmusic import load_part_songs

        pieces = [(pid, song) for pid, _, song in load_part_songs("test")]
    except FileNotFoundError:
        return (corpus_chorales("test", limit),
                "music21's corpus, parsed now (no cache yet)")
    chorales = [(pid, song) for pid, song in sorted(pieces, key=lambda p: p[0])
                if is_test_chorale(pid, song)]
    return chorales[:limit] if limit else chorales, "the part-music cache (training/cache)"


def corpus_chorales(split: str, limit: int | None = None) -> list[tuple[str, Song]]:
    """(id, Song) of ``split``'s four-part Bach chorales (:func:`is_test_chorale`), the
    first ``limit`` in id order, parsed from music21's corpus as
    training.datasets.partmusic parses it (no cache)."""
    from training.datasets.partmusic import collection_files, corpus_root, parse_file
    from training.datasets.splits import split_of

    root = corpus_root()
    out = []
    for pid in sorted(collection_files(root).get("bach", [])):
        if split_of(pid) != split:
            continue
        r = parse_file(str(root), pid)
        if not r["ok"]:
            continue
        tracks = [Track(name=name) for name in r["track_names"]]
        for t, p, s, d, v in r["notes"].tolist():
            tracks[t].notes.append(Note(p, s, d, v, 0))
        num, den = r["time_signature"]
        song = Song(ppq=r["ppq"], tracks=tracks, time_signatures=[TimeSignature(0, num, den)])
        if is_test_chorale(pid, song):
            out.append((pid, song))
            if limit and len(out) >= limit:
                break
    return out


def bar_ticks(song: Song) -> int:
    return song.ticks_per_bar_at(0)


def beat_ticks(song: Song) -> int:
    ts = song.time_signatures[0] if song.time_signatures else None
    return song.ppq * 4 // (ts.denominator if ts else 4)


def window(notes: Sequence[Note], start: int, end: int) -> list[Note]:
    """The notes starting in [start, end), cut at ``end``."""
    out = []
    for n in notes:
        if start <= n.start_tick < end:
            if n.end_tick > end:
                n = Note(n.pitch, n.start_tick, end - n.start_tick, n.velocity, n.channel)
            out.append(n)
    return out


def cut_song(song: Song, end: int, tracks: Sequence[int] | None = None) -> Song:
    """A copy of ``song`` (of ``tracks`` only, if given) with the notes before ``end``."""
    out = song.copy()
    if tracks is not None:
        out.tracks = [out.tracks[i] for i in tracks]
    for t in out.tracks:
        t.notes = window(t.notes, 0, end)
    return out


# ---------------------------------------------------------------------------------------
# the measures
# ---------------------------------------------------------------------------------------


def sounding(notes: Sequence[Note], tick: int) -> list[int]:
    return [n.pitch for n in notes if n.start_tick <= tick < n.end_tick]


def notes_per_beat(parts: Sequence[Sequence[Note]], beats: Sequence[int]) -> list[int]:
    """Per beat onset tick: how many notes sound there across all parts."""
    return [sum(len(sounding(p, b)) for p in parts) for b in beats]


def in_range(seed_part: Sequence[Note], new: Sequence[Note]) -> tuple[int, int]:
    """(new notes within the seed part's range +/- RANGE_MARGIN, new notes)."""
    if not seed_part:
        return 0, len(new)
    lo = min(n.pitch for n in seed_part) - RANGE_MARGIN
    hi = max(n.pitch for n in seed_part) + RANGE_MARGIN
    return sum(lo <= n.pitch <= hi for n in new), len(new)


def sonorities(parts: Sequence[Sequence[Note]], beats: Sequence[int]) -> list[list[int | None]]:
    """Per beat, each part's highest pitch sounding at its onset (None: silent)."""
    out = []
    for b in beats:
        row = []
        for p in parts:
            ps = sounding(p, b)
            row.append(max(ps) if ps else None)
        out.append(row)
    return out


def parallels(parts: Sequence[Sequence[Note]], beats: Sequence[int]) -> int:
    """Parallel fifths and octaves (unisons, compound intervals) between every pair of
    parts from each beat to the next: a perfect interval (mod 12: 7 or 0) followed by
    the same one, both parts moving in the same direction."""
    rows = sonorities(parts, beats)
    count = 0
    for a, b in zip(rows, rows[1:]):
        for i in range(len(parts)):
            for j in range(i + 1, len(parts)):
                if None in (a[i], a[j], b[i], b[j]):
                    continue
                first = abs(a[i] - a[j]) % 12
                second = abs(b[i] - b[j]) % 12
                if first not in PERFECT or second != first:
                    continue
                di, dj = b[i] - a[i], b[j] - a[j]
                if di and dj and (di > 0) == (dj > 0):
                    count += 1
    return count


def beats_in(song: Song, start: int, end: int) -> list[int]:
    return list(range(start, end, beat_ticks(song)))


def parts_sounding(parts: Sequence[Sequence[Note]], tick: int) -> int:
    """How many parts have a note sounding at ``tick`` (a doubled part counts once)."""
    return sum(any(n.start_tick <= tick < n.end_tick for n in p) for p in parts)


def overlaps(part: Sequence[Note]) -> int:
    """Notes of one part that start while an earlier note of the part still sounds."""
    count, end = 0, -1
    for n in sorted(part, key=lambda n: (n.start_tick, n.pitch)):
        if n.start_tick < end:
            count += 1
        end = max(end, n.end_tick)
    return count


def rest_bars(part: Sequence[Note], bars: Sequence[tuple[int, int]]) -> list[bool]:
    """Per bar ``(start, end)``: whether the part sounds no note anywhere in it."""
    return [not any(n.start_tick < b and n.end_tick > a for n in part) for a, b in bars]


def crossings(parts: Sequence[Sequence[Note]], beats: Sequence[int]) -> int:
    """Beats at which a lower part (later in ``parts``, top down) sounds above a higher
    one: each part's highest note at the beat's onset."""
    count = 0
    for row in sonorities(parts, beats):
        heard = [p for p in row if p is not None]
        count += any(a < b for i, a in enumerate(heard) for b in heard[i + 1:])
    return count


def bass_at(parts: Sequence[Sequence[Note]], tick: int) -> int | None:
    """The lowest pitch sounding at ``tick`` in any part."""
    ps = [n.pitch for p in parts for n in p if n.start_tick <= tick < n.end_tick]
    return min(ps) if ps else None


class Lines:
    """Each part as a line: overlaps within a part, bars without a note in a part
    whose seed (or Bach's part) sounds in every bar, and whether that happens in the
    final bar, crossings per beat (parts top down)."""

    def __init__(self) -> None:
        self.overlaps = 0
        self.notes = 0
        self.rest_bars = 0
        self.bars = 0
        self.final_rests = 0
        self.finals = 0
        self.crossings = 0
        self.beats = 0

    def add(self, parts: Sequence[Sequence[Note]], bars: Sequence[tuple[int, int]],
            beats: Sequence[int], full: Sequence[bool]) -> None:
        """``full``: per part, whether it should sound in every bar."""
        for p, must in zip(parts, full):
            self.overlaps += overlaps(p)
            self.notes += len(p)
            if must:
                rests = rest_bars(p, bars)
                self.rest_bars += sum(rests)
                self.bars += len(rests)
                self.final_rests += bool(rests and rests[-1])
                self.finals += 1
        self.crossings += crossings(parts, beats)
        self.beats += len(beats)

    def figures(self) -> dict:
        return {"overlaps": self.overlaps, "notes": self.notes,
                "rest_bar_share": round(self.rest_bars / self.bars, 4) if self.bars else None,
                "rest_bars": self.rest_bars, "part_bars": self.bars,
                "final_bar_rests": self.final_rests, "final_bars": self.finals,
                "crossing_beat_share": round(self.crossings / self.beats, 4)
                if self.beats else None}


def bars_in(song: Song, start: int, end: int) -> list[tuple[int, int]]:
    bar = bar_ticks(song)
    return [(a, min(a + bar, end)) for a in range(start, end, bar)]


def sounds_every_bar(part: Sequence[Note], bars: Sequence[tuple[int, int]]) -> bool:
    return bool(part) and not any(rest_bars(part, bars))


class Tally:
    """Sums over chorales and variations."""

    def __init__(self, parts: int = 4) -> None:
        self.per_beat: list[int] = []
        self.in_range = [0] * parts
        self.new = [0] * parts
        self.parallels = 0
        self.beats = 0
        self.lengths: list[float] = []  # in beats

    def add(self, seed_parts, new_parts, beats) -> None:
        self.per_beat += [parts_sounding(new_parts, b) for b in beats]
        if len(beats) > 1:
            self.lengths += [n.duration_ticks / (beats[1] - beats[0])
                             for p in new_parts for n in p]
        for i, (s, n) in enumerate(zip(seed_parts, new_parts)):
            a, b = in_range(s, n)
            self.in_range[i] += a
            self.new[i] += b
        self.parallels += parallels(new_parts, beats)
        self.beats += len(beats)

    def figures(self) -> dict:
        total = sum(self.new)
        return {
            "median_notes_per_beat": statistics.median(self.per_beat) if self.per_beat else None,
            "mean_notes_per_beat": round(statistics.fmean(self.per_beat), 3)
            if self.per_beat else None,
            "notes_per_beat_counts": {str(k): self.per_beat.count(k)
                                      for k in sorted(set(self.per_beat))},
            "in_range_share": round(sum(self.in_range) / total, 4) if total else None,
            "in_range_share_per_part": [round(a / b, 4) if b else None
                                        for a, b in zip(self.in_range, self.new)],
            "new_notes_per_part": self.new,
            "mean_note_beats": round(statistics.fmean(self.lengths), 3)
            if self.lengths else None,
            "parallels": self.parallels,
            "beats": self.beats,
            "parallels_per_100_beats": round(100 * self.parallels / self.beats, 3)
            if self.beats else None,
        }


# ---------------------------------------------------------------------------------------
# per model
# ---------------------------------------------------------------------------------------


def continuation(library: ModelLibrary, name: str, chorales, rng_seed: int) -> dict:
    tally, lines, failures = Tally(), Lines(), []
    for index, (pid, song) in enumerate(chorales):
        bar = bar_ticks(song)
        start, end = SEED_BARS * bar, (SEED_BARS + CONTINUE_BARS) * bar
        seed = cut_song(song, start)
        settings = GenerationSettings(model=name, bars=CONTINUE_BARS, variations=VARIATIONS,
                                      temperature=1.0, rng_seed=rng_seed + index,
                                      memory=False)
        try:
            result = generate_polyphony(library, seed, settings, start_tick=start)
        except ContinuoError as e:
            failures.append({"id": pid, "error": str(e)})
            continue
        seed_parts = [t.notes for t in seed.tracks]
        beats = beats_in(song, start, end)
        full = [sounds_every_bar(p, bars_in(song, 0, start)) for p in seed_parts]
        for notes, tracks in zip(result.variations, result.track_of):
            new_parts: list[list[Note]] = [[] for _ in seed.tracks]
            for n, t in zip(notes, tracks):
                new_parts[t].append(n)
            tally.add(seed_parts, new_parts, beats)
            lines.add(top_down(new_parts, seed_parts), bars_in(song, start, end), beats,
                      [full[i] for i in order_of(seed_parts)])
    return {**tally.figures(), "lines": lines.figures(), "failures": failures}


def order_of(parts: Sequence[Sequence[Note]]) -> list[int]:
    """Part indices from the highest (mean pitch) down; parts without notes last."""
    return sorted(range(len(parts)), key=lambda i: -statistics.fmean(
        n.pitch for n in parts[i]) if parts[i] else 999)


def top_down(parts: Sequence[Sequence[Note]], by: Sequence[Sequence[Note]]) -> list:
    """``parts`` in the order of ``by``'s registers, highest first."""
    return [parts[i] for i in order_of(by)]


def bach_continuation(chorales) -> dict:
    """Bach's own bars 5-8 through the same measures."""
    tally, lines = Tally(), Lines()
    for _, song in chorales:
        bar = bar_ticks(song)
        start, end = SEED_BARS * bar, (SEED_BARS + CONTINUE_BARS) * bar
        seed_parts = [window(t.notes, 0, start) for t in song.tracks]
        real = [window(t.notes, start, end) for t in song.tracks]
        beats = beats_in(song, start, end)
        tally.add(seed_parts, real, beats)
        full = [sounds_every_bar(p, bars_in(song, 0, start)) for p in seed_parts]
        lines.add(top_down(real, seed_parts), bars_in(song, start, end), beats,
                  [full[i] for i in order_of(seed_parts)])
    return {**tally.figures(), "lines": lines.figures()}


def soprano_tuples(notes: Sequence[Note]) -> list[tuple[int, int, int]]:
    return sorted((n.pitch, n.start_tick, n.duration_ticks) for n in notes)


def melody_beats(song: Song, melody: Sequence[Note]) -> list[int]:
    start = min(n.start_tick for n in melody)
    end = max(n.end_tick for n in melody)
    step = beat_ticks(song)
    first = -(-start // step) * step
    return list(range(first, end, step))


def full_beats(song: Song, melody: Sequence[Note]) -> tuple[int, int]:
    """(beats of the melody's span with >= FULL parts (tracks) sounding in ``song``,
    beats): a part doubled at the octave still counts once."""
    beats = melody_beats(song, melody)
    parts = [t.notes for t in song.tracks if t.notes]
    return sum(parts_sounding(parts, b) >= FULL for b in beats), len(beats)


def cadence(parts: Sequence[Sequence[Note]], melody: Sequence[Note], tonic: int
            ) -> tuple[bool, bool]:
    """(the bass of the first chord is the tonic, the bass of the final chord is the
    tonic or the fifth): the lowest note sounding at the melody's first and last onsets."""
    first = min(n.start_tick for n in melody)
    last = max(n.start_tick for n in melody)
    a, b = bass_at(parts, first), bass_at(parts, last)
    return (a is not None and (a - tonic) % 12 == 0,
            b is not None and (b - tonic) % 12 in (0, 7))


def harmonised_span(song: Song, bars: int) -> int:
    """The end tick of the span harmonised: ``bars`` bars, or the whole chorale (0)."""
    return bars * bar_ticks(song) if bars else song.end_tick


def harmonisation(library: ModelLibrary, name: str, chorales, rng_seed: int,
                  bars: int = HARMONISE_BARS) -> dict:
    unchanged = outputs = full = beats = tonic_first = tonic_final = 0
    lines = Lines()
    failures, changed = [], []
    for index, (pid, song) in enumerate(chorales):
        melody_only = cut_song(song, harmonised_span(song, bars), tracks=[0])
        before = soprano_tuples(melody_only.tracks[0].notes)
        snapshot = [soprano_tuples(t.notes) for t in melody_only.tracks]
        settings = GenerationSettings(model=name, variations=VARIATIONS, temperature=1.0,
                                      rng_seed=rng_seed + index, memory=False)
        try:
            result = generate_polyphony(library, melody_only, settings, harmonise_track=0)
        except ContinuoError as e:
            failures.append({"id": pid, "error": str(e)})
            continue
        if [soprano_tuples(t.notes) for t in melody_only.tracks] != snapshot:
            failures.append({"id": pid, "error": "the input song was modified"})
        for v in range(len(result.variations)):
            out = song_with_parts(melody_only, result, v)
            outputs += 1
            if soprano_tuples(out.tracks[0].notes) == before:
                unchanged += 1
            else:
                changed.append(f"{pid} variation {v + 1}")
            a, b = full_beats(out, melody_only.tracks[0].notes)
            full, beats = full + a, beats + b
            parts = [t.notes for t in out.tracks if t.notes]
            parts = top_down(parts, parts)
            end = harmonised_span(song, bars)
            lines.add(parts, bars_in(song, 0, end),
                      melody_beats(song, melody_only.tracks[0].notes), [True] * len(parts))
            first, final = cadence(parts, melody_only.tracks[0].notes, result.key.tonic)
            tonic_first, tonic_final = tonic_first + first, tonic_final + final
    return {"harmonisations": outputs, "lines": lines.figures(),
            "tonic_bass_first_share": round(tonic_first / outputs, 4) if outputs else None,
            "tonic_or_fifth_bass_final_share": round(tonic_final / outputs, 4)
            if outputs else None,
            "soprano_unchanged_share": round(unchanged / outputs, 4) if outputs else None,
            "soprano_changed": changed[:20],
            "full_beats_share": round(full / beats, 4) if beats else None,
            "beats": beats, "failures": failures}


def bach_harmonisation(chorales, bars: int = HARMONISE_BARS) -> dict:
    from engine.encodings import estimate_song_key

    full = beats = tonic_first = tonic_final = 0
    lines = Lines()
    for _, song in chorales:
        first = cut_song(song, harmonised_span(song, bars))
        a, b = full_beats(first, first.tracks[0].notes)
        full, beats = full + a, beats + b
        parts = [t.notes for t in first.tracks if t.notes]
        parts = top_down(parts, parts)
        span = bars_in(song, 0, harmonised_span(song, bars))
        lines.add(parts, span, melody_beats(song, first.tracks[0].notes),
                  [sounds_every_bar(p, span) for p in parts])
        key = estimate_song_key(first.tracks[0].notes)
        f, c = cadence(parts, first.tracks[0].notes, key.tonic)
        tonic_first, tonic_final = tonic_first + f, tonic_final + c
    n = len(chorales)
    return {"full_beats_share": round(full / beats, 4) if beats else None, "beats": beats,
            "lines": lines.figures(),
            "tonic_bass_first_share": round(tonic_first / n, 4) if n else None,
            "tonic_or_fifth_bass_final_share": round(tonic_final / n, 4) if n else None}


# ---------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------


def goals(model: dict, bach: dict) -> dict[str, bool]:
    c, h = model["continuation"], model["harmonisation"]
    bach_rate = bach["continuation"]["parallels_per_100_beats"]
    out = {}
    if c["median_notes_per_beat"] is not None:
        out[f"median parts per beat = {TARGET_NOTES_PER_BEAT}"] = \
            c["median_notes_per_beat"] == TARGET_NOTES_PER_BEAT
    if c["in_range_share"] is not None:
        out[f"in range >= {TARGET_IN_RANGE:.0%}"] = c["in_range_share"] >= TARGET_IN_RANGE
    if c["parallels_per_100_beats"] is not None and bach_rate is not None:
        out[f"parallels <= {TARGET_PARALLELS_OVER_BACH:g}x Bach's"] = \
            c["parallels_per_100_beats"] <= TARGET_PARALLELS_OVER_BACH * bach_rate
    if h["soprano_unchanged_share"] is not None:
        out["soprano unchanged 100%"] = h["soprano_unchanged_share"] >= TARGET_SOPRANO_UNCHANGED
    if h["full_beats_share"] is not None:
        out[f">= {FULL} parts on >= {TARGET_FULL_BEATS:.0%} of beats"] = \
            h["full_beats_share"] >= TARGET_FULL_BEATS
    for part, tag in ((c, "a"), (h, "b")):
        lines, real = part.get("lines"), bach["continuation" if tag == "a"
                                               else "harmonisation"]["lines"]
        if not lines:
            continue
        out[f"no overlaps within a part ({tag})"] = lines["overlaps"] == 0
        if lines["rest_bar_share"] is not None:
            out[f"whole-bar rests <= {TARGET_REST_BARS:.0%}, none final ({tag})"] = \
                lines["rest_bar_share"] <= TARGET_REST_BARS and not lines["final_bar_rests"]
        if lines["crossing_beat_share"] is not None and real["crossing_beat_share"] is not None:
            out[f"crossings <= Bach + {TARGET_CROSSING_POINTS:.0%} ({tag})"] = \
                lines["crossing_beat_share"] <= real["crossing_beat_share"] \
                + TARGET_CROSSING_POINTS
    if h.get("tonic_or_fifth_bass_final_share") is not None:
        out["final bass on the tonic or fifth 100% (b)"] = \
            h["tonic_or_fifth_bass_final_share"] >= 1.0
    return out


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x, fmt="{:g}") -> str:
    return "-" if x is None else fmt.format(x)


def markdown(results: dict) -> str:
    names = list(results["models"])
    bach = results["bach"]
    bach_rate = bach["continuation"]["parallels_per_100_beats"]
    rows = [
        ("median parts sounding per beat (a)", f"{TARGET_NOTES_PER_BEAT}",
         lambda r: _num(r["continuation"]["median_notes_per_beat"]),
         _num(bach["continuation"]["median_notes_per_beat"])),
        ("mean parts sounding per beat (a)", "",
         lambda r: _num(r["continuation"]["mean_notes_per_beat"], "{:.2f}"),
         _num(bach["continuation"]["mean_notes_per_beat"], "{:.2f}")),
        ("mean new note length, beats (a)", "",
         lambda r: _num(r["continuation"]["mean_note_beats"], "{:.2f}"),
         _num(bach["continuation"]["mean_note_beats"], "{:.2f}")),
        (f"new notes in their part's seed range +/-{RANGE_MARGIN} (a)",
         f">= {TARGET_IN_RANGE:.0%}",
         lambda r: _pct(r["continuation"]["in_range_share"]),
         _pct(bach["continuation"]["in_range_share"])),
        ("  worst part (a)", "",
         lambda r: _pct(min((x for x in r["continuation"]["in_range_share_per_part"]
                             if x is not None), default=None)),
         _pct(min((x for x in bach["continuation"]["in_range_share_per_part"]
                   if x is not None), default=None))),
        ("parallel 5ths/8ves per 100 beats (a)",
         f"<= {TARGET_PARALLELS_OVER_BACH:g}x Bach ({_num(bach_rate, '{:.2f}')}) = "
         f"{_num(None if bach_rate is None else TARGET_PARALLELS_OVER_BACH * bach_rate, '{:.2f}')}",
         lambda r: _num(r["continuation"]["parallels_per_100_beats"], "{:.2f}"),
         _num(bach_rate, "{:.2f}")),
        ("soprano unchanged (b)", "100%",
         lambda r: _pct(r["harmonisation"]["soprano_unchanged_share"]), "-"),
        (f"beats with >= {FULL} parts sounding (b)", f">= {TARGET_FULL_BEATS:.0%}",
         lambda r: _pct(r["harmonisation"]["full_beats_share"]),
         _pct(bach["harmonisation"]["full_beats_share"])),
    ]
    for part, tag in (("continuation", "a"), ("harmonisation", "b")):
        rows += [
            (f"overlapping notes within a part ({tag})", "0",
             lambda r, p=part: _num(r[p]["lines"]["overlaps"]),
             _num(bach[part]["lines"]["overlaps"])),
            (f"whole-bar rests in a part that sounds every bar ({tag})",
             f"<= {TARGET_REST_BARS:.0%}",
             lambda r, p=part: _pct(r[p]["lines"]["rest_bar_share"]),
             _pct(bach[part]["lines"]["rest_bar_share"])),
            (f"  in the final bar ({tag})", "0",
             lambda r, p=part: _num(r[p]["lines"]["final_bar_rests"]),
             _num(bach[part]["lines"]["final_bar_rests"])),
            (f"beats with parts crossed ({tag})",
             f"<= Bach + {TARGET_CROSSING_POINTS:.0%}",
             lambda r, p=part: _pct(r[p]["lines"]["crossing_beat_share"]),
             _pct(bach[part]["lines"]["crossing_beat_share"])),
        ]
    rows += [
        ("first chord's bass on the tonic (b)", "",
         lambda r: _pct(r["harmonisation"]["tonic_bass_first_share"]),
         _pct(bach["harmonisation"]["tonic_bass_first_share"])),
        ("final chord's bass on the tonic or fifth (b)", "100%",
         lambda r: _pct(r["harmonisation"]["tonic_or_fifth_bass_final_share"]),
         _pct(bach["harmonisation"]["tonic_or_fifth_bass_final_share"])),
    ]
    head = "| measure | target | " + " | ".join(names) + " | Bach |"
    lines = [head, "|" + "---|" * (len(names) + 3)]
    for label, target, fig, bach_fig in rows:
        lines.append(f"| {label} | {target} | "
                     + " | ".join(fig(results["models"][n]) for n in names)
                     + f" | {bach_fig} |")
    met = ["", "| model | goals met |", "|---|---|"]
    for n in names:
        g = results["models"][n]["goals_met"]
        met.append(f"| {n} | {sum(g.values())}/{len(g)}"
                   + "".join(f"; {'met' if ok else 'NOT MET'}: {k}" for k, ok in g.items())
                   + " |")
    return "\n".join(lines + met)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    ap = common.parser(__doc__, models_dir=True)
    ap.add_argument("--model", action="append", help="only this model (may be repeated)")
    ap.add_argument("--limit", type=int, help="only the first N test chorales")
    ap.add_argument("--harmonise-bars", type=int, default=HARMONISE_BARS, metavar="N",
                    help=f"harmonise the soprano's first N bars (default {HARMONISE_BARS}; 0: "
                         f"the whole chorale, to its final cadence)")
    ap.add_argument("--rng-seed", type=int, default=0,
                    help="the first chorale's RNG seed (then +1 per chorale; default 0)")
    ap.add_argument("--no-beat-parallels", action="store_true",
                    help="without the rule that keeps parts out of parallel fifths and "
                         "octaves from beat to beat (engine/generation/constraints/parallels.py)")
    common.add_out(ap, "chorales")
    return ap.parse_args(argv)


def run_header(args: argparse.Namespace, argv, folders, chorales, source: str) -> dict:
    """The results before the models: what was run, on what, against which targets, and
    Bach's own figures."""
    return {
        "models_dir": [str(f) for f in folders],
        "chorales": [pid for pid, _ in chorales], "source": source,
        "settings": {"seed_bars": SEED_BARS, "continue_bars": CONTINUE_BARS,
                     "beat_parallels": not args.no_beat_parallels,
                     "harmonise_bars": args.harmonise_bars or "whole",
                     "variations": VARIATIONS,
                     "temperature": 1.0, "rng_seed": f"{args.rng_seed} + chorale index",
                     "range_margin": RANGE_MARGIN, "full_beat_notes": FULL},
        "targets": {"median_notes_per_beat": TARGET_NOTES_PER_BEAT,
                    "in_range_share": TARGET_IN_RANGE,
                    "parallels_over_bach": TARGET_PARALLELS_OVER_BACH,
                    "soprano_unchanged_share": TARGET_SOPRANO_UNCHANGED,
                    "full_beats_share": TARGET_FULL_BEATS},
        "bach": {"continuation": bach_continuation(chorales),
                 "harmonisation": bach_harmonisation(chorales, args.harmonise_bars)},
        "models": {},
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
        "command": common.command_line("chorales", argv),
        "git": common.git_state("engine_changes_not_committed", "engine"),
    }


def model_results(library: ModelLibrary, name: str, chorales, args, bach: dict) -> dict:
    t = time.monotonic()
    info = library.info(name)
    r = {"card": str(info.card_path),
         "sha256": info.card.get("sha256", {}).get(info.step_path.name),
         "continuation": continuation(library, name, chorales, args.rng_seed),
         "harmonisation": harmonisation(library, name, chorales, args.rng_seed,
                                        args.harmonise_bars)}
    r["goals_met"] = goals(r, bach)
    r["seconds"] = round(time.monotonic() - t, 1)
    return r


def print_report(results: dict, args: argparse.Namespace) -> None:
    chorales = len(results["chorales"])
    span = f"the first {args.harmonise_bars} bars" if args.harmonise_bars else "the whole chorale"
    print(f"\n{chorales} test chorales (four parts); (a) the first {SEED_BARS} bars "
          f"continued by {CONTINUE_BARS} bars, {VARIATIONS} variations, temperature 1; (b) the "
          f"soprano of {span} harmonised, {VARIATIONS} variations. "
          f"Bach: his own bars {SEED_BARS + 1}-{SEED_BARS + CONTINUE_BARS} (a) and "
          f"{span} (b).\n")
    print(markdown(results))
    for name, r in results["models"].items():
        for part in ("continuation", "harmonisation"):
            for f in r[part]["failures"]:
                print(f"{name} {part}: {f['id']}: {f['error']}", file=sys.stderr)
    print(f"\n{results['seconds']} s in all")


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.no_beat_parallels:
        from engine.generation.constraints import parallels

        parallels.ENABLED = False
    t0 = time.monotonic()
    folders = common.model_folders(args)
    library = ModelLibrary(folders)
    names = [i.name for i in library.models if PARTS in capabilities_of(i)]
    if args.model:
        names = [n for n in names if n in args.model]
    if not names:
        print(f"no polyphonic model cards in {', '.join(map(str, folders))}", file=sys.stderr)
        return 1
    chorales, source = test_chorales(args.limit)
    if not chorales:
        print("no four-part test chorales found", file=sys.stderr)
        return 1
    print(f"{len(chorales)} four-part test chorales from {source}; models: "
          f"{', '.join(names)}", file=sys.stderr)
    results = run_header(args, argv, folders, chorales, source)
    for name in names:
        results["models"][name] = model_results(library, name, chorales, args, results["bach"])
        print(f"{name}: {results['models'][name]['seconds']} s", file=sys.stderr)
    results["seconds"] = round(time.monotonic() - t0, 1)
    results["markdown"] = markdown(results)  # models/README.md quotes it
    print_report(results, args)
    common.write_json(Path(args.out), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

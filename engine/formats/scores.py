"""Scores (ABC, MusicXML, Humdrum **kern) -> songs, through music21.

music21 is imported only when such a file is opened (it takes a second or more), one
file is parsed at a time, and every read runs inside the limits of
:mod:`engine.limits` (size, unpacked size, notes, time), so a hostile file costs at
most a few seconds and a clear message.
"""

from __future__ import annotations

import math
import os
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from engine.encodings.chords import chord_from_text, parse_chord
from engine.errors import ContinuoError, LimitError, ScoreFileError, SongError
from engine.formats.midi import MAX_NOTES
from engine.limits import (MAX_ARCHIVE_MEMBERS, MAX_SCORE_BYTES, MAX_SCORE_QUARTERS,
                           MAX_SCORE_UNPACKED_BYTES, ParseTimeout, describe_bytes,
                           run_with_time_budget, score_parse_seconds)
from engine.song import (DEFAULT_PPQ, DRUM_CHANNEL, Chord, KeySignature, Note, Song, TempoChange,
                         TempoMap, TimeSignature, Track, pickup_signatures)

# the music21 parser for each score suffix; music21 would otherwise guess by suffix and
# also accept its own pickle format, which runs code
_SCORE_FORMATS = {".abc": "abc", ".xml": "musicxml", ".musicxml": "musicxml",
                  ".mxl": "musicxml", ".krn": "humdrum"}
SUFFIXES = tuple(_SCORE_FORMATS)


@dataclass(frozen=True, slots=True)
class TuneInfo:
    index: int  # position in the file, from 0
    title: str


def _music21():
    import music21  # lazily: music21 takes a second or more to import

    return music21


_PARSED: dict[tuple[str, int, int], object] = {}
_PARSE_LOCK = threading.Lock()


def _parse_score(path: Path, what: str):
    """Parse a score file once: opening a multi-tune file lists its tunes, then reads one,
    and music21 takes seconds over a big ABC collection.  The last file parsed is kept,
    keyed by path, size and modification time."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ScoreFileError(f"{what}: there is no such file") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    # one parse at a time: the app reads scores on helper threads, a read the person
    # cancelled runs on until it ends, and music21 is not known to be thread-safe
    with _PARSE_LOCK:
        parsed = _PARSED.get(key)
        if parsed is None:
            parsed = _parse_score_uncached(path, what)
            _PARSED.clear()
            _PARSED[key] = parsed
    return parsed


def _check_archive(path: Path, what: str) -> None:
    """Refuse a compressed MusicXML file that would unpack to more than Continuo
    reads (a zip bomb) before music21 inflates it all into memory."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, NotImplementedError):
        raise ScoreFileError(f"{what}: this compressed MusicXML file is damaged "
                             f"(it is not a readable zip archive)") from None
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise LimitError(f"{what}: the archive holds {len(infos):,} files; Continuo reads "
                         f"archives of up to {MAX_ARCHIVE_MEMBERS:,}")
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_SCORE_UNPACKED_BYTES:
        raise LimitError(f"{what}: the score unpacks to {describe_bytes(unpacked)}; Continuo "
                         f"reads scores of up to {describe_bytes(MAX_SCORE_UNPACKED_BYTES)}")


# a kern duration or meter of five or more digits (real ones are 1-128 and n/1-64):
# music21 computes with them in C code that holds the GIL for seconds (found by
# fuzzing: "4294967296c" and "*M999999999/00" in a 1.4 KB file took 10 s)
_KERN_HUGE_NUMBER = re.compile(rb"(?m)(?:^|\t)(?:\*M\d*/?\d{5,}|\*M\d{5,}|[\[({&]*\d{5,})")


def _check_kern_numbers(path: Path, what: str) -> None:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ScoreFileError(f"{what}: the file cannot be read ({e.strerror or e})") from None
    if _KERN_HUGE_NUMBER.search(data):
        raise LimitError(f"{what}: the score has a duration or meter with a number too "
                         f"large for Continuo to read")


def _parse_score_uncached(path: Path, what: str):
    m21 = _music21()
    fmt = _SCORE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ScoreFileError(f"{what}: Continuo reads scores ending in "
                             f"{', '.join(_SCORE_FORMATS)}; this file is none of them")
    if path.suffix.lower() == ".mxl":
        _check_archive(path, what)
    if fmt == "humdrum":
        _check_kern_numbers(path, what)
    try:
        # forceSource and storePickle: never read or write music21's pickle cache (a
        # planted pickle in the temp folder would run code)
        return run_with_time_budget(
            lambda: m21.converter.parse(path, format=fmt, forceSource=True, storePickle=False),
            score_parse_seconds())
    except ParseTimeout:
        raise LimitError(f"{what}: reading the score took longer than "
                         f"{score_parse_seconds():.0f} s, so Continuo stopped; the file is "
                         f"too large or too complex (or damaged)") from None
    except FileNotFoundError:
        raise ScoreFileError(f"{what}: there is no such file") from None
    except ContinuoError:
        raise
    except (MemoryError, RecursionError):
        raise LimitError(f"{what}: the score is too large or too deeply nested for "
                         f"Continuo to read") from None
    except Exception as e:  # music21 raises many kinds of errors on bad input
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ScoreFileError(f"{what}: the score cannot be read ({reason[:200]})") from None


def _scores_in(parsed) -> list:
    m21 = _music21()
    if isinstance(parsed, m21.stream.Opus):
        return list(parsed.scores)
    return [parsed]


def list_score_tunes(path: str | os.PathLike) -> list[TuneInfo]:
    """The tunes in a score file (several in a multi-tune ABC file, else one)."""
    path = Path(path)
    scores = _scores_in(_parse_score(path, path.name))
    out = []
    for i, s in enumerate(scores):
        title = ""
        if s.metadata is not None:
            title = s.metadata.title or ""
        out.append(TuneInfo(i, title or f"Tune {i + 1}"))
    return out


def music21_score_to_song(score, ppq: int = DEFAULT_PPQ, what: str = "score") -> Song:
    """A music21 Score (or Part) -> Song: one track per part, ties joined.

    Every part gets a channel of its own (0, 1, 2, ... skipping the drum channel 9; a
    percussion part goes on 9) and the General MIDI program of its instrument.  A
    partial first bar (a pickup) is kept as a short first time signature, so that bar
    lines fall where music21's measures put them; the key signatures are kept too, and
    the chord symbols (MusicXML ``<harmony>``, ABC's quoted ``"Am"``) become the chord
    track."""
    m21 = _music21()
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    tracks: list[Track] = []
    tempos: list[TempoChange] = []
    signatures: list[TimeSignature] = []
    keys: list[KeySignature] = []
    channels = _part_channels(m21, parts)
    chords: dict[int, Chord] = {}  # by tick: the first part's symbol wins
    total_notes = 0
    for pi, part in enumerate(parts):
        flat = part.stripTies().flatten()
        channel = channels[pi]
        notes: list[Note] = []
        for el in flat.notes:
            start_q, dur_q = float(el.offset), float(el.duration.quarterLength)
            if not (math.isfinite(start_q) and math.isfinite(dur_q)) \
                    or start_q + dur_q > MAX_SCORE_QUARTERS:
                raise LimitError(f"{what}: a note ends after {MAX_SCORE_QUARTERS:,} quarter "
                                 f"notes, longer than Continuo holds")
            start = int(round(start_q * ppq))
            dur = int(round(dur_q * ppq))
            if dur <= 0 or start < 0:
                continue  # grace notes have no duration
            velocity = el.volume.velocity if el.volume.velocity else 90
            for midi in _midi_pitches(m21, el):
                if 0 <= midi <= 127:
                    notes.append(Note(midi, start, dur, int(min(max(velocity, 1), 127)),
                                      channel))
            if len(notes) + total_notes > MAX_NOTES:
                raise LimitError(f"{what}: the score has more than {MAX_NOTES:,} notes")
        for cs in flat.getElementsByClass(m21.harmony.ChordSymbol):
            symbol = _chord_symbol(cs)
            start_q = float(cs.offset)
            if symbol is not None and math.isfinite(start_q) and 0 <= start_q \
                    <= MAX_SCORE_QUARTERS:
                tick = int(round(start_q * ppq))
                chords.setdefault(tick, Chord(tick, symbol))
        name = (part.partName or "").strip() if hasattr(part, "partName") else ""
        total_notes += len(notes)
        tracks.append(Track(name=name or f"Part {pi + 1}", channel=channel,
                            program=_program(part), is_drum=channel == DRUM_CHANNEL,
                            notes=sorted(notes, key=Note.sort_key)))
        if pi == 0:
            for mm in flat.getElementsByClass(m21.tempo.MetronomeMark):
                qpm = mm.getQuarterBPM()
                if qpm and qpm > 0:
                    tempos.append(TempoChange(int(round(float(mm.offset) * ppq)),
                                              int(round(60_000_000 / qpm))))
            for ts in flat.getElementsByClass(m21.meter.TimeSignature):
                try:
                    signatures.append(TimeSignature(int(round(float(ts.offset) * ppq)),
                                                    ts.numerator, ts.denominator))
                except SongError:
                    pass
            for ks in flat.getElementsByClass(m21.key.KeySignature):
                try:
                    keys.append(KeySignature(
                        int(round(float(ks.offset) * ppq)), int(ks.sharps),
                        isinstance(ks, m21.key.Key) and ks.mode == "minor"))
                except (SongError, TypeError, ValueError):
                    pass  # a key signature MIDI cannot write (more than 7 sharps) is left out
            signatures = _with_pickup(m21, part, signatures, ppq)
    if not any(t.notes for t in tracks):
        raise ScoreFileError(f"{what}: the score has no notes")
    return Song(ppq=ppq, tracks=tracks, tempo_map=TempoMap(ppq, tempos),
                time_signatures=signatures, key_signatures=keys,
                chords=[chords[t] for t in sorted(chords)])


# Continuo's chord qualities -> MusicXML's <kind> values (music21's chord kinds): read
# here, written by engine/formats/export.py
MUSICXML_KINDS = {"": "major", "m": "minor", "aug": "augmented", "dim": "diminished",
                  "7": "dominant-seventh", "maj7": "major-seventh", "m7": "minor-seventh",
                  "dim7": "diminished-seventh", "aug7": "augmented-seventh",
                  "m7b5": "half-diminished-seventh", "mmaj7": "major-minor",
                  "6": "major-sixth", "m6": "minor-sixth", "9": "dominant-ninth",
                  "maj9": "major-ninth", "m9": "minor-ninth", "11": "dominant-11th",
                  "m11": "minor-11th", "13": "dominant-13th", "maj13": "major-13th",
                  "m13": "minor-13th", "sus2": "suspended-second",
                  "sus4": "suspended-fourth", "7sus4": "suspended-fourth-seventh"}
_KINDS = {kind: quality for quality, kind in MUSICXML_KINDS.items()}
_M21_FLATS = re.compile(r"(^|/)([A-G])(-+)")


def _chord_symbol(cs) -> str | None:
    """A music21 ChordSymbol as Continuo spells it ("Bb7", "F#m7b5", "C/E"), None for
    "no chord" (N.C.) or a symbol Continuo cannot read.  music21 writes flats as "-"
    (its figure "B-7" is Bb7); its figure is read first (it keeps alterations such as
    b5), then its kind, root and bass."""
    try:
        symbol = _chord_symbol_of(cs)
    except Exception:  # music21 on a harmony it half understands: no chord, not no file
        return None
    return None if symbol is None else _stacked_tensions(symbol)


def _chord_symbol_of(cs) -> str | None:
    if cs.root() is None or type(cs).__name__ == "NoChord":
        return None
    figure = _M21_FLATS.sub(lambda m: m.group(1) + m.group(2) + "b" * len(m.group(3)),
                            cs.figure or "")
    symbol = chord_from_text(figure)
    if symbol is not None:
        return symbol
    quality = _KINDS.get(cs.chordKind)
    if quality is not None and cs.getChordStepModifications():
        return _with_degrees(cs, quality)
    if quality is None:
        return None
    root = cs.root().name.replace("-", "b")
    bass = cs.bass().name.replace("-", "b") if cs.bass() is not None else root
    return chord_from_text(root + quality + ("" if bass == root else f"/{bass}"))


def _with_degrees(cs, quality: str) -> str | None:
    """A harmony with ``<degree>`` elements (an added ninth, a flat fifth) as Continuo
    spells it ("G7(b9)", "Cadd9", "C7(b5)"), None when a degree is not one it knows."""
    root = cs.root().name.replace("-", "b")
    bass = cs.bass().name.replace("-", "b") if cs.bass() is not None else root
    extensions = ""
    for mod in cs.getChordStepModifications():
        alter = int(mod.interval.semitones) if mod.interval is not None else 0
        if mod.modType not in ("add", "alter") or alter not in (-1, 0, 1):
            return None
        sign = {-1: "b", 0: "", 1: "#"}[alter]
        extensions += f"({sign}{mod.degree})" if sign else f"add{mod.degree}"
    return chord_from_text(root + quality + extensions + ("" if bass == root else f"/{bass}"))


# a seventh chord's ninth, eleventh and thirteenth: (their seventh, the tensions they add)
# (the largest first: a thirteenth is tried before an eleventh, a ninth, the seventh)
_STACKS = {"13": ("7", {"9", "13"}), "m13": ("m7", {"9", "13"}), "maj13": ("maj7", {"9", "13"}),
           "11": ("7", {"9", "11"}), "m11": ("m7", {"9", "11"}),
           "9": ("7", {"9"}), "m9": ("m7", {"9"}), "maj9": ("maj7", {"9"}),
           "7": ("7", set()), "m7": ("m7", set()), "maj7": ("maj7", set())}
_PLAIN_TENSIONS = {"9": "9", "add9": "9", "11": "11", "add11": "11", "13": "13", "add13": "13"}


def _stacked_tensions(text: str) -> str:
    """A chord symbol with the unaltered ninth, eleventh and thirteenth added to a seventh
    chord folded into its quality, as a lead sheet writes it: a ``<harmony>`` of kind
    dominant with a ``<degree>`` 9 added is ``C9``, not ``C7add9``; minor seventh with 9
    and 11 is ``Cm11``; 9 and 13 make a thirteenth.  Only a whole stack folds, so the
    symbol keeps the very tones it names (``C7add13``, without the ninth, stays); altered
    tensions (``b9``, ``#11``) and every other chord are left as they are."""
    symbol = parse_chord(text)
    if symbol.quality not in _STACKS:
        return text
    seventh, implied = _STACKS[symbol.quality]
    added = {_PLAIN_TENSIONS[e] for e in symbol.extensions if e in _PLAIN_TENSIONS}
    tensions = implied | added
    quality, needs = next((q, needs) for q, (base, needs) in _STACKS.items()
                          if base == seventh and needs <= tensions)
    rest = [e for e in symbol.extensions if _PLAIN_TENSIONS.get(e) not in needs]
    rest += [f"add{t}" for t in sorted(implied - needs - added, key=int)]  # Cm11 + 13
    return str(replace(symbol, quality=quality, extensions=tuple(rest)))


def _with_pickup(m21, part, signatures: list[TimeSignature], ppq: int) -> list[TimeSignature]:
    """``signatures`` with a short first bar when the part's first measure is a pickup:
    music21 numbers it 0 or pads it on the left, and the second measure starts before
    a full bar (a free-metre ballad's short first bar, unmarked, is not one)."""
    measures = list(part.getElementsByClass(m21.stream.Measure))
    by_tick = {ts.tick: ts for ts in signatures}
    opening = measures[0].timeSignature if measures else None
    if 0 not in by_tick and opening is not None:
        # the first measure's own signature, which music21 does not always flatten
        try:
            by_tick[0] = TimeSignature(0, opening.numerator, opening.denominator)
        except SongError:
            pass
        signatures = [by_tick[t] for t in sorted(by_tick)]
    if len(measures) < 2 or float(measures[0].offset) != 0.0 \
            or not (measures[0].paddingLeft or measures[0].number == 0):
        return signatures  # music21 marks a pickup by its padding or its number 0
    first = int(round(float(measures[1].offset - measures[0].offset) * ppq))
    meter = by_tick.get(0, TimeSignature(0))
    if not 0 < first < meter.ticks_per_bar(ppq) or any(0 < t < first for t in by_tick):
        return signatures
    return pickup_signatures(first, meter, ppq) + [ts for t, ts in sorted(by_tick.items())
                                                   if t > 0]


def _is_percussion(m21, part) -> bool:
    inst = part.getInstrument(returnDefault=False) if hasattr(part, "getInstrument") else None
    if isinstance(inst, m21.instrument.UnpitchedPercussion) \
            or getattr(inst, "midiChannel", None) == DRUM_CHANNEL:
        return True
    notes = part.recurse().notes
    return bool(notes) and all(isinstance(n, (m21.note.Unpitched,
                                              m21.percussion.PercussionChord)) for n in notes)


def _part_channels(m21, parts) -> list[int]:
    """A MIDI channel per part: 0, 1, 2, ... skipping the drum channel (and starting
    again after 15), and 9 for percussion."""
    pitched = [c for c in range(16) if c != DRUM_CHANNEL]
    out, k = [], 0
    for part in parts:
        if _is_percussion(m21, part):
            out.append(DRUM_CHANNEL)
        else:
            out.append(pitched[k % len(pitched)])
            k += 1
    return out


def _program(part) -> int:
    """The General MIDI program of the part's instrument, 0 (piano) when it has none."""
    inst = part.getInstrument(returnDefault=False) if hasattr(part, "getInstrument") else None
    program = getattr(inst, "midiProgram", None)
    return program if isinstance(program, int) and 0 <= program <= 127 else 0


def _midi_pitches(m21, el) -> list[int]:
    """The MIDI keys an element sounds: a chord's pitches, a note's pitch, or for an
    unpitched (percussion) note the key of its drum, else of where it is written."""
    if isinstance(el, m21.percussion.PercussionChord):
        return [k for n in el.notes for k in _midi_pitches(m21, n)]
    if isinstance(el, m21.chord.Chord):
        return [int(round(p.ps)) for p in el.pitches]
    if isinstance(el, m21.note.Unpitched):
        key = getattr(el.storedInstrument, "percMapPitch", None)
        return [key if isinstance(key, int) else int(round(el.displayPitch().ps))]
    return [int(round(el.pitch.ps))]


def score_file_to_song(path: str | os.PathLike, tune: int = 0, ppq: int = DEFAULT_PPQ) -> Song:
    """Read an ABC, MusicXML or Humdrum **kern file; ``tune`` picks a tune (from 0)
    of a multi-tune ABC file."""
    path = Path(path)
    what = path.name
    if not path.exists():
        raise ScoreFileError(f"{what}: there is no such file")
    if path.stat().st_size > MAX_SCORE_BYTES:
        raise LimitError(f"{what}: the file is larger than {describe_bytes(MAX_SCORE_BYTES)}, "
                         f"the most Continuo reads from a score")
    scores = _scores_in(_parse_score(path, what))
    if not 0 <= tune < len(scores):
        raise ScoreFileError(f"{what}: there is no tune {tune + 1}; the file has {len(scores)}")
    try:
        return run_with_time_budget(lambda: music21_score_to_song(scores[tune], ppq, what),
                                    score_parse_seconds())
    except ParseTimeout:
        raise LimitError(f"{what}: converting the score took longer than "
                         f"{score_parse_seconds():.0f} s, so Continuo stopped") from None
    except ContinuoError:
        raise
    except (MemoryError, RecursionError):
        raise LimitError(f"{what}: the score is too large or too deeply nested for "
                         f"Continuo to read") from None
    except Exception as e:
        raise ScoreFileError(f"{what}: the score cannot be converted "
                             f"({str(e)[:200] or type(e).__name__})") from None


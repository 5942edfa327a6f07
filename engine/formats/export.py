"""Handing the music on: a song written as MusicXML, ABC, MIDI (type 1 or 0, or one
file per track) or WAV (the whole song, or one stem per track).

:func:`export_song` picks the format by the suffix of the file asked for; ``main.py
convert IN OUT`` calls it.  MusicXML is written through music21 (imported only when
needed): one part per track with its instrument, the key and time signatures (a pickup
as a short bar 0, as notation programs write it), the tempo marks, notes that cross a
bar line split and tied, chords where a track's notes start and end together, and
voices where they overlap otherwise.  ABC is written here (music21 reads ABC but does
not write it): one track, by default the melody, with its metre, key and unit length.
A notation format shows durations on a grid: a note off the grid of a 24th of a beat
(32nds, 16th-note triplets) is moved to its nearest point, never to nothing.
"""

from __future__ import annotations

import bisect
import math
import os
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable

from engine.errors import ContinuoError
from engine.formats.atomic import write_file
from engine.formats.midi import song_to_midi_bytes
from engine.formats.scores import MUSICXML_KINDS
from engine.song import KeySignature, Note, Song, Track, melody_track

GRID_PER_QUARTER = 24  # notation formats: every note on a 24th of a quarter note
Progress = Callable[[int, int], None]  # (done, total)


class ExportError(ContinuoError):
    """The song cannot be written in the format asked for."""


# ---- the grid --------------------------------------------------------------------------
def _units(tick: int, ppq: int) -> int:
    """``tick`` in grid units (24 to a quarter note), rounded to the nearest."""
    return int(Fraction(tick * GRID_PER_QUARTER, ppq) + Fraction(1, 2))


@dataclass(frozen=True)
class _Event:
    """A note or chord of one track in grid units: what notation writes as one symbol."""

    start: int
    end: int
    pitches: tuple[int, ...]
    velocity: int


LEGATO_GAP = GRID_PER_QUARTER // 4  # a 16th: a gap this short before the next note
# (and a quarter of the note or less) is articulation, a quarter played 7/8 long: the
# score shows the written value


def notated_spans(notes: list[Note], ppq: int,
                  bar_lines: tuple[int, ...] = ()) -> list[tuple[int, int]]:
    """Each note's (start, end) as a score writes it, in grid units: on the grid, never
    shorter than one unit, and held to the track's next onset or bar line when the gap
    before it is no longer than a 16th and a quarter of the note (a detached quarter is
    a quarter)."""
    starts = sorted({_units(n.start_tick, ppq) for n in notes} | set(bar_lines))
    spans = []
    for n in notes:
        start = _units(n.start_tick, ppq)
        end = max(_units(n.end_tick, ppq), start + 1)
        later = starts[bisect.bisect_right(starts, start):]
        if later and 0 < later[0] - end <= LEGATO_GAP and 4 * (later[0] - end) <= end - start:
            end = later[0]
        spans.append((start, end))
    return spans


def notated_notes(song: Song) -> list[tuple[int, int, Fraction, Fraction]]:
    """What a score of ``song`` shows: (track, pitch, start, length) in quarter notes,
    sorted; the MusicXML export writes exactly these (see :func:`notated_spans`)."""
    out = []
    lines = _bar_lines(song)
    for i, track in enumerate(song.tracks):
        for n, (start, end) in zip(track.notes, notated_spans(track.notes, song.ppq, lines)):
            out.append((i, n.pitch, _ql(start), _ql(end - start)))
    return sorted(set(out))


def _bar_lines(song: Song) -> tuple[int, ...]:
    """The song's bar lines in grid units, up to the end of its last bar."""
    end = _units(song.end_tick, song.ppq)
    return tuple(b.end for b in _bars(song, max(end, 1)))


def _events(notes: list[Note], ppq: int, bar_lines: tuple[int, ...] = ()) -> list[_Event]:
    """The track's notes as a score writes them, those that start and end together as
    chords."""
    by_span: dict[tuple[int, int], list[Note]] = {}
    for n, span in zip(notes, notated_spans(notes, ppq, bar_lines)):
        by_span.setdefault(span, []).append(n)
    events = []
    for (start, end), group in sorted(by_span.items()):
        pitches = tuple(sorted({n.pitch for n in group}))
        events.append(_Event(start, end, pitches, max(n.velocity for n in group)))
    return events


def _voices(events: list[_Event]) -> list[list[_Event]]:
    """The events in as few voices as possible, each one without overlaps."""
    voices: list[list[_Event]] = []
    for event in events:
        for voice in voices:
            if voice[-1].end <= event.start:
                voice.append(event)
                break
        else:
            voices.append([event])
    return voices


@dataclass(frozen=True)
class _Bar:
    number: int
    start: int  # grid units
    end: int
    numerator: int  # the bar's metre (a pickup's is the full bar's it leads into)
    denominator: int
    pickup: bool


def _bars(song: Song, until_units: int) -> list[_Bar]:
    """Every bar from the song's start until the grid unit ``until_units`` (at least
    one bar), numbered as scores number them (a pickup is bar 0)."""
    until_tick = max(1, math.ceil(until_units * song.ppq / GRID_PER_QUARTER))
    starts = song.bar_starts(until_tick)
    bars: list[_Bar] = []
    number = song.first_bar_number
    for i, tick in enumerate(starts):
        meter = song.meter_at(tick)
        nxt = starts[i + 1] if i + 1 < len(starts) else tick + song.ticks_per_bar_at(tick)
        start, end = _units(tick, song.ppq), _units(nxt, song.ppq)
        if start >= until_units and bars:
            break
        bars.append(_Bar(number, start, end, meter.numerator, meter.denominator,
                         pickup=(i == 0 and song.pickup_ticks > 0)))
        number += 1
    return bars


def _song_end_units(song: Song) -> int:
    return max(_units(song.end_tick, song.ppq), 1)


# ---- MusicXML --------------------------------------------------------------------------
def _ql(units: int) -> Fraction:
    return Fraction(units, GRID_PER_QUARTER)


def song_to_music21(song: Song, progress: Progress | None = None):
    """The song as a music21 Score: one part per track (an empty track too), measures
    on the song's bar lines, ties across them."""
    from music21 import (chord, clef, instrument, key, meter, note, stream, tempo,  # noqa: PLC0415
                         tie)

    end = _song_end_units(song)
    bars = _bars(song, end)
    end = max(end, bars[-1].end)
    pitched = [n for t in song.tracks if not (t.is_drum or t.channel == 9) for n in t.notes]
    keys = song.key_signatures or ([_song_key(song, pitched)] if pitched else [])
    score = stream.Score()
    chord_marks = _chord_marks(song)
    tracks = song.tracks or [Track("Music")]
    for index, track in enumerate(tracks):
        part = stream.Part()
        if track.is_drum or track.channel == 9:
            inst = instrument.Percussion()
        else:
            try:
                inst = instrument.instrumentFromMidiProgram(track.program)
            except Exception:  # noqa: BLE001 - music21 knows most GM programs, not all
                inst = instrument.Instrument()
                inst.midiProgram = track.program
        inst.midiChannel = track.channel
        name = track.name or inst.instrumentName or f"Track {index + 1}"
        short = name if len(name) <= 4 else name[:3].rstrip() + "."
        inst.partName, inst.partAbbreviation = name, short
        part.partName, part.partAbbreviation = name, short
        part.id = f"P{index + 1}"
        part.insert(0, inst)
        voices = _voices(_events(track.notes, song.ppq, tuple(b.end for b in bars)))
        pitches = [p for n in track.notes for p in [n.pitch]]
        low = sorted(pitches)[len(pitches) // 2] < 60 if pitches else False
        previous_meter = None
        for bar_index, bar in enumerate(bars):
            measure = stream.Measure(number=bar.number)
            if bar_index == 0:
                measure.insert(0, clef.BassClef() if low and not track.is_drum
                               else clef.TrebleClef())
            if (bar.numerator, bar.denominator) != previous_meter:
                measure.insert(0, meter.TimeSignature(f"{bar.numerator}/{bar.denominator}"))
                previous_meter = (bar.numerator, bar.denominator)
            for ks in keys:
                ks_units = _units(ks.tick, song.ppq)
                if bar.start <= ks_units < bar.end or (bar_index == 0 and ks_units < bar.start):
                    k = key.Key(ks.tonic.replace("b", "-"), "minor" if ks.minor else "major")
                    measure.insert(_ql(max(0, ks_units - bar.start)), k)
            if index == 0:
                for at, symbol in chord_marks:
                    if bar.start <= at < bar.end or (bar is bars[-1] and at >= bar.end):
                        measure.insert(_ql(min(at, bar.end - 1) - bar.start), symbol)
                for change in song.tempo_map.changes:
                    at = _units(change.tick, song.ppq)
                    if bar.start <= at < bar.end:
                        mark = tempo.MetronomeMark(number=round(change.bpm, 2),
                                                   referent=note.Note(type="quarter"))
                        measure.insert(_ql(at - bar.start), mark)
            if bar.pickup:
                full = bar.numerator * GRID_PER_QUARTER * 4 // bar.denominator
                measure.paddingLeft = float(_ql(full - (bar.end - bar.start)))
            in_force = next((k for k in reversed(keys) if _units(k.tick, song.ppq) <= bar.start),
                            keys[0] if keys else KeySignature(0))
            filled = [_fill_bar(v, bar, chord, note, tie, in_force.sharps, in_force.minor)
                      for v in voices]
            filled = [f for i, f in enumerate(filled) if i == 0 or f[1]]
            if len(filled) <= 1:
                elements = filled[0][0] if filled else [_rest(note, bar.end - bar.start)]
                for offset, element in elements:
                    measure.insert(_ql(offset), element)
            else:
                for number, (elements, _) in enumerate(filled, start=1):
                    voice = stream.Voice(id=str(number))
                    for offset, element in elements:
                        voice.insert(_ql(offset), element)
                    measure.insert(0, voice)
            part.append(measure)
        score.insert(0, part)
        if progress is not None:
            progress(index + 1, len(tracks))
    return score


# extensions -> MusicXML's <degree>: (type, value, alter)
_DEGREE_OF = {"add2": ("add", 2, 0), "add4": ("add", 4, 0), "add9": ("add", 9, 0),
              "add11": ("add", 11, 0), "add13": ("add", 13, 0), "9": ("add", 9, 0),
              "11": ("add", 11, 0), "13": ("add", 13, 0), "b9": ("add", 9, -1),
              "#9": ("add", 9, 1), "#11": ("add", 11, 1), "b13": ("add", 13, -1),
              "b5": ("alter", 5, -1), "#5": ("alter", 5, 1)}


def _m21_note_name(name: str) -> str:
    return name[0] + name[1:].replace("b", "-")


def chord_to_music21(text: str):
    """A chord-track symbol as a music21 ChordSymbol (MusicXML's ``<harmony>``): root,
    kind, bass and each extension as a degree; None for a symbol Continuo cannot read."""
    from music21 import harmony  # noqa: PLC0415

    from engine.encodings.chords import parse_chord  # noqa: PLC0415
    from engine.errors import EncodingError  # noqa: PLC0415

    try:
        symbol = parse_chord(text)
    except EncodingError:
        return None
    cs = harmony.ChordSymbol(root=_m21_note_name(symbol.root),
                             kind=MUSICXML_KINDS[symbol.quality],
                             bass=_m21_note_name(symbol.bass or symbol.root))
    for ext in symbol.extensions:
        kind, degree, alter = _DEGREE_OF[ext]
        cs.addChordStepModification(harmony.ChordStepModification(kind, degree, alter))
    return cs


def _chord_marks(song: Song) -> list[tuple[int, object]]:
    """(grid units, music21 ChordSymbol) of the song's chord track."""
    marks = []
    for chord in song.chords:
        cs = chord_to_music21(chord.symbol)
        if cs is not None:
            marks.append((_units(chord.tick, song.ppq), cs))
    return marks


def _rest(note_module, units: int):
    r = note_module.Rest()
    r.duration.quarterLength = _ql(units)
    return r


def _m21_name(pitch: int, sharps: int, minor: bool = False) -> str:
    """``pitch`` spelt for the key of ``sharps``, as music21 names it ("F#4", "B-3")."""
    letter, alter, octave = _spell(pitch, sharps, minor)
    return f"{letter}{_M21_ALTER[alter]}{octave}"


_M21_ALTER = {2: "##", 1: "#", 0: "", -1: "-", -2: "--"}
_ABC_ALTER = {2: "^^", 1: "^", 0: "=", -1: "_", -2: "__"}


def _fill_bar(voice: list[_Event], bar: _Bar, chord_module, note_module, tie_module,
              sharps: int = 0, minor: bool = False):
    """The voice's part of ``bar``: (offset in the bar, note/chord/rest) pairs covering
    the bar, and whether any note sounds in it; pitches spelt for the key of ``sharps``."""
    out = []
    cursor = bar.start
    sounding = False
    for event in voice:
        if event.end <= bar.start or event.start >= bar.end:
            continue
        start, end = max(event.start, bar.start), min(event.end, bar.end)
        if start > cursor:
            out.append((cursor - bar.start, _rest(note_module, start - cursor)))
        names = [_m21_name(p, sharps, minor) for p in event.pitches]
        if len(names) == 1:
            element = note_module.Note(names[0])
        else:
            element = chord_module.Chord(names)
        element.duration.quarterLength = _ql(end - start)
        element.volume.velocity = event.velocity
        before, after = event.start < bar.start, event.end > bar.end
        if before or after:
            element.tie = tie_module.Tie("continue" if before and after
                                         else "stop" if before else "start")
        out.append((start - bar.start, element))
        cursor = end
        sounding = True
    if cursor < bar.end:
        out.append((cursor - bar.start, _rest(note_module, bar.end - cursor)))
    return out, sounding


def write_musicxml(song: Song, path: str | os.PathLike, progress: Progress | None = None,
                   title: str | None = None) -> None:
    """Write ``song`` as MusicXML: compressed (``.mxl``) or plain (``.musicxml``, ``.xml``)."""
    from music21 import metadata  # noqa: PLC0415

    path = Path(path)
    score = song_to_music21(song, progress)
    score.insert(0, metadata.Metadata())
    score.metadata.title = title or path.stem
    score.metadata.composer = " "  # else music21 signs the score "Music21"
    fmt = "mxl" if path.suffix.lower() == ".mxl" else "musicxml"
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        score.write(fmt, fp=str(tmp))
        os.replace(tmp, path)
    except OSError as e:
        raise ExportError(f"{path}: cannot be written ({e.strerror or e})") from e
    except Exception as e:  # noqa: BLE001 - music21 raises its own exception types
        raise ExportError(f"{path}: music21 could not write the score "
                          f"({type(e).__name__}: {str(e)[:200]})") from e
    finally:
        tmp.unlink(missing_ok=True)


# ---- ABC -------------------------------------------------------------------------------
_LETTERS = "CDEFGAB"
_NATURAL_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARP_ORDER = "FCGDAEB"


def _signature_accidentals(sharps: int) -> dict[str, int]:
    """letter -> its alteration in the key signature (+1 sharp, -1 flat)."""
    if sharps >= 0:
        return {letter: 1 for letter in _SHARP_ORDER[:sharps]}
    return {letter: -1 for letter in _SHARP_ORDER[::-1][:-sharps]}


def _spell(pitch: int, sharps: int, minor: bool = False) -> tuple[str, int, int]:
    """(letter, alteration, octave) for ``pitch`` in a key of ``sharps``: the key's own
    notes as the signature spells them, a minor key's leading note as the step below the
    tonic raised (E# in F# minor), then naturals, then others as sharps in sharp keys and
    flats in flat keys (C major: Bb, Eb and Ab as flats, F# and C# as sharps)."""
    pc = pitch % 12
    signature = _signature_accidentals(sharps)
    candidates = [(letter, signature.get(letter, 0)) for letter in _LETTERS]
    if minor:
        tonic = _LETTERS[(_LETTERS.index(_ABC_MINOR[sharps + 7][0]) - 1) % 7]
        leading = (_NATURAL_PC[_ABC_MINOR[sharps + 7][0]]
                   + {"#": 1, "b": -1}.get(_ABC_MINOR[sharps + 7][1:2], 0) - 1) % 12
        if pc == leading:
            alter = (leading - _NATURAL_PC[tonic] + 6) % 12 - 6
            candidates.insert(0, (tonic, alter))
    prefer_flat = sharps < 0 or (sharps == 0 and pc in (10, 3, 8))
    candidates += [(letter, 0) for letter in _LETTERS]
    candidates += [(letter, -1 if prefer_flat else 1) for letter in _LETTERS]
    for letter, alter in candidates:
        if (_NATURAL_PC[letter] + alter) % 12 == pc:
            return letter, alter, (pitch - _NATURAL_PC[letter] - alter) // 12 - 1
    raise AssertionError(pc)  # every pitch class is one of the above


def _abc_pitch(letter: str, octave: int) -> str:
    if octave >= 5:
        return letter.lower() + "'" * (octave - 5)
    return letter + "," * (4 - octave)


def _abc_length(units: int, unit: int) -> str:
    """A length of ``units`` grid units in ABC, where the unit note length L is
    ``unit`` grid units: "", "2", "3/2", "/2", "/", "2/3"..."""
    f = Fraction(units, unit)
    if f == 1:
        return ""
    if f.denominator == 1:
        return str(f.numerator)
    if f.numerator == 1 and f.denominator == 2:
        return "/"
    if f.numerator == 1:
        return f"/{f.denominator}"
    return f"{f.numerator}/{f.denominator}"


_ABC_MAJOR = ("Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#")
_ABC_MINOR = ("Abm", "Ebm", "Bbm", "Fm", "Cm", "Gm", "Dm", "Am", "Em", "Bm", "F#m", "C#m",
              "G#m", "D#m", "A#m")


def _song_key(song: Song, notes: list[Note]) -> KeySignature:
    """The song's stated key at its start, else the key the notes suggest."""
    if song.key_signatures:
        return song.key_signatures[0]
    if not notes:
        return KeySignature(0, 0, False)
    from engine.encodings.keys import estimate_song_key  # noqa: PLC0415

    found = estimate_song_key(notes)
    # the key's signature: count fifths from C (or from A for minor)
    major_tonic = (found.tonic + 3) % 12 if found.minor else found.tonic
    sharps = (major_tonic * 7) % 12
    if sharps > 6:
        sharps -= 12
    return KeySignature(0, sharps, found.minor)


def song_to_abc(song: Song, track: int | None = None, title: str = "") -> str:
    """One track of ``song`` (by default its melody track) as one ABC tune: X, T, M, L,
    Q and K fields, bar lines where the song has them (a pickup before the first one),
    ties across them, a chord where notes start and end together; where notes overlap
    otherwise, the highest line is kept.  The chord track is written as quoted chords
    (``"Am"``) where each chord starts, a note or rest split and tied there if need be."""
    if not song.tracks:
        raise ExportError("the song has no tracks to write as ABC")
    index = melody_track(song) if track is None else track
    if index is None:
        index = 0
    if not 0 <= index < len(song.tracks):
        raise ExportError(f"there is no track {index + 1}: the song has {len(song.tracks)}")
    chosen = song.tracks[index]
    events = _voices(_events(chosen.notes, song.ppq, _bar_lines(song)))
    line = events[0] if events else []
    if len(events) > 1:  # the top line: at each moment the highest sounding event
        line = _top_line([e for v in events for e in v])
    end = max((e.end for e in line), default=0)
    bars = _bars(song, max(end, 1))
    meter = (bars[0].numerator, bars[0].denominator)
    unit = GRID_PER_QUARTER // 4 if meter[0] / meter[1] < 0.75 else GRID_PER_QUARTER // 2
    ks = _song_key(song, chosen.notes)
    key_name = (_ABC_MINOR if ks.minor else _ABC_MAJOR)[ks.sharps + 7]
    bpm = song.tempo_map.changes[0].bpm
    header = [f"X:1", f"T:{title or chosen.name or 'Continuo'}",
              f"M:{meter[0]}/{meter[1]}", f"L:1/{4 * GRID_PER_QUARTER // unit}",
              f"Q:1/4={round(bpm)}", f"K:{key_name}"]
    body: list[str] = []
    previous = meter
    signature = _signature_accidentals(ks.sharps)
    marks = {_units(c.tick, song.ppq): c.symbol for c in song.chords}
    for bar in bars:
        if (bar.numerator, bar.denominator) != previous:
            body.append(f"[M:{bar.numerator}/{bar.denominator}] ")
            previous = (bar.numerator, bar.denominator)
        in_bar: dict[tuple[str, int], int] = {}  # accidentals written in this bar
        cursor = bar.start
        tokens: list[str] = []
        for event in line:
            if event.end <= bar.start or event.start >= bar.end:
                continue
            start, stop = max(event.start, bar.start), min(event.end, bar.end)
            if start > cursor:
                tokens += _abc_marked("z", cursor, start, marks, unit, False)
            names = []
            for pitch in event.pitches:
                letter, alter, octave = _spell(pitch, ks.sharps, ks.minor)
                # every note off the key signature carries its accidental, even when one
                # earlier in the bar already says so: ABC readers differ on whether an
                # accidental (a natural above all) lasts to the bar line
                plain = alter == signature.get(letter, 0) and \
                    in_bar.get((letter, octave), alter) == alter
                mark = "" if plain else _ABC_ALTER[alter]
                in_bar[(letter, octave)] = alter
                names.append(mark + _abc_pitch(letter, octave))
            symbol = names[0] if len(names) == 1 else "[" + "".join(names) + "]"
            tokens += _abc_marked(symbol, start, stop, marks, unit, event.end > bar.end)
            cursor = stop
        marked = any(cursor <= at < bar.end for at in marks)
        if cursor < bar.end and (bar is not bars[-1] or not tokens or marked):
            if not (bar.pickup and not tokens) or marked:
                tokens += _abc_marked("z", cursor, bar.end, marks, unit, False)
        body.append(" ".join(tokens))
    text = " | ".join(b for b in body if b.strip()) + " |]"
    text = re.sub(r"\] \| ", "] ", text)
    lines, out = text.split(" | "), []
    for i in range(0, len(lines), 4):  # four bars a line
        out.append(" | ".join(lines[i:i + 4]) + (" |" if i + 4 < len(lines) else ""))
    return "\n".join(header + out) + "\n"


def _abc_marked(symbol: str, start: int, stop: int, marks: dict[int, str], unit: int,
                tied: bool) -> list[str]:
    """A note, chord or rest (``symbol``) from ``start`` to ``stop`` in ABC, split
    where a chord of the chord track starts (``marks``: grid unit -> chord symbol),
    each part after its quoted chord, a note's parts tied; ``tied``: tied on after."""
    cuts = [start] + sorted(at for at in marks if start < at < stop) + [stop]
    out = []
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        chord = f'"{marks[a]}"' if a in marks else ""
        tie = "-" if symbol != "z" and (tied or i < len(cuts) - 2) else ""
        out.append(chord + symbol + _abc_length(b - a, unit) + tie)
    return out


def _top_line(events: list[_Event]) -> list[_Event]:
    """The highest event sounding at each grid unit, cut where a higher one starts."""
    events = sorted(events, key=lambda e: (e.start, -max(e.pitches)))
    line: list[_Event] = []
    for event in events:
        if line and event.start < line[-1].end:
            last = line[-1]
            if max(event.pitches) <= max(last.pitches):
                if event.end > last.end:  # it carries on after the higher one ends
                    line.append(replace(event, start=last.end))
                continue
            line[-1] = replace(last, end=event.start)
            if line[-1].end <= line[-1].start:
                line.pop()
        line.append(event)
    line.sort(key=lambda e: e.start)
    merged: list[_Event] = []
    for e in line:  # a cut can leave overlaps behind: keep each start once
        if merged and e.start < merged[-1].end:
            continue
        merged.append(e)
    return merged


def write_abc(song: Song, path: str | os.PathLike, track: int | None = None) -> None:
    path = Path(path)
    write_file(path, song_to_abc(song, track, title=path.stem).encode("utf-8"))


# ---- MIDI ------------------------------------------------------------------------------
def song_to_midi0_bytes(song: Song) -> bytes:
    """The song as a type 0 MIDI file: every track's events in one track, in time order."""
    import io  # noqa: PLC0415

    import mido  # noqa: PLC0415

    one = mido.MidiFile(file=io.BytesIO(song_to_midi_bytes(song)))
    merged = mido.merge_tracks(one.tracks)
    out = mido.MidiFile(type=0, ticks_per_beat=one.ticks_per_beat)
    out.tracks.append(merged)
    buffer = io.BytesIO()
    out.save(file=buffer)
    return buffer.getvalue()


def track_song(song: Song, index: int) -> Song:
    """A copy of ``song`` holding only track ``index`` (with the song's tempo, metre,
    key and length, so every such file lines up with the others)."""
    single = song.copy()
    single.tracks = [single.tracks[index]]
    single.length_ticks = song.end_tick
    return single


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "track"


def per_track_paths(song: Song, path: str | os.PathLike) -> list[Path]:
    """``OUT.ext`` -> ``OUT-1-Melody.ext``, ``OUT-2-Bass.ext``...: one per track."""
    path = Path(path)
    return [path.with_name(f"{path.stem}-{i + 1}-{_safe(t.name or f'track{i + 1}')}"
                           f"{path.suffix}") for i, t in enumerate(song.tracks)]


def write_midi(song: Song, path: str | os.PathLike, midi_type: int = 1) -> None:
    if midi_type not in (0, 1):
        raise ExportError(f"MIDI type {midi_type} is not one Continuo writes (0 or 1)")
    data = song_to_midi0_bytes(song) if midi_type == 0 else song_to_midi_bytes(song)
    write_file(path, data)


# ---- audio -----------------------------------------------------------------------------
def render_stems(song: Song, sample_rate: int | None = None, engine: str = "auto",
                 progress: Progress | None = None):
    """One rendering per track, each as long as the whole song's (the same start, and
    silence after a track's last note): a list of float32 (frames, 2) arrays, and the
    synth used."""
    import numpy as np  # noqa: PLC0415

    from engine.live.synth import DEFAULT_SAMPLE_RATE, render_song  # noqa: PLC0415

    rate = sample_rate or DEFAULT_SAMPLE_RATE
    stems, used = [], ""
    for i in range(len(song.tracks)):
        samples, used = render_song(track_song(song, i), rate, engine=engine)
        stems.append(samples)
        if progress is not None:
            progress(i + 1, len(song.tracks))
    frames = max((len(s) for s in stems), default=0)
    stems = [np.pad(s, ((0, frames - len(s)), (0, 0))) for s in stems]
    return stems, used


def write_stems(song: Song, path: str | os.PathLike, sample_rate: int | None = None,
                engine: str = "auto", progress: Progress | None = None) -> list[Path]:
    """One WAV per track (``OUT-1-Melody.wav`` ...), all the same length."""
    from engine.live.synth import DEFAULT_SAMPLE_RATE, write_wav  # noqa: PLC0415

    if not song.tracks:
        raise ExportError("the song has no tracks to write as stems")
    stems, _ = render_stems(song, sample_rate, engine, progress)
    paths = per_track_paths(song, path)
    for samples, out in zip(stems, paths):
        write_wav(out, samples, sample_rate or DEFAULT_SAMPLE_RATE)
    return paths


# ---- by suffix -------------------------------------------------------------------------
EXPORT_SUFFIXES = {".musicxml": "MusicXML", ".xml": "MusicXML", ".mxl": "MusicXML (compressed)",
                   ".abc": "ABC", ".mid": "MIDI", ".midi": "MIDI", ".wav": "WAV"}


def export_song(song: Song, path: str | os.PathLike, *, track: int | None = None,
                midi_type: int = 1, per_track: bool = False,
                progress: Progress | None = None) -> list[Path]:
    """Write ``song`` to ``path`` in the format its suffix names; ``per_track`` writes
    one file per track instead (MIDI, WAV stems, MusicXML; ABC has one track anyway, by
    ``track`` or the melody).  The files written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ExportError(f"{path.name}: Continuo cannot write '{suffix or 'no suffix'}' "
                          f"files; use one of {', '.join(sorted(EXPORT_SUFFIXES))}")
    if suffix == ".abc":
        write_abc(song, path, track)
        return [path]
    if suffix == ".wav":
        if per_track:
            return write_stems(song, path, progress=progress)
        from engine.live.synth import render_song_to_wav  # noqa: PLC0415

        render_song_to_wav(song, path)
        return [path]
    if per_track:
        paths = per_track_paths(song, path)
        for i, out in enumerate(paths):
            export_song(track_song(song, i), out, midi_type=midi_type)
        return paths
    if suffix in (".mid", ".midi"):
        write_midi(song, path, midi_type)
    else:
        write_musicxml(song, path, progress)
    return [path]

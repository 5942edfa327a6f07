"""Reading and writing songs: standard MIDI files with mido, scores through music21.

``midi_file_to_song`` reads type 0 and type 1 files (running status, any ppq, tempo
changes, time signatures, note-on with velocity 0 as note-off, overlapping notes of the
same pitch, notes left open at the end of a track, drums on channel 10, empty tracks).
``song_to_midi_file`` writes type 1 with a conductor track (tempo, time signatures)
and one track per song track (name, program, notes), atomically.

``score_file_to_song`` reads ABC (any tune of a multi-tune file), MusicXML and Humdrum
**kern through music21, which is imported only when such a file is opened.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import tempfile
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import mido

from engine.errors import ContinuoError, LimitError, MidiFileError, ScoreFileError, SongError
from engine.limits import (MAX_ARCHIVE_MEMBERS, MAX_SCORE_BYTES, MAX_SCORE_QUARTERS,
                           MAX_SCORE_UNPACKED_BYTES, ParseTimeout, describe_bytes,
                           run_with_time_budget, score_parse_seconds)
from engine.song import (DEFAULT_PPQ, DRUM_CHANNEL, Note, Song, TempoChange, TempoMap,
                         TimeSignature, Track)

PathOrBytes = Union[str, os.PathLike, bytes, bytearray, BinaryIO]

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_NOTES = 500_000
MAX_SONG_TICKS = 2**31 - 1
MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
SCORE_SUFFIXES = (".abc", ".xml", ".musicxml", ".mxl", ".krn")


# ---------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that the file is either the old one or the new one,
    never a torn mix: a temp file in the same folder, flushed, fsynced, renamed."""
    path = Path(os.path.realpath(path))  # a symlink stays a symlink: write its target
    try:
        mode = os.stat(path).st_mode & 0o7777  # an existing file keeps its permissions
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask  # a new file gets what open() would have given it
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------
# MIDI -> Song
# ---------------------------------------------------------------------------------------


def _describe(source: PathOrBytes) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return getattr(source, "name", None) or "the MIDI data"


def _read_source(source: PathOrBytes, what: str) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            size = os.path.getsize(source)
            if size > MAX_FILE_BYTES:
                raise LimitError(f"{what}: the file is {size / 2**20:.0f} MB; Continuo opens "
                                 f"files up to {MAX_FILE_BYTES // 2**20} MB")
            with open(source, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise MidiFileError(f"{what}: there is no such file") from None
        except IsADirectoryError:
            raise MidiFileError(f"{what}: this is a folder, not a file") from None
        except PermissionError:
            raise MidiFileError(f"{what}: permission to read the file was denied") from None
        except OSError as e:
            raise MidiFileError(f"{what}: the file cannot be read ({e.strerror or e})") from None
    else:
        data = source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise LimitError(f"{what}: the data is larger than {MAX_FILE_BYTES // 2**20} MB")
    return data


def _parse_midi(data: bytes, what: str) -> mido.MidiFile:
    if len(data) < 14:
        raise MidiFileError(f"{what}: the file is too short to be a MIDI file ({len(data)} bytes)")
    if data[:4] != b"MThd":
        if data[:4] == b"RIFF":
            raise MidiFileError(f"{what}: this is a RIFF file (RMID or WAV), not a standard "
                                f"MIDI file")
        raise MidiFileError(f"{what}: this is not a MIDI file (it does not start with 'MThd')")
    try:
        mid = mido.MidiFile(file=io.BytesIO(data), clip=True)
    except EOFError:
        raise MidiFileError(f"{what}: the file ends in the middle of a track") from None
    except MemoryError:
        raise LimitError(f"{what}: the file needs more memory than Continuo allows") from None
    except Exception as e:  # mido raises many kinds (KeySignatureError, ...) on bad bytes
        reason = str(e)[:200] or type(e).__name__
        raise MidiFileError(f"{what}: the file is damaged ({reason})") from None
    if mid.type == 2:
        raise MidiFileError(f"{what}: type 2 MIDI files (independent patterns) are not "
                            f"supported; save it as type 0 or 1")
    if mid.ticks_per_beat <= 0 or mid.ticks_per_beat > 32767:
        # SMPTE time division has the high bit set, which mido reads as a negative number
        raise MidiFileError(f"{what}: the file uses SMPTE (frames per second) timing, "
                            f"which Continuo does not read")
    return mid


def midi_file_to_song(source: PathOrBytes, name: str | None = None) -> Song:
    """Read a standard MIDI file (path, bytes or binary file object) into a Song."""
    what = name or _describe(source)
    data = _read_source(source, what)
    mid = _parse_midi(data, what)
    ppq = mid.ticks_per_beat
    tempos: list[TempoChange] = []
    signatures: list[TimeSignature] = []
    tracks: list[Track] = []
    total_notes = 0

    for track_index, mtrack in enumerate(mid.tracks):
        tick = 0
        track_name = ""
        programs: dict[int, int] = {}
        open_notes: dict[tuple[int, int], deque[tuple[int, int]]] = defaultdict(deque)
        notes_by_channel: dict[int, list[Note]] = defaultdict(list)

        def close(channel: int, pitch: int, end: int) -> None:
            start, velocity = open_notes[(channel, pitch)].popleft()
            notes_by_channel[channel].append(
                Note(pitch, start, max(1, end - start), velocity, channel))

        for msg in mtrack:
            tick += msg.time
            if tick > MAX_SONG_TICKS:
                raise LimitError(f"{what}: track {track_index + 1} is longer than Continuo "
                                 f"can hold")
            kind = msg.type
            if kind == "note_on" and msg.velocity > 0:
                open_notes[(msg.channel, msg.note)].append((tick, msg.velocity))
            elif kind == "note_off" or kind == "note_on":
                if open_notes.get((msg.channel, msg.note)):
                    close(msg.channel, msg.note, tick)
            elif kind == "program_change":
                programs.setdefault(msg.channel, msg.program)
            elif kind == "set_tempo":
                if msg.tempo > 0:
                    tempos.append(TempoChange(tick, msg.tempo))
            elif kind == "time_signature":
                try:
                    signatures.append(TimeSignature(tick, msg.numerator, msg.denominator))
                except SongError:
                    pass  # an impossible signature is ignored, as players do
            elif kind == "track_name" and not track_name:
                track_name = msg.name.strip()
        # notes still open when the track ends stop at the track's end
        for (channel, pitch), queue in list(open_notes.items()):
            while queue:
                close(channel, pitch, tick)

        for channel in sorted(notes_by_channel):
            notes = sorted(notes_by_channel[channel], key=Note.sort_key)
            total_notes += len(notes)
            if total_notes > MAX_NOTES:
                raise LimitError(f"{what}: the file has more than {MAX_NOTES:,} notes")
            label = track_name or f"Track {track_index + 1}"
            if len(notes_by_channel) > 1:
                label = f"{label} (ch {channel + 1})"
            tracks.append(Track(name=label, channel=channel, program=programs.get(channel, 0),
                                is_drum=channel == DRUM_CHANNEL, notes=notes))
        if not notes_by_channel and track_name and track_index > 0:
            # an empty named track is kept, with the channel and program it sets up
            channel = min(programs, default=0)
            tracks.append(Track(name=track_name, channel=channel,
                                program=programs.get(channel, 0),
                                is_drum=channel == DRUM_CHANNEL))

    try:
        return Song(ppq=ppq, tracks=tracks, tempo_map=TempoMap(ppq, tempos),
                    time_signatures=signatures)
    except SongError as e:
        raise MidiFileError(f"{what}: {e}") from None


# ---------------------------------------------------------------------------------------
# Song -> MIDI
# ---------------------------------------------------------------------------------------


def vlq(n: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits a byte, most significant first."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _meta(kind: int, data: bytes) -> bytes:
    return bytes((0xFF, kind)) + vlq(len(data)) + data


_END_OF_TRACK = _meta(0x2F, b"")


def _track_chunk(events: list[tuple[int, int, bytes]]) -> bytes:
    """``(tick, order, message bytes)`` -> an ``MTrk`` chunk: sorted by tick, then by
    order (stably), delta times, running status for channel messages."""
    events.sort(key=lambda e: (e[0], e[1]))
    out = bytearray()
    last = 0
    running = None
    for tick, _, msg in events:
        out += vlq(tick - last)
        last = tick
        status = msg[0]
        if status == 0xFF:  # a meta event ends running status
            running = None
            out += msg
        elif status == running:
            out += msg[1:]
        else:
            out += msg
            running = status
    return b"MTrk" + struct.pack(">I", len(out)) + bytes(out)


def song_to_midi_bytes(song: Song) -> bytes:
    """A Song as a type 1 standard MIDI file: a conductor track (time signatures,
    tempo changes), then one track per track (its name, a program change on each of
    its channels, its notes).  Encoded directly, about ten times faster than building
    mido messages, which matters for autosave and Save on long songs; the bytes are
    what mido writes for the same events (running status included)."""
    if not 1 <= song.ppq <= 0x7FFF:
        raise SongError(f"{song.ppq} ticks per quarter note cannot be written to a MIDI file")
    conductor: list[tuple[int, int, bytes]] = []
    for ts in song.time_signatures:
        conductor.append((ts.tick, 0, _meta(0x58, bytes(
            (ts.numerator, ts.denominator.bit_length() - 1, 24, 8)))))
    for change in song.tempo_map.changes:
        conductor.append((change.tick, 1, _meta(0x51, change.us_per_quarter.to_bytes(3, "big"))))
    end = max(song.end_tick, max((e[0] for e in conductor), default=0))
    conductor.append((end, 9, _END_OF_TRACK))
    chunks = [_track_chunk(conductor)]

    for track in song.tracks:
        if not 0 <= track.program <= 127:
            raise SongError(f"track program {track.program} is outside 0-127")
        # MIDI text is Latin-1; a character outside it becomes "?"
        events = [(0, 0, _meta(0x03, track.name.encode("latin-1", errors="replace")))]
        channels = sorted({n.channel for n in track.notes} | {track.channel})
        for ch in channels:  # on channel 10 the program picks a drum kit
            events.append((0, 1, bytes((0xC0 | ch, track.program))))
        for n in track.notes:
            # offs sort before ons at the same tick, so a repeated note is not cut
            events.append((n.end_tick, 2, bytes((0x80 | n.channel, n.pitch, 0))))
            events.append((n.start_tick, 3, bytes((0x90 | n.channel, n.pitch, n.velocity))))
        end = max(e[0] for e in events)
        events.append((end, 9, _END_OF_TRACK))
        chunks.append(_track_chunk(events))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(chunks), song.ppq)
    return header + b"".join(chunks)


def write_file(path: str | os.PathLike, data: bytes,
               error: type[ContinuoError] = ContinuoError) -> None:
    """:func:`write_bytes_atomic`, with ``error`` naming the file (instead of an OSError)
    when it cannot be written."""
    try:
        write_bytes_atomic(path, data)
    except OSError as e:
        raise error(f"{Path(path).name}: the file cannot be written "
                    f"({e.strerror or e})") from None


def song_to_midi_file(song: Song, path: str | os.PathLike) -> None:
    """Write the song as a type 1 standard MIDI file, atomically."""
    write_file(path, song_to_midi_bytes(song), MidiFileError)


# ---------------------------------------------------------------------------------------
# scores (ABC, MusicXML, kern) through music21
# ---------------------------------------------------------------------------------------


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


# the music21 parser for each score suffix; music21 would otherwise guess by suffix and
# also accept its own pickle format, which runs code
_SCORE_FORMATS = {".abc": "abc", ".xml": "musicxml", ".musicxml": "musicxml",
                  ".mxl": "musicxml", ".krn": "humdrum"}


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
    """A music21 Score (or Part) -> Song: one track per part; ties joined."""
    m21 = _music21()
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    tracks: list[Track] = []
    tempos: list[TempoChange] = []
    signatures: list[TimeSignature] = []
    total_notes = 0
    for pi, part in enumerate(parts):
        flat = part.stripTies().flatten()
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
            pitches = el.pitches if isinstance(el, m21.chord.Chord) else [el.pitch]
            for p in pitches:
                midi = int(round(p.ps))
                if 0 <= midi <= 127:
                    notes.append(Note(midi, start, dur, int(min(max(velocity, 1), 127)), 0))
            if len(notes) + total_notes > MAX_NOTES:
                raise LimitError(f"{what}: the score has more than {MAX_NOTES:,} notes")
        name = (part.partName or "").strip() if hasattr(part, "partName") else ""
        total_notes += len(notes)
        tracks.append(Track(name=name or f"Part {pi + 1}", notes=sorted(notes, key=Note.sort_key)))
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
    if not any(t.notes for t in tracks):
        raise ScoreFileError(f"{what}: the score has no notes")
    return Song(ppq=ppq, tracks=tracks, tempo_map=TempoMap(ppq, tempos),
                time_signatures=signatures)


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


def load_song(path: str | os.PathLike, tune: int = 0) -> Song:
    """Open any file Continuo reads, by its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in SCORE_SUFFIXES:
        return score_file_to_song(path, tune=tune)
    return midi_file_to_song(path)

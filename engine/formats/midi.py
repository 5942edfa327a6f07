"""Standard MIDI files <-> songs.

``midi_file_to_song`` reads type 0 and type 1 files (running status, any ppq, tempo
changes, time and key signatures, note-on with velocity 0 as note-off, overlapping notes
of the same pitch, notes left open at the end of a track, drums on channel 10, empty
tracks).
Marker and text events that read as chord symbols ("Am7", "Bb/D", as DAWs write a
chord track) become the song's chord track.
``song_to_midi_file`` writes type 1 with a conductor track (tempo, time and key
signatures, and the chord track as marker events when the song has one) and one track
per song track (name, program, notes), atomically.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
from collections import defaultdict, deque
from pathlib import Path
from typing import BinaryIO, Union

import mido

from engine.errors import LimitError, MidiFileError, SongError
from engine.formats.atomic import write_file
from engine.limits import describe_bytes
from engine.encodings.chords import chord_from_text
from engine.song import (DRUM_CHANNEL, Chord, KeySignature, Note, Song, TempoChange, TempoMap,
                         TimeSignature, Track)

PathOrBytes = Union[str, os.PathLike, bytes, bytearray, BinaryIO]

# a file within the limits below takes at most ~13 MB (1.5 million events of 8 bytes
# or fewer, and the sysex and meta data); 32 MB leaves room for the odd padding
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_NOTES = 500_000
# mido builds a Python object per event (about 5 us and 250 bytes each), so events are
# counted before it runs: three per note at the note limit (its on, its off and a
# controller) is far more than real music needs, and bounds mido at ~8 s and ~400 MB
MAX_EVENTS = 1_500_000
# ... and it reads sysex and meta data a byte at a time (0.7 s a MB): a GM reset is 6
# bytes, a song's lyrics a few KB
MAX_DATA_BYTES = 1024 * 1024
MAX_SONG_TICKS = 2**31 - 1
SUFFIXES = (".mid", ".midi", ".smf", ".kar")

# mido's names of key signatures ("F#m", "Bb") -> (sharps, minor)
_KEYS_BY_NAME = {f"{k.tonic}{'m' if k.minor else ''}": (k.sharps, k.minor)
                 for k in (KeySignature(0, sf, minor) for sf in range(-7, 8)
                           for minor in (False, True))}


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


# data bytes after the status byte of a channel message, by its high nibble
_CHANNEL_DATA = (0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 1, 1, 2, 0)
# data bytes of the system messages mido reads (its lengths less the status byte)
_SYSTEM_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0,
                0xFE: 0}
_MIDO_MAX_MESSAGE = 1_000_000  # mido refuses a sysex or meta event longer than this


# one event under running status with two data bytes: its delta time (bytes with the
# high bit set, then one without), a data byte (not a status), and the second data byte
# (any: mido clips it), captured; and a run of them
_RUNNING_PAIR = re.compile(rb"[\x80-\xff]*[\x00-\x7f][\x00-\x7f]([\x00-\xff])")
_RUN_BYTES = 2**18  # a run is matched a slice at a time: a short list of velocities
_RUNNING_PAIRS = re.compile(rb"(?:[\x80-\xff]*[\x00-\x7f][\x00-\x7f][\x00-\xff])+")


def _too_many(what: str, limit: int, things: str) -> LimitError:
    return LimitError(f"{what}: the file has more than {limit:,} {things}")


def _variable_length(data: bytes, pos: int) -> tuple[int, int]:
    """The variable-length number at ``pos`` and the position after it."""
    value = 0
    byte = 0x80
    while byte > 0x7F:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
    return value, pos


def midi_event_counts(data: bytes, what: str = "the MIDI data") -> tuple[int, int]:
    """(notes, events) of a MIDI file's bytes as mido will read them, or a LimitError
    naming ``what`` as soon as the count passes MAX_NOTES or MAX_EVENTS (or the sysex
    and meta data pass MAX_DATA_BYTES): a file over the limits is refused after a scan
    of its bytes, before mido spends seconds and gigabytes on it.

    The scan reads as mido does: the header's number of tracks, each track until
    exactly its chunk's length, delta times, running status (set by every status but a
    meta event's), meta and sysex events skipped by their lengths.  A note is a
    note-on of non-zero velocity (each becomes one Note).  Where mido would stop with
    an error (the bytes run out, an undefined status, no status to run on), the count
    ends and mido's parse says what is wrong.  The work is bounded by the limits,
    whatever the file's size.
    """
    max_notes, max_events, max_data = MAX_NOTES, MAX_EVENTS, MAX_DATA_BYTES  # tests lower them
    data_bytes = 0
    channel_data, system_data = _CHANNEL_DATA, _SYSTEM_DATA
    header = int.from_bytes(data[4:8], "big")
    if header < 6:
        return 0, 0  # mido refuses the header
    tracks = struct.unpack(">h", data[10:12])[0]
    pos = 8 + header
    notes = events = 0
    try:
        for _ in range(tracks):
            if data[pos:pos + 4] != b"MTrk":
                break
            end = pos + 8 + int.from_bytes(data[pos + 4:pos + 8], "big")
            pos += 8
            running = 0
            while pos != end:  # as mido: a track ends only at exactly its length
                if running and channel_data[running >> 4] == 2:
                    # a run of events under running status with two data bytes (a
                    # sequencer's notes), matched in C; its velocities counted from it
                    run = _RUNNING_PAIRS.match(data, pos, min(end, pos + _RUN_BYTES))
                    if run is not None:
                        velocities = _RUNNING_PAIR.findall(run.group())
                        if running & 0xF0 == 0x90:
                            notes += len(velocities) - velocities.count(b"\0")
                            if notes > max_notes:
                                raise _too_many(what, max_notes, "notes")
                        events += len(velocities)
                        if events > max_events:
                            raise _too_many(what, max_events, "MIDI events")
                        pos = run.end()
                        if pos == end:
                            break
                byte = data[pos]  # the delta time
                pos += 1
                while byte > 0x7F:
                    byte = data[pos]
                    pos += 1
                status = data[pos]
                if status > 0x7F:
                    pos += 1
                    if status != 0xFF:
                        running = status
                elif running:  # running status: this byte is the first data byte
                    status = running
                    if status > 0xEF:
                        if status != 0xF0 and status != 0xF7:
                            return notes, events  # mido refuses what follows
                        pos += 1  # mido drops the byte and reads the sysex's length
                else:
                    return notes, events  # mido: running status without a status
                if status < 0xF0:
                    if status & 0xF0 == 0x90 and data[pos + 1]:
                        notes += 1
                        if notes > max_notes:
                            raise _too_many(what, max_notes, "notes")
                    pos += channel_data[status >> 4]
                else:
                    if status == 0xFF:
                        pos += 1  # the meta event's type
                    elif status != 0xF0 and status != 0xF7:
                        if status not in system_data:
                            return notes, events  # mido: an undefined status byte
                        pos += system_data[status]
                        status = 0
                    if status:  # a meta or sysex event: its length, then its data
                        length, pos = _variable_length(data, pos)
                        if length > _MIDO_MAX_MESSAGE:
                            return notes, events
                        pos += length
                        data_bytes += length
                        if data_bytes > max_data:
                            raise LimitError(f"{what}: the file has more than "
                                             f"{describe_bytes(max_data)} of system-exclusive "
                                             f"and meta data")
                events += 1
                if events > max_events:
                    raise _too_many(what, max_events, "MIDI events")
    except IndexError:  # the bytes ran out: mido says where
        pass
    return notes, events


def _parse_midi(data: bytes, what: str) -> mido.MidiFile:
    if len(data) < 14:
        raise MidiFileError(f"{what}: the file is too short to be a MIDI file ({len(data)} bytes)")
    if data[:4] != b"MThd":
        if data[:4] == b"RIFF":
            raise MidiFileError(f"{what}: this is a RIFF file (RMID or WAV), not a standard "
                                f"MIDI file")
        raise MidiFileError(f"{what}: this is not a MIDI file (it does not start with 'MThd')")
    if len(data) > min(3 * MAX_NOTES, 2 * MAX_EVENTS, MAX_DATA_BYTES):
        midi_event_counts(data, what)  # else under them: an event takes 2 bytes, a note 3
    try:
        mid = mido.MidiFile(file=io.BytesIO(data), clip=True)
    except EOFError:
        raise MidiFileError(f"{what}: the file ends in the middle of a track") from None
    except MemoryError:
        raise LimitError(f"{what}: the file needs more memory than Continuo allows") from None
    except IndexError:  # mido decoding a meta event (a tempo, a signature) from too few bytes
        raise MidiFileError(f"{what}: the file is damaged (an event is shorter than its "
                            f"kind needs)") from None
    except Exception as e:  # mido raises many kinds (KeySignatureError, ...) on bad bytes
        reason = str(e)[:200] or type(e).__name__
        if reason == "running status without last_status":
            reason = "an event has no status byte"
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
    keys: list[KeySignature] = []
    chords: list[Chord] = []
    tracks: list[Track] = []
    total_notes = 0
    file_end = 0  # the latest end of track: a final rest lasts until there

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
            elif kind == "key_signature":
                if msg.key in _KEYS_BY_NAME:
                    keys.append(KeySignature(tick, *_KEYS_BY_NAME[msg.key]))
            elif kind == "marker" or kind == "text":
                symbol = chord_from_text(msg.text)
                if symbol is not None:
                    chords.append(Chord(tick, symbol))
            elif kind == "track_name" and not track_name:
                track_name = msg.name.strip()
        file_end = max(file_end, tick)
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

    notes_end = max((n.end_tick for t in tracks for n in t.notes), default=0)
    # a final rest ends after the last note and the last chord marker: a chord track
    # written ahead of the notes (a lead sheet) is not a rest to continue after
    last_event = max([notes_end] + [c.tick for c in chords])
    try:
        song = Song(ppq=ppq, tracks=tracks, tempo_map=TempoMap(ppq, tempos),
                    time_signatures=signatures, key_signatures=keys,
                    length_ticks=file_end if file_end > last_event else None,
                    chords=sorted(chords, key=lambda c: c.tick))
    except SongError as e:
        raise MidiFileError(f"{what}: {e}") from None
    # a resolution too coarse for the metre (one tick a quarter note in 6/8: an eighth
    # is half a tick, and a beat of 0 ticks divides by zero) is read at a finer one
    finest = max((ts.denominator for ts in signatures), default=4)
    if 4 * ppq < finest:
        finer = ppq * (finest // math.gcd(4 * ppq, finest))
        if finer <= 0x7FFF and song.end_tick * (finer // ppq) <= MAX_SONG_TICKS:
            song = song.rescaled(finer)
    return song


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
    """A Song as a type 1 standard MIDI file: a conductor track (time signatures, key
    signatures, tempo changes), then one track per track (its name, a program change on
    each of its channels, its notes).  Encoded directly, about ten times faster than building
    mido messages, which matters for autosave and Save on long songs; the bytes are
    what mido writes for the same events (running status included)."""
    if not 1 <= song.ppq <= 0x7FFF:
        raise SongError(f"{song.ppq} ticks per quarter note cannot be written to a MIDI file")
    conductor: list[tuple[int, int, bytes]] = []
    for ts in song.time_signatures:
        conductor.append((ts.tick, 0, _meta(0x58, bytes(
            (ts.numerator, ts.denominator.bit_length() - 1, 24, 8)))))
    for ks in song.key_signatures:
        conductor.append((ks.tick, 0, _meta(0x59, bytes((ks.sharps & 0xFF, int(ks.minor))))))
    for chord in song.chords:  # markers, as DAWs show a chord track
        conductor.append((chord.tick, 0, _meta(0x06, chord.symbol.encode("latin-1",
                                                                         errors="replace"))))
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



def song_to_midi_file(song: Song, path: str | os.PathLike) -> None:
    """Write the song as a type 1 standard MIDI file, atomically."""
    write_file(path, song_to_midi_bytes(song), MidiFileError)

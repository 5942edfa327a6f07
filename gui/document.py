"""The open song as an editable document: notes with stable ids, a selection, one undo stack.

Every widget (piano roll, transport, generate panel) looks at one :class:`SongDocument`
and asks it for changes.  Each public editing method is one user gesture and pushes
exactly one :class:`QUndoCommand` (see :mod:`gui.commands`), so the Edit menu always
says what it will undo.  The commands change the document only through the private
primitives ``_insert_records``, ``_remove_ids`` and ``_replace_notes``; those keep the
note index in step and emit :attr:`SongDocument.changed` once per command.

Notes are the engine's immutable :class:`~engine.song.Note`; the document keeps GUI
facts (origin, track, selection) beside them, keyed by an integer id that survives
undo and redo, so a note never carries a selection flag.
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from functools import partial
from typing import Iterable, Mapping

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from engine.encodings import Key, estimate_song_key
from engine.encodings.chords import parse_chord
from engine.song import (
    Chord, Note, Song, TempoChange, TempoMap, TimeSignature, Track, bpm_to_us,
    pickup_ticks_of,
)
from gui import commands
from gui.commands import NoteRecord

SEED = "seed"
GENERATED = "generated"
ORIGINS = (SEED, GENERATED)


class NoteIndex:
    """Notes by pitch, each row sorted by start, for range queries without a full scan.

    A query for a time window looks only at the rows in the pitch range and, in each,
    bisects to the notes that start before the window ends and no earlier than the
    window start minus that row's longest note; painting and hit-testing cost what is
    visible, not what is in the song.
    """

    def __init__(self) -> None:
        self._rows: list[list[tuple[int, int]]] = [[] for _ in range(128)]
        self._longest: list[int] = [0] * 128

    def clear(self) -> None:
        self.__init__()

    def add(self, note_id: int, note: Note) -> None:
        bisect.insort(self._rows[note.pitch], (note.start_tick, note_id))
        if note.duration_ticks > self._longest[note.pitch]:
            self._longest[note.pitch] = note.duration_ticks

    def remove(self, note_id: int, note: Note) -> None:
        row = self._rows[note.pitch]
        i = bisect.bisect_left(row, (note.start_tick, note_id))
        if i < len(row) and row[i] == (note.start_tick, note_id):
            del row[i]
        # _longest may now be too large: that only widens later searches, never misses

    def query(self, notes: Mapping[int, Note], start_tick: int, end_tick: int,
              low_pitch: int, high_pitch: int) -> list[int]:
        """Ids of notes sounding in [start_tick, end_tick) with pitch in [low, high]."""
        found: list[int] = []
        for pitch in range(max(low_pitch, 0), min(high_pitch, 127) + 1):
            row = self._rows[pitch]
            if not row:
                continue
            lo = bisect.bisect_left(row, (start_tick - self._longest[pitch], -1))
            hi = bisect.bisect_left(row, (end_tick, -1))
            for _, note_id in row[lo:hi]:
                if notes[note_id].end_tick > start_tick:
                    found.append(note_id)
        return found


class SongDocument(QObject):
    """The song being edited, its selection and its undo history."""

    changed = Signal()  # notes, tempo, meter, key or tracks changed: repaint, mark modified
    selection_changed = Signal()
    song_replaced = Signal()  # a whole new song was loaded (New/Open)
    modified_changed = Signal(bool)  # follows the undo stack's clean state
    file_path_changed = Signal()
    active_track_changed = Signal(int)
    tracks_changed = Signal()  # a track's name or instrument changed (also on undo)
    chords_changed = Signal()  # the chord track changed (also on undo); changed follows

    def __init__(self, song: Song | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._notes: dict[int, Note] = {}
        self._origin: dict[int, str] = {}
        self._track: dict[int, int] = {}
        self._index = NoteIndex()
        self._next_id = 1
        self._selection: frozenset[int] = frozenset()
        self._deliberate = False  # the selection was made by the user, not by drawing
        self._key_override: Key | None = None
        self._key_cache: Key | None = None
        self._active_track = 0
        self.file_path: str | None = None
        self._set_song(song if song is not None else Song(tracks=[Track(name="Melody")]))

    # ---- whole-document operations (not undoable) ------------------------------------
    def load_song(self, song: Song, path: str | None = None) -> None:
        """Replace the content by ``song``: a fresh history, clean, nothing selected."""
        self._set_song(song)
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.file_path = path
        self.file_path_changed.emit()
        self.song_replaced.emit()
        self.chords_changed.emit()
        self.selection_changed.emit()
        self.changed.emit()

    def _set_song(self, song: Song) -> None:
        self.ppq = song.ppq
        self._tempo_changes = list(song.tempo_map.changes)
        self._time_signatures = list(song.time_signatures)
        self._key_signatures = list(song.key_signatures)  # kept as read, saved again
        self._length_ticks = song.length_ticks  # a file's end after a final rest
        self._chords: list[Chord] = list(song.chords)  # the chord track, in time order
        self._chord_ticks = [c.tick for c in self._chords]
        self._tracks = [replace(t, notes=[]) for t in song.tracks] or [Track(name="Melody")]
        self._notes.clear()
        self._origin.clear()
        self._track.clear()
        self._index.clear()
        self._next_id = 1
        self._selection = frozenset()
        self._deliberate = False
        self._key_override = None
        self._key_cache = None
        self._end_cache: int | None = None
        self._active_track = 0
        self._muted: frozenset[int] = frozenset()  # tracks that Play leaves silent
        for track_no, track in enumerate(song.tracks):
            for note in track.sorted_notes():
                self._store(NoteRecord(self._new_id(), note, SEED, track_no))

    def _on_clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self, path: str | None = None) -> None:
        """Record that the content now matches the file at ``path``."""
        if path is not None and path != self.file_path:
            self.file_path = path
            self.file_path_changed.emit()
        self.undo_stack.setClean()

    # ---- queries ----------------------------------------------------------------------
    def song(self) -> Song:
        """An engine Song snapshot of the current content (notes sorted per track)."""
        tracks = [replace(t, notes=[]) for t in self._tracks]
        for note_id, note in self._notes.items():
            tracks[self._track[note_id]].notes.append(note)
        for t in tracks:
            t.notes.sort(key=Note.sort_key)
        return Song(ppq=self.ppq, tracks=tracks,
                    tempo_map=TempoMap(self.ppq, self._tempo_changes),
                    time_signatures=list(self._time_signatures),
                    key_signatures=list(self._key_signatures),
                    length_ticks=self._length_ticks, chords=list(self._chords))

    def audible_song(self) -> Song:
        """:meth:`song` less the notes of the muted tracks (what Play plays; Save and
        export keep every track)."""
        song = self.song()
        for track in self._muted:
            song.tracks[track].notes = []
        return song

    @property
    def muted_tracks(self) -> frozenset[int]:
        """The tracks that Play leaves silent (:meth:`set_track_muted`)."""
        return self._muted

    def notes(self) -> dict[int, Note]:
        """id -> Note (a copy: change notes through the gesture methods)."""
        return dict(self._notes)

    def note(self, note_id: int) -> Note:
        return self._notes[note_id]

    def __len__(self) -> int:
        return len(self._notes)

    def __contains__(self, note_id: object) -> bool:
        return note_id in self._notes

    def origin(self, note_id: int) -> str:
        return self._origin[note_id]

    def track_of(self, note_id: int) -> int:
        return self._track[note_id]

    @property
    def active_track(self) -> int:
        """The track that drawing, pasting and generation use; the others are dimmed."""
        return self._active_track

    @active_track.setter
    def active_track(self, track: int) -> None:
        if not 0 <= track < len(self._tracks):
            raise ValueError(f"track {track} does not exist")
        if track != self._active_track:
            self._active_track = track
            self.active_track_changed.emit(track)

    @property
    def tracks(self) -> list[Track]:
        """Track settings (name, channel, program), without notes."""
        return [replace(t, notes=[]) for t in self._tracks]

    @property
    def tempo_bpm(self) -> float:
        """The tempo at the start of the song."""
        return self._tempo_changes[0].bpm

    @property
    def tempo_changes(self) -> list[TempoChange]:
        """The song's tempo map: the first at tick 0, then each change."""
        return list(self._tempo_changes)

    def tempo_index_at(self, tick: int) -> int:
        """Which of :attr:`tempo_changes` is in force at ``tick``."""
        return max(0, bisect.bisect_right([c.tick for c in self._tempo_changes], tick) - 1)

    def tempo_at(self, tick: int) -> float:
        """The tempo (BPM) in force at ``tick``."""
        return self._tempo_changes[self.tempo_index_at(tick)].bpm

    @property
    def time_signature(self) -> TimeSignature:
        """The song's metre: the first time signature, or the one after a pickup bar (a
        chorale that opens with one beat of 1/4 is in 4/4)."""
        return self._time_signatures[self._meter_index()]

    @property
    def pickup_ticks(self) -> int:
        """The length of the opening pickup bar (anacrusis), 0 when there is none."""
        return pickup_ticks_of(self._time_signatures, self.ppq)

    def _meter_index(self) -> int:
        return 1 if self.pickup_ticks else 0

    @property
    def time_signatures(self) -> list[TimeSignature]:
        return list(self._time_signatures)

    @property
    def key(self) -> Key:
        """The key set by the user, else the key estimated from the notes."""
        if self._key_override is not None:
            return self._key_override
        if self._key_cache is None:
            self._key_cache = estimate_song_key(self._notes.values())
        return self._key_cache

    @property
    def key_is_estimated(self) -> bool:
        return self._key_override is None

    @property
    def end_tick(self) -> int:
        """Where the last note ends (cached: views ask on every scroll)."""
        if self._end_cache is None:
            self._end_cache = max((n.end_tick for n in self._notes.values()), default=0)
        return self._end_cache

    def notes_in_range(self, start_tick: int, end_tick: int, low_pitch: int = 0,
                       high_pitch: int = 127) -> list[int]:
        """Ids of notes sounding in [start_tick, end_tick) with low <= pitch <= high."""
        return self._index.query(self._notes, start_tick, end_tick, low_pitch, high_pitch)

    def copy_notes(self, ids: Iterable[int]) -> list[Note]:
        """The notes, sorted, moved so that the earliest starts at tick 0 (a clip)."""
        notes = sorted((self._notes[i] for i in ids if i in self._notes), key=Note.sort_key)
        if not notes:
            return []
        first = notes[0].start_tick
        return [n.moved(-first, 0) for n in notes]

    # ---- selection (not undoable: selecting is not an edit) ----------------------------
    @property
    def selection(self) -> frozenset[int]:
        return self._selection

    @property
    def selection_is_deliberate(self) -> bool:
        """True when the user chose the selection (a click, a rubber band, Select All),
        False when it is only what the last draw, paste, keep or undo left selected."""
        return self._deliberate

    @property
    def seed_selection(self) -> frozenset[int]:
        """The notes Generate continues from instead of the whole track: the selection
        when the user made it deliberately, else nothing."""
        return self._selection if self._deliberate else frozenset()

    def set_selection(self, ids: Iterable[int], deliberate: bool = True) -> None:
        """Select ``ids``; ``deliberate=False`` for a selection that is a side effect of
        an edit (a drawn or pasted note), which Generate does not take as its seed."""
        new = frozenset(i for i in ids if i in self._notes)
        deliberate = bool(deliberate and new)
        if new != self._selection or deliberate != self._deliberate:
            self._selection = new
            self._deliberate = deliberate
            self.selection_changed.emit()

    def select_all(self) -> None:
        self.set_selection(self._notes)

    def selected_notes(self) -> dict[int, Note]:
        return {i: self._notes[i] for i in self._selection}

    # ---- gestures: each pushes exactly one undo command --------------------------------
    def add_notes(self, notes: Iterable[Note], origin: str = SEED, text: str = "Add notes",
                  track: int | None = None, select: bool = False) -> list[int]:
        """Add notes as they are; returns their new ids."""
        records = self._records_for(notes, origin, track)
        if records:
            self.undo_stack.push(commands.AddNotes(self, records, text, select))
        return [r.note_id for r in records]

    def insert_notes(self, notes: Iterable[Note], at_tick: int, origin: str = SEED,
                     text: str = "Paste", track: int | None = None,
                     select: bool = True) -> list[int]:
        """Insert a clip (notes relative to tick 0) at ``at_tick``: paste, keep a variation."""
        shifted = [n.moved(at_tick, 0) for n in notes]
        return self.add_notes(shifted, origin, text, track, select)

    def add_parts(self, notes_by_track: Mapping[int, Iterable[Note]],
                  new_tracks: Iterable[Track] = (), origin: str = GENERATED,
                  text: str = "Keep variation", select: bool = True) -> list[int]:
        """Add notes to several tracks at once, ``new_tracks`` (settings, without notes)
        appended after the document's and numbered from ``len(self.tracks)``: one undo
        step (keeping a polyphonic variation).  Returns the new notes' ids."""
        if origin not in ORIGINS:
            raise ValueError(f"note origin {origin!r} is not one of {ORIGINS}")
        new_tracks = [replace(t, notes=[]) for t in new_tracks]
        count = len(self._tracks) + len(new_tracks)
        records = []
        for track in sorted(notes_by_track):
            if not 0 <= track < count:
                raise ValueError(f"track {track} does not exist")
            records += [NoteRecord(self._new_id(), n, origin, track)
                        for n in notes_by_track[track]]
        if records or new_tracks:
            self.undo_stack.push(commands.AddParts(self, new_tracks, records, text, select))
        return [r.note_id for r in records]

    def delete_notes(self, ids: Iterable[int], text: str = "Delete notes") -> None:
        records = [self._record(i) for i in sorted(set(ids)) if i in self._notes]
        if records:
            self.undo_stack.push(commands.DeleteNotes(self, records, text))

    def move_notes(self, ids: Iterable[int], d_tick: int, d_pitch: int,
                   text: str = "Move notes") -> None:
        """Move notes together; the move is cut short at tick 0 and at pitches 0 and 127."""
        ids = [i for i in sorted(set(ids)) if i in self._notes]
        if not ids:
            return
        notes = [self._notes[i] for i in ids]
        d_tick = max(int(d_tick), -min(n.start_tick for n in notes))
        d_pitch = max(int(d_pitch), -min(n.pitch for n in notes))
        d_pitch = min(d_pitch, 127 - max(n.pitch for n in notes))
        if d_tick or d_pitch:
            self.undo_stack.push(commands.MoveNotes(self, ids, d_tick, d_pitch, text))

    def transpose(self, ids: Iterable[int], semitones: int) -> None:
        self.move_notes(ids, 0, semitones, text="Transpose")

    def resize_notes(self, ids: Iterable[int], d_ticks: int) -> None:
        """Lengthen (or shorten) each note by ``d_ticks``; no note gets shorter than a tick."""
        changes = {i: replace(n, duration_ticks=max(1, n.duration_ticks + int(d_ticks)))
                   for i, n in self._live(ids).items()}
        self._push_replace(changes, "Resize notes", commands.ResizeNotes)

    def set_durations(self, durations: Mapping[int, int], text: str = "Resize notes") -> None:
        changes = {i: replace(self._notes[i], duration_ticks=max(1, int(d)))
                   for i, d in durations.items() if i in self._notes}
        self._push_replace(changes, text, commands.ResizeNotes)

    def set_velocity(self, ids: Iterable[int] | Mapping[int, int],
                     velocity: int | None = None) -> None:
        """One velocity for all ``ids``, or a mapping id -> velocity; clamped to 1-127."""
        wanted = dict(ids) if isinstance(ids, Mapping) else {i: velocity for i in ids}
        changes = {i: replace(self._notes[i], velocity=min(127, max(1, int(v))))
                   for i, v in wanted.items() if i in self._notes and v is not None}
        self._push_replace(changes, "Change velocity", commands.SetVelocity)

    def replace_notes(self, changes: Mapping[int, Note], text: str) -> None:
        """Any per-note change (quantize, humanize, ...) as one undo step."""
        self._push_replace({i: n for i, n in changes.items() if i in self._notes}, text)

    def set_tempo(self, bpm: float, at_tick: int = 0) -> None:
        """Set the tempo in force at ``at_tick`` (the one from tick 0 by default; in a
        song that changes tempo, the change that holds there): one undo step."""
        i = self.tempo_index_at(at_tick)
        old = self._tempo_changes[i]
        new = TempoChange(old.tick, bpm_to_us(bpm))
        if new != old:
            self.undo_stack.push(commands.SetSetting(
                "Change tempo", partial(self._set_tempo_change, i), old, new))

    def set_time_signature(self, numerator: int, denominator: int) -> None:
        """Change the song's metre (:attr:`time_signature`; a pickup bar stays as it
        is): one undo step."""
        i = self._meter_index()
        old = self._time_signatures[i]
        new = TimeSignature(old.tick, numerator, denominator)
        if new != old:
            self.undo_stack.push(commands.SetSetting(
                "Change time signature", partial(self._set_time_signature, i), old, new))

    def set_key(self, key: Key | None) -> None:
        """Fix the key (``None``: estimate it from the notes again)."""
        if key != self._key_override:
            self.undo_stack.push(commands.SetSetting(
                "Change key", self._set_key_override, self._key_override, key))

    def set_track_program(self, track: int, program: int) -> None:
        """Give ``track`` another General MIDI instrument (0-127): one undo step."""
        if not 0 <= int(program) <= 127:
            raise ValueError(f"General MIDI program {program} is outside 0-127")
        self._change_track(track, "Change instrument", program=int(program))

    def rename_track(self, track: int, name: str) -> None:
        """Rename ``track`` (surrounding spaces dropped; an empty name is ignored)."""
        name = name.strip()
        if name:
            self._change_track(track, "Rename track", name=name)

    def set_track_muted(self, track: int, muted: bool) -> None:
        """Mute ``track`` (Play leaves it silent; it is still saved) or sound it again:
        one undo step."""
        if not 0 <= track < len(self._tracks):
            raise ValueError(f"track {track} does not exist")
        new = self._muted | {track} if muted else self._muted - {track}
        if new != self._muted:
            self.undo_stack.push(commands.SetSetting(
                "Mute track" if muted else "Unmute track", self._set_muted, self._muted, new))

    def _change_track(self, track: int, text: str, **fields: object) -> None:
        if not 0 <= track < len(self._tracks):
            raise ValueError(f"track {track} does not exist")
        old = self._tracks[track]
        new = replace(old, **fields)
        if new != old:
            self.undo_stack.push(commands.ChangeTrack(self, track, old, new, text))

    # ---- the chord track -------------------------------------------------------------
    @property
    def chords(self) -> list[Chord]:
        """The chord track: symbols in time order, each until the next (a copy)."""
        return list(self._chords)

    def chord_count(self) -> int:
        return len(self._chords)

    def chord(self, index: int) -> Chord:
        return self._chords[index]

    def chord_index_at(self, tick: int) -> int | None:
        """Index of the chord sounding at ``tick`` (the last at or before it), or None
        before the first."""
        i = bisect.bisect_right(self._chord_ticks, tick) - 1
        return i if i >= 0 else None

    def chord_end(self, index: int) -> int:
        """Where chord ``index`` ends: the next chord's tick; the last one lasts to the
        end of the bar where the song ends, and at least a bar."""
        if index + 1 < len(self._chords):
            return self._chords[index + 1].tick
        bar = self.time_signature.ticks_per_bar(self.ppq)
        tick = self._chords[index].tick
        song_end = -(-max(self.end_tick, tick + 1) // bar) * bar
        return max(tick + bar, song_end)

    def chords_in_range(self, start_tick: int, end_tick: int) -> range:
        """Indices of the chords whose span meets [start_tick, end_tick): a bisection,
        so painting costs what is visible, not the length of the track."""
        first = max(0, bisect.bisect_right(self._chord_ticks, start_tick) - 1)
        last = bisect.bisect_left(self._chord_ticks, end_tick)
        return range(first, max(first, last))

    @staticmethod
    def chord_symbol(text: str) -> str:
        """``text`` read as a chord symbol, in its canonical spelling; an EncodingError
        whose sentence says which part could not be read.  A root typed in lower case
        ("g7") is read as its capital."""
        text = text.strip()
        if text[:1] in "abcdefg" and text[:1]:
            text = text[0].upper() + text[1:]
        return str(parse_chord(text))

    def set_chords(self, chords: Iterable[Chord], text: str = "Set chords") -> None:
        """Replace the whole chord track (Detect Chords, kept suggestions): one undo step."""
        by_tick = {c.tick: c for c in chords}
        self._push_chords([by_tick[t] for t in sorted(by_tick)], text)

    def add_chord(self, tick: int, symbol: str) -> None:
        """Put a chord at ``tick`` (over the one there, if any): one undo step."""
        chord = Chord(max(0, int(tick)), self.chord_symbol(symbol))
        new = [c for c in self._chords if c.tick != chord.tick] + [chord]
        self._push_chords(sorted(new, key=lambda c: c.tick), "Add chord")

    def change_chord(self, index: int, symbol: str) -> None:
        """Type over chord ``index``'s symbol: one undo step (none when it is the same)."""
        new = list(self._chords)
        new[index] = Chord(new[index].tick, self.chord_symbol(symbol))
        self._push_chords(new, "Change chord")

    def delete_chord(self, index: int) -> None:
        new = list(self._chords)
        del new[index]
        self._push_chords(new, "Delete chord")

    def move_chord(self, index: int, d_tick: int) -> None:
        """Move chord ``index`` by ``d_tick`` keeping its length (the next chord's start
        moves with it), cut short where it would reach a neighbour or tick 0."""
        new = list(self._chords)
        lo = new[index - 1].tick + 1 if index > 0 else 0
        d_tick = max(int(d_tick), lo - new[index].tick)
        if index + 1 < len(new):
            hi = new[index + 2].tick - 1 if index + 2 < len(new) else None
            if hi is not None:
                d_tick = min(d_tick, hi - new[index + 1].tick)
            new[index + 1] = Chord(new[index + 1].tick + d_tick, new[index + 1].symbol)
        new[index] = Chord(new[index].tick + d_tick, new[index].symbol)
        self._push_chords(new, "Move chord")

    def set_chord_end(self, index: int, end_tick: int) -> None:
        """Resize chord ``index`` to end at ``end_tick``: the next chord starts there
        (kept at least a tick after each neighbour's start).  The last chord lasts until
        the song ends, so it has no end to move."""
        if index + 1 >= len(self._chords):
            return
        new = list(self._chords)
        lo = new[index].tick + 1
        hi = new[index + 2].tick - 1 if index + 2 < len(new) else int(end_tick)
        new[index + 1] = Chord(min(hi, max(lo, int(end_tick))), new[index + 1].symbol)
        self._push_chords(new, "Resize chord")

    def _push_chords(self, new: list[Chord], text: str) -> None:
        if new != self._chords:
            self.undo_stack.push(commands.SetChords(self, self._chords, new, text))

    # ---- primitives for gui.commands (no undo; one changed signal per call) ------------
    def _insert_records(self, records: Iterable[NoteRecord]) -> None:
        for r in records:
            self._store(r)
        self._touched()

    def _remove_ids(self, ids: Iterable[int]) -> None:
        ids = set(ids)
        for i in ids:
            note = self._notes.pop(i)
            self._index.remove(i, note)
            del self._origin[i], self._track[i]
        if self._selection & ids:
            self._selection = self._selection - ids
            self._deliberate = self._deliberate and bool(self._selection)
            self.selection_changed.emit()
        self._touched()

    def _replace_notes(self, changes: Mapping[int, Note]) -> None:
        for i, note in changes.items():
            self._index.remove(i, self._notes[i])
            self._notes[i] = note
            self._index.add(i, note)
        self._touched()

    def _set_tempo_change(self, index: int, change: TempoChange) -> None:
        self._tempo_changes[index] = change
        self.changed.emit()

    def _set_time_signature(self, index: int, ts: TimeSignature) -> None:
        self._time_signatures[index] = ts
        self.changed.emit()

    def _set_key_override(self, key: Key | None) -> None:
        self._key_override = key
        self.changed.emit()

    def _set_chords(self, chords: Iterable[Chord]) -> None:
        self._chords = list(chords)
        self._chord_ticks = [c.tick for c in self._chords]
        self.chords_changed.emit()
        self.changed.emit()

    def _set_track(self, index: int, track: Track) -> None:
        """Replace a track's settings (name, channel, program); its notes stay."""
        self._tracks[index] = replace(track, notes=[])
        self.tracks_changed.emit()
        self.changed.emit()

    def _set_muted(self, muted: frozenset[int]) -> None:
        self._muted = frozenset(t for t in muted if t < len(self._tracks))
        self.tracks_changed.emit()
        self.changed.emit()

    def _append_tracks(self, tracks: Iterable[Track]) -> None:
        tracks = list(tracks)
        if tracks:
            self._tracks.extend(replace(t, notes=[]) for t in tracks)
            self.tracks_changed.emit()
            self.changed.emit()

    def _drop_last_tracks(self, count: int) -> None:
        """Remove the last ``count`` tracks (their notes are already gone); the active
        track moves to the last one left when it was among them."""
        if count <= 0:
            return
        del self._tracks[len(self._tracks) - count:]
        self._muted = frozenset(t for t in self._muted if t < len(self._tracks))
        if self._active_track >= len(self._tracks):
            self._active_track = len(self._tracks) - 1
            self.active_track_changed.emit(self._active_track)
        self.tracks_changed.emit()
        self.changed.emit()

    def _record(self, note_id: int) -> NoteRecord:
        return NoteRecord(note_id, self._notes[note_id], self._origin[note_id],
                          self._track[note_id])

    # ---- helpers --------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _store(self, r: NoteRecord) -> None:
        self._notes[r.note_id] = r.note
        self._origin[r.note_id] = r.origin
        self._track[r.note_id] = r.track
        self._index.add(r.note_id, r.note)

    def _touched(self) -> None:
        self._key_cache = None
        self._end_cache = None
        self.changed.emit()

    def _live(self, ids: Iterable[int]) -> dict[int, Note]:
        return {i: self._notes[i] for i in ids if i in self._notes}

    def _records_for(self, notes: Iterable[Note], origin: str,
                     track: int | None) -> list[NoteRecord]:
        if origin not in ORIGINS:
            raise ValueError(f"note origin {origin!r} is not one of {ORIGINS}")
        track = self.active_track if track is None else track
        if not 0 <= track < len(self._tracks):
            raise ValueError(f"track {track} does not exist")
        return [NoteRecord(self._new_id(), n, origin, track) for n in notes]

    def _push_replace(self, changes: Mapping[int, Note], text: str,
                      kind: type[commands.ReplaceNotes] = commands.ReplaceNotes) -> None:
        before = {i: self._notes[i] for i in changes}
        changes = {i: n for i, n in changes.items() if n != before[i]}
        if changes:
            self.undo_stack.push(kind(
                self, {i: before[i] for i in changes}, dict(changes), text))


__all__ = ["SongDocument", "NoteRecord", "NoteIndex", "SEED", "GENERATED"]

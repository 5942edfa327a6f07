"""One QUndoCommand per kind of edit.

Each command stores exactly what it needs to go both ways (the records it adds or
removes, a delta, or the before/after notes it swaps) and changes the document only
through its primitives, so undo and redo restore the content exactly and the ids of
the notes stay the same.  The command text is what the Edit menu shows after
"Undo"/"Redo".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar

from PySide6.QtGui import QUndoCommand

from engine.song import Chord, Note, Track

T = TypeVar("T")

# the document a command changes: a gui.document.SongDocument (which imports this module,
# so this one names it without importing it)
SongDocument = Any


@dataclass(frozen=True, slots=True)
class NoteRecord:
    """Everything needed to put a note back exactly as it was (for undo)."""

    note_id: int
    note: Note
    origin: str
    track: int


class AddNotes(QUndoCommand):
    """Draw, paste or keep a variation: the notes come with their ids fixed up front."""

    def __init__(self, doc: SongDocument, records: Sequence[NoteRecord], text: str = "Add notes",
                 select: bool = False) -> None:
        super().__init__(text)
        self.doc, self.records, self.select = doc, list(records), select

    def redo(self) -> None:
        self.doc._insert_records(self.records)
        if self.select:
            self.doc.set_selection((r.note_id for r in self.records), deliberate=False)

    def undo(self) -> None:
        self.doc._remove_ids(r.note_id for r in self.records)


class AddParts(QUndoCommand):
    """Keep a polyphonic variation: notes on several tracks, and new tracks (a
    harmonisation's voices) appended after the document's; undo removes both."""

    def __init__(self, doc: SongDocument, tracks: Sequence[Track],
                 records: Sequence[NoteRecord], text: str, select: bool = False) -> None:
        super().__init__(text)
        self.doc, self.tracks, self.records = doc, list(tracks), list(records)
        self.select = select

    def redo(self) -> None:
        self.doc._append_tracks(self.tracks)
        self.doc._insert_records(self.records)
        if self.select:
            self.doc.set_selection((r.note_id for r in self.records), deliberate=False)

    def undo(self) -> None:
        self.doc._remove_ids(r.note_id for r in self.records)
        self.doc._drop_last_tracks(len(self.tracks))


class DeleteNotes(QUndoCommand):
    """Erase notes; undo puts them back with the same ids and selects them."""

    def __init__(self, doc: SongDocument, records: Sequence[NoteRecord],
                 text: str = "Delete notes") -> None:
        super().__init__(text)
        self.doc, self.records = doc, list(records)

    def redo(self) -> None:
        self.doc._remove_ids(r.note_id for r in self.records)

    def undo(self) -> None:
        self.doc._insert_records(self.records)
        self.doc.set_selection((r.note_id for r in self.records), deliberate=False)


class MoveNotes(QUndoCommand):
    """Move notes in time and pitch by a delta the document has already clamped."""

    def __init__(self, doc: SongDocument, note_ids: Sequence[int], d_tick: int, d_pitch: int,
                 text: str = "Move notes") -> None:
        super().__init__(text)
        self.doc, self.ids, self.delta = doc, list(note_ids), (d_tick, d_pitch)

    def _shift(self, d_tick: int, d_pitch: int) -> None:
        self.doc._replace_notes({i: self.doc.note(i).moved(d_tick, d_pitch) for i in self.ids})

    def redo(self) -> None:
        self._shift(*self.delta)

    def undo(self) -> None:
        self._shift(-self.delta[0], -self.delta[1])


class ReplaceNotes(QUndoCommand):
    """Swap notes for changed versions of themselves (any per-note edit)."""

    def __init__(self, doc: SongDocument, before: Mapping[int, Note], after: Mapping[int, Note],
                 text: str) -> None:
        super().__init__(text)
        self.doc, self.before, self.after = doc, dict(before), dict(after)

    def redo(self) -> None:
        self.doc._replace_notes(self.after)

    def undo(self) -> None:
        self.doc._replace_notes(self.before)


class ResizeNotes(ReplaceNotes):
    """Change note lengths (before/after, because each note is clamped on its own)."""


class SetVelocity(ReplaceNotes):
    """Change velocities, one value each."""


class SetSetting(QUndoCommand, Generic[T]):
    """One song-wide setting swapped for another through the document's setter for it.

    The document's gestures use it for the tempo at tick 0 ("Change tempo"), the
    meter at tick 0 ("Change time signature") and the key chosen by the user, or
    ``None`` to estimate it from the notes again ("Change key").
    """

    def __init__(self, text: str, setter: Callable[[T], None], old: T, new: T) -> None:
        super().__init__(text)
        self.setter, self.old, self.new = setter, old, new

    def redo(self) -> None:
        self.setter(self.new)

    def undo(self) -> None:
        self.setter(self.old)


class ChangeTrack(QUndoCommand):
    """A track's settings (its name, its instrument) swapped for others; notes stay."""

    def __init__(self, doc: SongDocument, index: int, old: Track, new: Track, text: str) -> None:
        super().__init__(text)
        self.doc, self.index, self.old, self.new = doc, index, old, new

    def redo(self) -> None:
        self.doc._set_track(self.index, self.new)

    def undo(self) -> None:
        self.doc._set_track(self.index, self.old)


class SetChords(QUndoCommand):
    """The chord track swapped for another (a symbol typed over, a chord moved, resized,
    added or deleted, a detected or suggested track kept): each list whole, so undo puts
    back exactly what was there."""

    def __init__(self, doc: SongDocument, old: Sequence[Chord], new: Sequence[Chord],
                 text: str) -> None:
        super().__init__(text)
        self.doc, self.old, self.new = doc, list(old), list(new)

    def redo(self) -> None:
        self.doc._set_chords(self.new)

    def undo(self) -> None:
        self.doc._set_chords(self.old)

"""Files: standard MIDI (:mod:`.midi`), scores through music21 (:mod:`.scores`) and the
atomic writer every file goes through (:mod:`.atomic`).

:data:`READERS` is the one table of what Continuo opens: suffix -> reader and a
description.  The GUI's Open filter, drag and drop, the CLI and training all read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.formats import midi
from engine.formats.atomic import write_bytes_atomic, write_file
from engine.formats.midi import midi_file_to_song, song_to_midi_bytes, song_to_midi_file, vlq
from engine.formats.scores import (TuneInfo, list_score_tunes, music21_score_to_song,
                                   score_file_to_song)
from engine.song import Song


@dataclass(frozen=True, slots=True)
class Format:
    """One kind of file Continuo opens."""

    description: str  # as an Open dialog's filter names it
    suffixes: tuple[str, ...]
    read: Callable[[str | os.PathLike, int], Song]  # (path, tune from 0) -> Song
    has_tunes: bool  # a file may hold several tunes (list them with list_score_tunes)


FORMATS: tuple[Format, ...] = (
    Format("MIDI files", midi.SUFFIXES, lambda path, tune=0: midi_file_to_song(path), False),
    Format("ABC", (".abc",), score_file_to_song, True),
    Format("MusicXML", (".xml", ".musicxml", ".mxl"), score_file_to_song, True),
    Format("Humdrum kern", (".krn",), score_file_to_song, True),
)
READERS: dict[str, Format] = {s: f for f in FORMATS for s in f.suffixes}
MIDI_SUFFIXES = midi.SUFFIXES
SCORE_SUFFIXES = tuple(s for s, f in READERS.items() if f.has_tunes)
OPENABLE_SUFFIXES = tuple(READERS)


def format_of(path: str | os.PathLike) -> Format | None:
    return READERS.get(Path(path).suffix.lower())


def is_score(path: str | os.PathLike) -> bool:
    """A file music21 reads (it may hold several tunes)."""
    fmt = format_of(path)
    return fmt is not None and fmt.has_tunes


def load_song(path: str | os.PathLike, tune: int = 0) -> Song:
    """Open any file Continuo reads, by its suffix (an unknown suffix is read as MIDI,
    whose reader names the file and the problem when it is not one)."""
    fmt = format_of(path)
    return fmt.read(path, tune) if fmt is not None else midi_file_to_song(path)


def unreadable_suffix(path: str | os.PathLike) -> str | None:
    """Why Continuo will not read ``path`` by its suffix (a sentence), or None when it will."""
    if format_of(path) is not None:
        return None
    return (f"{Path(path).name}: Continuo reads files ending in "
            f"{', '.join(OPENABLE_SUFFIXES)}; this file is none of them")


def open_filters() -> list[str]:
    """Filters for an Open dialog: every format together, then each alone, then any file."""
    def pattern(suffixes):
        return " ".join(f"*{s}" for s in suffixes)

    every = f"Music files ({pattern(OPENABLE_SUFFIXES)})"
    return ([every] + [f"{f.description} ({pattern(f.suffixes)})" for f in FORMATS]
            + ["All files (*)"])


__all__ = ["Format", "FORMATS", "READERS", "MIDI_SUFFIXES", "SCORE_SUFFIXES",
           "OPENABLE_SUFFIXES", "format_of", "is_score", "load_song", "open_filters",
           "unreadable_suffix",
           "write_bytes_atomic", "write_file", "midi_file_to_song", "song_to_midi_bytes",
           "song_to_midi_file", "vlq", "TuneInfo", "list_score_tunes", "music21_score_to_song",
           "score_file_to_song"]

"""A folder of the user's music: every tune of every file Continuo reads, as tokens.

Used to build a style from a folder (:mod:`engine.generation.style`) and to fine-tune a
network on it.  The folder is walked recursively (hidden files and folders skipped, in
sorted order, so the same folder always gives the same tunes); each file is read with
the readers of :mod:`engine.formats` and every tune of a multi-tune file is kept apart.
A file that cannot be used (too big, damaged, no melody) is skipped with one line in
``problems``; only a folder with nothing usable at all is an error.  ``progress`` and
``is_cancelled`` are checked between files, so a folder of thousands of files shows
how far it got and stops when asked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from engine.errors import Cancelled, ContinuoError, ScoreFileError, StyleError
from engine import formats
from engine.formats import MIDI_SUFFIXES, OPENABLE_SUFFIXES, format_of, is_score
from engine.formats.midi import MAX_FILE_BYTES
from engine.limits import MAX_SCORE_BYTES, describe_bytes
from engine.song import Song

# a file in a folder of tunes larger than this is not read at all (a melody a person
# would learn a style from is a few KB; the MIDI reader itself stops at 32 MB)
MAX_FOLDER_FILE_BYTES = 16 * 2**20

Progress = Callable[[int, int, str], None]  # (files done, files in all, the file being read)


@dataclass
class FolderTunes:
    """What a folder holds: ``(name, tokens)`` per tune (``name`` is the file's path
    in the folder, with ``#N`` for the Nth tune of a multi-tune file), one line per
    skipped file, and how many music files there were."""

    tunes: list[tuple[str, np.ndarray]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: int = 0

    @property
    def tokens(self) -> int:
        """How many tokens the tunes hold in all."""
        return sum(int(len(t)) for _, t in self.tunes)


def check_cancelled(is_cancelled: Callable[[], bool] | None,
                    what: str = "reading the folder") -> None:
    """Raise :class:`~engine.errors.Cancelled` when ``is_cancelled()`` says so."""
    if is_cancelled is not None and is_cancelled():
        raise Cancelled(f"{what} was cancelled")


def music_files(folder: str | os.PathLike,
                is_cancelled: Callable[[], bool] | None = None) -> list[Path]:
    """Every file under ``folder`` that Continuo reads, sorted; hidden ones skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "there is no such folder" if not folder.exists() else "this is not a folder"
        raise StyleError(f"{folder}: {what}")
    found = []
    for root, dirs, files in os.walk(folder):
        check_cancelled(is_cancelled)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root, f) for f in files
                  if not f.startswith(".") and Path(f).suffix.lower() in OPENABLE_SUFFIXES]
    return sorted(found)


def tunes_in(path: Path) -> list[tuple[str, Song]]:
    """Every tune of one file, with its title (each tune of a multi-tune file apart; a
    tune that cannot be converted is an empty song)."""
    if not path.exists():
        raise ScoreFileError(f"{path.name}: there is no such file")
    if problem := formats.unreadable_suffix(path):  # the suffixes of formats.READERS
        raise ScoreFileError(problem)
    songs: list[tuple[str, Song]] = []
    if is_score(path):
        # the score reader keeps the parsed file, so a collection is parsed once, not per tune
        for tune in formats.list_score_tunes(path):
            try:
                songs.append((tune.title, formats.score_file_to_song(path, tune=tune.index)))
            except ScoreFileError:
                songs.append((tune.title, Song()))
    else:
        songs.append((path.stem, formats.load_song(path)))
    return songs


def _size_problem(path: Path) -> str | None:
    """Why a file is too big to read for a folder (without reading it), or None."""
    limit = min(MAX_FOLDER_FILE_BYTES,
                MAX_FILE_BYTES if path.suffix.lower() in MIDI_SUFFIXES else MAX_SCORE_BYTES)
    size = path.stat().st_size
    if size > limit:
        kind = format_of(path).description if format_of(path) else "music"
        return (f"the file is {describe_bytes(size)}; Continuo reads {kind} of up to "
                f"{describe_bytes(limit)} from a folder")
    return None


def read_folder(folder: str | os.PathLike, encoding, progress: Progress | None = None,
                is_cancelled: Callable[[], bool] | None = None) -> FolderTunes:
    """The tunes of every music file under ``folder``, as ``encoding`` tokens.

    ``progress(done, total, name)`` is called before each file (``name`` the file about
    to be read) and once at the end with ``done == total``; ``is_cancelled()`` is
    checked between files and raises :class:`~engine.errors.Cancelled`.  A folder with
    no tune to use raises :class:`~engine.errors.StyleError` saying why."""
    folder = Path(folder)
    paths = music_files(folder, is_cancelled)
    out = FolderTunes(files=len(paths))
    for i, path in enumerate(paths):
        check_cancelled(is_cancelled)
        rel = path.relative_to(folder).as_posix()
        if progress is not None:
            progress(i, len(paths), rel)
        try:
            reason = _size_problem(path)
            if reason is None:
                songs = tunes_in(path)
                kept = 0
                for k, (_, song) in enumerate(songs):
                    tokens = encoding.song_to_tokens(song) if song.tracks else None
                    if tokens is not None and len(tokens) >= 2:
                        name = f"{rel}#{k + 1}" if len(songs) > 1 else rel
                        out.tunes.append((name, np.asarray(tokens, dtype=np.int32)))
                        kept += 1
                if not kept:
                    reason = "no melody to learn from"
        except Cancelled:
            raise
        except OSError as e:
            reason = f"the file cannot be read ({e.strerror or e})"
        except ContinuoError as e:
            reason = str(e).removeprefix(f"{path.name}: ")
        except Exception as e:  # one damaged file must not stop a folder of thousands
            reason = f"the file cannot be read ({type(e).__name__}: {str(e)[:200]})"
        if reason is not None:
            out.problems.append(f"{rel}: {reason}")
    if progress is not None:
        progress(len(paths), len(paths), "")
    if not out.tunes:
        if not paths:
            why = (f"it holds no music files (Continuo reads files ending in "
                   f"{', '.join(OPENABLE_SUFFIXES)})")
        else:
            why = (f"none of its {len(paths)} music file{'s' if len(paths) > 1 else ''} "
                   f"has a melody Continuo can read (first: {out.problems[0]})")
        raise StyleError(f"{folder}: no music to learn from; {why}")
    return out


__all__ = ["FolderTunes", "MAX_FOLDER_FILE_BYTES", "check_cancelled", "music_files",
           "read_folder", "tunes_in"]

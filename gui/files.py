"""Files: open (MIDI, ABC, MusicXML, kern), save (atomic MIDI), export, recent files,
and dragging a clip or the song out of the window as a .mid file.

The dialogs are thin: reading and writing is the engine's (``engine.formats``), and every
ContinuoError it raises reaches the user as its own sentence.  The helpers that do not
need a person (``read_song``, ``write_song``, ``drag_mime_data``, ``RecentFiles``) take
plain arguments so that tests can drive them without dialogs.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QMimeData, QPoint, QSettings, Qt, QUrl
from PySide6.QtGui import QDrag, QMouseEvent
from PySide6.QtWidgets import QFileDialog, QInputDialog, QToolButton, QWidget

from engine.errors import ContinuoError, MidiFileError
from engine.formats import (MIDI_SUFFIXES, format_of, is_score, list_score_tunes, load_song,
                            open_filters, song_to_midi_file)
from engine.song import Note, Song, Track, melody_song
from gui.busy import run_busy

OPEN_FILTER = ";;".join(open_filters())  # engine.formats.READERS: what Continuo opens
MIDI_FILTER = "MIDI files (*.mid *.midi)"
WAV_FILTER = "WAV audio (*.wav)"
MAX_RECENT = 10


# ---------------------------------------------------------------------------------------
# reading and writing without dialogs
# ---------------------------------------------------------------------------------------


def is_openable(path: str | os.PathLike) -> bool:
    """A file whose suffix is in engine.formats.READERS (what drag and drop accepts)."""
    return format_of(path) is not None


def read_song(path: str | os.PathLike, tune: int = 0) -> Song:
    """The song in ``path`` (raises ContinuoError with a sentence for the user)."""
    return load_song(path, tune=tune)


def tracks_with_notes(song: Song) -> list[int]:
    return [i for i, t in enumerate(song.tracks) if t.notes]


def midi_path_for(path: str | os.PathLike) -> str:
    """Where Save writes: the file itself when it is MIDI, else the same name as .mid
    (we never overwrite an ABC or MusicXML file with MIDI bytes)."""
    p = Path(path)
    if p.suffix.lower() in MIDI_SUFFIXES:
        return str(p)
    return str(p.with_suffix(".mid"))


def write_song(song: Song, path: str | os.PathLike) -> str:
    """Write ``song`` as MIDI, atomically; returns the path written."""
    path = str(path)
    if Path(path).suffix.lower() not in MIDI_SUFFIXES:
        path += ".mid"
    song_to_midi_file(song, path)
    return path


def write_audio(song: Song, path: str | os.PathLike, parent: QWidget | None = None) -> str:
    """Render ``song`` with the built-in synth (FluidSynth and the shipped soundfont, or
    a plain additive tone without them) on a helper thread, with a dialog that can
    cancel (BusyCancelled; nothing is written then), and write a 16-bit stereo WAV
    atomically.  Returns what rendered it."""
    from engine.live.synth import DEFAULT_SAMPLE_RATE, render_song, write_wav

    samples, engine = run_busy(parent, f"Rendering {Path(path).name}...",
                               lambda: render_song(song, DEFAULT_SAMPLE_RATE))
    write_wav(path, samples, DEFAULT_SAMPLE_RATE)
    return engine


# File > Export's formats: (label, file filter, suffixes, one file per track)
EXPORTS = {
    "musicxml": ("MusicXML", "MusicXML (*.musicxml *.mxl)", (".musicxml", ".mxl"), False),
    "abc": ("ABC", "ABC notation (*.abc)", (".abc",), False),
    "midi0": ("MIDI Type 0", MIDI_FILTER, MIDI_SUFFIXES, False),
    "midi_tracks": ("MIDI per Track", MIDI_FILTER, MIDI_SUFFIXES, True),
    "stems": ("WAV Stems", WAV_FILTER, (".wav",), True),
}


def export_to(song: Song, path: str | os.PathLike, kind: str, track: int | None = None,
              parent: QWidget | None = None) -> list[Path]:
    """Write ``song`` in the format of ``kind`` (a key of :data:`EXPORTS`) on a helper
    thread, with a dialog that can cancel (BusyCancelled; the files are written
    atomically, so a cancelled export leaves none half-written); the files written."""
    from engine.formats.export import export_song

    label, _, _, per_track = EXPORTS[kind]
    return run_busy(parent, f"Exporting {Path(path).name} ({label})...",
                    lambda: export_song(song, path, track=track,
                                        midi_type=0 if kind == "midi0" else 1,
                                        per_track=per_track))


def clip_song(notes: list[Note], like: Song, name: str = "Clip") -> Song:
    """A one-track song of ``notes`` with the tempo and metre of ``like`` (the song
    they came from), moved so that the clip starts at tick 0."""
    if not notes:
        raise MidiFileError("there are no notes to export; select some first")
    first = min(n.start_tick for n in notes)
    ts = like.meter_at(first)  # the metre (after a pickup, not the pickup's short bar)
    song = melody_song([n.moved(-first, 0) for n in notes], ppq=like.ppq,
                       bpm=like.tempo_map.bpm_at(0), time_signature=(ts.numerator, ts.denominator),
                       name=name)
    return song


# ---------------------------------------------------------------------------------------
# recent files (QSettings)
# ---------------------------------------------------------------------------------------


class RecentFiles:
    """The most recent files first, kept in QSettings under ``files/recent``."""

    KEY = "files/recent"

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings or QSettings()

    def paths(self) -> list[str]:
        value = self._settings.value(self.KEY, [])
        if isinstance(value, str):  # QSettings gives a bare string for a one-item list
            value = [value]
        return [str(p) for p in (value or [])]

    def add(self, path: str | os.PathLike) -> None:
        path = os.path.abspath(path)
        paths = [path] + [p for p in self.paths() if p != path]
        self._settings.setValue(self.KEY, paths[:MAX_RECENT])

    def remove(self, path: str) -> None:
        self._settings.setValue(self.KEY, [p for p in self.paths() if p != path])

    def clear(self) -> None:
        self._settings.setValue(self.KEY, [])


# ---------------------------------------------------------------------------------------
# dialogs
# ---------------------------------------------------------------------------------------


def _last_dir() -> str:
    return str(QSettings().value("files/last_dir", str(Path.home())))


def _remember_dir(path: str) -> None:
    QSettings().setValue("files/last_dir", str(Path(path).parent))


def ask_open_path(parent: QWidget) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open", _last_dir(), OPEN_FILTER)
    if path:
        _remember_dir(path)
    return path or None


def ask_save_path(parent: QWidget, title: str, suggested: str, file_filter: str = MIDI_FILTER,
                  suffixes: tuple[str, ...] = MIDI_SUFFIXES) -> str | None:
    """Where to write; a name without one of ``suffixes`` gets the first of them."""
    start = suggested if os.path.isabs(suggested) else os.path.join(_last_dir(), suggested)
    path, _ = QFileDialog.getSaveFileName(parent, title, start, file_filter)
    if not path:
        return None
    _remember_dir(path)
    return path if Path(path).suffix.lower() in suffixes else path + suffixes[0]


def tunes_in(path: str | os.PathLike) -> list:
    """The tunes of a score (parsing it; the score reader keeps the parsed file, so
    reading the chosen tune next does not parse it again); [] for a MIDI file."""
    return list_score_tunes(path) if is_score(path) else []


def ask_tune(parent: QWidget, path: str, tunes: list | None = None) -> int | None:
    """For a multi-tune score (ABC), which tune (from 0); 0 when there is one; None when
    the user cancels.  ``tunes`` is :func:`tunes_in` already done (else it is done
    here)."""
    if tunes is None:
        tunes = tunes_in(path)
    if len(tunes) <= 1:
        return 0
    labels = [f"{t.index + 1}. {t.title}" for t in tunes]
    label, ok = QInputDialog.getItem(parent, "Choose a tune",
                                     f"{Path(path).name} holds {len(tunes)} tunes:", labels, 0,
                                     False)
    return labels.index(label) if ok else None


def ask_track(parent: QWidget, song: Song, default: int) -> int | None:
    """Which track to continue, when several pitched tracks have notes (drum tracks are
    never a melody: they are offered only when the song has nothing else), ``default``
    preselected; None when cancelled."""
    candidates = [i for i in tracks_with_notes(song) if not song.tracks[i].is_drum] \
        or tracks_with_notes(song)
    if len(candidates) <= 1:
        return candidates[0] if candidates else 0
    labels = [_track_label(i, song.tracks[i]) for i in candidates]
    current = candidates.index(default) if default in candidates else 0
    label, ok = QInputDialog.getItem(parent, "Choose the melody track",
                                     "Continue which track?", labels, current, False)
    return candidates[labels.index(label)] if ok else None


def _track_label(index: int, track: Track) -> str:
    low = min(n.pitch for n in track.notes)
    high = max(n.pitch for n in track.notes)
    return f"{index + 1}. {track.name or 'Track'} ({len(track.notes)} notes, {low}-{high})"


# ---------------------------------------------------------------------------------------
# drag out
# ---------------------------------------------------------------------------------------

_drag_dir: tempfile.TemporaryDirectory | None = None


def _drag_folder() -> Path:
    """One temporary folder per session; it must outlive the drag, since the receiving
    program reads the file after the drop, so it is removed at exit, not per drag."""
    global _drag_dir
    if _drag_dir is None:
        _drag_dir = tempfile.TemporaryDirectory(prefix="continuo-drag-")
    return Path(_drag_dir.name)


def safe_file_stem(text: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "", text).strip(" .") or "continuo"
    return stem[:60]


def drag_mime_data(song: Song, stem: str) -> QMimeData:
    """Mime data holding a file URL of a fresh .mid file of ``song`` (for DAWs and file
    managers), plus the MIDI bytes under audio/midi for programs that take data."""
    path = _drag_folder() / f"{safe_file_stem(stem)}.mid"
    song_to_midi_file(song, path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    mime.setData("audio/midi", path.read_bytes())
    return mime


class DragOutButton(QToolButton):
    """A button that, when dragged, drags a .mid file of what ``provider`` returns:
    (song, file stem), or None when there is nothing to drag."""

    def __init__(self, text: str, provider: Callable[[], tuple[Song, str] | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setText(text)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setToolTip("Drag this into a DAW or a file manager to drop a MIDI file")
        self._provider = provider
        self._press: QPoint | None = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def mime_data(self) -> QMimeData | None:
        item = self._provider()
        if item is None:
            return None
        song, stem = item
        return drag_mime_data(song, stem)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is not None and (event.position().toPoint() - self._press
                                        ).manhattanLength() >= 8:
            self._press = None
            self.setDown(False)
            try:
                mime = self.mime_data()
            except ContinuoError as e:
                bar = getattr(self.window(), "statusBar", None)
                if bar is not None:
                    bar().showMessage(str(e), 6000)
                return
            if mime is not None:
                drag = QDrag(self)
                drag.setMimeData(mime)
                drag.exec(Qt.DropAction.CopyAction)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press = None
        super().mouseReleaseEvent(event)

"""Autosave and crash recovery: an unsaved idea survives a crash, a kill or a power cut.

While the document has unsaved changes, :class:`Autosaver` writes it every 30 s (and
at once after every kept generation) to a recovery file: the song as standard MIDI
plus a small JSON sidecar (the original file's path, the time, the process id), both
written atomically, so a crash in the middle of an autosave leaves the previous one.
The files go away when the document becomes clean (saved, reverted by undo, replaced
by New/Open) and when the app quits normally.  At the next start, a recovery left by a
process that is no longer running is offered for restore.

Each running Continuo writes its own pair of files (named by its process id), so two
windows never overwrite each other's recovery, and a running one's file is never
offered to another.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal

from engine.errors import ContinuoError
from engine.formats import midi_file_to_song, song_to_midi_bytes, write_bytes_atomic
from engine.song import Song

DEFAULT_SECONDS = 30.0
FORMAT = "continuo-recovery"
VERSION = 1
MAX_SIDECAR_BYTES = 64 * 1024


def recovery_dir() -> Path:
    """$CONTINUO_RECOVERY_DIR, else a "recovery" folder in the app's data location."""
    env = os.environ.get("CONTINUO_RECOVERY_DIR")
    if env:
        return Path(env).expanduser()
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".local" / "share" / "Continuo") / "recovery"


def autosave_seconds() -> float:
    """$CONTINUO_AUTOSAVE_SECONDS (the tests use a short one), else 30 s."""
    try:
        value = float(os.environ.get("CONTINUO_AUTOSAVE_SECONDS", DEFAULT_SECONDS))
    except ValueError:
        return DEFAULT_SECONDS
    return value if value > 0 else DEFAULT_SECONDS


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Recovery:
    """An autosave left behind by a Continuo that did not quit normally."""

    midi_path: Path
    sidecar_path: Path
    original_path: str | None  # the file the document came from, None when untitled
    saved_at: float  # seconds since the epoch
    note_count: int
    pid: int

    @property
    def display_name(self) -> str:
        return Path(self.original_path).name if self.original_path else "an untitled song"

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        return (f"Continuo did not close normally. Unsaved changes to {self.display_name} "
                f"({self.note_count} notes) were saved at {when}. Restore them?")

    def load(self) -> Song:
        """The recovered song (a ContinuoError if the file cannot be read)."""
        return midi_file_to_song(self.midi_path)

    def discard(self) -> None:
        for p in (self.sidecar_path, self.midi_path):  # sidecar first: no orphan is listed
            try:
                p.unlink()
            except FileNotFoundError:
                pass


def _read_sidecar(path: Path) -> Recovery | None:
    """A recovery described by ``path``, or None when it is not one (damaged, foreign,
    its MIDI file missing): recovery must never stop the app from starting."""
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            return None
        meta = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            return None
        pid, saved_at, notes = meta["pid"], meta["saved_at"], meta["notes"]
        original = meta.get("original_path")
        if not (isinstance(pid, int) and isinstance(saved_at, (int, float))
                and isinstance(notes, int) and (original is None or isinstance(original, str))):
            return None
    except (OSError, ValueError, KeyError, RecursionError):
        return None
    midi = path.with_suffix(".mid")
    if not midi.is_file():
        return None
    return Recovery(midi, path, original, float(saved_at), notes, pid)


def pending_recovery(folder: Path | None = None) -> Recovery | None:
    """The newest recovery left by a Continuo that is no longer running, if any."""
    folder = folder or recovery_dir()
    try:
        sidecars = list(folder.glob("recovery-*.json"))
    except OSError:
        return None
    found = [r for r in map(_read_sidecar, sidecars) if r is not None and not _process_alive(r.pid)]
    return max(found, key=lambda r: r.saved_at, default=None)


class Autosaver(QObject):
    """Writes the document to this process's recovery files while it has unsaved
    changes; see the module docstring for when."""

    saved = Signal(str)  # the recovery MIDI file just written
    failed = Signal(str)  # a message: the disk is full, the folder is read-only, ...

    def __init__(self, doc, folder: Path | None = None, seconds: float | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.folder = folder or recovery_dir()
        stem = f"recovery-{os.getpid()}"
        self.midi_path = self.folder / f"{stem}.mid"
        self.sidecar_path = self.folder / f"{stem}.json"
        self.saves = 0
        self._dirty = doc.is_modified()
        self.timer = QTimer(self)
        self.timer.setInterval(int((seconds or autosave_seconds()) * 1000))
        self.timer.timeout.connect(self._on_timer)
        doc.changed.connect(self._on_changed)
        doc.modified_changed.connect(self._on_modified_changed)
        self.timer.start()

    def _on_changed(self) -> None:
        self._dirty = True

    def _on_modified_changed(self, modified: bool) -> None:
        if not modified:  # saved, reverted, or a new song: the file on disk is the truth
            self.discard()

    def _on_timer(self) -> None:
        if self._dirty and self.doc.is_modified():
            self.save_now()

    def save_now(self) -> bool:
        """Write the recovery files now, if there is anything unsaved (the panel calls
        this after every kept generation).  Returns whether it wrote."""
        if not self.doc.is_modified():
            return False
        song = self.doc.song()
        meta = {"format": FORMAT, "version": VERSION, "pid": os.getpid(),
                "original_path": self.doc.file_path, "saved_at": time.time(),
                "notes": song.note_count}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # MIDI first, then the sidecar that points at it: a kill between the two
            # leaves the previous sidecar with the new (complete) MIDI, never a torn one
            write_bytes_atomic(self.midi_path, song_to_midi_bytes(song))
            write_bytes_atomic(self.sidecar_path, json.dumps(meta, indent=1).encode())
        except (OSError, ContinuoError) as e:
            self.failed.emit(f"Autosave failed: {e}")
            return False
        self._dirty = False
        self.saves += 1
        self.saved.emit(str(self.midi_path))
        return True

    def discard(self) -> None:
        """Remove this process's recovery files (after a clean save or close)."""
        for p in (self.sidecar_path, self.midi_path):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                pass  # a read-only folder: the next start simply offers it once more
        self._dirty = self.doc.is_modified()

    def stop(self) -> None:
        self.timer.stop()


# ---------------------------------------------------------------------------------------
# wiring into the main window (called from gui/app.py)
# ---------------------------------------------------------------------------------------


def offer_restore(window, recovery: Recovery) -> bool:
    """Ask whether to restore ``recovery`` into ``window``; $CONTINUO_RESTORE=yes/no
    answers for the tests and for scripted starts.  Returns whether it was restored."""
    answer = os.environ.get("CONTINUO_RESTORE", "").strip().lower()
    if answer not in ("yes", "no"):
        from PySide6.QtGui import QGuiApplication
        from PySide6.QtWidgets import QMessageBox

        if QGuiApplication.platformName() in ("offscreen", "minimal"):
            # nobody could answer a dialog (a test run that did not set
            # CONTINUO_RESTORE): keep the recovery for a real start to offer
            return False

        button = QMessageBox.question(
            window, "Restore unsaved changes?", recovery.describe(),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        answer = "yes" if button == QMessageBox.StandardButton.Yes else "no"
    if answer != "yes":
        recovery.discard()
        return False
    try:
        song = recovery.load()
    except ContinuoError as e:
        window.show_error(f"The unsaved changes could not be restored: {e}")
        recovery.discard()
        return False
    doc = window.doc
    doc.load_song(song, path=recovery.original_path)
    doc.undo_stack.resetClean()  # restored, not saved: Save and the prompt still apply
    recovery.discard()  # this process's own autosave takes over from here
    window.statusBar().showMessage(f"Restored unsaved changes to {recovery.display_name}", 8000)
    return True


def install_autosave(window) -> Autosaver:
    """Give ``window`` an Autosaver, offer any recovery left by a crash, and clean up
    on a normal quit."""
    from PySide6.QtWidgets import QApplication

    recovery = pending_recovery()
    autosaver = Autosaver(window.doc, parent=window)
    window.autosaver = autosaver
    if recovery is not None:
        offer_restore(window, recovery)
    panel = getattr(window, "panel", None)
    if panel is not None and hasattr(panel, "kept"):
        panel.kept.connect(lambda _ids: autosaver.save_now())
    app = QApplication.instance()
    if app is not None:  # a normal quit (the close prompt has been answered): no recovery
        app.aboutToQuit.connect(autosaver.discard)
    return autosaver

"""Your own style: a long-term model of a folder of your music, learned off the GUI
thread and listed in the Generate panel as its own entry ("duet + my tunes").

The engine does the work (:mod:`engine.generation.style`: it reads every MIDI, ABC,
MusicXML and kern file under the folder, builds the model and saves it under the user's
models folder, ``styles/``).  This module runs that on a helper thread while a
window-modal dialog says "file i of N: name" and offers Cancel, so the window keeps
painting, playing and autosaving through a folder of thousands of files; then it tells
the panel what was built (or, for a folder with no music, why nothing was).  A style
entry generates with the melody network it names and the style's file
(``GenerationSettings.style``); a polyphonic model never gets one.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog

from engine.encodings import CONTINUE, capabilities_of
from engine.errors import Cancelled, ContinuoError
from gui.busy import QUICK_SECONDS

DEFAULT_NETWORK = "duet"  # the network a style is mixed with, when installed
STYLE_PREFIX = "style:"  # the model list's data for a style entry: this and the style's path
PROGRESS_INTERVAL_S = 0.05  # the dialog's text changes at most this often
DIALOG_WIDTH = 460  # wide enough that a file's name does not resize the dialog
NAME_CHARS = 60  # a longer file name shows its end


@dataclass(frozen=True)
class StyleEntry:
    """One entry of the model list: a melody network mixed with a saved style."""

    network: str
    path: str  # the style's JSON
    name: str
    folder: str
    tunes: int
    notes: int

    @property
    def key(self) -> str:
        return STYLE_PREFIX + self.path

    @property
    def label(self) -> str:
        return f"{self.network} + {self.name}"

    @property
    def tooltip(self) -> str:
        return (f"{self.network}, mixed with the style learned from {self.folder} "
                f"({self.tunes:,} tunes, {self.notes:,} notes)")


def default_network(library: Any) -> Any:
    """The card of the melody network a style is mixed with: duet when installed, else
    the first model that only continues a melody (not a fill or polyphonic one)."""
    melody = [m for m in getattr(library, "models", []) or [] if _only_continues(m)]
    return next((m for m in melody if m.name == DEFAULT_NETWORK), melody[0] if melody else None)


def _only_continues(info: Any) -> bool:
    try:
        return capabilities_of(info) == {CONTINUE}
    except (AttributeError, TypeError):  # not a model the engine can say anything about
        return False


def style_entries(library: Any) -> list[StyleEntry]:
    """One entry per saved style, with the default melody network; none without one."""
    from engine.generation.style import list_styles

    network = default_network(library)
    if network is None:
        return []
    card = network.encoding.card()  # a style speaks its network's tokens
    return [StyleEntry(network.name, str(s.path), s.name, s.folder, s.tunes, s.notes)
            for s in list_styles() if s.encoding == card]


def summary(style: Any) -> tuple[str, str]:
    """What was built, in a line, and the files skipped with their reasons (a tooltip)."""
    problems, skipped = style.problems, style.skipped
    how = "Learned" if style.built_now else "Unchanged since it was learned:"
    line = (f"{how} the style {style.name!r}: {style.tunes:,} tunes, {style.notes:,} notes "
            f"from {style.files:,} files")
    if skipped:
        line += f"; {skipped:,} file{'s' if skipped != 1 else ''} skipped (details: hover here)"
    details = "Skipped:\n" + "\n".join(problems) if problems else ""
    return line + ".", details


class StyleJob(QObject):
    """Builds (or reuses) the style of one folder on a helper thread.

    ``progress(done, total, name)`` comes at most every PROGRESS_INTERVAL_S, then exactly
    one of ``built`` (the StyleModel), ``failed`` (a sentence) or ``cancelled``, then
    ``done``.  Signals reach GUI-thread slots through queued connections."""

    progress = Signal(int, int, str)
    built = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, folder: str, encoding: Any) -> None:
        super().__init__()
        self.folder = folder
        self.encoding = encoding
        self._cancel = threading.Event()
        self._last = 0.0

    def start(self) -> None:
        # a thread of its own, not the pool's: generating jobs keep theirs
        threading.Thread(target=self.run, name="continuo-style", daemon=True).start()

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, done: int, total: int, name: str) -> None:
        now = time.monotonic()
        if done >= total or now - self._last >= PROGRESS_INTERVAL_S:
            self._last = now
            self.progress.emit(done, total, name)

    def run(self) -> None:
        from engine.generation.style import style_for_folder

        try:
            style = style_for_folder(self.folder, self.encoding, progress=self._progress,
                                     is_cancelled=self.is_cancelled)
        except Cancelled:
            self.cancelled.emit()
        except ContinuoError as e:
            self.failed.emit(str(e))
        except Exception as e:  # a bug: a sentence for the user, the trace for us
            traceback.print_exc()
            self.failed.emit(f"Learning the style stopped because of an internal error "
                             f"({type(e).__name__}: {e}).")
        else:  # saved: a Cancel that came after the last check is too late to undo it
            self.built.emit(style)
        finally:
            self.done.emit()


class StyleController:
    """My Style for the Generate panel (``panel``: its public methods only): the job
    learning a style, its progress dialog and its message box.  ``finished`` is called
    when learning has ended, however."""

    def __init__(self, panel: Any, finished: Callable[[], None]) -> None:
        self.panel = panel
        self.finished = finished
        self.job: StyleJob | None = None
        self.dialog: QProgressDialog | None = None
        self.message: QMessageBox | None = None

    def ask_folder(self) -> bool:
        """Ask for a folder of music, then learn its style; False when none was chosen."""
        if self.job is not None or self.panel.is_running():
            return False
        folder = QFileDialog.getExistingDirectory(self.panel.window(),
                                                  "Learn My Style from a Folder")
        return bool(folder) and self.start(folder)

    def start(self, folder: str | Path) -> bool:
        """Start learning the style of ``folder``; False (with a message) when it cannot
        start."""
        panel = self.panel
        if self.job is not None or panel.is_running():
            return False
        network = default_network(panel.library)
        if network is None:
            panel.say("A style is mixed with a melody model, and none was found in the "
                      "models folder.")
            return False
        job = self.job = StyleJob(str(folder), network.encoding)
        dialog = self.dialog = QProgressDialog(
            f"Looking for music in {Path(folder).name}...", "Cancel", 0, 0, panel.window())
        dialog.setWindowTitle("Learn My Style")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumWidth(DIALOG_WIDTH)
        dialog.setMinimumDuration(int(QUICK_SECONDS * 1000))
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(lambda: (job.cancel(), dialog.setLabelText("Stopping...")))
        job.progress.connect(lambda done, total, name: _show_progress(dialog, done, total,
                                                                      name))
        job.built.connect(self._built)
        job.failed.connect(self._failed)
        job.cancelled.connect(lambda: panel.say("Learning the style was cancelled; nothing "
                                                "was saved."))
        job.done.connect(self._done)
        panel.destroyed.connect(job.cancel)
        panel.status.emit(f"Learning the style of {folder}...")
        dialog.setValue(0)  # shows the dialog after its minimum duration
        job.start()
        return True

    def _built(self, style: Any) -> None:
        panel = self.panel
        panel.reload_models()
        entry = next((e for e in panel.style_entries if Path(e.path) == Path(style.path)),
                     None)
        if entry is not None:
            panel.select_model(entry.key)
            panel.save_settings()
        panel.say(*summary(style))

    def _failed(self, message: str) -> None:
        self.panel.say(message)
        box = self.message = QMessageBox(QMessageBox.Icon.Warning, "Learn My Style",
                                         message, QMessageBox.StandardButton.Ok,
                                         self.panel.window())
        box.open()  # window-modal, without a local event loop

    def _done(self) -> None:
        if self.dialog is not None:
            self.dialog.hide()
            self.dialog.deleteLater()
        self.dialog = None
        if self.job is not None:
            self.job.deleteLater()
        self.job = None
        self.finished()


def _show_progress(dialog: QProgressDialog, done: int, total: int, name: str) -> None:
    if dialog.wasCanceled():
        return
    dialog.setMaximum(max(total, 1))
    dialog.setValue(done)
    if len(name) > NAME_CHARS:
        name = "..." + name[3 - NAME_CHARS:]
    dialog.setLabelText(f"File {min(done + 1, total):,} of {total:,}: {name}" if name
                        else f"Building the model of {total:,} files...")


__all__ = ["StyleController", "StyleEntry", "StyleJob", "default_network", "style_entries",
           "summary"]

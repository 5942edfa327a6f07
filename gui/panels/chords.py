"""The Chords menu: Detect Chords, Play Chords, and the chord lane's messages.

:class:`ChordsController` holds the actions the window puts in its Chords menu and runs
them over the document's public gestures: Detect Chords names the harmony of every
pitched track (:func:`engine.encodings.chords.detect_chords`, off the GUI thread when
it takes a moment, refused with a sentence for a song too long to analyse) and makes it
the chord track in ONE undo step ("Detect chords"), replacing any chords there, which
Undo brings back; Play Chords makes playback voice the chord track on a channel of its
own (:func:`gui.playback.with_chords`).
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QKeySequence

from engine.encodings.chords import chord_track, detect_chords
from engine.errors import ContinuoError
from gui.busy import BusyCancelled, run_busy

DETECT_SHORTCUT = "Ctrl+Shift+D"
SETTINGS_PLAY_CHORDS = "playback/play_chords"
PREVIEW_CHORDS = 6  # the detected chords the status bar names


def progression_text(symbols: list[str], limit: int = PREVIEW_CHORDS) -> str:
    """``C Am F G7 ...``: the first ``limit`` symbols, and how many more."""
    if len(symbols) <= limit + 2:  # "... (1 more)" is longer than the chord
        return " ".join(symbols)
    return f"{' '.join(symbols[:limit])} ... ({len(symbols) - limit} more)"


class ChordsController(QObject):
    """Detect Chords and Play Chords for the window (``doc``: the document; ``player``:
    the PlayerBridge or None; ``parent``: the window, for the busy dialog)."""

    status = Signal(str)  # a line for the status bar

    def __init__(self, doc: Any, player: Any = None, parent: Any = None,
                 run: Callable[..., Any] = run_busy) -> None:
        super().__init__(parent)
        self.doc, self.player, self.window, self._run = doc, player, parent, run
        self.detect_action = self._action(
            "chords_detect", "&Detect Chords", self.detect, DETECT_SHORTCUT,
            "Name the harmony of every pitched track, a chord per beat at most, as the "
            "chord track (one undo step)")
        self.play_action = self._action(
            "chords_play", "&Play Chords", self.set_play_chords, None,
            "Playback voices the chord track on a channel of its own (close, around "
            "middle C, the bass note beneath)")
        self.play_action.setCheckable(True)
        self.play_action.setChecked(QSettings().value(SETTINGS_PLAY_CHORDS, False, bool))
        self.set_play_chords(self.play_action.isChecked(), remember=False)
        if player is None:
            self.play_action.setEnabled(False)
        self.actions = [self.detect_action, self.play_action]

    def _action(self, name: str, text: str, slot: Callable, shortcut: str | None,
                tip: str) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        return action

    def say(self, text: str) -> None:
        self.status.emit(text)

    # ---- Detect Chords -----------------------------------------------------------------
    def detect(self) -> bool:
        """Detect the song's chords and make them the chord track (one undo step); False
        with a sentence when there is nothing to detect or it cannot be done."""
        song = self.doc.song()
        if not any(n for t in song.tracks if not t.is_drum for n in t.notes):
            self.say("There are no pitched notes to detect chords from.")
            return False
        try:
            detected = self._run(self.window, "Detecting chords...",
                                 lambda: detect_chords(song))
        except BusyCancelled:
            self.say("Detecting chords was cancelled; the chord track is as it was.")
            return False
        except ContinuoError as e:
            self.say(f"Cannot detect chords: {e}")
            return False
        chords = chord_track(detected)
        before = self.doc.chord_count()
        if chords == self.doc.chords:
            self.say(f"Detected {len(chords)} chords, the same as the chord track.")
            return True
        self.doc.set_chords(chords, "Detect chords")
        replaced = (f"; they replace the {before} chords there before (Undo brings them "
                    f"back)" if before else "")
        self.say(f"Detected {len(chords)} chords: "
                 f"{progression_text([c.symbol for c in chords])}{replaced}.")
        return True

    # ---- Play Chords -------------------------------------------------------------------
    def set_play_chords(self, on: bool, remember: bool = True) -> None:
        """Playback voices the chord track too (from the next Play)."""
        if self.player is not None and hasattr(self.player, "play_chords"):
            self.player.play_chords = bool(on)
        if remember:
            QSettings().setValue(SETTINGS_PLAY_CHORDS, bool(on))
            if on and not self.doc.chord_count():
                self.say("Play Chords is on; the song has no chords yet: Detect Chords "
                         f"({DETECT_SHORTCUT}) or double-click the chord lane to add one.")


__all__ = ["ChordsController", "progression_text", "DETECT_SHORTCUT"]

"""The Chords menu: Detect Chords, Suggest Chords, Next Chord, Play Chords.

:class:`ChordsController` holds the actions the window puts in its Chords menu and runs
them over the document's public gestures: Detect Chords names the harmony of every
pitched track (:func:`engine.encodings.chords.detect_chords`, off the GUI thread when
it takes a moment, refused with a sentence for a song too long to analyse) and makes it
the chord track in ONE undo step ("Detect chords"), replacing any chords there, which
Undo brings back; Play Chords makes playback voice the chord track on a channel of its
own (:func:`gui.playback.with_chords`).

Suggest Chords (:class:`SuggestDialog`) asks the progression model
(:func:`engine.generation.progressions.suggest_chords`) for a chord every bar, half bar
or beat of the melody, plays the song with them to audition, and Keep makes them the
chord track in one undo step ("Suggest chords").  Next Chord (:class:`NextChordDialog`)
ranks the likeliest chords at the playhead
(:func:`engine.generation.progressions.next_chords`); a click auditions one over the
bar around it, Keep puts it there ("Add chord").
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QListWidget, QListWidgetItem, QPushButton, QVBoxLayout,
                               QWidget)

from engine.encodings.chords import chord_track, detect_chords
from engine.errors import ContinuoError
from engine.generation import progressions
from engine.song import Chord, Song
from gui.busy import BusyCancelled, run_busy
from gui.playback import with_chords

DETECT_SHORTCUT = "Ctrl+Shift+D"
SUGGEST_SHORTCUT = "Ctrl+Alt+H"
NEXT_SHORTCUT = "Ctrl+Alt+N"
# Suggest Chords: a chord every ...
PER_CHOICES = (("bar", "Bar"), ("half", "Half bar"), ("beat", "Beat"))
NEXT_CANDIDATES = 6  # Next Chord ranks this many
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
                 run: Callable[..., Any] = run_busy,
                 play_song: Callable[..., Any] | None = None,
                 position: Callable[[], int] | None = None,
                 style: Callable[[], str | None] | None = None) -> None:
        """``play_song(song, start, end)`` auditions (the transport's); ``position()``
        is the playhead (Next Chord's tick); ``style()`` the folder of the style chosen
        in the Generate panel, whose chords add to the progression model's, or None."""
        super().__init__(parent)
        self.doc, self.player, self.window, self._run = doc, player, parent, run
        self._play_song, self._position = play_song, position or (lambda: 0)
        self._style = style or (lambda: None)
        self.suggest_dialog: SuggestDialog | None = None
        self.next_dialog: NextChordDialog | None = None
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
        self.suggest_action = self._action(
            "chords_suggest", "&Suggest Chords...", self.show_suggest, SUGGEST_SHORTCUT,
            "Chords for the melody, a chord every bar, half bar or beat, from a model of "
            "common progressions: audition them, keep them as the chord track")
        self.next_action = self._action(
            "chords_next", "&Next Chord at Playhead...", self.show_next, NEXT_SHORTCUT,
            "The likeliest chords at the playhead, given the chord before and the melody: "
            "audition one, keep it")
        self.actions = [self.detect_action, self.suggest_action, self.next_action,
                        self.play_action]

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

    # ---- Suggest Chords and Next Chord ---------------------------------------------------
    def _melody_song(self) -> Song | None:
        song = self.doc.song()
        if not any(n for t in song.tracks if not t.is_drum for n in t.notes):
            self.say("There is no melody to suggest chords for: draw or open one first.")
            return None
        return song

    def suggest(self, per: str = "bar") -> list[Chord] | None:
        """Suggested chords for the melody, a chord every ``per``; None with a sentence
        when it cannot be done."""
        song = self._melody_song()
        if song is None:
            return None
        style = self.style_folder()
        try:
            return self._run(self.window, "Suggesting chords...",
                             lambda: progressions.suggest_chords(song, per, style=style))
        except BusyCancelled:
            self.say("Suggesting chords was cancelled.")
        except ContinuoError as e:
            self.say(f"Cannot suggest chords: {e}")
        return None

    def style_folder(self) -> str | None:
        """The chosen style's folder while it is still there (a style learnt from a
        folder since moved suggests from the shipped counts alone)."""
        folder = self._style()
        return folder if folder and os.path.isdir(folder) else None

    def keep_suggestion(self, chords: list[Chord]) -> None:
        """The suggested chords become the chord track: one undo step."""
        before = self.doc.chord_count()
        self.doc.set_chords(chords, "Suggest chords")
        replaced = (f"; they replace the {before} chords there before (Undo brings them "
                    f"back)" if before else "")
        self.say(f"Kept {len(chords)} suggested chords: "
                 f"{progression_text([c.symbol for c in chords])}{replaced}.")

    def next_candidates(self, tick: int, k: int = NEXT_CANDIDATES
                        ) -> list[tuple[str, float]] | None:
        """The ``k`` likeliest chords at ``tick`` (symbol, probability), likeliest first;
        None with a sentence when it cannot be done."""
        song = self._melody_song()
        if song is None:
            return None
        try:
            return progressions.next_chords(song, int(tick), k, style=self.style_folder())
        except ContinuoError as e:
            self.say(f"Cannot rank chords here: {e}")
            return None

    def keep_next(self, tick: int, symbol: str) -> None:
        """Put ``symbol`` at ``tick`` (one undo step, over a chord there)."""
        self.doc.add_chord(tick, symbol)
        self.say(f"Kept {symbol} at {tick_text(self.doc, tick)}.")

    def audition(self, chords: list[Chord], start: int = 0, end: int | None = None) -> None:
        """Play the song with ``chords`` voiced in place of its chord track."""
        if self._play_song is None:
            self.say("Playback is not available to audition the chords.")
            return
        song = dataclasses.replace(self.doc.song(), chords=list(chords))
        voiced = dataclasses.replace(with_chords(song), chords=[])  # never voiced twice
        self._play_song(voiced, start, end if end is not None else max(voiced.end_tick, 1))

    def show_suggest(self) -> "SuggestDialog":
        if self.suggest_dialog is None:
            self.suggest_dialog = SuggestDialog(self, self.window)
        self.suggest_dialog.refresh()
        self.suggest_dialog.show()
        self.suggest_dialog.raise_()
        return self.suggest_dialog

    def show_next(self) -> "NextChordDialog":
        if self.next_dialog is None:
            self.next_dialog = NextChordDialog(self, self.window)
        self.next_dialog.refresh(self._position())
        self.next_dialog.show()
        self.next_dialog.raise_()
        return self.next_dialog

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


def tick_text(doc: Any, tick: int) -> str:
    """"bar 3 beat 1" for ``tick`` (bars numbered as the ruler numbers them)."""
    bar, beat, _ = doc.song().bar_beat_at(tick)
    return f"bar {bar} beat {beat}"


def bars_text(doc: Any, chords: list[Chord]) -> str:
    """The progression a bar a line: ``1: C | 2: Am F | ...``."""
    by_bar: dict[int, list[str]] = {}
    song = doc.song()
    for c in chords:
        by_bar.setdefault(song.bar_beat_at(c.tick)[0], []).append(c.symbol)
    return "  |  ".join(f"{bar}: {' '.join(symbols)}" for bar, symbols in by_bar.items())


class SuggestDialog(QDialog):
    """Suggest Chords: the suggestion, a chord every bar, half bar or beat; Play
    auditions it with the song, Keep makes it the chord track (one undo step)."""

    def __init__(self, controller: ChordsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("suggest_chords_dialog")
        self.setWindowTitle("Suggest Chords")
        self.controller = controller
        self.chords: list[Chord] = []
        self.per_combo = QComboBox()
        for value, label in PER_CHOICES:
            self.per_combo.addItem(label, value)
        self.per_combo.currentIndexChanged.connect(lambda _: self.refresh())
        self.progression = QLabel()
        self.progression.setObjectName("suggested_progression")
        self.progression.setWordWrap(True)
        self.progression.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progression.setMinimumWidth(420)
        buttons = QDialogButtonBox()
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Play the song with these chords voiced")
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Make these chords the chord track (one undo step)")
        buttons.addButton(self.play_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.keep_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.play_button.clicked.connect(lambda: self.controller.audition(self.chords))
        self.keep_button.clicked.connect(self.keep)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("A chord every", self.per_combo)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progression)
        layout.addWidget(buttons)

    def refresh(self) -> None:
        """Ask the model again (the melody or the choice of span changed)."""
        chords = self.controller.suggest(str(self.per_combo.currentData()))
        self.chords = chords or []
        self.progression.setText(bars_text(self.controller.doc, self.chords) if self.chords
                                 else "No suggestion: the status bar says why.")
        self.play_button.setEnabled(bool(self.chords))
        self.keep_button.setEnabled(bool(self.chords))

    def keep(self) -> None:
        if self.chords:
            self.controller.keep_suggestion(self.chords)
            self.accept()


class NextChordDialog(QDialog):
    """Next Chord: the likeliest chords at a tick, best first; a click auditions one
    over the bar around it, Keep (or a double-click) puts it there."""

    def __init__(self, controller: ChordsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("next_chord_dialog")
        self.setWindowTitle("Next Chord")
        self.controller = controller
        self.tick = 0
        self.where = QLabel()
        self.where.setWordWrap(True)
        self.candidates = QListWidget()
        self.candidates.setObjectName("next_chord_candidates")
        self.candidates.itemClicked.connect(lambda item: self.audition(item))
        self.candidates.itemDoubleClicked.connect(lambda item: self.keep(item))
        buttons = QDialogButtonBox()
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Put the selected chord at the playhead (one undo step)")
        buttons.addButton(self.keep_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.keep_button.clicked.connect(lambda: self.keep(self.candidates.currentItem()))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addWidget(self.candidates)
        layout.addWidget(buttons)

    def refresh(self, tick: int) -> None:
        self.tick = max(0, int(tick))
        doc = self.controller.doc
        self.candidates.clear()
        ranked = self.controller.next_candidates(self.tick) or []
        index = doc.chord_index_at(self.tick - 1) if self.tick > 0 else None
        after = f", after {doc.chord(index).symbol}" if index is not None else ""
        self.where.setText(f"At {tick_text(doc, self.tick)}{after}: the likeliest chords "
                           f"for the melody there. Click one to hear it." if ranked else
                           "No chords to rank here: the status bar says why.")
        for symbol, p in ranked:
            item = QListWidgetItem(f"{symbol}    {p:.0%}")
            item.setData(Qt.ItemDataRole.UserRole, symbol)
            self.candidates.addItem(item)
        if ranked:
            self.candidates.setCurrentRow(0)
        self.keep_button.setEnabled(bool(ranked))

    def _with(self, symbol: str) -> list[Chord]:
        others = [c for c in self.controller.doc.chords if c.tick != self.tick]
        return sorted(others + [Chord(self.tick, symbol)], key=lambda c: c.tick)

    def audition(self, item: QListWidgetItem | None) -> None:
        """Play the bar before the playhead and the one after, with ``item``'s chord."""
        if item is None:
            return
        bar = self.controller.doc.time_signature.ticks_per_bar(self.controller.doc.ppq)
        symbol = item.data(Qt.ItemDataRole.UserRole)
        self.controller.audition(self._with(symbol), max(0, self.tick - bar), self.tick + bar)

    def keep(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.controller.keep_next(self.tick, item.data(Qt.ItemDataRole.UserRole))
            self.accept()


__all__ = ["ChordsController", "SuggestDialog", "NextChordDialog", "progression_text",
           "DETECT_SHORTCUT", "SUGGEST_SHORTCUT", "NEXT_SHORTCUT"]

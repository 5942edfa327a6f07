"""Add Drums (Generate > Add Drums, Ctrl+Alt+D): a drum track written for the whole song.

:class:`AddDrumsDialog` asks for a style ("auto" first: the engine reads the song's
metre and feel, then the drum model's style families) and how many variations;
:class:`DrumsController` builds the engine's ``drums`` request
(:data:`engine.generation.request.DRUMS`, checked where it is built), steered by the
Generate panel's Controls section (the dialog says which controls it takes: leaps has no
meaning for drums and is left out, engine/generation/mixers/drum_controls.py), and sends
it with a snapshot of the song through the Generate panel's public ``submit``, so it runs in
the generation service like every other job and the GUI stays smooth.  The variations
are the panel's list, auditioned and kept as any others; :class:`DrumsRun` says how:
Play plays the whole song with that variation's drums, Keep adds them as a new drum
track on channel 10 in ONE undo step ("Add drums").  What cannot be done (a song of
drums only, an empty song, no drum model installed, a style that does not exist) is
a sentence in the panel, never a traceback.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QSpinBox, QVBoxLayout, QWidget)

from engine.encodings.drums import AUTO_STYLE, STYLES, DrumEncoding
from engine.errors import ContinuoError
from engine.generation.parts_song import drums_by_track
from engine.generation.request import CONTROLS, DRUMS
from engine.limits import MAX_VARIATIONS
from engine.song import DRUM_CHANNEL, Note, Song, Track
from gui.document import GENERATED

AUTO = "auto"
SHORTCUT = "Ctrl+Alt+D"
NO_MUSIC = "Draw or open some music first: Add Drums writes drums to go with its parts."
NO_DRUM_MODEL = ("No drum model is installed (a model whose card's encoding is drums-12th, "
                 "such as models/drums-lstm.json): Add Drums needs one.")
ONLY_DRUMS = ("This song has only drums: Add Drums writes drums to go with other parts. "
              "Generate continues a drum track.")


def continued_drums(result: Any, index: int) -> dict[int, list[Note]]:
    """{drum track: its new notes} that a continuation of the other parts brought with
    variation ``index`` (:func:`engine.generation.parts_song.drums_by_track`); empty
    when it brought none, or for a result of a job that continues no drums."""
    drums = getattr(result, "drums", None)
    if not drums or getattr(result, "drum_track", None) is None \
            or not 0 <= index < len(drums):
        return {}
    return drums_by_track(result, index)


def is_drum_info(info: Any) -> bool:
    """Whether a library's model (its info) is a drum model: its card's encoding is a
    DrumEncoding (drums-12th)."""
    return isinstance(getattr(info, "encoding", None), DrumEncoding)


def has_drum_model(library: Any) -> bool:
    """Whether ``library`` holds a drum model."""
    try:
        return any(is_drum_info(library.info(n)) for n in getattr(library, "names", []) or [])
    except (AttributeError, ContinuoError):
        return False


def style_choices() -> list[str]:
    """"auto" first, then every style family the drum models know (not "other", which
    is what auto falls back to)."""
    return [AUTO] + [s for s in STYLES if s != AUTO_STYLE]


def controls_line(settings: Any) -> str:
    """What the dialog says of the Generate panel's controls that Add Drums takes: each
    one away from the middle by its end's label, and leaps left out."""
    taken = [f"{high if value > 0 else low} ({value:+d})" for name, _, low, high in CONTROLS
             if name != "leaps" and (value := int(getattr(settings, name, 0)))]
    line = ("Controls from the Generate panel: " + ", ".join(taken) + "." if taken else
            "Controls: all in the middle (the Generate panel's Controls section steers "
            "the drums too).")
    leaps = int(getattr(settings, "leaps", 0))
    if leaps:
        line += (f" Leaps ({leaps:+d}) has no meaning for drums (a kit has no intervals) "
                 f"and is left out.")
    return line


def drum_settings(settings: Any, variations: int) -> Any:
    """The panel's settings as Add Drums takes them: its controls but leaps (and none
    per track: the new drum track is none of the song's), the motif memory on only to
    carry the repeat control (Add Drums hears no drums, so no memory is built; repeat
    scales its groove memory)."""
    return dataclasses.replace(settings, memory=bool(settings.repeat), leaps=0,
                               part_controls=(), variations=int(variations))


def drum_track_name(taken: set[str]) -> str:
    """"Drums", or "Drums 2", ... when the song has a track of that name."""
    name, number = "Drums", 2
    while name in taken:
        name, number = f"Drums {number}", number + 1
    return name


class AddDrumsDialog(QDialog):
    """The style and the number of variations (OK starts; ``accepted`` says so)."""

    def __init__(self, variations: int, style: str = AUTO,
                 parent: QWidget | None = None, controls: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("add_drums_dialog")
        self.setWindowTitle("Add Drums")
        self.setMinimumWidth(380)
        self.style_box = QComboBox()
        self.style_box.setObjectName("drum_style")
        for name in style_choices():
            self.style_box.addItem(name, name)
        self.style_box.setItemData(0, "Read from the song: 3/4 a waltz, a triplet feel a "
                                      "swing or shuffle, a straight 4/4 rock or ballad ...",
                                   Qt.ItemDataRole.ToolTipRole)
        self.style_box.setCurrentIndex(max(0, self.style_box.findData(style)))
        self.variations = QSpinBox()
        self.variations.setObjectName("drum_variations")
        self.variations.setRange(1, MAX_VARIATIONS)
        self.variations.setValue(min(max(1, variations), MAX_VARIATIONS))
        form = QFormLayout()
        form.addRow("Style", self.style_box)
        form.addRow("Variations", self.variations)
        note = QLabel("A new drum track for the whole song, hearing its parts step by "
                      "step. Audition the variations in the Generate panel; Keep adds one.")
        note.setWordWrap(True)
        self.controls = QLabel(controls)
        self.controls.setObjectName("drum_controls")
        self.controls.setWordWrap(True)
        self.controls.setVisible(bool(controls))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add Drums")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.controls)
        layout.addWidget(buttons)

    def style(self) -> str:
        return str(self.style_box.currentData())


class DrumsController(QObject):
    """Add Drums for the Generate panel (``panel``: its public methods only); ``action``
    is the menu entry (Ctrl+Alt+D), disabled while a job runs."""

    def __init__(self, panel: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.style = AUTO
        self.dialog: AddDrumsDialog | None = None
        self.action = QAction("Add &Drums...", self)
        self.action.setObjectName("generate_add_drums")
        self.action.setShortcut(QKeySequence(SHORTCUT))
        tip = ("Write a drum track for the whole song in a style you pick (auto reads its "
               "metre and feel), with variations to audition")
        self.action.setStatusTip(tip)
        self.action.setToolTip(tip)
        self.action.triggered.connect(lambda _=False: self.ask())
        panel.generation_started.connect(lambda: self.action.setEnabled(False))
        panel.generation_finished.connect(lambda: self.action.setEnabled(True))

    def ask(self) -> AddDrumsDialog | None:
        """Open the dialog (window-modal; OK starts the job); None, with a sentence,
        when the song has nothing to add drums to."""
        if self._busy() or not self._can_add(self.panel.doc.song()):
            return None
        settings = self.panel.checked_settings()
        if settings is None:
            return None
        dialog = self.dialog = AddDrumsDialog(settings.variations, self.style,
                                              self.panel.window(), controls_line(settings))
        dialog.accepted.connect(lambda: self.start(dialog.style(), dialog.variations.value()))
        dialog.open()
        return dialog

    def _busy(self) -> bool:
        """A generation or the learning of a style is under way (one job at a time)."""
        return self.panel.is_running() or self.panel.style_job is not None

    def _can_add(self, song: Song) -> bool:
        if not has_drum_model(self.panel.library):
            self.panel.say(NO_DRUM_MODEL)
            return False
        if not any(t.notes for t in song.tracks):
            self.panel.say(NO_MUSIC)
            return False
        if not any(t.notes and not t.is_drum for t in song.tracks):
            self.panel.say(ONLY_DRUMS)
            return False
        return True

    def start(self, style: str = AUTO, variations: int | None = None) -> bool:
        """Send the drums job for the whole song; False (with a sentence) when it cannot
        start."""
        panel = self.panel
        song = panel.doc.song()
        if self._busy() or not self._can_add(song):
            return False
        settings = panel.checked_settings()
        if settings is None:
            return False
        # the model is the drums' own (the engine picks it: the panel's is not one)
        settings = drum_settings(settings, settings.variations if variations is None
                                 else variations)
        request = panel.checked_request(DRUMS, settings, song, drum_style=style)
        if request is None:
            return False
        self.style = style
        panel.submit(song, request, DrumsRun(self, song, style, settings.variations),
                     f"Writing drums ({style})...")
        return True


class DrumsRun:
    """The variations of one Add Drums job: each a drum track for the whole song."""

    locks_seed_key = False  # drums have no key ...
    shows_key = False  # ... so the panel names none

    def __init__(self, controller: DrumsController, seed: Song, style: str,
                 variations: int) -> None:
        self.controller = controller
        self.panel = controller.panel
        self.seed = seed  # the song the drums were written for
        self.style = style
        self.variations = variations

    def again(self) -> bool:
        return self.controller.start(self.style, self.variations)

    def tail(self, result: Any) -> list[Note]:
        return []  # the thumbnails show the groove alone

    def details(self, result: Any) -> list[str]:
        """The line under each variation: its hits, and how many a bar."""
        per_bar = self.seed.ticks_per_bar_at(0)
        lines = []
        for notes in result.variations:
            bars = len({n.start_tick // per_bar for n in notes}) or 1
            lines.append(f"{len(notes)} hits, about {len(notes) / bars:.0f} a bar")
        return lines

    def headline(self, result: Any) -> str:
        n = len(result.variations)
        return f"{n} drum track{'s' if n != 1 else ''} ({self.style})"

    def _drum_track(self, notes: list[Note], taken: set[str]) -> Track:
        return Track(name=drum_track_name(taken), channel=DRUM_CHANNEL, is_drum=True,
                     notes=sorted((n if n.channel == DRUM_CHANNEL
                                   else dataclasses.replace(n, channel=DRUM_CHANNEL)
                                   for n in notes), key=Note.sort_key))

    def audition(self, result: Any, index: int, since: int) -> Song:
        """The whole song as it is now, with this variation's drums, from ``since``."""
        song = self.panel.doc.audible_song()
        song.tracks.append(self._drum_track(result.variations[index],
                                            {t.name for t in song.tracks}))
        for track in song.tracks:
            track.notes = [n for n in track.notes if n.start_tick >= since]
        song.tracks = [t for t in song.tracks if t.notes]
        return song

    def keep(self, result: Any, index: int) -> tuple[list[int], str]:
        """Variation ``index`` as a new drum track after the song's: one undo step."""
        doc = self.panel.doc
        tracks = doc.tracks
        drums = self._drum_track(result.variations[index], {t.name for t in tracks})
        ids = doc.add_parts({len(tracks): drums.notes}, [drums], origin=GENERATED,
                            text="Add drums", select=True)
        doc.active_track = len(tracks)
        return ids, (f"Kept drums {index + 1}: {len(ids)} hits on a new drum track "
                     f"({drums.name}). Undo removes it.")

    def clip(self, result: Any, index: int) -> Song:
        """The drums alone, from tick 0, as a clip to drag into a DAW."""
        from gui.files import clip_song

        notes = result.variations[index]
        clip = clip_song(notes, self.panel.doc.song(), "Continuo drums")  # raises if empty
        first = min(n.start_tick for n in notes)
        drums = self._drum_track([n.moved(-first, 0) for n in notes], set())
        clip.tracks = [drums]
        return clip


__all__ = ["AUTO", "has_drum_model", "is_drum_info", "continued_drums", "AddDrumsDialog",
           "DrumsController", "DrumsRun", "style_choices", "drum_track_name", "controls_line",
           "drum_settings"]

"""The generate panel: choose a model and settings, generate variations in a worker,
audition them, keep one.

Melody models continue one line (the active track); polyphonic models, listed as
"(all parts)", continue every part at once and harmonise a melody (gui.panels.parts).  A
song with several voices gets a polyphonic model by default (poly-duo when installed)
until the user picks a model for it.

The panel is a thin client of the engine: from its widgets it builds the engine's
request (:class:`~engine.generation.request.GenerationRequest`, validated when built:
:meth:`checked_request`), so a bad setting is refused here with a sentence, without a
round trip to the helper process; it hands the request and a snapshot of the seed to a
:class:`~gui.worker.GenerationJob` (:meth:`submit`), and, when the user keeps a
variation, inserts it into the document as one undo step ("Keep variation").  The
widgets' ranges are the engine's limits (:mod:`engine.limits`).  Settings are
remembered in QSettings so the next session starts where this one stopped.

Fill, every part (and harmonise) and learning a style are controllers of their own
(gui.panels.fill, gui.panels.parts, gui.panels.style) that use this panel's public
methods only.  A job's variations belong to a *shown* object (:class:`Shown`: this
module's :class:`Continuation`, a fill's or every part's run), which says how they are
shown, auditioned, kept and generated again.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Protocol

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel,
                               QProgressBar, QPushButton, QSlider, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget)

from engine.encodings import CONTINUE, Key
from engine.errors import ContinuoError
from engine.generation.request import (  # at startup, not on the first Generate
    GenerationRequest, GenerationSettings)
from engine.limits import MAX_BARS, MAX_TEMPERATURE, MAX_VARIATIONS
from engine.song import Note, Song
from gui.document import GENERATED, SongDocument
from gui.panels.controls import NAMES as CONTROL_NAMES
from gui.panels.controls import ControlsBox
from gui.panels.drums import continued_drums, is_drum_info
from gui.panels.fill import FillController
from gui.panels.parts import PartsController, default_polyphonic, seed_has_voices
from gui.panels.presets import PresetsController
from gui.panels.regenerate import RegenerateController
from gui.panels.style import StyleController, style_entries
from gui.variations import VariationsView
from gui.worker import GenerationJob, is_polyphonic_info

KEY_AUTO = "auto"
KEY_OFF = "off"
# Follow chords: how closely generation keeps to the chord track (engine: request.py)
FOLLOW_CHOICES = (("off", "Off"), ("loose", "Loose"), ("strict", "Strict"))
MAX_RNG_SEED = 2**31 - 1
# the model a user who has chosen none starts with, when installed (the first the app
# listed before the Transformers; the trio scores better, at three networks' work a step)
MELODY_DEFAULTS = ("duet", "lstm", "wavenet")
TEMPERATURE_STEPS = 100  # the temperature slider moves in hundredths


POLYPHONIC_LABEL = "(all parts)"
REGENERATE_PART_TIP = ("Write the active track anew, over the range selected in the ruler "
                       "or all of it, while every other part stays note for note "
                       "(Ctrl+Alt+G)")
CONTROLS_FOR_PARTS = ("A model that writes every part (Harmonise and Regenerate Part too) "
                      "takes every control (Regenerate Part all but Repeat); Steer picks "
                      "a track whose part takes positions of its own.")


class Shown(Protocol):
    """What a job's variations belong to, and how they are shown, auditioned, kept and
    generated again: :class:`Continuation` (one line), gui.panels.fill.FillRun,
    gui.panels.parts.PartsRun."""

    #: whether the key lock the result reports is the seed's (the Auto entry says it)
    locks_seed_key: bool

    def tail(self, result: Any) -> list[Note]:
        """The notes each thumbnail shows before (or under) the variation."""

    def details(self, result: Any) -> list[str] | None:
        """A line per variation in place of its note count, or None."""

    def headline(self, result: Any) -> str:
        """What was generated, in a few words ("4 variations")."""

    def keep(self, result: Any, index: int) -> tuple[list[int], str]:
        """Put variation ``index`` into the document (one undo step): the new notes'
        ids and the status line that says so."""

    def audition(self, result: Any, index: int, since: int) -> Song:
        """Variation ``index`` as a song to play from ``since``."""

    def clip(self, result: Any, index: int) -> Song | None:
        """Variation ``index`` as a clip to drag out, or None for its notes alone."""

    def again(self) -> bool:
        """Generate the same kind of variations again (Regenerate)."""


class Continuation:
    """A melody continuation of the active track: the variations of a plain Generate."""

    locks_seed_key = True

    def __init__(self, panel: "GeneratePanel", seed: Song) -> None:
        self.panel = panel
        self.seed = seed  # the song the job continued

    def tail(self, result: Any) -> list[Note]:
        """The seed's last bar."""
        seed = self.seed
        if not seed.tracks:
            return []
        track = seed.tracks[min(self.panel.doc.active_track, len(seed.tracks) - 1)]
        since = track.end_tick - seed.ticks_per_bar_at(0)  # the seed's last bar
        return [n for n in track.notes if n.end_tick > since]

    def details(self, result: Any) -> list[str] | None:
        return None

    def headline(self, result: Any) -> str:
        return f"{len(result.variations)} variations"

    def keep(self, result: Any, index: int) -> tuple[list[int], str]:
        doc = self.panel.doc
        notes = self.panel.variation_notes(index)
        drums = continued_drums(result, index)  # the drum track went on beside it
        if drums:
            parts = {t: new + (notes if t == doc.active_track else [])
                     for t, new in drums.items()}
            parts.setdefault(doc.active_track, notes)
            ids = doc.add_parts(parts, origin=GENERATED, text="Keep variation", select=True)
            return ids, (f"Kept variation {index + 1} ({len(ids)} notes, the drums' "
                         f"included). Undo removes it.")
        ids = doc.add_notes(notes, origin=GENERATED, text="Keep variation",
                            track=doc.active_track, select=True)
        return ids, f"Kept variation {index + 1} ({len(ids)} notes). Undo removes it."

    def audition(self, result: Any, index: int, since: int) -> Song:
        """The seed's last bar, then the variation, on the active track."""
        panel = self.panel
        notes = panel.variation_notes(index)
        song = panel.doc.song()
        track = song.tracks[panel.doc.active_track]
        first = panel.variation_start(index)
        lead_in = [n for n in track.notes if since <= n.start_tick < first]
        track.notes = sorted(lead_in + notes, key=Note.sort_key)
        tracks = [track]
        for t, new in continued_drums(result, index).items():  # and the drums with it
            drums = song.tracks[t]
            drums.notes = sorted([n for n in drums.notes if since <= n.start_tick < first]
                                 + new, key=Note.sort_key)
            tracks.append(drums)
        song.tracks = tracks
        return song

    def clip(self, result: Any, index: int) -> Song | None:
        return None

    def again(self) -> bool:
        return self.panel.generate()


def as_sentence(text: str) -> str:
    """The engine's message ("the temperature must be ...") as a sentence for the panel."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def model_label(info: Any) -> str:
    bits = getattr(info, "bits_per_note", None)
    suffix = f"  ({bits:.2f} bits/note)" if isinstance(bits, (int, float)) else ""
    kind = f" {POLYPHONIC_LABEL}" if is_polyphonic_info(info) else ""
    return f"{info.name}{kind}{suffix}"


class GeneratePanel(QWidget):
    """Model, temperature, length, variations, RNG seed, key lock; Generate/Cancel;
    the variations to audition."""

    preview = Signal(object)  # list[Note] | None, for the piano roll
    play_requested = Signal(object, int)  # a Song to play (the seed's end, a variation), from tick
    status = Signal(str)  # a line for the status bar
    generation_started = Signal()
    generation_finished = Signal()  # however it ended
    variations_ready = Signal(int)  # how many
    kept = Signal(list)  # ids of the kept notes
    style_finished = Signal()  # learning a style ended, however (gui.panels.style)
    submitted = Signal(object)  # a GenerationJob on its way to the generation service

    temperature_steps = TEMPERATURE_STEPS  # the slider's value per 1.0 of temperature

    def __init__(self, doc: SongDocument, library: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.library = library
        self.job: GenerationJob | None = None
        self.result: Any = None
        self._shown: Shown | None = None  # what the variations shown belong to
        self._pending: Shown | None = None  # what the running job's will belong to
        self.use_helper_process = True  # see gui.worker: no GIL shared with the GUI
        self._time_range: Callable[[], tuple[int, int] | None] = lambda: None
        # a model the user chose for this song (a song of several voices otherwise gets
        # a polyphonic one), and the one the user prefers (remembered across sessions)
        self._picked_in_doc = False
        self._preferred_model: str | None = None
        # the controllers of Fill, every part (and Harmonise) and My Style
        self.fills = FillController(self)
        self.parts = PartsController(self)
        self.part_regenerator = RegenerateController(self)
        self.styles = StyleController(self, finished=self.style_finished.emit)
        self.style_entries: list = []  # the saved styles listed (gui.panels.style)
        # the key lock of the last plain Generate, and the seed and model it was for:
        # the Auto entry names a key only when it knows the one Generate will lock
        self._lock_for: tuple | None = None  # the seed and model of a Generate running
        self._known_lock: tuple[tuple, str, str] | None = None  # (seed, label, why)
        self._build()
        self.reload_models()
        self._restore_settings()
        self._apply_default_model()
        doc.changed.connect(self._update_key_label)
        doc.selection_changed.connect(self._update_key_label)
        doc.active_track_changed.connect(lambda _: self._update_key_label())
        doc.song_replaced.connect(self._on_song_replaced)
        doc.tracks_changed.connect(self._update_control_tracks)
        doc.changed.connect(self._update_control_tracks)
        self._update_key_label()
        self._set_running(False)

    # ---- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        """The settings' form, the actions, the progress and the variations, top down."""
        form = self._build_settings()
        buttons, part_row = self._build_actions()

        self.variations = VariationsView()
        self.variations.preview.connect(self.preview)
        self.variations.keep_requested.connect(self.keep_variation)
        self.variations.play_requested.connect(self._play_variation)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problems)
        layout.addWidget(self.seed_label)
        layout.addLayout(buttons)
        layout.addLayout(part_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.messages)
        layout.addWidget(self.variations, 1)

    def _build_settings(self) -> QFormLayout:
        """Model, temperature, length, variations, random seed, key lock, motif memory,
        follow chords, the six steering controls and the presets: one form."""
        model_row = self._build_model_row()
        temp_row = self._build_temperature_row()
        self.bars = QSpinBox()
        self.bars.setRange(1, MAX_BARS)
        self.bars.setSuffix(" bars")
        self.variations_spin = QSpinBox()
        self.variations_spin.setRange(1, MAX_VARIATIONS)
        seed_row = self._build_seed_row()
        self._build_steering()

        # six five-position controls (gui.panels.controls) and the presets' row
        self.controls = ControlsBox()
        self.presets = PresetsController(self)

        form = QFormLayout()
        form.addRow("Model", model_row)
        form.addRow("", self.model_info)
        form.addRow("Temperature", temp_row)
        form.addRow("Length", self.bars)
        form.addRow("Variations", self.variations_spin)
        form.addRow("Random seed", seed_row)
        form.addRow("Key lock", self.key_combo)
        form.addRow("", self.memory_check)
        form.addRow("Follow chords", self.follow_combo)
        form.addRow(self.controls)
        form.addRow("Preset", self.presets.widget)
        return form

    def _build_model_row(self) -> QHBoxLayout:
        """The model picker and My Style...; the model's description and the library's
        problems are labels of their own."""
        self.model_combo = QComboBox()
        self.model_combo.currentIndexChanged.connect(self._update_model_info)
        self.model_combo.activated.connect(self._on_model_picked)
        self.model_combo.setToolTip("Melody models continue one line (the active track); "
                                    "models marked (all parts) continue every part at once "
                                    "and harmonise a melody")
        self.style_button = QToolButton()
        self.style_button.setText("My Style...")
        self.style_button.setToolTip("Learn your own style from a folder of your MIDI, ABC, "
                                     "MusicXML or kern files; it is listed as its own model")
        self.style_button.clicked.connect(self.ask_style_folder)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.style_button)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        self.model_info.setStyleSheet("color: palette(mid);")
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #c0392b;")
        return model_row

    def _build_temperature_row(self) -> QHBoxLayout:
        """The temperature slider and its figure."""
        self.temperature = QSlider(Qt.Orientation.Horizontal)
        self.temperature.setRange(0, round(MAX_TEMPERATURE * TEMPERATURE_STEPS))
        self.temperature.setSingleStep(5)
        self.temperature.setPageStep(25)
        self.temperature.setToolTip("Low: safe and repetitive. High: adventurous. "
                                    "0 always takes the likeliest note.")
        self.temperature_label = QLabel()
        self.temperature_label.setMinimumWidth(32)
        self.temperature.valueChanged.connect(
            lambda v: self.temperature_label.setText(f"{v / TEMPERATURE_STEPS:.2f}"))
        temp_row = QHBoxLayout()
        temp_row.addWidget(self.temperature, 1)
        temp_row.addWidget(self.temperature_label)
        return temp_row

    def _build_seed_row(self) -> QHBoxLayout:
        """The random seed and its Roll button."""
        self.rng_seed = QSpinBox()
        self.rng_seed.setRange(0, MAX_RNG_SEED)
        self.rng_seed.setToolTip("The same seed and settings give the same music")
        self.dice = QToolButton()
        self.dice.setText("Roll")
        self.dice.setToolTip("A new random seed")
        self.dice.clicked.connect(self.roll_seed)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.rng_seed, 1)
        seed_row.addWidget(self.dice)
        return seed_row

    def _build_steering(self) -> None:
        """The key lock, the motif memory and follow chords."""
        self.key_combo = QComboBox()
        self.key_combo.addItem("Auto", KEY_AUTO)
        self.key_combo.addItem("Off (any note)", KEY_OFF)
        for key in Key.all_keys():
            self.key_combo.addItem(key.name, key.name)
        self.key_combo.setToolTip("Keep generated notes in this key; Auto uses the key "
                                  "detected in the seed")

        self.memory_check = QCheckBox("Motif memory")
        self.memory_check.setChecked(True)

        self.follow_combo = QComboBox()
        self.follow_combo.setObjectName("follow_chords")
        for value, label in FOLLOW_CHOICES:
            self.follow_combo.addItem(label, value)
        self.follow_combo.setToolTip(
            "Keep to the chord track (the chord lane over the roll): Loose favours the "
            "chord's tones, Strict puts strong beats on them and lets weak beats pass by "
            "step. Off ignores the chords")

    def _build_actions(self) -> tuple[QHBoxLayout, QHBoxLayout]:
        """What Generate continues, the buttons (a row, and a row for Regenerate Part),
        the progress bar and the messages; returns the two rows of buttons."""
        self.seed_label = QLabel()
        self.seed_label.setObjectName("generate_seed_label")
        self.seed_label.setWordWrap(True)
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Continue the song, or the notes you selected (Ctrl+G)")
        self.generate_button.clicked.connect(self.generate)
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.setToolTip("Same settings, a new random seed")
        self.regenerate_button.clicked.connect(self.regenerate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.fill_button = QPushButton("Fill")
        self.fill_button.setToolTip("Regenerate the range selected in the ruler (Shift+drag), "
                                    "or the selected notes' span, from the music on both "
                                    "sides (Ctrl+Shift+F)")
        self.fill_button.clicked.connect(self.fill)
        self.harmonise_button = QPushButton("Harmonise")
        self.harmonise_button.setObjectName("harmonise_button")
        self.harmonise_button.setToolTip("Write the voices beneath the active track's melody "
                                         "with a polyphonic model; the melody stays as it is "
                                         "(Ctrl+Shift+H)")
        self.harmonise_button.clicked.connect(self.harmonise)
        self.regenerate_part_button = QPushButton("Regenerate Part")
        self.regenerate_part_button.setObjectName("regenerate_part_button")
        self.regenerate_part_button.setToolTip(REGENERATE_PART_TIP)
        self.regenerate_part_button.clicked.connect(lambda: self.regenerate_part())
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button)
        buttons.addWidget(self.regenerate_button)
        buttons.addWidget(self.fill_button)
        buttons.addWidget(self.harmonise_button)
        buttons.addWidget(self.cancel_button)
        part_row = QHBoxLayout()
        part_row.addWidget(self.regenerate_part_button)
        part_row.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.messages = QLabel()
        self.messages.setWordWrap(True)
        return buttons, part_row

    # ---- models ----------------------------------------------------------------------
    def reload_models(self) -> None:
        current = self.model_combo.currentData()
        self.model_combo.clear()
        # a drum model is Add Drums' and the drum tracks' (gui.panels.drums), not one to pick
        models = [m for m in getattr(self.library, "models", []) or [] if not is_drum_info(m)]
        self._polyphonic_names = {m.name for m in models if is_polyphonic_info(m)}
        for info in models:
            self.model_combo.addItem(model_label(info), info.name)
            if info.name in self._polyphonic_names:
                self.model_combo.setItemData(
                    self.model_combo.count() - 1, "Continues every part of the song at once "
                    "(a drum model goes on with the drums); Harmonise writes voices beneath "
                    "a melody",
                    Qt.ItemDataRole.ToolTipRole)
        problems = list(getattr(self.library, "problems", []) or []) + self._add_style_entries()
        if not models:
            problems.insert(0, "No usable model was found in the models folder.")
        self.problems.setText("\n".join(problems))
        self.problems.setVisible(bool(problems))
        if current is not None and self.model_combo.findData(current) >= 0:
            self.model_combo.setCurrentIndex(self.model_combo.findData(current))
        self._update_model_info()

    def _add_style_entries(self) -> list[str]:
        """One entry per saved style: "<melody network> + <style>" (gui.panels.style); the
        line to show when the styles cannot be listed."""
        try:
            self.style_entries = style_entries(self.library)
        except (ContinuoError, OSError) as e:  # a broken styles folder lists none
            self.style_entries = []
            return [f"Your styles cannot be listed: {e}"]
        for entry in self.style_entries:
            self.model_combo.addItem(entry.label, entry.key)
            self.model_combo.setItemData(self.model_combo.count() - 1, entry.tooltip,
                                         Qt.ItemDataRole.ToolTipRole)
        return []

    def chosen_style(self) -> Any:
        """The style entry chosen in the list (a gui.panels.style.StyleEntry), or None."""
        key = self.model_combo.currentData()
        return next((e for e in self.style_entries if e.key == key), None)

    def chosen_model(self) -> str | None:
        """The network the chosen entry generates with (a style entry's own network)."""
        style = self.chosen_style()
        return style.network if style is not None else self.model_combo.currentData()

    def ask_style_folder(self) -> bool:
        """Ask for a folder of your music and learn its style (gui.panels.style)."""
        return self.styles.ask_folder()

    def learn_style(self, folder: Any) -> bool:
        """Learn the style of ``folder`` off the GUI thread, with progress and Cancel;
        ``style_finished`` says when it has ended.  False when it cannot start."""
        return self.styles.start(folder)

    @property
    def style_job(self) -> Any:
        """The job learning a style (a gui.panels.style.StyleJob), or None."""
        return self.styles.job

    @property
    def style_dialog(self) -> Any:
        """The progress dialog of the style being learned, or None."""
        return self.styles.dialog

    @property
    def style_message(self) -> Any:
        """The last message box learning a style opened, or None."""
        return self.styles.message

    def _update_model_info(self) -> None:
        name = self.chosen_model()
        info = next((m for m in getattr(self.library, "models", []) if m.name == name), None)
        polyphonic = self.is_polyphonic()
        # a polyphonic model has a memory of every part (engine/generation/part_memory.py)
        self.memory_check.setToolTip(
            "Let the piece's own motifs come back: the model also learns from the seed "
            "and what it has played so far" + (" (every part's)" if polyphonic else ""))
        self.controls.set_note(CONTROLS_FOR_PARTS if polyphonic else "")
        self._update_control_tracks()
        self._update_key_label()  # the seed is every part, or the active track
        if info is None:
            self.model_info.setText("")
            return
        arch = getattr(info, "architecture", "")
        text = f"{info.description} [{arch}]" if arch else info.description
        if polyphonic:
            text += " Continues every part at once."
        style = self.chosen_style()
        if style is not None:
            text += f" Mixed with your style {style.name!r}."
        self.model_info.setText(text)

    def _update_control_tracks(self) -> None:
        """The Controls section lists the song's tracks for a model that writes every
        part (each track's part may take its own positions), none for a melody model."""
        self.controls.set_tracks([t.name for t in self.doc.tracks] if self.is_polyphonic()
                                 else [])

    def is_polyphonic(self) -> bool:
        """Whether the chosen model continues every part (not one line)."""
        return self.model_combo.currentData() in getattr(self, "_polyphonic_names", ())

    def select_model(self, name: str) -> None:
        """Choose the model ``name`` for this song, as the user does in the list (a song
        of several voices then keeps it instead of getting a polyphonic one)."""
        i = self.model_combo.findData(name)
        if i >= 0:
            self.model_combo.setCurrentIndex(i)
            self._on_model_picked()

    def _on_model_picked(self, *_: Any) -> None:
        self._picked_in_doc = True
        self._preferred_model = self.model_combo.currentData()

    def _show_model(self, name: str | None) -> None:
        """Show ``name`` in the list without taking it as the user's choice."""
        i = self.model_combo.findData(name) if name else -1
        if i >= 0 and i != self.model_combo.currentIndex():
            self.model_combo.setCurrentIndex(i)

    def _first_melody_model(self) -> str | None:
        """The model a user who has chosen none starts with: the duet when installed,
        else the first melody model listed (not a part model such as the chorale
        Transformer, which sorts first but would write chorales under a folk tune)."""
        names = [self.model_combo.itemData(i) for i in range(self.model_combo.count())]
        melody = [n for n in names if n not in self._polyphonic_names]
        return next((n for n in MELODY_DEFAULTS if n in melody), melody[0] if melody else None)

    def _apply_default_model(self) -> None:
        """Unless the user chose a model for this song: a polyphonic one (poly-duo
        when installed) for a song of several voices, else the one the user prefers."""
        if self._picked_in_doc or self.job is not None:
            return
        poly = default_polyphonic(self.library)
        if poly is not None and seed_has_voices(self.doc.song()):
            self._show_model(poly)
        else:
            self._show_model(self._preferred_model)

    # ---- key ---------------------------------------------------------------------------
    def refresh_key_label(self) -> None:
        """Show the key detected in the seed (after Open chose the track, ...)."""
        self._update_key_label()

    def detected_key(self) -> Key | None:
        """The key "Auto" locks to, when it is known: the song's key when the user set
        one, else the key the last Generate locked for this very seed and model (the
        generator finds it with the model itself, engine.generation.keychoice, so the
        panel does not guess it with another method); None until then, or when the
        model was unsure and locked nothing."""
        if not self.doc.key_is_estimated:
            return self.doc.key
        known = self._known_here()
        return Key.parse(known[1]) if known is not None and known[1] != "none" else None

    def _lock_signature(self) -> tuple:
        """What the auto key depends on: the seed (the song's notes and their tracks,
        the selection, the active track) and the model.  Undo back to the seed the key
        was found for finds it known again."""
        notes = self.doc.notes()
        content = hash(frozenset((i, n, self.doc.track_of(i)) for i, n in notes.items()))
        return (content, self.chosen_model(), self.is_polyphonic(), self.doc.active_track,
                self.doc.seed_selection)

    def _known_here(self) -> tuple[tuple, str, str] | None:
        """The key lock Generate found for the seed and model as they are now, if any."""
        known = self._known_lock
        return known if known is not None and known[0] == self._lock_signature() else None

    def _update_key_label(self) -> None:
        known = self._known_here() if self._known_lock is not None else None
        if not self.doc.key_is_estimated:
            text = f"Auto (song's key: {self.doc.key.name})"
            tip = "The song's key is set: Generate locks it"
        elif known is not None:
            text = "Auto (unsure: no lock)" if known[1] == "none" else \
                f"Auto (locked: {known[1]})"
            tip = known[2]
        else:
            text = "Auto"
            tip = ("Generate locks the key the model finds the seed likeliest in, says "
                   "which and why, and when unsure allows the notes of every likely key")
        self.key_combo.setItemText(0, text)
        self.key_combo.setItemData(0, tip, Qt.ItemDataRole.ToolTipRole)
        self._update_seed_label()

    def from_selection(self) -> bool:
        """Whether Generate continues the notes the user selected (not the whole track)."""
        return bool(self.doc.seed_selection)

    def _update_seed_label(self) -> None:
        chosen = self.doc.seed_selection
        if chosen:
            n = len(chosen)
            parts = " (every part)" if self.is_polyphonic() else ""
            text = f"Continues from the selection{parts} ({n} note{'s' if n != 1 else ''})."
            tip = "Press Escape in the piano roll to continue the whole song instead"
        else:
            tracks = self.doc.tracks
            if self.is_polyphonic():
                text = "Continues every part of the whole song from its end."
            elif len(tracks) > 1 and 0 <= self.doc.active_track < len(tracks):
                text = f"Continues the track {tracks[self.doc.active_track].name!r} from its end."
            else:
                text = "Continues the whole song from its end."
            tip = "Select notes (click, rubber band or Select All) to continue from them"
        self.seed_label.setText(text)
        self.seed_label.setToolTip(tip)
        self.generate_button.setText("Generate from the selection" if chosen else "Generate")

    def set_key_mode(self, value: str) -> None:
        """``"auto"``, ``"off"`` or a key name such as ``"Am"``."""
        i = self.key_combo.findData(value)
        if i >= 0:
            self.key_combo.setCurrentIndex(i)

    # ---- settings ------------------------------------------------------------------
    def follow_chords(self) -> str:
        """"off", "loose" or "strict": how closely generation keeps to the chords."""
        return str(self.follow_combo.currentData())

    def set_follow_chords(self, value: str) -> None:
        i = self.follow_combo.findData(value)
        if i >= 0:
            self.follow_combo.setCurrentIndex(i)

    def roll_seed(self) -> None:
        self.rng_seed.setValue(random.randint(0, MAX_RNG_SEED))

    def settings(self) -> GenerationSettings:
        """The settings the widgets say, validated: a GenerationError says in a sentence
        what is out of the engine's range."""
        key_mode = self.key_combo.currentData()
        if key_mode == KEY_AUTO:
            key = "auto" if self.doc.key_is_estimated else self.doc.key.name
        elif key_mode == KEY_OFF:
            key = None
        else:
            key = key_mode
        style = self.chosen_style()
        settings = GenerationSettings(model=self.chosen_model(),
                                      style=style.path if style is not None else None,
                                      temperature=self.temperature.value() / TEMPERATURE_STEPS,
                                      bars=self.bars.value(),
                                      variations=self.variations_spin.value(),
                                      rng_seed=self.rng_seed.value(), key=key,
                                      memory=self.memory_check.isChecked(),
                                      follow_chords=self.follow_chords(),
                                      part_controls=self.controls.part_values(),
                                      **self.controls.values())
        settings.validate()
        return settings

    def checked_settings(self) -> GenerationSettings | None:
        """The settings, or None after saying in a sentence why they cannot be used."""
        try:
            return self.settings()
        except ContinuoError as e:  # out of the engine's range: a GenerationError
            self.say(as_sentence(str(e)))
            return None

    def checked_request(self, job: str, settings: GenerationSettings | None = None,
                        song: Song | None = None, **where: Any) -> GenerationRequest | None:
        """The engine's request for ``job`` (continue, fill, harmonise) with
        ``settings`` (default: the panel's) and ``where`` (track, start_tick, end_tick,
        parts), checked against ``song`` when given; None after saying in a sentence
        what is wrong.  Every job is checked here, before anything goes to the helper
        process."""
        try:
            request = GenerationRequest(job, settings or self.settings(), **where)
            if song is not None:
                request.check_song(song)
            return request
        except ContinuoError as e:  # a GenerationError: what is wrong, in a sentence
            self.say(as_sentence(str(e)))
            return None

    def _restore_settings(self) -> None:
        s = QSettings()
        self._show_model(str(s.value("generate/model", "")) or self._first_melody_model())
        self._preferred_model = self.model_combo.currentData()
        self.temperature.setValue(int(s.value("generate/temperature", 100)))
        self.temperature_label.setText(f"{self.temperature.value() / TEMPERATURE_STEPS:.2f}")
        self.bars.setValue(int(s.value("generate/bars", 4)))
        self.variations_spin.setValue(int(s.value("generate/variations", 4)))
        self.rng_seed.setValue(int(s.value("generate/rng_seed", 1234)))
        self.set_key_mode(str(s.value("generate/key", KEY_AUTO)))
        self.memory_check.setChecked(s.value("generate/memory", True, type=bool))
        self.set_follow_chords(str(s.value("generate/follow_chords", "off")))
        try:
            self.controls.set_values({name: int(s.value(f"generate/controls/{name}", 0))
                                      for name in CONTROL_NAMES})
        except (TypeError, ValueError):  # a hand-edited settings file: neutral controls
            self.controls.reset()
        self.controls.set_expanded(s.value("generate/controls_shown", False, type=bool))

    def save_settings(self) -> None:
        s = QSettings()
        # the model the user chose, not one a song of several voices got by default
        model = self.model_combo.currentData() if self._picked_in_doc else None
        s.setValue("generate/model", model or self._preferred_model
                   or self.model_combo.currentData() or "")
        s.setValue("generate/temperature", self.temperature.value())
        s.setValue("generate/bars", self.bars.value())
        s.setValue("generate/variations", self.variations_spin.value())
        s.setValue("generate/rng_seed", self.rng_seed.value())
        s.setValue("generate/key", self.key_combo.currentData())
        s.setValue("generate/memory", self.memory_check.isChecked())
        s.setValue("generate/follow_chords", self.follow_chords())
        for name, value in self.controls.values().items():
            s.setValue(f"generate/controls/{name}", value)
        s.setValue("generate/controls_shown", self.controls.is_expanded())

    # ---- generating ------------------------------------------------------------------
    def _seed_notes(self) -> list[Note]:
        """The notes the user selected to continue from, else the active track's notes."""
        chosen = self.doc.seed_selection
        notes = self.doc.notes()
        if chosen:
            return [notes[i] for i in chosen]
        track = self.doc.active_track
        return [n for i, n in notes.items() if self.doc.track_of(i) == track]

    def _seed_song(self) -> Song:
        """A snapshot of the seed: the document's song, with the active track reduced to
        the selection when the user selected notes to continue from."""
        song = self.doc.song()
        chosen = self.doc.seed_selection
        if chosen:
            notes = self.doc.notes()
            selected = sorted((notes[i] for i in chosen), key=Note.sort_key)
            song.tracks[self.doc.active_track].notes = selected
            song.length_ticks = None  # the seed ends with the selection, not the file
        return song

    def is_running(self) -> bool:
        return self.job is not None

    def generate(self) -> bool:
        """Start generating; False (with a message) when it cannot start."""
        if self.job is not None or self.style_job is not None:
            return False
        self._apply_default_model()  # the song may have grown a second voice
        if self.model_combo.currentData() is None:
            self.say("There is no model to generate with.")
            return False
        polyphonic = self.is_polyphonic()
        if polyphonic:
            has_seed = bool(self.doc.seed_selection) or any(
                t.notes for t in self.doc.song().tracks)  # drums alone go on too
        else:
            has_seed = bool(self._seed_notes())
        if not has_seed:
            self.say("Draw or open a few seed notes first: the model continues them.")
            return False
        request = self.checked_request(CONTINUE, track=None if polyphonic
                                       else self.doc.active_track, parts=polyphonic)
        if request is None:
            return False
        self.save_settings()
        self._lock_for = self._lock_signature()  # what the key lock it reports is for
        if polyphonic:  # every part (gui.panels.parts)
            return self.parts.generate(request)
        seed = self._seed_song()
        self.submit(seed, request, Continuation(self, seed),
                    "Generating from the selection..." if self.from_selection()
                    else "Generating...")
        return True

    def fill(self, gap: Any = None) -> bool:
        """Fill the selected span (or ``gap``, a gui.panels.fill.Gap) from both sides
        (gui.panels.fill); False when it cannot start."""
        self._lock_for = None  # a fill's key lock is the gap's, not the seed's
        return self.fills.start(gap)

    def harmonise(self) -> bool:
        """Write the voices beneath the melody (gui.panels.parts); False when it cannot
        start."""
        self._lock_for = None  # the melody's key, not the song's
        return self.parts.harmonise()

    def regenerate_part(self, part: Any = None) -> bool:
        """Write the active track (over the ruler's range, if any) anew while every other
        part stays (gui.panels.regenerate); False when it cannot start."""
        self._lock_for = None  # the key of the parts that stay, not the seed's
        return self.part_regenerator.start(part)

    def use_time_range(self, time_range: Callable[[], tuple[int, int] | None]) -> None:
        """Let Fill take the ruler's range: ``time_range`` is the roll's method of that
        name."""
        self._time_range = time_range

    def time_range(self) -> tuple[int, int] | None:
        """The time range selected in the ruler, if any (what Fill fills first)."""
        return self._time_range()

    def submit(self, seed: Song, request: GenerationRequest, shown: Shown,
               status: str) -> GenerationJob:
        """Send ``request`` (built by :meth:`checked_request`, so already checked) on
        ``seed`` to the generation service and say ``status``; its variations belong to
        ``shown``.  Every job of the panel starts here (``submitted`` says so)."""
        self.job = GenerationJob(self.library, seed, request, parent=self,
                                 use_helper_process=self.use_helper_process)
        self._pending = shown
        self.job.progress.connect(self._on_progress)
        self.job.succeeded.connect(self._on_result)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.job.done.connect(self._on_done)
        self.progress.setRange(0, 0)
        self.messages.setText("")
        self._set_running(True)
        self.generation_started.emit()
        self.status.emit(status)
        self.submitted.emit(self.job)
        self.job.start()
        return self.job

    def _on_cancelled(self) -> None:
        note = self.job.cancel_note if self.job is not None else ""
        self.say(f"Generation cancelled. {note}".strip())

    def regenerate(self) -> bool:
        """Generate again with the same settings and a new random seed (harmonise again
        when the variations shown are a harmonisation, fill the same gap again when they
        are a fill)."""
        if self.job is not None:
            return False
        self.roll_seed()
        if self._shown is not None:
            return self._shown.again()
        return self.generate()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    @property
    def shown(self) -> Shown | None:
        """What the variations shown belong to (a Continuation, a fill's FillRun, every
        part's PartsRun), or None."""
        return self._shown

    def _on_result(self, result: Any) -> None:
        self.result = result
        shown = self._shown = self._pending
        self.variations.set_variations(result.variations, shown.tail(result),
                                       shown.details(result))
        self._announce(result, shown.headline(result))

    def _announce(self, result: Any, head: str) -> None:
        """Say what was generated: ``head`` with the key, the result's messages, the
        key lock in the Auto entry, and the status line."""
        lines = list(getattr(result, "messages", []) or [])
        key = getattr(result, "key", None) if getattr(self._shown, "shows_key", True) \
            else None  # drums have no key
        if key is not None:
            head += f" in {key}"
        self._show_key_lock(getattr(result, "key_lock", ""), lines)
        self.messages.setText("\n".join([head + "."] + lines))
        self.messages.setToolTip("")
        self.status.emit(f"Generated {head}. Select one to preview it; Keep inserts it.")
        self.variations_ready.emit(len(result.variations))

    def _show_key_lock(self, key_lock: str, lines: list[str]) -> None:
        """After an auto-key Generate, the Auto entry says the key the model locked (or
        that it was unsure and locked nothing), and its tooltip why, for as long as the
        seed and the model stay as they were (a fill or a harmonisation locks the key of
        other notes, and changes nothing here)."""
        signature, self._lock_for = self._lock_for, None
        if not key_lock or signature is None or not self._shown.locks_seed_key:
            return
        why = next((m for m in lines if m.startswith("Key lock: ")), "")
        self._known_lock = (signature, key_lock, why)
        self._update_key_label()

    def _on_failed(self, message: str) -> None:
        self.say(message)

    def _on_done(self) -> None:
        self._lock_for = None
        self._pending = None
        if self.job is not None:
            self.job.deleteLater()
        self.job = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.result is not None else 0)
        self._set_running(False)
        self.generation_finished.emit()

    def _set_running(self, running: bool) -> None:
        self.generate_button.setEnabled(not running)
        self.regenerate_button.setEnabled(not running)
        self.fill_button.setEnabled(not running)
        self.harmonise_button.setEnabled(not running)
        self.regenerate_part_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.model_combo.setEnabled(not running)
        self.style_button.setEnabled(not running)

    def say(self, message: str, details: str = "") -> None:
        """``message`` under the buttons and in the status bar; ``details`` its tooltip."""
        self.messages.setText(message)
        self.messages.setToolTip(details)
        self.status.emit(message)

    def _on_song_replaced(self) -> None:
        self.result = None
        self._shown = None
        self._picked_in_doc = False  # a new song: several voices get a polyphonic model
        self._apply_default_model()
        self.variations.clear()
        self.messages.setText("")
        self.progress.setRange(0, 1)
        self.progress.reset()  # no "100%" left over from the song before
        self._update_key_label()

    # ---- keeping and auditioning ---------------------------------------------------------
    def variation_notes(self, index: int) -> list[Note]:
        """The variation's notes at their place in the song (absolute ticks)."""
        return self.variations.variation(index)

    def keep_variation(self, index: int | None = None) -> list[int]:
        """Insert a variation into the document: one undo step ("Keep variation", "Fill",
        "Keep harmonisation")."""
        if index is None:
            index = self.variations.current_index()
        if self.result is None or not 0 <= index < self.variations.count():
            return []
        self.preview.emit(None)
        ids, said = self._shown.keep(self.result, index)
        self.status.emit(said)
        self.kept.emit(ids)
        return ids

    def variation_start(self, index: int) -> int:
        """Where the variation begins: where the continued seed ended."""
        start = getattr(self.result, "start_tick", None)
        if isinstance(start, int):
            return start
        return min((n.start_tick for n in self.variation_notes(index)), default=0)

    def audition_start(self, index: int) -> int:
        """The tick an audition starts at: one bar before the variation, the seed's last."""
        first = self.variation_start(index)
        return max(0, first - self.doc.song().ticks_per_bar_at(max(0, first - 1)))

    def variation_song(self, index: int) -> Song:
        """The seed's last bar and the variation, as a song to play or drag out (a
        fill's: the bar before, the fill, the bar after; every part's: all of them)."""
        return self._shown.audition(self.result, index, self.audition_start(index))

    def variation_clip(self, index: int) -> Song | None:
        """Variation ``index`` as a clip to drag out when its notes alone are not one
        (every part's, each on its own track); None otherwise."""
        if self.result is None or self._shown is None:
            return None
        return self._shown.clip(self.result, index)

    def _play_variation(self, index: int) -> None:
        """Play the seed's last bar, then the variation (what the Play button says)."""
        self.play_requested.emit(self.variation_song(index), self.audition_start(index))

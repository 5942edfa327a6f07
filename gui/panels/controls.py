"""The Generate panel's collapsible Controls section: six five-position controls
(-2..2, each labelled by its two ends, 0 in the middle), which steer a generation
beyond temperature (issue 26).

Each control is a field of :class:`~engine.generation.request.GenerationSettings` of
the same name (density, leaps, repeat, register, syncopation, dynamics), named and
labelled by the engine's ``CONTROLS``; the panel puts :meth:`ControlsBox.values` into
the settings it builds.  At 0 a control changes nothing.

With a model that continues several parts the panel lists the song's tracks
(:meth:`ControlsBox.set_tracks`) and a picker above the sliders chooses what they set:
every part, or one track's part, whose own positions
(:meth:`ControlsBox.part_values`, the settings' ``part_controls``) override every
part's for it.  Repeat scales the memory every part shares, so it is set for every
part only.
"""

from __future__ import annotations

from typing import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QSlider, QToolButton,
                               QVBoxLayout, QWidget)

from engine.generation.request import CONTROL_MAX, CONTROLS, PART_CONTROL_NAMES

LOWEST, HIGHEST = -CONTROL_MAX, CONTROL_MAX
# name -> (the -2 end, the +2 end), in the order the section shows them
LABELS: dict[str, tuple[str, str]] = {name: (low, high) for name, _, low, high in CONTROLS}
NAMES: tuple[str, ...] = tuple(LABELS)


def checked_controls(values: object) -> dict[str, int]:
    """``values`` (a mapping of control name to position) as a dict of every control,
    missing ones at 0; a ValueError names an unknown control or a bad position."""
    if not isinstance(values, Mapping):
        raise ValueError(f"the controls are a mapping of name to position, not {values!r}")
    out = dict.fromkeys(NAMES, 0)
    for name, value in values.items():
        if name not in LABELS:
            raise ValueError(f"there is no control {name!r}; there are {', '.join(NAMES)}")
        if isinstance(value, bool) or not isinstance(value, int) \
                or not LOWEST <= value <= HIGHEST:
            raise ValueError(f"the control {name!r} is a whole number from {LOWEST} to "
                             f"{HIGHEST}, not {value!r}")
        out[name] = value
    return out


class ControlsBox(QWidget):
    """A header button that folds the section, then one row per control: its -2 end, a
    five-position slider, its +2 end."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = QToolButton()
        self.header.setObjectName("controls_header")
        self.header.setText("Controls")
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setAutoRaise(True)
        self.header.toggled.connect(self.set_expanded)
        self.reset_button = QToolButton()
        self.reset_button.setObjectName("controls_reset")
        self.reset_button.setText("Reset")
        self.reset_button.setToolTip("Every control to the middle, where it changes nothing")
        self.reset_button.setAutoRaise(True)
        self.reset_button.clicked.connect(self.reset)
        self.body = QWidget()
        grid = QGridLayout(self.body)
        grid.setContentsMargins(12, 0, 0, 0)
        # every part's positions, and each track's own (track -> name -> position)
        self._every: dict[str, int] = dict.fromkeys(NAMES, 0)
        self._parts: dict[int, dict[str, int]] = {}
        self._showing = False  # sliders being set from the state: not a user's move
        self._track_names: list[str] = []
        self.part_label = QLabel("Steer")
        self.part_combo = QComboBox()
        self.part_combo.setObjectName("controls_part")
        self.part_combo.setToolTip("What the controls set: every part, or one track's part "
                                   "(its own positions override every part's for it)")
        self.part_combo.addItem("Every part", None)
        self.part_combo.currentIndexChanged.connect(self._show_target)
        grid.addWidget(self.part_label, 0, 0)
        grid.addWidget(self.part_combo, 0, 1, 1, 2)
        self.part_label.hide()
        self.part_combo.hide()
        self.sliders: dict[str, QSlider] = {}
        for row, (name, (low, high)) in enumerate(LABELS.items(), start=1):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setObjectName(f"control_{name}")
            slider.setRange(LOWEST, HIGHEST)
            slider.setPageStep(1)
            slider.setTickInterval(1)
            slider.setTickPosition(QSlider.TickPosition.TicksBelow)
            slider.setValue(0)
            slider.setToolTip(f"{low} (-2) .. {high} (+2); the middle changes nothing")
            slider.valueChanged.connect(lambda value, name=name: self._moved(name, value))
            left, right = QLabel(low), QLabel(high)
            left.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(left, row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(right, row, 2)
            self.sliders[name] = slider
        self.note = QLabel()
        self.note.setObjectName("controls_note")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(mid);")
        self.note.hide()
        grid.addWidget(self.note, len(self.sliders) + 1, 0, 1, 3)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.header)
        head.addStretch(1)
        head.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.body)
        self.header.setToolTip("Steer the music beyond temperature; the middle "
                               "position of each changes nothing")
        self.set_expanded(False)

    def set_expanded(self, expanded: bool) -> None:
        """Unfold (True) or fold the section."""
        if self.header.isChecked() != expanded:
            self.header.setChecked(expanded)  # comes back here through toggled
            return
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded
                                 else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)
        self.reset_button.setVisible(expanded)

    def set_note(self, text: str) -> None:
        """A line under the controls (what they steer with the chosen model), or none."""
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def is_expanded(self) -> bool:
        return self.header.isChecked()

    def values(self) -> dict[str, int]:
        """Every control's position for every part, -2..2."""
        return dict(self._every)

    def set_values(self, values: Mapping[str, int]) -> None:
        """Set the controls ``values`` names for every part (checked: a ValueError names
        an unknown control or a bad position); the others go to 0."""
        self._every = checked_controls(values)
        self._relabel()
        self._show_target()
        self.changed.emit()

    def reset(self) -> None:
        """Every control to 0 (neutral), every track's own positions gone."""
        self._parts.clear()
        self._relabel()
        self.set_values({})

    # -- per part -------------------------------------------------------------------
    def set_tracks(self, names: list[str]) -> None:
        """The song's tracks (their names, numbered from 1), whose parts may each take
        their own positions; fewer than two (or a melody model: none) hide the picker.
        Positions of a track the song no longer has are dropped."""
        if names == self._track_names:
            return
        self._track_names = list(names)
        keep = self.part_target()
        self._parts = {t: v for t, v in self._parts.items() if t < len(names)}
        self.part_combo.blockSignals(True)
        self.part_combo.clear()
        self.part_combo.addItem("Every part", None)
        for i, name in enumerate(names):
            self.part_combo.addItem(f"Track {i + 1}: {name or 'untitled'}", i)
        self.part_combo.setCurrentIndex(keep + 1 if keep is not None and keep < len(names)
                                        else 0)
        self.part_combo.blockSignals(False)
        shown = len(names) > 1
        self.part_label.setVisible(shown)
        self.part_combo.setVisible(shown)
        self._relabel()
        self._show_target()

    def part_target(self) -> int | None:
        """The track whose part the sliders set now (None: every part)."""
        return None if self.part_combo.isHidden() else self.part_combo.currentData()

    def set_part_target(self, track: int | None) -> None:
        """Show (and set) ``track``'s part, or every part's (None)."""
        index = 0 if track is None else self.part_combo.findData(track)
        if index < 0:
            raise ValueError(f"there is no track {track + 1} to steer")
        self.part_combo.setCurrentIndex(index)

    def part_values(self) -> tuple[tuple[int, str, int], ...]:
        """Each track's own positions that differ from every part's, as the settings'
        ``part_controls`` (track from 0, control, position); () while the picker is
        hidden (a melody model, or one track)."""
        if self.part_combo.isHidden():
            return ()
        return tuple((t, name, value) for t, own in sorted(self._parts.items())
                     for name, value in own.items() if value != self._every[name])

    def _moved(self, name: str, value: int) -> None:
        if self._showing:
            return
        track = self.part_target()
        if track is None:
            self._every[name] = value
        else:
            self._parts.setdefault(track, {})[name] = value
        self._relabel()
        self.changed.emit()

    def _show_target(self, *_: object) -> None:
        """The sliders show what the picker chose: every part's positions, or a track's
        own (every part's where it has none); repeat is every part's only."""
        track = self.part_target()
        own = self._parts.get(track, {}) if track is not None else {}
        self._showing = True
        try:
            for name, slider in self.sliders.items():
                slider.setValue(own.get(name, self._every[name]))
                slider.setEnabled(track is None or name in PART_CONTROL_NAMES)
        finally:
            self._showing = False

    def _relabel(self) -> None:
        """A track with positions of its own says so in the picker."""
        for i in range(1, self.part_combo.count()):
            track = self.part_combo.itemData(i)
            text = self.part_combo.itemText(i).removesuffix(" (own)")
            own = any(v != self._every[n] for n, v in self._parts.get(track, {}).items())
            self.part_combo.setItemText(i, text + (" (own)" if own else ""))

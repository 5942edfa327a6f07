"""The Generate panel's collapsible Controls section: six five-position controls
(-2..2, each labelled by its two ends, 0 in the middle), which steer a generation
beyond temperature (issue 26).

Each control is a field of :class:`~engine.generation.request.GenerationSettings` of
the same name (density, leaps, repeat, register, syncopation, dynamics), named and
labelled by the engine's ``CONTROLS``; the panel puts :meth:`ControlsBox.values` into
the settings it builds.  At 0 a control changes nothing.
"""

from __future__ import annotations

from typing import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QSlider, QToolButton, QVBoxLayout,
                               QWidget)

from engine.generation.request import CONTROL_MAX, CONTROLS

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
        self.sliders: dict[str, QSlider] = {}
        for row, (name, (low, high)) in enumerate(LABELS.items()):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setObjectName(f"control_{name}")
            slider.setRange(LOWEST, HIGHEST)
            slider.setPageStep(1)
            slider.setTickInterval(1)
            slider.setTickPosition(QSlider.TickPosition.TicksBelow)
            slider.setValue(0)
            slider.setToolTip(f"{low} (-2) .. {high} (+2); the middle changes nothing")
            slider.valueChanged.connect(self.changed)
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
        grid.addWidget(self.note, len(self.sliders), 0, 1, 3)
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
        """Every control's position, -2..2."""
        return {name: slider.value() for name, slider in self.sliders.items()}

    def set_values(self, values: Mapping[str, int]) -> None:
        """Set the controls ``values`` names (checked: a ValueError names an unknown
        control or a bad position); the others go to 0."""
        checked = checked_controls(values)
        for name, value in checked.items():
            self.sliders[name].setValue(value)

    def reset(self) -> None:
        """Every control to 0 (neutral)."""
        self.set_values({})

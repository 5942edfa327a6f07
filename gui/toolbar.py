"""Toolbar pieces that keep the toolbar still.

A QAction's toolbar button shows the action's text, and Undo/Redo change theirs with
every edit ("Undo Draw note", "Undo Keep variation"), so the buttons after them jumped
sideways.  :class:`FixedActionButton` shows a fixed label, puts the action's changing
text in its tooltip and follows its enabled state; it shows the action's icon, if any.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolButton, QWidget


class FixedActionButton(QToolButton):
    """A toolbar button that triggers ``action`` under a label that never changes."""

    def __init__(self, action: QAction, label: str, parent: QWidget | None = None,
                 icon_size: QSize | None = None) -> None:
        super().__init__(parent)
        self.action_ = action
        self.setObjectName(f"{action.objectName()}_button")
        self.setText(label)
        if not action.icon().isNull():  # the action's icon beside the label
            self.setIcon(action.icon())
            self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            if icon_size is not None:
                self.setIconSize(icon_size)
        self.setAutoRaise(True)
        self.clicked.connect(action.trigger)
        action.changed.connect(self._sync)
        self._sync()
        self.setFixedWidth(max(self.sizeHint().width(), 56))

    def _sync(self) -> None:
        action = self.action_
        try:
            self.setEnabled(action.isEnabled())
        except RuntimeError:  # the action went first, as the window closes
            return
        keys = " or ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                           for k in action.shortcuts())
        text = action.text().replace("&", "")
        self.setToolTip(f"{text} ({keys})" if keys else text)

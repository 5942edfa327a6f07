"""What the main window needs as it starts, apart from gui.app (which makes the
application and the window): the default seed it opens with no file, and a call once
a widget is first painted (the window on screen with the music in it)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer

from engine import resources

DEFAULT_SEED = resources.default_seed()


class _FirstPaint(QObject):
    """Calls ``callback`` once, just after ``widget`` is first painted."""

    def __init__(self, widget, callback) -> None:
        super().__init__(widget)
        self._callback = callback
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and self._callback is not None:
            callback, self._callback = self._callback, None
            watched.removeEventFilter(self)
            QTimer.singleShot(0, callback)  # after this paint reaches the screen
        return False


def on_first_paint(widget, callback) -> None:
    """Run ``callback`` once, as soon as ``widget`` has first been painted (the window is
    on screen with the music in it)."""
    _FirstPaint(widget, callback)

"""The PySide6 desktop app.  Importing any part of it first applies the PySide6 fix below."""

from gui.pyside_fix import keep_none_alive

keep_none_alive()

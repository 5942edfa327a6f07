"""Starting the composer: the QApplication, its names (for QSettings) and the first song.

With no file, the default seed in ``assets/`` is opened as an untitled song, so a fresh
install shows music and can generate at once, and Save never overwrites the asset.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

ORGANIZATION = "Continuo"
APPLICATION = "Continuo"
DEFAULT_SEED = Path(__file__).resolve().parent.parent / "assets" / "default_seed.mid"


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused when one exists, as under pytest-qt), named so that
    QSettings knows where to keep our settings."""
    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setOrganizationName(ORGANIZATION)
    app.setOrganizationDomain("continuo.invalid")
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    return app


def create_main_window(path: str | None = None):
    """A shown main window with ``path`` open, or the default seed (untitled)."""
    from gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if path:
        window.open_path(path)
    else:
        window.open_default_seed()
    # --- autosave and crash recovery (issue 7, gui/autosave.py): autosaves unsaved
    # changes, offers to restore what a crash or kill left behind, cleans up on quit
    from gui.autosave import install_autosave

    install_autosave(window)
    # --- end autosave
    return window


def run_app(path: str | None = None) -> int:
    """Open the composer; returns the exit status for ``sys.exit``."""
    app = make_application()
    window = create_main_window(path)
    status = app.exec()
    del window
    return int(status)

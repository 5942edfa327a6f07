"""Starting the composer: the QApplication, its names (for QSettings) and the first song.

With no file, the default seed in ``assets/`` is opened as an untitled song, so a fresh
install shows music and can generate at once, and Save never overwrites the asset.

For timing start-up, ``CONTINUO_QUIT_AFTER_SHOW=1`` makes the app leave as soon as the
piano roll has first been painted (the window is on screen, the music in it):

    CONTINUO_QUIT_AFTER_SHOW=1 /usr/bin/time -f %e bash scripts/launch.sh
"""

from __future__ import annotations

import os
import sys

from PySide6.QtWidgets import QApplication

from gui.startup import on_first_paint

ORGANIZATION = "Continuo"
APPLICATION = "Continuo"
QUIT_AFTER_SHOW = "CONTINUO_QUIT_AFTER_SHOW"


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


def quit_after_show_requested() -> bool:
    return os.environ.get(QUIT_AFTER_SHOW, "").strip() not in ("", "0")


def run_app(path: str | None = None) -> int:
    """Open the composer; returns the exit status for ``sys.exit``."""
    app = make_application()
    window = create_main_window(path)
    quick = quit_after_show_requested()
    if quick:
        # leave as soon as the window is visible (run_app then exits at once: the time
        # measured is the time to a visible window, not Qt's and Python's teardown);
        # quitting emits aboutToQuit, so MIDI clients close as usual, and the helper
        # generation process sees its pipe close and leaves by itself
        on_first_paint(window.roll.grid, QApplication.quit)
    status = app.exec()
    if quick:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(status))
    del window
    return int(status)

"""The toolbar's buttons and the main actions carry icons from Continuo's own SVG set."""

from __future__ import annotations

from PySide6.QtWidgets import QToolBar, QToolButton

from gui import icons
from tests.gui.test_app import make_window


def test_every_shipped_icon_draws_something(qapp):
    assert {"new", "open", "save", "undo", "redo", "play", "stop", "loop", "metronome",
            "record", "generate", "keep", "fit"} <= set(icons.names())
    for name in icons.names():
        image = icons.icon(name).pixmap(24, 24).toImage()
        assert not image.isNull(), name
        inked = sum(image.pixelColor(x, y).alpha() > 0 for x in range(24) for y in range(24))
        assert 20 < inked < 24 * 24 * 0.8, (name, inked)  # a symbol, not a blank or a block
    assert set(icons.ACTION_ICONS.values()) <= set(icons.names())


def test_the_toolbar_buttons_and_main_actions_have_icons(qtbot, library, isolated_settings):
    window = make_window(qtbot, library)
    toolbar = window.findChild(QToolBar, "main_toolbar")
    buttons = [b for b in toolbar.findChildren(QToolButton)
               if b.objectName() != "qt_toolbar_ext_button"]
    assert window.width() == 1280  # the default size: the whole bar fits, nothing hidden
    assert toolbar.sizeHint().width() <= window.width()
    assert all(b.isVisible() for b in buttons)
    labels = {(b.defaultAction().text() if b.defaultAction() else b.text()).replace("&", "")
              for b in buttons}
    assert {"New", "Open...", "Save", "Undo", "Redo", "Play", "Stop", "Loop", "Generate",
            "Drag clip", "Drag song"} <= labels
    for button in buttons:
        assert not button.icon().isNull(), button.text()
    named = {a.objectName(): a for a in (window.actions() + window.transport.actions
                                         + list(window.roll.actions.values()))}
    for name in icons.ACTION_ICONS:
        assert not named[name].icon().isNull(), name

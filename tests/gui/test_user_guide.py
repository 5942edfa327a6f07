"""Help > User Guide: the real window's menu opens docs/guide/ rendered from its
Markdown (Qt offscreen), its links lead to the other chapters and back, and a missing
guide (an installed wheel holds no docs/) says where the guide lives instead."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QUrl

from gui.help import GUIDE_INDEX, UserGuide
from tests.gui.test_app import make_window

DOCS = Path(__file__).resolve().parents[2] / "docs"


def help_menu(window):
    for action in window.menuBar().actions():
        if action.text().replace("&", "") == "Help":
            return action.menu()
    raise AssertionError("the window has no Help menu")


def test_help_menu_user_guide_opens_the_guide_rendered_from_markdown(
        qtbot, library, isolated_settings):
    window = make_window(qtbot, library)
    entries = [a for a in help_menu(window).actions() if a.text().replace("&", "") == "User Guide"]
    assert len(entries) == 1
    entries[0].trigger()
    qtbot.waitUntil(lambda: window.user_guide is not None and window.user_guide.isVisible())
    guide = window.user_guide
    assert Path(guide.page()) == GUIDE_INDEX == DOCS / "guide" / "index.md"
    text = guide.text()
    # the Markdown is rendered: headings become HTML headings, link syntax disappears
    assert text.startswith("Continuo user guide")
    assert "](" not in text and not re.search(r"^#{1,6} ", text, re.M)
    html = guide.browser.toHtml()
    assert "<h1" in html and "<h2" in html
    for chapter in ("Generate: continue your music", "Fill: regenerate a passage",
                    "Harmonise: voices beneath a melody", "Your own style",
                    "Live MIDI and DAW sync", "Files and export"):
        assert chapter in text, chapter
    # a click on a chapter's link (the signal a click sends) shows that chapter
    guide.browser.anchorClicked.emit(QUrl("fill.md"))
    assert Path(guide.page()) == DOCS / "guide" / "fill.md"
    assert "Keep replaces the span's notes in one undo step" in guide.text()
    # and a link out of the guide to the CLI reference, then Back twice to the index
    guide.browser.anchorClicked.emit(QUrl("../cli.md#convert"))
    assert Path(guide.page()) == DOCS / "cli.md"
    assert "convert IN OUT" in guide.text()
    guide.browser.backward()
    guide.browser.backward()
    assert Path(guide.page()) == GUIDE_INDEX
    # the menu again brings the same window back rather than a second one
    guide.close()
    entries[0].trigger()
    qtbot.waitUntil(lambda: window.user_guide.isVisible())
    assert window.user_guide is guide


def test_the_generate_chapter_shows_the_screenshot(qtbot, isolated_settings):
    guide = UserGuide()
    qtbot.addWidget(guide)
    guide.open_page(DOCS / "guide" / "generate.md")
    image = guide.browser.document().resource(2, QUrl("../../assets/screenshot.png"))
    assert image is not None and not image.isNull() and image.width() > guide.width()
    # shown at the window's width, not at its own
    shown = [piece.fragment().charFormat().toImageFormat()
             for block in iter_blocks(guide.browser.document()) for piece in block
             if piece.fragment().charFormat().isImageFormat()]
    assert len(shown) == 1 and shown[0].name().endswith("screenshot.png")
    assert 0 < shown[0].width() < guide.width()


def iter_blocks(document):
    block = document.begin()
    while block.isValid():
        yield block
        block = block.next()


def test_without_docs_the_guide_says_where_it_lives(qtbot, tmp_path, isolated_settings):
    guide = UserGuide(index=tmp_path / "docs" / "guide" / "index.md")
    qtbot.addWidget(guide)
    text = guide.text()
    assert "docs/" in text and "is missing" in text and "F1" in text
    assert guide.page() == ""

"""The Help panel (F1): what the mouse does where, and every key; the user guide
(Help > User Guide: docs/guide/ rendered from its Markdown); and the About text.

The gestures are written from what the piano roll's widgets do (gui/pianoroll/grid.py,
velocity.py, keyboard.py, ruler.py, view.py); the keys are read from the window's
actions at the time the panel opens, so the list cannot drift from the shortcuts.
"""

from __future__ import annotations

import html
from typing import Any, Iterable

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import (QAction, QDesktopServices, QKeySequence, QTextCursor,
                           QTextDocument)
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from engine import resources

SOUNDFONT_README = resources.soundfont_dir() / "README.md"
# the user guide: Markdown chapters beside the checkout's README (not in the wheel)
GUIDE_INDEX = resources.CHECKOUT / "docs" / "guide" / "index.md"

# (where, what you do, what happens)
GESTURES: list[tuple[str, str, str]] = [
    ("Note grid", "Click on an empty place", "draws a note there as long as the Note box "
                                             "beside Snap says (a quarter at first; keys 3-7 "
                                             "choose a 16th to a whole note)"),
    ("Note grid", "Click and drag to the right", "draws a note as long as the drag"),
    ("Note grid", "Drag a note", "moves it in time (snapped) and pitch, with the other "
                                 "selected notes"),
    ("Note grid", "Drag the right end of a note", "changes its length (and the selected "
                                                  "notes' lengths)"),
    ("Note grid", "Click a note", "selects it"),
    ("Note grid", "Ctrl+click a note", "adds it to the selection, or takes it out"),
    ("Note grid", "Shift+drag on an empty place", "selects the notes in the rectangle"),
    ("Note grid", "Ctrl+drag on an empty place", "adds the notes in the rectangle to the "
                                                 "selection"),
    ("Note grid", "Right-click a note, or right-drag across notes", "deletes them"),
    ("Note grid", "Drag past the edge", "scrolls the view along"),
    ("Velocity lane (below the grid)", "Drag a bar up or down",
     "changes that note's velocity (loudness); on a selected note, every selected note's"),
    ("Velocity lane (below the grid)", "Shift+drag", "draws a line: the notes under it get "
                                                     "its velocities (a crescendo)"),
    ("Keyboard (left)", "Click or drag on the keys", "plays the pitches"),
    ("Keyboard (left)", "On a drum track", "names each row's General MIDI drum sound "
                                           "(Bass Drum 1, Acoustic Snare, ...; the tooltip "
                                           "at any zoom); a click plays it on channel 10"),
    ("Ruler (top)", "Click or drag", "moves the playhead (where Play and Paste start) and "
                                     "clears the selected range"),
    ("Ruler (top)", "Shift+drag", "selects a range of time, snapped: Fill (Ctrl+Shift+F) "
                                  "regenerates it, Regenerate Part (Ctrl+Alt+G) the active "
                                  "track over it; Escape clears it"),
    ("Ruler (top)", "Double-click", "selects the bar under the mouse as the range"),
    ("Chord lane (under the ruler)", "Click a chord", "selects it (type to replace it)"),
    ("Chord lane (under the ruler)", "Double-click a chord", "types over its symbol: "
                                                             "Return keeps it, Escape leaves it"),
    ("Chord lane (under the ruler)", "Double-click the empty lane, or Ctrl+double-click "
                                     "in a chord", "adds a chord there"),
    ("Chord lane (under the ruler)", "Drag a chord", "moves it, its end (the next "
                                                     "chord's start) with it"),
    ("Chord lane (under the ruler)", "Drag a chord's right edge", "resizes it: the next "
                                                                  "chord starts there"),
    ("Anywhere in the roll", "Wheel", "scrolls up and down"),
    ("Anywhere in the roll", "Shift+wheel", "scrolls in time"),
    ("Anywhere in the roll", "Ctrl+wheel", "zooms in time around the mouse"),
    ("Anywhere in the roll", "Ctrl+Shift+wheel", "zooms the pitch rows"),
    ("Variations (Generate panel)", "Click a variation", "shows it in the roll, dashed"),
    ("Variations (Generate panel)", "Double-click a variation", "keeps it (one undo step)"),
]

# keys the note grid handles itself (they are no QAction's shortcut)
GRID_KEYS: list[tuple[str, str]] = [
    ("Up / Down", "transpose the selection a semitone"),
    ("Shift+Up / Shift+Down", "transpose the selection an octave"),
    ("Left / Right", "move the selection by one snap step"),
    ("Delete / Backspace", "delete the selection"),
    ("Escape", "cancel the drag in progress, else select nothing"),
]

# keys the chord lane handles itself, while a chord in it is selected
CHORD_LANE_KEYS: list[tuple[str, str]] = [
    ("A-G (chord lane)", "type over the selected chord, starting with that root"),
    ("Return or F2 (chord lane)", "type over the selected chord"),
    ("Delete / Backspace (chord lane)", "delete the selected chord"),
    ("Left / Right (chord lane)", "select the chord before or after"),
]

GENERATE_NOTE = ("Generate continues the whole song from its end. To continue from a "
                 "passage instead, select its notes (click, rubber band or Select All) "
                 "first: the Generate panel then says \"from the selection\". A note you "
                 "have just drawn is selected but is not taken as the seed.")


def _shortcut_text(action: QAction) -> str:
    keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
    return " or ".join(k for k in keys if k)


def key_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(keys, what) for every action with a shortcut, in order, without repeats."""
    rows, seen = [], set()
    for action in actions:
        keys = _shortcut_text(action)
        name = action.text().replace("&", "").replace("...", "")
        if action.objectName() in ("edit_undo", "edit_redo"):
            name = name.split(" ")[0]  # not "Undo Draw note": what it does at the moment
        if not keys or (keys, name) in seen:
            continue
        seen.add((keys, name))
        rows.append((keys, name))
    return rows


def help_html(actions: Iterable[QAction]) -> str:
    """The whole help text: the seed rule, the mouse gestures, the keys."""
    e = html.escape
    parts = ["<h2>Continuo</h2>", f"<p>{e(GENERATE_NOTE)}</p>", "<h3>Mouse</h3>",
             "<table cellspacing='0' cellpadding='3'>"]
    where = None
    for place, gesture, effect in GESTURES:
        if place != where:
            parts.append(f"<tr><td colspan='2'><br><u>{e(place)}</u></td></tr>")
            where = place
        parts.append(f"<tr><td><b>{e(gesture)}</b></td><td>{e(effect)}</td></tr>")
    parts.append("</table>")
    parts.append("<h3>Keys</h3><table cellspacing='0' cellpadding='3'>")
    for keys, what in list(key_rows(actions)) + GRID_KEYS + CHORD_LANE_KEYS:
        parts.append(f"<tr><td><b>{e(keys)}</b></td><td>{e(what)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


class HelpPanel(QDialog):
    """A non-modal window with :func:`help_html` (F1 opens it, or brings it to the front)."""

    def __init__(self, actions: Iterable[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("help_panel")
        self.setWindowTitle("Continuo Help")
        self.setModal(False)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(help_html(actions))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(620, 640)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

    def text(self) -> str:
        return self.browser.toPlainText()


# ---- User guide ---------------------------------------------------------------------
NO_GUIDE_HTML = ("<h2>Continuo user guide</h2><p>The guide is kept as Markdown in the "
                 "<tt>docs/</tt> folder of Continuo's source, which this installation "
                 "does not hold ({path} is missing). Help &gt; Continuo Help (F1) lists "
                 "every key and mouse gesture.</p>")


class UserGuide(QDialog):
    """A non-modal window that shows docs/guide/ rendered from its Markdown: the index
    first; a link to another chapter (or to the CLI reference, the models, ...) opens it
    in the same window, and Back returns.  Links that leave the docs (web addresses)
    open in the desktop's browser."""

    def __init__(self, parent: QWidget | None = None, index: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("user_guide")
        self.setWindowTitle("Continuo User Guide")
        self.setModal(False)
        self.index = GUIDE_INDEX if index is None else index
        self.browser = QTextBrowser()
        self.browser.setObjectName("user_guide_browser")
        self.browser.setOpenLinks(False)  # follow() resolves links against the page
        self.browser.anchorClicked.connect(self.follow)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        back = buttons.addButton("Back", QDialogButtonBox.ButtonRole.ActionRole)
        contents = buttons.addButton("Contents", QDialogButtonBox.ButtonRole.ActionRole)
        back.clicked.connect(self.browser.backward)
        self.browser.backwardAvailable.connect(back.setEnabled)
        back.setEnabled(False)
        contents.clicked.connect(self.show_contents)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(760, 720)
        self.show_contents()

    def show_contents(self) -> None:
        """The guide's index (its table of chapters)."""
        if self.index.is_file():
            self.open_page(self.index)
        else:
            self.browser.setHtml(NO_GUIDE_HTML.format(path=html.escape(str(self.index))))

    def open_page(self, path: Any) -> None:
        """Show one Markdown page of the docs (a chapter, the CLI reference, ...)."""
        self.browser.setSource(QUrl.fromLocalFile(str(path)),
                               QTextDocument.ResourceType.MarkdownResource)
        self.fit_images()

    def fit_images(self) -> None:
        """Pictures wider than the window (the screenshot) are shown at its width."""
        document = self.browser.document()
        width = max(200, self.width() - 60)
        block = document.begin()
        while block.isValid():
            for piece in block:
                fragment = piece.fragment()
                image = fragment.charFormat().toImageFormat()
                if not fragment.charFormat().isImageFormat():
                    continue
                if image.width() <= 0 or image.width() > width:
                    image.setWidth(width)  # the height follows, in proportion
                    cursor = QTextCursor(document)
                    cursor.setPosition(fragment.position())
                    cursor.setPosition(fragment.position() + fragment.length(),
                                       QTextCursor.MoveMode.KeepAnchor)
                    cursor.setCharFormat(image)
            block = block.next()

    def follow(self, url: QUrl) -> None:
        """A clicked link: another page of the docs opens here (relative to the page
        shown), anything else (a web address, a source file, a picture) in the desktop's
        own application for it."""
        if url.isRelative() and not url.path():  # "#anchor" on this page
            self.browser.scrollToAnchor(url.fragment())
            return
        target = self.browser.source().resolved(url) if url.isRelative() else url
        path = target.toLocalFile() if target.isLocalFile() else ""
        if path.endswith(".md"):
            self.open_page(path)
            if target.fragment():
                self.browser.scrollToAnchor(target.fragment())
        else:
            QDesktopServices.openUrl(target)

    def page(self) -> str:
        """The file shown now ('' when no guide is installed)."""
        return self.browser.source().toLocalFile()

    def text(self) -> str:
        return self.browser.toPlainText()


# ---- About --------------------------------------------------------------------------
def app_version() -> str:
    """The installed package's version, else the one pyproject.toml states."""
    from importlib import metadata

    try:
        return metadata.version("continuo")
    except metadata.PackageNotFoundError:
        pass
    pyproject = resources.CHECKOUT / "pyproject.toml"
    try:
        import tomllib

        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, ValueError, ImportError):
        return "unknown"


def soundfont_credit() -> str:
    """One line naming the built-in synth's soundfont, its authors and licence."""
    name, copyright_, licence = "TimGM6mb", "2004 Tim Brechbill; 2010 David Bolton", \
        "GNU GPL version 2"
    try:
        for line in SOUNDFONT_README.read_text().splitlines():
            line = line.strip().lstrip("- ")
            if line.startswith("Copyright:"):
                copyright_ = line.split(":", 1)[1].strip().rstrip(".")
            elif line.startswith("Licence:"):
                licence = line.split(":", 1)[1].split("(")[0].strip().rstrip(".")
    except OSError:
        pass
    return f"Sounds: the {name} General MIDI soundfont, \u00a9 {copyright_} ({licence})."


def about_html(models: Iterable[Any]) -> str:
    e = html.escape
    rows = []
    for m in models:
        bits = getattr(m, "bits_per_note", None)
        figure = f"{bits:.3f} bits per note on the test split" if isinstance(
            bits, (int, float)) else "no test figure on its card"
        arch = getattr(m, "architecture", "")
        rows.append(f"<li><b>{e(m.name)}</b>{f' ({e(arch)})' if arch else ''}: "
                    f"{e(figure)}</li>")
    models_part = (f"<p>Models (fewer bits per note: the model predicts the music better):"
                   f"<ul>{''.join(rows)}</ul></p>" if rows else "<p>No model is installed.</p>")
    return (f"<b>Continuo {e(app_version())}</b><br>A desktop composer that continues your "
            f"music with neural networks trained on folk tunes (ONNX models run with "
            f"onnxruntime).{models_part}<p>{e(soundfont_credit())}</p>")

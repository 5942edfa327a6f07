"""Shared fixtures for the GUI tests.

Qt must see ``QT_QPA_PLATFORM=offscreen`` before it is first imported, so that the
tests run on a machine with no display; setting it here (conftest is imported before
the test modules) does that for every file under tests/gui.
"""

from __future__ import annotations

import os
from collections import defaultdict

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import mido  # noqa: E402
import pytest  # noqa: E402

from engine.song import Note, melody_song  # noqa: E402
from tests.engine.test_ports import midi_system, sink  # noqa: E402,F401 - fixtures

# a two-tune ABC file, for the tune chooser
TWO_TUNES_ABC = """X:1
T:First Tune
M:4/4
L:1/8
K:G
GABc d2 B2|c2 A2 G4|]

X:2
T:Second Tune
M:3/4
L:1/4
K:D
D F A|d2 A|F2 D|]
"""


def note_tuples(notes) -> list[tuple[int, int, int, int]]:
    """(pitch, start, duration, velocity) of each note, sorted."""
    return sorted((n.pitch, n.start_tick, n.duration_ticks, n.velocity) for n in notes)


def mido_notes(path) -> list[tuple[int, int, int, int]]:
    """:func:`note_tuples` of a MIDI file read with mido alone, not with our reader."""
    out, held = [], defaultdict(list)
    for track in mido.MidiFile(path).tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                held[msg.note].append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off") and held[msg.note]:
                start, vel = held[msg.note].pop(0)
                out.append((msg.note, start, tick - start, vel))
    return sorted(out)


SEED_NOTES = [Note(60, 0, 480), Note(62, 480, 480), Note(64, 960, 480), Note(67, 1440, 480),
              Note(60, 1920, 960)]


@pytest.fixture(scope="session", autouse=True)
def _release_clipboard_at_the_end():
    """Empty the clipboard before Python finalizes: a QMimeData left there is deleted
    by a Qt exit handler after finalization and the process dies with SIGSEGV (see
    gui.pianoroll.view.release_clipboard, which the app runs at aboutToQuit; pytest-qt
    never emits that, and the tests also put other programs' clips there)."""
    yield
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is not None:
        QApplication.clipboard().clear()


ARCHITECTURES = ("lstm", "wavenet")


@pytest.fixture
def isolated_settings(tmp_path, qapp):
    """QSettings in a temporary folder, so tests neither read nor write the user's."""
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "settings"))
    qapp.setOrganizationName("ContinuoTests")
    qapp.setApplicationName("ContinuoTests")
    QSettings().clear()
    yield
    QSettings().clear()


@pytest.fixture(scope="session")
def library(request):
    """The shipped models when both architectures are there, else the tiny exported ones."""
    from engine.models import ModelLibrary

    shipped = ModelLibrary()
    if all(any(m.architecture == a for m in shipped.models) for a in ARCHITECTURES):
        return shipped
    return ModelLibrary([request.getfixturevalue("tiny_models_dir")])


@pytest.fixture
def seed_song():
    """A five-note C major melody at 480 ppq, 120 BPM, 4/4."""
    return melody_song(SEED_NOTES)


@pytest.fixture
def doc(qtbot, seed_song):
    """A SongDocument holding the seed melody, with a clean undo stack."""
    from gui.document import SongDocument

    document = SongDocument(seed_song)
    yield document
    document.undo_stack.clear()


@pytest.fixture
def job_panel(qtbot, isolated_settings):
    """``job_panel(doc, library)``: a Generate panel that runs its jobs in the helper
    process, as the app does; a job still running at the end is cancelled."""
    from gui.panels.generate import GeneratePanel

    made = []

    def make(document, library):
        widget = GeneratePanel(document, library)
        widget.use_helper_process = True
        qtbot.addWidget(widget)
        made.append(widget)
        return widget

    yield make
    for widget in made:
        if widget.job is not None:
            widget.cancel()
            qtbot.waitSignal(widget.generation_finished, timeout=30000)


def shown_roll(qtbot, doc):
    """A piano roll over ``doc``, shown 1000 x 640, snapping to sixteenths."""
    from gui.pianoroll.view import PianoRoll

    widget = PianoRoll(doc)
    qtbot.addWidget(widget)
    widget.resize(1000, 640)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_snap("1/16")
    return widget


@pytest.fixture
def roll(qtbot, doc):
    """:func:`shown_roll` over ``doc``."""
    return shown_roll(qtbot, doc)


@pytest.fixture
def bridge(qtbot, midi_system):  # noqa: F811
    """A PlayerBridge on the running MIDI system (real ports; skipped where none runs),
    closed after the test."""
    from gui.playback import PlayerBridge

    b = PlayerBridge(api=midi_system.api)
    yield b
    b.close()

"""Your own style in the composer (issue 14): learning a folder of the user's music off
the GUI thread with progress and Cancel, the "<network> + <style>" entry in the model
list, generating with it, a folder with no music, and Cancel during a big folder.

Real Qt event loop (offscreen), real MIDI files written into tmp_path with the engine's
writer, the real engine building and saving the style under CONTINUO_MODELS_DIR (a
temporary folder: nothing touches the user's home), the real helper process and
onnxruntime on the shipped models.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QPushButton

from engine.formats import song_to_midi_file
from engine.song import Note, melody_song
from tests.gui.conftest import TWO_TUNES_ABC

TIMEOUT_MS = 180_000
SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def write_tunes(folder: Path, count: int, notes: int = 16, seed: int = 1) -> list[Path]:
    """``count`` MIDI files of a stepwise C major tune each, in ``folder``."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        step, tune = rng.randrange(len(SCALE)), []
        for k in range(notes):
            step = min(max(step + rng.choice((-1, 1, 1, 2)), 0), len(SCALE) - 1)
            tune.append(Note(SCALE[step], k * 240, 240))
        path = folder / f"tune {i + 1:04d}.mid"
        song_to_midi_file(melody_song(tune), path)
        paths.append(path)
    return paths


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """The user's models folder, in tmp_path."""
    folder = tmp_path / "user-models"
    monkeypatch.setenv("CONTINUO_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def shipped_library(models_dir):
    """The shipped models and the (temporary) user's folder, as the app reads them."""
    from engine.models import REPO_MODELS_DIR, ModelLibrary

    library = ModelLibrary([REPO_MODELS_DIR, models_dir])
    if "duet" not in library.names:
        pytest.skip(f"the shipped duet does not load: {library.problems}")
    return library


@pytest.fixture
def window(qtbot, shipped_library, isolated_settings):
    from tests.gui.test_app import make_window

    return make_window(qtbot, shipped_library)


def entries(panel) -> list[tuple[str, str]]:
    combo = panel.model_combo
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]


class OffTheGuiThread:
    """Proves that a style is built off the GUI thread while the GUI thread's event loop
    keeps running, without counting timer ticks or reading a clock (a busy machine
    decides those): the build is watched, and at its first file it waits until a QTimer
    on the GUI thread has fired while the build was under way.  A build on the GUI
    thread could never see that (it would wait the full WAIT_S and the test fails)."""

    WAIT_S = 60.0

    def __init__(self, monkeypatch) -> None:
        from engine.generation import style

        build = style.style_for_folder
        self.threads: list[threading.Thread] = []
        self.building, self.turned = threading.Event(), threading.Event()

        def watched(folder, encoding, progress=None, is_cancelled=None):
            self.threads.append(threading.current_thread())
            self.building.set()

            def on_progress(done: int, total: int, name: str) -> None:
                if progress is not None:
                    progress(done, total, name)
                self.turned.wait(self.WAIT_S)  # the GUI thread turns meanwhile

            try:
                return build(folder, encoding, progress=on_progress, is_cancelled=is_cancelled)
            finally:
                self.building.clear()

        monkeypatch.setattr(style, "style_for_folder", watched)
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.building.is_set() and self.turned.set())
        self.timer.start()

    def proved(self) -> bool:
        self.timer.stop()
        return (bool(self.threads) and threading.main_thread() not in self.threads
                and self.turned.is_set())


def learn(qtbot, panel, folder) -> None:
    with qtbot.waitSignal(panel.style_finished, timeout=TIMEOUT_MS):
        assert panel.learn_style(folder), panel.messages.text()


def test_a_folder_of_tunes_becomes_its_own_entry_and_generates(qtbot, window, tmp_path,
                                                               models_dir, doc):
    panel = window.panel
    folder = tmp_path / "my tunes"
    write_tunes(folder, 6)
    (folder / "two tunes.abc").write_text(TWO_TUNES_ABC)  # each tune counts
    (folder / "notes.txt").write_text("not music")  # not a music file: not counted
    (folder / "broken.mid").write_bytes(b"MThd not really")
    with open(folder / "huge.mid", "wb") as f:  # 50 MB (sparse): skipped unread
        f.truncate(50 * 2**20)
    before = entries(panel)
    assert not any(label.endswith("+ my tunes") for label, _ in before)

    learn(qtbot, panel, folder)
    after = entries(panel)
    assert after[:len(before)] == before  # the networks stay as they were
    added = after[len(before):]
    assert [label for label, _ in added] == ["duet + my tunes"]
    assert panel.model_combo.currentText() == "duet + my tunes"  # and chosen
    style_path = Path(panel.chosen_style().path)
    assert style_path.is_file() and models_dir in style_path.parents
    text = panel.messages.text()
    assert "8 tunes" in text and "from 9 files" in text and "2 files skipped" in text, text
    details = panel.messages.toolTip()
    assert "broken.mid" in details and "huge.mid: the file is 50" in details, details
    assert "my tunes" in panel.model_info.text()
    assert QSettings().value("generate/model") == panel.model_combo.currentData()

    settings = panel.settings()
    assert settings.model == "duet" and settings.style == str(style_path)
    with qtbot.waitSignal(panel.generation_finished, timeout=TIMEOUT_MS):
        assert panel.generate(), panel.messages.text()
    assert panel.result is not None, panel.messages.text()
    assert panel.variations.count() == settings.variations
    assert all(panel.variation_notes(i) for i in range(panel.variations.count()))
    # the generator mixed the style in: it fitted the style's shares beside duet and kept them
    assert "duet" in json.loads(style_path.read_text())["shares"]

    # the next start (here with a melody: the default seed's two parts get a
    # polyphonic model until one is chosen) lists it again and comes back to it
    from gui.panels.generate import GeneratePanel

    panel.save_settings()
    again = GeneratePanel(doc, window.library)
    qtbot.addWidget(again)
    assert entries(again) == after
    assert again.chosen_style() == panel.chosen_style()


def test_a_folder_with_no_music_says_so_and_changes_nothing(qtbot, window, tmp_path,
                                                           models_dir):
    panel = window.panel
    folder = tmp_path / "letters"
    folder.mkdir()
    (folder / "letter.txt").write_text("Dear friend")
    before, chosen = entries(panel), panel.model_combo.currentData()
    learn(qtbot, panel, folder)
    assert "no music" in panel.messages.text(), panel.messages.text()
    box = panel.style_message
    assert box is not None and box.isVisible() and "no music" in box.text()
    box.close()
    assert entries(panel) == before and panel.model_combo.currentData() == chosen
    assert not list(models_dir.rglob("*.json"))


def test_cancel_during_a_big_folder_saves_nothing_and_the_app_still_works(
        qtbot, window, tmp_path, models_dir, monkeypatch):
    panel = window.panel
    folder = tmp_path / "many"
    write_tunes(folder, 2000, notes=4)
    before = entries(panel)
    seen: list[tuple[int, int]] = []
    watch = OffTheGuiThread(monkeypatch)

    def on_progress(done: int, total: int, name: str) -> None:
        seen.append((done, total))
        if done >= 40 and not panel.style_dialog.wasCanceled():
            button = panel.style_dialog.findChild(QPushButton)  # the dialog's Cancel
            button.click()

    with qtbot.waitSignal(panel.style_finished, timeout=TIMEOUT_MS):
        assert panel.learn_style(folder)
        panel.style_job.progress.connect(on_progress)
    assert watch.proved()  # built on a helper thread while the GUI thread kept turning
    assert seen and all(total == 2000 for _, total in seen)
    assert max(done for done, _ in seen) < 2000  # it stopped early
    assert "cancelled" in panel.messages.text()
    assert entries(panel) == before
    assert not list(models_dir.rglob("*.json"))

    with qtbot.waitSignal(panel.generation_finished, timeout=TIMEOUT_MS):
        assert panel.generate(), panel.messages.text()
    assert panel.result is not None, panel.messages.text()


def test_the_event_loop_turns_while_a_style_is_learned(qtbot, window, tmp_path, models_dir,
                                                       monkeypatch):
    panel = window.panel
    folder = tmp_path / "band"
    write_tunes(folder, 300, notes=8)
    labels: list[str] = []
    watch = OffTheGuiThread(monkeypatch)
    with qtbot.waitSignal(panel.style_finished, timeout=TIMEOUT_MS):
        assert panel.learn_style(folder)
        panel.style_job.progress.connect(
            lambda *_: labels.append(panel.style_dialog.labelText()))
    assert watch.proved()
    assert panel.model_combo.currentText() == "duet + band", panel.messages.text()
    assert any(label.startswith("File ") and " of 300: tune " in label for label in labels), \
        labels[:5]


def test_the_menu_entry_and_no_style_entry_for_a_polyphonic_model(qtbot, window, tmp_path,
                                                                  models_dir):
    menus = {m.text(): m.menu() for m in window.menuBar().actions() if m.menu()}
    action = window.generate_learn_style
    assert action in menus["&Generate"].actions()
    assert action.shortcut().toString() == "Ctrl+Shift+L"
    panel = window.panel
    write_tunes(tmp_path / "solo", 3)
    learn(qtbot, panel, tmp_path / "solo")
    labels = [label for label, _ in entries(panel)]
    assert labels.count("duet + solo") == 1
    assert not any(label.startswith("poly-") and "+" in label for label in labels)
    assert not panel.is_polyphonic()
    from gui.panels.style import DEFAULT_NETWORK

    assert panel.chosen_model() == DEFAULT_NETWORK

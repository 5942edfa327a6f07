"""Fill in the composer: select a span, Fill, audition, Keep, Undo, with a real fill model
through the real worker and the generation service."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.song import Note, melody_song

MODELS = Path(__file__).resolve().parents[2] / "models"
TPB = 1920  # 4/4 at 480 ppq


@pytest.fixture(scope="module")
def fill_library():
    from engine.models import ModelLibrary

    library = ModelLibrary([MODELS])
    if not any("fill" in m.jobs for m in library.models):
        pytest.fail(f"no model that fills in {MODELS}: {library.problems}")
    return library


@pytest.fixture
def fill_doc(qtbot):
    from gui.document import SongDocument

    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes = [Note(scale[i % 8], i * 480, 480) for i in range(16)]  # four bars of quarters
    document = SongDocument(melody_song(notes))
    yield document
    document.undo_stack.clear()


@pytest.fixture
def fill_panel(job_panel, fill_doc, fill_library):
    return job_panel(fill_doc, fill_library)


def test_fill_then_keep_replaces_the_span_in_one_undo_step(qtbot, fill_panel, fill_doc):
    doc, panel = fill_doc, fill_panel
    panel.select_model("lstm")  # continues only: Fill uses its fill twin
    panel.variations_spin.setValue(3)
    before = dict(doc.notes())
    inside = {i for i, n in before.items() if TPB <= n.start_tick < 3 * TPB}
    doc.set_selection(inside)

    with qtbot.waitSignal(panel.variations_ready, timeout=120000) as ready:
        assert panel.fill()
    assert ready.args == [3]
    qtbot.waitUntil(lambda: panel.job is None)
    assert panel.result.model == "lstm-fill"
    for i in range(3):
        assert all(TPB <= n.start_tick and n.end_tick <= 3 * TPB
                   for n in panel.variation_notes(i))
    audition = panel.variation_song(0).tracks[0].notes
    assert any(n.start_tick >= 3 * TPB for n in audition), "the bar after the gap is heard"

    panel.variations.set_current_index(1)
    chosen = panel.variation_notes(1)
    depth = doc.undo_stack.count()
    ids = panel.keep_variation()
    assert doc.undo_stack.count() == depth + 1
    assert doc.undo_stack.undoText() == "Fill"
    after = doc.notes()
    kept = {i: n for i, n in before.items() if i not in inside}
    assert all(after[i] == n for i, n in kept.items()), "notes outside the gap are untouched"
    assert not inside & set(after)
    assert sorted((after[i] for i in ids), key=Note.sort_key) == sorted(chosen,
                                                                          key=Note.sort_key)
    doc.undo_stack.undo()
    assert doc.notes() == before
    doc.undo_stack.redo()
    assert len(doc.notes()) == len(kept) + len(chosen)


def test_the_transformer_fills_with_its_fill_twin(qtbot, fill_panel, fill_doc):
    """The Transformer continues only; Fill with it chosen runs transformer-fill, which
    the model list offers beside it."""
    doc, panel = fill_doc, fill_panel
    names = [panel.model_combo.itemData(i) for i in range(panel.model_combo.count())]
    assert "transformer" in names and "transformer-fill" in names
    panel.select_model("transformer")
    panel.variations_spin.setValue(2)
    doc.set_selection({i for i, n in doc.notes().items() if TPB <= n.start_tick < 3 * TPB})
    with qtbot.waitSignal(panel.variations_ready, timeout=120000):
        assert panel.fill()
    qtbot.waitUntil(lambda: panel.job is None)
    assert panel.result.model == "transformer-fill"
    for i in range(2):
        notes = panel.variation_notes(i)
        assert notes and all(TPB <= n.start_tick and n.end_tick <= 3 * TPB for n in notes)


@pytest.fixture
def through_composed_doc(qtbot):
    """Four bars of quarters that say no bar again: a gap in them has more than one
    good fill (in fill_doc's scale, said twice, the motif memory rightly brings the
    second statement's bar back every time)."""
    from gui.document import SongDocument

    pitches = [60, 64, 62, 65, 67, 65, 69, 67, 72, 71, 69, 67, 65, 64, 62, 60]
    document = SongDocument(melody_song([Note(p, i * 480, 480)
                                         for i, p in enumerate(pitches)]))
    yield document
    document.undo_stack.clear()


def test_regenerate_after_a_fill_fills_the_same_gap_again(qtbot, job_panel, fill_library,
                                                          through_composed_doc):
    doc = through_composed_doc
    panel = job_panel(doc, fill_library)
    doc.set_selection({i for i, n in doc.notes().items() if TPB <= n.start_tick < 2 * TPB})
    with qtbot.waitSignal(panel.variations_ready, timeout=120000):
        assert panel.fill()
    qtbot.waitUntil(lambda: panel.job is None)
    first = [panel.variation_notes(i) for i in range(panel.variations_spin.value())]
    doc.set_selection([])  # the gap is the fill's, not the selection's
    with qtbot.waitSignal(panel.variations_ready, timeout=120000):
        assert panel.regenerate()
    qtbot.waitUntil(lambda: panel.job is None)
    assert panel.shown.gap is not None and panel.result.model.endswith("fill")
    again = [panel.variation_notes(i) for i in range(panel.variations_spin.value())]
    assert again != first
    assert all(TPB <= n.start_tick and n.end_tick <= 2 * TPB for v in again for n in v)


def test_fill_without_a_selection_says_what_to_do(qtbot, fill_panel, fill_doc):
    fill_doc.set_selection([])
    assert not fill_panel.fill()
    assert "Select the notes" in fill_panel.messages.text()


def test_fill_menu_item_and_shortcut(qtbot, isolated_settings, fill_library):
    from gui.main_window import MainWindow

    window = MainWindow(library=fill_library, playback=False)
    qtbot.addWidget(window)
    action = window.generate_fill
    assert action.shortcut().toString() == "Ctrl+Shift+F"
    menus = [a for m in window.menuBar().actions() if m.menu() for a in m.menu().actions()]
    assert action in menus
    assert window.panel.fill_button.isEnabled()

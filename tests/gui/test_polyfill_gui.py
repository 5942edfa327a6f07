"""A polyphonic fill in the composer: with poly-wavenet chosen, Fill regenerates the
gap on every part (real worker, helper process and onnxruntime, real Qt event loop
offscreen); Keep replaces the gap's notes on every track in one undo step ("Fill") and
Undo brings them all back."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.song import Note, Song, TimeSignature, Track

MODELS = Path(__file__).resolve().parents[2] / "models"
POLY = "poly-wavenet"
TPB = 1920  # 4/4 at 480 ppq


def three_parts() -> Song:
    """Four bars of C major in three parts."""
    sop = [72, 74, 76, 77, 79, 77, 76, 74, 72, 74, 76, 79, 77, 76, 74, 72]
    alto = [64, 65, 67, 65, 64, 65, 67, 64]
    bass = [48, 43, 41, 48, 43, 41, 43, 48]
    return Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4)], tracks=[
        Track("Soprano", 0, 73, notes=[Note(p, i * 480, 480, 90, 0) for i, p in enumerate(sop)]),
        Track("Alto", 1, 71, notes=[Note(p, i * 960, 960, 80, 1) for i, p in enumerate(alto)]),
        Track("Bass", 2, 70, notes=[Note(p, i * 960, 960, 85, 2) for i, p in enumerate(bass)])])


@pytest.fixture(scope="module")
def poly_library():
    from engine.models import ModelLibrary

    library = ModelLibrary([MODELS])
    assert POLY in library.names, library.problems
    return library


@pytest.fixture
def doc(qtbot):
    from gui.document import SongDocument

    document = SongDocument(three_parts())
    yield document
    document.undo_stack.clear()


@pytest.fixture
def panel(job_panel, doc, poly_library):
    return job_panel(doc, poly_library)


def test_a_polyphonic_fill_keeps_every_part_in_one_undo_step(qtbot, panel, doc):
    start, end = 2 * TPB, 3 * TPB  # bar 3
    panel.select_model(POLY)
    panel.variations_spin.setValue(2)
    panel.use_time_range(lambda: (start, end))
    before = dict(doc.notes())
    inside = {i for i, n in before.items() if start <= n.start_tick < end}
    assert {doc.track_of(i) for i in inside} == {0, 1, 2}

    with qtbot.waitSignal(panel.variations_ready, timeout=180000) as ready:
        assert panel.fill(), panel.messages.text()
    assert ready.args == [2]
    qtbot.waitUntil(lambda: panel.job is None)
    result = panel.result
    assert result.model == POLY and result.track_of is not None
    for notes in result.variations:
        assert notes and all(start <= n.start_tick and n.end_tick <= end for n in notes)
    audition = panel.variation_song(0)
    assert len(audition.tracks) >= 2, "every part is auditioned"
    assert any(n.start_tick >= end for t in audition.tracks for n in t.notes)

    panel.variations.set_current_index(1)
    depth = doc.undo_stack.count()
    ids = panel.keep_variation()
    assert doc.undo_stack.count() == depth + 1
    assert doc.undo_stack.undoText() == "Fill"
    after = doc.notes()
    assert all(after[i] == n for i, n in before.items() if i not in inside), \
        "notes outside the gap are untouched"
    assert not inside & set(after)
    chosen = sorted(zip(result.track_of[1], result.variations[1]),
                    key=lambda p: (p[0], Note.sort_key(p[1])))
    assert sorted(((doc.track_of(i), after[i]) for i in ids),
                  key=lambda p: (p[0], Note.sort_key(p[1]))) == chosen

    doc.undo_stack.undo()
    assert doc.notes() == before

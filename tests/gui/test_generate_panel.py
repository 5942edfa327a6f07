"""The generate panel with real models through the real worker thread.

The shipped models in models/ are used when they are there; otherwise the tiny random
models that the real export code writes (tests/conftest.py) stand in, so the wiring is
tested either way.
"""

from __future__ import annotations

import pytest

from engine.song import Note
from gui.document import GENERATED, SEED
from tests.gui.conftest import ARCHITECTURES


def model_named(library, architecture: str) -> str:
    for m in library.models:
        if m.architecture == architecture:
            return m.name
    pytest.fail(f"no {architecture} model in {library.folders}: {library.problems}")


@pytest.fixture
def panel(qtbot, doc, library, isolated_settings):
    from gui.panels.generate import GeneratePanel

    widget = GeneratePanel(doc, library)
    qtbot.addWidget(widget)
    yield widget
    if widget.job is not None:
        widget.cancel()
        qtbot.waitSignal(widget.generation_finished, timeout=30000)


def run_generation(qtbot, panel, timeout=120000):
    with qtbot.waitSignal(panel.generation_finished, timeout=timeout):
        assert panel.generate()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_generate_with_each_model_then_keep_one_undoable_step(qtbot, panel, doc, library,
                                                               architecture):
    panel.select_model(model_named(library, architecture))
    panel.bars.setValue(2)
    panel.variations_spin.setValue(3)
    seed_end = doc.end_tick
    seed_ids = set(doc.notes())

    with qtbot.waitSignal(panel.variations_ready, timeout=120000) as ready:
        assert panel.generate()
    assert ready.args == [3]
    qtbot.waitUntil(lambda: panel.job is None)
    assert panel.variations.count() == 3
    assert panel.result.model == model_named(library, architecture)
    two_bars = 2 * doc.song().ticks_per_bar_at(0)
    for i in range(3):
        notes = panel.variation_notes(i)
        assert all(seed_end <= n.start_tick < seed_end + two_bars for n in notes)

    panel.variations.set_current_index(1)
    chosen = panel.variation_notes(1)
    assert chosen, "a variation of two bars from a real model has notes"
    ids = panel.keep_variation()
    assert sorted((doc.note(i) for i in ids), key=Note.sort_key) == sorted(chosen,
                                                                             key=Note.sort_key)
    assert all(doc.origin(i) == GENERATED for i in ids)
    assert all(doc.origin(i) == SEED for i in seed_ids)
    assert doc.undo_stack.undoText() == "Keep variation"
    doc.undo_stack.undo()
    assert set(doc.notes()) == seed_ids
    doc.undo_stack.redo()
    assert len(doc.notes()) == len(seed_ids) + len(chosen)


def test_same_settings_and_seed_give_the_same_variations(qtbot, panel, library):
    panel.select_model(model_named(library, "lstm"))
    panel.bars.setValue(1)
    panel.variations_spin.setValue(2)
    panel.temperature.setValue(120)
    panel.rng_seed.setValue(77)
    run_generation(qtbot, panel)
    first = [panel.variation_notes(i) for i in range(2)]
    run_generation(qtbot, panel)
    assert [panel.variation_notes(i) for i in range(2)] == first


def test_regenerate_keeps_settings_and_rolls_a_new_seed(qtbot, panel, library):
    panel.select_model(model_named(library, "wavenet"))
    panel.bars.setValue(1)
    panel.variations_spin.setValue(2)
    panel.temperature.setValue(80)
    panel.rng_seed.setValue(5)
    with qtbot.waitSignal(panel.generation_finished, timeout=120000):
        assert panel.regenerate()
    assert panel.rng_seed.value() != 5  # one chance in 2**31 of rolling 5 again
    s = panel.settings()
    assert (s.model, s.bars, s.variations, s.temperature) == (
        model_named(library, "wavenet"), 1, 2, 0.8)
    assert panel.variations.count() == 2


def test_cancel_stops_a_long_generation(qtbot, panel, library):
    panel.select_model(model_named(library, "lstm"))
    panel.bars.setValue(32)
    panel.variations_spin.setValue(8)
    with qtbot.waitSignal(panel.generation_finished, timeout=60000):
        assert panel.generate()
        assert not panel.generate(), "a second run cannot start while one runs"
        panel.cancel()
    assert panel.result is None
    assert panel.variations.count() == 0
    assert "cancelled" in panel.messages.text()
    assert panel.generate_button.isEnabled()


def test_selection_is_the_seed_and_the_variation_follows_it(qtbot, panel, doc, library):
    panel.select_model(model_named(library, "lstm"))
    panel.bars.setValue(1)
    panel.variations_spin.setValue(1)
    first_two = sorted(doc.notes().items(), key=lambda kv: kv[1].start_tick)[:2]
    doc.set_selection([i for i, _ in first_two])
    selection_end = max(n.end_tick for _, n in first_two)
    run_generation(qtbot, panel)
    notes = panel.variation_notes(0)
    assert panel.result.start_tick == selection_end
    assert min(n.start_tick for n in notes) >= selection_end


def test_a_selection_seed_ends_with_the_selection_not_the_files_final_rest(qtbot, panel,
                                                                          doc, library):
    song = doc.song()
    song.length_ticks = 8 * 1920  # the file ends four bars of rest after its last note
    doc.load_song(song)
    panel.select_model(model_named(library, "lstm"))
    panel.bars.setValue(1)
    panel.variations_spin.setValue(1)
    first_two = sorted(doc.notes().items(), key=lambda kv: kv[1].start_tick)[:2]
    doc.set_selection([i for i, _ in first_two])
    run_generation(qtbot, panel)
    assert panel.result.start_tick == max(n.end_tick for _, n in first_two)
    doc.set_selection([])
    run_generation(qtbot, panel)  # the whole song: it ends where the file says
    assert panel.result.start_tick == 8 * 1920


def test_empty_document_says_what_to_do(qtbot, panel, doc):
    doc.delete_notes(list(doc.notes()))
    assert not panel.generate()
    assert "seed" in panel.messages.text().lower()
    assert panel.job is None


def test_key_lock_names_no_key_before_it_is_known_and_a_chosen_key_is_used(qtbot, panel,
                                                                           doc, library):
    assert panel.key_combo.itemText(0) == "Auto"  # the model has not heard the seed yet
    panel.set_key_mode("off")
    assert panel.settings().key is None
    panel.set_key_mode("Am")
    assert panel.settings().key == "Am"
    panel.set_key_mode("auto")
    assert panel.settings().key == "auto"


def test_models_are_listed_from_their_cards_with_bits_per_note(panel, library):
    from gui.panels.drums import is_drum_info

    labels = [panel.model_combo.itemText(i) for i in range(panel.model_combo.count())]
    models = [m for m in library.models if not is_drum_info(m)]  # drums: Add Drums'
    assert [panel.model_combo.itemData(i) for i in range(panel.model_combo.count())] == \
        [m.name for m in models]
    for info, label in zip(models, labels):
        assert label.startswith(info.name)
        if info.bits_per_note is not None:
            assert f"{info.bits_per_note:.2f} bits/note" in label
    # a user who has chosen no model starts with the duet, not the first listed (the
    # chorale Transformer sorts first); the panel describes the model it shows
    assert panel.model_combo.currentData() == "duet"
    assert panel.model_info.text().startswith(library.info("duet").description)


def test_settings_are_remembered(qtbot, doc, library, isolated_settings):
    from gui.panels.generate import GeneratePanel

    first = GeneratePanel(doc, library)
    qtbot.addWidget(first)
    first.select_model(model_named(library, "wavenet"))
    first.temperature.setValue(135)
    first.bars.setValue(12)
    first.variations_spin.setValue(6)
    first.rng_seed.setValue(4242)
    first.set_key_mode("Dm")
    first.save_settings()
    second = GeneratePanel(doc, library)
    qtbot.addWidget(second)
    s = second.settings()
    assert (s.model, s.temperature, s.bars, s.variations, s.rng_seed, s.key) == (
        model_named(library, "wavenet"), 1.35, 12, 6, 4242, "Dm")


def test_helper_process_and_pool_thread_give_the_same_variations(qtbot, panel, library):
    import os

    from engine.generation.service import shared_service

    panel.select_model(model_named(library, "wavenet"))
    panel.bars.setValue(2)
    panel.variations_spin.setValue(2)
    panel.rng_seed.setValue(31337)
    pids: list[int | None] = []
    panel.variations_ready.connect(lambda _count: pids.append(panel.job.pid))
    panel.use_helper_process = True
    run_generation(qtbot, panel)
    service = shared_service()
    assert service is not None and service.alive()
    from_helper = [panel.variation_notes(i) for i in range(2)]
    panel.use_helper_process = False
    run_generation(qtbot, panel)
    assert [panel.variation_notes(i) for i in range(2)] == from_helper
    assert pids == [service.pid, os.getpid()]


def test_the_auto_key_shown_is_the_one_generate_locks_for_that_seed(qtbot, panel, doc,
                                                                     library):
    """The panel names the key the generator locks (found with the model itself), for
    the seed and the model it locked it for; before, or once either changes, "Auto"."""
    from engine.encodings import Key

    panel.select_model(model_named(library, "lstm"))
    panel.set_key_mode("auto")
    panel.bars.setValue(1)
    panel.variations_spin.setValue(1)
    doc.add_notes([Note(p, 4000 + 240 * i, 240) for i, p in enumerate([66, 69, 73, 74, 78])])
    assert panel.key_combo.itemText(0) == "Auto"
    run_generation(qtbot, panel)
    locked = panel.result.key_lock
    assert locked and panel.key_combo.itemText(0) in (f"Auto (locked: {locked})",
                                                      "Auto (unsure: no lock)")
    assert f"Key lock: {locked} (" in panel.messages.text()
    if locked != "none":
        assert panel.detected_key() == Key.parse(locked)
    run_generation(qtbot, panel)  # the same seed and model: the same key, still shown
    assert panel.result.key_lock == locked and "Auto (" in panel.key_combo.itemText(0)
    late = [i for i, n in doc.notes().items() if n.start_tick >= 4000]
    doc.set_selection(late)  # another seed: not known yet
    assert panel.key_combo.itemText(0) == "Auto" and panel.detected_key() is None
    doc.set_selection([])
    assert panel.key_combo.itemText(0) != "Auto"  # the seed it was found for, again
    panel.select_model(model_named(library, "wavenet"))  # another model: not known yet
    assert panel.key_combo.itemText(0) == "Auto"
    panel.select_model(model_named(library, "lstm"))
    shown = panel.key_combo.itemText(0)
    assert shown != "Auto"
    drawn = doc.add_notes([Note(61, 9600, 240)], text="Draw note")  # the seed grows
    assert panel.key_combo.itemText(0) == "Auto"
    doc.undo_stack.undo()  # back to the seed the key was found for
    assert doc.notes().keys().isdisjoint(drawn) and panel.key_combo.itemText(0) == shown
    doc.set_key(Key.parse("Eb"))
    assert panel.key_combo.itemText(0) == "Auto (song's key: Eb)"
    assert panel.settings().key == "Eb" and panel.detected_key() == Key.parse("Eb")


def test_motif_memory_is_on_by_default_reaches_the_settings_and_is_remembered(
        qtbot, doc, library, isolated_settings):
    from gui.panels.generate import GeneratePanel

    first = GeneratePanel(doc, library)
    qtbot.addWidget(first)
    assert first.memory_check.isChecked() and first.settings().memory is True
    first.memory_check.setChecked(False)
    assert first.settings().memory is False
    first.save_settings()
    second = GeneratePanel(doc, library)
    qtbot.addWidget(second)
    assert not second.memory_check.isChecked()
    assert second.settings().memory is False


def test_auto_key_lock_says_which_key_it_locked_and_why(qtbot, panel, doc, library):
    panel.set_key_mode("auto")
    run_generation(qtbot, panel)
    assert panel.result is not None
    label = panel.key_combo.itemText(0)
    assert label in (f"Auto (locked: {panel.result.key_lock})", "Auto (unsure: no lock)")
    assert "Key lock: " in panel.messages.text()
    from PySide6.QtCore import Qt

    assert panel.key_combo.itemData(0, Qt.ItemDataRole.ToolTipRole).startswith("Key lock: ")


def test_every_parts_seed_from_a_selection_drops_the_files_final_rest(qtbot, panel, doc):
    from gui.panels.parts import seed_song

    song = doc.song()
    song.length_ticks = 8 * 1920
    doc.load_song(song)
    assert seed_song(panel.doc).length_ticks == 8 * 1920  # the whole song ends there
    doc.set_selection(list(doc.notes())[:2])
    assert seed_song(panel.doc).length_ticks is None  # the selection ends where it does


@pytest.mark.slow
def test_a_helper_that_does_not_stop_is_killed_and_the_next_generate_works(
        qtbot, doc, library, job_panel):
    """The helper process stopped dead (SIGSTOP: as stuck as a loop that never checks for
    cancellation): Cancel kills it a second later, the panel says so and is usable, and
    the next Generate runs in a new helper process."""
    import os
    import signal

    from engine.generation.service import shared_service

    panel = job_panel(doc, library)
    panel.select_model(model_named(library, "lstm"))
    panel.bars.setValue(32)
    panel.variations_spin.setValue(8)
    service = shared_service()
    stuck = service.pid
    try:
        with qtbot.waitSignal(panel.generation_finished, timeout=60000):
            assert panel.generate()
            os.kill(stuck, signal.SIGSTOP)
            panel.cancel()
        assert "did not stop within a second" in panel.messages.text()
        assert panel.generate_button.isEnabled() and panel.result is None
        panel.bars.setValue(1)
        panel.variations_spin.setValue(1)
        with qtbot.waitSignal(panel.generation_finished, timeout=120000):
            assert panel.generate()
        assert panel.result is not None and panel.result.variations
        assert shared_service().pid != stuck
    finally:
        try:
            os.kill(stuck, signal.SIGCONT)
        except ProcessLookupError:
            pass

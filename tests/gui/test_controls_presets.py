"""Steering in the Generate panel (issue 26): the Controls section, presets, and
Regenerate Part.

Real offscreen Qt, the real panel and the real generation service (a spy on the
service's ``run`` calls the real one), as in test_settings_checked.
"""

from __future__ import annotations

import json

import pytest

from engine.encodings import CONTINUE
from engine.generation.request import CONTROLS, REGENERATE
from engine.song import Note, Song, Track


@pytest.fixture
def presets_dir(tmp_path, monkeypatch):
    folder = tmp_path / "presets"
    monkeypatch.setenv("CONTINUO_PRESETS_DIR", str(folder))
    return folder


@pytest.fixture
def panel(job_panel, doc, library, presets_dir):
    return job_panel(doc, library)


def melody_model(panel) -> str:
    return "lstm" if "lstm" in panel.library.names else panel.library.names[0]


# ---- controls ---------------------------------------------------------------------------
def test_the_controls_are_five_positions_labelled_by_their_ends_neutral_by_default(panel):
    box = panel.controls
    assert list(box.sliders) == [name for name, *_ in CONTROLS]
    for name, _, low, high in CONTROLS:
        slider = box.sliders[name]
        assert (slider.minimum(), slider.maximum(), slider.value()) == (-2, 2, 0)
        assert low in slider.toolTip() and high in slider.toolTip()
    assert panel.settings().controls() == {}  # every control at 0: nothing changes
    assert not box.is_expanded() and box.body.isHidden()
    box.header.click()
    assert box.is_expanded() and not box.body.isHidden()
    box.header.click()
    assert not box.is_expanded()


def test_the_controls_reach_the_request_and_the_service(qtbot, panel, monkeypatch):
    from engine.generation.service import GenerationService

    sent = []  # the request of every job that reached the helper process
    real_run = GenerationService.run

    def spy(self, folders, seed, settings, *args, **kwargs):
        sent.append(kwargs.get("request"))
        return real_run(self, folders, seed, settings, *args, **kwargs)

    monkeypatch.setattr(GenerationService, "run", spy)
    panel.select_model(melody_model(panel))
    panel.bars.setValue(1)
    panel.variations_spin.setValue(1)
    wanted = {"density": 2, "leaps": -1, "repeat": 0, "register": 1, "syncopation": -2,
              "dynamics": -1}
    panel.controls.sliders["density"].setValue(2)
    panel.controls.set_values(wanted)
    request = panel.checked_request(CONTINUE, track=0)
    assert {name: getattr(request.settings, name) for name in wanted} == wanted
    with qtbot.waitSignal(panel.generation_finished, timeout=120000):
        assert panel.generate()
    assert len(sent) == 1 and sent[0] is not None
    assert {name: getattr(sent[0].settings, name) for name in wanted} == wanted
    assert panel.result is not None, panel.messages.text()


def test_the_controls_are_remembered_for_the_next_session(job_panel, doc, library,
                                                          presets_dir):
    first = job_panel(doc, library)
    first.controls.set_values({"leaps": -2, "dynamics": 1})
    first.controls.set_expanded(True)
    first.save_settings()
    second = job_panel(doc, library)
    assert second.controls.values()["leaps"] == -2
    assert second.controls.values()["dynamics"] == 1
    assert second.controls.is_expanded()


def test_a_control_out_of_range_is_refused_with_a_sentence(panel):
    with pytest.raises(ValueError, match="there is no control 'wobble'"):
        panel.controls.set_values({"wobble": 1})
    with pytest.raises(ValueError, match="from -2 to 2"):
        panel.controls.set_values({"density": 3})


# ---- presets ----------------------------------------------------------------------------
def test_three_presets_ship_and_each_shows_the_controls(panel):
    from engine.resources import presets_dir
    from gui.panels.presets import read_preset

    shipped = sorted(presets_dir().glob("*.json"))
    assert len(shipped) == 3
    assert {"sparse ballad", "busy reel", "smooth chorale"} <= set(panel.presets.names())
    for path in shipped:
        preset = read_preset(path, shipped=True)
        assert any(preset.settings["controls"].values()), path.name
    assert panel.presets.problems.isHidden()


def test_a_preset_saves_recalls_and_deletes(panel, presets_dir):
    panel.temperature.setValue(70)
    panel.bars.setValue(6)
    panel.variations_spin.setValue(2)
    panel.memory_check.setChecked(False)
    panel.controls.set_values({"density": -2, "syncopation": 1})
    assert panel.presets.save("My Sparse One")
    saved = json.loads((presets_dir / "my-sparse-one.json").read_text())
    assert saved["format"] == "continuo-preset" and saved["name"] == "My Sparse One"
    assert saved["settings"]["controls"]["density"] == -2
    assert not list(presets_dir.glob(".*.tmp"))  # written atomically, nothing left over

    # a shipped preset moves every control; recalling the saved one brings them back
    assert panel.presets.recall("busy reel")
    assert panel.controls.values()["density"] == 2
    assert panel.presets.recall("my sparse one")  # names match whatever their case
    assert panel.controls.values() == {"density": -2, "leaps": 0, "repeat": 0,
                                       "register": 0, "syncopation": 1, "dynamics": 0}
    assert (panel.temperature.value(), panel.bars.value(), panel.variations_spin.value(),
            panel.memory_check.isChecked()) == (70, 6, 2, False)
    assert panel.messages.text() == "Preset 'My Sparse One' recalled."
    settings = panel.settings()
    assert (settings.density, settings.syncopation, settings.temperature) == (-2, 1, 0.7)

    # a shipped preset cannot be deleted; the user's can
    assert not panel.presets.delete("busy reel")
    assert "comes with Continuo" in panel.messages.text()
    assert panel.presets.delete("My Sparse One")
    assert "My Sparse One" not in panel.presets.names()
    assert not (presets_dir / "my-sparse-one.json").exists()
    assert not panel.presets.recall("My Sparse One")
    assert panel.messages.text() == "There is no preset 'My Sparse One'."


def test_the_preset_list_recalls_what_is_chosen(qtbot, panel):
    combo = panel.presets.combo
    i = combo.findData("smooth chorale")
    assert i > 0
    combo.setCurrentIndex(i)
    combo.activated.emit(i)
    assert panel.controls.values()["leaps"] == -2
    assert not panel.presets.delete_button.isEnabled()  # a shipped one


def test_bad_presets_say_what_is_wrong_and_the_panel_still_opens(job_panel, doc, library,
                                                                 presets_dir):
    presets_dir.mkdir(parents=True)
    (presets_dir / "broken.json").write_text('{"format": "continuo-preset", "version": 1,')
    (presets_dir / "wobbly.json").write_text(json.dumps(
        {"format": "continuo-preset", "version": 1, "name": "wobbly",
         "settings": {"controls": {"wobble": 1}}}))
    (presets_dir / "hot.json").write_text(json.dumps(
        {"format": "continuo-preset", "version": 1, "name": "hot",
         "settings": {"temperature": 9}}))
    (presets_dir / "good.json").write_text(json.dumps(
        {"format": "continuo-preset", "version": 1, "name": "good",
         "settings": {"controls": {"register": 2}}}))
    panel = job_panel(doc, library)  # opens
    said = panel.presets.problems.text()
    assert not panel.presets.problems.isHidden()
    assert "The preset broken.json is not valid JSON (line 1" in said
    assert "The preset wobbly.json ('wobbly') cannot be used: there is no control " \
           "'wobble'; there are density, leaps, repeat, register, syncopation, dynamics." \
        in said
    assert "The preset hot.json ('hot') cannot be used: the temperature must be" in said
    assert "wobbly" not in panel.presets.names() and "good" in panel.presets.names()
    assert panel.presets.recall("good") and panel.controls.values()["register"] == 2
    assert panel.generate_button.isEnabled()


def test_a_preset_with_a_model_not_installed_keeps_the_model(job_panel, doc, library,
                                                              presets_dir):
    presets_dir.mkdir(parents=True)
    (presets_dir / "elsewhere.json").write_text(json.dumps(
        {"format": "continuo-preset", "version": 1, "name": "elsewhere",
         "settings": {"model": "no-such-model", "bars": 3}}))
    panel = job_panel(doc, library)
    before = panel.model_combo.currentData()
    assert panel.presets.recall("elsewhere")
    assert panel.model_combo.currentData() == before and panel.bars.value() == 3
    assert "'no-such-model' is not installed" in panel.messages.text()


# ---- Regenerate Part --------------------------------------------------------------------
def two_part_song() -> Song:
    """A melody over a bass, four bars of 4/4 at 480 ppq."""
    melody = [Note(p, i * 480, 480) for i, p in enumerate(
        [72, 74, 76, 77, 79, 77, 76, 74, 72, 74, 76, 72, 71, 72, 74, 72])]
    bass = [Note(p, i * 960, 960) for i, p in enumerate([48, 53, 55, 48, 45, 50, 43, 48])]
    return Song(ppq=480, tracks=[Track(name="Melody", notes=melody),
                                            Track(name="Bass", notes=bass)])


def test_regenerate_part_is_in_the_generate_menu_with_ctrl_alt_g(qtbot, library,
                                                                  isolated_settings,
                                                                  presets_dir):
    from gui.main_window import MainWindow

    window = MainWindow(library=library, playback=False)
    qtbot.addWidget(window, before_close_func=lambda w: w.doc.undo_stack.setClean())
    action = window.generate_part
    assert action.shortcut().toString() == "Ctrl+Alt+G"
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Generate")
    assert action in menu.actions()
    assert action.isEnabled()


@pytest.mark.parametrize("track, bars", [(1, (1, 3)), (0, None)],
                         ids=["the bass over bars 2-3", "the whole melody"])
def test_regenerate_part_keeps_every_other_track_note_for_note(qtbot, job_panel, library,
                                                               presets_dir, track, bars):
    from gui.document import SongDocument
    from gui.panels.parts import default_polyphonic

    if default_polyphonic(library) is None:
        pytest.skip("no part model is installed")
    doc = SongDocument(two_part_song())
    panel = job_panel(doc, library)
    panel.select_model(melody_model(panel))  # a melody model: the part model is used
    panel.variations_spin.setValue(2)
    doc.active_track = track
    bar = 4 * 480
    start, end = (bars[0] * bar, bars[1] * bar) if bars else (0, 10**9)
    panel.use_time_range(lambda: (start, end) if bars else None)  # the ruler's range
    submitted = []
    panel.submitted.connect(submitted.append)
    with qtbot.waitSignal(panel.generation_finished, timeout=180000):
        assert panel.regenerate_part()
    request = submitted[0].request
    assert (request.job, request.track, request.settings.model) == \
        (REGENERATE, track, default_polyphonic(library))
    assert request.gap == ((start, end) if bars else None)
    assert panel.result is not None, panel.messages.text()
    assert panel.variations.count() == 2
    before = doc.song()
    undo_steps = doc.undo_stack.count()
    ids = panel.keep_variation(0)
    assert ids and doc.undo_stack.count() == undo_steps + 1  # one undo step
    after = doc.song()
    other = 1 - track
    assert after.tracks[other].notes == before.tracks[other].notes  # note for note
    outside = [n for n in after.tracks[track].notes if not start <= n.start_tick < end]
    assert outside == [n for n in before.tracks[track].notes
                       if not start <= n.start_tick < end]
    assert all(doc.track_of(i) == track for i in ids)
    doc.undo_stack.undo()
    assert doc.song().tracks[track].notes == before.tracks[track].notes


def test_a_part_model_says_it_takes_the_controls_at_0_and_reset_brings_them_there(
        qtbot, panel):
    from gui.panels.parts import default_polyphonic

    poly = default_polyphonic(panel.library)
    if poly is None:
        pytest.skip("no part model is installed")
    panel.controls.set_expanded(True)
    panel.select_model(melody_model(panel))
    assert panel.controls.note.isHidden()
    panel.select_model(poly)
    assert "takes every control (Regenerate Part all but Repeat)" in \
        panel.controls.note.text()
    assert not panel.controls.note.isHidden()
    panel.controls.set_values({"density": 1})
    panel.bars.setValue(1)
    panel.variations_spin.setValue(1)
    with qtbot.waitSignal(panel.generation_finished, timeout=120000):
        assert panel.generate()
    assert panel.result is not None, panel.messages.text()  # the part model took it
    panel.controls.reset_button.click()
    assert panel.settings().controls() == {}


def test_each_track_of_a_part_model_takes_its_own_controls_through_the_service(
        qtbot, job_panel, library, presets_dir, monkeypatch):
    from engine.generation.service import GenerationService
    from gui.document import SongDocument
    from gui.panels.parts import default_polyphonic

    poly = default_polyphonic(library)
    if poly is None:
        pytest.skip("no part model is installed")
    sent = []
    real_run = GenerationService.run

    def spy(self, folders, seed, settings, *args, **kwargs):
        sent.append(kwargs.get("request"))
        return real_run(self, folders, seed, settings, *args, **kwargs)

    monkeypatch.setattr(GenerationService, "run", spy)
    doc = SongDocument(two_part_song())
    panel = job_panel(doc, library)
    box = panel.controls
    box.set_expanded(True)
    panel.select_model(melody_model(panel))
    assert box.part_combo.isHidden() and box.part_values() == ()
    panel.select_model(poly)
    assert not box.part_combo.isHidden()
    assert [box.part_combo.itemText(i) for i in range(box.part_combo.count())] == \
        ["Every part", "Track 1: Melody", "Track 2: Bass"]
    box.sliders["density"].setValue(1)  # every part busier
    box.part_combo.setCurrentIndex(2)  # the bass: sparser, and louder
    assert box.sliders["density"].value() == 1  # shows every part's until it has its own
    assert not box.sliders["repeat"].isEnabled()  # the memory is every part's
    box.sliders["density"].setValue(-2)
    box.sliders["dynamics"].setValue(2)
    assert box.part_combo.itemText(2) == "Track 2: Bass (own)"
    box.part_combo.setCurrentIndex(0)
    assert box.sliders["density"].value() == 1 and box.sliders["dynamics"].value() == 0
    assert box.values()["density"] == 1
    assert box.part_values() == ((1, "density", -2), (1, "dynamics", 2))
    assert panel.settings().part_controls == ((1, "density", -2), (1, "dynamics", 2))
    panel.bars.setValue(1)
    panel.variations_spin.setValue(1)
    with qtbot.waitSignal(panel.generation_finished, timeout=180000):
        assert panel.generate()
    assert panel.result is not None, panel.messages.text()
    assert sent[-1].settings.part_controls == ((1, "density", -2), (1, "dynamics", 2))
    # a melody model hides the picker and sends no track's own positions
    panel.select_model(melody_model(panel))
    assert box.part_values() == () and panel.settings().part_controls == ()
    panel.select_model(poly)
    box.reset_button.click()
    assert box.part_values() == () and box.values() == dict.fromkeys(box.sliders, 0)
    assert box.part_combo.itemText(2) == "Track 2: Bass"

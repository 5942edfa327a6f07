"""Polyphony in the composer (issue 12): the model list, the default pick for a song of
several voices, Generate with a polyphonic model (every part continued, auditioned and
kept in one undo step), Harmonise (the melody untouched, the voices as new tracks) and
the drums left alone.

Real Qt event loop (offscreen), the real worker and helper process, real onnxruntime.
The generating tests use the shipped polyphonic models (models/poly-lstm.json) and are
skipped until they are shipped; CONTINUO_TEST_POLY_MODELS may name another folder of
polyphonic models to run them against during development.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.song import DRUM_CHANNEL, Note, Song, Track, melody_song
from gui.document import GENERATED, SEED
from tests.gui.test_app import make_window

REPO = Path(__file__).resolve().parents[2]
from engine.generation.parts_song import POLYPHONIC_DEFAULTS

DEFAULT_POLY = POLYPHONIC_DEFAULTS[0]  # what a song of several voices gets
MODELS = REPO / "models"
DEV_FOLDER = os.environ.get("CONTINUO_TEST_POLY_MODELS", "")
TIMEOUT_MS = 180_000


@pytest.fixture(scope="session")
def poly_library():
    """The shipped models with the polyphonic ones among them, or a skip."""
    from engine.models import ModelLibrary

    if not (MODELS / "poly-lstm.json").exists() and not DEV_FOLDER:
        pytest.skip("the polyphonic models (models/poly-lstm.json, poly-wavenet.json) are "
                    "not shipped yet")
    library = ModelLibrary(([DEV_FOLDER] if DEV_FOLDER else []) + [str(MODELS)])
    if "poly-lstm" not in library.names:
        pytest.skip(f"poly-lstm does not load: {library.problems}")
    return library


@pytest.fixture
def melody_only_library(tmp_path):
    """A models folder with the shipped melody LSTM alone: no polyphonic model."""
    from engine.models import ModelLibrary

    folder = tmp_path / "models"
    folder.mkdir()
    files = sorted(MODELS.glob("lstm.*"))
    if not (MODELS / "lstm.json").exists():
        pytest.skip("the melody LSTM is not shipped")
    for f in files:
        shutil.copy(f, folder / f.name)
    library = ModelLibrary([str(folder)])
    assert library.names == ["lstm"], library.problems
    return library


def pressed(action, panel):
    """A menu action as something that starts a job: True when it did."""
    return lambda: (action.trigger(), panel.job is not None)[1]


def run(qtbot, panel, start) -> None:
    with qtbot.waitSignal(panel.generation_finished, timeout=TIMEOUT_MS):
        assert start(), panel.messages.text()
    assert panel.result is not None, panel.messages.text()


def track_notes(song: Song) -> list[list[Note]]:
    return [sorted(t.notes, key=Note.sort_key) for t in song.tracks]


def settings_of(song: Song) -> list[tuple]:
    return [(t.name, t.channel, t.program, t.is_drum) for t in song.tracks]


# ---- without models ---------------------------------------------------------------------
def test_the_default_seed_is_a_melody_and_a_bass_line_beneath_it():
    from engine.formats import load_song
    from engine.generation.polyphony import seed_voices
    from gui.startup import DEFAULT_SEED

    song = load_song(DEFAULT_SEED)
    melody, bass = song.tracks
    assert (melody.name, bass.name) == ("Melody", "Bass")
    assert melody.channel != bass.channel and not bass.is_drum
    assert 32 <= bass.program <= 43  # a bass or a low string (GM 33-44, from 1)
    assert max(n.pitch for n in bass.notes) < min(n.pitch for n in melody.notes)
    assert seed_voices(song) == 2
    assert song.end_tick <= 4 * song.ticks_per_bar_at(0)  # still a four-bar phrase


def test_keeping_parts_and_new_tracks_is_one_undo_step_and_undo_restores_exactly(qtbot):
    from gui.document import SongDocument

    song = melody_song([Note(72, 0, 480), Note(74, 480, 480)])
    song.tracks.append(Track(name="Bass", channel=1, program=32, notes=[Note(48, 0, 960, 80, 1)]))
    doc = SongDocument(song)
    doc.active_track = 1
    before, depth = doc.song(), doc.undo_stack.count()
    changed = []
    doc.tracks_changed.connect(lambda: changed.append(True))
    ids = doc.add_parts({0: [Note(76, 960, 480)], 1: [Note(43, 960, 960, 80, 1)],
                         2: [Note(67, 0, 960, 70, 2)]},
                        [Track(name="Alto", channel=2)], text="Keep harmonisation")
    assert doc.undo_stack.count() == depth + 1 and len(ids) == 3
    assert doc.undo_stack.undoText() == "Keep harmonisation"
    after = doc.song()
    assert [t.name for t in after.tracks] == ["Melody", "Bass", "Alto"]
    assert [len(t.notes) for t in after.tracks] == [3, 2, 1]
    assert all(doc.origin(i) == GENERATED for i in ids) and doc.selection == set(ids)
    doc.active_track = 2
    doc.undo_stack.undo()
    assert track_notes(doc.song()) == track_notes(before)
    assert settings_of(doc.song()) == settings_of(before)
    assert doc.active_track == 1 and changed  # the strip follows
    doc.undo_stack.redo()
    assert track_notes(doc.song()) == track_notes(after) and len(doc.tracks) == 3


def test_the_service_protocol_carries_a_polyphonic_request():
    from engine.generation.generator import GenerationSettings
    from engine.generation.service import Generate, decode, encode

    request = Generate(7, ["models"], melody_song([Note(60, 0, 480)]),
                       GenerationSettings(model="poly-lstm"), polyphonic=True,
                       harmonise_track=0)
    back = decode(encode(request))
    assert (back.polyphonic, back.harmonise_track, back.settings.model) == (True, 0, "poly-lstm")
    assert decode(encode(Generate(8, [], None, GenerationSettings()))).polyphonic is False


def test_harmonise_without_a_polyphonic_model_says_so(qtbot, melody_only_library,
                                                      isolated_settings):
    window = make_window(qtbot, melody_only_library)
    panel = window.panel
    assert panel.model_combo.currentData() == "lstm"  # nothing polyphonic to pick
    before = window.doc.song()
    window.generate_harmonise.trigger()
    assert panel.job is None
    assert "polyphonic model" in panel.messages.text()
    assert "polyphonic model" in window.statusBar().currentMessage()
    assert track_notes(window.doc.song()) == track_notes(before)
    assert window.generate_harmonise.shortcut().toString() == "Ctrl+Shift+H"
    window.show_help()  # the Help panel lists the new key with the others
    assert "ctrl+shift+h" in window.help_panel.text().lower()
    assert "harmonise melody" in window.help_panel.text().lower()
    window.help_panel.close()


# ---- with the polyphonic models ------------------------------------------------------------
def test_a_song_of_several_voices_gets_a_polyphonic_model_until_one_is_picked(
        qtbot, poly_library, isolated_settings):
    from PySide6.QtCore import QSettings

    QSettings().setValue("generate/model", "lstm")  # the user's melody model, remembered
    window = make_window(qtbot, poly_library)  # the default seed: melody and bass
    panel = window.panel
    combo = panel.model_combo
    labels = {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}
    assert "(all parts)" in labels["poly-lstm"] and "(all parts)" not in labels["lstm"]
    assert combo.currentData() == DEFAULT_POLY and panel.is_polyphonic()
    assert "every part" in panel.seed_label.text()

    # a one-line song gets the user's model back ...
    window.doc.load_song(melody_song([Note(60, 0, 480), Note(64, 480, 480)]))
    assert combo.currentData() == "lstm" and not panel.is_polyphonic()
    # ... a song of several voices the polyphonic one again, until the user picks one
    window.open_default_seed()
    assert combo.currentData() == DEFAULT_POLY
    panel.select_model("lstm")
    panel._apply_default_model()  # what Generate does first
    assert combo.currentData() == "lstm"
    panel.save_settings()
    assert QSettings().value("generate/model") == "lstm"


def test_generate_continues_both_parts_and_keep_is_one_undo_step(qtbot, poly_library,
                                                                 isolated_settings):
    window = make_window(qtbot, poly_library)
    doc, panel = window.doc, window.panel
    assert panel.model_combo.currentData() == DEFAULT_POLY  # the first Generate's model
    panel.bars.setValue(2)
    panel.variations_spin.setValue(2)
    panel.rng_seed.setValue(7)
    before, depth = doc.song(), doc.undo_stack.count()
    run(qtbot, panel, pressed(window.generate_run, panel))
    result = panel.result
    assert result.model == DEFAULT_POLY and panel.variations.count() == 2
    assert result.start_tick >= before.end_tick - before.ppq // 4
    assert "parts" in panel.variations.list.item(0).text()
    assert "Continued 2 parts together." in panel.messages.text()
    index = max(range(2), key=lambda i: len(set(result.track_of[i])))
    assert set(result.track_of[index]) == {0, 1}, "both parts are continued"

    # the audition plays every part: the seed's last bar and the new notes, both tracks
    played = []
    window.transport.play_song = lambda song, start=0, end=None, loop=False: played.append(
        (song, start))
    panel.variations.set_current_index(index)
    panel.variations.play_button.click()
    (song, start), = played
    assert {t.name for t in song.tracks} == {"Melody", "Bass"}
    assert set(panel.variation_notes(index)) <= set(song.notes())
    assert start < result.start_tick
    # dragged out, the clip keeps the parts apart
    clip, _ = window.clip_for_drag()
    assert {t.name for t in clip.tracks} == {"Melody", "Bass"}
    assert sum(len(t.notes) for t in clip.tracks) == len(result.variations[index])
    assert min(n.start_tick for n in clip.notes()) == 0

    kept = panel.keep_variation(index)
    assert doc.undo_stack.count() == depth + 1
    assert window.edit_undo.text().replace("&", "") == "Undo Keep variation"
    after = doc.song()
    assert settings_of(after) == settings_of(before)  # no new track for a continuation
    for t in (0, 1):
        new = [n for n in after.tracks[t].notes if n not in before.tracks[t].notes]
        assert len(new) == result.track_of[index].count(t) > 0
        assert all(n.channel == before.tracks[t].channel for n in new)
    assert len(kept) == len(result.variations[index])
    assert all(doc.origin(i) == GENERATED for i in kept)
    window.edit_undo.trigger()
    assert track_notes(doc.song()) == track_notes(before)
    assert settings_of(doc.song()) == settings_of(before)
    assert all(doc.origin(i) == SEED for i in doc.notes())


def test_harmonise_keeps_the_melody_and_adds_the_voices_as_new_tracks(qtbot, poly_library,
                                                                      isolated_settings):
    window = make_window(qtbot, poly_library)
    doc, panel = window.doc, window.panel
    panel.select_model("lstm")  # a melody model chosen: Harmonise takes the default
    panel.variations_spin.setValue(2)
    before, depth = doc.song(), doc.undo_stack.count()
    run(qtbot, panel, pressed(window.generate_harmonise, panel))
    result = panel.result
    assert result.model == DEFAULT_POLY and result.new_tracks
    assert panel.model_combo.currentData() == "lstm"  # the user's choice stays
    index = max(range(2), key=lambda i: len(result.variations[i]))
    assert result.variations[index]
    # the audition: the melody and its voices
    song = panel.variation_song(index)
    assert song.tracks[0].notes == before.tracks[0].notes

    panel.keep_variation(index)
    assert doc.undo_stack.count() == depth + 1
    assert window.edit_undo.text().replace("&", "") == "Undo Keep harmonisation"
    after = doc.song()
    assert track_notes(after)[:2] == track_notes(before)  # melody and bass untouched
    assert settings_of(after)[:2] == settings_of(before)
    voices = after.tracks[2:]
    assert voices and all(t.notes for t in voices)
    assert sum(len(t.notes) for t in voices) == len(result.variations[index])
    names = [t.name for t in after.tracks]
    assert len(set(names)) == len(names)
    # the song's bass is the harmonisation's bass: no second one beside it
    assert "Bass" in names and not any("harmony" in n for n in names)
    assert len(voices) <= 2
    channels = [t.channel for t in after.tracks]
    assert len(set(channels)) == len(channels) and DRUM_CHANNEL not in channels
    window.edit_undo.trigger()
    assert track_notes(doc.song()) == track_notes(before)
    assert settings_of(doc.song()) == settings_of(before)

    # Regenerate harmonises again, with a new random seed
    seed = panel.rng_seed.value()
    run(qtbot, panel, panel.regenerate)
    assert panel.shown.harmonising and panel.result.new_tracks
    assert panel.rng_seed.value() != seed


def test_the_part_model_leaves_the_drums_to_the_drum_model_and_the_panel_says_so(
        qtbot, poly_library, isolated_settings):
    window = make_window(qtbot, poly_library)
    doc, panel = window.doc, window.panel
    song = doc.song()
    drums = [Note(36 if b % 2 == 0 else 38, b * 480, 120, 100, DRUM_CHANNEL) for b in range(16)]
    song.tracks.append(Track(name="Drums", channel=DRUM_CHANNEL, is_drum=True, notes=drums))
    doc.load_song(song)
    assert panel.model_combo.currentData() == DEFAULT_POLY
    panel.bars.setValue(1)
    panel.variations_spin.setValue(1)
    run(qtbot, panel, panel.generate)
    assert "drum track" in panel.messages.text()
    assert 2 not in panel.result.track_of[0]  # the part model writes no drums
    new = panel.result.drums[0] if panel.result.drum_track == 2 else []  # a drum model's
    panel.keep_variation(0)
    assert doc.song().tracks[2].notes == sorted(drums + new, key=Note.sort_key)
    assert all(n.start_tick >= panel.result.start_tick for n in new)


def test_harmonise_writes_the_bass_into_the_songs_bass_track_and_keep_is_one_step(
        qtbot, poly_library, isolated_settings):
    """The default seed's bass rests in bars 2 and 3: Harmonise writes the bass there into
    the song's own Bass track (its other notes untouched), adds Alto and Tenor as new
    tracks with channels of their own, and Keep is one undo step."""
    window = make_window(qtbot, poly_library)
    doc, panel = window.doc, window.panel
    song = doc.song()
    bar = song.ticks_per_bar_at(0)
    song.tracks[1].notes = [n for n in song.tracks[1].notes
                            if not bar <= n.start_tick < 3 * bar]
    doc.load_song(song)
    before, depth = doc.song(), doc.undo_stack.count()
    panel.variations_spin.setValue(1)
    run(qtbot, panel, pressed(window.generate_harmonise, panel))
    assert panel.result.new_tracks == ["Alto", "Tenor"]
    panel.keep_variation(0)
    assert doc.undo_stack.count() == depth + 1
    after = doc.song()
    assert [t.name for t in after.tracks] == ["Melody", "Bass", "Alto", "Tenor"]
    assert after.tracks[0].notes == before.tracks[0].notes
    bass = sorted(after.tracks[1].notes, key=Note.sort_key)
    new = [n for n in bass if n not in before.tracks[1].notes]
    assert new and all(bar <= n.start_tick < 3 * bar for n in new)
    assert all(n.channel == before.tracks[1].channel for n in new)
    assert all(a.end_tick <= b.start_tick for a, b in zip(bass, bass[1:]))  # one line
    channels = [t.channel for t in after.tracks]
    assert len(set(channels)) == 4 and DRUM_CHANNEL not in channels
    window.edit_undo.trigger()
    assert track_notes(doc.song()) == track_notes(before)

"""Issue 24, items 4-5: drums in the window.

A drum track is made from the Track menu or the track strip, renamed and muted, each one
undo step; its keyboard names the General MIDI percussion sounds; a note drawn on it is
a drum hit on channel 10, which plays through a real MIDI port and the built-in synth's
drum kit, and is saved and read back as a drum track.  Real widgets, real mouse and key
events, real ports (skipped where no JACK or ALSA runs) and a real FluidSynth.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QToolButton, QToolTip

import engine.live.synth as synth_module
from engine.encodings.drums import DrumEncoding
from engine.formats import midi_file_to_song
from engine.live.gm import PERCUSSION, percussion_name
from engine.models import ModelLibrary
from engine.song import DRUM_CHANNEL, Note, Song, Track
from gui.document import SongDocument
from gui.pianoroll import style
from gui.pianoroll.keyboard import DRUM_KEYBOARD_WIDTH, row_name
from gui.tracks import TrackStrip, new_track

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier
KICK, SNARE, CLOSED_HAT = 36, 38, 42


def two_part_song() -> Song:
    return Song(tracks=[Track("Melody", 0, 0, notes=[Note(72, 0, 480), Note(74, 480, 480)]),
                        Track("Bass", 1, 32, notes=[Note(48, 0, 960, 90, 1)])])


def row_centre(roll, pitch: int) -> int:
    geo = roll.geometry
    return round(geo.pitch_to_y(pitch) + geo.row_height / 2)


def button(parent, name: str) -> QToolButton:
    found = parent.findChild(QToolButton, name)
    assert found is not None, name
    return found


def test_the_percussion_map_names_notes_27_to_87():
    assert len(PERCUSSION) == 87 - 27 + 1
    assert [percussion_name(n) for n in (35, 36, 37, 38, 42, 46, 49, 51)] == [
        "Acoustic Bass Drum", "Bass Drum 1", "Side Stick", "Acoustic Snare", "Closed Hi-Hat",
        "Open Hi-Hat", "Crash Cymbal 1", "Ride Cymbal 1"]
    assert percussion_name(27) == "High Q" and percussion_name(87) == "Open Surdo"
    assert percussion_name(26) is None and percussion_name(88) is None
    with pytest.raises(ValueError, match="128"):
        percussion_name(128)
    assert row_name(38, drums=True) == "Acoustic Snare" and row_name(38, drums=False) == "D2"
    assert row_name(60, drums=False) == "C4"
    assert row_name(20, drums=True) == "G#0 (no GM drum)"


@pytest.fixture
def window(qtbot, library, isolated_settings):
    from tests.gui.test_app import make_window

    w = make_window(qtbot, library)
    w.doc.load_song(two_part_song())
    return w


def test_a_drum_track_is_made_from_the_strip_and_its_keyboard_names_the_drums(qtbot, window):
    doc, roll = window.doc, window.roll
    assert not roll.keyboard.drums and roll.keyboard.width() == style.KEYBOARD_WIDTH
    qtbot.mouseClick(button(window.track_strip, "track_new_drums_button"), LEFT)
    assert len(doc.tracks) == 3 and doc.active_track == 2
    drums = doc.tracks[2]
    assert drums.is_drum and drums.channel == DRUM_CHANNEL and drums.name == "Drums"
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "New drum track"
    assert window.track_strip.track_box.currentText() == "3: Drums"
    chooser = window.track_strip.instrument
    assert not chooser.isEnabled() and chooser.currentIndex() == -1  # a kit, no instrument
    assert chooser.placeholderText() == "Drum kit (channel 10)"
    kb = roll.keyboard
    assert kb.drums and kb.width() == DRUM_KEYBOARD_WIDTH

    # the row under the pointer is named by its tooltip, at any zoom
    at = QPoint(20, row_centre(roll, SNARE))
    QApplication.sendEvent(kb, QHelpEvent(QEvent.Type.ToolTip, at, kb.mapToGlobal(at)))
    assert QToolTip.text() == "Acoustic Snare"
    # a named row paints its name: the drum keyboard differs from the piano keyboard
    drum_picture = kb.grab().toImage()

    # a click on the snare's row draws a hit on channel 10
    qtbot.mouseClick(roll.grid, LEFT, NONE,
                     QPoint(round(roll.geometry.tick_to_x(960)) + 2, row_centre(roll, SNARE)))
    hits = [n for i, n in doc.notes().items() if doc.track_of(i) == 2]
    assert [(n.pitch, n.start_tick, n.channel) for n in hits] == [(SNARE, 960, DRUM_CHANNEL)]
    assert doc.undo_stack.count() == 2

    doc.undo_stack.undo()
    doc.undo_stack.undo()  # the track goes, and the keyboard is a piano again
    assert len(doc.tracks) == 2 and doc.active_track == 1
    assert not kb.drums and kb.width() == style.KEYBOARD_WIDTH
    assert kb.grab().toImage() != drum_picture
    assert chooser.isEnabled() and chooser.program() == 32  # the bass's instrument again
    doc.undo_stack.redo()
    assert doc.tracks[2].is_drum


def test_the_track_menu_makes_tracks_and_mutes_one_undo_step_each(qtbot, window):
    doc = window.doc
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "T&rack")
    assert [a.objectName() for a in menu.actions()] == ["track_new", "track_new_drums",
                                                        "track_mute"]
    window.track_actions.new_track.trigger()
    assert doc.tracks[2] == Track("Track 3", 2, 0)  # the first channel no track uses
    window.track_actions.new_drum_track.trigger()
    window.track_actions.new_drum_track.trigger()
    assert [t.name for t in doc.tracks[3:]] == ["Drums", "Drums 2"]
    assert doc.undo_stack.count() == 3

    mute = button(window.track_strip, "track_mute_button")
    doc.active_track = 1
    qtbot.mouseClick(mute, LEFT)
    assert doc.muted_tracks == {1} and mute.isChecked()
    assert window.track_actions.mute.isChecked()
    assert doc.undo_stack.undoText() == "Mute track"
    assert window.track_strip.track_box.itemText(1) == "2: Bass (muted)"
    assert [len(t.notes) for t in doc.audible_song().tracks][:2] == [2, 0]
    assert [len(t.notes) for t in doc.song().tracks][:2] == [2, 1]  # Save keeps it
    doc.active_track = 0
    assert not mute.isChecked()  # the button follows the active track
    doc.undo_stack.undo()
    assert doc.muted_tracks == frozenset()
    doc.undo_stack.redo()
    assert doc.muted_tracks == {1}
    doc.active_track = 1
    qtbot.mouseClick(mute, LEFT)
    assert doc.muted_tracks == frozenset() and doc.undo_stack.undoText() == "Unmute track"


def test_a_drum_track_is_renamed_in_one_undo_step_and_saved_as_drums(qtbot, tmp_path):
    doc = SongDocument(two_part_song())
    strip = TrackStrip(doc)
    qtbot.addWidget(strip)
    strip.show()
    new_track(doc, drums=True)
    doc.add_notes([Note(KICK, 0, 60, 110, DRUM_CHANNEL), Note(SNARE, 480, 60, 100, DRUM_CHANNEL)])
    edit = strip.name_edit
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "Kit")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert doc.tracks[2].name == "Kit" and doc.undo_stack.undoText() == "Rename track"
    assert doc.undo_stack.count() == 3
    assert doc.tracks[2].is_drum  # renaming keeps it a drum track

    from gui import files

    path = tmp_path / "drums.mid"
    files.write_song(doc.song(), str(path))
    back = midi_file_to_song(path)
    kit = next(t for t in back.tracks if t.is_drum)
    assert kit.name == "Kit"
    assert [(n.pitch, n.start_tick, n.channel) for n in kit.sorted_notes()] == [
        (KICK, 0, DRUM_CHANNEL), (SNARE, 480, DRUM_CHANNEL)]


@pytest.mark.skipif(not (synth_module.fluidsynth_available() and synth_module.find_soundfont()),
                    reason="no FluidSynth or no General MIDI soundfont")
def test_the_built_in_synth_plays_a_drum_track_on_its_drum_kit():
    """The snare on channel 10 is the kit's snare, not the piano's D2 on channel 1: the
    same note renders to other samples, and a muted drum track renders to silence."""
    doc = SongDocument(Song(tracks=[Track("Melody", 0, 0)]))
    new_track(doc, drums=True)
    doc.add_notes([Note(SNARE, 0, 120, 110, DRUM_CHANNEL)])
    drums, engine = synth_module.render_song(doc.audible_song(), tail_s=0.5, engine="fluidsynth")
    assert engine.startswith("fluidsynth")
    piano_song = Song(tracks=[Track("Piano", 0, 0, notes=[Note(SNARE, 0, 120, 110, 0)])])
    piano, _ = synth_module.render_song(piano_song, tail_s=0.5, engine="fluidsynth")
    assert np.abs(drums).max() > 0.01 and np.abs(piano).max() > 0.01
    frames = min(len(drums), len(piano))
    assert not np.allclose(drums[:frames], piano[:frames], atol=1e-3)
    doc.set_track_muted(1, True)
    muted, _ = synth_module.render_song(doc.audible_song(), tail_s=0.5, engine="fluidsynth")
    assert np.abs(muted).max() < 1e-4


def play_until_done(qtbot, transport, bridge, sink) -> None:
    """Play the song and wait until a note has come and the song has ended: on a loaded
    machine the player may not say it is playing yet when play() returns. The player
    stops on its own thread before its report of the end reaches the transport, so wait for
    the playhead to reach the end too: a Play before that starts where the last ~30 Hz
    playhead update left it, past the notes (a CI run heard nothing from the second Play)."""
    transport.play()
    qtbot.waitUntil(lambda: any(m.type == "note_on" and m.velocity for _, m in sink.received),
                    timeout=8000)
    qtbot.waitUntil(lambda: not bridge.is_playing(), timeout=8000)
    qtbot.waitUntil(lambda: transport.position() >= transport.song_end(), timeout=8000)


@pytest.mark.ports
def test_play_sends_the_drum_track_on_channel_10_and_leaves_a_muted_track_out(
        qtbot, bridge, sink):
    from gui.transport import Transport

    doc = SongDocument(two_part_song())
    new_track(doc, drums=True)
    doc.add_notes([Note(KICK, 0, 60, 110, DRUM_CHANNEL), Note(CLOSED_HAT, 240, 60, 80,
                                                              DRUM_CHANNEL)])
    doc.set_tempo(480)
    transport = Transport(doc, bridge)
    assert bridge.set_output(sink.name)
    play_until_done(qtbot, transport, bridge, sink)
    ons = [(m.channel, m.note) for m in sink.settle(0.2) if m.type == "note_on" and m.velocity]
    assert (DRUM_CHANNEL, KICK) in ons and (DRUM_CHANNEL, CLOSED_HAT) in ons
    assert (1, 48) in ons and (0, 72) in ons
    assert not any(m.type == "program_change" and m.channel == DRUM_CHANNEL
                   for m in sink.settle(0.1))  # the kit is the channel's, not a program

    sink.received.clear()
    doc.set_track_muted(2, True)
    doc.set_track_muted(0, True)
    play_until_done(qtbot, transport, bridge, sink)
    ons = [(m.channel, m.note) for m in sink.settle(0.2) if m.type == "note_on" and m.velocity]
    assert ons == [(1, 48)]  # only the bass sounds


@pytest.mark.ports
def test_a_drum_keyboard_key_previews_on_channel_10(qtbot, library, isolated_settings,
                                                     bridge, sink):
    from gui.main_window import MainWindow

    window = MainWindow(library=library, player=bridge)
    qtbot.addWidget(window, before_close_func=lambda w: w.doc.undo_stack.setClean())
    window.show()
    window.doc.load_song(two_part_song())
    assert bridge.set_output(sink.name)
    window.track_actions.new_drum_track.trigger()
    sink.settle(0.2)
    sink.received.clear()
    kb = window.roll.keyboard  # a new drum track scrolls its kit into view
    qtbot.mousePress(kb, LEFT, NONE, QPoint(20, row_centre(window.roll, SNARE)))
    qtbot.mouseRelease(kb, LEFT, NONE, QPoint(20, row_centre(window.roll, SNARE)))
    msgs = sink.wait_for(1, timeout=5)
    assert ("note_on", DRUM_CHANNEL, SNARE) in [(m.type, m.channel, m.note) for m in msgs
                                                if m.type == "note_on"]


# ---- Generate > Add Drums ----------------------------------------------------------------
TIMEOUT_MS = 180_000
CTRL_ALT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier


def has_drum_model(library) -> bool:
    return any(isinstance(getattr(library.info(n), "encoding", None), DrumEncoding)
               for n in library.names)


needs_drum_model = pytest.mark.skipif(not has_drum_model(ModelLibrary()),
                                      reason="no drum model (a drums-12th card) in models/")


def open_add_drums(qtbot, window):
    """Ctrl+Alt+D, as a user presses it: the Add Drums dialog, shown."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)  # a shortcut needs the window active
    qtbot.keyClick(window, Qt.Key.Key_D, CTRL_ALT)
    dialog = window.drums.dialog
    assert dialog is not None and dialog.isVisible(), window.panel.messages.text()
    return dialog


def test_ctrl_alt_d_opens_add_drums_with_auto_first_and_the_styles(qtbot, window):
    from engine.encodings.drums import STYLES
    from gui.panels.drums import style_choices

    assert window.generate_add_drums.shortcut().toString() == "Ctrl+Alt+D"
    generate_menu = next(a.menu() for a in window.menuBar().actions()
                         if a.text() == "&Generate")
    assert window.generate_add_drums in generate_menu.actions()
    dialog = open_add_drums(qtbot, window)
    styles = [dialog.style_box.itemText(i) for i in range(dialog.style_box.count())]
    assert styles == style_choices() and styles[0] == "auto"
    assert "rock" in styles and "swing" in styles and "waltz" in styles
    assert set(styles[1:]) == set(STYLES) - {"other"}
    assert dialog.variations.value() == window.panel.settings().variations
    dialog.reject()  # Cancel: nothing happens
    assert window.panel.job is None and window.doc.undo_stack.count() == 0
    from gui.help import help_html

    assert "Ctrl+Alt+D" in help_html(window.actions())  # F1 lists it


def test_add_drums_refuses_an_empty_song_and_drums_alone_with_a_sentence(qtbot, window):
    from gui.panels.drums import NO_MUSIC, ONLY_DRUMS

    doc, panel = window.doc, window.panel
    doc.load_song(Song(tracks=[Track("Melody")]))
    window.generate_add_drums.trigger()
    assert panel.messages.text() == NO_MUSIC and panel.job is None
    drums_only = Song(tracks=[Track("Drums", DRUM_CHANNEL, 0, True,
                                    [Note(KICK, 0, 60, 100, DRUM_CHANNEL)])])
    doc.load_song(drums_only)
    window.drums.dialog = None
    window.generate_add_drums.trigger()
    assert panel.messages.text() == ONLY_DRUMS and panel.job is None
    assert window.drums.dialog is None  # no dialog for a job that cannot run
    assert doc.undo_stack.count() == 0 and len(doc.song().tracks[0].notes) == 1


def test_add_drums_without_a_drum_model_says_so(qtbot, tmp_path, isolated_settings):
    from gui.panels.drums import NO_DRUM_MODEL
    from tests.gui.test_app import make_window

    window = make_window(qtbot, ModelLibrary([tmp_path]))  # no model at all
    window.generate_add_drums.trigger()
    assert window.panel.messages.text() == NO_DRUM_MODEL
    assert window.drums.dialog is None and window.panel.job is None


@needs_drum_model
def test_add_drums_writes_variations_to_audition_and_keep_is_one_undo_step(
        qtbot, library, isolated_settings):
    from tests.gui.test_app import make_window

    window = make_window(qtbot, library)  # the default seed: melody and bass
    doc, panel = window.doc, window.panel
    combo = panel.model_combo  # a drum model is Add Drums', not one to continue with
    listed = [combo.itemData(i) for i in range(combo.count())]
    drum_models = [n for n in library.names
                   if isinstance(library.info(n).encoding, DrumEncoding)]
    assert drum_models and listed and not set(drum_models) & set(listed)
    before = doc.song()
    dialog = open_add_drums(qtbot, window)
    dialog.style_box.setCurrentIndex(dialog.style_box.findData("rock"))
    dialog.variations.setValue(2)
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    with qtbot.waitSignal(panel.generation_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(ok, LEFT)
        assert panel.job is not None, panel.messages.text()
    assert panel.result is not None, panel.messages.text()
    assert panel.variations.count() == 2
    assert panel.messages.text().startswith("2 drum tracks (rock).\n")  # no key
    hits = panel.variation_notes(0)
    assert hits and all(n.channel == DRUM_CHANNEL for n in hits)
    assert doc.undo_stack.count() == 0  # nothing is in the song before Keep

    heard = panel.variation_song(0)  # Play: the whole song with these drums
    assert [t.is_drum for t in heard.tracks] == [False, False, True]
    assert sorted(heard.tracks[2].notes, key=Note.sort_key) == sorted(hits, key=Note.sort_key)

    window.generate_keep.trigger()
    after = doc.song()
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Add drums"
    assert len(after.tracks) == 3 and after.tracks[:2] == before.tracks
    drums = after.tracks[2]
    assert drums.is_drum and drums.channel == DRUM_CHANNEL and drums.name == "Drums"
    assert sorted(drums.notes, key=Note.sort_key) == sorted(hits, key=Note.sort_key)
    assert doc.active_track == 2 and window.roll.keyboard.drums
    window.edit_undo.trigger()
    assert doc.song().tracks == before.tracks


@needs_drum_model
def test_a_style_that_does_not_exist_is_a_sentence_and_the_song_stays(qtbot, library,
                                                                      isolated_settings):
    from tests.gui.test_app import make_window

    window = make_window(qtbot, library)
    doc, panel = window.doc, window.panel
    before = doc.song()
    with qtbot.waitSignal(panel.generation_finished, timeout=TIMEOUT_MS):
        assert window.drums.start("polka-dots", 1)
    text = panel.messages.text()
    assert "polka-dots" in text and "rock" in text and "Traceback" not in text
    assert panel.result is None and panel.variations.count() == 0
    assert doc.song().tracks == before.tracks and doc.undo_stack.count() == 0


def groove(bars: int = 2) -> list[Note]:
    """Kick on 1 and 3, snare on 2 and 4, closed hi-hat on every eighth, at 480 ppq."""
    notes = []
    for bar in range(bars):
        b = bar * 1920
        notes += [Note(CLOSED_HAT, b + e * 240, 60, 80, DRUM_CHANNEL) for e in range(8)]
        notes += [Note(KICK, b, 60, 110, DRUM_CHANNEL), Note(KICK, b + 960, 60, 110, DRUM_CHANNEL),
                  Note(SNARE, b + 480, 60, 100, DRUM_CHANNEL),
                  Note(SNARE, b + 1440, 60, 100, DRUM_CHANNEL)]
    return notes


def generate_one_bar(qtbot, panel, model: str):
    """Generate one bar, one variation, with ``model`` in the Generate panel: its result
    (the panel's messages say why where there is none)."""
    panel.select_model(model)
    panel.bars.setValue(1)
    panel.variations_spin.setValue(1)
    with qtbot.waitSignal(panel.generation_finished, timeout=TIMEOUT_MS):
        assert panel.generate(), panel.messages.text()
    assert panel.result is not None, panel.messages.text()
    return panel.result


@needs_drum_model
@pytest.mark.parametrize("model", ["lstm", "poly-lstm"])
def test_generate_continues_the_drum_track_and_keep_takes_it_in_the_same_step(
        qtbot, library, isolated_settings, model):
    """A melody model's continuation and a part model's alike: the drum track goes on
    beside the new notes, Play hears it, and Keep adds both in one undo step."""
    from tests.gui.test_app import make_window

    if model not in library.names:
        pytest.skip(f"{model} is not installed")
    window = make_window(qtbot, library)
    doc, panel = window.doc, window.panel
    melody = [Note(p, i * 480, 480, 90) for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62])]
    doc.load_song(Song(tracks=[Track("Melody", 0, 0, notes=melody),
                               Track("Drums", DRUM_CHANNEL, 0, True, groove(2))]))
    before = doc.song()
    result = generate_one_bar(qtbot, panel, model)
    assert result.drum_track == 1 and result.drums and result.drums[0], panel.messages.text()
    new_drums = result.drums[0]
    assert all(n.channel == DRUM_CHANNEL and n.start_tick >= result.start_tick
               for n in new_drums)
    heard = panel.variation_song(0)
    assert any(t.is_drum and set(new_drums) <= set(t.notes) for t in heard.tracks)

    window.generate_keep.trigger()
    after = doc.song()
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Keep variation"
    assert len(after.tracks) == 2
    assert sorted(after.tracks[1].notes, key=Note.sort_key) == sorted(
        before.tracks[1].notes + new_drums, key=Note.sort_key)
    assert len(after.tracks[0].notes) > len(melody)
    window.edit_undo.trigger()
    assert doc.song().tracks == before.tracks


@needs_drum_model
def test_fill_on_a_drum_track_writes_drums_in_the_gap_in_one_undo_step(
        qtbot, library, isolated_settings):
    """Fill with the drum track active and a bar chosen in the ruler: the drum model
    writes the gap (whatever model the panel shows), the drums around it stay."""
    from tests.gui.test_app import make_window

    window = make_window(qtbot, library)
    doc, panel = window.doc, window.panel
    melody = [Note(p, i * 480, 480, 90) for i, p in enumerate([60, 62, 64, 65] * 4)]
    doc.load_song(Song(tracks=[Track("Melody", 0, 0, notes=melody),
                               Track("Drums", DRUM_CHANNEL, 0, True, groove(4))]))
    before = doc.song()
    doc.active_track = 1
    window.roll.set_time_range(1920, 3840)  # bar 2
    panel.variations_spin.setValue(1)
    with qtbot.waitSignal(panel.generation_finished, timeout=TIMEOUT_MS):
        assert panel.fill(), panel.messages.text()
    assert panel.result is not None, panel.messages.text()
    new = panel.variation_notes(0)
    assert new and all(n.channel == DRUM_CHANNEL and 1920 <= n.start_tick < 3840 for n in new)
    window.generate_keep.trigger()
    assert doc.undo_stack.count() == 1
    after = doc.song()
    assert after.tracks[0].notes == before.tracks[0].notes
    outside = [n for n in before.tracks[1].notes if not 1920 <= n.start_tick < 3840]
    assert sorted(after.tracks[1].notes, key=Note.sort_key) == sorted(outside + new,
                                                                     key=Note.sort_key)
    window.edit_undo.trigger()
    assert doc.song().tracks == before.tracks

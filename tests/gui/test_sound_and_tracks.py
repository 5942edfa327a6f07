"""Issue 15, points 4 and 6: a lasting sound status (what plays, or why nothing can and
what to do), port lists that follow ports coming and going, and a per-track instrument
and name, each one undo step, that playback sends and Save writes.

The port tests use real JACK or ALSA ports and are skipped where no MIDI system runs.
"""

from __future__ import annotations

import sys

import mido
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QToolBar

import engine.live.synth as synth_module
from engine.formats import midi_file_to_song
from engine.song import Note, Song, Track
from gui.document import SongDocument
from gui.playback import BUILTIN_SYNTH, NO_INPUT, PlayerBridge
from gui.midi_widgets import InputChooser, OutputChooser, SoundStatusLabel
from gui.tracks import TrackStrip
from gui.transport import Transport
from tests.engine.test_ports import Sink, find, midi_system, unique  # noqa: F401 - fixture

FOREIGN_DRIVERS = {"linux": ("coreaudio", "wasapi", "dsound"),
                   "darwin": ("alsa", "pulseaudio", "wasapi", "dsound"),
                   "win32": ("alsa", "pulseaudio", "coreaudio")}


def song_with(program: int = 0, name: str = "Seed") -> Song:
    return Song(tracks=[Track(name, 0, program, notes=[Note(60, 0, 240), Note(64, 240, 240)])])


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "continuo.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def silent_bridge(qtbot, monkeypatch):
    """A bridge whose built-in synth finds no audio device, on a machine with no MIDI
    system running (a JACK server nobody started)."""
    monkeypatch.setattr(synth_module, "AUDIO_DRIVERS", ("no-such-driver",))
    monkeypatch.setenv("JACK_DEFAULT_SERVER", unique("nobody"))
    monkeypatch.setenv("CONTINUO_MIDI_API", "jack")
    b = PlayerBridge()
    yield b
    b.close()


def test_the_sound_status_says_why_nothing_sounds_and_what_to_do(qtbot, silent_bridge):
    b = silent_bridge
    status = b.sound_status()
    assert not status.audible
    assert status.summary.startswith("No sound: ")
    assert b._synth.silence in status.summary and "Export Audio" in status.summary
    if synth_module.fluidsynth_available() and synth_module.find_soundfont():
        assert "no audio device" in status.summary
        assert "no-such-driver" in status.detail  # what was tried
        if sys.platform.startswith("linux"):
            assert "PipeWire" in status.summary and "JACK" in status.summary
    text = (status.summary + status.detail).lower()
    for driver in FOREIGN_DRIVERS.get(sys.platform, ()):
        assert driver not in text  # only this platform's drivers are named
    assert "not running" in status.detail  # and no MIDI port to play into either

    label = SoundStatusLabel(b)
    qtbot.addWidget(label)
    assert label.text() == status.summary and label.toolTip() == status.detail

    doc = SongDocument(song_with())
    transport = Transport(doc, b)
    assert status.summary in transport.play_action.toolTip()  # beside Play, too
    with qtbot.waitSignal(transport.message, timeout=2000) as said:
        transport.play()  # Play does not look normal while nothing can be heard
    assert "nothing can be heard" in said.args[0] and status.summary in said.args[0]
    transport.stop()


def test_a_track_is_renamed_in_one_undo_step(qtbot):
    doc = SongDocument(song_with(name="Seed"))
    strip = TrackStrip(doc)
    qtbot.addWidget(strip)
    strip.show()
    edit = strip.name_edit
    assert edit.text() == "Seed"
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "Fiddle tune")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert doc.tracks[0].name == "Fiddle tune" and doc.song().tracks[0].name == "Fiddle tune"
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Rename track"
    assert len(doc) == 2  # the notes stay where they are
    doc.undo_stack.undo()
    assert doc.tracks[0].name == "Seed" and edit.text() == "Seed"
    assert strip.track_box.currentText() == "1: Seed"
    doc.undo_stack.redo()
    assert doc.tracks[0].name == "Fiddle tune" and strip.track_box.currentText() == "1: Fiddle tune"
    doc.rename_track(0, "   ")  # an empty name is not a name
    assert doc.tracks[0].name == "Fiddle tune" and doc.undo_stack.count() == 1


def test_the_instrument_is_chosen_by_family_and_name_and_saved(qtbot, tmp_path):
    doc = SongDocument(song_with(program=0))
    strip = TrackStrip(doc)
    qtbot.addWidget(strip)
    chooser = strip.instrument
    headings = [chooser.itemText(i) for i in range(chooser.count())
                if chooser.itemData(i, Qt.ItemDataRole.UserRole) is None]
    assert len(headings) == 16 and headings[0] == "Piano" and "Strings" in headings
    assert chooser.count() == 16 + 128
    assert chooser.program() == 0 and "Acoustic Grand Piano" in chooser.currentText()
    i = chooser.index_of(40)
    assert chooser.itemText(i).strip() == "Violin"
    assert headings.index("Strings") < i < chooser.findText("Ensemble")
    chooser.setCurrentIndex(i)
    chooser.activated.emit(i)  # as a user picks it from the list
    assert doc.tracks[0].program == 40 and doc.undo_stack.undoText() == "Change instrument"
    assert doc.undo_stack.count() == 1

    from gui import files

    path = tmp_path / "violin.mid"
    files.write_song(doc.song(), str(path))
    back = midi_file_to_song(path)
    assert [t.program for t in back.tracks] == [40]
    assert {m.program for m in mido.MidiFile(path).tracks[1]
            if m.type == "program_change"} == {40}

    doc.undo_stack.undo()
    assert doc.tracks[0].program == 0 and chooser.program() == 0
    doc.undo_stack.redo()
    assert chooser.program() == 40


def test_the_window_has_the_track_strip_and_the_sound_status_by_the_output_list(
        qtbot, library, isolated_settings, tmp_path):
    from tests.gui.test_app import make_window

    window = make_window(qtbot, library, playback=True)
    assert window.doc.tracks[0].name == "Melody"  # the default seed is not "Seed" forever
    label = window.sound_status
    assert label.text() == window.transport.player.sound_status().summary
    bar = window.findChild(QToolBar, "midi_toolbar")
    widgets = [bar.widgetForAction(a) for a in bar.actions()]
    at = next(i for i, w in enumerate(widgets) if isinstance(w, OutputChooser))
    assert widgets[at + 1] is label  # right beside the Output list
    strip = window.track_strip
    i = strip.instrument.index_of(73)  # Flute
    strip.instrument.setCurrentIndex(i)
    strip.instrument.activated.emit(i)
    assert window.save_to(str(tmp_path / "flute.mid"))
    assert midi_file_to_song(tmp_path / "flute.mid").tracks[0].program == 73


# ---- with real ports (the bridge fixture: tests/gui/conftest.py) -------------------------
def items(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


@pytest.mark.ports
def test_the_port_lists_follow_ports_coming_and_going(qtbot, bridge, midi_system,  # noqa: F811
                                                      settings):
    outputs = OutputChooser(bridge, settings)
    inputs = InputChooser(bridge, settings)
    label = SoundStatusLabel(bridge)
    for w in (outputs, inputs, label):
        qtbot.addWidget(w)
    sink = Sink(midi_system)
    client = unique("Keys")
    keys = midi_system.open_virtual_output("keys", client_name=client)
    try:
        # the 2 s poll notices them; nobody opened the lists
        qtbot.waitUntil(lambda: sink.name in items(outputs), timeout=8000)
        qtbot.waitUntil(lambda: any(client in n for n in items(inputs)), timeout=8000)
        keys_name = find(items(inputs), client)
        assert outputs.choose(sink.name) and inputs.choose(keys_name)
        assert outputs.currentText() == sink.name
        assert label.text() == f"Sound: {sink.name}" and bridge.sound_status().audible
        with qtbot.waitSignal(bridge.message, timeout=8000) as said:
            sink.close()
        assert f"'{sink.name}' went away" in said.args[0]
        # back to the built-in synth, shown as such, and the port is no longer offered
        assert bridge.output_name() == BUILTIN_SYNTH and outputs.currentText() == BUILTIN_SYNTH
        assert sink.name not in items(outputs)
        assert label.text() == bridge.sound_status().summary
        keys.close()
        qtbot.waitUntil(lambda: inputs.currentText() == NO_INPUT, timeout=8000)
        assert keys_name not in items(inputs) and bridge.input_name() is None
    finally:
        sink.close()
        keys.close()


@pytest.mark.ports
def test_the_tracks_instrument_is_sent_at_play_start_and_when_changed(qtbot, bridge,
                                                                       midi_system):  # noqa: F811
    sink = Sink(midi_system)
    try:
        doc = SongDocument(song_with(program=40))
        transport = Transport(doc, bridge)
        assert bridge.set_output(sink.name)
        msgs = sink.wait_for(1, timeout=3)  # the new output hears the track's instrument
        assert ("program_change", 0, 40) in [(m.type, m.channel, getattr(m, "program", None))
                                             for m in msgs]
        transport.play()
        qtbot.waitUntil(lambda: not bridge.is_playing(), timeout=5000)
        got = sink.settle(0.2)
        first_on = next(i for i, m in enumerate(got) if m.type == "note_on")
        assert any(m.type == "program_change" and m.program == 40 for m in got[1:first_on])
        before = len(sink.received)
        doc.set_track_program(0, 73)
        msgs = sink.wait_for(before + 1, timeout=3)[before:]
        assert [(m.type, m.channel, m.program) for m in msgs] == [("program_change", 0, 73)]
    finally:
        sink.close()


def test_kept_notes_go_into_the_track_they_continue(qtbot, library, isolated_settings,
                                                     tmp_path):
    from gui import files
    from gui.document import GENERATED
    from tests.gui.test_app import generate, make_window

    melody = [Note(67 + (i % 3), i * 480, 480) for i in range(8)]
    bass = [Note(43 + (i % 2) * 7, i * 960, 960, channel=1) for i in range(4)]
    path = tmp_path / "two.mid"
    files.write_song(Song(tracks=[Track("Tune", 0, 73, notes=melody),
                                  Track("Bass", 1, 32, notes=bass)]), str(path))
    window = make_window(qtbot, library, path)
    strip = window.track_strip
    assert strip.track_box.isEnabled() and strip.track_box.count() == 2
    strip.track_box.setCurrentIndex(1)
    strip.track_box.activated.emit(1)  # the user picks the bass track
    assert window.doc.active_track == 1 and strip.instrument.program() == 32
    assert strip.name_edit.text() == "Bass"
    generate(qtbot, window, "lstm", library, bars=1, variations=1)
    ids = window.panel.keep_variation(0)
    assert ids
    doc = window.doc
    assert all(doc.track_of(i) == 1 and doc.origin(i) == GENERATED for i in ids)
    assert {doc.note(i).channel for i in ids} == {1}  # the bass's channel, so its instrument
    assert doc.song().tracks[0].notes == melody



def test_the_track_list_shows_each_tracks_colour_in_the_roll(qtbot):
    from engine.song import Song, Track
    from gui.pianoroll.style import track_colour

    doc = SongDocument(Song(tracks=[Track("Soprano"), Track("Alto", channel=1),
                                    Track("Tenor", channel=2)]))
    strip = TrackStrip(doc)
    qtbot.addWidget(strip)
    shown = [strip.track_box.itemIcon(i).pixmap(12, 12).toImage().pixelColor(6, 6).name()
             for i in range(3)]
    assert shown == [track_colour(i).name() for i in range(3)] and len(set(shown)) == 3

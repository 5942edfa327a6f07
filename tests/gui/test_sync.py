"""The transport's Sync control over the real bridge: remembered between sessions, sending
clock into a real port, and following a real port's clock (the tempo box shows "ext" and
the incoming tempo; the status says why playback stopped when the clock stopped).

The remembering test needs no MIDI system; the others are skipped without one.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from engine.live.clock import SYNC_FOLLOW, SYNC_INTERNAL, SYNC_SEND
from engine.song import Note
from gui.document import SongDocument
from gui.playback import PlayerBridge
from gui.transport import Transport
from tests.engine import test_ports
from tests.engine.test_clock_ports import Daw, wait_until
from tests.engine.test_ports import Sink

midi_system = test_ports.midi_system  # the fixture: the running MIDI system, or a skip


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "continuo.ini"), QSettings.Format.IniFormat)


def make(qtbot, settings, api=None, notes=None):
    doc = SongDocument()
    if notes:
        doc.add_notes(notes)
    bridge = PlayerBridge(api=api)
    transport = Transport(doc, bridge, settings=settings)
    transport.strip = transport.make_strip()  # kept: a toolbar would own it
    qtbot.addWidget(transport.strip)
    return doc, bridge, transport


def test_the_sync_choice_is_remembered_between_sessions(qtbot, settings):
    doc, bridge, transport = make(qtbot, settings)
    try:
        assert transport.sync_box.currentData() == SYNC_INTERNAL
        assert [transport.sync_box.itemText(i) for i in range(3)] == [
            "Internal", "Send clock", "Follow input"]
        transport.sync_box.activated.emit(transport.sync_box.findData(SYNC_SEND))
        assert bridge.sync() == SYNC_SEND
    finally:
        bridge.close()
    doc2, bridge2, transport2 = make(qtbot, settings)
    try:
        assert transport2.sync_box.currentData() == SYNC_SEND
        assert bridge2.sync() == SYNC_SEND
        transport2.set_sync(SYNC_FOLLOW)
        assert transport2.tempo.prefix() == "ext " and transport2.tempo.isReadOnly()
        messages = []
        transport2.message.connect(messages.append)
        transport2.play()  # following: the other program starts playback
        assert not bridge2.is_playing()
        assert messages and "start playback from the other program" in messages[0]
        transport2.set_sync(SYNC_INTERNAL)
        assert transport2.tempo.prefix() == "" and not transport2.tempo.isReadOnly()
    finally:
        bridge2.close()
    assert settings.value("midi/sync") == SYNC_INTERNAL


def test_send_clock_from_the_transport_into_a_real_port(qtbot, settings, midi_system):
    sink = Sink(midi_system)
    doc, bridge, transport = make(qtbot, settings, midi_system.api,
                                  [Note(60 + i, i * 240, 240) for i in range(4)])
    try:
        assert bridge.set_output(sink.name)
        transport.set_sync(SYNC_SEND)
        with qtbot.waitSignal(bridge.playing_changed, timeout=3000):
            transport.play()
        qtbot.waitUntil(lambda: not bridge.is_playing(), timeout=10000)
        assert wait_until(lambda: any(m.type == "stop" for _, m in sink.received))
        kinds = [m.type for _, m in sink.received
                 if m.type in ("start", "clock", "stop", "note_on")]
        assert kinds[0] == "start" and kinds[-1] == "stop"
        assert kinds.count("clock") == 4 * 12  # four eighths at 24 a quarter
    finally:
        bridge.close()
        sink.close()


def test_following_a_real_clock_shows_ext_tempo_and_why_it_stopped(qtbot, settings,
                                                                    midi_system):
    sink = Sink(midi_system)
    daw = Daw(midi_system)
    doc, bridge, transport = make(qtbot, settings, midi_system.api,
                                  [Note(50 + i, i * 480, 1900) for i in range(32)])
    messages: list[str] = []
    transport.message.connect(messages.append)
    try:
        assert bridge.set_output(sink.name)
        assert bridge.set_input(daw.input_name)
        transport.set_sync(SYNC_FOLLOW)
        qtbot.wait(300)
        daw.send("songpos", pos=8)  # while stopped: the playhead moves there
        qtbot.waitUntil(lambda: transport.position() == 8 * 120, timeout=10000)
        daw.send("start")
        daw.run(100)
        qtbot.waitUntil(bridge.is_playing, timeout=10000)
        qtbot.waitUntil(lambda: abs(transport.tempo.value() - 100) <= 1, timeout=10000)
        assert transport.tempo.text().startswith("ext ")
        assert doc.tempo_bpm == pytest.approx(120)  # the song's own tempo is kept
        qtbot.waitUntil(lambda: transport.position() > 0, timeout=10000)
        daw.halt()  # the clock stops arriving, with no Stop
        qtbot.waitUntil(lambda: not bridge.is_playing(), timeout=10000)
        qtbot.waitUntil(lambda: any("stopped arriving" in m for m in messages), timeout=5000)
        assert wait_until(lambda: any(m.type == "control_change" and m.control == 123
                                      for _, m in sink.received))
        got = sink.settle(0.3)
        on = Counter(m.note for m in got if m.type == "note_on" and m.velocity)
        off = Counter(m.note for m in got if m.type == "note_off")
        assert on and all(off[k] >= v for k, v in on.items())
    finally:
        bridge.close()
        daw.close()
        sink.close()


def test_recording_while_following_lands_notes_on_the_followed_clock(qtbot, settings,
                                                                      midi_system):
    daw = Daw(midi_system)  # one port carries the clock and the played notes, as a DAW's does
    doc, bridge, transport = make(qtbot, settings, midi_system.api, [Note(60, 0, 480)])
    doc.set_tempo(60)  # the song's own tempo: half the clock's
    takes: list[list] = []
    bridge.recording_finished.connect(takes.append)
    try:
        assert bridge.set_input(daw.input_name)
        transport.set_sync(SYNC_FOLLOW)
        assert bridge.record(doc.song(), 0, grid=0)
        assert not bridge.is_playing()  # armed: the other program starts it
        qtbot.wait(300)
        daw.send("start")
        daw.run(120)
        qtbot.waitUntil(bridge.is_playing, timeout=10000)
        qtbot.waitUntil(lambda: transport.position() >= 960, timeout=10000)
        daw.send("note_on", note=72, velocity=90)
        qtbot.wait(250)  # an eighth at 120 BPM
        daw.send("note_off", note=72)
        qtbot.wait(300)
        bridge.stop_recording()
        daw.send("stop")
        daw.halt()
    finally:
        bridge.close()
        daw.close()
    assert len(takes) == 1 and [n.pitch for n in takes[0]] == [72]
    note = takes[0][0]
    # on the followed clock (120 BPM) the note started at least two beats in; on the
    # song's own 60 BPM it would read half that
    assert note.start_tick >= 960 - 60
    assert 240 - 120 <= note.duration_ticks <= 240 + 360


class _Job(QObject):
    """A generation job that answers at once with fixed notes (no model needed)."""

    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, notes, start_tick):
        super().__init__()
        self.result = SimpleNamespace(variations=[notes], start_tick=start_tick)

    def start(self):
        QTimer.singleShot(0, lambda: (self.succeeded.emit(self.result), self.done.emit()))

    def cancel(self):
        pass


def test_call_and_response_answers_in_time_with_a_followed_clock(qtbot, settings,
                                                                  midi_system):
    sink = Sink(midi_system)
    daw = Daw(midi_system)  # the clock and the played phrase come in on one port
    doc, bridge, transport = make(qtbot, settings, midi_system.api,
                                  [Note(40, i * 480, 100) for i in range(64)])
    phrases = []

    def responder(phrase):
        phrases.append(phrase)
        return _Job([Note(84, 960, 200), Note(86, 1200, 200)], 960)

    try:
        assert bridge.set_output(sink.name) and bridge.set_input(daw.input_name)
        transport.set_sync(SYNC_FOLLOW)
        bridge.start_call_response(doc.song().tempo_map, 0, 0, responder, gap_s=0.3)
        qtbot.wait(300)
        daw.send("start")
        daw.run(120)
        qtbot.waitUntil(bridge.is_playing, timeout=10000)
        for pitch in (60, 62):
            daw.send("note_on", note=pitch, velocity=90)
            qtbot.wait(125)  # an eighth at the followed 120 BPM
            daw.send("note_off", note=pitch)
            qtbot.wait(125)
        qtbot.waitUntil(lambda: any(m.type == "note_on" and m.note == 86
                                    for _, m in sink.received), timeout=10000)
        assert bridge.player.is_following()  # the answer joined; the DAW still leads
        daw.send("stop")
        daw.halt()
    finally:
        bridge.close()
        daw.close()
        sink.close()
    # the phrase was read on the followed clock: two eighths, 240 ticks apart
    starts = [n.start_tick for n in phrases[0].notes()]
    assert len(starts) == 2 and abs(starts[1] - starts[0] - 240) <= 60

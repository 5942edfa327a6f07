"""Play Chords past the last note: a chord track written ahead of the melody (a lead
sheet, a chart to compose over) sounds to its end, the last chord as the lane draws it,
instead of playback stopping at the last note."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolBar

from engine.song import Chord, Note, Song, Track
from gui.document import SongDocument

LEFT, NONE = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
BAR = 1920  # 4/4 at 480 ppq
# a bar of melody under a chart of three bars: F and G7 come after the last note
MELODY = [Note(p, i * 480, 480) for i, p in enumerate((60, 64, 67, 72))]
CHORDS = [Chord(0, "C"), Chord(BAR, "F"), Chord(2 * BAR, "G7")]


def _doc() -> SongDocument:
    return SongDocument(Song(tracks=[Track("Melody", notes=list(MELODY))], chords=list(CHORDS)))


def _controls(qtbot, doc, player):
    """The transport and the Chords menu's controller over ``doc``, their Play and Play
    Chords on a shown toolbar, to click."""
    from gui.panels.chords import ChordsController
    from gui.transport import Transport

    controller = ChordsController(doc, player)
    transport = Transport(doc, player)
    bar = QToolBar()
    bar.addAction(transport.play_action)
    bar.addAction(controller.play_action)
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitExposed(bar)
    return transport, controller, bar


def test_the_last_chord_sounds_to_where_playing_ends():
    from gui.playback import chord_track_of

    song = Song(tracks=[Track("Melody", notes=list(MELODY))], chords=list(CHORDS))
    spans = sorted({(n.start_tick, n.end_tick) for n in chord_track_of(song, 3 * BAR).notes})
    assert spans == [(0, BAR), (BAR, 2 * BAR), (2 * BAR, 3 * BAR)]
    # without an end: the song's end, at least a beat (what a variation's audition gets)
    assert chord_track_of(song).notes[-1].end_tick == 2 * BAR + song.ppq
    # playing from the middle of a bar strikes the chord in force there
    spans = sorted({(n.start_tick, n.end_tick)
                    for n in chord_track_of(song, 3 * BAR, start_tick=BAR + 720).notes})
    assert spans == [(0, BAR), (BAR, BAR + 720), (BAR + 720, 2 * BAR), (2 * BAR, 3 * BAR)]


@pytest.mark.ports
def test_play_chords_plays_the_chords_past_the_last_note(qtbot, isolated_settings, bridge,
                                                         sink):
    doc = _doc()
    doc.set_tempo(480)
    transport, controller, bar = _controls(qtbot, doc, bridge)
    assert not bridge.play_chords and transport.song_end() == BAR  # the melody's end
    qtbot.mouseClick(bar.widgetForAction(controller.play_action), LEFT, NONE)
    assert bridge.play_chords
    # the lane's last chord lasts a bar: playing ends where it does, looping too
    assert transport.song_end() == doc.chord_end(2) == 3 * BAR
    assert transport.loop_range() == (0, 3 * BAR)
    assert bridge.set_output(sink.name)
    qtbot.mouseClick(bar.widgetForAction(transport.play_action), LEFT, NONE)
    qtbot.waitUntil(lambda: not bridge.is_playing(), timeout=10000)
    received = [m for m in sink.settle(0.2) if m.type in ("note_on", "note_off")]
    sounding = [m for m in received if m.type == "note_on" and m.velocity]
    channel = next(m.channel for m in sounding if m.channel != 0)  # the chords' own
    chords = [(m.channel, m.note) for m in sounding if m.channel == channel]
    assert {(channel, p) for p in (53, 57, 60, 65)} <= set(chords)  # F, over its bass
    assert {(channel, p) for p in (55, 59, 62, 65, 67)} <= set(chords)  # G7
    # they sound after the melody's last note has ended, and every one of them ends
    last_off = max(i for i, m in enumerate(received) if m.channel == 0 and m.note == 72
                   and (m.type == "note_off" or not m.velocity))
    g7 = min(i for i, m in enumerate(received) if m.channel == channel and m.note == 55
             and m.type == "note_on" and m.velocity)
    assert last_off < g7
    offs = [(m.channel, m.note) for m in received
            if m.channel == channel and (m.type == "note_off" or not m.velocity)]
    assert sorted(offs) == sorted(chords)
    doc.undo_stack.clear()

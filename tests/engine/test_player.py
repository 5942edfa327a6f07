"""The player's schedule, driven by a hand-moved clock (no thread, no port needed).

``play(..., background=False)`` starts no thread; the test moves its clock and calls
``pump()``, and the MessageLog output records the clock time of each message, so
every assertion about *when* is exact.  The threaded path is exercised against
real ports in test_ports.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from engine.live.player import (METRONOME_ACCENT, METRONOME_BEAT, METRONOME_CHANNEL, Player,
                           song_to_events)
from engine.live.ports import MessageLog
from engine.song import Note, Song, TempoChange, TempoMap, TimeSignature, Track, melody_song


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(player: Player, clock: Clock, until: float, step: float = 0.001) -> None:
    """Advance the clock in ``step`` increments, pumping, up to ``until`` seconds later."""
    end = clock.now + until
    while clock.now < end:
        player.pump()
        clock.now = round(clock.now + step, 9)
    player.pump()


def setup(song: Song | None = None, **kw):
    clock = Clock()
    log = MessageLog(clock=clock)
    player = Player(log, clock=clock)
    return clock, log, player


def notes_of(log: MessageLog) -> list[tuple[float, str, int]]:
    return [(round(t - 100.0, 6), m.type, m.note) for t, m in log.messages
            if m.type in ("note_on", "note_off") and m.channel != METRONOME_CHANNEL]


def test_engine_imports_no_qt():
    code = ("import engine.live.player, engine.live.ports, engine.live.synth, engine.live.recorder, sys; "
            "assert not {'PySide6'} & {m.split('.')[0] for m in sys.modules}")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_each_message_goes_out_at_its_time():
    song = melody_song([Note(60, 0, 480), Note(62, 480, 240), Note(64, 960, 480)], bpm=120)
    clock, log, player = setup()
    player.play(song, background=False)
    run(player, clock, 2.0)
    assert notes_of(log) == [(0.0, "note_on", 60), (0.5, "note_off", 60), (0.5, "note_on", 62),
                             (0.75, "note_off", 62), (1.0, "note_on", 64), (1.5, "note_off", 64)]
    assert not player.is_playing()


def test_tempo_changes_are_honoured():
    tempo = TempoMap(480, [TempoChange(0, 500_000), TempoChange(960, 250_000)])  # 120 -> 240
    song = Song(tracks=[Track(notes=[Note(60, 0, 480), Note(62, 960, 480), Note(64, 1440, 480)])],
                tempo_map=tempo)
    clock, log, player = setup()
    player.play(song, background=False)
    run(player, clock, 2.0)
    ons = [t for t, kind, _ in notes_of(log) if kind == "note_on"]
    assert ons == [0.0, 1.0, 1.25]


def test_program_changes_per_track_come_first():
    song = Song(tracks=[Track("piano", 0, 0, notes=[Note(60, 0, 10)]),
                        Track("strings", 2, 48, notes=[Note(60, 0, 10, channel=2)]),
                        Track("drums", 9, 0, is_drum=True, notes=[Note(36, 0, 10, channel=9)])])
    clock, log, player = setup()
    player.play(song, background=False)
    player.pump()
    first = [m for _, m in log.messages[:2]]
    programs = {(m.channel, m.program) for m in first if m.type == "program_change"}
    assert programs == {(0, 0), (2, 48)}
    assert all(m.type == "program_change" for m in first)


def test_a_track_sets_its_program_on_every_channel_its_notes_use():
    song = Song(tracks=[Track("violin", 0, 40, notes=[Note(60, 0, 10), Note(64, 0, 10, channel=3)])])
    programs = {(e.message.channel, e.message.program) for e in song_to_events(song)
                if e.message.type == "program_change"}
    assert programs == {(0, 40), (3, 40)}


def test_a_range_plays_only_notes_starting_inside_and_cuts_at_the_end():
    song = melody_song([Note(60, 0, 480), Note(62, 480, 960), Note(64, 960, 480)])
    clock, log, player = setup()
    player.play(song, 480, 1200, background=False)
    run(player, clock, 2.0)
    # 62 starts at the range start, is cut at 1200; 64 starts inside; 60 is before it
    assert notes_of(log) == [(0.0, "note_on", 62), (0.5, "note_on", 64), (0.75, "note_off", 62),
                             (0.75, "note_off", 64)]


def test_loop_wraps_and_releases_notes_at_the_wrap():
    song = melody_song([Note(60, 0, 480), Note(67, 960, 1200)])
    clock, log, player = setup()
    player.play(song, 0, 1920, loop=True, background=False)
    run(player, clock, 2.6)
    assert player.is_playing()
    got = notes_of(log)
    assert got[:5] == [(0.0, "note_on", 60), (0.5, "note_off", 60), (1.0, "note_on", 67),
                       (2.0, "note_off", 67), (2.0, "note_on", 60)]
    assert player.position_tick == round(0.6 * 960)
    player.stop()


def test_stop_and_panic_silence_everything():
    song = Song(tracks=[Track("a", 0, notes=[Note(60, 0, 4800), Note(64, 0, 4800)]),
                        Track("b", 5, notes=[Note(40, 0, 4800, channel=5)])])
    clock, log, player = setup()
    player.play(song, background=False)
    run(player, clock, 0.1)
    assert player.sounding_notes() == [(0, 60), (0, 64), (5, 40)]
    before = len(log.messages)
    player.stop()
    tail = [m for _, m in log.messages[before:]]
    offs = {(m.channel, m.note) for m in tail if m.type == "note_off"}
    assert offs == {(0, 60), (0, 64), (5, 40)}
    assert {m.channel for m in tail if m.type == "control_change" and m.control == 123} == {0, 5}
    assert player.sounding_notes() == []
    before = len(log.messages)
    player.panic()
    tail = [m for _, m in log.messages[before:]]
    assert {m.channel for m in tail if m.control == 123} == set(range(16))
    assert {m.channel for m in tail if m.control == 120} == set(range(16))


def test_metronome_clicks_only_when_on_and_count_in_always():
    song = melody_song([Note(60, 0, 1920)], time_signature=(3, 4))
    clock, log, player = setup()
    player.play(song, count_in_bars=1, background=False)
    run(player, clock, 2.6)
    clicks = [(round(t - 100, 6), m.note) for t, m in log.messages
              if m.type == "note_on" and m.channel == METRONOME_CHANNEL]
    assert clicks == [(0.0, METRONOME_ACCENT), (0.5, METRONOME_BEAT), (1.0, METRONOME_BEAT)]
    assert notes_of(log)[0] == (1.5, "note_on", 60)  # the song starts after the count-in
    clock2, log2, player2 = setup()
    player2.set_metronome(True)
    player2.play(song, background=False)
    run(player2, clock2, 2.1)
    clicks = [(round(t - 100, 6), m.note) for t, m in log2.messages
              if m.type == "note_on" and m.channel == METRONOME_CHANNEL]
    assert clicks == [(0.0, 76), (0.5, 77), (1.0, 77), (1.5, 76)]


def test_tick_at_counts_in_negative_and_follows_tempo():
    song = melody_song([Note(60, 0, 1920)], bpm=120)
    clock, log, player = setup()
    player.play(song, 960, count_in_bars=1, background=False)
    assert player.tick_at(clock.now) == pytest.approx(960 - 4 * 480)
    assert player.tick_at(clock.now + 2.0) == pytest.approx(960)
    assert player.tick_at(clock.now + 2.25) == pytest.approx(1200)
    assert player.time_at(1200) == pytest.approx(clock.now + 2.25)


def test_the_song_is_copied_so_edits_during_playback_change_nothing():
    song = melody_song([Note(60, 0, 480), Note(62, 480, 480)])
    clock, log, player = setup()
    player.play(song, background=False)
    song.tracks[0].notes.clear()
    run(player, clock, 1.1)
    assert [n for _, k, n in notes_of(log) if k == "note_on"] == [60, 62]


def test_set_output_silences_the_old_output_and_goes_on():
    song = melody_song([Note(60, 0, 960), Note(62, 960, 480)])
    clock, log, player = setup()
    other = MessageLog("other", clock=clock)
    player.play(song, background=False)
    run(player, clock, 0.2)
    player.set_output(other)
    assert [m.type for _, m in log.messages][-2:] == ["note_off", "control_change"]
    run(player, clock, 1.0)
    assert [m.note for _, m in other.messages if m.type == "note_on"] == [62]


def test_preview_note_releases_itself_and_a_new_click_keeps_its_note():
    log = MessageLog(clock=time.monotonic)
    player = Player(log)
    player.preview_note(60, duration_s=0.05)
    time.sleep(0.03)
    player.preview_note(60, duration_s=0.2)  # the first timer must not cut this one
    time.sleep(0.08)
    assert player.sounding_notes() == [(0, 60)]
    time.sleep(0.25)
    assert player.sounding_notes() == []


def test_threaded_playback_reports_position_and_finishes():
    song = melody_song([Note(60 + i, i * 48, 48) for i in range(10)], bpm=240)  # 0.25 s
    log = MessageLog(clock=time.monotonic)
    positions: list[int] = []
    done = threading.Event()

    class P(Player):
        def on_position(self, tick: int) -> None:
            positions.append(tick)

        def on_finished(self) -> None:
            done.set()

    player = P(log)
    player.play(song)
    assert done.wait(5)
    assert positions and positions == sorted(positions) and positions[-1] == 480
    assert len([m for _, m in log.messages if m.type == "note_on"]) == 10


def test_song_to_events_orders_offs_before_ons_at_the_same_time():
    song = melody_song([Note(60, 0, 480), Note(60, 480, 480)])
    events = [e for e in song_to_events(song, metronome=False)
              if e.message.type != "program_change"]
    kinds = [(e.tick, e.message.type) for e in events]
    assert kinds == [(0, "note_on"), (480, "note_off"), (480, "note_on"), (960, "note_off")]


def test_time_signature_changes_move_the_clicks():
    song = Song(tracks=[Track(notes=[Note(60, 0, 10)])],
                time_signatures=[TimeSignature(0, 2, 4), TimeSignature(960, 3, 8)])
    events = [e for e in song_to_events(song, 0, 1920) if e.click and e.message.type == "note_on"]
    assert [(e.tick, e.message.note) for e in events][:6] == [
        (0, 76), (480, 77), (960, 76), (1200, 77), (1440, 77), (1680, 76)]
